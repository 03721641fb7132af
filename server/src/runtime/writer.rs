//! The group-commit writer: one task that turns a stream of transition writes into few transactions.
//!
//! Callers hand a [`TransitionWrite`] to [`Writer::commit`] and wait. The writer takes everything that
//! queued up while the previous transaction was being written (up to [`MAX_BATCH`]), writes it in one
//! transaction, and then answers every waiter. Under load a transaction carries many transitions, so
//! throughput is bounded by the storage's bandwidth rather than by one fsync per step; with little load
//! a transition is written at once, alone.
//!
//! In the transaction, before writing, the leases of the batch's instances are checked under a row
//! lock (`BatchTx::fenced`): a write whose instance moved to another node writes nothing and is
//! answered [`CommitError::Fenced`], while the rest of the batch is written. A batch that fails is
//! tried again with back-off when the error is transient; if it still fails, each write is tried alone,
//! so one write that cannot be written does not fail the others.
//!
//! The writer also keeps monitoring's rollups ([`crate::monitoring::rollup`]): it adds the facts of a
//! batch to the rollup rows of their buckets and writes the changed rows in the batch's transaction, so
//! the rollups always count exactly the committed transitions. Each writer owns its rows (its node's
//! shard, `Node::rollup_shard`): with several nodes on one database each adds only to its own rows, and
//! readers add the shards up. The rows of the newest buckets stay in memory ([`RollupCache`]); a bucket
//! not in memory is read from the database the first time a batch touches it.
//!
//! When a console is open on another node, the batch's live events are appended to the cluster feed in
//! the same transaction (`cluster::feed`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::cluster::{self, Node};
use crate::monitoring::rollup::{Rollups, RESOLUTIONS};
use crate::store::rollups::RollupRows;
use crate::store::{self, Store, TransitionWrite};

/// At most this many transitions per transaction.
pub const MAX_BATCH: usize = 2_000;

/// How many times a batch is written again after a transient error, before its writes are tried alone.
const RETRIES: u32 = 3;
/// The first back-off; each next one is four times longer.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Why a write did not become durable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The instance moved to another node (its lease was taken): nothing of this write was written.
    #[error("the instance is driven by another node now; this node's write was refused (fenced)")]
    Fenced,
    /// The database did not take it; the message comes from the database.
    #[error("the transition was not written: {0}")]
    Failed(String),
}

type Request = (TransitionWrite, oneshot::Sender<Result<(), CommitError>>);

