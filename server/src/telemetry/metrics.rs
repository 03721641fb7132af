//! The Prometheus recorder and every series Switchboard exports.
//!
//! [`install`] builds the recorder once per process (the `metrics` facade has one global recorder)
//! and answers its [`PrometheusHandle`], which renders the text format on each scrape — the exporter
//! runs no listener and pushes nowhere. The functions below are the hooks other modules call, one line
//! each; they only touch atomics and a sharded map, never I/O. Until [`install`] runs they record
//! nothing (the facade's no-op recorder).
//!
//! Label values are bounded by construction: workflow and service names come from registered
//! definitions and services, actions from the service's declared actions, routes are patterns, methods
//! outside the standard set become `OTHER`. The full list, with meanings, is in `docs/operations.md`.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use engine::breaker::BreakerState;
use engine::ErrorKind;

pub const TRANSITIONS: &str = "switchboard_engine_transitions_total";
pub const TRANSITION_LATENCY: &str = "switchboard_engine_transition_latency_seconds";
pub const BATCH_SIZE: &str = "switchboard_store_batch_size";
pub const COMMIT_DURATION: &str = "switchboard_store_commit_duration_seconds";
pub const SERVICE_CALLS: &str = "switchboard_service_calls_total";
pub const SERVICE_ERRORS: &str = "switchboard_service_call_errors_total";
pub const SERVICE_LATENCY: &str = "switchboard_service_call_duration_seconds";
pub const BREAKER_STATE: &str = "switchboard_service_breaker_state";
pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
pub const HTTP_LATENCY: &str = "switchboard_http_request_duration_seconds";
pub const INTERVENTIONS_OPEN: &str = "switchboard_interventions_open";
pub const SLA_BREACHES: &str = "switchboard_sla_breaches_total";
pub const SLA_BREACHES_OPEN: &str = "switchboard_sla_breaches_open";

/// Bucket bounds of every `_seconds` histogram: 1 ms to 30 s, covering a group commit on an idle SQLite
/// file as well as a service call that runs into its deadline.
const SECONDS_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Bucket bounds of the batch size: powers of two up to the writer's `MAX_BATCH` (2,000).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2000.0];

/// How often histogram samples are folded into their buckets when nobody scrapes; a scrape does it
/// too. Without it the samples of an unscraped process would pile up.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (the first call does; later
/// calls answer the same handle), describes every series, and starts the upkeep thread.
///
/// If another recorder was installed first, this one is kept for rendering but receives nothing; a
/// warning says so.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|builder| builder.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), BATCH_BUCKETS))
            .expect("the bucket lists are constant and not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(error) = ::metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed: /metrics will show no series");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the metrics upkeep thread; scrapes still fold samples");
        }
        handle
    })
}

fn describe() {
    describe_counter!(TRANSITIONS, Unit::Count, "Transitions committed, by workflow.");
    describe_histogram!(
        TRANSITION_LATENCY,
        Unit::Seconds,
        "From a transition's hand-off to the group-commit writer until it is durable, by workflow."
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "Transitions written per group commit.");
    describe_histogram!(COMMIT_DURATION, Unit::Seconds, "Time to write one group commit, retries included.");
    describe_counter!(SERVICE_CALLS, Unit::Count, "Service calls, refused ones included, by service and action.");
    describe_counter!(SERVICE_ERRORS, Unit::Count, "Service calls that failed, by service, action and error kind.");
    describe_histogram!(SERVICE_LATENCY, Unit::Seconds, "Latency of calls that reached the service.");
    describe_gauge!(BREAKER_STATE, "Circuit breaker per service: 0 closed, 1 half-open, 2 open (at scrape time).");
    describe_counter!(HTTP_REQUESTS, Unit::Count, "HTTP requests, by route pattern, method and status.");
    describe_histogram!(HTTP_LATENCY, Unit::Seconds, "HTTP latency to the response head, by route pattern and method.");
    describe_gauge!(INTERVENTIONS_OPEN, "Open items in the intervention inbox (read at scrape time).");
    describe_counter!(SLA_BREACHES, Unit::Count, "SLA breaches this node's checks recorded, by workflow.");
    describe_gauge!(SLA_BREACHES_OPEN, "SLA breaches not yet recovered, all nodes (read at scrape time).");
}

/// A transition of `workflow` became durable `latency` after it was handed to the writer.
pub fn transition_committed(workflow: &str, latency: Duration) {
    counter!(TRANSITIONS, "workflow" => workflow.to_string()).increment(1);
    histogram!(TRANSITION_LATENCY, "workflow" => workflow.to_string()).record(latency);
}

/// The writer wrote a batch of `size` transitions in `took`.
pub fn group_commit(size: usize, took: Duration) {
    histogram!(BATCH_SIZE).record(size as f64);
    histogram!(COMMIT_DURATION).record(took);
}

/// A call of `service`'s `action` settled: `latency` when it reached the service (a refusal by the
/// breaker has none), `error` when it failed.
pub fn service_call(service: &str, action: &str, latency: Option<Duration>, error: Option<ErrorKind>) {
    let labels = [("service", service.to_string()), ("action", action.to_string())];
    counter!(SERVICE_CALLS, &labels).increment(1);
    if let Some(latency) = latency {
        histogram!(SERVICE_LATENCY, &labels).record(latency);
    }
    if let Some(kind) = error {
        let [service, action] = labels;
        counter!(SERVICE_ERRORS, &[service, action, ("kind", kind.to_string())]).increment(1);
    }
}

/// The breaker of `service` is in `state` (set at scrape time).
pub fn breaker_state(service: &str, state: BreakerState) {
    let value = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    gauge!(BREAKER_STATE, "service" => service.to_string()).set(value);
}

/// An HTTP request to the route pattern `route` answered `status` after `latency`.
pub fn http_request(route: &str, method: &str, status: u16, latency: Duration) {
    let (route, method) = (route.to_string(), method.to_string());
    counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_LATENCY, "route" => route, "method" => method).record(latency);
}

/// The inbox has `open` open items (set at scrape time).
pub fn interventions_open(open: i64) {
    gauge!(INTERVENTIONS_OPEN).set(open as f64);
}

/// This node's SLA check recorded a breach of a target of `workflow`.
pub fn sla_breached(workflow: &str) {
    counter!(SLA_BREACHES, "workflow" => workflow.to_string()).increment(1);
}

/// `open` SLA breaches are not recovered (set at scrape time).
pub fn sla_breaches_open(open: usize) {
    gauge!(SLA_BREACHES_OPEN).set(open as f64);
}
