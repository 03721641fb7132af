//! Bottleneck detection: which steps slow workflows down or fail them, ranked, with reasons in words.
//!
//! The rules run over per-state aggregates ([`StateMetrics`]) of a period:
//!
//! | rule | fires when | why it matters |
//! |---|---|---|
//! | [`HighVariance`](BottleneckRule::HighVariance) | average time in the state > 2 × its median (the specification's rule) | a tail of slow runs |
//! | [`HighErrorRate`](BottleneckRule::HighErrorRate) | more than 5 % of task attempts fail (the specification's rule) | retries, fallbacks, compensations |
//! | [`QueueWait`](BottleneckRule::QueueWait) | p95 wait before the call goes out > 100 ms and > half the p95 call | the process, not the service, is slow |
//! | [`ShareOfTime`](BottleneckRule::ShareOfTime) | the state takes more than half the workflow's time in states | where the time goes (wait states are deliberate and exempt) |
//!
//! A rule needs [`MIN_SAMPLES`] observations to fire, so a single slow run does not raise an alarm.
//! The score that ranks them adds, per rule fired, how far past its threshold the step is (error rate
//! × 4, variance ratio above 2 / 4 + ¼, queue wait over call time / 4, share of time), each capped at 2.

use app::wire::{Bottleneck, BottleneckRule, StateKind, StateMetrics};

/// Observations a rule needs before it fires.
pub const MIN_SAMPLES: u64 = 20;
/// The specification's error-rate threshold.
pub const ERROR_RATE: f64 = 0.05;
/// The specification's variance rule: average above this many medians.
pub const VARIANCE_RATIO: f64 = 2.0;
pub const QUEUE_WAIT_MS: u64 = 100;
pub const SHARE_OF_TIME: f64 = 0.5;

/// Every state that breaks a rule, worst first.
pub fn find(states: &[StateMetrics]) -> Vec<Bottleneck> {
    let mut found: Vec<Bottleneck> = states.iter().filter_map(judge).collect();
    found.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then_with(|| (&a.workflow, &a.state).cmp(&(&b.workflow, &b.state)))
    });
    found
}

/// The rules one state breaks, if any.
pub fn judge(state: &StateMetrics) -> Option<Bottleneck> {
    let mut rules = Vec::new();
    let mut reasons = Vec::new();
    let mut score = 0.0;
    let time = &state.time_in_state;
    if let (true, Some(avg), Some(p50)) = (time.count >= MIN_SAMPLES, time.avg_ms, time.p50_ms) {
        let ratio = avg / (p50.max(1) as f64);
        if avg > VARIANCE_RATIO * p50 as f64 {
            rules.push(BottleneckRule::HighVariance);
            reasons.push(format!(
                "High variance in execution time: the average, {}, is {ratio:.1}× the median, {} (p99 {})",
                ms(avg),
                ms(p50 as f64),
                time.p99_ms.map_or("–".into(), |p| ms(p as f64)),
            ));
            score += ((ratio - VARIANCE_RATIO) / 4.0 + 0.25).min(2.0);
        }
    }
    if let (true, Some(error_rate)) = (state.attempts >= MIN_SAMPLES as i64, state.error_rate) {
        if error_rate > ERROR_RATE {
            rules.push(BottleneckRule::HighErrorRate);
            reasons.push(format!(
                "High error rate: {:.2}% of {} attempts failed ({} were retries)",
                error_rate * 100.0,
                state.attempts,
                state.retries
            ));
            score += (error_rate * 4.0).min(2.0);
        }
    }
    let (queue, call) = (&state.queue_wait, &state.attempt_duration);
    if let (true, Some(wait), Some(run)) = (queue.count >= MIN_SAMPLES, queue.p95_ms, call.p95_ms) {
        if wait > QUEUE_WAIT_MS && wait as f64 > 0.5 * run as f64 {
            rules.push(BottleneckRule::QueueWait);
            reasons.push(format!(
                "Calls wait before they go out: p95 queue wait {} against a p95 call of {}",
                ms(wait as f64),
                ms(run as f64)
            ));
            score += (wait as f64 / run.max(1) as f64 / 4.0).min(2.0);
        }
    }
    if let (true, Some(share)) = (time.count >= MIN_SAMPLES && state.kind != StateKind::Wait.as_str(), state.share_of_time) {
        if share > SHARE_OF_TIME {
            rules.push(BottleneckRule::ShareOfTime);
            reasons.push(format!(
                "Takes {:.0}% of the workflow's time (p95 {} in this step)",
                share * 100.0,
                time.p95_ms.map_or("–".into(), |p| ms(p as f64))
            ));
            score += share.min(2.0);
        }
    }
    (!rules.is_empty()).then(|| Bottleneck {
        workflow: state.workflow.clone(),
        state: state.state.clone(),
        rules,
        reasons,
        score,
        metrics: state.clone(),
    })
}