/// Counters of the writer, for benchmarks and the services page.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub transactions: AtomicU64,
    pub transitions: AtomicU64,
    /// Batches written again after a transient error.
    pub retries: AtomicU64,
    /// Time spent in `Store::commit`, microseconds (rollup preparation included).
    pub commit_micros: AtomicU64,
    /// Of which: adding the batch's facts to the rollup rows (before the SQL), microseconds.
    pub rollup_micros: AtomicU64,
    /// Whether writes fail, for `GET /api/health` (which also holds the database probe's findings).
    pub health: crate::health::HealthWatch,
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    sender: mpsc::UnboundedSender<Request>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts a writer for a database this process has to itself (no leases checked, shard `''`).
    pub fn spawn(store: Store) -> Self {
        let shared = false;
        Self::spawn_for(store, Arc::new(Node::new(cluster::ClusterConfig::default(), shared)))
    }

    /// Starts the writer task of `node` on the current runtime.
    pub fn spawn_for(store: Store, node: Arc<Node>) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(run(store, node, receiver, stats.clone()));
        Self { sender, stats }
    }

    /// Resolves once the write is durable (committed), or with the reason it is not.
    pub async fn commit(&self, write: TransitionWrite) -> Result<(), CommitError> {
        let committing = crate::telemetry::transitions::Committing::of(&write);
        let (ack, done) = oneshot::channel();
        self.sender.send((write, ack)).map_err(|_| CommitError::Failed("the writer has stopped".into()))?;
        done.await
            .map_err(|_| CommitError::Failed("the writer stopped before answering".into()))?
            .map(|()| committing.done())
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

/// The rollup rows of the newest buckets, as stored. Buckets older than [`RollupCache::KEEP`] of their
/// resolution behind the newest one are dropped (a late fact for them reads them back).
#[derive(Default)]
pub(crate) struct RollupCache {
    rows: Rollups,
    loaded: std::collections::BTreeSet<(i64, i64)>,
}

impl RollupCache {
    /// Buckets kept per resolution.
    const KEEP: i64 = 3;

    /// Reads the stored rows (of `shard`) of the buckets `delta` touches that are not in memory yet.
    pub(crate) async fn load(&mut self, store: &Store, delta: &Rollups, shard: &str) -> crate::store::Result<()> {
        for (resolution_ms, bucket_ms) in delta.buckets() {
            if self.loaded.insert((resolution_ms, bucket_ms)) {
                match store.rollup_bucket(resolution_ms, bucket_ms, shard).await {
                    Ok(stored) => self.rows.merge(&stored),
                    Err(error) => {
                        self.loaded.remove(&(resolution_ms, bucket_ms));
                        return Err(error);
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds `delta` (whose buckets were [`RollupCache::load`]ed) to the cached rows, in place: if the
    /// batch is then not committed, [`RollupCache::forget`] must be called.
    pub(crate) fn add(&mut self, delta: &Rollups) {
        self.rows.merge(delta);
    }

    /// The cached rows of the keys `delta` touches, to write as `shard`'s.
    pub(crate) fn touched<'a>(&'a self, delta: &'a Rollups, shard: &'a str) -> RollupRows<'a> {
        RollupRows {
            shard,
            workflows: delta.workflows.keys().filter_map(|k| self.rows.workflows.get_key_value(k)).collect(),
            states: delta.states.keys().filter_map(|k| self.rows.states.get_key_value(k)).collect(),
        }
    }

    /// Drops everything: after a failed commit the cached rows are ahead of the stored ones.
    pub(crate) fn forget(&mut self) {
        self.rows = Rollups::default();
        self.loaded.clear();
    }

    /// After a commit: forgets buckets older than the newest few of each resolution.
    pub(crate) fn trim(&mut self) {
        for resolution_ms in RESOLUTIONS {
            let newest = self.loaded.iter().filter(|(r, _)| *r == resolution_ms).map(|(_, b)| *b).max();
            if let Some(newest) = newest {
                let oldest_kept = newest - (Self::KEEP - 1) * resolution_ms;
                self.loaded.retain(|&(r, b)| r != resolution_ms || b >= oldest_kept);
            }
        }
        let loaded = &self.loaded;
        self.rows.retain_buckets(|r, b| loaded.contains(&(r, b)));
    }
}

async fn run(
    store: Store,
    node: Arc<Node>,
    mut receiver: mpsc::UnboundedReceiver<Request>,
    stats: Arc<WriterStats>,
) {
    let mut rollups = RollupCache::default();
    let mut writes = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::with_capacity(MAX_BATCH);
    while let Some((write, ack)) = receiver.recv().await {
        writes.push(write);
        acks.push(ack);
        while writes.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok((write, ack)) => {
                    writes.push(write);
                    acks.push(ack);
                }
                Err(_) => break,
            }
        }
        let began = std::time::Instant::now();
        let outcomes = commit_batch(&store, &node, &mut rollups, &writes, &stats).await;
        stats.commit_micros.fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        stats.transitions.fetch_add(writes.len() as u64, Ordering::Relaxed);
        crate::telemetry::metrics::group_commit(writes.len(), began.elapsed());
        for (ack, outcome) in acks.drain(..).zip(outcomes) {
            // A waiter that gave up (its request was cancelled) needs no answer.
            let _ = ack.send(outcome);
        }
        writes.clear();
    }
}

/// Writes a batch: retried on transient errors, then write by write; one outcome per write, in order.
async fn commit_batch(
    store: &Store,
    node: &Node,
    rollups: &mut RollupCache,
    writes: &[TransitionWrite],
    stats: &WriterStats,
) -> Vec<Result<(), CommitError>> {
    let all: Vec<&TransitionWrite> = writes.iter().collect();
    let now_ms = || chrono::Utc::now().timestamp_millis();
    let error = match commit_retrying(store, node, rollups, &all, stats).await {
        Ok(fenced) => {
            stats.health.write_succeeded(now_ms());
            return writes.iter().map(|write| outcome_of(node, write, &fenced)).collect();
        }
        Err(error) => error,
    };
    stats.health.write_failed(now_ms(), &error.to_string());
    if writes.len() == 1 {
        return vec![Err(CommitError::Failed(error.to_string()))];
    }
    tracing::warn!(%error, transitions = writes.len(), "a group commit failed; writing its transitions one by one");
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        outcomes.push(match commit_retrying(store, node, rollups, &[write], stats).await {
            Ok(fenced) => {
                stats.health.write_succeeded(now_ms());
                outcome_of(node, write, &fenced)
            }
            Err(error) => {
                tracing::error!(%error, "a transition could not be written");
                Err(CommitError::Failed(error.to_string()))
            }
        });
    }
    outcomes
}

fn outcome_of(node: &Node, write: &TransitionWrite, fenced: &HashSet<String>) -> Result<(), CommitError> {
    match write.instance.as_ref().filter(|row| fenced.contains(&row.id)) {
        Some(row) => {
            node.fenced(&row.id); // counted in the node's stats, which its heartbeat reports
            Err(CommitError::Fenced)
        }
        None => Ok(()),
    }
}

/// [`commit_once`], again after a back-off while the error is transient.
async fn commit_retrying(
    store: &Store,
    node: &Node,
    rollups: &mut RollupCache,
    writes: &[&TransitionWrite],
    stats: &WriterStats,
) -> store::Result<HashSet<String>> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match commit_once(store, node, rollups, writes, stats).await {
            Ok(fenced) => return Ok(fenced),
            Err(error) => {
                // The cached rows may be ahead of the stored ones now.
                rollups.forget();
                attempt += 1;
                if attempt > RETRIES || !error.is_transient() {
                    return Err(error);
                }
                tracing::warn!(%error, attempt, "a commit failed on a transient error; trying again");
                stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff *= 4;
            }
        }
    }
}

