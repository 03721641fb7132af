//! Rollup rows: reading buckets back and writing changed rows inside a commit.
//!
//! The writer (runtime/writer.rs) keeps the rows of the newest buckets in memory, adds each batch's facts
//! to them and hands the changed rows to [`Store::commit_with_rollups`], which writes them with the
//! transitions, in the same transaction ([`write_rollups!`]). Monitoring queries read ranges of buckets
//! with [`Store::rollups_between`].

use sqlx::FromRow;

use app::wire::InstanceStatus;

use super::{on_pool, Error, Result, Store};
use crate::monitoring::rollup::{Rollups, StateCounts, StateKey, WorkflowCounts, WorkflowKey};
use crate::monitoring::sketch::DurationSketch;

/// The statuses [`Store::status_counts`] counts on the status index, as SQL: every status but the final
/// ones (a test checks the list against [`InstanceStatus::is_final`]).
macro_rules! resting_statuses {
    () => {
        "('created', 'running', 'waiting', 'compensating', 'needs_intervention', 'failed')"
    };
}

#[derive(FromRow)]
struct WorkflowRollupRow {
    resolution_ms: i64,
    bucket_ms: i64,
    workflow: String,
    started: i64,
    completed: i64,
    failed: i64,
    compensated: i64,
    cancelled: i64,
    interventions: i64,
    duration: String,
}

#[derive(FromRow)]
struct StateRollupRow {
    resolution_ms: i64,
    bucket_ms: i64,
    workflow: String,
    state: String,
    entered: i64,
    attempts: i64,
    failures: i64,
    retries: i64,
    compensations: i64,
    compensation_failures: i64,
    interventions: i64,
    time_in_state: String,
    attempt_duration: String,
    queue_wait: String,
}

fn sketch(text: &str) -> Result<DurationSketch> {
    DurationSketch::from_text(text).map_err(|error| Error::Corrupt(format!("rollup sketch: {error}")))
}

fn into_rollups(workflows: Vec<WorkflowRollupRow>, states: Vec<StateRollupRow>) -> Result<Rollups> {
    let mut rollups = Rollups::default();
    for row in workflows {
        let key = WorkflowKey { resolution_ms: row.resolution_ms, bucket_ms: row.bucket_ms, workflow: row.workflow };
        // Several writers' shards of one key add up (sketches merge exactly).
        rollups.workflows.entry(key).or_default().merge(&WorkflowCounts {
                started: row.started,
                completed: row.completed,
                failed: row.failed,
                compensated: row.compensated,
                cancelled: row.cancelled,
                interventions: row.interventions,
                duration: sketch(&row.duration)?,
        });
    }
    for row in states {
        let key = StateKey {
            resolution_ms: row.resolution_ms,
            bucket_ms: row.bucket_ms,
            workflow: row.workflow,
            state: row.state,
        };
        rollups.states.entry(key).or_default().merge(&StateCounts {
                entered: row.entered,
                attempts: row.attempts,
                failures: row.failures,
                retries: row.retries,
                compensations: row.compensations,
                compensation_failures: row.compensation_failures,
                interventions: row.interventions,
                time_in_state: sketch(&row.time_in_state)?,
                attempt_duration: sketch(&row.attempt_duration)?,
                queue_wait: sketch(&row.queue_wait)?,
        });
    }
    Ok(rollups)
}

macro_rules! workflow_columns {
    () => {
        "resolution_ms, bucket_ms, workflow, started, completed, failed, compensated, cancelled, interventions, \
         duration"
    };
}
macro_rules! state_columns {
    () => {
        "resolution_ms, bucket_ms, workflow, state, entered, attempts, failures, retries, compensations, \
         compensation_failures, interventions, time_in_state, attempt_duration, queue_wait"
    };
}
/// The range condition both reads use.
macro_rules! range_condition {
    () => {
        " WHERE resolution_ms = $1 AND bucket_ms >= $2 AND bucket_ms < $3 AND ($4 IS NULL OR workflow = $4) \
         AND ($5 IS NULL OR shard = $5)"
    };
}

/// Which rollup rows to read: one resolution, buckets starting in `[from_ms, to_ms)`, optionally one
/// workflow type, and whether the per-state rows are wanted.
#[derive(Clone, Debug)]
pub struct RollupRange<'a> {
    pub resolution_ms: i64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub workflow: Option<&'a str>,
    pub states: bool,
    /// One writer's rows only (see [`RollupRows::shard`]); `None` adds up every writer's.
    pub shard: Option<&'a str>,
}

