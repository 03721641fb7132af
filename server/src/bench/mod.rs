//! `switchboard bench`: the call-processing saga of the specification, end to end, measured.
//!
//! Each run registers the saga (validate-caller; find-buyer, undone by release-reservation;
//! connect-call, undone by disconnect; start-billing, undone by cancel-meter) over instant in-process
//! services — where exactly the calls whose number is divisible by 20 fail at start-billing with a
//! permanent error and compensate — and drives N workflows with C closed-loop clients: each client
//! starts a workflow, waits for its result, and starts the next. Two modes: `in-process` (the runtime's
//! API directly) and `http` (POST /api/instances, then GET …/wait, over real sockets). Start latency is
//! submit → durably started; end-to-end is submit → result.
//!
//! One line per run, exactly:
//! `PEER switchboard-<backend>-<mode> workflows=N concurrency=C wall_s=x wf_per_s=x steps_per_s=x
//! start_p50_ms=x start_p99_ms=x e2e_p50_ms=x e2e_p99_ms=x failed=n compensated=n`
//!
//! `--nodes 1,2,3` (with `--postgres-url`) runs the saga on several nodes sharing one database, then
//! times takeovers and the live feed between nodes (bench/cluster.rs).
//! `--monitoring URL` instead measures the monitoring endpoints over a stored history (bench/monitoring.rs).
//! `--waiting N` instead measures memory: N instances asleep on a one-day timer, then the peak RSS.
//! Figures only; nothing here asserts on speed.

mod cluster;
mod monitoring;
mod report;
mod saga;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use crate::db::DatabaseUrl;
use crate::runtime::{Runtime, StartRequest};
use crate::serve::build_state_with;
use crate::state::AppState;

use report::{Outcomes, Run};

/// What `switchboard bench` measures (the command line's `bench` flags, as values).
#[derive(Debug, Clone)]
pub struct Config {
    /// Workflows per run.
    pub workflows: u64,
    /// Concurrent closed-loop clients.
    pub concurrency: u64,
    /// Which modes to run.
    pub mode: Mode,
    /// Also run on PostgreSQL: a server URL; a fresh database is created on it for each run and dropped
    /// afterwards (the URL's own database is only used to connect).
    pub postgres_url: Option<String>,
    /// Skip SQLite (with `postgres_url`, run on PostgreSQL only).
    pub no_sqlite: bool,
    /// Instead of throughput, start this many instances that wait on a one-day timer and report the
    /// process's peak memory.
    pub waiting: Option<u64>,
    /// Instead of throughput, measure every monitoring endpoint over the history stored in this
    /// database (`sqlite:PATH` or `postgres://…`; fill it with `switchboard seed` first).
    pub monitoring: Option<String>,
    /// Requests per endpoint with `monitoring`.
    pub requests: u64,
    /// Instead of the single-node runs, run the saga on this many nodes sharing the PostgreSQL database
    /// of `postgres_url`, then measure takeovers and the feed.
    pub nodes: Vec<usize>,
    /// With `nodes`: how many node deaths to time (takeover by a survivor).
    pub kills: u32,
}

/// Which way the saga is driven: the runtime's API directly, over HTTP, or one run of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    InProcess,
    Http,
    Both,
}

/// Runs the benchmark as configured and prints one line per run.
pub async fn run(args: Config) -> anyhow::Result<()> {
    if let Some(url) = &args.monitoring {
        anyhow::ensure!(args.requests > 0, "--requests must be at least 1");
        let url: DatabaseUrl = url.parse()?;
        return monitoring::run(&url, args.requests).await;
    }
    if args.concurrency == 0 || args.workflows == 0 {
        bail!("--workflows and --concurrency must be at least 1");
    }
    if !args.nodes.is_empty() {
        let Some(url) = &args.postgres_url else { bail!("--nodes needs --postgres-url: nodes share a PostgreSQL database") };
        return cluster::run(url, &args.nodes, args.workflows, args.concurrency, args.kills).await;
    }
    let mut backends: Vec<Backend> = Vec::new();
    if !args.no_sqlite {
        backends.push(Backend::Sqlite);
    }
    if let Some(url) = &args.postgres_url {
        backends.push(Backend::Postgres(url.clone()));
    }
    if backends.is_empty() {
        bail!("nothing to run: --no-sqlite without --postgres-url");
    }
    for backend in &backends {
        if let Some(count) = args.waiting {
            let database = backend.fresh().await?;
            waiting(&database.url, backend.name(), count, args.concurrency).await?;
            database.drop_it().await;
            continue;
        }
        for mode in [Mode::InProcess, Mode::Http] {
            if args.mode != Mode::Both && args.mode != mode {
                continue;
            }
            let database = backend.fresh().await?;
            let run = throughput(&database.url, mode, args.workflows, args.concurrency).await?;
            println!("{}", run.line(backend.name(), mode));
            database.drop_it().await;
        }
    }
    Ok(())
}

