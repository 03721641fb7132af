//! Cron schedules on both databases with an injected clock: when the next run is, one instance per slot,
//! two schedulers (two processes) sharing one database, the missed-run rule after a restart, a crash
//! between claiming a slot and starting it, disabled schedules, the HTTP API, bad crons, and the daily
//! settlement shipped by `build_state`.
//!
//! The scheduler's clock is a `ManualClock`; tests move it and call `Scheduler::tick` directly — no
//! background task, no sleeps.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::DateTime;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use switchboard::db::DatabaseUrl;
use switchboard::runtime::clock::ManualClock;
use switchboard::runtime::StartRequest;
use switchboard::schedules::{self, slot_key, ScheduleSpec, Scheduler};
use switchboard::services::{RecordingService, Registry};
use switchboard::state::AppState;
use switchboard::store::InstanceFilter;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn at(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).expect("RFC 3339").timestamp_millis()
}

/// A one-step workflow that takes a date, as the daily settlement does.
fn nightly() -> Value {
    json!({
        "name": "nightly",
        "description": "One step for the day before the slot.",
        "input_schema": {"type": "object", "required": ["date"], "properties": {"date": {"type": "string"}}},
        "business_keys": ["input.date"],
        "start_at": "work",
        "states": {
            "work": {"type": "task", "service": "jobs", "action": "work", "next": "done"},
            "done": {"type": "succeed"}
        }
    })
}

/// One "process": its own pool and runtime on `url`, with the `nightly` workflow registered.
async fn process(url: &DatabaseUrl) -> AppState {
    let mut registry = Registry::new();
    registry.register("jobs", Arc::new(RecordingService::new(&["work"])));
    let state = crate::support::state_with(url, registry).await;
    state.runtime.register_definition(nightly(), "test").await.expect("register nightly");
    state
}

fn scheduler(state: &AppState, clock: &Arc<ManualClock>) -> Scheduler {
    Scheduler::new(state.runtime.clone(), clock.clone())
}

fn spec(name: &str, cron: &str) -> ScheduleSpec {
    ScheduleSpec {
        name: name.into(),
        workflow: "nightly".into(),
        cron: cron.into(),
        input: json!({"date": "{{slot_date_minus_1}}"}),
        enabled: true,
    }
}

/// Instances of `nightly`, oldest first.
async fn instances(state: &AppState) -> Vec<String> {
    let filter = InstanceFilter { workflow: Some("nightly".into()), ..InstanceFilter::default() };
    let mut rows = state.runtime.store().list_instances(&filter, None, 500).await.expect("list");
    rows.reverse();
    rows.into_iter().map(|row| row.id).collect()
}

async fn date_of(state: &AppState, instance_id: &str) -> String {
    let keys = state.runtime.store().business_keys(instance_id).await.expect("keys");
    keys.into_iter().find(|(key, _)| key == "input.date").map(|(_, value)| value).expect("a date key")
}

async fn next_run_is_computed_from_the_cron_and_the_clock(url: DatabaseUrl) {
    let state = process(&url).await;
    let clock = Arc::new(ManualClock::new(at("2026-11-24T13:37:00Z")));
    let scheduler = scheduler(&state, &clock);
    let row = scheduler.upsert(&spec("nightly", "5 0 * * *")).await.unwrap();
    assert_eq!(row.next_run_at, at("2026-11-25T00:05:00Z"));
    assert_eq!((row.enabled, row.last_run_at, row.last_instance_id), (1, None, None));
    let monthly = scheduler.upsert(&spec("month-end", "30 23 31 * *")).await.unwrap();
    assert_eq!(monthly.next_run_at, at("2026-12-31T23:30:00Z"));

    // Upserting the same cron keeps the next run; a changed cron recomputes it.
    clock.advance(HOUR);
    assert_eq!(scheduler.upsert(&spec("nightly", "5 0 * * *")).await.unwrap().next_run_at, row.next_run_at);
    let changed = scheduler.upsert(&spec("nightly", "0 */6 * * *")).await.unwrap();
    assert_eq!(changed.next_run_at, at("2026-11-24T18:00:00Z"));
    let names: Vec<_> = scheduler.list().await.unwrap().into_iter().map(|row| row.name).collect();
    assert_eq!(names, ["month-end", "nightly"]);
}
on_both!(next_run_is_computed_from_the_cron_and_the_clock);

