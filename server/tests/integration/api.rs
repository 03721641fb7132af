//! The workflow JSON API through the router, without a socket (`tower::ServiceExt::oneshot`), on SQLite
//! and PostgreSQL: every route of `server/src/http/api/`, every class of bad input, and the one error
//! shape `{"error": {"code", "message", "fields"}}`. `docs/api.md` quotes the responses seen here.
//!
//! Each exchange is printed (captured by the test harness; shown when a test fails, or with
//! `-- --nocapture`), which is also how the examples in the reference were taken.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use app::wire::{ApiErrorBody, LiveEvent};
use engine::{ErrorKind, ServiceError};
use switchboard::db::DatabaseUrl;
use switchboard::services::{RecordingService, Registry};
use switchboard::state::AppState;

/// How long `/wait` may hold a request in these tests (the instances settle in milliseconds).
const SETTLE_MS: u64 = 20_000;

const CALL_ACTIONS: &[&str] = &["validate", "find_buyer", "release_reservation", "connect", "disconnect"];

/// A short call saga: every step succeeds at once.
fn call_saga() -> Value {
    json!({
        "name": "call-processing",
        "description": "Validate the caller, find a buyer, connect.",
        "business_keys": ["input.call_id"],
        "input_schema": {"type": "object", "required": ["call_id", "number"],
                         "properties": {"call_id": {"type": "string"}, "number": {"type": "integer", "minimum": 1}}},
        "start_at": "validate-caller",
        "states": {
            "validate-caller": {"type": "task", "service": "calls", "action": "validate", "next": "find-buyer"},
            "find-buyer": {"type": "task", "service": "calls", "action": "find_buyer",
                           "compensation": {"service": "calls", "action": "release_reservation"}, "next": "connect-call"},
            "connect-call": {"type": "task", "service": "calls", "action": "connect", "next": "done"},
            "done": {"type": "succeed"}
        }
    })
}

/// One payment that fails (permanently, `card declined`) until the test opens the gate, and then stays
/// failed for an operator to retry or skip.
fn charge_workflow() -> Value {
    json!({
        "name": "charge",
        "business_keys": ["input.order_id"],
        "start_at": "charge",
        "states": {
            "charge": {"type": "task", "service": "payments", "action": "charge", "on_failure": "fail", "next": "ok"},
            "ok": {"type": "succeed"}
        }
    })
}

/// Reserves a buyer (compensated on cancel), then waits for a person.
fn review_workflow() -> Value {
    json!({
        "name": "payout-review",
        "start_at": "reserve",
        "states": {
            "reserve": {"type": "task", "service": "calls", "action": "find_buyer",
                        "compensation": {"service": "calls", "action": "release_reservation"}, "next": "review"},
            "review": {"type": "human", "assignee_group": "finance", "title": "Approve the payout",
                       "decisions": [{"name": "approve", "next": "paid"}]},
            "paid": {"type": "succeed"}
        }
    })
}

/// Sleeps on a timer for an hour: never settles within a test.
fn sleepy_workflow() -> Value {
    json!({
        "name": "cool-off",
        "start_at": "cool-off",
        "states": {
            "cool-off": {"type": "wait", "duration_ms": 3_600_000, "next": "done"},
            "done": {"type": "succeed"}
        }
    })
}

/// The router on a fresh database, with a `calls` service that always succeeds and a `payments` service
/// that declines until `open_gate`.
struct Api {
    router: Router,
    state: AppState,
    gate: Arc<AtomicBool>,
}

/// One answer: status, content type and the body (JSON, or `Null` when empty).
use crate::support::reply::Reply;

impl Api {
    async fn on(url: &DatabaseUrl) -> Self {
        let gate = Arc::new(AtomicBool::new(false));
        let open = gate.clone();
        let payments = RecordingService::with_behaviour(&["charge"], move |request| {
            if open.load(Ordering::SeqCst) {
                Ok(json!({"charged": request.input["amount"]}))
            } else {
                Err(ServiceError::new(ErrorKind::Permanent, "card declined"))
            }
        });
        let mut registry = Registry::new();
        registry.register("calls", Arc::new(RecordingService::new(CALL_ACTIONS)));
        registry.register("payments", Arc::new(payments));
        let state = crate::support::state_with(url, registry).await;
        Self { router: crate::support::router_for(&state, "olga", app::wire::Role::Admin), state, gate }
    }

    fn open_gate(&self) {
        self.gate.store(true, Ordering::SeqCst);
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        Reply::exchange(&self.router, request).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str, body: &Value) -> Reply {
        eprintln!("POST {uri} {body}");
        self.post_with(uri, &[], body.to_string()).await
    }

    async fn post_with(&self, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Reply {
        let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(body.into()).unwrap()).await
    }

    /// Registers a definition that must be accepted.
    async fn register(&self, definition: &Value) -> Value {
        let reply = self.post("/api/definitions", definition).await;
        assert!(reply.status.is_success(), "registration refused: {} {}", reply.status, reply.text);
        reply.body
    }

    /// Starts an instance that must be accepted; returns its detail.
    async fn start(&self, body: &Value) -> Value {
        self.post("/api/instances", body).await.expect(StatusCode::CREATED)
    }

    /// `/wait` until settled; returns the detail.
    async fn settle(&self, id: &str) -> Value {
        self.get(&format!("/api/instances/{id}/wait?timeout_ms={SETTLE_MS}")).await.expect(StatusCode::OK)
    }

    /// Every instance, newest first.
    async fn all_instances(&self) -> Vec<Value> {
        let page = self.get("/api/instances?limit=500").await.expect(StatusCode::OK);
        assert_eq!(page["next_cursor"], Value::Null, "fewer than 500 instances in a test");
        page["items"].as_array().expect("items").clone()
    }

    async fn instance_count(&self) -> usize {
        self.all_instances().await.len()
    }

    async fn history(&self, id: &str) -> Vec<Value> {
        let reply = self.get(&format!("/api/instances/{id}/history")).await;
        reply.expect(StatusCode::OK).as_array().expect("a list").clone()
    }
}

