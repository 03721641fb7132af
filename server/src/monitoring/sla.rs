//! SLA targets: what they measure, when they are met, their defaults, and the checks that find breaches.
//!
//! A target names a workflow type, a [`SlaMetric`], a threshold and a trailing window — "p95 duration
//! of call-lifecycle at most 2,000 ms over 1 h", "completion rate of buyer-onboarding at least 0.95
//! over 24 h". Durations must stay at or under their threshold, `completion_rate` at or over it, the
//! other rates at or under it: a value exactly at the threshold meets the target. A window in which
//! nothing finished (nothing started, for the intervention rate) has no data and is not judged.
//!
//! Every marketplace definition carries default targets (`sla` in its JSON); they are installed the
//! first time the workflow type is seen ([`default_targets`]), after which managers own them.

use app::wire::{SlaStatus, SlaTarget, SlaTargetInput};
use engine::Definition;

use super::period::MAX_PERIOD_MS;
use super::rollup::{WorkflowCounts, MINUTE};
use crate::store::sla::SlaTargetRow;

/// What a target measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlaMetric {
    P50Duration,
    P95Duration,
    P99Duration,
    AvgDuration,
    CompletionRate,
    ErrorRate,
    CompensationRate,
    ManualInterventionRate,
}

impl SlaMetric {
    pub const ALL: [SlaMetric; 8] = [
        SlaMetric::P50Duration,
        SlaMetric::P95Duration,
        SlaMetric::P99Duration,
        SlaMetric::AvgDuration,
        SlaMetric::CompletionRate,
        SlaMetric::ErrorRate,
        SlaMetric::CompensationRate,
        SlaMetric::ManualInterventionRate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SlaMetric::P50Duration => "p50_duration_ms",
            SlaMetric::P95Duration => "p95_duration_ms",
            SlaMetric::P99Duration => "p99_duration_ms",
            SlaMetric::AvgDuration => "avg_duration_ms",
            SlaMetric::CompletionRate => "completion_rate",
            SlaMetric::ErrorRate => "error_rate",
            SlaMetric::CompensationRate => "compensation_rate",
            SlaMetric::ManualInterventionRate => "manual_intervention_rate",
        }
    }

    pub fn parse(name: &str) -> Option<SlaMetric> {
        SlaMetric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// True for the one metric that must stay at or above its threshold.
    pub fn higher_is_better(self) -> bool {
        self == SlaMetric::CompletionRate
    }

    pub fn is_duration(self) -> bool {
        matches!(
            self,
            SlaMetric::P50Duration | SlaMetric::P95Duration | SlaMetric::P99Duration | SlaMetric::AvgDuration
        )
    }

    /// For people and chart axes: "p95 duration (ms)", "completion rate (%)".
    pub fn label(self) -> &'static str {
        match self {
            SlaMetric::P50Duration => "p50 duration (ms)",
            SlaMetric::P95Duration => "p95 duration (ms)",
            SlaMetric::P99Duration => "p99 duration (ms)",
            SlaMetric::AvgDuration => "average duration (ms)",
            SlaMetric::CompletionRate => "completion rate (%)",
            SlaMetric::ErrorRate => "error rate (%)",
            SlaMetric::CompensationRate => "compensation rate (%)",
            SlaMetric::ManualInterventionRate => "manual intervention rate (%)",
        }
    }

    /// The value over a window's counts and the number of instances it is computed from; `None` when
    /// there is nothing to compute it from.
    pub fn actual(self, counts: &WorkflowCounts) -> (Option<f64>, i64) {
        let finished = counts.finished();
        let share = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
        match self {
            SlaMetric::P50Duration => (counts.duration.quantile(0.50).map(|v| v as f64), counts.completed),
            SlaMetric::P95Duration => (counts.duration.quantile(0.95).map(|v| v as f64), counts.completed),
            SlaMetric::P99Duration => (counts.duration.quantile(0.99).map(|v| v as f64), counts.completed),
            SlaMetric::AvgDuration => (counts.duration.mean(), counts.completed),
            SlaMetric::CompletionRate => (share(counts.completed, finished), finished),
            SlaMetric::ErrorRate => (share(counts.failed + counts.compensated, finished), finished),
            SlaMetric::CompensationRate => (share(counts.compensated, finished), finished),
            SlaMetric::ManualInterventionRate => (share(counts.interventions, counts.started), counts.started),
        }
    }

    /// Met, breached, or no data; a value exactly at the threshold meets it.
    pub fn judge(self, threshold: f64, actual: Option<f64>) -> SlaStatus {
        match actual {
            None => SlaStatus::NoData,
            Some(value) if self.higher_is_better() && value >= threshold => SlaStatus::Met,
            Some(value) if !self.higher_is_better() && value <= threshold => SlaStatus::Met,
            Some(_) => SlaStatus::Breached,
        }
    }

    /// A value as people read it: `1,840 ms`, `97.2%`.
    pub fn show(self, value: f64) -> String {
        if self.is_duration() {
            super::bottlenecks::ms(value)
        } else {
            format!("{:.1}%", value * 100.0)
        }
    }
}

