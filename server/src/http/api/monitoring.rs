//! `/api/monitoring/*`, `/api/sla/*` and `/api/charts/*`: success metrics, throughput, per-state
//! aggregates, bottlenecks, the dashboard counters, SLA targets, reports and breaches, and SVG charts.
//! Every read takes the period as `?period=15m|1h|24h|7d|…` (default per route) and most take
//! `?workflow=NAME`. Documented in docs/api.md.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use app::wire::{
    Bottlenecks, Dashboard, FieldError, SlaBreach, SlaReport, SlaTarget, SlaTargetInput, StateKind,
    StateMetricsReport, SuccessMetrics, Throughput,
};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::Body;
use crate::monitoring::charts::{self, SlaPoint, StepPercentiles, TimeSeries};
use crate::monitoring::period::Period;
use crate::monitoring::sla::SlaMetric;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/metrics", get(metrics))
        .route("/api/monitoring/dashboard", get(dashboard))
        .route("/api/monitoring/throughput", get(throughput))
        .route("/api/monitoring/states/{workflow}", get(states))
        .route("/api/monitoring/bottlenecks", get(bottlenecks))
        .route("/api/sla/targets", get(list_targets).post(create_target))
        .route("/api/sla/targets/{id}", get(target).post(update_target))
        .route("/api/sla/targets/{id}/delete", post(delete_target))
        .route("/api/sla/report", get(report))
        .route("/api/sla/breaches", get(breaches))
        .route("/api/charts/throughput.svg", get(throughput_chart))
        .route("/api/charts/steps.svg", get(steps_chart))
        .route("/api/charts/sla/{id}", get(sla_chart))
}

/// The query of the reads that take a period and a workflow.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PeriodQuery {
    /// How far back: `15m`, `1h`, `24h`, `7d`, … (the default depends on the route).
    period: Option<String>,
    /// Only this workflow type.
    workflow: Option<String>,
    /// End of the period, epoch ms (default: now).
    end: Option<i64>,
}

/// The query of the reads that take a period only.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PeriodOnlyQuery {
    /// How far back: `15m`, `1h`, `24h`, `7d`, … (the default depends on the route).
    period: Option<String>,
    /// End of the period, epoch ms (default: now).
    end: Option<i64>,
}

/// The query of the reads that take a workflow only.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowQuery {
    /// Only this workflow type.
    workflow: Option<String>,
}

/// The latest `end` accepted: 2100-01-01, far beyond any history, far from overflowing.
const MAX_END_MS: i64 = 4_102_444_800_000;

fn read<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

impl From<PeriodOnlyQuery> for PeriodQuery {
    fn from(query: PeriodOnlyQuery) -> Self {
        PeriodQuery { period: query.period, workflow: None, end: query.end }
    }
}

impl PeriodQuery {
    fn read(query: Result<Query<PeriodQuery>, QueryRejection>) -> Result<PeriodQuery, ApiError> {
        read(query)
    }

    fn period(&self, state: &AppState, default: &str) -> Result<Period, ApiError> {
        if let Some(end) = self.end.filter(|end| !(0..=MAX_END_MS).contains(end)) {
            return Err(ApiError::unprocessable(
                "the end of the period is not valid",
                vec![FieldError {
                    field: "end".into(),
                    message: format!("{end} is not an epoch time in milliseconds from 0 to {MAX_END_MS} (2100-01-01)"),
                }],
            ));
        }
        let end = self.end.unwrap_or_else(|| state.monitor.now_ms());
        let text = self.period.as_deref().unwrap_or(default);
        Period::parse(text, end).map_err(|error| {
            ApiError::unprocessable(
                "the period is not valid",
                vec![FieldError { field: "period".into(), message: error.0 }],
            )
        })
    }

    /// The workflow named by `?workflow=`, if any; 404 when no such workflow type is registered.
    fn workflow(&self, state: &AppState) -> Result<Option<&str>, ApiError> {
        let Some(name) = self.workflow.as_deref().filter(|w| !w.is_empty()) else { return Ok(None) };
        state.runtime.definition(name, None)?;
        Ok(Some(name))
    }
}


