//! Events: past-tense facts that are applied to an instance.
//!
//! The runtime turns everything that happens into an [`Event`] and hands it to
//! [`apply`](crate::transition::apply): a service call's outcome (`StepSucceeded`,
//! `StepFailed`), a timer (`TimerFired`), a reviewer's decision (`HumanDecided`,
//! `InterventionResolved`) and operator commands recorded as facts (`CancelRequested`, ...),
//! which carry the actor and the reason for the audit trail.
//!
//! Results name the call they answer by its idempotency key and attempt number, copied from the
//! [`Effect`](crate::effect::Effect) that asked for it. A result that does not answer an
//! outstanding call is rejected with [`EngineError::StaleEvent`](crate::error::EngineError),
//! which the runtime may safely drop (at-least-once delivery).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a service call failed. The runtime classifies errors; the retry policy decides on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A transient error (overload, 5xx, connection reset): trying again may work.
    Retryable,
    /// The request is wrong or refused (4xx, business rule): trying again will not help.
    Permanent,
    /// No answer within the attempt's deadline; the outcome is unknown.
    Timeout,
    /// The runtime's circuit breaker refused the call without making it.
    CircuitOpen,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Timeout => "timeout",
            ErrorKind::CircuitOpen => "circuit_open",
        })
    }
}

/// A classified service error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceError {
    /// Classification.
    pub kind: ErrorKind,
    /// What the service (or the runtime) said.
    pub message: String,
}

impl ServiceError {
    /// Shorthand constructor.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError { kind, message: message.into() }
    }
}

/// How a reviewer resolved a failure intervention (`retries_exhausted` or
/// `compensation_failed`). Human tasks are answered with [`Event::HumanDecided`] instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Resolution {
    /// Run the failed step (or compensation) again; see [`Event::RetryRequested`].
    Retry {
        /// Replacement input for the step (ignored for compensations).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edited_input: Option<Value>,
    },
    /// Treat the failed step as succeeded with this output (for a compensation: treat it as
    /// done by hand, output ignored).
    Skip {
        /// The step's output.
        #[serde(default)]
        output: Value,
    },
    /// Give up on the step and compensate the completed steps (for a compensation: retry it).
    Compensate,
    /// Stop here with status `failed`, without (further) compensation.
    Abort,
}

/// A fact applied to an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The instance was started with this input (validated against the input schema).
    Started {
        /// Workflow input.
        input: Value,
    },
    /// A task call returned successfully.
    StepSucceeded {
        /// Key of the call (from `RunTask`).
        idempotency_key: String,
        /// Attempt number of the call (from `RunTask`).
        attempt: u32,
        /// The service's output.
        output: Value,
    },
    /// A task call failed.
    StepFailed {
        /// Key of the call.
        idempotency_key: String,
        /// Attempt number of the call.
        attempt: u32,
        /// The classified error.
        error: ServiceError,
    },
    /// A timer started with `StartTimer` is due.
    TimerFired {
        /// The timer's id.
        timer_id: String,
    },
    /// A reviewer decided a human task.
    HumanDecided {
        /// The intervention the decision answers.
        intervention_id: String,
        /// One of the state's allowed decisions.
        decision: String,
        /// Data entered with the decision (stored in the context).
        #[serde(default)]
        data: Value,
        /// Who decided.
        actor: String,
        /// Why.
        reason: String,
    },
    /// A compensation call returned successfully.
    CompensationSucceeded {
        /// Key of the call (from `RunCompensation`).
        idempotency_key: String,
        /// Attempt number.
        attempt: u32,
    },
    /// A compensation call failed.
    CompensationFailed {
        /// Key of the call.
        idempotency_key: String,
        /// Attempt number.
        attempt: u32,
        /// The classified error.
        error: ServiceError,
    },
    /// An operator cancelled the instance (completed steps are compensated).
    CancelRequested {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// An operator asked to run the failed step again.
    RetryRequested {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
        /// Replacement for the step's input (the rendered input of the failed step).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edited_input: Option<Value>,
    },
    /// An operator skipped the failed step, supplying its output.
    SkipRequested {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
        /// Output stored as if the step had returned it.
        #[serde(default)]
        output: Value,
    },
    /// An operator paused the instance: no new service calls until resumed.
    PauseRequested {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// An operator resumed a paused instance.
    ResumeRequested {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// A reviewer resolved a failure intervention.
    InterventionResolved {
        /// The intervention.
        intervention_id: String,
        /// What to do.
        resolution: Resolution,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
}

impl Event {
    /// The event's type name as serialized (`step_succeeded`).
    pub fn name(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::StepSucceeded { .. } => "step_succeeded",
            Event::StepFailed { .. } => "step_failed",
            Event::TimerFired { .. } => "timer_fired",
            Event::HumanDecided { .. } => "human_decided",
            Event::CompensationSucceeded { .. } => "compensation_succeeded",
            Event::CompensationFailed { .. } => "compensation_failed",
            Event::CancelRequested { .. } => "cancel_requested",
            Event::RetryRequested { .. } => "retry_requested",
            Event::SkipRequested { .. } => "skip_requested",
            Event::PauseRequested { .. } => "pause_requested",
            Event::ResumeRequested { .. } => "resume_requested",
            Event::InterventionResolved { .. } => "intervention_resolved",
        }
    }

    /// `(actor, reason)` for events caused by a person.
    pub fn actor(&self) -> Option<(&str, &str)> {
        match self {
            Event::HumanDecided { actor, reason, .. }
            | Event::CancelRequested { actor, reason }
            | Event::RetryRequested { actor, reason, .. }
            | Event::SkipRequested { actor, reason, .. }
            | Event::PauseRequested { actor, reason }
            | Event::ResumeRequested { actor, reason }
            | Event::InterventionResolved { actor, reason, .. } => Some((actor.as_str(), reason.as_str())),
            Event::Started { .. }
            | Event::StepSucceeded { .. }
            | Event::StepFailed { .. }
            | Event::TimerFired { .. }
            | Event::CompensationSucceeded { .. }
            | Event::CompensationFailed { .. } => None,
        }
    }
}
