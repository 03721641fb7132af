//! The crash test: the real `switchboard` binary runs a few hundred call-processing sagas against a
//! recording service and is killed with SIGKILL mid-flight [`ROUNDS`] times, each time restarted on
//! the same database. Every saga must end where it was designed to — completed, or compensated for the
//! calls whose billing is refused — with each effect applied exactly once. It runs on SQLite and on
//! PostgreSQL.
//!
//! The recording service (`support/recorder.rs`, shared with `cluster_processes.rs` like the process
//! wrapper in `support/process.rs`) is an HTTP server inside this process that behaves like a real
//! idempotent service: it keys on the `Idempotency-Key` header, applies an effect the first time it
//! sees a key, and answers a repeated key with its first response without applying anything. Repeats
//! are expected after a crash (the engine re-issues the calls whose answers it never recorded) and are
//! only counted, per run; the same step applied twice (under two keys) is what this test exists to
//! catch, and an effect that never lands is the other failure.
//!
//! # The rounds
//!
//! A client keeps about [`IN_FLIGHT`] sagas going: it starts call `n` (under its own idempotency key)
//! once the service has seen all but [`IN_FLIGHT`] of the calls before it finish, so a kill finds
//! starts, early steps, late steps and compensations in flight. Round `k` (1 to [`ROUNDS`]) kills the
//! process once the service has applied `k / (ROUNDS + 1)` of the expected effects, at a moment it has
//! sagas begun and not finished — counted in the service, never timed. Each run starts calls only up
//! to a little past its kill point ([`last_call`]), so whatever recovery does, the next kill point is
//! always ahead and there is work to interrupt there.
//!
//! After a kill the test lets the service finish the calls the dead process had sent, reads the ledger
//! (the kill point, the sagas mid-flight) and restarts the process on the same database. The starts
//! whose answers the kill swallowed are re-sent at once, with their keys; new calls wait until every
//! saga the kill interrupted has been resumed (a call for it reached the service), so each round
//! recovers before the next kill and shows how long that took.
//!
//! The restarts alternate between the process's own node id (it takes its instances back at once) and
//! a new one (on PostgreSQL the dead node's instances are taken over once its lease ran out; on SQLite
//! a start takes every live instance either way). Before each kill the ledger is checked for a step
//! applied under two keys, named at once with its journal. After the last round the process runs to
//! the end, and the test checks every saga's status, one instance per call, and the service's ledger:
//! every call saw exactly its effects, in order, one key each.
//!
//! Waits fail only when the service sees no new effect for [`STALL_WITHIN`] (or the process exits), so
//! a busy machine makes the test slower, never red. `SWITCHBOARD_CRASH_ROUNDS=50` runs more rounds
//! over the same sagas. The figures printed at the end (per round: the kill point, restart to ready,
//! restart to the first call of the first and of the last saga the kill interrupted, repeats answered
//! from the ledger) go into the release note.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::StreamExt;
use tokio::sync::watch;

use app::wire::{InstancePage, InstanceSummary};
use crate::support::client::{
    assert_no_effect_problems, history_text, register_definition, sort_starts, token_client, Started,
};
use crate::support::process::{tail, Launch, Server};
use crate::support::recorder::{expected_applied, expected_status, fails, start_service, Progress, Recorder, FAILING_EVERY};

