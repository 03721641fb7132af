//! Who may do what, through the real guard: every route of the permission table for every role and for
//! no session (deny by default), cross-origin changes, sessions (sign-out, idle and absolute expiry,
//! cookie attributes), API tokens, the sign-in rate limit, disabled users, the first admin, and the
//! audit trail (an entry for every action class, and a table nobody can change). SQLite and PostgreSQL.
//!
//! Callers sign in with `POST /api/auth/sign-in` and carry the session cookie, exactly like a browser;
//! requests name the host `switchboard.test` and, for POSTs, the origin `http://switchboard.test`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use app::wire::{Permission, Role};
use crate::support::reply::Reply;
use switchboard::auth::bootstrap::{ensure_admin, FirstAdmin};
use switchboard::auth::policy::{Need, RULES};
use switchboard::db::{Database, DatabaseUrl};
use switchboard::runtime::StartRequest;
use switchboard::services::{RecordingService, Registry};
use switchboard::state::AppState;

const HOST: &str = "switchboard.test";
const ORIGIN: &str = "http://switchboard.test";
const PASSWORD: &str = "a long enough password";

/// How a request is authenticated.
#[derive(Clone, Debug)]
enum Caller {
    Nobody,
    Cookie(String),
    Token(String),
}

struct Site {
    state: AppState,
    router: Router,
}

impl Site {
    async fn on(url: &DatabaseUrl) -> Self {
        let mut registry = Registry::new();
        registry.register("calls", Arc::new(RecordingService::new(&["validate"])));
        let state = crate::support::state_with(url, registry).await;
        assert_eq!(ensure_admin(state.runtime.store(), Some(PASSWORD)).await.unwrap(), FirstAdmin::FromEnvironment);
        // Event streams check their caller often, so a test sees a signed-out stream end quickly.
        let mut state = state;
        let config = switchboard::auth::AuthConfig {
            recheck_streams_every: std::time::Duration::from_millis(100),
            ..(*state.access.config).clone()
        };
        state.access.config = Arc::new(config);
        let router = switchboard::http::router(state.clone());
        Site { state, router }
    }