/// One throughput run on a fresh database.
async fn throughput(url: &DatabaseUrl, mode: Mode, workflows: u64, concurrency: u64) -> anyhow::Result<Run> {
    let calls = Arc::new(AtomicU64::new(0));
    let state = build_state_with(&bench_args(url), saga::services(calls.clone())).await?;
    state.runtime.register_definition(saga::definition(), "bench").await?;

    let began = Instant::now();
    let server = match mode {
        Mode::Http => Some(HttpTarget::start(state.clone()).await?),
        _ => None,
    };
    let target = match &server {
        Some(server) => Target::Http(server.client()),
        None => Target::InProcess(state.runtime.clone()),
    };
    let outcomes = drive(&[target], workflows, concurrency).await?;
    let wall = began.elapsed();
    let stats = state.runtime.writer_stats();
    let transactions = stats.transactions.load(Ordering::Relaxed).max(1);
    eprintln!(
        "  writer: {} transitions in {transactions} transactions ({:.1} per transaction), {:.2} ms per commit \
         (rollup rows {:.2} ms), busy {:.0}% of the run",
        stats.transitions.load(Ordering::Relaxed),
        stats.transitions.load(Ordering::Relaxed) as f64 / transactions as f64,
        stats.commit_micros.load(Ordering::Relaxed) as f64 / transactions as f64 / 1000.0,
        stats.rollup_micros.load(Ordering::Relaxed) as f64 / transactions as f64 / 1000.0,
        stats.commit_micros.load(Ordering::Relaxed) as f64 / 1e4 / wall.as_secs_f64(),
    );
    if let Some(server) = server {
        server.stop();
    }
    state.events.shut_down();
    state.database.close().await;
    Ok(Run { workflows, concurrency, wall, calls: calls.load(Ordering::Relaxed), outcomes })
}

/// Where a benchmark client sends its workflows.
#[derive(Clone)]
enum Target {
    InProcess(Runtime),
    Http(HttpClient),
}

/// Runs `workflows` call sagas with `concurrency` closed-loop clients — client i on target i mod n —
/// each starting a workflow, waiting for its result, and starting the next.
async fn drive(targets: &[Target], workflows: u64, concurrency: u64) -> anyhow::Result<Outcomes> {
    let next = Arc::new(AtomicU64::new(1));
    let mut clients = Vec::new();
    for client in 0..concurrency {
        let next = next.clone();
        let target = targets[client as usize % targets.len()].clone();
        clients.push(tokio::spawn(async move {
            let mut samples = Outcomes::default();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                if number > workflows {
                    return anyhow::Ok(samples);
                }
                let submitted = Instant::now();
                let (started_at, status) = match &target {
                    Target::InProcess(runtime) => in_process_call(runtime, number, submitted).await?,
                    Target::Http(client) => client.call(number, submitted).await?,
                };
                samples.record(started_at, submitted.elapsed(), &status);
            }
        }));
    }
    let mut outcomes = Outcomes::default();
    for client in clients {
        outcomes.merge(client.await??);
    }
    Ok(outcomes)
}

async fn in_process_call(runtime: &Runtime, number: u64, submitted: Instant) -> anyhow::Result<(Duration, String)> {
    let started = runtime.start_instance(saga::start_request(number)).await?;
    let started_at = submitted.elapsed();
    let settled = runtime.wait_settled(&started.instance.id, Duration::from_secs(120)).await?;
    Ok((started_at, settled.status))
}

/// The HTTP API on a real socket, for the `http` mode.
struct HttpTarget {
    base: String,
    client: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct HttpClient {
    base: String,
    client: reqwest::Client,
}

impl HttpTarget {
    async fn start(state: AppState) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The benchmark is a machine client: it calls with an API token, as one would in production.
        let (_, secret) =
            crate::auth::issue_token(state.runtime.store(), "benchmark", app::wire::Role::Admin, "benchmark").await?;
        let app = crate::http::router(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {secret}").parse()?);
        let client = reqwest::Client::builder().pool_max_idle_per_host(1024).default_headers(headers).build()?;
        Ok(Self { base, client, stop })
    }

