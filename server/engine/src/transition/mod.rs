//! The transition function: `(definition, instance, event, env) → (instance', journal, effects)`.
//!
//! [`apply`] is the only way an instance changes. It is pure apart from the injected
//! [`Env`]: it reads no clock, does no I/O and never panics on bad input. It works on a copy
//! of the instance, so an error leaves the caller's instance untouched.
//!
//! The body is one `match (status, event)`: every legal pair has an arm, and everything else
//! falls through to [`EngineError::IllegalEvent`]. Results that answer no outstanding call,
//! timer or intervention give [`EngineError::StaleEvent`].
//!
//! # Decisions worth knowing
//!
//! * **Idempotency keys.** A step's key is `{instance}:{state}:{seq}`, fixed before the first
//!   attempt and reused by every retry. A fallback target uses `{step key}:{service}`. A
//!   compensation uses `{key of the call that succeeded}:compensate`.
//! * **Operator retry** of a failed step keeps the step's key: the step is the same logical
//!   request, and if the last attempt timed out but did happen, the service's deduplication
//!   returns its result instead of doing the work twice. **Retry with edited input** takes a
//!   new sequence number (so a new key): a key must never be reused for a different payload.
//!   Attempt numbers keep counting so a late result of an earlier series is recognised as stale.
//! * **Fallbacks.** When the current target gives up (permanent error, retries exhausted, or
//!   circuit open), the next fallback gets its own attempt series under the same retry policy.
//!   A `circuit_open` error moves to the next fallback at once; on the last target it is
//!   retried only if the policy's `retry_on` lists it.
//! * **Compensation** undoes completed steps newest first, one call at a time, each retried
//!   per the compensation policy; one that still fails opens a `compensation_failed`
//!   intervention. Calls still in flight when compensation starts (cancel, timeout, parallel
//!   failure) are awaited first: if they succeed, they are undone too. A step whose outcome
//!   stayed unknown (it gave up after a timeout) is not compensated; compensations of steps
//!   that may time out should therefore be safe to run for work that never happened, or such
//!   steps should use `on_failure: intervention`.
//! * **Pause** holds new service calls (`RunTask`, `RunCompensation`) in the instance and
//!   releases them, with fresh deadlines, on resume. Everything else goes on: results of calls
//!   already made are applied, timers fire, interventions open. The runtime therefore delivers
//!   events to paused instances as usual. A cancel while paused drops held calls (they never
//!   ran); the compensation calls it produces are held until resume.
//! * **Workflow timeout** arms a timer at start; when it fires while running or waiting, the
//!   run fails with `workflow.timeout` and compensates. It is disarmed once the run completes,
//!   fails, compensates or needs an intervention. Task call deadlines are capped by it;
//!   compensation call deadlines are not (they run after it has passed).
//! * **Recovery** after a crash needs no event: [`outstanding_effects`](crate::recovery::outstanding_effects)
//!   rebuilds the calls in flight from the stored instance.
//!
//! # Layout
//!
//! This file holds [`start`], [`apply`], the `Tx` collector (one transition in progress:
//! the working copy of the instance, the journal entries and the effects it collects) and
//! the one exhaustive `match`. The arms hand over to methods of `Tx` defined, one job each,
//! in the submodules:
//!
//! | module | job |
//! | --- | --- |
//! | `collect` | journal notes, emitting effects (held while paused), timers, status |
//! | `lookup` | finding the states a transition needs in the definition |
//! | `flow` | starting, entering states of the top-level graph, choices, finishing |
//! | `task` | task attempts, retries with backoff, fallbacks, giving up |
//! | `parallel` | parallel states: branches, their calls and timers, the join |
//! | `wait` | `wait` timers and `human` tasks |
//! | `compensation` | the saga: awaiting calls in flight, undoing completed steps |
//! | `operator` | pause and resume, retry and skip of a failed step, intervention resolutions |

use std::collections::BTreeSet;

use serde_json::Value;

use crate::definition::Definition;
use crate::effect::Effect;
use crate::env::Env;
use crate::error::{EngineError, Result};
use crate::event::Event;
use crate::instance::{Blocked, Cause, Cursor, Instance, Status, WaitingOn};
use crate::journal::{JournalEntry, Record};

mod collect;
mod compensation;
mod flow;
mod lookup;
mod operator;
mod parallel;
mod task;
mod wait;

pub(crate) use self::collect::{compensation_deadline, task_deadline};
use self::compensation::outstanding;

