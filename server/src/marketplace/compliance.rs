//! The `compliance` service: TCPA and licence screening of sellers, and the record of the human
//! compliance review's decision.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "compliance";

/// Its actions.
pub const ACTIONS: &[&str] = &["screen_seller", "record_review"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "screen_seller" => screen_seller(tx, call).await,
            "record_review" => record_review(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a compliance action"))),
        }
    })
}

async fn record(
    tx: &mut SimTx,
    call: &Call<'_>,
    subject: &str,
    kind: &str,
    status: &str,
    detail: &str,
) -> SimResult<String> {
    let id = call.new_id("cmp");
    tx.execute(
        "INSERT INTO sim_compliance (id, subject_id, kind, status, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            Bind::text(&id),
            Bind::text(subject),
            Bind::text(kind),
            Bind::text(status),
            Bind::text(detail),
            Bind::Int(call.now_ms),
        ],
    )
    .await?;
    Ok(id)
}

/// `screen_seller {seller_id, tcpa_consent: bool, license_number?}` → `{check_id, status: "clear" |
/// "needs_review", issues: [..]}`. No TCPA consent is refused outright (`compliance_failed`); a
/// missing licence needs a human review.
async fn screen_seller(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller_id = call.str("seller_id")?;
    let consent = call.bool_or("tcpa_consent", false)?;
    let license = call.opt_str("license_number")?;
    if !consent {
        return Err(SimError::rejected("compliance_failed", format!("{seller_id} has no TCPA consent on record")));
    }
    let issues: Vec<&str> = if license.is_none() { vec!["no licence number"] } else { Vec::new() };
    let status = if issues.is_empty() { "clear" } else { "needs_review" };
    let id = record(tx, call, &seller_id, "screening", status, &issues.join("; ")).await?;
    Ok(json!({ "check_id": id, "seller_id": seller_id, "status": status, "issues": issues }))
}

/// `record_review {seller_id, decision: approved|rejected, reviewer, reason?}` → `{check_id, status}`.
async fn record_review(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller_id = call.str("seller_id")?;
    let decision = call.str("decision")?;
    if decision != "approved" && decision != "rejected" {
        return Err(SimError::invalid("decision", "must be `approved` or `rejected`"));
    }
    let reviewer = call.str("reviewer")?;
    let detail = format!("{reviewer}: {}", call.opt_str("reason")?.unwrap_or_default());
    let id = record(tx, call, &seller_id, "review", &decision, &detail).await?;
    Ok(json!({ "check_id": id, "seller_id": seller_id, "status": decision }))
}