impl Reply {
    /// The body, after checking the status (and that a successful answer is JSON).
    #[track_caller]
    fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.content_type.as_deref(), Some("application/json"), "{}", self.text);
        self.body
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T22:15:03.120Z`.
#[track_caller]
fn assert_time(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("a time, got {value}"));
    assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "RFC 3339: {text}");
    assert!(text.len() == 24 && text.ends_with('Z') && text.as_bytes()[19] == b'.', "UTC with ms: {text}");
}

fn millis(value: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("RFC 3339").timestamp_millis()
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|item| item["id"].as_str().expect("an id").to_string()).collect()
}

fn id_of(detail: &Value) -> String {
    detail["id"].as_str().expect("an id").to_string()
}

// --- definitions ------------------------------------------------------------------------------------

async fn definitions_are_registered_versioned_and_read(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    assert_eq!(api.get("/api/definitions").await.expect(StatusCode::OK), json!([]));

    let first = api.post("/api/definitions", &call_saga()).await.expect(StatusCode::CREATED);
    assert_eq!(first, json!({"name": "call-processing", "version": 1, "created": true}));
    let same = api.post("/api/definitions", &call_saga()).await.expect(StatusCode::OK);
    assert_eq!(same, json!({"name": "call-processing", "version": 1, "created": false}));

    let mut changed = call_saga();
    changed["description"] = json!("Version two.");
    let second = api.post("/api/definitions", &changed).await.expect(StatusCode::CREATED);
    assert_eq!(second, json!({"name": "call-processing", "version": 2, "created": true}));
    // The server numbers versions: a `version` in the body is ignored, so this is version 2 again.
    changed["version"] = json!(7);
    let numbered = api.post("/api/definitions", &changed).await.expect(StatusCode::OK);
    assert_eq!(numbered, json!({"name": "call-processing", "version": 2, "created": false}));
    // Going back to the first body is a change too: it becomes version 3, not version 1 again.
    let back = api.post("/api/definitions", &call_saga()).await.expect(StatusCode::CREATED);
    assert_eq!(back, json!({"name": "call-processing", "version": 3, "created": true}));
    api.register(&charge_workflow()).await;

    let list = api.get("/api/definitions").await.expect(StatusCode::OK);
    assert_eq!(
        list,
        json!([
            {"name": "call-processing", "description": "Validate the caller, find a buyer, connect.",
             "latest_version": 3, "versions": [1, 2, 3]},
            {"name": "charge", "description": "", "latest_version": 1, "versions": [1]}
        ])
    );

    let versions = api.get("/api/definitions/call-processing").await.expect(StatusCode::OK);
    let versions = versions.as_array().expect("a list");
    let numbers: Vec<&Value> = versions.iter().map(|v| &v["version"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(2), &json!(3)], "oldest first");
    for version in versions {
        assert_eq!(version["name"], "call-processing");
        assert_eq!(version["created_by"], "olga", "the caller registered it");
        assert_time(&version["created_at"]);
        assert_eq!(version["definition"]["version"], version["version"], "the stored body carries its number");
        assert_eq!(version["definition"]["start_at"], "validate-caller");
    }
    assert_eq!(versions[1]["description"], "Version two.");

    let one = api.get("/api/definitions/call-processing/versions/2").await.expect(StatusCode::OK);
    assert_eq!(&one, &versions[1]);
    assert_eq!(one["definition"]["states"]["find-buyer"]["compensation"]["action"], "release_reservation");

    api.get("/api/definitions/no-such-flow").await.error(StatusCode::NOT_FOUND, "not_found", &["no-such-flow"], &[]);
    api.get("/api/definitions/no-such-flow/versions/1").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["no-such-flow"],
        &[],
    );
    api.get("/api/definitions/call-processing/versions/9").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["call-processing", "9"],
        &[],
    );
}
on_both!(definitions_are_registered_versioned_and_read);

async fn an_invalid_definition_is_refused_with_every_problem_named(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let broken = json!({
        "name": "broken",
        "start_at": "route",
        "states": {
            "route": {"type": "choice", "choices": [{"condition": "input.amount >", "next": "charge"}], "default": "done"},
            "charge": {"type": "task", "service": "no-such-service", "action": "charge", "next": "nowhere"},
            "done": {"type": "succeed"}
        }
    });
    let reply = api.post("/api/definitions", &broken).await;
    reply.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["not valid", "3 problem"],
        &["states.route.choices[0].condition", "states.charge.service", "states.charge.next"],
    );
    let fields = &reply.body["error"]["fields"];
    let message_of = |field: &str| {
        fields.as_array().unwrap().iter().find(|f| f["field"] == field).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(message_of("states.charge.next").contains("nowhere"), "{fields}");
    assert!(message_of("states.charge.service").contains("no-such-service"), "{fields}");
    assert!(message_of("states.route.choices[0].condition").contains("position"), "{fields}");

    // A definition-level problem names the top-level field.
    let mut unnamed = call_saga();
    unnamed["name"] = json!("");
    api.post("/api/definitions", &unnamed).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["not valid"],
        &["name"],
    );

    // Not a definition at all.
    api.post("/api/definitions", &json!([1, 2])).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["object"],
        &["body"],
    );
    let mut missing = call_saga();
    missing.as_object_mut().unwrap().remove("start_at");
    api.post("/api/definitions", &missing).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["start_at"],
        &["start_at"],
    );
    let mut unknown = call_saga();
    unknown["colour"] = json!("blue");
    api.post("/api/definitions", &unknown).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["colour"],
        &["colour"],
    );

    assert_eq!(api.get("/api/definitions").await.expect(StatusCode::OK), json!([]), "nothing was registered");
    api.get("/api/definitions/broken").await.error(StatusCode::NOT_FOUND, "not_found", &["broken"], &[]);
}
on_both!(an_invalid_definition_is_refused_with_every_problem_named);

/// A definition names the path of a value of the wrong type in `fields`, like every other body, down to
/// the field inside a state (issue 14: it used to stop at the state).
async fn a_definition_field_of_the_wrong_type_is_named(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let mut wrong = call_saga();
    wrong["start_at"] = json!(5);
    api.post("/api/definitions", &wrong).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["start_at"],
        &["start_at"],
    );
    let mut wrong = call_saga();
    wrong["states"]["find-buyer"]["retry"] = json!({"max_attempts": "three"});
    api.post("/api/definitions", &wrong).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["\"three\""],
        &["states.find-buyer.retry.max_attempts"],
    );
    assert_eq!(api.get("/api/definitions").await.expect(StatusCode::OK), json!([]));
}
on_both!(a_definition_field_of_the_wrong_type_is_named);

// --- request bodies -----------------------------------------------------------------------------------

async fn bodies_must_be_json_of_at_most_one_mebibyte(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&review_workflow()).await;
    let waiting = api.start(&json!({"workflow": "payout-review"})).await;
    let pause = format!("/api/instances/{}/pause", id_of(&waiting));

    for uri in ["/api/definitions", "/api/instances", pause.as_str()] {
        // Broken JSON: 400, with where it broke.
        api.post_with(uri, &[], "{,}").await.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["not valid JSON", "line 1 column 2"],
            &[],
        );
        api.post_with(uri, &[], "nul").await.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["not valid JSON"],
            &[],
        );
        api.post_with(uri, &[], "").await.error(StatusCode::BAD_REQUEST, "invalid_request", &["not valid JSON"], &[]);

        // Not declared as JSON: 415, whatever the bytes.
        let plain = Request::post(uri).header(header::CONTENT_TYPE, "text/plain").body(Body::from("{}")).unwrap();
        api.send(plain).await.error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            &["Content-Type: application/json"],
            &[],
        );
        let undeclared = Request::post(uri).body(Body::from("{}")).unwrap();
        api.send(undeclared).await.error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            &["application/json"],
            &[],
        );

        // Over 1 MiB (here: valid JSON, one byte too long): 413.
        let filler = "x".repeat(switchboard::http::MAX_BODY_BYTES);
        let big = json!({"reason": filler}).to_string();
        assert!(big.len() > switchboard::http::MAX_BODY_BYTES);
        api.post_with(uri, &[], big).await.error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            &["cannot read the request body"],
            &[],
        );
    }
    // `application/<something>+json` is JSON too.
    let problem_json = Request::post("/api/definitions")
        .header(header::CONTENT_TYPE, "application/vnd.switchboard+json")
        .body(Body::from(call_saga().to_string()))
        .unwrap();
    api.send(problem_json).await.expect(StatusCode::CREATED);

    // Nothing was written by the refused requests.
    assert_eq!(api.instance_count().await, 1);
    let definitions = api.get("/api/definitions").await.expect(StatusCode::OK);
    assert_eq!(definitions.as_array().unwrap().len(), 2, "payout-review and call-processing: {definitions}");
    let history = api.history(&id_of(&waiting)).await;
    assert!(history.iter().all(|entry| entry["event"] != "pause_requested"), "no refused action was applied");
}
on_both!(bodies_must_be_json_of_at_most_one_mebibyte);

// --- instances ----------------------------------------------------------------------------------------

async fn starting_an_instance_and_following_it_to_the_end(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&call_saga()).await;

    let started = api
        .start(&json!({"workflow": "call-processing", "input": {"call_id": "call-7", "number": 7},
                       "business_keys": {"buyer": "buyer-42"}}))
        .await;
    let id = id_of(&started);
    assert_eq!(started["workflow"], "call-processing");
    assert_eq!(started["version"], 1);
    let status = started["status"].as_str().unwrap();
    assert!(["running", "completed"].contains(&status), "running or further: {started}");
    assert_eq!(started["business_keys"], json!({"buyer": "buyer-42", "input.call_id": "call-7"}));
    assert_eq!(started["input"], json!({"call_id": "call-7", "number": 7}));
    assert_eq!(started["context"]["input"], started["input"]);
    assert_eq!(started["paused"], false);
    assert_eq!(started["error"], Value::Null);
    assert_time(&started["created_at"]);
    assert_time(&started["updated_at"]);

    let done = api.settle(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["current_state"], Value::Null);
    assert_time(&done["finished_at"]);
    assert_eq!(done["engine_status"]["status"], "completed", "{done}");
    let output = &done["output"];
    assert_eq!(output["connect-call"], json!({"action": "connect", "ok": true}), "{done}");
    assert_eq!(&done["context"]["steps"], output, "the default output is the steps' outputs");

    let detail = api.get(&format!("/api/instances/{id}")).await.expect(StatusCode::OK);
    assert_eq!(detail, done, "get answers what wait answered once settled");

    let history = api.history(&id).await;
    assert_eq!(history[0]["event"], "started");
    let seqs: Vec<i64> = history.iter().map(|entry| entry["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "seq counts from 1 without gaps");
    assert_eq!(seqs.len(), 4, "started + three step results");
    assert!(history[1..].iter().all(|entry| entry["event"] == "step_succeeded"));
    assert_eq!(history[0]["actor"], "olga", "who started it");
    assert!(history[1..].iter().all(|entry| entry["actor"].is_null() && entry["reason"].is_null()));
    assert!(history.iter().all(|entry| entry["records"].as_array().is_some_and(|r| !r.is_empty())));
    history.iter().for_each(|entry| assert_time(&entry["at"]));

    let steps = api.get(&format!("/api/instances/{id}/steps")).await.expect(StatusCode::OK);
    let steps = steps.as_array().unwrap();
    let states: Vec<&str> = steps.iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["validate-caller", "find-buyer", "connect-call"]);
    for step in steps {
        assert_eq!(step["kind"], "task");
        assert_eq!(step["service"], "calls");
        assert_eq!(step["attempt"], 1);
        assert_eq!(step["outcome"], "succeeded");
        assert_eq!(step["error"], Value::Null);
        assert!(step["idempotency_key"].as_str().unwrap().starts_with(&id), "{step}");
        assert!(step["queue_wait_ms"].as_i64().unwrap() >= 0, "{step}");
        assert!(step["duration_ms"].as_i64().unwrap() >= 0, "{step}");
        assert_time(&step["started_at"]);
        assert_time(&step["finished_at"]);
    }
}
on_both!(starting_an_instance_and_following_it_to_the_end);

async fn starts_are_idempotent_by_key(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&call_saga()).await;
    let body = json!({"workflow": "call-processing", "input": {"call_id": "call-1", "number": 1}});

    let header = [("Idempotency-Key", "order-1")];
    let first = api.post_with("/api/instances", &header, body.to_string()).await.expect(StatusCode::CREATED);
    let mut keyed = body.clone();
    keyed["idempotency_key"] = json!("order-1");
    let again = api.post("/api/instances", &keyed).await.expect(StatusCode::OK);
    assert_eq!(again["id"], first["id"], "the body's key is the header's key");
    let both = api.post_with("/api/instances", &header, keyed.to_string()).await.expect(StatusCode::OK);
    assert_eq!(both["id"], first["id"]);
    // The first instance comes back even when the repeated request differs otherwise.
    let mut other_input = keyed.clone();
    other_input["input"]["number"] = json!(99);
    let repeated = api.post("/api/instances", &other_input).await.expect(StatusCode::OK);
    assert_eq!((&repeated["id"], &repeated["input"]["number"]), (&first["id"], &json!(1)));

    let unkeyed = api.start(&body).await;
    assert_ne!(unkeyed["id"], first["id"], "without a key every start is new");
    let other_key = api.post_with("/api/instances", &[("Idempotency-Key", "order-2")], body.to_string()).await;
    assert_ne!(other_key.expect(StatusCode::CREATED)["id"], first["id"]);
    assert_eq!(api.instance_count().await, 3);
}
on_both!(starts_are_idempotent_by_key);

async fn refused_starts_write_nothing(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&call_saga()).await;
    api.start(&json!({"workflow": "call-processing", "input": {"call_id": "c", "number": 1}})).await;
    let good = json!({"workflow": "call-processing", "input": {"call_id": "call-1", "number": 1}});

    let refusals: Vec<(&str, Reply)> = vec![
        ("keys differ", {
            let mut body = good.clone();
            body["idempotency_key"] = json!("a");
            api.post_with("/api/instances", &[("Idempotency-Key", "b")], body.to_string()).await
        }),
        ("empty key", api.post_with("/api/instances", &[("Idempotency-Key", "")], good.to_string()).await),
        ("unknown workflow", api.post("/api/instances", &json!({"workflow": "no-such-flow"})).await),
        ("unknown version", {
            let mut body = good.clone();
            body["version"] = json!(9);
            api.post("/api/instances", &body).await
        }),
        ("bad input", {
            api.post("/api/instances", &json!({"workflow": "call-processing", "input": {"call_id": 5, "number": 0}}))
                .await
        }),
        ("missing input", api.post("/api/instances", &json!({"workflow": "call-processing"})).await),
        ("unknown field", {
            let mut body = good.clone();
            body["colour"] = json!("blue");
            api.post("/api/instances", &body).await
        }),
        ("wrong type", {
            let mut body = good.clone();
            body["version"] = json!("one");
            api.post("/api/instances", &body).await
        }),
        ("wrong key type", {
            let mut body = good.clone();
            body["business_keys"] = json!({"buyer": 42});
            api.post("/api/instances", &body).await
        }),
    ];
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    for (case, reply) in &refusals {
        eprintln!("case: {case}");
        match *case {
            "keys differ" => reply.error(unprocessable, "invalid_request", &["differ"], &["idempotency_key"]),
            "empty key" => reply.error(unprocessable, "invalid_request", &["empty"], &["idempotency_key"]),
            "unknown workflow" => reply.error(StatusCode::NOT_FOUND, "not_found", &["no-such-flow"], &[]),
            "unknown version" => reply.error(StatusCode::NOT_FOUND, "not_found", &["call-processing", "9"], &[]),
            "bad input" | "missing input" => {
                reply.error(unprocessable, "invalid_request", &["input"], &["input.call_id", "input.number"])
            }
            "unknown field" => reply.error(unprocessable, "invalid_request", &["colour"], &["colour"]),
            "wrong type" => reply.error(unprocessable, "invalid_request", &["version"], &["version"]),
            "wrong key type" => reply.error(unprocessable, "invalid_request", &["buyer"], &["business_keys.buyer"]),
            other => unreachable!("{other}"),
        };
    }
    let reply = api.post("/api/instances", &json!({"workflow": "call-processing", "input": {"call_id": 5}})).await;
    let fields = reply.body["error"]["fields"].as_array().unwrap();
    let number = fields.iter().find(|f| f["field"] == "input.number").unwrap();
    assert!(number["message"].as_str().unwrap().contains("required"), "{number}");

    assert_eq!(api.instance_count().await, 1, "no refused start left an instance behind");
}
on_both!(refused_starts_write_nothing);

/// The body names a missing required field in `fields`, like it names one of the wrong type. Today a
/// missing field is reported at the body's root: `fields: [{"field": "body", "message": "missing field
/// `workflow`"}]` (serde reports it on the enclosing object, and `json::parse` names the root `body`).
async fn a_missing_required_field_is_named(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&call_saga()).await;
    api.post("/api/instances", &json!({"input": {}})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["workflow"],
        &["workflow"],
    );
    let waiting = {
        api.register(&review_workflow()).await;
        api.start(&json!({"workflow": "payout-review"})).await
    };
    api.post(&format!("/api/instances/{}/pause", id_of(&waiting)), &json!({"actor": "olga"})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["reason"],
        &["reason"],
    );
    assert_eq!(api.instance_count().await, 1);
}
on_both!(a_missing_required_field_is_named);

/// A body is a JSON object. Today serde's derived `Deserialize` also takes a struct from a JSON array,
/// field by field in declaration order, so `["call-processing", null, {...}]` starts an instance (201)
/// and `["looking into it"]` pauses one — a typo'd client gets an effect instead of a 422.
async fn a_body_that_is_not_an_object_is_refused(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&call_saga()).await;
    api.register(&review_workflow()).await;
    let waiting = id_of(&api.start(&json!({"workflow": "payout-review"})).await);
    api.settle(&waiting).await;

    let positional = json!(["call-processing", null, {"call_id": "call-9", "number": 9}]);
    api.post("/api/instances", &positional).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["body"],
        &["body"],
    );
    api.post("/api/instances", &json!("call-processing")).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["body"],
        &["body"],
    );
    assert_eq!(api.instance_count().await, 1, "no instance was started");

    api.post(&format!("/api/instances/{waiting}/pause"), &json!(["looking into it"])).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["body"],
        &["body"],
    );
    let detail = api.get(&format!("/api/instances/{waiting}")).await.expect(StatusCode::OK);
    assert_eq!(detail["paused"], false, "the instance was not paused");
}
on_both!(a_body_that_is_not_an_object_is_refused);