/// The outcome of [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The new instance state (persist it).
    pub instance: Instance,
    /// Entries to append to the instance's journal, in order (same database transaction).
    pub journal: Vec<JournalEntry>,
    /// What to do once the above is durable.
    pub effects: Vec<Effect>,
}

/// Creates an instance and applies [`Event::Started`] to it.
///
/// The created instance's `created_at_ms` is the first `now_ms()` of `env`; a replay starts
/// from `Instance::new(def, id, journal[0].at_ms)`.
///
/// # Errors
/// [`EngineError::InvalidInput`] when the input does not satisfy the schema, or
/// [`EngineError::Definition`] for an unvalidated, broken definition.
pub fn start(def: &Definition, instance_id: &str, input: Value, env: &mut dyn Env) -> Result<Transition> {
    let now = env.now_ms();
    let inst = Instance::new(def, instance_id, now);
    apply(def, &inst, Event::Started { input }, env)
}

/// Applies one event to an instance (see the module docs).
///
/// # Errors
/// * [`EngineError::IllegalEvent`]: the event makes no sense in the current status.
/// * [`EngineError::StaleEvent`]: it answers nothing outstanding (duplicate or late delivery).
/// * [`EngineError::InvalidInput`], [`EngineError::UnknownDecision`]: bad data in the event.
/// * [`EngineError::WrongDefinition`]: `def` is not the version the instance is pinned to.
/// * [`EngineError::Definition`]: the definition is broken in a way validation reports.
pub fn apply(def: &Definition, instance: &Instance, event: Event, env: &mut dyn Env) -> Result<Transition> {
    if def.reference() != instance.definition {
        return Err(EngineError::WrongDefinition { instance: instance.definition.clone(), given: def.reference() });
    }
    let now = env.now_ms();
    let (actor, reason) = match event.actor() {
        Some((a, r)) => (Some(a.to_string()), Some(r.to_string())),
        None => (None, None),
    };
    let mut inst = instance.clone();
    inst.ensure_about();
    let mut tx = Tx {
        def,
        env,
        now,
        inst,
        journal: vec![JournalEntry { at_ms: now, actor, reason, record: Record::Applied { event: event.clone() } }],
        effects: Vec::new(),
        cancelled_timers: Vec::new(),
        entered: 0,
    };
    let before = instance.status.kind();
    tx.dispatch(event)?;
    tx.track_time_in_states();
    let after = tx.inst.status.kind();
    if before != after {
        tx.note(Record::StatusChanged { from: before, to: after });
    }
    tx.inst.updated_at_ms = now;
    let mut effects = Vec::with_capacity(tx.effects.len() + 1);
    if !tx.cancelled_timers.is_empty() {
        effects.push(Effect::CancelTimers { timer_ids: tx.cancelled_timers });
    }
    effects.extend(tx.effects);
    Ok(Transition { instance: tx.inst, journal: tx.journal, effects })
}

/// One transition in progress: the effect collector.
struct Tx<'d, 'e> {
    def: &'d Definition,
    env: &'e mut dyn Env,
    now: i64,
    inst: Instance,
    journal: Vec<JournalEntry>,
    effects: Vec<Effect>,
    cancelled_timers: Vec<String>,
    entered: u32,
}

impl Tx<'_, '_> {
    /// Keeps [`Instance::entered_at_ms`] to the states the run is now at and journals a
    /// [`Record::StateLeft`] for every state it left in this transition — including states entered and
    /// left at once (a choice, a succeed), which spend no time.
    fn track_time_in_states(&mut self) {
        let forward: BTreeSet<String> = self.inst.forward_states().into_iter().collect();
        let entered_now: Vec<String> = self
            .journal
            .iter()
            .filter_map(|entry| match &entry.record {
                Record::StateEntered { state, .. } => Some(state.clone()),
                _ => None,
            })
            .collect();
        let mut left = Vec::new();
        for (state, at) in std::mem::take(&mut self.inst.entered_at_ms) {
            if forward.contains(&state) && !entered_now.contains(&state) {
                self.inst.entered_at_ms.insert(state, at);
            } else {
                left.push((state, at));
            }
        }
        for state in entered_now {
            if forward.contains(&state) {
                self.inst.entered_at_ms.insert(state, self.now);
            } else {
                left.push((state, self.now));
            }
        }
        // A state the run is back in without entering it (an operator retry of a failed step) counts
        // from now.
        for state in forward {
            self.inst.entered_at_ms.entry(state).or_insert(self.now);
        }
        for (state, entered_at_ms) in left {
            self.note(Record::StateLeft { state, entered_at_ms, duration_ms: self.now - entered_at_ms });
        }
    }

