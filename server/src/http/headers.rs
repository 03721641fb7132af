//! Security headers on every answer: a Content-Security-Policy, no framing, no content sniffing, a
//! narrow `Referer`, and HSTS over TLS.
//!
//! Pages get a policy that the hydrated console works under and nothing more: scripts only from this
//! site and inline ones carrying this response's nonce (Leptos's hydration script and the resource data
//! of server rendering are inline `<script nonce=…>`), WebAssembly compilation (`'wasm-unsafe-eval'`;
//! the bundle is `/pkg/switchboard.wasm`), styles from this site plus `style="…"` attributes (the flow
//! diagram's fills and the heat bars set them; no `<style>` element is allowed), fetches and the event
//! stream to this site only, forms posting only here, no plugins, no `<base>`, no framing. Everything
//! else (JSON, the event stream, the bundle's files) gets `default-src 'none'`; SVG charts, which a
//! browser may open as documents, may style themselves.
//!
//! The nonce: [`security_headers`] makes a fresh one per request and puts it into the request as
//! [`CspNonce`]; the console's rendering context adopts it ([`adopt_nonce`], called where the server
//! provides the console's context), so Leptos stamps it on every inline script, and the header sent
//! names the same one.
//!
//! ```text
//! Content-Security-Policy: default-src 'self'; script-src 'self' 'nonce-4f0c…' 'wasm-unsafe-eval'; …
//! X-Frame-Options: DENY
//! X-Content-Type-Options: nosniff
//! Referrer-Policy: same-origin
//! Strict-Transport-Security: max-age=31536000        (only over TLS)
//! ```

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::guard::over_tls;
use crate::state::AppState;

/// This response's CSP nonce, in the request's extensions for the page renderer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CspNonce(pub String);

/// HSTS for a year, for this host only (the console may share its domain with other sites).
const HSTS: &str = "max-age=31536000";

/// The policy of everything that is not a page or an SVG image.
const NOTHING: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy of SVG charts opened on their own: no scripts, no loads; their own styling.
const SVG: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// The policy of a console page whose inline scripts carry `nonce`.
///
/// `img-src` allows `data:` images: charts that update in place are fetched anew and shown as a
/// `data:image/svg+xml` URL (a browser would otherwise keep showing the first picture of an URL); an
/// SVG shown through `<img>` runs no script.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The middleware: a nonce into the request, the headers onto the response.
pub async fn security_headers(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let tls = over_tls(request.headers(), request.uri(), state.access.config.secure_cookies);
    let nonce = new_nonce();
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut response = next.run(request).await;

    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let policy = if content_type.starts_with("text/html") {
        page_policy(&nonce)
    } else if content_type.starts_with("image/svg+xml") {
        SVG.to_string()
    } else {
        NOTHING.to_string()
    };
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&policy).expect("the policy is ASCII"));
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}

/// Makes the request's [`CspNonce`] the nonce Leptos renders with. Call it in the console's rendering
/// context (after the integration has provided the request's parts); outside a request it does nothing.
pub fn adopt_nonce() {
    use leptos::prelude::{provide_context, use_context};
    let nonce =
        use_context::<axum::http::request::Parts>().and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(nonce)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

/// 128 random bits, hex: a valid CSP nonce (letters and digits).
fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_names_the_nonce_and_wasm_and_forbids_framing() {
        let policy = page_policy("abc123");
        assert!(policy.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"), "{policy}");
        let script_src = policy.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!script_src.contains("unsafe-inline") && !script_src.contains("'unsafe-eval'"), "{policy}");
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 32);
        assert_ne!(nonce, new_nonce());
    }
}
