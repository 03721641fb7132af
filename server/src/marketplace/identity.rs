//! The `identity` service: KYC for buyers and business verification for sellers.
//!
//! Deterministic rule, so workflows can take the failure branch on purpose: a `document_id` or
//! `tax_id` starting with `FAIL` fails verification (`verification_failed`, a permanent error recorded
//! under the idempotency key). Successful verifications are kept in `sim_verifications`.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "identity";

/// Its actions.
pub const ACTIONS: &[&str] = &["verify_identity", "verify_business"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            // `verify_identity {buyer_id, name, document_id}` → `{verification_id, subject_id, status}`.
            "verify_identity" => verify(tx, call, "buyer_id", "document_id", "person").await,
            // `verify_business {seller_id, business_name, tax_id}` → the same.
            "verify_business" => verify(tx, call, "seller_id", "tax_id", "business").await,
            other => Err(SimError::invalid("action", format!("`{other}` is not an identity action"))),
        }
    })
}

async fn verify(tx: &mut SimTx, call: &Call<'_>, subject: &str, document: &str, kind: &str) -> SimResult {
    let subject_id = call.str(subject)?;
    let document_id = call.str(document)?;
    call.str(if kind == "person" { "name" } else { "business_name" })?;
    if document_id.to_ascii_uppercase().starts_with("FAIL") {
        return Err(SimError::rejected(
            "verification_failed",
            format!("{kind} {subject_id}: {document} {document_id} could not be verified"),
        ));
    }
    let id = call.new_id("ver");
    tx.execute(
        "INSERT INTO sim_verifications (id, subject_id, kind, status, created_at) VALUES ($1, $2, $3, 'verified', $4)",
        &[Bind::text(&id), Bind::text(&subject_id), Bind::text(kind), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "verification_id": id, "subject_id": subject_id, "status": "verified" }))
}