/// How many sagas run.
const WORKFLOWS: i64 = 600;
/// How many times the process is killed; `SWITCHBOARD_CRASH_ROUNDS` overrides it (1 to [`MAX_ROUNDS`]).
const ROUNDS: usize = 10;
const ROUNDS_VARIABLE: &str = "SWITCHBOARD_CRASH_ROUNDS";
/// Each round must leave the process a few effects to apply: at most this many rounds.
const MAX_ROUNDS: usize = 100;
/// Sagas started and not finished (as the service counts them) at once, about.
const IN_FLIGHT: i64 = 32;
/// How far past its kill point a run may start calls, in fifths of a round's effects: far enough that
/// the client's window ([`IN_FLIGHT`]), not this limit, holds the starts back when the kill comes (so
/// starts are in flight), short of the next kill point ([`last_call`]).
const AHEAD_FIFTHS: usize = 4;
/// Start requests in flight at once.
const START_CONCURRENCY: usize = 16;
/// Service latency, in milliseconds, both before and after an effect is applied: an effect can land
/// while its answer is lost to the kill.
const LATENCY_MS: std::ops::RangeInclusive<u64> = 1..=5;
/// Between two health probes while the server starts.
const PROBE_EVERY: Duration = Duration::from_millis(20);
/// Generous per-step limits: the machine may be busy with something else.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// A wait fails when the service saw no new effect for this long.
const STALL_WITHIN: Duration = Duration::from_secs(60);
/// After a kill, the calls the dead process had sent finish within this (they only wait out the
/// service's latency).
const QUIET_WITHIN: Duration = Duration::from_secs(30);
/// How often a wait checks that the process still runs, and the final wait lists the instances.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// The statuses an instance stays in.
const SETTLED: [&str; 5] = ["completed", "compensated", "failed", "cancelled", "needs_intervention"];
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
    let Some(database) = crate::support::TempPostgres::create().await else { return };
    crash_and_recover("postgres", database.url.expose_secret()).await;
}

/// [`ROUNDS`], or what `SWITCHBOARD_CRASH_ROUNDS` asks for.
///
/// # Panics
/// When the variable is set to something else than a number from 1 to [`MAX_ROUNDS`].
fn rounds() -> usize {
    match std::env::var(ROUNDS_VARIABLE) {
        Err(_) => ROUNDS,
        Ok(text) => match text.trim().parse() {
            Ok(rounds) if (1..=MAX_ROUNDS).contains(&rounds) => rounds,
            _ => panic!("{ROUNDS_VARIABLE}={text:?}: expected a number of rounds from 1 to {MAX_ROUNDS}"),
        },
    }
}

/// The node id of run `run` (run 0 before the first kill, run `k` after kill `k`): the restart after
/// an odd kill keeps the id, the one after an even kill takes a new one.
fn node_id(run: usize) -> String {
    format!("crash-test-{}", run / 2)
}

/// Kill `kill` (1 to `rounds`) lands once the service has applied `kill / (rounds + 1)` of the
/// expected effects.
fn kill_point(kill: usize, rounds: usize) -> usize {
    kill * expected_applied(1..=WORKFLOWS) / (rounds + 1)
}

/// The last call run `run` may start: the calls up to it hold [`AHEAD_FIFTHS`] of a round of effects
/// more than the run's kill point. So the kill point is always within reach — the calls started in
/// earlier runs hold a fifth of a round less than it, however far recovery took them — and there is
/// work left to be mid-flight when it is reached. The last run starts them all.
fn last_call(run: usize, rounds: usize) -> i64 {
    if run == rounds {
        return WORKFLOWS;
    }
    let ahead = AHEAD_FIFTHS * expected_applied(1..=WORKFLOWS) / (5 * (rounds + 1));
    let enough = kill_point(run + 1, rounds) + ahead;
    (1..=WORKFLOWS).find(|&last| expected_applied(1..=last) >= enough).unwrap_or(WORKFLOWS)
}

// ---------------------------------------------------------------------------------------------------
// The API, as a client sees it (the rest is in `support/client.rs`)
// ---------------------------------------------------------------------------------------------------

/// Starts call `number` under its own idempotency key: re-sending it returns the same instance.
async fn start_call(client: &reqwest::Client, base: &str, number: i64) -> Started {
    crate::support::client::start_call(client, base, START_KEY_PREFIX, number).await
}

/// Whether a run's starter may start new calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NewCalls {
    /// Not yet: the sagas the last kill interrupted have not all resumed.
    Held,
    Open,
    /// The process was killed.
    Stopped,
}

