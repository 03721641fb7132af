//! Passwords: argon2id hashes in PHC string form (the parameters travel with the hash), and the
//! [`HashGate`] every hash and check passes through.
//!
//! argon2id is slow and memory-hard on purpose: each hash or check holds about 19 MiB for tens of
//! milliseconds of a core. Unbounded, 64 sign-ins at once with made-up usernames took the process to
//! 1.3 GB. The gate lets as many run as there are cores, keeps a short queue, and refuses the rest at
//! once (the caller answers 503 with `Retry-After`).
//!
//! ```no_run
//! # async fn example() {
//! use switchboard::auth::password::{self, HashGate};
//! let gate = HashGate::new(2, 4);
//! let stored = gate.run(|| password::hash("correct horse battery")).await.expect("not busy");
//! # }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 10;

/// Why a new password is refused, in words for the form.
pub fn problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_LENGTH {
        return Some(format!("must be at least {MIN_LENGTH} characters"));
    }
    if password.len() > 1024 {
        return Some("must be at most 1024 bytes".into());
    }
    None
}

/// Hashes with argon2id and a fresh random salt (the crate's default parameters: 19 MiB, 2 passes).
pub fn hash(password: &str) -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters does not fail")
        .to_string()
}

/// Whether `password` matches the stored hash. An unreadable hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash of nothing anyone knows, verified against when the username does not exist so that a wrong
/// username takes as long as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&super::secret::random_password()))
}

/// Bounds the password hashing in flight: at most `concurrent` hashes run (each on a blocking thread)
/// and at most `queue` more wait; past that, [`HashGate::run`] answers [`Busy`] at once. Cheap to clone
/// (one gate per process, in [`super::Access`]).
#[derive(Clone, Debug)]
pub struct HashGate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    permits: Arc<Semaphore>,
    /// Running plus waiting hashes may not exceed this.
    capacity: usize,
    admitted: AtomicUsize,
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// The gate is full: try again shortly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

impl HashGate {
    /// A gate running at most `concurrent` hashes (at least one) with at most `queue` waiting.
    pub fn new(concurrent: usize, queue: usize) -> Self {
        let concurrent = concurrent.max(1);
        HashGate {
            inner: Arc::new(GateInner {
                permits: Arc::new(Semaphore::new(concurrent)),
                capacity: concurrent + queue,
                admitted: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
        }
    }

    /// One hash per core, and a queue of two per core.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        HashGate::new(cores, 2 * cores)
    }

    /// Runs `work` (a hash or a check) on a blocking thread once a slot is free, waiting in the queue
    /// if need be.
    ///
    /// # Errors
    /// [`Busy`] at once when `concurrent + queue` are running or waiting already.
    ///
    /// # Panics
    /// When `work` panics.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        let inner = &self.inner;
        if inner.admitted.fetch_add(1, Ordering::SeqCst) >= inner.capacity {
            inner.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        // Leaves the count with the work, not with this future: a caller that goes away (a client that
        // hangs up) does not free a slot while its hash still runs.
        let admitted = Admitted(self.inner.clone());
        let permit = inner.permits.clone().acquire_owned().await.expect("the gate's semaphore is never closed");
        let running = Running::start(self.inner.clone());
        let finished = tokio::task::spawn_blocking(move || {
            let _held = (running, permit, admitted);
            work()
        })
        .await;
        match finished {
            Ok(value) => Ok(value),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    /// The most hashes that ever ran at once through this gate.
    pub fn peak(&self) -> usize {
        self.inner.peak.load(Ordering::SeqCst)
    }

    /// Hashes running now.
    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }
}

/// A place in the gate (running or waiting), given back when dropped.
struct Admitted(Arc<GateInner>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running hash, counted until dropped.
struct Running(Arc<GateInner>);

impl Running {
    fn start(inner: Arc<GateInner>) -> Self {
        let now = inner.running.fetch_add(1, Ordering::SeqCst) + 1;
        inner.peak.fetch_max(now, Ordering::SeqCst);
        Running(inner)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let stored = hash("correct horse battery");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("anything", "not a hash"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_runs_at_most_its_size_and_refuses_past_its_queue() {
        let gate = HashGate::new(1, 1);
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, is_running) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move || {
                    started.send(()).unwrap();
                    held.recv().unwrap();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || is_running.recv().unwrap()).await.unwrap();
        let queued = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(|| 7).await }
        });
        // The queued one takes the last place; wait until it has.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while gate.inner.admitted.load(Ordering::SeqCst) < 2 {
            assert!(std::time::Instant::now() < deadline, "the second call never queued");
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|| 8).await, Err(Busy), "full: refused at once");
        release.send(()).unwrap();
        assert_eq!(holder.await.unwrap(), Ok(()));
        assert_eq!(queued.await.unwrap(), Ok(7));
        assert_eq!(gate.peak(), 1);
        assert_eq!(gate.run(|| 9).await, Ok(9), "free again");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(problem("short").is_some());
        assert!(problem("long enough!").is_none());
    }
}
