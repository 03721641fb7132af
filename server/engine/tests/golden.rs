//! Golden journal: a recorded history replayed must give the recorded final instance.
//!
//! `tests/golden/payout_saga.json` holds a definition, the env seed, the applied events with
//! their times, the full journal and the final instance. Replaying the events must rebuild
//! the instance exactly, and driving the same scenario today must produce the same journal:
//! a change in either means stored histories would replay differently — a breaking change.
//! Regenerate deliberately with `UPDATE_GOLDEN=1 cargo test --test golden`.

mod common;

use serde_json::{json, Value};
use switchboard_engine::testing::{replay, FixedEnv, Harness};
use switchboard_engine::{Definition, ErrorKind, Event, Instance, JournalEntry, ServiceError};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/payout_saga.json");
const SEED: u64 = 2024;
const START_MS: i64 = 1_700_000_000_000;

fn definition() -> Definition {
    Definition::from_value(json!({
        "name": "payout-processing", "version": 3, "start_at": "validate-balance",
        "business_keys": ["input.seller_id"],
        "input_schema": {"type": "object", "required": ["seller_id", "amount"],
            "properties": {"seller_id": {"type": "string"}, "amount": {"type": "number", "minimum": 1}}},
        "states": {
            "validate-balance": {"type": "task", "service": "finance", "action": "get_balance",
                "input": {"seller": "$.input.seller_id"}, "next": "enough?"},
            "enough?": {"type": "choice", "choices": [
                {"condition": "steps.validate-balance.balance >= input.amount", "next": "reserve-funds"}],
                "default": "insufficient"},
            "insufficient": {"type": "fail", "error": "payout.insufficient_balance", "message": "balance too low"},
            "reserve-funds": {"type": "task", "service": "finance", "action": "reserve_funds",
                "input": {"seller": "$.input.seller_id", "amount": "$.input.amount"},
                "compensation": {"service": "finance", "action": "release_funds",
                                 "input": {"reservation": "$.steps.reserve-funds.reservation_id"}},
                "next": "initiate-transfer"},
            "initiate-transfer": {"type": "task", "service": "payments", "action": "initiate_ach",
                "fallbacks": ["payments-backup"], "retry": {"max_attempts": 2},
                "compensation": {"service": "payments", "action": "cancel_transfer"},
                "next": "update-ledger"},
            "update-ledger": {"type": "task", "service": "finance", "action": "record_payout", "end": true}
        }
    }))
    .unwrap()
}

/// The scenario: balance ok; reserve times out once then succeeds; the transfer's primary
/// fails twice, the backup succeeds; the ledger refuses permanently; both compensations run.
fn drive() -> Harness {
    let mut h =
        Harness::start_with(definition(), json!({"seller_id": "s-42", "amount": 120}), FixedEnv::new(START_MS, SEED))
            .unwrap();
    common::ok(&mut h, json!({"balance": 500}));
    h.env.advance(150);
    common::fail(&mut h, ErrorKind::Timeout);
    common::fire_timer(&mut h);
    common::ok(&mut h, json!({"reservation_id": "r-9"}));
    common::fail(&mut h, ErrorKind::Retryable);
    common::fire_timer(&mut h);
    common::fail(&mut h, ErrorKind::Retryable);
    h.env.advance(80);
    common::ok(&mut h, json!({"transfer_id": "t-1"}));
    let (key, attempt, _) = h.run_tasks()[0].clone();
    h.apply(Event::StepFailed {
        idempotency_key: key,
        attempt,
        error: ServiceError::new(ErrorKind::Permanent, "ledger closed"),
    })
    .unwrap();
    h.env.advance(10);
    common::comp_ok(&mut h);
    common::comp_ok(&mut h);
    h
}

#[test]
fn golden_payout_saga_replays_exactly() {
    let h = drive();
    let events: Vec<Value> = h.applied_events().iter().map(|(at, e)| json!({"at_ms": at, "event": e})).collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let doc = json!({"definition": definition(), "seed": SEED, "start_ms": START_MS, "instance_id": "inst-1",
                         "events": events, "journal": h.journal, "final_instance": h.instance});
        std::fs::write(FILE, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(FILE).expect("golden file exists")).unwrap();
    let def = Definition::from_value(doc["definition"].clone()).unwrap();
    let recorded: Vec<(i64, Event)> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["at_ms"].as_i64().unwrap(), serde_json::from_value(e["event"].clone()).unwrap()))
        .collect();
    let expected: Instance = serde_json::from_value(doc["final_instance"].clone()).unwrap();
    let initial = Instance::new(&def, doc["instance_id"].as_str().unwrap(), doc["start_ms"].as_i64().unwrap());
    let replayed =
        replay(&def, &initial, &recorded, &mut FixedEnv::new(START_MS, doc["seed"].as_u64().unwrap())).unwrap();
    assert_eq!(replayed, expected, "replaying the golden events changed the outcome");

    // Today's engine, driven through the same scenario, writes the same history.
    let journal: Vec<JournalEntry> = serde_json::from_value(doc["journal"].clone()).unwrap();
    assert_eq!(h.journal, journal, "the journal of the scenario changed");
    assert_eq!(h.instance, expected);
    assert_eq!(expected.status_kind().to_string(), "compensated");
    assert_eq!(expected.business_keys.get("input.seller_id").map(String::as_str), Some("s-42"));
}
