//! The benchmark's workflow and its instant in-process services.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use engine::{ErrorKind, ServiceError};

use crate::runtime::StartRequest;
use crate::services::{RecordingService, Registry};

/// The call-processing saga of the specification.
pub fn definition() -> Value {
    json!({
        "name": "call-processing",
        "description": "Validate the caller, find a buyer, connect, start billing; undo in reverse on failure.",
        "business_keys": ["input.call_id"],
        "input_schema": {"type": "object", "required": ["call_id", "number"],
                         "properties": {"call_id": {"type": "string"}, "number": {"type": "integer"}}},
        "start_at": "validate-caller",
        "states": {
            "validate-caller": {"type": "task", "service": "calls", "action": "validate_caller", "next": "find-buyer"},
            "find-buyer": {"type": "task", "service": "calls", "action": "find_buyer",
                           "compensation": {"service": "calls", "action": "release_reservation"},
                           "next": "connect-call"},
            "connect-call": {"type": "task", "service": "calls", "action": "connect_call",
                             "compensation": {"service": "calls", "action": "disconnect"},
                             "next": "start-billing"},
            "start-billing": {"type": "task", "service": "calls", "action": "start_billing",
                              "compensation": {"service": "calls", "action": "cancel_meter"},
                              "next": "queued"},
            "queued": {"type": "succeed"}
        }
    })
}

/// One instance that sleeps for a day: for the memory measurement.
pub fn sleeper() -> Value {
    json!({
        "name": "sleeper",
        "start_at": "sleep",
        "states": {"sleep": {"type": "wait", "duration_ms": 86_400_000, "next": "done"}, "done": {"type": "succeed"}}
    })
}

pub(crate) const ACTIONS: &[&str] = &[
    "validate_caller",
    "find_buyer",
    "release_reservation",
    "connect_call",
    "disconnect",
    "start_billing",
    "cancel_meter",
];

/// Instant services that answer at once; start-billing refuses every 20th call. `calls` counts calls.
pub fn services(calls: Arc<AtomicU64>) -> Registry {
    let service = RecordingService::with_behaviour(ACTIONS, move |request| {
        calls.fetch_add(1, Ordering::Relaxed);
        let number = request.input["number"].as_u64().unwrap_or(1);
        if request.action == "start_billing" && number % 20 == 0 {
            return Err(ServiceError::new(ErrorKind::Permanent, format!("billing refused call {number}")));
        }
        Ok(json!({"number": number}))
    });
    let mut registry = Registry::new();
    registry.register("calls", Arc::new(service));
    registry
}

pub fn start_request(number: u64) -> StartRequest {
    StartRequest {
        workflow: "call-processing".into(),
        input: json!({"call_id": format!("call-{number}"), "number": number}),
        ..StartRequest::default()
    }
}