/// One transaction: check the leases, write what is still this node's with its rollups (and feed
/// the other nodes' consoles), commit. Returns the instances whose writes were fenced.
async fn commit_once(
    store: &Store,
    node: &Node,
    rollups: &mut RollupCache,
    writes: &[&TransitionWrite],
    stats: &WriterStats,
) -> store::Result<HashSet<String>> {
    let began = std::time::Instant::now();
    let shard = node.rollup_shard();
    let all = Rollups::of(writes.iter().flat_map(|write| &write.facts));
    rollups.load(store, &all, shard).await?;
    let mut tx = store.begin_batch().await?;
    let fenced = tx.fenced(writes).await?;
    let is_kept = |write: &&&TransitionWrite| write.instance.as_ref().is_none_or(|row| !fenced.contains(&row.id));
    let (kept, delta): (Vec<&TransitionWrite>, Rollups) = if fenced.is_empty() {
        (writes.to_vec(), all)
    } else {
        let kept: Vec<&TransitionWrite> = writes.iter().filter(is_kept).copied().collect();
        let delta = Rollups::of(kept.iter().flat_map(|write| &write.facts));
        (kept, delta)
    };
    rollups.add(&delta);
    stats.rollup_micros.fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
    tx.write(&kept, &rollups.touched(&delta, shard)).await?;
    if node.others_listen() {
        let events: Vec<app::wire::LiveEvent> = kept.iter().flat_map(|write| super::convert::live_events_of(write)).collect();
        if !events.is_empty() {
            tx.feed(node.id(), chrono::Utc::now().timestamp_millis(), &cluster::feed::encode(&events)).await?;
        }
    }
    tx.commit().await?;
    rollups.trim();
    Ok(fenced)
}
