//! The crash test: the real `switchboard` binary runs a few hundred call-processing sagas against a
//! recording service, is killed with SIGKILL while many of them are mid-flight, and is restarted on the
//! same database. Every saga must end where it was designed to — completed, or compensated for the calls
//! whose billing is refused — with each effect applied exactly once. It runs on SQLite and on PostgreSQL.
//!
//! The recording service ([`Recorder`], served by [`start_service`]) is an HTTP server inside this
//! process that behaves like a real idempotent service: it keys on the `Idempotency-Key` header, applies
//! an effect the first time it sees a key, and answers a repeated key with its first response without
//! applying anything. Repeats are expected after a crash (the engine re-issues the calls whose answers
//! it never recorded) and are only counted; the same step applied twice (under two keys) is what this
//! test exists to catch.
//!
//! The kill lands once the service has applied [`KILL_AT_PERCENT`] of the expected effects — counted in
//! the service, never timed. Starts whose answer the kill swallowed are re-sent after the restart with
//! their idempotency key. The figures printed at the end go into the release note.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

use app::wire::{HistoryEntry, InstanceDetail, InstancePage};

/// How many sagas run.
const WORKFLOWS: i64 = 300;
/// Calls whose number is divisible by this have their billing refused (HTTP 400) and must compensate.
const FAILING_EVERY: i64 = 20;
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

/// `(state, action, compensation action)` of the saga's tasks.
const TASKS: &[(&str, &str, Option<&str>)] = &[
    ("validate-caller", "validate", None),
    ("find-buyer", "find_buyer", Some("release_reservation")),
    ("connect-call", "connect", Some("disconnect")),
    ("start-billing", "start_billing", Some("cancel_meter")),
];

fn fails(number: i64) -> bool {
    number % FAILING_EVERY == 0
}

/// What the service must have seen for a call, in order: `(action, refused)`, one key each.
fn expected_effects(number: i64) -> Vec<(&'static str, bool)> {
    if fails(number) {
        vec![
            ("validate", false),
            ("find_buyer", false),
            ("connect", false),
            ("start_billing", true),
            ("disconnect", false),
            ("release_reservation", false),
        ]
    } else {
        vec![("validate", false), ("find_buyer", false), ("connect", false), ("start_billing", false)]
    }
}

fn expected_status(number: i64) -> &'static str {
    if fails(number) {
        "compensated"
    } else {
        "completed"
    }
}

/// The effects (refusals excluded) all the sagas apply.
fn expected_applied_total() -> usize {
    (1..=WORKFLOWS).map(|number| expected_effects(number).iter().filter(|(_, refused)| !refused).count()).sum()
}

/// The instance a key belongs to and the action it may carry. Keys are `{instance}:{state}:{seq}`, and
/// `{that}:compensate` for the compensation of the step.
fn parse_key(key: &str) -> Option<(&str, &'static str)> {
    let parts: Vec<&str> = key.split(':').collect();
    let (instance, state, compensation) = match parts.as_slice() {
        [instance, state, seq] if seq.parse::<u64>().is_ok() => (*instance, *state, false),
        [instance, state, seq, "compensate"] if seq.parse::<u64>().is_ok() => (*instance, *state, true),
        _ => return None,
    };
    let (_, action, undo) = TASKS.iter().find(|(name, _, _)| *name == state)?;
    if compensation {
        undo.map(|undo| (instance, undo))
    } else {
        Some((instance, *action))
    }
}

// ---------------------------------------------------------------------------------------------------
// The recording service
// ---------------------------------------------------------------------------------------------------

/// One key seen for the first time: an applied effect, or a refusal (billing refused, HTTP 400).
#[derive(Clone, Debug)]
struct Effect {
    key: String,
    action: String,
    number: Option<i64>,
    refused: bool,
}

#[derive(Clone, Default)]
struct Ledger {
    /// The first response per key, replayed for every repeat.
    responses: HashMap<String, (StatusCode, Value)>,
    /// Every first-seen key, in the order seen.
    effects: Vec<Effect>,
    applied: usize,
    duplicates_before_restart: usize,
    duplicates_after_restart: usize,
    /// Calls without an `Idempotency-Key` header (refused: the engine must always send one).
    unkeyed: usize,
}