    /// The transition table. Arms check that a result answers what is outstanding (else
    /// [`EngineError::StaleEvent`]) and hand over to one method of a submodule.
    fn dispatch(&mut self, event: Event) -> Result<()> {
        let name = event.name();
        let status = self.inst.status.clone();
        match (status, event) {
            (Status::Created, Event::Started { input }) => self.start(input),
            (_, Event::Started { .. }) => Err(self.illegal(name, "the instance has already started")),
            (Status::Created, _) => Err(self.illegal(name, "the instance has not started")),

            (status, Event::PauseRequested { actor, reason }) => self.pause(&status, actor, reason),
            (_, Event::ResumeRequested { .. }) => self.resume(),

            // --- running: a task or a parallel state -------------------------------------
            (Status::Running(Cursor::Task(run)), Event::StepSucceeded { idempotency_key, attempt, output }) => {
                self.check_call(&run, &idempotency_key, attempt, name)?;
                self.main_task_succeeded(run, output)
            }
            (Status::Running(Cursor::Task(run)), Event::StepFailed { idempotency_key, attempt, error }) => {
                self.check_call(&run, &idempotency_key, attempt, name)?;
                self.main_task_failed(run, error)
            }
            (status @ Status::Running(_), Event::TimerFired { timer_id }) if self.is_deadline(&timer_id) => {
                self.workflow_timed_out(&status)
            }
            (Status::Running(Cursor::Task(run)), Event::TimerFired { timer_id }) => {
                self.main_task_timer_fired(run, &timer_id)
            }
            (Status::Running(Cursor::Parallel(run)), Event::StepSucceeded { idempotency_key, attempt, output }) => {
                self.parallel_step_succeeded(run, &idempotency_key, attempt, output)
            }
            (Status::Running(Cursor::Parallel(run)), Event::StepFailed { idempotency_key, attempt, error }) => {
                self.parallel_step_failed(run, &idempotency_key, attempt, error)
            }
            (Status::Running(Cursor::Parallel(run)), Event::TimerFired { timer_id }) => {
                self.parallel_timer_fired(run, &timer_id)
            }

            // --- waiting ------------------------------------------------------------------
            (status @ Status::Waiting(_), Event::TimerFired { timer_id }) if self.is_deadline(&timer_id) => {
                self.workflow_timed_out(&status)
            }
            (Status::Waiting(WaitingOn::Timer { state, timer_id: t, .. }), Event::TimerFired { timer_id }) => {
                if t != timer_id {
                    return Err(stale(name, format!("timer '{timer_id}' is not pending")));
                }
                self.wait_timer_fired(&state)
            }
            (
                Status::Waiting(WaitingOn::Human { state, intervention_id, .. }),
                Event::HumanDecided { intervention_id: id, decision, data, actor, reason },
            ) => {
                if id != intervention_id {
                    return Err(stale(name, format!("intervention '{id}' is not open")));
                }
                self.human_decided(&state, &intervention_id, decision, data, actor, reason)
            }

            // --- cancel (compensates completed steps) -----------------------------------
            (
                status @ (Status::Running(_)
                | Status::Waiting(_)
                | Status::NeedsIntervention(Blocked::StepFailed { .. })
                | Status::Failed { .. }),
                Event::CancelRequested { actor, reason },
            ) => self.begin_compensation(Cause::Cancel { actor, reason }, outstanding(&status)),

            // --- compensating -----------------------------------------------------------
            (Status::Compensating(c), Event::StepSucceeded { idempotency_key, attempt, output }) => {
                self.drained(c, &idempotency_key, attempt, Some(output), name)
            }
            (Status::Compensating(c), Event::StepFailed { idempotency_key, attempt, .. }) => {
                self.drained(c, &idempotency_key, attempt, None, name)
            }
            (Status::Compensating(c), Event::CompensationSucceeded { idempotency_key, attempt }) => {
                let run = self.check_compensation_call(&c, &idempotency_key, attempt, name)?;
                self.compensation_succeeded(c, &run)
            }
            (Status::Compensating(c), Event::CompensationFailed { idempotency_key, attempt, error }) => {
                let run = self.check_compensation_call(&c, &idempotency_key, attempt, name)?;
                self.compensation_failed(c, run, error)
            }
            (Status::Compensating(c), Event::TimerFired { timer_id }) => self.compensation_timer_fired(c, &timer_id),

            // --- needs intervention: a failed step ---------------------------------------
            (
                Status::NeedsIntervention(Blocked::StepFailed { intervention_id, step, .. }),
                Event::RetryRequested { edited_input, .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.retry_step(step, edited_input)
            }
            (
                Status::NeedsIntervention(Blocked::StepFailed { intervention_id, step, .. }),
                Event::SkipRequested { output, .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.skip_step(step, output)
            }
            (
                Status::NeedsIntervention(Blocked::StepFailed { intervention_id, step, error }),
                Event::InterventionResolved { intervention_id: id, resolution, .. },
            ) => {
                if id != intervention_id {
                    return Err(stale(name, format!("intervention '{id}' is not open")));
                }
                self.close_intervention(&intervention_id);
                self.resolve_failed_step(step, error, resolution)
            }

            // --- needs intervention: a failed compensation ------------------------------
            (
                Status::NeedsIntervention(Blocked::CompensationFailed {
                    intervention_id, cause, index, attempt, ..
                }),
                Event::RetryRequested { .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.retry_compensation(cause, index, attempt)
            }
            (
                Status::NeedsIntervention(Blocked::CompensationFailed { intervention_id, cause, index, .. }),
                Event::SkipRequested { actor, .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.skip_compensation(cause, index, actor)
            }
            (
                Status::NeedsIntervention(Blocked::CompensationFailed {
                    intervention_id, cause, index, attempt, ..
                }),
                Event::InterventionResolved { intervention_id: id, resolution, actor, reason },
            ) => {
                if id != intervention_id {
                    return Err(stale(name, format!("intervention '{id}' is not open")));
                }
                self.close_intervention(&intervention_id);
                self.resolve_failed_compensation(cause, index, attempt, resolution, actor, reason)
            }

            // --- failed: an operator may retry or skip the failed step ------------------
            (Status::Failed { retry_from: Some(step), .. }, Event::RetryRequested { edited_input, .. }) => {
                self.retry_step(step, edited_input)
            }
            (Status::Failed { retry_from: Some(step), .. }, Event::SkipRequested { output, .. }) => {
                self.skip_step(step, output)
            }

            // --- everything else is illegal ---------------------------------------------
            (
                Status::Running(_)
                | Status::Waiting(_)
                | Status::Compensating(_)
                | Status::NeedsIntervention(_)
                | Status::Failed { .. }
                | Status::Completed { .. }
                | Status::Compensated { .. }
                | Status::Cancelled { .. },
                Event::StepSucceeded { .. }
                | Event::StepFailed { .. }
                | Event::TimerFired { .. }
                | Event::HumanDecided { .. }
                | Event::CompensationSucceeded { .. }
                | Event::CompensationFailed { .. }
                | Event::CancelRequested { .. }
                | Event::RetryRequested { .. }
                | Event::SkipRequested { .. }
                | Event::InterventionResolved { .. },
            ) => Err(self.illegal(name, illegal_reason(&self.inst.status, name))),
        }
    }

    fn illegal(&self, event: &'static str, reason: impl Into<String>) -> EngineError {
        EngineError::IllegalEvent { status: self.inst.status.kind(), event, reason: reason.into() }
    }
}

fn stale(event: &'static str, reason: impl Into<String>) -> EngineError {
    EngineError::StaleEvent { event, reason: reason.into() }
}

fn missing(state: &str, what: &str) -> EngineError {
    EngineError::Definition {
        state: state.to_string(),
        message: format!("expected {what}; validate the definition before running it"),
    }
}

fn illegal_reason(status: &Status, event: &str) -> String {
    let s = match status {
        Status::Completed { .. } | Status::Compensated { .. } | Status::Cancelled { .. } => "the instance has finished",
        Status::Failed { retry_from: None, .. } => {
            "the instance failed with no step to retry or skip; it can only be cancelled"
        }
        Status::Failed { .. } => "the instance failed; it can be retried, skipped or cancelled",
        Status::Running(_) | Status::Waiting(_) => {
            "nothing has failed that could be retried or skipped, and this event answers nothing outstanding"
        }
        Status::Compensating(_) => "the instance is compensating",
        Status::NeedsIntervention(_) => "the instance waits for an intervention to be resolved",
        Status::Created => "the instance has not started",
    };
    format!("{s} ({event})")
}
