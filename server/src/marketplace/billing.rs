//! The `billing` service (metering): one meter per call, started when the call connects, stopped with
//! the call's duration, rated into a charge in minor units, or cancelled by the call's compensation.
//!
//! Calls are billed per second at a per-minute rate, rounded up to the next minor unit:
//! `charge = ceil(duration_s × rate_minor / 60)`, in integers. Posting the charge is the ledger's job
//! (`ledger.record_charge`).

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "billing";

/// Its actions.
pub const ACTIONS: &[&str] = &["start_meter", "stop_meter", "cancel_meter", "calculate_charge"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "start_meter" => start_meter(tx, call).await,
            "stop_meter" => stop_meter(tx, call).await,
            "cancel_meter" => cancel_meter(tx, call).await,
            "calculate_charge" => calculate_charge(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a billing action"))),
        }
    })
}

/// The charge for `duration_s` seconds at `rate_minor` per minute, rounded up.
pub fn charge_for(duration_s: i64, rate_minor: i64) -> i64 {
    (duration_s * rate_minor + 59) / 60
}

async fn meter_status(tx: &mut SimTx, call_id: &str) -> SimResult<Option<String>> {
    let row = tx.fetch_optional("SELECT status FROM sim_meters WHERE call_id = $1", &[Bind::text(call_id)]).await?;
    Ok(row.map(|row| row.text(0)).transpose()?)
}

/// `start_meter {call_id, buyer_id, seller_id, rate_minor}` → `{call_id, status: "running"}`. One
/// meter per call (`meter_exists` for a second one).
async fn start_meter(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let buyer_id = call.str("buyer_id")?;
    let seller_id = call.str("seller_id")?;
    let rate = call.positive_amount("rate_minor")?;
    if meter_status(tx, &call_id).await?.is_some() {
        return Err(SimError::rejected("meter_exists", format!("call {call_id} already has a meter")));
    }
    tx.execute(
        "INSERT INTO sim_meters (call_id, buyer_id, seller_id, rate_minor, status, started_at) \
         VALUES ($1, $2, $3, $4, 'running', $5)",
        &[Bind::text(&call_id), Bind::text(buyer_id), Bind::text(seller_id), Bind::Int(rate), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "call_id": call_id, "status": "running", "rate_minor": rate }))
}

/// `stop_meter {call_id, duration_s}` → `{call_id, duration_s, status: "stopped"}`.
async fn stop_meter(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let duration = call.amount("duration_s")?;
    match meter_status(tx, &call_id).await?.as_deref() {
        Some("running") => {}
        Some(status) => return Err(SimError::rejected("meter_not_running", format!("meter of {call_id} is {status}"))),
        None => return Err(SimError::rejected("no_meter", format!("call {call_id} has no meter"))),
    }
    tx.execute(
        "UPDATE sim_meters SET status = 'stopped', stopped_at = $1, duration_s = $2 WHERE call_id = $3",
        &[Bind::Int(call.now_ms), Bind::Int(duration), Bind::text(&call_id)],
    )
    .await?;
    Ok(json!({ "call_id": call_id, "duration_s": duration, "status": "stopped" }))
}

/// `cancel_meter {call_id}` → `{call_id, status}`: the compensation of `start_meter`; nothing is
/// billed. A no-op for a call without a meter (`status: "none"`).
async fn cancel_meter(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let status = meter_status(tx, &call_id).await?;
    if status.is_none() {
        return Ok(json!({ "call_id": call_id, "status": "none" }));
    }
    tx.execute(
        "UPDATE sim_meters SET status = 'cancelled', charge_minor = NULL WHERE call_id = $1",
        &[Bind::text(&call_id)],
    )
    .await?;
    Ok(json!({ "call_id": call_id, "status": "cancelled" }))
}

/// `calculate_charge {call_id}` → `{call_id, buyer_id, seller_id, duration_s, rate_minor,
/// charge_minor}` for a stopped meter (`meter_not_stopped` otherwise).
async fn calculate_charge(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let row = tx
        .fetch_optional(
            "SELECT buyer_id, seller_id, rate_minor, status, duration_s FROM sim_meters WHERE call_id = $1",
            &[Bind::text(&call_id)],
        )
        .await?
        .ok_or_else(|| SimError::rejected("no_meter", format!("call {call_id} has no meter")))?;
    let (rate, status, duration) = (row.int(2)?, row.text(3)?, row.int(4)?);
    if status != "stopped" && status != "rated" {
        return Err(SimError::rejected("meter_not_stopped", format!("meter of {call_id} is {status}")));
    }
    let charge = charge_for(duration, rate);
    tx.execute(
        "UPDATE sim_meters SET status = 'rated', charge_minor = $1 WHERE call_id = $2",
        &[Bind::Int(charge), Bind::text(&call_id)],
    )
    .await?;
    Ok(json!({
        "call_id": call_id, "buyer_id": row.text(0)?, "seller_id": row.text(1)?,
        "duration_s": duration, "rate_minor": rate, "charge_minor": charge,
    }))
}
