//! The people who may sign in: one row each (role, status, last sign-in, sessions, disable, password
//! reset) and the form that adds a person, with the server's field errors under the fields.

use leptos::prelude::*;

use super::matrix::role_summary;
use super::{capitalised, plural, UsersState};
use crate::client;
use crate::components::status::hydrated_flag;
use crate::format;
use crate::wire::{CreateUser, Role, UpdateUser, UserSummary, DISPLAY_NAME_MAX_CHARS, USERNAME_MAX_CHARS};

/// Everyone who may sign in, with the controls to change them.
#[component]
pub(super) fn UserTable(list: Vec<UserSummary>, me: Option<String>, state: UsersState) -> impl IntoView {
    let enabled = list.iter().filter(|u| !u.disabled).count();
    let ready = hydrated_flag();
    view! {
        <section class="panel" data-testid="users-panel" data-ready=move || ready.get().to_string()>
            <div class="panel-head spaced">
                <h2>"People"</h2>
                <p class="muted small">
                    {format!("{} · {} can sign in", plural(list.len(), "user", "users"), enabled)}
                </p>
            </div>
            {move || state.notice.get().map(|outcome| {
                let (class, text) = match outcome {
                    Ok(text) => ("callout ok notice", text),
                    Err(text) => ("callout bad notice", text),
                };
                view! {
                    <div class=class role="status" data-testid="users-notice">
                        <p>{text}</p>
                        <button class="toast-close" type="button" aria-label="Dismiss" on:click=move |_| state.notice.set(None)>"×"</button>
                    </div>
                }
            })}
            <div class="table-scroll">
                <table class="table users-table" data-testid="users-table">
                    <thead>
                        <tr>
                            <th>"Person"</th>
                            <th>"Role"</th>
                            <th>"Status"</th>
                            <th>"Last sign-in (UTC)"</th>
                            <th class="num" title="Sessions not ended or expired">"Sessions"</th>
                            <th>"Account"</th>
                            <th>"Reset password"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {list.into_iter().map(|user| {
                            let yourself = me.as_deref() == Some(user.username.as_str());
                            view! { <UserRow user yourself state /> }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="muted small">
                "Changing a role or a password, or disabling an account, signs that person out everywhere. "
                "The last enabled admin cannot be demoted or disabled."
            </p>
        </section>
    }
}

#[component]
fn UserRow(user: UserSummary, yourself: bool, state: UsersState) -> impl IntoView {
    let username = user.username.clone();
    let password = RwSignal::new(String::new());
    let pending = state.update.pending();
    let change = {
        let username = username.clone();
        move |change: UpdateUser| {
            state.notice.set(None);
            state.row_error.set(None);
            state.update.dispatch((username.clone(), change));
        }
    };
    let on_role = {
        let change = change.clone();
        let current = user.role;
        move |ev: leptos::ev::Event| {
            if let Some(role) = Role::parse(&event_target_value(&ev)).filter(|role| *role != current) {
                change(UpdateUser { role: Some(role), ..UpdateUser::default() });
            }
        }
    };
    let disabled = user.disabled;
    let on_toggle = {
        let change = change.clone();
        move |_| change(UpdateUser { disabled: Some(!disabled), ..UpdateUser::default() })
    };
    let on_reset = {
        let change = change.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let new = password.get_untracked();
            if !new.is_empty() {
                change(UpdateUser { password: Some(new), ..UpdateUser::default() });
            }
        }
    };
    let row_error = {
        let username = username.clone();
        move || state.row_error.with(|e| e.as_ref().filter(|(u, _)| *u == username).map(|(_, m)| m.clone()))
    };
    let self_note = "You cannot change your own role or disable yourself; another admin can.";
    let role_label = format!("Role of {}", user.username);
    let password_label = format!("New password for {}", user.username);
    let password_id = format!("new-password-{}", user.username);
    view! {
        <tr data-testid="user-row" data-username=user.username.clone() class:disabled-row=user.disabled>
            <td>
                <span class="user-name">{user.display_name.clone()}</span>
                {yourself.then(|| view! { <span class="pill neutral you-pill">"you"</span> })}
                <br />
                <span class="mono small muted">{user.username.clone()}</span>
            </td>
            <td>
                <select class="role-select" aria-label=role_label data-testid="user-role-select"
                    disabled=move || yourself || pending.get()
                    title=yourself.then_some(self_note)
                    on:change=on_role>
                    {Role::ALL.into_iter().map(|role| view! {
                        <option value=role.as_str() selected=role == user.role>{role.as_str()}</option>
                    }).collect_view()}
                </select>
            </td>
            <td>
                {if user.disabled {
                    view! { <span class="pill bad" data-testid="user-status">"disabled"</span> }.into_any()
                } else {
                    view! { <span class="pill ok" data-testid="user-status">"enabled"</span> }.into_any()
                }}
            </td>
            <td class="nowrap small">
                {user.last_sign_in.as_deref().map(format::short_time).unwrap_or_else(|| "never".into())}
            </td>
            <td class="num">{user.active_sessions}</td>
            <td>
                <button type="button" data-testid="user-disable"
                    class=if user.disabled { "button secondary" } else { "button secondary danger-text" }
                    disabled=move || yourself || pending.get()
                    title=yourself.then_some(self_note)
                    on:click=on_toggle>
                    {if user.disabled { "Enable" } else { "Disable" }}
                </button>
            </td>
            <td>
                <form class="reset-form" on:submit=on_reset>
                    <label class="visually-hidden" for=password_id.clone()>{password_label}</label>
                    <input id=password_id type="password" autocomplete="new-password" placeholder="New password"
                        data-testid="user-new-password"
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev)) />
                    <button class="button secondary" type="submit" data-testid="user-reset-password"
                        disabled=move || password.get().is_empty() || pending.get()>
                        "Set"
                    </button>
                </form>
                {move || row_error().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
            </td>
        </tr>
    }
}

/// The fields of `POST /api/users`, in the order the form shows them.
const USER_FIELDS: [&str; 4] = ["username", "display_name", "role", "password"];

/// Adds a person: username, name, role and a first password (which they are told in person).
#[component]
pub(super) fn CreateUserForm(state: UsersState) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Support);
    let password = RwSignal::new(String::new());
    let field_errors = RwSignal::new(Vec::<(String, String)>::new());
    let form_error = RwSignal::new(None::<String>);
    let create = Action::new(move |body: &CreateUser| {
        let body = body.clone();
        async move { client::post::<_, UserSummary>("/api/users", &body).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(user)) => {
            field_errors.set(Vec::new());
            form_error.set(None);
            username.set(String::new());
            display_name.set(String::new());
            password.set(String::new());
            state.notice.set(Some(Ok(format!(
                "Added {} ({}) with the {} role. Tell them their password in person.",
                user.display_name,
                user.username,
                user.role.as_str()
            ))));
            state.version.update(|v| *v += 1);
        }
        Some(Err(failure)) => {
            let (mine, other): (Vec<_>, Vec<_>) =
                failure.fields.iter().cloned().partition(|(f, _)| USER_FIELDS.contains(&f.as_str()));
            form_error.set((mine.is_empty() || !other.is_empty()).then(|| format!("Not added: {failure}")));
            field_errors.set(mine);
        }
        None => {}
    });
    let error_of = move |field: &'static str| {
        Signal::derive(move || field_errors.with(|all| all.iter().find(|(f, _)| f == field).map(|(_, m)| m.clone())))
    };
    let invalid = move |field: &'static str| move || error_of(field).get().is_some().to_string();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = display_name.get_untracked().trim().to_string();
        create.dispatch(CreateUser {
            username: username.get_untracked().trim().to_string(),
            display_name: (!name.is_empty()).then_some(name),
            role: role.get_untracked(),
            password: password.get_untracked(),
        });
    };
    view! {
        <section class="panel" data-testid="create-user">
            <h2>"Add a person"</h2>
            <form class="stack-form" novalidate on:submit=submit data-testid="create-user-form">
                <div class="form-field">
                    <label for="create-user-username">"Username"</label>
                    <input id="create-user-username" type="text" autocomplete="off" autocapitalize="none" spellcheck="false"
                        placeholder="e.g. maria.k" data-testid="create-user-username" maxlength=USERNAME_MAX_CHARS
                        aria-invalid=invalid("username")
                        prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
                    <p class="field-help">"Lowercase letters, digits, dots, dashes and underscores; used to sign in."</p>
                    <FieldError message=error_of("username") />
                </div>
                <div class="form-field">
                    <label for="create-user-display-name">"Name " <span class="muted">"(optional)"</span></label>
                    <input id="create-user-display-name" type="text" autocomplete="off" placeholder="Maria Kowalski"
                        data-testid="create-user-display-name" aria-invalid=invalid("display_name")
                        maxlength=DISPLAY_NAME_MAX_CHARS
                        prop:value=move || display_name.get() on:input=move |ev| display_name.set(event_target_value(&ev)) />
                    <FieldError message=error_of("display_name") />
                </div>
                <div class="form-field">
                    <label for="create-user-role">"Role"</label>
                    <select id="create-user-role" data-testid="create-user-role" aria-invalid=invalid("role")
                        on:change=move |ev| { if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r); } }>
                        {Role::ALL.into_iter().map(|r| view! {
                            <option value=r.as_str() selected=move || role.get() == r>
                                {format!("{} — {}", r.as_str(), role_summary(r))}
                            </option>
                        }).collect_view()}
                    </select>
                    <FieldError message=error_of("role") />
                </div>
                <div class="form-field">
                    <label for="create-user-password">"First password"</label>
                    <input id="create-user-password" type="password" autocomplete="new-password"
                        data-testid="create-user-password" aria-invalid=invalid("password")
                        prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                    <FieldError message=error_of("password") />
                </div>
                {move || form_error.get().map(|m| view! {
                    <p class="callout bad" role="alert" data-testid="create-user-error">{m}</p>
                })}
                <div class="button-row">
                    <button class="button" type="submit" data-testid="create-user-submit" disabled=move || create.pending().get()>
                        {move || if create.pending().get() { "Adding…" } else { "Add user" }}
                    </button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn FieldError(message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message
            .get()
            .map(|m| view! { <p class="field-error" role="alert" data-testid="field-error">{capitalised(&m)}</p> })
    }
}
