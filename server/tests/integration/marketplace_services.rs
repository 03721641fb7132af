//! The simulated marketplace services (issue 4, parts 1 and 2) on SQLite and PostgreSQL: every
//! service's actions on the happy path and with bad input, idempotency, injected faults, and the
//! ledger's money invariants as a property test under random charges, payouts, compensations, faults
//! and duplicate deliveries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};

use engine::{ErrorKind, ServiceError};
use switchboard::db::{self, DatabaseUrl};
use switchboard::marketplace::sql::{Bind, SimDb};
use switchboard::marketplace::{self, FaultControl, FaultSettings, SimService};
use switchboard::services::{Registry, Service, ServiceRequest};

/// The services of one test database, called directly (no circuit breaker in the way).
struct Market {
    services: HashMap<&'static str, Arc<SimService>>,
    faults: FaultControl,
    db: SimDb,
}

impl Market {
    async fn open(url: &DatabaseUrl) -> Self {
        let database = db::open(url).await.expect("database");
        let faults = FaultControl::new();
        let services = marketplace::services(database.clone(), &faults)
            .into_iter()
            .map(|service| (service.name(), service))
            .collect();
        Self { services, faults, db: SimDb::new(database) }
    }

    async fn call(&self, service: &str, action: &str, key: &str, input: Value) -> Result<Value, ServiceError> {
        let request = ServiceRequest {
            action: action.into(),
            input,
            idempotency_key: key.into(),
            timeout: Duration::from_secs(5),
            origin: Default::default(),
        };
        self.services[service].call(request).await
    }

    /// Calls and expects success.
    async fn ok(&self, service: &str, action: &str, key: &str, input: Value) -> Value {
        match self.call(service, action, key, input).await {
            Ok(output) => output,
            Err(error) => panic!("{service}.{action} ({key}) failed: {error:?}"),
        }
    }

    /// Calls and expects a permanent error whose message contains `needle`.
    async fn refused(&self, service: &str, action: &str, key: &str, input: Value, needle: &str) {
        match self.call(service, action, key, input).await {
            Err(error) if error.kind == ErrorKind::Permanent && error.message.contains(needle) => {}
            other => panic!("{service}.{action} ({key}): expected a permanent error with `{needle}`, got {other:?}"),
        }
    }

    async fn int(&self, sql: &'static str, binds: &[Bind]) -> i64 {
        self.db.fetch_all(sql, binds).await.expect("query")[0].int(0).expect("an integer")
    }

    /// `(available, reserved)` of a ledger account.
    async fn balance(&self, account: &str) -> (i64, i64) {
        let rows = self
            .db
            .fetch_all("SELECT available, reserved FROM sim_balances WHERE account_id = $1", &[Bind::text(account)])
            .await
            .expect("balance");
        rows.first().map_or((0, 0), |row| (row.int(0).unwrap(), row.int(1).unwrap()))
    }

    /// The ledger's global invariants: every posting sums to zero, every balance equals the sum of
    /// its entries, no seller or platform bucket is negative.
    async fn assert_ledger_invariants(&self) {
        let unbalanced = self
            .int(
                "SELECT COUNT(*) FROM (SELECT posting_id FROM sim_entries GROUP BY posting_id HAVING SUM(amount) <> 0) p",
                &[],
            )
            .await;
        assert_eq!(unbalanced, 0, "postings that do not sum to zero");
        let total = self.int("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM sim_entries", &[]).await;
        assert_eq!(total, 0, "all entries together");
        let mismatched = self
            .int(
                "SELECT COUNT(*) FROM sim_balances b WHERE \
                 b.available <> (SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM sim_entries e \
                                 WHERE e.account_id = b.account_id AND e.bucket = 'available') \
                 OR b.reserved <> (SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM sim_entries e \
                                   WHERE e.account_id = b.account_id AND e.bucket = 'reserved')",
                &[],
            )
            .await;
        assert_eq!(mismatched, 0, "balances that differ from their entries");
        let negative = self
            .int("SELECT COUNT(*) FROM sim_balances WHERE allow_negative = 0 AND (available < 0 OR reserved < 0)", &[])
            .await;
        assert_eq!(negative, 0, "negative seller or platform balances");
    }

    fn set_faults(&self, service: &str, settings: FaultSettings) {
        self.faults.set(service, settings).expect("fault settings");
    }
}

fn fail_always() -> FaultSettings {
    FaultSettings { failure_rate: 1.0, ..FaultSettings::none() }
}

fn lose_replies() -> FaultSettings {
    FaultSettings { lost_reply_rate: 1.0, ..FaultSettings::none() }
}

// ---------------------------------------------------------------------------------------------------
// The framework: registration, idempotency, faults, bad input.

async fn every_service_registers_with_its_actions(url: DatabaseUrl) {
    let database = db::open(&url).await.expect("database");
    let faults = FaultControl::new();
    let mut registry = Registry::new();
    marketplace::register_all(&mut registry, database, &faults);
    let names: Vec<&str> = registry.names().collect();
    let listed: Vec<String> = faults.list().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, listed.iter().map(String::as_str).collect::<Vec<_>>());
    for (name, actions, _) in marketplace::SERVICES {
        assert!(names.contains(name), "{name} registered");
        for action in *actions {
            assert!(engine::ServiceCatalog::has_action(&registry, name, action), "{name}.{action}");
        }
    }
    let unknown = registry
        .call(
            "ledger",
            ServiceRequest {
                action: "steal".into(),
                input: json!({}),
                idempotency_key: "k".into(),
                timeout: Duration::from_secs(1),
                origin: Default::default(),
            },
            0,
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::Permanent);
}
on_both!(every_service_registers_with_its_actions);

async fn a_repeated_key_returns_the_first_result_and_applies_once(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let charge = json!({"charge_id": "c1", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 1000});
    let first = m.ok("ledger", "record_charge", "k1", charge.clone()).await;
    let again = m.ok("ledger", "record_charge", "k1", charge.clone()).await;
    assert_eq!(first, again);
    assert_eq!(m.balance("buyer:b1").await, (-1000, 0));
    assert_eq!(m.balance("seller:s1").await, (800, 0));
    assert_eq!(m.int("SELECT COUNT(*) FROM sim_postings", &[]).await, 1);

    // Another key applies again — and a charge id is still charged only once.
    let other = m.ok("ledger", "record_charge", "k2", charge).await;
    assert_eq!(other, first);
    assert_eq!(m.balance("buyer:b1").await, (-1000, 0));
    let second = json!({"charge_id": "c2", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 500});
    m.ok("ledger", "record_charge", "k3", second).await;
    assert_eq!(m.balance("buyer:b1").await, (-1500, 0));

    // A key reused for another action is refused.
    m.refused("ledger", "reverse_charge", "k1", json!({"charge_id": "c1"}), "already used").await;

    // Refusals are remembered too: the same key keeps its refusal even after the balance would allow it.
    let payout = json!({"payout_id": "p1", "seller_id": "s1", "amount_minor": 5000});
    m.refused("ledger", "reserve_funds", "r1", payout.clone(), "insufficient_balance").await;
    m.ok(
        "ledger",
        "record_charge",
        "k4",
        json!({"charge_id": "c3", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 9000}),
    )
    .await;
    m.refused("ledger", "reserve_funds", "r1", payout.clone(), "insufficient_balance").await;
    m.ok("ledger", "reserve_funds", "r2", payout).await;
    m.assert_ledger_invariants().await;
}
on_both!(a_repeated_key_returns_the_first_result_and_applies_once);

