//! The seven marketplace workflows (issue 4, part 3) on the simulated services, on SQLite and
//! PostgreSQL, through the state `switchboard serve` builds: every workflow's happy path end to end and
//! every failure branch, with the steps taken, the compensations run and the services' state checked
//! (ledger balances, reservations, meters, accounts). Also the wiring: `--service` replacing a
//! simulated service, and versioning of the shipped definitions.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use switchboard::db::DatabaseUrl;
use switchboard::marketplace::sql::{Bind, SimDb};
use switchboard::marketplace::{workflows, FaultSettings};
use switchboard::runtime::StartRequest;
use switchboard::serve::{build_state, build_state_with, Config};
use switchboard::services::{Registry, ServiceRequest, ServiceSpec};
use switchboard::state::AppState;
use switchboard::store::InstanceRow;

const SETTLE: Duration = Duration::from_secs(60);
const DAY: &str = "2024-05-31";
/// Noon on `DAY`, epoch milliseconds.
const NOON_OF_DAY: i64 = 1_717_156_800_000;

// ---------------------------------------------------------------------------------------------
// Helpers: find (state, steps, balances), act (start, decide, call a service), check.

fn args(url: &DatabaseUrl) -> Config {
    crate::support::serve_args(url, PathBuf::from("target/site"))
}

/// The state `switchboard serve` builds: simulated services and the seven workflows.
async fn market(url: &DatabaseUrl) -> AppState {
    build_state(&args(url)).await.expect("application state with the marketplace")
}

/// Calls a service directly (to set the scene) and expects success.
async fn call(state: &AppState, service: &str, action: &str, input: Value) -> Value {
    let request = ServiceRequest {
        action: action.into(),
        input,
        idempotency_key: format!("test:{}", uuid::Uuid::new_v4()),
        timeout: Duration::from_secs(10),
        origin: Default::default(),
    };
    let now = chrono::Utc::now().timestamp_millis();
    match state.runtime.services().call(service, request, now).await {
        Ok(output) => output,
        Err(error) => panic!("{service}.{action} failed: {error:?}"),
    }
}

async fn start(state: &AppState, workflow: &str, input: Value) -> InstanceRow {
    let request = StartRequest { workflow: workflow.into(), input, ..StartRequest::default() };
    state.runtime.start_instance(request).await.unwrap_or_else(|e| panic!("start {workflow}: {e}")).instance
}

/// Starts an instance and waits until it finished or waits for a person.
async fn run(state: &AppState, workflow: &str, input: Value) -> InstanceRow {
    let started = start(state, workflow, input).await;
    settle(state, &started.id).await
}

async fn settle(state: &AppState, id: &str) -> InstanceRow {
    let row = state.runtime.wait_settled(id, SETTLE).await.expect("wait");
    assert!(switchboard::runtime::is_settled(&row), "not settled within {SETTLE:?}: {row:?}");
    row
}

/// Answers the instance's open human task and waits again.
async fn decide(state: &AppState, id: &str, expected_state: &str, decision: &str, reason: &str) -> InstanceRow {
    let open: Vec<_> =
        state.runtime.store().interventions_of(id).await.unwrap().into_iter().filter(|i| i.status == "open").collect();
    assert_eq!(open.len(), 1, "one open intervention: {open:?}");
    assert_eq!(open[0].state, expected_state);
    assert_eq!(open[0].kind, "human_task");
    state
        .runtime
        .send(
            id,
            engine::Event::HumanDecided {
                intervention_id: open[0].id.clone(),
                decision: decision.into(),
                data: json!({}),
                actor: "rita".into(),
                reason: reason.into(),
            },
        )
        .await
        .expect("decision accepted");
    settle(state, id).await
}

/// `(kind, state, action)` of every successful step, in the order they finished.
async fn succeeded(state: &AppState, id: &str) -> Vec<(String, String, String)> {
    let mut steps = state.runtime.store().steps(id).await.unwrap();
    // Same-millisecond finishes: order by the step's sequence number (last part of its id).
    steps.sort_by_key(|s| (s.finished_at, s.step_id.rsplit(':').next().and_then(|n| n.parse::<u64>().ok())));
    steps.into_iter().filter(|s| s.outcome == "succeeded").map(|s| (s.kind, s.state, s.action)).collect()
}

/// The states whose task succeeded, in order.
async fn tasks(state: &AppState, id: &str) -> Vec<String> {
    succeeded(state, id).await.into_iter().filter(|(kind, ..)| kind == "task").map(|(_, state, _)| state).collect()
}

/// The compensation actions that ran, in order.
async fn compensations(state: &AppState, id: &str) -> Vec<String> {
    succeeded(state, id)
        .await
        .into_iter()
        .filter(|(kind, ..)| kind == "compensation")
        .map(|(_, _, action)| action)
        .collect()
}

/// Every failed attempt's state.
async fn failed_states(state: &AppState, id: &str) -> Vec<String> {
    let steps = state.runtime.store().steps(id).await.unwrap();
    steps.into_iter().filter(|s| s.outcome != "succeeded").map(|s| s.state).collect()
}

fn sim(state: &AppState) -> SimDb {
    SimDb::new(state.database.clone())
}

async fn text(state: &AppState, sql: &'static str, id: &str) -> Option<String> {
    let rows = sim(state).fetch_all(sql, &[Bind::text(id)]).await.expect("query");
    rows.first().map(|row| row.text(0).expect("text"))
}

async fn count(state: &AppState, sql: &'static str, id: &str) -> i64 {
    sim(state).fetch_all(sql, &[Bind::text(id)]).await.expect("query")[0].int(0).expect("integer")
}

/// `(available, reserved)` of a ledger account, `(0, 0)` when it does not exist.
async fn balance(state: &AppState, account: &str) -> (i64, i64) {
    let rows = sim(state)
        .fetch_all("SELECT available, reserved FROM sim_balances WHERE account_id = $1", &[Bind::text(account)])
        .await
        .expect("balance");
    rows.first().map_or((0, 0), |row| (row.int(0).unwrap(), row.int(1).unwrap()))
}

