//! The `ledger` service (ledger and settlement): double-entry postings, balances, charges, fund
//! reservations for payouts, dispute credits and the daily settlement's steps.
//!
//! Ledger accounts are named `buyer:ID`, `seller:ID`, `platform:fees` and `external:payouts` (money
//! that left the platform). Each has two buckets, `available` and `reserved`. Every change of money is
//! a posting written by [`post`]: a set of entries whose amounts sum to zero, written in one
//! transaction with the balance updates. The money invariants:
//!
//! - amounts are `i64` minor units (never floats); fees are integer basis points, rounded down;
//! - every posting sums to zero, so all entries together sum to zero;
//! - a seller's or the platform's buckets never go below zero: each debit is a conditional
//!   `UPDATE … WHERE available + amount >= 0`, checked by rows affected — the check and the change
//!   are one statement, so no concurrent payout can slip between them. Buyer balances are receivables
//!   (what the buyer owes is negative) and may go below zero;
//! - a charge is posted once per `charge_id` and a payout reserved once per `payout_id`, whatever the
//!   idempotency key; a reversal posts the exact negation, so a compensated charge or payout leaves
//!   every balance as it was.
//!
//! Seller payouts of a daily settlement are one batch action, [`settle_payouts`] (see there for the
//! rule), undone as a whole by `reverse_payouts`.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "ledger";

/// Its actions.
pub const ACTIONS: &[&str] = &[
    "open_account",
    "close_account",
    "get_balance",
    "validate_balance",
    "record_charge",
    "reverse_charge",
    "reserve_funds",
    "release_funds",
    "record_payout",
    "issue_credit",
    "aggregate_day",
    "validate_charges",
    "apply_adjustments",
    "calculate_fees",
    "generate_invoices",
    "settle_payouts",
    "reverse_payouts",
    "record_settlement",
];

/// The platform's fee account.
pub const PLATFORM_FEES: &str = "platform:fees";
/// Where paid-out money goes: the outside world.
pub const EXTERNAL_PAYOUTS: &str = "external:payouts";

/// The default platform fee: 20 %.
const DEFAULT_FEE_BP: i64 = 2_000;

/// The ledger account of a buyer.
pub fn buyer_account(buyer_id: &str) -> String {
    format!("buyer:{buyer_id}")
}

/// The ledger account of a seller.
pub fn seller_account(seller_id: &str) -> String {
    format!("seller:{seller_id}")
}

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "open_account" => open_account(tx, call).await,
            "close_account" => close_account(tx, call).await,
            "get_balance" => get_balance(tx, call).await,
            "validate_balance" => validate_balance(tx, call).await,
            "record_charge" => record_charge(tx, call).await,
            "reverse_charge" => reverse_charge(tx, call).await,
            "reserve_funds" => reserve_funds(tx, call).await,
            "release_funds" => release_funds(tx, call).await,
            "record_payout" => record_payout(tx, call).await,
            "issue_credit" => issue_credit(tx, call).await,
            "aggregate_day" | "validate_charges" | "apply_adjustments" | "calculate_fees" => {
                day_summary(tx, call).await
            }
            "generate_invoices" => generate_invoices(tx, call).await,
            "settle_payouts" => settle_payouts(tx, call).await,
            "reverse_payouts" => reverse_payouts(tx, call).await,
            "record_settlement" => record_settlement(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a ledger action"))),
        }
    })
}

/// One line of a posting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub account_id: String,
    /// `available` or `reserved`.
    pub bucket: &'static str,
    pub amount: i64,
}

impl Entry {
    fn available(account_id: impl Into<String>, amount: i64) -> Self {
        Self { account_id: account_id.into(), bucket: "available", amount }
    }

    fn reserved(account_id: impl Into<String>, amount: i64) -> Self {
        Self { account_id: account_id.into(), bucket: "reserved", amount }
    }
}

