//! The `accounts` service: buyer and seller accounts and their status (`pending` → `active` ⇄
//! `suspended`, and `closed` from any of them).

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "accounts";

/// Its actions.
pub const ACTIONS: &[&str] = &["register_buyer", "register_seller", "activate", "suspend", "close_account"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            // `register_buyer {buyer_id, name, email}` → `{account_id, kind, status: "pending"}`.
            "register_buyer" => register(tx, call, "buyer_id", "name", "buyer").await,
            // `register_seller {seller_id, business_name, email}` → the same for a seller.
            "register_seller" => register(tx, call, "seller_id", "business_name", "seller").await,
            // `activate {account_id}` → `{account_id, status: "active"}`.
            "activate" => transition(tx, call, "active", &["pending", "suspended", "active"]).await,
            // `suspend {account_id, reason}` → `{account_id, status: "suspended"}`.
            "suspend" => transition(tx, call, "suspended", &["active", "pending", "suspended"]).await,
            // `close_account {account_id}` → `{account_id, status: "closed"}` (the compensation of
            // registration; a no-op for an unknown account, `status: "none"`).
            "close_account" => transition(tx, call, "closed", &["pending", "active", "suspended", "closed"]).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not an accounts action"))),
        }
    })
}

async fn register(tx: &mut SimTx, call: &Call<'_>, id_field: &str, name_field: &str, kind: &str) -> SimResult {
    let id = call.str(id_field)?;
    let name = call.str(name_field)?;
    let email = call.str("email")?;
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(SimError::invalid("email", "must be an email address"));
    }
    let inserted = tx
        .execute(
            "INSERT INTO sim_accounts (id, kind, name, email, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT (id) DO NOTHING",
            &[Bind::text(&id), Bind::text(kind), Bind::text(name), Bind::text(email), Bind::Int(call.now_ms)],
        )
        .await?;
    if inserted == 0 {
        return Err(SimError::rejected("already_registered", format!("{kind} {id} is already registered")));
    }
    Ok(json!({ "account_id": id, "kind": kind, "status": "pending" }))
}

async fn transition(tx: &mut SimTx, call: &Call<'_>, to: &str, from: &[&str]) -> SimResult {
    let id = call.str("account_id")?;
    let reason = call.opt_str("reason")?;
    if to == "suspended" && reason.is_none() {
        return Err(SimError::invalid("reason", "is required"));
    }
    let row = tx.fetch_optional("SELECT status FROM sim_accounts WHERE id = $1", &[Bind::text(&id)]).await?;
    let Some(row) = row else {
        if to == "closed" {
            return Ok(json!({ "account_id": id, "status": "none" }));
        }
        return Err(SimError::rejected("unknown_account", format!("no account {id}")));
    };
    let status = row.text(0)?;
    if !from.contains(&status.as_str()) {
        return Err(SimError::rejected("invalid_status", format!("account {id} is {status}, cannot become {to}")));
    }
    tx.execute(
        "UPDATE sim_accounts SET status = $1, reason = $2, updated_at = $3 WHERE id = $4",
        &[Bind::text(to), Bind::opt_text(reason), Bind::Int(call.now_ms), Bind::text(&id)],
    )
    .await?;
    Ok(json!({ "account_id": id, "status": to }))
}
