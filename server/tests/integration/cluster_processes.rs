//! The cluster test with real processes: three `switchboard serve` nodes on one PostgreSQL run a few
//! hundred call-processing sagas against a recording service while one node is killed with SIGKILL,
//! another is frozen with SIGSTOP for three leases and thawed, and the killed one comes back under its
//! own node id. Every saga must end where it was designed to — completed, or compensated for the calls
//! whose billing is refused — with each effect applied exactly once, each step succeeding at most once
//! in its journal (a write of the frozen node that landed after the takeover would show twice), and the
//! survivor's event stream showing the transitions of instances started on every node.
//!
//! In-process models of the same scenarios are in `cluster.rs`; this test drives the real binary, as
//! `crash.rs` does for one node, and shares its recording service (`support/recorder.rs`: an idempotent
//! HTTP service keyed on the `Idempotency-Key` header) and process wrapper (`support/process.rs`).
//! Repeats (calls re-issued by the node that took an instance over) are only counted, per phase of the
//! scenario; one step applied under two keys is the failure.
//!
//! Every step of the scenario is triggered by a condition — effects applied (counted in the service),
//! a node seen silent while the others claim its instances — never by elapsed time, except the freeze
//! itself, which lasts at least three leases. Deadlines are generous; nothing asserts on speed. The figures printed
//! at the end go into the release note.
//!
//! `SWITCHBOARD_KEEP_TEST_LOGS=1` keeps the nodes' logs (their folder is named on stderr);
//! `SWITCHBOARD_CLUSTER_TEST_FREEZE_MS=45000` freezes node-2 for longer than the three leases.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::StreamExt;

use app::wire::{
    ClusterNode, ClusterNodes, HistoryEntry, InstancePage, InstanceStatus, JournalRecord, LiveEvent, NodeState,
};
use crate::support::client::{
    assert_no_effect_problems, history, history_text, register_definition, sort_starts, token_client, Started,
};
use crate::support::process::{tail, Launch, Server};
use crate::support::recorder::{expected_applied, expected_status, fails, start_service, Recorder, FAILING_EVERY};

/// How many sagas run: the first half before node-1 is killed, the second half after its instances
/// were taken over (so node-2 has work in flight when it is frozen).
const WORKFLOWS: i64 = 240;
const FIRST_HALF: i64 = WORKFLOWS / 2;
/// Node-1 is killed once the service has applied this share of the first half's expected effects.
const KILL_AT_PERCENT: usize = 30;
/// Node-2 is frozen once the service has applied this share of the second half's expected effects on
/// the live nodes (counted from the moment the second half starts).
const STOP_AT_PERCENT: usize = 25;
/// Starts in flight at once.
const START_CONCURRENCY: usize = 48;
/// Histories read at once at the end.
const READ_CONCURRENCY: usize = 16;
/// Service latency, in milliseconds, both before and after an effect is applied.
const LATENCY_MS: std::ops::RangeInclusive<u64> = 1..=10;

/// The cluster settings every node gets.
const LEASE_MS: u64 = 2_000;
const HEARTBEAT_MS: u64 = 250;
const CLAIM_INTERVAL_MS: u64 = 250;
/// Node-2 stays frozen for at least three leases, and until the others were seen taking its instances
/// over. `SWITCHBOARD_CLUSTER_TEST_FREEZE_MS` makes it longer (to study a long freeze).
fn frozen_at_least() -> Duration {
    let asked = std::env::var("SWITCHBOARD_CLUSTER_TEST_FREEZE_MS").ok().and_then(|ms| ms.parse().ok());
    Duration::from_millis(asked.unwrap_or(0).max(3 * LEASE_MS))
}

/// Generous per-step deadlines: the machine may be busy with something else.
const READY_WITHIN: Duration = Duration::from_secs(60);
const STEP_WITHIN: Duration = Duration::from_secs(90);
const FINISH_WITHIN: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Where the scenario is, for the service's repeat counts and the event stream's observations.
const ALL_UP: usize = 0;
const NODE_1_KILLED: usize = 1;
const NODE_2_FROZEN: usize = 2;
const NODE_2_THAWED: usize = 3;
const NODE_1_BACK: usize = 4;
const PHASES: [&str; 5] = ["all up", "node-1 killed", "node-2 frozen", "node-2 thawed", "node-1 restarted"];

