//! [`Monitor`]: the monitoring queries as one service the HTTP layer and the console call.
//!
//! It reads rollups for a [`Period`], adds what is true now (instances in flight, per state), and hands
//! both to the pure functions of [`super::metrics`], [`super::bottlenecks`] and [`super::sla`]. It also
//! owns the SLA targets (defaults, edits) and the periodic check that records breaches and recoveries,
//! opens interventions for targets that ask for it, and announces each change on the event bus.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use app::wire::{
    Bottlenecks, Dashboard, LiveEvent, SlaBreach, SlaChange, SlaReport, SlaResult, SlaStatus, SlaTarget,
    SlaTargetInput, SlaTrendPoint, StateMetrics, StateMetricsReport, SuccessMetrics, Throughput,
};
use engine::Definition;

use super::bottlenecks;
use super::metrics::{self, ALL};
use super::period::Period;
use super::rollup::{Rollups, WorkflowCounts};
use super::sla::{self, SlaMetric};
use crate::events::EventBus;
use crate::runtime::Runtime;
use crate::store::sla::{SlaBreachRow, SlaTargetRow};
use crate::store::{AuditRow, InterventionRow, RollupRange, Store};

/// Why a monitoring request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    /// Field-level problems with a request.
    #[error("invalid request")]
    Invalid(Vec<(&'static str, String)>),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many past periods an SLA trend shows.
pub const TREND_PERIODS: i64 = 12;

/// Buckets that ended at least this long ago are closed: no transition commits facts into them any
/// more (facts are dated when they happen, which is at most a commit's latency before they are written).
const GRACE_MS: i64 = 60_000;
/// Totals of closed bucket ranges kept in memory.
const CLOSED_CACHE_ENTRIES: usize = 64;

/// Rollups summed over a range of buckets: per workflow type, and per (workflow, state).
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub workflows: BTreeMap<String, WorkflowCounts>,
    pub states: BTreeMap<(String, String), super::rollup::StateCounts>,
}

impl Totals {
    fn add(&mut self, rollups: &Rollups) {
        for (name, counts) in metrics::per_workflow(rollups) {
            self.workflows.entry(name).or_default().merge(&counts);
        }
        for (key, counts) in metrics::per_state(rollups) {
            self.states.entry(key).or_default().merge(&counts);
        }
    }
}

/// `(resolution, from, to, workflow, with states)` of a closed range.
type ClosedKey = (i64, i64, i64, Option<String>, bool);
/// The closed ranges' totals, newest last.
type ClosedCache = std::sync::Mutex<std::collections::VecDeque<(ClosedKey, Arc<Totals>)>>;

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    runtime: Runtime,
    bus: EventBus,
    /// Totals of closed bucket ranges, newest last: a period's closed part changes only when its
    /// resolution's bucket rolls over, so most reads only fetch and decode the open bucket(s).
    closed: Arc<ClosedCache>,
}

/// Instances in flight now: per workflow, and per (workflow, state).
struct InFlight {
    per_workflow: BTreeMap<String, i64>,
    per_state: BTreeMap<String, BTreeMap<String, i64>>,
}

impl Monitor {
    pub fn new(runtime: Runtime, bus: EventBus) -> Self {
        Self { runtime, bus, closed: Arc::default() }
    }

    fn store(&self) -> &Store {
        self.runtime.store()
    }

    pub fn now_ms(&self) -> i64 {
        self.runtime.now_ms()
    }

    /// The latest version of every registered workflow type.
    fn latest_definitions(&self) -> BTreeMap<String, Arc<Definition>> {
        // `definitions()` lists versions in increasing order, so the last one of a name wins.
        self.runtime.definitions().into_iter().map(|d| (d.name.clone(), d)).collect()
    }

    async fn rollups(&self, period: &Period, workflow: Option<&str>, states: bool) -> Result<Rollups> {
        let range = RollupRange {
            resolution_ms: period.resolution_ms,
            from_ms: period.from_ms,
            to_ms: period.to_ms,
            workflow,
            states,
            shard: None,
        };
        Ok(self.store().rollups_between(&range).await?)
    }

