//! `switchboard serve`: open the database, start the background tasks, serve HTTP until told to stop.
//!
//! Configured by a [`Config`] (plain values; the command line builds one in `crate::cli`, tests and the
//! benchmark start from [`Config::defaults_on`]).
//!
//! Two ways to build the [`AppState`]: [`build_state`] is what `serve` runs — the simulated marketplace
//! services (each replaceable by a real HTTP service with `--service NAME=URL`) and the seven
//! marketplace workflows; [`build_state_with`] takes the caller's services and registers no
//! workflows, for tests and the benchmark, which bring their own.

mod config;

pub use config::Config;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::{SecondsFormat, Utc};
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

use app::wire::SystemInfo;

use crate::db::{self, Database, DatabaseUrl};
use crate::events::EventBus;
use crate::http;
use crate::marketplace::sql::SimDb;
use crate::marketplace::{self, workflows, FaultControl, SimService};
use crate::runtime::clock::SystemClock;
use crate::runtime::Runtime;
use crate::services::{HttpService, Registry};
use crate::state::AppState;
use crate::store::Store;

/// Builds the application state of `switchboard serve`: opens and migrates the database, registers the
/// simulated marketplace services and the `--service` overrides ([`configured_services`]), starts the
/// runtime (which recovers in-flight instances), then registers the seven marketplace workflows
/// ([`workflows::load`]: an unchanged definition keeps its version, a changed one becomes the next).
///
/// # Errors
/// The database cannot be opened, the runtime cannot start, or a workflow definition is refused.
pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    let url = config.database.clone();
    let database = db::open(&url).await?;
    let faults = FaultControl::new();
    let services = configured_services(config, &database, &faults)?;
    let state = start(config, url, database, services, faults).await?;
    announce_first_admin(
        crate::auth::bootstrap::ensure_admin(state.runtime.store(), config.admin_password.as_deref()).await?,
    );
    let loaded = workflows::load(&state.runtime).await?;
    let created = loaded.iter().filter(|registered| registered.created).count();
    tracing::info!(workflows = loaded.len(), new_versions = created, "marketplace workflows registered");
    state.schedules.register_defaults().await?; // the daily settlement at 00:05 UTC; keeps `enabled`
    state.monitor.install_default_targets().await?; // once per workflow type; managers own them after
    Ok(state)
}

/// The services of the configuration: every simulated marketplace service (with the configured circuit
/// breaker and its fault handle in `faults`), except those a `--service NAME=URL` names — those are
/// reached over HTTP instead, so a simulated service can be pointed at a real one by configuration.
///
/// # Errors
/// A `--service` declares no actions and names no simulated service (nothing would say which actions
/// definitions may use on it).
pub fn configured_services(config: &Config, database: &Database, faults: &FaultControl) -> anyhow::Result<Registry> {
    let mut registry = Registry::new();
    let simulated = SimDb::new(database.clone());
    for (name, actions, handler) in marketplace::SERVICES {
        if config.services.iter().any(|spec| spec.name == *name) {
            continue; // replaced below; no fault handle, so the faults API lists only real simulations
        }
        let service = SimService::new(name, actions, *handler, simulated.clone(), faults.handle(name));
        registry.register_with_breaker(*name, Arc::new(service), config.breaker);
    }
    for spec in &config.services {
        let actions: Vec<String> = match &spec.actions {
            Some(actions) => actions.clone(),
            None => match marketplace::SERVICES.iter().find(|(name, _, _)| *name == spec.name) {
                Some((_, actions, _)) => actions.iter().map(|action| action.to_string()).collect(),
                None => anyhow::bail!(
                    "--service {}={}: declare the service's actions, e.g. --service {}:charge+refund={}",
                    spec.name,
                    spec.url,
                    spec.name,
                    spec.url
                ),
            },
        };
        let service = HttpService::new(spec.url.clone(), actions);
        registry.register_with_breaker(spec.name.clone(), Arc::new(service), config.breaker);
    }
    Ok(registry)
}

/// Builds the application state with exactly the given services and no workflows: tests and the
/// benchmark bring their own services and definitions. `faults` is empty (nothing simulated).
///
/// # Errors
/// The database cannot be opened or the runtime cannot start.
pub async fn build_state_with(config: &Config, services: Registry) -> anyhow::Result<AppState> {
    let url = config.database.clone();
    let database = db::open(&url).await?;
    start(config, url, database, services, FaultControl::new()).await
}

