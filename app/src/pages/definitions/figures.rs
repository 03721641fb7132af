//! The monitoring aggregates of one workflow type, made ready to draw: [`marks`] puts them on the flow
//! diagram (instances in a state now as the corner badge, times passed, p95 time and error rate as the
//! box's second line, p95 time as heat relative to the slowest state), [`sorted`] orders the state
//! table, [`Slowest`] names what the heat scale is relative to. Pure, so the server and the browser
//! draw the same figures.

use std::cmp::Ordering;

use crate::diagram::{Marks, NodeMark};
use crate::format;
use crate::wire::{StateMetrics, StateMetricsReport, WorkflowMetrics};

/// The monitoring figures the page shows for one workflow type over one period.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    /// Per state (`GET /api/monitoring/states/{workflow}`).
    pub states: StateMetricsReport,
    /// The workflow as a whole (`GET /api/monitoring/metrics?workflow=…`), when it could be read.
    pub workflow: Option<WorkflowMetrics>,
}

impl Figures {
    /// Whether nothing happened in the period and nothing is in flight: the page says so instead of
    /// showing a table of zeros.
    pub fn is_empty(&self) -> bool {
        let states_idle = self.states.states.iter().all(|s| s.entered == 0 && s.current == 0 && s.attempts == 0);
        let workflow_idle = self.workflow.as_ref().is_none_or(|w| w.started == 0 && w.active == 0 && w.finished == 0);
        states_idle && workflow_idle
    }
}

/// The state whose p95 time in state is the longest: the top of the heat scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Slowest {
    pub state: String,
    pub p95_ms: u64,
}

/// The slowest state of the report, if any state has a p95 time.
pub fn slowest(report: &StateMetricsReport) -> Option<Slowest> {
    report
        .states
        .iter()
        .filter_map(|s| Some((s, s.time_in_state.p95_ms?)))
        .filter(|(_, p95)| *p95 > 0)
        .max_by_key(|(_, p95)| *p95)
        .map(|(s, p95)| Slowest { state: s.state.clone(), p95_ms: p95 })
}

/// A state's heat: its p95 time relative to the slowest state's (0–1); `None` without a p95 time.
pub fn heat(state: &StateMetrics, slowest: Option<&Slowest>) -> Option<f64> {
    let p95 = state.time_in_state.p95_ms? as f64;
    let top = slowest?.p95_ms as f64;
    Some(if top > 0.0 { (p95 / top).clamp(0.0, 1.0) } else { 0.0 })
}

/// What the diagram draws for these figures; `period` in words (`the last 24 h`) for the tooltips.
pub fn marks(report: &StateMetricsReport, period: &str) -> Marks {
    let top = slowest(report);
    let mut marks = Marks::default();
    for state in &report.states {
        marks.nodes.insert(state.state.clone(), mark(state, top.as_ref(), period));
    }
    marks
}

fn mark(state: &StateMetrics, slowest: Option<&Slowest>, period: &str) -> NodeMark {
    let mut detail = vec![format!("passed {} in {period}", times(state.entered))];
    detail.push(format!("in this state now: {}", format::count(state.current)));
    if state.time_in_state.count > 0 {
        detail.push(format!(
            "time in state: p50 {} · p95 {} · p99 {}",
            ms(state.time_in_state.p50_ms),
            ms(state.time_in_state.p95_ms),
            ms(state.time_in_state.p99_ms)
        ));
    }
    if state.attempts > 0 {
        detail.push(format!(
            "calls: {} attempts, {} failed ({}), {} retries",
            format::count(state.attempts),
            format::count(state.failures),
            format::percent(state.error_rate),
            format::count(state.retries)
        ));
    }
    if state.compensations > 0 {
        detail.push(format!(
            "compensations: {} ({} failed)",
            format::count(state.compensations),
            format::count(state.compensation_failures)
        ));
    }
    if state.interventions > 0 {
        detail.push(format!("interventions opened: {}", format::count(state.interventions)));
    }
    NodeMark {
        status: None,
        note: Some(note(state)),
        badge: (state.current > 0).then(|| compact_count(state.current)),
        heat: heat(state, slowest),
        detail,
    }
}