/// Creates the balance row of a ledger account if missing. The kind and whether it may go negative
/// follow from the name's prefix.
async fn ensure_account(tx: &mut SimTx, account_id: &str, now_ms: i64) -> SimResult<()> {
    let (kind, owner) = account_id.split_once(':').unwrap_or(("other", account_id));
    let allow_negative = i64::from(matches!(kind, "buyer" | "external"));
    tx.execute(
        "INSERT INTO sim_balances (account_id, owner_id, kind, allow_negative, available, reserved, status, created_at) \
         VALUES ($1, $2, $3, $4, 0, 0, 'open', $5) ON CONFLICT (account_id) DO NOTHING",
        &[Bind::text(account_id), Bind::text(owner), Bind::text(kind), Bind::Int(allow_negative), Bind::Int(now_ms)],
    )
    .await?;
    Ok(())
}

/// Writes a balanced posting and applies it to the balances, all inside the caller's transaction.
///
/// # Errors
/// `insufficient_balance` (rejected) when an entry would take a bucket that may not go negative below
/// zero. The framework rolls the whole transaction back on a rejection, so a half-applied posting is
/// never committed. An unbalanced posting is a bug in the caller and is refused the same way.
pub async fn post(tx: &mut SimTx, kind: &str, reference: &str, entries: &[Entry], now_ms: i64) -> SimResult<String> {
    if entries.iter().map(|entry| entry.amount).sum::<i64>() != 0 {
        return Err(SimError::rejected("unbalanced_posting", format!("{kind} {reference} does not sum to zero")));
    }
    let posting_id = format!("pst_{}", uuid::Uuid::new_v4().simple());
    tx.execute(
        "INSERT INTO sim_postings (id, kind, reference, created_at) VALUES ($1, $2, $3, $4)",
        &[Bind::text(&posting_id), Bind::text(kind), Bind::text(reference), Bind::Int(now_ms)],
    )
    .await?;
    // Balance rows are locked in account order, so two postings touching the same accounts cannot
    // deadlock on PostgreSQL.
    let mut ordered: Vec<(usize, &Entry)> = entries.iter().enumerate().collect();
    ordered.sort_by(|a, b| (&a.1.account_id, a.1.bucket).cmp(&(&b.1.account_id, b.1.bucket)));
    for (seq, entry) in ordered {
        ensure_account(tx, &entry.account_id, now_ms).await?;
        let sql = match entry.bucket {
            "reserved" => {
                "UPDATE sim_balances SET reserved = reserved + $1 \
                 WHERE account_id = $2 AND (allow_negative = 1 OR reserved + $1 >= 0)"
            }
            _ => {
                "UPDATE sim_balances SET available = available + $1 \
                 WHERE account_id = $2 AND (allow_negative = 1 OR available + $1 >= 0)"
            }
        };
        let changed = tx.execute(sql, &[Bind::Int(entry.amount), Bind::text(&entry.account_id)]).await?;
        if changed == 0 {
            return Err(SimError::rejected(
                "insufficient_balance",
                format!("{} {} cannot cover {}", entry.account_id, entry.bucket, -entry.amount),
            ));
        }
        tx.execute(
            "INSERT INTO sim_entries (posting_id, seq, account_id, bucket, amount) VALUES ($1, $2, $3, $4, $5)",
            &[
                Bind::text(&posting_id),
                Bind::Int(seq as i64),
                Bind::text(&entry.account_id),
                Bind::text(entry.bucket),
                Bind::Int(entry.amount),
            ],
        )
        .await?;
    }
    Ok(posting_id)
}

/// `(available, reserved)` of an account; zeros when it does not exist yet.
async fn balance(tx: &mut SimTx, account_id: &str) -> SimResult<(i64, i64)> {
    let row = tx
        .fetch_optional("SELECT available, reserved FROM sim_balances WHERE account_id = $1", &[Bind::text(account_id)])
        .await?;
    match row {
        Some(row) => Ok((row.int(0)?, row.int(1)?)),
        None => Ok((0, 0)),
    }
}

/// The ledger account named by `owner_id` + `kind` (`buyer` or `seller`) in the input.
fn account_of(call: &Call<'_>) -> SimResult<String> {
    let owner = call.str("owner_id")?;
    match call.str("kind")?.as_str() {
        "buyer" => Ok(buyer_account(&owner)),
        "seller" => Ok(seller_account(&owner)),
        _ => Err(SimError::invalid("kind", "must be `buyer` or `seller`")),
    }
}

