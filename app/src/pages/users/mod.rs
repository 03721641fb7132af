//! Users (`/users`), for admins: who may sign in and with which role — change a role, disable or enable
//! an account, reset a password, add a person — the API tokens machines use (created with a role, the
//! secret shown once, revoked here), and the permission matrix that says what each role may do.
//!
//! Everything goes through the API (`/api/users`, `/api/tokens`), which only admins may use: anyone else
//! who opens the page gets a note saying so (the API answers 403) and the matrix. Changing a role or a
//! password, or disabling, ends the person's sessions (the server does that); disabling also suspends the
//! API tokens they created until they are enabled again; the notes say so.
//!
//! - [`people`]: the table of people (role, status, password reset) and the form that adds one.
//! - [`tokens`]: API tokens — create with a role (the secret shown once), list, revoke.
//! - [`matrix`]: what each role may do, from `wire::Role::allows`.

mod matrix;
mod people;
mod tokens;

use matrix::PermissionMatrix;
use people::{CreateUserForm, UserTable};
use tokens::TokensPanel;

use leptos::prelude::*;

use crate::auth::Me;
use crate::client::{self, ApiFailure};
use crate::components::{page_header::PageHeader, status::ErrorNote};
use crate::wire::{CurrentUser, Role, UpdateUser, UserSummary};

/// A change to one user (`POST /api/users/{username}`): what was asked, and the answer.
type UserChange = Action<(String, UpdateUser), (String, UpdateUser, Result<UserSummary, ApiFailure>)>;

/// The page's shared pieces: reload the users, the latest outcome, and the one action that changes a user.
#[derive(Clone, Copy)]
struct UsersState {
    /// Bumped to read the users again.
    version: RwSignal<u64>,
    /// The latest outcome of a change, above the table.
    notice: RwSignal<Option<Result<String, String>>>,
    /// A change's problem that belongs to one row: (username, message).
    row_error: RwSignal<Option<(String, String)>>,
    update: UserChange,
}

/// What a change did, in words, for the note above the table.
fn describe_update(change: &UpdateUser, user: &UserSummary, yourself: bool) -> String {
    let who = if yourself { "You".to_string() } else { user.display_name.clone() };
    if let Some(role) = change.role {
        format!("{who} now has the {} role. Their sessions ended: they sign in again to use it.", role.as_str())
    } else if change.disabled == Some(true) {
        format!("{who} is disabled and signed out everywhere; the API tokens they created are suspended.")
    } else if change.disabled == Some(false) {
        format!("{who} can sign in again; the API tokens they created work again (unless revoked).")
    } else if change.password.is_some() && yourself {
        "Your password is changed and your sessions ended: sign in again with the new password.".to_string()
    } else if change.password.is_some() {
        format!("New password set for {who}; their sessions ended. Tell them the new password in person.")
    } else {
        format!("{who} is changed.")
    }
}

/// `1 user`, `3 users`.
fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// A server message under a field, as a sentence start: `must be …` → `Must be …`.
fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// The Users page.
#[component]
pub fn UsersPage() -> impl IntoView {
    let me = use_context::<Me>();
    let version = RwSignal::new(0u64);
    let users = Resource::new(move || version.get(), |_| client::get::<Vec<UserSummary>>("/api/users"));
    let update = Action::new(move |(username, change): &(String, UpdateUser)| {
        let (username, change) = (username.clone(), change.clone());
        async move {
            let path = format!("/api/users/{}", client::encode_query_value(&username));
            let result = client::post::<_, UserSummary>(path, &change).await;
            (username, change, result)
        }
    });
    let state = UsersState { version, notice: RwSignal::new(None), row_error: RwSignal::new(None), update };
    Effect::new(move |_| {
        let Some((username, change, result)) = update.value().get() else { return };
        let me = me.and_then(|Me(resource)| resource.get_untracked()).and_then(Result::ok);
        let yourself = me.is_some_and(|me| me.username == username);
        match result {
            Ok(user) => {
                state.row_error.set(None);
                state.notice.set(Some(Ok(describe_update(&change, &user, yourself))));
                version.update(|v| *v += 1);
            }
            Err(error) if change.password.is_some() => {
                let message = error.fields.first().map_or_else(|| error.message.clone(), |(_, m)| m.clone());
                state.row_error.set(Some((username, format!("Not changed: the password {message}."))));
            }
            Err(error) => {
                state.notice.set(Some(Err(format!("{username} is not changed: {error}"))));
                // The controls show what was asked for; read what is true again.
                version.update(|v| *v += 1);
            }
        }
    });

    view! {
        <PageHeader
            title="Users"
            subtitle="Who may sign in to this console, with which role — and the API tokens machines use."
        />
        <Transition fallback=|| view! { <section class="panel"><p class="muted">"Loading users…"</p></section> }>
            {move || Suspend::new(async move {
                let me: Option<CurrentUser> = match me {
                    Some(Me(resource)) => resource.await.ok(),
                    None => None,
                };
                match users.await {
                    Err(error) if error.status == 403 || error.status == 401 => {
                        view! { <AdminOnly me /> }.into_any()
                    }
                    Err(error) => view! {
                        <section class="panel"><ErrorNote what="Cannot list the users" error /></section>
                    }.into_any(),
                    Ok(list) => view! {
                        <UserTable list me=me.map(|m| m.username) state />
                        <div class="grid two access-grid">
                            <CreateUserForm state />
                            <PermissionMatrix mine=Some(Role::Admin) />
                        </div>
                        <TokensPanel />
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What someone who is not an admin sees: who may manage users, and what each role may do.
#[component]
fn AdminOnly(me: Option<CurrentUser>) -> impl IntoView {
    let role = me.as_ref().map(|me| me.role);
    let who = me.map_or_else(
        || "You are not signed in as an admin.".to_string(),
        |me| format!("You are signed in as {} with the {} role.", me.display_name, me.role.as_str()),
    );
    view! {
        <section class="panel admin-only" data-testid="users-admin-only">
            <p class="admin-only-heading">"Only admins manage users"</p>
            <p class="muted">
                {who}
                " Ask an admin to add a person, change someone’s role, reset a password or create an API token."
            </p>
        </section>
        <PermissionMatrix mine=role />
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> UserSummary {
        UserSummary {
            id: "u1".into(),
            username: "maria".into(),
            display_name: "Maria".into(),
            role,
            disabled: false,
            created_at: "2026-11-26T07:00:00Z".into(),
            last_sign_in: None,
            active_sessions: 0,
        }
    }

    #[test]
    fn changes_read_as_sentences() {
        let role = UpdateUser { role: Some(Role::Manager), ..UpdateUser::default() };
        assert_eq!(
            describe_update(&role, &user(Role::Manager), false),
            "Maria now has the manager role. Their sessions ended: they sign in again to use it."
        );
        let disable = UpdateUser { disabled: Some(true), ..UpdateUser::default() };
        assert_eq!(
            describe_update(&disable, &user(Role::Support), false),
            "Maria is disabled and signed out everywhere; the API tokens they created are suspended."
        );
        let reset = UpdateUser { password: Some("x".into()), ..UpdateUser::default() };
        assert!(describe_update(&reset, &user(Role::Admin), true).starts_with("Your password is changed"));
    }
}
