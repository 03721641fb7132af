//! Issue 14 ("Hardening: hostile input"), the items about definitions, through `POST /api/definitions`:
//! a condition nested 1,750 parentheses deep or made of 50,000 `not`s used to overflow the stack of a
//! runtime thread and abort the whole process; a 10,000-state definition with a cycle took 79–89 s and
//! 3.8 GB to refuse; problems stopped at the first, located at the state instead of the field. Each is
//! now a 422 naming the field, and the server keeps answering.

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::support::reply::Reply;
use switchboard::db::DatabaseUrl;
use switchboard::services::{RecordingService, Registry};

async fn router(url: &DatabaseUrl) -> Router {
    let mut registry = Registry::new();
    registry.register("calls", std::sync::Arc::new(RecordingService::new(&["validate", "connect"])));
    let state = crate::support::state_with(url, registry).await;
    crate::support::admin_router(&state)
}

async fn post(router: &Router, body: &Value) -> Reply {
    let request = Request::post("/api/definitions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    Reply::exchange(router, request).await
}

fn choice(condition: &str) -> Value {
    json!({
        "name": "hostile", "start_at": "route",
        "states": {
            "route": {"type": "choice", "choices": [{"condition": condition, "next": "done"}], "default": "done"},
            "done": {"type": "succeed"}
        }
    })
}

async fn hostile_conditions_are_refused_with_the_field_named(url: DatabaseUrl) {
    let router = router(&url).await;
    let parentheses = format!("{}input.amount > 100{}", "(".repeat(1_750), ")".repeat(1_750));
    let reply = post(&router, &choice(&parentheses)).await;
    let error = reply.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["not valid", "nested more than 32 levels deep"],
        &["states.route.choices[0].condition"],
    );
    assert_eq!(
        error.error.fields[0].message,
        "nested more than 32 levels deep (parentheses and `not`), at position 32"
    );

    let nots = format!("{}true", "not ".repeat(50_000));
    post(&router, &choice(&nots)).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["is 200004 characters long; at most 4096 are allowed"],
        &["states.route.choices[0].condition"],
    );

    // The process is still here, and a sound definition is still taken.
    let reply = post(&router, &choice("input.amount > 100 and not (input.vip == true)")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}
on_both!(hostile_conditions_are_refused_with_the_field_named);

async fn a_ten_thousand_state_cycle_is_refused_at_once(url: DatabaseUrl) {
    let router = router(&url).await;
    let n = 10_000;
    let mut states = Map::new();
    for i in 0..n {
        let next = format!("s{}", (i + 1) % n);
        states.insert(format!("s{i}"), json!({"type": "task", "service": "calls", "action": "validate", "next": next}));
    }
    let body = json!({"name": "big", "start_at": "s0", "states": states});
    let started = Instant::now();
    post(&router, &body).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["has 10000 states (branch states included); at most 1000 are allowed"],
        &["states"],
    );
    eprintln!(
        "a {}-byte, 10,000-state cyclic definition was refused in {:?}",
        body.to_string().len(),
        started.elapsed()
    );
}
on_both!(a_ten_thousand_state_cycle_is_refused_at_once);

async fn every_problem_is_named_at_its_field(url: DatabaseUrl) {
    let router = router(&url).await;
    let body = json!({
        "name": "payouts", "start_at": "validate",
        "states": {
            "validate": {"type": "task", "service": "calls", "action": "validate", "next": "payot"},
            "payout": {"type": "task", "service": "calls", "action": "connect", "timeout_ms": "5s", "next": "review"},
            "review": {"type": "human", "assignee_group": "finance", "priority": "asap",
                       "decisions": [{"name": "ok", "next": "done"}]},
            "done": {"type": "succeed", "retyr": 3}
        }
    });
    let reply = post(&router, &body).await;
    let error = reply.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["the definition is not valid: 4 problems: states.done.retyr"],
        &["states.validate.next", "states.payout.timeout_ms", "states.review.priority", "states.done.retyr"],
    );
    let message = |field: &str| {
        error.error.fields.iter().find(|f| f.field == field).map(|f| f.message.clone()).unwrap_or_default()
    };
    assert_eq!(message("states.payout.timeout_ms"), r#"must be a whole number of milliseconds, found the text "5s""#);
    assert_eq!(message("states.review.priority"), "must be one of `low`, `normal`, `high`, `urgent`, found `asap`");
    assert_eq!(
        message("states.validate.next"),
        "`payot` is not a state of the definition (did you mean `payout`?); because of this, `payout`, `review`, \
         `done` are unreachable"
    );
    assert!(message("states.done.retyr")
        .starts_with("is not a field of a `succeed` state; its fields are `type`, `output`"));

    let list = Reply::exchange(&router, Request::get("/api/definitions").body(Body::empty()).unwrap()).await;
    assert_eq!(list.body, json!([]), "nothing was registered");
}
on_both!(every_problem_is_named_at_its_field);
