//! `/api/services`: every registered service with its circuit breaker, and the simulated services'
//! faults (latency and failure rates), read and changed while running.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use app::wire::{BreakerStatus, FieldError, ServiceFaults, ServiceLatency, ServiceStatus};
use engine::breaker::BreakerState;

use super::json::Body;
use crate::error::ApiError;
use crate::marketplace::faults::{self, FaultSettings, Latency};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/services", get(list))
        .route("/api/services/{name}/faults", get(faults).put(set_faults).post(set_faults))
}

/// `GET /api/services`: every registered service, by name.
async fn list(State(state): State<AppState>) -> Json<Vec<ServiceStatus>> {
    let registry = state.runtime.services();
    let now = chrono::Utc::now().timestamp_millis();
    let services = registry
        .names()
        .map(|name| {
            let faults = state.faults.get(name).map(wire_of);
            ServiceStatus {
                name: name.to_string(),
                breaker: registry.breaker_state(name, now).map_or(BreakerStatus::Closed, breaker_of),
                simulated: faults.is_some(),
                faults,
            }
        })
        .collect();
    Json(services)
}

/// `GET /api/services/{name}/faults`: 404 unless `name` is a registered simulated service.
async fn faults(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<ServiceFaults>, ApiError> {
    simulated(&state, &name).map(|settings| Json(wire_of(settings)))
}

/// `PUT`/`POST /api/services/{name}/faults`: replaces the settings; answers with them.
async fn set_faults(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body<ServiceFaults>,
) -> Result<Json<ServiceFaults>, ApiError> {
    simulated(&state, &name)?;
    let settings = FaultSettings {
        latency: Latency { p50_ms: body.latency.p50_ms, p99_ms: body.latency.p99_ms },
        failure_rate: body.failure_rate,
        timeout_rate: body.timeout_rate,
        lost_reply_rate: body.lost_reply_rate,
    };
    match state.faults.set(&name, settings) {
        Ok(()) => {
            tracing::info!(service = name, ?settings, "simulated faults changed");
            Ok(Json(body))
        }
        Err(faults::Error::Invalid { field, problem }) => Err(ApiError::unprocessable(
            format!("{field}: {problem}"),
            vec![FieldError { field: field.into(), message: problem.into() }],
        )),
        Err(faults::Error::UnknownService(name)) => Err(not_simulated(&name)),
    }
}

/// The current settings of a registered simulated service. A service replaced by `--service`
/// (reached over HTTP) is registered but not simulated: its faults cannot be set here.
fn simulated(state: &AppState, name: &str) -> Result<FaultSettings, ApiError> {
    let registered = state.runtime.services().names().any(|known| known == name);
    match state.faults.get(name) {
        Some(settings) if registered => Ok(settings),
        _ => Err(not_simulated(name)),
    }
}

fn not_simulated(name: &str) -> ApiError {
    ApiError::NotFound(format!("no simulated service named `{name}`"))
}

fn wire_of(settings: FaultSettings) -> ServiceFaults {
    ServiceFaults {
        latency: ServiceLatency { p50_ms: settings.latency.p50_ms, p99_ms: settings.latency.p99_ms },
        failure_rate: settings.failure_rate,
        timeout_rate: settings.timeout_rate,
        lost_reply_rate: settings.lost_reply_rate,
    }
}

fn breaker_of(state: BreakerState) -> BreakerStatus {
    match state {
        BreakerState::Closed => BreakerStatus::Closed,
        BreakerState::Open => BreakerStatus::Open,
        BreakerState::HalfOpen => BreakerStatus::HalfOpen,
    }
}