async fn instances_are_listed_filtered_and_paged(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&call_saga()).await;
    let call = |n: u32| json!({"workflow": "call-processing", "input": {"call_id": format!("call-{n}"), "number": n}});
    let mut started = Vec::new();
    for n in 1..=3 {
        let mut body = call(n);
        if n == 1 {
            body["business_keys"] = json!({"buyer": "buyer-a"});
        }
        started.push(api.start(&body).await);
    }
    let mut v2 = call_saga();
    v2["description"] = json!("Version two.");
    api.register(&v2).await;
    for n in 4..=5 {
        started.push(api.start(&call(n)).await);
    }
    api.register(&charge_workflow()).await;
    for order in ["order-1", "order-2"] {
        started.push(api.start(&json!({"workflow": "charge", "input": {"order_id": order, "amount": 10}})).await);
    }
    for instance in &started {
        api.settle(&id_of(instance)).await;
    }
    let started_ids: Vec<String> = started.iter().map(id_of).collect();

    // Newest first: the reverse of the start order; created_at never increases down the list.
    let all = api.all_instances().await;
    let all_ids = ids(&all);
    assert_eq!(all_ids, started_ids.iter().rev().cloned().collect::<Vec<_>>());
    assert!(all.windows(2).all(|w| millis(&w[0]["created_at"]) >= millis(&w[1]["created_at"])));
    let summary = &all[0];
    let keys: BTreeSet<&str> = summary.as_object().unwrap().keys().map(String::as_str).collect();
    let expected_keys = [
        "id",
        "workflow",
        "version",
        "status",
        "current_state",
        "paused",
        "error",
        "created_at",
        "updated_at",
        "finished_at",
    ];
    assert_eq!(keys, expected_keys.into_iter().collect(), "a list holds summaries");
    let default_page = api.get("/api/instances").await.expect(StatusCode::OK);
    assert_eq!(ids(default_page["items"].as_array().unwrap()), all_ids, "50 by default");

    let find = |query: &'static str| {
        let api = &api;
        async move {
            let page = api.get(&format!("/api/instances?{query}")).await.expect(StatusCode::OK);
            assert_eq!(page["next_cursor"], Value::Null, "{query}: one page");
            let mut found = ids(page["items"].as_array().unwrap());
            found.reverse();
            found
        }
    };
    let pick = |indexes: &[usize]| indexes.iter().map(|&i| started_ids[i].clone()).collect::<Vec<_>>();
    assert_eq!(find("workflow=charge").await, pick(&[5, 6]));
    assert_eq!(find("workflow=no-such-flow").await, pick(&[]));
    assert_eq!(find("status=failed").await, pick(&[5, 6]));
    assert_eq!(find("status=completed").await, pick(&[0, 1, 2, 3, 4]));
    assert_eq!(find("status=cancelled").await, pick(&[]));
    assert_eq!(find("workflow=call-processing&version=1").await, pick(&[0, 1, 2]));
    assert_eq!(find("version=2").await, pick(&[3, 4]));
    assert_eq!(find("key=call-2").await, pick(&[1]), "a key the definition extracts");
    assert_eq!(find("key=buyer-a").await, pick(&[0]), "a key given at start");
    assert_eq!(find("key=order-2").await, pick(&[6]));
    assert_eq!(find("key=call").await, pick(&[]), "keys match exactly");
    assert_eq!(find("error=declined").await, pick(&[5, 6]));
    assert_eq!(find("error=card%20declined&workflow=charge&status=failed&version=1").await, pick(&[5, 6]));
    assert_eq!(find("error=%25").await, pick(&[]), "`%` is a character, not a wildcard");
    assert_eq!(find("error=d_clined").await, pick(&[]), "`_` is a character, not a wildcard");

    // from (inclusive) and to (exclusive) split the list at any time.
    let pivot = all[3]["created_at"].as_str().unwrap().to_string();
    let pivot_ms = millis(&all[3]["created_at"]);
    let expected_from: Vec<String> = all.iter().filter(|i| millis(&i["created_at"]) >= pivot_ms).map(id_of).collect();
    let expected_to: Vec<String> = all.iter().filter(|i| millis(&i["created_at"]) < pivot_ms).map(id_of).collect();
    let from = api.get(&format!("/api/instances?from={pivot}")).await.expect(StatusCode::OK);
    assert_eq!(ids(from["items"].as_array().unwrap()), expected_from);
    assert!(expected_from.contains(&all_ids[3]), "from includes its instant");
    let to = api.get(&format!("/api/instances?to={pivot}")).await.expect(StatusCode::OK);
    assert_eq!(ids(to["items"].as_array().unwrap()), expected_to);
    // The same instant with an offset (`+` written `%2B` in a query string).
    let shifted = chrono::DateTime::parse_from_rfc3339(&pivot)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        .replace('+', "%2B");
    let from_offset = api.get(&format!("/api/instances?from={shifted}")).await.expect(StatusCode::OK);
    assert_eq!(ids(from_offset["items"].as_array().unwrap()), expected_from);
    let window = api.get(&format!("/api/instances?from={pivot}&to={pivot}")).await.expect(StatusCode::OK);
    assert_eq!(window["items"], json!([]), "an empty window");

    // Pages by cursor: no duplicates, no gaps, newest first, the last page without a cursor.
    for (limit, filter, expected, sizes) in [
        (2, "", all_ids.clone(), vec![2, 2, 2, 1]),
        (7, "", all_ids.clone(), vec![7]),
        (6, "", all_ids.clone(), vec![6, 1]),
        (1, "&workflow=charge", pick(&[6, 5]), vec![1, 1]),
        (2, "&workflow=call-processing", pick(&[4, 3, 2, 1, 0]), vec![2, 2, 1]),
    ] {
        let mut seen = Vec::new();
        let mut page_sizes = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let page = api.get(&format!("/api/instances?limit={limit}{filter}{after}")).await.expect(StatusCode::OK);
            let items = page["items"].as_array().unwrap();
            page_sizes.push(items.len());
            seen.extend(ids(items));
            match page["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(Some(next), items.last().and_then(|i| i["id"].as_str()), "the cursor is the last id");
                    cursor = Some(next.to_string());
                }
                None => break,
            }
            assert!(page_sizes.len() <= 10, "paging ends");
        }
        assert_eq!(seen, expected, "limit {limit}{filter}: every instance once, in order");
        assert_eq!(page_sizes, sizes, "limit {limit}{filter}");
    }
}
on_both!(instances_are_listed_filtered_and_paged);