    /// The rollups of a period summed per workflow (and per state when `states`): the closed buckets
    /// from memory when they were read before, the rest from the database.
    async fn totals(&self, period: &Period, workflow: Option<&str>, states: bool) -> Result<Totals> {
        let closed_to = super::rollup::bucket_of(self.now_ms() - GRACE_MS, period.resolution_ms)
            .clamp(period.from_ms, period.to_ms);
        let mut totals = Totals::default();
        if closed_to > period.from_ms {
            let key: ClosedKey =
                (period.resolution_ms, period.from_ms, closed_to, workflow.map(str::to_string), states);
            let cached = {
                let cache = self.closed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.iter().find(|(k, _)| *k == key).map(|(_, totals)| totals.clone())
            };
            let closed = match cached {
                Some(closed) => closed,
                None => {
                    let part = Period { from_ms: period.from_ms, to_ms: closed_to, ..period.clone() };
                    let mut closed = Totals::default();
                    closed.add(&self.rollups(&part, workflow, states).await?);
                    let closed = Arc::new(closed);
                    let mut cache = self.closed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    cache.push_back((key, closed.clone()));
                    while cache.len() > CLOSED_CACHE_ENTRIES {
                        cache.pop_front();
                    }
                    closed
                }
            };
            totals = (*closed).clone();
        }
        if closed_to < period.to_ms {
            let open = Period { from_ms: closed_to, ..period.clone() };
            totals.add(&self.rollups(&open, workflow, states).await?);
        }
        Ok(totals)
    }

    async fn in_flight(&self) -> Result<InFlight> {
        let mut in_flight = InFlight { per_workflow: BTreeMap::new(), per_state: BTreeMap::new() };
        for (workflow, _status, states, count) in self.store().active_counts().await? {
            *in_flight.per_workflow.entry(workflow.clone()).or_default() += count;
            let of_workflow = in_flight.per_state.entry(workflow).or_default();
            for state in states.iter().flat_map(|s| s.split(", ")).filter(|s| !s.is_empty()) {
                *of_workflow.entry(state.to_string()).or_default() += count;
            }
        }
        Ok(in_flight)
    }

    /// Per workflow type, the threshold of its tightest duration target (p95 preferred), for `sla_met`.
    async fn duration_limits(&self) -> Result<BTreeMap<String, f64>> {
        let mut limits: BTreeMap<String, (bool, f64)> = BTreeMap::new();
        for target in self.store().sla_targets().await? {
            let Some(metric) = SlaMetric::parse(&target.metric).filter(|m| m.is_duration()) else { continue };
            let candidate = (metric == SlaMetric::P95Duration, target.threshold);
            let entry = limits.entry(target.workflow.clone()).or_insert(candidate);
            if (candidate.0 && !entry.0) || (candidate.0 == entry.0 && candidate.1 < entry.1) {
                *entry = candidate;
            }
        }
        Ok(limits.into_iter().map(|(workflow, (_, limit))| (workflow, limit)).collect())
    }

    /// Success metrics per workflow type and for all together.
    pub async fn success_metrics(&self, period: &Period, workflow: Option<&str>) -> Result<SuccessMetrics> {
        let in_flight = self.in_flight().await?;
        let limits = self.duration_limits().await?;
        let mut per_workflow = self.totals(period, workflow, false).await?.workflows;
        if let Some(name) = workflow {
            if per_workflow.is_empty() && !self.latest_definitions().contains_key(name) {
                return Err(Error::NotFound(format!("no workflow named {name:?} is registered")));
            }
        }
        // Every registered type gets a row, also without history in the period.
        for name in self.latest_definitions().into_keys() {
            if workflow.is_none_or(|w| w == name) {
                per_workflow.entry(name).or_default();
            }
        }
        let mut total = WorkflowCounts::default();
        let mut workflows = Vec::new();
        for (name, counts) in &per_workflow {
            total.merge(counts);
            let active = in_flight.per_workflow.get(name).copied().unwrap_or(0);
            workflows.push(metrics::workflow_metrics(name, counts, active, limits.get(name).copied()));
        }
        let active = workflows.iter().map(|w| w.active).sum();
        Ok(SuccessMetrics {
            period: period.info(),
            total: metrics::workflow_metrics(workflow.unwrap_or(ALL), &total, active, None),
            workflows,
        })
    }

    pub async fn throughput(&self, period: &Period, workflow: Option<&str>) -> Result<Throughput> {
        let rollups = self.rollups(period, workflow, false).await?;
        Ok(metrics::throughput(period, &rollups, workflow))
    }

    /// Per-state aggregates of every workflow type (or one), in flow order.
    pub async fn all_states(&self, period: &Period, workflow: Option<&str>) -> Result<Vec<StateMetrics>> {
        let per_state = self.totals(period, workflow, true).await?.states;
        let in_flight = self.in_flight().await?;
        let definitions = self.latest_definitions();
        let mut names: Vec<String> = definitions.keys().cloned().collect();
        for (name, _) in per_state.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let empty = BTreeMap::new();
        Ok(names
            .iter()
            .filter(|name| workflow.is_none_or(|w| w == name.as_str()))
            .flat_map(|name| {
                let current = in_flight.per_state.get(name).unwrap_or(&empty);
                metrics::states_of_workflow(name, definitions.get(name).map(Arc::as_ref), &per_state, current)
            })
            .collect())
    }

