//! The monitoring, SLA and chart API through the router, without a socket (`tower::ServiceExt::oneshot`),
//! on SQLite and PostgreSQL, over the marketplace `switchboard serve` builds (seven workflows, simulated
//! services, default SLA targets): `/api/monitoring/*`, `/api/sla/*` and `/api/charts/*`. Every number is
//! checked against the stored instances, steps and interventions, not against the monitoring code.
//!
//! Each exchange is printed (captured by the harness; shown when a test fails, or with `-- --nocapture`),
//! which is also how the examples in `docs/api.md` were taken.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tower::ServiceExt;

use app::wire::{
    BottleneckRule, Bottlenecks, Dashboard, LiveEvent, SlaBreach, SlaChange, SlaReport, SlaStatus, SlaTarget,
    StateMetricsReport, SuccessMetrics, Throughput, WorkflowMetrics,
};
use engine::{Definition, State};
use switchboard::db::{Database, DatabaseUrl};
use switchboard::marketplace::faults::{FaultSettings, Latency};
use switchboard::serve::build_state;
use switchboard::state::AppState;
use switchboard::store::{InstanceFilter, InstanceSummaryRow};
use switchboard::traffic::{Traffic, TrafficConfig};

/// The longest anything here may take; only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_secs(60);
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// The seven marketplace workflow types.
const WORKFLOWS: [&str; 7] = [
    "buyer-onboarding",
    "call-lifecycle",
    "daily-settlement",
    "dispute-resolution",
    "payout-processing",
    "quality-monitoring",
    "seller-onboarding",
];

/// Statuses of an instance that is still in flight (the metrics' `active`).
const IN_FLIGHT: [&str; 5] = ["created", "running", "waiting", "compensating", "needs_intervention"];

// ---------------------------------------------------------------------------------------------------
// Helpers.

/// The router over the marketplace state on a fresh database.
struct Api {
    router: Router,
    state: AppState,
}

/// One answer: status, content type and the body as text (and as JSON when it is JSON).
use crate::support::reply::Reply;

impl Api {
    async fn on(url: &DatabaseUrl) -> Self {
        let state = build_state(&crate::support::serve_args(url, PathBuf::from("target/site")))
            .await
            .expect("application state with the marketplace");
        Self { router: crate::support::admin_router(&state), state }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        Reply::exchange(&self.router, request).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str, body: &Value) -> Reply {
        eprintln!("POST {uri} {body}");
        let request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        self.send(request.body(Body::from(body.to_string())).unwrap()).await
    }

    /// A change of a target: POST to the target's own address (changes are POST-only).
    async fn put(&self, uri: &str, body: &Value) -> Reply {
        self.post(uri, body).await
    }

    /// Removing a target: POST to `{uri}/delete`.
    async fn delete(&self, uri: &str) -> Reply {
        self.send(Request::post(format!("{uri}/delete")).body(Body::empty()).unwrap()).await
    }

    /// `GET uri`, which must answer 200 with a `T`.
    async fn read<T: DeserializeOwned>(&self, uri: &str) -> T {
        self.get(uri).await.json(StatusCode::OK)
    }

    async fn targets(&self) -> Vec<SlaTarget> {
        self.read("/api/sla/targets").await
    }

    async fn breaches(&self, query: &str) -> Vec<SlaBreach> {
        self.read(&format!("/api/sla/breaches?{query}")).await
    }
}

impl Reply {
    /// The body as a `T`, after checking the status and that it is JSON.
    #[track_caller]
    fn json<T: DeserializeOwned>(self, status: StatusCode) -> T {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.content_type.as_deref(), Some("application/json"), "{}", self.text);
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not a {}: {error}: {}", std::any::type_name::<T>(), self.text))
    }

    /// A 422 naming `field` only, whose message for it contains `says`.
    #[track_caller]
    fn invalid_field(&self, field: &str, says: &str) {
        let body = self.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &[], &[field]);
        let message = &body.error.fields[0].message;
        assert!(message.contains(says), "the message of `{field}` should say `{says}`: {message}");
    }

    /// A complete SVG document, served as one, whose text includes `title`.
    #[track_caller]
    fn svg(&self, title: &str) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        let content_type = self.content_type.as_deref().unwrap_or_default();
        assert!(content_type.starts_with("image/svg+xml"), "served as SVG: {content_type}");
        assert!(self.text.starts_with("<svg"), "starts with <svg: {}", &self.text[..self.text.len().min(80)]);
        assert!(self.text.trim_end().ends_with("</svg>"), "a complete document");
        assert!(self.text.contains(title), "the title `{title}` is drawn");
    }
}

/// A fast, seeded, fault-free run of the generator (no ambient latency, two human tasks left open).
fn traffic(seed: u64, limit: u64) -> TrafficConfig {
    TrafficConfig {
        rate_per_sec: 500.0,
        seed,
        tag: format!("m{seed}"),
        max_in_flight: 16,
        limit: Some(limit),
        buyers: 5,
        sellers: 3,
        leave_for_people: 2,
        fault_chance: 0.0,
        fault_duration: Duration::from_millis(100),
        ambient: None,
        follow_timeout: SETTLE,
    }
}

/// Runs the generator to its limit and waits until every instance it started has settled.
async fn run_traffic(state: &AppState, config: TrafficConfig) {
    let report = tokio::time::timeout(DEADLINE, Traffic::spawn(state.clone(), config).finish())
        .await
        .expect("the generator ends at its limit");
    assert!(!report.started.is_empty(), "the generator started something");
    for started in &report.started {
        state.runtime.wait_settled(&started.id, SETTLE).await.expect("settles");
    }
}

async fn all_instances(state: &AppState) -> Vec<InstanceSummaryRow> {
    state.runtime.store().list_instances(&InstanceFilter::default(), None, 10_000).await.expect("instances")
}

/// `SELECT key, count …` on either backend.
async fn grouped(state: &AppState, sql: &'static str) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = match state.runtime.store().database() {
        Database::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.expect("query"),
        Database::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.expect("query"),
    };
    rows.into_iter().collect()
}

/// An intervention's kind, workflow, status and reason.
async fn intervention(state: &AppState, id: &str) -> Option<(String, String, String, String)> {
    let sql = "SELECT kind, workflow, status, reason FROM interventions WHERE id = $1";
    match state.runtime.store().database() {
        Database::Sqlite(pool) => sqlx::query_as(sql).bind(id).fetch_optional(pool).await.expect("query"),
        Database::Postgres(pool) => sqlx::query_as(sql).bind(id).fetch_optional(pool).await.expect("query"),
    }
}

#[track_caller]
fn assert_rate(what: &str, actual: Option<f64>, part: i64, whole: i64) {
    if whole == 0 {
        assert_eq!(actual, None, "{what}: no denominator, no rate");
    } else {
        let expected = part as f64 / whole as f64;
        let actual = actual.unwrap_or_else(|| panic!("{what}: a rate over {whole}"));
        assert!((actual - expected).abs() < 1e-12, "{what}: {actual} != {part}/{whole}");
    }
}

