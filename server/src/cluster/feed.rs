//! The live feed between nodes: every console sees every node's transitions, SLA breaches and inbox
//! changes.
//!
//! Writers: the group-commit writer appends one `cluster_events` row per batch (its transitions' live
//! events as a JSON array) in the batch's own transaction and calls `pg_notify` there, so a row exists
//! exactly when its transitions do; announcements made outside a transition (SLA breaches, claims and
//! assignments in the inbox) go through [`run_outbox`]. Both only write while a console is open on some
//! other node ([`super::Node::others_listen`]).
//!
//! Readers ([`run_reader`]): LISTEN `switchboard_events` wakes a node at once; a poll every
//! [`POLL`] is the fallback, so a dropped notification or a reconnect loses nothing — the rows are
//! the truth and each node keeps its own cursor. Ids come from a sequence, and transactions of different
//! nodes commit out of id order: a row is published the first time it is seen, and the cursor waits at
//! a missing id for up to [`GAP_WAIT`] (a sequence value of a transaction that rolled back never
//! appears).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::wire::LiveEvent;
use tokio::sync::mpsc;

use super::{sql, Node};
use crate::db::Database;
use crate::events::EventBus;

/// The channel NOTIFY uses.
pub const CHANNEL: &str = "switchboard_events";
/// How often a reader looks without being woken.
pub const POLL: Duration = Duration::from_millis(1_000);
/// How long the cursor waits for a missing id.
const GAP_WAIT: Duration = Duration::from_secs(10);
/// Rows read at once.
const PAGE: i64 = 500;

/// The feed text of some live events.
pub fn encode(events: &[LiveEvent]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".into())
}

/// Which feed rows this node has published, as a cursor and the ids seen beyond it.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Every id up to here is published (or given up on).
    through: i64,
    seen: BTreeSet<i64>,
    /// Since when the cursor has waited at `through + 1`.
    waiting_since: Option<Instant>,
}

impl Cursor {
    pub fn starting_after(id: i64) -> Self {
        Self { through: id, ..Self::default() }
    }

    pub fn through(&self) -> i64 {
        self.through
    }

    /// Whether `id` is new; marks it seen.
    pub fn first_sight(&mut self, id: i64) -> bool {
        id > self.through && self.seen.insert(id)
    }

    /// Moves the cursor over consecutive seen ids, and over a missing id older than [`GAP_WAIT`].
    pub fn advance(&mut self, now: Instant) {
        loop {
            while self.seen.remove(&(self.through + 1)) {
                self.through += 1;
                self.waiting_since = None;
            }
            if self.seen.is_empty() {
                self.waiting_since = None;
                return;
            }
            let since = *self.waiting_since.get_or_insert(now);
            if now.duration_since(since) < GAP_WAIT {
                return;
            }
            self.through += 1; // gave up on the missing id
            self.waiting_since = None;
        }
    }
}

/// Publishes other nodes' events on this node's bus until the bus stops (PostgreSQL only).
pub async fn run_reader(node: Arc<Node>, database: Database, bus: EventBus) {
    let Database::Postgres(pool) = &database else { return };
    let mut cursor = loop {
        match sql::feed_end(&database).await {
            Ok(end) => break Cursor::starting_after(end),
            Err(error) => {
                tracing::warn!(%error, "cannot find the end of the live feed; trying again");
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = bus.stopping() => return,
                }
            }
        }
    };
    let mut listener = None;
    loop {
        if bus.is_stopping() {
            return;
        }
        if listener.is_none() {
            listener = match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(mut connected) => match connected.listen(CHANNEL).await {
                    Ok(()) => Some(connected),
                    Err(error) => {
                        tracing::warn!(%error, "cannot LISTEN for other nodes' events; polling");
                        None
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "cannot LISTEN for other nodes' events; polling");
                    None
                }
            };
        }
        read_new(&node, &database, &bus, &mut cursor).await;
        let woken = async {
            match listener.as_mut() {
                // `recv` reconnects by itself after a lost connection; the poll covers the gap.
                Some(listening) => listening.recv().await.map(drop),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            outcome = woken => {
                if let Err(error) = outcome {
                    if bus.is_stopping() {
                        return;
                    }
                    tracing::warn!(%error, "the LISTEN connection failed; reconnecting");
                    listener = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            () = tokio::time::sleep(POLL) => {}
            () = bus.stopping() => return,
        }
    }
}

/// Reads the rows after the cursor and publishes the other nodes' events. With no console open here,
/// the cursor just moves to the end: nobody would see them.
async fn read_new(node: &Node, database: &Database, bus: &EventBus, cursor: &mut Cursor) {
    if !bus.has_subscribers() {
        if let Ok(end) = sql::feed_end(database).await {
            *cursor = Cursor::starting_after(end.max(cursor.through()));
        }
        return;
    }
    loop {
        let rows = match sql::feed_after(database, cursor.through(), PAGE).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "cannot read the live feed");
                return;
            }
        };
        let full = rows.len() as i64 == PAGE;
        for row in rows {
            if !cursor.first_sight(row.id) || row.node == node.id() {
                continue;
            }
            match serde_json::from_str::<Vec<LiveEvent>>(&row.events) {
                Ok(events) => {
                    node.stats.feed_events.fetch_add(events.len() as u64, Ordering::Relaxed);
                    for event in events {
                        bus.publish(event);
                    }
                }
                Err(error) => tracing::warn!(%error, id = row.id, "an unreadable live feed row"),
            }
        }
        cursor.advance(Instant::now());
        if !full {
            return;
        }
    }
}

/// Appends announcements made outside transitions to the feed, a batch per row.
pub async fn run_outbox(node: Arc<Node>, database: Database, mut outbox: mpsc::UnboundedReceiver<LiveEvent>) {
    while let Some(first) = outbox.recv().await {
        let mut events = vec![first];
        while let Ok(more) = outbox.try_recv() {
            events.push(more);
        }
        if !node.others_listen() {
            continue;
        }
        if let Err(error) = sql::feed_append(&database, node.id(), &encode(&events)).await {
            tracing::warn!(%error, "cannot append to the live feed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_moves_over_what_it_saw_and_waits_at_a_gap() {
        let start = Instant::now();
        let mut cursor = Cursor::starting_after(10);
        assert!(cursor.first_sight(11));
        assert!(cursor.first_sight(13));
        assert!(!cursor.first_sight(13), "seen once");
        assert!(!cursor.first_sight(9), "behind the cursor");
        cursor.advance(start);
        assert_eq!(cursor.through(), 11, "waits at the missing 12");
        cursor.advance(start + Duration::from_secs(1));
        assert_eq!(cursor.through(), 11);
        assert!(cursor.first_sight(12), "the late commit arrives");
        cursor.advance(start + Duration::from_secs(2));
        assert_eq!(cursor.through(), 13);
    }

    #[test]
    fn a_gap_that_never_fills_is_passed_after_the_wait() {
        let start = Instant::now();
        let mut cursor = Cursor::starting_after(0);
        cursor.first_sight(2);
        cursor.advance(start);
        assert_eq!(cursor.through(), 0);
        cursor.advance(start + GAP_WAIT);
        assert_eq!(cursor.through(), 2);
    }
}
