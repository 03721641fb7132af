//! `GET /api/health` (readiness) and `GET /api/health/live` (liveness), for load balancers and people.
//!
//! Neither touches the database while the request waits: readiness reports what the background probe
//! and the writer observed ([`crate::health`]), so a server busy with a flood of requests is reported
//! busy-but-ready, not dead.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use app::wire::{Health, HealthStatus};

use crate::state::AppState;

/// 200 with `status: ok` when the database answers and writes succeed; 503 with `status: degraded`
/// and `problems` in words when not.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let report = state.runtime.writer_stats().health.report(chrono::Utc::now().timestamp_millis());
    let (code, status) = if report.database_reachable && report.problems.is_empty() {
        (StatusCode::OK, HealthStatus::Ok)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Degraded)
    };
    let health = Health {
        status,
        version: state.system.version.clone(),
        backend: state.database.backend(),
        database_reachable: report.database_reachable,
        problems: report.problems,
    };
    (code, Json(health))
}

/// 200 while the process serves HTTP: restart it only when this fails.
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