    /// Per-state aggregates of one workflow type, for its diagram.
    pub async fn states(&self, workflow: &str, period: &Period) -> Result<StateMetricsReport> {
        let definition = self.latest_definitions().remove(workflow);
        let states = self.all_states(period, Some(workflow)).await?;
        if definition.is_none() && states.is_empty() {
            return Err(Error::NotFound(format!("no workflow named {workflow:?} is registered")));
        }
        Ok(StateMetricsReport {
            period: period.info(),
            workflow: workflow.to_string(),
            version: definition.map_or(0, |d| d.version),
            states,
        })
    }

    pub async fn bottlenecks(&self, period: &Period, workflow: Option<&str>) -> Result<Bottlenecks> {
        let states = self.all_states(period, workflow).await?;
        if let Some(name) = workflow {
            if states.is_empty() && !self.latest_definitions().contains_key(name) {
                return Err(Error::NotFound(format!("no workflow named {name:?} is registered")));
            }
        }
        Ok(Bottlenecks { period: period.info(), items: bottlenecks::find(&states) })
    }

    /// The overview's counters: in flight now, outcomes and average duration over the period, SLA
    /// targets by status now, the three worst bottlenecks.
    pub async fn dashboard(&self, period: &Period) -> Result<Dashboard> {
        let success = self.success_metrics(period, None).await?;
        let report = self.sla_report(None).await?;
        let mut top = self.bottlenecks(period, None).await?.items;
        top.truncate(3);
        Ok(Dashboard {
            period: period.info(),
            active: success.total.active,
            completed: success.total.completed,
            failed: success.total.failed,
            compensated: success.total.compensated,
            avg_duration_ms: success.total.duration.avg_ms,
            sla_met: report.met,
            sla_breached: report.breached,
            sla_no_data: report.no_data,
            top_bottlenecks: top,
        })
    }

    // -----------------------------------------------------------------------------------------
    // SLA targets.

    /// Installs the default targets of every registered workflow type not seen before.
    pub async fn install_default_targets(&self) -> Result<()> {
        let now = self.now_ms();
        for definition in self.latest_definitions().values() {
            let targets = sla::default_targets(definition, now);
            if self.store().install_default_sla_targets(&definition.name, &targets).await? {
                tracing::info!(workflow = %definition.name, targets = targets.len(), "installed default SLA targets");
            }
        }
        Ok(())
    }

    pub async fn targets(&self) -> Result<Vec<SlaTarget>> {
        Ok(self.store().sla_targets().await?.iter().map(sla::to_wire).collect())
    }

    pub async fn target(&self, id: &str) -> Result<SlaTarget> {
        let row = self.store().sla_target(id).await?.ok_or_else(|| not_found(id))?;
        Ok(sla::to_wire(&row))
    }

    fn target_row(&self, id: String, input: &SlaTargetInput, actor: &str) -> Result<SlaTargetRow> {
        let known = self.latest_definitions().contains_key(&input.workflow);
        let problems = sla::validate(input, known);
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let metric = SlaMetric::parse(&input.metric).unwrap_or(SlaMetric::P95Duration);
        let description = match input.description.trim() {
            "" => sla::describe(metric, input.threshold, input.window_ms),
            given => given.to_string(),
        };
        Ok(SlaTargetRow {
            id,
            workflow: input.workflow.clone(),
            metric: input.metric.clone(),
            threshold: input.threshold,
            window_ms: input.window_ms,
            open_intervention: i64::from(input.open_intervention),
            description,
            updated_at: self.now_ms(),
            updated_by: actor.to_string(),
        })
    }

    pub async fn create_target(&self, input: &SlaTargetInput, actor: &str) -> Result<SlaTarget> {
        let row = self.target_row(crate::runtime::clock::new_id(), input, actor)?;
        let audit = AuditRow::ok(actor, "sla_target.create", "sla_target", &row.id, row.updated_at);
        self.store().insert_sla_target(&row, audit).await.map_err(conflict)?;
        Ok(sla::to_wire(&row))
    }