async fn injected_failures_apply_nothing_and_lost_replies_apply_once(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let charge = json!({"charge_id": "c1", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 700});
    m.set_faults("ledger", fail_always());
    let error = m.call("ledger", "record_charge", "k1", charge.clone()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Retryable);
    assert_eq!(m.int("SELECT COUNT(*) FROM sim_postings", &[]).await, 0);
    assert_eq!(m.int("SELECT COUNT(*) FROM sim_calls", &[]).await, 0);

    // The reply is lost after the effect: the caller retries with the same key and gets the result.
    m.set_faults("ledger", lose_replies());
    let error = m.call("ledger", "record_charge", "k1", charge.clone()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert_eq!(m.balance("seller:s1").await, (560, 0));
    m.set_faults("ledger", FaultSettings::none());
    let output = m.ok("ledger", "record_charge", "k1", charge).await;
    assert_eq!(output["fee_minor"], 140);
    assert_eq!(m.balance("seller:s1").await, (560, 0));
    assert_eq!(m.int("SELECT COUNT(*) FROM sim_postings", &[]).await, 1);

    assert_eq!(m.faults.get("ledger"), Some(FaultSettings::none()));
    assert!(m.faults.set("ledger", FaultSettings { timeout_rate: -0.5, ..FaultSettings::none() }).is_err());
}
on_both!(injected_failures_apply_nothing_and_lost_replies_apply_once);

async fn bad_input_is_refused_naming_the_field_and_records_nothing(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let cases = [
        (
            "ledger",
            "record_charge",
            json!({"buyer_id": "b", "seller_id": "s", "amount_minor": 5}),
            "`charge_id` is required",
        ),
        (
            "ledger",
            "record_charge",
            json!({"charge_id": "c", "buyer_id": "b", "seller_id": "s", "amount_minor": -5}),
            "`amount_minor` must not be negative",
        ),
        (
            "ledger",
            "record_charge",
            json!({"charge_id": "c", "buyer_id": "b", "seller_id": "s", "amount_minor": 12.5}),
            "`amount_minor` must be an integer",
        ),
        (
            "ledger",
            "record_charge",
            json!({"charge_id": "c", "buyer_id": "b", "seller_id": "s", "amount_minor": 5, "fee_bp": 20000}),
            "`fee_bp`",
        ),
        (
            "ledger",
            "reserve_funds",
            json!({"payout_id": "p", "seller_id": "s", "amount_minor": 0}),
            "`amount_minor` must be more than zero",
        ),
        ("ledger", "open_account", json!({"owner_id": "x", "kind": "alien"}), "`kind`"),
        ("ledger", "aggregate_day", json!({"date": "yesterday"}), "`date`"),
        (
            "payments",
            "setup_bank_account",
            json!({"seller_id": "s", "routing_number": "12", "account_number": "12345678", "tax_id": "t"}),
            "`routing_number` must be 9 digits",
        ),
        (
            "payments",
            "initiate_transfer",
            json!({"payout_id": "p", "seller_id": "", "amount_minor": 5}),
            "`seller_id` must not be empty",
        ),
        (
            "billing",
            "start_meter",
            json!({"call_id": "c", "buyer_id": "b", "seller_id": "s"}),
            "`rate_minor` is required",
        ),
        ("billing", "stop_meter", json!({"call_id": "c", "duration_s": "long"}), "`duration_s` must be an integer"),
    ];
    for (index, (service, action, input, needle)) in cases.into_iter().enumerate() {
        m.refused(service, action, &format!("bad-{index}"), input, needle).await;
    }
    assert_eq!(m.int("SELECT COUNT(*) FROM sim_calls", &[]).await, 0, "bad input is not recorded");
}
on_both!(bad_input_is_refused_naming_the_field_and_records_nothing);

// ---------------------------------------------------------------------------------------------------
// Money: billing, ledger, payments.

async fn a_call_is_metered_charged_and_compensated_exactly(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let meter = json!({"call_id": "call-1", "buyer_id": "b1", "seller_id": "s1", "rate_minor": 120});
    assert_eq!(m.ok("billing", "start_meter", "m1", meter.clone()).await["status"], "running");
    m.refused("billing", "start_meter", "m1b", meter, "meter_exists").await;
    m.refused("billing", "calculate_charge", "m2a", json!({"call_id": "call-1"}), "meter_not_stopped").await;
    m.ok("billing", "stop_meter", "m2", json!({"call_id": "call-1", "duration_s": 61})).await;
    let charge = m.ok("billing", "calculate_charge", "m3", json!({"call_id": "call-1"})).await;
    // 61 s at 120 per minute = 122, rounded up per second.
    assert_eq!(charge["charge_minor"], 122);
    assert_eq!(m.ok("billing", "cancel_meter", "m4", json!({"call_id": "call-1"})).await["status"], "cancelled");
    assert_eq!(m.ok("billing", "cancel_meter", "m5", json!({"call_id": "nope"})).await["status"], "none");
    m.refused("billing", "stop_meter", "m6", json!({"call_id": "nope", "duration_s": 1}), "no_meter").await;

    let before = (m.balance("buyer:b1").await, m.balance("seller:s1").await, m.balance("platform:fees").await);
    let posted = m
        .ok(
            "ledger",
            "record_charge",
            "l1",
            json!({"charge_id": "call-1", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 122, "fee_bp": 1500}),
        )
        .await;
    assert_eq!((posted["fee_minor"].as_i64(), posted["seller_minor"].as_i64()), (Some(18), Some(104)));
    let reversed = m.ok("ledger", "reverse_charge", "l2", json!({"charge_id": "call-1"})).await;
    assert_eq!(reversed["reversed"], true);
    m.ok("ledger", "reverse_charge", "l3", json!({"charge_id": "call-1"})).await;
    let after = (m.balance("buyer:b1").await, m.balance("seller:s1").await, m.balance("platform:fees").await);
    assert_eq!(before, after, "a compensated charge leaves every balance as it was");
    assert_eq!(m.ok("ledger", "reverse_charge", "l4", json!({"charge_id": "never"})).await["reversed"], false);
    m.assert_ledger_invariants().await;
}
on_both!(a_call_is_metered_charged_and_compensated_exactly);

async fn a_payout_never_exceeds_the_balance_and_compensates_exactly(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let opened = m.ok("ledger", "open_account", "o1", json!({"owner_id": "s1", "kind": "seller"})).await;
    assert_eq!(opened["account_id"], "seller:s1");
    m.ok(
        "ledger",
        "record_charge",
        "c1",
        json!({"charge_id": "c1", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 10000}),
    )
    .await;
    assert_eq!(
        m.ok("ledger", "validate_balance", "v1", json!({"seller_id": "s1", "amount_minor": 8000})).await
            ["available_minor"],
        8000
    );
    m.refused(
        "ledger",
        "validate_balance",
        "v2",
        json!({"seller_id": "s1", "amount_minor": 8001}),
        "insufficient_balance",
    )
    .await;
    m.refused("ledger", "close_account", "x1", json!({"owner_id": "s1", "kind": "seller"}), "account_not_empty").await;

    // Bank side.
    m.refused(
        "payments",
        "initiate_transfer",
        "t0",
        json!({"payout_id": "p1", "seller_id": "s1", "amount_minor": 3000}),
        "no_bank_account",
    )
    .await;
    let bank = json!({"seller_id": "s1", "routing_number": "021000021", "account_number": "000123456789", "tax_id": "12-3456789"});
    assert_eq!(m.ok("payments", "setup_bank_account", "b1", bank).await["account_last4"], "6789");
    m.refused(
        "payments",
        "setup_bank_account",
        "b2",
        json!({"seller_id": "s2", "routing_number": "021000021", "account_number": "1234", "tax_id": "FAIL-1"}),
        "tax_id_invalid",
    )
    .await;

    // A compensated payout: reserve, initiate, then cancel and release.
    m.ok("ledger", "reserve_funds", "r1", json!({"payout_id": "p1", "seller_id": "s1", "amount_minor": 3000})).await;
    assert_eq!(m.balance("seller:s1").await, (5000, 3000));
    m.refused(
        "ledger",
        "reserve_funds",
        "r1b",
        json!({"payout_id": "p2", "seller_id": "s1", "amount_minor": 5001}),
        "insufficient_balance",
    )
    .await;
    m.ok("payments", "initiate_transfer", "t1", json!({"payout_id": "p1", "seller_id": "s1", "amount_minor": 3000}))
        .await;
    assert_eq!(m.ok("payments", "cancel_transfer", "t2", json!({"payout_id": "p1"})).await["status"], "cancelled");
    m.refused("payments", "complete_transfer", "t3", json!({"payout_id": "p1"}), "transfer_cancelled").await;
    assert_eq!(m.ok("ledger", "release_funds", "r2", json!({"payout_id": "p1"})).await["released"], true);
    assert_eq!(m.balance("seller:s1").await, (8000, 0), "a compensated payout leaves the balance as it was");

    // A completed payout.
    m.ok("ledger", "reserve_funds", "r3", json!({"payout_id": "p3", "seller_id": "s1", "amount_minor": 8000})).await;
    m.ok("payments", "initiate_transfer", "t4", json!({"payout_id": "p3", "seller_id": "s1", "amount_minor": 8000}))
        .await;
    assert_eq!(m.ok("ledger", "record_payout", "r4", json!({"payout_id": "p3"})).await["status"], "paid");
    m.ok("ledger", "record_payout", "r5", json!({"payout_id": "p3"})).await;
    assert_eq!(m.ok("payments", "complete_transfer", "t5", json!({"payout_id": "p3"})).await["status"], "completed");
    m.refused("payments", "cancel_transfer", "t6", json!({"payout_id": "p3"}), "transfer_completed").await;
    m.refused("ledger", "release_funds", "r6", json!({"payout_id": "p3"}), "payout_paid").await;
    assert_eq!(m.balance("seller:s1").await, (0, 0));
    assert_eq!(m.balance("external:payouts").await, (8000, 0));
    // The seller's share is gone, so the charge cannot be reversed any more.
    m.refused("ledger", "reverse_charge", "c2", json!({"charge_id": "c1"}), "insufficient_balance").await;
    m.ok("payments", "remove_bank_account", "b3", json!({"seller_id": "s1"})).await;
    assert_eq!(
        m.ok("ledger", "close_account", "x2", json!({"owner_id": "s1", "kind": "seller"})).await["closed"],
        true
    );
    m.assert_ledger_invariants().await;
}
on_both!(a_payout_never_exceeds_the_balance_and_compensates_exactly);

async fn concurrent_payouts_never_overdraw(url: DatabaseUrl) {
    let m = Arc::new(Market::open(&url).await);
    m.ok(
        "ledger",
        "record_charge",
        "c1",
        json!({"charge_id": "c1", "buyer_id": "b", "seller_id": "s", "amount_minor": 1000, "fee_bp": 0}),
    )
    .await;
    let attempts = (0..8).map(|i| {
        let m = m.clone();
        tokio::spawn(async move {
            let input = json!({"payout_id": format!("p{i}"), "seller_id": "s", "amount_minor": 300});
            m.call("ledger", "reserve_funds", &format!("k{i}"), input).await
        })
    });
    let mut reserved = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(_) => reserved += 1,
            Err(error) => assert!(
                error.message.contains("insufficient_balance") || error.kind == ErrorKind::Retryable,
                "{error:?}"
            ),
        }
    }
    assert_eq!(reserved, 3, "1000 covers three payouts of 300");
    assert_eq!(m.balance("seller:s").await, (100, 900));
    m.assert_ledger_invariants().await;
}
on_both!(concurrent_payouts_never_overdraw);

