//! The `routing` service: real-time bid matching. `find_buyer` picks the active campaign with the
//! highest bid for the call's vertical and region (ties: lowest campaign id) and reserves that buyer
//! for the call; `route_call` confirms it; `release_reservation` is the compensation.
//!
//! It reads the `campaigns` service's tables (campaigns and bids are the bidding side of one domain)
//! and owns `sim_reservations`.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "routing";

/// Its actions.
pub const ACTIONS: &[&str] = &["find_buyer", "route_call", "release_reservation"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "find_buyer" => find_buyer(tx, call).await,
            "route_call" => route_call(tx, call).await,
            "release_reservation" => release(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a routing action"))),
        }
    })
}

/// `find_buyer {call_id, vertical, region}` → `{call_id, buyer_id, campaign_id, bid_minor, status:
/// "reserved"}`; `no_buyer` when no active campaign bids on the call. One reservation per call.
async fn find_buyer(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let vertical = call.str("vertical")?;
    let region = call.str("region")?;
    if let Some(row) = tx
        .fetch_optional(
            "SELECT buyer_id, campaign_id, bid_minor, status FROM sim_reservations WHERE call_id = $1",
            &[Bind::text(&call_id)],
        )
        .await?
    {
        return Ok(json!({
            "call_id": call_id, "buyer_id": row.text(0)?, "campaign_id": row.text(1)?,
            "bid_minor": row.int(2)?, "status": row.text(3)?,
        }));
    }
    let best = tx
        .fetch_optional(
            "SELECT c.buyer_id, c.id, b.bid_minor FROM sim_campaigns c JOIN sim_bids b ON b.campaign_id = c.id \
             WHERE c.status = 'active' AND b.vertical = $1 AND (b.region = $2 OR b.region = '*') \
             ORDER BY b.bid_minor DESC, c.id ASC LIMIT 1",
            &[Bind::text(&vertical), Bind::text(&region)],
        )
        .await?
        .ok_or_else(|| SimError::rejected("no_buyer", format!("no active bid for {vertical} in {region}")))?;
    let (buyer, campaign, bid) = (best.text(0)?, best.text(1)?, best.int(2)?);
    tx.execute(
        "INSERT INTO sim_reservations (call_id, campaign_id, buyer_id, bid_minor, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'reserved', $5, $5)",
        &[Bind::text(&call_id), Bind::text(&campaign), Bind::text(&buyer), Bind::Int(bid), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(
        json!({ "call_id": call_id, "buyer_id": buyer, "campaign_id": campaign, "bid_minor": bid, "status": "reserved" }),
    )
}

async fn reservation_status(tx: &mut SimTx, call_id: &str) -> SimResult<Option<String>> {
    let row =
        tx.fetch_optional("SELECT status FROM sim_reservations WHERE call_id = $1", &[Bind::text(call_id)]).await?;
    Ok(row.map(|row| row.text(0)).transpose()?)
}

/// `route_call {call_id}` → `{call_id, status: "routed"}`; needs a live reservation.
async fn route_call(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    match reservation_status(tx, &call_id).await?.as_deref() {
        Some("reserved" | "routed") => {}
        Some(other) => return Err(SimError::rejected("reservation_released", format!("{call_id} is {other}"))),
        None => return Err(SimError::rejected("no_reservation", format!("no buyer reserved for {call_id}"))),
    }
    tx.execute(
        "UPDATE sim_reservations SET status = 'routed', updated_at = $1 WHERE call_id = $2",
        &[Bind::Int(call.now_ms), Bind::text(&call_id)],
    )
    .await?;
    Ok(json!({ "call_id": call_id, "status": "routed" }))
}

/// `release_reservation {call_id}` → `{call_id, released}`: the compensation of `find_buyer`.
async fn release(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let released = tx
        .execute(
            "UPDATE sim_reservations SET status = 'released', updated_at = $1 WHERE call_id = $2 AND status <> 'released'",
            &[Bind::Int(call.now_ms), Bind::text(&call_id)],
        )
        .await?;
    Ok(json!({ "call_id": call_id, "released": released == 1 }))
}
