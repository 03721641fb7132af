//! Wire types of the monitoring API: success metrics, throughput, per-state aggregates, bottlenecks,
//! SLA targets, reports and breaches. Durations are milliseconds, rates fractions (0.953 = 95.3 %),
//! times epoch milliseconds (UTC).

use serde::{Deserialize, Serialize};

/// The period a report covers. Periods are whole buckets of `resolution_ms` (a minute, an hour or a
/// day, chosen from the period's length); the last bucket is the current, still growing one.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodInfo {
    /// What was asked for, e.g. `24h`.
    pub label: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub resolution_ms: i64,
}

/// Summary of a set of durations.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    pub count: u64,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

/// Success metrics of one workflow type (or of all together, `workflow` = `*`) over a period.
///
/// Outcomes are counted when they happen: `failed` counts instances that came to rest failed in the
/// period. Rates are over the instances that finished in the period (`finished`), except
/// `manual_intervention_rate`: interventions opened per instance started. A rate is `None` when its
/// denominator is zero.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowMetrics {
    pub workflow: String,
    pub started: i64,
    /// In flight right now (running, waiting, compensating or waiting for a person), whatever the period.
    pub active: i64,
    pub completed: i64,
    pub failed: i64,
    pub compensated: i64,
    pub cancelled: i64,
    pub finished: i64,
    pub interventions: i64,
    pub completion_rate: Option<f64>,
    /// (failed + compensated) / finished.
    pub error_rate: Option<f64>,
    pub compensation_rate: Option<f64>,
    pub manual_intervention_rate: Option<f64>,
    /// Creation to completion, of the instances completed in the period.
    pub duration: DurationStats,
    /// Share of completed instances that finished within `sla_duration_ms`, the workflow's duration
    /// target (its tightest `*_duration_ms` SLA target); `None` without such a target or completions.
    pub sla_met: Option<f64>,
    pub sla_duration_ms: Option<f64>,
}

/// `GET /api/monitoring/metrics`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuccessMetrics {
    pub period: PeriodInfo,
    /// All workflow types together.
    pub total: WorkflowMetrics,
    pub workflows: Vec<WorkflowMetrics>,
}

/// One bucket of throughput.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThroughputPoint {
    pub bucket_ms: i64,
    pub started: i64,
    pub completed: i64,
    pub failed: i64,
    pub compensated: i64,
    pub cancelled: i64,
}

/// `GET /api/monitoring/throughput`: every bucket of the period, empty ones included.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub period: PeriodInfo,
    pub workflow: Option<String>,
    pub points: Vec<ThroughputPoint>,
}

/// Aggregates of one state of a workflow type over a period (and `current`, now).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateMetrics {
    pub workflow: String,
    pub state: String,
    /// The state's type in the latest definition: `task`, `choice`, `parallel`, `wait`, `human`,
    /// `succeed`, `fail`; empty for a state no longer in it.
    pub kind: String,
    /// Instances in this state right now.
    pub current: i64,
    /// Times it was entered in the period ("passed through").
    pub entered: i64,
    /// Entering to leaving (retries and back-off included), per exit in the period.
    pub time_in_state: DurationStats,
    /// Task attempts finished in the period, failed ones, and retries (attempts after the first).
    pub attempts: i64,
    pub failures: i64,
    pub retries: i64,
    /// failures / attempts.
    pub error_rate: Option<f64>,
    /// The call alone, per attempt.
    pub attempt_duration: DurationStats,
    /// From asking for the call to the call going out, per attempt.
    pub queue_wait: DurationStats,
    pub compensations: i64,
    pub compensation_failures: i64,
    pub interventions: i64,
    /// This state's part of all the time instances of the workflow spent in its states (0–1).
    pub share_of_time: Option<f64>,
}

/// `GET /api/monitoring/states/{workflow}`: every state of the definition, in definition order, then
/// states with history that the latest version no longer has.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateMetricsReport {
    pub period: PeriodInfo,
    pub workflow: String,
    pub version: u32,
    pub states: Vec<StateMetrics>,
}