/// The next SLA change of `target_id` on the bus (other events are skipped), within ten seconds.
async fn next_sla_change(receiver: &mut broadcast::Receiver<LiveEvent>, target_id: &str) -> SlaChange {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, receiver.recv()).await.expect("an SLA event before the deadline") {
            Ok(LiveEvent::Sla(change)) if change.target_id == target_id => return change,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the bus closed"),
        }
    }
}

/// Every state of a definition (branches included) with the states that lead to it.
fn predecessors(definition: &Definition) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(states: &BTreeMap<String, State>, out: &mut BTreeMap<String, BTreeSet<String>>) {
        for (name, state) in states {
            out.entry(name.clone()).or_default();
            for (_, next) in state.successors() {
                out.entry(next.to_string()).or_default().insert(name.clone());
            }
            if let State::Parallel(parallel) = state {
                for branch in &parallel.branches {
                    out.entry(branch.start_at.clone()).or_default().insert(name.clone());
                    walk(&branch.states, out);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&definition.states, &mut out);
    out
}

fn counts_of(rows: &[&InstanceSummaryRow]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row.status.clone()).or_default() += 1;
    }
    counts
}

// ---------------------------------------------------------------------------------------------------
// 1. Success metrics and throughput against the instances table.

/// After a fault-free run, every number of `/api/monitoring/metrics` per workflow type equals what the
/// instances (and interventions) tables say, the total row is the sum of the rows, and the throughput
/// buckets add up to the same starts and outcomes.
async fn success_metrics_agree_with_the_instances_table(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    run_traffic(&api.state, traffic(3, 40)).await;
    let rows = all_instances(&api.state).await;
    assert!(rows.len() >= 40, "{} instances", rows.len());
    let interventions =
        grouped(&api.state, "SELECT workflow, COUNT(*) FROM interventions WHERE instance_id <> '' GROUP BY workflow")
            .await;
    let limits: BTreeMap<String, f64> = api
        .targets()
        .await
        .into_iter()
        .filter(|t| t.metric == "p95_duration_ms")
        .map(|t| (t.workflow, t.threshold))
        .collect();

    let end = api.state.monitor.now_ms();
    let metrics: SuccessMetrics = api.read(&format!("/api/monitoring/metrics?period=1h&end={end}")).await;
    assert_eq!(metrics.period.label, "1h");
    assert_eq!(metrics.period.resolution_ms, MINUTE);
    assert_eq!(metrics.period.to_ms - metrics.period.from_ms, HOUR);
    assert_eq!(metrics.period.to_ms, end - end % MINUTE + MINUTE, "the current minute is included");
    assert!(rows.iter().all(|r| r.created_at >= metrics.period.from_ms), "the whole run is in the period");
    let names: Vec<&str> = metrics.workflows.iter().map(|w| w.workflow.as_str()).collect();
    assert_eq!(names, WORKFLOWS, "a row per registered workflow type, by name");

    let mut sum = WorkflowMetrics::default();
    for row in &metrics.workflows {
        let name = row.workflow.as_str();
        let mine: Vec<&InstanceSummaryRow> = rows.iter().filter(|r| r.workflow == name).collect();
        let by_status = counts_of(&mine);
        let count = |status: &str| by_status.get(status).copied().unwrap_or(0);
        let context = format!("{name}: {by_status:?}");
        assert_eq!(row.started, mine.len() as i64, "started, {context}");
        assert_eq!(
            (row.completed, row.failed, row.compensated, row.cancelled),
            (count("completed"), count("failed"), count("compensated"), count("cancelled")),
            "outcomes, {context}"
        );
        assert_eq!(row.finished, row.completed + row.failed + row.compensated + row.cancelled, "{context}");
        assert_eq!(row.active, IN_FLIGHT.iter().map(|s| count(s)).sum::<i64>(), "active, {context}");
        assert_eq!(row.interventions, interventions.get(name).copied().unwrap_or(0), "interventions, {context}");
        assert_rate("completion_rate", row.completion_rate, row.completed, row.finished);
        assert_rate("error_rate", row.error_rate, row.failed + row.compensated, row.finished);
        assert_rate("compensation_rate", row.compensation_rate, row.compensated, row.finished);
        assert_rate("manual_intervention_rate", row.manual_intervention_rate, row.interventions, row.started);

        // Durations: creation to completion of the completed instances.
        let durations: Vec<i64> = mine
            .iter()
            .filter(|r| r.status == "completed")
            .map(|r| r.finished_at.expect("a completed instance has finished_at") - r.created_at)
            .collect();
        assert_eq!(row.duration.count, durations.len() as u64, "one duration per completion, {context}");
        if let Some(&longest) = durations.iter().max() {
            let max = row.duration.max_ms.expect("a maximum") as i64;
            assert!((max - longest).abs() <= 5, "max {max} ms, the table says {longest} ms, {context}");
            let p50 = row.duration.p50_ms.expect("p50");
            let (p95, p99) = (row.duration.p95_ms.expect("p95"), row.duration.p99_ms.expect("p99"));
            assert!(p50 <= p95 && p95 <= p99 && p99 as i64 <= max, "ordered percentiles, {context}");
        } else {
            assert_eq!((row.duration.avg_ms, row.duration.max_ms), (None, None), "{context}");
        }
        // `sla_met`: the share of completions within the workflow's p95 target.
        let limit = limits.get(name).copied();
        assert_eq!(row.sla_duration_ms, limit, "the duration target, {context}");
        match (limit, durations.is_empty()) {
            (Some(limit), false) => {
                let within = durations.iter().filter(|&&d| d as f64 <= limit).count();
                let expected = within as f64 / durations.len() as f64;
                let near = durations.iter().any(|&d| (d as f64 - limit).abs() <= limit / 100.0);
                let slack = if near { 1.0 / durations.len() as f64 } else { 1e-12 };
                let actual = row.sla_met.expect("sla_met");
                assert!((actual - expected).abs() <= slack, "sla_met {actual} != {expected}, {context}");
            }
            _ => assert_eq!(row.sla_met, None, "{context}"),
        }

        sum.started += row.started;
        sum.active += row.active;
        sum.completed += row.completed;
        sum.failed += row.failed;
        sum.compensated += row.compensated;
        sum.cancelled += row.cancelled;
        sum.finished += row.finished;
        sum.interventions += row.interventions;
        sum.duration.count += row.duration.count;
    }
    let total = &metrics.total;
    assert_eq!(total.workflow, "*");
    assert_eq!(
        (total.started, total.active, total.completed, total.failed, total.compensated, total.cancelled),
        (sum.started, sum.active, sum.completed, sum.failed, sum.compensated, sum.cancelled),
        "the total is the sum of the rows"
    );
    assert_eq!((total.finished, total.interventions), (sum.finished, sum.interventions));
    assert_eq!(total.duration.count, sum.duration.count);
    assert_eq!(total.started, rows.len() as i64);
    assert_rate("total completion_rate", total.completion_rate, total.completed, total.finished);
    assert_rate("total error_rate", total.error_rate, total.failed + total.compensated, total.finished);
    assert_eq!((total.sla_met, total.sla_duration_ms), (None, None), "no SLA over all workflows together");
    assert!(total.completed > 0 && total.failed + total.compensated > 0, "a mix of outcomes: {total:?}");
    assert!(total.active > 0, "the human tasks left for people keep instances waiting: {total:?}");

    // One workflow type alone: the same row, and a total equal to it.
    let one: SuccessMetrics =
        api.read(&format!("/api/monitoring/metrics?period=1h&end={end}&workflow=call-lifecycle")).await;
    let row = metrics.workflows.iter().find(|w| w.workflow == "call-lifecycle").unwrap();
    assert_eq!(one.workflows, std::slice::from_ref(row));
    assert_eq!(one.total.workflow, "call-lifecycle");
    assert_eq!((one.total.started, one.total.completed, one.total.active), (row.started, row.completed, row.active));

    // Throughput: sixty minutes, every bucket present, the same starts and outcomes.
    let throughput: Throughput = api.read(&format!("/api/monitoring/throughput?period=1h&end={end}")).await;
    assert_eq!(throughput.period, metrics.period);
    assert_eq!(throughput.workflow, None);
    assert_eq!(throughput.points.len(), 60);
    for (i, point) in throughput.points.iter().enumerate() {
        assert_eq!(point.bucket_ms, metrics.period.from_ms + i as i64 * MINUTE, "consecutive minutes");
    }
    let add = |f: fn(&app::wire::ThroughputPoint) -> i64| throughput.points.iter().map(f).sum::<i64>();
    assert_eq!(add(|p| p.started), total.started);
    assert_eq!(add(|p| p.completed), total.completed);
    assert_eq!(add(|p| p.failed), total.failed);
    assert_eq!(add(|p| p.compensated), total.compensated);
    assert_eq!(add(|p| p.cancelled), total.cancelled);
    let calls: Throughput =
        api.read(&format!("/api/monitoring/throughput?period=1h&end={end}&workflow=call-lifecycle")).await;
    assert_eq!(calls.workflow.as_deref(), Some("call-lifecycle"));
    assert_eq!(calls.points.iter().map(|p| p.started).sum::<i64>(), row.started);
    api.state.events.shut_down();
}
on_both!(success_metrics_agree_with_the_instances_table);

