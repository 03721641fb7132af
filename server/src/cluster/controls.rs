//! Operators' settings of services, the same on every node: simulated faults and circuit-breaker trips
//! and resets.
//!
//! A change is written to `service_controls` — with its audit entry, in one transaction — and applied
//! on the node that made it at once; every node reads the (small) table each heartbeat interval and
//! applies each row's change whose version it has not applied yet ([`run_sync`]), so a fault set or a
//! breaker tripped on one node's console (or by the leader's demo traffic) holds on every node within
//! about half a second. What a breaker does on its own — open after failures, probe, close — stays per
//! node: it reflects that node's calls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::FromRow;

use crate::db::Database;
use crate::marketplace::faults::FaultSettings;
use crate::state::AppState;
use crate::store::{AuditRow, Result, Store};

/// An operator's breaker action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerAction {
    /// Forced open until reset.
    Trip,
    /// Closed, failure count cleared.
    Reset,
}

impl BreakerAction {
    fn as_str(self) -> &'static str {
        match self {
            BreakerAction::Trip => "trip",
            BreakerAction::Reset => "reset",
        }
    }
}

/// One service's shared settings as stored.
#[derive(Clone, Debug, FromRow)]
pub struct ControlRow {
    pub name: String,
    pub faults: Option<String>,
    pub faults_version: i64,
    pub breaker: Option<String>,
    pub breaker_version: i64,
}

/// The versions this node has applied, per service: (faults, breaker).
#[derive(Debug, Default)]
pub struct Applied {
    versions: Mutex<HashMap<String, (i64, i64)>>,
}

impl Applied {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, i64)>> {
        self.versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs the same code against whichever pool the database holds.
macro_rules! on_pool {
    ($database:expr, $pool:ident => $body:expr) => {
        match $database {
            Database::Sqlite($pool) => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

/// Stores new fault settings for `service` (with `audit` in the same transaction); returns the version.
pub async fn store_faults(store: &Store, service: &str, settings: &FaultSettings, audit: Option<AuditRow>) -> Result<i64> {
    let text = serde_json::to_string(settings).unwrap_or_else(|_| "{}".into());
    let query = "INSERT INTO service_controls (name, faults, faults_version, updated_at) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (name) DO UPDATE SET faults = excluded.faults, \
                 faults_version = service_controls.faults_version + 1, updated_at = excluded.updated_at \
                 RETURNING faults_version";
    let now = chrono::Utc::now().timestamp_millis();
    Ok(on_pool!(store.database(), pool => {
        let mut tx = pool.begin().await?;
        let version: i64 = sqlx::query_scalar(query).bind(service).bind(text).bind(now).fetch_one(&mut *tx).await?;
        crate::store::audit::insert_audit!(&mut *tx, audit.iter());
        tx.commit().await?;
        version
    }))
}

/// Stores an operator's breaker action for `service` (with `audit`); returns the version.
pub async fn store_breaker(store: &Store, service: &str, action: BreakerAction, audit: Option<AuditRow>) -> Result<i64> {
    let query = "INSERT INTO service_controls (name, breaker, breaker_version, updated_at) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (name) DO UPDATE SET breaker = excluded.breaker, \
                 breaker_version = service_controls.breaker_version + 1, updated_at = excluded.updated_at \
                 RETURNING breaker_version";
    let now = chrono::Utc::now().timestamp_millis();
    Ok(on_pool!(store.database(), pool => {
        let mut tx = pool.begin().await?;
        let version: i64 =
            sqlx::query_scalar(query).bind(service).bind(action.as_str()).bind(now).fetch_one(&mut *tx).await?;
        crate::store::audit::insert_audit!(&mut *tx, audit.iter());
        tx.commit().await?;
        version
    }))
}

/// Every stored row.
pub async fn read(store: &Store) -> Result<Vec<ControlRow>> {
    let query = "SELECT name, faults, faults_version, breaker, breaker_version FROM service_controls ORDER BY name";
    Ok(on_pool!(store.database(), pool => sqlx::query_as(query).fetch_all(pool).await?))
}

/// Notes that this node applied `service`'s faults (`Some`) or breaker (`None`) change of `version`
/// itself, so the next sync does not apply it again.
pub fn mark_applied(state: &AppState, service: &str, faults_version: Option<i64>, breaker_version: Option<i64>) {
    let mut applied = state.controls.lock();
    let entry = applied.entry(service.to_string()).or_default();
    if let Some(version) = faults_version {
        entry.0 = entry.0.max(version);
    }
    if let Some(version) = breaker_version {
        entry.1 = entry.1.max(version);
    }
}

/// Applies the rows this node has not applied yet.
pub fn apply(state: &AppState, rows: &[ControlRow]) {
    let mut applied = state.controls.lock();
    for row in rows {
        let seen = applied.entry(row.name.clone()).or_default();
        if row.faults_version > seen.0 {
            seen.0 = row.faults_version;
            match row.faults.as_deref().map(serde_json::from_str::<FaultSettings>) {
                Some(Ok(settings)) if state.faults.set(&row.name, settings).is_ok() => {
                    tracing::debug!(service = row.name, "simulated faults changed on another node; applied here");
                }
                Some(Ok(_)) => {} // not simulated on this node (replaced by `--service`)
                Some(Err(error)) => tracing::warn!(service = row.name, %error, "unreadable shared fault settings"),
                None => {}
            }
        }
        if row.breaker_version > seen.1 {
            seen.1 = row.breaker_version;
            let registry = state.runtime.services();
            match row.breaker.as_deref() {
                Some("trip") => {
                    registry.trip_breaker(&row.name);
                }
                Some("reset") => {
                    registry.reset_breaker(&row.name);
                }
                _ => {}
            }
        }
    }
}

/// Applies the shared settings at start and then every heartbeat interval, until the bus stops.
pub async fn run_sync(state: AppState) {
    let every = state.runtime.node().config.heartbeat;
    loop {
        match read(state.runtime.store()).await {
            Ok(rows) => apply(&state, &rows),
            Err(error) => tracing::warn!(%error, "cannot read the shared service settings"),
        }
        tokio::select! {
            () = tokio::time::sleep(every.max(Duration::from_millis(100))) => {}
            () = state.events.stopping() => return,
        }
    }
}
