//! The runtime on both databases: sagas run, compensate, retry, wait, ask people, obey operators, and
//! recover after a crash — with every effect applied once.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use engine::{ErrorKind, ServiceError};
use switchboard::db::DatabaseUrl;
use switchboard::runtime::{Command, Runtime, StartRequest};
use switchboard::services::{RecordingService, Registry};
use switchboard::store::InstanceRow;

const SETTLE: Duration = Duration::from_secs(20);

const CALL_ACTIONS: &[&str] =
    &["validate", "find_buyer", "release_reservation", "connect", "disconnect", "start_billing", "cancel_meter"];

/// Calls whose number is divisible by 20 fail at start-billing, permanently.
fn calls_service() -> Arc<RecordingService> {
    Arc::new(RecordingService::with_behaviour(CALL_ACTIONS, |request| {
        let number = request.input["number"].as_i64().unwrap_or(1);
        if request.action == "start_billing" && number % 20 == 0 {
            return Err(ServiceError::new(ErrorKind::Permanent, "billing refused the call"));
        }
        Ok(json!({"action": request.action, "number": number}))
    }))
}

async fn runtime_with(url: &DatabaseUrl, name: &str, service: Arc<RecordingService>) -> Runtime {
    let mut registry = Registry::new();
    registry.register(name, service);
    crate::support::state_with(url, registry).await.runtime
}

async fn start_call(runtime: &Runtime, number: i64) -> InstanceRow {
    let request = StartRequest {
        workflow: "call-processing".into(),
        input: json!({"call_id": format!("call-{number}"), "number": number}),
        ..StartRequest::default()
    };
    runtime.start_instance(request).await.expect("start").instance
}

fn actions_of(service: &RecordingService, key_prefix: &str) -> Vec<String> {
    service.calls().into_iter().filter(|c| c.idempotency_key.starts_with(key_prefix)).map(|c| c.action).collect()
}

async fn saga_completes_and_records_steps_journal_and_keys(url: DatabaseUrl) {
    let service = calls_service();
    let runtime = runtime_with(&url, "calls", service.clone()).await;
    runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    let started = start_call(&runtime, 7).await;
    assert_eq!(started.status, "running");
    let done = runtime.wait_settled(&started.id, SETTLE).await.unwrap();
    assert_eq!(done.status, "completed", "{done:?}");
    assert!(done.finished_at.is_some());
    assert_eq!(actions_of(&service, &started.id), ["validate", "find_buyer", "connect", "start_billing"]);

    let store = runtime.store();
    let steps = store.steps(&started.id).await.unwrap();
    assert_eq!(steps.len(), 4);
    assert!(steps.iter().all(|s| s.outcome == "succeeded" && s.finished_at >= s.started_at));
    let journal = store.journal(&started.id).await.unwrap();
    assert_eq!(journal.first().unwrap().event, "started");
    assert_eq!(journal.len(), 5, "started + four step results");
    assert!(journal.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(store.business_keys(&started.id).await.unwrap(), [("input.call_id".to_string(), "call-7".to_string())]);
}
on_both!(saga_completes_and_records_steps_journal_and_keys);

async fn a_permanent_failure_compensates_completed_steps_in_reverse(url: DatabaseUrl) {
    let service = calls_service();
    let runtime = runtime_with(&url, "calls", service.clone()).await;
    runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    let started = start_call(&runtime, 40).await;
    let done = runtime.wait_settled(&started.id, SETTLE).await.unwrap();
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(done.error.as_deref().unwrap_or_default().contains("billing refused"), "{:?}", done.error);
    assert_eq!(
        actions_of(&service, &started.id),
        ["validate", "find_buyer", "connect", "start_billing", "disconnect", "release_reservation"]
    );
    let keys = service.applied_per_key();
    assert!(keys.values().all(|&n| n == 1), "{keys:?}");
    let compensations: Vec<_> =
        runtime.store().steps(&started.id).await.unwrap().into_iter().filter(|s| s.kind == "compensation").collect();
    assert_eq!(compensations.len(), 2);
}
on_both!(a_permanent_failure_compensates_completed_steps_in_reverse);

async fn retryable_failures_retry_with_the_same_key(url: DatabaseUrl) {
    let failures = Arc::new(AtomicU32::new(0));
    let counter = failures.clone();
    let service = Arc::new(RecordingService::with_behaviour(CALL_ACTIONS, move |request| {
        if request.action == "start_billing" && counter.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(ServiceError::new(ErrorKind::Retryable, "billing busy"));
        }
        Ok(json!({"ok": true}))
    }));
    let runtime = runtime_with(&url, "calls", service.clone()).await;
    runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    let started = start_call(&runtime, 3).await;
    let done = runtime.wait_settled(&started.id, SETTLE).await.unwrap();
    assert_eq!(done.status, "completed", "{done:?}");
    let billing: Vec<_> = service.calls().into_iter().filter(|c| c.action == "start_billing").collect();
    assert_eq!(billing.len(), 3);
    assert!(billing.iter().all(|c| c.idempotency_key == billing[0].idempotency_key), "one key for every retry");
    let outcomes: Vec<String> = runtime
        .store()
        .steps(&started.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.state == "start-billing")
        .map(|s| s.outcome)
        .collect();
    assert_eq!(outcomes, ["retryable", "retryable", "succeeded"]);
}
on_both!(retryable_failures_retry_with_the_same_key);