    async fn send(&self, caller: &Caller, method: &str, uri: &str, body: Option<Value>, origin: Option<&str>) -> Reply {
        let mut request = Request::builder().method(method).uri(uri).header(header::HOST, HOST);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        match caller {
            Caller::Nobody => {}
            Caller::Cookie(id) => request = request.header(header::COOKIE, format!("switchboard_session={id}")),
            Caller::Token(secret) => request = request.header(header::AUTHORIZATION, format!("Bearer {secret}")),
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        exchange_headers_only(&self.router, request.body(body).unwrap()).await
    }

    async fn get(&self, caller: &Caller, uri: &str) -> Reply {
        self.send(caller, "GET", uri, None, None).await
    }

    async fn post(&self, caller: &Caller, uri: &str, body: Value) -> Reply {
        self.send(caller, "POST", uri, Some(body), Some(ORIGIN)).await
    }

    /// Signs in; the session cookie's value.
    async fn sign_in(&self, username: &str, password: &str) -> String {
        let (status, cookie, text) = self.sign_in_raw(username, password, &[]).await;
        assert_eq!(status, StatusCode::OK, "sign-in of {username}: {text}");
        let cookie = cookie.expect("a Set-Cookie header");
        cookie.split(';').next().unwrap().trim_start_matches("switchboard_session=").to_string()
    }

    /// Signs in and returns the status, the Set-Cookie header and the body.
    async fn sign_in_raw(
        &self,
        username: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let mut request = Request::post("/api/auth/sign-in")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let body = json!({"username": username, "password": password}).to_string();
        let response =
            tower::ServiceExt::oneshot(self.router.clone(), request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status();
        let cookie = response.headers().get(header::SET_COOKIE).map(|v| v.to_str().unwrap().to_string());
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        (status, cookie, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Creates a user of `role` (as admin, through the API) and signs them in.
    async fn user(&self, admin: &Caller, username: &str, role: Role) -> Caller {
        let created =
            self.post(admin, "/api/users", json!({"username": username, "role": role, "password": PASSWORD})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        Caller::Cookie(self.sign_in(username, PASSWORD).await)
    }

    async fn audit(&self, admin: &Caller, query: &str) -> Vec<Value> {
        let reply = self.get(admin, &format!("/api/audit?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["entries"].as_array().cloned().unwrap_or_default()
    }

    fn database(&self) -> &Database {
        &self.state.database
    }
}

/// Like `Reply::exchange`, but an event stream's body is not read (it never ends).
async fn exchange_headers_only(router: &Router, request: Request<Body>) -> Reply {
    if request.uri().path() == "/api/events" {
        let line = format!("{} {}", request.method(), request.uri());
        let response = tower::ServiceExt::oneshot(router.clone(), request).await.unwrap();
        eprintln!("{line}\n  -> {} (stream not read)", response.status());
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        return Reply { status: response.status(), content_type, body: Value::Null, text: String::new() };
    }
    Reply::exchange(router, request).await
}

/// A concrete path for a route pattern: every parameter becomes a name nothing has.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            "{action}" => "pause",
            "{*rest}" => "no-such-route",
            "{id}" if pattern.starts_with("/api/charts/sla") => "nothing.svg",
            s if s.starts_with('{') => "nothing",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every rule of the table, for every role and for no session: no session is 401 unless the route is
/// public; a role the matrix does not allow is 403; an allowed caller is never 401, 403 or 405 (what
/// it gets instead — 200, 404, 422 — is the route's business, tested elsewhere).
async fn every_route_obeys_the_matrix_for_every_role(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let admin = Caller::Cookie(site.sign_in("admin", PASSWORD).await);
    let mut callers: Vec<(Option<Role>, Caller)> = vec![(None, Caller::Nobody), (Some(Role::Admin), admin.clone())];
    for role in [Role::Support, Role::Manager, Role::Reviewer] {
        callers.push((Some(role), site.user(&admin, role.as_str(), role).await));
    }
    let mut checked = 0;
    for rule in RULES {
        let uri = concrete(rule.path);
        for (role, caller) in &callers {
            // Signing out ends the session: use a fresh one for it.
            let caller = if rule.path == "/api/auth/sign-out" && role.is_some() {
                let name = role.map_or("admin", Role::as_str);
                Caller::Cookie(site.sign_in(name, PASSWORD).await)
            } else {
                caller.clone()
            };
            let reply = if rule.method == "GET" {
                site.get(&caller, &uri).await
            } else {
                site.post(&caller, &uri, json!({})).await
            };
            let status = reply.status;
            let what = format!("{} {uri} as {role:?}: {} {}", rule.method, status, reply.text);
            match (rule.need, role) {
                (Need::Public, _) => {
                    assert!(status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN, "{what}")
                }
                (_, None) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}"),
                (Need::SignedIn, Some(_)) => {
                    assert!(status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN, "{what}")
                }
                (Need::Permission(permission), Some(role)) if role.allows(permission) => assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::METHOD_NOT_ALLOWED]
                        .contains(&status),
                    "{what}"
                ),
                (Need::Permission(_), Some(_)) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    reply.error(StatusCode::FORBIDDEN, "forbidden", &["role may not"], &[]);
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, RULES.len() * 5);

    // A route no rule covers is refused for everyone, admin included; PUT and DELETE are refused.
    for (method, uri) in
        [("PUT", "/api/sla/targets/x"), ("DELETE", "/api/sla/targets/x"), ("PATCH", "/api/users/admin")]
    {
        let reply = site.send(&admin, method, uri, Some(json!({})), Some(ORIGIN)).await;
        reply.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", &[method, "post"], &[]);
    }

    // Pages: without a session, every console page sends the browser to sign in and come back.
    for page in ["/", "/instances", "/instances/x", "/definitions", "/sla", "/interventions", "/users", "/audit"] {
        let reply = site.get(&Caller::Nobody, page).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{page}");
    }
    let response = tower::ServiceExt::oneshot(
        site.router.clone(),
        Request::get("/instances?status=failed").header(header::HOST, HOST).body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.headers()[header::LOCATION], "/sign-in?next=%2Finstances%3Fstatus%3Dfailed");
}
on_both!(every_route_obeys_the_matrix_for_every_role);

/// A change carried by a cookie must come from this site: a foreign or missing Origin is refused
/// (and changes nothing); an API token needs no Origin (no browser sends it by itself).
async fn cross_origin_changes_are_refused(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let admin = Caller::Cookie(site.sign_in("admin", PASSWORD).await);
    let body = json!({"username": "mallory", "role": "admin", "password": PASSWORD});
    let foreign = site.send(&admin, "POST", "/api/users", Some(body.clone()), Some("http://evil.example")).await;
    foreign.error(StatusCode::FORBIDDEN, "forbidden", &["cross-origin", "evil.example"], &[]);
    let missing = site.send(&admin, "POST", "/api/users", Some(body.clone()), None).await;
    missing.error(StatusCode::FORBIDDEN, "forbidden", &["cross-origin", "no origin"], &[]);
    let null = site.send(&admin, "POST", "/api/users", Some(body.clone()), Some("null")).await;
    assert_eq!(null.status, StatusCode::FORBIDDEN);
    // Sign-in itself is checked too (login CSRF).
    let request = Request::post("/api/auth/sign-in")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"username": "admin", "password": PASSWORD}).to_string()))
        .unwrap();
    assert_eq!(Reply::exchange(&site.router, request).await.status, StatusCode::FORBIDDEN);

    let users = site.get(&admin, "/api/users").await;
    assert!(users.text.contains("\"admin\"") && !users.text.contains("mallory"), "nothing created: {}", users.text);

    let token = site.post(&admin, "/api/tokens", json!({"name": "robot", "role": "admin"})).await;
    let secret = token.body["secret"].as_str().unwrap().to_string();
    let by_token = site.send(&Caller::Token(secret), "POST", "/api/users", Some(body), None).await;
    assert_eq!(by_token.status, StatusCode::CREATED, "{}", by_token.text);
}
on_both!(cross_origin_changes_are_refused);

/// Sessions end on sign-out, after the idle limit, and at the absolute expiry; the cookie is
/// HttpOnly and SameSite=Strict, and Secure over TLS.
async fn sessions_end_when_they_should(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let (status, cookie, body) = site.sign_in_raw("admin", PASSWORD, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = cookie.unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let (_, tls_cookie, _) = site.sign_in_raw("admin", PASSWORD, &[("x-forwarded-proto", "https")]).await;
    assert!(tls_cookie.unwrap().contains("; Secure"));
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");

    // Sign-out ends the session on the server: the same cookie no longer works.
    let session = Caller::Cookie(site.sign_in("admin", PASSWORD).await);
    assert_eq!(site.get(&session, "/api/auth/me").await.status, StatusCode::OK);
    assert_eq!(site.post(&session, "/api/auth/sign-out", json!({})).await.status, StatusCode::NO_CONTENT);
    assert_eq!(site.get(&session, "/api/auth/me").await.status, StatusCode::UNAUTHORIZED);

    // An open event stream ends when its session does.
    let watcher = site.sign_in("admin", PASSWORD).await;
    let request = Request::get("/api/events")
        .header(header::HOST, HOST)
        .header(header::COOKIE, format!("switchboard_session={watcher}"))
        .body(Body::empty())
        .unwrap();
    let stream = tower::ServiceExt::oneshot(site.router.clone(), request).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut body = stream.into_body();
    // Live first: the stream's first message (a heartbeat) arrives before the sign-out.
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), http_body_util::BodyExt::frame(&mut body))
        .await
        .expect("a first message")
        .expect("a frame")
        .unwrap()
        .into_data()
        .unwrap_or_default();
    assert!(String::from_utf8_lossy(&first).contains("heartbeat"), "it was live until then");
    assert_eq!(
        site.post(&Caller::Cookie(watcher), "/api/auth/sign-out", json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    tokio::time::timeout(std::time::Duration::from_secs(20), http_body_util::BodyExt::collect(body))
        .await
        .expect("the stream ends after sign-out")
        .unwrap();

    // Idle: unused for longer than the idle limit (30 minutes by default).
    let idle = site.sign_in("admin", PASSWORD).await;
    let idle_hash = switchboard::auth::secret::hash(&idle);
    age_session(site.database(), &idle_hash, "last_seen_at", 31 * 60_000).await;
    assert_eq!(site.get(&Caller::Cookie(idle), "/api/auth/me").await.status, StatusCode::UNAUTHORIZED);

    // Absolute: past its expiry, however recently used.
    let old = site.sign_in("admin", PASSWORD).await;
    let old_hash = switchboard::auth::secret::hash(&old);
    age_session(site.database(), &old_hash, "expires_at", 13 * 3_600_000).await;
    assert_eq!(site.get(&Caller::Cookie(old), "/api/auth/me").await.status, StatusCode::UNAUTHORIZED);

    // An unknown cookie is simply signed out: pages go to sign-in, the API answers 401.
    let stranger = Caller::Cookie("0".repeat(64));
    assert_eq!(site.get(&stranger, "/api/instances").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(site.get(&stranger, "/instances").await.status, StatusCode::SEE_OTHER);
}
on_both!(sessions_end_when_they_should);

/// Moves a session's column back in time by `by_ms`.
async fn age_session(database: &Database, id_hash: &str, column: &str, by_ms: i64) {
    let sql = match column {
        "last_seen_at" => "UPDATE sessions SET last_seen_at = last_seen_at - $2 WHERE id_hash = $1",
        _ => "UPDATE sessions SET expires_at = expires_at - $2 WHERE id_hash = $1",
    };
    match database {
        Database::Sqlite(pool) => {
            sqlx::query(sql).bind(id_hash).bind(by_ms).execute(pool).await.unwrap();
        }
        Database::Postgres(pool) => {
            sqlx::query(sql).bind(id_hash).bind(by_ms).execute(pool).await.unwrap();
        }
    }
}

/// API tokens act with their role; revoked or unknown tokens are refused.
async fn api_tokens_carry_a_role(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let admin = Caller::Cookie(site.sign_in("admin", PASSWORD).await);
    let created = site.post(&admin, "/api/tokens", json!({"name": "dashboard", "role": "manager"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    let id = created.body["token"]["id"].as_str().unwrap().to_string();
    let token = Caller::Token(secret);
    let me = site.get(&token, "/api/auth/me").await;
    assert_eq!((me.body["username"].as_str(), me.body["role"].as_str()), (Some("token:dashboard"), Some("manager")));
    assert_eq!(site.get(&token, "/api/instances").await.status, StatusCode::OK);
    assert_eq!(site.send(&token, "POST", "/api/users", Some(json!({})), None).await.status, StatusCode::FORBIDDEN);
    let listed = site.get(&admin, "/api/tokens").await;
    assert!(!listed.text.contains(created.body["secret"].as_str().unwrap()), "secrets are never listed");
    assert!(listed.body[0]["last_used_at"].is_string(), "{}", listed.text);

    assert_eq!(site.post(&admin, &format!("/api/tokens/{id}/revoke"), json!({})).await.status, StatusCode::OK);
    site.get(&token, "/api/instances").await.error(StatusCode::UNAUTHORIZED, "unauthorized", &["revoked"], &[]);
    let bogus = Caller::Token("sb_nothing".into());
    assert_eq!(site.get(&bogus, "/api/instances").await.status, StatusCode::UNAUTHORIZED);
    let again = site.post(&admin, &format!("/api/tokens/{id}/revoke"), json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}
on_both!(api_tokens_carry_a_role);

/// Five failed sign-ins for a username lock it for the window, even with the right password; each
/// failure is an audit entry. A disabled user cannot sign in, and disabling ends their sessions.
async fn failed_sign_ins_are_limited_and_disabled_users_locked_out(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let admin = Caller::Cookie(site.sign_in("admin", PASSWORD).await);
    let carol = site.user(&admin, "carol", Role::Reviewer).await;

    for _ in 0..5 {
        let (status, cookie, _) = site.sign_in_raw("carol", "not her password", &[]).await;
        assert_eq!((status, cookie), (StatusCode::UNAUTHORIZED, None));
    }
    let request = Request::post("/api/auth/sign-in")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"username": "carol", "password": PASSWORD}).to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(site.router.clone(), request).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let failures = site.audit(&admin, "action=session.sign_in&target_id=carol").await;
    let refused: Vec<&Value> = failures.iter().filter(|e| e["outcome"] != "ok").collect();
    assert_eq!(refused.len(), 5, "{failures:?}");
    assert_eq!(refused[0]["outcome"], "wrong password");
    // Another username is not affected.
    assert_eq!(site.sign_in_raw("admin", PASSWORD, &[]).await.0, StatusCode::OK);

    // Disabling ends carol's live session and keeps her out.
    assert_eq!(site.get(&carol, "/api/auth/me").await.status, StatusCode::OK);
    let disabled = site.post(&admin, "/api/users/carol", json!({"disabled": true})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    assert_eq!(disabled.body["disabled"], true);
    assert_eq!(site.get(&carol, "/api/auth/me").await.status, StatusCode::UNAUTHORIZED);

    // The last enabled admin stays an admin.
    let demote = site.post(&admin, "/api/users/admin", json!({"role": "support"})).await;
    demote.error(StatusCode::CONFLICT, "conflict", &["last enabled admin"], &[]);
    let weak =
        site.post(&admin, "/api/users", json!({"username": "dave", "role": "support", "password": "short"})).await;
    weak.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["password"], &["password"]);
    let taken =
        site.post(&admin, "/api/users", json!({"username": "carol", "role": "support", "password": PASSWORD})).await;
    taken.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["taken"], &["username"]);
    let shouting =
        site.post(&admin, "/api/users", json!({"username": "Dave!", "role": "support", "password": PASSWORD})).await;
    shouting.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["lowercase"], &["username"]);
}
on_both!(failed_sign_ins_are_limited_and_disabled_users_locked_out);

/// The first admin: created once from the given password, or with a generated one; never twice.
async fn the_first_admin_is_created_once(url: DatabaseUrl) {
    let state = crate::support::state_with(&url, Registry::new()).await;
    let store = state.runtime.store();
    let FirstAdmin::Generated(password) = ensure_admin(store, None).await.unwrap() else {
        panic!("an empty database gets a generated password")
    };
    assert_eq!(password.len(), 20);
    assert_eq!(ensure_admin(store, Some(PASSWORD)).await.unwrap(), FirstAdmin::Existing);
    let router = switchboard::http::router(state.clone());
    let site = Site { state, router };
    site.sign_in("admin", &password).await;
    assert_eq!(site.sign_in_raw("admin", PASSWORD, &[]).await.0, StatusCode::UNAUTHORIZED);
}
on_both!(the_first_admin_is_created_once);

/// Every class of operator action leaves an audit entry with who, what, why and the values before and
/// after; nobody — no route, not even SQL — changes or deletes one.
async fn every_action_class_is_audited_and_the_trail_is_append_only(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let admin = Caller::Cookie(site.sign_in("admin", PASSWORD).await);
    let support_user = site.user(&admin, "sam", Role::Support).await;
    let manager = site.user(&admin, "mia", Role::Manager).await;

    // Definitions, instances (by a support user), SLA targets (by a manager), users, tokens, services.
    let definition = json!({"name": "hold", "start_at": "wait",
        "states": {"wait": {"type": "wait", "duration_ms": 3_600_000, "next": "done"}, "done": {"type": "succeed"}}});
    assert_eq!(site.post(&admin, "/api/definitions", definition).await.status, StatusCode::CREATED);
    let started = site
        .state
        .runtime
        .start_instance(StartRequest { workflow: "hold".into(), input: json!({}), ..StartRequest::default() })
        .await
        .unwrap();
    let id = started.instance.id;
    let paused = site
        .post(
            &support_user,
            &format!("/api/instances/{id}/pause"),
            json!({"reason": "customer asked", "actor": "someone else"}),
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    let target = site
        .post(
            &manager,
            "/api/sla/targets",
            json!({"workflow": "hold", "metric": "completion_rate", "threshold": 0.95, "window_ms": 3_600_000}),
        )
        .await;
    assert_eq!(target.status, StatusCode::CREATED, "{}", target.text);
    let target_id = target.body["id"].as_str().unwrap().to_string();
    let changed = site
        .post(
            &manager,
            &format!("/api/sla/targets/{target_id}"),
            json!({"workflow": "hold", "metric": "completion_rate", "threshold": 0.9, "window_ms": 3_600_000}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(
        site.post(&manager, &format!("/api/sla/targets/{target_id}/delete"), json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(site.post(&admin, "/api/users/sam", json!({"role": "reviewer"})).await.status, StatusCode::OK);
    assert_eq!(
        site.post(&admin, "/api/tokens", json!({"name": "ci", "role": "support"})).await.status,
        StatusCode::CREATED
    );
    let tripped = site.post(&admin, "/api/services/calls/breaker", json!({"action": "trip"})).await;
    assert_eq!(tripped.status, StatusCode::OK, "{}", tripped.text);
    let scheduled =
        site.post(&admin, "/api/schedules/hourly-hold", json!({"workflow": "hold", "cron": "0 * * * *"})).await;
    assert_eq!(scheduled.status, StatusCode::OK, "{}", scheduled.text);
    let goodbye = Caller::Cookie(site.sign_in("mia", PASSWORD).await);
    assert_eq!(site.post(&goodbye, "/api/auth/sign-out", json!({})).await.status, StatusCode::NO_CONTENT);

    let entries = site.audit(&admin, "limit=500").await;
    let by_action: HashMap<&str, &Value> = entries.iter().rev().map(|e| (e["action"].as_str().unwrap(), e)).collect();
    for action in [
        "session.sign_in",
        "user.create",
        "user.update",
        "token.create",
        "definition.register",
        "instance.pause",
        "sla_target.create",
        "sla_target.update",
        "sla_target.delete",
        "service.breaker_trip",
        "schedule.update",
        "session.sign_out",
    ] {
        assert!(by_action.contains_key(action), "no {action} in {entries:#?}");
    }
    let pause = by_action["instance.pause"];
    assert_eq!(pause["actor"], "sam", "the session's user, not the body's actor");
    assert_eq!(pause["reason"], "customer asked");
    assert_eq!(pause["instance_id"], id.as_str());
    assert_eq!(pause["before"]["paused"], false);
    assert_eq!(pause["after"]["paused"], true);
    let update = by_action["sla_target.update"];
    assert_eq!((update["actor"].as_str(), update["before"]["threshold"].as_f64()), (Some("mia"), Some(0.95)));
    assert_eq!(update["after"]["threshold"], 0.9);
    let role_change = by_action["user.update"];
    assert_eq!(
        (role_change["before"]["role"].as_str(), role_change["after"]["role"].as_str()),
        (Some("support"), Some("reviewer"))
    );
    assert_eq!(by_action["definition.register"]["actor"], "admin");

    // The instance's history shows the same actor and reason.
    let history = site.get(&admin, &format!("/api/instances/{id}/history")).await;
    assert!(history.text.contains("\"sam\"") && history.text.contains("customer asked"), "{}", history.text);

    // Filters: by actor, by action prefix, by instance.
    assert!(site.audit(&admin, "actor=mia").await.iter().all(|e| e["actor"] == "mia"));
    let sla = site.audit(&admin, "action=sla_target.").await;
    assert_eq!(sla.len(), 3, "{sla:?}");
    assert_eq!(site.audit(&admin, &format!("instance={id}")).await.len(), 1);
    let paged = site.get(&admin, "/api/audit?limit=2").await;
    let before = paged.body["next_before"].as_str().expect("more pages").to_string();
    let next = site.audit(&admin, &format!("limit=2&before={before}")).await;
    assert!(next.iter().all(|e| e["id"].as_str().unwrap() < before.as_str()));
    site.get(&admin, "/api/audit?from=yesterday").await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &[],
        &["from"],
    );

    // Append-only: the database refuses UPDATE and DELETE.
    for sql in ["UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"] {
        let refused = match site.database() {
            Database::Sqlite(pool) => sqlx::query(sql).execute(pool).await.is_err(),
            Database::Postgres(pool) => sqlx::query(sql).execute(pool).await.is_err(),
        };
        assert!(refused, "{sql} must fail");
    }
    assert_eq!(site.audit(&admin, "limit=500").await.len(), entries.len());
    // No route writes or removes entries: the only audit route is a GET.
    let audit_rules: Vec<_> = RULES.iter().filter(|r| r.path.starts_with("/api/audit")).collect();
    assert!(audit_rules.iter().all(|r| r.method == "GET"), "{audit_rules:?}");
    assert_eq!(
        RULES.iter().find(|r| r.path == "/api/audit").map(|r| r.need),
        Some(Need::Permission(Permission::ReadAudit))
    );
}
on_both!(every_action_class_is_audited_and_the_trail_is_append_only);
