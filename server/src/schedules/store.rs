//! The `schedules` table (`migrations/*/0004_schedules.sql`): one SQL text per query for both backends,
//! expanded per pool by [`on_pool!`], like `crate::store`.

use sqlx::FromRow;

use crate::db::Database;
use crate::store::audit::{insert_audit, AuditRow};
use crate::store::{on_pool, Result};

/// One schedule as stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct ScheduleRow {
    pub name: String,
    pub workflow: String,
    pub cron: String,
    /// The input template, JSON.
    pub input: String,
    /// 1 or 0.
    pub enabled: i64,
    /// The next slot to fire, epoch milliseconds.
    pub next_run_at: i64,
    /// The slot fired last (or the time of the last manual run).
    pub last_run_at: Option<i64>,
    /// The instance of the last run; `None` between claiming a slot and starting its instance.
    pub last_instance_id: Option<String>,
    pub updated_at: i64,
}

macro_rules! columns {
    () => {
        "name, workflow, cron, input, enabled, next_run_at, last_run_at, last_instance_id, updated_at"
    };
}

/// Creates a schedule or updates its workflow, cron and input. The `enabled` flag of an existing row is
/// an operator's choice and is kept; `next_run_at` is kept unless the cron changed.
pub async fn upsert(database: &Database, row: &ScheduleRow, audit: Option<&AuditRow>) -> Result<()> {
    on_pool!(database, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO schedules (name, workflow, cron, input, enabled, next_run_at, last_run_at,
                                    last_instance_id, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7)
             ON CONFLICT (name) DO UPDATE SET
                 workflow = excluded.workflow,
                 input = excluded.input,
                 next_run_at = CASE WHEN schedules.cron = excluded.cron THEN schedules.next_run_at
                                    ELSE excluded.next_run_at END,
                 cron = excluded.cron,
                 updated_at = excluded.updated_at",
        )
        .bind(&row.name)
        .bind(&row.workflow)
        .bind(&row.cron)
        .bind(&row.input)
        .bind(row.enabled)
        .bind(row.next_run_at)
        .bind(row.updated_at)
        .execute(&mut *tx)
        .await?;
        insert_audit!(&mut *tx, audit);
        tx.commit().await?;
    });
    Ok(())
}

/// Every schedule, by name.
pub async fn all(database: &Database) -> Result<Vec<ScheduleRow>> {
    let query = concat!("SELECT ", columns!(), " FROM schedules ORDER BY name");
    Ok(on_pool!(database, pool => sqlx::query_as(query).fetch_all(pool).await?))
}

/// One schedule.
pub async fn get(database: &Database, name: &str) -> Result<Option<ScheduleRow>> {
    let query = concat!("SELECT ", columns!(), " FROM schedules WHERE name = $1");
    Ok(on_pool!(database, pool => sqlx::query_as(query).bind(name).fetch_optional(pool).await?))
}

/// Enabled schedules whose next slot is at or before `now`.
pub async fn due(database: &Database, now: i64) -> Result<Vec<ScheduleRow>> {
    let query =
        concat!("SELECT ", columns!(), " FROM schedules WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at");
    Ok(on_pool!(database, pool => sqlx::query_as(query).bind(now).fetch_all(pool).await?))
}

/// Enabled schedules whose last slot was claimed before `claimed_before` but whose instance was never
/// recorded (the claiming process stopped or failed in between).
pub async fn unfinished(database: &Database, claimed_before: i64) -> Result<Vec<ScheduleRow>> {
    let query = concat!(
        "SELECT ",
        columns!(),
        " FROM schedules WHERE enabled = 1 AND last_run_at IS NOT NULL AND last_instance_id IS NULL
           AND updated_at <= $1 ORDER BY name"
    );
    Ok(on_pool!(database, pool => sqlx::query_as(query).bind(claimed_before).fetch_all(pool).await?))
}

/// The earliest next slot of an enabled schedule.
pub async fn earliest_due(database: &Database) -> Result<Option<i64>> {
    let query = "SELECT MIN(next_run_at) FROM schedules WHERE enabled = 1";
    Ok(on_pool!(database, pool => sqlx::query_scalar::<_, Option<i64>>(query).fetch_one(pool).await?))
}

/// Claims `slot` for this process: moves `next_run_at` from `old_next` to `new_next` and marks `slot` as
/// the run in progress — only if nobody moved it first. `true` when this call won.
pub async fn claim(database: &Database, name: &str, old_next: i64, new_next: i64, slot: i64, now: i64) -> Result<bool> {
    let done = on_pool!(database, pool => {
        sqlx::query(
            "UPDATE schedules SET next_run_at = $3, last_run_at = $4, last_instance_id = NULL, updated_at = $5
             WHERE name = $1 AND next_run_at = $2 AND enabled = 1",
        )
        .bind(name)
        .bind(old_next)
        .bind(new_next)
        .bind(slot)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(done == 1)
}

/// Takes over a claimed slot whose instance was never recorded (see [`unfinished`]): only if nobody
/// touched the row since it was read (`updated_at` unchanged). `true` when this call won.
pub async fn reclaim(database: &Database, name: &str, slot: i64, old_updated_at: i64, now: i64) -> Result<bool> {
    let done = on_pool!(database, pool => {
        sqlx::query(
            "UPDATE schedules SET updated_at = $4
             WHERE name = $1 AND last_run_at = $2 AND last_instance_id IS NULL AND updated_at = $3",
        )
        .bind(name)
        .bind(slot)
        .bind(old_updated_at)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(done == 1)
}

/// Records the instance a claimed slot started (only while that slot is still the last one).
pub async fn record_instance(database: &Database, name: &str, slot: i64, instance_id: &str, now: i64) -> Result<()> {
    on_pool!(database, pool => {
        sqlx::query(
            "UPDATE schedules SET last_instance_id = $3, updated_at = $4
             WHERE name = $1 AND last_run_at = $2 AND last_instance_id IS NULL",
        )
        .bind(name)
        .bind(slot)
        .bind(instance_id)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Records a manual run as the last run — unless a scheduled slot is between claim and start.
pub async fn record_manual_run(database: &Database, name: &str, at: i64, instance_id: &str) -> Result<()> {
    on_pool!(database, pool => {
        sqlx::query(
            "UPDATE schedules SET last_run_at = $2, last_instance_id = $3, updated_at = $2
             WHERE name = $1 AND (last_run_at IS NULL OR last_instance_id IS NOT NULL)",
        )
        .bind(name)
        .bind(at)
        .bind(instance_id)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Turns a schedule on or off. Turning it on moves `next_run_at` to `next_run_at` (the first slot after
/// now), so slots that passed while it was off are not treated as missed. `false`: no such schedule.
pub async fn set_enabled(
    database: &Database,
    name: &str,
    enabled: bool,
    next_run_at: i64,
    now: i64,
    audit: Option<&AuditRow>,
) -> Result<bool> {
    let done = on_pool!(database, pool => {
        let mut tx = pool.begin().await?;
        let done = sqlx::query(
            "UPDATE schedules SET enabled = $2,
                 next_run_at = CASE WHEN $2 = 1 AND enabled = 0 THEN $3 ELSE next_run_at END,
                 updated_at = $4
             WHERE name = $1",
        )
        .bind(name)
        .bind(i64::from(enabled))
        .bind(next_run_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            insert_audit!(&mut *tx, audit);
        }
        tx.commit().await?;
        done
    });
    Ok(done == 1)
}
