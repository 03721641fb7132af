//! `GET /api/cluster/nodes`: the nodes that share the database, as the overview shows them.

use serde::{Deserialize, Serialize};

/// Every node registered on the database, and which one answered.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNodes {
    /// The node that answered this request.
    pub this_node: String,
    /// The node that holds the leader lease now (runs schedules, SLA checks, demo traffic), if any.
    pub leader: Option<String>,
    /// How long a node may be silent before the others take its work over, milliseconds.
    pub lease_ms: i64,
    /// Whether several nodes may share the database (PostgreSQL); SQLite has exactly one.
    pub shared: bool,
    /// Live nodes first, then silent and stopped ones, by id.
    pub nodes: Vec<ClusterNode>,
}

/// One node.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub id: String,
    /// Where its console and API listen.
    pub address: String,
    pub pid: i64,
    /// When it (this incarnation) started, RFC 3339 UTC.
    pub started_at: String,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_ms: i64,
    pub state: NodeState,
    pub leader: bool,
    /// Live instances it drives now.
    pub owned: i64,
    /// Writes it made for instances that had moved to another node, refused (fenced).
    pub fenced_writes: i64,
    /// Instances it took over (from gone nodes, or handed back).
    pub claimed: i64,
    /// Instances moved to it because a command reached it.
    pub moved_in: i64,
}

/// Whether a node is alive.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heartbeat fresh.
    Up,
    /// Silent for longer than the lease: its work is being taken over.
    Silent,
    /// Shut down gracefully; its work was handed back.
    Stopped,
}

impl NodeState {
    pub fn label(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Silent => "silent",
            NodeState::Stopped => "stopped",
        }
    }
}
