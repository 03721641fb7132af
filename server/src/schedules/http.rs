//! `/api/schedules`: list schedules, create or change one, run one by hand.
//!
//! - `GET /api/schedules` → `{"schedules": [{name, workflow, cron, input, enabled, next_run_at,
//!   last_run_at, last_instance_id}]}`, times RFC 3339 (UTC, milliseconds) or `null`.
//! - `PUT /api/schedules/{name}` with `{workflow, cron, input?, enabled?}` → the schedule. A bad cron is
//!   422 with `fields: [{"field": "cron", "message": "cron field `hour`: 24 is out of range 0-23"}]`.
//! - `POST /api/schedules/{name}/run` → 201 `{schedule, instance_id, idempotency_key, created}`: starts
//!   the workflow now with the key `schedule:<name>:manual:<now>`.
//!
//! The request and response types are the wire types in `app::wire::schedules`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::Value;

use app::wire::{PutSchedule, RunStarted, ScheduleList, ScheduleView};

use super::{rfc3339, Fired, ScheduleRow, ScheduleSpec};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::Body;
use crate::state::AppState;

/// The routes of this module, merged into the API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/schedules", get(list))
        .route("/api/schedules/{name}", get(one).post(put))
        .route("/api/schedules/{name}/run", post(run))
}

impl From<ScheduleRow> for ScheduleView {
    fn from(row: ScheduleRow) -> Self {
        Self {
            input: serde_json::from_str(&row.input).unwrap_or(Value::String(row.input)),
            name: row.name,
            workflow: row.workflow,
            cron: row.cron,
            enabled: row.enabled != 0,
            next_run_at: rfc3339(row.next_run_at),
            last_run_at: row.last_run_at.map(rfc3339),
            last_instance_id: row.last_instance_id,
        }
    }
}

impl From<Fired> for RunStarted {
    fn from(fired: Fired) -> Self {
        Self {
            schedule: fired.schedule,
            instance_id: fired.instance_id,
            idempotency_key: fired.idempotency_key,
            created: fired.created,
        }
    }
}

/// `GET /api/schedules`.
async fn list(State(state): State<AppState>) -> Result<Json<ScheduleList>, ApiError> {
    let rows = state.schedules.list().await?;
    Ok(Json(ScheduleList { schedules: rows.into_iter().map(ScheduleView::from).collect() }))
}

/// `GET /api/schedules/{name}`.
async fn one(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<ScheduleView>, ApiError> {
    Ok(Json(state.schedules.get(&name).await?.into()))
}

/// `POST /api/schedules/{name}`: creates or changes a schedule.
async fn put(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    Body(body): Body<PutSchedule>,
) -> Result<Json<ScheduleView>, ApiError> {
    let spec = ScheduleSpec {
        name: name.clone(),
        workflow: body.workflow,
        cron: body.cron,
        input: body.input.unwrap_or_else(|| Value::Object(Default::default())),
        enabled: body.enabled.unwrap_or(true),
    };
    let actor = Some(principal.name.as_str());
    let mut row = state.schedules.upsert_by(&spec, actor).await?;
    if let Some(enabled) = body.enabled {
        if (row.enabled != 0) != enabled {
            row = state.schedules.set_enabled_by(&name, enabled, actor).await?;
        }
    }
    Ok(Json(row.into()))
}

/// `POST /api/schedules/{name}/run`: 201 once the start is durable.
async fn run(
    State(state): State<AppState>,
    Extension(principal): Extension<crate::auth::Principal>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let fired = state.schedules.run_now(&name, &principal.name).await?;
    let status = if fired.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(fired.into())))
}

