//! Telemetry as operators meet it (issue 15, item 8): `GET /metrics` is guarded like the API and,
//! after a workflow ran, names every series Switchboard exports with non-zero values and HTTP routes
//! as patterns; with an OTLP endpoint, request and transition spans reach the collector.
//!
//! The metrics recorder is one per process, so the figures here add up over the tests of this binary:
//! the checks look for series and non-zero values, never for exact counts.


use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::Router;
use prost::Message;
use serde_json::json;

use app::wire::Role;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use crate::support::site::{Sent, Site, PASSWORD};
use switchboard::auth::bootstrap::ensure_admin;
use switchboard::db::DatabaseUrl;
use switchboard::services::{RecordingService, Registry};
use switchboard::state::AppState;

/// The call whose validation fails for good: its run fails, which the SLA check below counts.
const FAILING_NUMBER: i64 = 13;

/// The call-processing saga's service; validation refuses [`FAILING_NUMBER`] for good.
fn services() -> Registry {
    let calls = RecordingService::with_behaviour(&crate::support::CALL_ACTIONS, |request| {
        if request.action == "validate" && request.input["number"] == json!(FAILING_NUMBER) {
            return Err(engine::ServiceError::new(engine::ErrorKind::Permanent, "number refused"));
        }
        Ok(json!({"ok": true}))
    });
    let mut registry = Registry::new();
    registry.register("calls", Arc::new(calls));
    registry
}

/// Registers the saga and runs two calls through the API to their end: one succeeds, one fails.
/// Answers the ids.
async fn run_two_calls(site: &Site, admin: &Sent) -> Vec<String> {
    let registered = site.post("/api/definitions", admin, crate::support::call_saga()).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.text);
    let mut ids = Vec::new();
    for number in [1, FAILING_NUMBER] {
        let input = json!({"call_id": format!("c-{number}"), "number": number});
        let started = site.post("/api/instances", admin, json!({"workflow": "call-processing", "input": input})).await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
        let id = started.body["id"].as_str().expect("an instance id").to_string();
        let settled = site.get(&format!("/api/instances/{id}/wait?timeout_ms=60000"), admin).await;
        let expected = if number == FAILING_NUMBER { "compensated" } else { "completed" };
        assert_eq!(settled.body["status"], expected, "{}", settled.text);
        ids.push(id);
    }
    ids
}

/// The value of the sample of `name` whose labels include every one of `labels`, if any.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let matches = series_name == name
            && labels
                .iter()
                .all(|(key, value)| series_labels.split(',').any(|pair| pair == format!("{key}=\"{value}\"")));
        matches.then(|| value.parse().ok()).flatten()
    })
}

#[track_caller]
fn assert_positive(text: &str, name: &str, labels: &[(&str, &str)]) {
    match sample(text, name, labels) {
        Some(value) => assert!(value > 0.0, "{name}{labels:?} is {value}"),
        None => panic!("no sample {name}{labels:?} in the scrape:\n{text}"),
    }
}

