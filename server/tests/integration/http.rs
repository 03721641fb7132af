//! The HTTP surface through the router, without a socket (`tower::ServiceExt::oneshot`). Console pages
//! rendered on the server are checked in `pages.rs`.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use app::wire::{ApiErrorBody, Health, HealthStatus, LiveEvent};
use crate::support::{serve_args, TempPostgres, TempSqlite};
use switchboard::db::{Backend, DatabaseUrl};
use switchboard::serve::build_state;
use switchboard::state::AppState;

async fn app_for(url: &DatabaseUrl, site_root: std::path::PathBuf) -> (Router, AppState) {
    let state = build_state(&serve_args(url, site_root)).await.expect("state");
    (crate::support::admin_router(&state), state)
}

async fn get(app: &Router, uri: &str) -> axum::response::Response {
    app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap()
}

async fn body_text(response: axum::response::Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn health_reports_ok_version_backend_and_reachability_on_sqlite() {
    let temp = TempSqlite::new();
    let (app, _) = app_for(&temp.url, temp.folder.path().join("site")).await;
    let response = get(&app, "/api/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert!(response.headers().contains_key("x-request-id"), "every response carries a request id");
    let health: Health = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(
        health,
        Health {
            status: HealthStatus::Ok,
            version: env!("CARGO_PKG_VERSION").into(),
            backend: Backend::Sqlite,
            database_reachable: true,
            problems: Vec::new(),
        }
    );
}

#[tokio::test]
async fn health_reports_postgres_when_running_on_postgres() {
    let Some(temp) = TempPostgres::create().await else {
        return;
    };
    let (app, state) = app_for(&temp.url, "target/site".into()).await;
    let response = get(&app, "/api/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    let health: Health = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(health.backend, Backend::Postgres);
    assert!(health.database_reachable);
    state.database.close().await;
}

#[tokio::test]
async fn health_is_degraded_with_503_when_the_database_does_not_answer() {
    let temp = TempSqlite::new();
    let (app, state) = app_for(&temp.url, temp.folder.path().join("site")).await;
    // The probe of a database that cannot be opened: what the probe of a vanished one sees.
    let gone: switchboard::db::DatabaseUrl =
        format!("sqlite:{}", temp.folder.path().join("no-such-folder").join("gone.db").display()).parse().unwrap();
    state.runtime.writer_stats().health.spawn_probe(gone, std::future::pending());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let health = loop {
        let response = get(&app, "/api/health").await;
        let status = response.status();
        let health: Health = serde_json::from_str(&body_text(response).await).unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break health;
        }
        assert!(std::time::Instant::now() < deadline, "still {status} after 30 s: {health:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(health.status, HealthStatus::Degraded);
    assert!(!health.database_reachable);
    assert!(health.problems.iter().any(|p| p.contains("has not answered")), "{health:?}");
    // Liveness does not care.
    assert_eq!(get(&app, "/api/health/live").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_routes_get_the_json_error_shape() {
    let temp = TempSqlite::new();
    let (app, _) = app_for(&temp.url, temp.folder.path().join("site")).await;
    let response = get(&app, "/api/no-such-thing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: ApiErrorBody = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(body.error.code, "not_found");
    assert!(body.error.message.contains("/api/no-such-thing"), "{}", body.error.message);
}

#[tokio::test]
async fn the_event_stream_opens_with_a_heartbeat() {
    let temp = TempSqlite::new();
    let (app, state) = app_for(&temp.url, temp.folder.path().join("site")).await;
    let response = get(&app, "/api/events").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = response.into_body();
    let frame = body.frame().await.expect("a first event").unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    let data = text.strip_prefix("data: ").expect("a data line").trim_end();
    assert!(matches!(serde_json::from_str::<LiveEvent>(data).unwrap(), LiveEvent::Heartbeat(_)));

    // Published events follow, and the stream ends when the server shuts down.
    state.events.beat();
    let frame = body.frame().await.expect("the published heartbeat").unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.contains(r#""sequence":1"#), "{text}");
    state.events.shut_down();
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame()).await.expect("ends");
    assert!(end.is_none(), "the stream is over after shutdown");
}

#[tokio::test]
async fn the_bundle_is_served_compressed_and_revalidated() {
    let temp = TempSqlite::new();
    let site = temp.folder.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let script = "console.log('switchboard');\n".repeat(100);
    std::fs::write(site.join("pkg/switchboard.js"), &script).unwrap();
    let (app, _) = app_for(&temp.url, site).await;

    let request = Request::get("/pkg/switchboard.js").header(header::ACCEPT_ENCODING, "gzip").body(Body::empty());
    let response = app.clone().oneshot(request.unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let compressed = response.into_body().collect().await.unwrap().to_bytes();
    assert!(compressed.len() < script.len() / 4, "gzip shrinks the repetitive script");
}

/// A server whose every pooled connection is busy (a flood of requests) is busy, not dead: health
/// answers from its own probe's connection and stays 200.
#[tokio::test]
async fn health_stays_ready_while_every_pooled_connection_is_busy() {
    let temp = TempSqlite::new();
    let (app, state) = app_for(&temp.url, temp.folder.path().join("site")).await;
    state.runtime.writer_stats().health.spawn_probe(temp.url.clone(), std::future::pending());
    let switchboard::db::Database::Sqlite(pool) = &state.database else { panic!("a SQLite pool") };
    // Take every connection of the pool (8 for a file), as a flood of slow requests would.
    let mut held = Vec::new();
    while let Ok(Ok(connection)) = tokio::time::timeout(std::time::Duration::from_millis(500), pool.acquire()).await {
        held.push(connection);
    }
    assert!(!held.is_empty(), "the pool had connections to take");
    // The probe answers while the pool is exhausted: it has a connection of its own.
    let exhausted_at = chrono::Utc::now().timestamp_millis();
    let watch = &state.runtime.writer_stats().health;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while watch.database_answered_at().is_none_or(|at| at <= exhausted_at) {
        assert!(std::time::Instant::now() < deadline, "no probe answered while the pool was exhausted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A check that queued for a pooled connection would time out and answer 503.
    let response = get(&app, "/api/health").await;
    assert_eq!(response.status(), StatusCode::OK, "busy is not dead: {}", body_text(response).await);
    drop(held);
}