async fn bad_list_queries_are_refused(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let one = |query: &'static str, field: &'static str, mention: &'static str| {
        let api = &api;
        async move {
            api.get(&format!("/api/instances?{query}")).await.error(
                unprocessable,
                "invalid_request",
                &["invalid parameters"],
                &[field],
            );
            let reply = api.get(&format!("/api/instances?{query}")).await;
            let message = reply.body["error"]["fields"][0]["message"].as_str().unwrap_or_default().to_string();
            assert!(message.contains(mention), "{query}: {message}");
        }
    };
    one("status=bogus", "status", "needs_intervention").await;
    one("status=Completed", "status", "completed").await;
    one("from=yesterday", "from", "RFC 3339").await;
    one("from=2026-11-25", "from", "RFC 3339").await;
    one("to=2026-13-01T00:00:00Z", "to", "RFC 3339").await;
    one("limit=0", "limit", "between 1 and 500").await;
    one("limit=501", "limit", "between 1 and 500").await;
    one("limit=-3", "limit", "between 1 and 500").await;
    // Every bad parameter at once.
    api.get("/api/instances?status=bogus&from=x&to=y&limit=0").await.error(
        unprocessable,
        "invalid_request",
        &["invalid parameters"],
        &["status", "from", "to", "limit"],
    );
    // Unreadable query strings and unknown parameters: 400.
    for (query, mention) in [
        ("colour=red", "colour"),
        ("limit=ten", "limit"),
        ("version=two", "version"),
        ("workflow=a&workflow=b", "workflow"),
    ] {
        let reply = api.get(&format!("/api/instances?{query}")).await;
        reply.error(StatusCode::BAD_REQUEST, "invalid_request", &[mention], &[]);
    }
    api.get("/api/instances?limit=500").await.expect(StatusCode::OK);
    api.get("/api/instances?limit=1").await.expect(StatusCode::OK);
}
on_both!(bad_list_queries_are_refused);

