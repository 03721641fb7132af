//! The numbers: success metrics, throughput and per-state aggregates, computed from merged rollups.
//!
//! Everything here is a pure function of [`Rollups`] (already narrowed to a period and resolution) plus
//! the few things that are "now" rather than history — instances in flight, by workflow and state — so
//! the tests can check each number against hand-computed fixtures.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use app::wire::{DurationStats, StateMetrics, Throughput, ThroughputPoint, WorkflowMetrics};
use engine::{Definition, State};

use super::period::Period;
use super::rollup::{Rollups, StateCounts, WorkflowCounts};
use super::sketch::DurationSketch;
use crate::runtime::convert::state_kind_of;

/// The label of the all-workflows row.
pub const ALL: &str = "*";

/// Count, mean and percentiles of a sketch.
pub fn duration_stats(sketch: &DurationSketch) -> DurationStats {
    DurationStats {
        count: sketch.count(),
        avg_ms: sketch.mean(),
        p50_ms: sketch.quantile(0.50),
        p95_ms: sketch.quantile(0.95),
        p99_ms: sketch.quantile(0.99),
        max_ms: sketch.max(),
    }
}

/// `part / whole`, or `None` when `whole` is zero.
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Every workflow row of the rollups summed per workflow type.
pub fn per_workflow(rollups: &Rollups) -> BTreeMap<String, WorkflowCounts> {
    let mut out: BTreeMap<String, WorkflowCounts> = BTreeMap::new();
    for (key, counts) in &rollups.workflows {
        out.entry(key.workflow.clone()).or_default().merge(counts);
    }
    out
}

/// Every state row summed per `(workflow, state)`.
pub fn per_state(rollups: &Rollups) -> BTreeMap<(String, String), StateCounts> {
    let mut out: BTreeMap<(String, String), StateCounts> = BTreeMap::new();
    for (key, counts) in &rollups.states {
        out.entry((key.workflow.clone(), key.state.clone())).or_default().merge(counts);
    }
    out
}

/// The success metrics of one workflow type (or all, summed) from its counts.
pub fn workflow_metrics(
    workflow: &str,
    counts: &WorkflowCounts,
    active: i64,
    sla_duration_ms: Option<f64>,
) -> WorkflowMetrics {
    let finished = counts.finished();
    let sla_met = match sla_duration_ms {
        Some(limit) if !counts.duration.is_empty() => {
            Some(counts.duration.fraction_at_most(limit.max(0.0).floor() as u64))
        }
        _ => None,
    };
    WorkflowMetrics {
        workflow: workflow.to_string(),
        started: counts.started,
        active,
        completed: counts.completed,
        failed: counts.failed,
        compensated: counts.compensated,
        cancelled: counts.cancelled,
        finished,
        interventions: counts.interventions,
        completion_rate: rate(counts.completed, finished),
        error_rate: rate(counts.failed + counts.compensated, finished),
        compensation_rate: rate(counts.compensated, finished),
        manual_intervention_rate: rate(counts.interventions, counts.started),
        duration: duration_stats(&counts.duration),
        sla_met,
        sla_duration_ms,
    }
}

/// One point per bucket of the period (empty buckets as zeros), for one workflow type or all.
pub fn throughput(period: &Period, rollups: &Rollups, workflow: Option<&str>) -> Throughput {
    let mut by_bucket: BTreeMap<i64, ThroughputPoint> =
        period.buckets().map(|bucket_ms| (bucket_ms, ThroughputPoint { bucket_ms, ..Default::default() })).collect();
    for (key, counts) in &rollups.workflows {
        if key.resolution_ms != period.resolution_ms || workflow.is_some_and(|w| w != key.workflow) {
            continue;
        }
        if let Some(point) = by_bucket.get_mut(&key.bucket_ms) {
            point.started += counts.started;
            point.completed += counts.completed;
            point.failed += counts.failed;
            point.compensated += counts.compensated;
            point.cancelled += counts.cancelled;
        }
    }
    Throughput {
        period: period.info(),
        workflow: workflow.map(str::to_string),
        points: by_bucket.into_values().collect(),
    }
}

/// The aggregates of one state from its summed counts. `share_of_time` is filled in by
/// [`states_of_workflow`], which knows the workflow's total.
pub fn state_metrics(workflow: &str, state: &str, kind: &str, counts: &StateCounts, current: i64) -> StateMetrics {
    StateMetrics {
        workflow: workflow.to_string(),
        state: state.to_string(),
        kind: kind.to_string(),
        current,
        entered: counts.entered,
        time_in_state: duration_stats(&counts.time_in_state),
        attempts: counts.attempts,
        failures: counts.failures,
        retries: counts.retries,
        error_rate: rate(counts.failures, counts.attempts),
        attempt_duration: duration_stats(&counts.attempt_duration),
        queue_wait: duration_stats(&counts.queue_wait),
        compensations: counts.compensations,
        compensation_failures: counts.compensation_failures,
        interventions: counts.interventions,
        share_of_time: None,
    }
}