/// The output of a completed instance (its `succeed` state's template).
fn output(row: &InstanceRow) -> Value {
    let instance: Value = serde_json::from_str(&row.state).expect("instance JSON");
    instance["status"]["output"].clone()
}

/// The error of the first failed attempt of `state_name`.
async fn step_error(state: &AppState, id: &str, state_name: &str) -> String {
    let steps = state.runtime.store().steps(id).await.unwrap();
    steps
        .into_iter()
        .find(|s| s.state == state_name && s.outcome != "succeeded")
        .and_then(|s| s.error)
        .unwrap_or_default()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// The failure's code and message (a `fail` state's code is not in the row's `error` text).
fn error_of(row: &InstanceRow) -> String {
    let instance: Value = serde_json::from_str(&row.state).expect("instance JSON");
    let failure = &instance["status"]["failure"];
    format!("{}: {}", failure["code"].as_str().unwrap_or_default(), row.error.clone().unwrap_or_default())
}

/// Gives `seller` money to pay out or credit back: a posted charge of `amount` (80 % reaches the
/// seller after the default 20 % platform fee).
async fn seed_charge(state: &AppState, charge_id: &str, buyer: &str, seller: &str, amount: i64) {
    call(
        state,
        "ledger",
        "record_charge",
        json!({"charge_id": charge_id, "buyer_id": buyer, "seller_id": seller, "amount_minor": amount, "occurred_at_ms": NOON_OF_DAY}),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Buyer onboarding.

fn buyer(buyer_id: &str) -> Value {
    json!({
        "buyer_id": buyer_id, "name": "Acme Leads", "email": "ops@acme.test", "document_id": "P-1234",
        "credit_score": 720, "campaign_id": format!("{buyer_id}-auto"), "campaign_name": "Auto insurance",
        "daily_budget_minor": 50_000, "vertical": "insurance", "bid_minor": 120
    })
}

const BUYER_HAPPY_PATH: &[&str] = &[
    "registration",
    "identity-verification",
    "credit-check",
    "account-creation",
    "credit-setup",
    "campaign-creation",
    "bid-configuration",
    "campaign-activation",
    "account-activation",
    "notify-buyer",
];

async fn buyer_onboarding_activates_the_buyer_and_its_campaign(url: DatabaseUrl) {
    let state = market(&url).await;
    let done = run(&state, "buyer-onboarding", buyer("b-1")).await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(output(&done)["account_status"], "active", "{done:?}");
    assert_eq!(output(&done)["campaign_status"], "active", "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, strings(BUYER_HAPPY_PATH));
    assert_eq!(text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "b-1").await.as_deref(), Some("active"));
    assert_eq!(
        text(&state, "SELECT status FROM sim_campaigns WHERE id = $1", "b-1-auto").await.as_deref(),
        Some("active")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_credit_limits WHERE buyer_id = $1", "b-1").await.as_deref(),
        Some("active")
    );
    // Score 720, minimum 600: 1,000.00 per 50 points above, plus 1,000.00.
    let limit = count(&state, "SELECT limit_minor FROM sim_credit_limits WHERE buyer_id = $1", "b-1").await;
    assert_eq!(limit, 300_000);
    assert_eq!(
        text(&state, "SELECT status FROM sim_balances WHERE account_id = $1", "buyer:b-1").await.as_deref(),
        Some("open")
    );
    let keys = state.runtime.store().business_keys(&done.id).await.unwrap();
    assert!(keys.contains(&("input.buyer_id".to_string(), "b-1".to_string())), "{keys:?}");
}
on_both!(buyer_onboarding_activates_the_buyer_and_its_campaign);

async fn buyer_onboarding_validation_error_fails_with_nothing_created(url: DatabaseUrl) {
    let state = market(&url).await;
    let mut input = buyer("b-2");
    input["email"] = json!("not-an-email");
    let done = run(&state, "buyer-onboarding", input).await;
    assert_eq!(done.status, "failed", "{done:?}");
    assert!(error_of(&done).contains("validation_error"), "{done:?}");
    assert!(tasks(&state, &done.id).await.is_empty());
    assert!(compensations(&state, &done.id).await.is_empty());
    assert_eq!(failed_states(&state, &done.id).await, ["registration"]);
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_accounts WHERE id = $1", "b-2").await, 0);
    // The service's refusal that took the branch is on the failed step.
    let refusal = step_error(&state, &done.id, "registration").await;
    assert!(refusal.contains("email"), "{refusal}");
}
on_both!(buyer_onboarding_validation_error_fails_with_nothing_created);

async fn buyer_onboarding_failed_verification_closes_the_registration(url: DatabaseUrl) {
    let state = market(&url).await;
    let mut input = buyer("b-3");
    input["document_id"] = json!("FAIL-0001");
    let done = run(&state, "buyer-onboarding", input).await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(error_of(&done).contains("verification_failed"), "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["registration"]);
    assert_eq!(compensations(&state, &done.id).await, ["close_account"]);
    assert_eq!(text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "b-3").await.as_deref(), Some("closed"));
}
on_both!(buyer_onboarding_failed_verification_closes_the_registration);

async fn buyer_onboarding_denied_credit_closes_the_registration(url: DatabaseUrl) {
    let state = market(&url).await;
    let mut input = buyer("b-4");
    input["credit_score"] = json!(450);
    let done = run(&state, "buyer-onboarding", input).await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(error_of(&done).contains("credit_denied"), "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["registration", "identity-verification"]);
    assert_eq!(compensations(&state, &done.id).await, ["close_account"]);
    assert_eq!(text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "b-4").await.as_deref(), Some("closed"));
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_credit_limits WHERE buyer_id = $1", "b-4").await, 0);
}
on_both!(buyer_onboarding_denied_credit_closes_the_registration);

// ---------------------------------------------------------------------------------------------
// Call lifecycle.

fn a_call(call_id: &str, vertical: &str) -> Value {
    json!({
        "call_id": call_id, "seller_id": "s-calls", "caller_number": "+14155550123",
        "vertical": vertical, "region": "US-CA", "duration_s": 90, "silence_s": 2
    })
}

async fn call_lifecycle_charges_the_buyer_and_queues_the_charge_for_settlement(url: DatabaseUrl) {
    let state = market(&url).await;
    assert_eq!(run(&state, "buyer-onboarding", buyer("b-call")).await.status, "completed");
    let done = run(&state, "call-lifecycle", a_call("call-1", "insurance")).await;
    assert_eq!(done.status, "completed", "{done:?}");
    let taken = tasks(&state, &done.id).await;
    assert_eq!(taken[..5], strings(&["validate-call", "find-buyer", "route-call", "connect-call", "start-meter"]));
    // The parallel branches may finish in any order; the duration branch is ordered inside.
    let mut during: Vec<String> = taken[5..8].to_vec();
    during.sort();
    assert_eq!(during, strings(&["monitor-quality", "stop-meter", "track-duration"]));
    assert!(
        taken.iter().position(|s| s == "track-duration") < taken.iter().position(|s| s == "stop-meter"),
        "{taken:?}"
    );
    assert_eq!(taken[8..], strings(&["calculate-charge", "record-charge"]));
    assert!(compensations(&state, &done.id).await.is_empty());

    // 90 s at 1.20 per minute = 1.80; the platform keeps 20 %.
    assert_eq!(balance(&state, "buyer:b-call").await, (-180, 0));
    assert_eq!(balance(&state, "seller:s-calls").await, (144, 0));
    assert_eq!(balance(&state, "platform:fees").await, (36, 0));
    assert_eq!(text(&state, "SELECT status FROM sim_charges WHERE id = $1", "call-1").await.as_deref(), Some("posted"));
    assert_eq!(
        text(&state, "SELECT status FROM sim_meters WHERE call_id = $1", "call-1").await.as_deref(),
        Some("rated")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_connections WHERE call_id = $1", "call-1").await.as_deref(),
        Some("completed")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_reservations WHERE call_id = $1", "call-1").await.as_deref(),
        Some("routed")
    );
    let output = output(&done);
    assert_eq!(output["charge_minor"], 180, "{output}");
    assert_eq!(output["fee_minor"], 36, "{output}");
    assert_eq!(output["duration_s"], 90, "{output}");
    assert_eq!(output["quality_score"], 84, "{output}");
}
on_both!(call_lifecycle_charges_the_buyer_and_queues_the_charge_for_settlement);

async fn call_without_a_buyer_disconnects_the_caller_and_fails(url: DatabaseUrl) {
    let state = market(&url).await;
    let done = run(&state, "call-lifecycle", a_call("call-2", "legal")).await;
    assert_eq!(done.status, "failed", "{done:?}");
    assert!(error_of(&done).contains("no_buyer"), "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["validate-call", "end-unrouted-call"]);
    assert_eq!(failed_states(&state, &done.id).await, ["find-buyer"]);
    assert_eq!(
        text(&state, "SELECT status FROM sim_connections WHERE call_id = $1", "call-2").await.as_deref(),
        Some("disconnected")
    );
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_meters WHERE call_id = $1", "call-2").await, 0);
}
on_both!(call_without_a_buyer_disconnects_the_caller_and_fails);

async fn blocked_caller_is_rejected_before_anything_is_reserved(url: DatabaseUrl) {
    let state = market(&url).await;
    let mut input = a_call("call-3", "insurance");
    input["caller_number"] = json!("+14155550000");
    let done = run(&state, "call-lifecycle", input).await;
    assert_eq!(done.status, "failed", "{done:?}");
    assert!(error_of(&done).contains("call_rejected"), "{done:?}");
    assert!(tasks(&state, &done.id).await.is_empty());
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_reservations WHERE call_id = $1", "call-3").await, 0);
}
on_both!(blocked_caller_is_rejected_before_anything_is_reserved);

async fn a_charge_that_cannot_be_recorded_cancels_the_meter_disconnects_and_releases(url: DatabaseUrl) {
    let state = market(&url).await;
    assert_eq!(run(&state, "buyer-onboarding", buyer("b-fault")).await.status, "completed");
    // The ledger is down for the whole call: record-charge exhausts its retries.
    state.faults.set("ledger", FaultSettings { failure_rate: 1.0, ..FaultSettings::none() }).unwrap();
    let done = run(&state, "call-lifecycle", a_call("call-4", "insurance")).await;
    assert_eq!(done.status, "compensated", "{done:?}");
    let failed = failed_states(&state, &done.id).await;
    assert_eq!(failed, ["record-charge", "record-charge", "record-charge"], "three attempts");
    assert_eq!(compensations(&state, &done.id).await, ["cancel_meter", "disconnect", "release_reservation"]);
    assert_eq!(
        text(&state, "SELECT status FROM sim_meters WHERE call_id = $1", "call-4").await.as_deref(),
        Some("cancelled")
    );
    // The call had ended normally, so it stays `completed` (nothing left to hang up).
    assert_eq!(
        text(&state, "SELECT status FROM sim_connections WHERE call_id = $1", "call-4").await.as_deref(),
        Some("completed")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_reservations WHERE call_id = $1", "call-4").await.as_deref(),
        Some("released")
    );
    state.faults.set("ledger", FaultSettings::none()).unwrap();
    assert_eq!(balance(&state, "buyer:b-fault").await, (0, 0), "nothing was charged");
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_charges WHERE id = $1", "call-4").await, 0);
}
on_both!(a_charge_that_cannot_be_recorded_cancels_the_meter_disconnects_and_releases);

async fn a_failure_while_connected_hangs_up_the_caller(url: DatabaseUrl) {
    let state = market(&url).await;
    assert_eq!(run(&state, "buyer-onboarding", buyer("b-meter")).await.status, "completed");
    // Billing is down: start-meter fails after the call was connected.
    state.faults.set("billing", FaultSettings { failure_rate: 1.0, ..FaultSettings::none() }).unwrap();
    let done = run(&state, "call-lifecycle", a_call("call-5", "insurance")).await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["validate-call", "find-buyer", "route-call", "connect-call"]);
    assert_eq!(compensations(&state, &done.id).await, ["disconnect", "release_reservation"]);
    assert_eq!(
        text(&state, "SELECT status FROM sim_connections WHERE call_id = $1", "call-5").await.as_deref(),
        Some("disconnected")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_reservations WHERE call_id = $1", "call-5").await.as_deref(),
        Some("released")
    );
}
on_both!(a_failure_while_connected_hangs_up_the_caller);

// ---------------------------------------------------------------------------------------------
// Payout processing.

/// A seller with 80.00 available and a verified bank account when `bank` is true.
async fn funded_seller(state: &AppState, seller: &str, bank: bool) {
    seed_charge(state, &format!("{seller}-earning"), "b-payer", seller, 10_000).await;
    if bank {
        call(
            state,
            "payments",
            "setup_bank_account",
            json!({"seller_id": seller, "routing_number": "021000021", "account_number": "12345678", "tax_id": "12-3456789"}),
        )
        .await;
    }
    assert_eq!(balance(state, &format!("seller:{seller}")).await, (8_000, 0));
}

async fn payout_moves_the_money_out_and_tells_the_seller(url: DatabaseUrl) {
    let state = market(&url).await;
    funded_seller(&state, "s-pay", true).await;
    let done =
        run(&state, "payout-processing", json!({"payout_id": "po-1", "seller_id": "s-pay", "amount_minor": 5_000}))
            .await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(
        tasks(&state, &done.id).await,
        ["validate-balance", "reserve-funds", "initiate-transfer", "update-ledger", "notify-seller"]
    );
    assert_eq!(balance(&state, "seller:s-pay").await, (3_000, 0));
    assert_eq!(balance(&state, "external:payouts").await, (5_000, 0));
    assert_eq!(
        text(&state, "SELECT status FROM sim_fund_reservations WHERE payout_id = $1", "po-1").await.as_deref(),
        Some("paid")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_payouts WHERE id = $1", "po-1").await.as_deref(),
        Some("initiated")
    );
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_notifications WHERE recipient = $1", "s-pay").await, 1);
}
on_both!(payout_moves_the_money_out_and_tells_the_seller);

async fn payout_above_the_balance_fails_cleanly(url: DatabaseUrl) {
    let state = market(&url).await;
    funded_seller(&state, "s-poor", true).await;
    let done =
        run(&state, "payout-processing", json!({"payout_id": "po-2", "seller_id": "s-poor", "amount_minor": 9_000}))
            .await;
    assert_eq!(done.status, "failed", "{done:?}");
    assert!(error_of(&done).contains("insufficient_balance"), "{done:?}");
    assert!(tasks(&state, &done.id).await.is_empty());
    assert!(compensations(&state, &done.id).await.is_empty(), "nothing was done, nothing to undo");
    assert_eq!(failed_states(&state, &done.id).await, ["validate-balance"]);
    assert_eq!(balance(&state, "seller:s-poor").await, (8_000, 0));
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_fund_reservations WHERE payout_id = $1", "po-2").await, 0);
}
on_both!(payout_above_the_balance_fails_cleanly);

async fn payout_whose_transfer_fails_releases_the_funds(url: DatabaseUrl) {
    let state = market(&url).await;
    funded_seller(&state, "s-nobank", false).await;
    let done =
        run(&state, "payout-processing", json!({"payout_id": "po-3", "seller_id": "s-nobank", "amount_minor": 5_000}))
            .await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(error_of(&done).contains("no_bank_account"), "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["validate-balance", "reserve-funds"]);
    assert_eq!(compensations(&state, &done.id).await, ["release_funds"]);
    assert_eq!(balance(&state, "seller:s-nobank").await, (8_000, 0), "balances as they were");
    assert_eq!(balance(&state, "external:payouts").await, (0, 0));
    assert_eq!(
        text(&state, "SELECT status FROM sim_fund_reservations WHERE payout_id = $1", "po-3").await.as_deref(),
        Some("released")
    );
}
on_both!(payout_whose_transfer_fails_releases_the_funds);

async fn a_repeated_payout_id_with_other_terms_leaves_the_first_alone(url: DatabaseUrl) {
    let state = market(&url).await;
    funded_seller(&state, "s-twice", true).await;
    let first =
        run(&state, "payout-processing", json!({"payout_id": "po-4", "seller_id": "s-twice", "amount_minor": 2_000}))
            .await;
    assert_eq!(first.status, "completed", "{first:?}");
    // The same payout id with other terms: the balance covers it, but the ledger refuses to reserve
    // it again; nothing of the first payout is undone.
    let done =
        run(&state, "payout-processing", json!({"payout_id": "po-4", "seller_id": "s-twice", "amount_minor": 1_000}))
            .await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(error_of(&done).contains("payout_conflict"), "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["validate-balance"]);
    assert!(compensations(&state, &done.id).await.is_empty());
    assert_eq!(balance(&state, "seller:s-twice").await, (6_000, 0), "only the first payout left");
    assert_eq!(balance(&state, "external:payouts").await, (2_000, 0));
}
on_both!(a_repeated_payout_id_with_other_terms_leaves_the_first_alone);

// ---------------------------------------------------------------------------------------------
// Seller onboarding.

fn seller(seller_id: &str) -> Value {
    json!({
        "seller_id": seller_id, "business_name": "Dial Direct LLC", "email": "hello@dialdirect.test",
        "tax_id": "12-3456789", "routing_number": "021000021", "account_number": "000123456789",
        "tcpa_consent": true, "license_number": "LIC-42", "revenue_share_bp": 8_000,
        "signer": "Dana Direct", "endpoint": "https://dialdirect.test/calls", "test_number": "+14155550199"
    })
}

async fn seller_onboarding_goes_live_after_compliance_approval(url: DatabaseUrl) {
    let state = market(&url).await;
    let waiting = run(&state, "seller-onboarding", seller("s-1")).await;
    assert_eq!(waiting.status, "waiting", "{waiting:?}");
    assert_eq!(waiting.current_state.as_deref(), Some("compliance-review"));
    assert_eq!(
        tasks(&state, &waiting.id).await,
        ["application", "business-verification", "bank-and-tax-setup", "compliance-screening"]
    );
    let done = decide(&state, &waiting.id, "compliance-review", "approve", "TCPA consent and licence on file").await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(
        tasks(&state, &done.id).await[4..],
        strings(&[
            "record-approval",
            "contract-generation",
            "contract-signing",
            "system-integration",
            "test-calls",
            "go-live",
            "notify-seller"
        ])
    );
    assert_eq!(text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "s-1").await.as_deref(), Some("active"));
    assert_eq!(text(&state, "SELECT status FROM sim_contracts WHERE id = $1", "s-1").await.as_deref(), Some("signed"));
    assert_eq!(
        text(&state, "SELECT status FROM sim_integrations WHERE seller_id = $1", "s-1").await.as_deref(),
        Some("provisioned")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_compliance WHERE subject_id = $1 AND kind = 'review'", "s-1")
            .await
            .as_deref(),
        Some("approved")
    );
}
on_both!(seller_onboarding_goes_live_after_compliance_approval);

async fn seller_rejected_in_compliance_review_is_undone(url: DatabaseUrl) {
    let state = market(&url).await;
    let waiting = run(&state, "seller-onboarding", seller("s-2")).await;
    assert_eq!(waiting.status, "waiting", "{waiting:?}");
    let done = decide(&state, &waiting.id, "compliance-review", "reject", "licence expired").await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(error_of(&done).contains("compliance_rejected"), "{done:?}");
    assert_eq!(tasks(&state, &done.id).await.last().map(String::as_str), Some("record-rejection"));
    assert_eq!(compensations(&state, &done.id).await, ["remove_bank_account", "close_account"]);
    assert_eq!(text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "s-2").await.as_deref(), Some("closed"));
    assert_eq!(
        text(&state, "SELECT status FROM sim_bank_accounts WHERE seller_id = $1", "s-2").await.as_deref(),
        Some("removed")
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_compliance WHERE subject_id = $1 AND kind = 'review'", "s-2")
            .await
            .as_deref(),
        Some("rejected")
    );
}
on_both!(seller_rejected_in_compliance_review_is_undone);

async fn seller_failing_verification_or_screening_is_rejected(url: DatabaseUrl) {
    let state = market(&url).await;
    let mut input = seller("s-3");
    input["tax_id"] = json!("FAIL-99");
    let done = run(&state, "seller-onboarding", input).await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(error_of(&done).contains("verification_failed"), "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["application"]);
    assert_eq!(compensations(&state, &done.id).await, ["close_account"]);

    let mut input = seller("s-4");
    input["tcpa_consent"] = json!(false);
    let done = run(&state, "seller-onboarding", input).await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert!(error_of(&done).contains("compliance_rejected"), "{done:?}");
    assert_eq!(compensations(&state, &done.id).await, ["remove_bank_account", "close_account"]);
    assert!(state.runtime.store().interventions_of(&done.id).await.unwrap().is_empty(), "no review was asked for");
}
on_both!(seller_failing_verification_or_screening_is_rejected);

// ---------------------------------------------------------------------------------------------
// Dispute resolution.

fn dispute(dispute_id: &str, amount: i64, evidence: Option<&str>) -> Value {
    let mut input = json!({
        "dispute_id": dispute_id, "call_id": format!("{dispute_id}-call"), "buyer_id": "b-disp",
        "seller_id": "s-disp", "amount_minor": amount, "reason": "call dropped after 5 seconds"
    });
    if let Some(evidence) = evidence {
        input["evidence"] = json!(evidence);
    }
    input
}

async fn simple_dispute_with_evidence_is_approved_and_credited(url: DatabaseUrl) {
    let state = market(&url).await;
    seed_charge(&state, "d-1-call", "b-disp", "s-disp", 10_000).await;
    let done = run(&state, "dispute-resolution", dispute("d-1", 2_000, Some("rec-123"))).await;
    assert_eq!(done.status, "completed", "{done:?}");
    let taken = tasks(&state, &done.id).await;
    assert_eq!(taken[..4], strings(&["dispute-submitted", "automatic-review", "approve-dispute", "credit-issued"]));
    let mut notified = taken[4..6].to_vec();
    notified.sort();
    assert_eq!(notified, strings(&["notify-buyer", "notify-seller"]));
    assert_eq!(taken[6..], strings(&["audit-trail"]));
    assert_eq!(balance(&state, "buyer:b-disp").await, (-10_000 + 2_000, 0));
    assert_eq!(balance(&state, "seller:s-disp").await, (8_000 - 2_000, 0));
    assert_eq!(text(&state, "SELECT status FROM sim_disputes WHERE id = $1", "d-1").await.as_deref(), Some("approved"));
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_audit WHERE subject_id = $1", "d-1").await, 1);
    assert!(state.runtime.store().interventions_of(&done.id).await.unwrap().is_empty());
}
on_both!(simple_dispute_with_evidence_is_approved_and_credited);

async fn simple_dispute_without_evidence_is_denied(url: DatabaseUrl) {
    let state = market(&url).await;
    seed_charge(&state, "d-2-call", "b-disp", "s-disp", 10_000).await;
    let done = run(&state, "dispute-resolution", dispute("d-2", 2_000, None)).await;
    assert_eq!(done.status, "completed", "{done:?}");
    let taken = tasks(&state, &done.id).await;
    assert_eq!(taken[..3], strings(&["dispute-submitted", "automatic-review", "deny-dispute"]));
    assert!(!taken.contains(&"credit-issued".to_string()));
    assert_eq!(taken.last().map(String::as_str), Some("audit-trail"));
    assert_eq!(balance(&state, "seller:s-disp").await, (8_000, 0), "no credit");
    assert_eq!(text(&state, "SELECT status FROM sim_disputes WHERE id = $1", "d-2").await.as_deref(), Some("denied"));
}
on_both!(simple_dispute_without_evidence_is_denied);

async fn complex_dispute_goes_to_manual_review_then_investigation(url: DatabaseUrl) {
    let state = market(&url).await;
    seed_charge(&state, "d-3-call", "b-disp", "s-disp", 20_000).await;
    seed_charge(&state, "d-4-call", "b-disp", "s-disp", 20_000).await;
    assert_eq!(balance(&state, "seller:s-disp").await, (32_000, 0));

    // Approved by a person.
    let waiting = run(&state, "dispute-resolution", dispute("d-3", 8_000, Some("rec-3"))).await;
    assert_eq!(waiting.status, "waiting", "{waiting:?}");
    assert_eq!(waiting.current_state.as_deref(), Some("manual-review"));
    let done = decide(&state, &waiting.id, "manual-review", "approve", "recording confirms the drop").await;
    assert_eq!(done.status, "completed", "{done:?}");
    let taken = tasks(&state, &done.id).await;
    assert_eq!(
        taken[..5],
        strings(&["dispute-submitted", "automatic-review", "investigation", "approve-dispute", "credit-issued"])
    );
    assert_eq!(balance(&state, "seller:s-disp").await, (24_000, 0));
    assert_eq!(text(&state, "SELECT status FROM sim_disputes WHERE id = $1", "d-3").await.as_deref(), Some("approved"));
    assert_eq!(
        text(&state, "SELECT decision FROM sim_disputes WHERE id = $1", "d-3").await.as_deref(),
        Some("approved on review of the evidence")
    );

    // Denied by a person.
    let waiting = run(&state, "dispute-resolution", dispute("d-4", 8_000, Some("rec-4"))).await;
    assert_eq!(waiting.status, "waiting", "{waiting:?}");
    let done = decide(&state, &waiting.id, "manual-review", "deny", "caller hung up; the seller is not at fault").await;
    assert_eq!(done.status, "completed", "{done:?}");
    let taken = tasks(&state, &done.id).await;
    assert_eq!(taken[..4], strings(&["dispute-submitted", "automatic-review", "investigation", "deny-dispute"]));
    assert!(!taken.contains(&"credit-issued".to_string()));
    assert_eq!(balance(&state, "seller:s-disp").await, (24_000, 0), "no second credit");
    assert_eq!(text(&state, "SELECT status FROM sim_disputes WHERE id = $1", "d-4").await.as_deref(), Some("denied"));
}
on_both!(complex_dispute_goes_to_manual_review_then_investigation);

// ---------------------------------------------------------------------------------------------
// Quality monitoring.

async fn registered_seller(state: &AppState, seller_id: &str) {
    call(
        state,
        "accounts",
        "register_seller",
        json!({"seller_id": seller_id, "business_name": "Q", "email": "q@q.test"}),
    )
    .await;
    call(state, "accounts", "activate", json!({"account_id": seller_id})).await;
}

fn traffic(seller_id: &str, silence_s: i64, conversions: i64, complaints: i64) -> Value {
    json!({"seller_id": seller_id, "call_id": "qc-1", "silence_s": silence_s, "calls": 100,
           "conversions": conversions, "complaints": complaints})
}

async fn long_silence_raises_an_alert(url: DatabaseUrl) {
    let state = market(&url).await;
    registered_seller(&state, "s-q1").await;
    let done = run(&state, "quality-monitoring", traffic("s-q1", 8, 20, 1)).await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(output(&done)["silence"], "alert", "{done:?}");
    assert!(output(&done)["alert_id"].is_string(), "{done:?}");
    assert_eq!(
        tasks(&state, &done.id).await,
        ["evaluate-silence", "silence-alert", "evaluate-conversion", "evaluate-complaints"]
    );
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_alerts WHERE seller_id = $1", "s-q1").await, 1);
    assert_eq!(text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "s-q1").await.as_deref(), Some("active"));

    // Within every threshold: nothing happens.
    let done = run(&state, "quality-monitoring", traffic("s-q1", 3, 20, 1)).await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["evaluate-silence", "evaluate-conversion", "evaluate-complaints"]);
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_alerts WHERE seller_id = $1", "s-q1").await, 1);
}
on_both!(long_silence_raises_an_alert);

async fn low_conversion_asks_a_reviewer(url: DatabaseUrl) {
    let state = market(&url).await;
    registered_seller(&state, "s-q2").await;
    let waiting = run(&state, "quality-monitoring", traffic("s-q2", 2, 5, 1)).await;
    assert_eq!(waiting.status, "waiting", "{waiting:?}");
    assert_eq!(waiting.current_state.as_deref(), Some("conversion-review"));
    let done = decide(&state, &waiting.id, "conversion-review", "acknowledge", "seasonal dip").await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(tasks(&state, &done.id).await, ["evaluate-silence", "evaluate-conversion", "evaluate-complaints"]);
    assert_eq!(text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "s-q2").await.as_deref(), Some("active"));

    // The reviewer may suspend instead.
    let waiting = run(&state, "quality-monitoring", traffic("s-q2", 2, 5, 1)).await;
    let done = decide(&state, &waiting.id, "conversion-review", "suspend", "traffic looks fraudulent").await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(output(&done)["action"], "suspend", "{done:?}");
    assert_eq!(
        text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "s-q2").await.as_deref(),
        Some("suspended")
    );
}
on_both!(low_conversion_asks_a_reviewer);

