//! Is this process ready to work? What [`HealthWatch`] has observed of the database and the writer.
//!
//! A health check must not itself depend on the things it reports on being fast: under a flood of
//! requests every pooled connection is busy, and a check that queued for one would call a busy server
//! dead. So the database is probed in the background, once a second, on a connection of its own (not
//! from the pool), and `GET /api/health` answers from what was last observed, at once. Writes are
//! observed where they happen: the group-commit writer reports each failed and each successful batch.
//!
//! Liveness (`GET /api/health/live`) asks nothing of the database at all: the process serves HTTP.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::db::{Backend, DatabaseUrl};

/// How often the database is probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one probe may take before it counts as a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A database that answered within this long is reachable, even if the latest probe is still out.
const REACHABLE_WITHIN_MS: i64 = 3_000;

/// What has been observed, shared by the probe task, the writer and the health route.
#[derive(Clone, Debug, Default)]
pub struct HealthWatch {
    observed: Arc<Mutex<Observed>>,
}

#[derive(Debug, Default)]
struct Observed {
    /// When the database last answered a probe (epoch ms); `None` before the first probe.
    database_ok_at: Option<i64>,
    /// The first failed probe since the last success, and what it said.
    database_failing: Option<(i64, String)>,
    /// The first failed write since the last successful one, and what the database said.
    writes_failing: Option<(i64, String)>,
}

/// The verdict of [`HealthWatch::report`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub database_reachable: bool,
    /// What is wrong, in sentences; empty when all is well.
    pub problems: Vec<String>,
}

impl HealthWatch {
    /// When the database last answered a probe (epoch ms).
    pub fn database_answered_at(&self) -> Option<i64> {
        self.lock().database_ok_at
    }

    /// Probes the database at `url` every second until `stop` resolves.
    pub fn spawn_probe(&self, url: DatabaseUrl, stop: impl std::future::Future<Output = ()> + Send + 'static) {
        let watch = self.clone();
        tokio::spawn(async move {
            let probe = Probe::new(&url);
            tokio::pin!(stop);
            loop {
                let outcome = match &probe {
                    Ok(probe) => probe.run().await,
                    Err(error) => Err(error.clone()),
                };
                watch.database_probed(now_ms(), outcome);
                tokio::select! {
                    () = tokio::time::sleep(PROBE_INTERVAL) => {}
                    () = &mut stop => return,
                }
            }
        });
    }

    /// Records a probe's outcome; a change is logged once, not every second.
    pub fn database_probed(&self, now_ms: i64, outcome: Result<(), String>) {
        let mut observed = self.lock();
        match outcome {
            Ok(()) => {
                if let Some((since, _)) = observed.database_failing.take() {
                    tracing::warn!(down_for_ms = now_ms - since, "the database answers again");
                }
                observed.database_ok_at = Some(now_ms);
            }
            Err(error) => {
                if observed.database_failing.is_none() {
                    tracing::error!(%error, "the database does not answer");
                    observed.database_failing = Some((now_ms, error));
                } else if let Some((_, last)) = observed.database_failing.as_mut() {
                    *last = error;
                }
            }
        }
    }

    /// Records a batch the writer could not write (after its retries).
    pub fn write_failed(&self, now_ms: i64, error: &str) {
        let mut observed = self.lock();
        match observed.writes_failing.as_mut() {
            Some((_, last)) => *last = error.to_string(),
            None => observed.writes_failing = Some((now_ms, error.to_string())),
        }
    }

    /// Records a batch written: writes work (again).
    pub fn write_succeeded(&self, now_ms: i64) {
        let mut observed = self.lock();
        if let Some((since, _)) = observed.writes_failing.take() {
            tracing::warn!(failing_for_ms = now_ms - since, "writes succeed again");
        }
    }

    /// What holds at `now_ms`.
    pub fn report(&self, now_ms: i64) -> Report {
        let observed = self.lock();
        let recently_ok = observed.database_ok_at.is_some_and(|at| now_ms - at <= REACHABLE_WITHIN_MS);
        let database_reachable = observed.database_failing.is_none() || recently_ok;
        let mut problems = Vec::new();
        if let Some((since, error)) = &observed.database_failing {
            if !database_reachable {
                problems.push(format!(
                    "the database has not answered for {} s: {error}",
                    (now_ms - since).max(0) / 1000
                ));
            }
        }
        if let Some((since, error)) = &observed.writes_failing {
            problems.push(format!("writes are failing (for {} s so far): {error}", (now_ms - since).max(0) / 1000));
        }
        Report { database_reachable, problems }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Observed> {
        // Plain data, always valid: keep using it after a panic elsewhere.
        self.observed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A one-connection pool of its own, so a probe never waits behind the application's queries.
enum Probe {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Probe {
    fn new(url: &DatabaseUrl) -> Result<Self, String> {
        let describe = |error: sqlx::Error| format!("cannot read the database URL: {error}");
        Ok(match url.backend() {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose_secret()).map_err(describe)?;
                Probe::Sqlite(Self::sized(SqlitePoolOptions::new()).connect_lazy_with(options))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url.expose_secret()).map_err(describe)?;
                Probe::Postgres(Self::sized(PgPoolOptions::new()).connect_lazy_with(options))
            }
        })
    }

    fn sized<DB: sqlx::Database>(options: sqlx::pool::PoolOptions<DB>) -> sqlx::pool::PoolOptions<DB> {
        options.max_connections(1).min_connections(0).acquire_timeout(PROBE_TIMEOUT)
    }

    async fn run(&self) -> Result<(), String> {
        let query = async {
            match self {
                Probe::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
                Probe::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            }
        };
        match tokio::time::timeout(PROBE_TIMEOUT, query).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_reachable_until_it_has_been_silent_for_a_while() {
        let watch = HealthWatch::default();
        watch.database_probed(0, Ok(()));
        assert_eq!(watch.report(500), Report { database_reachable: true, problems: vec![] });
        watch.database_probed(1_000, Err("connection refused".into()));
        assert!(watch.report(2_000).database_reachable, "one failed probe right after a success is not an outage");
        watch.database_probed(4_000, Err("connection refused".into()));
        let report = watch.report(4_000);
        assert!(!report.database_reachable);
        assert_eq!(report.problems, ["the database has not answered for 3 s: connection refused"]);
        watch.database_probed(13_000, Ok(()));
        assert_eq!(watch.report(13_000), Report { database_reachable: true, problems: vec![] });
    }

    #[test]
    fn failing_writes_are_a_problem_until_one_succeeds() {
        let watch = HealthWatch::default();
        watch.database_probed(0, Ok(()));
        watch.write_failed(1_000, "database or disk is full");
        watch.write_failed(4_000, "database or disk is full (again)");
        let report = watch.report(5_000);
        assert!(report.database_reachable);
        assert_eq!(report.problems, ["writes are failing (for 4 s so far): database or disk is full (again)"]);
        watch.write_succeeded(6_000);
        assert!(watch.report(6_000).problems.is_empty());
    }
}
