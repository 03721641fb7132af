//! The cluster's SQL: nodes and their heartbeats, named leases (the leader), claims of instances whose
//! owner is gone, moving one instance to the node a command reached, and the feed of live events.
//!
//! Lease times come from the database's clock, never a node's, so nodes with skewed clocks agree on
//! who is alive. The texts name the clock `NOW_MS`; [`sql`] puts in the backend's expression.

use sqlx::{AssertSqlSafe, FromRow};

use crate::db::Database;
use crate::store::{InstanceRow, Result};

/// The database clock in epoch milliseconds, per backend.
const PG_NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";
const SQLITE_NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// The statuses of an instance that is not finished: it has an owner that drives it (or will).
pub const LIVE_STATUSES: &str = "('created', 'running', 'waiting', 'compensating', 'needs_intervention')";

/// `text` with `NOW_MS` replaced by the clock expression of the database's backend.
fn sql(database: &Database, text: &str) -> AssertSqlSafe<String> {
    let now = match database {
        Database::Sqlite(_) => SQLITE_NOW,
        Database::Postgres(_) => PG_NOW,
    };
    AssertSqlSafe(text.replace("NOW_MS", now).replace("LIVE_STATUSES", LIVE_STATUSES))
}

/// Runs the same code against whichever pool the database holds (as `store::on_pool!`).
macro_rules! on_pool {
    ($database:expr, $pool:ident => $body:expr) => {
        match $database {
            Database::Sqlite($pool) => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

/// A node as registered.
#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub incarnation: String,
    pub address: String,
    pub pid: i64,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub stopped_at: Option<i64>,
    pub subscribers: i64,
    pub fenced_writes: i64,
    pub claimed: i64,
    pub moved_in: i64,
    /// Per-service figures as of its last heartbeat (JSON).
    pub services: String,
    /// Live instances it owns (computed when listing).
    pub owned: i64,
    /// The database clock when the list was read, to judge heartbeats by.
    pub now: i64,
}

/// Registers this node (or re-registers it under a new incarnation); returns the previous
/// incarnation's heartbeat if the id was registered before and had not stopped.
pub async fn register(
    database: &Database,
    id: &str,
    incarnation: &str,
    address: &str,
) -> Result<Option<(String, i64)>> {
    let previous: Option<(String, i64)> = on_pool!(database, pool => {
        sqlx::query_as(sql(database, "SELECT incarnation, NOW_MS - heartbeat_at FROM cluster_nodes WHERE id = $1 AND stopped_at IS NULL"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    let text = "INSERT INTO cluster_nodes (id, incarnation, address, pid, started_at, heartbeat_at, stopped_at, subscribers) \
                VALUES ($1, $2, $3, $4, NOW_MS, NOW_MS, NULL, 0) \
                ON CONFLICT (id) DO UPDATE SET incarnation = excluded.incarnation, address = excluded.address, \
                pid = excluded.pid, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, \
                stopped_at = NULL, subscribers = 0, fenced_writes = 0, claimed = 0, moved_in = 0";
    on_pool!(database, pool => {
        sqlx::query(sql(database, text))
            .bind(id)
            .bind(incarnation)
            .bind(address)
            .bind(i64::from(std::process::id()))
            .execute(pool)
            .await?;
    });
    Ok(previous.filter(|(previous, _)| previous != incarnation))
}

/// What a heartbeat reports besides being alive.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    pub subscribers: i64,
    /// The node's per-service figures, JSON.
    pub services: &'a str,
    pub fenced_writes: i64,
    pub claimed: i64,
    pub moved_in: i64,
}

/// Renews this node's heartbeat; `false` when the row is gone or belongs to another incarnation (then
/// the caller registers again).
pub async fn heartbeat(database: &Database, id: &str, incarnation: &str, report: Report<'_>) -> Result<bool> {
    let text = "UPDATE cluster_nodes SET heartbeat_at = NOW_MS, subscribers = $3, fenced_writes = $4, claimed = $5, \
                moved_in = $6, services = $7, stopped_at = NULL WHERE id = $1 AND incarnation = $2";
    let updated = on_pool!(database, pool => {
        sqlx::query(sql(database, text))
            .bind(id)
            .bind(incarnation)
            .bind(report.subscribers)
            .bind(report.fenced_writes)
            .bind(report.claimed)
            .bind(report.moved_in)
            .bind(report.services)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(updated == 1)
}

/// How many event streams are open on the other live nodes (they want this node's events).
pub async fn subscribers_elsewhere(database: &Database, id: &str, lease_ms: i64) -> Result<i64> {
    let text = "SELECT CAST(COALESCE(SUM(subscribers), 0) AS BIGINT) FROM cluster_nodes \
                WHERE id <> $1 AND stopped_at IS NULL AND heartbeat_at >= NOW_MS - $2";
    Ok(on_pool!(database, pool => sqlx::query_scalar(sql(database, text)).bind(id).bind(lease_ms).fetch_one(pool).await?))
}

/// Takes or renews the named lease for `holder` for `lease_ms`; the lease's epoch when held (it grows
/// with every change of holder), `None` when another holder's lease is still running.
pub async fn hold_lease(database: &Database, name: &str, holder: &str, lease_ms: i64) -> Result<Option<i64>> {
    let text = "INSERT INTO cluster_leases (name, holder, epoch, acquired_at, expires_at) \
                VALUES ($1, $2, 1, NOW_MS, NOW_MS + $3) \
                ON CONFLICT (name) DO UPDATE SET \
                  epoch = CASE WHEN cluster_leases.holder = excluded.holder THEN cluster_leases.epoch ELSE cluster_leases.epoch + 1 END, \
                  acquired_at = CASE WHEN cluster_leases.holder = excluded.holder THEN cluster_leases.acquired_at ELSE excluded.acquired_at END, \
                  holder = excluded.holder, expires_at = excluded.expires_at \
                WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at < excluded.acquired_at \
                RETURNING epoch";
    Ok(on_pool!(database, pool => {
        sqlx::query_scalar(sql(database, text)).bind(name).bind(holder).bind(lease_ms).fetch_optional(pool).await?
    }))
}

/// Gives the named lease up at once (graceful shutdown), if `holder` holds it.
pub async fn release_lease(database: &Database, name: &str, holder: &str) -> Result<()> {
    on_pool!(database, pool => {
        sqlx::query("DELETE FROM cluster_leases WHERE name = $1 AND holder = $2").bind(name).bind(holder).execute(pool).await?;
    });
    Ok(())
}

/// Who holds the named lease now, if its lease runs.
pub async fn lease_holder(database: &Database, name: &str) -> Result<Option<String>> {
    let text = "SELECT holder FROM cluster_leases WHERE name = $1 AND expires_at >= NOW_MS";
    Ok(on_pool!(database, pool => sqlx::query_scalar(sql(database, text)).bind(name).fetch_optional(pool).await?))
}

/// Marks the node stopped and hands its live instances back (owner cleared): the others take them at
/// their next claim, without waiting for a lease to run out. Returns how many were handed back.
pub async fn stop(database: &Database, id: &str, incarnation: &str) -> Result<u64> {
    let handed = on_pool!(database, pool => {
        let mut tx = pool.begin().await?;
        let handed = sqlx::query(sql(database, "UPDATE instances SET lease_owner = NULL WHERE lease_owner = $1 AND status IN LIVE_STATUSES"))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(sql(database, "UPDATE cluster_nodes SET stopped_at = NOW_MS, subscribers = 0, owned = 0 WHERE id = $1 AND incarnation = $2"))
            .bind(id)
            .bind(incarnation)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        handed
    });
    Ok(handed)
}

/// Every registered node with the live instances it owns, by id.
pub async fn nodes(database: &Database) -> Result<Vec<NodeRow>> {
    let text = "SELECT n.id, n.incarnation, n.address, n.pid, n.started_at, n.heartbeat_at, n.stopped_at, n.subscribers, \
                n.fenced_writes, n.claimed, n.moved_in, n.services, \
                CAST((SELECT COUNT(*) FROM instances i WHERE i.lease_owner = n.id AND i.status IN LIVE_STATUSES) AS BIGINT) AS owned, \
                CAST(NOW_MS AS BIGINT) AS now \
                FROM cluster_nodes n ORDER BY n.id";
    Ok(on_pool!(database, pool => sqlx::query_as(sql(database, text)).fetch_all(pool).await?))
}

/// Nodes whose leases are over: stopped, or silent for longer than `lease_ms`. Not `me`.
pub async fn gone_nodes(database: &Database, me: &str, lease_ms: i64) -> Result<Vec<String>> {
    let text = "SELECT id FROM cluster_nodes WHERE id <> $1 AND (stopped_at IS NOT NULL OR heartbeat_at < NOW_MS - $2)";
    Ok(on_pool!(database, pool => sqlx::query_scalar(sql(database, text)).bind(me).bind(lease_ms).fetch_all(pool).await?))
}

/// Owners of live instances that are no registered node at all (a process from before clustering, or
/// a node row pruned while it still owned work).
pub async fn unknown_owners(database: &Database) -> Result<Vec<String>> {
    let text = "SELECT DISTINCT lease_owner FROM instances WHERE status IN LIVE_STATUSES AND lease_owner IS NOT NULL \
                AND lease_owner NOT IN (SELECT id FROM cluster_nodes)";
    Ok(on_pool!(database, pool => sqlx::query_scalar(sql(database, text)).fetch_all(pool).await?))
}

/// Takes up to `limit` live instances that are unowned or owned by one of `gone` for `me`, bumping each
/// one's epoch; returns them as they are now. On PostgreSQL rows another node is claiming at the same
/// moment are skipped (`FOR UPDATE SKIP LOCKED`), so concurrent claimers never take the same instance.
pub async fn claim(database: &Database, me: &str, gone: &[String], limit: i64) -> Result<Vec<InstanceRow>> {
    let columns = "id, workflow, version, status, current_state, paused, error, state, start_key, journal_seq, \
                   created_at, updated_at, finished_at, lease_owner, lease_expires_at, lease_epoch";
    let owners = serde_json::to_string(gone).unwrap_or_else(|_| "[]".into());
    Ok(match database {
        Database::Postgres(pool) => {
            let text = format!(
                "WITH taken AS (SELECT id FROM instances WHERE status IN {LIVE_STATUSES} \
                   AND (lease_owner IS NULL OR lease_owner IN (SELECT jsonb_array_elements_text($2::jsonb))) \
                   ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 UPDATE instances SET lease_owner = $1, lease_epoch = instances.lease_epoch + 1, lease_expires_at = NULL \
                 FROM taken WHERE instances.id = taken.id RETURNING {}",
                columns.split(", ").map(|c| format!("instances.{c}")).collect::<Vec<_>>().join(", ")
            );
            sqlx::query_as(AssertSqlSafe(text)).bind(me).bind(owners).bind(limit).fetch_all(pool).await?
        }
        Database::Sqlite(pool) => {
            // One process per SQLite file (a lock file guarantees it): no other claimer to skip.
            let text = format!(
                "UPDATE instances SET lease_owner = $1, lease_epoch = lease_epoch + 1, lease_expires_at = NULL \
                 WHERE id IN (SELECT id FROM instances WHERE status IN {LIVE_STATUSES} \
                   AND (lease_owner IS NULL OR lease_owner IN (SELECT value FROM json_each($2))) ORDER BY id LIMIT $3) \
                 RETURNING {columns}"
            );
            sqlx::query_as(AssertSqlSafe(text)).bind(me).bind(owners).bind(limit).fetch_all(pool).await?
        }
    })
}

/// Moves one instance to `me` (a command reached this node): bumps its epoch unless `me` owns it
/// already. Returns the instance if it moved; `None` if it was `me`'s already or does not exist.
pub async fn take_one(database: &Database, me: &str, id: &str) -> Result<Option<InstanceRow>> {
    let text = "UPDATE instances SET lease_owner = $1, lease_epoch = lease_epoch + 1, lease_expires_at = NULL \
                WHERE id = $2 AND (lease_owner IS NULL OR lease_owner <> $1) \
                RETURNING id, workflow, version, status, current_state, paused, error, state, start_key, journal_seq, \
                created_at, updated_at, finished_at, lease_owner, lease_expires_at, lease_epoch";
    Ok(on_pool!(database, pool => sqlx::query_as(text).bind(me).bind(id).fetch_optional(pool).await?))
}

/// Counts the live instances `me` owns and records the count in its row (every few seconds, so that
/// comparing shares reads N rows instead of counting everybody's instances N times).
pub async fn count_owned(database: &Database, me: &str) -> Result<i64> {
    let text = "UPDATE cluster_nodes SET owned = (SELECT COUNT(*) FROM instances WHERE lease_owner = $1 \
                AND status IN LIVE_STATUSES) WHERE id = $1 RETURNING owned";
    Ok(on_pool!(database, pool => sqlx::query_scalar(sql(database, text)).bind(me).fetch_optional(pool).await?).unwrap_or(0))
}

/// How many live instances each live node owned at its last count: (node id, owned), live nodes only.
pub async fn shares(database: &Database, lease_ms: i64) -> Result<Vec<(String, i64)>> {
    let text = "SELECT id, owned FROM cluster_nodes WHERE stopped_at IS NULL AND heartbeat_at >= NOW_MS - $1 ORDER BY id";
    Ok(on_pool!(database, pool => sqlx::query_as(sql(database, text)).bind(lease_ms).fetch_all(pool).await?))
}

/// Hands up to `limit` of `me`'s waiting instances back (owner cleared) for the other nodes to claim:
/// an overloaded node sheds work that has nothing in memory. Returns how many.
pub async fn hand_back_waiting(database: &Database, me: &str, limit: i64) -> Result<u64> {
    let pick = "SELECT id FROM instances WHERE lease_owner = $1 AND status IN ('waiting', 'needs_intervention') \
                ORDER BY id LIMIT $2";
    Ok(match database {
        Database::Postgres(pool) => {
            let text = format!("UPDATE instances SET lease_owner = NULL WHERE id IN ({pick} FOR UPDATE SKIP LOCKED)");
            sqlx::query(AssertSqlSafe(text)).bind(me).bind(limit).execute(pool).await?.rows_affected()
        }
        Database::Sqlite(_) => 0, // one node: nobody to hand work to
    })
}

/// One row of the live feed: the events of one commit on `node`.
#[derive(Clone, Debug, FromRow)]
pub struct FeedRow {
    pub id: i64,
    pub node: String,
    pub events: String,
}

/// Feed rows after `after`, oldest first.
pub async fn feed_after(database: &Database, after: i64, limit: i64) -> Result<Vec<FeedRow>> {
    let text = "SELECT id, node, events FROM cluster_events WHERE id > $1 ORDER BY id LIMIT $2";
    Ok(on_pool!(database, pool => sqlx::query_as(text).bind(after).bind(limit).fetch_all(pool).await?))
}

/// The newest feed row's id (0 when empty): where a new reader starts.
pub async fn feed_end(database: &Database) -> Result<i64> {
    let text = "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM cluster_events";
    Ok(on_pool!(database, pool => sqlx::query_scalar(text).fetch_one(pool).await?))
}

/// Appends events to the feed outside a transition (SLA breaches, inbox claims) and wakes the readers.
pub async fn feed_append(database: &Database, node: &str, events: &str) -> Result<()> {
    match database {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query(sql(database, "INSERT INTO cluster_events (node, at, events) VALUES ($1, NOW_MS, $2)"))
                .bind(node)
                .bind(events)
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT pg_notify('switchboard_events', '')").execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Database::Sqlite(_) => {} // one node: nobody else to tell
    }
    Ok(())
}

/// Housekeeping by the leader: feed rows older than `keep_ms`, and nodes gone for longer than
/// `keep_ms` that own nothing live.
pub async fn prune(database: &Database, keep_ms: i64) -> Result<()> {
    on_pool!(database, pool => {
        sqlx::query(sql(database, "DELETE FROM cluster_events WHERE at < NOW_MS - $1")).bind(keep_ms).execute(pool).await?;
        sqlx::query(sql(database,
            "DELETE FROM cluster_nodes WHERE heartbeat_at < NOW_MS - $1 AND NOT EXISTS \
             (SELECT 1 FROM instances i WHERE i.lease_owner = cluster_nodes.id AND i.status IN LIVE_STATUSES)"))
            .bind(keep_ms)
            .execute(pool)
            .await?;
    });
    Ok(())
}
