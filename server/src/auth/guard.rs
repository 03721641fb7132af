//! The guard in front of every route: who is asking, may they, and is the request what it claims.
//!
//! In order: static files (the bundle, the favicon) pass; the caller is found (an `Authorization:
//! Bearer` API token, else the session cookie); the route's rule is looked up ([`super::policy`]) —
//! unlisted routes are refused, PUT/PATCH/DELETE answer 405; a POST carried by a cookie (or by nothing:
//! sign-in) must come from this site's own origin; then the rule's permission is checked against the
//! caller's role. API requests (and `/metrics`, which scrapers read like the API) without a caller get
//! 401; page requests are sent to `/sign-in`.
//!
//! Requests the server sends itself while rendering a page (`InProcessApi`) carry the page request's
//! [`Principal`] and [`InProcess`] as extensions, which no client can set, so they are checked against
//! the same rules without a second session lookup.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::policy::{self, Lookup, Need};
use super::{millis, now_ms, secret, Access, Principal, Via, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;
use app::wire::Role;

/// Marks a request the server sent to itself while rendering a page.
#[derive(Clone, Copy, Debug)]
pub struct InProcess;

/// A session's idle clock is written at most this often (not on every request).
const TOUCH_EVERY_MS: i64 = 15_000;

pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    // Static files, and health checks, which must answer even when the database (where sessions and
    // tokens live) does not: they need no caller.
    if is_static_file(&path) || path == "/api/health" || path == "/api/health/live" {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let in_process = request.extensions().get::<InProcess>().is_some();
    let principal = match request.extensions().get::<Principal>() {
        Some(principal) => Some(principal.clone()),
        None => match find_principal(&state.access, request.headers()).await {
            Ok(principal) => principal,
            Err(error) => return error.into_response(),
        },
    };
    let is_api = path == "/api" || path.starts_with("/api/") || path == crate::telemetry::METRICS_PATH;
    let need = if is_api {
        let matched = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
        match matched.as_deref().map(|route| policy::lookup(method.as_str(), route)) {
            Some(Lookup::Found(need)) => need,
            Some(Lookup::WrongMethod) => {
                return ApiError::MethodNotAllowed(format!(
                    "{method} is not allowed on {path}: reads are GET, every change is a POST"
                ))
                .into_response()
            }
            Some(Lookup::Unlisted) | None => {
                return ApiError::Forbidden(format!("no permission rule covers {method} {path}; refused"))
                    .into_response()
            }
        }
    } else if method != Method::GET && method != Method::HEAD {
        return ApiError::MethodNotAllowed(format!("{method} is not allowed on a page; pages are read with GET"))
            .into_response();
    } else if path == "/sign-in" {
        Need::Public
    } else {
        Need::SignedIn
    };

    let cookie_borne = !matches!(principal.as_ref().map(|p| &p.via), Some(Via::Token { .. }));
    if method == Method::POST && cookie_borne && !in_process {
        if let Err(problem) = same_origin(request.headers(), &state.access.config.allowed_origins) {
            return ApiError::Forbidden(format!("cross-origin request refused: {problem}")).into_response();
        }
    }

    match (need, &principal) {
        (Need::Public, _) => {}
        (_, None) if is_api => {
            return ApiError::Unauthorized("sign in first, or send an API token (Authorization: Bearer …)".into())
                .into_response()
        }
        (_, None) => return sign_in_redirect(request.uri()),
        (Need::SignedIn, Some(_)) => {}
        (Need::Permission(permission), Some(principal)) => {
            if !principal.role.allows(permission) {
                return ApiError::Forbidden(format!(
                    "the {} role may not do this ({}: {})",
                    principal.role.as_str(),
                    permission_name(permission),
                    permission.label().to_lowercase()
                ))
                .into_response();
            }
        }
    }
    if let Some(principal) = principal {
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}

fn permission_name(permission: app::wire::Permission) -> String {
    serde_json::to_value(permission).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The bundle and the files of `public/` need no session (the sign-in page uses them).
fn is_static_file(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg"
}

fn sign_in_redirect(uri: &axum::http::Uri) -> Response {
    let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let target = format!("/sign-in?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
    Redirect::to(&target).into_response()
}

/// Finds the caller: a bearer token (which must be valid: a wrong, revoked or suspended one is an error,
/// not anonymous), else a live session cookie (an ended or unknown one counts as signed out).
pub async fn find_principal(access: &Access, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
        let listing = access.store.live_token(&secret::hash(token)).await.map_err(ApiError::from)?;
        let listing = listing.ok_or_else(|| ApiError::Unauthorized("the API token is unknown or revoked".into()))?;
        if listing.suspended {
            return Err(ApiError::Unauthorized(
                "the API token is suspended: the person who created it is disabled".into(),
            ));
        }
        let row = listing.token;
        let role =
            Role::parse(&row.role).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("token role {}", row.role)))?;
        let now = now_ms();
        if row.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY_MS) {
            access.store.touch_token(&row.id, now).await.map_err(ApiError::from)?;
        }
        return Ok(Some(Principal {
            name: format!("token:{}", row.name),
            display_name: row.name,
            role,
            via: Via::Token { id: row.id },
        }));
    }
    let Some(session_id) = session_cookie(headers) else { return Ok(None) };
    let now = now_ms();
    let id_hash = secret::hash(&session_id);
    let found = access.store.live_session(&id_hash, now, millis(access.config.idle)).await.map_err(ApiError::from)?;
    let Some((session, user)) = found else { return Ok(None) };
    let Some(role) = Role::parse(&user.role) else { return Ok(None) };
    if now - session.last_seen_at > TOUCH_EVERY_MS {
        access.store.touch_session(&id_hash, now).await.map_err(ApiError::from)?;
    }
    Ok(Some(Principal { name: user.username, display_name: user.display_name, role, via: Via::Session { id_hash } }))
}

