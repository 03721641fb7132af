//! [`HttpService`]: a task calls a real service over HTTP.
//!
//! `POST {base_url}/{action}` with the input as the JSON body, the idempotency key in the
//! `Idempotency-Key` header and the caller in `Switchboard-Instance-Id`, `Switchboard-State`,
//! `Switchboard-Attempt` and `Switchboard-Step-Kind` (`task` or `compensation`), bounded by the step's
//! timeout. Only the declared actions are called (see `--service`). The answer is classified for the engine:
//! 2xx is success (the JSON body is the output; an empty body is `null`); 408, 429 and 5xx are
//! retryable; any other 4xx is permanent (retrying the same request cannot help); no answer in time is a
//! timeout; a refused or broken connection is retryable. Plain HTTP only: this build carries no TLS.

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::Value;

use engine::{ErrorKind, ServiceError};

use super::{Service, ServiceRequest, ServiceResult};

/// How much of an error body is kept in the error message.
const ERROR_BODY_EXCERPT: usize = 300;

/// A service reached over HTTP at `base_url`, offering the declared `actions`.
pub struct HttpService {
    base_url: String,
    actions: BTreeSet<String>,
    client: reqwest::Client,
}

impl HttpService {
    /// `base_url` without a trailing slash, e.g. `http://127.0.0.1:8080/billing`; `actions` are the only
    /// ones definitions may call (each one path segment, checked by `--service`).
    pub fn new(base_url: impl Into<String>, actions: impl IntoIterator<Item = String>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_string();
        Self { base_url, actions: actions.into_iter().collect(), client: reqwest::Client::new() }
    }

    async fn post(&self, request: ServiceRequest) -> ServiceResult {
        // Definitions are checked against the declared actions when registered; this also holds for a
        // stored definition from before an action was removed, and keeps the action one path segment.
        if !self.actions.contains(&request.action) || !super::spec::is_segment(&request.action) {
            return Err(ServiceError::new(
                ErrorKind::Permanent,
                format!("`{}` is not an action of this service (it offers {})", request.action, self.offered()),
            ));
        }
        let url = format!("{}/{}", self.base_url, request.action);
        let origin = &request.origin;
        let response = self
            .client
            .post(&url)
            .header("Idempotency-Key", &request.idempotency_key)
            .header("Switchboard-Instance-Id", &origin.instance_id)
            .header("Switchboard-State", &origin.state)
            .header("Switchboard-Attempt", origin.attempt.to_string())
            .header("Switchboard-Step-Kind", if origin.compensation { "compensation" } else { "task" })
            .json(&request.input)
            .timeout(request.timeout)
            .send()
            .await
            .map_err(|error| classify_transport(&url, &error))?;
        let status = response.status();
        let body = response.text().await.map_err(|error| classify_transport(&url, &error))?;
        if status.is_success() {
            if body.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&body).map_err(|error| {
                ServiceError::new(
                    ErrorKind::Permanent,
                    format!("POST {url} answered {status} with invalid JSON: {error}"),
                )
            });
        }
        let kind = classify_status(status);
        let excerpt: String = body.chars().take(ERROR_BODY_EXCERPT).collect();
        Err(ServiceError::new(kind, format!("POST {url} answered {status}: {excerpt}")))
    }
}

/// 408, 429 and 5xx may succeed later; other statuses will not.
pub fn classify_status(status: StatusCode) -> ErrorKind {
    if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        ErrorKind::Retryable
    } else {
        ErrorKind::Permanent
    }
}

fn classify_transport(url: &str, error: &reqwest::Error) -> ServiceError {
    if error.is_timeout() {
        ServiceError::new(ErrorKind::Timeout, format!("POST {url} did not answer in time"))
    } else {
        ServiceError::new(ErrorKind::Retryable, format!("POST {url} failed: {error}"))
    }
}

impl HttpService {
    fn offered(&self) -> String {
        self.actions.iter().map(|action| format!("`{action}`")).collect::<Vec<_>>().join(", ")
    }
}

impl Service for HttpService {
    fn actions(&self) -> Option<BTreeSet<String>> {
        Some(self.actions.clone())
    }

    fn call(&self, request: ServiceRequest) -> BoxFuture<'_, ServiceResult> {
        Box::pin(self.post(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_engine_expects() {
        assert_eq!(classify_status(StatusCode::REQUEST_TIMEOUT), ErrorKind::Retryable);
        assert_eq!(classify_status(StatusCode::TOO_MANY_REQUESTS), ErrorKind::Retryable);
        assert_eq!(classify_status(StatusCode::INTERNAL_SERVER_ERROR), ErrorKind::Retryable);
        assert_eq!(classify_status(StatusCode::SERVICE_UNAVAILABLE), ErrorKind::Retryable);
        assert_eq!(classify_status(StatusCode::BAD_REQUEST), ErrorKind::Permanent);
        assert_eq!(classify_status(StatusCode::NOT_FOUND), ErrorKind::Permanent);
        assert_eq!(classify_status(StatusCode::CONFLICT), ErrorKind::Permanent);
    }
}
