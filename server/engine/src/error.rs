//! Errors of [`apply`](crate::transition::apply).
//!
//! Every error leaves the instance untouched: `apply` works on a copy and only returns it on
//! success, so the runtime can reject the event and keep the stored state.

use crate::definition::DefinitionRef;
use crate::instance::StatusKind;
use crate::schema::FieldProblem;

/// Why an event could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The event makes no sense in the instance's status (e.g. `RetryRequested` on a completed
    /// instance). The runtime should report it to whoever sent the event.
    #[error("event '{event}' is not allowed while the instance is {status}: {reason}")]
    IllegalEvent {
        /// Status at the time.
        status: StatusKind,
        /// Event type name.
        event: &'static str,
        /// Explanation.
        reason: String,
    },
    /// The event answers a call, timer or intervention that is not outstanding (a duplicate or
    /// late delivery). Safe to drop.
    #[error("stale event '{event}': {reason}")]
    StaleEvent {
        /// Event type name.
        event: &'static str,
        /// Explanation.
        reason: String,
    },
    /// `Started` with an input that does not satisfy the input schema.
    #[error("invalid workflow input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<FieldProblem>),
    /// A human decision that the state does not allow.
    #[error("decision '{decision}' is not allowed here; allowed: {}", allowed.join(", "))]
    UnknownDecision {
        /// The decision given.
        decision: String,
        /// The allowed ones.
        allowed: Vec<String>,
    },
    /// The definition passed is not the version the instance is pinned to.
    #[error("instance runs {instance} but definition {given} was passed")]
    WrongDefinition {
        /// The instance's version.
        instance: DefinitionRef,
        /// The version passed.
        given: DefinitionRef,
    },
    /// The definition is inconsistent in a way validation would have reported (unknown state,
    /// bad condition, endless choice loop). Validate definitions before accepting them.
    #[error("definition problem at state '{state}': {message}")]
    Definition {
        /// State concerned.
        state: String,
        /// What is wrong.
        message: String,
    },
}

/// Result type of the transition function.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