    fn client(&self) -> HttpClient {
        HttpClient { base: self.base.clone(), client: self.client.clone() }
    }

    fn stop(self) {
        let _ = self.stop.send(());
    }
}

impl HttpClient {
    async fn call(&self, number: u64, submitted: Instant) -> anyhow::Result<(Duration, String)> {
        let request = saga::start_request(number);
        let body = json!({"workflow": request.workflow, "input": request.input});
        let response = self.client.post(format!("{}/api/instances", self.base)).json(&body).send().await?;
        if response.status() != reqwest::StatusCode::CREATED {
            bail!("start answered {}: {}", response.status(), response.text().await.unwrap_or_default());
        }
        let started: serde_json::Value = response.json().await?;
        let started_at = submitted.elapsed();
        let id = started["id"].as_str().context("start answer without id")?;
        let settled: serde_json::Value = self
            .client
            .get(format!("{}/api/instances/{id}/wait?timeout_ms=60000", self.base))
            .send()
            .await?
            .json()
            .await?;
        Ok((started_at, settled["status"].as_str().unwrap_or_default().to_string()))
    }
}

/// Memory with `count` instances asleep on a timer.
async fn waiting(url: &DatabaseUrl, backend: &str, count: u64, concurrency: u64) -> anyhow::Result<()> {
    let state = build_state_with(&bench_args(url), saga::services(Arc::new(AtomicU64::new(0)))).await?;
    state.runtime.register_definition(saga::sleeper(), "bench").await?;
    let began = Instant::now();
    let next = Arc::new(AtomicU64::new(1));
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (next, runtime) = (next.clone(), state.runtime.clone());
        clients.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) <= count {
                let request = StartRequest { workflow: "sleeper".into(), input: json!({}), ..StartRequest::default() };
                runtime.start_instance(request).await?;
            }
            anyhow::Ok(())
        }));
    }
    for client in clients {
        client.await??;
    }
    let wall = began.elapsed();
    let waiting = state
        .runtime
        .store()
        .count_instances(&crate::store::InstanceFilter { status: Some("waiting".into()), ..Default::default() })
        .await?;
    println!(
        "PEER switchboard-{backend}-waiting instances={waiting} start_wall_s={:.2} drivers_in_memory={} peak_rss_mb={:.1}",
        wall.as_secs_f64(),
        state.runtime.active_instances(),
        report::peak_rss_mb().unwrap_or(f64::NAN),
    );
    state.events.shut_down();
    state.database.close().await;
    Ok(())
}

fn bench_args(url: &DatabaseUrl) -> crate::serve::Config {
    crate::serve::Config::defaults_on(url)
}

/// Where a run stores its state.
enum Backend {
    Sqlite,
    Postgres(String),
}

/// A database made for one run, removed after it.
struct FreshDatabase {
    url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(PathBuf),
    Drop { admin: String, name: String },
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    async fn fresh(&self) -> anyhow::Result<FreshDatabase> {
        let unique = crate::runtime::clock::new_id().replace('-', "");
        match self {
            Backend::Sqlite => {
                let folder = std::env::temp_dir().join(format!("switchboard-bench-{unique}"));
                let url = format!("sqlite:{}", folder.join("bench.db").display()).parse()?;
                Ok(FreshDatabase { url, cleanup: Cleanup::Folder(folder) })
            }
            Backend::Postgres(admin) => {
                let name = format!("switchboard_bench_{unique}");
                let mut connection = PgConnection::connect(admin).await.with_context(|| {
                    format!(
                        "cannot connect to {}",
                        admin.parse::<DatabaseUrl>().map(|u| u.to_string()).unwrap_or_default()
                    )
                })?;
                connection.execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#))).await?;
                let mut url = url::Url::parse(admin)?;
                url.set_path(&name);
                Ok(FreshDatabase { url: url.as_str().parse()?, cleanup: Cleanup::Drop { admin: admin.clone(), name } })
            }
        }
    }
}

impl FreshDatabase {
    async fn drop_it(self) {
        match self.cleanup {
            Cleanup::Folder(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Cleanup::Drop { admin, name } => {
                if let Ok(mut connection) = PgConnection::connect(&admin).await {
                    let _ = connection
                        .execute(AssertSqlSafe(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)))
                        .await;
                }
            }
        }
    }
}
