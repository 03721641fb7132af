//! [`CallStats`]: what one service's calls looked like lately, kept in memory.
//!
//! The [`Registry`](super::Registry) records every call it makes (and every call its breaker refuses)
//! into the service's `CallStats`, behind a mutex held for a few hundred nanoseconds. Nothing is
//! allocated per call except for failures, which keep their action and message.
//!
//! - **The window** is a ring of [`BUCKETS`] time buckets of [`BUCKET_MS`] (10 s), so the last
//!   [`WINDOW_MS`] (5 minutes, in 10-second steps). A bucket is reused, and cleared, when the clock
//!   reaches its slot again; memory stays the same however many calls there are.
//! - **Latency** goes into a log-linear histogram per bucket, in microseconds: exact below 8 µs, then
//!   every power of two split into 8 equal sub-buckets, so a percentile (the middle of the bucket holding
//!   the nearest-rank sample, clamped to the exact minimum and maximum seen) is within 1/16 (6.25 %) of the
//!   true value. Refused calls (circuit open) never reached the service and have no latency.
//! - **Recent failures**: the last [`RECENT_FAILURES`] failures, whatever their age, newest first.
//!
//! Time is epoch milliseconds passed in by the caller (the runtime's clock); latency is measured by the
//! caller with a monotonic clock.
//!
//! ```
//! use std::time::Duration;
//!
//! use switchboard::services::stats::{CallStats, Outcome};
//! use engine::{ErrorKind, ServiceError};
//!
//! let mut stats = CallStats::new();
//! stats.record(1_000, Outcome::Succeeded { latency: Duration::from_millis(20) });
//! let error = ServiceError::new(ErrorKind::Retryable, "busy");
//! stats.record(2_000, Outcome::Failed { latency: Some(Duration::from_millis(40)), action: "charge", error: &error });
//! let summary = stats.summary(3_000);
//! assert_eq!((summary.calls, summary.failures), (2, 1));
//! assert_eq!(summary.error_rate, 0.5);
//! assert_eq!(summary.recent_failures[0].action, "charge");
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use engine::{ErrorKind, ServiceError};

/// How far back the figures reach, in milliseconds (5 minutes).
pub const WINDOW_MS: i64 = 300_000;
/// The width of one time bucket of the window.
pub const BUCKET_MS: i64 = 10_000;
/// Time buckets in the window.
pub const BUCKETS: usize = (WINDOW_MS / BUCKET_MS) as usize;
/// How many failures are kept for people to read.
pub const RECENT_FAILURES: usize = 10;
/// The longest error message kept, in characters.
const MESSAGE_CHARS: usize = 500;

/// log2 of the linear sub-buckets per power of two.
const SUB_BITS: u32 = 3;
/// Linear sub-buckets per power of two; values below it are recorded exactly.
const SUB: u64 = 1 << SUB_BITS;
/// Latencies of 2^36 µs (19 hours) and more fall into the last bin.
const MAX_EXPONENT: u32 = 36;
/// Bins of a latency histogram.
const BINS: usize = (SUB + (MAX_EXPONENT - SUB_BITS) as u64 * SUB) as usize;

/// How a call ended, as the registry saw it.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    Succeeded {
        latency: Duration,
    },
    /// Any error, permanent ones included. `latency` is `None` when the call was refused without
    /// reaching the service (circuit open).
    Failed {
        latency: Option<Duration>,
        action: &'a str,
        error: &'a ServiceError,
    },
}

/// One failure, kept for the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// When the call ended, epoch ms.
    pub at_ms: i64,
    pub action: String,
    pub kind: ErrorKind,
    /// The error message, at most 500 characters.
    pub message: String,
}

/// The figures of the window at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct CallSummary {
    pub window_secs: u64,
    /// Calls in the window, refused ones included.
    pub calls: u64,
    /// Failed calls in the window (any error kind, `circuit_open` included).
    pub failures: u64,
    /// `failures / calls`; 0 without calls.
    pub error_rate: f64,
    /// Latency percentiles of the calls that reached the service, ms; `None` without any.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Calls per minute over the window, or over the time since the first call ever recorded when that
    /// is shorter (but at least a minute, so one call just now reads as 1 a minute, not 60).
    pub calls_per_minute: f64,
    /// The last failures, newest first (not limited to the window).
    pub recent_failures: Vec<Failure>,
}

/// The calls of one time bucket.
#[derive(Clone)]
struct Bucket {
    /// `at_ms / BUCKET_MS` of the calls counted here; `i64::MIN` while unused.
    slot: i64,
    calls: u32,
    failures: u32,
    /// Calls with a latency, and their histogram.
    timed: u32,
    min_us: u64,
    max_us: u64,
    bins: [u32; BINS],
}

impl Bucket {
    const EMPTY: Bucket =
        Bucket { slot: i64::MIN, calls: 0, failures: 0, timed: 0, min_us: u64::MAX, max_us: 0, bins: [0; BINS] };
}

