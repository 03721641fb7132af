//! `GET /api/health`: liveness and database reachability, for load balancers and people.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use app::wire::{Health, HealthStatus};

use crate::state::AppState;

/// 200 with `status: ok` when the database answers; 503 with `status: degraded` when it does not.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database_reachable = state.database.is_reachable().await;
    let (code, status) = if database_reachable {
        (StatusCode::OK, HealthStatus::Ok)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Degraded)
    };
    let health =
        Health { status, version: state.system.version.clone(), backend: state.database.backend(), database_reachable };
    (code, Json(health))
}
