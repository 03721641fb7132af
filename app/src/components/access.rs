//! What the signed-in user's role allows, on the page: [`IfAllowed`] shows its children only to roles
//! that may do something, and in their place a one-line [`RoleHint`] saying who may.
//!
//! The server refuses what a role may not do anyway (`wire::Role::allows`, checked on every request);
//! these only keep controls that cannot work off the page. Use them inside a `Suspense` or `Transition`,
//! as every data part of a page is: they read the signed-in user ([`crate::auth`]).
//!
//! ```text
//! <IfAllowed permission=Permission::OperateInstances>
//!     <Actions id status paused reload />
//! </IfAllowed>
//! ```

use leptos::prelude::*;

use crate::auth;
use crate::wire::{Permission, Role};

/// The roles whose permission matrix allows `permission`, as words: `support, reviewer or admin`.
pub fn roles_that_may(permission: Permission) -> String {
    let names: Vec<&str> = Role::ALL.into_iter().filter(|role| role.allows(permission)).map(Role::as_str).collect();
    match names.as_slice() {
        [] => "no role".to_string(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The hint shown where a control is hidden: "Your role (manager) can read this; changes need support,
/// reviewer or admin."
pub fn hint_text(role: Role, permission: Permission) -> String {
    format!("Your role ({}) can read this; changes need {}.", role.as_str(), roles_that_may(permission))
}

/// Its children when the signed-in user's role allows `permission`; otherwise the [`RoleHint`] (unless
/// `quiet`), and nothing while the user is not known.
#[component]
pub fn IfAllowed(
    permission: Permission,
    /// Leave the hint out (when one hint elsewhere on the page already says it).
    #[prop(optional)]
    quiet: bool,
    children: ChildrenFn,
) -> impl IntoView {
    let user = auth::current_user();
    move || match user.get() {
        Some(user) if user.can(permission) => children().into_any(),
        Some(user) if !quiet => view! { <RoleHint role=user.role permission /> }.into_any(),
        _ => ().into_any(),
    }
}

/// One line saying what the role may not change here, and which roles may.
#[component]
pub fn RoleHint(role: Role, permission: Permission) -> impl IntoView {
    view! {
        <p class="role-hint" data-testid="role-hint" data-permission=format!("{permission:?}")>
            <svg class="role-hint-icon" viewBox="0 0 24 24" aria-hidden="true">
                <rect x="5" y="11" width="14" height="9" rx="2" />
                <path d="M8 11V8a4 4 0 0 1 8 0v3" />
            </svg>
            <span>{hint_text(role, permission)}</span>
        </p>
    }
}

/// A role as a small coloured pill (`admin`, `manager`, …).
#[component]
pub fn RolePill(role: Role, #[prop(optional)] testid: Option<&'static str>) -> impl IntoView {
    view! {
        <span class=format!("pill role-pill role-{}", role.as_str()) data-testid=testid data-role=role.as_str()>
            {role.as_str()}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_as_a_list() {
        assert_eq!(roles_that_may(Permission::OperateInstances), "support, reviewer or admin");
        assert_eq!(roles_that_may(Permission::ManageSla), "manager or admin");
        assert_eq!(roles_that_may(Permission::ManageUsers), "admin");
        assert_eq!(
            hint_text(Role::Manager, Permission::OperateInstances),
            "Your role (manager) can read this; changes need support, reviewer or admin."
        );
    }
}