/// Every state of a workflow type: those of `definition` in flow order (then states that only have
/// history), with `current` instances per state and each state's share of the total time in states.
pub fn states_of_workflow(
    workflow: &str,
    definition: Option<&Definition>,
    per_state: &BTreeMap<(String, String), StateCounts>,
    current: &BTreeMap<String, i64>,
) -> Vec<StateMetrics> {
    let mut order: Vec<(String, &'static str)> = definition.map(flow_order).unwrap_or_default();
    let known: BTreeSet<String> = order.iter().map(|(name, _)| name.clone()).collect();
    for (w, state) in per_state.keys() {
        if w == workflow && !known.contains(state) {
            order.push((state.clone(), ""));
        }
    }
    for state in current.keys() {
        if !known.contains(state) && !order.iter().any(|(name, _)| name == state) {
            order.push((state.clone(), ""));
        }
    }
    let empty = StateCounts::default();
    let mut states: Vec<StateMetrics> = order
        .iter()
        .map(|(state, kind)| {
            let counts = per_state.get(&(workflow.to_string(), state.clone())).unwrap_or(&empty);
            state_metrics(workflow, state, kind, counts, current.get(state).copied().unwrap_or(0))
        })
        .collect();
    // Time inside a parallel state's branches is also time in the parallel state: count only the
    // top-level states in the total, so the shares of one path add up to at most one.
    let top_level: BTreeSet<&str> =
        definition.map(|d| d.states.keys().map(String::as_str).collect()).unwrap_or_default();
    let total: u128 = states
        .iter()
        .filter(|s| top_level.is_empty() || top_level.contains(s.state.as_str()))
        .map(|s| per_state.get(&(workflow.to_string(), s.state.clone())).map_or(0, |c| c.time_in_state.sum_ms()))
        .sum();
    if total > 0 {
        for state in &mut states {
            let sum =
                per_state.get(&(workflow.to_string(), state.state.clone())).map_or(0, |c| c.time_in_state.sum_ms());
            state.share_of_time = Some(sum as f64 / total as f64);
        }
    }
    states
}

/// The states of a definition in the order a run meets them: breadth-first from `start_at`, each
/// parallel state followed by its branches' states, then any state not reachable from the start.
pub fn flow_order(definition: &Definition) -> Vec<(String, &'static str)> {
    fn walk<'d>(
        start: &'d str,
        states: &'d BTreeMap<String, State>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<(String, &'static str)>,
    ) {
        let mut queue = VecDeque::from([start]);
        while let Some(name) = queue.pop_front() {
            let Some(state) = states.get(name) else { continue };
            if !seen.insert(name.to_string()) {
                continue;
            }
            out.push((name.to_string(), state_kind_of(state).as_str()));
            if let State::Parallel(parallel) = state {
                for branch in &parallel.branches {
                    walk(&branch.start_at, &branch.states, seen, out);
                }
            }
            for (_, next) in state.successors() {
                queue.push_back(next);
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    walk(&definition.start_at, &definition.states, &mut seen, &mut out);
    for name in definition.states.keys() {
        walk(name, &definition.states, &mut seen, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::facts::{Fact, Outcome};
    use crate::monitoring::rollup::{Rollups, MINUTE};

    fn finished(outcome: Outcome, at: i64, duration_ms: i64) -> Fact {
        Fact::Finished { workflow: "w".into(), outcome, at, duration_ms }
    }

    /// Ten starts; six completions taking 100…600 ms; two failures, one compensation, one cancel;
    /// three interventions. Every number below is worked out by hand.
    #[test]
    fn success_metrics_match_a_hand_computed_fixture() {
        let mut facts: Vec<Fact> = (0..10).map(|i| Fact::Started { workflow: "w".into(), at: i * 1_000 }).collect();
        for (i, ms) in [100, 200, 300, 400, 500, 600].into_iter().enumerate() {
            facts.push(finished(Outcome::Completed, 20_000 + i as i64, ms));
        }
        facts.push(finished(Outcome::Failed, 30_000, 50));
        facts.push(finished(Outcome::Failed, 30_001, 50));
        facts.push(finished(Outcome::Compensated, 30_002, 70));
        facts.push(finished(Outcome::Cancelled, 30_003, 90));
        for at in [1, 2, 3] {
            facts.push(Fact::InterventionOpened { workflow: "w".into(), state: "review".into(), at });
        }
        let rollups = Rollups::of(&facts);
        let minute: Rollups = Rollups {
            workflows: rollups.workflows.into_iter().filter(|(k, _)| k.resolution_ms == MINUTE).collect(),
            states: BTreeMap::new(),
        };
        let counts = &per_workflow(&minute)["w"];
        let m = workflow_metrics("w", counts, 4, Some(350.0));
        assert_eq!((m.started, m.completed, m.failed, m.compensated, m.cancelled, m.finished), (10, 6, 2, 1, 1, 10));
        assert_eq!(m.active, 4);
        assert_eq!(m.completion_rate, Some(0.6));
        assert_eq!(m.error_rate, Some(0.3));
        assert_eq!(m.compensation_rate, Some(0.1));
        assert_eq!(m.manual_intervention_rate, Some(0.3));
        // Only completions carry a duration: mean 350 (exact), nearest-rank p50 = 3rd of 6 = 300 (within
        // the sketch's 1/256), p95 = p99 = the maximum, 600 (exact).
        assert_eq!(m.duration.count, 6);
        assert_eq!(m.duration.avg_ms, Some(350.0));
        let p50 = m.duration.p50_ms.unwrap() as f64;
        assert!((p50 - 300.0).abs() <= 300.0 / 256.0, "p50 {p50}");
        assert_eq!((m.duration.p95_ms, m.duration.p99_ms), (Some(600), Some(600)));
        // 100, 200, 300 of 6 finished within 350 ms.
        assert_eq!(m.sla_met, Some(0.5));
    }

    #[test]
    fn rates_without_a_denominator_are_none() {
        let m = workflow_metrics("w", &WorkflowCounts::default(), 0, Some(1_000.0));
        assert_eq!((m.completion_rate, m.error_rate, m.manual_intervention_rate, m.sla_met), (None, None, None, None));
        assert_eq!(m.duration.p50_ms, None);
    }

    #[test]
    fn throughput_has_every_bucket_of_the_period() {
        let period = Period::parse("5m", 10 * MINUTE + 5).unwrap();
        let facts = [
            Fact::Started { workflow: "w".into(), at: 8 * MINUTE + 1 },
            Fact::Started { workflow: "v".into(), at: 8 * MINUTE + 2 },
            finished(Outcome::Completed, 10 * MINUTE + 3, 10),
            Fact::Started { workflow: "w".into(), at: 2 * MINUTE },
        ];
        let rollups = Rollups::of(&facts);
        let all = throughput(&period, &rollups, None);
        assert_eq!(all.points.iter().map(|p| p.bucket_ms / MINUTE).collect::<Vec<_>>(), [6, 7, 8, 9, 10]);
        assert_eq!(all.points.iter().map(|p| p.started).collect::<Vec<_>>(), [0, 0, 2, 0, 0]);
        assert_eq!(all.points[4].completed, 1);
        let only_v = throughput(&period, &rollups, Some("v"));
        assert_eq!(only_v.points.iter().map(|p| p.started).sum::<i64>(), 1);
    }

    #[test]
    fn states_come_in_flow_order_with_shares_of_time() {
        let definition = Definition::from_value(serde_json::json!({
            "name": "w", "version": 1, "start_at": "a",
            "states": {
                "z-last": {"type": "succeed"},
                "a": {"type": "task", "service": "s", "action": "x", "next": "b"},
                "b": {"type": "wait", "duration_ms": 10, "next": "z-last"}
            }
        }))
        .unwrap();
        let facts = [
            Fact::Left { workflow: "w".into(), state: "a".into(), at: 1, duration_ms: 300 },
            Fact::Left { workflow: "w".into(), state: "b".into(), at: 2, duration_ms: 100 },
            Fact::Attempt {
                workflow: "w".into(),
                state: "a".into(),
                compensation: false,
                at: 1,
                duration_ms: 40,
                queue_wait_ms: 2,
                failed: true,
                retry: false,
            },
            Fact::Entered { workflow: "w".into(), state: "gone".into(), at: 1 },
        ];
        let rollups = Rollups::of(&facts);
        let minute = Rollups {
            workflows: BTreeMap::new(),
            states: rollups.states.into_iter().filter(|(k, _)| k.resolution_ms == MINUTE).collect(),
        };
        let current = BTreeMap::from([("b".to_string(), 2)]);
        let states = states_of_workflow("w", Some(&definition), &per_state(&minute), &current);
        let names: Vec<&str> = states.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(names, ["a", "b", "z-last", "gone"]);
        assert_eq!(states[0].kind, "task");
        assert_eq!(states[0].share_of_time, Some(0.75));
        assert_eq!(states[1].share_of_time, Some(0.25));
        assert_eq!(states[1].current, 2);
        assert_eq!(states[0].error_rate, Some(1.0));
        assert_eq!(states[3].kind, "");
    }
}
