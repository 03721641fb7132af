//! The intervention inbox (`/api/interventions`) on SQLite and PostgreSQL: items are listed with their
//! priority, due time and choices; of fifty simultaneous claims exactly one wins; a resolution moves the
//! run on exactly once, however often (and however simultaneously) it is sent; failures are resolved by
//! retry, skip, compensate or abort as the engine says; assignments are audited with before and after;
//! views and filters select what they say; bad requests name their fields; support may read but not act.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use app::wire::{LiveEvent, Role};
use engine::{ErrorKind, ServiceError};
use crate::support::reply::Reply;
use switchboard::db::DatabaseUrl;
use switchboard::runtime::StartRequest;
use switchboard::services::{RecordingService, Registry};
use switchboard::state::AppState;
use switchboard::store::audit::AuditFilter;
use switchboard::store::AuditRow;

const SETTLE: Duration = Duration::from_secs(20);

fn definitions() -> Vec<Value> {
    vec![
        // A human task: approving pays out, denying ends the run.
        json!({"name": "payout-review", "start_at": "review",
               "states": {"review": {"type": "human", "assignee_group": "finance", "title": "Approve the payout",
                                     "priority": "high", "due_in_ms": 3_600_000,
                                     "decisions": [{"name": "approve", "next": "pay"}, {"name": "deny", "next": "denied"}]},
                          "pay": {"type": "task", "service": "payments", "action": "pay", "next": "done"},
                          "done": {"type": "succeed"},
                          "denied": {"type": "fail", "error": "denied", "compensate": false}}}),
        // Overdue almost at once.
        json!({"name": "rush-review", "start_at": "review",
               "states": {"review": {"type": "human", "assignee_group": "ops", "due_in_ms": 1,
                                     "decisions": [{"name": "ok", "next": "done"}]},
                          "done": {"type": "succeed"}}}),
        // A charge over the card's limit needs a person: reserve (undone by release), then charge.
        json!({"name": "charge-review", "start_at": "reserve",
               "states": {"reserve": {"type": "task", "service": "payments", "action": "reserve",
                                      "compensation": {"service": "payments", "action": "release"}, "next": "charge"},
                          "charge": {"type": "task", "service": "payments", "action": "charge",
                                     "on_failure": "intervention", "next": "done"},
                          "done": {"type": "succeed"}}}),
        // A charge that fails, whose undo (refund) fails too: a failed compensation.
        json!({"name": "undo-fails", "start_at": "reserve",
               "states": {"reserve": {"type": "task", "service": "payments", "action": "reserve",
                                      "compensation": {"service": "payments", "action": "refund"}, "next": "charge"},
                          "charge": {"type": "task", "service": "payments", "action": "charge", "next": "done"},
                          "done": {"type": "succeed"}}}),
    ]
}

/// The state, an admin and a reviewer acting through the API, and the payments service: `charge` of more
/// than $1,000.00 is declined, `refund` always is, everything else succeeds.
struct Inbox {
    state: AppState,
    admin: Router,
    reviewer: Router,
    payments: Arc<RecordingService>,
}

impl Inbox {
    async fn on(url: &DatabaseUrl) -> Self {
        let payments =
            Arc::new(RecordingService::with_behaviour(&["pay", "reserve", "release", "charge", "refund"], |request| {
                match request.action.as_str() {
                    "charge" if request.input["amount_minor"].as_i64().unwrap_or(0) > 100_000 => {
                        Err(ServiceError::new(ErrorKind::Permanent, "over the card's limit"))
                    }
                    "refund" => Err(ServiceError::new(ErrorKind::Permanent, "refund refused")),
                    action => Ok(json!({"action": action, "ok": true})),
                }
            }));
        let mut registry = Registry::new();
        registry.register("payments", payments.clone());
        let state = crate::support::state_with(url, registry).await;
        for definition in definitions() {
            state.runtime.register_definition(definition, "test").await.expect("a valid definition");
        }
        let admin = crate::support::admin_router(&state);
        let reviewer = crate::support::router_as(&state, Role::Reviewer);
        Self { state, admin, reviewer, payments }
    }

    /// Starts a run and waits until it waits for a person; its open intervention's id.
    async fn item(&self, workflow: &str, input: Value) -> (String, String) {
        let started = self
            .state
            .runtime
            .start_instance(StartRequest { workflow: workflow.into(), input, ..StartRequest::default() })
            .await
            .expect("started");
        let id = started.instance.id;
        let row = self.state.runtime.wait_settled(&id, SETTLE).await.expect("settles");
        assert!(matches!(row.status.as_str(), "waiting" | "needs_intervention"), "{workflow}: {}", row.status);
        let open = self.state.runtime.store().interventions_of(&id).await.unwrap();
        let item = open.into_iter().rfind(|i| i.status == "open").expect("an open intervention");
        (id, item.id)
    }