async fn daily_settlement_aggregates_invoices_and_records_once(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let day = chrono::NaiveDate::from_ymd_opt(2024, 5, 31)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    for (i, (buyer, amount)) in [("b1", 1000), ("b1", 500), ("b2", 2000)].into_iter().enumerate() {
        let input = json!({"charge_id": format!("c{i}"), "buyer_id": buyer, "seller_id": "s1", "amount_minor": amount, "occurred_at_ms": day});
        m.ok("ledger", "record_charge", &format!("c{i}"), input).await;
    }
    m.ok("ledger", "record_charge", "late", json!({"charge_id": "late", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 9, "occurred_at_ms": day + 86_400_000})).await;
    m.ok(
        "ledger",
        "issue_credit",
        "cr",
        json!({"credit_id": "d1", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 100}),
    )
    .await;
    let summary = m.ok("ledger", "aggregate_day", "a1", json!({"date": "2024-05-31"})).await;
    assert_eq!(
        (summary["charge_count"].as_i64(), summary["gross_minor"].as_i64(), summary["fee_minor"].as_i64()),
        (Some(3), Some(3500), Some(700))
    );
    assert_eq!((summary["invalid_count"].as_i64(), summary["disputed_count"].as_i64()), (Some(0), Some(0)));
    let invoices =
        m.ok("ledger", "generate_invoices", "i1", json!({"settlement_id": "st-1", "date": "2024-05-31"})).await;
    assert_eq!((invoices["invoice_count"].as_i64(), invoices["invoiced_minor"].as_i64()), (Some(2), Some(3500)));
    let recorded =
        m.ok("ledger", "record_settlement", "s1", json!({"settlement_id": "st-1", "date": "2024-05-31"})).await;
    assert_eq!(recorded["charge_count"], 3);
    assert_eq!(
        m.ok("ledger", "record_settlement", "s2", json!({"settlement_id": "st-1", "date": "2024-05-31"})).await,
        recorded
    );
    assert_eq!(m.ok("ledger", "aggregate_day", "a2", json!({"date": "2024-05-31"})).await["charge_count"], 0);
    m.refused("ledger", "reverse_charge", "rv", json!({"charge_id": "c0"}), "charge_settled").await;
    m.assert_ledger_invariants().await;
}
on_both!(daily_settlement_aggregates_invoices_and_records_once);

