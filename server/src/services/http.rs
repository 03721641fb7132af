//! [`HttpService`]: a task calls a real service over HTTP.
//!
//! `POST {base_url}/{action}` with the input as the JSON body and the idempotency key in the
//! `Idempotency-Key` header, bounded by the step's timeout. The answer is classified for the engine:
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

/// A service reached over HTTP at `base_url`.
pub struct HttpService {
    base_url: String,
    client: reqwest::Client,
}

impl HttpService {
    /// `base_url` without a trailing slash, e.g. `http://127.0.0.1:8080/billing`.
    pub fn new(base_url: impl Into<String>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_string();
        Self { base_url, client: reqwest::Client::new() }
    }

    async fn post(&self, request: ServiceRequest) -> ServiceResult {
        let url = format!("{}/{}", self.base_url, request.action);
        let response = self
            .client
            .post(&url)
            .header("Idempotency-Key", &request.idempotency_key)
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

impl Service for HttpService {
    fn actions(&self) -> Option<BTreeSet<String>> {
        None
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
