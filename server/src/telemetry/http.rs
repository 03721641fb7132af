//! One middleware for every HTTP request: counted and timed by route pattern, method and status, and
//! traced as a server span when trace export is on.
//!
//! The route label is the pattern the router matched (`/api/instances/{id}`), never the raw path, so
//! the number of series stays bounded whatever clients send; a request no route matched (the console's
//! fallback: static files and unknown pages) is `unmatched`. Methods outside the standard ones are
//! `OTHER` for the same reason. Latency runs until the response head: an event stream counts once, when
//! it opens.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::traces::OTEL_TARGET;

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The middleware (`axum::middleware::from_fn`); added as a router layer, so it sees `MatchedPath`.
pub async fn observe(request: Request, next: Next) -> Response {
    let began = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str);
    let route = route_label(route);
    let method = method_label(request.method());
    // Fields are evaluated only when a layer wants the span (trace export on).
    let span = tracing::info_span!(
        target: OTEL_TARGET,
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    super::metrics::http_request(&route, method, status, began.elapsed());
    response
}

/// The pattern as registered; a nested service's tail (`/pkg/{*__private__axum_nest_tail_param}`)
/// is shown as `{*rest}`.
fn route_label(pattern: &str) -> String {
    match pattern.find("{*__private__axum") {
        Some(at) => format!("{}{{*rest}}", &pattern[..at]),
        None => pattern.to_string(),
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded() {
        assert_eq!(route_label("/api/instances/{id}"), "/api/instances/{id}");
        assert_eq!(route_label("/pkg/{*__private__axum_nest_tail_param}"), "/pkg/{*rest}");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
