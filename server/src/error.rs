//! Where errors become HTTP responses — the only place (architecture invariant 6).
//!
//! Every API error has one stable JSON shape, [`app::wire::ApiErrorBody`]:
//! `{"error": {"code": "not_found", "message": "…", "fields": [{"field": "…", "message": "…"}]}}`.
//! Internal errors are logged with their details and reach the client as a generic message.
//!
//! Every module's error converts here (`From<runtime::Error>`, `store::Error`, `monitor::Error`,
//! `schedules::Error`, `interventions::inbox::Error`), so handlers write `?`; the helpers for field problems ([`field`],
//! [`ApiError::invalid_fields`], [`data_error`]) and the redaction of a bulk action's failures
//! ([`ApiError::public_message`]) live here too. This module calls no HTTP module.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use app::wire::{ApiErrorBody, ApiErrorDetail, FieldError};

use crate::monitoring::monitor::Error as MonitorError;
use crate::interventions::inbox;
use crate::{runtime, schedules, store};

/// An error an API handler returns. Each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: the addressed thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 400 / 422: the request is malformed or fails validation; `fields` says where.
    #[error("{message}")]
    Invalid { status: StatusCode, message: String, fields: Vec<FieldError> },
    /// 409: the request conflicts with the current state (e.g. resume an instance that is not paused).
    #[error("{0}")]
    Conflict(String),
    /// 401: no valid session or API token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: signed in, but the role does not allow it (or the request's origin is foreign).
    #[error("{0}")]
    Forbidden(String),
    /// 405: the route exists but not for this method (state changes are POST-only).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 429: too many failed sign-ins; try again after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// 503: a dependency (the database) does not answer.
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: the server is busy (its password checks are all taken); try again after
    /// `retry_after_secs`.
    #[error("{message}")]
    Busy { message: String, retry_after_secs: u64 },
    /// 500: a bug or an unexpected failure; the details go to the log only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Invalid { status, .. } => (*status, "invalid_request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Unavailable(_) | ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after_secs, .. } | ApiError::Busy { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            _ => None,
        };
        if let ApiError::Internal(error) = &self {
            if database_unavailable(error) {
                tracing::warn!(error = format!("{error:#}"), "a request failed: the database is not available");
                let message = "the database is not available right now; try again shortly".to_string();
                let mut response = ApiError::Unavailable(message).into_response();
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(2));
                return response;
            }
        }
        let (message, fields) = match self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                ("internal error; the server log has the details".to_string(), Vec::new())
            }
            ApiError::Invalid { message, fields, .. } => (message, fields),
            other => (other.to_string(), Vec::new()),
        };
        let body = ApiErrorBody { error: ApiErrorDetail { code: code.into(), message, fields } };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

/// Whether an error comes from not reaching the database (no connection in time, the connection
/// broken or refused, a full disk): 503, worth trying again, not a bug.
fn database_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if let Some(error) = cause.downcast_ref::<sqlx::Error>() {
            return match error {
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
                sqlx::Error::Database(error) => {
                    let message = error.message();
                    message.contains("disk is full") || message.contains("disk I/O error")
                }
                _ => false,
            };
        }
        let text = cause.to_string();
        text.contains("pool timed out") || text.contains("database or disk is full") || text.contains("Connection refused")
    })
}

impl ApiError {
    /// 422 with field-level problems.
    pub fn unprocessable(message: impl Into<String>, fields: Vec<FieldError>) -> Self {
        ApiError::Invalid { status: StatusCode::UNPROCESSABLE_ENTITY, message: message.into(), fields }
    }

    /// 400: the request cannot be read at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::Invalid { status: StatusCode::BAD_REQUEST, message: message.into(), fields: Vec::new() }
    }
}

/// A field-level problem of a 422.
pub fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

impl ApiError {
    /// 422 listing `problems`; with a single one, its message is the error's message too.
    pub fn invalid_fields(problems: Vec<FieldError>) -> Self {
        match problems.as_slice() {
            [one] => ApiError::unprocessable(format!("{}: {}", one.field, one.message), problems),
            _ => ApiError::unprocessable("the request has invalid fields", problems),
        }
    }

