//! Monitoring (issue 5): rollups kept as transitions commit, and the numbers built on them.

use std::path::PathBuf;
use std::time::Duration;

use switchboard::db::DatabaseUrl;
use switchboard::marketplace::faults::{FaultSettings, Latency};
use switchboard::monitoring::recompute::rollups_of_history;
use switchboard::monitoring::rollup::Rollups;
use switchboard::serve::build_state;
use switchboard::state::AppState;
use switchboard::traffic::{Traffic, TrafficConfig};

const DEADLINE: Duration = Duration::from_secs(120);

async fn market(url: &DatabaseUrl) -> AppState {
    build_state(&crate::support::serve_args(url, PathBuf::from("target/site"))).await.expect("application state")
}

/// A seeded run of the marketplace with random faults: a random history.
fn random_traffic(seed: u64) -> TrafficConfig {
    let mut rng = fastrand::Rng::with_seed(seed);
    TrafficConfig {
        rate_per_sec: 400.0,
        seed,
        tag: format!("r{seed}"),
        max_in_flight: 24,
        limit: Some(rng.u64(20..70)),
        buyers: 4,
        sellers: 3,
        leave_for_people: rng.usize(0..3),
        fault_chance: rng.f64() * 0.2,
        fault_duration: Duration::from_millis(rng.u64(20..200)),
        ambient: Some(FaultSettings {
            latency: Latency { p50_ms: rng.u64(0..4), p99_ms: rng.u64(4..20) },
            failure_rate: rng.f64() * 0.25,
            timeout_rate: 0.0,
            lost_reply_rate: rng.f64() * 0.05,
        }),
        follow_timeout: Duration::from_secs(60),
    }
}

