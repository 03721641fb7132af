//! Users, sessions, API tokens and the sign-in throttle's failures. Every change is written with its
//! audit entry in one transaction.
//!
//! A token belongs to a person (`owner_id`: who created it, or the owner of the token that created
//! it); while that person is disabled the token is *suspended*: [`Store::live_token`] says so and the
//! guard refuses it. Nothing is written when a person is disabled or enabled again, so enabling them
//! restores every token of theirs that was not revoked.

use sqlx::Row;

use super::audit::{insert_audit, AuditRow};
use super::{on_pool, BeginWrite, Result, Store};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: i64,
    pub password_changed_at: i64,
    pub disabled_at: Option<i64>,
}

/// A user as listed, with their last sign-in and live sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserListing {
    pub user: UserRow,
    pub last_sign_in: Option<i64>,
    pub active_sessions: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub remote: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub role: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The user the token acts for; `None` only for a token made before owners were recorded whose
    /// creator could not be found.
    pub owner_id: Option<String>,
}

/// A token with its owner's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenListing {
    pub token: TokenRow,
    /// Its owner is disabled: the token is refused until they are enabled again.
    pub suspended: bool,
}

/// A pair's failed sign-ins within the throttle's window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignInFailures {
    pub count: i64,
    /// When the latest one was (epoch ms); `None` when there is none.
    pub last_at: Option<i64>,
}

/// What an update changes; `None` leaves a column as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub role: Option<String>,
    /// `Some(None)` enables, `Some(Some(t))` disables at `t`.
    pub disabled_at: Option<Option<i64>>,
    /// A new hash and when it was set.
    pub password: Option<(String, i64)>,
    /// End every session of the user at this time (role, password or disabled changed).
    pub end_sessions_at: Option<i64>,
}

macro_rules! user_columns {
    () => {
        "id, username, display_name, role, password_hash, created_at, password_changed_at, disabled_at"
    };
}
macro_rules! token_columns {
    () => {
        "t.id, t.name, t.token_hash, t.role, t.created_by, t.created_at, t.last_used_at, t.revoked_at, t.owner_id"
    };
}
/// Tokens with their owner: `suspended` is the owner's `disabled_at`.
macro_rules! tokens_with_owner {
    () => {
        concat!(
            "SELECT ",
            token_columns!(),
            ", o.disabled_at AS owner_disabled_at FROM api_tokens t LEFT JOIN users o ON o.id = t.owner_id"
        )
    };
}

macro_rules! user_of {
    ($row:expr) => {
        UserRow {
            id: $row.try_get("id")?,
            username: $row.try_get("username")?,
            display_name: $row.try_get("display_name")?,
            role: $row.try_get("role")?,
            password_hash: $row.try_get("password_hash")?,
            created_at: $row.try_get("created_at")?,
            password_changed_at: $row.try_get("password_changed_at")?,
            disabled_at: $row.try_get("disabled_at")?,
        }
    };
}

macro_rules! token_of {
    ($row:expr) => {
        TokenRow {
            id: $row.try_get("id")?,
            name: $row.try_get("name")?,
            token_hash: $row.try_get("token_hash")?,
            role: $row.try_get("role")?,
            created_by: $row.try_get("created_by")?,
            created_at: $row.try_get("created_at")?,
            last_used_at: $row.try_get("last_used_at")?,
            revoked_at: $row.try_get("revoked_at")?,
            owner_id: $row.try_get("owner_id")?,
        }
    };
}

