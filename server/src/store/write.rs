//! Group commit: many engine transitions written in one database transaction.
//!
//! A [`TransitionWrite`] is everything one transition changes: the instance row (the engine's state and
//! the status columns derived from it), one journal row, the finished step attempt it recorded, the
//! timers it started and ended, the interventions it opened and closed, and — for a new instance — its
//! business keys. [`Store::commit`] writes a whole batch of them with one multi-row statement per table,
//! so the cost of a transaction (and of its fsync) is shared by every transition in it.
//!
//! The runtime executes a transition's effects only after `commit` returned (architecture invariant 3).

use std::collections::{HashMap, HashSet};

use sqlx::QueryBuilder;

use super::rollups::{write_rollups, RollupRows};
use super::{on_pool, BeginWrite, InstanceRow, InterventionRow, JournalRow, Result, StepRow, Store, TimerRow};
use crate::monitoring::facts::Fact;

/// What one transition writes.
#[derive(Clone, Debug, Default)]
pub struct TransitionWrite {
    /// The lease the transition was made under: it is written only while the instance's owner and
    /// epoch are still these (fencing). `None` for a new instance (nobody else can own it) and for bulk
    /// history (`switchboard seed`).
    pub lease: Option<Lease>,
    /// The instance after the transition (inserted if new, else replaced).
    pub instance: Option<InstanceRow>,
    /// Business keys of a new instance.
    pub keys: Vec<(String, String)>,
    pub journal: Option<JournalRow>,
    pub steps: Vec<StepRow>,
    pub timers_started: Vec<TimerRow>,
    pub timers_ended: Vec<String>,
    pub interventions_opened: Vec<InterventionRow>,
    /// Interventions closed, with the time they closed, and who resolved them how.
    pub interventions_closed: Vec<ClosedIntervention>,
    /// The operator action this transition records, if an operator caused it (same transaction).
    pub audit: Vec<super::AuditRow>,
    /// What the transition contributes to monitoring; the writer turns these into rollup rows.
    pub facts: Vec<Fact>,
}

/// An owner and its fencing epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub epoch: i64,
}

/// A batch's transaction, open: check the leases ([`BatchTx::fenced`]), write ([`BatchTx::write`]),
/// then [`BatchTx::commit`]. Dropped without commit, it rolls back.
pub enum BatchTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs the same code on whichever transaction it is; `$conn` is the connection inside.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            BatchTx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            BatchTx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// An intervention closed by a transition: by a person's decision or resolution (`resolved_by`), or by
/// the run moving on (a human task's timeout, a cancel).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClosedIntervention {
    pub id: String,
    pub at: i64,
    pub resolved_by: Option<String>,
    /// JSON: `{"choice": …, "reason": …, …}`.
    pub resolution: Option<String>,
}

impl BatchTx {
    /// The instances of `batch` whose lease moved on: their row's owner or epoch is no longer the one
    /// the write was made under. Their rows stay locked until the transaction ends (PostgreSQL `FOR
    /// UPDATE`; SQLite holds its one write lock), so no claim can move them between this check and
    /// the commit.
    pub async fn fenced(&mut self, batch: &[&TransitionWrite]) -> Result<HashSet<String>> {
        let mut expected: HashMap<&str, &Lease> = HashMap::new();
        for write in batch {
            if let (Some(lease), Some(row)) = (&write.lease, &write.instance) {
                expected.insert(row.id.as_str(), lease);
            }
        }
        if expected.is_empty() {
            return Ok(HashSet::new());
        }
        let mut ids: Vec<&str> = expected.keys().copied().collect();
        ids.sort_unstable(); // one lock order for every node: no deadlock between two checks
        let mut current: Vec<(String, Option<String>, i64)> = Vec::with_capacity(ids.len());
        let postgres = matches!(self, BatchTx::Postgres(_));
        for chunk in ids.chunks(Store::MAX_BIND_VALUES) {
            on_tx!(self, conn => {
                let mut query = QueryBuilder::new("SELECT id, lease_owner, lease_epoch FROM instances WHERE id IN (");
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                query.push(") ORDER BY id");
                if postgres {
                    query.push(" FOR UPDATE");
                }
                current.extend(query.build_query_as::<(String, Option<String>, i64)>().fetch_all(&mut *conn).await?);
            });
        }
        let mut fenced: HashSet<String> = expected.keys().map(|id| id.to_string()).collect();
        for (id, owner, epoch) in current {
            if let Some(lease) = expected.get(id.as_str()) {
                if owner.as_deref() == Some(lease.owner.as_str()) && epoch == lease.epoch {
                    fenced.remove(&id);
                }
            }
        }
        Ok(fenced)
    }

