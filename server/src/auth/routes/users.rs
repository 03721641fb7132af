//! `/api/users`: list, create and change users (role, disabled, display name, password reset).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::json;

use app::wire::{CreateUser, Role, UpdateUser, UserSummary, DISPLAY_NAME_MAX_CHARS, USERNAME_MAX_CHARS};

use crate::auth::{millis, now_ms, password, Principal};
use crate::error::ApiError;
use crate::http::json::Body;
use crate::http::time::rfc3339;
use crate::state::AppState;
use crate::store::AuditRow;
use crate::store::access::{UserChange, UserListing, UserRow};

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
    let listing = state.access.store.user_listing(username, now_ms(), idle).await.map_err(ApiError::from)?;
    listing.as_ref().map(user_summary).ok_or_else(|| ApiError::NotFound(format!("no user {username}")))
}

/// `GET /api/users`.
pub(super) async fn list_users(State(state): State<AppState>) -> Result<Json<Vec<UserSummary>>, ApiError> {
    let idle = millis(state.access.config.idle);
    let users = state.access.store.list_users(now_ms(), idle).await.map_err(ApiError::from)?;
    Ok(Json(users.iter().map(user_summary).collect()))
}

fn username_problem(username: &str) -> Option<String> {
    let valid_chars = username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if username.is_empty() || username.chars().count() > USERNAME_MAX_CHARS {
        Some(format!("must be 1 to {USERNAME_MAX_CHARS} characters"))
    } else if !valid_chars {
        Some("use lowercase letters, digits, '.', '_' and '-'".into())
    } else if username.starts_with("token:") {
        Some("must not start with token:".into())
    } else {
        None
    }
}

/// `POST /api/users`.
pub(super) async fn create_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(request): Body<CreateUser>,
) -> Result<(StatusCode, Json<UserSummary>), ApiError> {
    let mut problems = Vec::new();
    if let Some(problem) = username_problem(&request.username) {
        problems.push(crate::error::field("username", problem));
    }
    if let Some(problem) = password::problem(&request.password) {
        problems.push(crate::error::field("password", problem));
    }
    let display_name = request.display_name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if display_name.as_ref().is_some_and(|n| n.chars().count() > DISPLAY_NAME_MAX_CHARS) {
        problems.push(crate::error::field("display_name", format!("must be at most {DISPLAY_NAME_MAX_CHARS} characters")));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let now = now_ms();
    let password = request.password.clone();
    let hash = state.access.hashing.run(move || password::hash(&password)).await.map_err(busy)?;
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
            return Err(ApiError::invalid_fields(vec![crate::error::field("username", format!("{} is taken", request.username))]))
        }
        Err(error) => return Err(error.into()),
    }
    Ok((StatusCode::CREATED, Json(listing_of(&state, &user.username).await?)))
}

/// `POST /api/users/{username}`: change the display name, role, disabled flag or password. Changing the
/// role or password, or disabling, ends the user's sessions; disabling also suspends the API tokens they
/// own (enabling restores those not revoked). The last enabled admin cannot be demoted or disabled.
pub(super) async fn update_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(username): Path<String>,
    Body(request): Body<UpdateUser>,
) -> Result<Json<UserSummary>, ApiError> {
    let store = &state.access.store;
    let before = store
        .user_by_name(&username)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("no user {username}")))?;
    let mut problems = Vec::new();
    if let Some(problem) = request.password.as_deref().and_then(password::problem) {
        problems.push(crate::error::field("password", problem));
    }
    let display_name = request.display_name.as_ref().map(|n| n.trim().to_string());
    if display_name.as_ref().is_some_and(|n| n.is_empty() || n.chars().count() > DISPLAY_NAME_MAX_CHARS) {
        problems.push(crate::error::field("display_name", format!("must be 1 to {DISPLAY_NAME_MAX_CHARS} characters")));
    }
    if request == UpdateUser::default() {
        problems.push(crate::error::field("body", "name at least one of display_name, role, disabled, password"));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let was_admin = before.role == "admin" && before.disabled_at.is_none();
    let stays_admin = request.role.map_or(before.role == "admin", |r| r == Role::Admin)
        && !request.disabled.unwrap_or(before.disabled_at.is_some());
    if was_admin && !stays_admin {
        let idle = millis(state.access.config.idle);
        let admins = store
            .list_users(now_ms(), idle)
            .await
            .map_err(ApiError::from)?
            .iter()
            .filter(|l| l.user.role == "admin" && l.user.disabled_at.is_none())
            .count();
        if admins <= 1 {
            return Err(ApiError::Conflict(format!("{username} is the last enabled admin; make another admin first")));
        }
    }

    let now = now_ms();
    let password = match request.password.clone() {
        Some(password) => Some(state.access.hashing.run(move || password::hash(&password)).await.map_err(busy)?),
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
    store.update_user(&username, &change, &entry).await.map_err(ApiError::from)?;
    // Streams of a user disabled or whose sessions ended stop now; their tokens are refused from now on.
    state.access.changes.announce();
    Ok(Json(listing_of(&state, &username).await?))
}

/// The hash gate was full: 503 with `Retry-After`.
fn busy(_: password::Busy) -> ApiError {
    ApiError::Busy {
        message: "the server is busy hashing passwords; try again in a moment".into(),
        retry_after_secs: 1,
    }
}
