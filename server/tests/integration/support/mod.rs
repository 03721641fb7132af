//! Shared helpers for the integration tests: throwaway databases on both backends.
//!
//! PostgreSQL comes from `SWITCHBOARD_TEST_DATABASE_URL` (default: the local server, user `postgres`).
//! Each test gets its own freshly created database, dropped afterwards. When the server cannot be
//! reached the PostgreSQL tests are skipped with a note — except with `CI=true`, where that fails the run.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod client;
pub mod process;
pub mod proxy;
pub mod recorder;
pub mod reply;
pub mod site;

use std::path::PathBuf;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use switchboard::serve::Config;
use switchboard::db::DatabaseUrl;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A SQLite database in its own temporary folder, removed when dropped.
pub struct TempSqlite {
    pub folder: tempfile::TempDir,
    pub url: DatabaseUrl,
}

impl TempSqlite {
    /// The file sits in a sub-folder that does not exist yet, to prove it gets created.
    pub fn new() -> Self {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("nested").join("switchboard.db");
        let url = format!("sqlite:{}", path.display()).parse().expect("valid sqlite url");
        Self { folder, url }
    }

    pub fn file(&self) -> PathBuf {
        self.url.sqlite_file().expect("file-backed")
    }
}

/// A freshly created PostgreSQL database, dropped (with its connections) when this value is dropped.
pub struct TempPostgres {
    admin_url: String,
    pub name: String,
    pub url: DatabaseUrl,
}

impl TempPostgres {
    /// `None` (with a note on stderr) when PostgreSQL is unreachable outside CI.
    ///
    /// # Panics
    /// With `CI=true` when PostgreSQL is unreachable: in CI these tests must run, never skip.
    pub async fn create() -> Option<Self> {
        let admin_url =
            std::env::var("SWITCHBOARD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) => {
                let shown: DatabaseUrl = admin_url.parse().expect("SWITCHBOARD_TEST_DATABASE_URL is a postgres URL");
                if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                    panic!("PostgreSQL at {shown} is unreachable and CI=true: {error}");
                }
                eprintln!("skipping a PostgreSQL test: {shown} is unreachable ({error})");
                return None;
            }
        };
        let name = format!("switchboard_test_{}", uuid::Uuid::new_v4().simple());
        // The name is generated here (a uuid), never user input.
        admin.execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#))).await.expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("admin url");
        url.set_path(&name);
        Some(Self { admin_url, name, url: url.as_str().parse().expect("test database url") })
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        // Drop runs outside async; a short-lived runtime on its own thread removes the database.
        let admin_url = self.admin_url.clone();
        let statement = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                admin.execute(AssertSqlSafe(statement)).await.ok()
            })
        })
        .join();
    }
}

/// Serve options for a test: the given database, no demo traffic, the given site root.
pub fn serve_args(url: &DatabaseUrl, site_root: PathBuf) -> Config {
    Config { site_root, ..Config::defaults_on(url) }
}

/// Runs a test body once on SQLite and once on PostgreSQL (skipped outside CI when PostgreSQL is
/// unreachable): `on_both!(name)` for an `async fn name(url: DatabaseUrl)` in the same file.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let temp = $crate::support::TempSqlite::new();
                super::$name(temp.url.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(temp) = $crate::support::TempPostgres::create().await else { return };
                super::$name(temp.url.clone()).await;
            }
        }
    };
}

/// The application state (runtime included) on `url`, with the given services.
pub async fn state_with(url: &DatabaseUrl, services: switchboard::services::Registry) -> switchboard::state::AppState {
    switchboard::serve::build_state_with(&serve_args(url, PathBuf::from("target/site")), services)
        .await
        .expect("application state")
}

/// The actions of [`call_saga`]'s service `calls`.
pub const CALL_ACTIONS: [&str; 7] =
    ["validate", "find_buyer", "release_reservation", "connect", "disconnect", "start_billing", "cancel_meter"];

/// The call-processing saga of the specification, over one service `calls` (the runtime and crash
/// tests drive it with recording services).
pub fn call_saga() -> serde_json::Value {
    serde_json::json!({
        "name": "call-processing",
        "description": "Validate, find a buyer, connect, bill; undo in reverse on failure.",
        "business_keys": ["input.call_id"],
        "input_schema": {"type": "object", "required": ["call_id", "number"],
                         "properties": {"call_id": {"type": "string"}, "number": {"type": "integer"}}},
        "start_at": "validate-caller",
        "states": {
            "validate-caller": {"type": "task", "service": "calls", "action": "validate", "next": "find-buyer"},
            "find-buyer": {"type": "task", "service": "calls", "action": "find_buyer",
                           "compensation": {"service": "calls", "action": "release_reservation"}, "next": "connect-call"},
            "connect-call": {"type": "task", "service": "calls", "action": "connect",
                             "compensation": {"service": "calls", "action": "disconnect"}, "next": "start-billing"},
            "start-billing": {"type": "task", "service": "calls", "action": "start_billing",
                              "retry": {"max_attempts": 3, "initial_delay_ms": 10, "max_delay_ms": 50},
                              "compensation": {"service": "calls", "action": "cancel_meter"}, "next": "done"},
            "done": {"type": "succeed"}
        }
    })
}

/// The whole HTTP surface (`switchboard::http::router`), acting as a user of `role` named
/// `test-<role>`: the caller is attached the way the guard attaches an API token's, so every route's
/// permission check runs as it does in production. The permission tests sign in for real instead
/// (`server/tests/integration/permissions.rs`).
pub fn router_as(state: &switchboard::state::AppState, role: app::wire::Role) -> axum::Router {
    router_for(state, &format!("test-{}", role.as_str()), role)
}

/// [`router_as`] with a name of the caller's choosing: several people at once (the inbox tests).
pub fn router_for(state: &switchboard::state::AppState, name: &str, role: app::wire::Role) -> axum::Router {
    let principal = switchboard::auth::Principal {
        name: name.to_string(),
        display_name: format!("Test {}", role.label()),
        role,
        via: switchboard::auth::Via::Token { id: name.to_string() },
    };
    switchboard::http::router(state.clone()).layer(axum::middleware::from_fn(
        move |mut request: axum::extract::Request, next: axum::middleware::Next| {
            let principal = principal.clone();
            async move {
                request.extensions_mut().insert(principal);
                next.run(request).await
            }
        },
    ))
}

/// [`router_as`] an admin: what most API tests use.
pub fn admin_router(state: &switchboard::state::AppState) -> axum::Router {
    router_as(state, app::wire::Role::Admin)
}
