//! Who is asking, and may they: sign-in, server-side sessions, API tokens, the permission check on
//! every request, and the first admin.
//!
//! - [`secret`], [`password`]: random tokens and their SHA-256; argon2id password hashes.
//! - [`policy`]: the route table — every API route and server function with the one
//!   [`Permission`](app::wire::Permission) it needs. A route not in the table is refused for everyone
//!   (deny by default). The matrix of roles to permissions is `app::wire::Role::allows`.
//! - [`guard`]: the middleware in front of everything: finds the [`Principal`] (session cookie or
//!   `Authorization: Bearer` token), refuses non-POST state changes and foreign origins, checks the
//!   route's permission, and sends signed-out page requests to `/sign-in`.
//! - [`routes`]: `/api/auth/*` (sign-in, sign-out, me), `/api/users`, `/api/tokens`, `/api/audit`.
//! - [`bootstrap`]: the `admin` account of an empty database.

pub mod bootstrap;
pub mod guard;
pub mod password;
pub mod policy;
pub mod routes;
pub mod secret;

use std::time::Duration;

use app::wire::{CurrentUser, Role};

use crate::store::Store;

/// The cookie that carries the session id.
pub const SESSION_COOKIE: &str = "switchboard_session";

/// A signed-in person or an API token: who a request acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The username, or `token:<name>` for an API token. This is the actor in histories and the audit trail.
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A browser session; `id_hash` is the stored hash of the cookie's id.
    Session { id_hash: String },
    /// An API token (machine clients); not subject to the Origin check, which protects cookies.
    Token { id: String },
}

impl Principal {
    pub fn current_user(&self) -> CurrentUser {
        CurrentUser {
            username: self.name.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            via: match self.via {
                Via::Session { .. } => "session".into(),
                Via::Token { .. } => "token".into(),
            },
        }
    }
}

/// Session lifetimes and cookie and origin rules.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// Mark cookies `Secure` always (behind a TLS-terminating proxy that does not say
    /// `X-Forwarded-Proto: https`). Requests that arrive over TLS get `Secure` anyway.
    pub secure_cookies: bool,
    /// Origins besides the request's own host that may send state-changing requests
    /// (`https://ops.example.com`), for a console served under another name by a proxy.
    pub allowed_origins: Vec<String>,
    /// Failed sign-ins per username within [`AuthConfig::lockout_window`] before sign-in is refused.
    pub max_failed_sign_ins: i64,
    pub lockout_window: Duration,
    /// How often a long-lived answer (the event stream) checks that its caller is still signed in.
    pub recheck_streams_every: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
            secure_cookies: false,
            allowed_origins: Vec::new(),
            max_failed_sign_ins: 5,
            lockout_window: Duration::from_secs(15 * 60),
            recheck_streams_every: Duration::from_secs(15),
        }
    }
}

/// What the guard and the auth routes share: the store and the rules. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Access {
    pub store: Store,
    pub config: std::sync::Arc<AuthConfig>,
}

/// Creates an API token of `role` named `name` on behalf of `actor` (audited); returns it and its
/// secret, which is not stored anywhere.
///
/// # Errors
/// The database refused the write.
pub async fn issue_token(
    store: &Store,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<(crate::store::access::TokenRow, String), crate::store::Error> {
    let now = now_ms();
    let secret = format!("sb_{}", secret::random_token());
    let row = crate::store::access::TokenRow {
        id: crate::runtime::clock::new_id(),
        name: name.to_string(),
        token_hash: secret::hash(&secret),
        role: role.as_str().to_string(),
        created_by: actor.to_string(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    let entry = crate::store::AuditRow::ok(actor, "token.create", "token", &row.id, now)
        .after(&serde_json::json!({ "name": row.name, "role": row.role }));
    store.create_token(&row, &entry).await?;
    Ok((row, secret))
}

/// Resolves once the caller's session has ended (signed out, idle, expired, user disabled) or their token
/// was revoked, checking every `every`; for long-lived answers such as the event stream, which would
/// otherwise outlive the session that opened them. A database error counts as still signed in.
pub async fn until_signed_out(access: Access, principal: Principal, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let live = match &principal.via {
            Via::Session { id_hash } => {
                access.store.live_session(id_hash, now_ms(), millis(access.config.idle)).await.map(|s| s.is_some())
            }
            Via::Token { id } => access.store.token(id).await.map(|t| t.is_some_and(|t| t.revoked_at.is_none())),
        };
        if matches!(live, Ok(false)) {
            return;
        }
    }
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Wall-clock now, epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
