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
//!   fails, compensates or needs an intervention.

use serde_json::{json, Value};

use crate::definition::{
    Branch, ChoiceState, Compensation, Definition, FailState, HumanState, OnFailure, State,
    TaskState, WaitState,
};
use crate::effect::{Effect, FinalStatus, InterventionKind, TimerPurpose};
use crate::env::Env;
use crate::error::{EngineError, Result};
use crate::event::{ErrorKind, Event, Resolution, ServiceError};
use crate::expr::Expr;
use crate::instance::{
    Blocked, BranchRun, BranchStatus, Cause, Compensating, CompensationRun, CompensationState,
    CompletedStep, Cursor, FailedStep, Failure, Instance, ParallelRun, Pause, PlannedCompensation,
    Status, TaskPhase, TaskRun, WaitingOn,
};
use crate::journal::{JournalEntry, Record};
use crate::path::{render, Path};
use crate::schema::validate_input;

/// States entered in one transition before the engine assumes an endless choice loop.
const MAX_STATES_PER_TRANSITION: u32 = 1_000;

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
pub fn start(
    def: &Definition,
    instance_id: &str,
    input: Value,
    env: &mut dyn Env,
) -> Result<Transition> {
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
pub fn apply(
    def: &Definition,
    instance: &Instance,
    event: Event,
    env: &mut dyn Env,
) -> Result<Transition> {
    if def.reference() != instance.definition {
        return Err(EngineError::WrongDefinition {
            instance: instance.definition.clone(),
            given: def.reference(),
        });
    }
    let now = env.now_ms();
    let (actor, reason) = match event.actor() {
        Some((a, r)) => (Some(a.to_string()), Some(r.to_string())),
        None => (None, None),
    };
    let mut tx = Tx {
        def,
        env,
        now,
        inst: instance.clone(),
        journal: vec![JournalEntry {
            at_ms: now,
            actor,
            reason,
            record: Record::Applied {
                event: event.clone(),
            },
        }],
        effects: Vec::new(),
        cancelled_timers: Vec::new(),
        entered: 0,
    };
    let before = instance.status.kind();
    tx.dispatch(event)?;
    let after = tx.inst.status.kind();
    if before != after {
        tx.note(Record::StatusChanged {
            from: before,
            to: after,
        });
    }
    tx.inst.updated_at_ms = now;
    let mut effects = Vec::with_capacity(tx.effects.len() + 1);
    if !tx.cancelled_timers.is_empty() {
        effects.push(Effect::CancelTimers {
            timer_ids: tx.cancelled_timers,
        });
    }
    effects.extend(tx.effects);
    Ok(Transition {
        instance: tx.inst,
        journal: tx.journal,
        effects,
    })
}

/// Work that is outstanding in a status and must be stopped or awaited when the run is
/// cancelled or fails.
#[derive(Default)]
struct Outstanding {
    in_flight: Vec<TaskRun>,
    timers: Vec<String>,
    intervention: Option<String>,
}

fn outstanding(status: &Status) -> Outstanding {
    let mut out = Outstanding::default();
    let task = |r: &TaskRun, out: &mut Outstanding| match &r.phase {
        TaskPhase::InFlight => out.in_flight.push(r.clone()),
        TaskPhase::BackingOff { timer_id, .. } => out.timers.push(timer_id.clone()),
    };
    match status {
        Status::Running(Cursor::Task(r)) => task(r, &mut out),
        Status::Running(Cursor::Parallel(p)) => {
            for b in &p.branches {
                match &b.status {
                    BranchStatus::Task(r) => task(r, &mut out),
                    BranchStatus::Timer { timer_id, .. } => out.timers.push(timer_id.clone()),
                    _ => {}
                }
            }
        }
        Status::Waiting(WaitingOn::Timer { timer_id, .. }) => out.timers.push(timer_id.clone()),
        Status::Waiting(WaitingOn::Human {
            intervention_id, ..
        })
        | Status::NeedsIntervention(Blocked::StepFailed {
            intervention_id, ..
        }) => out.intervention = Some(intervention_id.clone()),
        _ => {}
    }
    out
}

/// What became of a failed task call.
enum TaskOutcome {
    /// A retry or fallback is under way.
    Continue(TaskRun),
    /// No target left.
    GaveUp(TaskRun, ServiceError),
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

impl<'d> Tx<'d, '_> {
    // ----- the match ---------------------------------------------------------------------

    fn dispatch(&mut self, event: Event) -> Result<()> {
        let name = event.name();
        let status = self.inst.status.clone();
        match (status, event) {
            (Status::Created, Event::Started { input }) => self.start(input),
            (_, Event::Started { .. }) => {
                Err(self.illegal(name, "the instance has already started"))
            }
            (Status::Created, _) => Err(self.illegal(name, "the instance has not started")),

            (status, Event::PauseRequested { actor, reason }) => self.pause(&status, actor, reason),
            (_, Event::ResumeRequested { .. }) => self.resume(),

            // --- running: a task or a parallel state -------------------------------------
            (
                Status::Running(Cursor::Task(run)),
                Event::StepSucceeded {
                    idempotency_key,
                    attempt,
                    output,
                },
            ) => {
                self.check_call(&run, &idempotency_key, attempt, name)?;
                self.main_task_succeeded(run, output)
            }
            (
                Status::Running(Cursor::Task(run)),
                Event::StepFailed {
                    idempotency_key,
                    attempt,
                    error,
                },
            ) => {
                self.check_call(&run, &idempotency_key, attempt, name)?;
                self.main_task_failed(run, error)
            }
            (status @ Status::Running(_), Event::TimerFired { timer_id })
                if self.is_deadline(&timer_id) =>
            {
                self.workflow_timed_out(&status)
            }
            (Status::Running(Cursor::Task(run)), Event::TimerFired { timer_id }) => {
                match &run.phase {
                    TaskPhase::BackingOff { timer_id: t, .. } if *t == timer_id => {
                        let t = self.task_def(&run.state)?;
                        let run = self.retry_fired(run, t);
                        self.set_status(Status::Running(Cursor::Task(run)));
                        Ok(())
                    }
                    _ => Err(stale(name, format!("timer '{timer_id}' is not pending"))),
                }
            }
            (
                Status::Running(Cursor::Parallel(run)),
                Event::StepSucceeded {
                    idempotency_key,
                    attempt,
                    output,
                },
            ) => self.parallel_step_succeeded(run, &idempotency_key, attempt, output),
            (
                Status::Running(Cursor::Parallel(run)),
                Event::StepFailed {
                    idempotency_key,
                    attempt,
                    error,
                },
            ) => self.parallel_step_failed(run, &idempotency_key, attempt, error),
            (Status::Running(Cursor::Parallel(run)), Event::TimerFired { timer_id }) => {
                self.parallel_timer_fired(run, &timer_id)
            }

            // --- waiting ------------------------------------------------------------------
            (status @ Status::Waiting(_), Event::TimerFired { timer_id })
                if self.is_deadline(&timer_id) =>
            {
                self.workflow_timed_out(&status)
            }
            (
                Status::Waiting(WaitingOn::Timer {
                    state, timer_id: t, ..
                }),
                Event::TimerFired { timer_id },
            ) => {
                if t != timer_id {
                    return Err(stale(name, format!("timer '{timer_id}' is not pending")));
                }
                let w = self.wait_def(&state)?;
                self.follow(w.next.as_deref())
            }
            (
                Status::Waiting(WaitingOn::Human {
                    state,
                    intervention_id,
                    ..
                }),
                Event::HumanDecided {
                    intervention_id: id,
                    decision,
                    data,
                    actor,
                    reason,
                },
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
            (
                Status::Compensating(c),
                Event::StepSucceeded {
                    idempotency_key,
                    attempt,
                    output,
                },
            ) => self.drained(c, &idempotency_key, attempt, Some(output), name),
            (
                Status::Compensating(c),
                Event::StepFailed {
                    idempotency_key,
                    attempt,
                    ..
                },
            ) => self.drained(c, &idempotency_key, attempt, None, name),
            (
                Status::Compensating(c),
                Event::CompensationSucceeded {
                    idempotency_key,
                    attempt,
                },
            ) => {
                let run = self.check_compensation_call(&c, &idempotency_key, attempt, name)?;
                self.set_compensation_state(run.index, CompensationState::Done);
                self.continue_compensation(Compensating { current: None, ..c })
            }
            (
                Status::Compensating(c),
                Event::CompensationFailed {
                    idempotency_key,
                    attempt,
                    error,
                },
            ) => {
                let run = self.check_compensation_call(&c, &idempotency_key, attempt, name)?;
                self.compensation_failed(c, run, error)
            }
            (Status::Compensating(c), Event::TimerFired { timer_id }) => match &c.current {
                Some(CompensationRun {
                    phase: TaskPhase::BackingOff { timer_id: t, .. },
                    ..
                }) if *t == timer_id => {
                    let mut c = c;
                    if let Some(run) = c.current.as_mut() {
                        run.attempt += 1;
                        run.series_attempt += 1;
                        run.phase = TaskPhase::InFlight;
                        let run = run.clone();
                        self.run_compensation(&run)?;
                    }
                    self.set_status(Status::Compensating(c));
                    Ok(())
                }
                _ => Err(stale(name, format!("timer '{timer_id}' is not pending"))),
            },

            // --- needs intervention: a failed step ---------------------------------------
            (
                Status::NeedsIntervention(Blocked::StepFailed {
                    intervention_id,
                    step,
                    ..
                }),
                Event::RetryRequested { edited_input, .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.retry_step(step, edited_input)
            }
            (
                Status::NeedsIntervention(Blocked::StepFailed {
                    intervention_id,
                    step,
                    ..
                }),
                Event::SkipRequested { output, .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.skip_step(step, output)
            }
            (
                Status::NeedsIntervention(Blocked::StepFailed {
                    intervention_id,
                    step,
                    error,
                }),
                Event::InterventionResolved {
                    intervention_id: id,
                    resolution,
                    ..
                },
            ) => {
                if id != intervention_id {
                    return Err(stale(name, format!("intervention '{id}' is not open")));
                }
                self.close_intervention(&intervention_id);
                match resolution {
                    Resolution::Retry { edited_input } => self.retry_step(step, edited_input),
                    Resolution::Skip { output } => self.skip_step(step, output),
                    Resolution::Compensate => {
                        let failure = self.step_failure(&step.state, &error)?;
                        self.begin_compensation(Cause::Failure(failure), Outstanding::default())
                    }
                    Resolution::Abort => {
                        let failure = self.step_failure(&step.state, &error)?;
                        self.finish_failed(failure, Some(step))
                    }
                }
            }

            // --- needs intervention: a failed compensation ------------------------------
            (
                Status::NeedsIntervention(Blocked::CompensationFailed {
                    intervention_id,
                    cause,
                    index,
                    attempt,
                    ..
                }),
                Event::RetryRequested { .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.retry_compensation(cause, index, attempt)
            }
            (
                Status::NeedsIntervention(Blocked::CompensationFailed {
                    intervention_id,
                    cause,
                    index,
                    ..
                }),
                Event::SkipRequested { actor, .. },
            ) => {
                self.close_intervention(&intervention_id);
                self.skip_compensation(cause, index, actor)
            }
            (
                Status::NeedsIntervention(Blocked::CompensationFailed {
                    intervention_id,
                    cause,
                    index,
                    attempt,
                    ..
                }),
                Event::InterventionResolved {
                    intervention_id: id,
                    resolution,
                    actor,
                    reason,
                },
            ) => {
                if id != intervention_id {
                    return Err(stale(name, format!("intervention '{id}' is not open")));
                }
                self.close_intervention(&intervention_id);
                match resolution {
                    Resolution::Retry { .. } | Resolution::Compensate => {
                        self.retry_compensation(cause, index, attempt)
                    }
                    Resolution::Skip { .. } => self.skip_compensation(cause, index, actor),
                    Resolution::Abort => {
                        let state = self.inst.completed.get(index).map(|s| s.state.clone());
                        let failure = Failure {
                            message: format!(
                                "compensation of '{}' abandoned by {actor}: {reason}",
                                state.as_deref().unwrap_or("?")
                            ),
                            state,
                            code: "compensation.aborted".into(),
                        };
                        self.finish_failed(failure, None)
                    }
                }
            }

            // --- failed: an operator may retry or skip the failed step ------------------
            (
                Status::Failed {
                    retry_from: Some(step),
                    ..
                },
                Event::RetryRequested { edited_input, .. },
            ) => self.retry_step(step, edited_input),
            (
                Status::Failed {
                    retry_from: Some(step),
                    ..
                },
                Event::SkipRequested { output, .. },
            ) => self.skip_step(step, output),

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

    // ----- small helpers -------------------------------------------------------------------

    fn illegal(&self, event: &'static str, reason: impl Into<String>) -> EngineError {
        EngineError::IllegalEvent {
            status: self.inst.status.kind(),
            event,
            reason: reason.into(),
        }
    }

    fn note(&mut self, record: Record) {
        self.journal.push(JournalEntry {
            at_ms: self.now,
            actor: None,
            reason: None,
            record,
        });
    }

    /// Records a failure at `error` in the context (where `on_failure: goto` targets read it).
    fn set_error(&mut self, failure: &Failure) {
        Path::from_segments(vec!["error".into()]).set(&mut self.inst.context, json!(failure));
    }

    fn set_status(&mut self, status: Status) {
        let resting = matches!(
            status,
            Status::Completed { .. }
                | Status::Compensated { .. }
                | Status::Cancelled { .. }
                | Status::Failed { .. }
        );
        if resting {
            // Nothing can be held for a run that stopped; the flag would only confuse.
            self.inst.paused = None;
            self.inst.held_effects.clear();
        }
        self.inst.status = status;
    }

    /// Emits an effect; service calls are held while the instance is paused.
    fn emit(&mut self, effect: Effect) {
        let is_call = matches!(
            effect,
            Effect::RunTask { .. } | Effect::RunCompensation { .. }
        );
        if is_call && self.inst.paused.is_some() {
            self.inst.held_effects.push(effect);
        } else {
            self.effects.push(effect);
        }
    }

    /// Drops a held `RunTask` for `key`; true if there was one (the call never went out).
    fn unhold(&mut self, key: &str) -> bool {
        let pos = self.inst.held_effects.iter().position(
            |e| matches!(e, Effect::RunTask { idempotency_key, .. } if idempotency_key == key),
        );
        match pos {
            Some(i) => {
                self.inst.held_effects.remove(i);
                true
            }
            None => false,
        }
    }

    fn deadline(&self, timeout_ms: u64) -> i64 {
        let d = self
            .now
            .saturating_add(i64::try_from(timeout_ms).unwrap_or(i64::MAX));
        match self.inst.deadline_at_ms {
            Some(w) => d.min(w),
            None => d,
        }
    }

    fn start_timer(&mut self, fire_at_ms: i64, purpose: TimerPurpose) -> String {
        let timer_id = self.env.new_id();
        self.emit(Effect::StartTimer {
            timer_id: timer_id.clone(),
            fire_at_ms,
            purpose,
        });
        timer_id
    }

    fn is_deadline(&self, timer_id: &str) -> bool {
        self.inst.deadline_timer.as_deref() == Some(timer_id)
    }

    fn disarm_deadline(&mut self) {
        if let Some(t) = self.inst.deadline_timer.take() {
            self.cancelled_timers.push(t);
        }
    }

    fn close_intervention(&mut self, id: &str) {
        self.emit(Effect::CloseIntervention {
            intervention_id: id.to_string(),
        });
    }

    fn entered(&mut self, state: &str, branch: Option<&str>) -> Result<()> {
        self.entered += 1;
        if self.entered > MAX_STATES_PER_TRANSITION {
            return Err(EngineError::Definition {
                state: state.to_string(),
                message: format!(
                    "more than {MAX_STATES_PER_TRANSITION} states entered in one transition: \
                     a loop of choice states with no task, wait or human state"
                ),
            });
        }
        self.note(Record::StateEntered {
            state: state.to_string(),
            branch: branch.map(str::to_string),
        });
        Ok(())
    }

    fn result_path(state: &str, given: Option<&String>) -> Result<Path> {
        match given {
            None => Ok(Path::from_segments(vec!["steps".into(), state.to_string()])),
            Some(p) => Path::parse(p).map_err(|e| EngineError::Definition {
                state: state.to_string(),
                message: format!("result_path: {e}"),
            }),
        }
    }

    // ----- definition look-ups ----------------------------------------------------------------

    fn task_def(&self, state: &str) -> Result<&'d TaskState> {
        let def: &'d Definition = self.def;
        match def.find_state(state) {
            Some(State::Task(t)) => Ok(t),
            _ => Err(missing(state, "a task state")),
        }
    }

    fn wait_def(&self, state: &str) -> Result<&'d WaitState> {
        let def: &'d Definition = self.def;
        match def.find_state(state) {
            Some(State::Wait(w)) => Ok(w),
            _ => Err(missing(state, "a wait state")),
        }
    }

    fn human_def(&self, state: &str) -> Result<&'d HumanState> {
        let def: &'d Definition = self.def;
        match def.states.get(state) {
            Some(State::Human(h)) => Ok(h),
            _ => Err(missing(state, "a human state")),
        }
    }

    fn branch_def(&self, parallel: &str, index: usize) -> Result<&'d Branch> {
        let def: &'d Definition = self.def;
        match def.states.get(parallel) {
            Some(State::Parallel(p)) => p
                .branches
                .get(index)
                .ok_or_else(|| missing(parallel, "a parallel state with this branch")),
            _ => Err(missing(parallel, "a parallel state")),
        }
    }

    fn compensation_def(&self, state: &str) -> Result<&'d Compensation> {
        self.task_def(state)?
            .compensation
            .as_ref()
            .ok_or_else(|| missing(state, "a task with a compensation"))
    }

    // ----- starting, entering states ------------------------------------------------------------

    fn start(&mut self, input: Value) -> Result<()> {
        validate_input(self.def, &input).map_err(EngineError::InvalidInput)?;
        self.inst.context = json!({"input": input, "steps": {}});
        for key in &self.def.business_keys {
            let Ok(path) = Path::parse(key) else { continue };
            if let Some(v) = path.get(&self.inst.context) {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                self.inst.business_keys.insert(key.clone(), text);
            }
        }
        if let Some(ms) = self.def.timeouts.workflow_ms {
            let at = self.deadline(ms);
            let id = self.start_timer(at, TimerPurpose::WorkflowDeadline);
            self.inst.deadline_at_ms = Some(at);
            self.inst.deadline_timer = Some(id);
        }
        let first = self.def.start_at.clone();
        self.enter_main(first)
    }

    /// Enters a state of the top-level graph and keeps going through instantaneous states
    /// (choice) until the run has to wait for something.
    fn enter_main(&mut self, name: String) -> Result<()> {
        let def: &'d Definition = self.def;
        let mut name = name;
        loop {
            self.entered(&name, None)?;
            let Some(state) = def.states.get(&name) else {
                return Err(missing(&name, "a state of the top-level graph"));
            };
            match state {
                State::Task(t) => {
                    let run = self.new_task(&name, t);
                    self.set_status(Status::Running(Cursor::Task(run)));
                    return Ok(());
                }
                State::Choice(c) => match self.choose(&name, c)? {
                    Some(next) => name = next,
                    None => return self.fail_workflow(no_match(&name)),
                },
                State::Parallel(p) => {
                    let mut branches = Vec::with_capacity(p.branches.len());
                    for b in &p.branches {
                        let status = self.advance_branch(b, b.start_at.clone(), Value::Null)?;
                        branches.push(BranchRun {
                            name: b.name.clone(),
                            status,
                        });
                    }
                    return self.settle_parallel(ParallelRun {
                        state: name,
                        branches,
                        failure: None,
                    });
                }
                State::Wait(w) => {
                    return match wait_until(&name, w, &self.inst.context, self.now) {
                        Ok(fire_at_ms) => {
                            let timer_id = self.start_timer(fire_at_ms, TimerPurpose::Wait);
                            self.set_status(Status::Waiting(WaitingOn::Timer {
                                state: name,
                                timer_id,
                                fire_at_ms,
                            }));
                            Ok(())
                        }
                        Err(f) => self.fail_workflow(f),
                    };
                }
                State::Human(h) => {
                    self.open_human(&name, h);
                    return Ok(());
                }
                State::Succeed(s) => {
                    let output = match &s.output {
                        Some(t) => render(t, &self.inst.context),
                        None => self.inst.context["steps"].clone(),
                    };
                    return self.complete(output);
                }
                State::Fail(f) => {
                    let failure = fail_state_failure(&name, f);
                    return if f.compensate {
                        self.fail_workflow(failure)
                    } else {
                        self.finish_failed(failure, None)
                    };
                }
            }
        }
    }

    /// Goes to `next`, or completes the workflow when there is none (`end: true`).
    fn follow(&mut self, next: Option<&str>) -> Result<()> {
        match next {
            Some(n) => self.enter_main(n.to_string()),
            None => {
                let output = self.inst.context["steps"].clone();
                self.complete(output)
            }
        }
    }

    fn choose(&self, name: &str, c: &ChoiceState) -> Result<Option<String>> {
        for (i, rule) in c.choices.iter().enumerate() {
            let e = Expr::parse(&rule.condition).map_err(|e| EngineError::Definition {
                state: name.to_string(),
                message: format!("condition {}: {e}", i + 1),
            })?;
            if e.eval(&self.inst.context) {
                return Ok(Some(rule.next.clone()));
            }
        }
        Ok(c.default.clone())
    }

    fn complete(&mut self, output: Value) -> Result<()> {
        self.disarm_deadline();
        self.set_status(Status::Completed { output });
        self.emit(Effect::Finish {
            status: FinalStatus::Completed,
        });
        Ok(())
    }

    fn finish_failed(&mut self, failure: Failure, retry_from: Option<FailedStep>) -> Result<()> {
        self.disarm_deadline();
        self.set_error(&failure);
        self.set_status(Status::Failed {
            failure,
            retry_from,
        });
        self.emit(Effect::Finish {
            status: FinalStatus::Failed,
        });
        Ok(())
    }

    /// The saga default: a failure compensates the completed steps.
    fn fail_workflow(&mut self, failure: Failure) -> Result<()> {
        self.begin_compensation(Cause::Failure(failure), Outstanding::default())
    }

    fn workflow_timed_out(&mut self, status: &Status) -> Result<()> {
        // The timer fired, so there is nothing to cancel.
        self.inst.deadline_timer = None;
        let failure = Failure {
            state: self.inst.current_states().into_iter().next(),
            code: "workflow.timeout".into(),
            message: "the workflow did not finish within its timeout".into(),
        };
        self.begin_compensation(Cause::Failure(failure), outstanding(status))
    }

    // ----- tasks ---------------------------------------------------------------------------

    fn new_task(&mut self, name: &str, t: &TaskState) -> TaskRun {
        let seq = self.inst.next_seq;
        self.inst.next_seq += 1;
        let step_id = format!("{}:{}:{}", self.inst.id, name, seq);
        let template = t.input.clone().unwrap_or_else(|| json!("$.input"));
        let run = TaskRun {
            state: name.to_string(),
            step_id: step_id.clone(),
            seq,
            input: render(&template, &self.inst.context),
            target: 0,
            service: t.service.clone(),
            key: step_id,
            attempt: 1,
            target_attempt: 1,
            phase: TaskPhase::InFlight,
        };
        self.run_task(&run, t);
        run
    }

    fn run_task(&mut self, run: &TaskRun, t: &TaskState) {
        self.note(Record::TaskScheduled {
            state: run.state.clone(),
            step_id: run.step_id.clone(),
            service: run.service.clone(),
            idempotency_key: run.key.clone(),
            attempt: run.attempt,
        });
        let deadline_ms = self.deadline(t.timeout_ms);
        self.emit(Effect::RunTask {
            step_id: run.step_id.clone(),
            state: run.state.clone(),
            service: run.service.clone(),
            action: t.action.clone(),
            input: run.input.clone(),
            idempotency_key: run.key.clone(),
            attempt: run.attempt,
            deadline_ms,
        });
    }

    fn check_call(
        &self,
        run: &TaskRun,
        key: &str,
        attempt: u32,
        event: &'static str,
    ) -> Result<()> {
        if run.key == key && run.attempt == attempt && run.phase == TaskPhase::InFlight {
            Ok(())
        } else {
            Err(stale(
                event,
                format!("call '{key}' attempt {attempt} is not in flight"),
            ))
        }
    }

    /// Stores a step's output and records it for compensation.
    fn task_succeeded(&mut self, run: &TaskRun, t: &TaskState, output: Value) -> Result<()> {
        Self::result_path(&run.state, t.result_path.as_ref())?
            .set(&mut self.inst.context, output.clone());
        let compensation = t.compensation.as_ref().map(|c| PlannedCompensation {
            service: c.service.clone(),
            action: c.action.clone(),
            input: match &c.input {
                Some(tpl) => render(tpl, &self.inst.context),
                None => output.clone(),
            },
            key: format!("{}:compensate", run.key),
            state: CompensationState::Pending,
        });
        self.inst.completed.push(CompletedStep {
            state: run.state.clone(),
            step_id: run.step_id.clone(),
            key: run.key.clone(),
            service: run.service.clone(),
            completed_at_ms: self.now,
            compensation,
        });
        Ok(())
    }

    /// Retry, fallback or give up after a failed call.
    fn task_failed(&mut self, mut run: TaskRun, t: &TaskState, error: ServiceError) -> TaskOutcome {
        let more_targets = run.target < t.fallbacks.len();
        if error.kind == ErrorKind::CircuitOpen && more_targets {
            return TaskOutcome::Continue(self.next_target(run, t));
        }
        if t.retry.should_retry(error.kind, run.target_attempt) {
            let delay_ms = t.retry.delay_ms(run.target_attempt, self.env.random_f64());
            let fire_at_ms = self
                .now
                .saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
            let timer_id = self.start_timer(fire_at_ms, TimerPurpose::Retry);
            self.note(Record::RetryScheduled {
                state: run.state.clone(),
                idempotency_key: run.key.clone(),
                attempt: run.attempt,
                delay_ms,
                fire_at_ms,
            });
            run.phase = TaskPhase::BackingOff {
                timer_id,
                fire_at_ms,
                last_error: error,
            };
            return TaskOutcome::Continue(run);
        }
        if more_targets {
            return TaskOutcome::Continue(self.next_target(run, t));
        }
        TaskOutcome::GaveUp(run, error)
    }

    fn next_target(&mut self, mut run: TaskRun, t: &TaskState) -> TaskRun {
        run.target += 1;
        run.service = t.fallbacks[run.target - 1].clone();
        run.key = format!("{}:{}", run.step_id, run.service);
        run.attempt += 1;
        run.target_attempt = 1;
        run.phase = TaskPhase::InFlight;
        self.note(Record::FallbackSelected {
            state: run.state.clone(),
            service: run.service.clone(),
            idempotency_key: run.key.clone(),
        });
        self.run_task(&run, t);
        run
    }

    fn retry_fired(&mut self, mut run: TaskRun, t: &TaskState) -> TaskRun {
        run.attempt += 1;
        run.target_attempt += 1;
        run.phase = TaskPhase::InFlight;
        self.run_task(&run, t);
        run
    }

    fn main_task_succeeded(&mut self, run: TaskRun, output: Value) -> Result<()> {
        let t = self.task_def(&run.state)?;
        self.task_succeeded(&run, t, output)?;
        self.follow(t.next.as_deref())
    }

    fn main_task_failed(&mut self, run: TaskRun, error: ServiceError) -> Result<()> {
        let t = self.task_def(&run.state)?;
        match self.task_failed(run, t, error) {
            TaskOutcome::Continue(run) => {
                self.set_status(Status::Running(Cursor::Task(run)));
                Ok(())
            }
            TaskOutcome::GaveUp(run, error) => {
                let failure = self.step_failure(&run.state, &error)?;
                let step = FailedStep {
                    state: run.state.clone(),
                    step_id: run.step_id.clone(),
                    seq: run.seq,
                    input: run.input.clone(),
                    attempt: run.attempt,
                };
                match &t.on_failure {
                    OnFailure::Compensate => self.fail_workflow(failure),
                    OnFailure::Fail => self.finish_failed(failure, Some(step)),
                    OnFailure::Goto(next) => {
                        self.set_error(&failure);
                        self.enter_main(next.clone())
                    }
                    OnFailure::Intervention => {
                        let intervention_id = self.env.new_id();
                        self.emit(Effect::OpenIntervention {
                            intervention_id: intervention_id.clone(),
                            kind: InterventionKind::RetriesExhausted,
                            state: step.state.clone(),
                            decisions: ["retry", "skip", "compensate", "abort"]
                                .map(String::from)
                                .to_vec(),
                            assignee_group: None,
                            priority: crate::definition::Priority::High,
                            due_at_ms: None,
                            reason: failure.message.clone(),
                        });
                        self.note(Record::InterventionOpened {
                            intervention_id: intervention_id.clone(),
                            kind: InterventionKind::RetriesExhausted,
                        });
                        self.disarm_deadline();
                        self.set_status(Status::NeedsIntervention(Blocked::StepFailed {
                            intervention_id,
                            step,
                            error,
                        }));
                        Ok(())
                    }
                }
            }
        }
    }

    fn step_failure(&self, state: &str, error: &ServiceError) -> Result<Failure> {
        let t = self.task_def(state)?;
        Ok(Failure {
            state: Some(state.to_string()),
            code: format!("step.{}", error.kind),
            message: format!(
                "{}.{} failed ({}): {}",
                t.service, t.action, error.kind, error.message
            ),
        })
    }

    fn retry_step(&mut self, step: FailedStep, edited_input: Option<Value>) -> Result<()> {
        let t = self.task_def(&step.state)?;
        let (seq, step_id, input, attempt) = match edited_input {
            // Same logical request: same key (see the module docs).
            None => (step.seq, step.step_id, step.input, step.attempt + 1),
            // A different payload needs a key of its own.
            Some(input) => {
                let seq = self.inst.next_seq;
                self.inst.next_seq += 1;
                (
                    seq,
                    format!("{}:{}:{}", self.inst.id, step.state, seq),
                    input,
                    1,
                )
            }
        };
        let run = TaskRun {
            state: step.state,
            key: step_id.clone(),
            step_id,
            seq,
            input,
            target: 0,
            service: t.service.clone(),
            attempt,
            target_attempt: 1,
            phase: TaskPhase::InFlight,
        };
        self.run_task(&run, t);
        self.set_status(Status::Running(Cursor::Task(run)));
        Ok(())
    }

    /// The step counts as succeeded with the given output. Nothing ran, so there is nothing
    /// to compensate: the step is not added to the compensation list.
    fn skip_step(&mut self, step: FailedStep, output: Value) -> Result<()> {
        let t = self.task_def(&step.state)?;
        Self::result_path(&step.state, t.result_path.as_ref())?.set(&mut self.inst.context, output);
        if let Some(obj) = self.inst.context.as_object_mut() {
            obj.remove("error");
        }
        self.follow(t.next.as_deref())
    }

    // ----- wait and human ------------------------------------------------------------------

    fn open_human(&mut self, name: &str, h: &HumanState) {
        let intervention_id = self.env.new_id();
        let due_at_ms = h.due_in_ms.map(|d| {
            self.now
                .saturating_add(i64::try_from(d).unwrap_or(i64::MAX))
        });
        let decisions: Vec<String> = h.decisions.iter().map(|d| d.name.clone()).collect();
        self.emit(Effect::OpenIntervention {
            intervention_id: intervention_id.clone(),
            kind: InterventionKind::HumanTask,
            state: name.to_string(),
            decisions: decisions.clone(),
            assignee_group: Some(h.assignee_group.clone()),
            priority: h.priority,
            due_at_ms,
            reason: if h.title.is_empty() {
                format!("decision needed at '{name}'")
            } else {
                h.title.clone()
            },
        });
        self.note(Record::InterventionOpened {
            intervention_id: intervention_id.clone(),
            kind: InterventionKind::HumanTask,
        });
        self.set_status(Status::Waiting(WaitingOn::Human {
            state: name.to_string(),
            intervention_id,
            decisions,
            due_at_ms,
        }));
    }

    fn human_decided(
        &mut self,
        state: &str,
        intervention_id: &str,
        decision: String,
        data: Value,
        actor: String,
        reason: String,
    ) -> Result<()> {
        let h = self.human_def(state)?;
        let Some(d) = h.decisions.iter().find(|d| d.name == decision) else {
            return Err(EngineError::UnknownDecision {
                decision,
                allowed: h.decisions.iter().map(|d| d.name.clone()).collect(),
            });
        };
        let record = json!({
            "decision": decision, "data": data, "actor": actor, "reason": reason,
            "decided_at_ms": self.now,
        });
        Self::result_path(state, h.result_path.as_ref())?.set(&mut self.inst.context, record);
        self.close_intervention(intervention_id);
        self.enter_main(d.next.clone())
    }

    // ----- parallel ------------------------------------------------------------------------

    /// Moves a branch forward from `from` until it has to wait, finishes or fails.
    fn advance_branch(
        &mut self,
        branch: &'d Branch,
        from: String,
        last_output: Value,
    ) -> Result<BranchStatus> {
        let mut name = from;
        loop {
            self.entered(&name, Some(&branch.name))?;
            let Some(state) = branch.states.get(&name) else {
                return Err(missing(&name, "a state of this parallel branch"));
            };
            match state {
                State::Task(t) => return Ok(BranchStatus::Task(self.new_task(&name, t))),
                State::Choice(c) => match self.choose(&name, c)? {
                    Some(next) => name = next,
                    None => {
                        return Ok(BranchStatus::Failed {
                            failure: no_match(&name),
                        })
                    }
                },
                State::Wait(w) => {
                    return Ok(match wait_until(&name, w, &self.inst.context, self.now) {
                        Ok(fire_at_ms) => BranchStatus::Timer {
                            timer_id: self.start_timer(fire_at_ms, TimerPurpose::Wait),
                            state: name,
                            fire_at_ms,
                            last_output,
                        },
                        Err(failure) => BranchStatus::Failed { failure },
                    })
                }
                State::Succeed(_) => {
                    return Ok(BranchStatus::Succeeded {
                        output: last_output,
                    })
                }
                State::Fail(f) => {
                    return Ok(BranchStatus::Failed {
                        failure: fail_state_failure(&name, f),
                    })
                }
                State::Parallel(_) | State::Human(_) => {
                    return Err(EngineError::Definition {
                        state: name,
                        message:
                            "parallel and human states are not supported inside a parallel branch"
                                .into(),
                    })
                }
            }
        }
    }

    fn find_branch_call(run: &ParallelRun, key: &str, attempt: u32) -> Option<usize> {
        run.branches.iter().position(|b| {
            matches!(&b.status, BranchStatus::Task(r)
                if r.key == key && r.attempt == attempt && r.phase == TaskPhase::InFlight)
        })
    }

    fn parallel_step_succeeded(
        &mut self,
        mut run: ParallelRun,
        key: &str,
        attempt: u32,
        output: Value,
    ) -> Result<()> {
        let Some(i) = Self::find_branch_call(&run, key, attempt) else {
            return Err(stale(
                "step_succeeded",
                format!("call '{key}' attempt {attempt} is not in flight"),
            ));
        };
        let BranchStatus::Task(task) =
            std::mem::replace(&mut run.branches[i].status, BranchStatus::Cancelled)
        else {
            return Err(stale("step_succeeded", "branch is not running a task"));
        };
        let t = self.task_def(&task.state)?;
        self.task_succeeded(&task, t, output.clone())?;
        run.branches[i].status = if run.failure.is_some() {
            BranchStatus::Cancelled
        } else {
            match &t.next {
                Some(next) => {
                    let b = self.branch_def(&run.state, i)?;
                    self.advance_branch(b, next.clone(), output)?
                }
                None => BranchStatus::Succeeded { output },
            }
        };
        self.settle_parallel(run)
    }

    fn parallel_step_failed(
        &mut self,
        mut run: ParallelRun,
        key: &str,
        attempt: u32,
        error: ServiceError,
    ) -> Result<()> {
        let Some(i) = Self::find_branch_call(&run, key, attempt) else {
            return Err(stale(
                "step_failed",
                format!("call '{key}' attempt {attempt} is not in flight"),
            ));
        };
        let BranchStatus::Task(task) =
            std::mem::replace(&mut run.branches[i].status, BranchStatus::Cancelled)
        else {
            return Err(stale("step_failed", "branch is not running a task"));
        };
        if run.failure.is_none() {
            let t = self.task_def(&task.state)?;
            run.branches[i].status = match self.task_failed(task, t, error) {
                TaskOutcome::Continue(r) => BranchStatus::Task(r),
                TaskOutcome::GaveUp(r, e) => BranchStatus::Failed {
                    failure: self.step_failure(&r.state, &e)?,
                },
            };
        }
        self.settle_parallel(run)
    }

    fn parallel_timer_fired(&mut self, mut run: ParallelRun, timer_id: &str) -> Result<()> {
        let found = run.branches.iter().position(|b| match &b.status {
            BranchStatus::Task(TaskRun {
                phase: TaskPhase::BackingOff { timer_id: t, .. },
                ..
            }) => t == timer_id,
            BranchStatus::Timer { timer_id: t, .. } => t == timer_id,
            _ => false,
        });
        let Some(i) = found else {
            return Err(stale(
                "timer_fired",
                format!("timer '{timer_id}' is not pending"),
            ));
        };
        run.branches[i].status =
            match std::mem::replace(&mut run.branches[i].status, BranchStatus::Cancelled) {
                BranchStatus::Task(task) => {
                    let t = self.task_def(&task.state)?;
                    BranchStatus::Task(self.retry_fired(task, t))
                }
                BranchStatus::Timer {
                    state, last_output, ..
                } => {
                    let w = self.wait_def(&state)?;
                    match &w.next {
                        Some(next) => {
                            let b = self.branch_def(&run.state, i)?;
                            self.advance_branch(b, next.clone(), last_output)?
                        }
                        None => BranchStatus::Succeeded {
                            output: last_output,
                        },
                    }
                }
                other => other,
            };
        self.settle_parallel(run)
    }

    /// After any branch change: stop the others if one failed, then wait, join or fail.
    fn settle_parallel(&mut self, mut run: ParallelRun) -> Result<()> {
        if run.failure.is_none() {
            let failed = run.branches.iter().find_map(|b| match &b.status {
                BranchStatus::Failed { failure } => Some(failure.clone()),
                _ => None,
            });
            if let Some(failure) = failed {
                run.failure = Some(failure);
                for b in &mut run.branches {
                    let stop = match &b.status {
                        BranchStatus::Timer { timer_id, .. }
                        | BranchStatus::Task(TaskRun {
                            phase: TaskPhase::BackingOff { timer_id, .. },
                            ..
                        }) => {
                            self.cancelled_timers.push(timer_id.clone());
                            true
                        }
                        // A held call never went out; an in-flight one is awaited.
                        BranchStatus::Task(r) => self.unhold(&r.key),
                        _ => false,
                    };
                    if stop {
                        b.status = BranchStatus::Cancelled;
                    }
                }
            }
        }
        let active = run
            .branches
            .iter()
            .any(|b| matches!(b.status, BranchStatus::Task(_) | BranchStatus::Timer { .. }));
        if active {
            self.set_status(Status::Running(Cursor::Parallel(run)));
            return Ok(());
        }
        let def: &'d Definition = self.def;
        let Some(State::Parallel(p)) = def.states.get(&run.state) else {
            return Err(missing(&run.state, "a parallel state"));
        };
        match run.failure {
            Some(failure) => match &p.on_failure {
                OnFailure::Compensate | OnFailure::Intervention => self.fail_workflow(failure),
                OnFailure::Fail => self.finish_failed(failure, None),
                OnFailure::Goto(next) => {
                    self.set_error(&failure);
                    self.enter_main(next.clone())
                }
            },
            None => {
                let output: serde_json::Map<String, Value> = run
                    .branches
                    .into_iter()
                    .map(|b| {
                        let out = match b.status {
                            BranchStatus::Succeeded { output } => output,
                            _ => Value::Null,
                        };
                        (b.name, out)
                    })
                    .collect();
                Self::result_path(&run.state, p.result_path.as_ref())?
                    .set(&mut self.inst.context, Value::Object(output));
                self.follow(p.next.as_deref())
            }
        }
    }

    // ----- compensation ---------------------------------------------------------------------

    fn begin_compensation(&mut self, cause: Cause, out: Outstanding) -> Result<()> {
        self.cancelled_timers.extend(out.timers);
        if let Some(id) = out.intervention {
            self.close_intervention(&id);
        }
        let mut draining = Vec::new();
        for run in out.in_flight {
            if !self.unhold(&run.key) {
                draining.push(run);
            }
        }
        self.disarm_deadline();
        if let Cause::Failure(f) = &cause {
            self.set_error(f);
        }
        self.continue_compensation(Compensating {
            cause,
            draining,
            current: None,
        })
    }

    /// Starts the next compensation, or finishes when none is left.
    fn continue_compensation(&mut self, mut c: Compensating) -> Result<()> {
        if !c.draining.is_empty() || c.current.is_some() {
            self.set_status(Status::Compensating(c));
            return Ok(());
        }
        let next = self.inst.completed.iter().rposition(
            |s| matches!(&s.compensation, Some(p) if p.state == CompensationState::Pending),
        );
        match next {
            Some(index) => {
                let run = CompensationRun {
                    index,
                    attempt: 1,
                    series_attempt: 1,
                    phase: TaskPhase::InFlight,
                };
                self.run_compensation(&run)?;
                c.current = Some(run);
                self.set_status(Status::Compensating(c));
            }
            None => {
                let (status, fin) = match c.cause {
                    Cause::Failure(failure) => {
                        (Status::Compensated { failure }, FinalStatus::Compensated)
                    }
                    Cause::Cancel { actor, reason } => {
                        (Status::Cancelled { actor, reason }, FinalStatus::Cancelled)
                    }
                };
                self.set_status(status);
                self.emit(Effect::Finish { status: fin });
            }
        }
        Ok(())
    }

    fn run_compensation(&mut self, run: &CompensationRun) -> Result<()> {
        let Some(step) = self.inst.completed.get(run.index) else {
            return Err(missing("?", "a completed step to compensate"));
        };
        let Some(p) = step.compensation.clone() else {
            return Err(missing(&step.state, "a completed step with a compensation"));
        };
        let (state, step_id) = (step.state.clone(), step.step_id.clone());
        let c = self.compensation_def(&state)?;
        self.note(Record::CompensationScheduled {
            state: state.clone(),
            idempotency_key: p.key.clone(),
            attempt: run.attempt,
        });
        let deadline_ms = self.deadline(c.timeout_ms);
        self.emit(Effect::RunCompensation {
            step_id,
            state,
            service: p.service,
            action: p.action,
            input: p.input,
            idempotency_key: p.key,
            attempt: run.attempt,
            deadline_ms,
        });
        Ok(())
    }

    fn check_compensation_call(
        &self,
        c: &Compensating,
        key: &str,
        attempt: u32,
        event: &'static str,
    ) -> Result<CompensationRun> {
        let stale_call = || {
            stale(
                event,
                format!("compensation '{key}' attempt {attempt} is not in flight"),
            )
        };
        let Some(run) = &c.current else {
            return Err(stale_call());
        };
        let step_key = self
            .inst
            .completed
            .get(run.index)
            .and_then(|s| s.compensation.as_ref())
            .map(|p| p.key.as_str());
        if step_key == Some(key) && run.attempt == attempt && run.phase == TaskPhase::InFlight {
            Ok(run.clone())
        } else {
            Err(stale_call())
        }
    }

    fn set_compensation_state(&mut self, index: usize, state: CompensationState) {
        if let Some(p) = self
            .inst
            .completed
            .get_mut(index)
            .and_then(|s| s.compensation.as_mut())
        {
            p.state = state;
        }
    }

    fn compensation_failed(
        &mut self,
        mut c: Compensating,
        mut run: CompensationRun,
        error: ServiceError,
    ) -> Result<()> {
        let state = self
            .inst
            .completed
            .get(run.index)
            .map(|s| s.state.clone())
            .unwrap_or_default();
        let comp = self.compensation_def(&state)?;
        let policy = self.def.compensation_policy(comp);
        if policy.should_retry(error.kind, run.series_attempt) {
            let delay_ms = policy.delay_ms(run.series_attempt, self.env.random_f64());
            let fire_at_ms = self
                .now
                .saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
            let timer_id = self.start_timer(fire_at_ms, TimerPurpose::CompensationRetry);
            self.note(Record::RetryScheduled {
                state,
                idempotency_key: self
                    .inst
                    .completed
                    .get(run.index)
                    .and_then(|s| s.compensation.as_ref())
                    .map(|p| p.key.clone())
                    .unwrap_or_default(),
                attempt: run.attempt,
                delay_ms,
                fire_at_ms,
            });
            run.phase = TaskPhase::BackingOff {
                timer_id,
                fire_at_ms,
                last_error: error,
            };
            c.current = Some(run);
            self.set_status(Status::Compensating(c));
            return Ok(());
        }
        // Never silently dropped: a person decides.
        let intervention_id = self.env.new_id();
        self.emit(Effect::OpenIntervention {
            intervention_id: intervention_id.clone(),
            kind: InterventionKind::CompensationFailed,
            state: state.clone(),
            decisions: ["retry", "skip", "abort"].map(String::from).to_vec(),
            assignee_group: None,
            priority: crate::definition::Priority::Urgent,
            due_at_ms: None,
            reason: format!(
                "compensation {}.{} of '{state}' failed ({}): {}",
                comp.service, comp.action, error.kind, error.message
            ),
        });
        self.note(Record::InterventionOpened {
            intervention_id: intervention_id.clone(),
            kind: InterventionKind::CompensationFailed,
        });
        self.set_status(Status::NeedsIntervention(Blocked::CompensationFailed {
            intervention_id,
            cause: c.cause,
            index: run.index,
            attempt: run.attempt,
            error,
        }));
        Ok(())
    }

    fn retry_compensation(&mut self, cause: Cause, index: usize, last_attempt: u32) -> Result<()> {
        let run = CompensationRun {
            index,
            attempt: last_attempt + 1,
            series_attempt: 1,
            phase: TaskPhase::InFlight,
        };
        self.run_compensation(&run)?;
        self.set_status(Status::Compensating(Compensating {
            cause,
            draining: Vec::new(),
            current: Some(run),
        }));
        Ok(())
    }

    fn skip_compensation(&mut self, cause: Cause, index: usize, actor: String) -> Result<()> {
        self.set_compensation_state(index, CompensationState::Skipped { actor });
        self.continue_compensation(Compensating {
            cause,
            draining: Vec::new(),
            current: None,
        })
    }

    /// A result of a call that was in flight when compensation began.
    fn drained(
        &mut self,
        mut c: Compensating,
        key: &str,
        attempt: u32,
        output: Option<Value>,
        event: &'static str,
    ) -> Result<()> {
        let Some(i) = c
            .draining
            .iter()
            .position(|r| r.key == key && r.attempt == attempt)
        else {
            return Err(stale(
                event,
                format!("call '{key}' attempt {attempt} is not in flight"),
            ));
        };
        let run = c.draining.remove(i);
        if let Some(output) = output {
            let t = self.task_def(&run.state)?;
            self.task_succeeded(&run, t, output)?;
        }
        self.continue_compensation(c)
    }

    // ----- pause -----------------------------------------------------------------------------

    fn pause(&mut self, status: &Status, actor: String, reason: String) -> Result<()> {
        if self.inst.paused.is_some() {
            return Err(self.illegal("pause_requested", "the instance is already paused"));
        }
        if !matches!(
            status,
            Status::Running(_)
                | Status::Waiting(_)
                | Status::Compensating(_)
                | Status::NeedsIntervention(_)
        ) {
            return Err(self.illegal("pause_requested", "only an active instance can be paused"));
        }
        self.inst.paused = Some(Pause {
            actor,
            reason,
            at_ms: self.now,
        });
        Ok(())
    }

    fn resume(&mut self) -> Result<()> {
        if self.inst.paused.take().is_none() {
            return Err(self.illegal("resume_requested", "the instance is not paused"));
        }
        for mut effect in std::mem::take(&mut self.inst.held_effects) {
            // Deadlines start when the call really goes out.
            match &mut effect {
                Effect::RunTask {
                    state, deadline_ms, ..
                } => {
                    *deadline_ms = self.deadline(self.task_def(state)?.timeout_ms);
                }
                Effect::RunCompensation {
                    state, deadline_ms, ..
                } => {
                    *deadline_ms = self.deadline(self.compensation_def(state)?.timeout_ms);
                }
                _ => {}
            }
            self.effects.push(effect);
        }
        Ok(())
    }
}

fn stale(event: &'static str, reason: impl Into<String>) -> EngineError {
    EngineError::StaleEvent {
        event,
        reason: reason.into(),
    }
}

fn missing(state: &str, what: &str) -> EngineError {
    EngineError::Definition {
        state: state.to_string(),
        message: format!("expected {what}; validate the definition before running it"),
    }
}

fn no_match(state: &str) -> Failure {
    Failure {
        state: Some(state.to_string()),
        code: "choice.no_match".into(),
        message: "no condition matched and the choice has no default".into(),
    }
}

fn fail_state_failure(name: &str, f: &FailState) -> Failure {
    Failure {
        state: Some(name.to_string()),
        code: f.error.clone(),
        message: f.message.clone(),
    }
}

/// When a wait state's timer is due; a bad `until_path` is a failure of the run.
fn wait_until(
    name: &str,
    w: &WaitState,
    ctx: &Value,
    now: i64,
) -> std::result::Result<i64, Failure> {
    let fail = |message: String| Failure {
        state: Some(name.to_string()),
        code: "wait.bad_time".into(),
        message,
    };
    if let Some(d) = w.duration_ms {
        return Ok(now.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)));
    }
    let Some(p) = &w.until_path else {
        return Err(fail(
            "the wait state has neither duration_ms nor until_path".into(),
        ));
    };
    let path = Path::parse(p).map_err(|e| fail(format!("until_path: {e}")))?;
    match path.get(ctx).and_then(Value::as_i64) {
        Some(at) => Ok(at),
        None => Err(fail(format!(
            "'{p}' does not hold an epoch-milliseconds integer"
        ))),
    }
}

fn illegal_reason(status: &Status, event: &str) -> String {
    let s = match status {
        Status::Completed { .. } | Status::Compensated { .. } | Status::Cancelled { .. } => {
            "the instance has finished"
        }
        Status::Failed { retry_from: None, .. } => {
            "the instance failed with no step to retry or skip; it can only be cancelled"
        }
        Status::Failed { .. } => "the instance failed; it can be retried, skipped or cancelled",
        Status::Running(_) | Status::Waiting(_) => "nothing has failed that could be retried or skipped, and this event answers nothing outstanding",
        Status::Compensating(_) => "the instance is compensating",
        Status::NeedsIntervention(_) => "the instance waits for an intervention to be resolved",
        Status::Created => "the instance has not started",
    };
    format!("{s} ({event})")
}