/// See the module docs.
pub struct CallStats {
    /// `BUCKETS` buckets; slot `s` lives at index `s mod BUCKETS`.
    buckets: Box<[Bucket]>,
    /// Newest first.
    recent: VecDeque<Failure>,
    /// When the first call was recorded.
    first_at_ms: Option<i64>,
}

impl Default for CallStats {
    fn default() -> Self {
        Self::new()
    }
}

impl CallStats {
    /// Empty statistics; allocates the whole window at once (about 33 KB).
    pub fn new() -> Self {
        Self {
            buckets: vec![Bucket::EMPTY; BUCKETS].into_boxed_slice(),
            recent: VecDeque::with_capacity(RECENT_FAILURES),
            first_at_ms: None,
        }
    }

    /// Counts one call that ended at `at_ms`.
    pub fn record(&mut self, at_ms: i64, outcome: Outcome<'_>) {
        self.first_at_ms.get_or_insert(at_ms);
        if let Outcome::Failed { action, error, .. } = outcome {
            if self.recent.len() == RECENT_FAILURES {
                self.recent.pop_back();
            }
            self.recent.push_front(Failure {
                at_ms,
                action: action.to_string(),
                kind: error.kind,
                message: error.message.chars().take(MESSAGE_CHARS).collect(),
            });
        }
        let slot = at_ms.div_euclid(BUCKET_MS);
        let bucket = &mut self.buckets[index_of_slot(slot)];
        if bucket.slot > slot {
            return; // older than the window (the clock went back): nothing to count it in
        }
        if bucket.slot < slot {
            *bucket = Bucket { slot, ..Bucket::EMPTY };
        }
        bucket.calls = bucket.calls.saturating_add(1);
        let latency = match outcome {
            Outcome::Succeeded { latency } => Some(latency),
            Outcome::Failed { latency, .. } => {
                bucket.failures = bucket.failures.saturating_add(1);
                latency
            }
        };
        if let Some(latency) = latency {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            bucket.timed = bucket.timed.saturating_add(1);
            bucket.min_us = bucket.min_us.min(us);
            bucket.max_us = bucket.max_us.max(us);
            let bin = &mut bucket.bins[bin_of(us)];
            *bin = bin.saturating_add(1);
        }
    }

    /// The figures of the window ending at `now_ms`.
    pub fn summary(&self, now_ms: i64) -> CallSummary {
        let oldest = now_ms.div_euclid(BUCKET_MS) - BUCKETS as i64;
        let mut merged = Merged { bins: [0; BINS], timed: 0, min_us: u64::MAX, max_us: 0 };
        let (mut calls, mut failures) = (0u64, 0u64);
        for bucket in self.buckets.iter().filter(|bucket| bucket.slot > oldest) {
            calls += u64::from(bucket.calls);
            failures += u64::from(bucket.failures);
            merged.timed += u64::from(bucket.timed);
            merged.min_us = merged.min_us.min(bucket.min_us);
            merged.max_us = merged.max_us.max(bucket.max_us);
            for (total, count) in merged.bins.iter_mut().zip(bucket.bins.iter()) {
                *total += u64::from(*count);
            }
        }
        let span_ms = self.first_at_ms.map_or(WINDOW_MS, |first| (now_ms - first).clamp(60_000, WINDOW_MS));
        CallSummary {
            window_secs: (WINDOW_MS / 1000) as u64,
            calls,
            failures,
            error_rate: if calls == 0 { 0.0 } else { failures as f64 / calls as f64 },
            latency_p50_ms: merged.quantile_ms(0.50),
            latency_p95_ms: merged.quantile_ms(0.95),
            latency_p99_ms: merged.quantile_ms(0.99),
            calls_per_minute: calls as f64 * 60_000.0 / span_ms as f64,
            recent_failures: self.recent.iter().cloned().collect(),
        }
    }
}

/// The latencies of the buckets in the window, added up.
struct Merged {
    bins: [u64; BINS],
    timed: u64,
    min_us: u64,
    max_us: u64,
}

impl Merged {
    /// Nearest rank: the middle of the bin that holds the sample of rank `ceil(q · n)`, clamped to the
    /// exact minimum and maximum; ms with microsecond precision.
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.timed == 0 {
            return None;
        }
        let rank = ((q * self.timed as f64).ceil() as u64).clamp(1, self.timed);
        let mut seen = 0u64;
        let bin = self.bins.iter().position(|count| {
            seen += count;
            seen >= rank
        })?;
        let (low, high) = bounds_of(bin);
        let us = (low + (high - low) / 2).clamp(self.min_us, self.max_us);
        Some(us as f64 / 1000.0)
    }
}

fn index_of_slot(slot: i64) -> usize {
    // rem_euclid of a positive modulus is in 0..BUCKETS.
    slot.rem_euclid(BUCKETS as i64) as usize
}

/// The histogram bin of a latency in microseconds.
fn bin_of(us: u64) -> usize {
    let us = us.min((1 << MAX_EXPONENT) - 1);
    if us < SUB {
        return us as usize;
    }
    let exponent = 63 - us.leading_zeros(); // SUB_BITS..MAX_EXPONENT
    let sub = (us >> (exponent - SUB_BITS)) - SUB;
    (SUB + u64::from(exponent - SUB_BITS) * SUB + sub) as usize
}

