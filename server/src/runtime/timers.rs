//! Durable timers, fired on time.
//!
//! Timers are rows in the `timers` table, written in the same transaction as the transition that started
//! them, and deleted by the transition that consumes them. This module keeps the ones due soon (within
//! [`HORIZON_MS`]) in a heap in memory and fires each at its time by delivering `TimerFired` to its
//! instance. Timers further out, and every timer after a restart, are found by a scan of the table every
//! [`SCAN_INTERVAL`], so a hundred thousand instances waiting for days cost memory only as their time
//! comes. A timer may fire twice around a crash or a scan; the engine answers the second with
//! `StaleEvent` and the runtime deletes its row.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// Timers due within this many milliseconds are kept in memory.
pub const HORIZON_MS: i64 = 10_000;
/// How often the table is scanned for timers coming within the horizon.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(2);

/// A timer to fire: (fire at, timer id, instance id).
pub type DueTimer = (i64, String, String);

#[derive(Default)]
struct Heap {
    queue: BinaryHeap<Reverse<DueTimer>>,
    /// Ids in `queue`, to skip a timer the scan finds again.
    queued: HashSet<String>,
    /// Ids cancelled while queued; dropped when they come up.
    cancelled: HashSet<String>,
}

/// The in-memory part of the timers. The runtime's timer task drives it.
#[derive(Default)]
pub struct TimerQueue {
    heap: Mutex<Heap>,
    wake: Notify,
}

impl TimerQueue {
    /// Queues a timer if it is due within the horizon of `now_ms`; later ones wait for a scan.
    pub fn schedule(&self, timer_id: &str, instance_id: &str, fire_at_ms: i64, now_ms: i64) {
        if fire_at_ms > now_ms + HORIZON_MS {
            return;
        }
        let mut heap = self.lock();
        if !heap.queued.insert(timer_id.to_string()) {
            return;
        }
        let earliest = heap.queue.peek().is_none_or(|Reverse((at, _, _))| fire_at_ms < *at);
        heap.cancelled.remove(timer_id);
        heap.queue.push(Reverse((fire_at_ms, timer_id.to_string(), instance_id.to_string())));
        drop(heap);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Forgets timers that no longer matter (their instance moved on).
    pub fn cancel<'a>(&self, timer_ids: impl IntoIterator<Item = &'a String>) {
        let mut heap = self.lock();
        for id in timer_ids {
            if heap.queued.contains(id) {
                heap.cancelled.insert(id.clone());
            }
        }
    }

    /// Removes and returns the timers due at `now_ms`.
    pub fn take_due(&self, now_ms: i64) -> Vec<DueTimer> {
        let mut heap = self.lock();
        let mut due = Vec::new();
        while heap.queue.peek().is_some_and(|Reverse((at, _, _))| *at <= now_ms) {
            let Some(Reverse(timer)) = heap.queue.pop() else { break };
            heap.queued.remove(&timer.1);
            if !heap.cancelled.remove(&timer.1) {
                due.push(timer);
            }
        }
        due
    }

    /// When the next queued timer fires, if any.
    pub fn next_fire_at(&self) -> Option<i64> {
        self.lock().queue.peek().map(|Reverse((at, _, _))| *at)
    }

    /// How many timers are queued in memory.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves when a timer earlier than all queued ones was scheduled.
    pub async fn changed(&self) {
        self.wake.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Heap> {
        self.heap.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_come_due_in_order_and_cancelled_ones_never() {
        let queue = TimerQueue::default();
        queue.schedule("t2", "i", 200, 0);
        queue.schedule("t1", "i", 100, 0);
        queue.schedule("t3", "i", 300, 0);
        queue.schedule("t1", "i", 100, 0); // found again by a scan: queued once
        queue.cancel([&"t2".to_string()]);
        assert_eq!(queue.next_fire_at(), Some(100));
        assert_eq!(queue.take_due(50), vec![]);
        let due: Vec<String> = queue.take_due(250).into_iter().map(|(_, id, _)| id).collect();
        assert_eq!(due, ["t1"]);
        let due: Vec<String> = queue.take_due(1_000).into_iter().map(|(_, id, _)| id).collect();
        assert_eq!(due, ["t3"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn timers_beyond_the_horizon_wait_for_the_scan() {
        let queue = TimerQueue::default();
        queue.schedule("far", "i", HORIZON_MS + 1, 0);
        assert!(queue.is_empty());
        queue.schedule("far", "i", HORIZON_MS + 1, 1);
        assert_eq!(queue.len(), 1);
    }
}
