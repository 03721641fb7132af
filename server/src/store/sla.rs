//! SLA targets and breaches.

use sqlx::FromRow;

use super::audit::{insert_audit, AuditRow};
use super::{on_pool, BeginWrite, InterventionRow, Result, Store};

/// A target as stored.
#[derive(Clone, Debug, PartialEq, FromRow)]
pub struct SlaTargetRow {
    pub id: String,
    pub workflow: String,
    pub metric: String,
    pub threshold: f64,
    pub window_ms: i64,
    pub open_intervention: i64,
    pub description: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A breach as stored.
#[derive(Clone, Debug, PartialEq, FromRow)]
pub struct SlaBreachRow {
    pub id: String,
    pub target_id: String,
    pub workflow: String,
    pub metric: String,
    pub threshold: f64,
    pub actual: f64,
    pub window_ms: i64,
    pub breached_at: i64,
    pub recovered_at: Option<i64>,
    pub intervention_id: Option<String>,
}

macro_rules! target_columns {
    () => {
        "id, workflow, metric, threshold, window_ms, open_intervention, description, updated_at, updated_by"
    };
}
macro_rules! breach_columns {
    () => {
        "id, target_id, workflow, metric, threshold, actual, window_ms, breached_at, recovered_at, intervention_id"
    };
}

/// Binds a target's fields as `$1`… in the order of `target_columns!`.
macro_rules! bind_target {
    ($query:expr, $row:expr) => {
        $query
            .bind(&$row.id)
            .bind(&$row.workflow)
            .bind(&$row.metric)
            .bind($row.threshold)
            .bind($row.window_ms)
            .bind($row.open_intervention)
            .bind(&$row.description)
            .bind($row.updated_at)
            .bind(&$row.updated_by)
    };
}

/// Inserts a target; `$tail` is appended to the statement (a conflict clause).
macro_rules! insert_target {
    ($row:expr, $tail:literal) => {
        bind_target!(
            sqlx::query(concat!(
                "INSERT INTO sla_targets (",
                target_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                $tail
            )),
            $row
        )
    };
}

/// What the audit trail keeps of a target.
fn target_facts(row: &SlaTargetRow) -> serde_json::Value {
    serde_json::json!({
        "workflow": row.workflow,
        "metric": row.metric,
        "threshold": row.threshold,
        "window_ms": row.window_ms,
        "open_intervention": row.open_intervention != 0,
        "description": row.description,
    })
}

impl Store {
    /// Every target, by workflow, metric and window.
    pub async fn sla_targets(&self) -> Result<Vec<SlaTargetRow>> {
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(concat!("SELECT ", target_columns!(), " FROM sla_targets ORDER BY workflow, metric, window_ms"))
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn sla_target(&self, id: &str) -> Result<Option<SlaTargetRow>> {
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(concat!("SELECT ", target_columns!(), " FROM sla_targets WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Inserts a target with its audit entry (`after` set here); [`super::Error::Conflict`] when the
    /// workflow already has one for that metric and window.
    pub async fn insert_sla_target(&self, row: &SlaTargetRow, audit: AuditRow) -> Result<()> {
        let audit = audit.after(&target_facts(row));
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            insert_target!(row, "").execute(&mut *tx).await?;
            insert_audit!(&mut *tx, [&audit]);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replaces a target's fields and records the change (`before` read in the same transaction);
    /// false when there is no target with that id.
    pub async fn update_sla_target(&self, row: &SlaTargetRow, audit: AuditRow) -> Result<bool> {
        let done = on_pool!(self.database(), pool => {
            let mut tx = pool.begin_write().await?;
            let before: Option<SlaTargetRow> =
                sqlx::query_as(concat!("SELECT ", target_columns!(), " FROM sla_targets WHERE id = $1"))
                    .bind(&row.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let done = bind_target!(
                sqlx::query(
                    "UPDATE sla_targets SET workflow = $2, metric = $3, threshold = $4, window_ms = $5, \
                     open_intervention = $6, description = $7, updated_at = $8, updated_by = $9 WHERE id = $1",
                ),
                row
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if let Some(before) = before.filter(|_| done == 1) {
                let audit = audit.before(&target_facts(&before)).after(&target_facts(row));
                insert_audit!(&mut *tx, [&audit]);
            }
            tx.commit().await?;
            done
        });
        Ok(done == 1)
    }

    /// Deletes a target with its audit entry; its breaches stay on record, an open one ends at `at`
    /// (nothing can recover it any more). False when there was no such target.
    pub async fn delete_sla_target(&self, id: &str, at: i64, audit: AuditRow) -> Result<bool> {
        let done = on_pool!(self.database(), pool => {
            let mut tx = pool.begin_write().await?;
            let before: Option<SlaTargetRow> =
                sqlx::query_as(concat!("SELECT ", target_columns!(), " FROM sla_targets WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let done = sqlx::query("DELETE FROM sla_targets WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            sqlx::query("UPDATE sla_breaches SET recovered_at = $2 WHERE target_id = $1 AND recovered_at IS NULL")
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            if let Some(before) = before.filter(|_| done == 1) {
                let audit = audit.before(&target_facts(&before));
                insert_audit!(&mut *tx, [&audit]);
            }
            tx.commit().await?;
            done
        });
        Ok(done == 1)
    }

    /// Installs a workflow type's default targets once: the first time it is called for `workflow`.
    /// Later calls change nothing, so targets a manager edited or deleted stay that way. Returns whether
    /// the defaults were installed now.
    pub async fn install_default_sla_targets(&self, workflow: &str, targets: &[SlaTargetRow]) -> Result<bool> {
        let key = format!("sla_defaults_installed:{workflow}");
        let installed = on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            let marked = sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, 'true', CURRENT_TIMESTAMP) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 1 {
                for row in targets {
                    insert_target!(row, " ON CONFLICT (workflow, metric, window_ms) DO NOTHING")
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            marked == 1
        });
        Ok(installed)
    }

    /// Breaches, newest first; only open ones when `open_only`.
    pub async fn sla_breaches(&self, open_only: bool, limit: i64) -> Result<Vec<SlaBreachRow>> {
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(concat!(
                "SELECT ", breach_columns!(), " FROM sla_breaches WHERE ($1 = 0 OR recovered_at IS NULL) \
                 ORDER BY breached_at DESC, id DESC LIMIT $2"
            ))
            .bind(i64::from(open_only))
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Records a breach, and in the same transaction the intervention it opens, if any.
    pub async fn insert_sla_breach(&self, row: &SlaBreachRow, intervention: Option<&InterventionRow>) -> Result<()> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(concat!("INSERT INTO sla_breaches (", breach_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                .bind(&row.id)
                .bind(&row.target_id)
                .bind(&row.workflow)
                .bind(&row.metric)
                .bind(row.threshold)
                .bind(row.actual)
                .bind(row.window_ms)
                .bind(row.breached_at)
                .bind(row.recovered_at)
                .bind(&row.intervention_id)
                .execute(&mut *tx)
                .await?;
            if let Some(i) = intervention {
                sqlx::query(
                    "INSERT INTO interventions (id, instance_id, workflow, kind, state, decisions, assignee_group, \
                     priority, due_at, reason, status, opened_at, closed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&i.id)
                .bind(&i.instance_id)
                .bind(&i.workflow)
                .bind(&i.kind)
                .bind(&i.state)
                .bind(&i.decisions)
                .bind(&i.assignee_group)
                .bind(&i.priority)
                .bind(i.due_at)
                .bind(&i.reason)
                .bind(&i.status)
                .bind(i.opened_at)
                .bind(i.closed_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Marks an open breach recovered; false when it was not open.
    pub async fn recover_sla_breach(&self, id: &str, at: i64) -> Result<bool> {
        let done = on_pool!(self.database(), pool => {
            sqlx::query("UPDATE sla_breaches SET recovered_at = $2 WHERE id = $1 AND recovered_at IS NULL")
                .bind(id)
                .bind(at)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Instances in flight right now, counted by workflow type, status and current state(s).
    pub async fn active_counts(&self) -> Result<Vec<(String, String, Option<String>, i64)>> {
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(
                "SELECT workflow, status, current_state, COUNT(*) FROM instances \
                 WHERE status IN ('created', 'running', 'waiting', 'compensating', 'needs_intervention') \
                 GROUP BY workflow, status, current_state",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}
