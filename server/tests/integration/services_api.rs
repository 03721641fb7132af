//! The services API's call statistics and circuit breaker controls, on SQLite and PostgreSQL, through the
//! state `switchboard serve` builds (the simulated marketplace services, whose faults can be injected):
//! `GET /api/services` counts every call the registry makes (latency percentiles, error rate, recent
//! failures newest first), and `POST /api/services/{name}/breaker` trips and resets a breaker.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use engine::ErrorKind;
use crate::support::reply::Reply;
use switchboard::db::DatabaseUrl;
use switchboard::serve::build_state;
use switchboard::services::{ServiceRequest, ServiceResult};
use switchboard::state::AppState;

async fn market(url: &DatabaseUrl) -> (AppState, Router) {
    let state = build_state(&crate::support::serve_args(url, PathBuf::from("target/site")))
        .await
        .expect("application state with the marketplace");
    let router = crate::support::admin_router(&state);
    (state, router)
}

async fn get(router: &Router, uri: &str) -> Reply {
    Reply::exchange(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn send(router: &Router, method: &str, uri: &str, body: &Value) -> Reply {
    eprintln!("{method} {uri} {body}");
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    Reply::exchange(router, request).await
}

/// The entry of `GET /api/services` for `name`.
async fn service(router: &Router, name: &str) -> Value {
    let list = get(router, "/api/services").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    list.body.as_array().expect("a list").iter().find(|s| s["name"] == name).expect("listed").clone()
}

fn faults(failure_rate: f64) -> Value {
    json!({"latency": {"p50_ms": 0, "p99_ms": 0}, "failure_rate": failure_rate, "timeout_rate": 0.0,
           "lost_reply_rate": 0.0})
}

/// One `notifications.send` through the registry, as the runtime makes it; `channel: "pigeon"` is refused
/// by the service (a permanent error).
async fn notify(state: &AppState, key: &str, channel: &str) -> ServiceResult {
    let request = ServiceRequest {
        action: "send".into(),
        input: json!({"recipient": "ops@leads.test", "channel": channel, "template": "welcome"}),
        idempotency_key: key.into(),
        timeout: Duration::from_secs(10),
        origin: Default::default(),
    };
    state.runtime.services().call("notifications", request, state.runtime.now_ms()).await
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("a number, got {value}"))
}

async fn calls_are_counted_and_injected_failures_raise_the_error_rate(url: DatabaseUrl) {
    let (state, api) = market(&url).await;

    let idle = service(&api, "notifications").await;
    assert_eq!(
        idle["calls"],
        json!({"window_secs": 300, "calls": 0, "failures": 0, "error_rate": 0.0, "latency_p50_ms": null,
               "latency_p95_ms": null, "latency_p99_ms": null, "calls_per_minute": 0.0, "recent_failures": []})
    );

    for i in 0..4 {
        notify(&state, &format!("ok-{i}"), "email").await.expect("the simulated service answers");
    }
    let healthy = service(&api, "notifications").await["calls"].clone();
    assert_eq!((healthy["calls"].as_u64(), healthy["failures"].as_u64()), (Some(4), Some(0)), "{healthy}");
    assert_eq!(healthy["error_rate"], 0.0);
    let (p50, p95, p99) =
        (number(&healthy["latency_p50_ms"]), number(&healthy["latency_p95_ms"]), number(&healthy["latency_p99_ms"]));
    assert!(0.0 <= p50 && p50 <= p95 && p95 <= p99, "percentiles in order: {healthy}");
    assert_eq!(healthy["calls_per_minute"], 4.0, "under a minute of history counts as one minute");
    assert_eq!(healthy["recent_failures"], json!([]));
    assert_eq!(service(&api, "ledger").await["calls"]["calls"], 0, "counted per service");

    // A refused input first (permanent), then injected failures (retryable).
    let refused = notify(&state, "bad-1", "pigeon").await.expect_err("pigeon is no channel");
    assert_eq!(refused.kind, ErrorKind::Permanent);
    let set = send(&api, "POST", "/api/services/notifications/faults", &faults(1.0)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    for i in 0..2 {
        let error = notify(&state, &format!("down-{i}"), "email").await.expect_err("every call fails now");
        assert_eq!(error.kind, ErrorKind::Retryable);
    }

    let failing = service(&api, "notifications").await;
    let calls = &failing["calls"];
    assert_eq!((calls["calls"].as_u64(), calls["failures"].as_u64()), (Some(7), Some(3)), "{calls}");
    assert!((number(&calls["error_rate"]) - 3.0 / 7.0).abs() < 1e-9, "{calls}");
    let recent = calls["recent_failures"].as_array().expect("a list");
    let kinds: Vec<&str> = recent.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["retryable", "retryable", "permanent"], "newest first: {calls}");
    assert!(recent.iter().all(|f| f["action"] == "send"));
    assert!(recent[0]["error"].as_str().unwrap().contains("simulated failure"), "{calls}");
    assert!(recent[2]["error"].as_str().unwrap().contains("channel"), "{calls}");
    let times: Vec<&str> = recent.iter().map(|f| f["at"].as_str().unwrap()).collect();
    for at in &times {
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.len() == 24 && at.ends_with('Z'), "{at}");
    }
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "newest first: {times:?}");
    assert_eq!(failing["breaker"], "closed", "two retryable failures in a row are below the threshold");
}
on_both!(calls_are_counted_and_injected_failures_raise_the_error_rate);