/// A duration for people: `840 ms`, `3.2 s`, `4.5 min`, `2.1 h`, `3.0 d`.
pub fn ms(value: f64) -> String {
    if value < 1_000.0 {
        format!("{value:.0} ms")
    } else if value < 60_000.0 {
        format!("{:.1} s", value / 1_000.0)
    } else if value < 3_600_000.0 {
        format!("{:.1} min", value / 60_000.0)
    } else if value < 86_400_000.0 {
        format!("{:.1} h", value / 3_600_000.0)
    } else {
        format!("{:.1} d", value / 86_400_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::wire::DurationStats;

    fn stats(count: u64, avg: f64, p50: u64, p95: u64) -> DurationStats {
        DurationStats {
            count,
            avg_ms: Some(avg),
            p50_ms: Some(p50),
            p95_ms: Some(p95),
            p99_ms: Some(p95),
            max_ms: Some(p95),
        }
    }

    /// A healthy task step: 100 attempts, 2 failures, steady timing, quick to start, a quarter of the time.
    fn healthy() -> StateMetrics {
        StateMetrics {
            workflow: "w".into(),
            state: "s".into(),
            kind: "task".into(),
            entered: 100,
            time_in_state: stats(100, 120.0, 100, 200),
            attempts: 100,
            failures: 2,
            retries: 2,
            error_rate: Some(0.02),
            attempt_duration: stats(100, 90.0, 80, 150),
            queue_wait: stats(100, 5.0, 3, 20),
            share_of_time: Some(0.25),
            ..StateMetrics::default()
        }
    }

    fn rules(state: &StateMetrics) -> Vec<BottleneckRule> {
        judge(state).map(|b| b.rules).unwrap_or_default()
    }

    #[test]
    fn a_healthy_step_is_no_bottleneck() {
        assert!(judge(&healthy()).is_none());
    }

    #[test]
    fn high_variance_fires_above_twice_the_median_only() {
        let mut at_edge = healthy();
        at_edge.time_in_state = stats(100, 200.0, 100, 900);
        assert!(rules(&at_edge).is_empty(), "exactly twice the median is not above it");
        let mut above = healthy();
        above.time_in_state = stats(100, 201.0, 100, 900);
        assert_eq!(rules(&above), [BottleneckRule::HighVariance]);
        let reason = &judge(&above).unwrap().reasons[0];
        assert!(reason.contains("2.0× the median"), "{reason}");
        let mut few = above.clone();
        few.time_in_state.count = MIN_SAMPLES - 1;
        assert!(rules(&few).is_empty(), "too few samples to judge");
    }

    #[test]
    fn high_error_rate_fires_above_five_percent_only() {
        let mut at_edge = healthy();
        at_edge.error_rate = Some(0.05);
        assert!(rules(&at_edge).is_empty());
        let mut above = healthy();
        above.failures = 6;
        above.error_rate = Some(0.06);
        assert_eq!(rules(&above), [BottleneckRule::HighErrorRate]);
        assert!(judge(&above).unwrap().reasons[0].starts_with("High error rate: 6.00% of 100 attempts failed"));
        above.attempts = 19;
        assert!(rules(&above).is_empty(), "too few attempts to judge");
    }

    #[test]
    fn queue_wait_fires_when_calls_wait_longer_than_they_run() {
        let mut waits = healthy();
        waits.queue_wait = stats(100, 150.0, 120, 300);
        assert_eq!(rules(&waits), [BottleneckRule::QueueWait]);
        let mut short = healthy();
        short.queue_wait = stats(100, 50.0, 40, 100);
        assert!(rules(&short).is_empty(), "100 ms is not over 100 ms");
        let mut slow_calls = healthy();
        slow_calls.queue_wait = stats(100, 150.0, 120, 300);
        slow_calls.attempt_duration = stats(100, 900.0, 800, 1_000);
        assert!(rules(&slow_calls).is_empty(), "the wait is small next to the call");
    }

    #[test]
    fn share_of_time_fires_above_half_except_for_wait_states() {
        let mut dominant = healthy();
        dominant.share_of_time = Some(0.51);
        assert_eq!(rules(&dominant), [BottleneckRule::ShareOfTime]);
        dominant.kind = "wait".into();
        assert!(rules(&dominant).is_empty(), "a wait state waits on purpose");
        let mut half = healthy();
        half.share_of_time = Some(0.5);
        assert!(rules(&half).is_empty());
    }

    #[test]
    fn worse_steps_rank_first() {
        let mut errors = healthy();
        errors.state = "errors".into();
        errors.error_rate = Some(0.4);
        let mut slow = healthy();
        slow.state = "slow".into();
        slow.share_of_time = Some(0.6);
        let ranked = find(&[healthy(), slow, errors]);
        assert_eq!(ranked.iter().map(|b| b.state.as_str()).collect::<Vec<_>>(), ["errors", "slow"]);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(ms(840.0), "840 ms");
        assert_eq!(ms(3_200.0), "3.2 s");
        assert_eq!(ms(270_000.0), "4.5 min");
    }
}
