//! [`RecordingService`]: an in-process service that remembers every call.
//!
//! It behaves like a well-made real service: the first successful call with an idempotency key is
//! *applied* and its result kept; a later call with the same key returns that result and applies
//! nothing. Failed calls apply nothing, so a retry with the same key may apply later. What it does for a
//! request is up to its behaviour function (by default: succeed with `{"action": …, "ok": true}`).
//! Tests and the benchmark use it to count effects exactly.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Service, ServiceRequest, ServiceResult};

/// Decides the outcome of a first (not yet applied) call.
pub type Behaviour = Arc<dyn Fn(&ServiceRequest) -> ServiceResult + Send + Sync>;

/// One call as the service saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedCall {
    pub action: String,
    pub idempotency_key: String,
    pub input: Value,
    /// Whether this call applied the effect (the first success for its key).
    pub applied: bool,
    /// Whether it failed.
    pub failed: bool,
}

#[derive(Default)]
struct Log {
    calls: Vec<RecordedCall>,
    results: HashMap<String, Value>,
}

/// See the module docs.
pub struct RecordingService {
    actions: BTreeSet<String>,
    behaviour: Behaviour,
    log: Mutex<Log>,
}

impl RecordingService {
    /// A service offering `actions`, each succeeding at once.
    pub fn new(actions: &[&str]) -> Self {
        Self::with_behaviour(actions, |request| Ok(json!({ "action": request.action, "ok": true })))
    }

    /// A service whose first calls are answered by `behaviour`.
    pub fn with_behaviour(
        actions: &[&str],
        behaviour: impl Fn(&ServiceRequest) -> ServiceResult + Send + Sync + 'static,
    ) -> Self {
        Self {
            actions: actions.iter().map(|a| a.to_string()).collect(),
            behaviour: Arc::new(behaviour),
            log: Mutex::new(Log::default()),
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// How many times each idempotency key was applied (a correct runtime never exceeds 1).
    pub fn applied_per_key(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for call in self.lock().calls.iter().filter(|c| c.applied) {
            *counts.entry(call.idempotency_key.clone()).or_insert(0) += 1;
        }
        counts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn handle(&self, request: ServiceRequest) -> ServiceResult {
        let mut log = self.lock();
        if let Some(previous) = log.results.get(&request.idempotency_key).cloned() {
            log.calls.push(RecordedCall {
                action: request.action,
                idempotency_key: request.idempotency_key,
                input: request.input,
                applied: false,
                failed: false,
            });
            return Ok(previous);
        }
        let outcome = (self.behaviour)(&request);
        if let Ok(output) = &outcome {
            log.results.insert(request.idempotency_key.clone(), output.clone());
        }
        log.calls.push(RecordedCall {
            action: request.action,
            idempotency_key: request.idempotency_key,
            input: request.input,
            applied: outcome.is_ok(),
            failed: outcome.is_err(),
        });
        outcome
    }
}

impl Service for RecordingService {
    fn actions(&self) -> Option<BTreeSet<String>> {
        Some(self.actions.clone())
    }

    fn call(&self, request: ServiceRequest) -> BoxFuture<'_, ServiceResult> {
        let outcome = self.handle(request);
        Box::pin(async move { outcome })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use engine::{ErrorKind, ServiceError};

    use super::*;

    fn request(key: &str) -> ServiceRequest {
        ServiceRequest {
            action: "charge".into(),
            input: json!({"amount": 5}),
            idempotency_key: key.into(),
            timeout: Duration::from_secs(1),
            origin: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_repeated_key_returns_the_first_result_and_applies_nothing() {
        let counter = std::sync::atomic::AtomicU64::new(0);
        let service = RecordingService::with_behaviour(&["charge"], move |_| {
            Ok(json!({"charge": counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst)}))
        });
        let first = service.call(request("k1")).await.unwrap();
        let again = service.call(request("k1")).await.unwrap();
        let other = service.call(request("k2")).await.unwrap();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!(service.applied_per_key(), HashMap::from([("k1".into(), 1), ("k2".into(), 1)]));
        assert_eq!(service.calls().len(), 3);
    }

    #[tokio::test]
    async fn failures_apply_nothing_so_a_retry_can_apply() {
        let attempts = std::sync::atomic::AtomicU64::new(0);
        let service = RecordingService::with_behaviour(&["charge"], move |_| {
            if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Err(ServiceError::new(ErrorKind::Retryable, "busy"))
            } else {
                Ok(json!("charged"))
            }
        });
        assert!(service.call(request("k")).await.is_err());
        assert_eq!(service.call(request("k")).await.unwrap(), json!("charged"));
        assert_eq!(service.applied_per_key()["k"], 1);
    }
}