/// `open_account {owner_id, kind: buyer|seller}` → `{account_id, available_minor, reserved_minor}`.
async fn open_account(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let account_id = account_of(call)?;
    ensure_account(tx, &account_id, call.now_ms).await?;
    tx.execute("UPDATE sim_balances SET status = 'open' WHERE account_id = $1", &[Bind::text(&account_id)]).await?;
    let (available, reserved) = balance(tx, &account_id).await?;
    Ok(json!({ "account_id": account_id, "available_minor": available, "reserved_minor": reserved }))
}

/// `close_account {owner_id, kind}` → `{account_id, closed}`; refused while money is on it.
async fn close_account(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let account_id = account_of(call)?;
    let (available, reserved) = balance(tx, &account_id).await?;
    if available != 0 || reserved != 0 {
        return Err(SimError::rejected("account_not_empty", format!("{account_id} still holds money")));
    }
    let closed = tx
        .execute("UPDATE sim_balances SET status = 'closed' WHERE account_id = $1", &[Bind::text(&account_id)])
        .await?;
    Ok(json!({ "account_id": account_id, "closed": closed == 1 }))
}

/// `get_balance {owner_id, kind}` → `{account_id, available_minor, reserved_minor}`.
async fn get_balance(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let account_id = account_of(call)?;
    let (available, reserved) = balance(tx, &account_id).await?;
    Ok(json!({ "account_id": account_id, "available_minor": available, "reserved_minor": reserved }))
}

/// `validate_balance {seller_id, amount_minor}` → `{available_minor}`; `insufficient_balance` when
/// the seller's available balance is below the amount.
async fn validate_balance(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let account_id = seller_account(&call.str("seller_id")?);
    let amount = call.positive_amount("amount_minor")?;
    let (available, _) = balance(tx, &account_id).await?;
    if available < amount {
        return Err(SimError::rejected(
            "insufficient_balance",
            format!("{account_id} has {available} available, {amount} requested"),
        ));
    }
    Ok(json!({ "account_id": account_id, "available_minor": available }))
}

/// `record_charge {charge_id, buyer_id, seller_id, amount_minor, fee_bp?, occurred_at_ms?}` →
/// `{charge_id, amount_minor, fee_minor, seller_minor, status}`. Queues a call's charge for
/// settlement: the buyer owes the amount, the seller earns it minus the platform fee. A charge id is
/// charged once, whatever the idempotency key.
async fn record_charge(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let charge_id = call.str("charge_id")?;
    let buyer_id = call.str("buyer_id")?;
    let seller_id = call.str("seller_id")?;
    let amount = call.positive_amount("amount_minor")?;
    let fee_bp = call.count_or("fee_bp", DEFAULT_FEE_BP)?;
    if fee_bp > 10_000 {
        return Err(SimError::invalid("fee_bp", "must be at most 10000 (100 %)"));
    }
    let occurred_at = call.opt_int("occurred_at_ms")?.unwrap_or(call.now_ms);
    let fee = amount * fee_bp / 10_000;
    let existing = tx
        .fetch_optional(
            "SELECT buyer_id, seller_id, amount_minor, fee_minor, status FROM sim_charges WHERE id = $1",
            &[Bind::text(&charge_id)],
        )
        .await?;
    if let Some(row) = existing {
        let same = row.text(0)? == buyer_id && row.text(1)? == seller_id && row.int(2)? == amount;
        if !same {
            return Err(SimError::rejected("charge_conflict", format!("{charge_id} was charged with other terms")));
        }
        let fee = row.int(3)?;
        return Ok(charge_output(&charge_id, amount, fee, &row.text(4)?));
    }
    let entries = [
        Entry::available(buyer_account(&buyer_id), -amount),
        Entry::available(seller_account(&seller_id), amount - fee),
        Entry::available(PLATFORM_FEES, fee),
    ];
    post(tx, "charge", &charge_id, &entries, call.now_ms).await?;
    tx.execute(
        "INSERT INTO sim_charges (id, buyer_id, seller_id, amount_minor, fee_minor, status, occurred_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'posted', $6, $7)",
        &[
            Bind::text(&charge_id),
            Bind::text(&buyer_id),
            Bind::text(&seller_id),
            Bind::Int(amount),
            Bind::Int(fee),
            Bind::Int(occurred_at),
            Bind::Int(call.now_ms),
        ],
    )
    .await?;
    Ok(charge_output(&charge_id, amount, fee, "posted"))
}