    pub async fn update_target(&self, id: &str, input: &SlaTargetInput, actor: &str) -> Result<SlaTarget> {
        let row = self.target_row(id.to_string(), input, actor)?;
        let audit = AuditRow::ok(actor, "sla_target.update", "sla_target", id, row.updated_at);
        if !self.store().update_sla_target(&row, audit).await.map_err(conflict)? {
            return Err(not_found(id));
        }
        Ok(sla::to_wire(&row))
    }

    pub async fn delete_target(&self, id: &str, actor: &str) -> Result<()> {
        let now = self.now_ms();
        let audit = AuditRow::ok(actor, "sla_target.delete", "sla_target", id, now);
        if !self.store().delete_sla_target(id, now, audit).await? {
            return Err(not_found(id));
        }
        Ok(())
    }

    pub async fn breaches(&self, open_only: bool, limit: i64) -> Result<Vec<SlaBreach>> {
        Ok(self.store().sla_breaches(open_only, limit).await?.iter().map(breach_to_wire).collect())
    }

    /// Every target (of one workflow type, or all) against its actual value over its window now, with
    /// its trend over the last [`TREND_PERIODS`] windows.
    pub async fn sla_report(&self, workflow: Option<&str>) -> Result<SlaReport> {
        let now = self.now_ms();
        let targets = self.store().sla_targets().await?;
        let open: HashMap<String, SlaBreachRow> =
            self.store().sla_breaches(true, 10_000).await?.into_iter().map(|b| (b.target_id.clone(), b)).collect();
        let mut cache: HashMap<(String, i64, i64, i64), WorkflowCounts> = HashMap::new();
        let mut results = Vec::new();
        for target in targets.iter().filter(|t| workflow.is_none_or(|w| w == t.workflow)) {
            let Some(metric) = SlaMetric::parse(&target.metric) else { continue };
            let window = Period::ending_at(target.window_ms, now, "window");
            let counts = self.window_counts(&mut cache, &target.workflow, &window).await?;
            let (actual, sample) = metric.actual(&counts);
            let status = metric.judge(target.threshold, actual);
            let trend = self.trend(&target.workflow, metric, target, now).await?;
            results.push(SlaResult {
                target: sla::to_wire(target),
                actual,
                status,
                sample,
                from_ms: window.from_ms,
                to_ms: window.to_ms,
                trend,
                open_breach: open.get(&target.id).map(breach_to_wire),
            });
        }
        let count = |status: SlaStatus| results.iter().filter(|r| r.status == status).count();
        Ok(SlaReport {
            generated_at_ms: now,
            met: count(SlaStatus::Met),
            breached: count(SlaStatus::Breached),
            no_data: count(SlaStatus::NoData),
            results,
        })
    }

    async fn window_counts(
        &self,
        cache: &mut HashMap<(String, i64, i64, i64), WorkflowCounts>,
        workflow: &str,
        period: &Period,
    ) -> Result<WorkflowCounts> {
        let key = (workflow.to_string(), period.resolution_ms, period.from_ms, period.to_ms);
        if let Some(counts) = cache.get(&key) {
            return Ok(counts.clone());
        }
        let counts = self.totals(period, Some(workflow), false).await?.workflows.remove(workflow).unwrap_or_default();
        cache.insert(key, counts.clone());
        Ok(counts)
    }

    /// The target's value over each of the last [`TREND_PERIODS`] windows (rounded to whole buckets of
    /// the resolution a span of that many windows is read at), oldest first.
    async fn trend(
        &self,
        workflow: &str,
        metric: SlaMetric,
        target: &SlaTargetRow,
        now: i64,
    ) -> Result<Vec<SlaTrendPoint>> {
        let span = Period::ending_at(target.window_ms.saturating_mul(TREND_PERIODS), now, "trend");
        let rollups = self.rollups(&span, Some(workflow), false).await?;
        let per_bucket = ((target.window_ms + span.resolution_ms - 1) / span.resolution_ms).max(1);
        let width = per_bucket * span.resolution_ms;
        let mut points = Vec::new();
        for i in (0..TREND_PERIODS).rev() {
            let to_ms = span.to_ms - i * width;
            let from_ms = to_ms - width;
            let mut counts = WorkflowCounts::default();
            for (key, row) in &rollups.workflows {
                if key.bucket_ms >= from_ms && key.bucket_ms < to_ms {
                    counts.merge(row);
                }
            }
            let (actual, _) = metric.actual(&counts);
            points.push(SlaTrendPoint { from_ms, to_ms, actual, status: metric.judge(target.threshold, actual) });
        }
        Ok(points)
    }

