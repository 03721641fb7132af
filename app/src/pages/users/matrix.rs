//! The permission matrix: for each permission, which roles have it (`wire::Role::allows`, the same table
//! the server checks), with a line on what each role is for.

use leptos::prelude::*;

use crate::components::access::RolePill;
use crate::wire::{Permission, Role};

/// What each role is for, one line, over its column of the matrix.
pub(super) fn role_summary(role: Role) -> &'static str {
    match role {
        Role::Support => "Watches runs and steers them",
        Role::Manager => "Reads everything, owns SLA targets",
        Role::Reviewer => "Works the intervention inbox",
        Role::Admin => "Everything, users and tokens too",
    }
}

/// Rows: every permission; columns: every role; ✓ where the role may. The viewer's own role (`mine`) is
/// marked.
#[component]
pub(super) fn PermissionMatrix(mine: Option<Role>) -> impl IntoView {
    view! {
        <section class="panel" data-testid="permission-matrix">
            <h2>"What each role may do"</h2>
            <div class="table-scroll">
                <table class="table compact matrix">
                    <thead>
                        <tr>
                            <th>"Permission"</th>
                            {Role::ALL.into_iter().map(|role| view! {
                                <th class="matrix-role" class:mine=mine == Some(role) title=role_summary(role)>
                                    {role.label()}
                                    {(mine == Some(role)).then(|| view! { <span class="matrix-you">"you"</span> })}
                                </th>
                            }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {Permission::ALL.into_iter().map(|permission| view! {
                            <tr data-permission=format!("{permission:?}")>
                                <td>{permission.label()}</td>
                                {Role::ALL.into_iter().map(|role| {
                                    let mine = mine == Some(role);
                                    if role.allows(permission) {
                                        view! { <td class="matrix-cell yes" class:mine=mine aria-label="yes">"✓"</td> }.into_any()
                                    } else {
                                        view! { <td class="matrix-cell no" class:mine=mine aria-label="no">"—"</td> }.into_any()
                                    }
                                }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <ul class="role-summaries">
                {Role::ALL.into_iter().map(|role| view! {
                    <li><RolePill role />" "{role_summary(role)}</li>
                }).collect_view()}
            </ul>
        </section>
    }
}