/// The stored rollups once they equal a recomputation from the stored history (both are read while
/// the last transitions may still be committing, so a difference is retried for a while).
async fn assert_rollups_match_history(state: &AppState, context: &str) -> Rollups {
    let store = state.runtime.store();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let recomputed = rollups_of_history(&store.history().await.unwrap()).unwrap();
        let stored = store.all_rollups().await.unwrap();
        if stored == recomputed {
            return stored;
        }
        if tokio::time::Instant::now() > deadline {
            let only_stored: Vec<_> =
                stored.workflows.iter().filter(|(k, v)| recomputed.workflows.get(*k) != Some(*v)).take(3).collect();
            let only_states: Vec<_> =
                stored.states.iter().filter(|(k, v)| recomputed.states.get(*k) != Some(*v)).take(3).collect();
            let missing =
                recomputed.states.keys().filter(|k| !stored.states.contains_key(*k)).take(3).collect::<Vec<_>>();
            panic!(
                "{context}: stored rollups differ from the recomputation\n workflow rows: {only_stored:#?}\n \
                 state rows: {only_states:#?}\n missing state rows: {missing:#?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rollups equal a full recomputation after random histories (random mixes, failure rates, fault
/// episodes, human tasks left open), checked after every history on the same database.
async fn rollups_equal_a_recomputation_after_random_histories(url: DatabaseUrl) {
    let state = market(&url).await;
    let seeds: &[u64] =
        if matches!(url.backend(), switchboard::db::Backend::Postgres) { &[11, 12] } else { &[1, 2, 3] };
    for &seed in seeds {
        let report = tokio::time::timeout(DEADLINE, Traffic::spawn(state.clone(), random_traffic(seed)).finish())
            .await
            .expect("the history ends");
        assert!(!report.started.is_empty());
        let rollups = assert_rollups_match_history(&state, &format!("seed {seed}")).await;
        let store = state.runtime.store();
        assert_eq!(store.status_counts().await.unwrap(), store.count_by_status().await.unwrap(), "seed {seed}");
        let started: i64 =
            rollups.workflows.iter().filter(|(k, _)| k.resolution_ms == 60_000).map(|(_, c)| c.started).sum();
        assert!(started >= report.started.len() as i64, "every start is counted: {started} < {}", report.started.len());
    }
    state.events.shut_down();
}
on_both!(rollups_equal_a_recomputation_after_random_histories);

/// `switchboard seed` writes finished history whose rollups equal a recomputation, with every
/// workflow type represented and every instance finished.
async fn seeded_history_is_consistent_with_its_rollups(url: DatabaseUrl) {
    let state = market(&url).await;
    let args = switchboard::seed::Config {
        database: url.clone(),
        instances: 1_200,
        days: 3,
        seed: 9,
        chunk: 500,
    };
    let mut seen = Vec::new();
    let report = switchboard::seed::seed(&state, &args, |done| seen.push(done)).await.expect("seeded");
    assert_eq!(report.instances, 1_200);
    assert_eq!(seen, [500, 1_000, 1_200], "progress after every chunk");
    let rollups = assert_rollups_match_history(&state, "seed").await;
    let store = state.runtime.store();
    let by_status = store.count_by_status().await.unwrap();
    let finished: i64 = by_status
        .iter()
        .filter(|(status, _)| ["completed", "failed", "compensated"].contains(&status.as_str()))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(finished, 1_200, "every seeded instance is finished: {by_status:?}");
    let workflows: std::collections::BTreeSet<&str> = rollups.workflows.keys().map(|k| k.workflow.as_str()).collect();
    assert_eq!(workflows.len(), 7, "every marketplace workflow is seeded: {workflows:?}");
    let period = switchboard::monitoring::period::Period::parse("4d", state.runtime.now_ms()).unwrap();
    let metrics = state.monitor.success_metrics(&period, None).await.unwrap();
    assert_eq!(metrics.total.started, 1_200);
    assert_eq!(metrics.total.finished, 1_200);
    assert!(metrics.total.completed > 600, "most runs complete: {:?}", metrics.total);
    assert!(metrics.total.compensated > 0 && metrics.total.failed > 0, "some fail or are undone: {:?}", metrics.total);
    // The second read takes the closed days from memory: same answer.
    assert_eq!(state.monitor.success_metrics(&period, None).await.unwrap(), metrics);
    let states = state.monitor.states("call-lifecycle", &period).await.unwrap();
    assert_eq!(state.monitor.states("call-lifecycle", &period).await.unwrap(), states);
    let entered: i64 = states.states.iter().filter(|s| s.state == "validate-call").map(|s| s.entered).sum();
    let calls = metrics.workflows.iter().find(|w| w.workflow == "call-lifecycle").unwrap();
    assert_eq!(entered, calls.started, "every call enters the first state once");
    state.events.shut_down();
}
on_both!(seeded_history_is_consistent_with_its_rollups);

/// A database whose history predates the rollups (here: rollups deleted) gets them back at start,
/// equal to a recomputation, before the runtime moves anything.
async fn history_without_rollups_is_backfilled_at_start(url: DatabaseUrl) {
    let state = market(&url).await;
    tokio::time::timeout(DEADLINE, Traffic::spawn(state.clone(), random_traffic(5)).finish()).await.expect("history");
    let before = assert_rollups_match_history(&state, "before").await;
    state.events.shut_down();
    for table in ["workflow_rollups", "state_rollups"] {
        let sql = sqlx::AssertSqlSafe(format!("DELETE FROM {table}"));
        match &state.database {
            switchboard::db::Database::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            switchboard::db::Database::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .unwrap();
    }
    drop(state);
    let again = market(&url).await;
    let after = assert_rollups_match_history(&again, "after the backfill").await;
    assert_eq!(after, before);
    again.events.shut_down();
}
on_both!(history_without_rollups_is_backfilled_at_start);

/// The writer's rollup cache keeps only the newest buckets: facts that arrive late, for buckets it has
/// dropped (or never held, after a restart), are added to the stored rows, not to empty ones. Random
/// batches of facts spread over hours, some hours late, equal the rollup of all of them.
async fn the_writers_rollups_survive_late_facts_evictions_and_restarts(url: DatabaseUrl) {
    use switchboard::monitoring::facts::{Fact, Outcome};
    use switchboard::runtime::writer::Writer;
    use switchboard::store::{Store, TransitionWrite};

    let database = switchboard::db::open(&url).await.expect("database");
    let store = Store::new(database);
    let mut rng = fastrand::Rng::with_seed(77);
    let mut all = Vec::new();
    let base = 1_800_000_000_000_i64;
    for restart in 0..3 {
        // A fresh writer: an empty cache over rows already stored.
        let writer = Writer::spawn(store.clone());
        let mut pending = Vec::new();
        for i in 0..400 {
            // Mostly moving forward in time, one in ten up to three hours late.
            let at =
                base + (restart * 400 + i) * 20_000 - if rng.u8(..10) == 0 { rng.i64(0..3 * 3_600_000) } else { 0 };
            let workflow = ["a", "b"][rng.usize(..2)].to_string();
            let fact = match rng.u8(..4) {
                0 => Fact::Started { workflow, at },
                1 => Fact::Finished { workflow, outcome: Outcome::Completed, at, duration_ms: rng.i64(1..5_000) },
                2 => Fact::Left { workflow, state: "s".into(), at, duration_ms: rng.i64(0..900) },
                _ => Fact::Attempt {
                    workflow,
                    state: "t".into(),
                    compensation: false,
                    at,
                    duration_ms: rng.i64(1..300),
                    queue_wait_ms: rng.i64(0..20),
                    failed: rng.bool(),
                    retry: rng.bool(),
                },
            };
            all.push(fact.clone());
            pending.push(fact);
            if rng.u8(..3) == 0 {
                let write = TransitionWrite { facts: std::mem::take(&mut pending), ..TransitionWrite::default() };
                writer.commit(write).await.expect("committed");
            }
        }
        writer.commit(TransitionWrite { facts: pending, ..TransitionWrite::default() }).await.expect("committed");
    }
    assert_eq!(store.all_rollups().await.unwrap(), Rollups::of(&all));
}
on_both!(the_writers_rollups_survive_late_facts_evictions_and_restarts);
