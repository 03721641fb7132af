//! The demo traffic generator (issue 4, item 5) and the services/faults API (issue 4, item 1: "changed
//! while running"), on SQLite and PostgreSQL, through the state `switchboard serve` builds (simulated
//! services and the seven workflows).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use switchboard::db::DatabaseUrl;
use switchboard::marketplace::FaultSettings;
use switchboard::runtime::{is_settled, StartRequest};
use switchboard::serve::{build_state, Config};
use switchboard::services::ServiceSpec;
use switchboard::state::AppState;
use switchboard::store::{InstanceFilter, InstanceRow};
use switchboard::traffic::{Traffic, TrafficConfig};

/// The longest anything here may take; only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_secs(60);

fn args(url: &DatabaseUrl) -> Config {
    crate::support::serve_args(url, PathBuf::from("target/site"))
}

async fn market(url: &DatabaseUrl) -> AppState {
    build_state(&args(url)).await.expect("application state with the marketplace")
}

/// A fast, seeded generator without ambient latency.
fn config(seed: u64, limit: Option<u64>) -> TrafficConfig {
    TrafficConfig {
        rate_per_sec: 500.0,
        seed,
        tag: "t".into(),
        max_in_flight: 16,
        limit,
        buyers: 5,
        sellers: 3,
        leave_for_people: 2,
        fault_chance: 0.0,
        fault_duration: Duration::from_millis(100),
        ambient: None,
        follow_timeout: SETTLE,
    }
}

fn all_restored(state: &AppState) -> bool {
    state.faults.list().iter().all(|(_, settings)| *settings == FaultSettings::none())
}

async fn all_instances(state: &AppState) -> Vec<String> {
    let rows = state.runtime.store().list_instances(&InstanceFilter::default(), None, 10_000).await.unwrap();
    rows.into_iter().map(|row| row.id).collect()
}

// ---------------------------------------------------------------------------------------------
// The generator.

async fn generator_drives_a_living_marketplace(url: DatabaseUrl) {
    let state = market(&url).await;
    let limit = 80;
    let traffic = Traffic::spawn(state.clone(), config(42, Some(limit)));
    let report = tokio::time::timeout(DEADLINE, traffic.finish()).await.expect("the generator ends at its limit");
    assert_eq!(report.started.len() as u64, limit, "every start was accepted");

    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut workflows = BTreeSet::new();
    let mut waiting_on_people = 0;
    for started in &report.started {
        let row = state.runtime.wait_settled(&started.id, SETTLE).await.expect("wait");
        assert!(is_settled(&row), "stuck: {row:?}");
        assert!(!matches!(row.status.as_str(), "running" | "compensating" | "created"), "stuck: {row:?}");
        if row.status == "waiting" {
            let open = state.runtime.store().interventions_of(&row.id).await.unwrap();
            waiting_on_people += usize::from(open.iter().any(|i| i.status == "open" && i.kind == "human_task"));
        }
        *statuses.entry(row.status).or_default() += 1;
        workflows.insert(started.workflow);
    }
    eprintln!("{workflows:?} {statuses:?}");
    assert!(workflows.len() >= 4, "several workflow types: {workflows:?}");
    assert!(workflows.contains("call-lifecycle") && workflows.contains("buyer-onboarding"), "{workflows:?}");
    assert!(statuses.get("completed").copied().unwrap_or_default() >= 10, "{statuses:?}");
    let unhappy =
        ["compensated", "failed"].iter().map(|s| statuses.get(*s).copied().unwrap_or_default()).sum::<usize>();
    assert!(unhappy >= 1, "some compensations or failures: {statuses:?}");
    assert!(waiting_on_people >= 1, "a human task left for people: {statuses:?}");
    assert!(waiting_on_people <= 2, "at most the budget is left for people: {statuses:?}");
    // The seed went live: its sellers' compliance reviews were approved by the generator.
    let live = state
        .runtime
        .store()
        .list_instances(
            &InstanceFilter { workflow: Some("seller-onboarding".into()), ..InstanceFilter::default() },
            None,
            1_000,
        )
        .await
        .unwrap();
    assert!(live.iter().filter(|row| row.status == "completed").count() >= 3, "{live:?}");
    assert_eq!(all_instances(&state).await.len(), report.started.len(), "nothing else was started");
}
on_both!(generator_drives_a_living_marketplace);

