//! Hostile and careless input to the JSON API: every input here once crashed the process, answered
//! 500 or plain text, or was accepted with a dangerous meaning. Each must now be refused with a 4xx in
//! the documented error shape, naming what is wrong — and starting a run must leave an audit entry.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use crate::support::reply::Reply;
use switchboard::db::DatabaseUrl;
use switchboard::services::{RecordingService, Registry};
use switchboard::state::AppState;

async fn app(url: &DatabaseUrl) -> (AppState, Router) {
    let mut registry = Registry::new();
    registry.register("calls", Arc::new(RecordingService::new(&crate::support::CALL_ACTIONS)));
    let state = crate::support::state_with(url, registry).await;
    state.runtime.register_definition(crate::support::call_saga(), "test").await.expect("the saga registers");
    let router = crate::support::admin_router(&state);
    (state, router)
}

fn request(method: Method, uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).expect("a request")
}

async fn get(router: &Router, uri: &str) -> Reply {
    Reply::exchange(router, request(Method::GET, uri, None, Body::empty())).await
}

async fn post_json(router: &Router, uri: &str, body: impl Into<Body>) -> Reply {
    Reply::exchange(router, request(Method::POST, uri, Some("application/json"), body)).await
}

async fn start_call(router: &Router, number: i64) -> Value {
    let body = json!({"workflow": "call-processing", "input": {"call_id": format!("call-{number}"), "number": number}});
    let reply = post_json(router, "/api/instances", body.to_string()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body
}

/// Every route that takes a period refuses one ending in a multi-byte character (it panicked on a char
/// boundary), and the bottlenecks page still renders.
async fn periods_ending_in_multi_byte_characters(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    let routes = [
        "/api/monitoring/metrics",
        "/api/monitoring/dashboard",
        "/api/monitoring/throughput",
        "/api/monitoring/states/call-processing",
        "/api/monitoring/bottlenecks",
        "/api/charts/throughput.svg",
        "/api/charts/steps.svg?workflow=call-processing",
    ];
    for route in routes {
        for period in ["1%C3%A9", "%F0%9F%94%A5", "7d%C3%A9"] {
            let separator = if route.contains('?') { '&' } else { '?' };
            let reply = get(&router, &format!("{route}{separator}period={period}")).await;
            reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["period"], &["period"]);
        }
    }
    let page = get(&router, "/bottlenecks?period=%F0%9F%94%A5").await;
    assert_eq!(page.status, StatusCode::OK, "the page renders and says what is wrong");
    assert!(page.text.contains("</html>"), "a whole page: {}", page.text.len());
}
on_both!(periods_ending_in_multi_byte_characters);

/// A 50,000-character error filter answered 500 ("LIKE or GLOB pattern too complex").
async fn long_filter_texts_are_refused(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    let long = "x".repeat(50_000);
    let reply = get(&router, &format!("/api/instances?error={long}")).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &[], &["error"]);
    let reply = get(&router, &format!("/api/instances?key={0}&workflow={0}", "k".repeat(20_000))).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &[], &["key", "workflow"]);
    let body = json!({"action": "cancel", "reason": "r", "filter": {"error": long}, "preview": true});
    let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["filter.error"], &["filter.error"]);
    let fine = get(&router, &format!("/api/instances?error={}", "x".repeat(200))).await;
    assert_eq!(fine.status, StatusCode::OK, "200 characters are fine: {}", fine.text);
}
on_both!(long_filter_texts_are_refused);

/// `filter: []` selected every instance; an empty filter must be confirmed with `all: true`.
async fn bulk_filters_must_be_objects_and_all_must_be_said(url: DatabaseUrl) {
    let (state, router) = app(&url).await;
    for number in 1..=3 {
        start_call(&router, number).await;
    }
    for filter in [json!([]), json!("all"), json!(1), json!([{"status": "running"}])] {
        let body = json!({"action": "cancel", "reason": "r", "filter": filter});
        let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
        reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["filter", "object"], &["filter"]);
    }
    let body = json!({"action": "cancel", "reason": "r", "filter": {}});
    let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["all"], &["all"]);
    let body = json!({"action": "cancel", "reason": "r", "filter": {"status": "running"}, "all": true});
    let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["all"], &["all"]);
    let body = json!({"action": "cancel", "reason": "r", "ids": ["a"], "all": true});
    let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["all"], &["all"]);
    // A wrong type inside the filter is located.
    let body = json!({"action": "cancel", "reason": "r", "filter": {"version": "two"}, "preview": true});
    let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["version"], &["filter.version"]);

    // Counting everything needs no confirmation; acting on everything does, and then it works.
    let body = json!({"action": "pause", "reason": "r", "filter": {}, "preview": true});
    let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["matched"], 3);
    let counts = state.runtime.store().count_by_status().await.expect("counts");
    assert!(counts.iter().all(|(status, _)| status != "cancelled"), "nothing was cancelled: {counts:?}");
    let body = json!({"action": "pause", "reason": "r", "filter": {}, "all": true});
    let reply = post_json(&router, "/api/instances/bulk", body.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["matched"], 3);
}
on_both!(bulk_filters_must_be_objects_and_all_must_be_said);

