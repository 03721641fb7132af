//! Recovery: `outstanding_effects` on an instance reloaded from storage after a crash.
//!
//! Each scenario takes the instance after a transition, round-trips it through JSON (what the
//! runtime stores), recovers it at a later time, and checks that the effects are exactly the
//! calls still in flight as first issued (only the deadline is new) and that a success and a
//! failure for each of them are accepted by `apply`.

mod common;

use common::*;
use serde_json::json;
use switchboard_engine::instance::{Blocked, Status, WaitingOn};
use switchboard_engine::testing::Harness;
use switchboard_engine::{
    apply, outstanding_effects, Effect, ErrorKind, Event, Instance, Resolution, ServiceError, State, StatusKind,
};

/// How much later than the last transition the runtime restarts.
const DOWNTIME_MS: i64 = 7_000;

fn without_deadline(effects: &[Effect]) -> Vec<Effect> {
    effects
        .iter()
        .cloned()
        .map(|mut e| {
            match &mut e {
                Effect::RunTask { deadline_ms, .. } | Effect::RunCompensation { deadline_ms, .. } => *deadline_ms = 0,
                _ => {}
            }
            e
        })
        .collect()
}

/// The calls among `effects` (what a transition issued).
fn calls(effects: &[Effect]) -> Vec<Effect> {
    effects.iter().filter(|e| matches!(e, Effect::RunTask { .. } | Effect::RunCompensation { .. })).cloned().collect()
}

/// The result events answering a call: a success and a (retryable) failure.
fn answers(call: &Effect) -> [Event; 2] {
    let error = ServiceError::new(ErrorKind::Retryable, "after restart");
    match call {
        Effect::RunTask { idempotency_key, attempt, .. } => [
            Event::StepSucceeded {
                idempotency_key: idempotency_key.clone(),
                attempt: *attempt,
                output: json!({"recovered": true}),
            },
            Event::StepFailed { idempotency_key: idempotency_key.clone(), attempt: *attempt, error },
        ],
        Effect::RunCompensation { idempotency_key, attempt, .. } => [
            Event::CompensationSucceeded { idempotency_key: idempotency_key.clone(), attempt: *attempt },
            Event::CompensationFailed { idempotency_key: idempotency_key.clone(), attempt: *attempt, error },
        ],
        other => panic!("not a call: {other:?}"),
    }
}

/// The deadline a call issued at `now` must get.
fn expected_deadline(h: &Harness, loaded: &Instance, call: &Effect, now: i64) -> i64 {
    let (state, compensation) = match call {
        Effect::RunTask { state, .. } => (state, false),
        Effect::RunCompensation { state, .. } => (state, true),
        other => panic!("not a call: {other:?}"),
    };
    let Some(State::Task(t)) = h.def.find_state(state) else { panic!("no task '{state}'") };
    if compensation {
        now + t.compensation.as_ref().expect("compensable").timeout_ms as i64
    } else {
        let d = now + t.timeout_ms as i64;
        loaded.deadline_at_ms.map_or(d, |w| d.min(w))
    }
}

/// Reloads `h.instance` from JSON, recovers it, and checks the recovered calls against
/// `issued` (the calls first issued that are still unanswered). Returns the reloaded
/// instance and the recovered effects.
fn recover(h: &Harness, issued: &[Effect]) -> (Instance, Vec<Effect>) {
    let stored = serde_json::to_string(&h.instance).expect("instance serializes");
    let loaded: Instance = serde_json::from_str(&stored).expect("instance deserializes");
    assert_eq!(loaded, h.instance, "JSON round trip is lossless");

    let now = h.env.now() + DOWNTIME_MS;
    let got = outstanding_effects(&h.def, &loaded, now);
    assert_eq!(got, outstanding_effects(&h.def, &loaded, now), "deterministic");
    assert_eq!(without_deadline(&got), without_deadline(issued), "recovered calls are the ones first issued");
    for call in &got {
        let (Effect::RunTask { deadline_ms, .. } | Effect::RunCompensation { deadline_ms, .. }) = call else {
            panic!("recovery returns calls only: {call:?}")
        };
        assert_eq!(*deadline_ms, expected_deadline(h, &loaded, call, now));
        // Each result, on its own, is accepted by the reloaded instance.
        for event in answers(call) {
            let mut env = h.env.clone();
            env.set_now(now + 1);
            let name = event.name();
            if let Err(e) = apply(&h.def, &loaded, event, &mut env) {
                panic!("{name} for recovered {call:?} was rejected: {e}");
            }
        }
    }
    // All successes, one after the other, are accepted too (parallel branches, draining).
    let mut inst = loaded.clone();
    let mut env = h.env.clone();
    env.set_now(now + 1);
    for call in &got {
        let [success, _] = answers(call);
        let name = success.name();
        inst = match apply(&h.def, &inst, success, &mut env) {
            Ok(t) => t.instance,
            Err(e) => panic!("{name} for recovered {call:?} was rejected in sequence: {e}"),
        };
    }
    (loaded, got)
}

