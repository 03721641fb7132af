//! The real `switchboard` binary as a child process, for the tests that kill, freeze and restart it
//! (`crash.rs`, `cluster_processes.rs`): [`Server::spawn`] starts `switchboard serve` on a free port,
//! pointed at a recording service, with its output in a log file; [`Server::wait_ready`] polls its
//! health; [`Server::kill`] sends SIGKILL. Dropping a [`Server`] kills it, so a failing test leaves no
//! process behind (SIGKILL ends a stopped process too).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

/// What every server of a test gets.
pub struct Launch<'a> {
    pub database_url: &'a str,
    /// The recording service, reached as the `calls` service.
    pub service: SocketAddr,
    /// Holds the log files and the (empty) site root.
    pub folder: &'a Path,
    /// The password of the `admin` the server creates on an empty database.
    pub admin_password: &'a str,
    /// The `--log` filter.
    pub log_filter: &'a str,
    /// How long [`Server::wait_ready`] waits, and how often it probes meanwhile.
    pub ready_within: Duration,
    pub probe_every: Duration,
}

/// A running `switchboard serve`, killed when dropped.
pub struct Server {
    /// What the messages call it (`switchboard`, `node-1`).
    pub name: String,
    pub child: Child,
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    pub log: PathBuf,
    ready_within: Duration,
    probe_every: Duration,
}

impl Server {
    /// Starts `switchboard serve` as `launch` says, named `name` in messages, logging to
    /// `{folder}/{log}.log`; `extra` adds arguments and environment of its own (a node id, cluster
    /// settings).
    pub fn spawn(launch: &Launch<'_>, name: &str, log: &str, extra: impl FnOnce(&mut Command)) -> Self {
        let port = free_port();
        let log = launch.folder.join(format!("{log}.log"));
        let output = File::create(&log).expect("server log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .args(["serve", "--no-demo", "--log", launch.log_filter])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", launch.database_url])
            .args(["--service", &format!("calls:{}=http://{}", super::CALL_ACTIONS.join("+"), launch.service)])
            .arg("--site-root")
            .arg(launch.folder.join("site"))
            .env_remove("SWITCHBOARD_SERVICES")
            .env("SWITCHBOARD_ADMIN_PASSWORD", launch.admin_password)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("server log file"))
            .stderr(output);
        extra(&mut command);
        let child = command.spawn().expect("start switchboard");
        Self {
            name: name.to_string(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            ready_within: launch.ready_within,
            probe_every: launch.probe_every,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET /api/health` until it answers 200.
    ///
    /// # Panics
    /// When the process exits first, or the deadline passes; with the server's log.
    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let within = self.ready_within;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("switchboard's status") {
                panic!("{} exited ({status}) before it was ready:\n{}", self.name, self.log_text());
            }
            let probe = client.get(format!("{}/api/health", self.base)).timeout(Duration::from_secs(2)).send().await;
            if probe.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            assert!(Instant::now() < deadline, "{} not ready within {within:?}:\n{}", self.name, self.log_text());
            tokio::time::sleep(self.probe_every).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on unix): no shutdown code runs.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill switchboard");
        let status = self.child.wait().expect("reap switchboard");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "{} died of SIGKILL, not of something else: {status}", self.name);
        }
        #[cfg(not(unix))]
        let _ = status;
    }

    /// Sends a signal by name (`-STOP`, `-CONT`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal} {} ({}) failed: {status}", self.child.id(), self.name);
    }

    /// Panics if the process is gone (it must still run at the end).
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("switchboard's status") {
            panic!("{} exited ({status}) during the test:\n{}", self.name, tail(&self.log_text(), 60));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the OS picks it; released for the server to take).
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    probe.local_addr().expect("probe address").port()
}

/// The last `lines` lines of a log.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
