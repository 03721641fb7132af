//! `/api/services`: every registered service with its circuit breaker and its calls of the last five
//! minutes, the breaker's operator controls (trip, reset), and the simulated services' faults (latency
//! and failure rates), read and changed while running.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use std::collections::BTreeMap;

use app::wire::{
    BreakerAction, BreakerCommand, BreakerStatus, FieldError, ServiceCallStats, ServiceFailure, ServiceFaults,
    ServiceLatency, ServiceOnNode, ServiceStatus,
};
use engine::breaker::BreakerState;

use crate::auth::Principal;
use crate::cluster::controls;
use crate::error::ApiError;
use crate::http::json::Body;
use crate::http::time::rfc3339;
use crate::marketplace::faults::{self, FaultSettings, Latency};
use crate::services::CallSummary;
use crate::state::AppState;
use crate::store::AuditRow;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/services", get(list))
        .route("/api/services/{name}/breaker", post(breaker))
        .route("/api/services/{name}/faults", get(faults).post(set_faults))
}

/// `GET /api/services`: every registered service, by name, with its figures on every live node.
async fn list(State(state): State<AppState>) -> Json<Vec<ServiceStatus>> {
    // The runtime's clock: the one the calls were counted and the breakers driven with.
    let now = state.runtime.now_ms();
    let mut services: Vec<ServiceStatus> =
        state.runtime.services().names().filter_map(|name| status_of(&state, name, now)).collect();
    let others = other_nodes(&state).await;
    let here = state.runtime.node().id().to_string();
    for service in &mut services {
        service.nodes.push(ServiceOnNode {
            node: here.clone(),
            this_node: true,
            breaker: service.breaker,
            calls: service.calls.calls,
            failures: service.calls.failures,
            error_rate: service.calls.error_rate,
            latency_p95_ms: service.calls.latency_p95_ms,
            calls_per_minute: service.calls.calls_per_minute,
        });
        for (node, figures) in &others {
            if let Some(on_node) = figures.get(&service.name) {
                service.nodes.push(ServiceOnNode { node: node.clone(), this_node: false, ..on_node.clone() });
            }
        }
    }
    Json(services)
}

/// The per-service figures the other live nodes reported with their last heartbeat. Empty alone, or
/// when the nodes cannot be read (the page then shows this node's figures only).
async fn other_nodes(state: &AppState) -> Vec<(String, BTreeMap<String, ServiceOnNode>)> {
    let node = state.runtime.node();
    if !node.shared {
        return Vec::new();
    }
    let rows = match crate::cluster::sql::nodes(state.runtime.store().database()).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "cannot read the other nodes' service figures");
            return Vec::new();
        }
    };
    rows.into_iter()
        .filter(|row| row.id != node.id() && row.stopped_at.is_none() && row.now - row.heartbeat_at <= node.config.lease_ms())
        .filter_map(|row| serde_json::from_str(&row.services).ok().map(|figures| (row.id, figures)))
        .collect()
}

/// `POST /api/services/{name}/breaker` with `{"action": "trip" | "reset"}`: answers with the service.
async fn breaker(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    Body(command): Body<BreakerCommand>,
) -> Result<Json<ServiceStatus>, ApiError> {
    let registry = state.runtime.services();
    let now = state.runtime.now_ms();
    let before = registry.breaker_state(&name, now).map(|b| serde_json::json!({ "breaker": breaker_of(b) }));
    let (known, action, shared) = match command.action {
        BreakerAction::Trip => (registry.trip_breaker(&name), "service.breaker_trip", controls::BreakerAction::Trip),
        BreakerAction::Reset => (registry.reset_breaker(&name), "service.breaker_reset", controls::BreakerAction::Reset),
    };
    if !known {
        return Err(ApiError::NotFound(format!("no service named `{name}`")));
    }
    tracing::info!(service = name, action = ?command.action, "circuit breaker changed by an operator");
    let after = registry.breaker_state(&name, now).map(|b| serde_json::json!({ "breaker": breaker_of(b) }));
    let mut entry = AuditRow::ok(&principal.name, action, "service", &name, now);
    entry.before = before.map(|v| v.to_string());
    entry.after = after.map(|v| v.to_string());
    // Shared with every node, the audit entry in the same transaction.
    let version = controls::store_breaker(state.runtime.store(), &name, shared, Some(entry))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    controls::mark_applied(&state, &name, None, Some(version));
    status_of(&state, &name, state.runtime.now_ms())
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no service named `{name}`")))
}

/// One registered service as the API shows it; `None` for an unknown name.
fn status_of(state: &AppState, name: &str, now: i64) -> Option<ServiceStatus> {
    let registry = state.runtime.services();
    let breaker = registry.breaker_state(name, now).map(breaker_of)?;
    let calls = registry.call_stats(name, now).map(calls_of)?;
    let faults = state.faults.get(name).map(wire_of);
    Some(ServiceStatus { name: name.to_string(), breaker, simulated: faults.is_some(), faults, calls, nodes: Vec::new() })
}

fn calls_of(summary: CallSummary) -> ServiceCallStats {
    ServiceCallStats {
        window_secs: summary.window_secs,
        calls: summary.calls,
        failures: summary.failures,
        error_rate: summary.error_rate,
        latency_p50_ms: summary.latency_p50_ms,
        latency_p95_ms: summary.latency_p95_ms,
        latency_p99_ms: summary.latency_p99_ms,
        calls_per_minute: summary.calls_per_minute,
        recent_failures: summary
            .recent_failures
            .into_iter()
            .map(|failure| ServiceFailure {
                at: rfc3339(failure.at_ms),
                action: failure.action,
                kind: failure.kind.to_string(),
                error: failure.message,
            })
            .collect(),
    }
}

/// `GET /api/services/{name}/faults`: 404 unless `name` is a registered simulated service.
async fn faults(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<ServiceFaults>, ApiError> {
    simulated(&state, &name).map(|settings| Json(wire_of(settings)))
}

/// `PUT`/`POST /api/services/{name}/faults`: replaces the settings; answers with them.
async fn set_faults(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    Body(body): Body<ServiceFaults>,
) -> Result<Json<ServiceFaults>, ApiError> {
    let before = wire_of(simulated(&state, &name)?);
    let settings = FaultSettings {
        latency: Latency { p50_ms: body.latency.p50_ms, p99_ms: body.latency.p99_ms },
        failure_rate: body.failure_rate,
        timeout_rate: body.timeout_rate,
        lost_reply_rate: body.lost_reply_rate,
    };
    match state.faults.set(&name, settings) {
        Ok(()) => {
            tracing::info!(service = name, ?settings, "simulated faults changed");
            let entry = AuditRow::ok(&principal.name, "service.faults", "service", &name, state.runtime.now_ms())
                .before(&serde_json::to_value(before).unwrap_or_default())
                .after(&serde_json::to_value(body).unwrap_or_default());
            // Shared with every node, the audit entry in the same transaction.
            let version = controls::store_faults(state.runtime.store(), &name, &settings, Some(entry))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            controls::mark_applied(&state, &name, Some(version), None);
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
