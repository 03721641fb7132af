//! The JSON API of workflows: definitions, instances with their operator actions, services, monitoring
//! and the cluster's nodes. Documented in `docs/api.md`. Each module has its routes' `router()`;
//! `crate::http::router` merges them with every other area's.
//!
//! Handlers are thin: read the request (with [`crate::http::json::Body`], which names the offending
//! field of a bad body), call one runtime or store method, convert to wire types. Errors become
//! responses in `crate::error` only.

pub(super) mod cluster;
pub(super) mod definitions;
pub(crate) mod instances;
pub(crate) mod monitoring;
pub(super) mod services;

use crate::error::ApiError;

/// 405 in the API's error shape, naming what was tried.
pub(super) async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
