//! A property-based fuzz of the HTTP surface: every POST route of the permission table
//! (`auth::policy::RULES`) gets arbitrary bytes, arbitrary JSON and near-valid bodies (a valid body with
//! one field replaced by anything), and every GET route arbitrary query strings. Whatever arrives, the
//! answer comes in bounded time, is never a 5xx, and every error has the documented JSON shape.
//!
//! The figures (cases tried per kind, the slowest answer) are printed for the release note.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

use switchboard::auth::policy::RULES;
use switchboard::services::{RecordingService, Registry};

/// Cases per route and kind of input.
const CASES: u32 = 48;
/// The slowest an answer may be, even to the worst input.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// A valid body per POST route (the near-valid cases mutate one field of it).
fn valid_body(path: &str) -> Value {
    match path {
        "/api/auth/sign-in" => json!({"username": "admin", "password": "not the password"}),
        "/api/definitions" => crate::support::call_saga(),
        "/api/instances" => json!({"workflow": "call-processing", "input": {"call_id": "c-1", "number": 1}}),
        "/api/instances/bulk" => json!({"action": "pause", "reason": "fuzz", "filter": {"status": "running"}, "preview": true}),
        "/api/instances/{id}/{action}" => json!({"reason": "fuzz"}),
        "/api/interventions/bulk-resolve" => json!({"ids": ["x"], "resolution": {"action": "abort"}, "reason": "fuzz"}),
        "/api/interventions/{id}/assign" => json!({"assignee": "admin"}),
        "/api/interventions/{id}/resolve" => json!({"resolution": {"action": "abort"}, "reason": "fuzz"}),
        "/api/sla/targets" | "/api/sla/targets/{id}" => {
            json!({"workflow": "call-processing", "metric": "p95_duration_ms", "threshold": 1000.0, "window_ms": 3_600_000})
        }
        "/api/services/{name}/breaker" => json!({"action": "trip", "reason": "fuzz"}),
        "/api/services/{name}/faults" => json!({"failure_rate": 0.0, "timeout_rate": 0.0, "lost_reply_rate": 0.0}),
        "/api/schedules/{name}" => json!({"workflow": "call-processing", "cron": "0 * * * *", "input": {"call_id": "c", "number": 1}}),
        "/api/users" => json!({"username": "fuzzed", "display_name": "Fuzz", "role": "viewer", "password": "a long enough password"}),
        "/api/users/{username}" => json!({"role": "viewer"}),
        "/api/tokens" => json!({"name": "fuzz", "role": "viewer"}),
        _ => json!({}),
    }
}

/// A concrete path for a route pattern.
fn concrete(path: &str, instance: &str) -> String {
    path.replace("{id}", instance)
        .replace("{action}", "pause")
        .replace("{name}", "calls")
        .replace("{username}", "admin")
        .replace("{version}", "1")
        .replace("{workflow}", "call-processing")
        .replace("{*rest}", "no-such-function")
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(100_000))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What a fuzz run saw.
#[derive(Default)]
struct Figures {
    requests: u64,
    slowest: Duration,
    slowest_request: String,
    by_status: std::collections::BTreeMap<u16, u64>,
}

struct Target {
    router: Router,
    /// The database's folder, removed when the target is dropped.
    _database: crate::support::TempSqlite,
    runtime: tokio::runtime::Runtime,
    instance: String,
    figures: Arc<Mutex<Figures>>,
}