fn charge_output(charge_id: &str, amount: i64, fee: i64, status: &str) -> Value {
    json!({
        "charge_id": charge_id,
        "amount_minor": amount,
        "fee_minor": fee,
        "seller_minor": amount - fee,
        "status": status,
    })
}

/// `reverse_charge {charge_id}` → `{charge_id, reversed}`. The compensation of `record_charge`: posts
/// the exact negation. Reversing a charge that was never posted is a no-op (`reversed: false`);
/// reversing twice changes nothing. Refused (`insufficient_balance`) when the seller's share was
/// already paid out.
async fn reverse_charge(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let charge_id = call.str("charge_id")?;
    let Some(row) = tx
        .fetch_optional(
            "SELECT buyer_id, seller_id, amount_minor, fee_minor, status, settlement_id FROM sim_charges WHERE id = $1",
            &[Bind::text(&charge_id)],
        )
        .await?
    else {
        return Ok(json!({ "charge_id": charge_id, "reversed": false }));
    };
    if row.text(4)? == "reversed" {
        return Ok(json!({ "charge_id": charge_id, "reversed": true }));
    }
    if row.opt_text(5)?.is_some() {
        return Err(SimError::rejected("charge_settled", format!("{charge_id} is already settled")));
    }
    let (amount, fee) = (row.int(2)?, row.int(3)?);
    let entries = [
        Entry::available(buyer_account(&row.text(0)?), amount),
        Entry::available(seller_account(&row.text(1)?), -(amount - fee)),
        Entry::available(PLATFORM_FEES, -fee),
    ];
    post(tx, "charge_reversal", &charge_id, &entries, call.now_ms).await?;
    tx.execute("UPDATE sim_charges SET status = 'reversed' WHERE id = $1", &[Bind::text(&charge_id)]).await?;
    Ok(json!({ "charge_id": charge_id, "reversed": true }))
}

/// `reserve_funds {payout_id, seller_id, amount_minor}` → `{payout_id, account_id, amount_minor,
/// status}`. Moves the amount from available to reserved, atomically checked; `insufficient_balance`
/// otherwise. One reservation per payout id.
async fn reserve_funds(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let payout_id = call.str("payout_id")?;
    let account_id = seller_account(&call.str("seller_id")?);
    let amount = call.positive_amount("amount_minor")?;
    let existing = tx
        .fetch_optional(
            "SELECT account_id, amount_minor, status FROM sim_fund_reservations WHERE payout_id = $1",
            &[Bind::text(&payout_id)],
        )
        .await?;
    if let Some(row) = existing {
        if row.text(0)? != account_id || row.int(1)? != amount {
            return Err(SimError::rejected("payout_conflict", format!("{payout_id} was reserved with other terms")));
        }
        let status = row.text(2)?;
        return Ok(
            json!({ "payout_id": payout_id, "account_id": account_id, "amount_minor": amount, "status": status }),
        );
    }
    post_reserve(tx, &payout_id, &account_id, amount, call.now_ms).await?;
    tx.execute(
        "INSERT INTO sim_fund_reservations (payout_id, account_id, amount_minor, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'reserved', $4, $4)",
        &[Bind::text(&payout_id), Bind::text(&account_id), Bind::Int(amount), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "payout_id": payout_id, "account_id": account_id, "amount_minor": amount, "status": "reserved" }))
}

