//! The node's heartbeat, the leader lease, and the leader's housekeeping: one small task per node.
//!
//! Every [`ClusterConfig::heartbeat`](super::ClusterConfig::heartbeat) the node renews its row (with the
//! number of event streams open on it), tries to take or keep the `leader` lease, and learns whether any
//! other node has a console open (then its commits feed them). A node that was silent for longer than its
//! lease — stopped (SIGSTOP), starved, cut off from the database — says so: others may have taken its
//! instances, and whatever it still tries to write for them is fenced. It stops leading as soon as its
//! own lease may have run out, before the database says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{sql, Node, LEADER};
use crate::db::Database;
use crate::events::EventBus;

/// How long `cluster_events` rows and gone nodes' rows are kept.
const KEEP_MS: i64 = 10 * 60 * 1000;
/// How often the leader prunes them.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Registers the node (taking over a previous incarnation of the same id at once: its epochs are
/// bumped by the first claim) and returns once the first heartbeat is in.
///
/// # Errors
/// The database refuses the registration.
pub async fn join(node: &Node, database: &Database) -> crate::store::Result<()> {
    let id = node.id();
    if let Some((_, silent_ms)) = sql::register(database, id, &node.incarnation, &node.config.address).await? {
        if silent_ms < node.config.lease_ms() {
            tracing::warn!(
                node = id,
                "another process registered as this node {silent_ms} ms ago; taking its instances over (its writes will be fenced)"
            );
        }
    }
    node.heartbeat_renewed();
    Ok(())
}

/// What a node reports of its services with each heartbeat (JSON; see `runtime::Runtime::start`).
pub type ServicesReport = Arc<dyn Fn() -> String + Send + Sync>;

/// Renews the heartbeat and the leadership until the bus stops.
pub async fn run(node: Arc<Node>, database: Database, bus: EventBus, services: ServicesReport) {
    let mut ticker = tokio::time::interval(node.config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = bus.stopping() => return,
        }
        beat(&node, &database, &bus, &services()).await;
        if node.is_leader() && last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(error) = sql::prune(&database, KEEP_MS).await {
                tracing::warn!(%error, "cannot prune the cluster tables");
            }
        }
    }
}

/// One heartbeat: the node's row, the leader lease, whether other consoles listen.
pub async fn beat(node: &Node, database: &Database, bus: &EventBus, services: &str) {
    let id = node.id();
    let count = |counter: &std::sync::atomic::AtomicU64| {
        i64::try_from(counter.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(i64::MAX)
    };
    let report = sql::Report {
        subscribers: i64::try_from(bus.subscribers()).unwrap_or(i64::MAX),
        services,
        fenced_writes: count(&node.stats.fenced_writes),
        claimed: count(&node.stats.claimed),
        moved_in: count(&node.stats.moved_in),
    };
    match sql::heartbeat(database, id, &node.incarnation, report).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(node = id, "this node's registration was gone or taken; registering again");
            if let Err(error) = join(node, database).await {
                tracing::warn!(%error, "cannot register the node again");
                return;
            }
        }
        Err(error) => {
            tracing::warn!(%error, node = id, "cannot renew the heartbeat");
            return;
        }
    }
    let silent = node.heartbeat_renewed();
    if silent > node.config.lease {
        tracing::warn!(
            node = id,
            silent_ms = silent.as_millis() as u64,
            "this node was silent for longer than its lease: other nodes may have taken its instances (writes for them are fenced)"
        );
    }
    match sql::hold_lease(database, LEADER, id, node.config.lease_ms()).await {
        Ok(held) => {
            let leading = held.is_some();
            if leading != node.is_leader() {
                tracing::info!(node = id, leading, "leadership changed");
            }
            node.set_leader(leading);
        }
        Err(error) => tracing::warn!(%error, "cannot renew the leader lease"),
    }
    if node.shared {
        match sql::subscribers_elsewhere(database, id, node.config.lease_ms()).await {
            Ok(count) => node.set_others_listen(count > 0),
            Err(error) => tracing::warn!(%error, "cannot read the other nodes' subscribers"),
        }
    }
}

/// Leaves the cluster gracefully: hands every live instance back and gives up the leadership, so the
/// other nodes take over at their next claim instead of after a lease.
pub async fn leave(node: &Node, database: &Database) {
    node.set_leader(false);
    if let Err(error) = sql::release_lease(database, LEADER, node.id()).await {
        tracing::warn!(%error, "cannot release the leader lease");
    }
    match sql::stop(database, node.id(), &node.incarnation).await {
        Ok(handed) => {
            node.stats.handed_back.fetch_add(handed, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(node = node.id(), instances = handed, "left the cluster; instances handed back");
        }
        Err(error) => tracing::warn!(%error, "cannot hand the instances back; others take them when the lease runs out"),
    }
}
