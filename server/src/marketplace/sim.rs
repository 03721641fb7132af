//! The framework every simulated service runs in: idempotency, simulated faults and input checks.
//!
//! A simulated service is a name, a list of actions and a [`Handler`]: an async function that applies
//! one action inside an open [`SimTx`]. [`SimService`] wraps it and implements
//! [`crate::services::Service`]:
//!
//! 1. an unknown action is a permanent error;
//! 2. the [`Faults`] of the service are drawn: the latency is slept, and an injected failure or timeout
//!    answers *before* a transaction is even opened, so it applies nothing;
//! 3. a transaction opens and claims the idempotency key in `sim_calls`. If the key was used before,
//!    the stored outcome is returned and nothing runs (`INSERT … ON CONFLICT DO NOTHING` also makes a
//!    concurrent duplicate on PostgreSQL wait for the first one to commit);
//! 4. the handler runs. Its outcome is written to `sim_calls` in the same transaction as its state
//!    changes, so a crash cannot keep one without the other:
//!    - `Ok(output)` commits and answers `output`;
//!    - [`SimError::Rejected`] (a business rule said no: credit denied, insufficient balance) rolls
//!      back whatever the handler changed — so a posting refused half-way applies nothing — and then
//!      records the refusal under the key in a transaction of its own (a refusal applies nothing, so
//!      there is no effect to keep in step with it); a repeat of the key gets the same refusal;
//!    - [`SimError::Invalid`] (bad input) and [`SimError::Sql`] roll back and record nothing: bad input
//!      is answered as a permanent error naming the field, database trouble as a retryable one.
//!
//! [`Call`] gives handlers the action, the input with typed field readers that produce
//! [`SimError::Invalid`], the idempotency key and the time.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use engine::{ErrorKind, ServiceError};

use super::faults::{Fault, Faults};
use super::sql::{self, Bind, SimDb, SimTx};
use crate::services::{Service, ServiceRequest, ServiceResult};

/// Why a simulated action did not produce an output.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The input is wrong: a missing field, a negative amount, a malformed number. Nothing is recorded.
    #[error("invalid input: `{field}` {problem}")]
    Invalid { field: String, problem: String },
    /// A business rule refused the request (`code` is stable and machine-readable, e.g.
    /// `insufficient_balance`). Recorded under the idempotency key.
    #[error("{code}: {detail}")]
    Rejected { code: &'static str, detail: String },
    /// The database failed; the call applied nothing and may be retried.
    #[error(transparent)]
    Sql(#[from] sql::Error),
}

impl SimError {
    /// Shorthand for [`SimError::Invalid`].
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        SimError::Invalid { field: field.to_string(), problem: problem.into() }
    }

    /// Shorthand for [`SimError::Rejected`].
    pub fn rejected(code: &'static str, detail: impl Into<String>) -> Self {
        SimError::Rejected { code, detail: detail.into() }
    }
}

pub type SimResult<T = Value> = Result<T, SimError>;

/// One call as a handler sees it.
pub struct Call<'a> {
    pub service: &'a str,
    pub action: &'a str,
    pub input: &'a Value,
    pub idempotency_key: &'a str,
    /// Wall-clock time of the call, epoch milliseconds.
    pub now_ms: i64,
}

