//! Definition look-ups: the task, wait, human, branch or compensation a transition needs.
//!
//! A state that is missing or of the wrong kind means the definition was not validated; it
//! is reported as [`EngineError::Definition`](crate::error::EngineError::Definition), never a
//! panic.

use crate::definition::{Branch, Compensation, Definition, HumanState, State, TaskState, WaitState};
use crate::error::Result;

use super::{missing, Tx};

impl<'d> Tx<'d, '_> {
    pub(super) fn task_def(&self, state: &str) -> Result<&'d TaskState> {
        let def: &'d Definition = self.def;
        match def.find_state(state) {
            Some(State::Task(t)) => Ok(t),
            _ => Err(missing(state, "a task state")),
        }
    }

    pub(super) fn wait_def(&self, state: &str) -> Result<&'d WaitState> {
        let def: &'d Definition = self.def;
        match def.find_state(state) {
            Some(State::Wait(w)) => Ok(w),
            _ => Err(missing(state, "a wait state")),
        }
    }

    pub(super) fn human_def(&self, state: &str) -> Result<&'d HumanState> {
        let def: &'d Definition = self.def;
        match def.states.get(state) {
            Some(State::Human(h)) => Ok(h),
            _ => Err(missing(state, "a human state")),
        }
    }

    pub(super) fn branch_def(&self, parallel: &str, index: usize) -> Result<&'d Branch> {
        let def: &'d Definition = self.def;
        match def.states.get(parallel) {
            Some(State::Parallel(p)) => {
                p.branches.get(index).ok_or_else(|| missing(parallel, "a parallel state with this branch"))
            }
            _ => Err(missing(parallel, "a parallel state")),
        }
    }

    pub(super) fn compensation_def(&self, state: &str) -> Result<&'d Compensation> {
        self.task_def(state)?.compensation.as_ref().ok_or_else(|| missing(state, "a task with a compensation"))
    }
}
