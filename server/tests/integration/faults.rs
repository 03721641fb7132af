//! Hard faults under traffic, with the real `switchboard` binary and the recording service of
//! `support/recorder.rs` (one key per logical effect; a step applied twice or lost is caught):
//!
//! - **PostgreSQL goes away for 10 s**: a proxy between the server and PostgreSQL closes every
//!   connection (the pool's connections die mid-query) and refuses new ones, then lets them through
//!   again. `/api/health` must say what is wrong meanwhile and recover by itself.
//! - **SQLite's disk is full for 10 s**: the database sits on a small tmpfs that a filler file takes
//!   up to the last byte, then frees (runs as root only — it mounts the tmpfs — and says so otherwise).
//!   Afterwards `PRAGMA integrity_check` is `ok`.
//! - **SIGTERM mid-flight**: the process drains and exits on its own within a bounded time; restarted,
//!   it finishes what was in flight.
//!
//! In each, no process is restarted to get over the fault (except after SIGTERM, by design): every
//! instance must end as designed, with every effect applied exactly once. Clients re-send starts that
//! got no answer with their idempotency keys, as a real client would. The figures (time to report the
//! fault, recovery time after it) are printed for the release note.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::StreamExt;
use serde_json::Value;

use app::wire::InstanceDetail;
use crate::support::client::{assert_no_effect_problems, history_text, register_definition, token_client};
use crate::support::process::{Launch, Server};
use crate::support::recorder::{expected_applied, expected_status, start_service, Recorder};

/// How many sagas each scenario runs.
const WORKFLOWS: i64 = 150;
/// The fault strikes once the service has applied this share of the expected effects.
const FAULT_AT_PERCENT: usize = 30;
/// How long the fault lasts.
const OUTAGE: Duration = Duration::from_secs(10);
const START_CONCURRENCY: usize = 16;
/// A start that got no answer is sent again (same idempotency key) until this long has passed.
const START_PATIENCE: Duration = Duration::from_secs(180);
const READY_WITHIN: Duration = Duration::from_secs(60);
const SETTLE_WITHIN: Duration = Duration::from_secs(180);
const ADMIN_PASSWORD: &str = "fault test admin password";
const PHASES: usize = 2;