// ---------------------------------------------------------------------------------------------------
// 2. Per-state aggregates.

/// `/api/monitoring/states/call-lifecycle`: every state of the definition in flow order, entries and
/// attempts that match the instances and steps tables, shares of time that add up to one.
async fn state_metrics_follow_the_flow_and_match_the_steps(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    run_traffic(&api.state, traffic(5, 40)).await;
    let definition = api.state.runtime.definition("call-lifecycle", None).expect("the definition");
    let calls: Vec<InstanceSummaryRow> =
        all_instances(&api.state).await.into_iter().filter(|r| r.workflow == "call-lifecycle").collect();
    assert!(calls.len() >= 10, "enough calls: {}", calls.len());
    let attempts = grouped(
        &api.state,
        "SELECT state, COUNT(*) FROM steps WHERE workflow = 'call-lifecycle' AND kind = 'task' GROUP BY state",
    )
    .await;
    let failures = grouped(
        &api.state,
        "SELECT state, COUNT(*) FROM steps WHERE workflow = 'call-lifecycle' AND kind = 'task' \
         AND outcome <> 'succeeded' GROUP BY state",
    )
    .await;
    let compensations = grouped(
        &api.state,
        "SELECT state, COUNT(*) FROM steps WHERE workflow = 'call-lifecycle' AND kind = 'compensation' GROUP BY state",
    )
    .await;

    let report: StateMetricsReport = api.read("/api/monitoring/states/call-lifecycle?period=1h").await;
    assert_eq!((report.workflow.as_str(), report.version), ("call-lifecycle", definition.version));
    assert_eq!(report.period.label, "1h");
    let names: Vec<&str> = report.states.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(names[0], definition.start_at, "the start state first");
    // Flow order: every other state comes after a state that leads to it.
    let before = predecessors(&definition);
    assert_eq!(names.iter().copied().collect::<BTreeSet<_>>(), before.keys().map(String::as_str).collect());
    assert_eq!(names.len(), before.len(), "each state once: {names:?}");
    for (i, name) in names.iter().enumerate().skip(1) {
        assert!(
            names[..i].iter().any(|earlier| before[*name].contains(*earlier)),
            "`{name}` comes before every state that leads to it: {names:?}"
        );
    }

    let start = &report.states[0];
    assert_eq!(start.entered, calls.len() as i64, "every call entered the start state");
    let mut top_level_share = 0.0;
    let mut any_share = false;
    for state in &report.states {
        let name = state.state.as_str();
        assert_eq!(state.workflow, "call-lifecycle");
        let kind = definition.states.get(name).map(State::kind);
        if let Some(kind) = kind {
            assert_eq!(state.kind, kind, "{name}");
        }
        assert_eq!(state.current, 0, "{name}: nothing is in flight after the run");
        assert_eq!(state.attempts, attempts.get(name).copied().unwrap_or(0), "{name}: task attempts = steps rows");
        assert_eq!(state.failures, failures.get(name).copied().unwrap_or(0), "{name}: failed attempts");
        assert_eq!(state.compensations, compensations.get(name).copied().unwrap_or(0), "{name}: compensations");
        assert_rate(name, state.error_rate, state.failures, state.attempts);
        assert_eq!(state.attempt_duration.count, state.attempts as u64, "{name}: a duration per attempt");
        assert_eq!(state.queue_wait.count, state.attempts as u64, "{name}: a queue wait per attempt");
        assert!(state.time_in_state.count <= state.entered as u64, "{name}: no more exits than entries");
        if state.kind == "task" {
            assert!(
                state.attempts >= state.time_in_state.count as i64,
                "{name}: at least one attempt per finished entry: {state:?}"
            );
            assert_eq!(state.entered > 0, state.attempts > 0, "{name}: entered tasks were attempted: {state:?}");
        } else {
            assert_eq!(state.attempts, 0, "{name}: only tasks have attempts");
        }
        if let Some(share) = state.share_of_time {
            any_share = true;
            assert!((0.0..=1.0).contains(&share), "{name}: share {share}");
            if kind.is_some() {
                top_level_share += share;
            }
        }
    }
    if any_share {
        assert!(top_level_share <= 1.0001, "the top-level shares add up to at most one: {top_level_share}");
        assert!(top_level_share >= 0.9999, "… and to one: {top_level_share}");
    }

    // Interventions per state (the human tasks of seller onboarding) match the interventions table.
    let opened = grouped(
        &api.state,
        "SELECT state, COUNT(*) FROM interventions WHERE workflow = 'seller-onboarding' GROUP BY state",
    )
    .await;
    assert!(!opened.is_empty(), "seller onboardings wait for compliance reviews");
    let sellers: StateMetricsReport = api.read("/api/monitoring/states/seller-onboarding?period=1h").await;
    let counted: BTreeMap<String, i64> =
        sellers.states.iter().filter(|s| s.interventions > 0).map(|s| (s.state.clone(), s.interventions)).collect();
    assert_eq!(counted, opened, "interventions per state");
    let waiting = grouped(
        &api.state,
        "SELECT current_state, COUNT(*) FROM instances WHERE workflow = 'seller-onboarding' \
         AND status = 'waiting' GROUP BY current_state",
    )
    .await;
    let current: BTreeMap<String, i64> =
        sellers.states.iter().filter(|s| s.current > 0).map(|s| (s.state.clone(), s.current)).collect();
    assert_eq!(current, waiting, "instances in each state now");

    // An unknown workflow type is not found; its name is in the message.
    api.get("/api/monitoring/states/no-such-flow").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no-such-flow"],
        &[],
    );
    // So is it for the bottlenecks of one workflow (not an empty list that reads like "all is well").
    api.get("/api/monitoring/bottlenecks?workflow=no-such-flow").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no-such-flow"],
        &[],
    );
    api.state.events.shut_down();
}
on_both!(state_metrics_follow_the_flow_and_match_the_steps);

