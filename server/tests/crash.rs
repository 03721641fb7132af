//! The crash test: the real `switchboard` binary runs a few hundred call-processing sagas against a
//! recording service, is killed with SIGKILL while many of them are mid-flight, and is restarted on the
//! same database. Every saga must end where it was designed to — completed, or compensated for the calls
//! whose billing is refused — with each effect applied exactly once. It runs on SQLite and on PostgreSQL.
//!
//! The recording service (`support/recorder.rs`, shared with `cluster_processes.rs` like the process
//! wrapper in `support/process.rs`) is an HTTP server inside this process that behaves like a real
//! idempotent service: it keys on the `Idempotency-Key` header, applies an effect the first time it
//! sees a key, and answers a repeated key with its first response without applying anything. Repeats
//! are expected after a crash (the engine re-issues the calls whose answers it never recorded) and are
//! only counted; the same step applied twice (under two keys) is what this test exists to catch.
//!
//! The kill lands once the service has applied [`KILL_AT_PERCENT`] of the expected effects — counted in
//! the service, never timed. Starts whose answer the kill swallowed are re-sent after the restart with
//! their idempotency key. The figures printed at the end go into the release note.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::StreamExt;

use app::wire::{InstanceDetail, InstancePage};
use support::client::{assert_no_effect_problems, history_text, register_definition, sort_starts, token_client};
use support::process::{Launch, Server};
use support::recorder::{expected_applied, expected_status, fails, start_service, Recorder, FAILING_EVERY};

/// How many sagas run.
const WORKFLOWS: i64 = 300;
/// The process is killed once the service has applied this share of the expected effects.
const KILL_AT_PERCENT: usize = 40;
/// Starts in flight at once.
const START_CONCURRENCY: usize = 64;
/// Waits in flight at once after the restart.
const WAIT_CONCURRENCY: usize = 32;
/// Service latency, in milliseconds, both before and after an effect is applied: an effect can land
/// while its answer is lost to the kill.
const LATENCY_MS: std::ops::RangeInclusive<u64> = 1..=5;
/// Between two health probes while the server starts.
const PROBE_EVERY: Duration = Duration::from_millis(20);
const READY_WITHIN: Duration = Duration::from_secs(30);
const KILL_WITHIN: Duration = Duration::from_secs(45);
const FINISH_WITHIN: Duration = Duration::from_secs(45);
/// The phases of the scenario, for the service's repeat counts.
const BEFORE_RESTART: usize = 0;
const AFTER_RESTART: usize = 1;
const PHASES: usize = 2;
/// The password of the `admin` the server creates on its empty database.
const ADMIN_PASSWORD: &str = "crash test admin password";
/// Call `number` is started under the idempotency key `{START_KEY_PREFIX}-{number}`.
const START_KEY_PREFIX: &str = "crash-test-call";

/// The backends share two cores: one crash run at a time keeps the figures meaningful.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let folder = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite:{}", folder.path().join("crash.db").display());
    crash_and_recover("sqlite", &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // Skips (with a note) only when PostgreSQL is unreachable outside CI; with CI=true it panics.
    let Some(database) = support::TempPostgres::create().await else { return };
    crash_and_recover("postgres", database.url.expose_secret()).await;
}

// ---------------------------------------------------------------------------------------------------
// The API, as a client sees it (the rest is in `support/client.rs`)
// ---------------------------------------------------------------------------------------------------

/// Starts call `number` under its own idempotency key: re-sending it returns the same instance.
async fn start_call(client: &reqwest::Client, base: &str, number: i64) -> support::client::Started {
    support::client::start_call(client, base, START_KEY_PREFIX, number).await
}

