//! Bulk operator actions (`POST /api/instances/bulk`) on SQLite and PostgreSQL: previews count and change
//! nothing; applying acts on exactly the instances the action applies to — as the engine decides, which
//! the store mirrors in SQL — each through the runtime with actor and reason in its history; bad bodies
//! name their fields.
//!
//! The population covers every status the eligibility rules distinguish: waiting (a timer), failed with a
//! step to retry, failed by a `fail` state (nothing to retry), blocked on a failed step, blocked on a
//! failed compensation, and completed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use engine::{ErrorKind, ServiceError};
use crate::support::reply::Reply;
use switchboard::db::DatabaseUrl;
use switchboard::runtime::StartRequest;
use switchboard::services::{RecordingService, Registry};
use switchboard::state::AppState;

const SETTLE: Duration = Duration::from_secs(20);

fn definitions() -> Vec<Value> {
    vec![
        json!({"name": "cool-off", "start_at": "wait",
               "states": {"wait": {"type": "wait", "duration_ms": 3_600_000, "next": "done"},
                          "done": {"type": "succeed"}}}),
        json!({"name": "charge", "start_at": "charge",
               "states": {"charge": {"type": "task", "service": "payments", "action": "charge",
                                     "on_failure": "fail", "next": "done"},
                          "done": {"type": "succeed"}}}),
        json!({"name": "review-charge", "start_at": "charge",
               "states": {"charge": {"type": "task", "service": "payments", "action": "charge",
                                     "on_failure": "intervention", "next": "done"},
                          "done": {"type": "succeed"}}}),
        json!({"name": "reject", "start_at": "no",
               "states": {"no": {"type": "fail", "error": "rejected", "compensate": false}}}),
        json!({"name": "undo-fails", "start_at": "reserve",
               "states": {"reserve": {"type": "task", "service": "calls", "action": "find_buyer",
                                      "compensation": {"service": "payments", "action": "refund"}, "next": "charge"},
                          "charge": {"type": "task", "service": "payments", "action": "charge", "next": "done"},
                          "done": {"type": "succeed"}}}),
        json!({"name": "quick", "start_at": "validate",
               "states": {"validate": {"type": "task", "service": "calls", "action": "validate", "next": "done"},
                          "done": {"type": "succeed"}}}),
    ]
}

/// How many instances of each workflow, and the status each settles in.
const POPULATION: &[(&str, usize, &str)] = &[
    ("cool-off", 3, "waiting"),
    ("charge", 2, "failed"),
    ("review-charge", 1, "needs_intervention"),
    ("reject", 1, "failed"),
    ("undo-fails", 1, "needs_intervention"),
    ("quick", 2, "completed"),
];

struct Bulk {
    state: AppState,
    router: Router,
    /// Instance ids by workflow, in start order.
    ids: BTreeMap<&'static str, Vec<String>>,
    /// Before the first start.
    started_from: String,
}

impl Bulk {
    /// The population above, settled; `payments` declines everything (permanently).
    async fn on(url: &DatabaseUrl) -> Self {
        let mut registry = Registry::new();
        registry.register("calls", Arc::new(RecordingService::new(&["validate", "find_buyer"])));
        let payments = RecordingService::with_behaviour(&["charge", "refund"], |_| {
            Err(ServiceError::new(ErrorKind::Permanent, "card declined"))
        });
        registry.register("payments", Arc::new(payments));
        let state = crate::support::state_with(url, registry).await;
        for definition in definitions() {
            state.runtime.register_definition(definition, "test").await.expect("a valid definition");
        }
        let started_from = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut ids: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for (workflow, count, status) in POPULATION {
            for _ in 0..*count {
                let started = state
                    .runtime
                    .start_instance(StartRequest {
                        workflow: workflow.to_string(),
                        input: json!({}),
                        ..StartRequest::default()
                    })
                    .await
                    .expect("started");
                let id = started.instance.id.clone();
                let row = if *status == "waiting" {
                    started.instance.clone()
                } else {
                    state.runtime.wait_settled(&id, SETTLE).await.expect("settles")
                };
                assert_eq!(row.status, *status, "{workflow} settles {status}");
                ids.entry(workflow).or_default().push(id);
            }
        }
        let router = crate::support::router_for(&state, "olga", app::wire::Role::Admin);
        Self { state, router, ids, started_from }
    }

