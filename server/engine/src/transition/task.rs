//! Task steps: attempts, retries with backoff, fallbacks, and giving up.
//!
//! A step gets its key (`{instance}:{state}:{seq}`) before its first attempt; every retry
//! reuses it, a fallback target uses `{step key}:{service}`. A failed call is retried per the
//! task's policy, then the next fallback gets its own attempt series; when no target is left
//! the step gives up and, for a top-level task, `on_failure` decides (compensate, fail, go to
//! a state, or open a `retries_exhausted` intervention). Parallel branches share the attempt
//! logic (`TaskOutcome`) but handle giving up themselves.

use serde_json::{json, Value};

use crate::definition::{OnFailure, TaskState};
use crate::effect::{Effect, InterventionKind, TimerPurpose};
use crate::error::Result;
use crate::event::{ErrorKind, ServiceError};
use crate::instance::{
    Blocked, CompensationState, CompletedStep, Cursor, FailedStep, Failure, PlannedCompensation, Status, TaskPhase,
    TaskRun,
};
use crate::journal::Record;
use crate::path::render;

use super::{stale, Tx};

/// What became of a failed task call.
pub(super) enum TaskOutcome {
    /// A retry or fallback is under way.
    Continue(TaskRun),
    /// No target left.
    GaveUp(TaskRun, ServiceError),
}

impl<'d> Tx<'d, '_> {
    pub(super) fn new_task(&mut self, name: &str, t: &TaskState) -> TaskRun {
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

    pub(super) fn run_task(&mut self, run: &TaskRun, t: &TaskState) {
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

    pub(super) fn check_call(&self, run: &TaskRun, key: &str, attempt: u32, event: &'static str) -> Result<()> {
        if run.key == key && run.attempt == attempt && run.phase == TaskPhase::InFlight {
            Ok(())
        } else {
            Err(stale(event, format!("call '{key}' attempt {attempt} is not in flight")))
        }
    }

    /// Stores a step's output and records it for compensation.
    pub(super) fn task_succeeded(&mut self, run: &TaskRun, t: &TaskState, output: Value) -> Result<()> {
        Self::result_path(&run.state, t.result_path.as_ref())?.set(&mut self.inst.context, output.clone());
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
    pub(super) fn task_failed(&mut self, mut run: TaskRun, t: &TaskState, error: ServiceError) -> TaskOutcome {
        let more_targets = run.target < t.fallbacks.len();
        if error.kind == ErrorKind::CircuitOpen && more_targets {
            return TaskOutcome::Continue(self.next_target(run, t));
        }
        if t.retry.should_retry(error.kind, run.target_attempt) {
            let delay_ms = t.retry.delay_ms(run.target_attempt, self.env.random_f64());
            let fire_at_ms = self.now.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
            let timer_id = self.start_timer(fire_at_ms, TimerPurpose::Retry);
            self.note(Record::RetryScheduled {
                state: run.state.clone(),
                idempotency_key: run.key.clone(),
                attempt: run.attempt,
                delay_ms,
                fire_at_ms,
            });
            run.phase = TaskPhase::BackingOff { timer_id, fire_at_ms, last_error: error };
            return TaskOutcome::Continue(run);
        }
        if more_targets {
            return TaskOutcome::Continue(self.next_target(run, t));
        }
        TaskOutcome::GaveUp(run, error)
    }

    pub(super) fn next_target(&mut self, mut run: TaskRun, t: &TaskState) -> TaskRun {
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

    pub(super) fn retry_fired(&mut self, mut run: TaskRun, t: &TaskState) -> TaskRun {
        run.attempt += 1;
        run.target_attempt += 1;
        run.phase = TaskPhase::InFlight;
        self.run_task(&run, t);
        run
    }

    pub(super) fn main_task_succeeded(&mut self, run: TaskRun, output: Value) -> Result<()> {
        let t = self.task_def(&run.state)?;
        self.task_succeeded(&run, t, output)?;
        self.follow(t.next.as_deref())
    }

    /// The backoff timer of the task fired: the next attempt goes out.
    pub(super) fn main_task_timer_fired(&mut self, run: TaskRun, timer_id: &str) -> Result<()> {
        match &run.phase {
            TaskPhase::BackingOff { timer_id: t, .. } if t == timer_id => {
                let t = self.task_def(&run.state)?;
                let run = self.retry_fired(run, t);
                self.set_status(Status::Running(Cursor::Task(run)));
                Ok(())
            }
            _ => Err(stale("timer_fired", format!("timer '{timer_id}' is not pending"))),
        }
    }

    pub(super) fn main_task_failed(&mut self, run: TaskRun, error: ServiceError) -> Result<()> {
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
                            decisions: ["retry", "skip", "compensate", "abort"].map(String::from).to_vec(),
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

    pub(super) fn step_failure(&self, state: &str, error: &ServiceError) -> Result<Failure> {
        let t = self.task_def(state)?;
        Ok(Failure {
            state: Some(state.to_string()),
            code: format!("step.{}", error.kind),
            message: format!("{}.{} failed ({}): {}", t.service, t.action, error.kind, error.message),
        })
    }
}