// ---------------------------------------------------------------------------------------------------
// 3. Periods and bad input.

/// Periods are whole buckets at the finest resolution that keeps them few, the current bucket included;
/// bad periods are 422 naming the value, unknown query fields 400, bad limits 422.
async fn periods_are_whole_buckets_and_bad_input_is_refused(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    // 10:30:20 UTC on some day: the last hour is 09:31 to 10:31.
    let day = 20_000 * DAY;
    let end = day + 10 * HOUR + 30 * MINUTE + 20_000;
    let throughput: Throughput = api.read(&format!("/api/monitoring/throughput?period=1h&end={end}")).await;
    assert_eq!(
        (throughput.period.from_ms, throughput.period.to_ms, throughput.period.resolution_ms),
        (day + 9 * HOUR + 31 * MINUTE, day + 10 * HOUR + 31 * MINUTE, MINUTE)
    );
    assert!(throughput.points.iter().all(|p| p.started == 0), "nothing happened then");
    for (period, resolution, buckets) in [
        ("15m", MINUTE, 15),
        ("120m", MINUTE, 120),
        ("121m", HOUR, 3),
        ("24h", HOUR, 24),
        ("3d", HOUR, 72),
        ("4d", DAY, 4),
        ("7d", DAY, 7),
        ("400d", DAY, 400),
    ] {
        let reply: Throughput = api.read(&format!("/api/monitoring/throughput?period={period}&end={end}")).await;
        assert_eq!(reply.period.label, period);
        assert_eq!(reply.period.resolution_ms, resolution, "{period}");
        assert_eq!(reply.points.len(), buckets, "{period}");
        assert_eq!(reply.period.to_ms - reply.period.from_ms, buckets as i64 * resolution, "{period}");
        assert_eq!(reply.period.to_ms, end - end % resolution + resolution, "{period}: up to the current bucket");
    }
    // The defaults per route.
    for (route, label) in [
        ("/api/monitoring/metrics", "24h"),
        ("/api/monitoring/dashboard", "1h"),
        ("/api/monitoring/throughput", "1h"),
        ("/api/monitoring/states/call-lifecycle", "24h"),
        ("/api/monitoring/bottlenecks", "7d"),
    ] {
        let reply = api.get(route).await.json::<Value>(StatusCode::OK);
        assert_eq!(reply["period"]["label"], label, "{route}");
    }

    let routes = [
        "/api/monitoring/metrics?",
        "/api/monitoring/dashboard?",
        "/api/monitoring/throughput?",
        "/api/monitoring/states/call-lifecycle?",
        "/api/monitoring/bottlenecks?",
        "/api/charts/throughput.svg?",
        "/api/charts/steps.svg?workflow=call-lifecycle&",
    ];
    for route in routes {
        for bad in ["0h", "1w", "abc", "-1h", "1.5h", "401d"] {
            let reply = api.get(&format!("{route}period={bad}")).await;
            let body = reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["period"], &["period"]);
            let message = &body.error.fields[0].message;
            assert!(message.contains(&format!("\"{bad}\"")), "{route}: the message names {bad:?}: {message}");
        }
        api.get(&format!("{route}colour=red")).await.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["colour"],
            &[],
        );
        api.get(&format!("{route}end=soon")).await.error(StatusCode::BAD_REQUEST, "invalid_request", &["end"], &[]);
    }
    api.get("/api/monitoring/metrics?period=").await.invalid_field("period", "\"\"");
    api.get("/api/sla/report?colour=red").await.error(StatusCode::BAD_REQUEST, "invalid_request", &["colour"], &[]);

    // Breaches: a limit from 1 to 1000.
    for limit in ["0", "1001", "-5"] {
        api.get(&format!("/api/sla/breaches?limit={limit}")).await.invalid_field("limit", "from 1 to 1000");
    }
    api.get("/api/sla/breaches?limit=ten").await.error(StatusCode::BAD_REQUEST, "invalid_request", &["limit"], &[]);
    api.get("/api/sla/breaches?open=maybe").await.error(StatusCode::BAD_REQUEST, "invalid_request", &["open"], &[]);
    api.get("/api/sla/breaches?colour=red").await.error(StatusCode::BAD_REQUEST, "invalid_request", &["colour"], &[]);
    assert_eq!(api.breaches("open=true&limit=1000").await, []);

    // The steps chart needs a workflow.
    for query in ["", "?workflow=", "?period=1h"] {
        api.get(&format!("/api/charts/steps.svg{query}")).await.invalid_field("workflow", "required");
    }
    api.state.events.shut_down();
}
on_both!(periods_are_whole_buckets_and_bad_input_is_refused);

// ---------------------------------------------------------------------------------------------------
// 4. SLA targets.

fn target_input(workflow: &str, metric: &str, threshold: f64, window_ms: i64) -> Value {
    json!({"workflow": workflow, "metric": metric, "threshold": threshold, "window_ms": window_ms})
}