/// Waits (long-polling `wait`) until the instance has settled or the deadline passed; returns it as it is.
async fn wait_settled(client: &reqwest::Client, base: &str, id: &str, deadline: Instant) -> InstanceDetail {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout_ms = left.as_millis().clamp(1, 10_000);
        let response = client
            .get(format!("{base}/api/instances/{id}/wait?timeout_ms={timeout_ms}"))
            .timeout(left + Duration::from_secs(15))
            .send()
            .await
            .unwrap_or_else(|error| panic!("wait for {id}: {error}"));
        assert_eq!(response.status(), StatusCode::OK, "wait for {id}");
        let detail: InstanceDetail = response.json().await.expect("an instance");
        let settled = matches!(
            detail.summary.status.as_str(),
            "completed" | "compensated" | "failed" | "cancelled" | "needs_intervention"
        ) || detail.open_intervention.is_some();
        if settled || Instant::now() >= deadline {
            return detail;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------------

async fn crash_and_recover(backend: &str, database_url: &str) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let client = reqwest::Client::new();
    let recorder = Recorder::new(LATENCY_MS, PHASES);
    let service = start_service(recorder.clone()).await;
    let expected_total = expected_applied(1..=WORKFLOWS);
    let kill_at = expected_total * KILL_AT_PERCENT / 100;
    let launch = Launch {
        database_url,
        service,
        folder: folder.path(),
        admin_password: ADMIN_PASSWORD,
        log_filter: "warn",
        ready_within: READY_WITHIN,
        probe_every: PROBE_EVERY,
    };

    // Run 1: register, start every call, kill once `kill_at` effects are applied.
    let mut first = Server::spawn(&launch, "switchboard", "switchboard-first", |_| {});
    first.wait_ready(&client).await;
    // A machine client: an API token, created by the first admin (it outlives the restart: it is stored).
    let client = token_client(&client, &first.base, ADMIN_PASSWORD, "crash-test").await;
    register_definition(&client, &first.base).await;
    let starter = {
        let (client, base) = (client.clone(), first.base.clone());
        tokio::spawn(async move {
            futures::stream::iter(1..=WORKFLOWS)
                .map(|number| {
                    let (client, base) = (client.clone(), base.clone());
                    async move { (number, start_call(&client, &base, number).await) }
                })
                .buffer_unordered(START_CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        })
    };
    let mut applied = recorder.applied.subscribe();
    // The watch's `Ref` is dropped at once: held, it would block the service's next update.
    let reached = tokio::time::timeout(KILL_WITHIN, applied.wait_for(|&count| count >= kill_at)).await.map(drop);
    if reached.is_err() {
        panic!(
            "only {} of {expected_total} effects applied within {KILL_WITHIN:?}; server log:\n{}",
            recorder.ledger().applied,
            first.log_text()
        );
    }
    first.kill();
    let killed_at = Instant::now();
    let at_kill = recorder.snapshot();
    // A saga is over, as the service sees it, once its last effect landed.
    let finished_at_kill = at_kill
        .effects
        .iter()
        .filter(|e| matches!((e.action.as_str(), e.refused), ("start_billing", false) | ("release_reservation", _)))
        .count();
    // With the process gone, the starts still queued fail at once (nothing listens any more).
    let starts = starter.await.expect("the starter");
    let mut ids: BTreeMap<i64, String> = BTreeMap::new();
    let mut unanswered = Vec::new();
    sort_starts(starts, &mut ids, &mut unanswered);
    let answered_at_kill = ids.len();

    // Run 2: same database, new process; re-send every start whose answer was lost, wait for all.
    recorder.set_phase(AFTER_RESTART);
    let restarted_at = Instant::now();
    let mut second = Server::spawn(&launch, "switchboard", "switchboard-second", |_| {});
    second.wait_ready(&client).await;
    let ready_after = restarted_at.elapsed();
    let (mut resent_found, mut resent_created) = (0, 0);
    for &number in &unanswered {
        let (status, id) = start_call(&client, &second.base, number)
            .await
            .unwrap_or_else(|error| panic!("re-sending the start of call {number} failed: {error}"));
        if status == StatusCode::CREATED {
            resent_created += 1;
        } else {
            resent_found += 1;
        }
        ids.insert(number, id);
    }
    // Started before the kill: answered, or found by its key after the restart.
    let started_at_kill = answered_at_kill + resent_found;
    let in_flight_at_kill = started_at_kill - finished_at_kill;
    assert!(
        in_flight_at_kill >= WORKFLOWS as usize / 10,
        "the kill must land while many sagas run: {in_flight_at_kill} were in flight"
    );
    let deadline = Instant::now() + FINISH_WITHIN;
    let finals: Vec<(i64, InstanceDetail)> = futures::stream::iter(ids.clone())
        .map(|(number, id)| {
            let (client, base) = (client.clone(), second.base.clone());
            async move { (number, wait_settled(&client, &base, &id, deadline).await) }
        })
        .buffer_unordered(WAIT_CONCURRENCY)
        .collect()
        .await;
    let finished_after = restarted_at.elapsed();
    let finished_after_kill = killed_at.elapsed();

    // Every saga ended where it was designed to.
    let mut wrong = Vec::new();
    for (number, detail) in &finals {
        if detail.summary.status != expected_status(*number) {
            wrong.push(format!(
                "call {number} ({}): {} at {:?}, error {:?}, expected {}",
                detail.summary.id,
                detail.summary.status,
                detail.summary.current_state,
                detail.summary.error,
                expected_status(*number)
            ));
        }
    }
    if !wrong.is_empty() {
        let id =
            finals.iter().find(|(n, d)| d.summary.status != expected_status(*n)).map(|(_, d)| d.summary.id.clone());
        let first_history = history_text(&client, &second.base, &id.unwrap_or_default()).await;
        panic!(
            "{} of {WORKFLOWS} sagas did not end as designed:\n{}\nhistory of the first:\n{first_history}\nserver log:\n{}",
            wrong.len(),
            wrong.join("\n"),
            second.log_text()
        );
    }

    // One instance per call: a re-sent start found its instance instead of making a second.
    let page: InstancePage = client
        .get(format!("{}/api/instances?workflow=call-processing&limit=500", second.base))
        .send()
        .await
        .expect("list instances")
        .json()
        .await
        .expect("a page");
    let listed: HashSet<&str> = page.items.iter().map(|item| item.id.as_str()).collect();
    let started: HashSet<&str> = ids.values().map(String::as_str).collect();
    assert_eq!(ids.len(), WORKFLOWS as usize);
    assert_eq!(listed, started, "exactly the started instances exist");

    // Every effect applied exactly once, in saga order, under the key of its step.
    let ledger = recorder.snapshot();
    assert_eq!(ledger.unkeyed, 0, "every call carries an Idempotency-Key");
    let (problems, _) = ledger.problems(&ids);
    let refusals = ledger.effects.iter().filter(|e| e.refused).count();
    assert_no_effect_problems(&client, &second.base, &problems, &ids).await;
    assert_eq!(ledger.applied, expected_total, "every effect applied once");
    assert_eq!(refusals, (1..=WORKFLOWS).filter(|&n| fails(n)).count(), "one refusal per failing call");

    eprintln!(
        "crash test ({backend}): {WORKFLOWS} workflows ({} designed to compensate), {expected_total} effects\n  \
         killed with SIGKILL after {} effects had been applied: {started_at_kill} workflows started, \
         {finished_at_kill} finished, {in_flight_at_kill} in flight; {} starts unanswered\n  \
         restarted: ready in {:.2} s; re-sent starts: {resent_found} found by their key, {resent_created} new; \
         duplicates answered from the ledger: {} after the restart ({} before the kill)\n  \
         every workflow finished {:.2} s after the restart ({:.2} s after the kill); every effect applied exactly once",
        WORKFLOWS / FAILING_EVERY,
        at_kill.applied,
        unanswered.len(),
        ready_after.as_secs_f64(),
        ledger.repeats[AFTER_RESTART],
        ledger.repeats[BEFORE_RESTART],
        finished_after.as_secs_f64(),
        finished_after_kill.as_secs_f64(),
    );
}