async fn wait_answers_when_settled_or_at_the_timeout(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&sleepy_workflow()).await;
    api.register(&review_workflow()).await;

    // Asleep on a timer is not settled: wait answers at its timeout with the instance as it is.
    let sleeping = api.start(&json!({"workflow": "cool-off"})).await;
    assert_eq!(sleeping["status"], "waiting");
    let waited = api.get(&format!("/api/instances/{}/wait?timeout_ms=50", id_of(&sleeping))).await;
    let waited = waited.expect(StatusCode::OK);
    assert_eq!((&waited["id"], &waited["status"]), (&sleeping["id"], &json!("waiting")));
    assert_eq!(waited["current_state"], "cool-off");
    assert_eq!(waited["engine_status"]["status"], "waiting", "{waited}");

    // Waiting for a person is settled.
    let review = api.start(&json!({"workflow": "payout-review"})).await;
    let settled = api.settle(&id_of(&review)).await;
    assert_eq!((&settled["status"], &settled["current_state"]), (&json!("waiting"), &json!("review")));
    assert!(settled["open_intervention"].is_string(), "{settled}");
    assert_eq!(settled["output"], Value::Null);

    let uri = format!("/api/instances/{}/wait", id_of(&review));
    api.get(&format!("{uri}?timeout_ms=soon")).await.error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["timeout_ms"],
        &[],
    );
    api.get(&format!("{uri}?timeout=5")).await.error(StatusCode::BAD_REQUEST, "invalid_request", &["timeout"], &[]);
}
on_both!(wait_answers_when_settled_or_at_the_timeout);