async fn the_same_seed_starts_the_same_mix(url: DatabaseUrl) {
    let state = market(&url).await;
    let first = Traffic::spawn(state.clone(), config(7, Some(30))).finish();
    let first = tokio::time::timeout(DEADLINE, first).await.expect("ends");
    let mut again = config(7, Some(30));
    again.tag = "u".into(); // other ids, same choices
    let second = tokio::time::timeout(DEADLINE, Traffic::spawn(state.clone(), again).finish()).await.expect("ends");
    let kinds = |report: &switchboard::traffic::Report| report.started.iter().map(|s| s.workflow).collect::<Vec<_>>();
    assert_eq!(kinds(&first)[8..], kinds(&second)[8..], "the same sequence of workflow types after the seed");
}
on_both!(the_same_seed_starts_the_same_mix);

async fn shutdown_stops_the_generator_and_restores_faults(url: DatabaseUrl) {
    let state = market(&url).await;
    let mut endless = config(3, None);
    endless.fault_chance = 1.0; // a fault episode at once, lasting past the stop
    endless.fault_duration = Duration::from_secs(3_600);
    let traffic = Traffic::spawn(state.clone(), endless);
    tokio::time::timeout(DEADLINE, traffic.started_at_least(30)).await.expect("traffic flows");
    assert!(!all_restored(&state), "a fault episode is under way");

    state.events.shut_down();
    let report = tokio::time::timeout(DEADLINE, traffic.finish()).await.expect("the generator stops on shutdown");
    assert!(report.started.len() >= 30);
    assert_eq!(report.fault_episodes, 1, "one episode at a time");
    assert!(all_restored(&state), "the fault was lifted: {:?}", state.faults.list());
    assert_eq!(all_instances(&state).await.len(), report.started.len(), "nothing started after the stop");
}
on_both!(shutdown_stops_the_generator_and_restores_faults);

// ---------------------------------------------------------------------------------------------
// The services API.

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let line = format!("{} {}", request.method(), request.uri());
    let response = router.clone().oneshot(request).await.expect("the router answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    eprintln!("{line}\n  -> {status} {text}");
    Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
}

async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn put(router: &Router, uri: &str, body: &Value) -> Reply {
    let request =
        Request::post(uri).header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap();
    send(router, request).await
}

fn faults(p50: u64, p99: u64, failure: f64) -> Value {
    json!({"latency": {"p50_ms": p50, "p99_ms": p99}, "failure_rate": failure, "timeout_rate": 0.0, "lost_reply_rate": 0.0})
}

fn field_of(reply: &Reply) -> String {
    reply.body["error"]["fields"][0]["field"].as_str().unwrap_or_default().to_string()
}

async fn services_list_breakers_and_faults_and_faults_can_be_set(url: DatabaseUrl) {
    let state = market(&url).await;
    let api = crate::support::admin_router(&state);

    let list = get(&api, "/api/services").await;
    assert_eq!(list.status, StatusCode::OK);
    let services = list.body.as_array().expect("a list").clone();
    assert_eq!(services.len(), switchboard::marketplace::SERVICES.len());
    let ledger = services.iter().find(|s| s["name"] == "ledger").expect("ledger listed");
    assert_eq!(ledger["breaker"], "closed");
    assert_eq!(ledger["simulated"], true);
    assert_eq!(ledger["faults"], faults(0, 0, 0.0));

    let set = put(&api, "/api/services/ledger/faults", &faults(10, 80, 0.25)).await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(set.body, faults(10, 80, 0.25));
    assert_eq!(get(&api, "/api/services/ledger/faults").await.body, faults(10, 80, 0.25));
    assert_eq!(state.faults.get("ledger").unwrap().failure_rate, 0.25, "the service sees it");
    // POST works too (a browser form posts).
    let request = Request::post("/api/services/ledger/faults")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(faults(0, 0, 0.0).to_string()))
        .unwrap();
    assert_eq!(send(&api, request).await.status, StatusCode::OK);
    assert_eq!(state.faults.get("ledger"), Some(FaultSettings::none()));
}
on_both!(services_list_breakers_and_faults_and_faults_can_be_set);