    /// Checks every target now: a target newly found breached gets a breach record (and an
    /// intervention if it asks for one); a breached target found met again is marked recovered. Each
    /// change is published on the bus and returned.
    pub async fn check_slas(&self) -> Result<Vec<SlaChange>> {
        let report = self.sla_report(None).await?;
        let now = report.generated_at_ms;
        let mut changes = Vec::new();
        for result in report.results {
            let target = &result.target;
            match (result.status, &result.open_breach, result.actual) {
                (SlaStatus::Breached, None, Some(actual)) => {
                    let metric = SlaMetric::parse(&target.metric).unwrap_or(SlaMetric::P95Duration);
                    let breach_id = crate::runtime::clock::new_id();
                    let intervention = target.open_intervention.then(|| InterventionRow {
                        id: crate::runtime::clock::new_id(),
                        instance_id: String::new(),
                        workflow: target.workflow.clone(),
                        kind: app::wire::InterventionKind::SlaBreach.as_str().into(),
                        state: target.metric.clone(),
                        decisions: "[\"acknowledge\"]".into(),
                        assignee_group: Some("managers".into()),
                        priority: "high".into(),
                        due_at: Some(now + 3_600_000),
                        reason: format!(
                            "SLA breached: {} of {} is {} against a target of {}",
                            metric.label().split(" (").next().unwrap_or_default(),
                            target.workflow,
                            metric.show(actual),
                            metric.show(target.threshold)
                        ),
                        status: "open".into(),
                        opened_at: now,
                        closed_at: None,
                    });
                    let row = SlaBreachRow {
                        id: breach_id.clone(),
                        target_id: target.id.clone(),
                        workflow: target.workflow.clone(),
                        metric: target.metric.clone(),
                        threshold: target.threshold,
                        actual,
                        window_ms: target.window_ms,
                        breached_at: now,
                        recovered_at: None,
                        intervention_id: intervention.as_ref().map(|i| i.id.clone()),
                    };
                    self.store().insert_sla_breach(&row, intervention.as_ref()).await?;
                    crate::telemetry::metrics::sla_breached(&target.workflow);
                    if let Some(opened) = &intervention {
                        self.bus.announce(LiveEvent::Intervention(app::wire::InterventionChange {
                            id: opened.id.clone(),
                            instance_id: None,
                            change: "opened".into(),
                            status: "open".into(),
                            assignee: None,
                        }));
                    }
                    changes.push(change(target, SlaStatus::Breached, actual, &breach_id, now));
                }
                (SlaStatus::Met, Some(open), Some(actual)) => {
                    // False when another check recovered it first: nothing to announce then.
                    let recovered = self.store().recover_sla_breach(&open.id, now).await?;
                    if recovered {
                        changes.push(change(target, SlaStatus::Met, actual, &open.id, now));
                    }
                }
                _ => {}
            }
        }
        for change in &changes {
            tracing::info!(target_id = %change.target_id, workflow = %change.workflow, metric = %change.metric,
                status = ?change.status, actual = change.actual, "SLA status changed");
            self.bus.announce(LiveEvent::Sla(change.clone()));
        }
        Ok(changes)
    }

    /// Checks the SLA targets every `interval` until the bus shuts down.
    pub async fn run_sla_checks(self, interval: Duration) {
        let stop = self.bus.stopping();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(interval) => {}
            }
            if !self.runtime.node().is_leader() {
                continue; // the leader checks for every node
            }
            if let Err(error) = self.check_slas().await {
                tracing::warn!(%error, "the SLA check failed; trying again at the next interval");
            }
        }
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no SLA target with id {id:?}"))
}

fn conflict(error: crate::store::Error) -> Error {
    match error {
        crate::store::Error::Conflict(_) => {
            Error::Conflict("the workflow already has a target for this metric and window".into())
        }
        other => Error::Store(other),
    }
}

fn change(target: &SlaTarget, status: SlaStatus, actual: f64, breach_id: &str, at_ms: i64) -> SlaChange {
    SlaChange {
        target_id: target.id.clone(),
        workflow: target.workflow.clone(),
        metric: target.metric.clone(),
        status,
        actual,
        threshold: target.threshold,
        breach_id: breach_id.to_string(),
        at_ms,
    }
}

fn breach_to_wire(row: &SlaBreachRow) -> SlaBreach {
    SlaBreach {
        id: row.id.clone(),
        target_id: row.target_id.clone(),
        workflow: row.workflow.clone(),
        metric: row.metric.clone(),
        threshold: row.threshold,
        actual: row.actual,
        window_ms: row.window_ms,
        breached_at_ms: row.breached_at,
        recovered_at_ms: row.recovered_at,
        intervention_id: row.intervention_id.clone(),
    }
}
