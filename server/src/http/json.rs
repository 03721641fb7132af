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

use crate::error::{data_error, ApiError};

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

/// Deserialises a JSON object, naming the path of a value of the wrong shape.
///
/// Every body of this API is an object. serde would also read a struct from an array (field by field,
/// in order), so anything else is refused before it gets that far.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(ApiError::bad_request("the body is not valid JSON: it is empty; send a JSON object")),
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() => {
            return Err(ApiError::bad_request("the body is not valid JSON; send a JSON object"))
        }
        Some(_) => {
            let message = "must be a JSON object".to_string();
            return Err(ApiError::unprocessable(
                format!("body: {message}"),
                vec![FieldError { field: "body".into(), message }],
            ));
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.to_string().starts_with("recursion limit exceeded") {
            let message = format!("nested more than {MAX_DEPTH} levels deep");
            let field = if path == "." || path.is_empty() { "body".to_string() } else { shortened(&path) };
            ApiError::unprocessable(format!("{field}: {message}"), vec![FieldError { field, message }])
        } else if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("the body is not valid JSON: {inner}"))
        } else {
            data_error(&path, &inner.to_string())
        }
    })?;
    // One JSON value and nothing after it but whitespace: `{…} and more` is not a JSON body.
    deserializer.end().map_err(|error| {
        ApiError::bad_request(format!("the body is not valid JSON: {error}: only one JSON object may be sent"))
    })?;
    Ok(value)
}

/// How deep a body may nest arrays and objects: serde_json's own recursion limit, which keeps
/// deserialisation (and every walk over the value after it) off the end of the stack.
pub const MAX_DEPTH: usize = 128;

/// The first segments of a very deep path (`input[0][0][0]…`): enough to find it, not 128 of them.
fn shortened(path: &str) -> String {
    const KEEP: usize = 48;
    if path.len() <= KEEP {
        return path.to_string();
    }
    let cut = path[..KEEP].rfind(['.', '[']).filter(|&at| at > 0).unwrap_or(KEEP);
    format!("{}…", &path[..cut])
}

