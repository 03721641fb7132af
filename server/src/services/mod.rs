//! Services: what workflow tasks call.
//!
//! Every service sits behind one async interface, [`Service`]: an action name, a JSON input, an
//! idempotency key and a deadline in; a JSON output or a classified [`ServiceError`] out
//! (retryable, permanent, timeout). Services deduplicate on the key: a repeated key returns the first
//! result and changes nothing (architecture invariant 4).
//!
//! The [`Registry`] names the services, says which actions each offers (the engine's
//! `ServiceCatalog`, used to validate definitions), keeps one circuit breaker per service (which an
//! operator may trip and reset), and counts every call in each service's [`CallStats`]: the last five
//! minutes' calls, failures and latency, and the last failures.
//!
//! - [`http`]: [`HttpService`], a real service over HTTP (POST JSON with an `Idempotency-Key` header).
//! - [`recording`]: [`RecordingService`], an in-process service that records every call, for tests and
//!   the benchmark.
//! - [`breaker`]: [`ServiceBreaker`], the engine's circuit breaker with an operator's override.
//! - [`stats`]: [`CallStats`], the in-memory window of a service's calls.
//! - [`spec`]: [`ServiceSpec`], a service reached over HTTP as configured (`--service`).

pub mod breaker;
pub mod http;
pub mod recording;
pub mod spec;
pub mod stats;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::Value;

use engine::breaker::{BreakerConfig, BreakerState};
use engine::{ErrorKind, ServiceCatalog, ServiceError};

pub use breaker::ServiceBreaker;
pub use http::HttpService;
pub use recording::RecordingService;
pub use spec::ServiceSpec;
pub use stats::{CallStats, CallSummary};

use self::stats::Outcome;

/// One call of a service action.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRequest {
    pub action: String,
    pub input: Value,
    /// Fixed before the first attempt and the same on every retry.
    pub idempotency_key: String,
    /// How long the caller waits for an answer.
    pub timeout: Duration,
    /// Which run and step make the call (sent to HTTP services as headers).
    pub origin: CallOrigin,
}

/// Where a call comes from: the instance, its state, the attempt, and whether it undoes a step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOrigin {
    pub instance_id: String,
    pub state: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `true` for a compensation (the undo of a completed step).
    pub compensation: bool,
}

pub type ServiceResult = Result<Value, ServiceError>;

/// A marketplace service (or any other) that workflow tasks call.
pub trait Service: Send + Sync {
    /// The actions it offers; `None` when it accepts any action (an HTTP service whose API we do not
    /// describe here).
    fn actions(&self) -> Option<BTreeSet<String>>;

    /// Performs the action once per idempotency key.
    fn call(&self, request: ServiceRequest) -> BoxFuture<'_, ServiceResult>;
}

/// A service with its breaker and its call statistics, each behind its own short-held mutex.
struct Entry {
    service: Arc<dyn Service>,
    actions: Option<BTreeSet<String>>,
    breaker: Mutex<ServiceBreaker>,
    stats: Mutex<CallStats>,
}

impl Entry {
    /// The action's name for the statistics, borrowed from the offered actions when possible so that a
    /// call allocates nothing for it.
    fn action_name<'a>(&'a self, action: &str) -> Cow<'a, str> {
        match self.actions.as_ref().and_then(|actions| actions.get(action)) {
            Some(known) => Cow::Borrowed(known.as_str()),
            None => Cow::Owned(action.to_string()),
        }
    }
}

/// The named services a runtime can call. Build it once at start; it is shared read-only after that
/// (breaker states and statistics change inside).
#[derive(Default)]
pub struct Registry {
    services: BTreeMap<String, Entry>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a service under `name` with the default breaker settings.
    pub fn register(&mut self, name: impl Into<String>, service: Arc<dyn Service>) -> &mut Self {
        self.register_with_breaker(name, service, BreakerConfig::default())
    }