async fn an_unknown_instance_is_404_everywhere(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    for suffix in ["", "/history", "/steps", "/wait?timeout_ms=10"] {
        api.get(&format!("/api/instances/no-such-id{suffix}")).await.error(
            StatusCode::NOT_FOUND,
            "not_found",
            &["no-such-id"],
            &[],
        );
    }
    for action in ["cancel", "retry", "skip", "pause", "resume"] {
        api.post(&format!("/api/instances/no-such-id/{action}"), &json!({"reason": "r"})).await.error(
            StatusCode::NOT_FOUND,
            "not_found",
            &["no-such-id"],
            &[],
        );
    }
    assert_eq!(api.instance_count().await, 0);
}
on_both!(an_unknown_instance_is_404_everywhere);

// --- operator actions ---------------------------------------------------------------------------------

async fn operators_pause_resume_and_cancel(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&review_workflow()).await;
    let id = id_of(&api.start(&json!({"workflow": "payout-review"})).await);
    let waiting = api.settle(&id).await;
    assert_eq!((&waiting["status"], &waiting["current_state"]), (&json!("waiting"), &json!("review")));
    let action = |name: &str| format!("/api/instances/{id}/{name}");

    let paused = api.post(&action("pause"), &json!({"reason": "investigating", "actor": "olga"})).await;
    let paused = paused.expect(StatusCode::OK);
    assert_eq!((&paused["id"], &paused["paused"]), (&json!(id), &json!(true)));
    assert_eq!(api.get(&format!("/api/instances/{id}")).await.expect(StatusCode::OK)["paused"], true);
    let listed = api.get("/api/instances?status=waiting").await.expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["paused"], true);
    api.post(&action("pause"), &json!({"reason": "again"})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["already paused"],
        &[],
    );
    let resumed = api.post(&action("resume"), &json!({"reason": "all clear", "actor": "olga"})).await;
    assert_eq!(resumed.expect(StatusCode::OK)["paused"], false);
    api.post(&action("resume"), &json!({"reason": "again"})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["not paused"],
        &[],
    );

    // Refused bodies change nothing.
    let events_before = api.history(&id).await.len();
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let refuse =
        |name: &'static str, body: Value, mentions: &'static [&'static str], fields: &'static [&'static str]| {
            let api = &api;
            let uri = action(name);
            async move { api.post(&uri, &body).await.error(unprocessable, "invalid_request", mentions, fields) }
        };
    refuse("cancel", json!({"reason": ""}), &["reason"], &["reason"]).await;
    refuse("cancel", json!({"reason": "   "}), &["reason"], &["reason"]).await;
    refuse("pause", json!({"reason": 5}), &["reason"], &["reason"]).await;
    refuse("cancel", json!({"reason": "r", "output": {"x": 1}}), &["output", "cancel"], &["output"]).await;
    refuse("pause", json!({"reason": "r", "input": {"x": 1}}), &["input", "pause"], &["input"]).await;
    refuse("resume", json!({"reason": "r", "output": 1}), &["output"], &["output"]).await;
    refuse("retry", json!({"reason": "r", "output": 1}), &["output", "retry"], &["output"]).await;
    refuse("skip", json!({"reason": "r", "input": {}}), &["input", "skip"], &["input"]).await;
    refuse("cancel", json!({"reason": "r", "colour": "red"}), &["colour"], &["colour"]).await;
    api.post(&action("explode"), &json!({"reason": "r"})).await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        &["explode", "cancel, retry, skip, pause or resume"],
        &[],
    );
    // Retry and skip need a failed step.
    api.post(&action("retry"), &json!({"reason": "r"})).await.error(StatusCode::CONFLICT, "conflict", &["retry"], &[]);
    api.post(&action("skip"), &json!({"reason": "r"})).await.error(StatusCode::CONFLICT, "conflict", &["skip"], &[]);
    assert_eq!(api.history(&id).await.len(), events_before, "nothing refused was recorded");

    // Cancel: the reservation is released (compensating), then the instance is cancelled.
    let cancel = api.post(&action("cancel"), &json!({"reason": "customer withdrew", "actor": "olga"})).await;
    let cancelling = cancel.expect(StatusCode::OK);
    assert!(["compensating", "cancelled"].contains(&cancelling["status"].as_str().unwrap()), "{cancelling}");
    let cancelled = api.settle(&id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["error"], "cancelled by olga: customer withdrew");
    assert_time(&cancelled["finished_at"]);
    let cancelled_list = api.get("/api/instances?status=cancelled&error=withdrew").await.expect(StatusCode::OK);
    assert_eq!(ids(cancelled_list["items"].as_array().unwrap()), vec![id.clone()]);

    let history = api.history(&id).await;
    let by_event = |event: &str| -> Vec<(Value, Value)> {
        history
            .iter()
            .filter(|entry| entry["event"] == event)
            .map(|entry| (entry["actor"].clone(), entry["reason"].clone()))
            .collect()
    };
    assert_eq!(by_event("pause_requested"), [(json!("olga"), json!("investigating"))]);
    assert_eq!(by_event("resume_requested"), [(json!("olga"), json!("all clear"))]);
    assert_eq!(by_event("cancel_requested"), [(json!("olga"), json!("customer withdrew"))]);
    assert_eq!(history.last().unwrap()["event"], "compensation_succeeded");
    let steps = api.get(&format!("/api/instances/{id}/steps")).await.expect(StatusCode::OK);
    let kinds: Vec<(&str, &str, &str)> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["action"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("task", "find_buyer", "succeeded"), ("compensation", "release_reservation", "succeeded")]);

    // A finished instance takes no more actions; the default actor is `api`.
    api.post(&action("pause"), &json!({"reason": "late"})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["only an active instance can be paused"],
        &[],
    );
    api.post(&action("cancel"), &json!({"reason": "twice"})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["has finished"],
        &[],
    );

    let other = id_of(&api.start(&json!({"workflow": "payout-review"})).await);
    api.settle(&other).await;
    api.post(&format!("/api/instances/{other}/pause"), &json!({"reason": " trimmed "})).await.expect(StatusCode::OK);
    let entry = api.history(&other).await.into_iter().find(|e| e["event"] == "pause_requested").unwrap();
    assert_eq!(
        (&entry["actor"], &entry["reason"]),
        (&json!("olga"), &json!("trimmed")),
        "the caller, without naming themselves"
    );
}
on_both!(operators_pause_resume_and_cancel);

