//! A site as a visitor's browser or script meets it: the real router and guard, requests that name the
//! host `switchboard.test`, POSTs that carry its origin, and the client's address set the way
//! `switchboard serve` sets it (axum's `ConnectInfo`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use app::wire::Role;
use super::reply::Reply;
use switchboard::auth::bootstrap::ensure_admin;
use switchboard::db::{Database, DatabaseUrl};
use switchboard::services::Registry;
use switchboard::state::AppState;
pub const HOST: &str = "switchboard.test";
pub const ORIGIN: &str = "http://switchboard.test";
pub const PASSWORD: &str = "a long enough password";

/// One visitor's address.
pub const HERE: [u8; 4] = [203, 0, 113, 9];
pub const ELSEWHERE: [u8; 4] = [198, 51, 100, 7];

/// The site and a way to send it requests.
pub struct Site {
    pub state: AppState,
    pub router: Router,
}

/// What a request carries besides its method, path and body.
#[derive(Clone, Default)]
pub struct Sent {
    pub cookie: Option<String>,
    pub token: Option<String>,
    pub from: Option<[u8; 4]>,
    pub headers: Vec<(&'static str, String)>,
}

impl Sent {
    pub fn cookie(id: &str) -> Self {
        Sent { cookie: Some(id.to_string()), ..Sent::default() }
    }

    pub fn token(secret: &str) -> Self {
        Sent { token: Some(secret.to_string()), ..Sent::default() }
    }

    pub fn from(address: [u8; 4]) -> Self {
        Sent { from: Some(address), ..Sent::default() }
    }

    pub fn with(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

impl Site {
    pub async fn on(url: &DatabaseUrl) -> Self {
        let state = crate::support::state_with(url, Registry::new()).await;
        ensure_admin(state.runtime.store(), Some(PASSWORD)).await.unwrap();
        Site::with_state(state)
    }

    pub fn with_state(state: AppState) -> Self {
        let router = switchboard::http::router(state.clone());
        Site { state, router }
    }

    /// The same database and runtime with other auth rules.
    pub fn reconfigured(&self, change: impl FnOnce(&mut switchboard::auth::AuthConfig)) -> Site {
        let mut state = self.state.clone();
        let mut config = (*state.access.config).clone();
        change(&mut config);
        state.access.config = Arc::new(config);
        Site::with_state(state)
    }

    pub fn request(method: &str, uri: &str, sent: &Sent, content_type: Option<&str>, body: Body) -> Request<Body> {
        let mut request = Request::builder().method(method).uri(uri).header(header::HOST, HOST);
        if method == "POST" {
            request = request.header(header::ORIGIN, ORIGIN);
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(cookie) = &sent.cookie {
            request = request.header(header::COOKIE, format!("switchboard_session={cookie}"));
        }
        if let Some(token) = &sent.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in &sent.headers {
            request = request.header(*name, value);
        }
        let mut request = request.body(body).unwrap();
        if let Some(address) = sent.from {
            request.extensions_mut().insert(ConnectInfo(SocketAddr::from((address, 50_000))));
        }
        request
    }

    pub async fn raw(&self, request: Request<Body>) -> Response<Body> {
        tower::ServiceExt::oneshot(self.router.clone(), request).await.unwrap()
    }

    pub async fn get(&self, uri: &str, sent: &Sent) -> Reply {
        Reply::exchange(&self.router, Site::request("GET", uri, sent, None, Body::empty())).await
    }

    pub async fn post(&self, uri: &str, sent: &Sent, body: Value) -> Reply {
        let request = Site::request("POST", uri, sent, Some("application/json"), Body::from(body.to_string()));
        Reply::exchange(&self.router, request).await
    }

    /// A JSON sign-in; the reply and the `Retry-After` header, if any.
    pub async fn sign_in(&self, username: &str, password: &str, sent: &Sent) -> (Reply, Option<u64>) {
        let body = json!({"username": username, "password": password}).to_string();
        let request = Site::request("POST", "/api/auth/sign-in", sent, Some("application/json"), Body::from(body));
        let response = self.raw(request).await;
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().parse::<u64>().expect("Retry-After in seconds"));
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        let cookie = response.headers().get(header::SET_COOKIE).map(|v| v.to_str().unwrap().to_string());
        let text = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned();
        eprintln!("sign-in {username} from {:?}\n  -> {status} {text}", sent.from);
        let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let (Some(cookie), Some(fields)) = (cookie, body.as_object_mut()) {
            let id = cookie.split(';').next().unwrap().trim_start_matches("switchboard_session=").to_string();
            fields.insert("cookie".into(), id.into());
        }
        (Reply { status, content_type, body, text }, retry_after)
    }

    /// Signs in (from nowhere in particular); the session cookie's value.
    pub async fn session(&self, username: &str) -> String {
        let (reply, _) = self.sign_in(username, PASSWORD, &Sent::default()).await;
        assert_eq!(reply.status, StatusCode::OK, "sign-in of {username}: {}", reply.text);
        reply.body["cookie"].as_str().expect("a session cookie").to_string()
    }

    /// A form sign-in, as the sign-in page posts it: the status and `Location`.
    pub async fn form_sign_in(&self, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let request = Site::request(
            "POST",
            "/api/auth/sign-in",
            &Sent::default(),
            Some("application/x-www-form-urlencoded"),
            Body::from(body),
        );
        let response = self.raw(request).await;
        let location = response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        (response.status(), location.unwrap_or_default())
    }

    /// Creates a user of `role` as `admin`.
    pub async fn user(&self, admin: &Sent, username: &str, role: Role) {
        let created =
            self.post("/api/users", admin, json!({"username": username, "role": role, "password": PASSWORD})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    }

    /// Sign-in entries of the audit trail.
    pub async fn sign_in_entries(&self, admin: &Sent) -> Vec<Value> {
        let reply = self.get("/api/audit?action=session.sign_in&limit=500", admin).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["entries"].as_array().cloned().unwrap_or_default()
    }

    pub fn database(&self) -> &Database {
        &self.state.database
    }
}

