//! Retry policies and exponential backoff with jitter.
//!
//! A [`RetryPolicy`] says how often a failed call is tried again and how long to wait in
//! between. The delay before attempt `n + 1` (after attempt `n` failed, `n` starting at 1) is
//!
//! ```text
//! cap   = min(max_delay_ms, initial_delay_ms * multiplier^(n - 1))
//! delay = cap                      (jitter: none)
//! delay = floor(random * cap)      (jitter: full, random in [0, 1) from the Env)
//! ```
//!
//! Full jitter (the AWS "exponential backoff and jitter" scheme) spreads retries of many
//! instances that failed together, so a recovering service is not hit by a synchronized wave.

use serde::{Deserialize, Serialize};

use crate::event::ErrorKind;

/// How the computed backoff is randomized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Uniformly random delay between 0 and the computed cap.
    #[default]
    Full,
    /// Exactly the computed cap.
    None,
}

/// A retry policy. Every field has a default, so `{}` or a partial object is valid JSON.
///
/// Defaults for tasks ([`RetryPolicy::default`]): 3 attempts, 200 ms initial delay, ×2,
/// at most 10 s, full jitter, retry on `retryable` and `timeout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts per target, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff cap after the first failure, in milliseconds.
    pub initial_delay_ms: u64,
    /// Growth factor of the cap per further failure (at least 1).
    pub multiplier: f64,
    /// Upper bound of any delay, in milliseconds (at least `initial_delay_ms`).
    pub max_delay_ms: u64,
    /// Randomization of the delay.
    pub jitter: Jitter,
    /// Error kinds that are retried; others give up at once.
    pub retry_on: Vec<ErrorKind>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_delay_ms: 200,
            multiplier: 2.0,
            max_delay_ms: 10_000,
            jitter: Jitter::Full,
            retry_on: vec![ErrorKind::Retryable, ErrorKind::Timeout],
        }
    }
}

impl RetryPolicy {
    /// The policy used for compensations that do not declare one: 5 attempts, 500 ms, ×2,
    /// at most 30 s, full jitter, retry on `retryable`, `timeout` and `circuit_open`. An undo
    /// is worth more patience than a forward step: giving up means a human must step in.
    pub fn compensation_default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay_ms: 500,
            multiplier: 2.0,
            max_delay_ms: 30_000,
            jitter: Jitter::Full,
            retry_on: vec![ErrorKind::Retryable, ErrorKind::Timeout, ErrorKind::CircuitOpen],
        }
    }

    /// Whether a failure of `kind` on attempt `attempt` (1-based, per target) is retried.
    pub fn should_retry(&self, kind: ErrorKind, attempt: u32) -> bool {
        attempt < self.max_attempts && self.retry_on.contains(&kind)
    }

    /// The largest delay (before jitter) after attempt `attempt` failed.
    pub fn cap_ms(&self, attempt: u32) -> u64 {
        let exp = attempt.saturating_sub(1).min(1_000) as i32;
        let raw = self.initial_delay_ms as f64 * self.multiplier.max(1.0).powi(exp);
        // `as` saturates for huge and NaN values, which is what we want for a cap.
        let raw = if raw.is_finite() { raw as u64 } else { u64::MAX };
        raw.min(self.max_delay_ms)
    }

    /// The delay before the next attempt after attempt `attempt` failed; `random` is a number
    /// in `[0, 1)` from the [`Env`](crate::env::Env) (values outside are clamped).
    pub fn delay_ms(&self, attempt: u32, random: f64) -> u64 {
        let cap = self.cap_ms(attempt);
        match self.jitter {
            Jitter::None => cap,
            Jitter::Full => {
                let r = if random.is_finite() { random.clamp(0.0, 1.0) } else { 0.0 };
                ((cap as f64) * r).floor().min(cap as f64) as u64
            }
        }
    }

    /// What is wrong with the numbers, in words (empty when the policy is usable).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_attempts == 0 {
            out.push(("max_attempts", "must be at least 1".to_string()));
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            out.push(("multiplier", format!("must be a number of at least 1, got {}", self.multiplier)));
        }
        if self.max_delay_ms < self.initial_delay_ms {
            out.push((
                "max_delay_ms",
                format!(
                    "must not be smaller than initial_delay_ms ({} < {})",
                    self.max_delay_ms, self.initial_delay_ms
                ),
            ));
        }
        if self.retry_on.contains(&ErrorKind::Permanent) {
            out.push((
                "retry_on",
                "must not contain 'permanent': a permanent error does not go away by retrying".to_string(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_partial_json() {
        let p: RetryPolicy = serde_json::from_str(r#"{"max_attempts": 5}"#).unwrap();
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.initial_delay_ms, 200);
        assert_eq!(p.retry_on, vec![ErrorKind::Retryable, ErrorKind::Timeout]);
        assert!(serde_json::from_str::<RetryPolicy>(r#"{"attempts": 5}"#).is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() };
        let caps: Vec<u64> = (1..=8).map(|a| p.delay_ms(a, 0.5)).collect();
        assert_eq!(caps, vec![200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        assert_eq!(p.delay_ms(u32::MAX, 0.5), 10_000);
    }

    #[test]
    fn full_jitter_stays_within_bounds() {
        let p = RetryPolicy::default();
        for a in 1..10 {
            for r in [0.0, 0.25, 0.999_999, 1.0, -3.0, f64::NAN] {
                let d = p.delay_ms(a, r);
                assert!(d <= p.cap_ms(a), "attempt {a} random {r}: {d}");
            }
        }
        assert_eq!(p.delay_ms(1, 0.5), 100);
        assert_eq!(p.delay_ms(1, 0.0), 0);
    }

    #[test]
    fn should_retry_respects_kinds_and_budget() {
        let p = RetryPolicy::default();
        assert!(p.should_retry(ErrorKind::Retryable, 1));
        assert!(p.should_retry(ErrorKind::Timeout, 2));
        assert!(!p.should_retry(ErrorKind::Timeout, 3));
        assert!(!p.should_retry(ErrorKind::Permanent, 1));
        assert!(!p.should_retry(ErrorKind::CircuitOpen, 1));
    }

    #[test]
    fn problems_are_listed() {
        let p = RetryPolicy {
            max_attempts: 0,
            multiplier: 0.5,
            initial_delay_ms: 100,
            max_delay_ms: 10,
            retry_on: vec![ErrorKind::Permanent],
            ..RetryPolicy::default()
        };
        let fields: Vec<_> = p.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["max_attempts", "multiplier", "max_delay_ms", "retry_on"]);
        assert!(RetryPolicy::default().problems().is_empty());
    }
}
