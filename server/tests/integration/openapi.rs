//! The OpenAPI document (`GET /api/openapi.json`, `server/src/http/openapi.rs`) against the code: it is
//! OpenAPI 3.1; its operations are exactly the route table's (`auth::policy::RULES`) minus the
//! documented exclusions, each with the table's permission; every `$ref` resolves; and real answers of
//! the router — successes and errors, on SQLite and PostgreSQL — match the schemas the document gives
//! for their status and content type. A route added without a description, or a wire type changed
//! without its schema following, fails here.


use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use crate::support::reply::Reply;
use switchboard::auth::policy::{Need, RULES};
use switchboard::db::DatabaseUrl;
use switchboard::http::openapi::{need_name, PERMISSION_EXTENSION, UNDOCUMENTED};
use switchboard::services::{RecordingService, Registry};

const HOST: &str = "switchboard.test";
const ORIGIN: &str = "http://switchboard.test";

async fn get(router: &Router, uri: &str) -> Reply {
    let request = Request::get(uri).header(header::HOST, HOST).body(Body::empty()).unwrap();
    Reply::exchange(router, request).await
}

async fn post(router: &Router, uri: &str, body: Value) -> Reply {
    let request = Request::post(uri)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    Reply::exchange(router, request).await
}

/// The document as served to a signed-in caller.
async fn served_document(router: &Router) -> Value {
    let reply = get(router, "/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    reply.body
}

/// Every (method, path) → operation of the document.
fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            found.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    found
}

/// `#/a/b` resolved in `document`.
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

/// Follows a `$ref` (if `value` is one) to what it names.
fn follow<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(document, reference).unwrap_or_else(|| panic!("{reference} does not resolve")),
        None => value,
    }
}

