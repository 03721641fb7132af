//! Taking instances over: at start, and whenever a node is gone.
//!
//! The journal is the truth and the instance row its cache, written in the same transaction, so a
//! stored instance is exactly as of its last durable transition. A node that takes an instance over
//! (its own after a restart, a gone node's, one handed back at a graceful shutdown) bumps its epoch
//! ([`sql::claim`]) and re-issues its in-flight calls as the engine describes them
//! ([`engine::outstanding_effects`]): same step, same attempt, same idempotency key — a service that
//! already applied the effect answers with its first result and applies nothing twice. Timers need
//! nothing here (the owner's timer scan finds them in their table), nor do interventions (rows).
//!
//! On SQLite (one process per file) a start takes every live instance. On PostgreSQL a start takes
//! this node's own instances from its previous life, unowned ones and gone nodes'; then [`run`] looks
//! again every claim interval, a batch at a time, so nodes that look at the same moment share the work.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::actor;
use super::effects;
use super::{Inner, Result};
use crate::cluster::sql;
use crate::store::InstanceRow;

/// How often owners that are no registered node at all are looked for (a slower query).
const UNKNOWN_OWNERS_EVERY: Duration = Duration::from_secs(30);
/// How often a node compares its share of the live instances with the other nodes'.
const BALANCE_EVERY: Duration = Duration::from_secs(5);
/// A node hands waiting work back when it owns more than its fair share by this factor, plus a margin.
const OVERLOAD_FACTOR: f64 = 1.25;
const OVERLOAD_MARGIN: i64 = 20;

/// Takes over what this node should drive at start; returns how many instances it took.
pub(crate) async fn recover(inner: &Arc<Inner>) -> Result<usize> {
    let database = inner.store.database();
    let me = inner.node.id();
    // Ours from a previous life (same node id) or, on SQLite, anybody's: hand them to nobody first, so
    // the claim below bumps their epochs (fencing a previous incarnation that might still be running).
    let text = sqlx::AssertSqlSafe(format!(
        "UPDATE instances SET lease_owner = NULL WHERE status IN {} AND (lease_owner = $1 OR $2)",
        sql::LIVE_STATUSES
    ));
    let everybody = !inner.node.shared;
    match database {
        crate::db::Database::Sqlite(pool) => sqlx::query(text).bind(me).bind(everybody).execute(pool).await.map(drop),
        crate::db::Database::Postgres(pool) => sqlx::query(text).bind(me).bind(everybody).execute(pool).await.map(drop),
    }
    .map_err(crate::store::Error::from)?;
    claim_round(inner, true, true).await
}

/// Looks for unowned instances and gone nodes' instances every claim interval until the bus stops.
pub(crate) async fn run(inner: Arc<Inner>) {
    let mut unknown_checked = Instant::now();
    let mut balanced = Instant::now();
    // After handing work back, leave it to the others for a while instead of claiming it again.
    let mut claim_again_at = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(inner.node.config.claim_interval) => {}
            () = inner.bus.stopping() => return,
        }
        let look_for_unknown = unknown_checked.elapsed() >= UNKNOWN_OWNERS_EVERY;
        if look_for_unknown {
            unknown_checked = Instant::now();
        }
        // Versions registered on other nodes, before their instances arrive here.
        if let Err(error) = inner.definitions.refresh(&inner.store).await {
            tracing::warn!(%error, "cannot read the definitions registered elsewhere");
        }
        if Instant::now() >= claim_again_at {
            if let Err(error) = claim_round(&inner, false, look_for_unknown).await {
                tracing::warn!(%error, "cannot claim instances");
            }
        }
        if balanced.elapsed() >= BALANCE_EVERY {
            balanced = Instant::now();
            match shed_excess(&inner).await {
                Ok(0) => {}
                Ok(_) => claim_again_at = Instant::now() + 4 * inner.node.config.claim_interval,
                Err(error) => tracing::warn!(%error, "cannot compare this node's share of the work"),
            }
        }
    }
}