    /// Adds (or replaces) a service with its own breaker thresholds.
    pub fn register_with_breaker(
        &mut self,
        name: impl Into<String>,
        service: Arc<dyn Service>,
        breaker: BreakerConfig,
    ) -> &mut Self {
        let actions = service.actions();
        let breaker = Mutex::new(ServiceBreaker::new(breaker));
        let stats = Mutex::new(CallStats::new());
        self.services.insert(name.into(), Entry { service, actions, breaker, stats });
        self
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// Calls `service.action` through its circuit breaker. An open breaker answers at once with a
    /// `circuit_open` error and does not call the service. Every call, refused or not, is counted in
    /// the service's statistics; a call the caller stops waiting for (its future dropped at the
    /// deadline) counts as a `timeout`, for the breaker too.
    pub async fn call(&self, service: &str, request: ServiceRequest, now_ms: i64) -> ServiceResult {
        let Some(entry) = self.services.get(service) else {
            return Err(ServiceError::new(ErrorKind::Permanent, format!("no service named `{service}`")));
        };
        if !lock(&entry.breaker).allow(now_ms) {
            let error =
                ServiceError::new(ErrorKind::CircuitOpen, format!("the circuit breaker of `{service}` is open"));
            let refused = Outcome::Failed { latency: None, action: &request.action, error: &error };
            lock(&entry.stats).record(now_ms, refused);
            crate::telemetry::metrics::service_call(service, &entry.action_name(&request.action), None, Some(error.kind));
            return Err(error);
        }
        let mut call = InFlight {
            entry,
            service,
            action: entry.action_name(&request.action),
            timeout: request.timeout,
            now_ms,
            started: Instant::now(),
            settled: false,
        };
        let outcome = entry.service.call(request).await;
        call.settle(outcome.as_ref().map(|_| ()));
        outcome
    }

    /// The breaker state of a service right now.
    pub fn breaker_state(&self, service: &str, now_ms: i64) -> Option<BreakerState> {
        self.services.get(service).map(|entry| lock(&entry.breaker).state(now_ms))
    }

    /// Forces the service's breaker open until [`reset_breaker`](Self::reset_breaker): every call is
    /// refused with `circuit_open`. `false` when no service has that name.
    pub fn trip_breaker(&self, service: &str) -> bool {
        self.services.get(service).map(|entry| lock(&entry.breaker).trip()).is_some()
    }

    /// Closes the service's breaker (tripped or opened by failures) and clears its failure count.
    /// `false` when no service has that name.
    pub fn reset_breaker(&self, service: &str) -> bool {
        self.services.get(service).map(|entry| lock(&entry.breaker).reset()).is_some()
    }

    /// Every service's calls and breaker over the five minutes up to `now_ms`, as JSON by name: what a
    /// node reports with its heartbeat for the other nodes' Services page.
    pub fn figures_json(&self, now_ms: i64) -> String {
        let figures: BTreeMap<&str, app::wire::ServiceOnNode> = self
            .services
            .iter()
            .map(|(name, entry)| {
                let summary = lock(&entry.stats).summary(now_ms);
                let breaker = match lock(&entry.breaker).state(now_ms) {
                    BreakerState::Closed => app::wire::BreakerStatus::Closed,
                    BreakerState::Open => app::wire::BreakerStatus::Open,
                    BreakerState::HalfOpen => app::wire::BreakerStatus::HalfOpen,
                };
                let figures = app::wire::ServiceOnNode {
                    node: String::new(),
                    this_node: false,
                    breaker,
                    calls: summary.calls,
                    failures: summary.failures,
                    error_rate: summary.error_rate,
                    latency_p95_ms: summary.latency_p95_ms,
                    calls_per_minute: summary.calls_per_minute,
                };
                (name.as_str(), figures)
            })
            .collect();
        serde_json::to_string(&figures).unwrap_or_else(|_| "{}".into())
    }

    /// The service's call statistics over the five minutes up to `now_ms`.
    pub fn call_stats(&self, service: &str, now_ms: i64) -> Option<CallSummary> {
        self.services.get(service).map(|entry| lock(&entry.stats).summary(now_ms))
    }
}

/// A call on its way: reports its outcome to the breaker and the statistics exactly once — when it
/// ends, or when it is dropped unfinished because the caller stopped waiting (the runtime drops a
/// call at its deadline). Without the latter a half-open breaker whose probe timed out would keep the
/// probe slot forever, and timeouts would be missing from the statistics.
struct InFlight<'a> {
    entry: &'a Entry,
    /// The service's name, for the metrics.
    service: &'a str,
    action: Cow<'a, str>,
    timeout: Duration,
    /// The caller's clock at the start, epoch ms.
    now_ms: i64,
    started: Instant,
    settled: bool,
}