/// `never`, `once`, `12 times`.
pub fn times(n: i64) -> String {
    match n {
        0 => "never".into(),
        1 => "once".into(),
        n => format!("{} times", format::count(n)),
    }
}

/// The box's second line: `1.2k · p95 55 ms · ⚠2%` (times passed, p95 time in the state, share of its
/// calls that failed, when any did); `not entered` when the period saw no pass. Short enough for the
/// box (26 characters) in the usual cases; the tooltip and the legend spell it out.
pub fn note(state: &StateMetrics) -> String {
    if state.entered == 0 && state.time_in_state.count == 0 {
        return if state.current > 0 { "only runs in flight".into() } else { "not entered".into() };
    }
    let mut note = format!("{} · p95 {}", compact_count(state.entered), ms(state.time_in_state.p95_ms));
    if state.failures > 0 {
        note.push_str(&format!(" · ⚠{}", compact_percent(state.error_rate.unwrap_or(0.0))));
    }
    note
}

fn ms(value: Option<u64>) -> String {
    format::maybe_duration(value.map(|v| v as f64))
}

/// A count in at most five characters: `999`, `1.2k`, `12k`, `123k`, `1.2M`.
pub fn compact_count(n: i64) -> String {
    let a = n.unsigned_abs() as f64;
    let sign = if n < 0 { "-" } else { "" };
    let text = if a < 1_000.0 {
        format!("{a}")
    } else if a < 10_000.0 {
        trim_zero(format!("{:.1}k", (a / 100.0).floor() / 10.0))
    } else if a < 1_000_000.0 {
        format!("{}k", (a / 1_000.0).floor())
    } else if a < 10_000_000.0 {
        trim_zero(format!("{:.1}M", (a / 100_000.0).floor() / 10.0))
    } else {
        format!("{}M", (a / 1_000_000.0).floor())
    };
    format!("{sign}{text}")
}

fn trim_zero(text: String) -> String {
    text.replace(".0k", "k").replace(".0M", "M")
}

/// A fraction as a short percentage: `0.4%`, `12%`; never `0%` for a rate above zero.
pub fn compact_percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p > 0.0 && p < 10.0 {
        let text = format!("{:.1}%", (p * 10.0).ceil() / 10.0);
        text.replace(".0%", "%")
    } else {
        format!("{}%", p.round())
    }
}

/// The tone of an error rate: `bad` above 5 % (the bottleneck rule), `warn` above zero.
pub fn error_tone(rate: Option<f64>) -> &'static str {
    match rate {
        Some(r) if r > 0.05 => "bad",
        Some(r) if r > 0.0 => "warn",
        Some(_) => "ok",
        None => "neutral",
    }
}

