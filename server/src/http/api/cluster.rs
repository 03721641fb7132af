//! `/api/cluster/nodes`: the nodes sharing the database — who is up, who leads, what each drives.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use app::wire::{ClusterNode, ClusterNodes, NodeState};

use crate::cluster::{sql, LEADER};
use crate::error::ApiError;
use crate::http::time::rfc3339;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/cluster/nodes", get(nodes))
}

/// `GET /api/cluster/nodes`: every registered node, live ones first.
async fn nodes(State(state): State<AppState>) -> Result<Json<ClusterNodes>, ApiError> {
    let database = state.runtime.store().database();
    let node = state.runtime.node();
    let lease_ms = node.config.lease_ms();
    let leader = sql::lease_holder(database, LEADER).await.map_err(ApiError::from)?;
    let rows = sql::nodes(database).await.map_err(ApiError::from)?;
    let mut nodes: Vec<ClusterNode> = rows
        .into_iter()
        .map(|row| {
            let age = (row.now - row.heartbeat_at).max(0);
            let state = match row.stopped_at {
                Some(_) => NodeState::Stopped,
                None if age > lease_ms => NodeState::Silent,
                None => NodeState::Up,
            };
            ClusterNode {
                leader: leader.as_deref() == Some(row.id.as_str()),
                id: row.id,
                address: row.address,
                pid: row.pid,
                started_at: rfc3339(row.started_at),
                heartbeat_age_ms: age,
                state,
                owned: row.owned,
                fenced_writes: row.fenced_writes,
                claimed: row.claimed,
                moved_in: row.moved_in,
            }
        })
        .collect();
    nodes.sort_by_key(|node| (node.state != NodeState::Up, node.id.clone()));
    Ok(Json(ClusterNodes { this_node: node.id().to_string(), leader, lease_ms, shared: node.shared, nodes }))
}