async fn operators_retry_and_skip_failed_steps(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&charge_workflow()).await;
    let to_skip = id_of(&api.start(&json!({"workflow": "charge", "input": {"order_id": "o-1", "amount": 10}})).await);
    let to_retry = id_of(&api.start(&json!({"workflow": "charge", "input": {"order_id": "o-2", "amount": 20}})).await);
    for id in [&to_skip, &to_retry] {
        let failed = api.settle(id).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert!(failed["error"].as_str().unwrap().contains("card declined"), "{failed}");
    }
    let steps = api.get(&format!("/api/instances/{to_retry}/steps")).await.expect(StatusCode::OK);
    assert_eq!(steps[0]["outcome"], "permanent");
    assert!(steps[0]["error"].as_str().unwrap().contains("card declined"), "{steps}");

    // Skip: the step counts as done with the operator's output.
    let supplied = json!({"charged": 10, "by": "bank transfer"});
    let skip = api
        .post(
            &format!("/api/instances/{to_skip}/skip"),
            &json!({"reason": "paid by bank transfer", "actor": "olga", "output": supplied}),
        )
        .await;
    skip.expect(StatusCode::OK);
    let skipped = api.settle(&to_skip).await;
    assert_eq!(skipped["status"], "completed", "{skipped}");
    assert_eq!(skipped["context"]["steps"]["charge"], supplied);
    assert_eq!(skipped["output"], json!({"charge": supplied}));
    assert_eq!(skipped["error"], Value::Null);

    // Retry: once the card works, the same step runs again and completes.
    api.open_gate();
    let retry = api
        .post(&format!("/api/instances/{to_retry}/retry"), &json!({"reason": "card updated", "actor": "olga"}))
        .await;
    let retrying = retry.expect(StatusCode::OK);
    assert_ne!(retrying["status"], "failed", "{retrying}");
    let retried = api.settle(&to_retry).await;
    assert_eq!(retried["status"], "completed", "{retried}");
    assert_eq!(retried["output"], json!({"charge": {"charged": 20}}));
    let steps = api.get(&format!("/api/instances/{to_retry}/steps")).await.expect(StatusCode::OK);
    let outcomes: Vec<(&Value, &Value)> =
        steps.as_array().unwrap().iter().map(|s| (&s["attempt"], &s["outcome"])).collect();
    assert_eq!(outcomes, [(&json!(1), &json!("permanent")), (&json!(2), &json!("succeeded"))]);
    assert_eq!(steps[0]["idempotency_key"], steps[1]["idempotency_key"], "a retry is the same request");

    for (id, event, reason) in
        [(&to_skip, "skip_requested", "paid by bank transfer"), (&to_retry, "retry_requested", "card updated")]
    {
        let history = api.history(id).await;
        let entry = history.iter().find(|e| e["event"] == event).unwrap_or_else(|| panic!("{event} in {history:?}"));
        assert_eq!((&entry["actor"], &entry["reason"]), (&json!("olga"), &json!(reason)));
    }
    // Nothing left to retry.
    api.post(&format!("/api/instances/{to_retry}/retry"), &json!({"reason": "again"})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["retry"],
        &[],
    );
    let listed = api.get("/api/instances?status=completed&workflow=charge").await.expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}
on_both!(operators_retry_and_skip_failed_steps);