/// The states in the table's order: flow order (as the API gives them) for `""`, otherwise the largest
/// first by `now`, `passed`, `p95`, `errors` or `share`; ties keep flow order.
pub fn sorted<'a>(states: &'a [StateMetrics], sort: &str) -> Vec<&'a StateMetrics> {
    let mut rows: Vec<&StateMetrics> = states.iter().collect();
    let key = |s: &StateMetrics| -> Option<f64> {
        match sort {
            "now" => Some(s.current as f64),
            "passed" => Some(s.entered as f64),
            "p95" => s.time_in_state.p95_ms.map(|v| v as f64),
            "errors" => s.error_rate,
            "share" => s.share_of_time,
            _ => None,
        }
    };
    if !sort.is_empty() {
        // `None` (no figure) sorts last; the sort is stable, so ties keep the flow order.
        rows.sort_by(|a, b| match (key(a), key(b)) {
            (Some(x), Some(y)) => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DurationStats, PeriodInfo};

    fn state(name: &str, entered: i64, current: i64, p95: Option<u64>, attempts: i64, failures: i64) -> StateMetrics {
        StateMetrics {
            workflow: "w".into(),
            state: name.into(),
            kind: "task".into(),
            current,
            entered,
            time_in_state: DurationStats {
                count: entered as u64,
                p50_ms: p95.map(|p| p / 2),
                p95_ms: p95,
                p99_ms: p95,
                ..DurationStats::default()
            },
            attempts,
            failures,
            error_rate: (attempts > 0).then(|| failures as f64 / attempts as f64),
            ..StateMetrics::default()
        }
    }

    fn report(states: Vec<StateMetrics>) -> StateMetricsReport {
        StateMetricsReport {
            period: PeriodInfo { label: "24h".into(), from_ms: 0, to_ms: 1, resolution_ms: 3_600_000 },
            workflow: "w".into(),
            version: 1,
            states,
        }
    }

    #[test]
    fn heat_is_relative_to_the_slowest_state() {
        let r = report(vec![
            state("fast", 10, 0, Some(50), 10, 0),
            state("slow", 10, 2, Some(200), 10, 1),
            state("never", 0, 0, None, 0, 0),
        ]);
        assert_eq!(slowest(&r), Some(Slowest { state: "slow".into(), p95_ms: 200 }));
        let marks = marks(&r, "the last 24 h");
        assert_eq!(marks.nodes["fast"].heat, Some(0.25));
        assert_eq!(marks.nodes["slow"].heat, Some(1.0));
        assert_eq!(marks.nodes["never"].heat, None);
        assert_eq!(marks.nodes["slow"].badge.as_deref(), Some("2"));
        assert_eq!(marks.nodes["fast"].badge, None, "no badge when nothing is in the state");
        assert_eq!(marks.nodes["slow"].note.as_deref(), Some("10 · p95 200 ms · ⚠10%"));
        assert_eq!(marks.nodes["never"].note.as_deref(), Some("not entered"));
        assert!(marks.nodes["slow"].detail.iter().any(|l| l == "calls: 10 attempts, 1 failed (10.0 %), 0 retries"));
        assert_eq!(marks.nodes["slow"].detail[0], "passed 10 times in the last 24 h");
    }

    #[test]
    fn notes_fit_the_box_in_the_usual_cases() {
        let busy = state("s", 123_456, 0, Some(1_234), 123_456, 15_000);
        assert_eq!(note(&busy), "123k · p95 1.2 s · ⚠12%");
        let slow_and_failing = state("s", 4_500, 0, Some(375), 4_500, 432);
        assert_eq!(note(&slow_and_failing), "4.5k · p95 375 ms · ⚠9.6%");
        assert!(note(&slow_and_failing).chars().count() <= 26);
        assert_eq!(note(&state("s", 7, 0, Some(392), 7, 0)), "7 · p95 392 ms", "no failure, no mark");
        assert_eq!(note(&state("s", 0, 3, None, 0, 0)), "only runs in flight");
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact_count(999), "999");
        assert_eq!(compact_count(1_000), "1k");
        assert_eq!(compact_count(1_250), "1.2k");
        assert_eq!(compact_count(12_999), "12k");
        assert_eq!(compact_count(2_345_678), "2.3M");
        assert_eq!(compact_count(45_000_000), "45M");
        assert_eq!(compact_percent(0.0004), "0.1%");
        assert_eq!(compact_percent(0.02), "2%");
        assert_eq!(compact_percent(0.125), "13%");
        assert_eq!(compact_percent(0.0), "0%");
    }

    #[test]
    fn sorting_puts_the_largest_first_and_missing_figures_last() {
        let states =
            vec![state("a", 5, 0, Some(10), 0, 0), state("b", 50, 1, None, 0, 0), state("c", 20, 4, Some(90), 4, 2)];
        let names = |sort: &str| sorted(&states, sort).iter().map(|s| s.state.clone()).collect::<Vec<_>>();
        assert_eq!(names(""), ["a", "b", "c"]);
        assert_eq!(names("passed"), ["b", "c", "a"]);
        assert_eq!(names("p95"), ["c", "a", "b"]);
        assert_eq!(names("now"), ["c", "b", "a"]);
        assert_eq!(names("errors"), ["c", "a", "b"]);
    }

    #[test]
    fn a_period_without_any_run_is_empty() {
        let idle = Figures { states: report(vec![state("a", 0, 0, None, 0, 0)]), workflow: None };
        assert!(idle.is_empty());
        let busy = Figures { states: report(vec![state("a", 0, 1, None, 0, 0)]), workflow: None };
        assert!(!busy.is_empty());
        assert_eq!(error_tone(Some(0.06)), "bad");
        assert_eq!(error_tone(Some(0.01)), "warn");
        assert_eq!(error_tone(None), "neutral");
    }
}
