//! `switchboard bench --nodes 1,2,3 --postgres-url …`: the call saga on several nodes sharing one
//! PostgreSQL database, the takeover time when a node dies, and the latency of the live feed between
//! nodes. Figures only.
//!
//! For throughput the nodes are runtimes in this process, each with its own pool, bus, heartbeat and
//! writer — what separate processes on one machine would have, minus the process boundary. For
//! takeovers the node that dies is a real `switchboard serve` process, killed with SIGKILL.
//!
//! Lines:
//! - `PEER switchboard-postgres-<n>nodes-inprocess …` (as the single-node runs; clients round-robin
//!   over the nodes);
//! - `CLUSTER takeover kills=K lease_ms=L median_ms=x max_ms=x` — from the kill to the first
//!   transition of one of the dead node's instances on the survivor;
//! - `CLUSTER feed events=N p50_ms=x p95_ms=x max_ms=x` — from a transition durable on node A to its
//!   event on node B's bus.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use app::wire::LiveEvent;

use super::report::Run;
use super::{bench_args, drive, saga, Backend, Target};
use crate::serve::build_state_with;
use crate::services::{Registry, Service, ServiceRequest, ServiceResult};
use crate::state::AppState;

/// Instances in flight on a node when it dies.
const IN_FLIGHT_AT_KILL: u64 = 20;

/// Runs every part for each node count, on fresh databases.
pub async fn run(admin: &str, node_counts: &[usize], workflows: u64, concurrency: u64, kills: u32) -> anyhow::Result<()> {
    let backend = Backend::Postgres(admin.to_string());
    for &count in node_counts {
        anyhow::ensure!(count >= 1, "--nodes counts start at 1");
        let database = backend.fresh().await?;
        let run = throughput(&database.url, count, workflows, concurrency).await?;
        println!("{}", run.line(&format!("postgres-{count}nodes"), super::Mode::InProcess));
        database.drop_it().await;
    }
    if kills > 0 {
        let database = backend.fresh().await?;
        takeovers(&database.url, kills).await?;
        database.drop_it().await;
    }
    let database = backend.fresh().await?;
    feed_latency(&database.url, 200).await?;
    database.drop_it().await;
    Ok(())
}

/// A node: the application state on the shared database, its own pool and bus.
async fn node(url: &crate::db::DatabaseUrl, services: Registry) -> anyhow::Result<AppState> {
    let mut args = bench_args(url);
    args.lease = Duration::from_millis(3_000);
    build_state_with(&args, services).await
}

async fn throughput(url: &crate::db::DatabaseUrl, count: usize, workflows: u64, concurrency: u64) -> anyhow::Result<Run> {
    let calls = Arc::new(AtomicU64::new(0));
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(node(url, saga::services(calls.clone())).await?);
    }
    nodes[0].runtime.register_definition(saga::definition(), "bench").await?;
    let began = Instant::now();
    let targets: Vec<Target> = nodes.iter().map(|node| Target::InProcess(node.runtime.clone())).collect();
    let outcomes = drive(&targets, workflows, concurrency).await?;
    let wall = began.elapsed();
    for node in &nodes {
        node.events.shut_down();
    }
    for node in nodes {
        node.database.close().await;
    }
    Ok(Run { workflows, concurrency, wall, calls: calls.load(Ordering::Relaxed), outcomes })
}

/// A service whose calls never answer: the calls a node had in flight when it died.
struct Hanging;

impl Service for Hanging {
    fn actions(&self) -> Option<std::collections::BTreeSet<String>> {
        None
    }

    fn call(&self, _: ServiceRequest) -> BoxFuture<'_, ServiceResult> {
        Box::pin(std::future::pending())
    }
}

fn hanging_services() -> Registry {
    let mut registry = Registry::new();
    registry.register("calls", Arc::new(Hanging));
    registry
}