async fn the_same_idempotency_key_starts_one_instance(url: DatabaseUrl) {
    let runtime = runtime_with(&url, "calls", calls_service()).await;
    runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    let request = StartRequest {
        workflow: "call-processing".into(),
        input: json!({"call_id": "c-1", "number": 1}),
        idempotency_key: Some("req-1".into()),
        ..StartRequest::default()
    };
    let starts = futures::future::join_all((0..8).map(|_| runtime.start_instance(request.clone()))).await;
    let ids: std::collections::HashSet<String> =
        starts.iter().map(|s| s.as_ref().unwrap().instance.id.clone()).collect();
    assert_eq!(ids.len(), 1, "eight concurrent starts, one instance");
    assert_eq!(starts.iter().filter(|s| s.as_ref().unwrap().created).count(), 1);
}
on_both!(the_same_idempotency_key_starts_one_instance);

fn waiting_and_human_workflow() -> Value {
    json!({
        "name": "review",
        "start_at": "cool-off",
        "states": {
            "cool-off": {"type": "wait", "duration_ms": 150, "next": "review"},
            "review": {"type": "human", "assignee_group": "reviewers", "title": "Approve the payout",
                       "priority": "high", "decisions": [{"name": "approve", "next": "pay"}, {"name": "deny", "next": "denied"}]},
            "pay": {"type": "task", "service": "calls", "action": "validate", "next": "paid"},
            "paid": {"type": "succeed"},
            "denied": {"type": "fail", "error": "denied", "message": "the reviewer denied it"}
        }
    })
}

