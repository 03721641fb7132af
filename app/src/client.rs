//! The console's one way to read and change things: the JSON API under `/api/`.
//!
//! Pages call [`get`] and [`post`] (or [`post_no_answer`] for actions answered with 204) with an API
//! path: reads are GET, every change is a POST (the server refuses PUT, PATCH and DELETE). While the
//! server renders a page the request never leaves the process: it goes through the server's API router,
//! provided as context ([`ApiTransport`]), with the same validation, errors and permission checks as any
//! client, acting as the signed-in user of the page request. In the browser, after hydration, the same
//! call is an HTTP request carrying the session cookie. So every page reads exactly what the documented
//! API answers (`docs/api.md`), and there is one implementation of each read and action.
//!
//! ```text
//! let page = Resource::new(move || filter.get(), |f| client::get::<InstancePage>(format!("/api/instances?{f}")));
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::wire::ApiErrorBody;

/// Why an API call failed, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFailure {
    /// The HTTP status, or 0 when the server could not be reached.
    pub status: u16,
    /// The API's stable error code (`not_found`, `invalid_request`, `conflict`, …), or `network`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The fields the server found wrong, with what is wrong with each.
    pub fields: Vec<(String, String)>,
}

impl ApiFailure {
    fn network(message: impl Into<String>) -> Self {
        ApiFailure { status: 0, code: "network".into(), message: message.into(), fields: Vec::new() }
    }

    /// Whether the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    fn from_response(status: u16, body: &str) -> Self {
        match serde_json::from_str::<ApiErrorBody>(body) {
            Ok(body) => ApiFailure {
                status,
                code: body.error.code,
                message: body.error.message,
                fields: body.error.fields.into_iter().map(|f| (f.field, f.message)).collect(),
            },
            Err(_) => ApiFailure {
                status,
                code: "unexpected".into(),
                message: format!("the server answered {status} without an explanation"),
                fields: Vec::new(),
            },
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for (field, message) in &self.fields {
            write!(f, " · {field}: {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// `GET path` and decode the JSON answer.
pub async fn get<T: DeserializeOwned>(path: impl Into<String>) -> Result<T, ApiFailure> {
    decode(transport::request("GET", path.into(), None).await?)
}

/// `POST path` with a JSON body and decode the JSON answer.
pub async fn post<B: Serialize, T: DeserializeOwned>(path: impl Into<String>, body: &B) -> Result<T, ApiFailure> {
    decode(transport::request("POST", path.into(), Some(encode(body)?)).await?)
}

/// `POST path` without a body, for actions the server answers with no content (`204`, e.g. removing an SLA
/// target); the answer's body is ignored.
pub async fn post_no_answer(path: impl Into<String>) -> Result<(), ApiFailure> {
    let (status, body) = transport::request("POST", path.into(), None).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(ApiFailure::from_response(status, &body))
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass as they are).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Builds `?a=1&b=2` from the pairs whose value is not empty; an empty string when none is.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| format!("{key}={}", encode_query_value(value.trim())))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn encode<B: Serialize>(body: &B) -> Result<String, ApiFailure> {
    serde_json::to_string(body).map_err(|error| ApiFailure::network(format!("cannot encode the request: {error}")))
}

fn decode<T: DeserializeOwned>((status, body): (u16, String)) -> Result<T, ApiFailure> {
    if !(200..300).contains(&status) {
        return Err(ApiFailure::from_response(status, &body));
    }
    serde_json::from_str(&body).map_err(|error| ApiFailure {
        status,
        code: "unexpected".into(),
        message: format!("the server's answer could not be read: {error}"),
        fields: Vec::new(),
    })
}

/// The answer to a request sent in process: the status and the body, or why it could not be sent.
#[cfg(feature = "ssr")]
pub type TransportAnswer = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(u16, String), String>> + Send>>;

/// How a request reaches the API while the server renders: the server's implementation sends it
/// through its own router, in process. Provided as context (`Arc<dyn ApiTransport>`).
#[cfg(feature = "ssr")]
pub trait ApiTransport: Send + Sync {
    /// Sends `method path` with an optional JSON body; answers the status and the body.
    fn request(&self, method: &'static str, path: String, body: Option<String>) -> TransportAnswer;
}

#[cfg(feature = "ssr")]
mod transport {
    use std::sync::Arc;

    use leptos::prelude::use_context;

    use super::{ApiFailure, ApiTransport};

    pub(super) async fn request(
        method: &'static str,
        path: String,
        body: Option<String>,
    ) -> Result<(u16, String), ApiFailure> {
        let transport = use_context::<Arc<dyn ApiTransport>>()
            .ok_or_else(|| ApiFailure::network("the API is not available while rendering"))?;
        transport.request(method, path, body).await.map_err(ApiFailure::network)
    }
}

#[cfg(feature = "hydrate")]
mod transport {
    use gloo_net::http::{Method, RequestBuilder};
    use send_wrapper::SendWrapper;

    use super::ApiFailure;

    pub(super) async fn request(
        method: &'static str,
        path: String,
        body: Option<String>,
    ) -> Result<(u16, String), ApiFailure> {
        // Browser futures are not `Send`; the wrapper lets resources hold them (the tab has one thread).
        SendWrapper::new(async move {
            let method = if method == "POST" { Method::POST } else { Method::GET };
            let builder = RequestBuilder::new(&path).method(method).header("Accept", "application/json");
            let request = match body {
                Some(body) => builder.header("Content-Type", "application/json").body(body),
                None => builder.build(),
            }
            .map_err(|error| ApiFailure::network(format!("cannot build the request: {error}")))?;
            let response = request
                .send()
                .await
                .map_err(|_| ApiFailure::network("the server cannot be reached; check the connection and try again"))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if status == 401 {
                send_to_sign_in();
            }
            Ok((status, text))
        })
        .await
    }

    /// The session ended while the page was open (signed out elsewhere, idle, expired, disabled): go to
    /// the sign-in page, which brings the person back here afterwards.
    fn send_to_sign_in() {
        let Some(window) = web_sys::window() else { return };
        let location = window.location();
        let here =
            format!("{}{}", location.pathname().unwrap_or_else(|_| "/".into()), location.search().unwrap_or_default());
        if !here.starts_with("/sign-in") {
            let _ = location.set_href(&format!("/sign-in?next={}", super::encode_query_value(&here)));
        }
    }
}

/// Neither feature: the crate is being checked on its own (`cargo check` without features); nothing
/// can be reached.
#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
mod transport {
    use super::ApiFailure;

    pub(super) async fn request(
        _method: &'static str,
        _path: String,
        _body: Option<String>,
    ) -> Result<(u16, String), ApiFailure> {
        Err(ApiFailure::network("built without a transport"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("buyer-42"), "buyer-42");
        assert_eq!(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn query_strings_leave_out_empty_values() {
        assert_eq!(
            query_string([("workflow", "call-lifecycle"), ("status", " "), ("key", "x y")]),
            "?workflow=call-lifecycle&key=x%20y"
        );
        assert_eq!(query_string([("a", "")]), "");
    }

    #[test]
    fn api_errors_keep_code_message_and_fields() {
        let body = r#"{"error":{"code":"invalid_request","message":"the body is not valid","fields":[{"field":"reason","message":"must not be blank"}]}}"#;
        let failure = ApiFailure::from_response(400, body);
        assert_eq!(failure.code, "invalid_request");
        assert_eq!(failure.to_string(), "the body is not valid · reason: must not be blank");
        assert_eq!(ApiFailure::from_response(502, "<html>").code, "unexpected");
    }
}
