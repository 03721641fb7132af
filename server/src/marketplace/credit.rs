//! The `credit` service: credit checks and credit limits for buyers.
//!
//! The score is `score` from the input, or derived from the buyer id (300–849, stable); a score below
//! `min_score` (default 600) is denied with `credit_denied`. The recommended limit grows with the score.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{stable_hash, Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "credit";

/// Its actions.
pub const ACTIONS: &[&str] = &["check_credit", "set_credit_limit", "remove_credit_limit"];

/// The minimum score approved when the input names none.
pub const DEFAULT_MIN_SCORE: i64 = 600;

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "check_credit" => check_credit(tx, call).await,
            "set_credit_limit" => set_credit_limit(tx, call).await,
            "remove_credit_limit" => remove_credit_limit(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a credit action"))),
        }
    })
}

/// `check_credit {buyer_id, score?, min_score?}` → `{check_id, buyer_id, score, approved: true,
/// recommended_limit_minor}`; `credit_denied` below the minimum.
async fn check_credit(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let buyer_id = call.str("buyer_id")?;
    let score = match call.opt_int("score")? {
        Some(score) if !(300..=850).contains(&score) => return Err(SimError::invalid("score", "must be 300–850")),
        Some(score) => score,
        None => 300 + stable_hash(&buyer_id, 550),
    };
    let min_score = call.count_or("min_score", DEFAULT_MIN_SCORE)?;
    if score < min_score {
        return Err(SimError::rejected("credit_denied", format!("{buyer_id} scored {score}, below {min_score}")));
    }
    let id = call.new_id("chk");
    tx.execute(
        "INSERT INTO sim_credit_checks (id, buyer_id, score, min_score, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[Bind::text(&id), Bind::text(&buyer_id), Bind::Int(score), Bind::Int(min_score), Bind::Int(call.now_ms)],
    )
    .await?;
    // 1,000.00 per 50 points above the minimum, at least 1,000.00.
    let limit = 100_000 * (1 + (score - min_score) / 50);
    Ok(
        json!({ "check_id": id, "buyer_id": buyer_id, "score": score, "approved": true, "recommended_limit_minor": limit }),
    )
}

/// `set_credit_limit {buyer_id, limit_minor}` → `{buyer_id, limit_minor, status: "active"}`.
async fn set_credit_limit(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let buyer_id = call.str("buyer_id")?;
    let limit = call.amount("limit_minor")?;
    tx.execute(
        "INSERT INTO sim_credit_limits (buyer_id, limit_minor, status, updated_at) VALUES ($1, $2, 'active', $3) \
         ON CONFLICT (buyer_id) DO UPDATE SET limit_minor = excluded.limit_minor, status = 'active', updated_at = excluded.updated_at",
        &[Bind::text(&buyer_id), Bind::Int(limit), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "buyer_id": buyer_id, "limit_minor": limit, "status": "active" }))
}

/// `remove_credit_limit {buyer_id}` → `{buyer_id, removed}`: the compensation of `set_credit_limit`.
async fn remove_credit_limit(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let buyer_id = call.str("buyer_id")?;
    let removed = tx
        .execute(
            "UPDATE sim_credit_limits SET status = 'removed', updated_at = $1 WHERE buyer_id = $2 AND status = 'active'",
            &[Bind::Int(call.now_ms), Bind::text(&buyer_id)],
        )
        .await?;
    Ok(json!({ "buyer_id": buyer_id, "removed": removed == 1 }))
}
