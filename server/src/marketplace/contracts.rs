//! The `contracts` service: seller contracts, `drafted` → `signed`, or `voided` (the compensation).

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "contracts";

/// Its actions.
pub const ACTIONS: &[&str] = &["draft_contract", "sign_contract", "void_contract"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "draft_contract" => draft(tx, call).await,
            "sign_contract" => sign(tx, call).await,
            "void_contract" => void(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a contracts action"))),
        }
    })
}

async fn status(tx: &mut SimTx, contract_id: &str) -> SimResult<Option<String>> {
    let row = tx.fetch_optional("SELECT status FROM sim_contracts WHERE id = $1", &[Bind::text(contract_id)]).await?;
    Ok(row.map(|row| row.text(0)).transpose()?)
}

/// `draft_contract {contract_id, party_id, revenue_share_bp}` → `{contract_id, status: "drafted"}`.
async fn draft(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("contract_id")?;
    let party = call.str("party_id")?;
    let share = call.amount("revenue_share_bp")?;
    if share > 10_000 {
        return Err(SimError::invalid("revenue_share_bp", "must be at most 10000"));
    }
    if status(tx, &id).await?.is_some() {
        return Err(SimError::rejected("contract_exists", format!("{id} already exists")));
    }
    tx.execute(
        "INSERT INTO sim_contracts (id, party_id, revenue_share_bp, status, created_at, updated_at) VALUES ($1, $2, $3, 'drafted', $4, $4)",
        &[Bind::text(&id), Bind::text(party), Bind::Int(share), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "contract_id": id, "status": "drafted" }))
}

/// `sign_contract {contract_id, signer}` → `{contract_id, status: "signed"}`. A signer containing
/// `decline` refuses to sign (`signature_declined`).
async fn sign(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("contract_id")?;
    let signer = call.str("signer")?;
    match status(tx, &id).await?.as_deref() {
        Some("drafted") => {}
        Some(other) => return Err(SimError::rejected("invalid_status", format!("{id} is {other}"))),
        None => return Err(SimError::rejected("unknown_contract", format!("no contract {id}"))),
    }
    if signer.contains("decline") {
        return Err(SimError::rejected("signature_declined", format!("{signer} declined to sign {id}")));
    }
    tx.execute(
        "UPDATE sim_contracts SET status = 'signed', signer = $1, updated_at = $2 WHERE id = $3",
        &[Bind::text(signer), Bind::Int(call.now_ms), Bind::text(&id)],
    )
    .await?;
    Ok(json!({ "contract_id": id, "status": "signed" }))
}

/// `void_contract {contract_id}` → `{contract_id, status}`: the compensation; `status: "none"` for an
/// unknown contract.
async fn void(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let id = call.str("contract_id")?;
    if status(tx, &id).await?.is_none() {
        return Ok(json!({ "contract_id": id, "status": "none" }));
    }
    tx.execute(
        "UPDATE sim_contracts SET status = 'voided', updated_at = $1 WHERE id = $2",
        &[Bind::Int(call.now_ms), Bind::text(&id)],
    )
    .await?;
    Ok(json!({ "contract_id": id, "status": "voided" }))
}