    async fn settled(&self, instance: &str) -> String {
        self.state.runtime.wait_settled(instance, SETTLE).await.unwrap().status
    }

    async fn audit(&self, action: &str, intervention: &str) -> Vec<AuditRow> {
        let filter = AuditFilter {
            action: Some(action.into()),
            target_kind: Some("intervention".into()),
            target_id: Some(intervention.into()),
            limit: 1_000,
            ..AuditFilter::default()
        };
        self.state.runtime.store().audit(&filter).await.unwrap()
    }

    /// How many journal rows of the instance applied `event`.
    async fn journal_count(&self, instance: &str, event: &str) -> usize {
        let journal = self.state.runtime.store().journal(instance).await.unwrap();
        journal.iter().filter(|row| row.event == event).count()
    }
}

async fn get(router: &Router, uri: &str) -> Reply {
    Reply::exchange(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(router: &Router, uri: &str, body: &Value) -> Reply {
    let request =
        Request::post(uri).header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap();
    Reply::exchange(router, request).await
}

#[track_caller]
fn ok(reply: Reply) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_string()).collect()
}

fn millis(value: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("RFC 3339").timestamp_millis()
}

fn actions(detail: &Value) -> Vec<String> {
    detail["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

async fn a_human_task_is_listed_with_priority_due_time_and_choices(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let (instance, id) = inbox.item("payout-review", json!({"payout_id": "p-1", "amount_minor": 250_000})).await;

    let list = ok(get(&inbox.reviewer, "/api/interventions").await);
    assert_eq!(ids(&list), [id.as_str()]);
    let item = &list["items"][0];
    assert_eq!(item["kind"], "human_task");
    assert_eq!(item["reason"], "Approve the payout");
    assert_eq!(item["workflow"], "payout-review");
    assert_eq!(item["instance_id"], instance.as_str());
    assert_eq!(item["instance_status"], "waiting");
    assert_eq!(item["state"], "review");
    assert_eq!(item["choices"], json!(["approve", "deny"]));
    assert_eq!(item["status"], "open");
    assert_eq!(item["assignee"], Value::Null);
    assert_eq!(item["overdue"], false);
    assert_eq!(millis(&item["due_at"]) - millis(&item["opened_at"]), 3_600_000, "the definition's due_in_ms");
    assert_eq!(item["amount_minor"], 250_000);
    // Due within the hour +25, $2,500.00 +20, open under an hour +0, a human task +10, marked high +10.
    let priority = &item["priority"];
    assert_eq!(priority["score"], 65, "{priority}");
    assert_eq!(priority["level"], "high");
    let because: Vec<&str> = priority["because"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    assert!(because[0].starts_with("due in ") && because[0].ends_with(" (+25)"), "{because:?}");
    assert_eq!(
        because[1..],
        ["$2,500.00 at stake (+20)", "open 1 min (+0)", "human task (+10)", "marked high by the workflow (+10)"]
    );
    assert_eq!(list["counts"], json!({"mine": 0, "unassigned": 1, "all": 1, "overdue": 0}));
    assert_eq!(ok(get(&inbox.reviewer, "/api/interventions/counts").await), list["counts"]);

    let detail = ok(get(&inbox.reviewer, &format!("/api/interventions/{id}")).await);
    assert_eq!(detail["item"], *item);
    assert_eq!(detail["context"]["input"], json!({"payout_id": "p-1", "amount_minor": 250_000}));
    assert_eq!(detail["step_input"], Value::Null);
    assert_eq!(detail["error"], Value::Null);
    assert_eq!(actions(&detail), ["opened"]);
    assert_eq!(detail["history"][0]["reason"], "Approve the payout");
}
on_both!(a_human_task_is_listed_with_priority_due_time_and_choices);

async fn of_fifty_simultaneous_claims_exactly_one_wins(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let (_, id) = inbox.item("payout-review", json!({})).await;
    let uri = format!("/api/interventions/{id}/claim");

    // Fifty people, each with their own router built beforehand, all let go at once.
    let routers: Vec<Router> =
        (0..50).map(|n| crate::support::router_for(&inbox.state, &format!("reviewer-{n:02}"), Role::Reviewer)).collect();
    let start = Arc::new(tokio::sync::Barrier::new(routers.len()));
    let claims: Vec<_> = routers
        .into_iter()
        .enumerate()
        .map(|(n, router)| {
            let (uri, start) = (uri.clone(), start.clone());
            tokio::spawn(async move {
                let request = Request::post(uri).body(Body::empty()).unwrap();
                start.wait().await;
                (n, Reply::exchange(&router, request).await)
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut lost = Vec::new();
    for claim in claims {
        let (n, reply) = claim.await.unwrap();
        match reply.status {
            StatusCode::OK => won.push((n, reply)),
            _ => lost.push(reply),
        }
    }
    assert_eq!(won.len(), 1, "exactly one claim wins");
    assert_eq!(lost.len(), 49);
    let winner = format!("reviewer-{:02}", won[0].0);
    assert_eq!(won[0].1.body["item"]["assignee"], winner.as_str());
    for reply in &lost {
        reply.error(StatusCode::CONFLICT, "conflict", &["already claimed by", &winner, "UTC"], &[]);
    }
    let claims = inbox.audit("intervention.claim", &id).await;
    assert_eq!(claims.len(), 1, "one audit entry: the winner's");
    assert_eq!(claims[0].actor, winner);
    assert_eq!(claims[0].after.as_deref(), Some(format!(r#"{{"assignee":"{winner}"}}"#).as_str()));

    // Claiming one's own item again changes nothing and is fine.
    let again = crate::support::router_for(&inbox.state, &winner, Role::Reviewer);
    let detail = ok(post(&again, &uri, &json!({})).await);
    assert_eq!(detail["item"]["assignee"], winner.as_str());
    assert_eq!(inbox.audit("intervention.claim", &id).await.len(), 1);
    assert_eq!(ids(&ok(get(&again, "/api/interventions?view=mine").await)), [id.as_str()]);
    assert!(ids(&ok(get(&inbox.reviewer, "/api/interventions?view=mine").await)).is_empty());
    assert!(ids(&ok(get(&inbox.reviewer, "/api/interventions?view=unassigned").await)).is_empty());
}
on_both!(of_fifty_simultaneous_claims_exactly_one_wins);

async fn resolving_a_human_task_moves_the_run_on(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let mut events = inbox.state.events.subscribe();
    let (instance, id) = inbox.item("payout-review", json!({"payout_id": "p-2"})).await;

    ok(post(&inbox.reviewer, &format!("/api/interventions/{id}/claim"), &json!({})).await);
    let body = json!({"choice": "approve", "reason": "documents check out", "data": {"checked": ["id", "bank"]}});
    let detail = ok(post(&inbox.reviewer, &format!("/api/interventions/{id}/resolve"), &body).await);
    let item = &detail["item"];
    assert_eq!(item["status"], "resolved");
    assert_eq!(item["resolved_by"], "test-reviewer");
    assert_eq!(item["resolution"]["choice"], "approve");
    assert_eq!(item["resolution"]["reason"], "documents check out");
    assert!(item["resolved_at"].is_string());
    assert_eq!(actions(&detail), ["opened", "claimed", "resolved"]);
    assert_eq!(detail["history"][2]["actor"], "test-reviewer");
    assert_eq!(detail["history"][2]["reason"], "documents check out");

    assert_eq!(inbox.settled(&instance).await, "completed");
    let pay: Vec<_> = inbox.payments.calls().into_iter().filter(|c| c.action == "pay").collect();
    assert_eq!(pay.len(), 1, "approving paid out once");
    let context = &ok(get(&inbox.admin, &format!("/api/interventions/{id}")).await)["context"];
    assert_eq!(context["steps"]["review"]["decision"], "approve");
    assert_eq!(context["steps"]["review"]["actor"], "test-reviewer");
    assert_eq!(context["steps"]["review"]["data"], json!({"checked": ["id", "bank"]}));

    let resolved = ok(get(&inbox.reviewer, "/api/interventions?view=resolved").await);
    assert_eq!(ids(&resolved), [id.as_str()]);
    assert_eq!(resolved["counts"]["all"], 0);

    // The bus told the inbox: opened by the run, claimed, resolved by the run's transition.
    let mut changes = Vec::new();
    let deadline = tokio::time::Instant::now() + SETTLE;
    while changes.len() < 3 {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(LiveEvent::Intervention(change))) if change.id == id => {
                changes.push((change.change, change.status, change.assignee))
            }
            Ok(Ok(_)) => {}
            other => panic!("the bus stopped short: {other:?}, after {changes:?}"),
        }
    }
    assert_eq!(
        changes,
        [
            ("opened".to_string(), "open".to_string(), None),
            ("claimed".to_string(), "open".to_string(), Some("test-reviewer".to_string())),
            ("resolved".to_string(), "resolved".to_string(), None),
        ]
    );
}
on_both!(resolving_a_human_task_moves_the_run_on);

async fn a_second_resolve_has_no_second_effect(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;

    // One after the other.
    let (instance, id) = inbox.item("payout-review", json!({})).await;
    let uri = format!("/api/interventions/{id}/resolve");
    ok(post(&inbox.reviewer, &uri, &json!({"choice": "approve", "reason": "fine"})).await);
    let again = post(&inbox.admin, &uri, &json!({"choice": "deny", "reason": "changed my mind"})).await;
    again.error(StatusCode::CONFLICT, "conflict", &["already resolved by test-reviewer"], &[]);
    assert_eq!(inbox.settled(&instance).await, "completed");
    assert_eq!(inbox.journal_count(&instance, "human_decided").await, 1);
    assert_eq!(inbox.audit("intervention.resolve", &id).await.len(), 1);

    // At the same time, by two people: one effect, the other told who won.
    let alice = crate::support::router_for(&inbox.state, "alice", Role::Reviewer);
    let bob = crate::support::router_for(&inbox.state, "bob", Role::Reviewer);
    for round in 0..5 {
        let (instance, id) = inbox.item("payout-review", json!({"round": round})).await;
        let uri = format!("/api/interventions/{id}/resolve");
        let (yes, no) = (
            json!({"choice": "approve", "reason": "alice says yes"}),
            json!({"choice": "deny", "reason": "bob says no"}),
        );
        let (a, b) = tokio::join!(post(&alice, &uri, &yes), post(&bob, &uri, &no));
        let (winner, loser, status) = match (a.status, b.status) {
            (StatusCode::OK, _) => ("alice", b, "completed"),
            (_, StatusCode::OK) => ("bob", a, "failed"),
            _ => panic!("one of the two must win: {} / {}", a.text, b.text),
        };
        loser.error(StatusCode::CONFLICT, "conflict", &["already resolved by", winner], &[]);
        assert_eq!(inbox.settled(&instance).await, status, "round {round}: {winner}'s decision holds");
        assert_eq!(inbox.journal_count(&instance, "human_decided").await, 1, "round {round}");
        let resolutions = inbox.audit("intervention.resolve", &id).await;
        assert_eq!(resolutions.len(), 1, "round {round}");
        assert_eq!(resolutions[0].actor, winner);
    }
}
on_both!(a_second_resolve_has_no_second_effect);

async fn failed_steps_are_retried_skipped_compensated_or_aborted(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let input = json!({"order_id": "o-1", "amount_minor": 125_000});
    let mut items = BTreeMap::new();
    for choice in ["retry", "skip", "compensate", "abort"] {
        items.insert(choice, inbox.item("charge-review", input.clone()).await);
    }

    let list = ok(get(&inbox.reviewer, "/api/interventions?kind=retries_exhausted").await);
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["choices"], json!(["retry", "skip", "compensate", "abort"]));
        assert_eq!(item["state"], "charge");
        assert_eq!(item["amount_minor"], 125_000);
        assert_eq!(item["instance_status"], "needs_intervention");
        assert_eq!(millis(&item["due_at"]) - millis(&item["opened_at"]), 2 * 3_600_000, "the kind's default");
        let because = item["priority"]["because"].as_array().unwrap();
        assert!(because.contains(&json!("$1,250.00 at stake (+20)")), "{because:?}");
        assert!(because.contains(&json!("retries exhausted (+20)")), "{because:?}");
    }
    let (_, retry_id) = &items["retry"];
    let detail = ok(get(&inbox.reviewer, &format!("/api/interventions/{retry_id}")).await);
    assert_eq!(detail["step_input"], input);
    assert!(detail["error"].as_str().unwrap().contains("over the card's limit"), "{detail}");

    // What does not fit a failure is refused, naming the field.
    let uri = format!("/api/interventions/{retry_id}/resolve");
    post(&inbox.reviewer, &uri, &json!({"choice": "approve", "reason": "r"})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["retry, skip, compensate, abort"],
        &["choice"],
    );
    post(&inbox.reviewer, &uri, &json!({"choice": "skip", "reason": "r", "input": {}})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["input", "retry"],
        &["input"],
    );
    post(&inbox.reviewer, &uri, &json!({"choice": "retry", "reason": "r", "output": {}})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["output", "skip"],
        &["output"],
    );
    post(&inbox.reviewer, &uri, &json!({"choice": "retry", "reason": "r", "data": {}})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["data", "human tasks"],
        &["data"],
    );

    // Retry with edited input: the new charge goes through.
    let edited = json!({"order_id": "o-1", "amount_minor": 5_000});
    let body = json!({"choice": "retry", "reason": "split the charge", "input": edited});
    ok(post(&inbox.reviewer, &uri, &body).await);
    assert_eq!(inbox.settled(&items["retry"].0).await, "completed");
    let charged = inbox.payments.calls().into_iter().filter(|c| c.action == "charge" && c.applied).count();
    assert_eq!(charged, 1, "only the edited charge applied");
    let resolved = ok(get(&inbox.reviewer, &format!("/api/interventions/{retry_id}")).await);
    assert_eq!(resolved["item"]["resolution"]["choice"], "retry");
    assert!(resolved["error"].as_str().unwrap().contains("over the card's limit"), "the failure is still told");

    // Skip with an output: the step counts as done with it.
    let (skip_instance, skip_id) = &items["skip"];
    let output = json!({"charged_by": "bank transfer"});
    let body = json!({"choice": "skip", "reason": "paid by bank transfer", "output": output});
    ok(post(&inbox.reviewer, &format!("/api/interventions/{skip_id}/resolve"), &body).await);
    assert_eq!(inbox.settled(skip_instance).await, "completed");
    let context = &ok(get(&inbox.reviewer, &format!("/api/interventions/{skip_id}")).await)["context"];
    assert_eq!(context["steps"]["charge"], output);

    // Compensate: the reservation is released, the run ends compensated.
    let (compensate_instance, compensate_id) = &items["compensate"];
    let body = json!({"choice": "compensate", "reason": "customer gave up"});
    ok(post(&inbox.reviewer, &format!("/api/interventions/{compensate_id}/resolve"), &body).await);
    assert_eq!(inbox.settled(compensate_instance).await, "compensated");
    let released = inbox.payments.calls().into_iter().filter(|c| c.action == "release" && c.applied).count();
    assert_eq!(released, 1);

    // Abort: the run stops failed, nothing undone.
    let (abort_instance, abort_id) = &items["abort"];
    ok(post(
        &inbox.reviewer,
        &format!("/api/interventions/{abort_id}/resolve"),
        &json!({"choice": "abort", "reason": "fraud"}),
    )
    .await);
    assert_eq!(inbox.settled(abort_instance).await, "failed");
    let released = inbox.payments.calls().into_iter().filter(|c| c.action == "release").count();
    assert_eq!(released, 1, "abort undoes nothing");

    let counts = ok(get(&inbox.reviewer, "/api/interventions/counts").await);
    assert_eq!(counts["all"], 0);
}
on_both!(failed_steps_are_retried_skipped_compensated_or_aborted);

async fn a_failed_compensation_is_skipped_by_hand(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let (instance, id) = inbox.item("undo-fails", json!({"amount_minor": 500_000})).await;
    let detail = ok(get(&inbox.reviewer, &format!("/api/interventions/{id}")).await);
    assert_eq!(detail["item"]["kind"], "compensation_failed");
    assert_eq!(detail["item"]["choices"], json!(["retry", "skip", "abort"]));
    assert!(detail["error"].as_str().unwrap().contains("refund refused"), "{detail}");
    let uri = format!("/api/interventions/{id}/resolve");
    post(&inbox.reviewer, &uri, &json!({"choice": "retry", "reason": "r", "input": {"amount_minor": 1}})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["input"],
        &["input"],
    );
    ok(post(&inbox.reviewer, &uri, &json!({"choice": "skip", "reason": "refunded by hand"})).await);
    assert_eq!(inbox.settled(&instance).await, "compensated");
}
on_both!(a_failed_compensation_is_skipped_by_hand);

async fn assignments_are_audited_with_before_and_after(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let store = &inbox.state.access.store;
    let now = chrono::Utc::now().timestamp_millis();
    for (name, role, disabled) in [("rita", "reviewer", false), ("sam", "support", false), ("dora", "admin", true)] {
        let user = switchboard::store::access::UserRow {
            id: format!("user-{name}"),
            username: name.into(),
            display_name: name.into(),
            role: role.into(),
            password_hash: "not-a-hash".into(),
            created_at: now,
            password_changed_at: now,
            disabled_at: disabled.then_some(now),
        };
        store.create_user(&user, &AuditRow::ok("test", "user.create", "user", name, now)).await.unwrap();
    }
    let (_, id) = inbox.item("payout-review", json!({})).await;
    let uri = format!("/api/interventions/{id}/assign");

    for (body, mentions) in [
        (json!({"assignee": "sam"}), &["sam", "support", "may not work interventions"][..]),
        (json!({"assignee": "dora"}), &["dora", "disabled"][..]),
        (json!({"assignee": "nobody-here"}), &["no user named nobody-here"][..]),
        (json!({"assignee": " "}), &["null to unassign"][..]),
    ] {
        post(&inbox.admin, &uri, &body).await.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            mentions,
            &["assignee"],
        );
    }
    post(&inbox.admin, &uri, &json!({"assignee": "rita", "surprise": 1})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &[],
        &["surprise"],
    );
    assert!(inbox.audit("intervention.", &id).await.is_empty(), "refusals change nothing");

    let detail = ok(post(&inbox.admin, &uri, &json!({"assignee": "rita", "reason": "she knows the seller"})).await);
    assert_eq!(detail["item"]["assignee"], "rita");
    let assigned = inbox.audit("intervention.assign", &id).await;
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].actor, "test-admin");
    assert_eq!(assigned[0].reason.as_deref(), Some("she knows the seller"));
    assert_eq!(assigned[0].before.as_deref(), Some(r#"{"assignee":null}"#));
    assert_eq!(assigned[0].after.as_deref(), Some(r#"{"assignee":"rita"}"#));

    // Held by rita: others may neither claim nor resolve it.
    post(&inbox.reviewer, &format!("/api/interventions/{id}/claim"), &json!({})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["already claimed by rita"],
        &[],
    );
    post(&inbox.reviewer, &format!("/api/interventions/{id}/resolve"), &json!({"choice": "approve", "reason": "r"}))
        .await
        .error(StatusCode::CONFLICT, "conflict", &["claimed by rita", "reassigned"], &[]);

    let detail = ok(post(&inbox.admin, &uri, &json!({"assignee": null})).await);
    assert_eq!(detail["item"]["assignee"], Value::Null);
    let unassigned = inbox.audit("intervention.unassign", &id).await;
    assert_eq!(unassigned.len(), 1);
    assert_eq!(unassigned[0].before.as_deref(), Some(r#"{"assignee":"rita"}"#));
    assert_eq!(unassigned[0].after.as_deref(), Some(r#"{"assignee":null}"#));
    assert_eq!(actions(&detail), ["opened", "assigned", "unassigned"]);
    assert_eq!(detail["history"][1]["detail"], json!({"before": {"assignee": null}, "after": {"assignee": "rita"}}));

    let detail = ok(post(&inbox.reviewer, &format!("/api/interventions/{id}/claim"), &json!({})).await);
    assert_eq!(detail["item"]["assignee"], "test-reviewer");
    ok(post(&inbox.reviewer, &format!("/api/interventions/{id}/resolve"), &json!({"choice": "deny", "reason": "no"}))
        .await);
    post(&inbox.admin, &uri, &json!({"assignee": "rita"})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["already resolved by test-reviewer"],
        &[],
    );
}
on_both!(assignments_are_audited_with_before_and_after);

async fn views_and_filters_select_what_they_say(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let (_, payout) = inbox.item("payout-review", json!({})).await;
    let (_, rush) = inbox.item("rush-review", json!({})).await;
    let (_, charge) = inbox.item("charge-review", json!({"amount_minor": 200_000})).await;
    ok(post(&inbox.reviewer, &format!("/api/interventions/{payout}/claim"), &json!({})).await);

    // The rush item is due 1 ms after it opened: wait until the clock has passed it.
    let deadline = tokio::time::Instant::now() + SETTLE;
    let overdue = loop {
        let list = ok(get(&inbox.reviewer, "/api/interventions?view=overdue").await);
        if !ids(&list).is_empty() || tokio::time::Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(ids(&overdue), [rush.as_str()]);
    assert_eq!(overdue["items"][0]["overdue"], true);
    assert!(overdue["items"][0]["priority"]["because"][0].as_str().unwrap().starts_with("overdue by"));
    assert_eq!(overdue["counts"], json!({"mine": 1, "unassigned": 2, "all": 3, "overdue": 1}));

    let view = |query: &str| {
        let router = inbox.reviewer.clone();
        let uri = format!("/api/interventions?{query}");
        async move { ids(&ok(get(&router, &uri).await)) }
    };
    assert_eq!(view("view=mine").await, [payout.as_str()]);
    let mut unassigned = view("view=unassigned").await;
    unassigned.sort();
    let mut expected = vec![rush.clone(), charge.clone()];
    expected.sort();
    assert_eq!(unassigned, expected);
    assert_eq!(view("view=all&kind=retries_exhausted").await, [charge.as_str()]);
    assert_eq!(view("workflow=rush-review").await, [rush.as_str()]);
    assert!(view("workflow=no-such-flow").await.is_empty());
    assert_eq!(view("view=all&limit=1").await.len(), 1);

    // Most urgent first.
    let all = ok(get(&inbox.reviewer, "/api/interventions?view=all").await);
    let scores: Vec<i64> =
        all["items"].as_array().unwrap().iter().map(|i| i["priority"]["score"].as_i64().unwrap()).collect();
    assert_eq!(scores.len(), 3);
    assert!(scores.windows(2).all(|pair| pair[0] >= pair[1]), "{scores:?}");
    for item in all["items"].as_array().unwrap() {
        let level = item["priority"]["level"].as_str().unwrap();
        let same = view(&format!("priority={level}")).await;
        assert!(same.contains(&item["id"].as_str().unwrap().to_string()), "{level}");
    }
    let other: Vec<&str> = ["urgent", "high", "normal", "low"]
        .into_iter()
        .filter(|level| all["items"].as_array().unwrap().iter().all(|i| i["priority"]["level"] != *level))
        .collect();
    for level in other {
        assert!(view(&format!("priority={level}")).await.is_empty(), "{level}");
    }

    ok(post(
        &inbox.reviewer,
        &format!("/api/interventions/{rush}/resolve"),
        &json!({"choice": "ok", "reason": "done"}),
    )
    .await);
    assert_eq!(view("view=resolved").await, [rush.as_str()]);
    assert_eq!(view("view=all").await.len(), 2);
    assert_eq!(
        ok(get(&inbox.reviewer, "/api/interventions/counts").await),
        json!({"mine": 1, "unassigned": 1, "all": 2, "overdue": 0})
    );

    for (query, field) in [
        ("view=someday", "view"),
        ("kind=fire", "kind"),
        ("priority=meh", "priority"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
    ] {
        let reply = get(&inbox.reviewer, &format!("/api/interventions?{query}")).await;
        reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["invalid parameters"], &[field]);
    }
    let reply = get(&inbox.reviewer, "/api/interventions?view=nope&kind=nope").await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &[], &["view", "kind"]);
    get(&inbox.reviewer, "/api/interventions?colour=red").await.error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["colour"],
        &[],
    );
}
on_both!(views_and_filters_select_what_they_say);

async fn bad_requests_name_their_fields(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let (_, id) = inbox.item("payout-review", json!({})).await;
    let uri = format!("/api/interventions/{id}/resolve");

    post(&inbox.reviewer, &uri, &json!({"choice": "approve", "reason": "  "})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["reason"],
        &["reason"],
    );
    post(&inbox.reviewer, &uri, &json!({"choice": "maybe", "reason": "r"})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["approve, deny"],
        &["choice"],
    );
    post(&inbox.reviewer, &uri, &json!({"choice": "maybe", "reason": "r", "input": {}, "output": 1})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["invalid fields"],
        &["choice", "input", "output"],
    );
    post(&inbox.reviewer, &uri, &json!({"choice": "approve"})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["reason", "is required"],
        &["reason"],
    );
    assert!(inbox.audit("intervention.", &id).await.is_empty(), "refusals change nothing");

    for reply in [
        get(&inbox.reviewer, "/api/interventions/no-such-item").await,
        post(&inbox.reviewer, "/api/interventions/no-such-item/claim", &json!({})).await,
        post(&inbox.reviewer, "/api/interventions/no-such-item/assign", &json!({"assignee": null})).await,
        post(&inbox.reviewer, "/api/interventions/no-such-item/resolve", &json!({"choice": "ok", "reason": "r"})).await,
    ] {
        reply.error(StatusCode::NOT_FOUND, "not_found", &["no intervention", "no-such-item"], &[]);
    }
}
on_both!(bad_requests_name_their_fields);

async fn support_may_read_the_inbox_but_not_work_it(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let (_, id) = inbox.item("payout-review", json!({})).await;
    let support = crate::support::router_as(&inbox.state, Role::Support);
    assert_eq!(ids(&ok(get(&support, "/api/interventions").await)), [id.as_str()]);
    ok(get(&support, &format!("/api/interventions/{id}")).await);
    for (uri, body) in [
        (format!("/api/interventions/{id}/claim"), json!({})),
        (format!("/api/interventions/{id}/assign"), json!({"assignee": null})),
        (format!("/api/interventions/{id}/resolve"), json!({"choice": "approve", "reason": "r"})),
        ("/api/interventions/bulk-resolve".to_string(), json!({"ids": [id], "choice": "approve", "reason": "r"})),
    ] {
        post(&support, &uri, &body).await.error(StatusCode::FORBIDDEN, "forbidden", &[], &[]);
    }
    assert_eq!(ok(get(&inbox.admin, &format!("/api/interventions/{id}")).await)["item"]["status"], "open");
}
on_both!(support_may_read_the_inbox_but_not_work_it);

async fn an_sla_breach_is_acknowledged_once(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let now = chrono::Utc::now().timestamp_millis();
    let item = switchboard::store::InterventionRow {
        id: "sla-item-1".into(),
        instance_id: String::new(),
        workflow: "payout-review".into(),
        kind: "sla_breach".into(),
        state: "p95_duration_ms".into(),
        decisions: r#"["acknowledge"]"#.into(),
        assignee_group: Some("managers".into()),
        priority: "high".into(),
        due_at: Some(now + 3_600_000),
        reason: "SLA breached: p95 duration of payout-review is 9 s against a target of 2 s".into(),
        status: "open".into(),
        opened_at: now,
        closed_at: None,
    };
    let breach = switchboard::store::sla::SlaBreachRow {
        id: "breach-1".into(),
        target_id: "target-1".into(),
        workflow: "payout-review".into(),
        metric: "p95_duration_ms".into(),
        threshold: 2_000.0,
        actual: 9_000.0,
        window_ms: 3_600_000,
        breached_at: now,
        recovered_at: None,
        intervention_id: Some(item.id.clone()),
    };
    inbox.state.runtime.store().insert_sla_breach(&breach, Some(&item)).await.unwrap();

    let list = ok(get(&inbox.reviewer, "/api/interventions?kind=sla_breach").await);
    let listed = &list["items"][0];
    assert_eq!(listed["id"], "sla-item-1");
    assert_eq!(listed["instance_id"], Value::Null);
    assert_eq!(listed["instance_status"], Value::Null);
    assert_eq!(listed["state"], "target-1", "a breach names its SLA target");
    assert_eq!(listed["choices"], json!(["acknowledge"]));
    let detail = ok(get(&inbox.reviewer, "/api/interventions/sla-item-1").await);
    assert_eq!(detail["context"]["actual"], 9_000.0);
    assert_eq!(detail["context"]["threshold"], 2_000.0);

    let uri = "/api/interventions/sla-item-1/resolve";
    post(&inbox.reviewer, uri, &json!({"choice": "retry", "reason": "r"})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["acknowledge"],
        &["choice"],
    );
    let detail = ok(post(&inbox.reviewer, uri, &json!({"choice": "acknowledge", "reason": "capacity added"})).await);
    assert_eq!(detail["item"]["status"], "resolved");
    assert_eq!(detail["item"]["resolved_by"], "test-reviewer");
    assert_eq!(detail["item"]["resolution"], json!({"choice": "acknowledge", "reason": "capacity added"}));
    assert_eq!(actions(&detail), ["opened", "resolved"]);
    post(&inbox.admin, uri, &json!({"choice": "acknowledge", "reason": "again"})).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["already resolved by test-reviewer"],
        &[],
    );
    let audit = inbox.audit("intervention.resolve", "sla-item-1").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].reason.as_deref(), Some("capacity added"));
}
on_both!(an_sla_breach_is_acknowledged_once);

async fn bulk_resolve_resolves_each_and_lists_the_refused(url: DatabaseUrl) {
    let inbox = Inbox::on(&url).await;
    let (a_run, a) = inbox.item("payout-review", json!({})).await;
    let (b_run, b) = inbox.item("payout-review", json!({})).await;
    let (_, done) = inbox.item("payout-review", json!({})).await;
    let (_, failure) = inbox.item("charge-review", json!({"amount_minor": 200_000})).await;
    ok(post(&inbox.admin, &format!("/api/interventions/{done}/resolve"), &json!({"choice": "deny", "reason": "no"}))
        .await);

    let uri = "/api/interventions/bulk-resolve";
    let body = json!({"ids": [a, b, done, failure, "no-such-item", a], "choice": "approve", "reason": "batch ok"});
    let answer = ok(post(&inbox.reviewer, uri, &body).await);
    assert_eq!(answer["resolved"], 2, "{answer}");
    let refused: BTreeMap<String, String> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["message"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused[&done].contains("already resolved by test-admin"), "{refused:?}");
    assert!(refused[&failure].contains("choice: must be one of retry, skip, compensate, abort"), "{refused:?}");
    assert!(refused["no-such-item"].contains("no intervention"), "{refused:?}");
    assert_eq!(inbox.settled(&a_run).await, "completed");
    assert_eq!(inbox.settled(&b_run).await, "completed");
    assert_eq!(inbox.audit("intervention.resolve", &a).await.len(), 1);

    for (body, fields) in [
        (json!({"ids": [], "choice": "approve", "reason": "r"}), &["ids"][..]),
        (json!({"ids": [a], "choice": "approve", "reason": " "}), &["reason"][..]),
        (json!({"ids": [a], "choice": "", "reason": ""}), &["choice", "reason"][..]),
        (
            json!({"ids": (0..501).map(|n| n.to_string()).collect::<Vec<_>>(), "choice": "approve", "reason": "r"}),
            &["ids"][..],
        ),
    ] {
        post(&inbox.reviewer, uri, &body).await.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &[], fields);
    }
}
on_both!(bulk_resolve_resolves_each_and_lists_the_refused);
