//! `/api/auth/*` (sign-in, sign-out, who am I), `/api/users`, `/api/tokens` and `/api/audit`.
//!
//! Sign-in takes JSON (API clients, tests) or an HTML form (the sign-in page, which works without
//! JavaScript): a form gets redirects (303) back to the page it came from, JSON gets status codes.
//! Failed sign-ins are audit entries; more than `max_failed_sign_ins` for one username within the
//! lockout window are refused with 429 — counted in the database, so every process agrees.

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use app::wire::{
    AuditEntry, AuditPage, CreateToken, CreateUser, CreatedToken, CurrentUser, FieldError, Role, SignIn, TokenSummary,
    UpdateUser, UserSummary,
};

use super::guard::{over_tls, see_other, session_set_cookie};
use super::{millis, now_ms, password, secret, Principal, Via};
use crate::error::ApiError;
use crate::http::api::json::Body;
use crate::http::api::time::{parse as parse_time, rfc3339};
use crate::state::AppState;
use crate::store::access::{SessionRow, TokenRow, UserChange, UserListing, UserRow};
use crate::store::audit::AuditFilter;
use crate::store::AuditRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/sign-in", post(sign_in))
        .route("/api/auth/sign-out", post(sign_out))
        .route("/api/auth/me", get(me))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{username}", post(update_user))
        .route("/api/tokens", get(list_tokens).post(create_token))
        .route("/api/tokens/{id}/revoke", post(revoke_token))
        .route("/api/audit", get(audit))
}

fn internal(error: crate::store::Error) -> ApiError {
    ApiError::Internal(error.into())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Only paths on this site, never `//host` or a scheme: a sign-in link cannot send anyone elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => "/".to_string(),
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `POST /api/auth/sign-in`.
async fn sign_in(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let form = is_form(request.headers());
    let headers = request.headers().clone();
    let uri = request.uri().clone();
    let body: SignIn = if form {
        axum::extract::Form::<SignIn>::from_request(request, &state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request(format!("cannot read the sign-in form: {}", rejection.body_text()))
            })?
            .0
    } else {
        Body::<SignIn>::from_request(request, &state).await?.0
    };
    let next = safe_next(body.next.as_deref());
    let fail = |status: ApiError, message: &str, username: &str| -> Response {
        if form {
            see_other(&format!(
                "/sign-in?error={}&username={}&next={}",
                encode(message),
                encode(username),
                encode(&next)
            ))
        } else {
            status.into_response()
        }
    };

    let username = body.username.trim().to_string();
    if username.is_empty() || body.password.is_empty() {
        let message = "enter your username and password";
        return Ok(fail(ApiError::unprocessable(message, Vec::new()), message, &username));
    }
    let access = &state.access;
    let now = now_ms();
    let window = access.config.lockout_window;
    let failures = access.store.failed_sign_ins_since(&username, now - millis(window)).await.map_err(internal)?;
    if failures >= access.config.max_failed_sign_ins {
        let minutes = window.as_secs().div_ceil(60);
        let message = format!("too many failed sign-ins for {username}; try again in {minutes} minutes");
        let error = ApiError::TooManyRequests { message: message.clone(), retry_after_secs: window.as_secs() };
        return Ok(fail(error, &message, &username));
    }

    let user = access.store.user_by_name(&username).await.map_err(internal)?;
    let password_given = body.password.clone();
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    // argon2 is deliberately slow: off the async threads. Unknown users are checked against a decoy.
    let matches = tokio::task::spawn_blocking(move || {
        password::verify(&password_given, stored.as_deref().unwrap_or_else(|| password::decoy()))
    })
    .await
    .map_err(|error| ApiError::Internal(error.into()))?;
    let refusal = match &user {
        None => Some("unknown username"),
        Some(_) if !matches => Some("wrong password"),
        Some(u) if u.disabled_at.is_some() => Some("account disabled"),
        Some(_) => None,
    };
    if let Some(refusal) = refusal {
        let entry = AuditRow::ok(&username, "session.sign_in", "session", &username, now).outcome(refusal);
        access.store.insert_audit(&[entry]).await.map_err(internal)?;
        let message = if refusal == "account disabled" {
            "this account is disabled; ask an admin"
        } else {
            "wrong username or password"
        };
        return Ok(fail(ApiError::Unauthorized(message.into()), message, &username));
    }
    let user = user.expect("refused above when absent");
    let role = Role::parse(&user.role).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("role {}", user.role)))?;

    let token = secret::random_token();
    let absolute = millis(access.config.absolute);
    let remote = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_string);
    let session = SessionRow {
        id_hash: secret::hash(&token),
        user_id: user.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + absolute,
        ended_at: None,
        remote: remote.clone(),
    };
    let entry = AuditRow::ok(&user.username, "session.sign_in", "session", &user.username, now)
        .after(&json!({ "role": user.role, "expires_at": rfc3339(now + absolute), "remote": remote }));
    access.store.create_session(&session, &entry).await.map_err(internal)?;

    let cookie =
        session_set_cookie(Some(&token), absolute / 1000, over_tls(&headers, &uri, access.config.secure_cookies));
    let mut response = if form {
        see_other(&next)
    } else {
        let principal = Principal {
            name: user.username.clone(),
            display_name: user.display_name.clone(),
            role,
            via: Via::Session { id_hash: session.id_hash.clone() },
        };
        Json(principal.current_user()).into_response()
    };
    response.headers_mut().append(header::SET_COOKIE, cookie.parse().expect("cookie text is ASCII"));
    Ok(response)
}