/// Creates the bus and starts the runtime on an open database with the given services.
async fn start(
    config: &Config,
    url: DatabaseUrl,
    database: Database,
    services: Registry,
    faults: FaultControl,
) -> anyhow::Result<AppState> {
    crate::telemetry::metrics::install(); // before the runtime starts: recovery's transitions count too
    let leptos_options = LeptosOptions::builder()
        .output_name(app::OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build();
    let system = SystemInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        backend: database.backend(),
        database: url.to_string(),
        started_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        demo_traffic: !config.no_demo,
    };
    let events = EventBus::new();
    // Before the runtime writes anything: rollups for history kept before they existed.
    crate::monitoring::backfill::run_if_needed(&Store::new(database.clone())).await?;
    let runtime = Runtime::start(
        Store::new(database.clone()),
        Arc::new(services),
        events.clone(),
        Arc::new(SystemClock),
        config.cluster()?,
    )
    .await?;
    let schedules = crate::schedules::Scheduler::new(runtime.clone(), Arc::new(SystemClock));
    let monitor = crate::monitoring::monitor::Monitor::new(runtime.clone(), events.clone());
    let access = crate::auth::Access::new(runtime.store().clone(), config.auth.clone());
    let inbox = crate::interventions::inbox::Inbox::new(runtime.clone(), events.clone(), access.store.clone());
    let state = AppState {
        leptos_options,
        database,
        database_url: url,
        events,
        runtime,
        system,
        faults,
        schedules,
        monitor,
        access,
        inbox,
        controls: Arc::default(),
    };
    // Faults and breaker actions set on any node (or before a restart) hold here too.
    tokio::spawn(crate::cluster::controls::run_sync(state.clone()));
    Ok(state)
}

/// Says how to sign in the first time; a generated password is printed here, once, and never stored.
fn announce_first_admin(outcome: crate::auth::bootstrap::FirstAdmin) {
    use crate::auth::bootstrap::FirstAdmin;
    match outcome {
        FirstAdmin::Existing => {}
        FirstAdmin::FromEnvironment => {
            tracing::info!("created the first user `admin` with the password from SWITCHBOARD_ADMIN_PASSWORD");
        }
        FirstAdmin::Generated(password) => {
            eprintln!(
                "\n  First start: created the user `admin` with the password\n\n      {password}\n\n  \
                 It is shown this once. Sign in and change it on the Users page.\n"
            );
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM, then stops gracefully: open event streams end, in-flight
/// requests finish, the database pool closes.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let state = build_state(&config).await?;
    warn_if_bundle_missing(&config.site_root);
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;

    let events = state.events.clone();
    let database = state.database.clone();
    let runtime = state.runtime.clone();
    let heartbeat = tokio::spawn(events.clone().run_heartbeat());
    // `/api/health` answers from this probe's findings (and the writer's), never waiting on the pool.
    let stop = {
        let events = events.clone();
        async move { events.stopping().await }
    };
    runtime.writer_stats().health.spawn_probe(state.database_url.clone(), stop);
    // SIGTERM must end the process in bounded time, whatever a connection or a dependency does.
    tokio::spawn(exit_if_stuck(events.clone()));
    // The scheduler and the SLA checks act only while this node leads (one leader among the nodes).
    let _scheduler = state.schedules.spawn(); // fires due schedules (missed runs first)
    let _sla_checks = tokio::spawn(state.monitor.clone().run_sla_checks(config.sla_check_interval));
    // Started after the state is built (workflows registered); runs on the leader, stops with the bus.
    let traffic = if config.no_demo {
        tracing::info!("demo traffic is off (--no-demo)");
        None
    } else {
        Some(tokio::spawn(demo_traffic_while_leading(state.clone(), config.demo_rate)))
    };
    tracing::info!(
        "Switchboard {} listening on http://{} (database {})",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr()?,
        state.database_url
    );

    // With the peer's address: the sign-in throttle counts by it (`auth::throttle`).
    axum::serve(listener, http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            events.shut_down();
        })
        .await
        .context("the HTTP server failed")?;
    let _ = heartbeat.await;
    if let Some(traffic) = traffic {
        let _ = traffic.await; // before the pool closes: it restores any fault it set
    }
    runtime.leave().await; // hand the instances back: other nodes take over at once
    database.close().await;
    Ok(())
}

/// How long a stop may take, from the signal: HTTP requests finish, in-flight writes commit, the
/// instances are handed back. Past it the process exits anyway; everything durable is in the database
/// and the next owner re-issues outstanding calls with their idempotency keys.
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

async fn exit_if_stuck(events: crate::events::EventBus) {
    events.stopping().await;
    tokio::time::sleep(STOP_WITHIN).await;
    tracing::error!("the server did not stop within {} s of the signal; exiting now", STOP_WITHIN.as_secs());
    std::process::exit(1);
}

/// Runs the demo traffic while this node leads: started when it becomes leader, finished (faults it set
/// restored) when it stops leading or the server stops.
async fn demo_traffic_while_leading(state: AppState, rate: f64) {
    let mut leadership = state.runtime.node().leadership();
    loop {
        tokio::select! {
            _ = leadership.wait_for(|leading| *leading) => {}
            () = state.events.stopping() => return,
        }
        tracing::info!("this node leads: starting the demo traffic");
        let config = crate::traffic::TrafficConfig::demo(rate);
        let traffic = crate::traffic::Traffic::spawn_while(state.clone(), config, Some(leadership.clone()));
        traffic.finish().await; // ends when this node stops leading or the server stops
        if state.events.is_stopping() {
            return;
        }
        tracing::info!("this node no longer leads: the demo traffic stopped here");
    }
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