/// The starts of one run, in a task: first the calls whose start was never answered (re-sent with their
/// keys, at once), then, once `control` opens, the new calls `numbers` — call `n` once the service
/// counts `n - 1 - IN_FLIGHT` sagas finished — until all are started or `control` stops them.
/// Answers every outcome.
fn start_calls(
    client: &reqwest::Client,
    base: &str,
    resend: Vec<i64>,
    numbers: std::ops::RangeInclusive<i64>,
    progress: watch::Receiver<Progress>,
    control: watch::Receiver<NewCalls>,
) -> tokio::task::JoinHandle<Vec<(i64, Started)>> {
    let (next, last) = numbers.into_inner();
    let new =
        futures::stream::unfold((next, progress, control), move |(number, mut progress, mut control)| async move {
            if number > last {
                return None;
            }
            // The watches' `Ref`s are dropped at once: held, they would block the next update.
            let state = control.wait_for(|state| *state != NewCalls::Held).await.map(|state| *state).ok()?;
            if state == NewCalls::Stopped {
                return None;
            }
            let may_start = |seen: &Progress| number <= i64::try_from(seen.finished).unwrap_or(i64::MAX) + IN_FLIGHT;
            let open = tokio::select! {
                biased;
                _ = control.wait_for(|state| *state == NewCalls::Stopped) => false,
                open = progress.wait_for(may_start) => open.is_ok(),
            };
            open.then_some((number, (number + 1, progress, control)))
        });
    let (client, base) = (client.clone(), base.to_string());
    tokio::spawn(async move {
        futures::stream::iter(resend)
            .chain(new)
            .map(|number| {
                let (client, base) = (client.clone(), base.clone());
                async move { (number, start_call(&client, &base, number).await) }
            })
            .buffer_unordered(START_CONCURRENCY)
            .collect()
            .await
    })
}

/// Every instance of the call-processing saga, page by page.
async fn list_calls(client: &reqwest::Client, base: &str) -> Result<Vec<InstanceSummary>, String> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/instances?workflow=call-processing&limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let response =
            client.get(url).timeout(Duration::from_secs(30)).send().await.map_err(|error| error.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("listing the instances: {}", response.status()));
        }
        let page: InstancePage = response.json().await.map_err(|error| error.to_string())?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------------

/// What the waits report from when the process stops making progress.
struct Scene {
    client: reqwest::Client,
    recorder: Arc<Recorder>,
}

/// Waits for `done` while the service keeps applying effects.
///
/// # Panics
/// When the service saw no new effect for [`STALL_WITHIN`], or the process exited; with what was
/// awaited, the live instances, the history of one, and the server's log.
async fn while_progressing<T>(
    scene: &Scene,
    server: &mut Server,
    what: impl Fn() -> String,
    done: impl Future<Output = T>,
) -> T {
    let mut applied = scene.recorder.applied.subscribe();
    let mut progress_at = Instant::now();
    tokio::pin!(done);
    loop {
        tokio::select! {
            value = &mut done => return value,
            changed = applied.changed() => {
                changed.expect("the recording service lives as long as the test");
                progress_at = Instant::now();
            }
            () = tokio::time::sleep(CHECK_EVERY) => {
                server.assert_running();
                if progress_at.elapsed() >= STALL_WITHIN {
                    let report = stall_report(scene, server).await;
                    panic!("{}: no effect applied for {STALL_WITHIN:?}\n{report}", what());
                }
            }
        }
    }
}

/// Where things stand: the sagas the service saw begin and not end, the live instances, the history
/// of one, the log's tail.
async fn stall_report(scene: &Scene, server: &Server) -> String {
    let ledger = scene.recorder.snapshot();
    let mid_flight = ledger.mid_flight();
    let (live, first) = match list_calls(&scene.client, &server.base).await {
        Ok(items) => {
            let live: Vec<&InstanceSummary> =
                items.iter().filter(|item| !SETTLED.contains(&item.status.as_str())).collect();
            let first = live.first().map(|item| item.id.clone());
            let shown = live
                .iter()
                .take(20)
                .map(|item| format!("{} {} at {:?}, error {:?}", item.id, item.status, item.current_state, item.error))
                .collect::<Vec<_>>()
                .join("\n  ");
            (format!("{} of {} instances live:\n  {shown}", live.len(), items.len()), first)
        }
        Err(error) => (format!("(no listing: {error})"), None),
    };
    let history = match first {
        Some(id) => format!("history of {id}:\n{}", history_text(&scene.client, &server.base, &id).await),
        None => String::new(),
    };
    let doubled = ledger.doubled();
    format!(
        "the service applied {} effects; {} sagas begun and not ended: {:?}\n\
         {} steps applied under more than one key: {:?}\n{live}\n{history}\nlog of {}:\n{}",
        ledger.applied,
        mid_flight.len(),
        mid_flight.iter().take(40).collect::<Vec<_>>(),
        doubled.len(),
        doubled.iter().take(10).collect::<Vec<_>>(),
        server.name,
        tail(&server.log_text(), 60)
    )
}

