//! `switchboard bench --monitoring URL`: latency of every monitoring endpoint over a stored history
//! (fill it first with `switchboard seed`).
//!
//! Serves the database's console on a local port and asks each endpoint `--requests` times, one
//! request at a time after three warm-up requests, over real HTTP. One line per endpoint:
//! `PEER switchboard-<backend>-monitoring instances=N endpoint=PATH requests=R first_ms=x p50_ms=x
//! p95_ms=x max_ms=x bytes=N`, where `first_ms` is the first (cold) request: it reads the period's
//! closed buckets, which later requests take from memory.

use std::time::Instant;

use anyhow::Context;

use crate::serve::Config;
use crate::db::DatabaseUrl;
use crate::store::InstanceFilter;

/// The endpoints measured, with the periods people ask for most.
const ENDPOINTS: &[&str] = &[
    "/api/monitoring/dashboard?period=1h",
    "/api/monitoring/metrics?period=1h",
    "/api/monitoring/metrics?period=24h",
    "/api/monitoring/metrics?period=30d",
    "/api/monitoring/throughput?period=1h",
    "/api/monitoring/throughput?period=24h",
    "/api/monitoring/throughput?period=30d",
    "/api/monitoring/states/call-lifecycle?period=24h",
    "/api/monitoring/states/call-lifecycle?period=30d",
    "/api/monitoring/bottlenecks?period=24h",
    "/api/monitoring/bottlenecks?period=7d",
    "/api/monitoring/bottlenecks?period=30d",
    "/api/sla/report",
    "/api/sla/targets",
    "/api/sla/breaches",
    "/api/charts/throughput.svg?period=24h",
    "/api/charts/steps.svg?workflow=call-lifecycle&period=7d",
    "/api/charts/sla/{target}.svg",
];

/// Measures every endpoint against the database at `url` and prints one line each.
pub async fn run(url: &DatabaseUrl, requests: u64) -> anyhow::Result<()> {
    let args = Config { no_demo: true, ..Config::defaults_on(url) };
    let state = crate::serve::build_state(&args).await?;
    let instances = state.runtime.store().count_instances(&InstanceFilter::default()).await?;
    let target = state.monitor.targets().await?.into_iter().next().map(|t| t.id).unwrap_or_default();
    let server = super::HttpTarget::start(state.clone()).await?;
    let client = server.client();
    let backend = match url.backend() {
        app::wire::Backend::Sqlite => "sqlite",
        app::wire::Backend::Postgres => "postgres",
    };
    for endpoint in ENDPOINTS {
        let path = endpoint.replace("{target}", &target);
        let address = format!("{}{path}", client.base);
        let mut samples = Vec::new();
        let mut bytes = 0;
        let mut first_ms = 0.0;
        for i in 0..requests + 3 {
            let began = Instant::now();
            let response = client.client.get(&address).send().await.with_context(|| format!("GET {path}"))?;
            let status = response.status();
            let body = response.bytes().await?;
            anyhow::ensure!(status.is_success(), "GET {path} answered {status}: {}", String::from_utf8_lossy(&body));
            if i == 0 {
                first_ms = began.elapsed().as_secs_f64() * 1000.0;
            }
            if i >= 3 {
                samples.push(began.elapsed().as_secs_f64() * 1000.0);
                bytes = body.len();
            }
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
        println!(
            "PEER switchboard-{backend}-monitoring instances={instances} endpoint={path} requests={requests} \
             first_ms={first_ms:.2} p50_ms={:.2} p95_ms={:.2} max_ms={:.2} bytes={bytes}",
            at(0.50),
            at(0.95),
            samples.last().copied().unwrap_or_default()
        );
    }
    server.stop();
    state.events.shut_down();
    Ok(())
}