async fn bad_fault_settings_name_the_field_and_unknown_services_are_404(url: DatabaseUrl) {
    let state = market(&url).await;
    let api = crate::support::admin_router(&state);

    let rate = put(&api, "/api/services/billing/faults", &faults(0, 0, 1.5)).await;
    assert_eq!(rate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_of(&rate), "failure_rate");
    let latency = put(&api, "/api/services/billing/faults", &faults(100, 10, 0.0)).await;
    assert_eq!(latency.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_of(&latency), "latency.p99_ms");
    let mut missing = faults(0, 0, 0.0);
    missing.as_object_mut().unwrap().remove("timeout_rate");
    let missing = put(&api, "/api/services/billing/faults", &missing).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_of(&missing), "timeout_rate");
    let mut negative = faults(0, 0, 0.0);
    negative["latency"]["p50_ms"] = json!(-1);
    let negative = put(&api, "/api/services/billing/faults", &negative).await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_of(&negative), "latency.p50_ms");
    assert_eq!(state.faults.get("billing"), Some(FaultSettings::none()), "nothing changed");

    assert_eq!(get(&api, "/api/services/nope/faults").await.status, StatusCode::NOT_FOUND);
    let unknown = put(&api, "/api/services/nope/faults", &faults(0, 0, 0.0)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"]["code"], "not_found");
}
on_both!(bad_fault_settings_name_the_field_and_unknown_services_are_404);

async fn a_service_reached_over_http_has_no_faults_to_set(url: DatabaseUrl) {
    let mut args = args(&url);
    args.services.push(ServiceSpec { name: "notifications".into(), actions: None, url: "http://127.0.0.1:9".into() });
    let state = build_state(&args).await.expect("state");
    let api = crate::support::admin_router(&state);
    let list = get(&api, "/api/services").await;
    let notifications =
        list.body.as_array().unwrap().iter().find(|s| s["name"] == "notifications").expect("listed").clone();
    assert_eq!(notifications["simulated"], false);
    assert!(notifications.get("faults").is_none(), "{notifications}");
    assert_eq!(get(&api, "/api/services/notifications/faults").await.status, StatusCode::NOT_FOUND);
    assert_eq!(put(&api, "/api/services/notifications/faults", &faults(0, 0, 0.0)).await.status, StatusCode::NOT_FOUND);
}
on_both!(a_service_reached_over_http_has_no_faults_to_set);

async fn run(state: &AppState, workflow: &str, input: Value) -> InstanceRow {
    let request = StartRequest { workflow: workflow.into(), input, ..StartRequest::default() };
    let started = state.runtime.start_instance(request).await.expect("start").instance;
    let row = state.runtime.wait_settled(&started.id, SETTLE).await.expect("wait");
    assert!(is_settled(&row), "not settled: {row:?}");
    row
}

fn call(call_id: &str) -> Value {
    json!({"call_id": call_id, "seller_id": "s-api", "caller_number": "+14155550123",
           "vertical": "insurance", "region": "US-CA", "duration_s": 60, "silence_s": 1})
}

async fn a_failing_service_set_through_the_api_compensates_and_restoring_it_heals(url: DatabaseUrl) {
    let state = market(&url).await;
    let api = crate::support::admin_router(&state);
    let buyer = json!({
        "buyer_id": "b-api", "name": "Acme", "email": "ops@acme.test", "document_id": "P-1", "credit_score": 720,
        "campaign_id": "b-api-auto", "campaign_name": "Auto", "daily_budget_minor": 50_000,
        "vertical": "insurance", "bid_minor": 100
    });
    assert_eq!(run(&state, "buyer-onboarding", buyer).await.status, "completed");

    assert_eq!(put(&api, "/api/services/billing/faults", &faults(0, 0, 1.0)).await.status, StatusCode::OK);
    let broken = run(&state, "call-lifecycle", call("api-call-1")).await;
    assert_eq!(broken.status, "compensated", "{broken:?}");

    assert_eq!(put(&api, "/api/services/billing/faults", &faults(0, 0, 0.0)).await.status, StatusCode::OK);
    let healed = run(&state, "call-lifecycle", call("api-call-2")).await;
    assert_eq!(healed.status, "completed", "{healed:?}");
}
on_both!(a_failing_service_set_through_the_api_compensates_and_restoring_it_heals);