    /// What a client may read of this error when it is one of many outcomes (a bulk action's failures):
    /// its message, with internal details logged and replaced, as a response would.
    pub fn public_message(self) -> String {
        match self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error in a bulk action");
                "internal error; the server log has the details".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// A 422 naming the field of a body that did not deserialise: the path serde reached, or for a missing
/// field the field itself.
pub fn data_error(path: &str, serde_message: &str) -> ApiError {
    let message = strip_position(serde_message);
    let field = match missing_field(&message) {
        Some(name) if path == "." || path.is_empty() => name.to_string(),
        Some(name) => format!("{path}.{name}"),
        None if path == "." || path.is_empty() => "body".to_string(),
        None => path.to_string(),
    };
    let message = if missing_field(&message).is_some() { "is required".to_string() } else { message };
    ApiError::unprocessable(format!("{field}: {message}"), vec![FieldError { field, message }])
}

/// The name in serde's "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says it better.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

impl From<store::Error> for ApiError {
    fn from(error: store::Error) -> Self {
        ApiError::Internal(error.into())
    }
}

impl From<MonitorError> for ApiError {
    fn from(error: MonitorError) -> Self {
        match error {
            MonitorError::NotFound(message) => ApiError::NotFound(message),
            MonitorError::Conflict(message) => ApiError::Conflict(message),
            MonitorError::Invalid(problems) => ApiError::unprocessable(
                "the SLA target is not valid",
                problems.into_iter().map(|(name, message)| field(name, message)).collect(),
            ),
            MonitorError::Store(error) => error.into(),
        }
    }
}

impl From<schedules::Error> for ApiError {
    fn from(error: schedules::Error) -> Self {
        use schedules::Error as E;
        match error {
            E::Cron(ref cron) => ApiError::unprocessable(error.to_string(), vec![field("cron", cron.to_string())]),
            E::Template(ref message) => ApiError::unprocessable(error.to_string(), vec![field("input", message.clone())]),
            E::NotFound(_) => ApiError::NotFound(error.to_string()),
            E::Runtime(error) => error.into(),
            E::Store(error) => error.into(),
        }
    }
}

impl From<inbox::Error> for ApiError {
    fn from(error: inbox::Error) -> Self {
        match error {
            inbox::Error::NotFound(message) => ApiError::NotFound(message),
            inbox::Error::Conflict(message) => ApiError::Conflict(message),
            inbox::Error::Invalid { message, fields } => ApiError::unprocessable(message, fields),
            inbox::Error::Runtime(error) => error.into(),
            inbox::Error::Store(error) => error.into(),
        }
    }
}

/// "3 problems: states.a.next: …; name: …; …" (the first three in full; `fields` has them all).
fn summarise(problems: &[engine::Problem]) -> String {
    const SHOWN: usize = 3;
    let count = match problems.len() {
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    };
    let mut listed: Vec<String> = problems.iter().take(SHOWN).map(ToString::to_string).collect();
    if problems.len() > SHOWN {
        listed.push(format!("and {} more (see `fields`)", problems.len() - SHOWN));
    }
    format!("{count}: {}", listed.join("; "))
}

impl From<runtime::Error> for ApiError {
    fn from(error: runtime::Error) -> Self {
        use runtime::Error as E;
        match error {
            E::UnknownWorkflow(_) | E::UnknownVersion { .. } | E::InstanceNotFound(_) => {
                ApiError::NotFound(error.to_string())
            }
            E::InvalidDefinition(problems) => {
                let summary = summarise(&problems);
                let fields = problems.into_iter().map(|problem| field(problem.path, problem.message)).collect();
                ApiError::unprocessable(format!("the definition is not valid: {summary}"), fields)
            }
            E::InvalidInput(problems) => ApiError::unprocessable(
                "the input does not match the workflow's input schema",
                problems.into_iter().map(|p| field(p.field, p.problem)).collect(),
            ),
            E::Rejected(message) => ApiError::Conflict(message),
            E::Commit(error) => ApiError::Unavailable(format!("the database did not take the change: {error}")),
            E::Store(error) => ApiError::Internal(error.into()),
            E::Corrupt(message) => ApiError::Internal(anyhow::anyhow!(message)),
        }
    }
}
