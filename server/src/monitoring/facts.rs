//! Facts: what one committed transition contributes to monitoring, derived from what it writes.
//!
//! A [`Fact`] is a small, typed observation — an instance started or finished, a state entered or left,
//! a step attempt finished, an intervention opened — with the time it happened. The runtime derives the
//! facts of each transition from the engine's journal entries and the rows it writes
//! ([`facts_of_journal`], [`fact_of_step`], [`fact_of_intervention`]); the writer adds them to the
//! rollups in the same transaction. A full recomputation (`monitoring::recompute`) derives the same facts
//! from the stored journal, steps and interventions, which is how tests check the rollups.

use engine::journal::{JournalEntry, Record};
use engine::{Event, StatusKind};

use crate::store::{InterventionRow, StepRow};

/// How an instance ended, for the outcome counters. `failed` is counted when the instance comes to rest
/// failed, even if an operator later retries it to completion (then it counts as completed too, later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Completed,
    Failed,
    Compensated,
    Cancelled,
}

impl Outcome {
    fn of(status: StatusKind) -> Option<Outcome> {
        match status {
            StatusKind::Completed => Some(Outcome::Completed),
            StatusKind::Failed => Some(Outcome::Failed),
            StatusKind::Compensated => Some(Outcome::Compensated),
            StatusKind::Cancelled => Some(Outcome::Cancelled),
            StatusKind::Created
            | StatusKind::Running
            | StatusKind::Waiting
            | StatusKind::Compensating
            | StatusKind::NeedsIntervention => None,
        }
    }
}

/// One observation, with the workflow type it belongs to and when it happened (epoch ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    Started {
        workflow: String,
        at: i64,
    },
    /// Reached a final (or, for `failed`, resting) status; `duration_ms` is from creation.
    Finished {
        workflow: String,
        outcome: Outcome,
        at: i64,
        duration_ms: i64,
    },
    Entered {
        workflow: String,
        state: String,
        at: i64,
    },
    Left {
        workflow: String,
        state: String,
        at: i64,
        duration_ms: i64,
    },
    /// A finished attempt of a task (`compensation: false`) or of a compensation, at its finish time.
    Attempt {
        workflow: String,
        state: String,
        compensation: bool,
        at: i64,
        duration_ms: i64,
        /// From the transition that asked for the call to the call going out.
        queue_wait_ms: i64,
        failed: bool,
        /// Not the first attempt of its step.
        retry: bool,
    },
    InterventionOpened {
        workflow: String,
        state: String,
        at: i64,
    },
}

impl Fact {
    /// When it happened: the time bucket it is counted in.
    pub fn at(&self) -> i64 {
        match self {
            Fact::Started { at, .. }
            | Fact::Finished { at, .. }
            | Fact::Entered { at, .. }
            | Fact::Left { at, .. }
            | Fact::Attempt { at, .. }
            | Fact::InterventionOpened { at, .. } => *at,
        }
    }
}

/// The facts in one transition's journal entries: start, states entered and left, final statuses.
/// `created_at` is the instance's creation time (durations of finished instances are measured from it).
pub fn facts_of_journal(workflow: &str, created_at: i64, entries: &[JournalEntry]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for entry in entries {
        let at = entry.at_ms;
        match &entry.record {
            Record::Applied { event: Event::Started { .. } } => {
                facts.push(Fact::Started { workflow: workflow.to_string(), at });
            }
            Record::StateEntered { state, .. } => {
                facts.push(Fact::Entered { workflow: workflow.to_string(), state: state.clone(), at });
            }
            Record::StateLeft { state, duration_ms, .. } => facts.push(Fact::Left {
                workflow: workflow.to_string(),
                state: state.clone(),
                at,
                duration_ms: *duration_ms,
            }),
            Record::StatusChanged { to, .. } => {
                if let Some(outcome) = Outcome::of(*to) {
                    facts.push(Fact::Finished {
                        workflow: workflow.to_string(),
                        outcome,
                        at,
                        duration_ms: (at - created_at).max(0),
                    });
                }
            }
            Record::Applied { .. }
            | Record::TaskScheduled { .. }
            | Record::RetryScheduled { .. }
            | Record::FallbackSelected { .. }
            | Record::CompensationScheduled { .. }
            | Record::InterventionOpened { .. } => {}
        }
    }
    facts
}

/// The fact of a finished step attempt.
pub fn fact_of_step(step: &StepRow) -> Fact {
    Fact::Attempt {
        workflow: step.workflow.clone(),
        state: step.state.clone(),
        compensation: step.kind == "compensation",
        at: step.finished_at,
        duration_ms: step.duration_ms.max(0),
        queue_wait_ms: (step.started_at - step.scheduled_at).max(0),
        failed: step.outcome != "succeeded",
        retry: step.attempt > 1,
    }
}

/// The fact of an opened intervention (of an instance; SLA breaches are not counted here).
pub fn fact_of_intervention(row: &InterventionRow) -> Fact {
    Fact::InterventionOpened { workflow: row.workflow.clone(), state: row.state.clone(), at: row.opened_at }
}