/// `release_funds {payout_id}` → `{payout_id, released}`. The compensation of `reserve_funds`: moves
/// the reserved amount back. A no-op when nothing is reserved; refused (`payout_paid`) after
/// `record_payout`.
async fn release_funds(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let payout_id = call.str("payout_id")?;
    let Some(row) = tx
        .fetch_optional(
            "SELECT account_id, amount_minor, status FROM sim_fund_reservations WHERE payout_id = $1",
            &[Bind::text(&payout_id)],
        )
        .await?
    else {
        return Ok(json!({ "payout_id": payout_id, "released": false }));
    };
    match row.text(2)?.as_str() {
        // A reversed settlement payout is back in available already: nothing is reserved.
        "released" | "reversed" => return Ok(json!({ "payout_id": payout_id, "released": true })),
        "paid" => return Err(SimError::rejected("payout_paid", format!("{payout_id} was already paid out"))),
        _ => {}
    }
    let (account_id, amount) = (row.text(0)?, row.int(1)?);
    let entries = [Entry::reserved(&account_id, -amount), Entry::available(&account_id, amount)];
    post(tx, "release", &payout_id, &entries, call.now_ms).await?;
    set_reservation_status(tx, &payout_id, "released", call.now_ms).await?;
    Ok(json!({ "payout_id": payout_id, "released": true }))
}

/// `record_payout {payout_id}` → `{payout_id, amount_minor, status: "paid"}`. The reserved money leaves
/// the platform. Once per payout id.
async fn record_payout(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let payout_id = call.str("payout_id")?;
    let row = tx
        .fetch_optional(
            "SELECT account_id, amount_minor, status FROM sim_fund_reservations WHERE payout_id = $1",
            &[Bind::text(&payout_id)],
        )
        .await?
        .ok_or_else(|| SimError::rejected("not_reserved", format!("{payout_id} has no reserved funds")))?;
    let (account_id, amount, status) = (row.text(0)?, row.int(1)?, row.text(2)?);
    match status.as_str() {
        "paid" => return Ok(json!({ "payout_id": payout_id, "amount_minor": amount, "status": "paid" })),
        "released" | "reversed" => return Err(SimError::rejected("not_reserved", format!("{payout_id} was {status}"))),
        _ => {}
    }
    post_payout(tx, &payout_id, &account_id, amount, call.now_ms).await?;
    set_reservation_status(tx, &payout_id, "paid", call.now_ms).await?;
    Ok(json!({ "payout_id": payout_id, "amount_minor": amount, "status": "paid" }))
}

/// The posting of a reservation: `amount` moves from the account's available to its reserved bucket
/// (`insufficient_balance` when available cannot cover it).
async fn post_reserve(tx: &mut SimTx, payout_id: &str, account_id: &str, amount: i64, now_ms: i64) -> SimResult<()> {
    let entries = [Entry::available(account_id, -amount), Entry::reserved(account_id, amount)];
    post(tx, "reserve", payout_id, &entries, now_ms).await?;
    Ok(())
}

/// The posting of a payout: the reserved `amount` leaves the platform.
async fn post_payout(tx: &mut SimTx, payout_id: &str, account_id: &str, amount: i64, now_ms: i64) -> SimResult<()> {
    let entries = [Entry::reserved(account_id, -amount), Entry::available(EXTERNAL_PAYOUTS, amount)];
    post(tx, "payout", payout_id, &entries, now_ms).await?;
    Ok(())
}

async fn set_reservation_status(tx: &mut SimTx, payout_id: &str, status: &str, now_ms: i64) -> SimResult<()> {
    tx.execute(
        "UPDATE sim_fund_reservations SET status = $1, updated_at = $2 WHERE payout_id = $3",
        &[Bind::text(status), Bind::Int(now_ms), Bind::text(payout_id)],
    )
    .await?;
    Ok(())
}

/// `issue_credit {credit_id, buyer_id, seller_id, amount_minor}` → `{credit_id, amount_minor}`. A
/// dispute approved: the seller's available balance pays the buyer back (`insufficient_balance` if it
/// cannot). Once per credit id.
async fn issue_credit(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let credit_id = call.str("credit_id")?;
    let buyer_id = call.str("buyer_id")?;
    let seller_id = call.str("seller_id")?;
    let amount = call.positive_amount("amount_minor")?;
    let exists =
        tx.fetch_optional("SELECT amount_minor FROM sim_credits WHERE id = $1", &[Bind::text(&credit_id)]).await?;
    if let Some(row) = exists {
        return Ok(json!({ "credit_id": credit_id, "amount_minor": row.int(0)? }));
    }
    let entries =
        [Entry::available(seller_account(&seller_id), -amount), Entry::available(buyer_account(&buyer_id), amount)];
    post(tx, "credit", &credit_id, &entries, call.now_ms).await?;
    tx.execute(
        "INSERT INTO sim_credits (id, buyer_id, seller_id, amount_minor, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            Bind::text(&credit_id),
            Bind::text(&buyer_id),
            Bind::text(&seller_id),
            Bind::Int(amount),
            Bind::Int(call.now_ms),
        ],
    )
    .await?;
    Ok(json!({ "credit_id": credit_id, "amount_minor": amount }))
}