/// An idempotent service that records what it applies.
struct Recorder {
    ledger: Mutex<Ledger>,
    restarted: AtomicBool,
    /// The number of applied effects, for the test to wait on.
    applied: watch::Sender<usize>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self { ledger: Mutex::default(), restarted: AtomicBool::new(false), applied: watch::channel(0).0 })
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("ledger lock")
    }

    /// A copy, to read without holding the lock the service needs.
    fn snapshot(&self) -> Ledger {
        self.ledger().clone()
    }

    /// Applies the call unless its key was seen before; either way answers with the key's first
    /// response. Check and apply happen under one lock, as a real service's unique key constraint.
    fn call(&self, key: &str, action: &str, input: &Value) -> (StatusCode, Value) {
        let mut ledger = self.ledger();
        if let Some(first) = ledger.responses.get(key).cloned() {
            if self.restarted.load(Ordering::SeqCst) {
                ledger.duplicates_after_restart += 1;
            } else {
                ledger.duplicates_before_restart += 1;
            }
            return first;
        }
        let number = input.get("number").and_then(Value::as_i64);
        let refused = action == "start_billing" && number.is_some_and(fails);
        let response = if refused {
            (StatusCode::BAD_REQUEST, json!({"error": "billing refused the call"}))
        } else {
            (StatusCode::OK, json!({"action": action, "number": number, "effect": ledger.effects.len()}))
        };
        ledger.responses.insert(key.to_string(), response.clone());
        ledger.effects.push(Effect { key: key.to_string(), action: action.to_string(), number, refused });
        if !refused {
            ledger.applied += 1;
            self.applied.send_replace(ledger.applied);
        }
        response
    }
}

async fn latency() {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(LATENCY_MS))).await;
}

/// `POST /{action}` with the `Idempotency-Key` header: the service the `calls` tasks reach.
async fn handle_call(
    State(recorder): State<Arc<Recorder>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    Json(input): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(key) = headers.get("idempotency-key").and_then(|value| value.to_str().ok()).map(str::to_string) else {
        recorder.ledger().unkeyed += 1;
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "no Idempotency-Key header"})));
    };
    latency().await;
    let (status, body) = recorder.call(&key, &action, &input);
    latency().await;
    (status, Json(body))
}

/// Serves the recorder on a free local port; returns its address.
async fn start_service(recorder: Arc<Recorder>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the service");
    let address = listener.local_addr().expect("service address");
    let router = Router::new().route("/{action}", post(handle_call)).with_state(recorder);
    tokio::spawn(async move { axum::serve(listener, router).await.expect("the recording service failed") });
    address
}

// ---------------------------------------------------------------------------------------------------
// The switchboard process
// ---------------------------------------------------------------------------------------------------

