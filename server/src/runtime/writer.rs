//! The group-commit writer: one task that turns a stream of transition writes into few transactions.
//!
//! Callers hand a [`TransitionWrite`] to [`Writer::commit`] and wait. The writer takes everything that
//! queued up while the previous transaction was being written (up to [`MAX_BATCH`]), writes it in one
//! transaction with [`Store::commit`], and then answers every waiter. Under load a transaction carries
//! many transitions, so throughput is bounded by the storage's bandwidth rather than by one fsync per
//! step; with little load a transition is written at once, alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

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

async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Request>, stats: Arc<WriterStats>) {
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
        let outcome = store.commit(&writes).await.map_err(|error| {
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