/// Spreads work over the nodes: a node that owns clearly more than its fair share of the live
/// instances (all live instances over live nodes) hands back waiting ones — they hold nothing in
/// memory — and the other nodes claim them. Moving instances stay where they run; new work spreads by
/// where it is started (a load balancer in front of the nodes), and waiting work by this.
async fn shed_excess(inner: &Arc<Inner>) -> Result<u64> {
    let node = &inner.node;
    sql::count_owned(inner.store.database(), node.id()).await?;
    let shares = sql::shares(inner.store.database(), node.config.lease_ms()).await?;
    if shares.len() < 2 {
        return Ok(0);
    }
    let total: i64 = shares.iter().map(|(_, owned)| owned).sum();
    let fair = total / shares.len() as i64;
    let mine = shares.iter().find(|(id, _)| id == node.id()).map_or(0, |(_, owned)| *owned);
    if (mine as f64) <= fair as f64 * OVERLOAD_FACTOR + OVERLOAD_MARGIN as f64 {
        return Ok(0);
    }
    let excess = (mine - fair).min(node.config.claim_batch);
    let handed = sql::hand_back_waiting(inner.store.database(), node.id(), excess).await?;
    if handed > 0 {
        node.stats.handed_back.fetch_add(handed, Ordering::Relaxed);
        tracing::info!(node = node.id(), instances = handed, mine, fair, "handed waiting instances back to spread the work");
    }
    Ok(handed)
}

/// How often a node looks for its own moving instances that have no driver in memory.
const STRANDED_EVERY: Duration = Duration::from_secs(30);

/// A safety net, on every node: an instance this node owns that is moving (running, compensating) but
/// has had no driver here and no transition for a while is adopted again — its outstanding calls are
/// re-issued with their keys. Nothing should strand an instance; if something does, it moves again
/// within a minute instead of at the next restart.
pub(crate) async fn run_stranded_sweep(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(STRANDED_EVERY) => {}
            () = inner.bus.stopping() => return,
        }
        let quiet_since = inner.clock.now_ms() - STRANDED_EVERY.as_millis() as i64;
        match inner.store.moving_instances_of(inner.node.id(), quiet_since).await {
            Ok(rows) => {
                for row in rows {
                    if !inner.actors.has(&row.id) {
                        tracing::warn!(instance = %row.id, "a moving instance had no driver; adopting it again");
                        adopt(&inner, row).await;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot look for stranded instances"),
        }
    }
}

/// Claims a batch (or, with `until_empty`, every batch there is) of unowned and gone nodes' instances.
async fn claim_round(inner: &Arc<Inner>, until_empty: bool, look_for_unknown: bool) -> Result<usize> {
    let database = inner.store.database();
    let node = &inner.node;
    let mut gone = sql::gone_nodes(database, node.id(), node.config.lease_ms()).await?;
    if look_for_unknown {
        gone.extend(sql::unknown_owners(database).await?);
    }
    let mut taken = 0;
    loop {
        let rows = sql::claim(database, node.id(), &gone, node.config.claim_batch).await?;
        let count = rows.len();
        if count > 0 {
            tracing::info!(node = node.id(), instances = count, "took instances over");
        }
        taken += count;
        node.stats.claimed.fetch_add(count as u64, Ordering::Relaxed);
        for row in rows {
            adopt(inner, row).await;
        }
        if !until_empty || (count as i64) < node.config.claim_batch {
            return Ok(taken);
        }
    }
}

/// Starts driving an instance this node just took: a moving one gets a driver and its in-flight calls
/// again; a waiting one needs nothing in memory.
pub(crate) async fn adopt(inner: &Arc<Inner>, row: InstanceRow) {
    let loaded = match actor::loaded_from_row(inner, row).await {
        Ok(loaded) => loaded,
        Err(error) => {
            tracing::error!(%error, "cannot take an instance over");
            return;
        }
    };
    if !actor::keeps_moving(&loaded.instance) {
        return;
    }
    let now = inner.clock.now_ms();
    let outstanding = engine::outstanding_effects(&loaded.definition, &loaded.instance, now);
    let id = loaded.row.id.clone();
    // A driver already here holds an older epoch: its next write is fenced, and it then reloads and
    // re-issues what is outstanding itself.
    if actor::spawn_loaded_if_absent(inner, loaded) {
        effects::execute(inner, &id, &outstanding, now);
    }
}