impl Target {
    fn send(&self, method: Method, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> Result<(), TestCaseError> {
        let mut builder = Request::builder().method(method.clone()).uri(uri);
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let Ok(request) = builder.body(Body::from(body)) else { return Ok(()) }; // not even a request
        let started = Instant::now();
        let (status, content_type, bytes) = self.runtime.block_on(async {
            let answer = tokio::time::timeout(ANSWER_WITHIN, self.router.clone().oneshot(request)).await;
            let response = answer.unwrap_or_else(|_| panic!("{method} {uri}: no answer within {ANSWER_WITHIN:?}")).unwrap();
            let status = response.status();
            let content_type =
                response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let bytes = response.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
            (status, content_type, bytes)
        });
        let took = started.elapsed();
        {
            let mut figures = self.figures.lock().unwrap();
            figures.requests += 1;
            *figures.by_status.entry(status.as_u16()).or_default() += 1;
            if took > figures.slowest {
                figures.slowest = took;
                figures.slowest_request = format!("{method} {}", uri.chars().take(80).collect::<String>());
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(!status.is_server_error(), "{method} {uri} answered {status}: {text}");
        if status.is_client_error() {
            prop_assert_eq!(content_type.as_deref(), Some("application/json"), "{} {}: {}", method, uri, text);
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            prop_assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{}: {}", uri, text);
        }
        Ok(())
    }
}

fn target() -> Target {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let temp = crate::support::TempSqlite::new();
    let (router, instance) = runtime.block_on(async {
        let mut registry = Registry::new();
        registry.register("calls", Arc::new(RecordingService::new(&crate::support::CALL_ACTIONS)));
        let state = crate::support::state_with(&temp.url, registry).await;
        state.runtime.register_definition(crate::support::call_saga(), "test").await.expect("the saga");
        let router = crate::support::admin_router(&state);
        let started = router
            .clone()
            .oneshot(
                Request::post("/api/instances")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(valid_body("/api/instances").to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(started.status(), StatusCode::CREATED);
        let body: Value = serde_json::from_slice(&started.into_body().collect().await.unwrap().to_bytes()).unwrap();
        (router, body["id"].as_str().unwrap().to_string())
    });
    Target { router, _database: temp, runtime, instance, figures: Arc::default() }
}

fn post_routes() -> Vec<&'static str> {
    RULES.iter().filter(|rule| rule.method == "POST").map(|rule| rule.path).collect()
}

fn get_routes() -> Vec<&'static str> {
    RULES.iter().filter(|rule| rule.method == "GET" && rule.path != "/api/events").map(|rule| rule.path).collect()
}

fn report(kind: &str, figures: &Mutex<Figures>) {
    let figures = figures.lock().unwrap();
    eprintln!(
        "fuzz ({kind}): {} requests, statuses {:?}, slowest {:.1} ms ({})",
        figures.requests,
        figures.by_status,
        figures.slowest.as_secs_f64() * 1000.0,
        figures.slowest_request
    );
}

#[test]
fn arbitrary_bytes_to_every_post_route() {
    let target = target();
    for path in post_routes() {
        let uri = concrete(path, &target.instance);
        let config = ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(body in prop::collection::vec(any::<u8>(), 0..2048), json in any::<bool>())| {
            let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
            target.send(Method::POST, &uri, Some(content_type), body)?;
        });
    }
    report("bytes", &target.figures);
}

#[test]
fn arbitrary_json_to_every_post_route() {
    let target = target();
    for path in post_routes() {
        let uri = concrete(path, &target.instance);
        let config = ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(value in any_json())| {
            target.send(Method::POST, &uri, Some("application/json"), value.to_string().into_bytes())?;
        });
    }
    report("json", &target.figures);
}

#[test]
fn near_valid_bodies_to_every_post_route() {
    let target = target();
    for path in post_routes() {
        let uri = concrete(path, &target.instance);
        let valid = valid_body(path);
        let fields: Vec<String> = valid.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        if fields.is_empty() {
            continue;
        }
        let config = ProptestConfig { cases: CASES * 2, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(index in 0..fields.len(), value in any_json(), drop_it in any::<bool>())| {
            let mut body = valid.clone();
            let object = body.as_object_mut().unwrap();
            if drop_it { object.remove(&fields[index]); } else { object.insert(fields[index].clone(), value); }
            target.send(Method::POST, &uri, Some("application/json"), body.to_string().into_bytes())?;
        });
    }
    report("near-valid", &target.figures);
}

#[test]
fn arbitrary_queries_to_every_get_route() {
    let target = target();
    for path in get_routes() {
        let base = concrete(path, &target.instance);
        let config = ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(name in "[a-z_]{1,10}", value in "\\PC{0,60}", period in "\\PC{0,6}")| {
            let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let uri = format!("{base}?{}={}&period={}", encode(&name), encode(&value), encode(&period));
            target.send(Method::GET, &uri, None, Vec::new())?;
        });
    }
    report("queries", &target.figures);
}