    /// Writes the transitions with one multi-row statement per table, and the rollup rows.
    ///
    /// If one instance appears several times in the batch, its last row wins (transitions of one
    /// instance are queued in order); every journal row is kept.
    pub async fn write(&mut self, batch: &[&TransitionWrite], rollups: &RollupRows<'_>) -> Result<()> {
        let mut latest: HashMap<&str, &InstanceRow> = HashMap::new();
        for row in batch.iter().filter_map(|w| w.instance.as_ref()) {
            latest.insert(row.id.as_str(), row);
        }
        let instances: Vec<&InstanceRow> = latest.into_values().collect();
        let keys: Vec<(&str, &str, &str)> = batch
            .iter()
            .filter_map(|w| w.instance.as_ref().map(|i| (i, &w.keys)))
            .flat_map(|(i, keys)| keys.iter().map(move |(k, v)| (i.id.as_str(), k.as_str(), v.as_str())))
            .collect();
        let journal: Vec<&JournalRow> = batch.iter().filter_map(|w| w.journal.as_ref()).collect();
        let steps: Vec<&StepRow> = batch.iter().flat_map(|w| &w.steps).collect();
        let timers_started: Vec<&TimerRow> = batch.iter().flat_map(|w| &w.timers_started).collect();
        let timers_ended: Vec<&String> = batch.iter().flat_map(|w| &w.timers_ended).collect();
        let opened: Vec<&InterventionRow> = batch.iter().flat_map(|w| &w.interventions_opened).collect();
        let closed: Vec<&ClosedIntervention> = batch.iter().flat_map(|w| &w.interventions_closed).collect();
        let audit = batch.iter().flat_map(|w| &w.audit);

        on_tx!(self, conn => {
            for chunk in instances.chunks(Store::MAX_BIND_VALUES / 16) {
                let mut query = QueryBuilder::new(
                    "INSERT INTO instances (id, workflow, version, status, current_state, paused, error, state, \
                     start_key, journal_seq, created_at, updated_at, finished_at, lease_owner, lease_expires_at, \
                     lease_epoch) ",
                );
                query.push_values(chunk, |mut row, i| {
                    row.push_bind(&i.id)
                        .push_bind(&i.workflow)
                        .push_bind(i.version)
                        .push_bind(&i.status)
                        .push_bind(&i.current_state)
                        .push_bind(i.paused)
                        .push_bind(&i.error)
                        .push_bind(&i.state)
                        .push_bind(&i.start_key)
                        .push_bind(i.journal_seq)
                        .push_bind(i.created_at)
                        .push_bind(i.updated_at)
                        .push_bind(i.finished_at)
                        .push_bind(&i.lease_owner)
                        .push_bind(i.lease_expires_at)
                        .push_bind(i.lease_epoch);
                });
                query.push(
                    " ON CONFLICT (id) DO UPDATE SET status = excluded.status, current_state = excluded.current_state, \
                     paused = excluded.paused, error = excluded.error, state = excluded.state, \
                     journal_seq = excluded.journal_seq, updated_at = excluded.updated_at, \
                     finished_at = excluded.finished_at",
                );
                query.build().execute(&mut *conn).await?;
            }
            for chunk in keys.chunks(Store::MAX_BIND_VALUES / 3) {
                let mut query = QueryBuilder::new("INSERT INTO instance_keys (instance_id, name, value) ");
                query.push_values(chunk, |mut row, (id, name, value)| {
                    row.push_bind(*id).push_bind(*name).push_bind(*value);
                });
                query.push(" ON CONFLICT (instance_id, name) DO NOTHING");
                query.build().execute(&mut *conn).await?;
            }
            for chunk in journal.chunks(Store::MAX_BIND_VALUES / 7) {
                let mut query =
                    QueryBuilder::new("INSERT INTO journal (instance_id, seq, at, event, actor, reason, entries) ");
                query.push_values(chunk, |mut row, j| {
                    row.push_bind(&j.instance_id)
                        .push_bind(j.seq)
                        .push_bind(j.at)
                        .push_bind(&j.event)
                        .push_bind(&j.actor)
                        .push_bind(&j.reason)
                        .push_bind(&j.entries);
                });
                query.build().execute(&mut *conn).await?;
            }
            for chunk in steps.chunks(Store::MAX_BIND_VALUES / 16) {
                let mut query = QueryBuilder::new(
                    "INSERT INTO steps (instance_id, step_id, attempt, kind, workflow, state, service, action, \
                     idempotency_key, scheduled_at, started_at, finished_at, duration_ms, outcome, error) ",
                );
                query.push_values(chunk, |mut row, s| {
                    row.push_bind(&s.instance_id)
                        .push_bind(&s.step_id)
                        .push_bind(s.attempt)
                        .push_bind(&s.kind)
                        .push_bind(&s.workflow)
                        .push_bind(&s.state)
                        .push_bind(&s.service)
                        .push_bind(&s.action)
                        .push_bind(&s.idempotency_key)
                        .push_bind(s.scheduled_at)
                        .push_bind(s.started_at)
                        .push_bind(s.finished_at)
                        .push_bind(s.duration_ms)
                        .push_bind(&s.outcome)
                        .push_bind(&s.error);
                });
                // An attempt re-run after a crash reports once; a second report of it changes nothing.
                query.push(" ON CONFLICT (instance_id, step_id, attempt, kind) DO NOTHING");
                query.build().execute(&mut *conn).await?;
            }
            for chunk in timers_started.chunks(Store::MAX_BIND_VALUES / 4) {
                let mut query = QueryBuilder::new("INSERT INTO timers (id, instance_id, fire_at, purpose) ");
                query.push_values(chunk, |mut row, t| {
                    row.push_bind(&t.id).push_bind(&t.instance_id).push_bind(t.fire_at).push_bind(&t.purpose);
                });
                query.push(" ON CONFLICT (id) DO NOTHING");
                query.build().execute(&mut *conn).await?;
            }
            for chunk in timers_ended.chunks(Store::MAX_BIND_VALUES) {
                let mut query = QueryBuilder::new("DELETE FROM timers WHERE id IN (");
                let mut ids = query.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                query.push(")");
                query.build().execute(&mut *conn).await?;
            }
            for chunk in opened.chunks(Store::MAX_BIND_VALUES / 13) {
                let mut query = QueryBuilder::new(
                    "INSERT INTO interventions (id, instance_id, workflow, kind, state, decisions, assignee_group, \
                     priority, due_at, reason, status, opened_at, closed_at) ",
                );
                query.push_values(chunk, |mut row, i| {
                    row.push_bind(&i.id)
                        .push_bind(&i.instance_id)
                        .push_bind(&i.workflow)
                        .push_bind(&i.kind)
                        .push_bind(&i.state)
                        .push_bind(&i.decisions)
                        .push_bind(&i.assignee_group)
                        .push_bind(&i.priority)
                        .push_bind(i.due_at)
                        .push_bind(&i.reason)
                        .push_bind(&i.status)
                        .push_bind(i.opened_at)
                        .push_bind(i.closed_at);
                });
                query.push(" ON CONFLICT (id) DO NOTHING");
                query.build().execute(&mut *conn).await?;
            }
            for closed in &closed {
                sqlx::query(
                    "UPDATE interventions SET status = 'closed', closed_at = $2, resolved_by = $3, resolution = $4 \
                     WHERE id = $1 AND status = 'open'",
                )
                .bind(&closed.id)
                .bind(closed.at)
                .bind(&closed.resolved_by)
                .bind(&closed.resolution)
                .execute(&mut *conn)
                .await?;
            }
            super::audit::insert_audit!(&mut *conn, audit.clone());
            write_rollups!(conn, rollups);
        });
        Ok(())
    }

