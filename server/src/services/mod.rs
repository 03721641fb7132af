//! Services: what workflow tasks call.
//!
//! Every service sits behind one async interface, [`Service`]: an action name, a JSON input, an
//! idempotency key and a deadline in; a JSON output or a classified [`ServiceError`] out
//! (retryable, permanent, timeout). Services deduplicate on the key: a repeated key returns the first
//! result and changes nothing (architecture invariant 4).
//!
//! The [`Registry`] names the services, says which actions each offers (the engine's
//! `ServiceCatalog`, used to validate definitions), and keeps one circuit breaker per service.
//!
//! - [`http`]: [`HttpService`], a real service over HTTP (POST JSON with an `Idempotency-Key` header).
//! - [`recording`]: [`RecordingService`], an in-process service that records every call, for tests and
//!   the benchmark.

pub mod http;
pub mod recording;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use engine::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use engine::{ErrorKind, ServiceCatalog, ServiceError};

pub use http::HttpService;
pub use recording::RecordingService;

/// One call of a service action.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRequest {
    pub action: String,
    pub input: Value,
    /// Fixed before the first attempt and the same on every retry.
    pub idempotency_key: String,
    /// How long the caller waits for an answer.
    pub timeout: Duration,
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

/// A service with its breaker.
struct Entry {
    service: Arc<dyn Service>,
    actions: Option<BTreeSet<String>>,
    breaker: Mutex<CircuitBreaker>,
}

/// The named services a runtime can call. Build it once at start; it is shared read-only after that
/// (breaker states change inside).
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
        let breaker = Mutex::new(CircuitBreaker::new(breaker));
        self.services.insert(name.into(), Entry { service, actions, breaker });
        self
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// Calls `service.action` through its circuit breaker. An open breaker answers at once with a
    /// `circuit_open` error and does not call the service.
    pub async fn call(&self, service: &str, request: ServiceRequest, now_ms: i64) -> ServiceResult {
        let Some(entry) = self.services.get(service) else {
            return Err(ServiceError::new(ErrorKind::Permanent, format!("no service named `{service}`")));
        };
        if !lock(&entry.breaker).allow(now_ms) {
            return Err(ServiceError::new(
                ErrorKind::CircuitOpen,
                format!("the circuit breaker of `{service}` is open"),
            ));
        }
        let outcome = entry.service.call(request).await;
        let mut breaker = lock(&entry.breaker);
        match &outcome {
            Ok(_) => breaker.record_success(now_ms),
            // A permanent error is the caller's fault (bad input), not a sign the service is unwell.
            Err(error) if error.kind == ErrorKind::Permanent => breaker.record_success(now_ms),
            Err(_) => breaker.record_failure(now_ms),
        }
        outcome
    }

    /// The breaker state of a service right now.
    pub fn breaker_state(&self, service: &str, now_ms: i64) -> Option<BreakerState> {
        self.services.get(service).map(|entry| lock(&entry.breaker).state(now_ms))
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

/// Breakers are plain data behind a mutex held for microseconds; a poisoned lock (a panic elsewhere
/// while holding it) leaves the breaker in a valid state, so keep using it.
fn lock(breaker: &Mutex<CircuitBreaker>) -> std::sync::MutexGuard<'_, CircuitBreaker> {
    breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
