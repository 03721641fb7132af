//! The group-commit writer: one task that turns a stream of transition writes into few transactions.
//!
//! Callers hand a [`TransitionWrite`] to [`Writer::commit`] and wait. The writer takes everything that
//! queued up while the previous transaction was being written (up to [`MAX_BATCH`]), writes it in one
//! transaction with [`Store::commit`], and then answers every waiter. Under load a transaction carries
//! many transitions, so throughput is bounded by the storage's bandwidth rather than by one fsync per
//! step; with little load a transition is written at once, alone.
//!
//! The writer also keeps monitoring's rollups ([`crate::monitoring::rollup`]): it adds the facts of a
//! batch to the rollup rows of their buckets and writes the changed rows in the batch's transaction, so
//! the rollups always count exactly the committed transitions. The rows of the newest buckets stay in
//! memory ([`RollupCache`]); a bucket not in memory is read from the database the first time a batch
//! touches it. This relies on this writer being the only one writing rollups to the database (one
//! process per database, as today).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::monitoring::rollup::{Rollups, RESOLUTIONS};
use crate::store::rollups::RollupRows;
use crate::store::{Store, TransitionWrite};

/// At most this many transitions per transaction.
pub const MAX_BATCH: usize = 2_000;

/// Why a write did not become durable. The message comes from the database.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the transition was not written: {0}")]
pub struct CommitError(pub String);

type Request = (TransitionWrite, oneshot::Sender<Result<(), CommitError>>);

/// Counters of the writer, for benchmarks and the services page.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub transactions: AtomicU64,
    pub transitions: AtomicU64,
    /// Time spent in `Store::commit`, microseconds (rollup preparation included).
    pub commit_micros: AtomicU64,
    /// Of which: adding the batch's facts to the rollup rows (before the SQL), microseconds.
    pub rollup_micros: AtomicU64,
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    sender: mpsc::UnboundedSender<Request>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(run(store, receiver, stats.clone()));
        Self { sender, stats }
    }

    /// Resolves once the write is durable (committed), or with the reason it is not.
    pub async fn commit(&self, write: TransitionWrite) -> Result<(), CommitError> {
        let (ack, done) = oneshot::channel();
        self.sender.send((write, ack)).map_err(|_| CommitError("the writer has stopped".into()))?;
        done.await.map_err(|_| CommitError("the writer stopped before answering".into()))?
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

    /// Adds `delta` to the cached rows of its keys, reading buckets it has not seen first. The rows are
    /// changed in place: if the batch is then not committed, [`RollupCache::forget`] must be called.
    pub(crate) async fn add(&mut self, store: &Store, delta: &Rollups) -> crate::store::Result<()> {
        for (resolution_ms, bucket_ms) in delta.buckets() {
            if self.loaded.insert((resolution_ms, bucket_ms)) {
                match store.rollup_bucket(resolution_ms, bucket_ms).await {
                    Ok(stored) => self.rows.merge(&stored),
                    Err(error) => {
                        self.loaded.remove(&(resolution_ms, bucket_ms));
                        return Err(error);
                    }
                }
            }
        }
        self.rows.merge(delta);
        Ok(())
    }

    /// The cached rows of the keys `delta` touches, to write.
    pub(crate) fn touched<'a>(&'a self, delta: &'a Rollups) -> RollupRows<'a> {
        RollupRows {
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

async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Request>, stats: Arc<WriterStats>) {
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
        let delta = Rollups::of(writes.iter().flat_map(|write| &write.facts));
        let prepared = rollups.add(&store, &delta).await;
        stats.rollup_micros.fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
        let outcome = match prepared {
            Ok(()) => store.commit_with_rollups(&writes, &rollups.touched(&delta)).await,
            Err(error) => Err(error),
        };
        match &outcome {
            Ok(()) => rollups.trim(),
            Err(_) => rollups.forget(),
        }
        let outcome = outcome.map_err(|error| {
            tracing::error!(%error, transitions = writes.len(), "a group commit failed");
            CommitError(error.to_string())
        });
        stats.commit_micros.fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        stats.transitions.fetch_add(writes.len() as u64, Ordering::Relaxed);
        for ack in acks.drain(..) {
            // A waiter that gave up (its request was cancelled) needs no answer.
            let _ = ack.send(outcome.clone());
        }
        writes.clear();
    }
}