/// Targets: the defaults, create (201), duplicates (409), field-by-field validation (422), update,
/// unknown ids (404), delete (204); a refused request changes nothing.
async fn sla_targets_are_created_validated_updated_and_deleted(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let defaults = api.targets().await;
    assert_eq!(defaults.len(), 2 * WORKFLOWS.len(), "two defaults per marketplace workflow");
    for workflow in WORKFLOWS {
        assert_eq!(defaults.iter().filter(|t| t.workflow == workflow).count(), 2, "{workflow}");
    }
    for target in &defaults {
        assert_eq!(target.updated_by, "system");
        assert!(!target.open_intervention, "defaults do not page anyone");
        assert!(!target.description.is_empty());
    }
    let calls_p95 = defaults.iter().find(|t| t.workflow == "call-lifecycle" && t.metric == "p95_duration_ms").unwrap();
    assert_eq!((calls_p95.threshold, calls_p95.window_ms), (2_000.0, HOUR));
    assert_eq!(calls_p95.description, "p95 duration at most 2.0 s over 1 h");
    let order: Vec<(String, String, i64)> =
        defaults.iter().map(|t| (t.workflow.clone(), t.metric.clone(), t.window_ms)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "listed by workflow, metric and window");

    // Create.
    let body = json!({"workflow": "payout-processing", "metric": "error_rate", "threshold": 0.05,
                      "window_ms": HOUR, "open_intervention": true});
    let created: SlaTarget = api.post("/api/sla/targets", &body).await.json(StatusCode::CREATED);
    assert_eq!((created.workflow.as_str(), created.metric.as_str()), ("payout-processing", "error_rate"));
    assert_eq!((created.threshold, created.window_ms, created.open_intervention), (0.05, HOUR, true));
    assert_eq!(created.updated_by, "test-admin", "the caller");
    assert_eq!(created.description, "error rate at most 5.0% over 1 h", "described when not given");
    assert!(created.updated_at_ms > 0);
    let listed = api.targets().await;
    assert_eq!(listed.len(), defaults.len() + 1);
    assert!(listed.contains(&created));
    assert_eq!(api.read::<SlaTarget>(&format!("/api/sla/targets/{}", created.id)).await, created);

    // The same workflow, metric and window again: a conflict.
    let same = json!({"workflow": "payout-processing", "metric": "error_rate", "threshold": 0.2, "window_ms": HOUR});
    api.post("/api/sla/targets", &same).await.error(StatusCode::CONFLICT, "conflict", &["already"], &[]);

    // Validation, field by field.
    let bad = json!({"workflow": "nope", "metric": "p42", "threshold": -1.0, "window_ms": 1_000});
    let reply = api.post("/api/sla/targets", &bad).await;
    let body = reply.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["not valid"],
        &["workflow", "metric", "threshold", "window_ms"],
    );
    let message_of = |field: &str| body.error.fields.iter().find(|f| f.field == field).unwrap().message.clone();
    assert!(message_of("workflow").contains("\"nope\""), "{}", message_of("workflow"));
    assert!(message_of("metric").contains("\"p42\"") && message_of("metric").contains("p95_duration_ms"));
    assert!(message_of("threshold").contains("at least 0"));
    assert!(message_of("window_ms").contains("60000"));
    let cases = [
        (target_input("call-lifecycle", "completion_rate", 95.0, HOUR), "threshold", "0.95 for 95%"),
        (target_input("call-lifecycle", "error_rate", 1.01, HOUR), "threshold", "fraction"),
        (target_input("call-lifecycle", "p95_duration_ms", -0.5, HOUR), "threshold", "at least 0"),
        (target_input("call-lifecycle", "p95_duration_ms", 100.0, 1_000), "window_ms", "whole minutes"),
        (target_input("call-lifecycle", "p95_duration_ms", 100.0, 90_000), "window_ms", "whole minutes"),
        (target_input("call-lifecycle", "p95_duration_ms", 100.0, 401 * DAY), "window_ms", "400 d"),
        (target_input("", "p95_duration_ms", 100.0, HOUR), "workflow", "required"),
        (target_input("call-lifecycle", "P95_DURATION_MS", 100.0, HOUR), "metric", "not a metric"),
        (
            json!({"workflow": "call-lifecycle", "metric": "p95_duration_ms", "threshold": 100,
                   "window_ms": HOUR, "description": "x".repeat(501)}),
            "description",
            "500",
        ),
        (
            json!({"workflow": "call-lifecycle", "metric": "p95_duration_ms", "window_ms": HOUR}),
            "threshold",
            "required",
        ),
        (
            json!({"workflow": "call-lifecycle", "metric": "p95_duration_ms", "threshold": "fast", "window_ms": HOUR}),
            "threshold",
            "invalid type",
        ),
    ];
    for (body, field, says) in &cases {
        api.post("/api/sla/targets", body).await.invalid_field(field, says);
    }
    // A threshold too large for a number (JSON has no NaN or infinity) is refused as well.
    let huge =
        r#"{"workflow": "call-lifecycle", "metric": "p95_duration_ms", "threshold": 1e999, "window_ms": 3600000}"#;
    let request = Request::post("/api/sla/targets").header(header::CONTENT_TYPE, "application/json");
    let reply = api.send(request.body(Body::from(huge)).unwrap()).await;
    reply.error(StatusCode::BAD_REQUEST, "invalid_request", &["not valid JSON", "out of range"], &[]);
    assert_eq!(api.targets().await, listed, "nothing was written by a refused create");

    // Update.
    let change = json!({"workflow": "payout-processing", "metric": "error_rate", "threshold": 0.1,
                        "window_ms": 2 * HOUR, "description": "Payout errors stay rare"});
    let updated: SlaTarget = api.put(&format!("/api/sla/targets/{}", created.id), &change).await.json(StatusCode::OK);
    assert_eq!(updated.id, created.id);
    assert_eq!((updated.threshold, updated.window_ms), (0.1, 2 * HOUR));
    assert!(!updated.open_intervention, "a PUT replaces every field; open_intervention defaults to false");
    assert_eq!(updated.description, "Payout errors stay rare");
    assert!(updated.updated_at_ms >= created.updated_at_ms);
    assert_eq!(api.read::<SlaTarget>(&format!("/api/sla/targets/{}", created.id)).await, updated);
    let listed = api.targets().await;
    assert_eq!(listed.len(), defaults.len() + 1);
    assert!(listed.contains(&updated) && !listed.contains(&created));

    // Refused updates change nothing: unknown id, invalid body, a clash with another target.
    api.put("/api/sla/targets/no-such-target", &change).await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no-such-target"],
        &[],
    );
    api.put(&format!("/api/sla/targets/{}", created.id), &target_input("payout-processing", "error_rate", 2.0, HOUR))
        .await
        .invalid_field("threshold", "fraction");
    let payout_default =
        defaults.iter().find(|t| t.workflow == "payout-processing" && t.metric == "completion_rate").unwrap();
    let clash = target_input("payout-processing", "completion_rate", 0.5, payout_default.window_ms);
    api.put(&format!("/api/sla/targets/{}", created.id), &clash).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &[],
        &[],
    );
    assert_eq!(api.targets().await, listed, "nothing was written by a refused update");

    // Delete.
    let reply = api.delete(&format!("/api/sla/targets/{}", created.id)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.text.is_empty());
    api.get(&format!("/api/sla/targets/{}", created.id)).await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &[&created.id],
        &[],
    );
    api.delete(&format!("/api/sla/targets/{}", created.id)).await.error(StatusCode::NOT_FOUND, "not_found", &[], &[]);
    assert_eq!(api.targets().await, defaults, "back to the defaults");
    api.state.events.shut_down();
}
on_both!(sla_targets_are_created_validated_updated_and_deleted);

/// Unknown fields are errors in bodies (docs/api.md, Conventions), so a misspelt optional field cannot
/// silently fall back to its default.
async fn an_unknown_field_in_an_sla_target_is_refused(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let before = api.targets().await;
    let typo = json!({"workflow": "payout-processing", "metric": "error_rate", "threshold": 0.05,
                      "window_ms": HOUR, "open_interventions": true});
    let reply = api.post("/api/sla/targets", &typo).await;
    // Regression (issue 5): a misspelt field was once taken silently, the target stored with the default.
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["open_interventions"], &["open_interventions"]);
    assert_eq!(api.targets().await, before);
    api.state.events.shut_down();
}
on_both!(an_unknown_field_in_an_sla_target_is_refused);

// ---------------------------------------------------------------------------------------------------
// 5. SLA checks: breaches, interventions, live events, recovery.