fn every_ref(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => found.push(reference.clone()),
                    _ => every_ref(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| every_ref(item, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_exactly_the_route_table_with_its_permissions() {
    let temp = crate::support::TempSqlite::new();
    let state = crate::support::state_with(&temp.url, Registry::new()).await;
    let document = served_document(&crate::support::router_as(&state, app::wire::Role::Support)).await;

    let version = document["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.1."), "OpenAPI 3.1, not {version}");
    assert_eq!(document["info"]["title"], "Switchboard API");

    let documented: BTreeSet<(String, String)> =
        operations(&document).into_iter().map(|(method, path, _)| (method, path)).collect();
    let left_out: BTreeSet<(&str, &str)> = UNDOCUMENTED.iter().map(|(method, path, _)| (*method, *path)).collect();
    let table: BTreeSet<(String, String)> = RULES
        .iter()
        .filter(|rule| !left_out.contains(&(rule.method, rule.path)))
        .map(|rule| (rule.method.to_string(), rule.path.to_string()))
        .collect();
    let undescribed: Vec<_> = table.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&table).collect();
    assert!(undescribed.is_empty(), "routes of the table missing from the document: {undescribed:?}");
    assert!(unknown.is_empty(), "operations the table does not have: {unknown:?}");
    for (method, path, _) in UNDOCUMENTED {
        assert!(
            RULES.iter().any(|rule| rule.method == *method && rule.path == *path),
            "{method} {path} is not a route"
        );
        let description = document["info"]["description"].as_str().unwrap();
        assert!(description.contains(&format!("`{method} {path}`")), "the description names {method} {path}");
    }

    for (method, path, operation) in operations(&document) {
        let rule = RULES.iter().find(|rule| rule.method == method && rule.path == path).unwrap();
        let name = format!("{method} {path}");
        assert_eq!(operation[PERMISSION_EXTENSION], need_name(rule.need).as_str(), "{name}");
        let security = operation["security"].as_array().unwrap_or_else(|| panic!("{name}: security"));
        match rule.need {
            Need::Public => assert_eq!(security, &[json!({})], "{name} needs nobody"),
            Need::SignedIn => assert_eq!(security, &[json!({"session": []}), json!({"token": []})], "{name}"),
            Need::Permission(_) => {
                let permission = need_name(rule.need);
                let expected = [json!({"session": [permission]}), json!({"token": [permission]})];
                assert_eq!(security, &expected, "{name}");
                assert!(operation["responses"]["403"].is_object(), "{name} can be forbidden");
            }
        }
        if rule.need != Need::Public {
            assert!(operation["responses"]["401"].is_object(), "{name} can be unauthorised");
        }
        let description = operation["description"].as_str().unwrap_or_default();
        assert!(description.contains("Permission: "), "{name} says its permission in words");
        for parameter in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            let declared = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["in"] == "path" && p["name"] == parameter && p["required"] == true);
            assert!(declared, "{name} declares its path parameter {parameter}");
        }
        let successes = operation["responses"].as_object().unwrap().keys().filter(|s| s.starts_with('2')).count();
        assert!(successes > 0, "{name} has a success answer");
    }

    let content = |method: &str, path: &str, kind: &str| {
        let operation = &document["paths"][path][method];
        operation["responses"]["200"]["content"].get(kind).is_some()
    };
    assert!(content("get", "/api/events", "text/event-stream"), "the live feed is an event stream");
    assert!(content("get", "/api/charts/throughput.svg", "image/svg+xml"), "charts are SVG");

    let mut references = Vec::new();
    every_ref(&document, &mut references);
    assert!(references.len() > 50, "the document refers to its components");
    for reference in references {
        assert!(resolve(&document, &reference).is_some(), "{reference} does not resolve");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_for_signed_in_callers() {
    let temp = crate::support::TempSqlite::new();
    let state = crate::support::state_with(&temp.url, Registry::new()).await;
    let reply = get(&switchboard::http::router(state), "/api/openapi.json").await;
    reply.error(StatusCode::UNAUTHORIZED, "unauthorized", &[], &[]);
}

/// Checks `reply` against the document's answer for `method path_template` and the reply's status:
/// the content type is one the document lists, and a JSON body validates against its schema.
#[track_caller]
fn check(document: &Value, method: &str, template: &str, reply: &Reply) {
    let problems = problems(document, method, template, reply);
    assert!(
        problems.is_empty(),
        "{method} {template}: the answer does not match its schema: {problems:#?}\n{}",
        reply.text
    );
}

/// What does not match in `reply` (panics when the document has no answer for it at all).
#[track_caller]
fn problems(document: &Value, method: &str, template: &str, reply: &Reply) -> Vec<String> {
    let name = format!("{method} {template} → {}", reply.status.as_u16());
    let operation = &document["paths"][template][method.to_lowercase()];
    assert!(operation.is_object(), "{name}: no such operation");
    let answer =
        operation["responses"].get(reply.status.as_str()).unwrap_or_else(|| panic!("{name}: undocumented status"));
    let answer = follow(document, answer);
    let content_type = reply.content_type.as_deref().map(|t| t.split(';').next().unwrap().trim());
    let Some(content_type) = content_type else {
        assert!(answer.get("content").is_none(), "{name}: the document promises a body");
        return Vec::new();
    };
    let media = answer["content"].get(content_type).unwrap_or_else(|| panic!("{name}: {content_type} undocumented"));
    if content_type != "application/json" {
        return Vec::new();
    }
    // The schema, with the components beside it so its `#/components/…` references resolve.
    let mut schema = media["schema"].clone();
    schema["components"] = document["components"].clone();
    let validator = jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{name}: the schema: {e}"));
    validator.iter_errors(&reply.body).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// Checks a request body the server accepts against the document's request schema for `method path`.
#[track_caller]
fn check_request(document: &Value, method: &str, template: &str, body: &Value) {
    let operation = &document["paths"][template][method.to_lowercase()];
    let mut schema = operation["requestBody"]["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {template} documents its body");
    schema["components"] = document["components"].clone();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
    let problems: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(problems.is_empty(), "{method} {template}: an accepted body does not match its schema: {problems:#?}");
}

async fn real_answers_match_their_schemas(url: DatabaseUrl) {
    let mut registry = Registry::new();
    registry.register("calls", Arc::new(RecordingService::new(&crate::support::CALL_ACTIONS)));
    let state = crate::support::state_with(&url, registry).await;
    let router = crate::support::admin_router(&state);
    let document = served_document(&router).await;
    let check = |method: &str, template: &str, reply: &Reply| check(&document, method, template, reply);

    let registered = post(&router, "/api/definitions", crate::support::call_saga()).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.text);
    check("POST", "/api/definitions", &registered);
    let start = json!({"workflow": "call-processing", "input": {"call_id": "c-1", "number": 1}});
    check_request(&document, "POST", "/api/instances", &start);
    let started = post(&router, "/api/instances", start).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    check("POST", "/api/instances", &started);
    let id = started.body["id"].as_str().expect("an id").to_string();
    let settled = get(&router, &format!("/api/instances/{id}/wait?timeout_ms=20000")).await;
    assert_eq!(settled.body["status"], "completed", "{}", settled.text);
    check("GET", "/api/instances/{id}/wait", &settled);

    for (uri, template) in [
        ("/api/health".to_string(), "/api/health"),
        ("/api/health/live".to_string(), "/api/health/live"),
        ("/api/auth/me".to_string(), "/api/auth/me"),
        ("/api/cluster/nodes".to_string(), "/api/cluster/nodes"),
        ("/api/definitions".to_string(), "/api/definitions"),
        ("/api/definitions/call-processing".to_string(), "/api/definitions/{name}"),
        ("/api/definitions/call-processing/versions/1".to_string(), "/api/definitions/{name}/versions/{version}"),
        ("/api/instances".to_string(), "/api/instances"),
        ("/api/instances?status=completed&limit=1".to_string(), "/api/instances"),
        (format!("/api/instances/{id}"), "/api/instances/{id}"),
        (format!("/api/instances/{id}/history"), "/api/instances/{id}/history"),
        (format!("/api/instances/{id}/steps"), "/api/instances/{id}/steps"),
        ("/api/interventions".to_string(), "/api/interventions"),
        ("/api/interventions/counts".to_string(), "/api/interventions/counts"),
        ("/api/monitoring/metrics".to_string(), "/api/monitoring/metrics"),
        ("/api/monitoring/dashboard".to_string(), "/api/monitoring/dashboard"),
        ("/api/monitoring/throughput".to_string(), "/api/monitoring/throughput"),
        ("/api/monitoring/states/call-processing".to_string(), "/api/monitoring/states/{workflow}"),
        ("/api/monitoring/bottlenecks".to_string(), "/api/monitoring/bottlenecks"),
        ("/api/sla/targets".to_string(), "/api/sla/targets"),
        ("/api/sla/report".to_string(), "/api/sla/report"),
        ("/api/sla/breaches".to_string(), "/api/sla/breaches"),
        ("/api/charts/throughput.svg".to_string(), "/api/charts/throughput.svg"),
        ("/api/services".to_string(), "/api/services"),
        ("/api/schedules".to_string(), "/api/schedules"),
        ("/api/users".to_string(), "/api/users"),
        ("/api/tokens".to_string(), "/api/tokens"),
        ("/api/audit".to_string(), "/api/audit"),
    ] {
        let reply = get(&router, &uri).await;
        assert!(reply.status.is_success(), "GET {uri}: {}", reply.text);
        check("GET", template, &reply);
    }

    // The check can fail: answers with a required key taken away, or of the wrong type, do not match.
    let mut page = get(&router, "/api/instances").await;
    page.body["items"][0].as_object_mut().unwrap().remove("workflow");
    assert!(!problems(&document, "GET", "/api/instances", &page).is_empty(), "an item without its workflow");
    let mut page = get(&router, "/api/instances").await;
    page.body["items"][0]["paused"] = json!("no");
    assert!(!problems(&document, "GET", "/api/instances", &page).is_empty(), "a string for a boolean");

    let target = json!({"workflow": "call-processing", "metric": "completion_rate", "threshold": 0.9,
                        "window_ms": 86_400_000, "description": "nine in ten calls connect"});
    check_request(&document, "POST", "/api/sla/targets", &target);
    let created = post(&router, "/api/sla/targets", target).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    check("POST", "/api/sla/targets", &created);

    // Errors, in the one error shape, with the statuses the document names.
    let mut missing = get(&router, "/api/instances/no-such-id").await;
    missing.error(StatusCode::NOT_FOUND, "not_found", &[], &[]);
    check("GET", "/api/instances/{id}", &missing);
    missing.body = json!({"message": "not the error shape"});
    assert!(!problems(&document, "GET", "/api/instances/{id}", &missing).is_empty(), "errors have one shape");
    let unreadable = get(&router, "/api/instances?limit=ten").await;
    unreadable.error(StatusCode::BAD_REQUEST, "invalid_request", &[], &[]);
    check("GET", "/api/instances", &unreadable);
    let invalid =
        post(&router, "/api/instances", json!({"workflow": "call-processing", "input": {"call_id": 7}})).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", invalid.text);
    check("POST", "/api/instances", &invalid);
    check_request(&document, "POST", "/api/instances/{id}/{action}", &json!({"reason": "too late"}));
    let finished = post(&router, &format!("/api/instances/{id}/pause"), json!({"reason": "too late"})).await;
    finished.error(StatusCode::CONFLICT, "conflict", &[], &[]);
    check("POST", "/api/instances/{id}/{action}", &finished);
    let forbidden = get(&crate::support::router_as(&state, app::wire::Role::Support), "/api/users").await;
    forbidden.error(StatusCode::FORBIDDEN, "forbidden", &[], &[]);
    check("GET", "/api/users", &forbidden);
    let signed_out = get(&switchboard::http::router(state.clone()), "/api/instances").await;
    signed_out.error(StatusCode::UNAUTHORIZED, "unauthorized", &[], &[]);
    check("GET", "/api/instances", &signed_out);
}
on_both!(real_answers_match_their_schemas);
