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
    /// Time spent in `Store::commit`, microseconds.
    pub commit_micros: AtomicU64,
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

    /// The stored rows with `delta` added, for the keys `delta` touches; reads buckets it has not seen.
    pub(crate) async fn updated(&mut self, store: &Store, delta: &Rollups) -> crate::store::Result<Rollups> {
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
        let mut updated = Rollups::default();
        for (key, counts) in &delta.workflows {
            let mut row = self.rows.workflows.get(key).cloned().unwrap_or_default();
            row.merge(counts);
            updated.workflows.insert(key.clone(), row);
        }
        for (key, counts) in &delta.states {
            let mut row = self.rows.states.get(key).cloned().unwrap_or_default();
            row.merge(counts);
            updated.states.insert(key.clone(), row);
        }
        Ok(updated)
    }

    /// Takes the rows written by a committed batch as the stored ones and forgets old buckets.
    pub(crate) fn committed(&mut self, updated: Rollups) {
        self.rows.workflows.extend(updated.workflows);
        self.rows.states.extend(updated.states);
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
        let outcome = match rollups.updated(&store, &delta).await {
            Ok(updated) => match store.commit_with_rollups(&writes, &updated).await {
                Ok(()) => {
                    rollups.committed(updated);
                    Ok(())
                }
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        }
        .map_err(|error| {
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