/// `{…} this is not JSON` was accepted on every JSON endpoint; deep nesting is refused by name.
async fn one_json_value_and_nothing_after_it(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    let body = r#"{"workflow": "call-processing", "input": {"call_id": "c", "number": 1}} this is not JSON"#;
    let reply = post_json(&router, "/api/instances", body).await;
    reply.error(StatusCode::BAD_REQUEST, "invalid_request", &["not valid json"], &[]);
    let reply = post_json(&router, "/api/instances", format!("{} {{}}", json!({"workflow": "x"}))).await;
    reply.error(StatusCode::BAD_REQUEST, "invalid_request", &["not valid json"], &[]);
    let trailing_space = format!("{}  \n", json!({"workflow": "call-processing", "input": {"call_id": "c", "number": 1}}));
    let reply = post_json(&router, "/api/instances", trailing_space).await;
    assert_eq!(reply.status, StatusCode::CREATED, "whitespace after the body is fine: {}", reply.text);

    let deep = format!(
        r#"{{"workflow": "call-processing", "input": {}{}}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let reply = post_json(&router, "/api/instances", deep).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
    let field = reply.body["error"]["fields"][0]["field"].as_str().unwrap_or_default();
    assert!(field.starts_with("input[0][0]") && field.len() < 80, "the field is named, briefly: {field}");
    assert!(reply.body["error"]["message"].as_str().unwrap_or_default().contains("levels deep"), "{}", reply.text);
}
on_both!(one_json_value_and_nothing_after_it);

/// Errors made before a handler runs (a path segment that is not UTF-8, a server function's body) come
/// in the same JSON shape with a 4xx.
async fn every_error_is_json_with_a_client_status(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    for uri in ["/api/instances/%FF/pause", "/api/instances/%FF/history", "/api/definitions/%FF%FE"] {
        let method = if uri.ends_with("pause") { Method::POST } else { Method::GET };
        let body = if method == Method::POST { r#"{"reason": "r"}"# } else { "" };
        let reply = Reply::exchange(&router, request(method, uri, Some("application/json"), body)).await;
        assert!(reply.status.is_client_error(), "{uri}: {}", reply.status);
        reply.error(reply.status, "invalid_request", &[], &[]);
    }
    for function in ["/api/system_info", "/api/instance_counts"] {
        let form = Some("application/x-www-form-urlencoded");
        let fine = Reply::exchange(&router, request(Method::POST, function, form, Body::empty())).await;
        assert_eq!(fine.status, StatusCode::OK, "{function}: {}", fine.text);
        let bad = Reply::exchange(&router, request(Method::POST, function, form, "%%%garbage=\u{1}")).await;
        bad.error(StatusCode::BAD_REQUEST, "invalid_request", &["no arguments"], &[]);
        let huge = vec![b'a'; 10 * 1024 * 1024];
        let reply = Reply::exchange(&router, request(Method::POST, function, form, huge)).await;
        reply.error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", &["larger than"], &[]);
    }
}
on_both!(every_error_is_json_with_a_client_status);

/// An assign body `{}` unassigned; `assignee` is required (null unassigns).
async fn assign_requires_the_assignee(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    let reply = post_json(&router, "/api/interventions/nope/assign", "{}").await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["assignee"], &["assignee"]);
}
on_both!(assign_requires_the_assignee);

/// Monitoring reads of a workflow that does not exist answer 404, as documented.
async fn unknown_workflows_are_not_found(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    for route in [
        "/api/monitoring/throughput?workflow=nope",
        "/api/monitoring/metrics?workflow=nope",
        "/api/monitoring/bottlenecks?workflow=nope",
        "/api/charts/throughput.svg?workflow=nope",
        "/api/charts/steps.svg?workflow=nope",
    ] {
        get(&router, route).await.error(StatusCode::NOT_FOUND, "not_found", &["nope"], &[]);
    }
    assert_eq!(get(&router, "/api/monitoring/throughput?workflow=call-processing").await.status, StatusCode::OK);
}
on_both!(unknown_workflows_are_not_found);

/// Who started a run is on its `started` entry and in the audit trail, written with the start.
async fn starts_are_audited(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    let started = start_call(&router, 7).await;
    let id = started["id"].as_str().expect("an id");
    let history = get(&router, &format!("/api/instances/{id}/history")).await;
    assert_eq!(history.body[0]["event"], "started", "{}", history.text);
    assert_eq!(history.body[0]["actor"], "test-admin", "{}", history.text);
    let audit = get(&router, "/api/audit?action=instance.start").await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    let entries = audit.body["entries"].as_array().cloned().unwrap_or_default();
    let entry = entries.iter().find(|entry| entry["target_id"] == id).unwrap_or_else(|| panic!("{}", audit.text));
    assert_eq!(entry["actor"], "test-admin");
    assert_eq!(entry["after"]["workflow"], "call-processing");
    assert_eq!(entry["after"]["business_keys"]["input.call_id"], "call-7", "{}", audit.text);
}
on_both!(starts_are_audited);

/// A definition's own SLA targets are checked like submitted ones: `p42` was stored and never judged.
async fn definition_sla_targets_are_checked(url: DatabaseUrl) {
    let (_, router) = app(&url).await;
    let mut definition = crate::support::call_saga();
    definition["name"] = json!("with-targets");
    definition["sla"] = json!([{"metric": "p42", "threshold": 1.0, "window_ms": 3_600_000}]);
    let reply = post_json(&router, "/api/definitions", definition.to_string()).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &[], &["sla[0].metric"]);
    let missing = get(&router, "/api/definitions/with-targets").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "nothing was stored");
}
on_both!(definition_sla_targets_are_checked);