/// Checks a target as submitted; every problem with the field it concerns.
pub fn validate(input: &SlaTargetInput, known_workflow: bool) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if input.workflow.trim().is_empty() {
        problems.push(("workflow", "is required".to_string()));
    } else if !known_workflow {
        problems.push(("workflow", format!("no workflow named {:?} is registered", input.workflow)));
    }
    let metric = SlaMetric::parse(&input.metric);
    if metric.is_none() {
        let names: Vec<&str> = SlaMetric::ALL.iter().map(|m| m.name()).collect();
        problems.push(("metric", format!("{:?} is not a metric; use one of {}", input.metric, names.join(", "))));
    }
    if !input.threshold.is_finite() || input.threshold < 0.0 {
        problems.push(("threshold", "must be a number of at least 0".to_string()));
    } else if metric.is_some_and(|m| !m.is_duration()) && input.threshold > 1.0 {
        problems.push(("threshold", "a rate is a fraction from 0 to 1 (0.95 for 95%)".to_string()));
    }
    if input.window_ms < MINUTE || input.window_ms > MAX_PERIOD_MS || input.window_ms % MINUTE != 0 {
        problems.push(("window_ms", "must be whole minutes, from 60000 (1 min) to 34560000000 (400 d)".to_string()));
    }
    if input.description.chars().count() > 500 {
        problems.push(("description", "must be at most 500 characters".to_string()));
    }
    problems
}

/// What is wrong with a definition's own targets (its `sla` list), by the rules of [`validate`]: each
/// problem at `sla[i].<field>`. Checked at registration, so a target that could never be judged (an
/// unknown metric such as `p42`) is refused rather than stored.
pub fn definition_problems(definition: &Definition) -> Vec<engine::validate::Problem> {
    let mut problems = Vec::new();
    for (index, target) in definition.sla.iter().enumerate() {
        let input = SlaTargetInput {
            workflow: definition.name.clone(),
            metric: target.metric.clone(),
            threshold: target.threshold,
            window_ms: i64::try_from(target.window_ms).unwrap_or(i64::MAX),
            open_intervention: false,
            description: String::new(),
        };
        for (field, message) in validate(&input, true) {
            let field = format!("sla[{index}].{field}");
            problems.push(engine::validate::Problem { state: None, field: Some(field.clone()), path: field, message });
        }
    }
    problems
}

/// The default targets of a definition (its `sla` list), owned by `system`.
pub fn default_targets(definition: &Definition, now_ms: i64) -> Vec<SlaTargetRow> {
    definition
        .sla
        .iter()
        .filter(|target| SlaMetric::parse(&target.metric).is_some())
        .map(|target| {
            let window_ms = i64::try_from(target.window_ms).unwrap_or(MAX_PERIOD_MS).clamp(MINUTE, MAX_PERIOD_MS);
            let metric = SlaMetric::parse(&target.metric).unwrap_or(SlaMetric::P95Duration);
            SlaTargetRow {
                id: crate::runtime::clock::new_id(),
                workflow: definition.name.clone(),
                metric: target.metric.clone(),
                threshold: target.threshold,
                window_ms,
                open_intervention: 0,
                description: describe(metric, target.threshold, window_ms),
                updated_at: now_ms,
                updated_by: "system".into(),
            }
        })
        .collect()
}

/// "p95 duration at most 2.0 s over 1 h".
pub fn describe(metric: SlaMetric, threshold: f64, window_ms: i64) -> String {
    let direction = if metric.higher_is_better() { "at least" } else { "at most" };
    let name = metric.label().split(" (").next().unwrap_or_default();
    format!("{name} {direction} {} over {}", metric.show(threshold), app::format::window(window_ms))
}