/// The postings of one payout id (reserve, payout, reversal…).
async fn postings_of(m: &Market, reference: &str) -> i64 {
    m.int("SELECT COUNT(*) FROM sim_postings WHERE reference = $1", &[Bind::text(reference)]).await
}

async fn settlement_pays_each_seller_once_and_reverses_exactly(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let noon = chrono::NaiveDate::from_ymd_opt(2024, 5, 31)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let charge = |id: &str, seller: &str, amount: i64, at: i64| json!({"charge_id": id, "buyer_id": "b1", "seller_id": seller, "amount_minor": amount, "occurred_at_ms": at});
    // s1 earns 8000 + 4000 on the day; s2 earns 1600 but credited 600 back (pays what is left);
    // s3 earns 800 but was paid out already (nothing available); s4 earns the next day only.
    m.ok("ledger", "record_charge", "c1", charge("c1", "s1", 10_000, noon)).await;
    m.ok("ledger", "record_charge", "c2", charge("c2", "s1", 5_000, noon)).await;
    m.ok("ledger", "record_charge", "c3", charge("c3", "s2", 2_000, noon)).await;
    m.ok("ledger", "record_charge", "c4", charge("c4", "s3", 1_000, noon)).await;
    m.ok("ledger", "record_charge", "c5", charge("c5", "s4", 1_000, noon + 86_400_000)).await;
    m.ok(
        "ledger",
        "issue_credit",
        "cr",
        json!({"credit_id": "d1", "buyer_id": "b1", "seller_id": "s2", "amount_minor": 600}),
    )
    .await;
    m.ok("ledger", "reserve_funds", "r3", json!({"payout_id": "p3", "seller_id": "s3", "amount_minor": 800})).await;
    m.ok("ledger", "record_payout", "p3", json!({"payout_id": "p3"})).await;
    assert_eq!(m.balance("external:payouts").await, (800, 0));

    let settle = json!({"settlement_id": "st-1", "date": "2024-05-31"});
    let paid = m.ok("ledger", "settle_payouts", "k1", settle.clone()).await;
    assert_eq!(
        paid,
        json!({
            "settlement_id": "st-1", "payout_count": 2, "paid_minor": 13_000,
            "payouts": [
                {"payout_id": "st-1:s1", "seller_id": "s1", "amount_minor": 12_000},
                {"payout_id": "st-1:s2", "seller_id": "s2", "amount_minor": 1_000},
            ],
        })
    );
    assert_eq!(m.balance("seller:s1").await, (0, 0));
    assert_eq!(m.balance("seller:s2").await, (0, 0));
    assert_eq!(m.balance("seller:s3").await, (0, 0), "nothing available, nothing paid");
    assert_eq!(m.balance("seller:s4").await, (800, 0), "another day's earnings wait for their settlement");
    assert_eq!(m.balance("external:payouts").await, (13_800, 0));
    assert_eq!(
        m.int(
            "SELECT COUNT(*) FROM sim_fund_reservations WHERE payout_id = $1 AND status = 'paid'",
            &[Bind::text("st-1:s1")]
        )
        .await,
        1
    );
    assert_eq!(postings_of(&m, "st-1:s1").await, 2, "a reserve and a payout posting");
    assert_eq!(postings_of(&m, "st-1:s3").await, 0, "a seller with nothing available gets no payout");
    m.assert_ledger_invariants().await;

    // The same settlement again, with the same key or another one: nothing is paid twice, not even
    // to a seller that earned more on the day since (its payout id is used).
    assert_eq!(m.ok("ledger", "settle_payouts", "k1", settle.clone()).await, paid);
    m.ok("ledger", "record_charge", "c6", charge("c6", "s1", 1_000, noon)).await;
    assert_eq!(m.ok("ledger", "settle_payouts", "k2", settle.clone()).await, paid);
    assert_eq!(m.balance("seller:s1").await, (800, 0));
    assert_eq!(m.balance("external:payouts").await, (13_800, 0));
    assert_eq!(postings_of(&m, "st-1:s1").await, 2);
    m.assert_ledger_invariants().await;

    // The compensation restores every balance exactly; twice changes nothing.
    let reversed = m.ok("ledger", "reverse_payouts", "v1", json!({"settlement_id": "st-1"})).await;
    assert_eq!(reversed, json!({"settlement_id": "st-1", "reversed_count": 2, "reversed_minor": 13_000}));
    assert_eq!(m.balance("seller:s1").await, (12_800, 0));
    assert_eq!(m.balance("seller:s2").await, (1_000, 0));
    assert_eq!(m.balance("external:payouts").await, (800, 0));
    let again = m.ok("ledger", "reverse_payouts", "v2", json!({"settlement_id": "st-1"})).await;
    assert_eq!(again["reversed_count"], 0);
    assert_eq!(m.balance("seller:s1").await, (12_800, 0));
    // A reversed payout is neither reserved nor payable any more by the single-payout actions.
    assert_eq!(m.ok("ledger", "release_funds", "v3", json!({"payout_id": "st-1:s1"})).await["released"], true);
    m.refused("ledger", "record_payout", "v4", json!({"payout_id": "st-1:s1"}), "not_reserved").await;
    assert_eq!(m.balance("seller:s1").await, (12_800, 0));
    assert_eq!(m.balance("external:payouts").await, (800, 0));
    m.assert_ledger_invariants().await;

    // A new run of the settlement after the reversal pays again, once; then the day is recorded.
    let repaid = m.ok("ledger", "settle_payouts", "k3", settle.clone()).await;
    assert_eq!((repaid["payout_count"].as_i64(), repaid["paid_minor"].as_i64()), (Some(2), Some(13_800)));
    assert_eq!(m.balance("seller:s1").await, (0, 0));
    assert_eq!(m.balance("external:payouts").await, (14_600, 0));
    m.ok("ledger", "record_settlement", "rs", settle.clone()).await;
    assert_eq!(m.ok("ledger", "settle_payouts", "k4", settle.clone()).await, repaid);
    assert_eq!(m.balance("external:payouts").await, (14_600, 0));
    m.refused(
        "ledger",
        "record_settlement",
        "rs2",
        json!({"settlement_id": "st-1", "date": "2024-06-01"}),
        "settlement_conflict",
    )
    .await;
    // Nothing to pay for a day without earnings.
    let empty = m.ok("ledger", "settle_payouts", "k5", json!({"settlement_id": "st-0", "date": "2024-05-30"})).await;
    assert_eq!(empty, json!({"settlement_id": "st-0", "payout_count": 0, "paid_minor": 0, "payouts": []}));
    m.refused("ledger", "settle_payouts", "k6", json!({"settlement_id": "st-2", "date": "31/05/2024"}), "date").await;
    m.assert_ledger_invariants().await;
}
on_both!(settlement_pays_each_seller_once_and_reverses_exactly);

