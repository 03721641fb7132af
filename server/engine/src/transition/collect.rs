//! The collector half of `Tx`: everything a transition records besides the new status.
//!
//! Journal notes (`Record`s), effects (service calls are held in the instance while it is
//! paused), timers, closing interventions, the workflow deadline, status changes (a resting
//! status clears the pause flag and held calls) and the guard against endless choice loops.
//! The other submodules decide *what* happens; they record it through these helpers.

use serde_json::json;

use crate::effect::{Effect, TimerPurpose};
use crate::error::{EngineError, Result};
use crate::instance::{Failure, Status};
use crate::journal::{JournalEntry, Record};
use crate::path::Path;

use super::Tx;

/// States entered in one transition before the engine assumes an endless choice loop.
const MAX_STATES_PER_TRANSITION: u32 = 1_000;

impl<'d> Tx<'d, '_> {
    pub(super) fn note(&mut self, record: Record) {
        self.journal.push(JournalEntry { at_ms: self.now, actor: None, reason: None, record });
    }

    /// Records a failure at `error` in the context (where `on_failure: goto` targets read it).
    pub(super) fn set_error(&mut self, failure: &Failure) {
        Path::from_segments(vec!["error".into()]).set(&mut self.inst.context, json!(failure));
    }

    pub(super) fn set_status(&mut self, status: Status) {
        let resting = matches!(
            status,
            Status::Completed { .. } | Status::Compensated { .. } | Status::Cancelled { .. } | Status::Failed { .. }
        );
        if resting {
            // Nothing can be held for a run that stopped; the flag would only confuse.
            self.inst.paused = None;
            self.inst.held_effects.clear();
        }
        self.inst.status = status;
    }

    /// Emits an effect; service calls are held while the instance is paused.
    pub(super) fn emit(&mut self, effect: Effect) {
        let is_call = matches!(effect, Effect::RunTask { .. } | Effect::RunCompensation { .. });
        if is_call && self.inst.paused.is_some() {
            self.inst.held_effects.push(effect);
        } else {
            self.effects.push(effect);
        }
    }

    /// Drops a held `RunTask` for `key`; true if there was one (the call never went out).
    pub(super) fn unhold(&mut self, key: &str) -> bool {
        let pos = self
            .inst
            .held_effects
            .iter()
            .position(|e| matches!(e, Effect::RunTask { idempotency_key, .. } if idempotency_key == key));
        match pos {
            Some(i) => {
                self.inst.held_effects.remove(i);
                true
            }
            None => false,
        }
    }

    /// Deadline of a task attempt issued now (see [`task_deadline`]).
    pub(super) fn deadline(&self, timeout_ms: u64) -> i64 {
        task_deadline(self.now, timeout_ms, self.inst.deadline_at_ms)
    }

    pub(super) fn start_timer(&mut self, fire_at_ms: i64, purpose: TimerPurpose) -> String {
        let timer_id = self.env.new_id();
        self.emit(Effect::StartTimer { timer_id: timer_id.clone(), fire_at_ms, purpose });
        timer_id
    }

    pub(super) fn is_deadline(&self, timer_id: &str) -> bool {
        self.inst.deadline_timer.as_deref() == Some(timer_id)
    }

    pub(super) fn disarm_deadline(&mut self) {
        if let Some(t) = self.inst.deadline_timer.take() {
            self.cancelled_timers.push(t);
        }
    }

    pub(super) fn close_intervention(&mut self, id: &str) {
        self.emit(Effect::CloseIntervention { intervention_id: id.to_string() });
    }

    pub(super) fn entered(&mut self, state: &str, branch: Option<&str>) -> Result<()> {
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
        self.note(Record::StateEntered { state: state.to_string(), branch: branch.map(str::to_string) });
        Ok(())
    }

    pub(super) fn result_path(state: &str, given: Option<&String>) -> Result<Path> {
        match given {
            None => Ok(Path::from_segments(vec!["steps".into(), state.to_string()])),
            Some(p) => Path::parse(p).map_err(|e| EngineError::Definition {
                state: state.to_string(),
                message: format!("result_path: {e}"),
            }),
        }
    }
}

/// Deadline of a task attempt issued at `now`: its timeout, capped by the workflow deadline
/// (a call need not outlive the run it belongs to).
pub(crate) fn task_deadline(now: i64, timeout_ms: u64, workflow_deadline: Option<i64>) -> i64 {
    let d = now.saturating_add(i64::try_from(timeout_ms).unwrap_or(i64::MAX));
    match workflow_deadline {
        Some(w) => d.min(w),
        None => d,
    }
}

/// Deadline of a compensation attempt issued at `now`: its timeout alone. Not capped by the
/// workflow deadline: compensation is what runs *after* a workflow timeout, and a cap would
/// give every such call a deadline in the past.
pub(crate) fn compensation_deadline(now: i64, timeout_ms: u64) -> i64 {
    now.saturating_add(i64::try_from(timeout_ms).unwrap_or(i64::MAX))
}
