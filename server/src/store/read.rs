//! Reads: instances (one, or a filtered page), their journal, steps, keys and interventions, and the
//! timers that are due; and for bulk operator actions, counts and id pages of the instances an action
//! applies to.

use sqlx::QueryBuilder;

use app::wire::InstanceStatus;

use super::{on_pool, InstanceRow, InstanceSummaryRow, InterventionRow, JournalRow, Result, StepRow, Store, TimerRow};

macro_rules! instance_columns {
    () => {
        "id, workflow, version, status, current_state, paused, error, state, start_key, journal_seq, \
         created_at, updated_at, finished_at, lease_owner, lease_expires_at, lease_epoch"
    };
}

macro_rules! summary_columns {
    () => {
        "id, workflow, version, status, current_state, paused, error, created_at, updated_at, finished_at"
    };
}

/// Which instances to list. Every field narrows the result; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub workflow: Option<String>,
    pub status: Option<String>,
    pub version: Option<i64>,
    /// A business key value (buyer, seller, call or payout id), matched exactly against any key name.
    pub business_key: Option<String>,
    /// Created at or after, epoch milliseconds.
    pub created_from: Option<i64>,
    /// Created before, epoch milliseconds.
    pub created_to: Option<i64>,
    /// Text the error message contains, ignoring case.
    pub error_contains: Option<String>,
}

/// Appends the filter's conditions (`AND …`) to a query that already has a `WHERE`.
macro_rules! push_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &InstanceFilter = $filter;
        if let Some(workflow) = &filter.workflow {
            $query.push(" AND workflow = ").push_bind(workflow.clone());
        }
        if let Some(status) = &filter.status {
            $query.push(" AND status = ").push_bind(status.clone());
        }
        if let Some(version) = filter.version {
            $query.push(" AND version = ").push_bind(version);
        }
        if let Some(key) = &filter.business_key {
            $query.push(" AND id IN (SELECT instance_id FROM instance_keys WHERE value = ").push_bind(key.clone());
            $query.push(")");
        }
        if let Some(from) = filter.created_from {
            $query.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(to) = filter.created_to {
            $query.push(" AND created_at < ").push_bind(to);
        }
        if let Some(text) = &filter.error_contains {
            // Case-insensitive on both backends (SQLite's LIKE ignores ASCII case, PostgreSQL's does not).
            $query.push(" AND lower(error) LIKE ").push_bind(format!("%{}%", escape_like(&text.to_lowercase())));
            $query.push(" ESCAPE '\\'");
        }
    }};
}

/// Which instances a bulk operator action addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These ids (unknown ones match nothing).
    Ids(Vec<String>),
    /// Those the filter matches.
    Filter(InstanceFilter),
}

/// An operator action that may be applied to many instances at once. Which instances it applies to is
/// the engine's transition table (`engine::transition`, the `dispatch` match) written as SQL over the
/// status columns, so counting them loads no instance:
///
/// - `Cancel`: `running`, `waiting`, `failed`, and `needs_intervention` on a failed step (an open
///   `retries_exhausted` intervention) — not on a failed compensation.
/// - `Retry`: `needs_intervention` (a failed step or compensation), and `failed` with a step to retry
///   (the engine's `retry_from`; not after a `fail` state or an aborted compensation).
/// - `Pause`: not paused, and `running`, `waiting`, `compensating` or `needs_intervention`.
/// - `Resume`: paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorAction {
    Retry,
    Cancel,
    Pause,
    Resume,
}

/// Appends the selection's conditions (`AND …`) to a query that already has a `WHERE`.
macro_rules! push_selection {
    ($query:expr, $selection:expr) => {{
        match $selection {
            Selection::Filter(filter) => push_filter!($query, filter),
            Selection::Ids(ids) if ids.is_empty() => {
                $query.push(" AND 1 = 0");
            }
            Selection::Ids(ids) => {
                $query.push(" AND id IN (");
                let mut list = $query.separated(", ");
                for id in ids {
                    list.push_bind(id.clone());
                }
                $query.push(")");
            }
        }
    }};
}