/// `/metrics` is refused to anonymous callers and bad tokens with the API's 401, is POST-proof, and
/// answers a signed-in user and a token whose role may view. After a succeeded and a failed run and an
/// SLA breach, every series is there with non-zero values, and HTTP routes are patterns.
async fn metrics_are_guarded_and_name_every_series(url: DatabaseUrl) {
    let state: AppState = crate::support::state_with(&url, services()).await;
    ensure_admin(state.runtime.store(), Some(PASSWORD)).await.unwrap();
    let site = Site::with_state(state.clone());

    let anonymous = site.get("/metrics", &Sent::default()).await;
    anonymous.error(StatusCode::UNAUTHORIZED, "unauthorized", &["sign in"], &[]);
    let bogus = site.get("/metrics", &Sent::token("sb_nothing")).await;
    bogus.error(StatusCode::UNAUTHORIZED, "unauthorized", &["token"], &[]);

    let admin = Sent::cookie(&site.session("admin").await);
    let created =
        site.post("/api/users", &admin, json!({"username": "watcher", "role": Role::Manager, "password": PASSWORD})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let watcher = Sent::cookie(&site.session("watcher").await);
    let by_session = site.get("/metrics", &watcher).await;
    assert_eq!(by_session.status, StatusCode::OK, "a signed-in manager may scrape");
    assert!(
        by_session.content_type.as_deref().is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        by_session.content_type
    );

    // Every role may view, so no token lacks the permission; the weakest role scrapes, a revoked
    // token is refused like any API call.
    let token = site.post("/api/tokens", &admin, json!({"name": "prometheus", "role": Role::Support})).await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    let secret = token.body["secret"].as_str().unwrap().to_string();
    let token_id = token.body["token"]["id"].as_str().unwrap().to_string();
    assert_eq!(site.get("/metrics", &Sent::token(&secret)).await.status, StatusCode::OK);
    let post = site.post("/metrics", &Sent::token(&secret), json!({})).await;
    post.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", &["post"], &[]);

    let ids = run_two_calls(&site, &admin).await;
    // An error rate of at most 0 with a failed run: breached at once, with an intervention.
    let target = json!({"workflow": "call-processing", "metric": "error_rate", "threshold": 0,
                        "window_ms": 3_600_000, "open_intervention": true});
    let created = site.post("/api/sla/targets", &admin, target).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let changes = state.monitor.check_slas().await.expect("the SLA check runs");
    assert!(!changes.is_empty(), "the impossible target is breached");

    let scrape = site.get("/metrics", &Sent::token(&secret)).await;
    assert_eq!(scrape.status, StatusCode::OK);
    let text = scrape.text;
    let workflow = [("workflow", "call-processing")];
    assert_positive(&text, "switchboard_engine_transitions_total", &workflow);
    assert_positive(&text, "switchboard_engine_transition_latency_seconds_count", &workflow);
    assert_positive(
        &text,
        "switchboard_engine_transition_latency_seconds_bucket",
        &[("workflow", "call-processing"), ("le", "+Inf")],
    );
    assert_positive(&text, "switchboard_store_batch_size_count", &[]);
    assert_positive(&text, "switchboard_store_commit_duration_seconds_count", &[]);
    let validate = [("service", "calls"), ("action", "validate")];
    assert_positive(&text, "switchboard_service_calls_total", &validate);
    assert_positive(&text, "switchboard_service_call_duration_seconds_count", &validate);
    assert_positive(
        &text,
        "switchboard_service_call_errors_total",
        &[("service", "calls"), ("action", "validate"), ("kind", "permanent")],
    );
    assert_eq!(sample(&text, "switchboard_service_breaker_state", &[("service", "calls")]), Some(0.0), "closed");
    assert_positive(&text, "switchboard_interventions_open", &[]);
    assert_positive(&text, "switchboard_sla_breaches_total", &workflow);
    assert_positive(&text, "switchboard_sla_breaches_open", &[]);
    // HTTP series carry route patterns, methods and statuses; never a raw path.
    assert_positive(
        &text,
        "switchboard_http_requests_total",
        &[("route", "/api/instances"), ("method", "POST"), ("status", "201")],
    );
    assert_positive(
        &text,
        "switchboard_http_requests_total",
        &[("route", "/metrics"), ("method", "GET"), ("status", "401")],
    );
    assert_positive(
        &text,
        "switchboard_http_request_duration_seconds_count",
        &[("route", "/api/instances/{id}/wait"), ("method", "GET")],
    );
    for id in &ids {
        assert!(!text.contains(id.as_str()), "an instance id leaked into a label: {id}");
    }

    site.post(&format!("/api/tokens/{token_id}/revoke"), &admin, json!({})).await;
    let revoked = site.get("/metrics", &Sent::token(&secret)).await;
    revoked.error(StatusCode::UNAUTHORIZED, "unauthorized", &["revoked"], &[]);
    state.events.shut_down();
}
on_both!(metrics_are_guarded_and_name_every_series);

/// What the collector stub received, decoded.
#[derive(Clone, Default)]
struct Collector {
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

impl Collector {
    /// Serves `POST /v1/traces` on a free local port; answers its base URL.
    async fn start(&self) -> String {
        let bodies = self.bodies.clone();
        let app = Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let bodies = bodies.clone();
                async move {
                    bodies.lock().unwrap().push(body);
                    // An empty ExportTraceServiceResponse: everything accepted.
                    ([(header::CONTENT_TYPE, "application/x-protobuf")], Bytes::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    fn spans(&self) -> Vec<Span> {
        let bodies = self.bodies.lock().unwrap().clone();
        bodies
            .iter()
            .map(|body| ExportTraceServiceRequest::decode(body.as_ref()).expect("an OTLP protobuf body"))
            .flat_map(|request| request.resource_spans)
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans)
            .collect()
    }
}

/// A span's attribute as text.
fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span.attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        any_value::Value::StringValue(text) => text.clone(),
        any_value::Value::IntValue(number) => number.to_string(),
        any_value::Value::BoolValue(flag) => flag.to_string(),
        other => format!("{other:?}"),
    })
}

/// With the OTLP layer installed, a request span (route pattern, method, status) and a span per
/// committed transition (instance, workflow, state) reach a collector over OTLP/HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_transition_spans_reach_the_collector() {
    use tracing_subscriber::layer::SubscriberExt;

    let collector = Collector::default();
    let endpoint = collector.start().await;
    let (layer, provider) = switchboard::telemetry::traces::otlp_layer(&endpoint).expect("the OTLP layer");
    // The only test of this binary that installs a subscriber.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).expect("no subscriber yet");

    let temp = crate::support::TempSqlite::new();
    let state = crate::support::state_with(&temp.url, services()).await;
    ensure_admin(state.runtime.store(), Some(PASSWORD)).await.unwrap();
    let site = Site::with_state(state.clone());
    let admin = Sent::cookie(&site.session("admin").await);
    let ids = run_two_calls(&site, &admin).await;
    // Sends what is queued now rather than at the next scheduled batch (blocking: off the runtime). A
    // flush that fails (a busy machine, a slow export) is no verdict: the batches keep coming.
    let flushing = provider.clone();
    let flushed = tokio::task::spawn_blocking(move || flushing.force_flush()).await.unwrap();
    eprintln!("flush: {flushed:?}");

    let deadline = Instant::now() + Duration::from_secs(60);
    let (request, transition) = loop {
        let spans = collector.spans();
        let request = spans.iter().find(|span| {
            attribute(span, "http.route").as_deref() == Some("/api/instances/{id}/wait")
                && attribute(span, "http.response.status_code").as_deref() == Some("200")
        });
        let transition = spans.iter().find(|span| {
            attribute(span, "instance.id").as_deref() == Some(ids[0].as_str())
                && attribute(span, "committed").as_deref() == Some("true")
        });
        if let (Some(request), Some(transition)) = (request, transition) {
            break (request.clone(), transition.clone());
        }
        let seen: Vec<String> = spans
            .iter()
            .map(|span| {
                let attributes: Vec<String> =
                    span.attributes.iter().map(|kv| format!("{}={:?}", kv.key, attribute(span, &kv.key))).collect();
                format!("{} {{{}}}", span.name, attributes.join(", "))
            })
            .collect();
        assert!(Instant::now() < deadline, "the collector got no request and transition spans: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(request.name, "GET /api/instances/{id}/wait");
    assert_eq!(attribute(&request, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(transition.name, "transition call-processing");
    assert_eq!(attribute(&transition, "workflow").as_deref(), Some("call-processing"));
    assert!(attribute(&transition, "state").is_some(), "the state is named");
    state.events.shut_down();
}