impl Store {
    /// Every row of one bucket (all workflow types and states) that one writer (`shard`) wrote.
    pub async fn rollup_bucket(&self, resolution_ms: i64, bucket_ms: i64, shard: &str) -> Result<Rollups> {
        self.rollups_between(&RollupRange {
            resolution_ms,
            from_ms: bucket_ms,
            to_ms: bucket_ms + 1,
            workflow: None,
            states: true,
            shard: Some(shard),
        })
        .await
    }

    /// The rows of a range of buckets.
    pub async fn rollups_between(&self, range: &RollupRange<'_>) -> Result<Rollups> {
        let (workflows, states) = on_pool!(self.database(), pool => {
            let workflows: Vec<WorkflowRollupRow> = sqlx::query_as(concat!("SELECT ", workflow_columns!(), " FROM workflow_rollups", range_condition!()))
                .bind(range.resolution_ms)
                .bind(range.from_ms)
                .bind(range.to_ms)
                .bind(range.workflow)
                .bind(range.shard)
                .fetch_all(pool)
                .await?;
            let states: Vec<StateRollupRow> = if range.states {
                sqlx::query_as(concat!("SELECT ", state_columns!(), " FROM state_rollups", range_condition!()))
                    .bind(range.resolution_ms)
                    .bind(range.from_ms)
                    .bind(range.to_ms)
                    .bind(range.workflow)
                    .bind(range.shard)
                    .fetch_all(pool)
                    .await?
            } else {
                Vec::new()
            };
            (workflows, states)
        });
        into_rollups(workflows, states)
    }

    /// The stored rows of the keys `delta` touches, with `delta` added: what to write for history
    /// counted in bulk (`switchboard seed`, the backfill), one range read per resolution. Bulk counts
    /// go to the single-node shard `''`.
    pub async fn stored_plus(&self, delta: &Rollups) -> Result<Rollups> {
        let mut stored = Rollups::default();
        for resolution_ms in crate::monitoring::rollup::RESOLUTIONS {
            let buckets: Vec<i64> =
                delta.buckets().into_iter().filter(|(r, _)| *r == resolution_ms).map(|(_, b)| b).collect();
            let (Some(&from_ms), Some(&last)) = (buckets.iter().min(), buckets.iter().max()) else { continue };
            let range =
                RollupRange { resolution_ms, from_ms, to_ms: last + 1, workflow: None, states: true, shard: Some("") };
            stored.merge(&self.rollups_between(&range).await?);
        }
        stored.retain_keys_of(delta);
        stored.merge(delta);
        Ok(stored)
    }

    /// Every rollup row there is (for tests and the recomputation check).
    pub async fn all_rollups(&self) -> Result<Rollups> {
        let (workflows, states) = on_pool!(self.database(), pool => {
            let workflows: Vec<WorkflowRollupRow> =
                sqlx::query_as(concat!("SELECT ", workflow_columns!(), " FROM workflow_rollups")).fetch_all(pool).await?;
            let states: Vec<StateRollupRow> =
                sqlx::query_as(concat!("SELECT ", state_columns!(), " FROM state_rollups")).fetch_all(pool).await?;
            (workflows, states)
        });
        into_rollups(workflows, states)
    }
}

/// Rollup rows to write, borrowed (from a [`Rollups`] or from the writer's cache).
#[derive(Debug, Default)]
pub struct RollupRows<'a> {
    /// The writer whose rows these are: the node's id when several nodes share the database, `''` for
    /// one node and for bulk counts.
    pub shard: &'a str,
    pub workflows: Vec<(&'a WorkflowKey, &'a WorkflowCounts)>,
    pub states: Vec<(&'a StateKey, &'a StateCounts)>,
}

impl RollupRows<'_> {
    pub fn is_empty(&self) -> bool {
        self.workflows.is_empty() && self.states.is_empty()
    }
}

impl<'a> From<&'a Rollups> for RollupRows<'a> {
    fn from(rollups: &'a Rollups) -> Self {
        RollupRows {
            shard: "",
            workflows: rollups.workflows.iter().collect(),
            states: rollups.states.iter().collect(),
        }
    }
}