/// An impossible target is found breached once (a breach record, an intervention, an event on the bus
/// and on `/api/events`), stays breached without a second record, and recovers when the threshold is
/// raised.
async fn a_breach_is_recorded_announced_and_recovered(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    run_traffic(&api.state, traffic(9, 30)).await;
    let metrics: SuccessMetrics = api.read("/api/monitoring/metrics?period=2h&workflow=call-lifecycle").await;
    let completed = metrics.workflows[0].completed;
    assert!(completed > 0, "call-lifecycle instances completed");

    // p95 of at most 0 ms over 2 h (the default is over 1 h): impossible.
    let impossible = json!({"workflow": "call-lifecycle", "metric": "p95_duration_ms", "threshold": 0,
                            "window_ms": 2 * HOUR, "open_intervention": true});
    let target: SlaTarget = api.post("/api/sla/targets", &impossible).await.json(StatusCode::CREATED);
    assert_eq!(target.description, "p95 duration at most 0 ms over 2 h");

    let mut bus = api.state.events.subscribe();
    let stream = api.router.clone().oneshot(Request::get("/api/events").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(stream.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut stream = stream.into_body();

    let changes = api.state.monitor.check_slas().await.expect("the check runs");
    eprintln!("check_slas -> {changes:?}");
    let mine: Vec<&SlaChange> = changes.iter().filter(|c| c.target_id == target.id).collect();
    assert_eq!(mine.len(), 1, "one change for the new target: {changes:?}");
    let breached = mine[0].clone();
    assert_eq!(breached.status, SlaStatus::Breached);
    assert_eq!((breached.workflow.as_str(), breached.metric.as_str()), ("call-lifecycle", "p95_duration_ms"));
    assert_eq!(breached.threshold, 0.0);
    assert!(breached.actual > 0.0, "{breached:?}");
    assert!(changes.iter().all(|c| c.status == SlaStatus::Breached), "nothing was breached before");

    // On the bus, and on the event stream as `{"type":"sla",…}`.
    assert_eq!(next_sla_change(&mut bus, &target.id).await, breached);
    let deadline = Instant::now() + Duration::from_secs(10);
    let streamed = 'found: loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, stream.frame()).await.expect("the sla event is streamed");
        let Ok(data) = frame.expect("the stream goes on").expect("a frame").into_data() else { continue };
        let text = String::from_utf8(data.to_vec()).unwrap();
        for line in text.lines().filter_map(|line| line.strip_prefix("data: ")) {
            let value: Value = serde_json::from_str(line).unwrap();
            if value["type"] == "sla" && value["target_id"] == target.id.as_str() {
                eprintln!("event: data: {line}");
                break 'found value;
            }
        }
    };
    assert_eq!(serde_json::from_value::<LiveEvent>(streamed).unwrap(), LiveEvent::Sla(breached.clone()));

    // The breach, with its intervention.
    let open = api.breaches("open=true").await;
    let breach = open.iter().find(|b| b.target_id == target.id).expect("the breach is listed as open").clone();
    assert_eq!(breach.id, breached.breach_id);
    assert_eq!((breach.workflow.as_str(), breach.metric.as_str()), ("call-lifecycle", "p95_duration_ms"));
    assert_eq!((breach.threshold, breach.actual, breach.window_ms), (0.0, breached.actual, 2 * HOUR));
    assert_eq!((breach.breached_at_ms, breach.recovered_at_ms), (breached.at_ms, None));
    let intervention_id = breach.intervention_id.clone().expect("the target asked for an intervention");
    let (kind, workflow, status, reason) =
        intervention(&api.state, &intervention_id).await.expect("the intervention row exists");
    eprintln!("intervention {intervention_id}: {kind}, {workflow}, {status}: {reason}");
    assert_eq!((kind.as_str(), workflow.as_str(), status.as_str()), ("sla_breach", "call-lifecycle", "open"));
    assert!(reason.starts_with("SLA breached: p95 duration of call-lifecycle"), "{reason}");
    let sla_interventions =
        grouped(&api.state, "SELECT kind, COUNT(*) FROM interventions WHERE kind = 'sla_breach' GROUP BY kind").await;
    assert_eq!(sla_interventions.get("sla_breach"), Some(&1), "only targets that ask for one open an intervention");
    for other in open.iter().filter(|b| b.target_id != target.id) {
        assert_eq!(other.intervention_id, None, "defaults do not open interventions: {other:?}");
    }
    let limited = api.breaches("open=true&limit=1").await;
    assert_eq!(limited.len(), 1);

    // The report: the target breached, with its value, sample and a trend of twelve windows.
    let report: SlaReport = api.read("/api/sla/report?workflow=call-lifecycle").await;
    assert!(report.results.iter().all(|r| r.target.workflow == "call-lifecycle"));
    assert_eq!(report.results.len(), 3);
    assert_eq!(report.met + report.breached + report.no_data, report.results.len());
    let result = report.results.iter().find(|r| r.target.id == target.id).expect("the target is reported");
    assert_eq!(result.status, SlaStatus::Breached);
    assert_eq!(result.actual, Some(breached.actual));
    assert_eq!(result.sample, completed, "p95 over every completion in the window");
    assert_eq!(result.to_ms - result.from_ms, 2 * HOUR);
    assert_eq!(result.open_breach.as_ref(), Some(&breach));
    assert_eq!(result.trend.len(), 12);
    for pair in result.trend.windows(2) {
        assert_eq!(pair[0].to_ms, pair[1].from_ms, "consecutive periods");
        assert_eq!(pair[1].to_ms - pair[1].from_ms, 2 * HOUR, "each of the window's length");
    }
    let last = result.trend.last().unwrap();
    assert!(last.to_ms >= report.generated_at_ms, "the current period last");
    assert_eq!((last.status, last.actual.is_some()), (SlaStatus::Breached, true));
    assert!(result.trend[..11].iter().all(|p| p.status == SlaStatus::NoData && p.actual.is_none()));

    // Checked again: still breached, no second record.
    let again = api.state.monitor.check_slas().await.expect("the check runs");
    assert!(again.iter().all(|c| c.target_id != target.id), "no second change: {again:?}");
    let all = api.breaches("limit=1000").await;
    assert_eq!(all.iter().filter(|b| b.target_id == target.id).count(), 1, "one breach record");

    // Raised out of reach: met again, the breach recovered, announced.
    let relaxed = json!({"workflow": "call-lifecycle", "metric": "p95_duration_ms", "threshold": 1e9,
                         "window_ms": 2 * HOUR, "open_intervention": true});
    api.put(&format!("/api/sla/targets/{}", target.id), &relaxed).await.json::<SlaTarget>(StatusCode::OK);
    let recovered = api.state.monitor.check_slas().await.expect("the check runs");
    let mine: Vec<&SlaChange> = recovered.iter().filter(|c| c.target_id == target.id).collect();
    assert_eq!(mine.len(), 1, "{recovered:?}");
    assert_eq!((mine[0].status, mine[0].breach_id.as_str()), (SlaStatus::Met, breach.id.as_str()));
    assert_eq!(mine[0].threshold, 1e9);
    assert_eq!(next_sla_change(&mut bus, &target.id).await, *mine[0]);
    let closed = api.breaches("limit=1000").await.into_iter().find(|b| b.id == breach.id).unwrap();
    assert_eq!(closed.recovered_at_ms, Some(mine[0].at_ms));
    assert!(closed.recovered_at_ms.unwrap() >= closed.breached_at_ms);
    assert!(api.breaches("open=true").await.iter().all(|b| b.id != breach.id), "no longer open");
    let report: SlaReport = api.read("/api/sla/report?workflow=call-lifecycle").await;
    let result = report.results.iter().find(|r| r.target.id == target.id).unwrap();
    assert_eq!((result.status, result.open_breach.as_ref()), (SlaStatus::Met, None));
    let quiet = api.state.monitor.check_slas().await.expect("the check runs");
    assert!(quiet.iter().all(|c| c.target_id != target.id), "met and staying met is no change: {quiet:?}");

    // A deleted target's breaches stay on record.
    assert_eq!(api.delete(&format!("/api/sla/targets/{}", target.id)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.breaches("limit=1000").await.into_iter().find(|b| b.id == breach.id), Some(closed));
    api.state.events.shut_down();
}
on_both!(a_breach_is_recorded_announced_and_recovered);

/// The number after `"key":` that follows `after` in a JSON text, read exactly: serde_json's default float
/// parsing (no `float_roundtrip` feature) may land one ULP off, which matters exactly at a threshold.
fn number_after(text: &str, after: &str, key: &str) -> Option<f64> {
    let rest = &text[text.find(after)? + after.len()..];
    let pattern = format!("\"{key}\":");
    let rest = &rest[rest.find(&pattern)? + pattern.len()..];
    let value: String = rest.chars().take_while(|c| !matches!(c, ',' | '}' | ']')).collect();
    value.trim().parse().ok()
}

/// Through the API and the database: a value exactly at the threshold meets the target, a hair past it
/// breaks it (durations at most, completion rate at least). Numbers are read from the JSON text exactly.
async fn a_value_exactly_at_the_threshold_meets_the_target(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    run_traffic(&api.state, traffic(3, 40)).await; // some calls fail: a completion rate below 1
    let report_of = |id: String| {
        let api = &api;
        async move {
            let reply = api.get("/api/sla/report?workflow=call-lifecycle").await;
            let actual = number_after(&reply.text, &format!("\"id\":\"{id}\""), "actual");
            let report: SlaReport = reply.json(StatusCode::OK);
            let status = report.results.iter().find(|r| r.target.id == id).expect("reported").status;
            (status, actual)
        }
    };
    for (metric, past) in [("avg_duration_ms", -0.5), ("p50_duration_ms", -1.0), ("completion_rate", 1e-9)] {
        let at_least = metric == "completion_rate";
        let body = target_input("call-lifecycle", metric, 0.5, 2 * HOUR);
        let target: SlaTarget = api.post("/api/sla/targets", &body).await.json(StatusCode::CREATED);
        let uri = format!("/api/sla/targets/{}", target.id);
        let actual = report_of(target.id.clone()).await.1.expect("call-lifecycle instances finished");
        // The threshold exactly as the report printed the value.
        let window = 2 * HOUR;
        let put = |threshold: f64| {
            let text = format!(
                r#"{{"workflow":"call-lifecycle","metric":"{metric}","threshold":{threshold:?},"window_ms":{window}}}"#,
            );
            eprintln!("PUT {uri} {text}");
            let request = Request::post(uri.as_str()).header(header::CONTENT_TYPE, "application/json");
            api.send(request.body(Body::from(text)).unwrap())
        };
        let reply = put(actual).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let stored = number_after(&reply.text, "", "threshold").expect("a threshold");
        let met = if at_least { actual >= stored } else { actual <= stored };
        let expected = if met { SlaStatus::Met } else { SlaStatus::Breached };
        assert_eq!(report_of(target.id.clone()).await, (expected, Some(actual)), "{metric}: {actual} against {stored}");
        if stored == actual {
            assert_eq!(expected, SlaStatus::Met, "exactly at the threshold meets it");
        }
        if at_least && actual + past > 1.0 {
            continue; // every call completed: nothing is past 100%
        }
        assert_eq!(put(actual + past).await.status, StatusCode::OK);
        assert_eq!(report_of(target.id.clone()).await, (SlaStatus::Breached, Some(actual)), "{metric} past {actual}");
    }
    api.state.events.shut_down();
}
on_both!(a_value_exactly_at_the_threshold_meets_the_target);

// ---------------------------------------------------------------------------------------------------
// 6. Charts.

/// Each chart route answers a complete SVG document with its title; unknown things are 404.
async fn charts_are_svg_documents_with_their_titles(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    run_traffic(&api.state, traffic(13, 20)).await;
    api.get("/api/charts/throughput.svg").await.svg("Throughput — all workflows, last 1h");
    api.get("/api/charts/throughput.svg?period=24h&workflow=call-lifecycle")
        .await
        .svg("Throughput — call-lifecycle, last 24h");
    api.get("/api/charts/steps.svg?workflow=call-lifecycle").await.svg("Time per step — call-lifecycle, last 24h");
    api.get("/api/charts/steps.svg?workflow=payout-processing&period=1h")
        .await
        .svg("Time per step — payout-processing, last 1h");
    // Long ago: no data, still a chart.
    api.get("/api/charts/throughput.svg?end=0").await.svg("Throughput — all workflows, last 1h");

    let targets = api.targets().await;
    let p95 = targets.iter().find(|t| t.workflow == "call-lifecycle" && t.metric == "p95_duration_ms").unwrap();
    let title = "call-lifecycle — p95 duration at most 2.0 s over 1 h";
    api.get(&format!("/api/charts/sla/{}.svg", p95.id)).await.svg(title);
    let rate = targets.iter().find(|t| t.workflow == "call-lifecycle" && t.metric == "completion_rate").unwrap();
    api.get(&format!("/api/charts/sla/{}.svg", rate.id)).await.svg(&format!("call-lifecycle — {}", rate.description));

    api.get("/api/charts/sla/no-such-target.svg").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no-such-target"],
        &[],
    );
    api.get("/api/charts/steps.svg?workflow=no-such-flow").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no-such-flow"],
        &[],
    );
    api.get("/api/charts/throughput.svg?period=1w").await.invalid_field("period", "\"1w\"");
    api.state.events.shut_down();
}
on_both!(charts_are_svg_documents_with_their_titles);