/// The password of the `admin` the first node creates on the empty database.
const ADMIN_PASSWORD: &str = "cluster test admin password";
/// Call `number` is started under the idempotency key `{START_KEY_PREFIX}-{number}`.
const START_KEY_PREFIX: &str = "cluster-test-call";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_a_kill_a_freeze_and_a_restart() {
    // Skips (with a note) only when PostgreSQL is unreachable outside CI; with CI=true it panics.
    let Some(database) = crate::support::TempPostgres::create().await else { return };
    cluster_scenario(database.url.expose_secret()).await;
}

/// The node (0, 1, 2 for node-1, node-2, node-3) a call is started on: round-robin.
fn origin(number: i64) -> usize {
    ((number - 1) % 3) as usize
}

// ---------------------------------------------------------------------------------------------------
// The switchboard processes
// ---------------------------------------------------------------------------------------------------

/// Starts node `id` (logging to `{run}.log`) with the cluster settings.
fn spawn_node(launch: &Launch<'_>, id: &str, run: &str) -> Server {
    Server::spawn(launch, id, run, |command| {
        command
            .args(["--node-id", id])
            .args(["--lease-ms", &LEASE_MS.to_string()])
            .args(["--heartbeat-ms", &HEARTBEAT_MS.to_string()])
            .args(["--claim-interval-ms", &CLAIM_INTERVAL_MS.to_string()])
            .env_remove("SWITCHBOARD_NODE_ID")
            .env("NO_COLOR", "1");
    })
}

// ---------------------------------------------------------------------------------------------------
// The API, as a client sees it
// ---------------------------------------------------------------------------------------------------

/// Starts call `number` under its own idempotency key: re-sending it returns the same instance.
async fn start_call(client: &reqwest::Client, base: &str, number: i64) -> Started {
    crate::support::client::start_call(client, base, START_KEY_PREFIX, number).await
}

type Starts = Vec<(i64, Started)>;

