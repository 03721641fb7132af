//! Where errors become HTTP responses — the only place (architecture invariant 6).
//!
//! Every API error has one stable JSON shape, [`app::wire::ApiErrorBody`]:
//! `{"error": {"code": "not_found", "message": "…", "fields": [{"field": "…", "message": "…"}]}}`.
//! Internal errors are logged with their details and reach the client as a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use app::wire::{ApiErrorBody, ApiErrorDetail, FieldError};

/// An error an API handler returns. Each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: the addressed thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 400 / 422: the request is malformed or fails validation; `fields` says where.
    #[error("{message}")]
    Invalid {
        status: StatusCode,
        message: String,
        fields: Vec<FieldError>,
    },
    /// 503: a dependency (the database) does not answer.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; the details go to the log only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Invalid { status, .. } => (*status, "invalid_request"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let (message, fields) = match self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                (
                    "internal error; the server log has the details".to_string(),
                    Vec::new(),
                )
            }
            ApiError::Invalid {
                message, fields, ..
            } => (message, fields),
            other => (other.to_string(), Vec::new()),
        };
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                code: code.into(),
                message,
                fields,
            },
        };
        (status, Json(body)).into_response()
    }
}