// ---------------------------------------------------------------------------------------------------
// 7. Dashboard and bottlenecks.

/// A run with unreliable services (retries, failures, compensations): the dashboard's counters equal
/// the success metrics of the same period, its SLA counts equal the report's, and its bottlenecks are the
/// first three of `/api/monitoring/bottlenecks`, each flagged by rules whose thresholds it really passes.
async fn the_dashboard_agrees_with_the_metrics_and_bottlenecks(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let mut config = traffic(21, 40);
    config.ambient = Some(FaultSettings {
        latency: Latency { p50_ms: 1, p99_ms: 5 },
        failure_rate: 0.15,
        timeout_rate: 0.0,
        lost_reply_rate: 0.0,
    });
    run_traffic(&api.state, config).await;

    let end = api.state.monitor.now_ms();
    let dashboard: Dashboard = api.read(&format!("/api/monitoring/dashboard?end={end}")).await;
    let metrics: SuccessMetrics = api.read(&format!("/api/monitoring/metrics?period=1h&end={end}")).await;
    assert_eq!(dashboard.period, metrics.period, "the dashboard's default period is the last hour");
    let total = &metrics.total;
    assert_eq!(
        (dashboard.active, dashboard.completed, dashboard.failed, dashboard.compensated),
        (total.active, total.completed, total.failed, total.compensated)
    );
    assert_eq!(dashboard.avg_duration_ms, total.duration.avg_ms);
    assert!(dashboard.completed > 0);

    let report: SlaReport = api.read("/api/sla/report").await;
    assert_eq!(report.results.len(), 2 * WORKFLOWS.len());
    assert_eq!(
        (dashboard.sla_met, dashboard.sla_breached, dashboard.sla_no_data),
        (report.met, report.breached, report.no_data)
    );
    for result in &report.results {
        assert_eq!(result.trend.len(), 12, "{}", result.target.description);
        match result.status {
            SlaStatus::NoData => assert_eq!((result.actual, result.sample), (None, 0)),
            _ => assert!(result.actual.is_some() && result.sample > 0, "{result:?}"),
        }
    }

    let bottlenecks: Bottlenecks = api.read(&format!("/api/monitoring/bottlenecks?period=1h&end={end}")).await;
    assert!(dashboard.top_bottlenecks.len() <= 3);
    let top: Vec<_> = bottlenecks.items.iter().take(3).cloned().collect();
    assert_eq!(dashboard.top_bottlenecks, top, "the dashboard shows the three worst");
    assert!(!bottlenecks.items.is_empty(), "15% of calls fail: some step is flagged");
    for pair in bottlenecks.items.windows(2) {
        assert!(pair[0].score >= pair[1].score, "worst first");
    }
    for item in &bottlenecks.items {
        let m = &item.metrics;
        assert_eq!((item.workflow.as_str(), item.state.as_str()), (m.workflow.as_str(), m.state.as_str()));
        assert!(!item.rules.is_empty() && item.rules.len() == item.reasons.len(), "{item:?}");
        assert!(item.score > 0.0);
        for rule in &item.rules {
            match rule {
                BottleneckRule::HighErrorRate => {
                    assert!(m.attempts >= 20 && m.error_rate.unwrap() > 0.05, "{item:?}")
                }
                BottleneckRule::HighVariance => {
                    let t = &m.time_in_state;
                    assert!(t.count >= 20 && t.avg_ms.unwrap() > 2.0 * t.p50_ms.unwrap() as f64, "{item:?}")
                }
                BottleneckRule::QueueWait => {
                    let wait = m.queue_wait.p95_ms.unwrap();
                    assert!(m.queue_wait.count >= 20 && wait > 100, "{item:?}");
                    assert!(wait as f64 > 0.5 * m.attempt_duration.p95_ms.unwrap() as f64, "{item:?}");
                }
                BottleneckRule::ShareOfTime => {
                    assert!(m.kind != "wait" && m.share_of_time.unwrap() > 0.5, "{item:?}")
                }
            }
        }
    }
    let calls: Bottlenecks =
        api.read(&format!("/api/monitoring/bottlenecks?period=1h&end={end}&workflow=call-lifecycle")).await;
    let expected: Vec<_> = bottlenecks.items.iter().filter(|b| b.workflow == "call-lifecycle").cloned().collect();
    assert_eq!(calls.items, expected, "one workflow's bottlenecks are its part of the whole list");
    api.state.events.shut_down();
}
on_both!(the_dashboard_agrees_with_the_metrics_and_bottlenecks);

