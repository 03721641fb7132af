//! A per-service circuit breaker as a pure value.
//!
//! The runtime keeps one [`CircuitBreaker`] per service, asks [`CircuitBreaker::allow`] before
//! each call and reports the outcome with [`CircuitBreaker::record_success`] /
//! [`CircuitBreaker::record_failure`]. When a call is refused, the runtime reports the task as
//! failed with [`ErrorKind::CircuitOpen`](crate::event::ErrorKind::CircuitOpen), and the
//! engine moves on to a fallback service.
//!
//! Policy (documented choice): the breaker trips after `failure_threshold` **consecutive**
//! failures. Consecutive counting needs no window bookkeeping and reacts within a handful of
//! calls to a service that is down, which is the failure mode that matters here; a slow trickle
//! of errors is the retry policy's business, not the breaker's.
//!
//! * **closed**: calls pass; a success resets the count; the n-th consecutive failure opens it.
//! * **open** for `open_ms`: calls are refused. Afterwards the breaker is half-open.
//! * **half-open**: at most `half_open_probes` calls are let through at a time. A failure of a
//!   probe opens the breaker again; `half_open_probes` successes close it.
//!
//! Time is passed in as epoch milliseconds; the breaker never reads a clock.
//!
//! ```
//! use switchboard_engine::breaker::{BreakerState, CircuitBreaker, BreakerConfig};
//!
//! let mut b = CircuitBreaker::new(BreakerConfig { failure_threshold: 2, open_ms: 1_000, half_open_probes: 1 });
//! b.record_failure(0);
//! b.record_failure(10);
//! assert!(!b.allow(500));
//! assert_eq!(b.state(1_010), BreakerState::HalfOpen);
//! assert!(b.allow(1_010));      // the probe
//! assert!(!b.allow(1_011));     // only one probe at a time
//! b.record_success(1_020);
//! assert_eq!(b.state(1_020), BreakerState::Closed);
//! ```

use serde::{Deserialize, Serialize};

/// Breaker settings. Defaults: 5 consecutive failures, open for 30 s, 1 probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long the breaker stays open before probing, in milliseconds.
    pub open_ms: u64,
    /// Calls let through at a time while half-open, and successes needed to close.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: 5, open_ms: 30_000, half_open_probes: 1 }
    }
}

/// The state as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls are refused.
    Open,
    /// A limited number of probe calls pass.
    HalfOpen,
}

/// Internal state with the data each phase needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Phase {
    Closed { consecutive_failures: u32 },
    Open { until_ms: i64 },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// A circuit breaker for one service (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    phase: Phase,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::new(BreakerConfig::default())
    }
}

impl CircuitBreaker {
    /// A closed breaker. A zero threshold or probe count is treated as 1.
    pub fn new(config: BreakerConfig) -> Self {
        let config = BreakerConfig {
            failure_threshold: config.failure_threshold.max(1),
            half_open_probes: config.half_open_probes.max(1),
            ..config
        };
        CircuitBreaker { config, phase: Phase::Closed { consecutive_failures: 0 } }
    }

    /// The settings in force.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// The state at `now_ms` (an open breaker whose time is up reports half-open).
    pub fn state(&self, now_ms: i64) -> BreakerState {
        match self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until_ms } if now_ms >= until_ms => BreakerState::HalfOpen,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Consecutive failures counted while closed (0 in other states).
    pub fn consecutive_failures(&self) -> u32 {
        match self.phase {
            Phase::Closed { consecutive_failures } => consecutive_failures,
            _ => 0,
        }
    }