/// `POST /api/auth/sign-out`: ends the session on the server and clears the cookie.
async fn sign_out(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let Via::Session { id_hash } = &principal.via else {
        return Err(ApiError::Conflict("an API token has no session to end; an admin revokes tokens".into()));
    };
    let now = now_ms();
    let entry = AuditRow::ok(&principal.name, "session.sign_out", "session", &principal.name, now);
    state.access.store.end_session(id_hash, now, &entry).await.map_err(internal)?;
    let cookie = session_set_cookie(None, 0, over_tls(&headers, &uri, state.access.config.secure_cookies));
    let mut response =
        if is_form(&headers) { see_other("/sign-in?signed_out=1") } else { StatusCode::NO_CONTENT.into_response() };
    response.headers_mut().append(header::SET_COOKIE, cookie.parse().expect("cookie text is ASCII"));
    Ok(response)
}

/// `GET /api/auth/me`.
async fn me(Extension(principal): Extension<Principal>) -> Json<CurrentUser> {
    Json(principal.current_user())
}

fn user_summary(listing: &UserListing) -> UserSummary {
    let user = &listing.user;
    UserSummary {
        id: user.id.clone(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: Role::parse(&user.role).unwrap_or(Role::Support),
        disabled: user.disabled_at.is_some(),
        created_at: rfc3339(user.created_at),
        last_sign_in: listing.last_sign_in.map(rfc3339),
        active_sessions: u64::try_from(listing.active_sessions).unwrap_or(0),
    }
}

/// What the audit trail keeps of a user (never the hash).
fn user_facts(user: &UserRow) -> serde_json::Value {
    json!({ "display_name": user.display_name, "role": user.role, "disabled": user.disabled_at.is_some() })
}

async fn listing_of(state: &AppState, username: &str) -> Result<UserSummary, ApiError> {
    let idle = millis(state.access.config.idle);
    let users = state.access.store.list_users(now_ms(), idle).await.map_err(internal)?;
    users
        .iter()
        .find(|l| l.user.username == username)
        .map(user_summary)
        .ok_or_else(|| ApiError::NotFound(format!("no user {username}")))
}

/// `GET /api/users`.
async fn list_users(State(state): State<AppState>) -> Result<Json<Vec<UserSummary>>, ApiError> {
    let idle = millis(state.access.config.idle);
    let users = state.access.store.list_users(now_ms(), idle).await.map_err(internal)?;
    Ok(Json(users.iter().map(user_summary).collect()))
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: name.into(), message: message.into() }
}

fn invalid(problems: Vec<FieldError>) -> ApiError {
    match problems.as_slice() {
        [one] => ApiError::unprocessable(format!("{}: {}", one.field, one.message), problems),
        _ => ApiError::unprocessable("the request has invalid fields", problems),
    }
}

fn username_problem(username: &str) -> Option<&'static str> {
    let valid_chars = username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if username.is_empty() || username.len() > 64 {
        Some("must be 1 to 64 characters")
    } else if !valid_chars {
        Some("use lowercase letters, digits, '.', '_' and '-'")
    } else if username.starts_with("token:") {
        Some("must not start with token:")
    } else {
        None
    }
}

