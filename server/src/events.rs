//! The in-process event bus: everything that happens is published here once, and every open browser
//! tab receives it through `GET /api/events` (see `http::events`).
//!
//! A `tokio::sync::broadcast` channel: publishing never blocks, and a subscriber that falls too far
//! behind skips ahead (the console then catches up from the API) rather than slowing the publisher.
//! The bus also carries the shutdown signal so open streams end and the server can stop gracefully.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use app::wire::{Heartbeat, LiveEvent};
use chrono::{SecondsFormat, Utc};
use tokio::sync::{broadcast, mpsc, watch};

/// How many events a slow subscriber may fall behind before it skips ahead.
const CAPACITY: usize = 1024;

/// How often the heartbeat is published.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Cheap to clone; all clones publish to and subscribe from the same channel.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<LiveEvent>,
    heartbeat_sequence: Arc<AtomicU64>,
    shutdown: watch::Sender<bool>,
    /// Where [`EventBus::announce`] also sends, for the other nodes (`cluster::feed::run_outbox`).
    outbox: Arc<OnceLock<mpsc::UnboundedSender<LiveEvent>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        let (shutdown, _) = watch::channel(false);
        Self { sender, heartbeat_sequence: Arc::new(AtomicU64::new(0)), shutdown, outbox: Arc::default() }
    }

    /// Publishes here and, when nodes share the database, on every other node's bus too: for what
    /// happens outside a transition (SLA breaches, inbox claims). Transitions reach the other nodes
    /// through their commit (`runtime::writer`).
    pub fn announce(&self, event: LiveEvent) {
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.send(event.clone());
        }
        self.publish(event);
    }

    /// Sends every later [`EventBus::announce`] to `outbox` as well (once; later calls are ignored).
    pub fn attach_outbox(&self, outbox: mpsc::UnboundedSender<LiveEvent>) {
        let _ = self.outbox.set(outbox);
    }

    /// How many receivers are subscribed (open event streams, mostly).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Sends an event to every current subscriber; with no subscribers it is dropped.
    pub fn publish(&self, event: LiveEvent) {
        // An error only means nobody is listening right now.
        let _ = self.sender.send(event);
    }

    /// Whether anyone listens: callers skip building events nobody would receive.
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }

    /// The heartbeat as of now, carrying the latest sequence number (for a new subscriber's first event).
    pub fn current_heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_time: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            sequence: self.heartbeat_sequence.load(Ordering::Relaxed),
        }
    }

    /// Publishes the next heartbeat.
    pub fn beat(&self) {
        self.heartbeat_sequence.fetch_add(1, Ordering::Relaxed);
        self.publish(LiveEvent::Heartbeat(self.current_heartbeat()));
    }

    /// Publishes a heartbeat every [`HEARTBEAT_INTERVAL`] until shutdown.
    pub async fn run_heartbeat(self) {
        let mut ticker = tokio::time::interval(HEARTBEAT_INTERVAL);
        let mut shutdown = self.shutdown.subscribe();
        loop {
            tokio::select! {
                _ = ticker.tick() => self.beat(),
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
        }
    }

    /// Resolves once [`EventBus::shut_down`] has been called (at once if it already was).
    pub async fn stopping(&self) {
        let mut receiver = self.shutdown.subscribe();
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }

    /// Whether [`EventBus::shut_down`] has been called.
    pub fn is_stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Tells the heartbeat and every open stream to end.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_heartbeats_in_order() {
        let bus = EventBus::new();
        let mut receiver = bus.subscribe();
        bus.beat();
        bus.beat();
        let sequences: Vec<u64> = [receiver.recv().await.unwrap(), receiver.recv().await.unwrap()]
            .into_iter()
            .map(|event| match event {
                LiveEvent::Heartbeat(beat) => beat.sequence,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(sequences, [1, 2]);
    }

    #[tokio::test]
    async fn shutdown_wakes_waiters_even_if_it_came_first() {
        let bus = EventBus::new();
        bus.shut_down();
        tokio::time::timeout(Duration::from_secs(1), bus.stopping()).await.expect("stopping resolves");
        tokio::time::timeout(Duration::from_secs(1), bus.clone().run_heartbeat()).await.expect("heartbeat ends");
    }
}
