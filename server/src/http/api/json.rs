//! [`Body`]: a JSON request body whose errors say what is wrong and where.
//!
//! axum's own `Json` reports serde's message without the field path. This extractor reads the bytes
//! (bounded by the body limit: 413 past it), requires a JSON content type (415), and deserialises with
//! `serde_path_to_error`, so a wrong field comes back as 422 with `fields: [{"field": "input.amount", …}]`
//! and broken JSON as 400 with the line and column.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use app::wire::FieldError;

use crate::error::ApiError;

/// A JSON body of type `T`.
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json") || value.contains("+json"));
        if !is_json {
            return Err(ApiError::Invalid {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "send the body as JSON with `Content-Type: application/json`".into(),
                fields: Vec::new(),
            });
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| ApiError::Invalid {
            status: rejection.status(),
            message: format!("cannot read the request body: {}", rejection.body_text()),
            fields: Vec::new(),
        })?;
        parse(&bytes).map(Body)
    }
}

/// Deserialises JSON, naming the path of a value of the wrong shape.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("the body is not valid JSON: {inner}"))
        } else {
            let field = if path == "." { "body".to_string() } else { path };
            let message = strip_position(&inner.to_string());
            ApiError::unprocessable(format!("{field}: {message}"), vec![FieldError { field, message }])
        }
    })
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says it better.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}
