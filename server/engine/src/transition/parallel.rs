//! Parallel states: branches that run side by side and join.
//!
//! Each branch advances through its own sub-graph (tasks, choices, waits, succeed, fail)
//! until it waits or ends. When a branch fails, the others stop: their timers are cancelled
//! and held calls dropped, but calls already in flight are awaited (a success is recorded so
//! it is compensated too). When no branch is active any more, the state joins
//! (`{branch: output}` at its result path) or applies its `on_failure`.

use serde_json::Value;

use crate::definition::{Branch, Definition, OnFailure, State};
use crate::effect::TimerPurpose;
use crate::error::{EngineError, Result};
use crate::event::ServiceError;
use crate::instance::{BranchStatus, Cursor, ParallelRun, Status, TaskPhase, TaskRun};

use super::flow::{fail_state_failure, no_match};
use super::task::TaskOutcome;
use super::wait::wait_until;
use super::{missing, stale, Tx};

impl<'d> Tx<'d, '_> {
    /// Moves a branch forward from `from` until it has to wait, finishes or fails.
    pub(super) fn advance_branch(
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
                    None => return Ok(BranchStatus::Failed { failure: no_match(&name) }),
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
                State::Succeed(_) => return Ok(BranchStatus::Succeeded { output: last_output }),
                State::Fail(f) => return Ok(BranchStatus::Failed { failure: fail_state_failure(&name, f) }),
                State::Parallel(_) | State::Human(_) => {
                    return Err(EngineError::Definition {
                        state: name,
                        message: "parallel and human states are not supported inside a parallel branch".into(),
                    })
                }
            }
        }
    }

    pub(super) fn find_branch_call(run: &ParallelRun, key: &str, attempt: u32) -> Option<usize> {
        run.branches.iter().position(|b| {
            matches!(&b.status, BranchStatus::Task(r)
                if r.key == key && r.attempt == attempt && r.phase == TaskPhase::InFlight)
        })
    }

    pub(super) fn parallel_step_succeeded(
        &mut self,
        mut run: ParallelRun,
        key: &str,
        attempt: u32,
        output: Value,
    ) -> Result<()> {
        let Some(i) = Self::find_branch_call(&run, key, attempt) else {
            return Err(stale("step_succeeded", format!("call '{key}' attempt {attempt} is not in flight")));
        };
        let BranchStatus::Task(task) = std::mem::replace(&mut run.branches[i].status, BranchStatus::Cancelled) else {
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

    pub(super) fn parallel_step_failed(
        &mut self,
        mut run: ParallelRun,
        key: &str,
        attempt: u32,
        error: ServiceError,
    ) -> Result<()> {
        let Some(i) = Self::find_branch_call(&run, key, attempt) else {
            return Err(stale("step_failed", format!("call '{key}' attempt {attempt} is not in flight")));
        };
        let BranchStatus::Task(task) = std::mem::replace(&mut run.branches[i].status, BranchStatus::Cancelled) else {
            return Err(stale("step_failed", "branch is not running a task"));
        };
        if run.failure.is_none() {
            let t = self.task_def(&task.state)?;
            run.branches[i].status = match self.task_failed(task, t, error) {
                TaskOutcome::Continue(r) => BranchStatus::Task(r),
                TaskOutcome::GaveUp(r, e) => BranchStatus::Failed { failure: self.step_failure(&r.state, &e)? },
            };
        }
        self.settle_parallel(run)
    }

    pub(super) fn parallel_timer_fired(&mut self, mut run: ParallelRun, timer_id: &str) -> Result<()> {
        let found = run.branches.iter().position(|b| match &b.status {
            BranchStatus::Task(TaskRun { phase: TaskPhase::BackingOff { timer_id: t, .. }, .. }) => t == timer_id,
            BranchStatus::Timer { timer_id: t, .. } => t == timer_id,
            _ => false,
        });
        let Some(i) = found else {
            return Err(stale("timer_fired", format!("timer '{timer_id}' is not pending")));
        };
        run.branches[i].status = match std::mem::replace(&mut run.branches[i].status, BranchStatus::Cancelled) {
            BranchStatus::Task(task) => {
                let t = self.task_def(&task.state)?;
                BranchStatus::Task(self.retry_fired(task, t))
            }
            BranchStatus::Timer { state, last_output, .. } => {
                let w = self.wait_def(&state)?;
                match &w.next {
                    Some(next) => {
                        let b = self.branch_def(&run.state, i)?;
                        self.advance_branch(b, next.clone(), last_output)?
                    }
                    None => BranchStatus::Succeeded { output: last_output },
                }
            }
            other => other,
        };
        self.settle_parallel(run)
    }

    /// After any branch change: stop the others if one failed, then wait, join or fail.
    pub(super) fn settle_parallel(&mut self, mut run: ParallelRun) -> Result<()> {
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
                        | BranchStatus::Task(TaskRun { phase: TaskPhase::BackingOff { timer_id, .. }, .. }) => {
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
        let active =
            run.branches.iter().any(|b| matches!(b.status, BranchStatus::Task(_) | BranchStatus::Timer { .. }));
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
}
