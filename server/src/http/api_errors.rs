//! Every error under `/api/` in the documented JSON shape, whoever produced it.
//!
//! Handlers answer with [`ApiError`], but some refusals are made before a handler runs, by extractors
//! and libraries that answer in plain text: axum's `Path` for a segment that is not UTF-8
//! (`/api/instances/%FF/pause`), Leptos's server functions for a body they cannot read. This layer
//! rewrites such a response into `{"error": {"code", "message"}}` with the same status, so a client
//! never has to parse two error formats.
//!
//! The console's server functions take no arguments, so their body is checked here too: it must be
//! small, and readable as an empty form or an empty JSON object. Anything else is the caller's mistake
//! (400 or 413), not a server failure (Leptos would answer 500).

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The console's server functions (`app/src/api.rs`); each takes no arguments.
pub const SERVER_FUNCTIONS: [&str; 2] = ["/api/system_info", "/api/instance_counts"];

/// The largest body a server function reads: none of them takes arguments.
const SERVER_FUNCTION_BODY_LIMIT: usize = 4 * 1024;

/// How much of a plain-text error is kept as the message.
const MESSAGE_LIMIT: usize = 16 * 1024;

/// The middleware: checks server-function bodies, then rewrites plain error responses under `/api/`.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        return next.run(request).await;
    }
    let request = if SERVER_FUNCTIONS.contains(&path) {
        match checked_server_function_request(request).await {
            Ok(request) => request,
            Err(error) => return error.into_response(),
        }
    } else {
        request
    };
    let response = next.run(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        return as_json(response).await;
    }
    response
}

/// Reads a server function's body (bounded) and lets it through only when it carries no arguments.
async fn checked_server_function_request(request: Request) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, SERVER_FUNCTION_BODY_LIMIT).await.map_err(|_| ApiError::Invalid {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "the body is larger than {SERVER_FUNCTION_BODY_LIMIT} bytes; this server function takes no arguments"
        ),
        fields: Vec::new(),
    })?;
    if !carries_no_arguments(&bytes) {
        return Err(ApiError::bad_request(
            "this server function takes no arguments: send an empty body (or `{}` as JSON)",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Empty, whitespace, an empty JSON object, or an empty form.
fn carries_no_arguments(bytes: &Bytes) -> bool {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.trim(),
        Err(_) => return false,
    };
    text.is_empty() || serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text).is_ok_and(|m| m.is_empty())
}

/// The response as it is when it already is JSON; otherwise its text as the message of the JSON shape.
async fn as_json(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json") || value.starts_with("text/event-stream"));
    if is_json {
        return response;
    }
    let status = response.status();
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MESSAGE_LIMIT).await.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let text = text.unwrap_or_default();
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        text => text.to_string(),
    };
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::CONFLICT => ApiError::Conflict(message),
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(message),
        StatusCode::FORBIDDEN => ApiError::Forbidden(message),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(message),
        status if status.is_server_error() => ApiError::Internal(anyhow::anyhow!("{status}: {message}")),
        status => ApiError::Invalid { status, message, fields: Vec::new() },
    };
    let mut rewritten = error.into_response();
    // Keep what the original said beyond its body (Retry-After, Allow, request id).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    *rewritten.status_mut() = status;
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_bodies_carry_no_arguments() {
        for empty in ["", "  ", "{}", " { } "] {
            assert!(carries_no_arguments(&Bytes::from(empty)), "{empty:?}");
        }
        for bad in ["x", "{\"a\":1}", "[]", "null", "\u{1F525}"] {
            assert!(!carries_no_arguments(&Bytes::from(bad)), "{bad:?}");
        }
        assert!(!carries_no_arguments(&Bytes::from_static(&[0xff, 0xfe])));
    }
}