impl Call<'_> {
    fn field(&self, field: &str) -> Option<&Value> {
        self.input.get(field).filter(|value| !value.is_null())
    }

    /// A required, non-empty string.
    pub fn str(&self, field: &str) -> SimResult<String> {
        self.opt_str(field)?.ok_or_else(|| SimError::invalid(field, "is required"))
    }

    /// An optional string; present but empty or not a string is invalid.
    pub fn opt_str(&self, field: &str) -> SimResult<Option<String>> {
        match self.field(field) {
            None => Ok(None),
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
            Some(Value::String(_)) => Err(SimError::invalid(field, "must not be empty")),
            Some(_) => Err(SimError::invalid(field, "must be a string")),
        }
    }

    /// An optional integer. Money is never fractional: `12.5` is refused, not rounded.
    pub fn opt_int(&self, field: &str) -> SimResult<Option<i64>> {
        match self.field(field) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| SimError::invalid(field, "must be an integer (money is in minor units)")),
        }
    }

    /// A required integer.
    pub fn int(&self, field: &str) -> SimResult<i64> {
        self.opt_int(field)?.ok_or_else(|| SimError::invalid(field, "is required"))
    }

    /// A required amount of money in minor units, zero or more.
    pub fn amount(&self, field: &str) -> SimResult<i64> {
        let value = self.int(field)?;
        if value < 0 {
            return Err(SimError::invalid(field, "must not be negative"));
        }
        Ok(value)
    }

    /// A required amount of money in minor units, more than zero.
    pub fn positive_amount(&self, field: &str) -> SimResult<i64> {
        let value = self.amount(field)?;
        if value == 0 {
            return Err(SimError::invalid(field, "must be more than zero"));
        }
        Ok(value)
    }

    /// An optional non-negative integer with a default.
    pub fn count_or(&self, field: &str, default: i64) -> SimResult<i64> {
        let value = self.opt_int(field)?.unwrap_or(default);
        if value < 0 {
            return Err(SimError::invalid(field, "must not be negative"));
        }
        Ok(value)
    }

    /// An optional boolean with a default.
    pub fn bool_or(&self, field: &str, default: bool) -> SimResult<bool> {
        match self.field(field) {
            None => Ok(default),
            Some(Value::Bool(value)) => Ok(*value),
            Some(_) => Err(SimError::invalid(field, "must be true or false")),
        }
    }

    /// A fresh id for a row this call creates. Random is fine: a repeat of the key never gets here, it
    /// is answered with the stored output, id included.
    pub fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
    }
}

/// Applies one action inside the open transaction.
pub type Handler = for<'a> fn(&'a mut SimTx, &'a Call<'a>) -> BoxFuture<'a, SimResult>;

/// A deterministic stand-in for "the world": a stable number in `0..modulus` derived from a text (an
/// id), so rules such as "a score derived from the buyer id" are the same on every run and backend.
pub fn stable_hash(text: &str, modulus: u64) -> i64 {
    // FNV-1a: tiny, stable across Rust versions (unlike `DefaultHasher`).
    let hash = text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    (hash % modulus.max(1)) as i64
}

/// A simulated service: see the module docs.
pub struct SimService {
    name: &'static str,
    actions: &'static [&'static str],
    handler: Handler,
    db: SimDb,
    faults: Arc<Faults>,
}