/// The UTC day `date` (`YYYY-MM-DD`) as `[start, end)` epoch milliseconds.
fn day_range(call: &Call<'_>) -> SimResult<(String, i64, i64)> {
    let date = call.str("date")?;
    let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .map_err(|_| SimError::invalid("date", "must be a date like 2024-05-31"))?;
    let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or_default();
    Ok((date, start, start + 86_400_000))
}

/// `aggregate_day` / `validate_charges` / `apply_adjustments` / `calculate_fees` `{date}` → the day's
/// unsettled, posted charges: `{date, charge_count, gross_minor, fee_minor, seller_minor,
/// credit_minor, disputed_count, invalid_count}`. One read serves the four settlement steps; each
/// workflow step uses the fields it needs (`disputed_count > 0` takes the dispute branch).
async fn day_summary(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let (date, start, end) = day_range(call)?;
    let range = [Bind::Int(start), Bind::Int(end)];
    let charges = tx
        .fetch_one(
            "SELECT COUNT(*), CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT), CAST(COALESCE(SUM(fee_minor), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN amount_minor <= 0 OR fee_minor < 0 OR fee_minor > amount_minor THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM sim_charges WHERE status = 'posted' AND settlement_id IS NULL AND occurred_at >= $1 AND occurred_at < $2",
            &range,
        )
        .await?;
    let disputed = tx
        .fetch_one(
            "SELECT COUNT(*) FROM sim_disputes d JOIN sim_charges c ON c.id = d.call_id \
             WHERE d.status IN ('submitted', 'manual_review', 'investigating') AND c.occurred_at >= $1 AND c.occurred_at < $2",
            &range,
        )
        .await?;
    let credits = tx
        .fetch_one(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sim_credits WHERE created_at >= $1 AND created_at < $2",
            &range,
        )
        .await?;
    let (gross, fee) = (charges.int(1)?, charges.int(2)?);
    Ok(json!({
        "date": date,
        "charge_count": charges.int(0)?,
        "gross_minor": gross,
        "fee_minor": fee,
        "seller_minor": gross - fee,
        "invalid_count": charges.int(3)?,
        "disputed_count": disputed.int(0)?,
        "credit_minor": credits.int(0)?,
    }))
}

/// `generate_invoices {settlement_id, date}` → `{settlement_id, invoice_count, invoiced_minor}`: one
/// invoice per buyer for the day's unsettled charges.
async fn generate_invoices(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let settlement_id = call.str("settlement_id")?;
    let (_, start, end) = day_range(call)?;
    let rows = tx
        .fetch_all(
            "SELECT buyer_id, CAST(SUM(amount_minor) AS BIGINT) FROM sim_charges \
             WHERE status = 'posted' AND settlement_id IS NULL AND occurred_at >= $1 AND occurred_at < $2 \
             GROUP BY buyer_id ORDER BY buyer_id",
            &[Bind::Int(start), Bind::Int(end)],
        )
        .await?;
    let mut total = 0;
    for row in &rows {
        let (buyer_id, amount) = (row.text(0)?, row.int(1)?);
        total += amount;
        tx.execute(
            "INSERT INTO sim_invoices (id, settlement_id, buyer_id, amount_minor, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO NOTHING",
            &[
                Bind::Text(format!("{settlement_id}:{buyer_id}")),
                Bind::text(&settlement_id),
                Bind::text(&buyer_id),
                Bind::Int(amount),
                Bind::Int(call.now_ms),
            ],
        )
        .await?;
    }
    Ok(json!({ "settlement_id": settlement_id, "invoice_count": rows.len(), "invoiced_minor": total }))
}