/// Waits until a call of every saga in `not_resumed` reached the service in phase `run`, taking each
/// out of the set as its call is seen.
async fn wait_resumed(recorder: &Recorder, run: usize, not_resumed: &Mutex<BTreeSet<i64>>) {
    // Subscribed before the first look: a call handled after it marks the watch changed.
    let mut progress = recorder.progress.subscribe();
    let mut looked_at = 0;
    loop {
        {
            let ledger = recorder.ledger();
            let mut waiting = not_resumed.lock().expect("the set of sagas not resumed");
            for call in ledger.calls[looked_at..].iter().filter(|call| call.phase == run) {
                if let Some(number) = call.number {
                    waiting.remove(&number);
                }
            }
            looked_at = ledger.calls.len();
            if waiting.is_empty() {
                return;
            }
        }
        progress.changed().await.expect("the recording service lives as long as the test");
    }
}

// ---------------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------------

/// What one kill hit, and how the run after it began.
struct Round {
    /// Effects the service had applied when the process died (the calls it had sent included).
    applied_at_kill: usize,
    /// The sagas the service had seen begin and not end.
    mid_flight: BTreeSet<i64>,
    /// Starts the kill left without an answer.
    starts_lost: usize,
    /// Whether the restart kept the node id.
    same_node_id: bool,
    restarted_at: Instant,
    /// From the restart to the health check's 200.
    ready_after: Duration,
    /// The starts the kill left unanswered, re-sent in the run after it: found by their key, created
    /// anew, unanswered again (the next kill came first).
    resent: (usize, usize, usize),
}

/// Calls that were answered go into `ids`, the others into `unanswered`; answers the re-sent ones
/// found by their key and created anew.
fn sort_run_starts(
    outcomes: Vec<(i64, Started)>,
    resend: &[i64],
    ids: &mut BTreeMap<i64, String>,
    unanswered: &mut Vec<i64>,
) -> (usize, usize) {
    let resend: HashSet<i64> = resend.iter().copied().collect();
    let (mut found, mut created) = (0, 0);
    for (number, outcome) in &outcomes {
        if let (true, Ok((status, _))) = (resend.contains(number), outcome) {
            if *status == StatusCode::CREATED {
                created += 1;
            } else {
                found += 1;
            }
        }
    }
    sort_starts(outcomes, ids, unanswered);
    (found, created)
}

/// Starts run `run`'s process on the launch's database; answers it once it is ready, and how long that took.
async fn start_run(launch: &Launch<'_>, plain: &reqwest::Client, run: usize) -> (Server, Duration) {
    let started_at = Instant::now();
    let node = node_id(run);
    let mut server = Server::spawn(launch, &format!("switchboard (run {run})"), &format!("run-{run}"), |command| {
        command.args(["--node-id", &node]).env_remove("SWITCHBOARD_NODE_ID").env("NO_COLOR", "1");
    });
    server.wait_ready(plain).await;
    (server, started_at.elapsed())
}