    /// Whether a call may start now. While half-open, a `true` answer reserves a probe slot,
    /// so call this only when the call will really be made, and report its outcome.
    pub fn allow(&mut self, now_ms: i64) -> bool {
        if let Phase::Open { until_ms } = self.phase {
            if now_ms < until_ms {
                return false;
            }
            self.phase = Phase::HalfOpen { in_flight: 0, successes: 0 };
        }
        match &mut self.phase {
            Phase::Closed { .. } => true,
            Phase::Open { .. } => false,
            Phase::HalfOpen { in_flight, .. } => {
                if *in_flight < self.config.half_open_probes {
                    *in_flight += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Reports a successful call.
    pub fn record_success(&mut self, _now_ms: i64) {
        match &mut self.phase {
            Phase::Closed { consecutive_failures } => *consecutive_failures = 0,
            // A late success of a call started before the breaker opened proves little.
            Phase::Open { .. } => {}
            Phase::HalfOpen { in_flight, successes } => {
                *in_flight = in_flight.saturating_sub(1);
                *successes += 1;
                if *successes >= self.config.half_open_probes {
                    self.phase = Phase::Closed { consecutive_failures: 0 };
                }
            }
        }
    }

    /// Reports a call that ended without telling anything about the service (its caller was late, not
    /// the service): frees its half-open probe slot, counts neither a success nor a failure.
    pub fn record_abandoned(&mut self) {
        if let Phase::HalfOpen { in_flight, .. } = &mut self.phase {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Reports a failed call (errors that say nothing about the service's health, such as a
    /// validation error, should not be reported).
    pub fn record_failure(&mut self, now_ms: i64) {
        let open =
            Phase::Open { until_ms: now_ms.saturating_add(i64::try_from(self.config.open_ms).unwrap_or(i64::MAX)) };
        match &mut self.phase {
            Phase::Closed { consecutive_failures } => {
                *consecutive_failures += 1;
                if *consecutive_failures >= self.config.failure_threshold {
                    self.phase = open;
                }
            }
            Phase::Open { .. } => {}
            Phase::HalfOpen { .. } => self.phase = open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_probe_frees_its_slot_without_a_verdict() {
        let config = BreakerConfig { failure_threshold: 1, open_ms: 10, half_open_probes: 1 };
        let mut b = CircuitBreaker::new(config);
        b.record_failure(0);
        assert!(b.allow(10), "half-open: one probe");
        assert!(!b.allow(10), "the slot is taken");
        b.record_abandoned();
        assert_eq!(b.state(11), BreakerState::HalfOpen, "no verdict");
        assert!(b.allow(11), "the slot is free again");
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let mut b = CircuitBreaker::default();
        for t in 0..4 {
            b.record_failure(t);
        }
        b.record_success(5); // resets
        for t in 10..14 {
            b.record_failure(t);
            assert!(b.allow(t));
        }
        assert_eq!(b.consecutive_failures(), 4);
        b.record_failure(14);
        assert_eq!(b.state(14), BreakerState::Open);
        assert!(!b.allow(15));
        assert!(!b.allow(14 + 29_999));
        assert!(b.allow(14 + 30_000));
    }

    #[test]
    fn half_open_probe_failure_reopens() {
        let mut b = CircuitBreaker::new(BreakerConfig { failure_threshold: 1, open_ms: 100, half_open_probes: 2 });
        b.record_failure(0);
        assert!(b.allow(100));
        assert!(b.allow(100));
        assert!(!b.allow(100)); // two probes in flight
        b.record_success(101);
        assert_eq!(b.state(101), BreakerState::HalfOpen);
        b.record_failure(102);
        assert_eq!(b.state(102), BreakerState::Open);
        assert_eq!(b.state(202), BreakerState::HalfOpen);
        assert!(b.allow(202));
        assert!(b.allow(202));
        b.record_success(203);
        b.record_success(204);
        assert_eq!(b.state(204), BreakerState::Closed);
    }

    #[test]
    fn zero_settings_are_clamped_and_serde_roundtrips() {
        let b = CircuitBreaker::new(BreakerConfig { failure_threshold: 0, open_ms: 0, half_open_probes: 0 });
        assert_eq!(b.config().failure_threshold, 1);
        let json = serde_json::to_string(&b).unwrap();
        let back: CircuitBreaker = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        let c: BreakerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, BreakerConfig::default());
    }
}
