//! `GET /metrics`: the Prometheus text format.
//!
//! Counters and histograms are kept current by the hooks in [`super::metrics`]; the gauges that
//! describe state are set here, just before rendering: each service's breaker from the registry, and
//! the open interventions and open SLA breaches from the database (so every node reports the shared
//! figure, whoever changed it). A database that does not answer in time leaves those two gauges at
//! their last value: the scrape still answers, with this process's own series.
//!
//! The guard admits the route like an API read (`View`, by session or API token); refusals are the
//! API's JSON errors.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for each database figure. Prometheus's default scrape timeout is 10 s.
const READ_WITHIN: Duration = Duration::from_secs(2);

/// The largest number of open SLA breaches counted (about one per target can be open).
const OPEN_BREACHES_LIMIT: i64 = 100_000;

/// The handler of [`super::METRICS_PATH`].
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    refresh_gauges(&state).await;
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], super::metrics::install().render())
}

async fn refresh_gauges(state: &AppState) {
    let now = state.runtime.now_ms();
    let services = state.runtime.services();
    for name in services.names() {
        if let Some(breaker) = services.breaker_state(name, now) {
            super::metrics::breaker_state(name, breaker);
        }
    }
    let store = state.runtime.store();
    // Nobody's "mine" view is wanted: only the total of open items.
    match tokio::time::timeout(READ_WITHIN, store.inbox_counts("", now)).await {
        Ok(Ok(counts)) => super::metrics::interventions_open(counts.all),
        Ok(Err(error)) => tracing::warn!(%error, "metrics: cannot count the open interventions"),
        Err(_) => tracing::warn!("metrics: counting the open interventions took too long"),
    }
    match tokio::time::timeout(READ_WITHIN, store.sla_breaches(true, OPEN_BREACHES_LIMIT)).await {
        Ok(Ok(open)) => super::metrics::sla_breaches_open(open.len()),
        Ok(Err(error)) => tracing::warn!(%error, "metrics: cannot count the open SLA breaches"),
        Err(_) => tracing::warn!("metrics: counting the open SLA breaches took too long"),
    }
}