#[allow(clippy::too_many_lines)] // one scenario, told in order
async fn crash_and_recover(backend: &str, database_url: &str) {
    let began = Instant::now();
    let rounds = rounds();
    let folder = tempfile::tempdir().expect("temporary folder");
    let plain = reqwest::Client::new();
    let recorder = Recorder::new(LATENCY_MS, rounds + 1);
    let service = start_service(recorder.clone()).await;
    let expected_total = expected_applied(1..=WORKFLOWS);
    assert!(expected_total / (rounds + 1) >= 10, "{rounds} rounds leave too few effects per round");
    let launch = Launch {
        database_url,
        service,
        folder: folder.path(),
        admin_password: ADMIN_PASSWORD,
        log_filter: "warn",
        ready_within: READY_WITHIN,
        probe_every: PROBE_EVERY,
    };

    // Run 0: the first process creates the admin; the saga is registered.
    let (mut server, first_ready) = start_run(&launch, &plain, 0).await;
    // A machine client: an API token, created by the first admin (stored: it outlives the kills).
    let client = token_client(&plain, &server.base, ADMIN_PASSWORD, "crash-test").await;
    register_definition(&client, &server.base).await;
    let scene = Scene { client: client.clone(), recorder: recorder.clone() };

    let mut ids: BTreeMap<i64, String> = BTreeMap::new();
    let mut unanswered: Vec<i64> = Vec::new();
    let mut next = 1;
    let mut figures: Vec<Round> = Vec::new();
    let mut logs: Vec<(String, String)> = Vec::new();
    let mut run = 0;
    // Run `run` is the process after kill `run`; every run but the last ends in a kill.
    let (last_starts, last_resend, _keep_starting) = loop {
        let resend = std::mem::take(&mut unanswered);
        let (control, controlled) = watch::channel(NewCalls::Held);
        let numbers = next..=last_call(run, rounds);
        let starter =
            start_calls(&client, &server.base, resend.clone(), numbers, recorder.progress.subscribe(), controlled);
        // New calls wait until every saga the last kill interrupted has been resumed (a call for it
        // reached the service): on PostgreSQL under a new node id that takes a lease, long enough for
        // new calls to reach the next kill point before anything was recovered.
        let interrupted = figures.last().map(|round| round.mid_flight.clone()).unwrap_or_default();
        let not_resumed = Mutex::new(interrupted);
        let resumed = wait_resumed(&recorder, run, &not_resumed);
        let waiting = || {
            let not_resumed = not_resumed.lock().expect("the set of sagas not resumed");
            format!("run {run}: the sagas interrupted by kill {run} not resumed: {not_resumed:?}")
        };
        while_progressing(&scene, &mut server, waiting, resumed).await;
        control.send_replace(NewCalls::Open);
        if run == rounds {
            // The sender lives on: dropped, it would stop the starter.
            break (starter, resend, control);
        }

        // Kill once a further share of the effects is applied, at a moment a saga is between two steps.
        // The calls started before cannot have applied as much ([`last_call`]); if they did (effects
        // applied twice: the checks at the end say which), one more effect will do.
        let kill_at = kill_point(run + 1, rounds).max(recorder.ledger().applied + 1);
        let (mut applied, mut progress) = (recorder.applied.subscribe(), recorder.progress.subscribe());
        let reached = async {
            applied.wait_for(|&count| count >= kill_at).await.map(drop)?;
            progress.wait_for(|seen| seen.mid_flight() > 0).await.map(drop)
        };
        let waiting = || format!("run {run}: waiting for {kill_at} effects and a saga mid-flight");
        while_progressing(&scene, &mut server, waiting, reached).await.expect("the recording service lives");
        // A step applied under two keys is the failure this test exists for: named at once, with the
        // instance's journal from the process that applied it.
        let doubled = recorder.ledger().doubled();
        if let Some(instance) = doubled.first().and_then(|line| line.split(' ').next()) {
            let history = history_text(&client, &server.base, instance).await;
            panic!(
                "run {run}: {} steps applied under more than one key:\n{}\nhistory of {instance}:\n{history}",
                doubled.len(),
                doubled.join("\n")
            );
        }
        server.kill();
        control.send_replace(NewCalls::Stopped);
        // The calls the dead process had sent finish (or are dropped) before the ledger is read.
        let mut handling = recorder.handling.subscribe();
        let quiet = tokio::time::timeout(QUIET_WITHIN, handling.wait_for(|&count| count == 0)).await.map(drop);
        assert!(quiet.is_ok(), "the service still handled calls {QUIET_WITHIN:?} after the kill");
        let at_kill = recorder.snapshot();
        // With the process gone, the starts in flight fail at once (nothing listens any more).
        let outcomes = starter.await.expect("the starter");
        next += outcomes.iter().filter(|(number, _)| *number >= next).count() as i64;
        let (found, created) = sort_run_starts(outcomes, &resend, &mut ids, &mut unanswered);
        if run > 0 {
            figures[run - 1].resent = (found, created, resend.len() - found - created);
        }
        logs.push((server.name.clone(), server.log_text()));

        // The next run, on the same database.
        run += 1;
        recorder.set_phase(run);
        let restarted_at = Instant::now();
        let (restarted, ready_after) = start_run(&launch, &plain, run).await;
        server = restarted;
        figures.push(Round {
            applied_at_kill: at_kill.applied,
            mid_flight: at_kill.mid_flight(),
            starts_lost: unanswered.len(),
            same_node_id: node_id(run) == node_id(run - 1),
            restarted_at,
            ready_after,
            resent: (0, 0, 0),
        });
    };

    // The last run: every call started, every effect applied, every instance settled.
    let outcomes = while_progressing(&scene, &mut server, || "the last run's starts".into(), last_starts)
        .await
        .expect("the starter");
    let (mut found, mut created) = sort_run_starts(outcomes, &last_resend, &mut ids, &mut unanswered);
    for number in std::mem::take(&mut unanswered) {
        let (status, id) = start_call(&client, &server.base, number)
            .await
            .unwrap_or_else(|error| panic!("the start of call {number} failed on a live server: {error}"));
        match (last_resend.contains(&number), status) {
            (false, _) => {}
            (true, StatusCode::CREATED) => created += 1,
            (true, _) => found += 1,
        }
        ids.insert(number, id);
    }
    if let Some(round) = figures.last_mut() {
        round.resent = (found, created, 0);
    }
    assert_eq!(ids.len(), WORKFLOWS as usize, "every call started");
    let mut applied = recorder.applied.subscribe();
    let all_applied = async { applied.wait_for(|&count| count >= expected_total).await.map(drop) };
    let waiting = || format!("the last run: waiting for all {expected_total} effects");
    while_progressing(&scene, &mut server, waiting, all_applied).await.expect("the recording service lives");
    let base = server.base.clone();
    let all_settled = async {
        loop {
            if let Ok(items) = list_calls(&client, &base).await {
                if items.iter().all(|item| SETTLED.contains(&item.status.as_str())) {
                    return items;
                }
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    };
    let listed = while_progressing(
        &scene,
        &mut server,
        || "the last run: waiting for every instance to settle".into(),
        all_settled,
    )
    .await;
    let settled_after = figures.last().map_or(began, |round| round.restarted_at).elapsed();
    server.assert_running();
    logs.push((server.name.clone(), server.log_text()));
    let ledger = recorder.snapshot();

    // The figures first: a failure below comes with them.
    let total_repeats: usize = ledger.repeats.iter().sum();
    let rows = figures
        .iter()
        .enumerate()
        .map(|(index, round)| {
            let run = index + 1;
            // The first call of each saga the kill interrupted, made by the process after the kill.
            let mut first_calls: HashMap<i64, Duration> = HashMap::new();
            for call in ledger.calls.iter().filter(|call| call.phase == run) {
                if let Some(number) = call.number.filter(|n| round.mid_flight.contains(n)) {
                    first_calls.entry(number).or_insert_with(|| call.at.saturating_duration_since(round.restarted_at));
                }
            }
            let seconds = |after: Option<&Duration>| {
                after.map_or_else(|| String::from("-"), |d| format!("{:.2}", d.as_secs_f64()))
            };
            let resumed = format!("{} / {}", seconds(first_calls.values().min()), seconds(first_calls.values().max()));
            format!(
                "{run:>5}  {:>5} ({:>2}%)  {:>10}  {:>11}  {:>7}  {:>6.2} s  {resumed:>13} s  {:>7}  {}/{}/{}",
                round.applied_at_kill,
                round.applied_at_kill * 100 / expected_total,
                round.mid_flight.len(),
                round.starts_lost,
                if round.same_node_id { "own id" } else { "new id" },
                round.ready_after.as_secs_f64(),
                ledger.repeats[run],
                round.resent.0,
                round.resent.1,
                round.resent.2,
            )
        })
        .collect::<Vec<_>>()
        .join("\n  ");
    // The test serves no browser bundle, and a restart under its own id finds its previous life's row:
    // those warnings are expected; any other line is listed below the figures.
    let expected_line =
        |line: &str| ["browser bundle", "another process registered as this node"].iter().any(|k| line.contains(k));
    let log_lines: Vec<String> = logs
        .iter()
        .flat_map(|(name, text)| {
            text.lines().filter(|line| !line.trim().is_empty()).map(move |line| format!("{name}: {line}"))
        })
        .collect();
    let other_lines: Vec<&String> = log_lines.iter().filter(|line| !expected_line(line)).collect();
    eprintln!(
        "crash test ({backend}): {rounds} rounds of SIGKILL, {WORKFLOWS} workflows ({} designed to compensate), \
         {expected_total} effects, about {IN_FLIGHT} sagas in flight; first start ready in {:.2} s\n  \
         round  killed at    mid-flight  starts lost  restart  ready     resumed first / all  repeats  re-sent starts (found/new/lost again)\n  \
         {rows}\n  \
         (killed at: effects applied; mid-flight: sagas begun and not ended, as the service saw them; ready: from \
         the restart to the health check's 200; resumed: from the restart to the first call of the first and of the \
         last saga the kill interrupted; repeats: calls answered from the ledger in the run after the kill)\n  \
         repeats in all: {total_repeats} ({} before the first kill)\n  \
         every workflow settled {:.2} s after the last restart; the test took {:.2} s\n  \
         server logs (at warn and above): {} lines, {} of them unexpected",
        WORKFLOWS / FAILING_EVERY,
        first_ready.as_secs_f64(),
        ledger.repeats[0],
        settled_after.as_secs_f64(),
        began.elapsed().as_secs_f64(),
        log_lines.len(),
        other_lines.len(),
    );
    for line in other_lines.iter().take(40) {
        eprintln!("    {line}");
    }

    // No process panicked.
    for (name, text) in &logs {
        assert!(!text.contains("panicked"), "{name} panicked:\n{}", tail(text, 80));
    }

    // Every saga ended where it was designed to.
    let status_of: HashMap<&str, &InstanceSummary> = listed.iter().map(|item| (item.id.as_str(), item)).collect();
    let mut wrong = Vec::new();
    for (number, id) in &ids {
        match status_of.get(id.as_str()) {
            Some(item) if item.status == expected_status(*number) => {}
            Some(item) => wrong.push(format!(
                "call {number} ({id}): {} at {:?}, error {:?}, expected {}",
                item.status,
                item.current_state,
                item.error,
                expected_status(*number)
            )),
            None => wrong.push(format!("call {number} ({id}): not listed")),
        }
    }
    if !wrong.is_empty() {
        let culprit =
            ids.values().find(|id| wrong.iter().any(|w| w.contains(id.as_str()))).cloned().unwrap_or_default();
        let culprit_history = history_text(&client, &server.base, &culprit).await;
        panic!(
            "{} of {WORKFLOWS} sagas did not end as designed:\n{}\nhistory of {culprit}:\n{culprit_history}\n\
             log of the last run:\n{}",
            wrong.len(),
            wrong.join("\n"),
            tail(&server.log_text(), 60)
        );
    }

    // One instance per call: a re-sent start found its instance instead of making a second.
    let listed_ids: HashSet<&str> = listed.iter().map(|item| item.id.as_str()).collect();
    let started: HashSet<&str> = ids.values().map(String::as_str).collect();
    assert_eq!(listed_ids, started, "exactly the started instances exist");

    // Every effect applied exactly once, in saga order, under the key of its step.
    assert_eq!(ledger.unkeyed, 0, "every call carries an Idempotency-Key");
    let (problems, _) = ledger.problems(&ids);
    assert_no_effect_problems(&client, &server.base, &problems, &ids).await;
    assert_eq!(ledger.applied, expected_total, "every effect applied once");
    let refusals = ledger.effects.iter().filter(|e| e.refused).count();
    assert_eq!(refusals, (1..=WORKFLOWS).filter(|&n| fails(n)).count(), "one refusal per failing call");
}