/// The smallest and largest latency (µs) of a bin.
fn bounds_of(bin: usize) -> (u64, u64) {
    let bin = bin as u64;
    if bin < SUB {
        return (bin, bin);
    }
    let shift = (bin - SUB) / SUB; // exponent - SUB_BITS
    let low = (SUB + (bin - SUB) % SUB) << shift;
    (low, low + (1 << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed<'a>(error: &'a ServiceError) -> Outcome<'a> {
        Outcome::Failed { latency: Some(Duration::from_millis(5)), action: "charge", error }
    }

    #[test]
    fn bins_cover_every_value_in_order_and_bound_it() {
        let mut last = 0;
        for us in (0..5_000).chain([65_535, 65_536, 1 << 30, (1 << 36) - 1]) {
            let bin = bin_of(us);
            assert!(bin >= last, "bins grow with the value");
            last = bin;
            let (low, high) = bounds_of(bin);
            assert!(low <= us && us <= high, "{us} in [{low}, {high}]");
            assert!((high - low) as f64 <= low as f64 / SUB as f64 + 1.0, "relative width of bin {bin}");
        }
        assert_eq!(bin_of(u64::MAX), BINS - 1);
    }

    #[test]
    fn percentiles_follow_the_latencies() {
        let mut stats = CallStats::new();
        for ms in 1..=100 {
            stats.record(1_000, Outcome::Succeeded { latency: Duration::from_millis(ms) });
        }
        let summary = stats.summary(1_000);
        let close = |value: Option<f64>, expected: f64| {
            let value = value.expect("a percentile");
            assert!((value - expected).abs() <= expected / 16.0, "{value} ≈ {expected}");
        };
        close(summary.latency_p50_ms, 50.0);
        close(summary.latency_p95_ms, 95.0);
        close(summary.latency_p99_ms, 99.0);
        assert_eq!(summary.calls, 100);
        assert_eq!(summary.error_rate, 0.0);
        assert_eq!(summary.calls_per_minute, 100.0, "less than a minute of history counts as a minute");
    }

    #[test]
    fn the_window_forgets_calls_older_than_five_minutes() {
        let mut stats = CallStats::new();
        let error = ServiceError::new(ErrorKind::Timeout, "slow");
        stats.record(0, failed(&error));
        stats.record(200_000, Outcome::Succeeded { latency: Duration::from_millis(1) });
        assert_eq!(stats.summary(250_000).calls, 2);
        let later = stats.summary(310_000);
        assert_eq!((later.calls, later.failures), (1, 0));
        assert_eq!(later.recent_failures.len(), 1, "recent failures outlive the window");
        // The ring slot of time 0 is reused at 300 s: the old bucket is cleared, not added to.
        stats.record(300_000, Outcome::Succeeded { latency: Duration::from_millis(1) });
        assert_eq!(stats.summary(300_000).calls, 2);
        // A call stamped before the bucket now in its slot is too old to count.
        stats.record(1_000, Outcome::Succeeded { latency: Duration::from_millis(1) });
        assert_eq!(stats.summary(300_000).calls, 2);
        assert_eq!(
            stats.summary(1_000_000),
            CallSummary {
                window_secs: 300,
                calls: 0,
                failures: 0,
                error_rate: 0.0,
                latency_p50_ms: None,
                latency_p95_ms: None,
                latency_p99_ms: None,
                calls_per_minute: 0.0,
                recent_failures: stats.summary(0).recent_failures,
            }
        );
    }

    #[test]
    fn refused_calls_count_as_failures_without_latency() {
        let mut stats = CallStats::new();
        let error = ServiceError::new(ErrorKind::CircuitOpen, "open");
        stats.record(10, Outcome::Failed { latency: None, action: "charge", error: &error });
        let summary = stats.summary(10);
        assert_eq!((summary.calls, summary.failures, summary.error_rate), (1, 1, 1.0));
        assert_eq!(summary.latency_p50_ms, None);
        assert_eq!(summary.recent_failures[0].kind, ErrorKind::CircuitOpen);
    }

    #[test]
    fn only_the_last_ten_failures_are_kept_newest_first() {
        let mut stats = CallStats::new();
        for i in 0..15 {
            let error = ServiceError::new(ErrorKind::Retryable, format!("failure {i}"));
            stats.record(i, failed(&error));
        }
        let messages: Vec<String> = stats.summary(20).recent_failures.into_iter().map(|f| f.message).collect();
        let expected: Vec<String> = (5..15).rev().map(|i| format!("failure {i}")).collect();
        assert_eq!(messages, expected);
    }

    #[test]
    fn calls_per_minute_spreads_over_the_history_up_to_the_window() {
        let mut stats = CallStats::new();
        for at in (0..120_000).step_by(1_000) {
            stats.record(at, Outcome::Succeeded { latency: Duration::from_millis(1) });
        }
        assert_eq!(stats.summary(120_000).calls_per_minute, 60.0, "two minutes of history");
    }
}
