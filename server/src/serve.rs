//! `switchboard serve`: open the database, start the background tasks, serve HTTP until told to stop.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::{SecondsFormat, Utc};
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

use app::wire::SystemInfo;

use crate::cli::ServeArgs;
use crate::db;
use crate::events::EventBus;
use crate::http;
use crate::runtime::clock::SystemClock;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::services::{HttpService, Registry};
use crate::state::AppState;
use crate::store::Store;

/// Builds the application state with the services the configuration names.
pub async fn build_state(args: &ServeArgs) -> anyhow::Result<AppState> {
    build_state_with(args, configured_services(args)).await
}

/// The services of the configuration: every `--service NAME=URL` as an HTTP service.
pub fn configured_services(args: &ServeArgs) -> Registry {
    let mut registry = Registry::new();
    for spec in &args.services {
        registry.register_with_breaker(spec.name.clone(), Arc::new(HttpService::new(spec.url.clone())), args.breaker());
    }
    registry
}

/// Builds the application state: opens and migrates the database, creates the bus, starts the runtime
/// (which recovers in-flight instances) with the given services.
pub async fn build_state_with(args: &ServeArgs, services: Registry) -> anyhow::Result<AppState> {
    let url = &args.database.url()?;
    let database = db::open(url).await?;
    let leptos_options = LeptosOptions::builder()
        .output_name(app::OUTPUT_NAME)
        .site_root(args.site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(args.listen)
        .build();
    let system = SystemInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        backend: database.backend(),
        database: url.to_string(),
        started_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        demo_traffic: !args.no_demo,
    };
    let events = EventBus::new();
    let runtime = Runtime::start(
        Store::new(database.clone()),
        Arc::new(services),
        events.clone(),
        Arc::new(SystemClock),
        RuntimeConfig::default(),
    )
    .await?;
    Ok(AppState { leptos_options, database, database_url: url.clone(), events, runtime, system })
}

/// Runs the server until Ctrl-C or SIGTERM, then stops gracefully: open event streams end, in-flight
/// requests finish, the database pool closes.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let state = build_state(&args).await?;
    warn_if_bundle_missing(&args.site_root);
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;

    let events = state.events.clone();
    let database = state.database.clone();
    let heartbeat = tokio::spawn(events.clone().run_heartbeat());
    if args.no_demo {
        tracing::info!("demo traffic is off (--no-demo)");
    }
    tracing::info!(
        "Switchboard {} listening on http://{} (database {})",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr()?,
        state.database_url
    );

    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            events.shut_down();
        })
        .await
        .context("the HTTP server failed")?;
    let _ = heartbeat.await;
    database.close().await;
    Ok(())
}

/// The console works without the bundle (server-rendered pages), but nothing hydrates: say so early.
fn warn_if_bundle_missing(site_root: &Path) {
    let script = site_root.join("pkg").join(format!("{}.js", app::OUTPUT_NAME));
    if !script.exists() {
        tracing::warn!(
            "the browser bundle {} is missing: pages render but do not update live; build it with `scripts/build.sh`",
            script.display()
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