async fn high_complaint_rate_suspends_the_seller(url: DatabaseUrl) {
    let state = market(&url).await;
    registered_seller(&state, "s-q3").await;
    let done = run(&state, "quality-monitoring", traffic("s-q3", 2, 20, 5)).await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(output(&done)["action"], "suspend", "{done:?}");
    assert_eq!(
        tasks(&state, &done.id).await,
        ["evaluate-silence", "evaluate-conversion", "evaluate-complaints", "suspend-seller", "notify-suspension"]
    );
    assert_eq!(
        text(&state, "SELECT status FROM sim_accounts WHERE id = $1", "s-q3").await.as_deref(),
        Some("suspended")
    );
}
on_both!(high_complaint_rate_suspends_the_seller);

// ---------------------------------------------------------------------------------------------
// Daily settlement.

const SETTLEMENT_PATH: &[&str] = &[
    "apply-adjustments",
    "calculate-fees",
    "generate-invoices",
    "process-payouts",
    "notify-payouts",
    "record-settlement",
    "notify-parties",
];

async fn daily_settlement_invoices_buyers_and_records_the_day(url: DatabaseUrl) {
    let state = market(&url).await;
    seed_charge(&state, "st-1", "b-a", "s-a", 1_000).await;
    seed_charge(&state, "st-2", "b-b", "s-a", 3_000).await;
    let done = run(&state, "daily-settlement", json!({"date": DAY})).await;
    assert_eq!(done.status, "completed", "{done:?}");
    let mut expected = strings(&["aggregate-transactions", "validate-charges"]);
    expected.extend(strings(SETTLEMENT_PATH));
    assert_eq!(tasks(&state, &done.id).await, expected);
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_invoices WHERE settlement_id = $1", DAY).await, 2);
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_charges WHERE settlement_id = $1", DAY).await, 2);
    assert_eq!(count(&state, "SELECT gross_minor FROM sim_settlements WHERE id = $1", DAY).await, 4_000);
    // The sellers' shares were paid out: s-a earned 800 + 2400 and has nothing left on the ledger.
    assert_eq!(balance(&state, "seller:s-a").await, (0, 0));
    assert_eq!(balance(&state, "external:payouts").await, (3_200, 0));
    assert_eq!(
        text(&state, "SELECT status FROM sim_fund_reservations WHERE payout_id = $1", "2024-05-31:s-a")
            .await
            .as_deref(),
        Some("paid")
    );
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_notifications WHERE recipient = $1", "payouts").await, 1);
    let output = output(&done);
    assert_eq!(output["charge_count"], 2, "{output}");
    assert_eq!(output["fee_minor"], 800, "{output}");
    assert_eq!((output["payout_count"].as_i64(), output["paid_minor"].as_i64()), (Some(1), Some(3_200)), "{output}");

    // The same day again pays nobody twice.
    let again = run(&state, "daily-settlement", json!({"date": DAY})).await;
    assert_eq!(again.status, "completed", "{again:?}");
    assert_eq!(balance(&state, "external:payouts").await, (3_200, 0));
}
on_both!(daily_settlement_invoices_buyers_and_records_the_day);

