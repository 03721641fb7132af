//! `/api/auth/*` (sign-in, sign-out, who am I), `/api/users`, `/api/tokens` and `/api/audit`.
//!
//! Sign-in takes JSON (API clients, tests) or an HTML form (the sign-in page, which works without
//! JavaScript): a form gets redirects (303) back to the page it came from — only ever a path on this
//! site (`app::wire::local_path`) — and JSON gets status codes. Failed sign-ins are audit entries and
//! rows the throttle counts per username and client address ([`crate::auth::throttle`]); a pair past its
//! free failures waits longer after each (429). Password checks pass the hash gate (503 when full).
//!
//! Bodies: at most [`SIGN_IN_MAX_BODY_BYTES`] for sign-in (a username, a password and a path), the
//! API's 1 MiB for the rest; usernames, display names and token names are kept to their documented
//! lengths (`app::wire::USERNAME_MAX_CHARS` …), so nobody can grow the database through these routes.
//!
//! - [`session`]: sign-in (JSON or form, rate-limited), sign-out, who am I.
//! - [`users`]: list, create and change users.
//! - [`tokens`]: API tokens.
//! - [`audit`]: the audit trail, filtered and paged.

pub(crate) mod audit;
mod session;
mod tokens;
mod users;

pub use audit::audit_entry;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;


use crate::state::AppState;

/// The largest sign-in body: a username, a password (at most 1024 bytes) and a `next` path, with room.
pub const SIGN_IN_MAX_BODY_BYTES: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/sign-in", post(session::sign_in).layer(DefaultBodyLimit::max(SIGN_IN_MAX_BODY_BYTES)))
        .route("/api/auth/sign-out", post(session::sign_out))
        .route("/api/auth/me", get(session::me))
        .route("/api/users", get(users::list_users).post(users::create_user))
        .route("/api/users/{username}", post(users::update_user))
        .route("/api/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/api/tokens/{id}/revoke", post(tokens::revoke_token))
        .route("/api/audit", get(audit::audit))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}


