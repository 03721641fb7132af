//! The inbox's SQL: items with their run's status and state, the view counts, and the changes people
//! make — claim, assign, acknowledge — each a conditional UPDATE written with its audit entry in one
//! transaction, so of two people acting at once exactly one changes the row.
//!
//! Resolutions of engine interventions are not here: the runtime closes those rows in the transaction
//! of the transition the answer causes (`runtime::effects`).

use sqlx::{FromRow, QueryBuilder};

use app::wire::InterventionKind;

use super::priority::{default_due_ms, DAY_MS};
use crate::store::audit::{insert_audit, AuditRow};
use crate::store::sla::SlaBreachRow;
use crate::store::{on_pool, Result, Store};

/// An intervention as the inbox reads it: the row, its run's status and engine state (absent for an SLA
/// breach), and for a breach the SLA target it is about.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct InboxRow {
    pub id: String,
    /// Empty for an SLA breach (not tied to a run).
    pub instance_id: String,
    pub workflow: String,
    /// Read as a kind where the row is read: a column with another word fails the read.
    #[sqlx(try_from = "String")]
    pub kind: InterventionKind,
    pub state: String,
    /// JSON array of the allowed decisions.
    pub decisions: String,
    pub assignee_group: Option<String>,
    pub priority: String,
    pub due_at: Option<i64>,
    pub reason: String,
    /// `open` or `closed`.
    pub status: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub assignee: Option<String>,
    pub assigned_at: Option<i64>,
    pub resolved_by: Option<String>,
    /// JSON: `{"choice": …, "reason": …, …}`.
    pub resolution: Option<String>,
    pub instance_status: Option<String>,
    /// The engine's instance, JSON.
    pub instance_state: Option<String>,
    pub breach_target: Option<String>,
}

impl InboxRow {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

macro_rules! inbox_select {
    () => {
        "SELECT i.id, i.instance_id, i.workflow, i.kind, i.state, i.decisions, i.assignee_group, i.priority, \
         i.due_at, i.reason, i.status, i.opened_at, i.closed_at, i.assignee, i.assigned_at, i.resolved_by, \
         i.resolution, s.status AS instance_status, s.state AS instance_state, b.target_id AS breach_target \
         FROM interventions i LEFT JOIN instances s ON s.id = i.instance_id \
         LEFT JOIN sla_breaches b ON b.intervention_id = i.id"
    };
}

/// Whose items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    Anyone,
    /// Assigned to this name.
    Is(String),
    Nobody,
}

/// Which items to read. Open items come oldest first (the caller ranks them), closed ones newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxQuery {
    /// Open items, or closed ones.
    pub open: bool,
    pub holder: Holder,
    /// Only items due before this time (epoch ms).
    pub due_before: Option<i64>,
    pub kind: Option<String>,
    pub workflow: Option<String>,
    pub limit: i64,
}

/// Open items per view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViewCounts {
    pub mine: i64,
    pub unassigned: i64,
    pub all: i64,
    pub overdue: i64,
}

/// The SQL of an item's due time: its own, else `opened_at` plus the default of its kind
/// ([`default_due_ms`]), so the overdue view and count agree with the priority.
fn due_expression() -> String {
    let cases: String = InterventionKind::ALL
        .iter()
        .map(|kind| format!("WHEN '{}' THEN {} ", kind.as_str(), default_due_ms(*kind)))
        .collect();
    format!("COALESCE(i.due_at, i.opened_at + CASE i.kind {cases}ELSE {DAY_MS} END)")
}

impl Store {
    /// The items the query selects, at most `query.limit`.
    pub async fn inbox_items(&self, query: &InboxQuery) -> Result<Vec<InboxRow>> {
        let due = due_expression();
        Ok(on_pool!(self.database(), pool => {
            let mut sql = QueryBuilder::new(concat!(inbox_select!(), " WHERE i.status = "));
            sql.push_bind(if query.open { "open" } else { "closed" });
            match &query.holder {
                Holder::Anyone => {}
                Holder::Is(name) => {
                    sql.push(" AND i.assignee = ").push_bind(name.clone());
                }
                Holder::Nobody => {
                    sql.push(" AND i.assignee IS NULL");
                }
            }
            if let Some(at) = query.due_before {
                sql.push(format!(" AND {due} < ")).push_bind(at);
            }
            if let Some(kind) = &query.kind {
                sql.push(" AND i.kind = ").push_bind(kind.clone());
            }
            if let Some(workflow) = &query.workflow {
                sql.push(" AND i.workflow = ").push_bind(workflow.clone());
            }
            sql.push(if query.open {
                " ORDER BY i.opened_at, i.id LIMIT "
            } else {
                " ORDER BY i.closed_at DESC, i.id DESC LIMIT "
            });
            sql.push_bind(query.limit);
            sql.build_query_as().fetch_all(pool).await?
        }))
    }