/// Starts the calls `numbers`, each on its round-robin node, some at once; answers every outcome.
fn start_calls(
    client: &reqwest::Client,
    bases: [String; 3],
    numbers: std::ops::RangeInclusive<i64>,
) -> tokio::task::JoinHandle<Starts> {
    let client = client.clone();
    tokio::spawn(async move {
        futures::stream::iter(numbers)
            .map(|number| {
                let (client, base) = (client.clone(), bases[origin(number)].clone());
                async move { (number, start_call(&client, &base, number).await) }
            })
            .buffer_unordered(START_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
    })
}

/// Every call-processing instance, as one node lists them (`None` when the node did not answer).
async fn list_instances(client: &reqwest::Client, base: &str) -> Option<InstancePage> {
    let response = client
        .get(format!("{base}/api/instances?workflow=call-processing&limit=500"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    response.json().await.ok()
}

/// The cluster as one node sees it (`None` when the node did not answer).
async fn cluster_view(client: &reqwest::Client, base: &str) -> Option<ClusterNodes> {
    let response =
        client.get(format!("{base}/api/cluster/nodes")).timeout(Duration::from_secs(10)).send().await.ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    response.json().await.ok()
}

fn node_in<'a>(view: &'a ClusterNodes, id: &str) -> Option<&'a ClusterNode> {
    view.nodes.iter().find(|node| node.id == id)
}

/// Waits until `observer` sees node `id` silent (or stopped) with no live instance left to it: the
/// others took its work over. Answers how long that took, or `None` at the deadline, with the last view.
async fn wait_taken_over(
    client: &reqwest::Client,
    observer: &str,
    id: &str,
    within: Duration,
) -> Result<Duration, Option<ClusterNodes>> {
    let started = Instant::now();
    let mut last = None;
    loop {
        if let Some(view) = cluster_view(client, observer).await {
            if node_in(&view, id).is_some_and(|node| node.state != NodeState::Up && node.owned == 0) {
                return Ok(started.elapsed());
            }
            last = Some(view);
        }
        if started.elapsed() >= within {
            return Err(last);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// How many instances the nodes other than `id` have claimed, as `view` shows it.
fn claimed_by_others(view: &ClusterNodes, id: &str) -> i64 {
    view.nodes.iter().filter(|node| node.id != id).map(|node| node.claimed).sum()
}

/// Waits until `observer` sees node `id` silent (or stopped) and the other nodes having claimed more
/// than `claimed_before` (or `id` owning nothing): the others took its work over. Answers how long that
/// took.
async fn wait_takeover_begun(
    client: &reqwest::Client,
    observer: &str,
    id: &str,
    claimed_before: i64,
    within: Duration,
) -> Result<Duration, Option<ClusterNodes>> {
    let started = Instant::now();
    let mut last = None;
    loop {
        if let Some(view) = cluster_view(client, observer).await {
            let silent = node_in(&view, id).filter(|node| node.state != NodeState::Up);
            if silent.is_some_and(|node| node.owned == 0 || claimed_by_others(&view, id) > claimed_before) {
                return Ok(started.elapsed());
            }
            last = Some(view);
        }
        if started.elapsed() >= within {
            return Err(last);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// How many live instances node `id` owns, as `observer` sees it.
async fn owned_by(client: &reqwest::Client, observer: &str, id: &str) -> Option<i64> {
    let view = cluster_view(client, observer).await?;
    node_in(&view, id).map(|node| node.owned)
}

// ---------------------------------------------------------------------------------------------------
// The survivor's event stream
// ---------------------------------------------------------------------------------------------------

/// What node-3's `/api/events` stream showed.
#[derive(Default)]
struct Seen {
    heartbeats: usize,
    instance_events: usize,
    unreadable: usize,
    /// Times the stream ended and was opened again.
    reopened: usize,
    /// Per instance: the statuses seen, each with the phase of the scenario it arrived in.
    instances: HashMap<String, Vec<(String, usize)>>,
}

/// Reads node-3's event stream until the test ends, opening it again if it ends.
fn follow_events(client: reqwest::Client, base: String, recorder: Arc<Recorder>) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(mut response) = client.get(format!("{base}/api/events")).send().await {
                if response.status() == StatusCode::OK {
                    let mut buffer: Vec<u8> = Vec::new();
                    while let Ok(Some(chunk)) = response.chunk().await {
                        buffer.extend_from_slice(&chunk);
                        while let Some(end) = buffer.iter().position(|&byte| byte == b'\n') {
                            let line: Vec<u8> = buffer.drain(..=end).collect();
                            let line = String::from_utf8_lossy(&line);
                            let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
                            let mut seen = record.lock().expect("seen lock");
                            match serde_json::from_str::<LiveEvent>(data.trim()) {
                                Ok(LiveEvent::Heartbeat(_)) => seen.heartbeats += 1,
                                Ok(LiveEvent::Instance(change)) => {
                                    seen.instance_events += 1;
                                    let at = recorder.phase();
                                    seen.instances.entry(change.id).or_default().push((change.status.to_string(), at));
                                }
                                Ok(_) => {}
                                Err(_) => seen.unreadable += 1,
                            }
                        }
                    }
                }
            }
            record.lock().expect("seen lock").reopened += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    seen
}

/// Waits until the stream is open (its first heartbeat arrived), and the other nodes know a console
/// listens on node-3 — otherwise their commits do not feed the stream. A node learns it at its
/// heartbeat; two of its heartbeats after node-3's row shows the subscriber, it surely has.
async fn wait_stream_fed(seen: &Mutex<Seen>, database_url: &str) {
    let deadline = Instant::now() + STEP_WITHIN;
    while seen.lock().expect("seen lock").heartbeats == 0 {
        assert!(Instant::now() < deadline, "node-3's event stream sent nothing within {STEP_WITHIN:?}");
        tokio::time::sleep(POLL_EVERY).await;
    }
    let pool = sqlx::PgPool::connect(database_url).await.expect("connect to the test database");
    let rows = || async {
        sqlx::query_as::<_, (String, i64, i64, i64)>(
            "SELECT id, heartbeat_at, subscribers, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT \
             FROM cluster_nodes",
        )
        .fetch_all(&pool)
        .await
        .expect("read cluster_nodes")
    };
    let since = loop {
        let nodes = rows().await;
        if let Some((_, _, _, now)) = nodes.iter().find(|(id, _, subscribers, _)| id == "node-3" && *subscribers > 0) {
            break *now;
        }
        assert!(Instant::now() < deadline, "node-3 never reported its event stream: {nodes:?}");
        tokio::time::sleep(POLL_EVERY).await;
    };
    for other in ["node-1", "node-2"] {
        let mut after = since;
        for _ in 0..2 {
            loop {
                let nodes = rows().await;
                let beat = nodes.iter().find(|(id, ..)| id == other).map(|(_, at, ..)| *at);
                if let Some(beat) = beat.filter(|&beat| beat > after) {
                    after = beat;
                    break;
                }
                assert!(Instant::now() < deadline, "{other} stopped beating: {nodes:?}");
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
    pool.close().await;
}

/// What the database says about instances that did not end as designed, the nodes, and the sessions
/// still busy: for the failure message.
async fn diagnose(database_url: &str, ids: &[String]) -> String {
    let Ok(pool) = sqlx::PgPool::connect(database_url).await else { return String::from("(database unreachable)") };
    let instances = sqlx::query_as::<_, (String, String, Option<String>, Option<String>, i64, i64, i64, i64)>(
        "SELECT id, status, current_state, lease_owner, lease_epoch, journal_seq, created_at, updated_at \
         FROM instances WHERE id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(&pool)
    .await;
    let steps = sqlx::query_as::<_, (String, String, i64, String, String, String, i64, Option<String>)>(
        "SELECT instance_id, step_id, attempt, kind, idempotency_key, outcome, finished_at, error FROM steps \
         WHERE instance_id = ANY($1) ORDER BY instance_id, finished_at",
    )
    .bind(ids)
    .fetch_all(&pool)
    .await;
    let nodes = sqlx::query_as::<_, (String, String, i64, i64, Option<i64>, i64, i64)>(
        "SELECT id, incarnation, pid, heartbeat_at, stopped_at, claimed, fenced_writes FROM cluster_nodes ORDER BY id",
    )
    .fetch_all(&pool)
    .await;
    let sessions = sqlx::query_as::<_, (i32, Option<String>, Option<String>)>(
        "SELECT pid, state, left(query, 200) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'",
    )
    .fetch_all(&pool)
    .await;
    pool.close().await;
    format!(
        "instances (id, status, state, owner, epoch, journal_seq, created_at, updated_at):\n{instances:#?}\n\
         their steps (instance, step, attempt, kind, key, outcome, finished_at, error):\n{steps:#?}\n\
         nodes (id, incarnation, pid, heartbeat_at, stopped_at, claimed, fenced):\n{nodes:#?}\n\
         busy sessions:\n{sessions:#?}"
    )
}

// ---------------------------------------------------------------------------------------------------
// The journal
// ---------------------------------------------------------------------------------------------------

/// What is wrong with one instance's journal: a step (or compensation) that succeeded twice (a write
/// that should have been fenced), succeeded steps that differ from the effects the service applied, sequence numbers out
/// of order, or not exactly one final status.
fn journal_problems(id: &str, entries: &[HistoryEntry], applied_keys: &HashSet<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    let sequence: Vec<i64> = entries.iter().map(|entry| entry.seq).filter(|&seq| seq >= 0).collect();
    if sequence.windows(2).any(|pair| pair[0] >= pair[1]) {
        problems.push(format!("{id}: journal sequence not strictly increasing: {sequence:?}"));
    }
    let mut succeeded: HashMap<String, usize> = HashMap::new();
    let mut finals = Vec::new();
    for entry in entries {
        for record in entry.records.iter().map(|journal| &journal.record) {
            match record {
                JournalRecord::Applied { event }
                    if matches!(event["type"].as_str(), Some("step_succeeded" | "compensation_succeeded")) =>
                {
                    let key = event["idempotency_key"].as_str().unwrap_or("?").to_string();
                    *succeeded.entry(key).or_default() += 1;
                }
                JournalRecord::StatusChanged { to, .. }
                    if matches!(
                        to,
                        InstanceStatus::Completed
                            | InstanceStatus::Compensated
                            | InstanceStatus::Failed
                            | InstanceStatus::Cancelled
                    ) =>
                {
                    finals.push(to.to_string());
                }
                _ => {}
            }
        }
    }
    for (key, count) in &succeeded {
        if *count > 1 {
            problems.push(format!("{id}: step {key} succeeded {count} times in the journal"));
        }
    }
    let journal_keys: HashSet<&str> = succeeded.keys().map(String::as_str).collect();
    if &journal_keys != applied_keys {
        let mut journal_keys: Vec<_> = journal_keys.into_iter().collect();
        let mut applied: Vec<_> = applied_keys.iter().copied().collect();
        journal_keys.sort_unstable();
        applied.sort_unstable();
        problems.push(format!("{id}: journal's succeeded steps {journal_keys:?}, service applied {applied:?}"));
    }
    if finals.len() != 1 {
        problems.push(format!("{id}: final statuses in the journal: {finals:?}"));
    }
    problems
}

// ---------------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------------

#[allow(clippy::too_many_lines)] // one scenario, told in order
async fn cluster_scenario(database_url: &str) {
    let began = Instant::now();
    let folder = tempfile::Builder::new().prefix("switchboard-cluster-").tempdir().expect("temporary folder");
    // SWITCHBOARD_KEEP_TEST_LOGS=1 keeps the nodes' logs (the folder is named on stderr).
    let (_cleanup, folder) = if std::env::var_os("SWITCHBOARD_KEEP_TEST_LOGS").is_some() {
        let kept = folder.keep();
        eprintln!("the nodes' logs stay in {}", kept.display());
        (None, kept)
    } else {
        let path = folder.path().to_path_buf();
        (Some(folder), path)
    };
    let plain = reqwest::Client::new();
    let recorder = Recorder::new(LATENCY_MS, PHASES.len());
    recorder.set_phase(ALL_UP);
    let service = start_service(recorder.clone()).await;
    let set_phase = |to: usize| recorder.set_phase(to);
    let launch = Launch {
        database_url,
        service,
        folder: &folder,
        admin_password: ADMIN_PASSWORD,
        // The engine's own lines (claims, fencing, leadership), without a line per request.
        log_filter: "info,tower_http=warn",
        ready_within: READY_WITHIN,
        probe_every: POLL_EVERY,
    };

    // Three nodes; node-1 first (it applies the migrations and creates the admin).
    let mut node1 = spawn_node(&launch, "node-1", "node-1");
    node1.wait_ready(&plain).await;
    let mut node2 = spawn_node(&launch, "node-2", "node-2");
    let mut node3 = spawn_node(&launch, "node-3", "node-3");
    node2.wait_ready(&plain).await;
    node3.wait_ready(&plain).await;
    let client = token_client(&plain, &node1.base, ADMIN_PASSWORD, "cluster-test").await;
    register_definition(&client, &node1.base).await;
    let survivor = node3.base.clone();

    // Node-3's event stream, fed by the other two before any traffic.
    let seen = follow_events(client.clone(), survivor.clone(), recorder.clone());
    wait_stream_fed(&seen, database_url).await;
    let bases = [node1.base.clone(), node2.base.clone(), node3.base.clone()];

    // First half; node-1 is killed once a share of its effects are applied.
    let first_half = start_calls(&client, bases.clone(), 1..=FIRST_HALF);
    let kill_at = expected_applied(1..=FIRST_HALF) * KILL_AT_PERCENT / 100;
    let mut applied = recorder.applied.subscribe();
    // The watch's `Ref` is dropped at once: held, it would block the service's next update.
    if tokio::time::timeout(STEP_WITHIN, applied.wait_for(|&count| count >= kill_at)).await.map(drop).is_err() {
        panic!("only {} of {kill_at} effects applied within {STEP_WITHIN:?}", recorder.ledger().applied);
    }
    let node1_owned_at_kill = owned_by(&client, &survivor, "node-1").await.unwrap_or(-1);
    node1.kill();
    set_phase(NODE_1_KILLED);
    let applied_at_kill = recorder.ledger().applied;
    let node1_taken_over_after =
        wait_taken_over(&client, &survivor, "node-1", STEP_WITHIN).await.unwrap_or_else(|view| {
            panic!("node-1's instances were not taken over within {STEP_WITHIN:?}; node-3 sees {view:#?}")
        });
    assert!(node1_owned_at_kill > 0, "node-1 must be killed while it drives instances: it owned {node1_owned_at_kill}");

    // Second half (node-1's share fails at once: nothing listens there); node-2 is frozen once a share
    // of the second half's effects on the live nodes are applied.
    let second_half = start_calls(&client, bases.clone(), FIRST_HALF + 1..=WORKFLOWS);
    let live_share = expected_applied((FIRST_HALF + 1..=WORKFLOWS).filter(|&number| origin(number) != 0));
    let stop_at = recorder.ledger().applied + live_share * STOP_AT_PERCENT / 100;
    if tokio::time::timeout(STEP_WITHIN, applied.wait_for(|&count| count >= stop_at)).await.map(drop).is_err() {
        panic!("only {} of {stop_at} effects applied within {STEP_WITHIN:?}", recorder.ledger().applied);
    }
    let before_stop = cluster_view(&client, &survivor).await.expect("node-3 shows the cluster");
    let node2_owned_at_stop = node_in(&before_stop, "node-2").map_or(-1, |node| node.owned);
    let claimed_before_stop = claimed_by_others(&before_stop, "node-2");
    node2.signal("-STOP");
    set_phase(NODE_2_FROZEN);
    let frozen_at = Instant::now();
    let applied_at_stop = recorder.ledger().applied;
    // Frozen for three leases at least, and until the others were seen taking its instances over. Not
    // until it owns nothing: rows a frozen node holds locked in an open transaction are skipped by the
    // claims until it thaws (reported below as what it still owned).
    let node2_takeover =
        wait_takeover_begun(&client, &survivor, "node-2", claimed_before_stop, STEP_WITHIN).await.unwrap_or_else(
            |view| panic!("node-2's instances were not taken over within {STEP_WITHIN:?}; node-3 sees {view:#?}"),
        );
    tokio::time::sleep(frozen_at_least().saturating_sub(frozen_at.elapsed())).await;
    let node2_still_owned = owned_by(&client, &survivor, "node-2").await.unwrap_or(-1);
    let frozen_for = frozen_at.elapsed();
    node2.signal("-CONT");
    set_phase(NODE_2_THAWED);
    node2.wait_ready(&plain).await;
    assert!(node2_owned_at_stop > 0, "node-2 must be frozen while it drives instances: it owned {node2_owned_at_stop}");

    // Node-1 comes back under its own id, on a new port.
    let mut node1_again = spawn_node(&launch, "node-1", "node-1-restarted");
    node1_again.wait_ready(&plain).await;
    set_phase(NODE_1_BACK);
    let live = [node1_again.base.clone(), node2.base.clone(), node3.base.clone()];

    // Every start whose answer was lost (to the kill, the freeze, or a node that was gone) is re-sent
    // with its idempotency key to a live node.
    let mut ids: BTreeMap<i64, String> = BTreeMap::new();
    let mut unanswered = Vec::new();
    for half in [first_half, second_half] {
        sort_starts(half.await.expect("a starter"), &mut ids, &mut unanswered);
    }
    let (mut resent_found, mut resent_created) = (0, 0);
    for (turn, &number) in unanswered.iter().enumerate() {
        let deadline = Instant::now() + STEP_WITHIN;
        let mut attempt = turn;
        let (status, id) = loop {
            match start_call(&client, &live[attempt % live.len()], number).await {
                Ok(answer) => break answer,
                Err(error) => {
                    assert!(Instant::now() < deadline, "re-sending the start of call {number} failed: {error}");
                    attempt += 1;
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        };
        if status == StatusCode::CREATED {
            resent_created += 1;
        } else {
            resent_found += 1;
        }
        ids.insert(number, id);
    }
    assert_eq!(ids.len(), WORKFLOWS as usize);

    // Every instance settles, as the live nodes list them (each in turn).
    let deadline = Instant::now() + FINISH_WITHIN;
    let settled_statuses = ["completed", "compensated", "failed", "cancelled", "needs_intervention"];
    let mut turn = 0;
    let listed = loop {
        let page = list_instances(&client, &live[turn % live.len()]).await;
        turn += 1;
        if let Some(page) = page {
            let all_settled = page.items.len() >= ids.len()
                && page.items.iter().all(|item| settled_statuses.contains(&item.status.as_str()));
            if all_settled || Instant::now() >= deadline {
                break page;
            }
        } else {
            assert!(Instant::now() < deadline, "no live node lists the instances");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let settled_after = began.elapsed();

    // Every saga ended where it was designed to.
    let status_of: HashMap<&str, &app::wire::InstanceSummary> =
        listed.items.iter().map(|item| (item.id.as_str(), item)).collect();
    let mut wrong = Vec::new();
    for (number, id) in &ids {
        match status_of.get(id.as_str()) {
            Some(item) if item.status == expected_status(*number) => {}
            Some(item) => wrong.push(format!(
                "call {number} ({id}, started on node-{}): {} at {:?}, error {:?}, expected {}",
                origin(*number) + 1,
                item.status,
                item.current_state,
                item.error,
                expected_status(*number)
            )),
            None => wrong.push(format!("call {number} ({id}): not listed")),
        }
    }
    if !wrong.is_empty() {
        let wrong_ids: Vec<String> =
            ids.values().filter(|id| wrong.iter().any(|w| w.contains(id.as_str()))).cloned().collect();
        // The history of one that is still live, if any: that is the one that is stuck.
        let culprit = wrong_ids
            .iter()
            .find(|id| status_of.get(id.as_str()).is_some_and(|item| !settled_statuses.contains(&item.status.as_str())))
            .or(wrong_ids.first())
            .cloned()
            .unwrap_or_default();
        let culprit_history = history_text(&client, &survivor, &culprit).await;
        let diagnosis = diagnose(database_url, &wrong_ids).await;
        panic!(
            "{} of {WORKFLOWS} sagas did not end as designed:\n{}\nhistory of {culprit}:\n{culprit_history}\n\
             {diagnosis}\n\
             node-1 (first run) log tail:\n{}\nnode-2 log tail:\n{}\nnode-3 log tail:\n{}\nnode-1 (restarted) log tail:\n{}",
            wrong.len(),
            wrong.join("\n"),
            tail(&node1.log_text(), 40),
            tail(&node2.log_text(), 40),
            tail(&node3.log_text(), 40),
            tail(&node1_again.log_text(), 40),
        );
    }

    // One instance per call: a re-sent start found its instance instead of making a second.
    let listed_ids: HashSet<&str> = listed.items.iter().map(|item| item.id.as_str()).collect();
    let started: HashSet<&str> = ids.values().map(String::as_str).collect();
    assert_eq!(listed_ids, started, "exactly the started instances exist");

    // Every effect applied exactly once, in saga order, under the key of its step.
    let ledger = recorder.snapshot();
    assert_eq!(ledger.unkeyed, 0, "every call carries an Idempotency-Key");
    let (problems, seen_effects) = ledger.problems(&ids);
    assert_no_effect_problems(&client, &survivor, &problems, &ids).await;
    let expected_total = expected_applied(1..=WORKFLOWS);
    assert_eq!(ledger.applied, expected_total, "every effect applied once");
    let refusals = ledger.effects.iter().filter(|e| e.refused).count();
    assert_eq!(refusals, (1..=WORKFLOWS).filter(|&n| fails(n)).count(), "one refusal per failing call");

    // Each journal: every step succeeded at most once, exactly the steps the service applied.
    let applied_keys: HashMap<&str, HashSet<&str>> = seen_effects
        .iter()
        .map(|(id, effects)| (*id, effects.iter().filter(|e| !e.refused).map(|e| e.key.as_str()).collect()))
        .collect();
    let histories: Vec<(String, Result<Vec<HistoryEntry>, String>)> =
        futures::stream::iter(ids.values().cloned().enumerate())
            .map(|(turn, id)| {
                let (client, base) = (client.clone(), live[turn % live.len()].clone());
                async move {
                    let read = history(&client, &base, &id).await;
                    (id, read)
                }
            })
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
    let mut journal_faults = Vec::new();
    let mut journal_entries = 0;
    let empty = HashSet::new();
    for (id, read) in &histories {
        match read {
            Ok(entries) => {
                journal_entries += entries.len();
                journal_faults.extend(journal_problems(id, entries, applied_keys.get(id.as_str()).unwrap_or(&empty)));
            }
            Err(error) => journal_faults.push(format!("{id}: {error}")),
        }
    }
    assert!(
        journal_faults.is_empty(),
        "{} problems in the journals:\n{}",
        journal_faults.len(),
        journal_faults.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );

    // Node-3's stream showed transitions of instances started on every node — of node-1's while
    // node-1 still drove them (before the kill), of node-2's while node-2 did (before the freeze): those
    // came through the feed from the other processes.
    let (stream_counts, fed_by, finals_seen, stream_figures) = {
        let seen = seen.lock().expect("seen lock");
        let mut counts = [0usize; 3];
        let mut fed_by = [0usize; 3];
        let mut finals_seen = 0;
        for (number, id) in &ids {
            let Some(statuses) = seen.instances.get(id) else { continue };
            let node = origin(*number);
            counts[node] += 1;
            let driven_by_origin = match node {
                0 => statuses.iter().any(|(_, at)| *at == ALL_UP),
                1 => statuses.iter().any(|(_, at)| *at <= NODE_1_KILLED),
                _ => !statuses.is_empty(),
            };
            if driven_by_origin {
                fed_by[node] += 1;
            }
            if statuses.iter().any(|(status, _)| status == expected_status(*number)) {
                finals_seen += 1;
            }
        }
        (counts, fed_by, finals_seen, (seen.instance_events, seen.heartbeats, seen.unreadable, seen.reopened))
    };
    for node in 0..3 {
        assert!(
            stream_counts[node] > 0 && fed_by[node] > 0,
            "node-3's stream saw no transition of an instance started on node-{} while that node drove it \
             (instances seen per origin: {stream_counts:?}; while their node drove them: {fed_by:?})",
            node + 1
        );
    }

    // The processes that should run still do, and none panicked.
    node1_again.assert_running();
    node2.assert_running();
    node3.assert_running();
    let logs = [
        ("node-1", node1.log_text()),
        ("node-2", node2.log_text()),
        ("node-3", node3.log_text()),
        ("node-1 (restarted)", node1_again.log_text()),
    ];
    for (name, text) in &logs {
        assert!(!text.contains("panicked"), "{name} panicked:\n{}", tail(text, 80));
    }

    // Figures.
    let view = cluster_view(&client, &survivor).await;
    let per_node = view
        .map(|view| {
            view.nodes
                .iter()
                .map(|node| {
                    format!(
                        "{} {:?}{}: owns {}, claimed {}, moved in {}, fenced writes {}",
                        node.id,
                        node.state,
                        if node.leader { " (leader)" } else { "" },
                        node.owned,
                        node.claimed,
                        node.moved_in,
                        node.fenced_writes
                    )
                })
                .collect::<Vec<_>>()
                .join("\n    ")
        })
        .unwrap_or_else(|| String::from("(node-3 did not answer)"));
    let repeats = PHASES
        .iter()
        .zip(&ledger.repeats)
        .map(|(phase, count)| format!("{count} {phase}"))
        .collect::<Vec<_>>()
        .join(", ");
    // Warnings and errors, by kind; the test serves no browser bundle, so that warning is left out.
    // Fencing, "silent for longer than its lease" and slow statements are what a frozen node says
    // when it thaws; anything else is listed below the figures.
    let warned = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| (line.contains(" WARN ") || line.contains(" ERROR ")) && !line.contains("browser bundle"))
            .map(str::to_string)
            .collect()
    };
    let expected_kind = |line: &str| {
        ["fenced", "silent for longer", "slow statement", "time to acquire"].iter().any(|k| line.contains(k))
    };
    let log_notes = logs
        .iter()
        .map(|(name, text)| {
            let lines = warned(text);
            let errors = lines.iter().filter(|line| line.contains(" ERROR ")).count();
            let fenced = lines.iter().filter(|line| line.contains("a transition was not written")).count();
            let silent = lines.iter().filter(|line| line.contains("silent for longer")).count();
            let slow =
                lines.iter().filter(|line| line.contains("slow statement") || line.contains("time to acquire")).count();
            let other = lines.iter().filter(|line| !expected_kind(line)).count();
            format!(
                "{name}: {} warnings/errors ({errors} errors): {fenced} fenced writes, {silent} silent-node, \
                 {slow} slow statements, {other} other",
                lines.len()
            )
        })
        .collect::<Vec<_>>()
        .join("\n    ");
    eprintln!(
        "cluster test (3 processes, PostgreSQL): {WORKFLOWS} workflows ({} designed to compensate), {expected_total} \
         effects; lease {LEASE_MS} ms, heartbeat {HEARTBEAT_MS} ms, claims every {CLAIM_INTERVAL_MS} ms\n  \
         node-1 killed (SIGKILL) after {applied_at_kill} effects, owning {node1_owned_at_kill} live instances; \
         taken over {:.2} s after the kill\n  \
         node-2 frozen (SIGSTOP) after {applied_at_stop} effects, owning {node2_owned_at_stop} live instances; \
         takeover seen {:.2} s after the freeze; thawed after {:.2} s, still owning {node2_still_owned}\n  \
         node-1 restarted under its own id; {} starts unanswered and re-sent: {resent_found} found by their key, \
         {resent_created} new\n  \
         re-issued calls answered from the ledger: {} in all ({repeats})\n  \
         journals: {journal_entries} entries, no step succeeded twice\n  \
         node-3's stream: {} instance events ({} heartbeats, {} unreadable, reopened {} times); instances seen per \
         origin node {stream_counts:?}, while their own node drove them {fed_by:?}; final status seen for {finals_seen} \
         of {WORKFLOWS}\n  \
         nodes at the end:\n    {per_node}\n  \
         logs:\n    {log_notes}\n  \
         every workflow settled {:.2} s after the test began; every effect applied exactly once",
        WORKFLOWS / FAILING_EVERY,
        node1_taken_over_after.as_secs_f64(),
        node2_takeover.as_secs_f64(),
        frozen_for.as_secs_f64(),
        unanswered.len(),
        ledger.repeats.iter().sum::<usize>(),
        stream_figures.0,
        stream_figures.1,
        stream_figures.2,
        stream_figures.3,
        settled_after.as_secs_f64(),
    );
    for (name, text) in &logs {
        let other: Vec<String> = warned(text).into_iter().filter(|line| !expected_kind(line)).collect();
        if !other.is_empty() {
            eprintln!("  {name}, other warnings and errors:\n    {}", other.join("\n    "));
        }
    }
}
