//! Users (`/users`), for admins: who may sign in and with which role — change a role, disable or enable
//! an account, reset a password, add a person — the API tokens machines use (created with a role, the
//! secret shown once, revoked here), and the permission matrix that says what each role may do.
//!
//! Everything goes through the API (`/api/users`, `/api/tokens`), which only admins may use: anyone else
//! who opens the page gets a note saying so (the API answers 403) and the matrix. Changing a role or a
//! password, or disabling, ends the person's sessions (the server does that); the notes say so.

use leptos::prelude::*;

use crate::auth::Me;
use crate::client::{self, ApiFailure};
use crate::components::access::RolePill;
use crate::components::{
    page_header::PageHeader,
    status::{hydrated_flag, ErrorNote},
};
use crate::format;
use crate::wire::{
    CreateToken, CreateUser, CreatedToken, CurrentUser, Permission, Role, TokenSummary, UpdateUser, UserSummary,
};

/// What each role is for, one line, over its column of the matrix.
fn role_summary(role: Role) -> &'static str {
    match role {
        Role::Support => "Watches runs and steers them",
        Role::Manager => "Reads everything, owns SLA targets",
        Role::Reviewer => "Works the intervention inbox",
        Role::Admin => "Everything, users and tokens too",
    }
}

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
        format!("{who} is disabled and signed out everywhere.")
    } else if change.disabled == Some(false) {
        format!("{who} can sign in again.")
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

/// Everyone who may sign in, with the controls to change them.
#[component]
fn UserTable(list: Vec<UserSummary>, me: Option<String>, state: UsersState) -> impl IntoView {
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
fn CreateUserForm(state: UsersState) -> impl IntoView {
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
                        placeholder="e.g. maria.k" data-testid="create-user-username"
                        aria-invalid=invalid("username")
                        prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
                    <p class="field-help">"Lowercase letters, digits, dots, dashes and underscores; used to sign in."</p>
                    <FieldError message=error_of("username") />
                </div>
                <div class="form-field">
                    <label for="create-user-display-name">"Name " <span class="muted">"(optional)"</span></label>
                    <input id="create-user-display-name" type="text" autocomplete="off" placeholder="Maria Kowalski"
                        data-testid="create-user-display-name" aria-invalid=invalid("display_name")
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

/// Rows: every permission; columns: every role; ✓ where the role may. The viewer's own role (`mine`) is
/// marked.
#[component]
fn PermissionMatrix(mine: Option<Role>) -> impl IntoView {
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

/// API tokens: the list, a form to create one (its secret shown once), and revoking.
#[component]
fn TokensPanel() -> impl IntoView {
    let version = RwSignal::new(0u64);
    let tokens = Resource::new(move || version.get(), |_| client::get::<Vec<TokenSummary>>("/api/tokens"));
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Support);
    let created = RwSignal::new(None::<CreatedToken>);
    let problem = RwSignal::new(None::<String>);
    let create = Action::new(move |body: &CreateToken| {
        let body = body.clone();
        async move { client::post::<_, CreatedToken>("/api/tokens", &body).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(token)) => {
            problem.set(None);
            name.set(String::new());
            created.set(Some(token));
            version.update(|v| *v += 1);
        }
        Some(Err(failure)) => {
            let text = failure.fields.first().map_or_else(|| failure.to_string(), |(f, m)| format!("{f}: {m}"));
            problem.set(Some(format!("Not created: {text}")));
        }
        None => {}
    });
    let revoke = Action::new(move |id: &String| {
        let id = id.clone();
        async move {
            let path = format!("/api/tokens/{}/revoke", client::encode_query_value(&id));
            client::post::<_, TokenSummary>(path, &serde_json::json!({})).await
        }
    });
    let confirming = RwSignal::new(None::<String>);
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(_)) => {
            problem.set(None);
            confirming.set(None);
            version.update(|v| *v += 1);
        }
        Some(Err(failure)) => problem.set(Some(format!("Not revoked: {failure}"))),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        created.set(None);
        create.dispatch(CreateToken { name: name.get_untracked().trim().to_string(), role: role.get_untracked() });
    };

    view! {
        <section class="panel" data-testid="tokens-panel">
            <div class="panel-head spaced">
                <h2>"API tokens"</h2>
                <p class="muted small">"For scripts and other systems: send " <code>"Authorization: Bearer <token>"</code>"."</p>
            </div>
            <form class="token-form" on:submit=submit data-testid="token-form">
                <div class="form-field grow">
                    <label for="token-name">"Name"</label>
                    <input id="token-name" type="text" autocomplete="off" placeholder="e.g. billing-reconciler"
                        data-testid="token-name"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </div>
                <div class="form-field">
                    <label for="token-role">"Acts with the role"</label>
                    <select id="token-role" data-testid="token-role"
                        on:change=move |ev| { if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r); } }>
                        {Role::ALL.into_iter().map(|r| view! {
                            <option value=r.as_str() selected=move || role.get() == r>{r.as_str()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button class="button" type="submit" data-testid="token-create"
                    disabled=move || name.get().trim().is_empty() || create.pending().get()>
                    "Create token"
                </button>
            </form>
            {move || problem.get().map(|m| view! { <p class="callout bad" role="alert">{m}</p> })}
            {move || created.get().map(|token| view! { <SecretBox token on_done=Callback::new(move |_| created.set(None)) /> })}
            <Transition fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(error) => view! { <ErrorNote what="Cannot list the API tokens" error /> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted small empty-line">"No API tokens yet. Create one for each script or system, so each can be revoked on its own."</p>
                        }.into_any(),
                        Ok(list) => view! { <TokenTable list confirming revoke /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A new token's secret, shown this once, with a copy button.
#[component]
fn SecretBox(token: CreatedToken, on_done: Callback<()>) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let secret = token.secret.clone();
    let copy = move |_| {
        let ok = copy_to_clipboard(&secret);
        copied.set(Some(ok));
    };
    view! {
        <div class="callout warn secret-box" role="status" data-testid="token-secret-box">
            <p>
                <strong>{format!("Copy the token “{}” now.", token.token.name)}</strong>
                " It is shown only this once: Switchboard keeps only a fingerprint of it. If it is lost, revoke it and create another."
            </p>
            <div class="secret-row">
                <code class="secret" data-testid="token-secret">{token.secret.clone()}</code>
                <button class="button" type="button" on:click=copy data-testid="token-copy">"Copy"</button>
                <button class="button secondary" type="button" on:click=move |_| on_done.run(())>"Done"</button>
            </div>
            {move || copied.get().map(|ok| if ok {
                view! { <p class="small">"Copied to the clipboard."</p> }.into_any()
            } else {
                view! { <p class="small">"The browser did not allow copying: select the token and press Ctrl+C."</p> }.into_any()
            })}
        </div>
    }
}

/// Puts `text` on the clipboard (`navigator.clipboard.writeText`); false when the browser has no
/// clipboard for this page.
fn copy_to_clipboard(text: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::{JsCast, JsValue};
        use leptos::web_sys::js_sys::{Function, Reflect};
        let Some(window) = leptos::web_sys::window() else { return false };
        let clipboard = Reflect::get(&window, &JsValue::from_str("navigator"))
            .and_then(|navigator| Reflect::get(&navigator, &JsValue::from_str("clipboard")));
        let Ok(clipboard) = clipboard.map_err(|_| ()).and_then(|c| if c.is_undefined() { Err(()) } else { Ok(c) })
        else {
            return false;
        };
        match Reflect::get(&clipboard, &JsValue::from_str("writeText")).map(|f| f.dyn_into::<Function>()) {
            Ok(Ok(write)) => write.call1(&clipboard, &JsValue::from_str(text)).is_ok(),
            _ => false,
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        false
    }
}

#[component]
fn TokenTable(
    list: Vec<TokenSummary>,
    confirming: RwSignal<Option<String>>,
    revoke: Action<String, Result<TokenSummary, ApiFailure>>,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="table tokens-table" data-testid="tokens-table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Role"</th>
                        <th>"Created by"</th>
                        <th>"Created (UTC)"</th>
                        <th>"Last used (UTC)"</th>
                        <th>"Status"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|token| {
                        let id = token.id.clone();
                        let (ask_id, confirm_id, is_id) = (id.clone(), id.clone(), id.clone());
                        let asking = move || confirming.with(|c| c.as_deref() == Some(is_id.as_str()));
                        view! {
                            <tr data-testid="token-row" data-token=token.name.clone() class:disabled-row=token.revoked>
                                <td><strong>{token.name.clone()}</strong></td>
                                <td><RolePill role=token.role /></td>
                                <td class="mono small">{token.created_by.clone()}</td>
                                <td class="nowrap small">{format::short_time(&token.created_at)}</td>
                                <td class="nowrap small">
                                    {token.last_used_at.as_deref().map(format::short_time).unwrap_or_else(|| "never".into())}
                                </td>
                                <td>
                                    {if token.revoked {
                                        view! { <span class="pill neutral">"revoked"</span> }.into_any()
                                    } else {
                                        view! { <span class="pill ok">"active"</span> }.into_any()
                                    }}
                                </td>
                                <td class="nowrap">
                                    {(!token.revoked).then(|| view! {
                                        <Show when=asking.clone() fallback=move || {
                                            let ask_id = ask_id.clone();
                                            view! {
                                                <button class="button secondary" type="button" data-testid="token-revoke"
                                                    on:click=move |_| confirming.set(Some(ask_id.clone()))>
                                                    "Revoke"
                                                </button>
                                            }
                                        }>
                                            {
                                                let confirm_id = confirm_id.clone();
                                                view! {
                                                    <span class="confirm-inline">
                                                        <button class="button danger" type="button" data-testid="token-revoke-confirm"
                                                            disabled=move || revoke.pending().get()
                                                            on:click=move |_| { revoke.dispatch(confirm_id.clone()); }>
                                                            "Revoke now"
                                                        </button>
                                                        <button class="button secondary" type="button" on:click=move |_| confirming.set(None)>
                                                            "Keep"
                                                        </button>
                                                    </span>
                                                }
                                            }
                                        </Show>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
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
            "Maria is disabled and signed out everywhere."
        );
        let reset = UpdateUser { password: Some("x".into()), ..UpdateUser::default() };
        assert!(describe_update(&reset, &user(Role::Admin), true).starts_with("Your password is changed"));
    }
}
