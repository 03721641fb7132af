//! Behaviour of the transition function, state kind by state kind.

mod common;

use common::*;
use serde_json::json;
use switchboard_engine::instance::{Blocked, CompensationState, Cursor, Status, TaskPhase, WaitingOn};
use switchboard_engine::journal::Record;
use switchboard_engine::testing::{FixedEnv, Harness};
use switchboard_engine::{
    apply, Effect, EngineError, ErrorKind, Event, FinalStatus, Instance, InterventionKind, Resolution, ServiceError,
    StatusKind, TimerPurpose,
};

fn finished(h: &Harness) -> Option<FinalStatus> {
    h.effects.iter().find_map(|e| match e {
        Effect::Finish { status } => Some(*status),
        _ => None,
    })
}

#[test]
fn linear_tasks_complete_with_mapped_input_and_results() {
    let d = def(json!({
        "a": {"type": "task", "service": "identity", "action": "verify",
              "input": {"buyer": "$.input.buyer_id", "kind": "kyc"}, "next": "b"},
        "b": {"type": "task", "service": "credit", "action": "check",
              "input": {"score": "$.steps.a.score"}, "result_path": "steps.credit", "next": "done"},
        "done": {"type": "succeed", "output": {"score": "$.steps.credit.limit"}}
    }));
    let mut h = Harness::start(d, json!({"buyer_id": "b-1"})).unwrap();
    assert!(matches!(&h.effects[0], Effect::RunTask { input, idempotency_key, attempt: 1, .. }
        if *input == json!({"buyer": "b-1", "kind": "kyc"}) && idempotency_key == "inst-1:a:1"));
    ok(&mut h, json!({"score": 0.9}));
    assert!(matches!(&h.effects[0], Effect::RunTask { input, idempotency_key, .. }
        if *input == json!({"score": 0.9}) && idempotency_key == "inst-1:b:2"));
    ok(&mut h, json!({"limit": 500}));
    assert_eq!(h.instance.status, Status::Completed { output: json!({"score": 500}) });
    assert_eq!(finished(&h), Some(FinalStatus::Completed));
    assert_eq!(h.instance.context["steps"]["credit"], json!({"limit": 500}));
}

#[test]
fn retries_back_off_with_jitter_and_reuse_the_key() {
    let d = def(json!({"a": {"type": "task", "service": "s", "action": "do", "end": true,
        "retry": {"max_attempts": 4, "initial_delay_ms": 1000, "multiplier": 2, "max_delay_ms": 3000}}}));
    let mut h = Harness::start(d, json!({})).unwrap();
    let mut caps = vec![1000, 2000, 3000].into_iter();
    for attempt in 1..=3u32 {
        let now = h.env.now();
        fail(&mut h, ErrorKind::Retryable);
        let (_, at) = h.timers()[0];
        let cap = caps.next().unwrap();
        assert!(at >= now && at <= now + cap, "attempt {attempt}: {at} not in [{now}, {}]", now + cap);
        assert!(matches!(&h.effects[0], Effect::StartTimer { purpose: TimerPurpose::Retry, .. }));
        fire_timer(&mut h);
        assert_eq!(h.run_tasks(), vec![("inst-1:a:1".to_string(), attempt + 1, "s".to_string())]);
    }
    // The fourth failure exhausts the budget; nothing compensable completed.
    fail(&mut h, ErrorKind::Timeout);
    assert_eq!(h.instance.status_kind(), StatusKind::Compensated);
    let Status::Compensated { failure } = &h.instance.status else { panic!() };
    assert_eq!(failure.code, "step.timeout");
}