type Q = Result<Query<PeriodQuery>, QueryRejection>;

/// `GET /api/monitoring/metrics?period=24h&workflow=`.
async fn metrics(State(state): State<AppState>, query: Q) -> Result<Json<SuccessMetrics>, ApiError> {
    let query = PeriodQuery::read(query)?;
    let period = query.period(&state, "24h")?;
    Ok(Json(state.monitor.success_metrics(&period, query.workflow(&state)?).await?))
}

/// `GET /api/monitoring/dashboard?period=1h`.
async fn dashboard(
    State(state): State<AppState>,
    query: Result<Query<PeriodOnlyQuery>, QueryRejection>,
) -> Result<Json<Dashboard>, ApiError> {
    let query = PeriodQuery::from(read(query)?);
    let period = query.period(&state, "1h")?;
    Ok(Json(state.monitor.dashboard(&period).await?))
}

/// `GET /api/monitoring/throughput?period=1h&workflow=`.
async fn throughput(State(state): State<AppState>, query: Q) -> Result<Json<Throughput>, ApiError> {
    let query = PeriodQuery::read(query)?;
    let period = query.period(&state, "1h")?;
    Ok(Json(state.monitor.throughput(&period, query.workflow(&state)?).await?))
}

/// `GET /api/monitoring/states/{workflow}?period=24h`.
async fn states(
    State(state): State<AppState>,
    Path(workflow): Path<String>,
    query: Result<Query<PeriodOnlyQuery>, QueryRejection>,
) -> Result<Json<StateMetricsReport>, ApiError> {
    let query = PeriodQuery::from(read(query)?);
    let period = query.period(&state, "24h")?;
    Ok(Json(state.monitor.states(&workflow, &period).await?))
}

/// `GET /api/monitoring/bottlenecks?period=7d&workflow=`.
async fn bottlenecks(State(state): State<AppState>, query: Q) -> Result<Json<Bottlenecks>, ApiError> {
    let query = PeriodQuery::read(query)?;
    let period = query.period(&state, "7d")?;
    Ok(Json(state.monitor.bottlenecks(&period, query.workflow(&state)?).await?))
}

async fn list_targets(State(state): State<AppState>) -> Result<Json<Vec<SlaTarget>>, ApiError> {
    Ok(Json(state.monitor.targets().await?))
}

async fn target(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<SlaTarget>, ApiError> {
    Ok(Json(state.monitor.target(&id).await?))
}

/// `POST /api/sla/targets`: 201 with the target.
async fn create_target(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(input): Body<SlaTargetInput>,
) -> Result<(StatusCode, Json<SlaTarget>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.monitor.create_target(&input, &principal.name).await?)))
}

async fn update_target(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Body(input): Body<SlaTargetInput>,
) -> Result<Json<SlaTarget>, ApiError> {
    Ok(Json(state.monitor.update_target(&id, &input, &principal.name).await?))
}

