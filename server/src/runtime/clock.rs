//! Time, ids and randomness for the runtime, injected so tests can control them.
//!
//! [`Clock`] is the wall clock the runtime persists (deadlines, timers, step timings), as epoch
//! milliseconds. [`RuntimeEnv`] is what the engine asks for during one transition: a fixed "now",
//! time-ordered UUIDv7 ids, and jitter randomness.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time, epoch milliseconds.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(AtomicI64::new(now_ms))
    }

    pub fn advance(&self, by_ms: i64) {
        self.0.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The engine's [`engine::Env`] for one transition: time stands still while it is applied.
pub struct RuntimeEnv {
    now_ms: i64,
}

impl RuntimeEnv {
    pub fn at(now_ms: i64) -> Self {
        Self { now_ms }
    }
}

impl engine::Env for RuntimeEnv {
    fn now_ms(&mut self) -> i64 {
        self.now_ms
    }

    fn new_id(&mut self) -> String {
        new_id()
    }

    fn random_f64(&mut self) -> f64 {
        fastrand::f64()
    }
}

/// A new time-ordered id (UUIDv7): sorting ids sorts by creation time, which keeps inserts at the end of
/// the primary-key index and lets lists page by id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