// ---------------------------------------------------------------------------------------------------
// The property: random charges, payouts and compensations, with faults and duplicate deliveries.

#[derive(Clone, Debug)]
enum Op {
    Charge { n: u8, amount: i64 },
    Reverse { n: u8 },
    Reserve { n: u8, amount: i64 },
    Release { n: u8 },
    Pay { n: u8 },
}

#[derive(Clone, Debug)]
enum Delivery {
    Once,
    /// An injected retryable failure first, then the real attempt with the same key.
    FailFirst,
    /// The reply is lost; the caller delivers again with the same key.
    LostReply,
    /// Delivered twice with the same key.
    Duplicate,
    /// Delivered again under a fresh key (a second, independent request for the same business id).
    NewKey,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, 1i64..5_000).prop_map(|(n, amount)| Op::Charge { n, amount }),
        1 => (0u8..4).prop_map(|n| Op::Reverse { n }),
        2 => (0u8..3, 1i64..6_000).prop_map(|(n, amount)| Op::Reserve { n, amount }),
        1 => (0u8..3).prop_map(|n| Op::Release { n }),
        1 => (0u8..3).prop_map(|n| Op::Pay { n }),
    ]
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        4 => Just(Delivery::Once),
        1 => Just(Delivery::FailFirst),
        1 => Just(Delivery::LostReply),
        1 => Just(Delivery::Duplicate),
        1 => Just(Delivery::NewKey),
    ]
}

/// What the ledger should hold for one case's buyer and seller.
#[derive(Default, Debug)]
struct Model {
    buyer: i64,
    seller: (i64, i64),
    fees: i64,
    paid_out: i64,
    charges: BTreeMap<u8, (i64, i64, bool)>, // amount, fee, reversed
    reservations: BTreeMap<u8, (i64, &'static str)>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Charge { n, amount } => {
                if let std::collections::btree_map::Entry::Vacant(slot) = self.charges.entry(n) {
                    let fee = amount * 2_000 / 10_000;
                    slot.insert((amount, fee, false));
                    self.buyer -= amount;
                    self.seller.0 += amount - fee;
                    self.fees += fee;
                }
            }
            Op::Reverse { n } => {
                if let Some((amount, fee, reversed)) = self.charges.get_mut(&n) {
                    if !*reversed && self.seller.0 >= *amount - *fee {
                        *reversed = true;
                        self.buyer += *amount;
                        self.seller.0 -= *amount - *fee;
                        self.fees -= *fee;
                    }
                }
            }
            Op::Reserve { n, amount } => {
                if !self.reservations.contains_key(&n) && self.seller.0 >= amount {
                    self.reservations.insert(n, (amount, "reserved"));
                    self.seller.0 -= amount;
                    self.seller.1 += amount;
                }
            }
            Op::Release { n } => {
                if let Some((amount, status)) = self.reservations.get_mut(&n) {
                    if *status == "reserved" {
                        *status = "released";
                        self.seller.0 += *amount;
                        self.seller.1 -= *amount;
                    }
                }
            }
            Op::Pay { n } => {
                if let Some((amount, status)) = self.reservations.get_mut(&n) {
                    if *status == "reserved" {
                        *status = "paid";
                        self.seller.1 -= *amount;
                        self.paid_out += *amount;
                    }
                }
            }
        }
    }
}

impl Op {
    fn request(&self, case: u64) -> (&'static str, Value) {
        let (buyer, seller) = (format!("b{case}"), format!("s{case}"));
        match *self {
            Op::Charge { n, amount } => (
                "record_charge",
                json!({"charge_id": format!("c{case}-{n}"), "buyer_id": buyer, "seller_id": seller, "amount_minor": amount}),
            ),
            Op::Reverse { n } => ("reverse_charge", json!({"charge_id": format!("c{case}-{n}")})),
            Op::Reserve { n, amount } => (
                "reserve_funds",
                json!({"payout_id": format!("p{case}-{n}"), "seller_id": seller, "amount_minor": amount}),
            ),
            Op::Release { n } => ("release_funds", json!({"payout_id": format!("p{case}-{n}")})),
            Op::Pay { n } => ("record_payout", json!({"payout_id": format!("p{case}-{n}")})),
        }
    }
}

async fn run_case(m: &Market, case: u64, ops: &[(Op, Delivery)]) {
    let mut model = Model::default();
    for (index, (op, delivery)) in ops.iter().enumerate() {
        let (action, input) = op.request(case);
        let key = format!("case{case}-op{index}");
        let first = match delivery {
            Delivery::FailFirst => {
                m.set_faults("ledger", fail_always());
                let error = m.call("ledger", action, &key, input.clone()).await.unwrap_err();
                m.set_faults("ledger", FaultSettings::none());
                assert_eq!(error.kind, ErrorKind::Retryable);
                m.call("ledger", action, &key, input.clone()).await
            }
            Delivery::LostReply => {
                m.set_faults("ledger", lose_replies());
                let lost = m.call("ledger", action, &key, input.clone()).await;
                m.set_faults("ledger", FaultSettings::none());
                assert!(lost.is_err(), "a lost reply or a refusal");
                m.call("ledger", action, &key, input.clone()).await
            }
            _ => m.call("ledger", action, &key, input.clone()).await,
        };
        match delivery {
            Delivery::Duplicate => {
                let again = m.call("ledger", action, &key, input.clone()).await;
                assert_eq!(format!("{again:?}"), format!("{first:?}"), "a duplicate gets the first answer");
            }
            Delivery::NewKey => {
                let _ = m.call("ledger", action, &format!("{key}-again"), input.clone()).await;
            }
            _ => {}
        }
        if let Err(error) = &first {
            assert_eq!(error.kind, ErrorKind::Permanent, "{op:?}: {error:?}");
        }
        model.apply(op);
        let (buyer, seller) = (format!("buyer:b{case}"), format!("seller:s{case}"));
        assert_eq!(m.balance(&buyer).await.0, model.buyer, "buyer after {op:?} ({delivery:?})");
        assert_eq!(m.balance(&seller).await, model.seller, "seller after {op:?} ({delivery:?})");
        assert!(model.seller.0 >= 0 && model.seller.1 >= 0);
    }
    let charges = m
        .int(
            "SELECT COUNT(*) FROM sim_postings WHERE kind = 'charge' AND reference LIKE $1",
            &[Bind::Text(format!("c{case}-%"))],
        )
        .await;
    assert_eq!(charges as usize, model.charges.len(), "no double charge");
    let payouts = m
        .int(
            "SELECT COUNT(*) FROM sim_postings WHERE kind = 'payout' AND reference LIKE $1",
            &[Bind::Text(format!("p{case}-%"))],
        )
        .await;
    assert_eq!(payouts as usize, model.reservations.values().filter(|(_, s)| *s == "paid").count(), "no double payout");
}

