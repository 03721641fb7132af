//! Effects: what the engine asks the runtime to do after a transition.
//!
//! Effects are plain data. The runtime persists the transition first (journal + instance row in
//! one database transaction) and only then carries out its effects; every effect is safe to
//! carry out more than once (calls carry idempotency keys, timers and interventions carry ids).
//! Each call effect is answered by exactly one result event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definition::Priority;

/// Why a timer exists (for display and metrics; the runtime treats all timers alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerPurpose {
    /// Backoff before a task retry.
    Retry,
    /// Backoff before a compensation retry.
    CompensationRetry,
    /// A `wait` state.
    Wait,
    /// The workflow-level timeout.
    WorkflowDeadline,
}

/// What kind of manual work an intervention is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionKind {
    /// A `human` state: answer with `HumanDecided`.
    HumanTask,
    /// A task failed finally with `on_failure: intervention`: answer with
    /// `InterventionResolved` (retry, skip, compensate, abort).
    RetriesExhausted,
    /// A compensation failed after its retries: answer with `InterventionResolved`
    /// (retry, skip, abort).
    CompensationFailed,
}

/// A terminal (or, for `failed`, resting) status reported with [`Effect::Finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalStatus {
    /// Reached a `succeed` state or an `end`.
    Completed,
    /// Stopped on a failure without compensation; an operator may still retry or cancel.
    Failed,
    /// Failed and every compensation ran.
    Compensated,
    /// Cancelled by an operator after compensating.
    Cancelled,
}

/// One thing for the runtime to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Call `service.action` and report `StepSucceeded` / `StepFailed` with the same key and
    /// attempt. If no answer arrives by `deadline_ms`, report `StepFailed` with kind `timeout`.
    /// If the service's circuit breaker refuses the call, report kind `circuit_open`.
    RunTask {
        /// Identifies the step (`{instance}:{state}:{seq}`), the same for all its attempts
        /// and targets.
        step_id: String,
        /// The task state.
        state: String,
        /// Service to call (the primary or a fallback).
        service: String,
        /// Action to call.
        action: String,
        /// Rendered input.
        input: Value,
        /// Idempotency key: fixed per step and target, reused on every retry.
        idempotency_key: String,
        /// Attempt number, unique per step (counts across targets and operator retries).
        attempt: u32,
        /// Deadline of this attempt, epoch milliseconds.
        deadline_ms: i64,
    },
    /// Call a compensation and report `CompensationSucceeded` / `CompensationFailed`.
    RunCompensation {
        /// Step being undone.
        step_id: String,
        /// Its task state.
        state: String,
        /// Service to call.
        service: String,
        /// Action to call.
        action: String,
        /// Rendered input (rendered when the step completed).
        input: Value,
        /// Idempotency key of the compensation (`{step key}:compensate`).
        idempotency_key: String,
        /// Attempt number.
        attempt: u32,
        /// Deadline of this attempt, epoch milliseconds.
        deadline_ms: i64,
    },
    /// Report `TimerFired { timer_id }` at (or after) `fire_at_ms`.
    StartTimer {
        /// Timer id.
        timer_id: String,
        /// Due time, epoch milliseconds (may be in the past: fire at once).
        fire_at_ms: i64,
        /// Why.
        purpose: TimerPurpose,
    },
    /// Forget these timers (a late `TimerFired` is rejected as stale anyway).
    CancelTimers {
        /// Timer ids.
        timer_ids: Vec<String>,
    },
    /// Put an item in the manual intervention queue.
    OpenIntervention {
        /// Intervention id (events answering it carry it).
        intervention_id: String,
        /// What kind of work.
        kind: InterventionKind,
        /// The state it concerns.
        state: String,
        /// Decisions (human tasks) or resolutions (failures) the reviewer may choose.
        decisions: Vec<String>,
        /// Team or role expected to act (human tasks; `None` means the general queue).
        assignee_group: Option<String>,
        /// Queue priority.
        priority: Priority,
        /// When it is due, epoch milliseconds.
        due_at_ms: Option<i64>,
        /// What happened / what is asked, in words.
        reason: String,
    },
    /// Close an intervention (answered, or no longer relevant). Every `OpenIntervention` is
    /// followed by exactly one `CloseIntervention`.
    CloseIntervention {
        /// Intervention id.
        intervention_id: String,
    },
    /// The instance reached a final (or resting) status.
    Finish {
        /// The status.
        status: FinalStatus,
    },
}
