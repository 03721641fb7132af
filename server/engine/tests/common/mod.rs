//! Shared helpers for the integration tests.
#![allow(dead_code)]

use serde_json::{json, Value};
use switchboard_engine::testing::Harness;
use switchboard_engine::{Definition, ErrorKind, Event, ServiceError};

pub fn def(states: Value) -> Definition {
    def_with(states, json!({}))
}

/// A definition starting at `a` with the given states; `extra` is merged into the top level.
pub fn def_with(states: Value, extra: Value) -> Definition {
    let mut v = json!({"name": "test", "version": 1, "start_at": "a", "states": states});
    if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in more {
            obj.insert(k.clone(), x.clone());
        }
    }
    Definition::from_value(v).expect("test definition parses")
}

pub fn task(service: &str, next: Option<&str>) -> Value {
    let mut t = json!({"type": "task", "service": service, "action": "do",
        "compensation": {"service": service, "action": "undo"}});
    match next {
        Some(n) => t["next"] = json!(n),
        None => t["end"] = json!(true),
    }
    t
}

pub fn ok(h: &mut Harness, output: Value) {
    let (key, attempt, _) = h.run_tasks().pop().expect("a RunTask to answer");
    h.apply(Event::StepSucceeded { idempotency_key: key, attempt, output }).expect("success applies");
}

pub fn fail(h: &mut Harness, kind: ErrorKind) {
    let (key, attempt, _) = h.run_tasks().pop().expect("a RunTask to answer");
    h.apply(Event::StepFailed { idempotency_key: key, attempt, error: ServiceError::new(kind, "boom") })
        .expect("failure applies");
}

pub fn fire_timer(h: &mut Harness) {
    let (timer_id, at) = h.timers().pop().expect("a timer to fire");
    h.env.set_now(at);
    h.apply(Event::TimerFired { timer_id }).expect("timer applies");
}

pub fn comp_ok(h: &mut Harness) -> String {
    let (key, attempt, state) = h.run_compensations().pop().expect("a RunCompensation");
    h.apply(Event::CompensationSucceeded { idempotency_key: key, attempt }).expect("applies");
    state
}

pub fn op(actor: &str) -> (String, String) {
    (actor.to_string(), "because".to_string())
}