async fn daily_settlement_failing_after_payouts_reverses_them(url: DatabaseUrl) {
    let state = market(&url).await;
    seed_charge(&state, "sf-1", "b-a", "s-a", 1_000).await;
    seed_charge(&state, "sf-2", "b-b", "s-b", 3_000).await;
    // The settlement id was already recorded for another day: record-settlement (after the payouts)
    // is refused and asks a person, who compensates.
    call(&state, "ledger", "record_settlement", json!({"settlement_id": DAY, "date": "2024-06-01"})).await;
    let blocked = run(&state, "daily-settlement", json!({"date": DAY})).await;
    assert_eq!(blocked.current_state.as_deref(), Some("record-settlement"), "{blocked:?}");
    assert!(step_error(&state, &blocked.id, "record-settlement").await.contains("settlement_conflict"));
    assert_eq!(balance(&state, "seller:s-a").await, (0, 0), "paid before the failure");
    assert_eq!(balance(&state, "external:payouts").await, (3_200, 0));

    let open: Vec<_> = state
        .runtime
        .store()
        .interventions_of(&blocked.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.status == "open")
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    state
        .runtime
        .send(
            &blocked.id,
            engine::Event::InterventionResolved {
                intervention_id: open[0].id.clone(),
                resolution: engine::Resolution::Compensate,
                actor: "rita".into(),
                reason: "wrong settlement id".into(),
            },
        )
        .await
        .expect("decision accepted");
    let done = settle(&state, &blocked.id).await;
    assert_eq!(done.status, "compensated", "{done:?}");
    assert_eq!(compensations(&state, &done.id).await, ["reverse_payouts"]);
    assert_eq!(balance(&state, "seller:s-a").await, (800, 0), "balances as they were");
    assert_eq!(balance(&state, "seller:s-b").await, (2_400, 0));
    assert_eq!(balance(&state, "external:payouts").await, (0, 0));
    assert_eq!(
        text(&state, "SELECT status FROM sim_fund_reservations WHERE payout_id = $1", "2024-05-31:s-b")
            .await
            .as_deref(),
        Some("reversed")
    );
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_charges WHERE settlement_id = $1", DAY).await, 0);
}
on_both!(daily_settlement_failing_after_payouts_reverses_them);

