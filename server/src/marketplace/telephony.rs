//! The `telephony` service: call validation, connection, duration and disconnection, and sellers'
//! technical integration and test calls.
//!
//! Deterministic rules: a caller number must look like E.164 (`+` and 8–15 digits); a number ending in
//! `0000` is blocked (`caller_blocked`); a test call to a number ending in `0000` fails
//! (`test_call_failed`). A call's duration is `duration_s` from the input or derived from the call id
//! (30–599 s).

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{stable_hash, Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "telephony";

/// Its actions.
pub const ACTIONS: &[&str] = &[
    "validate_call",
    "connect",
    "track_duration",
    "disconnect",
    "provision_integration",
    "remove_integration",
    "test_call",
];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "validate_call" => validate_call(tx, call).await,
            "connect" => connect(tx, call).await,
            "track_duration" => track_duration(tx, call).await,
            "disconnect" => disconnect(tx, call).await,
            "provision_integration" => provision(tx, call).await,
            "remove_integration" => remove_integration(tx, call).await,
            "test_call" => test_call(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a telephony action"))),
        }
    })
}

fn phone(call: &Call<'_>, field: &str) -> SimResult<String> {
    let number = call.str(field)?;
    let digits = number.strip_prefix('+').unwrap_or_default();
    if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(SimError::invalid(field, "must be an E.164 number like +14155550123"));
    }
    Ok(number)
}

async fn connection_status(tx: &mut SimTx, call_id: &str) -> SimResult<Option<String>> {
    let row =
        tx.fetch_optional("SELECT status FROM sim_connections WHERE call_id = $1", &[Bind::text(call_id)]).await?;
    Ok(row.map(|row| row.text(0)).transpose()?)
}

/// `validate_call {call_id, caller_number, seller_id}` → `{call_id, status: "validated"}`.
async fn validate_call(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let number = phone(call, "caller_number")?;
    let seller = call.str("seller_id")?;
    if number.ends_with("0000") {
        return Err(SimError::rejected("caller_blocked", format!("{number} is on the block list")));
    }
    if connection_status(tx, &call_id).await?.is_some() {
        return Err(SimError::rejected("call_exists", format!("call {call_id} was already validated")));
    }
    tx.execute(
        "INSERT INTO sim_connections (call_id, seller_id, caller_number, status, created_at) VALUES ($1, $2, $3, 'validated', $4)",
        &[Bind::text(&call_id), Bind::text(seller), Bind::text(number), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "call_id": call_id, "status": "validated" }))
}

/// `connect {call_id, buyer_id}` → `{call_id, buyer_id, status: "connected"}`.
async fn connect(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let buyer = call.str("buyer_id")?;
    match connection_status(tx, &call_id).await?.as_deref() {
        Some("validated") => {}
        Some(other) => return Err(SimError::rejected("invalid_status", format!("call {call_id} is {other}"))),
        None => return Err(SimError::rejected("unknown_call", format!("call {call_id} was not validated"))),
    }
    tx.execute(
        "UPDATE sim_connections SET status = 'connected', buyer_id = $1, connected_at = $2 WHERE call_id = $3",
        &[Bind::text(&buyer), Bind::Int(call.now_ms), Bind::text(&call_id)],
    )
    .await?;
    Ok(json!({ "call_id": call_id, "buyer_id": buyer, "status": "connected" }))
}

/// `track_duration {call_id, duration_s?}` → `{call_id, duration_s, status: "completed"}`: the call
/// ended normally.
async fn track_duration(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let duration = match call.opt_int("duration_s")? {
        Some(d) if d < 0 => return Err(SimError::invalid("duration_s", "must not be negative")),
        Some(d) => d,
        None => 30 + stable_hash(&call_id, 570),
    };
    match connection_status(tx, &call_id).await?.as_deref() {
        Some("connected") => {}
        Some(other) => return Err(SimError::rejected("invalid_status", format!("call {call_id} is {other}"))),
        None => return Err(SimError::rejected("unknown_call", format!("no call {call_id}"))),
    }
    tx.execute(
        "UPDATE sim_connections SET status = 'completed', duration_s = $1, ended_at = $2 WHERE call_id = $3",
        &[Bind::Int(duration), Bind::Int(call.now_ms), Bind::text(&call_id)],
    )
    .await?;
    Ok(json!({ "call_id": call_id, "duration_s": duration, "status": "completed" }))
}

/// `disconnect {call_id}` → `{call_id, status}`: the compensation of `connect` (`none` for an unknown
/// call; a completed call stays completed).
async fn disconnect(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let status = match connection_status(tx, &call_id).await? {
        None => "none".to_string(),
        Some(done) if done == "completed" || done == "disconnected" => done,
        Some(_) => {
            tx.execute(
                "UPDATE sim_connections SET status = 'disconnected', ended_at = $1 WHERE call_id = $2",
                &[Bind::Int(call.now_ms), Bind::text(&call_id)],
            )
            .await?;
            "disconnected".to_string()
        }
    };
    Ok(json!({ "call_id": call_id, "status": status }))
}

/// `provision_integration {seller_id, endpoint (https URL)}` → `{seller_id, status: "provisioned"}`.
async fn provision(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller = call.str("seller_id")?;
    let endpoint = call.str("endpoint")?;
    if !endpoint.starts_with("https://") {
        return Err(SimError::invalid("endpoint", "must be an https:// URL"));
    }
    tx.execute(
        "INSERT INTO sim_integrations (seller_id, endpoint, status, created_at) VALUES ($1, $2, 'provisioned', $3) \
         ON CONFLICT (seller_id) DO UPDATE SET endpoint = excluded.endpoint, status = 'provisioned'",
        &[Bind::text(&seller), Bind::text(endpoint), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "seller_id": seller, "status": "provisioned" }))
}

/// `remove_integration {seller_id}` → `{seller_id, removed}`: the compensation.
async fn remove_integration(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller = call.str("seller_id")?;
    let removed = tx
        .execute(
            "UPDATE sim_integrations SET status = 'removed' WHERE seller_id = $1 AND status <> 'removed'",
            &[Bind::text(&seller)],
        )
        .await?;
    Ok(json!({ "seller_id": seller, "removed": removed == 1 }))
}

/// `test_call {seller_id, number}` → `{test_call_id, passed: true}`; needs a provisioned integration.
async fn test_call(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller = call.str("seller_id")?;
    let number = phone(call, "number")?;
    let integration = tx
        .fetch_optional(
            "SELECT endpoint FROM sim_integrations WHERE seller_id = $1 AND status = 'provisioned'",
            &[Bind::text(&seller)],
        )
        .await?;
    if integration.is_none() {
        return Err(SimError::rejected("no_integration", format!("{seller} has no provisioned integration")));
    }
    if number.ends_with("0000") {
        return Err(SimError::rejected("test_call_failed", format!("test call to {number} got no answer")));
    }
    let id = call.new_id("tst");
    tx.execute(
        "INSERT INTO sim_test_calls (id, seller_id, number, passed, created_at) VALUES ($1, $2, $3, 1, $4)",
        &[Bind::text(&id), Bind::text(&seller), Bind::text(number), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "test_call_id": id, "seller_id": seller, "passed": true }))
}