/// Writes the given rollup rows (whole rows: they replace what is stored) on a connection or transaction.
macro_rules! write_rollups {
    ($conn:expr, $rows:expr) => {{
        let rows: &$crate::store::rollups::RollupRows<'_> = $rows;
        for chunk in rows.workflows.chunks(Store::MAX_BIND_VALUES / 11) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO workflow_rollups (resolution_ms, bucket_ms, workflow, shard, started, completed, failed, \
                 compensated, cancelled, interventions, duration) ",
            );
            query.push_values(chunk, |mut row, (key, counts)| {
                row.push_bind(key.resolution_ms)
                    .push_bind(key.bucket_ms)
                    .push_bind(key.workflow.clone())
                    .push_bind(rows.shard)
                    .push_bind(counts.started)
                    .push_bind(counts.completed)
                    .push_bind(counts.failed)
                    .push_bind(counts.compensated)
                    .push_bind(counts.cancelled)
                    .push_bind(counts.interventions)
                    .push_bind(counts.duration.to_text());
            });
            query.push(
                " ON CONFLICT (resolution_ms, bucket_ms, workflow, shard) DO UPDATE SET started = excluded.started, \
                 completed = excluded.completed, failed = excluded.failed, compensated = excluded.compensated, \
                 cancelled = excluded.cancelled, interventions = excluded.interventions, duration = excluded.duration",
            );
            query.build().execute(&mut *$conn).await?;
        }
        for chunk in rows.states.chunks(Store::MAX_BIND_VALUES / 15) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO state_rollups (resolution_ms, bucket_ms, workflow, state, shard, entered, attempts, failures, \
                 retries, compensations, compensation_failures, interventions, time_in_state, attempt_duration, \
                 queue_wait) ",
            );
            query.push_values(chunk, |mut row, (key, counts)| {
                row.push_bind(key.resolution_ms)
                    .push_bind(key.bucket_ms)
                    .push_bind(key.workflow.clone())
                    .push_bind(key.state.clone())
                    .push_bind(rows.shard)
                    .push_bind(counts.entered)
                    .push_bind(counts.attempts)
                    .push_bind(counts.failures)
                    .push_bind(counts.retries)
                    .push_bind(counts.compensations)
                    .push_bind(counts.compensation_failures)
                    .push_bind(counts.interventions)
                    .push_bind(counts.time_in_state.to_text())
                    .push_bind(counts.attempt_duration.to_text())
                    .push_bind(counts.queue_wait.to_text());
            });
            query.push(
                " ON CONFLICT (resolution_ms, bucket_ms, workflow, state, shard) DO UPDATE SET entered = excluded.entered, \
                 attempts = excluded.attempts, failures = excluded.failures, retries = excluded.retries, \
                 compensations = excluded.compensations, compensation_failures = excluded.compensation_failures, \
                 interventions = excluded.interventions, time_in_state = excluded.time_in_state, \
                 attempt_duration = excluded.attempt_duration, queue_wait = excluded.queue_wait",
            );
            query.build().execute(&mut *$conn).await?;
        }
    }};
}
pub(crate) use write_rollups;

/// `WHERE` on `instance_id` between `$1` and `$2`, either of them NULL for no bound.
macro_rules! id_range {
    () => {
        " WHERE ($1 IS NULL OR instance_id >= $1) AND ($2 IS NULL OR instance_id <= $2)"
    };
}

/// Everything the rollups are derived from: for the recomputation that checks them and the backfill.
pub struct History {
    /// `(workflow, created_at)` by instance id.
    pub instances: std::collections::HashMap<String, (String, i64)>,
    pub journal: Vec<super::JournalRow>,
    pub steps: Vec<super::StepRow>,
    /// Interventions of instances (not those SLA breaches opened).
    pub interventions: Vec<super::InterventionRow>,
}

impl Store {
    /// Reads the whole history. Meant for tests and checks on small databases: it loads every row.
    pub async fn history(&self) -> Result<History> {
        self.history_between(None, None).await
    }

