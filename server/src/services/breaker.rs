//! [`ServiceBreaker`]: a service's circuit breaker — the engine's [`CircuitBreaker`] — with an
//! operator's override on top.
//!
//! The engine's breaker decides by itself: it opens after consecutive failures and half-opens after its
//! cool-down. An operator may also **trip** it: forced open, every call is refused, and it does not
//! half-open after the cool-down — it stays open until the operator **resets** it, which closes it and
//! forgets its failures (a fresh breaker with the same settings). Outcomes of calls that were already
//! running when it was tripped still reach the engine's breaker underneath; a reset discards them.
//!
//! ```
//! use switchboard::services::breaker::ServiceBreaker;
//! use engine::breaker::{BreakerConfig, BreakerState};
//!
//! let mut breaker = ServiceBreaker::new(BreakerConfig { failure_threshold: 1, open_ms: 100, half_open_probes: 1 });
//! breaker.trip();
//! assert!(!breaker.allow(0));
//! assert_eq!(breaker.state(1_000_000), BreakerState::Open, "no half-open after the cool-down");
//! breaker.reset();
//! assert!(breaker.allow(1_000_000));
//! ```

use engine::breaker::{BreakerConfig, BreakerState, CircuitBreaker};

/// Who decides whether calls pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The engine's breaker, from the calls' outcomes.
    Automatic,
    /// An operator tripped it: open until reset.
    ForcedOpen,
}

/// See the module docs.
#[derive(Clone, Debug)]
pub struct ServiceBreaker {
    breaker: CircuitBreaker,
    mode: Mode,
}

impl ServiceBreaker {
    /// A closed breaker with these settings.
    pub fn new(config: BreakerConfig) -> Self {
        Self { breaker: CircuitBreaker::new(config), mode: Mode::Automatic }
    }

    /// The state at `now_ms`; a tripped breaker is open whatever the time.
    pub fn state(&self, now_ms: i64) -> BreakerState {
        match self.mode {
            Mode::ForcedOpen => BreakerState::Open,
            Mode::Automatic => self.breaker.state(now_ms),
        }
    }

    /// Whether a call may start now (see [`CircuitBreaker::allow`]: a `true` while half-open reserves a
    /// probe, so report the call's outcome).
    pub fn allow(&mut self, now_ms: i64) -> bool {
        match self.mode {
            Mode::ForcedOpen => false,
            Mode::Automatic => self.breaker.allow(now_ms),
        }
    }

    pub fn record_success(&mut self, now_ms: i64) {
        self.breaker.record_success(now_ms);
    }

    pub fn record_failure(&mut self, now_ms: i64) {
        self.breaker.record_failure(now_ms);
    }

    /// See [`CircuitBreaker::record_abandoned`].
    pub fn record_abandoned(&mut self) {
        self.breaker.record_abandoned();
    }

    /// Forces it open until [`reset`](Self::reset).
    pub fn trip(&mut self) {
        self.mode = Mode::ForcedOpen;
    }

    /// Closes it and clears its failure count, whether it was tripped or opened by failures.
    pub fn reset(&mut self) {
        *self = Self::new(self.breaker.config());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig { failure_threshold: 2, open_ms: 100, half_open_probes: 1 }
    }

    #[test]
    fn a_tripped_breaker_refuses_until_reset_even_after_the_cool_down() {
        let mut breaker = ServiceBreaker::new(config());
        breaker.trip();
        for now in [0, 99, 100, 10_000, i64::MAX] {
            assert!(!breaker.allow(now));
            assert_eq!(breaker.state(now), BreakerState::Open);
        }
        // Successes of calls already running do not close it either.
        breaker.record_success(5);
        assert_eq!(breaker.state(5), BreakerState::Open);
        breaker.reset();
        assert_eq!(breaker.state(0), BreakerState::Closed);
        assert!(breaker.allow(0));
    }

    #[test]
    fn reset_closes_a_breaker_opened_by_failures_and_forgets_the_count() {
        let mut breaker = ServiceBreaker::new(config());
        breaker.record_failure(0);
        breaker.record_failure(1);
        assert_eq!(breaker.state(2), BreakerState::Open);
        breaker.reset();
        assert_eq!(breaker.state(2), BreakerState::Closed);
        breaker.record_failure(3);
        assert_eq!(breaker.state(3), BreakerState::Closed, "one failure after the reset, not three");
        breaker.record_failure(4);
        assert_eq!(breaker.state(4), BreakerState::Open, "the settings survive the reset");
    }

    #[test]
    fn an_automatic_breaker_still_half_opens() {
        let mut breaker = ServiceBreaker::new(config());
        breaker.record_failure(0);
        breaker.record_failure(0);
        assert_eq!(breaker.state(100), BreakerState::HalfOpen);
        assert!(breaker.allow(100));
    }
}