/// The session id from the `Cookie` header(s).
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// Whether a state-changing request comes from this site: its `Origin` must name the host it was sent
/// to (or one of `allowed`). Without `Origin`, `Sec-Fetch-Site: same-origin` is accepted; with neither,
/// the request is refused — browsers send `Origin` on every POST.
pub fn same_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    match headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("")) {
        Some(origin) => {
            if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
                return Ok(());
            }
            let authority = url::Url::parse(origin).ok().and_then(|url| {
                url.host_str().map(|h| match url.port() {
                    Some(port) => format!("{h}:{port}"),
                    None => h.to_string(),
                })
            });
            match authority {
                Some(authority) if !host.is_empty() && authority.eq_ignore_ascii_case(host) => Ok(()),
                _ => Err(format!("Origin {origin} is not this site ({host})")),
            }
        }
        None => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("same-origin") => Ok(()),
            _ => Err("the request has no Origin header".into()),
        },
    }
}

/// The `Set-Cookie` value that holds a new session, or (with `None`) ends it in the browser.
pub fn session_set_cookie(token: Option<&str>, max_age_secs: i64, secure: bool) -> String {
    let (value, age) = match token {
        Some(token) => (token, max_age_secs),
        None => ("", 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{secure}")
}

/// Whether the request arrived over TLS (directly or through a proxy that says so), so cookies get `Secure`.
pub fn over_tls(headers: &HeaderMap, uri: &axum::http::Uri, always: bool) -> bool {
    always
        || uri.scheme_str() == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A 303 with a `Location`, for HTML form posts.
pub fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_string())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn origin_must_name_the_host() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]), &[]).is_ok());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")]), &[]).is_err());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]), &[]).is_err());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:3000")]), &[]).is_err());
        assert!(same_origin(&headers(&[("host", "a:1"), ("sec-fetch-site", "same-origin")]), &[]).is_ok());
        let allowed = vec!["https://ops.example.com".to_string()];
        assert!(same_origin(&headers(&[("host", "10.0.0.1:3000"), ("origin", "https://ops.example.com")]), &allowed)
            .is_ok());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=1; switchboard_session=abc; b=2")]);
        assert_eq!(session_cookie(&map).as_deref(), Some("abc"));
        assert_eq!(session_cookie(&headers(&[("cookie", "a=1")])), None);
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let cookie = session_set_cookie(Some("t"), 60, true);
        assert_eq!(cookie, "switchboard_session=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
        assert!(session_set_cookie(None, 60, false).contains("Max-Age=0"));
    }
}