/// Appends `AND (the statuses the action applies to)`; `retry_from` is the backend's test that a failed
/// instance has a step to retry (it is only in the instance's JSON).
macro_rules! push_applies_to {
    ($query:expr, $action:expr, $retry_from:expr) => {{
        match $action {
            OperatorAction::Cancel => $query.push(
                " AND (status IN ('running', 'waiting', 'failed') OR (status = 'needs_intervention' AND EXISTS \
                 (SELECT 1 FROM interventions WHERE interventions.instance_id = instances.id \
                 AND interventions.status = 'open' AND interventions.kind = 'retries_exhausted')))",
            ),
            OperatorAction::Retry => $query
                .push(" AND (status = 'needs_intervention' OR (status = 'failed' AND ")
                .push($retry_from)
                .push("))"),
            OperatorAction::Pause => $query
                .push(" AND paused = 0 AND status IN ('running', 'waiting', 'compensating', 'needs_intervention')"),
            OperatorAction::Resume => $query.push(" AND paused <> 0"),
        };
    }};
}

/// Makes `%`, `_` and `\` in user text match themselves in a LIKE pattern.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl Store {
    pub async fn instance(&self, id: &str) -> Result<Option<InstanceRow>> {
        let query = concat!("SELECT ", instance_columns!(), " FROM instances WHERE id = $1");
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(id).fetch_optional(pool).await?))
    }

    /// The instance a start request with this key created, if any.
    pub async fn instance_by_start_key(&self, start_key: &str) -> Result<Option<InstanceRow>> {
        let query = concat!("SELECT ", instance_columns!(), " FROM instances WHERE start_key = $1");
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(start_key).fetch_optional(pool).await?))
    }

    /// A page of instances, newest first. Ids are UUIDv7 (time-ordered), so `before` — the last id of
    /// the previous page — pages through the primary key however large the table grows.
    pub async fn list_instances(
        &self,
        filter: &InstanceFilter,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<InstanceSummaryRow>> {
        Ok(on_pool!(self.database(), pool => {
            let mut query = QueryBuilder::new(concat!("SELECT ", summary_columns!(), " FROM instances WHERE 1 = 1"));
            push_filter!(query, filter);
            if let Some(before) = before {
                query.push(" AND id < ").push_bind(before.to_string());
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
            query.build_query_as().fetch_all(pool).await?
        }))
    }

    /// How many instances match the filter.
    pub async fn count_instances(&self, filter: &InstanceFilter) -> Result<i64> {
        Ok(on_pool!(self.database(), pool => {
            let mut query = QueryBuilder::new("SELECT count(*) FROM instances WHERE 1 = 1");
            push_filter!(query, filter);
            query.build_query_scalar().fetch_one(pool).await?
        }))
    }

    /// How many instances the selection matches or, with `action`, how many of those the action applies
    /// to: one `count(*)`, whatever the number of instances.
    pub async fn count_selected(&self, selection: &Selection, action: Option<OperatorAction>) -> Result<i64> {
        let retry_from = self.retry_from_test();
        Ok(on_pool!(self.database(), pool => {
            let mut query = QueryBuilder::new("SELECT count(*) FROM instances WHERE 1 = 1");
            push_selection!(query, selection);
            if let Some(action) = action {
                push_applies_to!(query, action, retry_from);
            }
            query.build_query_scalar().fetch_one(pool).await?
        }))
    }

    /// Up to `limit` ids of selected instances the action applies to, in increasing id order, after
    /// `after` (the last id of the previous page): a keyset page over the primary key.
    pub async fn applicable_ids(
        &self,
        selection: &Selection,
        action: OperatorAction,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>> {
        let retry_from = self.retry_from_test();
        Ok(on_pool!(self.database(), pool => {
            let mut query = QueryBuilder::new("SELECT id FROM instances WHERE 1 = 1");
            push_selection!(query, selection);
            push_applies_to!(query, action, retry_from);
            if let Some(after) = after {
                query.push(" AND id > ").push_bind(after.to_string());
            }
            query.push(" ORDER BY id LIMIT ").push_bind(limit);
            query.build_query_scalar().fetch_all(pool).await?
        }))
    }

    /// Whether a failed instance has a step to retry: the engine keeps it in the instance's JSON only
    /// (`status.retry_from`), and each backend reads JSON its own way.
    fn retry_from_test(&self) -> &'static str {
        match self.database() {
            crate::db::Database::Sqlite(_) => "json_extract(state, '$.status.retry_from') IS NOT NULL",
            crate::db::Database::Postgres(_) => "(state::json -> 'status' -> 'retry_from') IS NOT NULL",
        }
    }

    /// How many instances are in each status, counted row by row (a full scan; the console uses
    /// [`Store::status_counts`], which reads the rollups).
    pub async fn count_by_status(&self) -> Result<Vec<(InstanceStatus, i64)>> {
        let query = "SELECT status, count(*) FROM instances GROUP BY status ORDER BY status";
        let rows: Vec<(String, i64)> = on_pool!(self.database(), pool => sqlx::query_as(query).fetch_all(pool).await?);
        super::rollups::parse_counts(rows)
    }

    /// Instances that were moving when the process stopped: running, compensating, or created and not
    /// yet started.
    pub async fn instances_in_flight(&self) -> Result<Vec<InstanceRow>> {
        let query = concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE status IN ('created', 'running', 'compensating') ORDER BY id"
        );
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).fetch_all(pool).await?))
    }

    /// The instance's journal, oldest first.
    pub async fn journal(&self, instance_id: &str) -> Result<Vec<JournalRow>> {
        let query = "SELECT instance_id, seq, at, event, actor, reason, entries FROM journal \
                     WHERE instance_id = $1 ORDER BY seq";
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(instance_id).fetch_all(pool).await?))
    }

    /// The instance's finished step attempts, in the order they finished; those that finished in the
    /// same millisecond in the order their steps began (the step number that ends a step id), a task's
    /// attempts before its compensation's.
    pub async fn steps(&self, instance_id: &str) -> Result<Vec<StepRow>> {
        let query = "SELECT instance_id, step_id, attempt, kind, workflow, state, service, action, idempotency_key, \
                     scheduled_at, started_at, finished_at, duration_ms, outcome, error FROM steps \
                     WHERE instance_id = $1 ORDER BY finished_at, step_id, attempt";
        let mut rows: Vec<StepRow> =
            on_pool!(self.database(), pool => sqlx::query_as(query).bind(instance_id).fetch_all(pool).await?);
        // Step ids are `{instance}:{state}:{n}`, n counting up as steps begin: a state's name says nothing
        // of order, so two steps that finished within one millisecond are ordered by n.
        let begun = |row: &StepRow| row.step_id.rsplit(':').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        rows.sort_by_key(|row| (row.finished_at, begun(row), row.kind != "task", row.attempt));
        Ok(rows)
    }

    /// The instance's business keys, by name.
    pub async fn business_keys(&self, instance_id: &str) -> Result<Vec<(String, String)>> {
        let query = "SELECT name, value FROM instance_keys WHERE instance_id = $1 ORDER BY name";
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(instance_id).fetch_all(pool).await?))
    }

    /// The instance's interventions, oldest first.
    pub async fn interventions_of(&self, instance_id: &str) -> Result<Vec<InterventionRow>> {
        let query = "SELECT id, instance_id, workflow, kind, state, decisions, assignee_group, priority, due_at, \
                     reason, status, opened_at, closed_at FROM interventions WHERE instance_id = $1 ORDER BY opened_at, id";
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(instance_id).fetch_all(pool).await?))
    }

    /// The instances `owner` drives that are moving (created, running, compensating) and had no
    /// transition since `quiet_since` (epoch ms).
    pub async fn moving_instances_of(&self, owner: &str, quiet_since: i64) -> Result<Vec<InstanceRow>> {
        let query = concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE lease_owner = $1 AND status IN ('created', 'running', 'compensating') \
             AND updated_at < $2 ORDER BY id LIMIT 1000"
        );
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(owner).bind(quiet_since).fetch_all(pool).await?))
    }

    /// Timers due by `until` of the instances `owner` drives, earliest first, at most `limit`: each
    /// node fires only its own instances' timers.
    pub async fn timers_due_for(&self, owner: &str, until: i64, limit: i64) -> Result<Vec<TimerRow>> {
        let query = "SELECT t.id, t.instance_id, t.fire_at, t.purpose FROM timers t \
                     JOIN instances i ON i.id = t.instance_id \
                     WHERE t.fire_at <= $1 AND i.lease_owner = $3 ORDER BY t.fire_at LIMIT $2";
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(query).bind(until).bind(limit).bind(owner).fetch_all(pool).await?
        }))
    }

    /// Timers that fire at or before `until`, soonest first.
    pub async fn timers_due(&self, until: i64, limit: i64) -> Result<Vec<TimerRow>> {
        let query =
            "SELECT id, instance_id, fire_at, purpose FROM timers WHERE fire_at <= $1 ORDER BY fire_at LIMIT $2";
        Ok(on_pool!(self.database(), pool => sqlx::query_as(query).bind(until).bind(limit).fetch_all(pool).await?))
    }
}