/// `POST /api/users`.
async fn create_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(request): Body<CreateUser>,
) -> Result<(StatusCode, Json<UserSummary>), ApiError> {
    let mut problems = Vec::new();
    if let Some(problem) = username_problem(&request.username) {
        problems.push(field("username", problem));
    }
    if let Some(problem) = password::problem(&request.password) {
        problems.push(field("password", problem));
    }
    let display_name = request.display_name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if display_name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        problems.push(field("display_name", "must be at most 100 characters"));
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let now = now_ms();
    let password = request.password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    let user = UserRow {
        id: crate::runtime::clock::new_id(),
        username: request.username.clone(),
        display_name: display_name.unwrap_or_else(|| request.username.clone()),
        role: request.role.as_str().to_string(),
        password_hash: hash,
        created_at: now,
        password_changed_at: now,
        disabled_at: None,
    };
    let entry = AuditRow::ok(&principal.name, "user.create", "user", &user.username, now).after(&user_facts(&user));
    match state.access.store.create_user(&user, &entry).await {
        Ok(()) => {}
        Err(crate::store::Error::Conflict(_)) => {
            return Err(invalid(vec![field("username", format!("{} is taken", request.username))]))
        }
        Err(error) => return Err(internal(error)),
    }
    Ok((StatusCode::CREATED, Json(listing_of(&state, &user.username).await?)))
}

/// `POST /api/users/{username}`: change the display name, role, disabled flag or password. Changing the
/// role or password, or disabling, ends the user's sessions. The last enabled admin cannot be demoted or
/// disabled.
async fn update_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(username): Path<String>,
    Body(request): Body<UpdateUser>,
) -> Result<Json<UserSummary>, ApiError> {
    let store = &state.access.store;
    let before = store
        .user_by_name(&username)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no user {username}")))?;
    let mut problems = Vec::new();
    if let Some(problem) = request.password.as_deref().and_then(password::problem) {
        problems.push(field("password", problem));
    }
    let display_name = request.display_name.as_ref().map(|n| n.trim().to_string());
    if display_name.as_ref().is_some_and(|n| n.is_empty() || n.chars().count() > 100) {
        problems.push(field("display_name", "must be 1 to 100 characters"));
    }
    if request == UpdateUser::default() {
        problems.push(field("body", "name at least one of display_name, role, disabled, password"));
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let was_admin = before.role == "admin" && before.disabled_at.is_none();
    let stays_admin = request.role.map_or(before.role == "admin", |r| r == Role::Admin)
        && !request.disabled.unwrap_or(before.disabled_at.is_some());
    if was_admin && !stays_admin {
        let idle = millis(state.access.config.idle);
        let admins = store
            .list_users(now_ms(), idle)
            .await
            .map_err(internal)?
            .iter()
            .filter(|l| l.user.role == "admin" && l.user.disabled_at.is_none())
            .count();
        if admins <= 1 {
            return Err(ApiError::Conflict(format!("{username} is the last enabled admin; make another admin first")));
        }
    }

    let now = now_ms();
    let password = match request.password.clone() {
        Some(password) => Some(
            tokio::task::spawn_blocking(move || password::hash(&password))
                .await
                .map_err(|error| ApiError::Internal(error.into()))?,
        ),
        None => None,
    };
    let role_changes = request.role.is_some_and(|r| r.as_str() != before.role);
    let disables = request.disabled == Some(true) && before.disabled_at.is_none();
    let change = UserChange {
        display_name,
        role: request.role.map(|r| r.as_str().to_string()),
        disabled_at: request.disabled.map(|d| if d { before.disabled_at.or(Some(now)) } else { None }),
        password: password.map(|hash| (hash, now)),
        end_sessions_at: (role_changes || disables || request.password.is_some()).then_some(now),
    };
    let mut after = user_facts(&before);
    if let Some(fields) = after.as_object_mut() {
        if let Some(name) = &change.display_name {
            fields.insert("display_name".into(), name.clone().into());
        }
        if let Some(role) = &change.role {
            fields.insert("role".into(), role.clone().into());
        }
        if let Some(disabled) = request.disabled {
            fields.insert("disabled".into(), disabled.into());
        }
        if request.password.is_some() {
            fields.insert("password".into(), "reset".into());
        }
        if change.end_sessions_at.is_some() {
            fields.insert("sessions".into(), "ended".into());
        }
    }
    let action = match (request.password.is_some(), request.disabled, request.role.is_some()) {
        (true, None, false) if request.display_name.is_none() => "user.reset_password",
        (false, Some(true), false) if request.display_name.is_none() => "user.disable",
        (false, Some(false), false) if request.display_name.is_none() => "user.enable",
        _ => "user.update",
    };
    let entry =
        AuditRow::ok(&principal.name, action, "user", &username, now).before(&user_facts(&before)).after(&after);
    store.update_user(&username, &change, &entry).await.map_err(internal)?;
    Ok(Json(listing_of(&state, &username).await?))
}

fn token_summary(row: &TokenRow) -> TokenSummary {
    TokenSummary {
        id: row.id.clone(),
        name: row.name.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::Support),
        created_by: row.created_by.clone(),
        created_at: rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(rfc3339),
        revoked: row.revoked_at.is_some(),
    }
}