pub fn to_wire(row: &SlaTargetRow) -> SlaTarget {
    SlaTarget {
        id: row.id.clone(),
        workflow: row.workflow.clone(),
        metric: row.metric.clone(),
        threshold: row.threshold,
        window_ms: row.window_ms,
        open_intervention: row.open_intervention != 0,
        description: row.description.clone(),
        updated_at_ms: row.updated_at,
        updated_by: row.updated_by.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(completed: i64, failed: i64, durations: &[u64]) -> WorkflowCounts {
        let mut counts = WorkflowCounts { started: completed + failed, completed, failed, ..Default::default() };
        for &ms in durations {
            counts.duration.record(ms);
        }
        counts
    }

    #[test]
    fn a_definitions_own_targets_are_checked_like_submitted_ones() {
        let definition: Definition = serde_json::from_value(serde_json::json!({
            "name": "w", "start_at": "done", "states": {"done": {"type": "succeed"}},
            "sla": [{"metric": "p95_duration_ms", "threshold": 2000.0, "window_ms": 3_600_000},
                    {"metric": "p42", "threshold": 1.0, "window_ms": 3_600_000},
                    {"metric": "completion_rate", "threshold": 95.0, "window_ms": 1000}]
        }))
        .unwrap();
        let problems = definition_problems(&definition);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["sla[1].metric", "sla[2].threshold", "sla[2].window_ms"]);
        assert!(problems[0].message.contains("\"p42\" is not a metric"), "{}", problems[0].message);
    }

    #[test]
    fn durations_are_met_at_or_under_the_threshold() {
        let m = SlaMetric::P95Duration;
        let window = counts(20, 0, &[100; 19].iter().copied().chain([2_000]).collect::<Vec<_>>());
        let (actual, sample) = m.actual(&window);
        assert_eq!((actual, sample), (Some(100.0), 20), "p95 of 20 is the 19th value");
        assert_eq!(m.judge(100.0, actual), SlaStatus::Met, "exactly at the threshold");
        assert_eq!(m.judge(99.0, actual), SlaStatus::Breached);
        let slower = counts(20, 0, &[2_000; 20]);
        assert_eq!(m.judge(1_999.0, m.actual(&slower).0), SlaStatus::Breached);
        assert_eq!(m.judge(2_000.0, m.actual(&slower).0), SlaStatus::Met);
    }

    #[test]
    fn completion_rate_is_met_at_or_over_the_threshold() {
        let m = SlaMetric::CompletionRate;
        let (actual, sample) = m.actual(&counts(19, 1, &[]));
        assert_eq!((actual, sample), (Some(0.95), 20));
        assert_eq!(m.judge(0.95, actual), SlaStatus::Met);
        assert_eq!(m.judge(0.951, actual), SlaStatus::Breached);
    }

    /// The window is whole buckets ending with the current one: at 10:30:20 "1 h" is 09:31:00–10:31:00.
    /// A slow completion at 09:30:59 is outside it and the target is met; one at 09:31:00 is inside and
    /// breaks it.
    #[test]
    fn the_window_edges_decide_what_counts() {
        use crate::monitoring::facts::{Fact, Outcome};
        use crate::monitoring::period::Period;
        use crate::monitoring::rollup::{Rollups, HOUR};

        let now = 10 * HOUR + 30 * MINUTE + 20_000;
        let window = Period::ending_at(HOUR, now, "1h");
        let judge = |slow_at: i64| {
            let mut facts: Vec<Fact> = (0..19)
                .map(|i| Fact::Finished {
                    workflow: "w".into(),
                    outcome: Outcome::Completed,
                    at: 10 * HOUR + i * 1_000,
                    duration_ms: 100,
                })
                .collect();
            facts.push(Fact::Finished {
                workflow: "w".into(),
                outcome: Outcome::Completed,
                at: slow_at,
                duration_ms: 9_000,
            });
            let rollups = Rollups::of(&facts);
            let mut counts = WorkflowCounts::default();
            for (key, row) in &rollups.workflows {
                if key.resolution_ms == window.resolution_ms
                    && key.bucket_ms >= window.from_ms
                    && key.bucket_ms < window.to_ms
                {
                    counts.merge(row);
                }
            }
            let metric = SlaMetric::P99Duration;
            (metric.actual(&counts), metric.judge(1_000.0, metric.actual(&counts).0))
        };
        let ((actual, sample), status) = judge(9 * HOUR + 30 * MINUTE + 59_999);
        assert_eq!((actual, sample, status), (Some(100.0), 19, SlaStatus::Met), "just before the window");
        let ((actual, sample), status) = judge(9 * HOUR + 31 * MINUTE);
        assert_eq!((actual, sample, status), (Some(9_000.0), 20, SlaStatus::Breached), "first instant of the window");
        let ((_, sample), status) = judge(10 * HOUR + 31 * MINUTE);
        assert_eq!((sample, status), (19, SlaStatus::Met), "after the window (a later bucket)");
    }

    #[test]
    fn an_empty_window_is_not_judged() {
        for metric in SlaMetric::ALL {
            let (actual, sample) = metric.actual(&WorkflowCounts::default());
            assert_eq!((actual, sample), (None, 0), "{metric:?}");
            assert_eq!(metric.judge(0.0, actual), SlaStatus::NoData);
        }
    }

    #[test]
    fn bad_targets_are_refused_field_by_field() {
        let input = SlaTargetInput {
            workflow: "nope".into(),
            metric: "p42".into(),
            threshold: f64::NAN,
            window_ms: 1_000,
            open_intervention: false,
            description: String::new(),
        };
        let fields: Vec<&str> = validate(&input, false).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["workflow", "metric", "threshold", "window_ms"]);
        let rate_over_one = SlaTargetInput {
            workflow: "w".into(),
            metric: "completion_rate".into(),
            threshold: 95.0,
            window_ms: 3_600_000,
            ..input
        };
        let problems = validate(&rate_over_one, true);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("0.95 for 95%"));
    }

    #[test]
    fn descriptions_read_as_sentences() {
        assert_eq!(describe(SlaMetric::P95Duration, 2_000.0, 3_600_000), "p95 duration at most 2.0 s over 1 h");
        assert_eq!(describe(SlaMetric::CompletionRate, 0.95, 86_400_000), "completion rate at least 95.0% over 24 h");
    }
}