// ---------------------------------------------------------------------------------------------------
// Known problems.

/// "must be at most 500 characters": a description of 400 characters fits, whatever the characters.
async fn a_description_is_limited_in_characters_not_bytes(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let description = "é".repeat(400); // 400 characters, 800 bytes of UTF-8
    let body = json!({"workflow": "call-lifecycle", "metric": "p99_duration_ms", "threshold": 5000,
                      "window_ms": HOUR, "description": description});
    let reply = api.post("/api/sla/targets", &body).await;
    // Regression (issue 5): the limit once counted bytes, refusing 251+ non-ASCII characters.
    let created: SlaTarget = reply.json(StatusCode::CREATED);
    assert_eq!(created.description, description);
    api.state.events.shut_down();
}
on_both!(a_description_is_limited_in_characters_not_bytes);

/// A threshold is stored as sent: the `actual` a report printed, sent back as a threshold, is that value.
async fn a_threshold_is_stored_exactly_as_sent(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let sent = "507.70588235294116"; // an average duration the report printed in one run
    let body = format!(
        r#"{{"workflow": "call-lifecycle", "metric": "avg_duration_ms", "threshold": {sent}, "window_ms": 7200000}}"#
    );
    let request = Request::post("/api/sla/targets").header(header::CONTENT_TYPE, "application/json");
    let reply = api.send(request.body(Body::from(body)).unwrap()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let stored = number_after(&reply.text, "", "threshold").expect("a threshold");
    // Regression (issue 5): without serde_json's `float_roundtrip` the fast float parser landed one ULP
    // off (507.7058823529411), so a value exactly at the threshold the client sent was judged breached.
    assert_eq!(stored, sent.parse::<f64>().unwrap(), "stored {stored:?}, sent {sent}");
    api.state.events.shut_down();
}
on_both!(a_threshold_is_stored_exactly_as_sent);

/// `end` is any i64 the query string holds; a value near the ends of the range must be refused like a
/// bad period, not break the request.
async fn an_end_out_of_range_is_refused(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let mut problems = Vec::new();
    for end in [i64::MAX, i64::MIN, i64::MAX - 59_999] {
        let uri = format!("/api/monitoring/metrics?end={end}");
        let router = api.router.clone();
        let request = Request::get(uri.as_str()).body(Body::empty()).unwrap();
        let answer = tokio::spawn(async move { router.oneshot(request).await.expect("the router answers") }).await;
        // Regression (issue 5): an unbounded `end` once overflowed the bucket arithmetic (a panic in a
        // debug build, a wrapped-around period in a release build). Now 422 naming `end`.
        match answer {
            Err(error) => problems.push(format!("GET {uri}: the handler panicked: {error}")),
            Ok(response) if !response.status().is_client_error() => {
                problems.push(format!("GET {uri}: {}", response.status()))
            }
            Ok(_) => {}
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    api.state.events.shut_down();
}
on_both!(an_end_out_of_range_is_refused);

/// Each route accepts only the parameters it uses: a period on the SLA report, or a workflow on the
/// dashboard or in the states route's query, is refused like any unknown field (it was once ignored).
async fn parameters_a_route_does_not_use_are_refused(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    for uri in [
        "/api/sla/report?period=abc&end=0",
        "/api/monitoring/dashboard?workflow=call-lifecycle",
        "/api/monitoring/states/call-lifecycle?workflow=payout-processing",
    ] {
        let reply = api.get(uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "GET {uri}: {}", reply.text);
    }
    assert_eq!(api.get("/api/sla/report?workflow=call-lifecycle").await.status, StatusCode::OK);
    api.state.events.shut_down();
}
on_both!(parameters_a_route_does_not_use_are_refused);