async fn daily_settlement_holds_for_open_disputes(url: DatabaseUrl) {
    let state = market(&url).await;
    seed_charge(&state, "st-3", "b-a", "s-a", 1_000).await;
    call(
        &state,
        "disputes",
        "submit_dispute",
        json!({"dispute_id": "sd-1", "call_id": "st-3", "buyer_id": "b-a", "seller_id": "s-a", "amount_minor": 500,
               "reason": "wrong number", "evidence": "rec"}),
    )
    .await;
    let waiting = run(&state, "daily-settlement", json!({"date": DAY})).await;
    assert_eq!(waiting.status, "waiting", "{waiting:?}");
    assert_eq!(waiting.current_state.as_deref(), Some("dispute-resolution"));

    // "Continue" while the dispute is still open: re-checked, and asked again.
    let again = decide(&state, &waiting.id, "dispute-resolution", "continue", "should be done").await;
    assert_eq!(again.status, "waiting", "{again:?}");
    assert_eq!(again.current_state.as_deref(), Some("dispute-resolution"));

    call(
        &state,
        "disputes",
        "resolve_dispute",
        json!({"dispute_id": "sd-1", "decision": "denied", "reason": "no fault"}),
    )
    .await;
    let done = decide(&state, &waiting.id, "dispute-resolution", "continue", "resolved now").await;
    assert_eq!(done.status, "completed", "{done:?}");
    let mut expected = strings(&["aggregate-transactions", "validate-charges", "recheck-disputes", "recheck-disputes"]);
    expected.extend(strings(SETTLEMENT_PATH));
    assert_eq!(tasks(&state, &done.id).await, expected);
    assert_eq!(count(&state, "SELECT COUNT(*) FROM sim_charges WHERE settlement_id = $1", DAY).await, 1);

    // Holding instead ends the run without settling anything.
    seed_charge(&state, "st-4", "b-a", "s-a", 1_000).await;
    call(
        &state,
        "disputes",
        "submit_dispute",
        json!({"dispute_id": "sd-2", "call_id": "st-4", "buyer_id": "b-a", "seller_id": "s-a", "amount_minor": 500,
               "reason": "wrong number", "evidence": "rec"}),
    )
    .await;
    let waiting = run(&state, "daily-settlement", json!({"date": "2024-05-31"})).await;
    let held = decide(&state, &waiting.id, "dispute-resolution", "hold", "disputes need a week").await;
    assert_eq!(held.status, "failed", "{held:?}");
    assert!(error_of(&held).contains("settlement_held"), "{held:?}");
    assert_eq!(
        count(&state, "SELECT COUNT(*) FROM sim_charges WHERE id = $1 AND settlement_id IS NULL", "st-4").await,
        1
    );
}
on_both!(daily_settlement_holds_for_open_disputes);