async fn a_due_schedule_starts_exactly_one_instance_per_slot(url: DatabaseUrl) {
    let state = process(&url).await;
    let clock = Arc::new(ManualClock::new(at("2026-11-24T12:00:00Z")));
    let scheduler = scheduler(&state, &clock);
    scheduler.upsert(&spec("nightly", "5 0 * * *")).await.unwrap();

    clock.advance(12 * HOUR + 4 * 60_000); // 00:04, one minute early
    assert!(scheduler.tick().await.unwrap().is_empty());
    clock.advance(60_000); // 00:05 on the dot
    let fired = scheduler.tick().await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].slot, at("2026-11-25T00:05:00Z"));
    assert_eq!(fired[0].idempotency_key, "schedule:nightly:2026-11-25T00:05Z");
    assert!(fired[0].created);
    assert_eq!(date_of(&state, &fired[0].instance_id).await, "2026-11-24");
    // Ticking again within the slot starts nothing more.
    clock.advance(30_000);
    assert!(scheduler.tick().await.unwrap().is_empty());
    assert!(scheduler.tick().await.unwrap().is_empty());

    let row = scheduler.get("nightly").await.unwrap();
    assert_eq!(row.last_run_at, Some(at("2026-11-25T00:05:00Z")));
    assert_eq!(row.last_instance_id.as_deref(), Some(fired[0].instance_id.as_str()));
    assert_eq!(row.next_run_at, at("2026-11-26T00:05:00Z"));

    // The next day's slot starts its own instance.
    clock.advance(DAY);
    let next = scheduler.tick().await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(date_of(&state, &next[0].instance_id).await, "2026-11-25");
    assert_eq!(instances(&state).await, [fired[0].instance_id.clone(), next[0].instance_id.clone()]);
    let done = state.runtime.wait_settled(&next[0].instance_id, std::time::Duration::from_secs(20)).await.unwrap();
    assert_eq!(done.status, "completed");
}
on_both!(a_due_schedule_starts_exactly_one_instance_per_slot);

async fn two_schedulers_on_one_database_fire_each_slot_once(url: DatabaseUrl) {
    // Two processes: two pools, two runtimes, two schedulers, one database and one (shared) time.
    let first = process(&url).await;
    let second = process(&url).await;
    let clock = Arc::new(ManualClock::new(at("2026-11-24T12:00:00Z")));
    let (a, b) = (scheduler(&first, &clock), scheduler(&second, &clock));
    a.upsert(&spec("nightly", "5 0 * * *")).await.unwrap();
    b.upsert(&spec("nightly", "5 0 * * *")).await.unwrap();

    let mut started = Vec::new();
    for day in 0..5 {
        clock.advance(DAY);
        let (from_a, from_b) = tokio::join!(a.tick(), b.tick());
        let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
        assert_eq!(from_a.len() + from_b.len(), 1, "day {day}: {from_a:?} {from_b:?}");
        started.extend(from_a.into_iter().chain(from_b).map(|fired| fired.instance_id));
    }
    assert_eq!(instances(&first).await, started);
    assert_eq!(instances(&second).await, started);
}
on_both!(two_schedulers_on_one_database_fire_each_slot_once);

async fn a_restart_after_missed_slots_runs_the_latest_once_then_resumes(url: DatabaseUrl) {
    let clock = Arc::new(ManualClock::new(at("2026-11-24T12:00:00Z")));
    {
        let before = process(&url).await;
        scheduler(&before, &clock).upsert(&spec("nightly", "5 0 * * *")).await.unwrap();
    }
    // Down for four slots (25th … 28th at 00:05); back up on the 28th at 09:00.
    clock.advance(3 * DAY + 21 * HOUR);
    let after = process(&url).await;
    let scheduler = scheduler(&after, &clock);
    let fired = scheduler.tick().await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].slot, at("2026-11-28T00:05:00Z"), "the most recent missed slot");
    assert_eq!(fired[0].skipped, 3);
    assert_eq!(date_of(&after, &fired[0].instance_id).await, "2026-11-27");
    assert_eq!(scheduler.get("nightly").await.unwrap().next_run_at, at("2026-11-29T00:05:00Z"));
    assert!(scheduler.tick().await.unwrap().is_empty());

    // Then on schedule again.
    clock.advance(15 * HOUR + 5 * 60_000);
    let resumed = scheduler.tick().await.unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!((resumed[0].slot, resumed[0].skipped), (at("2026-11-29T00:05:00Z"), 0));
    assert_eq!(instances(&after).await.len(), 2);
}
on_both!(a_restart_after_missed_slots_runs_the_latest_once_then_resumes);