#[test]
fn permanent_errors_are_not_retried() {
    let d = def(json!({"a": task("s", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    fail(&mut h, ErrorKind::Permanent);
    assert!(h.timers().is_empty());
    assert_eq!(h.instance.status_kind(), StatusKind::Compensated);
}

#[test]
fn fallbacks_are_tried_in_order_with_their_own_keys() {
    let d = def(json!({"a": {"type": "task", "service": "p", "action": "do", "end": true,
        "fallbacks": ["f1", "f2"], "retry": {"max_attempts": 2}}}));
    let mut h = Harness::start(d, json!({})).unwrap();
    // Circuit open on the primary: straight to f1, no backoff.
    fail(&mut h, ErrorKind::CircuitOpen);
    assert_eq!(h.run_tasks(), vec![("inst-1:a:1:f1".into(), 2, "f1".into())]);
    // f1 retries once, then gives up, then f2.
    fail(&mut h, ErrorKind::Retryable);
    fire_timer(&mut h);
    assert_eq!(h.run_tasks(), vec![("inst-1:a:1:f1".into(), 3, "f1".into())]);
    fail(&mut h, ErrorKind::Retryable);
    assert_eq!(h.run_tasks(), vec![("inst-1:a:1:f2".into(), 4, "f2".into())]);
    ok(&mut h, json!({"via": "f2"}));
    assert_eq!(h.instance.status_kind(), StatusKind::Completed);
    assert_eq!(h.instance.completed[0].service, "f2");
    assert_eq!(h.instance.completed[0].key, "inst-1:a:1:f2");
}

#[test]
fn saga_compensates_completed_steps_in_reverse_order() {
    let d = def(json!({
        "a": task("a", Some("b")),
        "b": {"type": "task", "service": "b", "action": "do", "next": "c"}, // not compensable
        "c": {"type": "task", "service": "c", "action": "do", "next": "d",
              "compensation": {"service": "c", "action": "undo", "input": {"id": "$.steps.c.id"}}},
        "d": task("d", None)
    }));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!({"id": "A"}));
    ok(&mut h, json!({"id": "B"}));
    ok(&mut h, json!({"id": "C"}));
    fail(&mut h, ErrorKind::Permanent);
    assert_eq!(h.instance.status_kind(), StatusKind::Compensating);
    let comps = h.run_compensations();
    assert_eq!(comps, vec![("inst-1:c:3:compensate".into(), 1, "c".into())]);
    assert!(matches!(&h.effects.iter().find(|e| matches!(e, Effect::RunCompensation{..})),
        Some(Effect::RunCompensation { input, .. }) if *input == json!({"id": "C"})));
    assert_eq!(comp_ok(&mut h), "c");
    // a's compensation gets the step output by default
    assert!(matches!(&h.effects[0], Effect::RunCompensation { input, .. } if *input == json!({"id": "A"})));
    assert_eq!(comp_ok(&mut h), "a");
    assert_eq!(h.instance.status_kind(), StatusKind::Compensated);
    assert_eq!(finished(&h), Some(FinalStatus::Compensated));
    assert_eq!(h.instance.context["error"]["code"], "step.permanent");
}

#[test]
fn compensation_retries_then_opens_an_intervention_and_can_be_resolved() {
    let d = def_with(
        json!({"a": task("a", Some("b")), "b": task("b", Some("c")), "c": task("c", None)}),
        json!({"compensation_retry": {"max_attempts": 2}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    ok(&mut h, json!(2));
    fail(&mut h, ErrorKind::Permanent);
    // b's compensation fails twice (one retry), then a human is asked.
    let (key, attempt, _) = h.run_compensations()[0].clone();
    h.apply(Event::CompensationFailed {
        idempotency_key: key.clone(),
        attempt,
        error: ServiceError::new(ErrorKind::Retryable, "x"),
    })
    .unwrap();
    assert!(matches!(&h.effects[0], Effect::StartTimer { purpose: TimerPurpose::CompensationRetry, .. }));
    fire_timer(&mut h);
    let (key2, attempt2, _) = h.run_compensations()[0].clone();
    assert_eq!((key2.as_str(), attempt2), (key.as_str(), 2));
    h.apply(Event::CompensationFailed {
        idempotency_key: key2,
        attempt: 2,
        error: ServiceError::new(ErrorKind::Retryable, "x"),
    })
    .unwrap();
    assert_eq!(h.instance.status_kind(), StatusKind::NeedsIntervention);
    assert!(
        matches!(&h.effects[0], Effect::OpenIntervention { kind: InterventionKind::CompensationFailed, state, .. } if state == "b")
    );
    let iid = h.opened_intervention().unwrap();

    // Operator retries: same key, attempt keeps counting.
    let (actor, reason) = op("rita");
    h.apply(Event::InterventionResolved {
        intervention_id: iid.clone(),
        resolution: Resolution::Retry { edited_input: None },
        actor,
        reason,
    })
    .unwrap();
    assert!(matches!(&h.effects[0], Effect::CloseIntervention { intervention_id } if *intervention_id == iid));
    assert_eq!(h.run_compensations(), vec![(key.clone(), 3, "b".into())]);
    h.apply(Event::CompensationFailed {
        idempotency_key: key.clone(),
        attempt: 3,
        error: ServiceError::new(ErrorKind::Permanent, "no"),
    })
    .unwrap();
    // Permanent: straight to an intervention; skip it by hand.
    let iid = h.opened_intervention().unwrap();
    let (actor, reason) = op("rita");
    h.apply(Event::InterventionResolved {
        intervention_id: iid,
        resolution: Resolution::Skip { output: json!(null) },
        actor,
        reason,
    })
    .unwrap();
    assert_eq!(
        h.instance.completed[1].compensation.as_ref().unwrap().state,
        CompensationState::Skipped { actor: "rita".into() }
    );
    assert_eq!(comp_ok(&mut h), "a");
    assert_eq!(h.instance.status_kind(), StatusKind::Compensated);
}

#[test]
fn compensation_failure_can_be_aborted() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    fail(&mut h, ErrorKind::Permanent);
    let (key, attempt, _) = h.run_compensations()[0].clone();
    h.apply(Event::CompensationFailed {
        idempotency_key: key,
        attempt,
        error: ServiceError::new(ErrorKind::Permanent, "gone"),
    })
    .unwrap();
    let iid = h.opened_intervention().unwrap();
    let (actor, reason) = op("sam");
    h.apply(Event::InterventionResolved { intervention_id: iid, resolution: Resolution::Abort, actor, reason })
        .unwrap();
    let Status::Failed { failure, retry_from: None } = &h.instance.status else { panic!("{:?}", h.instance.status) };
    assert_eq!(failure.code, "compensation.aborted");
}

#[test]
fn choice_branches_on_context() {
    let d = def(json!({
        "a": {"type": "task", "service": "credit", "action": "do", "next": "route"},
        "route": {"type": "choice", "choices": [
            {"condition": "steps.a.score >= 700 and input.country in ['US', 'CA']", "next": "approve"},
            {"condition": "steps.a.score >= 500", "next": "review"}],
            "default": "deny"},
        "approve": {"type": "succeed"},
        "review": {"type": "succeed", "output": "review"},
        "deny": {"type": "fail", "error": "credit.denied", "message": "score too low"}
    }));
    for (score, country, expect) in [
        (750, "US", "completed:null"),
        (750, "FR", "completed:review"),
        (600, "US", "completed:review"),
        (100, "US", "compensated"),
    ] {
        let mut h = Harness::start(d.clone(), json!({"country": country})).unwrap();
        ok(&mut h, json!({"score": score}));
        let got = match &h.instance.status {
            Status::Completed { output } if output.is_string() => {
                format!("completed:{}", output.as_str().unwrap())
            }
            Status::Completed { .. } => "completed:null".into(),
            other => other.kind().to_string(),
        };
        assert_eq!(got, expect, "score {score} {country}");
    }
}

#[test]
fn fail_state_compensates_unless_told_not_to() {
    let d = def(
        json!({"a": task("a", Some("f")), "f": {"type": "fail", "error": "x.y", "message": "no", "compensate": false}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    assert!(matches!(&h.instance.status, Status::Failed { failure, retry_from: None } if failure.code == "x.y"));
    assert!(h.run_compensations().is_empty());
    // Cancelling a failed instance still compensates what completed.
    let (actor, reason) = op("olga");
    h.apply(Event::CancelRequested { actor, reason }).unwrap();
    assert_eq!(comp_ok(&mut h), "a");
    assert!(matches!(&h.instance.status, Status::Cancelled { actor, .. } if actor == "olga"));
}

#[test]
fn wait_state_uses_duration_or_a_context_timestamp() {
    let d = def(json!({"a": {"type": "wait", "duration_ms": 5000, "next": "b"},
                       "b": {"type": "wait", "until_path": "input.at", "next": "c"},
                       "c": {"type": "succeed"}}));
    let mut h = Harness::start(d.clone(), json!({"at": 2_000_000})).unwrap();
    assert_eq!(h.timers()[0].1, 1_005_000);
    assert!(matches!(h.instance.status, Status::Waiting(WaitingOn::Timer { .. })));
    // A wrong timer id is stale.
    let err = h.apply(Event::TimerFired { timer_id: "nope".into() }).unwrap_err();
    assert!(matches!(err, EngineError::StaleEvent { .. }));
    fire_timer(&mut h);
    assert_eq!(h.timers()[0].1, 2_000_000);
    fire_timer(&mut h);
    assert_eq!(h.instance.status_kind(), StatusKind::Completed);

    // A missing timestamp fails the run (and compensates).
    let mut h = Harness::start(d, json!({"at": "tomorrow"})).unwrap();
    fire_timer(&mut h);
    assert!(matches!(&h.instance.status, Status::Compensated { failure } if failure.code == "wait.bad_time"));
}

#[test]
fn human_task_opens_an_intervention_and_decisions_pick_the_next_state() {
    let d = def(json!({
        "a": {"type": "human", "assignee_group": "reviewers", "priority": "high", "due_in_ms": 3600000,
              "title": "Review dispute", "decisions": [{"name": "approve", "next": "credit"}, {"name": "deny", "next": "no"}]},
        "credit": {"type": "succeed", "output": {"amount": "$.steps.a.data.amount"}},
        "no": {"type": "succeed"}
    }));
    let mut h = Harness::start(d, json!({})).unwrap();
    let Effect::OpenIntervention { intervention_id, kind, decisions, due_at_ms, assignee_group, .. } = &h.effects[0]
    else {
        panic!()
    };
    assert_eq!(*kind, InterventionKind::HumanTask);
    assert_eq!(decisions, &vec!["approve".to_string(), "deny".to_string()]);
    assert_eq!(*due_at_ms, Some(1_000_000 + 3_600_000));
    assert_eq!(assignee_group.as_deref(), Some("reviewers"));
    let iid = intervention_id.clone();
    assert_eq!(h.instance.status_kind(), StatusKind::Waiting);

    let decide = |decision: &str, id: &str| Event::HumanDecided {
        intervention_id: id.into(),
        decision: decision.into(),
        data: json!({"amount": 12}),
        actor: "rev".into(),
        reason: "evidence ok".into(),
    };
    let err = h.apply(decide("maybe", &iid)).unwrap_err();
    assert!(matches!(err, EngineError::UnknownDecision { ref allowed, .. } if allowed.len() == 2));
    let err = h.apply(decide("approve", "other")).unwrap_err();
    assert!(matches!(err, EngineError::StaleEvent { .. }));
    h.apply(decide("approve", &iid)).unwrap();
    assert!(matches!(&h.effects[0], Effect::CloseIntervention { .. }));
    assert_eq!(h.instance.status, Status::Completed { output: json!({"amount": 12}) });
    assert_eq!(h.instance.context["steps"]["a"]["actor"], "rev");
    let last_applied = h.journal.iter().rev().find(|e| e.actor.is_some()).unwrap();
    assert_eq!(last_applied.reason.as_deref(), Some("evidence ok"));
}

fn parallel_def(on_failure: &str) -> switchboard_engine::Definition {
    def(json!({
        "a": task("a", Some("p")),
        "p": {"type": "parallel", "on_failure": on_failure, "next": "done", "branches": [
            {"name": "billing", "start_at": "meter", "states": {
                "meter": task("billing", Some("invoice")),
                "invoice": task("invoice", None)}},
            {"name": "quality", "start_at": "pause", "states": {
                "pause": {"type": "wait", "duration_ms": 100, "next": "monitor"},
                "monitor": task("quality", None)}}]},
        "done": {"type": "succeed"}
    }))
}

fn answer(h: &mut Harness, key: &str, attempt: u32, result: Result<serde_json::Value, ErrorKind>) {
    let event = match result {
        Ok(output) => Event::StepSucceeded { idempotency_key: key.into(), attempt, output },
        Err(kind) => Event::StepFailed { idempotency_key: key.into(), attempt, error: ServiceError::new(kind, "x") },
    };
    h.apply(event).unwrap();
}

#[test]
fn parallel_branches_join_with_their_outputs() {
    let mut h = Harness::start(parallel_def("compensate"), json!({})).unwrap();
    ok(&mut h, json!("a"));
    // billing runs a task, quality starts a timer
    assert_eq!(h.run_tasks().len(), 1);
    assert_eq!(h.timers().len(), 1);
    assert!(matches!(h.instance.status, Status::Running(Cursor::Parallel(_))));
    let meter = h.run_tasks()[0].0.clone();
    fire_timer(&mut h);
    let monitor = h.run_tasks()[0].0.clone();
    answer(&mut h, &monitor, 1, Ok(json!({"q": 1})));
    answer(&mut h, &meter, 1, Ok(json!({"m": 1})));
    let invoice = h.run_tasks()[0].0.clone();
    assert_eq!(h.instance.current_states(), vec!["p".to_string(), "invoice".to_string()]);
    answer(&mut h, &invoice, 1, Ok(json!({"i": 1})));
    assert_eq!(h.instance.status_kind(), StatusKind::Completed);
    assert_eq!(h.instance.context["steps"]["p"], json!({"billing": {"i": 1}, "quality": {"q": 1}}));
}

#[test]
fn parallel_failure_stops_other_branches_awaits_in_flight_calls_and_compensates() {
    let d = def(json!({
        "a": task("a", Some("p")),
        "p": {"type": "parallel", "end": true, "branches": [
            {"name": "x", "start_at": "x1", "states": {"x1": task("x", None)}},
            {"name": "y", "start_at": "y1", "states": {"y1": task("y", None)}},
            {"name": "z", "start_at": "z1", "states": {"z1": {"type": "task", "service": "z", "action": "do", "end": true}}}]}
    }));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!("a"));
    let keys: Vec<_> = h.run_tasks().into_iter().map(|(k, _, _)| k).collect();
    // z backs off, then x fails permanently: z's timer is cancelled, y is awaited.
    answer(&mut h, &keys[2], 1, Err(ErrorKind::Retryable));
    let z_timer = h.timers()[0].0.clone();
    answer(&mut h, &keys[0], 1, Err(ErrorKind::Permanent));
    assert!(matches!(&h.effects[0], Effect::CancelTimers { timer_ids } if *timer_ids == vec![z_timer.clone()]));
    assert_eq!(h.instance.status_kind(), StatusKind::Running);
    assert!(matches!(h.apply(Event::TimerFired { timer_id: z_timer }), Err(EngineError::StaleEvent { .. })));
    // y still succeeds: it must be undone before a.
    answer(&mut h, &keys[1], 1, Ok(json!("y")));
    assert_eq!(h.instance.status_kind(), StatusKind::Compensating);
    assert_eq!(comp_ok(&mut h), "y1");
    assert_eq!(comp_ok(&mut h), "a");
    assert!(matches!(&h.instance.status, Status::Compensated { failure } if failure.state.as_deref() == Some("x1")));
}

#[test]
fn parallel_failure_can_go_to_a_state() {
    let mut h = Harness::start(parallel_def("fail"), json!({})).unwrap();
    ok(&mut h, json!("a"));
    let meter = h.run_tasks()[0].0.clone();
    answer(&mut h, &meter, 1, Err(ErrorKind::Permanent));
    // the quality timer is cancelled; nothing in flight: fail right away
    assert!(matches!(&h.instance.status, Status::Failed { retry_from: None, .. }));
}

#[test]
fn cancel_awaits_the_call_in_flight_then_compensates() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    let (b_key, _, _) = h.run_tasks()[0].clone();
    let (actor, reason) = op("carl");
    h.apply(Event::CancelRequested { actor, reason }).unwrap();
    assert!(h.run_compensations().is_empty(), "waits for b's outcome first");
    assert_eq!(h.instance.status_kind(), StatusKind::Compensating);
    answer(&mut h, &b_key, 1, Ok(json!(2)));
    assert_eq!(comp_ok(&mut h), "b");
    assert_eq!(comp_ok(&mut h), "a");
    assert_eq!(h.instance.status_kind(), StatusKind::Cancelled);
    assert_eq!(finished(&h), Some(FinalStatus::Cancelled));
}

#[test]
fn cancel_while_waiting_on_a_human_closes_the_intervention() {
    let d = def(json!({"a": task("a", Some("h")),
        "h": {"type": "human", "assignee_group": "ops", "decisions": [{"name": "ok", "next": "e"}]},
        "e": {"type": "succeed"}}));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    let iid = h.opened_intervention().unwrap();
    let (actor, reason) = op("carl");
    h.apply(Event::CancelRequested { actor, reason }).unwrap();
    assert!(h.effects.contains(&Effect::CloseIntervention { intervention_id: iid }));
    assert_eq!(comp_ok(&mut h), "a");
    assert_eq!(h.instance.status_kind(), StatusKind::Cancelled);
}

#[test]
fn operator_retry_after_failure_keeps_the_key_and_edited_input_gets_a_new_one() {
    let d = def(json!({"a": {"type": "task", "service": "s", "action": "do", "on_failure": "fail", "next": "b",
                             "retry": {"max_attempts": 1}},
                       "b": {"type": "succeed"}}));
    let mut h = Harness::start(d, json!({"x": 1})).unwrap();
    fail(&mut h, ErrorKind::Retryable);
    let Status::Failed { retry_from: Some(step), .. } = &h.instance.status else { panic!() };
    assert_eq!(step.step_id, "inst-1:a:1");
    assert_eq!(finished(&h), Some(FinalStatus::Failed));

    let (actor, reason) = op("ops");
    h.apply(Event::RetryRequested { actor, reason, edited_input: None }).unwrap();
    assert_eq!(h.run_tasks(), vec![("inst-1:a:1".into(), 2, "s".into())]);
    fail(&mut h, ErrorKind::Permanent);

    let (actor, reason) = op("ops");
    h.apply(Event::RetryRequested { actor, reason, edited_input: Some(json!({"x": 2})) }).unwrap();
    assert_eq!(h.run_tasks(), vec![("inst-1:a:2".into(), 1, "s".into())]);
    assert!(matches!(&h.effects[0], Effect::RunTask { input, .. } if *input == json!({"x": 2})));
    // A late answer for the old key is stale.
    let err = h
        .apply(Event::StepSucceeded { idempotency_key: "inst-1:a:1".into(), attempt: 2, output: json!(0) })
        .unwrap_err();
    assert!(matches!(err, EngineError::StaleEvent { .. }));
    ok(&mut h, json!("fine"));
    assert_eq!(h.instance.status_kind(), StatusKind::Completed);
}

#[test]
fn intervention_on_failure_supports_skip_and_compensate() {
    let d = def(json!({"a": task("a", Some("b")),
        "b": {"type": "task", "service": "b", "action": "do", "on_failure": "intervention", "next": "c",
              "retry": {"max_attempts": 1}},
        "c": {"type": "succeed", "output": "$.steps.b"}}));
    // skip with output
    let mut h = Harness::start(d.clone(), json!({})).unwrap();
    ok(&mut h, json!(1));
    fail(&mut h, ErrorKind::Permanent);
    assert!(matches!(&h.instance.status, Status::NeedsIntervention(Blocked::StepFailed { .. })));
    assert!(matches!(&h.effects[0], Effect::OpenIntervention { kind: InterventionKind::RetriesExhausted, .. }));
    let (actor, reason) = op("ops");
    h.apply(Event::SkipRequested { actor, reason, output: json!({"manual": true}) }).unwrap();
    assert_eq!(h.instance.status, Status::Completed { output: json!({"manual": true}) });
    assert_eq!(h.instance.completed.len(), 1, "a skipped step is not compensable");

    // resolve by compensating
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    fail(&mut h, ErrorKind::Permanent);
    let iid = h.opened_intervention().unwrap();
    let (actor, reason) = op("ops");
    h.apply(Event::InterventionResolved { intervention_id: iid, resolution: Resolution::Compensate, actor, reason })
        .unwrap();
    assert_eq!(comp_ok(&mut h), "a");
    assert_eq!(h.instance.status_kind(), StatusKind::Compensated);
}

#[test]
fn on_failure_goto_records_the_error() {
    let d = def(json!({"a": {"type": "task", "service": "s", "action": "do", "on_failure": {"goto": "manual"},
                             "retry": {"max_attempts": 1}, "end": true},
                       "manual": {"type": "succeed", "output": "$.error.code"}}));
    let mut h = Harness::start(d, json!({})).unwrap();
    fail(&mut h, ErrorKind::Retryable);
    assert_eq!(h.instance.status, Status::Completed { output: json!("step.retryable") });
}

#[test]
fn pause_holds_calls_until_resume() {
    let d = def(
        json!({"a": task("a", Some("b")), "b": {"type": "task", "service": "b", "action": "do", "end": true, "timeout_ms": 1000}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    let (actor, reason) = op("ops");
    h.apply(Event::PauseRequested { actor, reason }).unwrap();
    assert!(h.effects.is_empty());
    // The call in flight still reports; the next call is held.
    answer(&mut h, "inst-1:a:1", 1, Ok(json!(1)));
    assert!(h.effects.is_empty());
    assert_eq!(h.instance.held_effects.len(), 1);
    let (actor, reason) = op("ops");
    assert!(matches!(h.apply(Event::PauseRequested { actor, reason }), Err(EngineError::IllegalEvent { .. })));
    h.env.advance(60_000);
    let (actor, reason) = op("ops");
    h.apply(Event::ResumeRequested { actor, reason }).unwrap();
    // Released with a fresh deadline.
    assert!(matches!(&h.effects[0], Effect::RunTask { deadline_ms, .. } if *deadline_ms == h.env.now() + 1000));
    assert!(h.instance.held_effects.is_empty() && h.instance.paused.is_none());
    let (actor, reason) = op("ops");
    assert!(matches!(h.apply(Event::ResumeRequested { actor, reason }), Err(EngineError::IllegalEvent { .. })));
}

#[test]
fn cancel_while_paused_drops_held_calls() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    let (actor, reason) = op("ops");
    h.apply(Event::PauseRequested { actor, reason }).unwrap();
    answer(&mut h, "inst-1:a:1", 1, Ok(json!(1))); // b's call is held
    let (actor, reason) = op("ops");
    h.apply(Event::CancelRequested { actor, reason }).unwrap();
    // b never ran, so only a is compensated, once resumed.
    assert_eq!(h.instance.held_effects.len(), 1);
    assert!(matches!(&h.instance.held_effects[0], Effect::RunCompensation { state, .. } if state == "a"));
    let (actor, reason) = op("ops");
    h.apply(Event::ResumeRequested { actor, reason }).unwrap();
    assert_eq!(comp_ok(&mut h), "a");
    assert_eq!(h.instance.status_kind(), StatusKind::Cancelled);
}

#[test]
fn workflow_timeout_fails_and_compensates() {
    let d = def_with(
        json!({"a": task("a", Some("w")), "w": {"type": "wait", "duration_ms": 999999999, "end": true}}),
        json!({"timeouts": {"workflow_ms": 60000}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    let (deadline_timer, at) = h.timers()[0].clone();
    assert_eq!(at, 1_060_000);
    assert!(matches!(&h.effects[1], Effect::RunTask { deadline_ms, .. } if *deadline_ms == 1_030_000));
    ok(&mut h, json!(1));
    let wait_timer = h.timers()[0].0.clone();
    h.env.set_now(at);
    h.apply(Event::TimerFired { timer_id: deadline_timer }).unwrap();
    assert!(matches!(&h.effects[0], Effect::CancelTimers { timer_ids } if *timer_ids == vec![wait_timer.clone()]));
    assert_eq!(comp_ok(&mut h), "a");
    assert!(matches!(&h.instance.status, Status::Compensated { failure } if failure.code == "workflow.timeout"));
}

#[test]
fn illegal_and_stale_events_are_typed_errors_and_change_nothing() {
    let d = def(json!({"a": task("a", None)}));
    let mut h = Harness::start(d.clone(), json!({})).unwrap();
    let before = h.instance.clone();
    let (actor, reason) = op("x");
    let cases = vec![
        Event::Started { input: json!({}) },
        Event::RetryRequested { actor: actor.clone(), reason: reason.clone(), edited_input: None },
        Event::SkipRequested { actor: actor.clone(), reason: reason.clone(), output: json!(1) },
        Event::CompensationSucceeded { idempotency_key: "k".into(), attempt: 1 },
        Event::ResumeRequested { actor: actor.clone(), reason: reason.clone() },
        Event::HumanDecided {
            intervention_id: "i".into(),
            decision: "d".into(),
            data: json!(null),
            actor: actor.clone(),
            reason: reason.clone(),
        },
    ];
    for e in cases {
        let name = e.name();
        match h.apply(e) {
            Err(EngineError::IllegalEvent { event, status: StatusKind::Running, .. }) => assert_eq!(event, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        h.apply(Event::StepSucceeded { idempotency_key: "inst-1:a:1".into(), attempt: 9, output: json!(1) }),
        Err(EngineError::StaleEvent { .. })
    ));
    assert_eq!(h.instance, before);

    ok(&mut h, json!(1));
    for e in [
        Event::CancelRequested { actor: actor.clone(), reason: reason.clone() },
        Event::PauseRequested { actor: actor.clone(), reason: reason.clone() },
        Event::TimerFired { timer_id: "t".into() },
    ] {
        let err = h.apply(e).unwrap_err();
        assert!(matches!(err, EngineError::IllegalEvent { status: StatusKind::Completed, .. }), "{err}");
        assert!(err.to_string().contains("finished") || err.to_string().contains("only an active instance"), "{err}");
    }
    // Not started yet.
    let fresh = Instance::new(&d, "i2", 0);
    let err = apply(&d, &fresh, Event::TimerFired { timer_id: "t".into() }, &mut FixedEnv::new(0, 1)).unwrap_err();
    assert!(matches!(err, EngineError::IllegalEvent { status: StatusKind::Created, .. }));
}

#[test]
fn instances_are_pinned_to_their_definition_version() {
    let d1 = def(json!({"a": task("a", None)}));
    let mut d2 = d1.clone();
    d2.version = 2;
    let h = Harness::start(d1, json!({})).unwrap();
    assert_eq!(h.instance.definition.version, 1);
    let err =
        apply(&d2, &h.instance, Event::TimerFired { timer_id: "x".into() }, &mut FixedEnv::new(0, 1)).unwrap_err();
    assert!(matches!(err, EngineError::WrongDefinition { .. }));
}

#[test]
fn invalid_input_is_rejected_with_every_field_problem() {
    let d = def_with(
        json!({"a": task("a", None)}),
        json!({
        "input_schema": {"type": "object", "required": ["buyer_id", "amount"],
                         "properties": {"amount": {"type": "number", "minimum": 1}}},
        "business_keys": ["input.buyer_id"]}),
    );
    let err = Harness::start(d.clone(), json!({"amount": 0})).unwrap_err();
    let EngineError::InvalidInput(problems) = err else { panic!() };
    let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["input.buyer_id", "input.amount"]);
    let h = Harness::start(d, json!({"amount": 5, "buyer_id": "b-7"})).unwrap();
    assert_eq!(h.instance.business_keys.get("input.buyer_id").map(String::as_str), Some("b-7"));
}

#[test]
fn backoff_phase_is_visible_in_the_status() {
    let d = def(json!({"a": task("a", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    fail(&mut h, ErrorKind::Timeout);
    let Status::Running(Cursor::Task(run)) = &h.instance.status else { panic!() };
    assert!(matches!(&run.phase, TaskPhase::BackingOff { last_error, .. } if last_error.kind == ErrorKind::Timeout));
    // The serialized instance round-trips.
    let json = serde_json::to_string(&h.instance).unwrap();
    let back: Instance = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h.instance);
}

/// What monitoring reads as time in a state: one `StateLeft` per state left, measured from its entry,
/// zero for states passed through in one transition, none while the run is still there.
#[test]
fn leaving_a_state_journals_the_time_spent_in_it() {
    let d = def(json!({"a": {"type": "task", "service": "s", "action": "x", "next": "pick"},
                       "pick": {"type": "choice", "choices": [{"condition": "input.go == true", "next": "b"}],
                                "default": "c"},
                       "b": {"type": "wait", "duration_ms": 5000, "next": "c"},
                       "c": {"type": "task", "service": "s", "action": "y", "next": "done"},
                       "done": {"type": "succeed"}}));
    let mut h = Harness::start(d, json!({"go": true})).unwrap();
    let left = |h: &Harness| -> Vec<(String, i64, i64)> {
        h.journal
            .iter()
            .filter_map(|e| match &e.record {
                Record::StateLeft { state, entered_at_ms, duration_ms } => {
                    Some((state.clone(), *entered_at_ms, *duration_ms))
                }
                _ => None,
            })
            .collect()
    };
    assert!(left(&h).is_empty(), "nothing left yet");
    assert_eq!(h.instance.entered_at_ms.get("a"), Some(&1_000_000));
    h.env.advance(250);
    ok(&mut h, json!({}));
    assert_eq!(left(&h), vec![("a".into(), 1_000_000, 250), ("pick".into(), 1_000_250, 0)]);
    fire_timer(&mut h);
    h.env.advance(40);
    fail(&mut h, ErrorKind::Permanent);
    // Failing in `c` leaves it: the time until the failure counts.
    assert_eq!(left(&h)[2..], [("b".into(), 1_000_250, 5000), ("c".into(), 1_005_250, 40)]);
    assert!(h.instance.entered_at_ms.is_empty());
    assert_eq!(left(&h).len(), 4);
}

// --- issue 14, item 18 ------------------------------------------------------------------------

/// The failure message of a run that ended compensated.
fn compensated_because(h: &Harness) -> (String, String) {
    match &h.instance.status {
        Status::Compensated { failure } => (failure.code.clone(), failure.message.clone()),
        other => panic!("expected compensated, got {other:?}"),
    }
}

#[test]
fn wait_until_path_takes_epoch_milliseconds_or_rfc3339_text() {
    let d = def(json!({"a": {"type": "wait", "until_path": "input.at", "next": "b"}, "b": {"type": "succeed"}}));
    for at in [json!(2_000_000), json!(2.0e6), json!("1970-01-01T00:33:20Z"), json!("1970-01-01T01:33:20.000+01:00")] {
        let h = Harness::start(d.clone(), json!({"at": at})).unwrap();
        assert_eq!(h.timers(), vec![(h.timers()[0].0.clone(), 2_000_000)], "{at}");
    }
    let refused = [
        (json!({"at": "tomorrow"}), "`input.at` holds the text \"tomorrow\", which is not an RFC 3339 timestamp (expected 4 digits of the year at position 0); it must hold epoch milliseconds (a whole number) or an RFC 3339 timestamp such as 2026-03-01T12:00:00Z"),
        (json!({"at": "2026-02-30T12:00:00Z"}), "`input.at` holds the text \"2026-02-30T12:00:00Z\", which is not an RFC 3339 timestamp (day 30 does not exist in month 2 of 2026)"),
        (json!({}), "`input.at` is missing; it must hold epoch milliseconds (a whole number) or an RFC 3339 timestamp"),
        (json!({"at": 1.5}), "`input.at` holds the number 1.5, which is not epoch milliseconds"),
        (json!({"at": true}), "`input.at` holds a boolean; it must hold"),
    ];
    for (input, message) in refused {
        let h = Harness::start(d.clone(), input.clone()).unwrap();
        let (code, got) = compensated_because(&h);
        assert_eq!(code, "wait.bad_time");
        assert!(got.starts_with(message), "{input}: {got}");
    }
}

#[test]
fn issue_14_a_fail_state_puts_its_code_into_the_context_error() {
    for compensate in [true, false] {
        let d = def(json!({
            "a": task("s", Some("f")),
            "f": {"type": "fail", "error": "credit.denied", "message": "limit too low", "compensate": compensate}
        }));
        let mut h = Harness::start(d, json!({})).unwrap();
        ok(&mut h, json!({}));
        if compensate {
            comp_ok(&mut h);
        }
        let expected = json!({"state": "f", "code": "credit.denied", "message": "limit too low"});
        assert_eq!(h.instance.context["error"], expected, "compensate: {compensate}");
    }
    // Reached through `on_failure: {goto}`: the handled error stays readable as the cause.
    let mut a = task("s", Some("done"));
    a["on_failure"] = json!({"goto": "f"});
    let d = def(json!({"a": a, "done": {"type": "succeed"}, "f": {"type": "fail", "error": "payout.failed"}}));
    let mut h = Harness::start(d, json!({})).unwrap();
    fail(&mut h, ErrorKind::Permanent);
    let error = &h.instance.context["error"];
    assert_eq!(
        (&error["state"], &error["code"], &error["message"]),
        (&json!("f"), &json!("payout.failed"), &json!(""))
    );
    assert_eq!(error["cause"]["state"], "a");
    assert_eq!(error["cause"]["code"], "step.permanent");
    // Inside a parallel branch.
    let d = def(json!({"a": {"type": "parallel", "end": true, "branches": [
        {"name": "one", "start_at": "bf", "states": {"bf": {"type": "fail", "error": "branch.failed", "message": "m"}}}]}}));
    let h = Harness::start(d, json!({})).unwrap();
    assert_eq!(h.instance.context["error"]["code"], "branch.failed");
}

#[test]
fn issue_14_the_context_names_the_instance() {
    let d = def(json!({
        "a": {"type": "choice", "choices": [{"condition": "instance.version == 1 and instance.workflow == 'test'",
                                             "next": "b"}], "default": "no"},
        "b": {"type": "task", "service": "s", "action": "do", "input": {"run": "$.instance.id"}, "end": true},
        "no": {"type": "fail", "error": "wrong"}
    }));
    let h = Harness::start(d.clone(), json!({})).unwrap();
    assert_eq!(h.instance.context["instance"], json!({"id": "inst-1", "workflow": "test", "version": 1}));
    assert!(matches!(&h.effects[0], Effect::RunTask { input, .. } if *input == json!({"run": "inst-1"})));

    // An instance stored before the context named it gets it at its next transition.
    let mut old = h.instance.clone();
    old.context.as_object_mut().unwrap().remove("instance");
    let (key, attempt, _) = h.run_tasks().pop().unwrap();
    let t =
        apply(&d, &old, Event::StepSucceeded { idempotency_key: key, attempt, output: json!({}) }, &mut h.env.clone())
            .unwrap();
    assert_eq!(t.instance.context["instance"]["id"], "inst-1");
}
