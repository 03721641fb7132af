//! The `quality` service: quality monitoring of calls and sellers, by the spec's rules —
//! silence duration above 5 s → `alert`; conversion rate below 10 % → `review`; complaint rate above
//! 2 % → `suspend` (the workflow then calls `accounts.suspend`). Rates are integer basis points.
//! Every evaluation is recorded in `sim_quality`; alerts in `sim_alerts`.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{stable_hash, Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "quality";

/// Its actions.
pub const ACTIONS: &[&str] =
    &["monitor_call", "evaluate_silence", "evaluate_conversion", "evaluate_complaints", "raise_alert"];

/// Dispatches one action.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        match call.action {
            "monitor_call" => monitor_call(tx, call).await,
            "evaluate_silence" => evaluate_silence(tx, call).await,
            "evaluate_conversion" => evaluate_rate(tx, call, "conversion_rate", "conversions", 1_000).await,
            "evaluate_complaints" => evaluate_rate(tx, call, "complaint_rate", "complaints", 200).await,
            "raise_alert" => raise_alert(tx, call).await,
            other => Err(SimError::invalid("action", format!("`{other}` is not a quality action"))),
        }
    })
}

#[allow(clippy::too_many_arguments)] // one row's columns; a struct would only rename them
async fn record(
    tx: &mut SimTx,
    call: &Call<'_>,
    seller: &str,
    call_id: Option<String>,
    metric: &str,
    value: i64,
    threshold: i64,
    action: &str,
) -> SimResult<String> {
    let id = call.new_id("qty");
    tx.execute(
        "INSERT INTO sim_quality (id, seller_id, call_id, metric, value, threshold, breached, action, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            Bind::text(&id),
            Bind::text(seller),
            Bind::opt_text(call_id),
            Bind::text(metric),
            Bind::Int(value),
            Bind::Int(threshold),
            Bind::Int(i64::from(action != "none")),
            Bind::text(action),
            Bind::Int(call.now_ms),
        ],
    )
    .await?;
    Ok(id)
}

/// `monitor_call {call_id, seller_id, silence_s?}` → `{call_id, silence_s, quality_score (0–100)}`:
/// quality scoring during the call. Silence is from the input or derived from the call id (0–9 s).
async fn monitor_call(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let call_id = call.str("call_id")?;
    let seller = call.str("seller_id")?;
    let silence = match call.opt_int("silence_s")? {
        Some(s) if s < 0 => return Err(SimError::invalid("silence_s", "must not be negative")),
        Some(s) => s,
        None => stable_hash(&call_id, 10),
    };
    let score = (100 - silence * 8).max(0);
    record(tx, call, &seller, Some(call_id.clone()), "quality_score", score, 0, "none").await?;
    Ok(json!({ "call_id": call_id, "silence_s": silence, "quality_score": score }))
}

/// `evaluate_silence {seller_id, call_id?, silence_s, threshold_s? (5)}` → `{metric, value, threshold,
/// breached, action: "alert" | "none"}`.
async fn evaluate_silence(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller = call.str("seller_id")?;
    let silence = call.amount("silence_s")?;
    let threshold = call.count_or("threshold_s", 5)?;
    let action = if silence > threshold { "alert" } else { "none" };
    record(tx, call, &seller, call.opt_str("call_id")?, "silence_duration", silence, threshold, action).await?;
    Ok(
        json!({ "seller_id": seller, "metric": "silence_duration", "value": silence, "threshold": threshold, "breached": action != "none", "action": action }),
    )
}

/// `evaluate_conversion {seller_id, calls, conversions, threshold_bp? (1000)}` → `{metric, value
/// (bp), breached, action: "review" | "none"}` — breached when the rate is *below* the threshold.
/// `evaluate_complaints {seller_id, calls, complaints, threshold_bp? (200)}` → the same with
/// `action: "suspend"` when the rate is *above* it.
async fn evaluate_rate(tx: &mut SimTx, call: &Call<'_>, metric: &str, counted: &str, default_bp: i64) -> SimResult {
    let seller = call.str("seller_id")?;
    let calls = call.amount("calls")?;
    let count = call.amount(counted)?;
    if calls == 0 {
        return Err(SimError::invalid("calls", "must be more than zero"));
    }
    if count > calls {
        return Err(SimError::invalid(counted, "must not exceed `calls`"));
    }
    let threshold = call.count_or("threshold_bp", default_bp)?;
    let rate = count * 10_000 / calls;
    let action = match metric {
        "conversion_rate" if rate < threshold => "review",
        "complaint_rate" if rate > threshold => "suspend",
        _ => "none",
    };
    record(tx, call, &seller, None, metric, rate, threshold, action).await?;
    Ok(
        json!({ "seller_id": seller, "metric": metric, "value": rate, "threshold": threshold, "breached": action != "none", "action": action }),
    )
}

/// `raise_alert {seller_id, metric, message}` → `{alert_id}`.
async fn raise_alert(tx: &mut SimTx, call: &Call<'_>) -> SimResult {
    let seller = call.str("seller_id")?;
    let metric = call.str("metric")?;
    let message = call.str("message")?;
    let id = call.new_id("alr");
    tx.execute(
        "INSERT INTO sim_alerts (id, seller_id, metric, message, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[Bind::text(&id), Bind::text(&seller), Bind::text(metric), Bind::text(message), Bind::Int(call.now_ms)],
    )
    .await?;
    Ok(json!({ "alert_id": id, "seller_id": seller }))
}