/// `finished_at` is when the instance reached its final status. Today a skip on a failed instance
/// completes it in one transition and the row keeps the `finished_at` of the failure
/// (`convert::instance_row` carries the previous `finished_at` over), so the completed instance claims
/// to have finished before the skip that finished it. (A retry is right: the instance runs again,
/// `finished_at` is cleared, and the completion sets it anew.)
async fn a_skipped_instance_finishes_when_it_completes(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&charge_workflow()).await;
    let id = id_of(&api.start(&json!({"workflow": "charge", "input": {"order_id": "o-1", "amount": 10}})).await);
    let failed = api.settle(&id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    // The skip must come at a later millisecond than the failure for the difference to show.
    let failed_at = millis(&failed["finished_at"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while chrono::Utc::now().timestamp_millis() <= failed_at {
        assert!(Instant::now() < deadline, "the clock moves");
        tokio::task::yield_now().await;
    }
    api.post(&format!("/api/instances/{id}/skip"), &json!({"reason": "paid by bank transfer", "output": {}}))
        .await
        .expect(StatusCode::OK);
    let done = api.settle(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let skip_at = api.history(&id).await.iter().find(|e| e["event"] == "skip_requested").map(|e| millis(&e["at"]));
    assert_eq!(millis(&done["finished_at"]), skip_at.unwrap(), "finished when the skip completed it: {done}");
}
on_both!(a_skipped_instance_finishes_when_it_completes);

/// The `error` filter ignores case on both databases: SQLite's `LIKE` ignores ASCII case and
/// PostgreSQL's does not, so the store compares lower-cased text (found while writing these tests; fixed
/// in `store/read.rs` at the same time).
async fn the_error_filter_matches_the_same_on_both_databases(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&charge_workflow()).await;
    let id = id_of(&api.start(&json!({"workflow": "charge", "input": {"order_id": "o-1", "amount": 10}})).await);
    assert_eq!(api.settle(&id).await["status"], "failed");
    for query in ["error=declined", "error=DECLINED", "error=Card%20Declined"] {
        let page = api.get(&format!("/api/instances?{query}")).await.expect(StatusCode::OK);
        assert_eq!(ids(page["items"].as_array().unwrap()), vec![id.clone()], "{query}");
    }
}
on_both!(the_error_filter_matches_the_same_on_both_databases);

// --- health, events, stray requests -----------------------------------------------------------------

async fn the_event_stream_reports_instance_changes(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    let health = api.get("/api/health").await.expect(StatusCode::OK);
    assert_eq!((&health["status"], &health["database_reachable"]), (&json!("ok"), &json!(true)));
    let backend = if url.to_string().starts_with("sqlite") { "sqlite" } else { "postgres" };
    assert_eq!(health["backend"], backend);

    api.register(&call_saga()).await;
    let response = api.router.clone().oneshot(Request::get("/api/events").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = response.into_body();
    let id = id_of(&api.start(&json!({"workflow": "call-processing", "input": {"call_id": "c-1", "number": 1}})).await);

    let deadline = Instant::now() + Duration::from_millis(SETTLE_MS);
    let mut kinds = Vec::new();
    let mut statuses = Vec::new();
    while !statuses.contains(&"completed".to_string()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, body.frame()).await.expect("events before the deadline");
        let frame = frame.expect("the stream goes on").expect("a frame");
        let Ok(data) = frame.into_data() else { continue };
        let text = String::from_utf8(data.to_vec()).unwrap();
        eprintln!("event: {text}");
        for line in text.lines().filter_map(|line| line.strip_prefix("data: ")) {
            let value: Value = serde_json::from_str(line).unwrap();
            serde_json::from_value::<LiveEvent>(value.clone()).expect("a live event");
            kinds.push(value["type"].as_str().unwrap().to_string());
            if value["type"] == "instance" && value["id"] == id.as_str() {
                assert_eq!(value["workflow"], "call-processing");
                assert!(value["updated_at_ms"].as_i64().unwrap() > 0);
                statuses.push(value["status"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(kinds[0], "heartbeat", "a subscriber gets a heartbeat first");
    assert_eq!(statuses.first().map(String::as_str), Some("running"), "{statuses:?}");
    api.state.events.shut_down();
}
on_both!(the_event_stream_reports_instance_changes);

/// Every error under `/api/` has the one JSON shape — a path parameter that is not a number too. Today
/// axum's `Path` rejection answers in plain text: 400 `Invalid URL: Cannot parse value at index 1 with
/// value `abc` to a `u32``.
async fn a_malformed_path_parameter_gets_the_json_error_shape(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    api.register(&call_saga()).await;
    api.get("/api/definitions/call-processing/versions/abc").await.error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["abc"],
        &[],
    );
    api.get("/api/definitions/call-processing/versions/-1").await.error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["-1"],
        &[],
    );
}
on_both!(a_malformed_path_parameter_gets_the_json_error_shape);

/// A method a route does not take is answered 405 in the one error shape. Today axum answers 405 with
/// an empty body (and `GET /api/instances/{id}/anything` is a 405, not a 404, because the action route
/// takes any second segment).
async fn a_wrong_method_gets_the_json_error_shape(url: DatabaseUrl) {
    let api = Api::on(&url).await;
    for (method, uri) in [
        (Method::DELETE, "/api/definitions/call-processing"),
        (Method::PUT, "/api/instances"),
        (Method::GET, "/api/instances/some-id/cancel"),
    ] {
        let request = Request::builder().method(method.clone()).uri(uri).body(Body::empty()).unwrap();
        let reply = api.send(request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{}", reply.text);
        assert_eq!(reply.content_type.as_deref(), Some("application/json"), "{method} {uri}: {:?}", reply.text);
        let body: ApiErrorBody = serde_json::from_value(reply.body.clone()).expect("the error shape");
        assert!(!body.error.code.is_empty() && body.error.message.contains(method.as_str()), "{}", reply.text);
    }
}
on_both!(a_wrong_method_gets_the_json_error_shape);

#[test]
fn the_reference_names_every_route() {
    let reference =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).expect("docs/api.md exists");
    // Every route of the permission table (which the guard requires of every route), one action at a time.
    let mut routes: Vec<String> = Vec::new();
    for rule in switchboard::auth::policy::RULES.iter().filter(|rule| !rule.path.contains("{*rest}")) {
        match rule.path.strip_suffix("/{action}") {
            Some(base) => routes.extend(
                ["cancel", "retry", "skip", "pause", "resume"].map(|action| format!("{} {base}/{action}", rule.method)),
            ),
            None => routes.push(format!("{} {}", rule.method, rule.path)),
        }
    }
    let missing: Vec<&String> = routes.iter().filter(|route| !reference.contains(&format!("`{route}`"))).collect();
    assert!(missing.is_empty(), "docs/api.md does not document {missing:?}");
}