    fn id(&self, workflow: &str, index: usize) -> String {
        self.ids[workflow][index].clone()
    }

    fn all_ids(&self) -> Vec<String> {
        self.ids.values().flatten().cloned().collect()
    }

    async fn bulk(&self, body: &Value) -> Reply {
        let shown: String = body.to_string().chars().take(400).collect();
        eprintln!("POST /api/instances/bulk {shown}");
        let request = Request::post("/api/instances/bulk")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        Reply::exchange(&self.router, request).await
    }

    /// A bulk request that must succeed; its answer.
    async fn ok(&self, body: &Value) -> Value {
        let reply = self.bulk(body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body
    }

    /// Every instance's status, paused flag and journal length.
    async fn snapshot(&self) -> BTreeMap<String, (String, i64, usize)> {
        let store = self.state.runtime.store();
        let mut all = BTreeMap::new();
        for id in self.all_ids() {
            let row = store.instance(&id).await.unwrap().expect("exists");
            let journal = store.journal(&id).await.unwrap().len();
            all.insert(id, (row.status, row.paused, journal));
        }
        all
    }

    /// The operator entries (`event`, actor, reason) of an instance's history.
    async fn operator_entries(&self, id: &str) -> Vec<(String, Option<String>, Option<String>)> {
        let journal = self.state.runtime.store().journal(id).await.unwrap();
        journal.into_iter().filter(|row| row.actor.is_some()).map(|row| (row.event, row.actor, row.reason)).collect()
    }
}

fn counts(answer: &Value) -> (u64, u64, u64) {
    let get = |name: &str| answer[name].as_u64().unwrap_or_else(|| panic!("{name} in {answer}"));
    (get("matched"), get("eligible"), get("applied"))
}

async fn a_preview_counts_and_changes_nothing(url: DatabaseUrl) {
    let bulk = Bulk::on(&url).await;
    let before = bulk.snapshot().await;
    let everything = json!({"from": bulk.started_from});

    let cancel = bulk.ok(&json!({"action": "cancel", "reason": "check", "filter": everything, "preview": true})).await;
    assert_eq!(
        cancel,
        json!({"preview": true, "matched": 10, "eligible": 7, "limit": 10_000, "applied": 0, "failed": [],
               "failed_count": 0, "remaining": 0}),
        "waiting 3, failed 3, blocked on a failed step 1; not the failed compensation, not the completed"
    );
    let retry = bulk.ok(&json!({"action": "retry", "reason": "check", "filter": everything, "preview": true})).await;
    assert_eq!(counts(&retry), (10, 4, 0), "failed with a step 2, blocked 2; not the `fail` state");
    let pause = bulk.ok(&json!({"action": "pause", "reason": "check", "filter": everything, "preview": true})).await;
    assert_eq!(counts(&pause), (10, 5, 0), "waiting 3, blocked 2");
    let resume = bulk.ok(&json!({"action": "resume", "reason": "check", "filter": {}, "preview": true})).await;
    assert_eq!(counts(&resume), (10, 0, 0), "nothing is paused");

    // The filter narrows exactly like the list's.
    let failed =
        bulk.ok(&json!({"action": "retry", "reason": "check", "filter": {"status": "failed"}, "preview": true})).await;
    assert_eq!(counts(&failed), (3, 2, 0));
    let charge = bulk
        .ok(&json!({"action": "cancel", "reason": "check", "preview": true,
                    "filter": {"workflow": "charge", "version": 1, "error": "DECLINED"}}))
        .await;
    assert_eq!(counts(&charge), (2, 2, 0));
    let none = bulk
        .ok(&json!({"action": "cancel", "reason": "check", "preview": true, "filter": {"to": bulk.started_from}}))
        .await;
    assert_eq!(counts(&none), (0, 0, 0));

    let ids = json!([bulk.id("cool-off", 0), bulk.id("quick", 0), bulk.id("quick", 0), "no-such-instance"]);
    let by_ids = bulk.ok(&json!({"action": "pause", "reason": "check", "ids": ids, "preview": true})).await;
    assert_eq!(counts(&by_ids), (2, 1, 0), "unknown ids match nothing; repeated ones count once");

    assert_eq!(bulk.snapshot().await, before, "a preview changes nothing");
}
on_both!(a_preview_counts_and_changes_nothing);

async fn cancel_by_filter_cancels_exactly_the_eligible_ones(url: DatabaseUrl) {
    let bulk = Bulk::on(&url).await;
    let before = bulk.snapshot().await;

    let answer = bulk
        .ok(&json!({"action": "cancel", "reason": "duplicate batch", "actor": "olga",
                    "filter": {"from": bulk.started_from}}))
        .await;
    assert_eq!(
        answer,
        json!({"preview": false, "matched": 10, "eligible": 7, "limit": 10_000, "applied": 7, "failed": [],
               "failed_count": 0, "remaining": 0})
    );

    let eligible: Vec<String> = ["cool-off", "charge", "review-charge", "reject"]
        .iter()
        .flat_map(|workflow| bulk.ids[workflow].clone())
        .collect();
    assert_eq!(eligible.len(), 7);
    for id in &eligible {
        let row = bulk.state.runtime.wait_settled(id, SETTLE).await.unwrap();
        assert_eq!(row.status, "cancelled", "{id}");
        assert_eq!(row.error.as_deref(), Some("cancelled by olga: duplicate batch"));
        let entries = bulk.operator_entries(id).await;
        assert_eq!(
            entries,
            [("cancel_requested".to_string(), Some("olga".to_string()), Some("duplicate batch".to_string()))],
            "{id}"
        );
    }
    let after = bulk.snapshot().await;
    for id in bulk.ids["quick"].iter().chain(&bulk.ids["undo-fails"]) {
        assert_eq!(after[id], before[id], "{id} was not eligible and did not change");
        assert!(bulk.operator_entries(id).await.is_empty());
    }

    // Again: nothing is left to cancel.
    let again = bulk.ok(&json!({"action": "cancel", "reason": "again", "filter": {"from": bulk.started_from}})).await;
    assert_eq!(counts(&again), (10, 0, 0));
}
on_both!(cancel_by_filter_cancels_exactly_the_eligible_ones);

async fn actions_by_ids_apply_to_the_eligible_ids_only(url: DatabaseUrl) {
    let bulk = Bulk::on(&url).await;
    let (waiting_0, waiting_1, waiting_2) = (bulk.id("cool-off", 0), bulk.id("cool-off", 1), bulk.id("cool-off", 2));
    let done = bulk.id("quick", 0);

    let paused = bulk
        .ok(&json!({"action": "pause", "reason": "maintenance window",
                    "ids": [waiting_1, done, waiting_0, "no-such-instance"]}))
        .await;
    assert_eq!(counts(&paused), (3, 2, 2), "{paused}");
    assert_eq!(paused["failed"], json!([]));
    let store = bulk.state.runtime.store();
    for id in [&waiting_0, &waiting_1] {
        assert_eq!(store.instance(id).await.unwrap().unwrap().paused, 1, "{id} is paused");
        let entries = bulk.operator_entries(id).await;
        assert_eq!(
            entries,
            [("pause_requested".to_string(), Some("olga".to_string()), Some("maintenance window".to_string()))],
            "the caller is the actor"
        );
    }
    assert_eq!(store.instance(&waiting_2).await.unwrap().unwrap().paused, 0, "not named");
    assert!(bulk.operator_entries(&done).await.is_empty());

    let resume = bulk
        .ok(&json!({"action": "resume", "reason": "done", "actor": "ravi (ignored: the caller acts)", "filter": {"workflow": "cool-off"}}))
        .await;
    assert_eq!(counts(&resume), (3, 2, 2));
    for id in [&waiting_0, &waiting_1] {
        assert_eq!(store.instance(id).await.unwrap().unwrap().paused, 0, "{id} resumed");
        let last = bulk.operator_entries(id).await.pop().unwrap();
        assert_eq!(last, ("resume_requested".to_string(), Some("olga".to_string()), Some("done".to_string())));
    }

    // Retry applies to the failed step, not to a `fail` state.
    let (charge, reject) = (bulk.id("charge", 0), bulk.id("reject", 0));
    let retry = bulk.ok(&json!({"action": "retry", "reason": "card updated", "ids": [reject, charge]})).await;
    assert_eq!(counts(&retry), (2, 1, 1), "{retry}");
    assert_eq!(bulk.operator_entries(&charge).await[0].0, "retry_requested");
    assert!(bulk.operator_entries(&reject).await.is_empty());
    let row = bulk.state.runtime.wait_settled(&charge, SETTLE).await.unwrap();
    assert_eq!(row.status, "failed", "payments still declines");
}
on_both!(actions_by_ids_apply_to_the_eligible_ids_only);

async fn bad_bulk_requests_name_their_fields_and_change_nothing(url: DatabaseUrl) {
    let bulk = Bulk::on(&url).await;
    let before = bulk.snapshot().await;
    let id = bulk.id("cool-off", 0);
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;

    bulk.bulk(&json!({"action": "cancel", "ids": [id]})).await.error(
        invalid,
        "invalid_request",
        &["reason"],
        &["reason"],
    );
    bulk.bulk(&json!({"action": "cancel", "reason": "  ", "ids": [id]})).await.error(
        invalid,
        "invalid_request",
        &["reason", "must not be empty"],
        &["reason"],
    );
    bulk.bulk(&json!({"action": "cancel", "reason": "r", "ids": [id], "filter": {}})).await.error(
        invalid,
        "invalid_request",
        &[],
        &["ids", "filter"],
    );
    bulk.bulk(&json!({"action": "cancel", "reason": "r"})).await.error(
        invalid,
        "invalid_request",
        &[],
        &["ids", "filter"],
    );
    bulk.bulk(&json!({"action": "cancel", "reason": " ", "ids": null})).await.error(
        invalid,
        "invalid_request",
        &[],
        &["reason", "ids", "filter"],
    );
    bulk.bulk(&json!({"action": "cancel", "reason": "r", "ids": []})).await.error(
        invalid,
        "invalid_request",
        &["ids", "must not be empty"],
        &["ids"],
    );
    bulk.bulk(&json!({"action": "explode", "reason": "r", "ids": [id]})).await.error(
        invalid,
        "invalid_request",
        &["unknown variant", "cancel"],
        &["action"],
    );
    bulk.bulk(&json!({"action": "cancel", "reason": "r", "filter": {"status": "asleep", "from": "yesterday"}}))
        .await
        .error(invalid, "invalid_request", &[], &["filter.status", "filter.from"]);
    bulk.bulk(&json!({"action": "cancel", "reason": "r", "filter": {"version": "one"}})).await.error(
        invalid,
        "invalid_request",
        &[],
        &["filter.version"],
    );
    bulk.bulk(&json!({"action": "cancel", "reason": "r", "ids": [id], "force": true})).await.error(
        invalid,
        "invalid_request",
        &["force"],
        &["force"],
    );
    let too_many: Vec<String> = (0..10_001).map(|i| format!("id-{i}")).collect();
    bulk.bulk(&json!({"action": "cancel", "reason": "r", "ids": too_many})).await.error(
        invalid,
        "invalid_request",
        &["10000"],
        &["ids"],
    );
    let broken = Request::post("/api/instances/bulk")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"action\":"))
        .unwrap();
    Reply::exchange(&bulk.router, broken).await.error(StatusCode::BAD_REQUEST, "invalid_request", &["JSON"], &[]);

    assert_eq!(bulk.snapshot().await, before, "a refused request changes nothing");
}
on_both!(bad_bulk_requests_name_their_fields_and_change_nothing);
