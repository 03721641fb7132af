//! The `disputes` service: quality and billing disputes, from submission through automatic review by
//! rules, investigation and decision, with an audit trail. The credit itself is booked by
//! `ledger.issue_credit`.
//!
//! Automatic review rules: a dispute of at most 50.00 with evidence is approved at once (`simple`); a
//! dispute without evidence is denied at once (`simple`); anything else is `complex` and goes to manual
//! review.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "disputes";

/// Its actions.
pub const ACTIONS: &[&str] = &["submit_dispute", "auto_review", "investigate", "resolve_dispute", "record_audit"];

/// Disputes up to this amount (minor units) with evidence are approved automatically.
pub const AUTO_APPROVE_LIMIT_MINOR: i64 = 5_000;

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "submit_dispute" => submit(tx, call).await,
            "auto_review" => auto_review(tx, call).await,
            "investigate" => investigate(tx, call).await,
            "resolve_dispute" => resolve(tx, call).await,
            "record_audit" => record_audit(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a disputes action"))),
        }
    })
}

/// `(status, amount, evidence)` of a dispute, or `unknown_dispute`.
async fn load(tx: &mut SimTx, id: &str) -> SimResult<(String, i64, String)> {
    let row = tx
        .fetch_optional("SELECT status, amount_minor, evidence FROM sim_disputes WHERE id = $1", &[Bind::text(id)])
        .await?
        .ok_or_else(|| SimError::rejected("unknown_dispute", format!("no dispute {id}")))?;
    Ok((row.text(0)?, row.int(1)?, row.text(2)?))
}

async fn set_status(tx: &mut SimTx, id: &str, status: &str, decision: Option<String>, now_ms: i64) -> SimResult<()> {
    tx.execute(
        "UPDATE sim_disputes SET status = $1, decision = COALESCE($2, decision), updated_at = $3 WHERE id = $4",
        &[Bind::text(status), Bind::opt_text(decision), Bind::Int(now_ms), Bind::text(id)],
    )
    .await?;
    Ok(())
}

/// `submit_dispute {dispute_id, call_id, buyer_id, seller_id, amount_minor, reason, evidence?}` →
/// `{dispute_id, status: "submitted"}`.
async fn submit(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("dispute_id")?;
    let call_id = call.str("call_id")?;
    let buyer = call.str("buyer_id")?;
    let seller = call.str("seller_id")?;
    let amount = call.positive_amount("amount_minor")?;
    let reason = call.str("reason")?;
    let evidence = call.opt_str("evidence")?.unwrap_or_default();
    let inserted = tx
        .execute(
            "INSERT INTO sim_disputes (id, call_id, buyer_id, seller_id, amount_minor, reason, evidence, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'submitted', $8, $8) ON CONFLICT (id) DO NOTHING",
            &[
                Bind::text(&id),
                Bind::text(call_id),
                Bind::text(buyer),
                Bind::text(seller),
                Bind::Int(amount),
                Bind::text(reason),
                Bind::text(evidence),
                Bind::Int(call.now_ms),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(SimError::rejected("dispute_exists", format!("{id} was already submitted")));
    }
    Ok(json!({ "dispute_id": id, "status": "submitted" }))
}

/// `auto_review {dispute_id}` → `{dispute_id, complexity: "simple" | "complex", recommendation:
/// "approve" | "deny" | "manual_review", status}`.
async fn auto_review(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("dispute_id")?;
    let (status, amount, evidence) = load(tx, &id).await?;
    if status != "submitted" {
        return Err(SimError::rejected("invalid_status", format!("{id} is {status}")));
    }
    let (complexity, recommendation, next) = if evidence.is_empty() {
        ("simple", "deny", "submitted")
    } else if amount <= AUTO_APPROVE_LIMIT_MINOR {
        ("simple", "approve", "submitted")
    } else {
        ("complex", "manual_review", "manual_review")
    };
    set_status(tx, &id, next, None, call.now_ms).await?;
    Ok(
        json!({ "dispute_id": id, "complexity": complexity, "recommendation": recommendation, "amount_minor": amount, "status": next }),
    )
}

/// `investigate {dispute_id, findings}` → `{dispute_id, status: "investigating"}` (call recordings
/// reviewed).
async fn investigate(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("dispute_id")?;
    let findings = call.str("findings")?;
    let (status, _, _) = load(tx, &id).await?;
    if !matches!(status.as_str(), "submitted" | "manual_review" | "investigating") {
        return Err(SimError::rejected("invalid_status", format!("{id} is {status}")));
    }
    set_status(tx, &id, "investigating", Some(findings), call.now_ms).await?;
    Ok(json!({ "dispute_id": id, "status": "investigating" }))
}

/// `resolve_dispute {dispute_id, decision: approved|denied, reason}` → `{dispute_id, status,
/// amount_minor}`. Resolving twice with the same decision is a no-op; a different one is refused.
async fn resolve(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("dispute_id")?;
    let decision = call.str("decision")?;
    if decision != "approved" && decision != "denied" {
        return Err(SimError::invalid("decision", "must be `approved` or `denied`"));
    }
    let reason = call.str("reason")?;
    let (status, amount, _) = load(tx, &id).await?;
    if status == decision {
        return Ok(json!({ "dispute_id": id, "status": status, "amount_minor": amount }));
    }
    if status == "approved" || status == "denied" {
        return Err(SimError::rejected("already_resolved", format!("{id} was {status}")));
    }
    set_status(tx, &id, &decision, Some(reason), call.now_ms).await?;
    Ok(json!({ "dispute_id": id, "status": decision, "amount_minor": amount }))
}

/// `record_audit {subject_id, event, detail?}` → `{audit_id}`.
async fn record_audit(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let subject = call.str("subject_id")?;
    let event = call.str("event")?;
    let detail = call.opt_str("detail")?.unwrap_or_default();
    let id = call.new_id("aud");
    tx.execute(
        "INSERT INTO sim_audit (id, subject_id, event, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[Bind::text(&id), Bind::text(subject), Bind::text(event), Bind::text(detail), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "audit_id": id }))
}