/// `record_settlement {settlement_id, date}` → `{settlement_id, charge_count, gross_minor, fee_minor}`:
/// marks the day's charges settled under the batch. Once per settlement id; refused
/// (`settlement_conflict`) when the id was already recorded for another day.
async fn record_settlement(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let settlement_id = call.str("settlement_id")?;
    let (date, start, end) = day_range(call)?;
    if let Some(row) = tx
        .fetch_optional(
            "SELECT charge_count, gross_minor, fee_minor, day FROM sim_settlements WHERE id = $1",
            &[Bind::text(&settlement_id)],
        )
        .await?
    {
        if row.text(3)? != date {
            return Err(SimError::rejected(
                "settlement_conflict",
                format!("{settlement_id} was recorded for another day ({})", row.text(3)?),
            ));
        }
        return Ok(json!({
            "settlement_id": settlement_id, "charge_count": row.int(0)?, "gross_minor": row.int(1)?, "fee_minor": row.int(2)?,
        }));
    }
    let summary = day_summary(tx, call).await?;
    let count = summary["charge_count"].as_i64().unwrap_or_default();
    let gross = summary["gross_minor"].as_i64().unwrap_or_default();
    let fee = summary["fee_minor"].as_i64().unwrap_or_default();
    let credit = summary["credit_minor"].as_i64().unwrap_or_default();
    tx.execute(
        "UPDATE sim_charges SET settlement_id = $1 \
         WHERE status = 'posted' AND settlement_id IS NULL AND occurred_at >= $2 AND occurred_at < $3",
        &[Bind::text(&settlement_id), Bind::Int(start), Bind::Int(end)],
    )
    .await?;
    tx.execute(
        "INSERT INTO sim_settlements (id, day, charge_count, gross_minor, fee_minor, credit_minor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Bind::text(&settlement_id),
            Bind::text(&date),
            Bind::Int(count),
            Bind::Int(gross),
            Bind::Int(fee),
            Bind::Int(credit),
            Bind::Int(call.now_ms),
        ],
    )
    .await?;
    Ok(json!({ "settlement_id": settlement_id, "charge_count": count, "gross_minor": gross, "fee_minor": fee }))
}

/// The payout id of `seller_id` in settlement `settlement_id`.
pub fn settlement_payout_id(settlement_id: &str, seller_id: &str) -> String {
    format!("{settlement_id}:{seller_id}")
}

/// The paid payouts of a settlement (payout ids `<settlement_id>:…`), in payout id order:
/// `(payout_id, account_id, amount)`.
async fn settlement_payouts(tx: &mut SimTx, settlement_id: &str) -> SimResult<Vec<(String, String, i64)>> {
    let prefix = settlement_payout_id(settlement_id, "");
    let rows = tx
        .fetch_all(
            "SELECT payout_id, account_id, amount_minor FROM sim_fund_reservations \
             WHERE substr(payout_id, 1, CAST($1 AS INTEGER)) = $2 AND status = 'paid' ORDER BY payout_id",
            &[Bind::Int(prefix.chars().count() as i64), Bind::Text(prefix)],
        )
        .await?;
    rows.iter().map(|row| Ok((row.text(0)?, row.text(1)?, row.int(2)?))).collect()
}

