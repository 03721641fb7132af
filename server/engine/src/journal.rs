//! Journal entries: what a transition appends to an instance's history.
//!
//! The first entry of every transition is the applied event itself ([`Record::Applied`]);
//! the entries after it record the engine's decisions (state entered, retry scheduled, status
//! changed, ...) so the history timeline can explain *why* without re-running the engine.
//! Replaying the `Applied` events in order from [`Instance::new`](crate::instance::Instance::new)
//! with the same [`Env`](crate::env::Env) answers rebuilds the instance exactly.

use serde::{Deserialize, Serialize};

use crate::effect::InterventionKind;
use crate::event::Event;
use crate::instance::StatusKind;

/// One history entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When, epoch ms (the `Env` time of the transition).
    pub at_ms: i64,
    /// Who caused it (operator actions and human decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Why (operator actions and human decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What.
    pub record: Record,
}

/// What a journal entry records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// The event that was applied.
    Applied {
        /// The event.
        event: Event,
    },
    /// The run entered a state.
    StateEntered {
        /// State name.
        state: String,
        /// Parallel branch, if inside one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// The run left a state it had entered (moved on, finished, failed or began undoing), or entered it
    /// again. Inside a parallel state, per branch state.
    StateLeft {
        /// State name.
        state: String,
        /// When it was entered (or, after an operator retry, resumed), epoch ms.
        entered_at_ms: i64,
        /// Time spent in it: the entry's `at_ms` minus `entered_at_ms`.
        duration_ms: i64,
    },
    /// A task call was issued.
    TaskScheduled {
        /// State.
        state: String,
        /// Step id.
        step_id: String,
        /// Service.
        service: String,
        /// Idempotency key.
        idempotency_key: String,
        /// Attempt.
        attempt: u32,
    },
    /// A retry was scheduled after a failed attempt.
    RetryScheduled {
        /// State.
        state: String,
        /// Idempotency key (unchanged on retry).
        idempotency_key: String,
        /// Attempt that failed.
        attempt: u32,
        /// Chosen delay.
        delay_ms: u64,
        /// When the retry is due.
        fire_at_ms: i64,
    },
    /// A fallback service was chosen.
    FallbackSelected {
        /// State.
        state: String,
        /// The fallback service.
        service: String,
        /// Its idempotency key.
        idempotency_key: String,
    },
    /// A compensation call was issued.
    CompensationScheduled {
        /// Task state being undone.
        state: String,
        /// Idempotency key.
        idempotency_key: String,
        /// Attempt.
        attempt: u32,
    },
    /// An intervention was opened.
    InterventionOpened {
        /// Intervention id.
        intervention_id: String,
        /// Kind.
        kind: InterventionKind,
    },
    /// The status changed.
    StatusChanged {
        /// Previous status.
        from: StatusKind,
        /// New status.
        to: StatusKind,
    },
}

/// The applied events of a journal, in order (what a replay feeds back to `apply`).
pub fn applied_events(journal: &[JournalEntry]) -> impl Iterator<Item = (i64, &Event)> {
    journal.iter().filter_map(|e| match &e.record {
        Record::Applied { event } => Some((e.at_ms, event)),
        _ => None,
    })
}