async fn a_crash_between_claim_and_start_is_repaired_with_the_same_key(url: DatabaseUrl) {
    let state = process(&url).await;
    let clock = Arc::new(ManualClock::new(at("2026-11-24T12:00:00Z")));
    let scheduler = scheduler(&state, &clock);
    let row = scheduler.upsert(&spec("nightly", "5 0 * * *")).await.unwrap();
    let slot = row.next_run_at;
    let database = state.runtime.store().database();

    // A process claimed the slot and started the instance, then died before recording it.
    clock.advance(12 * HOUR + 5 * 60_000);
    let next = at("2026-11-26T00:05:00Z");
    assert!(schedules::store::claim(database, "nightly", slot, next, slot, clock_now(&clock)).await.unwrap());
    assert!(!schedules::store::claim(database, "nightly", slot, next, slot, clock_now(&clock)).await.unwrap());
    let request = StartRequest {
        workflow: "nightly".into(),
        input: json!({"date": "2026-11-24"}),
        idempotency_key: Some(slot_key("nightly", slot)),
        ..StartRequest::default()
    };
    let first = state.runtime.start_instance(request).await.unwrap().instance;

    // Within the grace period nothing happens (the claimer may still be starting it) …
    assert!(scheduler.tick().await.unwrap().is_empty());
    // … after it, the slot is started again with its key, which finds the instance already there.
    clock.advance(schedules::CLAIM_GRACE_MS);
    let repaired = scheduler.tick().await.unwrap();
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert_eq!((repaired[0].instance_id.as_str(), repaired[0].created), (first.id.as_str(), false));
    assert_eq!(scheduler.get("nightly").await.unwrap().last_instance_id, Some(first.id.clone()));
    assert!(scheduler.tick().await.unwrap().is_empty());
    assert_eq!(instances(&state).await, [first.id]);
}
on_both!(a_crash_between_claim_and_start_is_repaired_with_the_same_key);

fn clock_now(clock: &ManualClock) -> i64 {
    use switchboard::runtime::clock::Clock;
    clock.now_ms()
}

async fn disabled_schedules_do_not_run_and_do_not_catch_up(url: DatabaseUrl) {
    let state = process(&url).await;
    let clock = Arc::new(ManualClock::new(at("2026-11-24T12:00:00Z")));
    let scheduler = scheduler(&state, &clock);
    scheduler.upsert(&ScheduleSpec { enabled: false, ..spec("nightly", "5 0 * * *") }).await.unwrap();
    clock.advance(3 * DAY);
    assert!(scheduler.tick().await.unwrap().is_empty());

    // An upsert (a restart registering its defaults) keeps the operator's choice.
    assert_eq!(scheduler.upsert(&spec("nightly", "5 0 * * *")).await.unwrap().enabled, 0);
    assert!(scheduler.tick().await.unwrap().is_empty());

    // Enabled again, it waits for the next slot instead of running the ones it slept through.
    let enabled = scheduler.set_enabled("nightly", true).await.unwrap();
    assert_eq!(enabled.next_run_at, at("2026-11-28T00:05:00Z"));
    assert!(scheduler.tick().await.unwrap().is_empty());
    assert!(instances(&state).await.is_empty());
    clock.advance(12 * HOUR + 5 * 60_000);
    assert_eq!(scheduler.tick().await.unwrap().len(), 1);
}
on_both!(disabled_schedules_do_not_run_and_do_not_catch_up);

/// Sends a request through the router; returns the status and the JSON body.
async fn send(state: &AppState, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder().method(method).uri(uri);
    let request = match body {
        Some(body) => {
            request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap()
        }
        None => request.body(Body::empty()).unwrap(),
    };
    let response = crate::support::admin_router(state).oneshot(request).await.expect("an answer");
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON") };
    println!("{uri} → {status} {json}");
    (status, json)
}