    /// The history of the instances whose ids lie from `from` to `to`, both included (`None`: no bound).
    pub async fn history_between(&self, from: Option<&str>, to: Option<&str>) -> Result<History> {
        let (instances, journal, steps, interventions) = on_pool!(self.database(), pool => {
            let instances: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT id, workflow, created_at FROM instances WHERE ($1 IS NULL OR id >= $1) AND ($2 IS NULL OR id <= $2)",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            let journal: Vec<super::JournalRow> = sqlx::query_as(concat!(
                "SELECT instance_id, seq, at, event, actor, reason, entries FROM journal", id_range!()
            ))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            let steps: Vec<super::StepRow> = sqlx::query_as(concat!(
                "SELECT instance_id, step_id, attempt, kind, workflow, state, service, action, idempotency_key, \
                 scheduled_at, started_at, finished_at, duration_ms, outcome, error FROM steps",
                id_range!()
            ))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            let interventions: Vec<super::InterventionRow> = sqlx::query_as(concat!(
                "SELECT id, instance_id, workflow, kind, state, decisions, assignee_group, priority, due_at, reason, \
                 status, opened_at, closed_at FROM interventions",
                id_range!(),
                " AND kind <> 'sla_breach'"
            ))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            (instances, journal, steps, interventions)
        });
        Ok(History {
            instances: instances.into_iter().map(|(id, workflow, created)| (id, (workflow, created))).collect(),
            journal,
            steps,
            interventions,
        })
    }

    /// Up to `limit` instance ids after `after`, in order: pages for walking the whole history.
    pub async fn instance_ids_after(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_scalar("SELECT id FROM instances WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }
}

impl Store {
    /// How many instances are in each status now, without scanning every instance: statuses an
    /// instance can still leave (in flight, and `failed`, which an operator may retry) are counted on
    /// the status index, which holds few of them; the final ones (completed, compensated, cancelled —
    /// reached once and never left) are the sums of the daily rollups. Same answer as
    /// [`Store::count_by_status`] for any history the rollups were kept for.
    pub async fn status_counts(&self) -> Result<Vec<(InstanceStatus, i64)>> {
        let (counts, finals) = on_pool!(self.database(), pool => {
            let counts: Vec<(String, i64)> = sqlx::query_as(concat!(
                "SELECT status, COUNT(*) FROM instances WHERE status IN ",
                resting_statuses!(),
                " GROUP BY status"
            ))
            .fetch_all(pool)
            .await?;
            let finals: (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
                "SELECT CAST(SUM(completed) AS BIGINT), CAST(SUM(compensated) AS BIGINT), CAST(SUM(cancelled) AS BIGINT) \
                 FROM workflow_rollups WHERE resolution_ms = 86400000",
            )
            .fetch_one(pool)
            .await?;
            (counts, finals)
        });
        let mut counts = parse_counts(counts)?;
        let finals = [
            (InstanceStatus::Completed, finals.0),
            (InstanceStatus::Compensated, finals.1),
            (InstanceStatus::Cancelled, finals.2),
        ];
        for (status, count) in finals {
            if let Some(count) = count.filter(|n| *n > 0) {
                counts.push((status, count));
            }
        }
        counts.sort_by_key(|(status, _)| status.as_str());
        Ok(counts)
    }
}

/// `(status, count)` rows with their status read as a status.
///
/// # Errors
/// [`Error::Corrupt`] for a status column that holds no known status.
pub(super) fn parse_counts(rows: Vec<(String, i64)>) -> Result<Vec<(InstanceStatus, i64)>> {
    rows.into_iter()
        .map(|(text, count)| {
            let status = text.parse().map_err(|error| Error::Corrupt(format!("instance status column: {error}")))?;
            Ok((status, count))
        })
        .collect()
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn statuses_counted_on_the_index_are_the_ones_an_instance_can_leave() {
        let listed: Vec<InstanceStatus> = resting_statuses!()
            .trim_matches(|c| c == '(' || c == ')')
            .split(", ")
            .map(|word| word.trim_matches('\'').parse().unwrap())
            .collect();
        let expected: Vec<InstanceStatus> = InstanceStatus::ALL.iter().copied().filter(|s| !s.is_final()).collect();
        assert_eq!(listed, expected);
        let finals: Vec<InstanceStatus> = InstanceStatus::ALL.iter().copied().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [InstanceStatus::Completed, InstanceStatus::Compensated, InstanceStatus::Cancelled]);
    }

    #[test]
    fn an_unknown_status_in_the_column_is_corrupt_data() {
        let error = parse_counts(vec![("paused".into(), 1)]).unwrap_err();
        assert!(matches!(&error, Error::Corrupt(text) if text.contains("`paused`")), "{error}");
    }
}
