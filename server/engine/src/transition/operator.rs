//! Operator and reviewer actions: pause and resume, retry and skip of a failed step, and the
//! resolutions of failure interventions.
//!
//! Cancel is not here: it is one arm of the match that starts compensation (module
//! `compensation`). Retry keeps the failed step's key (same logical request); retry with
//! edited input takes a new sequence number and key. Pause holds new service calls in the
//! instance; resume releases them with fresh deadlines.

use serde_json::Value;

use crate::effect::Effect;
use crate::error::Result;
use crate::event::{Resolution, ServiceError};
use crate::instance::{Cause, Cursor, FailedStep, Failure, Pause, Status, TaskPhase, TaskRun};

use super::collect::compensation_deadline;
use super::compensation::Outstanding;
use super::Tx;

impl<'d> Tx<'d, '_> {
    pub(super) fn retry_step(&mut self, step: FailedStep, edited_input: Option<Value>) -> Result<()> {
        let t = self.task_def(&step.state)?;
        let (seq, step_id, input, attempt) = match edited_input {
            // Same logical request: same key (see the module docs).
            None => (step.seq, step.step_id, step.input, step.attempt + 1),
            // A different payload needs a key of its own.
            Some(input) => {
                let seq = self.inst.next_seq;
                self.inst.next_seq += 1;
                (seq, format!("{}:{}:{}", self.inst.id, step.state, seq), input, 1)
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
    pub(super) fn skip_step(&mut self, step: FailedStep, output: Value) -> Result<()> {
        let t = self.task_def(&step.state)?;
        Self::result_path(&step.state, t.result_path.as_ref())?.set(&mut self.inst.context, output);
        if let Some(obj) = self.inst.context.as_object_mut() {
            obj.remove("error");
        }
        self.follow(t.next.as_deref())
    }

    /// A reviewer resolved a `retries_exhausted` intervention (already closed by the caller).
    pub(super) fn resolve_failed_step(
        &mut self,
        step: FailedStep,
        error: ServiceError,
        resolution: Resolution,
    ) -> Result<()> {
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

    /// A reviewer resolved a `compensation_failed` intervention (already closed by the
    /// caller). `Compensate` means the same as `Retry` here.
    pub(super) fn resolve_failed_compensation(
        &mut self,
        cause: Cause,
        index: usize,
        attempt: u32,
        resolution: Resolution,
        actor: String,
        reason: String,
    ) -> Result<()> {
        match resolution {
            Resolution::Retry { .. } | Resolution::Compensate => self.retry_compensation(cause, index, attempt),
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

    pub(super) fn pause(&mut self, status: &Status, actor: String, reason: String) -> Result<()> {
        if self.inst.paused.is_some() {
            return Err(self.illegal("pause_requested", "the instance is already paused"));
        }
        if !matches!(
            status,
            Status::Running(_) | Status::Waiting(_) | Status::Compensating(_) | Status::NeedsIntervention(_)
        ) {
            return Err(self.illegal("pause_requested", "only an active instance can be paused"));
        }
        self.inst.paused = Some(Pause { actor, reason, at_ms: self.now });
        Ok(())
    }

    pub(super) fn resume(&mut self) -> Result<()> {
        if self.inst.paused.take().is_none() {
            return Err(self.illegal("resume_requested", "the instance is not paused"));
        }
        for mut effect in std::mem::take(&mut self.inst.held_effects) {
            // Deadlines start when the call really goes out.
            match &mut effect {
                Effect::RunTask { state, deadline_ms, .. } => {
                    *deadline_ms = self.deadline(self.task_def(state)?.timeout_ms);
                }
                Effect::RunCompensation { state, deadline_ms, .. } => {
                    *deadline_ms = compensation_deadline(self.now, self.compensation_def(state)?.timeout_ms);
                }
                _ => {}
            }
            self.effects.push(effect);
        }
        Ok(())
    }
}
