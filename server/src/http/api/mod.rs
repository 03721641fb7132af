//! The JSON API of workflows: definitions, instances, operator actions. Documented in `docs/api.md`.
//!
//! Handlers are thin: read the request (with [`json::Body`], which names the offending field of a bad
//! body), call one runtime or store method, convert to wire types. Errors become responses in
//! `crate::error` only.

mod cluster;
mod definitions;
pub(crate) mod instances;
pub mod json;
pub(crate) mod monitoring;
mod services;
pub mod time;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest request body accepted (definitions and inputs are small JSON documents).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/definitions", get(definitions::list).post(definitions::register))
        .route("/api/definitions/{name}", get(definitions::versions))
        .route("/api/definitions/{name}/versions/{version}", get(definitions::version))
        .route("/api/instances", get(instances::list).post(instances::start))
        .route("/api/instances/bulk", post(instances::bulk))
        .route("/api/instances/{id}", get(instances::detail))
        .route("/api/instances/{id}/history", get(instances::history))
        .route("/api/instances/{id}/steps", get(instances::steps))
        .route("/api/instances/{id}/wait", get(instances::wait))
        .route("/api/instances/{id}/{action}", post(instances::act))
        .merge(crate::schedules::router())
        .merge(services::router())
        .merge(monitoring::router())
        .merge(cluster::router())
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// 405 in the API's error shape, naming what was tried.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