// ---------------------------------------------------------------------------------------------
// Wiring and versions.

async fn every_definition_validates_against_the_simulated_services(url: DatabaseUrl) {
    let state = market(&url).await;
    let services = state.runtime.services();
    for (name, mut body) in workflows::definitions() {
        body["version"] = json!(1);
        let definition = engine::Definition::from_json(&body.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(problems) = engine::validate(&definition, services) {
            panic!("{name}: {problems:?}");
        }
        assert_eq!(state.runtime.definition(name, None).unwrap().version, 1, "{name} registered at start");
    }
    assert_eq!(state.runtime.definitions().len(), 7);
}
on_both!(every_definition_validates_against_the_simulated_services);

async fn loading_again_keeps_versions_and_a_change_is_a_new_version(url: DatabaseUrl) {
    let first = market(&url).await;
    assert_eq!(first.runtime.definitions().len(), 7);
    // A restart on the same database (before any instance exists) loads them again, unchanged.
    let state = market(&url).await;
    assert_eq!(state.runtime.definitions().len(), 7);
    assert!(state.runtime.definitions().iter().all(|d| d.version == 1));

    // An instance on version 1 that waits for a person.
    let pinned = run(&state, "seller-onboarding", seller("s-v")).await;
    assert_eq!((pinned.status.as_str(), pinned.version), ("waiting", 1));

    let again = workflows::load(&state.runtime).await.expect("load again");
    assert_eq!(again.len(), 7);
    assert!(again.iter().all(|r| !r.created && r.definition.version == 1), "unchanged: same versions");

    let (_, mut changed) =
        workflows::definitions().into_iter().find(|(name, _)| *name == "seller-onboarding").expect("shipped");
    changed["description"] = json!("Seller onboarding, revised.");
    let registered = state.runtime.register_definition(changed, "admin").await.expect("register");
    assert!(registered.created);
    assert_eq!(registered.definition.version, 2);
    let fresh = start(&state, "seller-onboarding", seller("s-v2")).await;
    assert_eq!(fresh.version, 2);

    // The pinned instance finishes on version 1.
    let done = decide(&state, &pinned.id, "compliance-review", "approve", "ok").await;
    assert_eq!((done.status.as_str(), done.version), ("completed", 1));
}
on_both!(loading_again_keeps_versions_and_a_change_is_a_new_version);

async fn a_service_flag_replaces_the_simulated_service(url: DatabaseUrl) {
    let mut configured = args(&url);
    configured.services = vec![ServiceSpec { name: "ledger".into(), actions: None, url: "http://127.0.0.1:9/ledger".into() }];
    let state = build_state(&configured).await.expect("state");
    let names: Vec<&str> = state.runtime.services().names().collect();
    assert_eq!(names.len(), 14, "{names:?}");
    assert!(state.faults.get("ledger").is_none(), "the ledger is no longer simulated");
    assert!(state.faults.get("billing").is_some());
    assert_eq!(state.runtime.definitions().len(), 7, "the workflows load against the HTTP ledger");

    // Tests and the benchmark bring their own services: no marketplace, no workflows.
    let bare = build_state_with(&args(&url), Registry::new()).await.expect("bare state");
    assert!(bare.faults.list().is_empty());
    assert_eq!(bare.runtime.services().names().count(), 0);
}
on_both!(a_service_flag_replaces_the_simulated_service);