/// `POST /api/sla/targets/{id}/delete`: 204.
async fn delete_target(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.monitor.delete_target(&id, &principal.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/sla/report?workflow=`.
async fn report(
    State(state): State<AppState>,
    query: Result<Query<WorkflowQuery>, QueryRejection>,
) -> Result<Json<SlaReport>, ApiError> {
    let query = read(query)?;
    let workflow = query.workflow.as_deref().filter(|w| !w.is_empty());
    Ok(Json(state.monitor.sla_report(workflow).await?))
}

/// The query of `GET /api/sla/breaches`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreachQuery {
    /// Only breaches still open.
    #[serde(default)]
    open: bool,
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<i64>,
}

/// `GET /api/sla/breaches?open=true&limit=100`: newest first.
async fn breaches(
    State(state): State<AppState>,
    query: Result<Query<BreachQuery>, QueryRejection>,
) -> Result<Json<Vec<SlaBreach>>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::unprocessable(
            "the limit is not valid",
            vec![FieldError { field: "limit".into(), message: "must be from 1 to 1000".into() }],
        ));
    }
    Ok(Json(state.monitor.breaches(query.open, limit).await?))
}

fn svg(body: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

/// `GET /api/charts/throughput.svg?period=1h&workflow=`: started and finished per bucket, by outcome.
async fn throughput_chart(State(state): State<AppState>, query: Q) -> Result<Response, ApiError> {
    let query = PeriodQuery::read(query)?;
    let period = query.period(&state, "1h")?;
    let data = state.monitor.throughput(&period, query.workflow(&state)?).await?;
    let series = |label: &str, value: fn(&app::wire::ThroughputPoint) -> i64| TimeSeries {
        label: label.into(),
        points: data.points.iter().map(|p| (p.bucket_ms, value(p) as f64)).collect(),
    };
    let all = [
        series("started", |p| p.started),
        series("completed", |p| p.completed),
        series("failed", |p| p.failed),
        series("compensated", |p| p.compensated),
        series("cancelled", |p| p.cancelled),
    ];
    let title = format!("Throughput — {}, last {}", query.workflow(&state)?.unwrap_or("all workflows"), period.label);
    Ok(svg(charts::throughput_chart(&title, period.from_ms, period.to_ms, period.resolution_ms, &all)))
}

/// `GET /api/charts/steps.svg?workflow=NAME&period=24h`: p50/p95/p99 of each task step's time.
async fn steps_chart(State(state): State<AppState>, query: Q) -> Result<Response, ApiError> {
    let query = PeriodQuery::read(query)?;
    let period = query.period(&state, "24h")?;
    let Some(workflow) = query.workflow(&state)? else {
        return Err(ApiError::unprocessable(
            "which workflow's steps?",
            vec![FieldError { field: "workflow".into(), message: "is required".into() }],
        ));
    };
    let report = state.monitor.states(workflow, &period).await?;
    let steps: Vec<StepPercentiles> = report
        .states
        .iter()
        .filter(|s| s.time_in_state.count > 0 && s.kind.parse().is_ok_and(is_step))
        .map(|s| StepPercentiles {
            step: s.state.clone(),
            p50_ms: s.time_in_state.p50_ms.unwrap_or(0) as f64,
            p95_ms: s.time_in_state.p95_ms.unwrap_or(0) as f64,
            p99_ms: s.time_in_state.p99_ms.unwrap_or(0) as f64,
        })
        .collect();
    let title = format!("Time per step — {workflow}, last {}", period.label);
    Ok(svg(charts::step_duration_chart(&title, &steps)))
}

/// `GET /api/charts/sla/{id}.svg`: the target's value per period against its threshold.
async fn sla_chart(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let id = file.strip_suffix(".svg").unwrap_or(&file);
    let target = state.monitor.target(id).await?;
    let report = state.monitor.sla_report(Some(&target.workflow)).await?;
    let result = report
        .results
        .into_iter()
        .find(|r| r.target.id == target.id)
        .ok_or_else(|| ApiError::NotFound(format!("no SLA target with id {id:?}")))?;
    let metric = SlaMetric::parse(&target.metric).unwrap_or(SlaMetric::P95Duration);
    let scale = if metric.is_duration() { 1.0 } else { 100.0 };
    let points: Vec<SlaPoint> =
        result.trend.iter().map(|p| SlaPoint { period_end_ms: p.to_ms, actual: p.actual.map(|v| v * scale) }).collect();
    let title = format!("{} — {}", target.workflow, target.description);
    Ok(svg(charts::sla_trend_chart(
        &title,
        metric.label(),
        target.threshold * scale,
        metric.higher_is_better(),
        &points,
    )))
}

/// Whether time in a state of this kind is a step's time (work or waiting); choices and ends take none.
fn is_step(kind: StateKind) -> bool {
    match kind {
        StateKind::Task | StateKind::Human | StateKind::Parallel | StateKind::Wait => true,
        StateKind::Choice | StateKind::Succeed | StateKind::Fail => false,
    }
}