    /// Appends live events to the feed of the other nodes and wakes them, in this transaction (only
    /// PostgreSQL has other nodes).
    pub async fn feed(&mut self, node: &str, at: i64, events: &str) -> Result<()> {
        if let BatchTx::Postgres(tx) = self {
            sqlx::query("INSERT INTO cluster_events (node, at, events) VALUES ($1, $2, $3)")
                .bind(node)
                .bind(at)
                .bind(events)
                .execute(&mut **tx)
                .await?;
            sqlx::query("SELECT pg_notify('switchboard_events', '')").execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Ends the transaction without writing anything.
    pub async fn rollback(self) -> Result<()> {
        match self {
            BatchTx::Sqlite(tx) => tx.rollback().await?,
            BatchTx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            BatchTx::Sqlite(tx) => tx.commit().await?,
            BatchTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

impl Store {
    /// Writes every transition of the batch in one transaction; all or nothing.
    ///
    /// If one instance appears several times in the batch, its last row wins (transitions of one
    /// instance are queued in order); every journal row is kept.
    pub async fn commit(&self, batch: &[TransitionWrite]) -> Result<()> {
        self.commit_with_rollups(batch, &RollupRows::default()).await
    }

    /// [`Store::commit`], plus rollup rows written in the same transaction (whole rows, replacing what
    /// is stored: the caller has added the batch's facts to them). No lease is checked.
    pub async fn commit_with_rollups(&self, batch: &[TransitionWrite], rollups: &RollupRows<'_>) -> Result<()> {
        if batch.is_empty() && rollups.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_batch().await?;
        tx.write(&batch.iter().collect::<Vec<_>>(), rollups).await?;
        tx.commit().await
    }

    /// Opens a batch's transaction (on SQLite with the write lock taken up front).
    pub async fn begin_batch(&self) -> Result<BatchTx> {
        Ok(match self.database() {
            crate::db::Database::Sqlite(pool) => BatchTx::Sqlite(pool.begin_write().await?),
            crate::db::Database::Postgres(pool) => BatchTx::Postgres(pool.begin_write().await?),
        })
    }

    /// Removes a timer outside any transition: for a timer whose instance no longer waits on it.
    pub async fn delete_timer(&self, id: &str) -> Result<()> {
        on_pool!(self.database(), pool => {
            sqlx::query("DELETE FROM timers WHERE id = $1").bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Takes over instances for this process: sets the lease owner and expiry and bumps the fencing epoch.
    /// With one process this happens at start for everything it recovers; several processes on
    /// PostgreSQL will claim with `FOR UPDATE SKIP LOCKED` on the same columns.
    pub async fn claim(&self, ids: &[String], owner: &str, expires_at: i64) -> Result<()> {
        for chunk in ids.chunks(Store::MAX_BIND_VALUES - 2) {
            on_pool!(self.database(), pool => {
                let mut query = QueryBuilder::new("UPDATE instances SET lease_owner = ");
                query.push_bind(owner).push(", lease_expires_at = ").push_bind(expires_at);
                query.push(", lease_epoch = lease_epoch + 1 WHERE id IN (");
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(id);
                }
                query.push(")");
                query.build().execute(pool).await?;
            });
        }
        Ok(())
    }
}