macro_rules! token_listing_of {
    ($row:expr) => {
        TokenListing {
            token: token_of!($row),
            suspended: $row.try_get::<Option<i64>, _>("owner_disabled_at")?.is_some(),
        }
    };
}

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        on_pool!(self.database(), pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await?)
        })
    }

    /// Inserts a user; a taken username is [`super::Error::Conflict`].
    pub async fn create_user(&self, user: &UserRow, audit: &AuditRow) -> Result<()> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(concat!("INSERT INTO users (", user_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                .bind(&user.id)
                .bind(&user.username)
                .bind(&user.display_name)
                .bind(&user.role)
                .bind(&user.password_hash)
                .bind(user.created_at)
                .bind(user.password_changed_at)
                .bind(user.disabled_at)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, [audit]);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        on_pool!(self.database(), pool => {
            let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE username = $1"))
                .bind(username)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(row) => Some(user_of!(row)),
                None => None,
            })
        })
    }

    /// Every user, by username, with their last sign-in and sessions alive at `now` (idle limit `idle_ms`).
    pub async fn list_users(&self, now: i64, idle_ms: i64) -> Result<Vec<UserListing>> {
        self.user_listings(now, idle_ms, "").await
    }

    /// One user as [`Store::list_users`] lists them; `None` when there is no such user.
    pub async fn user_listing(&self, username: &str, now: i64, idle_ms: i64) -> Result<Option<UserListing>> {
        Ok(self.user_listings(now, idle_ms, username).await?.pop().filter(|_| !username.is_empty()))
    }

    /// The users named `only`, or all of them when it is empty.
    async fn user_listings(&self, now: i64, idle_ms: i64, only: &str) -> Result<Vec<UserListing>> {
        on_pool!(self.database(), pool => {
            let rows = sqlx::query(concat!("SELECT ", user_columns!(), ", \
                 (SELECT MAX(created_at) FROM sessions s WHERE s.user_id = users.id) AS last_sign_in, \
                 (SELECT COUNT(*) FROM sessions s WHERE s.user_id = users.id AND s.ended_at IS NULL \
                  AND s.expires_at > $1 AND s.last_seen_at > $2) AS active_sessions \
                 FROM users WHERE ($3 = '' OR username = $3) ORDER BY username"))
            .bind(now)
            .bind(now - idle_ms)
            .bind(only)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(UserListing {
                    user: user_of!(row),
                    last_sign_in: row.try_get("last_sign_in")?,
                    active_sessions: row.try_get("active_sessions")?,
                });
            }
            Ok(out)
        })
    }

    /// Applies `change` to the user and records `audit`, in one transaction. `None` when there is no such user.
    pub async fn update_user(&self, username: &str, change: &UserChange, audit: &AuditRow) -> Result<Option<UserRow>> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin_write().await?;
            let Some(id): Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            if let Some(name) = &change.display_name {
                sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1").bind(&id).bind(name).execute(&mut *tx).await?;
            }
            if let Some(role) = &change.role {
                sqlx::query("UPDATE users SET role = $2 WHERE id = $1").bind(&id).bind(role).execute(&mut *tx).await?;
            }
            if let Some(disabled_at) = change.disabled_at {
                sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
                    .bind(&id)
                    .bind(disabled_at)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some((hash, at)) = &change.password {
                sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
                    .bind(&id)
                    .bind(hash)
                    .bind(*at)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(at) = change.end_sessions_at {
                sqlx::query("UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL")
                    .bind(&id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_audit!(&mut *tx, [audit]);
            let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
            let user = user_of!(row);
            tx.commit().await?;
            Ok(Some(user))
        })
    }

    /// Starts a session and records the sign-in.
    pub async fn create_session(&self, session: &SessionRow, audit: &AuditRow) -> Result<()> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, ended_at, remote) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&session.id_hash)
            .bind(&session.user_id)
            .bind(session.created_at)
            .bind(session.last_seen_at)
            .bind(session.expires_at)
            .bind(session.ended_at)
            .bind(&session.remote)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, [audit]);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The live session with this id hash and its (enabled) user: not ended, before its absolute expiry,
    /// and seen within `idle_ms`.
    pub async fn live_session(&self, id_hash: &str, now: i64, idle_ms: i64) -> Result<Option<(SessionRow, UserRow)>> {
        on_pool!(self.database(), pool => {
            let row = sqlx::query(
                "SELECT s.id_hash, s.user_id, s.created_at AS s_created_at, s.last_seen_at, s.expires_at, s.ended_at, \
                 s.remote, u.id, u.username, u.display_name, u.role, u.password_hash, u.created_at, \
                 u.password_changed_at, u.disabled_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3 \
                 AND u.disabled_at IS NULL",
            )
            .bind(id_hash)
            .bind(now)
            .bind(now - idle_ms)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let session = SessionRow {
                id_hash: row.try_get("id_hash")?,
                user_id: row.try_get("user_id")?,
                created_at: row.try_get("s_created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
                expires_at: row.try_get("expires_at")?,
                ended_at: row.try_get("ended_at")?,
                remote: row.try_get("remote")?,
            };
            Ok(Some((session, user_of!(row))))
        })
    }

    /// Moves a session's idle clock.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<()> {
        on_pool!(self.database(), pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2")
                .bind(id_hash)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ends a session (sign-out) and records it. False when it had already ended.
    pub async fn end_session(&self, id_hash: &str, now: i64, audit: &AuditRow) -> Result<bool> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            let ended = sqlx::query("UPDATE sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL")
                .bind(id_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if ended > 0 {
                insert_audit!(&mut *tx, [audit]);
            }
            tx.commit().await?;
            Ok(ended > 0)
        })
    }

    pub async fn create_token(&self, token: &TokenRow, audit: &AuditRow) -> Result<()> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO api_tokens (id, name, token_hash, role, created_by, created_at, last_used_at, revoked_at, \
                 owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
                .bind(&token.id)
                .bind(&token.name)
                .bind(&token.token_hash)
                .bind(&token.role)
                .bind(&token.created_by)
                .bind(token.created_at)
                .bind(token.last_used_at)
                .bind(token.revoked_at)
                .bind(&token.owner_id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, [audit]);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The unrevoked token with this hash, and whether its owner's being disabled suspends it.
    pub async fn live_token(&self, token_hash: &str) -> Result<Option<TokenListing>> {
        on_pool!(self.database(), pool => {
            let row = sqlx::query(concat!(tokens_with_owner!(), " WHERE t.token_hash = $1 AND t.revoked_at IS NULL"))
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(row) => Some(token_listing_of!(row)),
                None => None,
            })
        })
    }

    /// The token with this id, revoked or not, with its owner's state.
    pub async fn token(&self, id: &str) -> Result<Option<TokenListing>> {
        on_pool!(self.database(), pool => {
            let row = sqlx::query(concat!(tokens_with_owner!(), " WHERE t.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(row) => Some(token_listing_of!(row)),
                None => None,
            })
        })
    }

    pub async fn touch_token(&self, id: &str, now: i64) -> Result<()> {
        on_pool!(self.database(), pool => {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every token, newest first, with its owner's state.
    pub async fn list_tokens(&self) -> Result<Vec<TokenListing>> {
        on_pool!(self.database(), pool => {
            let rows = sqlx::query(concat!(tokens_with_owner!(), " ORDER BY t.created_at DESC, t.id"))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(token_listing_of!(row));
            }
            Ok(out)
        })
    }

    /// Revokes a token and records it; `None` when there is no such token, `Some(false)` when it
    /// was revoked already.
    pub async fn revoke_token(&self, id: &str, now: i64, audit: &AuditRow) -> Result<Option<bool>> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin_write().await?;
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM api_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(None);
            }
            let revoked = sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if revoked > 0 {
                insert_audit!(&mut *tx, [audit]);
            }
            tx.commit().await?;
            Ok(Some(revoked > 0))
        })
    }

    /// The failed sign-ins of `username` from `client` at or after `since` (epoch ms).
    pub async fn sign_in_failures(&self, username: &str, client: &str, since: i64) -> Result<SignInFailures> {
        on_pool!(self.database(), pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS failures, MAX(at) AS last_at FROM sign_in_failures \
                 WHERE username = $1 AND client = $2 AND at >= $3",
            )
            .bind(username)
            .bind(client)
            .bind(since)
            .fetch_one(pool)
            .await?;
            Ok(SignInFailures { count: row.try_get("failures")?, last_at: row.try_get("last_at")? })
        })
    }

    /// Records a failed sign-in of `username` from `client` for the throttle, with its audit entry, and
    /// forgets failures older than `forget_before` (they no longer count).
    pub async fn record_failed_sign_in(
        &self,
        username: &str,
        client: &str,
        forget_before: i64,
        audit: &AuditRow,
    ) -> Result<()> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sign_in_failures WHERE at < $1").bind(forget_before).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO sign_in_failures (username, client, at) VALUES ($1, $2, $3)")
                .bind(username)
                .bind(client)
                .bind(audit.at)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, [audit]);
            tx.commit().await?;
        });
        Ok(())
    }
}
