//! Backfill: rollups for history written before rollups existed (a database upgraded from a version
//! without them). Runs at start, before the runtime writes anything, when the rollup tables are empty
//! but instances exist: it reads the stored history a page of instances at a time, derives the same
//! facts the runtime derives ([`super::recompute`]), and writes their rollups page by page.

use super::recompute::rollups_of_history;
use crate::store::{on_pool, Result, Store};

/// Instances per page.
const PAGE: i64 = 2_000;

/// Backfills if needed; returns how many instances were counted.
///
/// # Errors
/// A read or write fails; nothing of the failed page is written.
pub async fn run_if_needed(store: &Store) -> Result<u64> {
    let (has_rollups, has_instances) = on_pool!(store.database(), pool => {
        let rollups: Option<i64> =
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM workflow_rollups LIMIT 1").fetch_optional(pool).await?;
        let instances: Option<i64> =
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM instances LIMIT 1").fetch_optional(pool).await?;
        (rollups.is_some(), instances.is_some())
    });
    if has_rollups || !has_instances {
        return Ok(0);
    }
    tracing::info!("counting the stored history into the monitoring rollups (once, after an upgrade)");
    let mut after = String::new();
    let mut counted = 0u64;
    loop {
        let page = store.instance_ids_after(&after, PAGE).await?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else { break };
        // The ids of a page are consecutive, so the range holds exactly its instances.
        let delta = rollups_of_history(&store.history_between(Some(first), Some(last)).await?)?;
        let merged = store.stored_plus(&delta).await?;
        store.commit_with_rollups(&[], &(&merged).into()).await?;
        counted += page.len() as u64;
        after = last.clone();
    }
    tracing::info!(instances = counted, "monitoring rollups backfilled");
    Ok(counted)
}