/// A running `switchboard serve`, killed when dropped (a failing test leaves no process behind).
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    fn spawn(database_url: &str, service: SocketAddr, folder: &FsPath, run: &str) -> Self {
        let port = free_port();
        let log = folder.join(format!("switchboard-{run}.log"));
        let output = File::create(&log).expect("server log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--no-demo", "--log", "warn"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .args(["--service", &format!("calls=http://{service}")])
            .arg("--site-root")
            .arg(folder.join("site"))
            .env_remove("SWITCHBOARD_SERVICES")
            .env("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("server log file"))
            .stderr(output)
            .spawn()
            .expect("start switchboard");
        Self { child, base: format!("http://127.0.0.1:{port}"), log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET /api/health` until it answers 200.
    ///
    /// # Panics
    /// When the process exits first, or the deadline passes; with the server's log.
    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().expect("switchboard's status") {
                panic!("switchboard exited ({status}) before it was ready:\n{}", self.log_text());
            }
            let probe = client.get(format!("{}/api/health", self.base)).timeout(Duration::from_secs(2)).send().await;
            if probe.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            assert!(Instant::now() < deadline, "switchboard not ready within {READY_WITHIN:?}:\n{}", self.log_text());
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on unix): no shutdown code runs.
    fn kill(&mut self) {
        self.child.kill().expect("kill switchboard");
        let status = self.child.wait().expect("reap switchboard");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "switchboard died of SIGKILL, not of something else: {status}");
        }
        #[cfg(not(unix))]
        let _ = status;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the OS picks it; released for the server to take).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    probe.local_addr().expect("probe address").port()
}

// ---------------------------------------------------------------------------------------------------
// The API, as a client sees it
// ---------------------------------------------------------------------------------------------------

async fn register_definition(client: &reqwest::Client, base: &str) {
    let response = client
        .post(format!("{base}/api/definitions"))
        .json(&support::call_saga())
        .send()
        .await
        .expect("POST /api/definitions");
    let status = response.status();
    assert!(status.is_success(), "register: {status} {}", response.text().await.unwrap_or_default());
}

/// Starts call `number` under its own idempotency key: re-sending it returns the same instance.
async fn start_call(client: &reqwest::Client, base: &str, number: i64) -> Result<(StatusCode, String), String> {
    let response = client
        .post(format!("{base}/api/instances"))
        .header("Idempotency-Key", format!("crash-test-call-{number}"))
        .json(&json!({
            "workflow": "call-processing",
            "input": {"call_id": format!("call-{number}"), "number": number},
        }))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{status}: {}", response.text().await.unwrap_or_default()));
    }
    let detail: InstanceDetail = response.json().await.map_err(|error| error.to_string())?;
    Ok((status, detail.summary.id))
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

async fn history(client: &reqwest::Client, base: &str, id: &str) -> Vec<HistoryEntry> {
    let response = client.get(format!("{base}/api/instances/{id}/history")).send().await.expect("history");
    response.json().await.expect("a history")
}

/// The password of the `admin` the server creates on its empty database.
const ADMIN_PASSWORD: &str = "crash test admin password";

/// Signs in as admin, creates an admin API token, and answers a client that sends it on every request.
async fn token_client(client: &reqwest::Client, base: &str) -> reqwest::Client {
    let signed_in = client
        .post(format!("{base}/api/auth/sign-in"))
        .header("origin", base)
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("sign-in answers");
    assert_eq!(signed_in.status(), StatusCode::OK, "sign-in");
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let token: serde_json::Value = client
        .post(format!("{base}/api/tokens"))
        .header("origin", base)
        .header("cookie", cookie)
        .json(&serde_json::json!({"name": "crash-test", "role": "admin"}))
        .send()
        .await
        .expect("token answer")
        .json()
        .await
        .expect("token JSON");
    let secret = token["secret"].as_str().expect("a token secret");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {secret}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

// ---------------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------------

async fn crash_and_recover(backend: &str, database_url: &str) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let client = reqwest::Client::new();
    let recorder = Recorder::new();
    let service = start_service(recorder.clone()).await;
    let expected_total = expected_applied_total();
    let kill_at = expected_total * KILL_AT_PERCENT / 100;

    // Run 1: register, start every call, kill once `kill_at` effects are applied.
    let mut first = Server::spawn(database_url, service, folder.path(), "first");
    first.wait_ready(&client).await;
    // A machine client: an API token, created by the first admin (it outlives the restart: it is stored).
    let client = token_client(&client, &first.base).await;
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
    for (number, outcome) in starts {
        match outcome {
            Ok((_, id)) => {
                ids.insert(number, id);
            }
            Err(_) => unanswered.push(number),
        }
    }
    let answered_at_kill = ids.len();

    // Run 2: same database, new process; re-send every start whose answer was lost, wait for all.
    recorder.restarted.store(true, Ordering::SeqCst);
    let restarted_at = Instant::now();
    let mut second = Server::spawn(database_url, service, folder.path(), "second");
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
        let first_history = history(&client, &second.base, &id.unwrap_or_default()).await;
        panic!(
            "{} of {WORKFLOWS} sagas did not end as designed:\n{}\nhistory of the first:\n{first_history:#?}\nserver log:\n{}",
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
    let number_of: HashMap<&str, i64> = ids.iter().map(|(number, id)| (id.as_str(), *number)).collect();
    let mut seen: HashMap<&str, Vec<&Effect>> = HashMap::new();
    let mut problems = Vec::new();
    for effect in &ledger.effects {
        match parse_key(&effect.key) {
            Some((instance, action)) if number_of.contains_key(instance) => {
                if action != effect.action {
                    problems.push(format!("key {} carried action {}, expected {action}", effect.key, effect.action));
                }
                if effect.number.is_some_and(|number| number != number_of[instance]) {
                    problems.push(format!("key {} carried call number {:?}", effect.key, effect.number));
                }
                seen.entry(instance).or_default().push(effect);
            }
            _ => problems.push(format!("unexpected key {} ({})", effect.key, effect.action)),
        }
    }
    for (number, id) in &ids {
        let actual: Vec<(&str, bool)> = seen
            .get(id.as_str())
            .map(|effects| effects.iter().map(|e| (e.action.as_str(), e.refused)).collect())
            .unwrap_or_default();
        if actual != expected_effects(*number) {
            problems.push(format!("call {number} ({id}): saw {actual:?}, expected {:?}", expected_effects(*number)));
        }
    }
    let refusals = ledger.effects.iter().filter(|e| e.refused).count();
    if !problems.is_empty() {
        let culprit = problems.iter().find_map(|p| ids.values().find(|id| p.contains(id.as_str())).cloned());
        let culprit_history = match &culprit {
            Some(id) => format!("{:#?}", history(&client, &second.base, id).await),
            None => String::from("(none)"),
        };
        panic!(
            "{} problems with the effects:\n{}\nhistory of {culprit:?}:\n{culprit_history}",
            problems.len(),
            problems.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
        );
    }
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
        ledger.duplicates_after_restart,
        ledger.duplicates_before_restart,
        finished_after.as_secs_f64(),
        finished_after_kill.as_secs_f64(),
    );
}