fn deadline_of(e: &Effect) -> i64 {
    match e {
        Effect::RunTask { deadline_ms, .. } | Effect::RunCompensation { deadline_ms, .. } => *deadline_ms,
        other => panic!("not a call: {other:?}"),
    }
}

#[test]
fn a_single_task_in_flight_is_reissued_with_a_fresh_deadline() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    let issued = calls(&h.effects);
    let (_, got) = recover(&h, &issued);
    assert_eq!(got.len(), 1);
    assert!(deadline_of(&got[0]) > deadline_of(&issued[0]), "fresh deadline");

    // And after the first step: the second one, not the first.
    ok(&mut h, json!(1));
    let issued = calls(&h.effects);
    let (_, got) = recover(&h, &issued);
    assert!(matches!(&got[..], [Effect::RunTask { idempotency_key, .. }] if idempotency_key == "inst-1:b:2"));
}

#[test]
fn a_retry_in_flight_keeps_its_key_and_attempt() {
    let d = def(json!({"a": task("a", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    fail(&mut h, ErrorKind::Retryable);
    // Backing off: the retry timer is the runtime's to re-arm; no call is out.
    recover(&h, &[]);
    fire_timer(&mut h);
    let issued = calls(&h.effects);
    let (_, got) = recover(&h, &issued);
    assert!(
        matches!(&got[..], [Effect::RunTask { idempotency_key, attempt: 2, .. }] if idempotency_key == "inst-1:a:1")
    );
}

#[test]
fn a_fallback_target_in_flight_keeps_its_own_key() {
    let d = def(json!({"a": {"type": "task", "service": "p", "action": "do", "end": true, "fallbacks": ["f1"]}}));
    let mut h = Harness::start(d, json!({})).unwrap();
    fail(&mut h, ErrorKind::CircuitOpen);
    let issued = calls(&h.effects);
    let (_, got) = recover(&h, &issued);
    assert!(matches!(&got[..], [Effect::RunTask { idempotency_key, service, attempt: 2, .. }]
        if idempotency_key == "inst-1:a:1:f1" && service == "f1"));
}

fn two_branches() -> switchboard_engine::Definition {
    def(json!({
        "a": task("a", Some("p")),
        "p": {"type": "parallel", "next": "done", "branches": [
            {"name": "x", "start_at": "x1", "states": {"x1": task("x", None)}},
            {"name": "y", "start_at": "y1", "states": {"y1": task("y", Some("y2")), "y2": task("y", None)}}]},
        "done": {"type": "succeed"}
    }))
}

#[test]
fn parallel_branches_in_flight_are_all_reissued_in_branch_order() {
    let mut h = Harness::start(two_branches(), json!({})).unwrap();
    ok(&mut h, json!("a"));
    let issued = calls(&h.effects);
    assert_eq!(issued.len(), 2);
    let (_, got) = recover(&h, &issued);
    assert_eq!(got.len(), 2);

    // x answers; y's call is still out.
    let (x_key, x_attempt, _) = h.run_tasks()[0].clone();
    let y_call = issued[1].clone();
    h.apply(Event::StepSucceeded { idempotency_key: x_key, attempt: x_attempt, output: json!("x") }).unwrap();
    recover(&h, &[y_call]);
}

#[test]
fn a_call_awaited_after_a_parallel_failure_is_reissued() {
    let mut h = Harness::start(two_branches(), json!({})).unwrap();
    ok(&mut h, json!("a"));
    let issued = calls(&h.effects);
    let (x_key, x_attempt, _) = h.run_tasks()[0].clone();
    h.apply(Event::StepFailed {
        idempotency_key: x_key,
        attempt: x_attempt,
        error: ServiceError::new(ErrorKind::Permanent, "no"),
    })
    .unwrap();
    // x failed; y's call is awaited so that a success can be compensated.
    assert_eq!(h.instance.status_kind(), StatusKind::Running);
    recover(&h, &issued[1..]);
}

#[test]
fn a_compensation_in_flight_is_reissued_with_its_key_and_attempt() {
    let d = def_with(
        json!({"a": task("a", Some("b")), "b": task("b", Some("c")), "c": task("c", None)}),
        json!({"compensation_retry": {"max_attempts": 3}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    ok(&mut h, json!(2));
    fail(&mut h, ErrorKind::Permanent);
    let issued = calls(&h.effects);
    let (_, got) = recover(&h, &issued);
    assert!(matches!(&got[..], [Effect::RunCompensation { idempotency_key, attempt: 1, .. }]
        if idempotency_key == "inst-1:b:2:compensate"));

    // Its second attempt, after a backoff (during which nothing is out).
    let (key, attempt, _) = h.run_compensations()[0].clone();
    h.apply(Event::CompensationFailed {
        idempotency_key: key,
        attempt,
        error: ServiceError::new(ErrorKind::Retryable, "x"),
    })
    .unwrap();
    recover(&h, &[]);
    fire_timer(&mut h);
    let issued = calls(&h.effects);
    let (_, got) = recover(&h, &issued);
    assert!(matches!(&got[..], [Effect::RunCompensation { attempt: 2, .. }]));
}

#[test]
fn a_call_drained_by_a_cancel_is_reissued() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    let issued = calls(&h.effects);
    let (actor, reason) = op("carl");
    h.apply(Event::CancelRequested { actor, reason }).unwrap();
    assert_eq!(h.instance.status_kind(), StatusKind::Compensating);
    // Compensation waits for b's outcome: without it the instance would wait forever.
    recover(&h, &issued);
}

#[test]
fn held_calls_of_a_paused_instance_stay_held_and_calls_already_out_are_reissued() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    let a_call = calls(&h.effects);
    let (actor, reason) = op("ops");
    h.apply(Event::PauseRequested { actor, reason }).unwrap();
    // a went out before the pause: its result is still awaited, so it is reissued.
    recover(&h, &a_call);

    // a succeeds while paused: b's call is held, so nothing is out.
    ok_key(&mut h, &a_call[0]);
    assert_eq!(h.instance.held_effects.len(), 1);
    let (loaded, got) = recover(&h, &[]);
    assert!(got.is_empty());
    assert_eq!(loaded.held_effects.len(), 1, "still held after a reload");

    // Resume releases the held call (same key and attempt); once out, it is recovered.
    let held = h.instance.held_effects.clone();
    let (actor, reason) = op("ops");
    h.apply(Event::ResumeRequested { actor, reason }).unwrap();
    assert_eq!(without_deadline(&calls(&h.effects)), without_deadline(&held));
    let issued = calls(&h.effects);
    recover(&h, &issued);
}

#[test]
fn a_held_compensation_of_a_paused_instance_stays_held() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    let b_call = calls(&h.effects);
    let (actor, reason) = op("ops");
    h.apply(Event::PauseRequested { actor, reason }).unwrap();
    let (actor, reason) = op("ops");
    h.apply(Event::CancelRequested { actor, reason }).unwrap();
    // b was out before the pause and is drained; nothing else is out.
    recover(&h, &b_call);
    ok_key(&mut h, &b_call[0]);
    // b's compensation and a's are due, but held by the pause.
    assert_eq!(h.instance.status_kind(), StatusKind::Compensating);
    assert!(matches!(&h.instance.held_effects[..], [Effect::RunCompensation { .. }]));
    recover(&h, &[]);
}

fn ok_key(h: &mut Harness, call: &Effect) {
    let Effect::RunTask { idempotency_key, attempt, .. } = call else { panic!() };
    h.apply(Event::StepSucceeded { idempotency_key: idempotency_key.clone(), attempt: *attempt, output: json!(2) })
        .unwrap();
}

#[test]
fn nothing_is_reissued_while_waiting_on_a_timer() {
    let d = def(json!({"a": task("a", Some("w")),
        "w": {"type": "wait", "duration_ms": 60000, "next": "b"}, "b": task("b", None)}));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    assert!(matches!(h.instance.status, Status::Waiting(WaitingOn::Timer { .. })));
    recover(&h, &[]);
    fire_timer(&mut h);
    let issued = calls(&h.effects);
    recover(&h, &issued);
}

#[test]
fn nothing_is_reissued_while_waiting_on_a_person() {
    let d = def(json!({"a": task("a", Some("h")),
        "h": {"type": "human", "assignee_group": "ops", "decisions": [{"name": "ok", "next": "b"}]},
        "b": {"type": "task", "service": "b", "action": "do", "end": true,
              "on_failure": "intervention", "retry": {"max_attempts": 1}}}));
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    assert!(matches!(h.instance.status, Status::Waiting(WaitingOn::Human { .. })));
    recover(&h, &[]);

    // A failed step waiting for a reviewer: nothing out either.
    let iid = h.opened_intervention().unwrap();
    h.apply(Event::HumanDecided {
        intervention_id: iid,
        decision: "ok".into(),
        data: json!(null),
        actor: "rev".into(),
        reason: "fine".into(),
    })
    .unwrap();
    fail(&mut h, ErrorKind::Permanent);
    assert!(matches!(h.instance.status, Status::NeedsIntervention(Blocked::StepFailed { .. })));
    recover(&h, &[]);
    // The reviewer's retry goes out and is then recovered like any call.
    let iid = h.opened_intervention().unwrap();
    let (actor, reason) = op("rev");
    h.apply(Event::InterventionResolved {
        intervention_id: iid,
        resolution: Resolution::Retry { edited_input: None },
        actor,
        reason,
    })
    .unwrap();
    let issued = calls(&h.effects);
    recover(&h, &issued);
}

#[test]
fn a_failed_compensation_waiting_for_a_reviewer_reissues_nothing() {
    let d = def_with(
        json!({"a": task("a", Some("b")), "b": task("b", None)}),
        json!({"compensation_retry": {"max_attempts": 1}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    fail(&mut h, ErrorKind::Permanent);
    let (key, attempt, _) = h.run_compensations()[0].clone();
    h.apply(Event::CompensationFailed {
        idempotency_key: key,
        attempt,
        error: ServiceError::new(ErrorKind::Retryable, "x"),
    })
    .unwrap();
    assert!(matches!(h.instance.status, Status::NeedsIntervention(Blocked::CompensationFailed { .. })));
    recover(&h, &[]);
}

#[test]
fn final_and_failed_instances_reissue_nothing() {
    let d = def(json!({"a": task("a", Some("b")), "b": task("b", None)}));
    // completed
    let mut h = Harness::start(d.clone(), json!({})).unwrap();
    ok(&mut h, json!(1));
    ok(&mut h, json!(2));
    assert_eq!(h.instance.status_kind(), StatusKind::Completed);
    recover(&h, &[]);
    // compensated
    let mut h = Harness::start(d.clone(), json!({})).unwrap();
    ok(&mut h, json!(1));
    fail(&mut h, ErrorKind::Permanent);
    comp_ok(&mut h);
    assert_eq!(h.instance.status_kind(), StatusKind::Compensated);
    recover(&h, &[]);
    // cancelled
    let mut h = Harness::start(d, json!({})).unwrap();
    ok(&mut h, json!(1));
    let (actor, reason) = op("carl");
    let b = calls(&h.effects);
    h.apply(Event::CancelRequested { actor, reason }).unwrap();
    ok_key(&mut h, &b[0]);
    comp_ok(&mut h);
    comp_ok(&mut h);
    assert_eq!(h.instance.status_kind(), StatusKind::Cancelled);
    recover(&h, &[]);
    // failed (resting)
    let d = def(
        json!({"a": {"type": "task", "service": "a", "action": "do", "end": true, "on_failure": "fail", "retry": {"max_attempts": 1}}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    fail(&mut h, ErrorKind::Permanent);
    assert_eq!(h.instance.status_kind(), StatusKind::Failed);
    recover(&h, &[]);
}

#[test]
fn a_task_deadline_stays_capped_by_the_workflow_deadline() {
    let d = def_with(
        json!({"a": {"type": "task", "service": "a", "action": "do", "end": true, "timeout_ms": 30000}}),
        json!({"timeouts": {"workflow_ms": 40000}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    h.env.advance(30_000);
    let issued = calls(&h.effects);
    let (loaded, got) = recover(&h, &issued);
    assert_eq!(Some(deadline_of(&got[0])), loaded.deadline_at_ms);
}

/// Regression: compensation calls after a workflow timeout were given the (passed) workflow
/// deadline, so a runtime honouring deadlines timed every one of them out at once.
#[test]
fn compensations_after_a_workflow_timeout_get_a_deadline_in_the_future() {
    let d = def_with(
        json!({"a": task("a", Some("w")), "w": {"type": "wait", "duration_ms": 999999999, "end": true}}),
        json!({"timeouts": {"workflow_ms": 60000}}),
    );
    let mut h = Harness::start(d, json!({})).unwrap();
    let (deadline_timer, at) = h.timers()[0].clone();
    ok(&mut h, json!(1));
    h.env.set_now(at);
    h.apply(Event::TimerFired { timer_id: deadline_timer }).unwrap();
    let issued = calls(&h.effects);
    assert_eq!(deadline_of(&issued[0]), at + 30_000);
    let (_, got) = recover(&h, &issued);
    assert_eq!(deadline_of(&got[0]), at + DOWNTIME_MS + 30_000);
}

#[test]
fn another_definition_version_recovers_nothing() {
    let d = def(json!({"a": task("a", None)}));
    let h = Harness::start(d.clone(), json!({})).unwrap();
    let mut other = d;
    other.version = 2;
    assert!(outstanding_effects(&other, &h.instance, h.env.now()).is_empty());
}
