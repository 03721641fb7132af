//! Recovery at start: every instance that was moving when the process stopped moves again.
//!
//! The journal is the truth and the instance row its cache, written in the same transaction, so the
//! stored instance is exactly as of its last durable transition. Its in-flight calls are re-issued as the
//! engine describes them ([`engine::outstanding_effects`]): same step, same attempt, same idempotency key
//! — a service that already applied the effect answers with its first result and applies nothing twice.
//! Timers need nothing here (the timer task finds them in their table), nor do interventions (rows).

use std::sync::Arc;

use super::actor;
use super::effects;
use super::{Inner, Result};

/// Claims and restarts every in-flight instance; returns how many.
pub(crate) async fn recover(inner: &Arc<Inner>) -> Result<usize> {
    let rows = inner.store.instances_in_flight().await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let now = inner.clock.now_ms();
    let lease_ms = i64::try_from(inner.config.lease.as_millis()).unwrap_or(i64::MAX);
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    inner.store.claim(&ids, &inner.config.node_id, now.saturating_add(lease_ms)).await?;

    let mut recovered = 0;
    for row in rows {
        let loaded = match actor::loaded_from_row(inner, row) {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(%error, "cannot recover an instance");
                continue;
            }
        };
        let outstanding = engine::outstanding_effects(&loaded.definition, &loaded.instance, now);
        let id = loaded.row.id.clone();
        actor::spawn_loaded(inner, loaded.definition, loaded.instance, loaded.row);
        effects::execute(inner, &id, &outstanding, now);
        recovered += 1;
    }
    Ok(recovered)
}
