//! Backfill: rollups for history written before rollups existed (a database upgraded from a version
//! without them). Runs at start, before the runtime writes anything, when the rollup tables are empty
//! but instances exist: it reads the stored history a page of instances at a time, derives the same
//! facts the runtime derives ([`super::recompute`]), and writes their rollups page by page.

use super::facts::{fact_of_intervention, fact_of_step, facts_of_journal};
use super::rollup::Rollups;
use crate::store::{on_pool, InterventionRow, JournalRow, Result, StepRow, Store};

/// Instances per page.
const PAGE: i64 = 2_000;

/// Backfills if needed; returns how many instances were counted.
///
/// # Errors
/// A read or write fails; nothing of the failed page is written.
pub async fn run_if_needed(store: &Store) -> Result<u64> {
    let (has_rollups, has_instances) = on_pool!(store.database(), pool => {
        let rollups: Option<i64> = sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM workflow_rollups LIMIT 1").fetch_optional(pool).await?;
        let instances: Option<i64> = sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM instances LIMIT 1").fetch_optional(pool).await?;
        (rollups.is_some(), instances.is_some())
    });
    if has_rollups || !has_instances {
        return Ok(0);
    }
    tracing::info!("counting the stored history into the monitoring rollups (once, after an upgrade)");
    let mut after = String::new();
    let mut counted = 0u64;
    loop {
        let page: Vec<(String, String, i64)> = on_pool!(store.database(), pool => {
            sqlx::query_as("SELECT id, workflow, created_at FROM instances WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(&after)
                .bind(PAGE)
                .fetch_all(pool)
                .await?
        });
        let Some((last, _, _)) = page.last() else { break };
        after = last.clone();
        let (from, to) = (page[0].0.clone(), after.clone());
        let (journal, steps, interventions) = on_pool!(store.database(), pool => {
            let journal: Vec<JournalRow> = sqlx::query_as(
                "SELECT instance_id, seq, at, event, actor, reason, entries FROM journal \
                 WHERE instance_id >= $1 AND instance_id <= $2",
            )
            .bind(&from)
            .bind(&to)
            .fetch_all(pool)
            .await?;
            let steps: Vec<StepRow> = sqlx::query_as(
                "SELECT instance_id, step_id, attempt, kind, workflow, state, service, action, idempotency_key, \
                 scheduled_at, started_at, finished_at, duration_ms, outcome, error FROM steps \
                 WHERE instance_id >= $1 AND instance_id <= $2",
            )
            .bind(&from)
            .bind(&to)
            .fetch_all(pool)
            .await?;
            let interventions: Vec<InterventionRow> = sqlx::query_as(
                "SELECT id, instance_id, workflow, kind, state, decisions, assignee_group, priority, due_at, reason, \
                 status, opened_at, closed_at FROM interventions \
                 WHERE instance_id >= $1 AND instance_id <= $2 AND kind <> 'sla_breach'",
            )
            .bind(&from)
            .bind(&to)
            .fetch_all(pool)
            .await?;
            (journal, steps, interventions)
        });
        let created: std::collections::HashMap<&str, (&str, i64)> =
            page.iter().map(|(id, workflow, at)| (id.as_str(), (workflow.as_str(), *at))).collect();
        let mut delta = Rollups::default();
        for row in &journal {
            let Some((workflow, created_at)) = created.get(row.instance_id.as_str()) else { continue };
            // Journals written before time in states was recorded simply have no StateLeft entries.
            let Ok(entries) = serde_json::from_str::<Vec<engine::JournalEntry>>(&row.entries) else { continue };
            for fact in facts_of_journal(workflow, *created_at, &entries) {
                delta.add(&fact);
            }
        }
        for step in steps.iter().filter(|s| created.contains_key(s.instance_id.as_str())) {
            delta.add(&fact_of_step(step));
        }
        for intervention in interventions.iter().filter(|i| created.contains_key(i.instance_id.as_str())) {
            delta.add(&fact_of_intervention(intervention));
        }
        let merged = crate::seed::with_stored(store, &delta).await?;
        store.commit_with_rollups(&[], &(&merged).into()).await?;
        counted += page.len() as u64;
    }
    tracing::info!(instances = counted, "monitoring rollups backfilled");
    Ok(counted)
}
