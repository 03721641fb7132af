//! One HTTP exchange through the router, printed (the test harness shows it when a test fails), and the
//! check of the API's one error shape.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use app::wire::ApiErrorBody;

/// What the router answered.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<String>,
    /// The body as JSON (`Null` when it is empty or not JSON).
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// Sends `request` through `router` (no socket) and prints the exchange; SVG bodies shortened.
    pub async fn exchange(router: &Router, request: Request<Body>) -> Reply {
        let line = format!("{} {}", request.method(), request.uri());
        let response = router.clone().oneshot(request).await.expect("the router answers");
        let status = response.status();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response.into_body().collect().await.expect("a body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match content_type.as_deref() {
            Some(svg) if svg.starts_with("image/svg+xml") => {
                let start: String = text.chars().take(160).collect();
                eprintln!("{line}\n  -> {status} {svg} ({} bytes) {start}…", text.len());
            }
            _ => eprintln!("{line}\n  -> {status} {text}"),
        }
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        Reply { status, content_type, body, text }
    }

    /// Checks the one error shape: the status, the code, a message that mentions each of `mentions`
    /// (case-insensitive), and `fields` naming exactly `fields` (in any order). Returns the error.
    #[track_caller]
    pub fn error(&self, status: StatusCode, code: &str, mentions: &[&str], fields: &[&str]) -> ApiErrorBody {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.content_type.as_deref(), Some("application/json"), "errors are JSON: {}", self.text);
        let keys: Vec<&String> = self.body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["error"], "the error shape has one key: {}", self.text);
        let body: ApiErrorBody = serde_json::from_value(self.body.clone()).expect("the error shape");
        assert_eq!(body.error.code, code, "{}", self.text);
        let message = body.error.message.to_lowercase();
        for word in mentions {
            assert!(message.contains(&word.to_lowercase()), "the message should mention `{word}`: {}", self.text);
        }
        let named: BTreeSet<&str> = body.error.fields.iter().map(|f| f.field.as_str()).collect();
        let expected: BTreeSet<&str> = fields.iter().copied().collect();
        assert_eq!(named, expected, "fields: {}", self.text);
        assert_eq!(named.len(), body.error.fields.len(), "one entry per field: {}", self.text);
        assert!(body.error.fields.iter().all(|f| !f.message.is_empty()), "every field says what is wrong");
        body
    }
}