async fn a_tripped_breaker_refuses_calls_until_it_is_reset(url: DatabaseUrl) {
    let (state, api) = market(&url).await;
    notify(&state, "before", "email").await.expect("closed: calls pass");

    let tripped = send(&api, "POST", "/api/services/notifications/breaker", &json!({"action": "trip"})).await;
    assert_eq!(tripped.status, StatusCode::OK, "{}", tripped.text);
    assert_eq!(tripped.body["name"], "notifications");
    assert_eq!(tripped.body["breaker"], "open");
    assert_eq!(tripped.body["calls"]["calls"], 1, "the answer is the whole service status");

    let refused = notify(&state, "during", "email").await.expect_err("a tripped breaker refuses");
    assert_eq!(refused.kind, ErrorKind::CircuitOpen);
    let open = service(&api, "notifications").await;
    assert_eq!(open["breaker"], "open");
    assert_eq!((open["calls"]["calls"].as_u64(), open["calls"]["failures"].as_u64()), (Some(2), Some(1)), "{open}");
    assert_eq!(open["calls"]["recent_failures"][0]["kind"], "circuit_open", "refusals count as failures");
    assert_eq!(open["calls"]["recent_failures"][0]["error"], "the circuit breaker of `notifications` is open");

    // Long after the breaker's 30 s cool-down it still refuses, and does not read half-open.
    let later = state.runtime.now_ms() + 3_600_000;
    let registry = state.runtime.services();
    assert_eq!(registry.breaker_state("notifications", later), Some(engine::breaker::BreakerState::Open));
    let request = ServiceRequest {
        action: "send".into(),
        input: json!({"recipient": "ops@leads.test", "channel": "email", "template": "welcome"}),
        idempotency_key: "an-hour-later".into(),
        timeout: Duration::from_secs(10),
        origin: Default::default(),
    };
    let probe = registry.call("notifications", request, later).await.expect_err("no half-open probe");
    assert_eq!(probe.kind, ErrorKind::CircuitOpen);
    assert_eq!(service(&api, "ledger").await["breaker"], "closed", "one breaker per service");

    let reset = send(&api, "POST", "/api/services/notifications/breaker", &json!({"action": "reset"})).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert_eq!(reset.body["breaker"], "closed");
    notify(&state, "after", "email").await.expect("reset: calls pass again");
    assert_eq!(service(&api, "notifications").await["breaker"], "closed");
}
on_both!(a_tripped_breaker_refuses_calls_until_it_is_reset);

async fn reset_closes_a_breaker_that_failures_opened(url: DatabaseUrl) {
    let (state, api) = market(&url).await;
    send(&api, "POST", "/api/services/notifications/faults", &faults(1.0)).await;
    for i in 0..5 {
        notify(&state, &format!("down-{i}"), "email").await.expect_err("injected failure");
    }
    assert_eq!(service(&api, "notifications").await["breaker"], "open", "five failures in a row open it");
    send(&api, "POST", "/api/services/notifications/faults", &faults(0.0)).await;
    let reset = send(&api, "POST", "/api/services/notifications/breaker", &json!({"action": "reset"})).await;
    assert_eq!(reset.body["breaker"], "closed", "{}", reset.text);
    notify(&state, "healed", "email").await.expect("calls pass without waiting out the cool-down");
}
on_both!(reset_closes_a_breaker_that_failures_opened);

async fn bad_breaker_requests_name_the_field(url: DatabaseUrl) {
    let (state, api) = market(&url).await;
    let uri = "/api/services/notifications/breaker";

    send(&api, "POST", uri, &json!({"action": "explode"})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["unknown variant", "trip", "reset"],
        &["action"],
    );
    send(&api, "POST", uri, &json!({})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["required"],
        &["action"],
    );
    send(&api, "POST", uri, &json!({"action": "trip", "force": true})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["unknown field", "force"],
        &["force"],
    );
    let broken = Request::post(uri).header(header::CONTENT_TYPE, "application/json").body(Body::from("{")).unwrap();
    Reply::exchange(&api, broken).await.error(StatusCode::BAD_REQUEST, "invalid_request", &["not valid JSON"], &[]);
    send(&api, "POST", "/api/services/nope/breaker", &json!({"action": "trip"})).await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["nope"],
        &[],
    );
    assert_eq!(service(&api, "notifications").await["breaker"], "closed", "nothing changed");
    notify(&state, "still-fine", "email").await.expect("calls pass");
}
on_both!(bad_breaker_requests_name_the_field);
