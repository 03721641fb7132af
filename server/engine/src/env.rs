//! What the engine needs from the outside world: time, ids and randomness.
//!
//! The engine never reads a clock, generates an id or draws a random number on its own; it asks
//! the [`Env`] passed to [`apply`](crate::transition::apply). Given the same `Env` answers, the
//! same events produce the same instance (replay is exact). The runtime implements `Env` with
//! the wall clock, UUIDv7 and a real RNG; tests use [`FixedEnv`](crate::testing::FixedEnv).
//!
//! **Time representation:** every timestamp in the engine is `i64` milliseconds since the Unix
//! epoch (UTC), every duration `u64` milliseconds. The runtime converts RFC 3339 text and
//! database timestamps at its edge.

/// Injected time, ids and randomness.
pub trait Env {
    /// Current time, epoch milliseconds.
    fn now_ms(&mut self) -> i64;
    /// A fresh unique id (timer and intervention ids).
    fn new_id(&mut self) -> String;
    /// A random number in `[0, 1)` (retry jitter).
    fn random_f64(&mut self) -> f64;
}
