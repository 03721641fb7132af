//! Who is asking, and may they: sign-in, server-side sessions, API tokens, the permission check on
//! every request, and the first admin.
//!
//! - [`secret`], [`password`]: random tokens and their SHA-256; argon2id password hashes and the
//!   [`HashGate`](password::HashGate) that bounds how many run at once.
//! - [`throttle`]: the sign-in throttle (per username and client address, growing delays) and how
//!   the client address is found.
//! - [`policy`]: the route table — every API route and server function with the one
//!   [`Permission`](app::wire::Permission) it needs. A route not in the table is refused for everyone
//!   (deny by default). The matrix of roles to permissions is `app::wire::Role::allows`.
//! - [`guard`]: the middleware in front of everything: finds the [`Principal`] (session cookie or
//!   `Authorization: Bearer` token), refuses non-POST state changes and foreign origins, checks the
//!   route's permission, and sends signed-out page requests to `/sign-in`.
//! - [`routes`]: `/api/auth/*` (sign-in, sign-out, me), `/api/users`, `/api/tokens`, `/api/audit`.
//! - [`bootstrap`]: the `admin` account of an empty database.
//!
//! [`Access`] is what the guard and the routes share: the store, the rules, the hash gate, and
//! [`AccessChanges`], the signal that makes open event streams check their caller at once when someone's
//! access ends (a user disabled, a token revoked, a sign-out).

pub mod bootstrap;
pub mod guard;
pub mod password;
pub mod policy;
pub mod routes;
pub mod secret;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use app::wire::{CurrentUser, Role};

use crate::store::Store;
use password::HashGate;
use throttle::ThrottleRules;

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
    /// How failed sign-ins slow down a (username, client address) pair.
    pub throttle: ThrottleRules,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a proxy you run, which
    /// appends it) instead of the connection's peer. Off by default: anyone can send that header.
    pub trust_forwarded_for: bool,
    /// How often a long-lived answer (the event stream) checks that its caller is still signed in, besides
    /// at once on every [`AccessChanges`] signal of this process (other nodes' changes are seen here).
    pub recheck_streams_every: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
            secure_cookies: false,
            allowed_origins: Vec::new(),
            throttle: ThrottleRules::default(),
            trust_forwarded_for: false,
            recheck_streams_every: Duration::from_secs(15),
        }
    }
}

/// What the guard and the auth routes share: the store, the rules, the hash gate and the change signal.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Access {
    pub store: Store,
    pub config: Arc<AuthConfig>,
    /// Every password hash and check of this process goes through it.
    pub hashing: HashGate,
    /// Raised when someone's access may have ended; open event streams check their caller at once.
    pub changes: AccessChanges,
}

impl Access {
    /// The store and rules, with a hash gate sized to this machine's cores.
    pub fn new(store: Store, config: AuthConfig) -> Self {
        Access {
            store,
            config: Arc::new(config),
            hashing: HashGate::for_this_machine(),
            changes: AccessChanges::default(),
        }
    }
}

/// A signal raised whenever someone's access may have ended in this process: a user disabled or their
/// role or password changed, a token revoked, a session signed out. It says nothing about whom: every
/// open stream checks its own caller (one query; such changes are rare).
#[derive(Clone, Debug)]
pub struct AccessChanges(Arc<tokio::sync::watch::Sender<u64>>);

impl Default for AccessChanges {
    fn default() -> Self {
        AccessChanges(Arc::new(tokio::sync::watch::channel(0).0))
    }
}

impl AccessChanges {
    /// Tells every open stream to check its caller now.
    pub fn announce(&self) {
        self.0.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Creates an API token of `role` named `name` on behalf of `actor` (audited) and owned by no user
/// (the benchmark's tokens); returns it and its secret, which is not stored anywhere.
///
/// # Errors
/// The database refused the write.
pub async fn issue_token(
    store: &Store,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<(crate::store::access::TokenRow, String), crate::store::Error> {
    issue_token_for(store, name, role, actor, None).await
}

/// [`issue_token`] owned by the user with id `owner_id`: suspended while that user is disabled.
///
/// # Errors
/// The database refused the write.
pub async fn issue_token_for(
    store: &Store,
    name: &str,
    role: Role,
    actor: &str,
    owner_id: Option<String>,
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
        owner_id,
    };
    let entry = crate::store::AuditRow::ok(actor, "token.create", "token", &row.id, now)
        .after(&serde_json::json!({ "name": row.name, "role": row.role }));
    store.create_token(&row, &entry).await?;
    Ok((row, secret))
}

/// Resolves once the caller's session has ended (signed out, idle, expired, user disabled) or their token
/// was revoked or suspended (its owner disabled); for long-lived answers such as the event stream, which
/// would otherwise outlive the access that opened them. Checks on every [`AccessChanges`] signal raised
/// after this call and every `every` (changes made by other processes; the guard checked the caller
/// just before). A database error counts as still signed in.
pub fn until_signed_out(
    access: Access,
    principal: Principal,
    every: Duration,
) -> impl std::future::Future<Output = ()> {
    // Subscribed now, not at the first poll: a change in between is not missed.
    let mut changes = access.changes.subscribe();
    async move {
        let mut signal_open = true;
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                changed = changes.changed(), if signal_open => signal_open = changed.is_ok(),
            }
            let live = match &principal.via {
                Via::Session { id_hash } => {
                    access.store.live_session(id_hash, now_ms(), millis(access.config.idle)).await.map(|s| s.is_some())
                }
                Via::Token { id } => access
                    .store
                    .token(id)
                    .await
                    .map(|t| t.is_some_and(|t| t.token.revoked_at.is_none() && !t.suspended)),
            };
            if matches!(live, Ok(false)) {
                return;
            }
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
