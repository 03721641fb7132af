//! The saga: undoing completed steps, newest first.
//!
//! Compensation starts on a failure (with `on_failure: compensate`) or a cancel. It first
//! stops what is outstanding (`Outstanding`): timers are cancelled, an open intervention is
//! closed, held calls are dropped and calls in flight are *drained* (awaited; a late success
//! is recorded and undone first). Then one compensation call runs at a time, retried per the
//! compensation policy; one that still fails opens a `compensation_failed` intervention. The
//! run ends `compensated` (failure) or `cancelled` (cancel).

use serde_json::Value;

use crate::effect::{Effect, FinalStatus, InterventionKind, TimerPurpose};
use crate::error::Result;
use crate::event::ServiceError;
use crate::instance::{
    Blocked, BranchStatus, Cause, Compensating, CompensationRun, CompensationState, Cursor, Status, TaskPhase, TaskRun,
    WaitingOn,
};
use crate::journal::Record;

use super::collect::compensation_deadline;
use super::{missing, stale, Tx};

/// Work that is outstanding in a status and must be stopped or awaited when the run is
/// cancelled or fails.
#[derive(Default)]
pub(super) struct Outstanding {
    in_flight: Vec<TaskRun>,
    timers: Vec<String>,
    intervention: Option<String>,
}

pub(super) fn outstanding(status: &Status) -> Outstanding {
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
        Status::Waiting(WaitingOn::Human { intervention_id, .. })
        | Status::NeedsIntervention(Blocked::StepFailed { intervention_id, .. }) => {
            out.intervention = Some(intervention_id.clone())
        }
        _ => {}
    }
    out
}

impl<'d> Tx<'d, '_> {
    pub(super) fn begin_compensation(&mut self, cause: Cause, out: Outstanding) -> Result<()> {
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
        self.continue_compensation(Compensating { cause, draining, current: None })
    }

    /// Starts the next compensation, or finishes when none is left.
    pub(super) fn continue_compensation(&mut self, mut c: Compensating) -> Result<()> {
        if !c.draining.is_empty() || c.current.is_some() {
            self.set_status(Status::Compensating(c));
            return Ok(());
        }
        let next = self
            .inst
            .completed
            .iter()
            .rposition(|s| matches!(&s.compensation, Some(p) if p.state == CompensationState::Pending));
        match next {
            Some(index) => {
                let run = CompensationRun { index, attempt: 1, series_attempt: 1, phase: TaskPhase::InFlight };
                self.run_compensation(&run)?;
                c.current = Some(run);
                self.set_status(Status::Compensating(c));
            }
            None => {
                let (status, fin) = match c.cause {
                    Cause::Failure(failure) => (Status::Compensated { failure }, FinalStatus::Compensated),
                    Cause::Cancel { actor, reason } => (Status::Cancelled { actor, reason }, FinalStatus::Cancelled),
                };
                self.set_status(status);
                self.emit(Effect::Finish { status: fin });
            }
        }
        Ok(())
    }

    pub(super) fn run_compensation(&mut self, run: &CompensationRun) -> Result<()> {
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
        let deadline_ms = compensation_deadline(self.now, c.timeout_ms);
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

    pub(super) fn check_compensation_call(
        &self,
        c: &Compensating,
        key: &str,
        attempt: u32,
        event: &'static str,
    ) -> Result<CompensationRun> {
        let stale_call = || stale(event, format!("compensation '{key}' attempt {attempt} is not in flight"));
        let Some(run) = &c.current else {
            return Err(stale_call());
        };
        let step_key = self.inst.completed.get(run.index).and_then(|s| s.compensation.as_ref()).map(|p| p.key.as_str());
        if step_key == Some(key) && run.attempt == attempt && run.phase == TaskPhase::InFlight {
            Ok(run.clone())
        } else {
            Err(stale_call())
        }
    }

    pub(super) fn set_compensation_state(&mut self, index: usize, state: CompensationState) {
        if let Some(p) = self.inst.completed.get_mut(index).and_then(|s| s.compensation.as_mut()) {
            p.state = state;
        }
    }

    /// The compensation call in flight succeeded: on to the next one.
    pub(super) fn compensation_succeeded(&mut self, c: Compensating, run: &CompensationRun) -> Result<()> {
        self.set_compensation_state(run.index, CompensationState::Done);
        self.continue_compensation(Compensating { current: None, ..c })
    }

    /// The backoff timer of the current compensation fired: the next attempt goes out.
    pub(super) fn compensation_timer_fired(&mut self, mut c: Compensating, timer_id: &str) -> Result<()> {
        match &c.current {
            Some(CompensationRun { phase: TaskPhase::BackingOff { timer_id: t, .. }, .. }) if t == timer_id => {
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
            _ => Err(stale("timer_fired", format!("timer '{timer_id}' is not pending"))),
        }
    }

    pub(super) fn compensation_failed(
        &mut self,
        mut c: Compensating,
        mut run: CompensationRun,
        error: ServiceError,
    ) -> Result<()> {
        let state = self.inst.completed.get(run.index).map(|s| s.state.clone()).unwrap_or_default();
        let comp = self.compensation_def(&state)?;
        let policy = self.def.compensation_policy(comp);
        if policy.should_retry(error.kind, run.series_attempt) {
            let delay_ms = policy.delay_ms(run.series_attempt, self.env.random_f64());
            let fire_at_ms = self.now.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
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
            run.phase = TaskPhase::BackingOff { timer_id, fire_at_ms, last_error: error };
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

    pub(super) fn retry_compensation(&mut self, cause: Cause, index: usize, last_attempt: u32) -> Result<()> {
        let run = CompensationRun { index, attempt: last_attempt + 1, series_attempt: 1, phase: TaskPhase::InFlight };
        self.run_compensation(&run)?;
        self.set_status(Status::Compensating(Compensating { cause, draining: Vec::new(), current: Some(run) }));
        Ok(())
    }

    pub(super) fn skip_compensation(&mut self, cause: Cause, index: usize, actor: String) -> Result<()> {
        self.set_compensation_state(index, CompensationState::Skipped { actor });
        self.continue_compensation(Compensating { cause, draining: Vec::new(), current: None })
    }

    /// A result of a call that was in flight when compensation began.
    pub(super) fn drained(
        &mut self,
        mut c: Compensating,
        key: &str,
        attempt: u32,
        output: Option<Value>,
        event: &'static str,
    ) -> Result<()> {
        let Some(i) = c.draining.iter().position(|r| r.key == key && r.attempt == attempt) else {
            return Err(stale(event, format!("call '{key}' attempt {attempt} is not in flight")));
        };
        let run = c.draining.remove(i);
        if let Some(output) = output {
            let t = self.task_def(&run.state)?;
            self.task_succeeded(&run, t, output)?;
        }
        self.continue_compensation(c)
    }
}