/// The scenarios share two cores: one at a time keeps them meaningful on a busy machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_goes_away_for_ten_seconds() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(database) = crate::support::TempPostgres::create().await else { return };
    let mut url = url::Url::parse(database.url.expose_secret()).expect("a postgres URL");
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port().unwrap_or(5432))
        .parse()
        .expect("PostgreSQL at an IP address");
    let proxy = crate::support::proxy::Proxy::start(target).await;
    url.set_port(Some(proxy.address.port())).expect("a port");
    let mut run = Run::begin("postgres", url.as_str()).await;

    run.wait_for_share(FAULT_AT_PERCENT).await;
    proxy.cut();
    let cut_at = Instant::now();
    let reported = run.wait_health(|health| health.status == 503, "the outage is reported").await;
    let reported_after = cut_at.elapsed();
    tokio::time::sleep(OUTAGE.saturating_sub(cut_at.elapsed())).await;
    proxy.restore();
    let restored_at = Instant::now();
    run.wait_health(|health| health.status == 200, "health recovers").await;
    let healthy_after = restored_at.elapsed();
    let moving_after = run.wait_progress().await;
    run.finish_and_check(&format!(
        "PostgreSQL away for {:.1} s: /api/health said 503 after {:.1} s ({}); healthy {:.1} s after it \
         came back, instances moving again after {:.1} s",
        restored_at.duration_since(cut_at).as_secs_f64(),
        reported_after.as_secs_f64(),
        reported.problems.join("; "),
        healthy_after.as_secs_f64(),
        moving_after.as_secs_f64()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_for_ten_seconds() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let folder = tempfile::tempdir().expect("temporary folder");
    let Some(volume) = SmallVolume::mount(&folder.path().join("volume"), "64m") else { return };
    let file = volume.path.join("faults.db");
    let url = format!("sqlite:{}", file.display());
    let mut run = Run::begin("sqlite", &url).await;

    run.wait_for_share(FAULT_AT_PERCENT).await;
    let filler = volume.fill();
    let full_at = Instant::now();
    let reported = run
        .wait_health(|health| health.status == 503 && health.text().contains("full"), "the full disk is reported")
        .await;
    let reported_after = full_at.elapsed();
    tokio::time::sleep(OUTAGE.saturating_sub(full_at.elapsed())).await;
    std::fs::remove_file(&filler).expect("free the disk");
    let freed_at = Instant::now();
    let moving_after = run.wait_progress().await;
    run.wait_health(|health| health.status == 200, "health recovers").await;
    let healthy_after = freed_at.elapsed();
    run.finish_and_check(&format!(
        "disk full for {:.1} s: /api/health said 503 after {:.1} s ({}); instances moving again {:.1} s after \
         space was freed, healthy after {:.1} s",
        freed_at.duration_since(full_at).as_secs_f64(),
        reported_after.as_secs_f64(),
        reported.problems.join("; "),
        moving_after.as_secs_f64(),
        healthy_after.as_secs_f64()
    ))
    .await;
    let integrity = integrity_check(&url).await;
    assert_eq!(integrity, "ok", "PRAGMA integrity_check after the disk was full");
    eprintln!("  integrity_check: {integrity}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_a_restart_finishes_the_rest() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let folder = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite:{}", folder.path().join("sigterm.db").display());
    let mut run = Run::begin("sqlite", &url).await;

    run.wait_for_share(40).await;
    run.server.signal("-TERM");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = run.server.child.try_wait().expect("switchboard's status") {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(60), "no exit 60 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stopped_after = signalled.elapsed();
    assert!(status.success(), "a clean exit after SIGTERM: {status}\n{}", run.server.log_text());
    run.restart().await;
    let moving_after = run.wait_progress().await;
    run.finish_and_check(&format!(
        "SIGTERM mid-flight: exited by itself (status 0) {:.2} s after the signal; restarted, instances moving \
         {:.1} s after it was ready",
        stopped_after.as_secs_f64(),
        moving_after.as_secs_f64()
    ))
    .await;
}

// ---------------------------------------------------------------------------------------------------
// One run: a server, the recording service, a client that starts every saga and re-sends what got no
// answer
// ---------------------------------------------------------------------------------------------------

struct Run {
    backend: &'static str,
    recorder: Arc<Recorder>,
    launch_folder: tempfile::TempDir,
    database_url: String,
    service: SocketAddr,
    server: Server,
    client: reqwest::Client,
    starts: tokio::task::JoinHandle<BTreeMap<i64, String>>,
    base: Arc<std::sync::RwLock<String>>,
    began: Instant,
}

/// What `/api/health` answered.
struct HealthAnswer {
    status: u16,
    problems: Vec<String>,
}

impl HealthAnswer {
    fn text(&self) -> String {
        self.problems.join(" ").to_lowercase()
    }
}

impl Run {
    async fn begin(backend: &'static str, database_url: &str) -> Run {
        let launch_folder = tempfile::tempdir().expect("temporary folder");
        let recorder = Recorder::new(1..=5, PHASES);
        let service = start_service(recorder.clone()).await;
        let plain = reqwest::Client::new();
        let mut server = Server::spawn(&launch(&launch_folder, database_url, service), "switchboard", "first", |_| {});
        server.wait_ready(&plain).await;
        let client = token_client(&plain, &server.base, ADMIN_PASSWORD, "fault-test").await;
        register_definition(&client, &server.base).await;
        let base = Arc::new(std::sync::RwLock::new(server.base.clone()));
        let starts = tokio::spawn(start_all(client.clone(), base.clone()));
        Run {
            backend,
            recorder,
            launch_folder,
            database_url: database_url.to_string(),
            service,
            server,
            client,
            starts,
            base,
            began: Instant::now(),
        }
    }

    fn base(&self) -> String {
        self.server.base.clone()
    }

    /// Waits until the service has applied `percent` of the expected effects (counted, never timed).
    async fn wait_for_share(&mut self, percent: usize) {
        let goal = expected_applied(1..=WORKFLOWS) * percent / 100;
        let deadline = Instant::now() + SETTLE_WITHIN;
        while self.recorder.snapshot().applied < goal {
            self.server.assert_running();
            assert!(Instant::now() < deadline, "{goal} effects not applied in time:\n{}", self.server.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.recorder.set_phase(1);
    }

    /// Polls `/api/health` (which must always answer, and in the JSON shape) until `wanted` holds.
    async fn wait_health(&mut self, wanted: impl Fn(&HealthAnswer) -> bool, what: &str) -> HealthAnswer {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.server.assert_running();
            let response = self
                .client
                .get(format!("{}/api/health", self.base()))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap_or_else(|error| panic!("/api/health must answer during a fault: {error}"));
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("health is JSON");
            let problems = body["problems"]
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            let answer = HealthAnswer { status, problems };
            if wanted(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "{what}: not within 60 s; last {status} {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the service sees a new effect applied; the time it took.
    async fn wait_progress(&mut self) -> Duration {
        let since = Instant::now();
        let before = self.recorder.snapshot().applied;
        let expected = expected_applied(1..=WORKFLOWS);
        let deadline = since + SETTLE_WITHIN;
        loop {
            let applied = self.recorder.snapshot().applied;
            if applied > before || applied == expected {
                return since.elapsed();
            }
            self.server.assert_running();
            assert!(Instant::now() < deadline, "no progress after the fault:\n{}", self.server.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the server again on the same database (after it exited).
    async fn restart(&mut self) {
        let launch = launch(&self.launch_folder, &self.database_url, self.service);
        self.server = Server::spawn(&launch, "switchboard", "second", |_| {});
        self.server.wait_ready(&reqwest::Client::new()).await;
        *self.base.write().expect("base") = self.server.base.clone();
    }

    /// Every start answered, every saga ended as designed, every effect exactly once.
    async fn finish_and_check(self, figures: &str) {
        let Run { backend, recorder, client, starts, began, mut server, .. } = self;
        let ids = starts.await.expect("the starter");
        assert_eq!(ids.len(), WORKFLOWS as usize, "every start was answered");
        let base = server.base.clone();
        let deadline = Instant::now() + SETTLE_WITHIN;
        let finals: Vec<(i64, InstanceDetail)> = futures::stream::iter(ids.clone())
            .map(|(number, id)| {
                let (client, base) = (client.clone(), base.clone());
                async move { (number, wait_settled(&client, &base, &id, deadline).await) }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        server.assert_running();
        let wrong: Vec<String> = finals
            .iter()
            .filter(|(number, detail)| detail.summary.status != expected_status(*number))
            .map(|(number, detail)| {
                format!("call {number} ({}): {}, expected {}", detail.summary.id, detail.summary.status, expected_status(*number))
            })
            .collect();
        if let Some(first) = finals.iter().find(|(n, d)| d.summary.status != expected_status(*n)) {
            let history = history_text(&client, &base, &first.1.summary.id).await;
            panic!("{} sagas did not end as designed:\n{}\n{history}\n{}", wrong.len(), wrong.join("\n"), server.log_text());
        }
        let ledger = recorder.snapshot();
        let (problems, _) = ledger.problems(&ids);
        assert_no_effect_problems(&client, &base, &problems, &ids).await;
        assert_eq!(ledger.applied, expected_applied(1..=WORKFLOWS), "every effect applied once");
        eprintln!(
            "fault test ({backend}): {WORKFLOWS} workflows, {} effects, each applied exactly once; repeats answered \
             from the service's ledger: {} before the fault, {} after; all done {:.1} s after the first start\n  {figures}",
            ledger.applied,
            ledger.repeats[0],
            ledger.repeats[1],
            began.elapsed().as_secs_f64()
        );
    }
}

fn launch<'a>(folder: &'a tempfile::TempDir, database_url: &'a str, service: SocketAddr) -> Launch<'a> {
    Launch {
        database_url,
        service,
        folder: folder.path(),
        admin_password: ADMIN_PASSWORD,
        log_filter: "warn",
        ready_within: READY_WITHIN,
        probe_every: Duration::from_millis(50),
    }
}

/// Starts every saga; a start without an answer (the database away, the server restarting) is sent
/// again with its idempotency key until it is answered. Call number → instance id.
async fn start_all(client: reqwest::Client, base: Arc<std::sync::RwLock<String>>) -> BTreeMap<i64, String> {
    futures::stream::iter(1..=WORKFLOWS)
        .map(|number| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let deadline = Instant::now() + START_PATIENCE;
                loop {
                    let url = base.read().expect("base").clone();
                    match crate::support::client::start_call(&client, &url, "fault-test-call", number).await {
                        Ok((_, id)) => return (number, id),
                        Err(error) => {
                            assert!(Instant::now() < deadline, "call {number} never started: {error}");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                    }
                }
            }
        })
        .buffer_unordered(START_CONCURRENCY)
        .collect()
        .await
}

/// Long-polls `wait` until the instance settled; re-asks while the server does not answer.
async fn wait_settled(client: &reqwest::Client, base: &str, id: &str, deadline: Instant) -> InstanceDetail {
    loop {
        let answer = client
            .get(format!("{base}/api/instances/{id}/wait?timeout_ms=10000"))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        if let Ok(response) = answer {
            if response.status() == StatusCode::OK {
                let detail: InstanceDetail = response.json().await.expect("an instance");
                let settled = matches!(detail.summary.status.as_str(), "completed" | "compensated" | "failed" | "cancelled");
                if settled || Instant::now() >= deadline {
                    return detail;
                }
                continue;
            }
        }
        assert!(Instant::now() < deadline, "{id} did not settle in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn integrity_check(url: &str) -> String {
    use sqlx::Connection;
    let mut connection = sqlx::SqliteConnection::connect(url).await.expect("open the database");
    sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut connection).await.expect("integrity_check")
}

// ---------------------------------------------------------------------------------------------------
// A small volume that can be filled
// ---------------------------------------------------------------------------------------------------

/// A tmpfs of a fixed size, unmounted when dropped.
struct SmallVolume {
    path: std::path::PathBuf,
}

impl SmallVolume {
    /// `None` (with a note) when this process may not mount (not root).
    fn mount(path: &std::path::Path, size: &str) -> Option<SmallVolume> {
        std::fs::create_dir_all(path).expect("the mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status();
        match mounted {
            Ok(status) if status.success() => Some(SmallVolume { path: path.to_path_buf() }),
            outcome => {
                eprintln!("skipping the disk-full scenario: cannot mount a tmpfs here ({outcome:?}; it needs root)");
                None
            }
        }
    }

    /// Takes every free byte with one file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path.join("filler");
        let mut file = std::fs::File::create(&path).expect("the filler");
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // The last bytes, one at a time.
        while file.write(&[0u8]).is_ok_and(|written| written == 1) {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
