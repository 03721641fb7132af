//! The `notifications` service: messages sent to buyers, sellers and staff (email, sms, webhook).
//! A recipient containing `bounce` is refused (`undeliverable`), for the failure path.

use futures::future::BoxFuture;
use serde_json::json;

use super::sim::{Call, SimError, SimResult};
use super::sql::{Bind, SimTx};

/// The service's name in the registry.
pub const NAME: &str = "notifications";

/// Its actions.
pub const ACTIONS: &[&str] = &["send"];

/// `send {recipient, channel: email|sms|webhook, template, data?}` → `{notification_id, recipient,
/// channel, status: "sent"}`.
pub fn handle<'a>(tx: &'a mut SimTx, call: &'a Call<'a>) -> BoxFuture<'a, SimResult> {
    Box::pin(async move {
        let recipient = call.str("recipient")?;
        let channel = call.str("channel")?;
        if !["email", "sms", "webhook"].contains(&channel.as_str()) {
            return Err(SimError::invalid("channel", "must be `email`, `sms` or `webhook`"));
        }
        let template = call.str("template")?;
        if recipient.contains("bounce") {
            return Err(SimError::rejected("undeliverable", format!("{recipient} does not accept messages")));
        }
        let body = call.input.get("data").map(ToString::to_string).unwrap_or_else(|| "{}".into());
        let id = call.new_id("ntf");
        tx.execute(
            "INSERT INTO sim_notifications (id, recipient, channel, template, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[Bind::text(&id), Bind::text(&recipient), Bind::text(&channel), Bind::text(template), Bind::Text(body), Bind::Int(call.now_ms)],
        )
        .await?;
        Ok(json!({ "notification_id": id, "recipient": recipient, "channel": channel, "status": "sent" }))
    })
}