/// `kills` times: a real `switchboard serve` process (this binary) joins the database, starts
/// instances whose calls hang (its `calls` service is an HTTP server here that never answers), and is
/// killed with SIGKILL; the time runs from the kill to the survivor's first transition of one of them.
async fn takeovers(url: &crate::db::DatabaseUrl, kills: u32) -> anyhow::Result<()> {
    let survivor = node(url, saga::services(Arc::new(AtomicU64::new(0)))).await?;
    survivor.runtime.register_definition(saga::definition(), "bench").await?;
    let hanging = hanging_http_service().await?;
    let (_, token) =
        crate::auth::issue_token(survivor.runtime.store(), "bench-takeover", app::wire::Role::Admin, "bench").await?;
    let client = reqwest::Client::new();
    let folder = tempfile_folder()?;
    let mut times = Vec::new();
    let mut number = 1_000_000;
    for round in 0..kills {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(folder.join(format!("doomed-{round}.log")))?;
        let mut doomed = std::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--no-demo", "--node-id", "doomed", "--lease-ms", "3000"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--database-url", url.expose_secret()])
            .args(["--service", &format!("calls:{}=http://{hanging}", saga::ACTIONS.join("+"))])
            .env("SWITCHBOARD_ADMIN_PASSWORD", "bench-admin-password")
            .env("SWITCHBOARD_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let ready = Instant::now() + Duration::from_secs(60);
        while client.get(format!("{base}/api/health")).send().await.is_err() {
            anyhow::ensure!(Instant::now() < ready, "the node to kill did not start (log in {})", folder.display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut ids = HashSet::new();
        for _ in 0..IN_FLIGHT_AT_KILL {
            number += 1;
            let request = saga::start_request(number);
            let started: serde_json::Value = client
                .post(format!("{base}/api/instances"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"workflow": request.workflow, "input": request.input}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            ids.insert(started["id"].as_str().unwrap_or_default().to_string());
        }
        let mut stream = survivor.events.subscribe();
        let killed = Instant::now();
        doomed.kill()?; // SIGKILL
        let _ = doomed.wait();
        let deadline = killed + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.recv()).await {
                Ok(Ok(LiveEvent::Instance(change))) if ids.contains(&change.id) => break,
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(error)) => anyhow::bail!("the survivor's bus closed: {error}"),
                Err(_) => anyhow::bail!("no takeover within 60 s"),
            }
        }
        times.push(killed.elapsed().as_secs_f64() * 1_000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "CLUSTER takeover kills={} lease_ms=3000 claim_interval_ms=500 median_ms={:.0} max_ms={:.0} (SIGKILL of a real node)",
        times.len(),
        times[times.len() / 2],
        times.last().copied().unwrap_or(f64::NAN)
    );
    let _ = std::fs::remove_dir_all(&folder);
    survivor.events.shut_down();
    survivor.database.close().await;
    Ok(())
}

/// An HTTP service that accepts every call and never answers: the calls a node had in flight when it died.
async fn hanging_http_service() -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = axum::Router::new().fallback(std::future::pending::<&'static str>);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(address)
}

/// A folder for the killed nodes' logs.
fn tempfile_folder() -> anyhow::Result<std::path::PathBuf> {
    let folder = std::env::temp_dir().join(format!("switchboard-takeover-{}", crate::runtime::clock::new_id()));
    std::fs::create_dir_all(&folder)?;
    Ok(folder)
}

/// From a start durable on node A to its event on node B's bus, `samples` times.
async fn feed_latency(url: &crate::db::DatabaseUrl, samples: u32) -> anyhow::Result<()> {
    let a = node(url, hanging_services()).await?;
    let b = node(url, hanging_services()).await?;
    a.runtime.register_definition(saga::definition(), "bench").await?;
    let mut stream = b.events.subscribe();
    // A learns at its next heartbeat that a console listens on B.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.runtime.node().others_listen() {
        anyhow::ensure!(Instant::now() < deadline, "node A never saw B's subscriber");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // From the start request on A: to the start being durable there (`start_instance` returned), and to
    // its event on B's bus. The commit happens somewhere inside the first; the second bounds the feed's
    // latency from above (the event can reach B before A's call has even returned).
    let (mut durable_on_a, mut seen_on_b) = (Vec::new(), Vec::new());
    for number in 0..u64::from(samples) {
        let submitted = Instant::now();
        let id = a.runtime.start_instance(saga::start_request(2_000_000 + number)).await?.instance.id;
        durable_on_a.push(submitted.elapsed().as_secs_f64() * 1_000.0);
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.recv()).await {
                Ok(Ok(LiveEvent::Instance(change))) if change.id == id => break,
                Ok(Ok(_)) => {}
                other => anyhow::bail!("no event on B for an instance started on A: {other:?}"),
            }
        }
        seen_on_b.push(submitted.elapsed().as_secs_f64() * 1_000.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let quantiles = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.95), values.last().copied().unwrap_or(f64::NAN))
    };
    let (a50, a95, _) = quantiles(durable_on_a);
    let (b50, b95, bmax) = quantiles(seen_on_b);
    println!(
        "CLUSTER feed events={samples} start_durable_on_a_p50_ms={a50:.1} p95_ms={a95:.1} \
         event_on_b_p50_ms={b50:.1} p95_ms={b95:.1} max_ms={bmax:.1} (both from the start request)"
    );
    for node in [a, b] {
        node.events.shut_down();
        node.database.close().await;
    }
    Ok(())
}