async fn the_api_lists_schedules_and_runs_one_by_hand(url: DatabaseUrl) {
    let state = process(&url).await;
    let clock = Arc::new(ManualClock::new(at("2026-11-24T13:37:00Z")));
    let state = AppState { schedules: scheduler(&state, &clock), ..state };

    let (status, created) = send(
        &state,
        Method::POST,
        "/api/schedules/nightly",
        Some(json!({"workflow": "nightly", "cron": "5 0 * * *",
            "input": {"date": "{{slot_date_minus_1}}"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["next_run_at"], "2026-11-25T00:05:00.000Z");

    let (status, run) = send(&state, Method::POST, "/api/schedules/nightly/run", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(run["idempotency_key"], "schedule:nightly:manual:2026-11-24T13:37:00.000Z");
    let instance_id = run["instance_id"].as_str().unwrap().to_string();
    assert_eq!(date_of(&state, &instance_id).await, "2026-11-23");
    // The same moment again is the same run.
    let (status, again) = send(&state, Method::POST, "/api/schedules/nightly/run", None).await;
    assert_eq!((status, again["instance_id"].as_str()), (StatusCode::OK, Some(instance_id.as_str())));

    let (status, list) = send(&state, Method::GET, "/api/schedules", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!({"schedules": [{
            "name": "nightly", "workflow": "nightly", "cron": "5 0 * * *",
            "input": {"date": "{{slot_date_minus_1}}"}, "enabled": true,
            "next_run_at": "2026-11-25T00:05:00.000Z", "last_run_at": "2026-11-24T13:37:00.000Z",
            "last_instance_id": instance_id
        }]})
    );
    // The manual run does not move the schedule: the slot still fires.
    clock.advance(11 * HOUR);
    assert_eq!(state.schedules.tick().await.unwrap().len(), 1);

    let (status, disabled) = send(
        &state,
        Method::POST,
        "/api/schedules/nightly",
        Some(json!({"workflow": "nightly", "cron": "5 0 * * *",
            "input": {"date": "{{slot_date_minus_1}}"}, "enabled": false})),
    )
    .await;
    assert_eq!((status, &disabled["enabled"]), (StatusCode::OK, &json!(false)));

    let (status, missing) = send(&state, Method::POST, "/api/schedules/nope/run", None).await;
    assert_eq!((status, &missing["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    let (status, unknown) =
        send(&state, Method::POST, "/api/schedules/x", Some(json!({"workflow": "nope", "cron": "* * * * *"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
}
on_both!(the_api_lists_schedules_and_runs_one_by_hand);

async fn a_bad_cron_is_refused_naming_the_field(url: DatabaseUrl) {
    let state = process(&url).await;
    let clock = Arc::new(ManualClock::new(at("2026-11-24T13:37:00Z")));
    let state = AppState { schedules: scheduler(&state, &clock), ..state };

    let error = state.schedules.upsert(&spec("nightly", "5 0 * 13 *")).await.unwrap_err();
    assert_eq!(error.to_string(), "cron field `month`: 13 is out of range 1-12");

    let (status, body) = send(
        &state,
        Method::POST,
        "/api/schedules/nightly",
        Some(json!({"workflow": "nightly", "cron": "0 24 * * *"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_request");
    assert_eq!(
        body["error"]["fields"],
        json!([{"field": "cron", "message": "cron field `hour`: 24 is out of range 0-23"}])
    );

    let (status, body) =
        send(&state, Method::POST, "/api/schedules/nightly", Some(json!({"workflow": "nightly", "cron": "*/0 * * *"})))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].as_str().unwrap().contains("expected 5 fields"), "{body}");

    let (status, body) = send(
        &state,
        Method::POST,
        "/api/schedules/nightly",
        Some(json!({"workflow": "nightly", "cron": "0 0 * * *", "input": {"date": "{{tomorrow}}"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["fields"][0]["field"], "input", "{body}");
    assert!(state.schedules.list().await.unwrap().is_empty());
}
on_both!(a_bad_cron_is_refused_naming_the_field);

async fn build_state_ships_the_daily_settlement_and_keeps_the_enabled_flag(url: DatabaseUrl) {
    let args = crate::support::serve_args(&url, PathBuf::from("target/site"));
    let state = switchboard::serve::build_state(&args).await.expect("the marketplace");
    let row = state.schedules.get("daily-settlement").await.unwrap();
    assert_eq!((row.workflow.as_str(), row.cron.as_str(), row.enabled), ("daily-settlement", "5 0 * * *", 1));
    let input: Value = serde_json::from_str(&row.input).unwrap();
    assert_eq!(input, json!({"date": "{{slot_date_minus_1}}"}));
    state.schedules.set_enabled("daily-settlement", false).await.unwrap();
    drop(state);

    // A restart registers it again without turning it back on.
    let state = switchboard::serve::build_state(&args).await.expect("the marketplace again");
    assert_eq!(state.schedules.get("daily-settlement").await.unwrap().enabled, 0);

    // Its slot renders the real workflow's input: the day before, as YYYY-MM-DD.
    let clock = Arc::new(ManualClock::new(at("2026-03-01T00:05:00Z")));
    let scheduler = Scheduler::new(state.runtime.clone(), clock);
    let run = scheduler.run_now("daily-settlement", "olga").await.unwrap();
    assert_eq!(run.idempotency_key, "schedule:daily-settlement:manual:2026-03-01T00:05:00.000Z");
    let keys = state.runtime.store().business_keys(&run.instance_id).await.unwrap();
    assert!(keys.contains(&("input.date".to_string(), "2026-02-28".to_string())), "{keys:?}");
}
on_both!(build_state_ships_the_daily_settlement_and_keeps_the_enabled_flag);