async fn timers_fire_and_people_decide(url: DatabaseUrl) {
    let runtime = runtime_with(&url, "calls", calls_service()).await;
    runtime.register_definition(waiting_and_human_workflow(), "test").await.unwrap();
    let started = runtime
        .start_instance(StartRequest { workflow: "review".into(), input: json!({}), ..StartRequest::default() })
        .await
        .unwrap()
        .instance;
    assert_eq!(started.status, "waiting");
    let waiting = runtime.wait_settled(&started.id, SETTLE).await.unwrap();
    assert_eq!(waiting.status, "waiting");
    assert_eq!(waiting.current_state.as_deref(), Some("review"), "the timer fired and the review is open");
    let interventions = runtime.store().interventions_of(&started.id).await.unwrap();
    assert_eq!(interventions.len(), 1);
    assert_eq!((interventions[0].kind.as_str(), interventions[0].status.as_str()), ("human_task", "open"));
    assert_eq!(interventions[0].priority, "high");

    let decided = runtime
        .send(
            &started.id,
            engine::Event::HumanDecided {
                intervention_id: interventions[0].id.clone(),
                decision: "approve".into(),
                data: json!({"note": "looks fine"}),
                actor: "rita".into(),
                reason: "documents complete".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(decided.status, "running");
    let done = runtime.wait_settled(&started.id, SETTLE).await.unwrap();
    assert_eq!(done.status, "completed");
    let closed = runtime.store().interventions_of(&started.id).await.unwrap();
    assert_eq!(closed[0].status, "closed");
    let journal = runtime.store().journal(&started.id).await.unwrap();
    let decision = journal.iter().find(|j| j.event == "human_decided").unwrap();
    assert_eq!((decision.actor.as_deref(), decision.reason.as_deref()), (Some("rita"), Some("documents complete")));
    assert!(runtime.store().timers_due(i64::MAX, 10).await.unwrap().is_empty(), "the fired timer is gone");
}
on_both!(timers_fire_and_people_decide);

async fn operators_pause_resume_cancel_and_retry(url: DatabaseUrl) {
    let runtime = runtime_with(&url, "calls", calls_service()).await;
    runtime.register_definition(waiting_and_human_workflow(), "test").await.unwrap();
    let start =
        || runtime.start_instance(StartRequest { workflow: "review".into(), input: json!({}), ..Default::default() });

    // Cancel while waiting: nothing to undo, the instance is cancelled with who and why.
    let first = start().await.unwrap().instance;
    let cancelled = runtime.command(&first.id, Command::Cancel, "olga", "customer withdrew").await.unwrap();
    let cancelled = if cancelled.status == "cancelled" {
        cancelled
    } else {
        runtime.wait_settled(&first.id, SETTLE).await.unwrap()
    };
    assert_eq!(cancelled.status, "cancelled");
    assert!(cancelled.error.unwrap().contains("customer withdrew"));

    // Pause, then resume; a second resume is refused with a reason.
    let second = start().await.unwrap().instance;
    let paused = runtime.command(&second.id, Command::Pause, "olga", "investigating").await.unwrap();
    assert_eq!(paused.paused, 1);
    let resumed = runtime.command(&second.id, Command::Resume, "olga", "all clear").await.unwrap();
    assert_eq!(resumed.paused, 0);
    let refused = runtime.command(&second.id, Command::Resume, "olga", "again").await.unwrap_err();
    assert!(matches!(refused, switchboard::runtime::Error::Rejected(_)), "{refused:?}");

    // Unknown instance.
    let missing = runtime.command("no-such-id", Command::Pause, "olga", "x").await.unwrap_err();
    assert!(matches!(missing, switchboard::runtime::Error::InstanceNotFound(_)), "{missing:?}");
}
on_both!(operators_pause_resume_cancel_and_retry);

async fn a_failed_step_can_be_retried_by_an_operator(url: DatabaseUrl) {
    let allow = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = allow.clone();
    let service = Arc::new(RecordingService::with_behaviour(&["charge"], move |_| {
        if gate.load(Ordering::SeqCst) {
            Ok(json!({"charged": true}))
        } else {
            Err(ServiceError::new(ErrorKind::Permanent, "card declined"))
        }
    }));
    let runtime = runtime_with(&url, "payments", service.clone()).await;
    runtime
        .register_definition(
            json!({"name": "charge", "start_at": "charge", "states": {
                "charge": {"type": "task", "service": "payments", "action": "charge", "on_failure": "fail", "next": "ok"},
                "ok": {"type": "succeed"}}}),
            "test",
        )
        .await
        .unwrap();
    let started =
        runtime.start_instance(StartRequest { workflow: "charge".into(), ..Default::default() }).await.unwrap();
    let failed = runtime.wait_settled(&started.instance.id, SETTLE).await.unwrap();
    assert_eq!(failed.status, "failed");
    assert!(failed.error.as_deref().unwrap_or_default().ends_with("card declined"), "{:?}", failed.error);
    allow.store(true, Ordering::SeqCst);
    runtime.command(&failed.id, Command::Retry { edited_input: None }, "olga", "card updated").await.unwrap();
    let done = runtime.wait_settled(&failed.id, SETTLE).await.unwrap();
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(service.applied_per_key().len(), 1);
}
on_both!(a_failed_step_can_be_retried_by_an_operator);

async fn definitions_are_versioned_and_instances_stay_pinned(url: DatabaseUrl) {
    let runtime = runtime_with(&url, "calls", calls_service()).await;
    let first = runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    assert_eq!((first.definition.version, first.created), (1, true));
    let same = runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    assert_eq!((same.definition.version, same.created), (1, false), "an unchanged body is no new version");
    let mut changed = crate::support::call_saga();
    changed["description"] = json!("v2");
    let second = runtime.register_definition(changed, "test").await.unwrap();
    assert_eq!((second.definition.version, second.created), (2, true));

    let pinned = runtime
        .start_instance(StartRequest {
            workflow: "call-processing".into(),
            version: Some(1),
            input: json!({"call_id": "c", "number": 1}),
            ..Default::default()
        })
        .await
        .unwrap()
        .instance;
    assert_eq!(pinned.version, 1);
    let latest = start_call(&runtime, 2).await;
    assert_eq!(latest.version, 2);

    let mut broken = crate::support::call_saga();
    broken["states"]["find-buyer"]["next"] = json!("nowhere");
    broken["states"]["connect-call"]["service"] = json!("no-such-service");
    let switchboard::runtime::Error::InvalidDefinition(problems) =
        runtime.register_definition(broken, "t").await.unwrap_err()
    else {
        panic!("expected problems")
    };
    assert!(problems.len() >= 2, "every problem is listed: {problems:?}");
}
on_both!(definitions_are_versioned_and_instances_stay_pinned);

async fn bad_input_is_refused_before_anything_is_written(url: DatabaseUrl) {
    let runtime = runtime_with(&url, "calls", calls_service()).await;
    runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    let error = runtime
        .start_instance(StartRequest {
            workflow: "call-processing".into(),
            input: json!({"call_id": 5}),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let switchboard::runtime::Error::InvalidInput(problems) = error else { panic!("{error:?}") };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"input.call_id") && fields.contains(&"input.number"), "{fields:?}");
    let count = runtime.store().count_instances(&Default::default()).await.unwrap();
    assert_eq!(count, 0);
}
on_both!(bad_input_is_refused_before_anything_is_written);

async fn in_flight_instances_recover_on_a_new_runtime_with_effects_applied_once(url: DatabaseUrl) {
    // The first runtime's service never answers: its calls hang, as if the process died mid-call.
    struct Hanging;
    impl switchboard::services::Service for Hanging {
        fn actions(&self) -> Option<std::collections::BTreeSet<String>> {
            Some(CALL_ACTIONS.iter().map(|a| a.to_string()).collect())
        }
        fn call(
            &self,
            _: switchboard::services::ServiceRequest,
        ) -> futures::future::BoxFuture<'_, switchboard::services::ServiceResult> {
            Box::pin(std::future::pending())
        }
    }
    let mut registry = Registry::new();
    registry.register("calls", Arc::new(Hanging));
    let first_state = crate::support::state_with(&url, registry).await;
    let first = first_state.runtime.clone();
    first.register_definition(crate::support::call_saga(), "test").await.unwrap();
    let mut ids = Vec::new();
    for number in 1..=6 {
        ids.push(start_call(&first, number).await.id);
    }
    // The first one "dies": its heartbeat stops (on PostgreSQL its lease then runs out; on SQLite the
    // next process takes everything at start).
    first_state.events.shut_down();

    // A second runtime on the same database recovers them and finishes them.
    let service = calls_service();
    let second = runtime_with(&url, "calls", service.clone()).await;
    for id in &ids {
        let done = second.wait_settled(id, SETTLE).await.unwrap();
        assert_eq!(done.status, "completed", "{done:?}");
        let row = second.store().instance(id).await.unwrap().unwrap();
        assert!(row.lease_epoch >= 2, "the new runtime took the lease");
    }
    assert!(service.applied_per_key().values().all(|&n| n == 1));
    assert_eq!(service.applied_per_key().len(), ids.len() * 4);
}
on_both!(in_flight_instances_recover_on_a_new_runtime_with_effects_applied_once);
