//! The `campaigns` service (campaigns and bidding): buyers' campaigns and their bid criteria. The
//! `routing` service reads these tables to pick a buyer for a call.
//!
//! A campaign is `draft` until activated; `delete_campaign` is the compensation of creation.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "campaigns";

/// Its actions.
pub const ACTIONS: &[&str] =
    &["create_campaign", "configure_bids", "activate_campaign", "pause_campaign", "delete_campaign"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "create_campaign" => create(tx, call).await,
            "configure_bids" => configure_bids(tx, call).await,
            // `activate_campaign {campaign_id}` → `{campaign_id, status: "active"}`; needs bids.
            "activate_campaign" => set_status(tx, call, "active").await,
            // `pause_campaign {campaign_id}` → `{campaign_id, status: "paused"}`.
            "pause_campaign" => set_status(tx, call, "paused").await,
            // `delete_campaign {campaign_id}` → `{campaign_id, status}` (`none` when unknown).
            "delete_campaign" => set_status(tx, call, "deleted").await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a campaigns action"))),
        }
    })
}

async fn status(tx: &mut SimTx, id: &str) -> SimResult<Option<String>> {
    let row = tx.fetch_optional("SELECT status FROM sim_campaigns WHERE id = $1", &[Bind::text(id)]).await?;
    Ok(row.map(|row| row.text(0)).transpose()?)
}

/// `create_campaign {campaign_id, buyer_id, name, daily_budget_minor}` → `{campaign_id, status: "draft"}`.
async fn create(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("campaign_id")?;
    let buyer = call.str("buyer_id")?;
    let name = call.str("name")?;
    let budget = call.positive_amount("daily_budget_minor")?;
    if status(tx, &id).await?.is_some() {
        return Err(SimError::rejected("campaign_exists", format!("{id} already exists")));
    }
    tx.execute(
        "INSERT INTO sim_campaigns (id, buyer_id, name, daily_budget_minor, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'draft', $5, $5)",
        &[Bind::text(&id), Bind::text(buyer), Bind::text(name), Bind::Int(budget), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "campaign_id": id, "status": "draft" }))
}

/// `configure_bids {campaign_id, vertical, region? ("*" = any), bid_minor, min_duration_s?}` →
/// `{campaign_id, bid_minor}`.
async fn configure_bids(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("campaign_id")?;
    let vertical = call.str("vertical")?;
    let region = call.opt_str("region")?.unwrap_or_else(|| "*".into());
    let bid = call.positive_amount("bid_minor")?;
    let min_duration = call.count_or("min_duration_s", 0)?;
    match status(tx, &id).await?.as_deref() {
        None | Some("deleted") => return Err(SimError::rejected("unknown_campaign", format!("no campaign {id}"))),
        Some(_) => {}
    }
    tx.execute(
        "INSERT INTO sim_bids (campaign_id, vertical, region, bid_minor, min_duration_s, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (campaign_id) DO UPDATE SET vertical = excluded.vertical, region = excluded.region, \
         bid_minor = excluded.bid_minor, min_duration_s = excluded.min_duration_s, updated_at = excluded.updated_at",
        &[Bind::text(&id), Bind::text(&vertical), Bind::text(&region), Bind::Int(bid), Bind::Int(min_duration), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "campaign_id": id, "vertical": vertical, "region": region, "bid_minor": bid }))
}

async fn set_status(tx: &mut SimTx, call: &Call<'_>, to: &str) -> SimResult {
    let id = call.str("campaign_id")?;
    match status(tx, &id).await?.as_deref() {
        None if to == "deleted" => return Ok(json!({ "campaign_id": id, "status": "none" })),
        None => return Err(SimError::rejected("unknown_campaign", format!("no campaign {id}"))),
        Some("deleted") if to != "deleted" => {
            return Err(SimError::rejected("campaign_deleted", format!("{id} was deleted")))
        }
        Some(_) => {}
    }
    if to == "active" {
        let bids =
            tx.fetch_optional("SELECT bid_minor FROM sim_bids WHERE campaign_id = $1", &[Bind::text(&id)]).await?;
        if bids.is_none() {
            return Err(SimError::rejected("no_bids", format!("{id} has no bid criteria")));
        }
    }
    tx.execute(
        "UPDATE sim_campaigns SET status = $1, updated_at = $2 WHERE id = $3",
        &[Bind::text(to), Bind::Int(call.now_ms), Bind::text(&id)],
    )
    .await?;
    Ok(json!({ "campaign_id": id, "status": to }))
}