impl InFlight<'_> {
    /// Whether the call ran out its time while this process was not running: it lasted well past its
    /// deadline, so no one was there to end it on time (SIGSTOP, a long pause).
    fn caller_was_late(&self) -> bool {
        self.started.elapsed() > self.timeout + LATE_CALLER
    }

    /// Not the service's fault: the breaker frees the probe slot without a verdict, and the statistics
    /// leave the call out. Otherwise every call of a stopped node would "time out" at once when the node
    /// continues, and open the breaker of a healthy service on that node.
    fn abandon(&mut self) {
        self.settled = true;
        lock(&self.entry.breaker).record_abandoned();
        tracing::warn!(
            action = %self.action,
            "a call's deadline passed while this process was not running; not counted against the service"
        );
    }

    fn settle(&mut self, outcome: Result<(), &ServiceError>) {
        if matches!(outcome, Err(error) if error.kind == ErrorKind::Timeout) && self.caller_was_late() {
            self.abandon();
            return;
        }
        self.settled = true;
        let latency = self.started.elapsed();
        {
            let mut breaker = lock(&self.entry.breaker);
            match outcome {
                Ok(()) => breaker.record_success(self.now_ms),
                // A permanent error is the caller's fault (bad input), not a sign the service is unwell.
                Err(error) if error.kind == ErrorKind::Permanent => breaker.record_success(self.now_ms),
                Err(_) => breaker.record_failure(self.now_ms),
            }
        }
        crate::telemetry::metrics::service_call(self.service, &self.action, Some(latency), outcome.err().map(|e| e.kind));
        let ended_at = self.now_ms.saturating_add(i64::try_from(latency.as_millis()).unwrap_or(i64::MAX));
        let outcome = match outcome {
            Ok(()) => Outcome::Succeeded { latency },
            Err(error) => Outcome::Failed { latency: Some(latency), action: &self.action, error },
        };
        lock(&self.entry.stats).record(ended_at, outcome);
    }
}

/// A call dropped this much later than its deadline was not timed out by the service: the caller's
/// process was stopped or starved (SIGSTOP, a long pause) and woke up past the deadline.
const LATE_CALLER: Duration = Duration::from_secs(1);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let error = ServiceError::new(
                ErrorKind::Timeout,
                format!("no answer within {} ms; the caller stopped waiting", self.timeout.as_millis()),
            );
            self.settle(Err(&error));
        }
    }
}

impl ServiceCatalog for Registry {
    fn has_service(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    fn has_action(&self, service: &str, action: &str) -> bool {
        match self.services.get(service) {
            Some(Entry { actions: Some(actions), .. }) => actions.contains(action),
            Some(Entry { actions: None, .. }) => true,
            None => false,
        }
    }
}

/// Breakers and statistics are plain data behind a mutex held for microseconds; a poisoned lock (a
/// panic elsewhere while holding it) leaves them in a valid state, so keep using them.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Never answers: the caller's deadline ends every call.
    struct Silent;

    impl Service for Silent {
        fn actions(&self) -> Option<BTreeSet<String>> {
            Some(BTreeSet::from(["ping".to_string()]))
        }

        fn call(&self, _request: ServiceRequest) -> BoxFuture<'_, ServiceResult> {
            Box::pin(futures::future::pending())
        }
    }

    fn ping(key: &str) -> ServiceRequest {
        ServiceRequest {
            action: "ping".into(),
            input: json!({}),
            idempotency_key: key.into(),
            timeout: Duration::from_millis(5),
            origin: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_call_dropped_at_the_deadline_counts_as_a_timeout_for_stats_and_breaker() {
        let mut registry = Registry::new();
        let config = BreakerConfig { failure_threshold: 1, open_ms: 100, half_open_probes: 1 };
        registry.register_with_breaker("silent", Arc::new(Silent), config);

        let call = registry.call("silent", ping("k1"), 1_000);
        assert!(tokio::time::timeout(Duration::from_millis(5), call).await.is_err(), "it never answers");
        assert_eq!(registry.breaker_state("silent", 1_000), Some(BreakerState::Open));
        let stats = registry.call_stats("silent", 1_000).unwrap();
        assert_eq!((stats.calls, stats.failures), (1, 1));
        assert_eq!(stats.recent_failures[0].kind, ErrorKind::Timeout);
        assert_eq!(stats.recent_failures[0].action, "ping");
        assert!(stats.latency_p50_ms.is_some(), "the wait until the deadline is its latency");

        // The half-open probe times out too: the breaker opens again instead of keeping the probe slot.
        let probe = registry.call("silent", ping("k2"), 1_100);
        assert!(tokio::time::timeout(Duration::from_millis(5), probe).await.is_err());
        assert_eq!(registry.breaker_state("silent", 1_100), Some(BreakerState::Open));
        assert_eq!(registry.breaker_state("silent", 1_200), Some(BreakerState::HalfOpen), "and probes again later");
    }

    #[tokio::test]
    async fn unknown_services_are_neither_called_nor_counted() {
        let registry = Registry::new();
        let error = registry.call("nope", ping("k"), 0).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Permanent);
        assert!(registry.call_stats("nope", 0).is_none());
        assert!(!registry.trip_breaker("nope") && !registry.reset_breaker("nope"));
    }
}