    pub async fn inbox_item(&self, id: &str) -> Result<Option<InboxRow>> {
        let query = concat!(inbox_select!(), " WHERE i.id = $1");
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(id).fetch_optional(pool).await?))
    }

    /// Open items per view, `mine` being `me`'s, overdue at `now`: one pass over the open rows.
    pub async fn inbox_counts(&self, me: &str, now: i64) -> Result<ViewCounts> {
        let query = format!(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN i.assignee = $1 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN i.assignee IS NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN {} < $2 THEN 1 ELSE 0 END), 0) \
             FROM interventions i WHERE i.status = 'open'",
            due_expression()
        );
        let (all, mine, unassigned, overdue): (i64, i64, i64, i64) = on_pool!(self.database(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(query)).bind(me).bind(now).fetch_one(pool).await?
        });
        Ok(ViewCounts { mine, unassigned, all, overdue })
    }

    /// Gives an open, unassigned item to `me`, with its audit entry. False (and nothing written) when
    /// it is closed, held, or gone: of many concurrent claims exactly one is true.
    pub async fn claim_intervention(&self, id: &str, me: &str, now: i64, audit: &AuditRow) -> Result<bool> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(
                "UPDATE interventions SET assignee = $2, assigned_at = $3 \
                 WHERE id = $1 AND status = 'open' AND assignee IS NULL",
            )
            .bind(id)
            .bind(me)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != 1 {
                return Ok(false);
            }
            insert_audit!(&mut *tx, [audit]);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Moves an open item from `before` to `after` (`None`: nobody), with its audit entry. False (and
    /// nothing written) when the item is closed or no longer held by `before`.
    pub async fn reassign_intervention(
        &self,
        id: &str,
        before: Option<&str>,
        after: Option<&str>,
        now: i64,
        audit: &AuditRow,
    ) -> Result<bool> {
        let assigned_at = after.map(|_| now);
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            let mut sql = QueryBuilder::new("UPDATE interventions SET assignee = ");
            sql.push_bind(after).push(", assigned_at = ").push_bind(assigned_at);
            sql.push(" WHERE id = ").push_bind(id).push(" AND status = 'open' AND assignee");
            match before {
                Some(name) => sql.push(" = ").push_bind(name),
                None => sql.push(" IS NULL"),
            };
            let moved = sql.build().execute(&mut *tx).await?.rows_affected();
            if moved != 1 {
                return Ok(false);
            }
            insert_audit!(&mut *tx, [audit]);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Closes an open item that nothing in the engine waits on (an SLA breach), as resolved by `me`
    /// with `resolution` (JSON), with its audit entry. False (and nothing written) when it is closed
    /// already or held by someone else.
    pub async fn close_intervention(
        &self,
        id: &str,
        me: &str,
        now: i64,
        resolution: &str,
        audit: &AuditRow,
    ) -> Result<bool> {
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            let closed = sqlx::query(
                "UPDATE interventions SET status = 'closed', closed_at = $3, resolved_by = $2, resolution = $4 \
                 WHERE id = $1 AND status = 'open' AND (assignee IS NULL OR assignee = $2)",
            )
            .bind(id)
            .bind(me)
            .bind(now)
            .bind(resolution)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed != 1 {
                return Ok(false);
            }
            insert_audit!(&mut *tx, [audit]);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The SLA breach that opened this intervention, if one did.
    pub async fn breach_of_intervention(&self, intervention_id: &str) -> Result<Option<SlaBreachRow>> {
        let query = "SELECT id, target_id, workflow, metric, threshold, actual, window_ms, breached_at, recovered_at, \
                     intervention_id FROM sla_breaches WHERE intervention_id = $1";
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(intervention_id).fetch_optional(pool).await?))
    }
}
