//! The `payments` service: sellers' bank accounts and payout transfers.
//!
//! A transfer moves through `initiated` → `completed`, or `initiated` → `cancelled` (the compensation).
//! The money itself is booked by the `ledger` service (`reserve_funds`, `record_payout`,
//! `release_funds`); this service is the bank side. A payout id is initiated once, whatever the key.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "payments";

/// Its actions.
pub const ACTIONS: &[&str] =
    &["setup_bank_account", "remove_bank_account", "initiate_transfer", "cancel_transfer", "complete_transfer"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "setup_bank_account" => setup_bank_account(tx, call).await,
            "remove_bank_account" => remove_bank_account(tx, call).await,
            "initiate_transfer" => initiate_transfer(tx, call).await,
            "cancel_transfer" => cancel_transfer(tx, call).await,
            "complete_transfer" => complete_transfer(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a payments action"))),
        }
    })
}

fn digits(call: &Call<'_>, field: &str, min: usize, max: usize) -> SimResult<String> {
    let value = call.str(field)?;
    if value.len() < min || value.len() > max || !value.chars().all(|c| c.is_ascii_digit()) {
        let problem =
            if min == max { format!("must be {min} digits") } else { format!("must be {min}–{max} digits") };
        return Err(SimError::invalid(field, problem));
    }
    Ok(value)
}

/// `setup_bank_account {seller_id, routing_number (9 digits), account_number (4–17 digits), tax_id}` →
/// `{seller_id, account_last4, status: "verified"}`. A tax id starting with `FAIL` is refused
/// (`tax_id_invalid`), for exercising the rejection branch.
async fn setup_bank_account(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller_id = call.str("seller_id")?;
    let routing = digits(call, "routing_number", 9, 9)?;
    let account = digits(call, "account_number", 4, 17)?;
    let tax_id = call.str("tax_id")?;
    if tax_id.to_ascii_uppercase().starts_with("FAIL") {
        return Err(SimError::rejected("tax_id_invalid", format!("tax id {tax_id} is not registered")));
    }
    let last4 = account[account.len() - 4..].to_string();
    tx.execute(
        "INSERT INTO sim_bank_accounts (seller_id, routing_number, account_last4, tax_id, status, created_at) \
         VALUES ($1, $2, $3, $4, 'verified', $5) ON CONFLICT (seller_id) DO UPDATE SET \
         routing_number = excluded.routing_number, account_last4 = excluded.account_last4, \
         tax_id = excluded.tax_id, status = 'verified'",
        &[Bind::text(&seller_id), Bind::text(routing), Bind::text(&last4), Bind::text(tax_id), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "seller_id": seller_id, "account_last4": last4, "status": "verified" }))
}

/// `remove_bank_account {seller_id}` → `{seller_id, removed}`: the compensation of the setup.
async fn remove_bank_account(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller_id = call.str("seller_id")?;
    let removed = tx
        .execute(
            "UPDATE sim_bank_accounts SET status = 'removed' WHERE seller_id = $1 AND status <> 'removed'",
            &[Bind::text(&seller_id)],
        )
        .await?;
    Ok(json!({ "seller_id": seller_id, "removed": removed == 1 }))
}

/// `initiate_transfer {payout_id, seller_id, amount_minor}` → `{payout_id, transfer_ref, status}`.
/// Needs a verified bank account (`no_bank_account` otherwise).
async fn initiate_transfer(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let payout_id = call.str("payout_id")?;
    let seller_id = call.str("seller_id")?;
    let amount = call.positive_amount("amount_minor")?;
    if let Some(row) = tx
        .fetch_optional(
            "SELECT seller_id, amount_minor, transfer_ref, status FROM sim_payouts WHERE id = $1",
            &[Bind::text(&payout_id)],
        )
        .await?
    {
        if row.text(0)? != seller_id || row.int(1)? != amount {
            return Err(SimError::rejected("payout_conflict", format!("{payout_id} was initiated with other terms")));
        }
        return Ok(json!({ "payout_id": payout_id, "transfer_ref": row.text(2)?, "status": row.text(3)? }));
    }
    let bank = tx
        .fetch_optional(
            "SELECT account_last4 FROM sim_bank_accounts WHERE seller_id = $1 AND status = 'verified'",
            &[Bind::text(&seller_id)],
        )
        .await?;
    if bank.is_none() {
        return Err(SimError::rejected("no_bank_account", format!("{seller_id} has no verified bank account")));
    }
    let transfer_ref = call.new_id("ach");
    tx.execute(
        "INSERT INTO sim_payouts (id, seller_id, amount_minor, transfer_ref, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'initiated', $5, $5)",
        &[
            Bind::text(&payout_id),
            Bind::text(&seller_id),
            Bind::Int(amount),
            Bind::text(&transfer_ref),
            Bind::Int(call.now_ms),
        ],
    )
    .await?;
    Ok(json!({ "payout_id": payout_id, "transfer_ref": transfer_ref, "status": "initiated" }))
}

async fn payout_status(tx: &mut SimTx, payout_id: &str) -> SimResult<Option<String>> {
    let row = tx.fetch_optional("SELECT status FROM sim_payouts WHERE id = $1", &[Bind::text(payout_id)]).await?;
    row.map(|row| row.text(0)).transpose().map_err(Into::into)
}

async fn set_payout_status(tx: &mut SimTx, payout_id: &str, status: &str, now_ms: i64) -> SimResult<()> {
    tx.execute(
        "UPDATE sim_payouts SET status = $1, updated_at = $2 WHERE id = $3",
        &[Bind::text(status), Bind::Int(now_ms), Bind::text(payout_id)],
    )
    .await?;
    Ok(())
}

/// `cancel_transfer {payout_id}` → `{payout_id, status}`: the compensation of `initiate_transfer`. A
/// no-op for an unknown payout (`status: "none"`); refused once completed (`transfer_completed`).
async fn cancel_transfer(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let payout_id = call.str("payout_id")?;
    match payout_status(tx, &payout_id).await?.as_deref() {
        None => Ok(json!({ "payout_id": payout_id, "status": "none" })),
        Some("completed") => Err(SimError::rejected("transfer_completed", format!("{payout_id} already completed"))),
        Some(_) => {
            set_payout_status(tx, &payout_id, "cancelled", call.now_ms).await?;
            Ok(json!({ "payout_id": payout_id, "status": "cancelled" }))
        }
    }
}

/// `complete_transfer {payout_id}` → `{payout_id, status: "completed"}`; refused for an unknown or
/// cancelled payout.
async fn complete_transfer(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let payout_id = call.str("payout_id")?;
    match payout_status(tx, &payout_id).await?.as_deref() {
        None => Err(SimError::rejected("unknown_payout", format!("{payout_id} was never initiated"))),
        Some("cancelled") => Err(SimError::rejected("transfer_cancelled", format!("{payout_id} was cancelled"))),
        Some(_) => {
            set_payout_status(tx, &payout_id, "completed", call.now_ms).await?;
            Ok(json!({ "payout_id": payout_id, "status": "completed" }))
        }
    }
}