/// `GET /api/tokens`.
async fn list_tokens(State(state): State<AppState>) -> Result<Json<Vec<TokenSummary>>, ApiError> {
    let tokens = state.access.store.list_tokens().await.map_err(internal)?;
    Ok(Json(tokens.iter().map(token_summary).collect()))
}

/// `POST /api/tokens`: the secret is in this answer only.
async fn create_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(request): Body<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let name = request.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(invalid(vec![field("name", "must be 1 to 64 characters")]));
    }
    let (row, secret) =
        super::issue_token(&state.access.store, &name, request.role, &principal.name).await.map_err(internal)?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: token_summary(&row), secret })))
}

/// `POST /api/tokens/{id}/revoke`.
async fn revoke_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TokenSummary>, ApiError> {
    let now = now_ms();
    let entry = AuditRow::ok(&principal.name, "token.revoke", "token", &id, now)
        .before(&json!({ "revoked": false }))
        .after(&json!({ "revoked": true }));
    match state.access.store.revoke_token(&id, now, &entry).await.map_err(internal)? {
        None => return Err(ApiError::NotFound(format!("no token {id}"))),
        Some(false) => return Err(ApiError::Conflict(format!("token {id} is revoked already"))),
        Some(true) => {}
    }
    let tokens = state.access.store.list_tokens().await.map_err(internal)?;
    let row = tokens.iter().find(|t| t.id == id).ok_or_else(|| ApiError::NotFound(format!("no token {id}")))?;
    Ok(Json(token_summary(row)))
}

/// Query of `GET /api/audit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target_kind: Option<String>,
    target_id: Option<String>,
    instance: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<String>,
    limit: Option<i64>,
}

/// The audit entry as the API shows it.
pub fn audit_entry(row: &AuditRow) -> AuditEntry {
    let parse = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str(t).ok());
    AuditEntry {
        id: row.id.clone(),
        at: rfc3339(row.at),
        actor: row.actor.clone(),
        action: row.action.clone(),
        target_kind: row.target_kind.clone(),
        target_id: row.target_id.clone(),
        instance_id: row.instance_id.clone(),
        reason: row.reason.clone(),
        before: parse(&row.before),
        after: parse(&row.after),
        outcome: row.outcome.clone(),
    }
}

/// `GET /api/audit`: newest first, filtered, in keyset pages (`before` = the last id seen).
async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let blank = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut problems = Vec::new();
    let mut time = |name: &str, value: Option<String>| match blank(value) {
        Some(text) => match parse_time(&text) {
            Some(ms) => Some(ms),
            None => {
                problems.push(field(name, "use RFC 3339, e.g. 2026-11-26T08:00:00Z"));
                None
            }
        },
        None => None,
    };
    let from = time("from", query.from);
    let until = time("until", query.until);
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        problems.push(field("limit", "must be 1 to 500"));
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let filter = AuditFilter {
        actor: blank(query.actor),
        action: blank(query.action),
        target_kind: blank(query.target_kind),
        target_id: blank(query.target_id),
        instance_id: blank(query.instance),
        from,
        until,
        before: blank(query.before),
        limit: limit + 1,
    };
    let mut rows = state.runtime.store().audit(&filter).await.map_err(internal)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(100));
    let next_before = if more { rows.last().map(|r| r.id.clone()) } else { None };
    Ok(Json(AuditPage { entries: rows.iter().map(audit_entry).collect(), next_before }))
}