impl SimService {
    pub fn new(
        name: &'static str,
        actions: &'static [&'static str],
        handler: Handler,
        db: SimDb,
        faults: Arc<Faults>,
    ) -> Self {
        Self { name, actions, handler, db, faults }
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    async fn run(&self, request: ServiceRequest) -> ServiceResult {
        if !self.actions.contains(&request.action.as_str()) {
            return Err(permanent(format!("`{}` has no action `{}`", self.name, request.action)));
        }
        if request.idempotency_key.is_empty() {
            return Err(permanent("invalid input: `idempotency_key` is required"));
        }
        let (delay, fault) = self.faults.draw();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match fault {
            Fault::Fail => {
                return Err(ServiceError::new(
                    ErrorKind::Retryable,
                    format!("{} is unavailable (simulated failure)", self.name),
                ))
            }
            Fault::Timeout => {
                tokio::time::sleep(request.timeout).await;
                return Err(ServiceError::new(ErrorKind::Timeout, format!("{} did not answer", self.name)));
            }
            Fault::None | Fault::LoseReply => {}
        }
        let outcome = self.apply(&request).await;
        if fault == Fault::LoseReply && outcome.is_ok() {
            return Err(ServiceError::new(ErrorKind::Timeout, format!("{} answered too late", self.name)));
        }
        outcome
    }

    /// Claims the key, runs the handler and records its outcome, in one transaction.
    async fn apply(&self, request: &ServiceRequest) -> ServiceResult {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut tx = self.db.transaction().await.map_err(retryable)?;
        let claimed = tx
            .execute(
                "INSERT INTO sim_calls (service, idempotency_key, action, outcome, result, created_at) \
                 VALUES ($1, $2, $3, 'pending', '', $4) ON CONFLICT (service, idempotency_key) DO NOTHING",
                &[
                    Bind::text(self.name),
                    Bind::text(&request.idempotency_key),
                    Bind::text(&request.action),
                    Bind::Int(now_ms),
                ],
            )
            .await
            .map_err(retryable)?;
        if claimed == 0 {
            return self.replay(tx, request).await;
        }
        let call = Call {
            service: self.name,
            action: &request.action,
            input: &request.input,
            idempotency_key: &request.idempotency_key,
            now_ms,
        };
        let output = match (self.handler)(&mut tx, &call).await {
            Ok(output) => output,
            Err(error @ SimError::Rejected { .. }) => {
                drop(tx);
                return self.record_rejection(request, error.to_string(), now_ms).await;
            }
            Err(error @ SimError::Invalid { .. }) => return Err(permanent(error.to_string())),
            Err(SimError::Sql(error)) => return Err(retryable(error)),
        };
        tx.execute(
            "UPDATE sim_calls SET outcome = 'ok', result = $1 WHERE service = $2 AND idempotency_key = $3",
            &[Bind::Text(output.to_string()), Bind::text(self.name), Bind::text(&request.idempotency_key)],
        )
        .await
        .map_err(retryable)?;
        tx.commit().await.map_err(retryable)?;
        Ok(output)
    }

    /// Records a business refusal under the key (the handler's changes are already rolled back). If a
    /// concurrent call with the same key got there first, its outcome wins.
    async fn record_rejection(&self, request: &ServiceRequest, message: String, now_ms: i64) -> ServiceResult {
        let mut tx = self.db.transaction().await.map_err(retryable)?;
        let claimed = tx
            .execute(
                "INSERT INTO sim_calls (service, idempotency_key, action, outcome, result, created_at) \
                 VALUES ($1, $2, $3, 'rejected', $4, $5) ON CONFLICT (service, idempotency_key) DO NOTHING",
                &[
                    Bind::text(self.name),
                    Bind::text(&request.idempotency_key),
                    Bind::text(&request.action),
                    Bind::Text(message.clone()),
                    Bind::Int(now_ms),
                ],
            )
            .await
            .map_err(retryable)?;
        if claimed == 0 {
            return self.replay(tx, request).await;
        }
        tx.commit().await.map_err(retryable)?;
        Err(permanent(message))
    }

    /// Answers a repeated key with the stored outcome.
    async fn replay(&self, mut tx: SimTx, request: &ServiceRequest) -> ServiceResult {
        let row = tx
            .fetch_one(
                "SELECT action, outcome, result FROM sim_calls WHERE service = $1 AND idempotency_key = $2",
                &[Bind::text(self.name), Bind::text(&request.idempotency_key)],
            )
            .await
            .map_err(retryable)?;
        tx.rollback().await.map_err(retryable)?;
        let (action, outcome, result) =
            (row.text(0).map_err(retryable)?, row.text(1).map_err(retryable)?, row.text(2).map_err(retryable)?);
        if action != request.action {
            return Err(permanent(format!(
                "idempotency key `{}` was already used for `{}.{action}`",
                request.idempotency_key, self.name
            )));
        }
        match outcome.as_str() {
            "ok" => serde_json::from_str(&result)
                .map_err(|error| ServiceError::new(ErrorKind::Retryable, format!("stored result unreadable: {error}"))),
            _ => Err(permanent(result)),
        }
    }
}

impl Service for SimService {
    fn actions(&self) -> Option<BTreeSet<String>> {
        Some(self.actions.iter().map(|action| action.to_string()).collect())
    }

    fn call(&self, request: ServiceRequest) -> BoxFuture<'_, ServiceResult> {
        Box::pin(self.run(request))
    }
}

fn permanent(message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorKind::Permanent, message)
}

/// Database trouble is transient from the caller's point of view: nothing was applied, try again.
/// (PostgreSQL deadlocks between two postings are the common case.)
fn retryable(error: impl std::fmt::Display) -> ServiceError {
    tracing::warn!(%error, "simulated service: database error");
    ServiceError::new(ErrorKind::Retryable, format!("database error: {error}"))
}
