//! Recovery: what a runtime must re-issue for an instance it loads from storage.
//!
//! The runtime persists each [`Transition`](crate::transition::Transition) (the instance row
//! and the journal, in one database transaction) and only then carries out its effects. If
//! the process dies after the commit but before (or while) it carried them out, the effects
//! are lost, but everything needed to redo them is in the stored [`Instance`]: its
//! [`Status`] names every call in flight with its idempotency key and attempt number.
//! [`outstanding_effects`] turns that back into effects.
//!
//! # How a runtime recovers
//!
//! At start (and whenever it claims an instance whose lease expired), for every stored
//! instance that is not final:
//!
//! 1. **Calls:** carry out `outstanding_effects(def, &instance, now)`, where `def` is the
//!    definition version the instance is pinned to. It gives one `RunTask` per task call in
//!    flight (parallel branches and calls a compensation still awaits included) and one
//!    `RunCompensation` for a compensation call in flight, with the same key and attempt
//!    number as first issued and a fresh deadline. Services deduplicate on the key, so a call
//!    that did happen before the crash is not done twice; its result event is accepted by
//!    [`apply`](crate::transition::apply) like the first one would have been.
//! 2. **Timers** (retry backoff, `wait` states, the workflow deadline) are not returned: the
//!    runtime stores every `StartTimer` durably with the transition and re-arms them from
//!    its own table, dropping those cancelled by a `CancelTimers`. A timer that fires twice
//!    is harmless: the second `TimerFired` is a [`StaleEvent`](crate::error::EngineError).
//! 3. **Interventions** are not returned either: the runtime stores `OpenIntervention` /
//!    `CloseIntervention` durably with the transition, so the queue survives the crash.
//! 4. **Paused instances:** calls held by the pause ([`Instance::held_effects`]) are *not*
//!    returned; they never went out and stay held until `ResumeRequested` releases them.
//!    Calls that were already in flight when the operator paused are returned (pause stops
//!    new calls, not those already made, and their results are still awaited).
//!
//! A runtime that cannot tell whether an effect was carried out simply recovers: every
//! effect returned here is safe to carry out again.

use crate::definition::{Definition, State};
use crate::effect::Effect;
use crate::instance::{BranchStatus, Cursor, Instance, Status, TaskPhase, TaskRun};
use crate::transition::{compensation_deadline, task_deadline};

/// The service calls a runtime must (re-)issue for an instance loaded from storage.
///
/// Returns, in a fixed order, a `RunTask` for every task call in flight (the top-level task;
/// the tasks of parallel branches in branch order; calls a compensation still awaits) and a
/// `RunCompensation` for the compensation call in flight. Each effect equals the one first
/// issued (same `step_id`, service, action, input, idempotency key and attempt number)
/// except `deadline_ms`, which is computed afresh from `now_ms` and the task's (or
/// compensation's) `timeout_ms`; a task's deadline is capped by the workflow deadline, as
/// when first issued.
///
/// Returns nothing for calls held while the instance is paused (they are released by
/// resume), for timers and interventions (the runtime stores those itself), and for
/// instances that are waiting, need an intervention, are failed or final. See the
/// [module docs](self) for the whole recovery procedure.
///
/// Pure and deterministic: the same instance, definition and `now_ms` give the same effects.
/// Feeding back a result for any returned effect is accepted by `apply` (it is neither stale
/// nor illegal).
///
/// `def` must be the version the instance is pinned to. For any other definition (or a
/// broken one that lacks a task state the instance is at) the calls concerned cannot be
/// rebuilt and are left out; `apply` rejects such a definition too.
pub fn outstanding_effects(def: &Definition, instance: &Instance, now_ms: i64) -> Vec<Effect> {
    let mut out = Vec::new();
    if def.reference() != instance.definition {
        return out;
    }
    match &instance.status {
        Status::Running(Cursor::Task(run)) => reissue_task(def, instance, run, now_ms, &mut out),
        Status::Running(Cursor::Parallel(p)) => {
            for b in &p.branches {
                if let BranchStatus::Task(run) = &b.status {
                    reissue_task(def, instance, run, now_ms, &mut out);
                }
            }
        }
        Status::Compensating(c) => {
            for run in &c.draining {
                reissue_task(def, instance, run, now_ms, &mut out);
            }
            if let Some(run) = c.current.as_ref().filter(|r| r.phase == TaskPhase::InFlight) {
                let step = instance.completed.get(run.index);
                let planned = step.and_then(|s| Some((s, s.compensation.as_ref()?)));
                let timeout = step.and_then(|s| match def.find_state(&s.state) {
                    Some(State::Task(t)) => t.compensation.as_ref().map(|c| c.timeout_ms),
                    _ => None,
                });
                if let (Some((step, p)), Some(timeout_ms)) = (planned, timeout) {
                    if !is_held(instance, &p.key, run.attempt) {
                        out.push(Effect::RunCompensation {
                            step_id: step.step_id.clone(),
                            state: step.state.clone(),
                            service: p.service.clone(),
                            action: p.action.clone(),
                            input: p.input.clone(),
                            idempotency_key: p.key.clone(),
                            attempt: run.attempt,
                            deadline_ms: compensation_deadline(now_ms, timeout_ms),
                        });
                    }
                }
            }
        }
        // Timers and interventions are the runtime's to re-arm; nothing else is in flight.
        Status::Created
        | Status::Waiting(_)
        | Status::NeedsIntervention(_)
        | Status::Completed { .. }
        | Status::Failed { .. }
        | Status::Compensated { .. }
        | Status::Cancelled { .. } => {}
    }
    out
}

/// Pushes the `RunTask` of `run` if its call is out (not backing off, not held).
fn reissue_task(def: &Definition, instance: &Instance, run: &TaskRun, now_ms: i64, out: &mut Vec<Effect>) {
    if run.phase != TaskPhase::InFlight || is_held(instance, &run.key, run.attempt) {
        return;
    }
    let Some(State::Task(t)) = def.find_state(&run.state) else {
        return;
    };
    out.push(Effect::RunTask {
        step_id: run.step_id.clone(),
        state: run.state.clone(),
        service: run.service.clone(),
        action: t.action.clone(),
        input: run.input.clone(),
        idempotency_key: run.key.clone(),
        attempt: run.attempt,
        deadline_ms: task_deadline(now_ms, t.timeout_ms, instance.deadline_at_ms),
    });
}

/// True if the call `(key, attempt)` is held by a pause (it never went out).
fn is_held(instance: &Instance, key: &str, attempt: u32) -> bool {
    instance.held_effects.iter().any(|e| match e {
        Effect::RunTask { idempotency_key, attempt: a, .. }
        | Effect::RunCompensation { idempotency_key, attempt: a, .. } => idempotency_key == key && *a == attempt,
        _ => false,
    })
}