/// Which rule marked a step as a bottleneck.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BottleneckRule {
    /// Average time above twice the median: some runs take far longer than usual.
    HighVariance,
    /// More than 5 % of attempts fail.
    HighErrorRate,
    /// Calls wait long before they go out (p95 queue wait over 100 ms and over half the p95 call).
    QueueWait,
    /// The step takes more than half of the workflow's time.
    ShareOfTime,
}

/// A step flagged by one or more rules, with the reasons in words.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    pub workflow: String,
    pub state: String,
    pub rules: Vec<BottleneckRule>,
    pub reasons: Vec<String>,
    /// What the ranking sorts by (higher first): see monitoring/bottlenecks.rs.
    pub score: f64,
    pub metrics: StateMetrics,
}

/// `GET /api/monitoring/bottlenecks`: ranked, worst first.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bottlenecks {
    pub period: PeriodInfo,
    pub items: Vec<Bottleneck>,
}

/// An SLA target as stored.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlaTarget {
    pub id: String,
    pub workflow: String,
    /// `p50_duration_ms`, `p95_duration_ms`, `p99_duration_ms`, `avg_duration_ms` (at most the
    /// threshold), `completion_rate` (at least), `error_rate`, `compensation_rate`,
    /// `manual_intervention_rate` (at most).
    pub metric: String,
    pub threshold: f64,
    pub window_ms: i64,
    /// Whether a breach also opens an intervention for a person.
    pub open_intervention: bool,
    pub description: String,
    pub updated_at_ms: i64,
    pub updated_by: String,
}

/// `POST /api/sla/targets` and `PUT /api/sla/targets/{id}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargetInput {
    pub workflow: String,
    pub metric: String,
    pub threshold: f64,
    pub window_ms: i64,
    #[serde(default)]
    pub open_intervention: bool,
    #[serde(default)]
    pub description: String,
}

/// Where a target stands.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaStatus {
    Met,
    Breached,
    /// Nothing finished in the window: nothing to judge.
    NoData,
}

/// One period of a target's trend.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlaTrendPoint {
    pub from_ms: i64,
    pub to_ms: i64,
    pub actual: Option<f64>,
    pub status: SlaStatus,
}

/// A target against its actual value over its window, with the trend over the last periods.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlaResult {
    pub target: SlaTarget,
    pub actual: Option<f64>,
    pub status: SlaStatus,
    /// Instances the value is computed from (finished, or started for the intervention rate).
    pub sample: i64,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The last periods of the window's length, oldest first, the current one last.
    pub trend: Vec<SlaTrendPoint>,
    pub open_breach: Option<SlaBreach>,
}

/// `GET /api/sla/report`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlaReport {
    pub generated_at_ms: i64,
    pub met: usize,
    pub breached: usize,
    pub no_data: usize,
    pub results: Vec<SlaResult>,
}

/// A breach: from the check that found the target broken to the one that found it met again.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlaBreach {
    pub id: String,
    pub target_id: String,
    pub workflow: String,
    pub metric: String,
    pub threshold: f64,
    pub actual: f64,
    pub window_ms: i64,
    pub breached_at_ms: i64,
    pub recovered_at_ms: Option<i64>,
    pub intervention_id: Option<String>,
}

/// Live: a target was found breached, or met again after a breach.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlaChange {
    pub target_id: String,
    pub workflow: String,
    pub metric: String,
    pub status: SlaStatus,
    pub actual: f64,
    pub threshold: f64,
    pub breach_id: String,
    pub at_ms: i64,
}

/// `GET /api/monitoring/dashboard`: the live counters of the overview.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub period: PeriodInfo,
    pub active: i64,
    pub completed: i64,
    pub failed: i64,
    pub compensated: i64,
    pub avg_duration_ms: Option<f64>,
    /// SLA targets met / breached / without data right now (each over its own window).
    pub sla_met: usize,
    pub sla_breached: usize,
    pub sla_no_data: usize,
    pub top_bottlenecks: Vec<Bottleneck>,
}
