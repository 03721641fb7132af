//! `/api/auth/*` (sign-in, sign-out, who am I), `/api/users`, `/api/tokens` and `/api/audit`.
//!
//! Sign-in takes JSON (API clients, tests) or an HTML form (the sign-in page, which works without
//! JavaScript): a form gets redirects (303) back to the page it came from, JSON gets status codes.
//! Failed sign-ins are audit entries; more than `max_failed_sign_ins` for one username within the
//! lockout window are refused with 429 — counted in the database, so every process agrees.
//!
//! - [`session`]: sign-in (JSON or form, rate-limited), sign-out, who am I.
//! - [`users`]: list, create and change users.
//! - [`tokens`]: API tokens.
//! - [`audit`]: the audit trail, filtered and paged.

mod audit;
mod session;
mod tokens;
mod users;

pub use audit::audit_entry;

use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;

use app::wire::FieldError;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/sign-in", post(session::sign_in))
        .route("/api/auth/sign-out", post(session::sign_out))
        .route("/api/auth/me", get(session::me))
        .route("/api/users", get(users::list_users).post(users::create_user))
        .route("/api/users/{username}", post(users::update_user))
        .route("/api/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/api/tokens/{id}/revoke", post(tokens::revoke_token))
        .route("/api/audit", get(audit::audit))
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

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: name.into(), message: message.into() }
}

fn invalid(problems: Vec<FieldError>) -> ApiError {
    match problems.as_slice() {
        [one] => ApiError::unprocessable(format!("{}: {}", one.field, one.message), problems),
        _ => ApiError::unprocessable("the request has invalid fields", problems),
    }
}