async fn ledger_invariants_hold_under_random_operations_faults_and_duplicates(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let config = ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let case = std::sync::atomic::AtomicU64::new(0);
    let strategy = proptest::collection::vec((op(), delivery()), 1..14);
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&strategy, |ops| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            handle.block_on(async {
                run_case(&m, case, &ops).await;
                m.assert_ledger_invariants().await;
            });
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
on_both!(ledger_invariants_hold_under_random_operations_faults_and_duplicates);

// ---------------------------------------------------------------------------------------------------
// Onboarding, calls and disputes: each service's actions on the happy path, their refusals and bad input.

async fn buyer_onboarding_services_work_and_refuse_on_purpose(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let buyer = json!({"buyer_id": "b1", "name": "Acme", "email": "ops@acme.test"});
    assert_eq!(m.ok("accounts", "register_buyer", "a1", buyer.clone()).await["status"], "pending");
    m.refused("accounts", "register_buyer", "a2", buyer, "already_registered").await;
    m.refused("accounts", "register_buyer", "a3", json!({"buyer_id": "b2", "name": "X", "email": "nope"}), "`email`")
        .await;
    let verified = m
        .ok("identity", "verify_identity", "i1", json!({"buyer_id": "b1", "name": "Acme", "document_id": "D-1"}))
        .await;
    assert_eq!(verified["status"], "verified");
    m.refused(
        "identity",
        "verify_identity",
        "i2",
        json!({"buyer_id": "b1", "name": "Acme", "document_id": "FAIL-1"}),
        "verification_failed",
    )
    .await;
    m.refused("identity", "verify_identity", "i3", json!({"buyer_id": "b1", "document_id": "D"}), "`name` is required")
        .await;
    let credit = m.ok("credit", "check_credit", "c1", json!({"buyer_id": "b1", "score": 720})).await;
    assert_eq!((credit["approved"].as_bool(), credit["recommended_limit_minor"].as_i64()), (Some(true), Some(300_000)));
    m.refused("credit", "check_credit", "c2", json!({"buyer_id": "b1", "score": 540}), "credit_denied").await;
    m.refused("credit", "check_credit", "c3", json!({"buyer_id": "b1", "score": 9000}), "`score`").await;
    m.ok("ledger", "open_account", "l1", json!({"owner_id": "b1", "kind": "buyer"})).await;
    m.ok("credit", "set_credit_limit", "c4", json!({"buyer_id": "b1", "limit_minor": 300_000})).await;
    m.refused(
        "credit",
        "set_credit_limit",
        "c5",
        json!({"buyer_id": "b1", "limit_minor": -1}),
        "`limit_minor` must not be negative",
    )
    .await;
    let campaign =
        json!({"campaign_id": "cmp1", "buyer_id": "b1", "name": "Solar leads", "daily_budget_minor": 50_000});
    assert_eq!(m.ok("campaigns", "create_campaign", "k1", campaign).await["status"], "draft");
    m.refused("campaigns", "activate_campaign", "k2", json!({"campaign_id": "cmp1"}), "no_bids").await;
    m.refused(
        "campaigns",
        "configure_bids",
        "k3",
        json!({"campaign_id": "cmp1", "vertical": "solar", "bid_minor": 0}),
        "`bid_minor`",
    )
    .await;
    m.ok(
        "campaigns",
        "configure_bids",
        "k4",
        json!({"campaign_id": "cmp1", "vertical": "solar", "region": "CA", "bid_minor": 2500}),
    )
    .await;
    assert_eq!(m.ok("campaigns", "activate_campaign", "k5", json!({"campaign_id": "cmp1"})).await["status"], "active");
    assert_eq!(m.ok("accounts", "activate", "a4", json!({"account_id": "b1"})).await["status"], "active");
    m.refused("accounts", "suspend", "a5", json!({"account_id": "b1"}), "`reason` is required").await;

    // The compensations, in reverse order.
    assert_eq!(m.ok("campaigns", "delete_campaign", "u1", json!({"campaign_id": "cmp1"})).await["status"], "deleted");
    assert_eq!(m.ok("campaigns", "delete_campaign", "u2", json!({"campaign_id": "never"})).await["status"], "none");
    assert_eq!(m.ok("credit", "remove_credit_limit", "u3", json!({"buyer_id": "b1"})).await["removed"], true);
    assert_eq!(m.ok("ledger", "close_account", "u4", json!({"owner_id": "b1", "kind": "buyer"})).await["closed"], true);
    assert_eq!(m.ok("accounts", "close_account", "u5", json!({"account_id": "b1"})).await["status"], "closed");
    m.refused("accounts", "activate", "u6", json!({"account_id": "b1"}), "invalid_status").await;
    assert_eq!(m.int("SELECT COUNT(*) FROM sim_verifications WHERE subject_id = 'b1'", &[]).await, 1);
}
on_both!(buyer_onboarding_services_work_and_refuse_on_purpose);

async fn seller_onboarding_services_work_and_refuse_on_purpose(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    m.ok(
        "accounts",
        "register_seller",
        "a1",
        json!({"seller_id": "s1", "business_name": "Leads Inc", "email": "a@leads.test"}),
    )
    .await;
    m.ok(
        "identity",
        "verify_business",
        "i1",
        json!({"seller_id": "s1", "business_name": "Leads Inc", "tax_id": "12-3"}),
    )
    .await;
    m.refused(
        "identity",
        "verify_business",
        "i2",
        json!({"seller_id": "s1", "business_name": "Leads Inc", "tax_id": "fail-3"}),
        "verification_failed",
    )
    .await;
    let screened = m.ok("compliance", "screen_seller", "c1", json!({"seller_id": "s1", "tcpa_consent": true})).await;
    assert_eq!(screened["status"], "needs_review");
    let clear = m
        .ok(
            "compliance",
            "screen_seller",
            "c2",
            json!({"seller_id": "s1", "tcpa_consent": true, "license_number": "L-9"}),
        )
        .await;
    assert_eq!(clear["status"], "clear");
    m.refused(
        "compliance",
        "screen_seller",
        "c3",
        json!({"seller_id": "s1", "tcpa_consent": false}),
        "compliance_failed",
    )
    .await;
    m.refused("compliance", "screen_seller", "c4", json!({"seller_id": "s1", "tcpa_consent": "yes"}), "`tcpa_consent`")
        .await;
    let review = json!({"seller_id": "s1", "decision": "approved", "reviewer": "rita"});
    assert_eq!(m.ok("compliance", "record_review", "c5", review).await["status"], "approved");
    m.refused(
        "compliance",
        "record_review",
        "c6",
        json!({"seller_id": "s1", "decision": "maybe", "reviewer": "r"}),
        "`decision`",
    )
    .await;
    m.ok(
        "contracts",
        "draft_contract",
        "k1",
        json!({"contract_id": "ct1", "party_id": "s1", "revenue_share_bp": 8000}),
    )
    .await;
    m.refused(
        "contracts",
        "draft_contract",
        "k2",
        json!({"contract_id": "ct2", "party_id": "s1", "revenue_share_bp": 10001}),
        "`revenue_share_bp`",
    )
    .await;
    m.ok(
        "contracts",
        "draft_contract",
        "k3",
        json!({"contract_id": "ct3", "party_id": "s1", "revenue_share_bp": 8000}),
    )
    .await;
    m.refused(
        "contracts",
        "sign_contract",
        "k4",
        json!({"contract_id": "ct3", "signer": "will-decline"}),
        "signature_declined",
    )
    .await;
    assert_eq!(
        m.ok("contracts", "sign_contract", "k5", json!({"contract_id": "ct1", "signer": "sam"})).await["status"],
        "signed"
    );
    m.refused("contracts", "sign_contract", "k6", json!({"contract_id": "ct1", "signer": "sam"}), "invalid_status")
        .await;
    m.refused("telephony", "test_call", "t0", json!({"seller_id": "s1", "number": "+14155550123"}), "no_integration")
        .await;
    m.refused(
        "telephony",
        "provision_integration",
        "t1",
        json!({"seller_id": "s1", "endpoint": "http://x"}),
        "`endpoint`",
    )
    .await;
    m.ok("telephony", "provision_integration", "t2", json!({"seller_id": "s1", "endpoint": "https://leads.test/hook"}))
        .await;
    assert_eq!(
        m.ok("telephony", "test_call", "t3", json!({"seller_id": "s1", "number": "+14155550123"})).await["passed"],
        true
    );
    m.refused("telephony", "test_call", "t4", json!({"seller_id": "s1", "number": "+14155550000"}), "test_call_failed")
        .await;
    m.refused("telephony", "test_call", "t5", json!({"seller_id": "s1", "number": "555"}), "`number`").await;
    assert_eq!(m.ok("accounts", "activate", "a2", json!({"account_id": "s1"})).await["status"], "active");
    let sent = m
        .ok(
            "notifications",
            "send",
            "n1",
            json!({"recipient": "a@leads.test", "channel": "email", "template": "welcome"}),
        )
        .await;
    assert_eq!(sent["status"], "sent");
    m.refused(
        "notifications",
        "send",
        "n2",
        json!({"recipient": "bounce@x", "channel": "email", "template": "welcome"}),
        "undeliverable",
    )
    .await;
    m.refused(
        "notifications",
        "send",
        "n3",
        json!({"recipient": "a@x", "channel": "pigeon", "template": "t"}),
        "`channel`",
    )
    .await;

    // Compensations.
    assert_eq!(m.ok("telephony", "remove_integration", "u1", json!({"seller_id": "s1"})).await["removed"], true);
    assert_eq!(m.ok("contracts", "void_contract", "u2", json!({"contract_id": "ct1"})).await["status"], "voided");
    assert_eq!(m.ok("contracts", "void_contract", "u3", json!({"contract_id": "none"})).await["status"], "none");
}
on_both!(seller_onboarding_services_work_and_refuse_on_purpose);

async fn call_lifecycle_services_route_connect_monitor_and_compensate(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    for (campaign, buyer, bid, region) in
        [("c-low", "b-low", 1000, "*"), ("c-high", "b-high", 3000, "CA"), ("c-tx", "b-tx", 9000, "TX")]
    {
        m.ok(
            "campaigns",
            "create_campaign",
            &format!("{campaign}-1"),
            json!({"campaign_id": campaign, "buyer_id": buyer, "name": "n", "daily_budget_minor": 1}),
        )
        .await;
        m.ok(
            "campaigns",
            "configure_bids",
            &format!("{campaign}-2"),
            json!({"campaign_id": campaign, "vertical": "solar", "region": region, "bid_minor": bid}),
        )
        .await;
        m.ok("campaigns", "activate_campaign", &format!("{campaign}-3"), json!({"campaign_id": campaign})).await;
    }
    m.ok("campaigns", "pause_campaign", "p", json!({"campaign_id": "c-tx"})).await;

    let call = json!({"call_id": "call-1", "caller_number": "+14155550123", "seller_id": "s1"});
    assert_eq!(m.ok("telephony", "validate_call", "v1", call).await["status"], "validated");
    m.refused(
        "telephony",
        "validate_call",
        "v2",
        json!({"call_id": "call-2", "caller_number": "+14155550000", "seller_id": "s1"}),
        "caller_blocked",
    )
    .await;
    m.refused(
        "telephony",
        "validate_call",
        "v3",
        json!({"call_id": "call-2", "caller_number": "4155550123", "seller_id": "s1"}),
        "`caller_number`",
    )
    .await;
    let found =
        m.ok("routing", "find_buyer", "r1", json!({"call_id": "call-1", "vertical": "solar", "region": "CA"})).await;
    assert_eq!((found["buyer_id"].as_str(), found["bid_minor"].as_i64()), (Some("b-high"), Some(3000)));
    let elsewhere =
        m.ok("routing", "find_buyer", "r2", json!({"call_id": "call-9", "vertical": "solar", "region": "NY"})).await;
    assert_eq!(elsewhere["buyer_id"], "b-low");
    m.refused(
        "routing",
        "find_buyer",
        "r3",
        json!({"call_id": "call-8", "vertical": "roofing", "region": "CA"}),
        "no_buyer",
    )
    .await;
    m.refused("routing", "find_buyer", "r4", json!({"call_id": "call-8", "vertical": "solar"}), "`region` is required")
        .await;
    assert_eq!(m.ok("routing", "route_call", "r5", json!({"call_id": "call-1"})).await["status"], "routed");
    m.ok("telephony", "connect", "t1", json!({"call_id": "call-1", "buyer_id": "b-high"})).await;
    m.refused("telephony", "connect", "t2", json!({"call_id": "call-1", "buyer_id": "b-high"}), "invalid_status").await;
    m.ok(
        "billing",
        "start_meter",
        "m1",
        json!({"call_id": "call-1", "buyer_id": "b-high", "seller_id": "s1", "rate_minor": 3000}),
    )
    .await;
    let monitored =
        m.ok("quality", "monitor_call", "q1", json!({"call_id": "call-1", "seller_id": "s1", "silence_s": 2})).await;
    assert_eq!(monitored["quality_score"], 84);
    let ended = m.ok("telephony", "track_duration", "t3", json!({"call_id": "call-1", "duration_s": 90})).await;
    assert_eq!(ended["duration_s"], 90);
    m.ok("billing", "stop_meter", "m2", json!({"call_id": "call-1", "duration_s": 90})).await;
    assert_eq!(m.ok("billing", "calculate_charge", "m3", json!({"call_id": "call-1"})).await["charge_minor"], 4500);

    // Compensations of a call that failed after connecting.
    m.ok(
        "telephony",
        "validate_call",
        "v4",
        json!({"call_id": "call-3", "caller_number": "+14155550199", "seller_id": "s1"}),
    )
    .await;
    m.ok("routing", "find_buyer", "r6", json!({"call_id": "call-3", "vertical": "solar", "region": "CA"})).await;
    m.ok("telephony", "connect", "t4", json!({"call_id": "call-3", "buyer_id": "b-high"})).await;
    assert_eq!(m.ok("telephony", "disconnect", "t5", json!({"call_id": "call-3"})).await["status"], "disconnected");
    assert_eq!(m.ok("routing", "release_reservation", "r7", json!({"call_id": "call-3"})).await["released"], true);
    assert_eq!(m.ok("routing", "release_reservation", "r8", json!({"call_id": "call-3"})).await["released"], false);
    m.refused("routing", "route_call", "r9", json!({"call_id": "call-3"}), "reservation_released").await;
    assert_eq!(m.ok("telephony", "disconnect", "t6", json!({"call_id": "call-1"})).await["status"], "completed");
}
on_both!(call_lifecycle_services_route_connect_monitor_and_compensate);

async fn quality_rules_follow_the_spec(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    let silence = m.ok("quality", "evaluate_silence", "q1", json!({"seller_id": "s1", "silence_s": 6})).await;
    assert_eq!(silence["action"], "alert");
    assert_eq!(
        m.ok("quality", "evaluate_silence", "q2", json!({"seller_id": "s1", "silence_s": 5})).await["action"],
        "none"
    );
    let conversion =
        m.ok("quality", "evaluate_conversion", "q3", json!({"seller_id": "s1", "calls": 100, "conversions": 9})).await;
    assert_eq!((conversion["value"].as_i64(), conversion["action"].as_str()), (Some(900), Some("review")));
    assert_eq!(
        m.ok("quality", "evaluate_conversion", "q4", json!({"seller_id": "s1", "calls": 100, "conversions": 10})).await
            ["action"],
        "none"
    );
    let complaints =
        m.ok("quality", "evaluate_complaints", "q5", json!({"seller_id": "s1", "calls": 100, "complaints": 3})).await;
    assert_eq!(complaints["action"], "suspend");
    assert_eq!(
        m.ok("quality", "evaluate_complaints", "q6", json!({"seller_id": "s1", "calls": 100, "complaints": 2})).await
            ["action"],
        "none"
    );
    m.refused(
        "quality",
        "evaluate_complaints",
        "q7",
        json!({"seller_id": "s1", "calls": 0, "complaints": 0}),
        "`calls`",
    )
    .await;
    m.refused(
        "quality",
        "evaluate_conversion",
        "q8",
        json!({"seller_id": "s1", "calls": 5, "conversions": 6}),
        "`conversions`",
    )
    .await;
    m.ok(
        "quality",
        "raise_alert",
        "q9",
        json!({"seller_id": "s1", "metric": "silence_duration", "message": "6 s of silence"}),
    )
    .await;
    m.refused("quality", "raise_alert", "q10", json!({"seller_id": "s1", "metric": "x"}), "`message` is required")
        .await;
    m.ok("accounts", "register_seller", "a1", json!({"seller_id": "s1", "business_name": "L", "email": "l@l.test"}))
        .await;
    m.ok("accounts", "activate", "a2", json!({"account_id": "s1"})).await;
    let suspended =
        m.ok("accounts", "suspend", "a3", json!({"account_id": "s1", "reason": "complaint rate 3 %"})).await;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(m.int("SELECT COUNT(*) FROM sim_quality WHERE breached = 1", &[]).await, 3);
}
on_both!(quality_rules_follow_the_spec);

async fn disputes_are_reviewed_by_rules_investigated_and_credited(url: DatabaseUrl) {
    let m = Market::open(&url).await;
    m.ok(
        "ledger",
        "record_charge",
        "c1",
        json!({"charge_id": "call-1", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 20_000}),
    )
    .await;
    let dispute = |id: &str, amount: i64, evidence: &str| json!({"dispute_id": id, "call_id": "call-1", "buyer_id": "b1", "seller_id": "s1", "amount_minor": amount, "reason": "silence", "evidence": evidence});
    m.ok("disputes", "submit_dispute", "d1", dispute("d-simple", 3000, "recording.wav")).await;
    m.refused("disputes", "submit_dispute", "d1b", dispute("d-simple", 3000, "recording.wav"), "dispute_exists").await;
    m.refused("disputes", "submit_dispute", "d1c", dispute("d-bad", -3, ""), "`amount_minor`").await;
    let simple = m.ok("disputes", "auto_review", "d2", json!({"dispute_id": "d-simple"})).await;
    assert_eq!((simple["complexity"].as_str(), simple["recommendation"].as_str()), (Some("simple"), Some("approve")));
    m.ok("disputes", "submit_dispute", "d3", dispute("d-complex", 9000, "recording.wav")).await;
    let summary = m
        .ok("ledger", "validate_charges", "v1", json!({"date": chrono::Utc::now().format("%Y-%m-%d").to_string()}))
        .await;
    assert_eq!(summary["disputed_count"], 2);
    let complex = m.ok("disputes", "auto_review", "d4", json!({"dispute_id": "d-complex"})).await;
    assert_eq!(complex["recommendation"], "manual_review");
    m.ok("disputes", "investigate", "d5", json!({"dispute_id": "d-complex", "findings": "caller hung up after 3 s"}))
        .await;
    let denied = m
        .ok(
            "disputes",
            "resolve_dispute",
            "d6",
            json!({"dispute_id": "d-complex", "decision": "denied", "reason": "valid call"}),
        )
        .await;
    assert_eq!(denied["status"], "denied");
    m.refused(
        "disputes",
        "resolve_dispute",
        "d7",
        json!({"dispute_id": "d-complex", "decision": "approved", "reason": "x"}),
        "already_resolved",
    )
    .await;
    m.ok(
        "disputes",
        "resolve_dispute",
        "d8",
        json!({"dispute_id": "d-simple", "decision": "approved", "reason": "silence confirmed"}),
    )
    .await;
    let before = m.balance("seller:s1").await.0;
    m.ok(
        "ledger",
        "issue_credit",
        "d9",
        json!({"credit_id": "d-simple", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 3000}),
    )
    .await;
    m.ok(
        "ledger",
        "issue_credit",
        "d10",
        json!({"credit_id": "d-simple", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 3000}),
    )
    .await;
    assert_eq!(m.balance("seller:s1").await.0, before - 3000, "credited once");
    m.refused(
        "ledger",
        "issue_credit",
        "d11",
        json!({"credit_id": "too-big", "buyer_id": "b1", "seller_id": "s1", "amount_minor": 1_000_000}),
        "insufficient_balance",
    )
    .await;
    m.ok(
        "disputes",
        "record_audit",
        "d12",
        json!({"subject_id": "d-simple", "event": "credit_issued", "detail": "3000"}),
    )
    .await;
    m.refused("disputes", "record_audit", "d13", json!({"subject_id": "d-simple"}), "`event` is required").await;
    m.refused("disputes", "auto_review", "d14", json!({"dispute_id": "nope"}), "unknown_dispute").await;
    m.assert_ledger_invariants().await;
}
on_both!(disputes_are_reviewed_by_rules_investigated_and_credited);