/// `settle_payouts {settlement_id, date}` → `{settlement_id, payout_count, paid_minor, payouts:
/// [{payout_id, seller_id, amount_minor}]}`: the daily settlement's seller payouts, all in the one
/// transaction of the call.
///
/// The rule: every seller with unsettled, posted charges on the UTC day `date` (the charges
/// `generate_invoices` invoices and `record_settlement` then marks settled) is paid its share of them
/// (amount minus fee), capped at its available balance (credits or an earlier payout may have used
/// part of it; a ledger never overdraws). A seller with nothing to pay (no share, or nothing
/// available) gets no payout. Each payout has the id `<settlement_id>:<seller_id>` and goes through
/// the same postings as `reserve_funds` + `record_payout` (available → reserved → `external:payouts`),
/// its reservation recorded as `paid`.
///
/// Idempotent per settlement and per payout id: a payout id that already exists is never paid again
/// (unless `reverse_payouts` reversed it, when a new run of the settlement pays it again). The output
/// lists all of the settlement's paid payouts, including those of an earlier call.
async fn settle_payouts(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let settlement_id = call.str("settlement_id")?;
    let (_, start, end) = day_range(call)?;
    let shares = tx
        .fetch_all(
            "SELECT seller_id, CAST(SUM(amount_minor - fee_minor) AS BIGINT) FROM sim_charges \
             WHERE status = 'posted' AND settlement_id IS NULL AND occurred_at >= $1 AND occurred_at < $2 \
             GROUP BY seller_id ORDER BY seller_id",
            &[Bind::Int(start), Bind::Int(end)],
        )
        .await?;
    for row in &shares {
        let (seller_id, share) = (row.text(0)?, row.int(1)?);
        let payout_id = settlement_payout_id(&settlement_id, &seller_id);
        let existing = tx
            .fetch_optional("SELECT status FROM sim_fund_reservations WHERE payout_id = $1", &[Bind::text(&payout_id)])
            .await?;
        let reopen = match existing {
            None => false,
            Some(existing) if existing.text(0)? == "reversed" => true,
            // Reserved, paid or released already: this payout id is used, never pay it twice.
            Some(_) => continue,
        };
        let account_id = seller_account(&seller_id);
        let (available, _) = balance(tx, &account_id).await?;
        let amount = share.min(available);
        if amount <= 0 {
            continue;
        }
        post_reserve(tx, &payout_id, &account_id, amount, call.now_ms).await?;
        if reopen {
            tx.execute(
                "UPDATE sim_fund_reservations SET account_id = $1, amount_minor = $2, status = 'reserved', updated_at = $3 \
                 WHERE payout_id = $4",
                &[Bind::text(&account_id), Bind::Int(amount), Bind::Int(call.now_ms), Bind::text(&payout_id)],
            )
            .await?;
        } else {
            tx.execute(
                "INSERT INTO sim_fund_reservations (payout_id, account_id, amount_minor, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'reserved', $4, $4)",
                &[Bind::text(&payout_id), Bind::text(&account_id), Bind::Int(amount), Bind::Int(call.now_ms)],
            )
            .await?;
        }
        post_payout(tx, &payout_id, &account_id, amount, call.now_ms).await?;
        set_reservation_status(tx, &payout_id, "paid", call.now_ms).await?;
    }
    let paid = settlement_payouts(tx, &settlement_id).await?;
    let payouts: Vec<Value> = paid
        .iter()
        .map(|(payout_id, account_id, amount)| {
            let seller_id = account_id.strip_prefix("seller:").unwrap_or(account_id);
            json!({ "payout_id": payout_id, "seller_id": seller_id, "amount_minor": amount })
        })
        .collect();
    Ok(json!({
        "settlement_id": settlement_id,
        "payout_count": paid.len(),
        "paid_minor": paid.iter().map(|(_, _, amount)| amount).sum::<i64>(),
        "payouts": payouts,
    }))
}

/// `reverse_payouts {settlement_id}` → `{settlement_id, reversed_count, reversed_minor}`. The
/// compensation of `settle_payouts`: every paid payout of the settlement comes back from
/// `external:payouts` to the seller's available balance (the exact negation of its reserve and payout
/// postings together) and its reservation is marked `reversed`. Reversing twice, or a settlement
/// that paid nothing, changes nothing.
async fn reverse_payouts(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let settlement_id = call.str("settlement_id")?;
    let paid = settlement_payouts(tx, &settlement_id).await?;
    let mut total = 0;
    for (payout_id, account_id, amount) in &paid {
        let entries = [Entry::available(EXTERNAL_PAYOUTS, -amount), Entry::available(account_id, *amount)];
        post(tx, "payout_reversal", payout_id, &entries, call.now_ms).await?;
        set_reservation_status(tx, payout_id, "reversed", call.now_ms).await?;
        total += amount;
    }
    Ok(json!({ "settlement_id": settlement_id, "reversed_count": paid.len(), "reversed_minor": total }))
}
