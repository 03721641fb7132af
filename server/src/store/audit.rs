//! The audit trail: who did what, when, why, with the values before and after.
//!
//! Rows are written only inside the transaction of the change they record ([`insert_audit!`] takes the
//! transaction), so a change without its entry, or an entry without its change, cannot be committed.
//! The table is append-only: database triggers refuse UPDATE and DELETE (migration `0006_access.sql`),
//! and no API route writes it except through an action.

use serde_json::Value;
use sqlx::{QueryBuilder, Row};

use super::{on_pool, Result, Store};

/// One audit entry as stored. `before` and `after` are JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub instance_id: Option<String>,
    pub reason: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub outcome: String,
}

impl AuditRow {
    /// A successful action; `before`/`after` are serialized here.
    pub fn ok(actor: &str, action: &str, target_kind: &str, target_id: &str, at: i64) -> Self {
        AuditRow {
            id: crate::runtime::clock::new_id(),
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            target_kind: target_kind.to_string(),
            target_id: target_id.to_string(),
            instance_id: None,
            reason: None,
            before: None,
            after: None,
            outcome: "ok".to_string(),
        }
    }

    pub fn instance(mut self, instance_id: impl Into<String>) -> Self {
        self.instance_id = Some(instance_id.into());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn before(mut self, value: &Value) -> Self {
        self.before = Some(value.to_string());
        self
    }

    pub fn after(mut self, value: &Value) -> Self {
        self.after = Some(value.to_string());
        self
    }

    pub fn outcome(mut self, outcome: impl Into<String>) -> Self {
        self.outcome = outcome.into();
        self
    }
}

/// Inserts audit rows with the given executor (a transaction: `&mut *tx`). A macro so one SQL text
/// serves both pools inside `on_pool!`.
macro_rules! insert_audit {
    ($executor:expr, $rows:expr) => {{
        let rows: Vec<&$crate::store::audit::AuditRow> = $rows.into_iter().collect();
        for chunk in rows.chunks($crate::store::Store::MAX_BIND_VALUES / 11) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO audit_log (id, at, actor, action, target_kind, target_id, instance_id, reason, before, \
                 after, outcome) ",
            );
            query.push_values(chunk, |mut row, a| {
                row.push_bind(&a.id)
                    .push_bind(a.at)
                    .push_bind(&a.actor)
                    .push_bind(&a.action)
                    .push_bind(&a.target_kind)
                    .push_bind(&a.target_id)
                    .push_bind(&a.instance_id)
                    .push_bind(&a.reason)
                    .push_bind(&a.before)
                    .push_bind(&a.after)
                    .push_bind(&a.outcome);
            });
            query.build().execute($executor).await?;
        }
    }};
}
pub(crate) use insert_audit;

/// Which entries to read (`GET /api/audit`). Every field narrows; `before` is the keyset cursor (an id).
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// An action name, or a prefix ending in `.` (`instance.`).
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub instance_id: Option<String>,
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<String>,
    pub limit: i64,
}

const COLUMNS: &str = "id, at, actor, action, target_kind, target_id, instance_id, reason, before, after, outcome";

impl Store {
    /// Records entries that change nothing else (failed sign-ins), in their own transaction.
    pub async fn insert_audit(&self, rows: &[AuditRow]) -> Result<()> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            insert_audit!(&mut *tx, rows.iter());
            tx.commit().await?;
        });
        Ok(())
    }

    /// Entries matching the filter, newest first, at most `filter.limit`.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
        on_pool!(self.database(), pool => {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1"));
            if let Some(actor) = &filter.actor {
                query.push(" AND actor = ").push_bind(actor);
            }
            match filter.action.as_deref() {
                Some(prefix) if prefix.ends_with('.') => {
                    query.push(" AND action LIKE ").push_bind(format!("{prefix}%"));
                }
                Some(action) => {
                    query.push(" AND action = ").push_bind(action);
                }
                None => {}
            }
            if let Some(kind) = &filter.target_kind {
                query.push(" AND target_kind = ").push_bind(kind);
            }
            if let Some(id) = &filter.target_id {
                query.push(" AND target_id = ").push_bind(id);
            }
            if let Some(id) = &filter.instance_id {
                query.push(" AND instance_id = ").push_bind(id);
            }
            if let Some(from) = filter.from {
                query.push(" AND at >= ").push_bind(from);
            }
            if let Some(until) = filter.until {
                query.push(" AND at < ").push_bind(until);
            }
            if let Some(before) = &filter.before {
                query.push(" AND id < ").push_bind(before);
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(filter.limit);
            let rows = query.build().fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditRow {
                        id: row.try_get("id")?,
                        at: row.try_get("at")?,
                        actor: row.try_get("actor")?,
                        action: row.try_get("action")?,
                        target_kind: row.try_get("target_kind")?,
                        target_id: row.try_get("target_id")?,
                        instance_id: row.try_get("instance_id")?,
                        reason: row.try_get("reason")?,
                        before: row.try_get("before")?,
                        after: row.try_get("after")?,
                        outcome: row.try_get("outcome")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// Failed sign-ins for `username` since `since` (the sign-in rate limit counts these).
    pub async fn failed_sign_ins_since(&self, username: &str, since: i64) -> Result<i64> {
        on_pool!(self.database(), pool => {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_log WHERE target_kind = 'session' AND target_id = $1 \
                 AND action = 'session.sign_in' AND outcome <> 'ok' AND at >= $2",
            )
            .bind(username)
            .bind(since)
            .fetch_one(pool)
            .await?;
            Ok(count)
        })
    }
}
