//! Several `switchboard` nodes on one PostgreSQL: who is alive, who drives which instance, who leads,
//! and how every node's console sees every node's events. SQLite is the single-node case of the same
//! model (one node, which owns everything; a second process on the file is refused: [`lock`]).
//!
//! The database is the coordination engine — no consensus of our own, no broker:
//!
//! - **Nodes** ([`sql::register`], [`membership`]): each node has a row with a heartbeat renewed every
//!   [`ClusterConfig::heartbeat`] — one write per node per interval, whatever it drives.
//! - **Ownership**: every live instance has an owner and a fencing epoch (`instances.lease_owner`,
//!   `lease_epoch`). The lease lasts while the owner's heartbeat is fresh ([`ClusterConfig::lease`]).
//!   Nodes take unowned work and the work of gone nodes in batches ([`sql::claim`], `FOR UPDATE SKIP
//!   LOCKED`), bumping the epoch; every transition commit re-reads owner and epoch under a row lock and
//!   writes nothing for an instance that moved (`store::write::BatchTx::fenced`).
//! - **Commands** to an instance another node owns move it to the node the command reached
//!   ([`sql::take_one`]): the caller's answer is the one a single node gives.
//! - **Leader** ([`sql::hold_lease`]): one node holds the `leader` lease and runs the schedules, the SLA
//!   checks, the demo traffic and the housekeeping.
//! - **Service settings** ([`controls`]): simulated faults and breaker trips/resets set on one node hold
//!   on every node.
//! - **Feed** ([`feed`]): each group commit appends its live events to `cluster_events` in the same
//!   transaction and NOTIFYs; every node reads the rows after its cursor (the notification is only a
//!   wake-up) and publishes them on its own bus, so every console shows every node's transitions.

pub mod controls;
pub mod feed;
pub mod lock;
pub mod membership;
pub mod sql;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The name of the lease of the node that runs the schedules, SLA checks and demo traffic.
pub const LEADER: &str = "leader";

/// How a node takes part in the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// This node's name in lease columns: stable across restarts, so a restarted node takes its own
    /// instances back at once instead of waiting for its old lease to run out.
    pub node_id: String,
    /// Where this node's console and API listen (shown on the overview).
    pub address: String,
    /// How long a node may stay silent before others take its instances and its leadership.
    pub lease: Duration,
    /// How often a node renews its heartbeat (and the leader its lease).
    pub heartbeat: Duration,
    /// How often a node looks for unowned work and the work of gone nodes.
    pub claim_interval: Duration,
    /// At most this many instances per claim: nodes that claim at the same time share the work.
    pub claim_batch: i64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            // Unique per runtime of a process (tests start several); `serve` passes host:port.
            node_id: format!("node-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)),
            address: String::new(),
            lease: Duration::from_millis(3_000),
            heartbeat: Duration::from_millis(500),
            claim_interval: Duration::from_millis(500),
            claim_batch: 500,
        }
    }
}

impl ClusterConfig {
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Counters of what the cluster did on this node.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Transition writes refused because the instance had moved to another node (each logged at warn).
    pub fenced_writes: AtomicU64,
    /// Instances taken over from gone nodes or found unowned.
    pub claimed: AtomicU64,
    /// Instances moved here because a command reached this node.
    pub moved_in: AtomicU64,
    /// Instances handed back at a graceful shutdown.
    pub handed_back: AtomicU64,
    /// Live events read from other nodes' commits.
    pub feed_events: AtomicU64,
}

/// This node: its identity, whether it leads, and its counters. Shared by the runtime and the server.
#[derive(Debug)]
pub struct Node {
    pub config: ClusterConfig,
    /// Random per process start: tells a restarted node's row from its previous life.
    pub incarnation: String,
    /// Several nodes may share the database (PostgreSQL); `false` on SQLite.
    pub shared: bool,
    leader: watch::Sender<bool>,
    /// Whether a console on another node is open (then commits feed `cluster_events`).
    others_listen: AtomicBool,
    last_heartbeat: Mutex<Instant>,
    /// `node id/incarnation prefix`: see [`Node::rollup_shard`].
    shard: String,
    pub stats: ClusterStats,
}

impl Node {
    pub fn new(config: ClusterConfig, shared: bool) -> Self {
        let (leader, _) = watch::channel(false);
        let incarnation = uuid::Uuid::new_v4().simple().to_string();
        Self {
            shard: format!("{}/{}", config.node_id, &incarnation[..8]),
            config,
            incarnation,
            shared,
            leader,
            others_listen: AtomicBool::new(false),
            last_heartbeat: Mutex::new(Instant::now()),
            stats: ClusterStats::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.config.node_id
    }

    /// Whether this node holds the leader lease now: it renewed it recently enough that it cannot
    /// have run out (a node that was stopped or starved steps down before it looks at the database).
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow() && self.silent_for() + self.config.heartbeat < self.config.lease
    }

    /// Follows leadership changes.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    pub(crate) fn set_leader(&self, leading: bool) {
        self.leader.send_if_modified(|current| std::mem::replace(current, leading) != leading);
    }

    /// Whether commits should feed other nodes' consoles.
    pub fn others_listen(&self) -> bool {
        self.shared && self.others_listen.load(Ordering::Relaxed)
    }

    pub(crate) fn set_others_listen(&self, listen: bool) {
        self.others_listen.store(listen, Ordering::Relaxed);
    }

    /// Rollup rows this node writes: its own shard when nodes share the database, `''` alone. The
    /// shard names the incarnation too: a node restarted under the same id while its old process still
    /// writes (it was stopped, then continued) must not add to the same rows from two caches.
    pub fn rollup_shard(&self) -> &str {
        if self.shared {
            &self.shard
        } else {
            ""
        }
    }

    pub(crate) fn heartbeat_renewed(&self) -> Duration {
        let mut last = self.last_heartbeat.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let silent = last.elapsed();
        *last = Instant::now();
        silent
    }

    /// How long since the last renewed heartbeat.
    pub fn silent_for(&self) -> Duration {
        self.last_heartbeat.lock().unwrap_or_else(std::sync::PoisonError::into_inner).elapsed()
    }

    /// Counts a fenced write and says so.
    pub(crate) fn fenced(&self, instance: &str) {
        self.stats.fenced_writes.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            node = %self.config.node_id,
            instance,
            "a transition was not written: the instance moved to another node (fenced); dropping it here"
        );
    }
}

/// The default node id of `serve`: host name and port, stable across restarts of the same node.
pub fn default_node_id(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", listen.port())
}
