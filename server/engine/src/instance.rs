//! The persisted state of one workflow run.
//!
//! An [`Instance`] is plain serde data; the runtime stores it as JSON next to a few columns
//! (status from [`Instance::status_kind`], current state, business keys, deadline). Its
//! [`Status`] carries, per variant, exactly the data that status needs: what is in flight,
//! which timer or intervention it waits on, where compensation stands. The only way to move
//! an instance forward is [`apply`](crate::transition::apply).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::definition::{Definition, DefinitionRef};
use crate::effect::Effect;
use crate::event::ServiceError;

/// One workflow run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Instance id (chosen by the runtime).
    pub id: String,
    /// The definition version this instance is pinned to.
    pub definition: DefinitionRef,
    /// Where the run stands.
    pub status: Status,
    /// Set while an operator has paused the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Pause>,
    /// Service calls produced while paused, released on resume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_effects: Vec<Effect>,
    /// The context: `{"input": .., "steps": {..}, "instance": {..}, "error": ..}` (see
    /// [`Instance::about`] for `instance`).
    pub context: Value,
    /// Steps that completed, in completion order, with their compensations.
    #[serde(default)]
    pub completed: Vec<CompletedStep>,
    /// Next step sequence number (part of idempotency keys).
    pub next_seq: u64,
    /// Business keys extracted at start (path → value as text).
    #[serde(default)]
    pub business_keys: BTreeMap<String, String>,
    /// When the instance was created, epoch ms.
    pub created_at_ms: i64,
    /// When it was last changed, epoch ms.
    pub updated_at_ms: i64,
    /// Workflow deadline, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_at_ms: Option<i64>,
    /// Timer id of the workflow deadline while it is armed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_timer: Option<String>,
    /// When the run entered each state it is at now (its [`forward_states`](Instance::forward_states)),
    /// epoch ms: what a [`StateLeft`](crate::journal::Record::StateLeft) entry measures time in a state from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entered_at_ms: BTreeMap<String, i64>,
}

impl Instance {
    /// A new instance in status [`Status::Created`]; apply [`Event::Started`] to run it.
    ///
    /// [`Event::Started`]: crate::event::Event::Started
    pub fn new(def: &Definition, id: impl Into<String>, now_ms: i64) -> Instance {
        let id = id.into();
        let about = about(&id, &def.reference());
        Instance {
            id,
            definition: def.reference(),
            status: Status::Created,
            paused: None,
            held_effects: Vec::new(),
            context: json!({"input": null, "steps": {}, "instance": about}),
            completed: Vec::new(),
            next_seq: 1,
            business_keys: BTreeMap::new(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            deadline_at_ms: None,
            deadline_timer: None,
            entered_at_ms: BTreeMap::new(),
        }
    }

    /// What the context's `instance` holds, so templates and conditions can name the run:
    /// `{"id": "…", "workflow": "…", "version": 3}` (`$.instance.id`).
    pub fn about(&self) -> Value {
        about(&self.id, &self.definition)
    }

    /// Puts [`Instance::about`] into the context if it is not there: instances started before
    /// the context carried it get it at their next transition.
    pub(crate) fn ensure_about(&mut self) {
        if let Value::Object(ctx) = &mut self.context {
            if !ctx.contains_key("instance") {
                ctx.insert("instance".into(), about(&self.id, &self.definition));
            }
        }
    }

    /// The status without its data (for a database column and filters).
    pub fn status_kind(&self) -> StatusKind {
        self.status.kind()
    }

    /// True for `completed`, `compensated` and `cancelled`: nothing can change any more.
    /// (`failed` is a resting status: an operator may still retry or cancel.)
    pub fn is_final(&self) -> bool {
        matches!(self.status, Status::Completed { .. } | Status::Compensated { .. } | Status::Cancelled { .. })
    }

    /// The states the run is at (several inside a parallel state), for diagrams.
    pub fn current_states(&self) -> Vec<String> {
        match &self.status {
            Status::Created | Status::Completed { .. } | Status::Compensated { .. } | Status::Cancelled { .. } => {
                Vec::new()
            }
            Status::Running(Cursor::Task(t)) => vec![t.state.clone()],
            Status::Running(Cursor::Parallel(p)) => {
                let mut v = vec![p.state.clone()];
                v.extend(p.branches.iter().filter_map(|b| b.status.state().map(str::to_string)));
                v
            }
            Status::Waiting(WaitingOn::Timer { state, .. }) | Status::Waiting(WaitingOn::Human { state, .. }) => {
                vec![state.clone()]
            }
            Status::Compensating(c) => c
                .current
                .as_ref()
                .and_then(|r| self.completed.get(r.index))
                .map(|s| vec![s.state.clone()])
                .unwrap_or_default(),
            Status::NeedsIntervention(Blocked::StepFailed { step, .. }) => vec![step.state.clone()],
            Status::NeedsIntervention(Blocked::CompensationFailed { index, .. }) => {
                self.completed.get(*index).map(|s| vec![s.state.clone()]).unwrap_or_default()
            }
            Status::Failed { failure, .. } => failure.state.iter().cloned().collect(),
        }
    }

    /// The states the run is moving through or waiting in: [`current_states`](Instance::current_states)
    /// without those of undoing (compensating) and of resting after a failure. Time spent in these
    /// states is what monitoring reports as time in a state.
    pub fn forward_states(&self) -> Vec<String> {
        match &self.status {
            Status::Compensating(_)
            | Status::Failed { .. }
            | Status::NeedsIntervention(Blocked::CompensationFailed { .. }) => Vec::new(),
            _ => self.current_states(),
        }
    }

    /// The id of the open intervention, if the instance waits on one.
    pub fn open_intervention(&self) -> Option<&str> {
        match &self.status {
            Status::Waiting(WaitingOn::Human { intervention_id, .. })
            | Status::NeedsIntervention(Blocked::StepFailed { intervention_id, .. })
            | Status::NeedsIntervention(Blocked::CompensationFailed { intervention_id, .. }) => Some(intervention_id),
            _ => None,
        }
    }
}

fn about(id: &str, definition: &DefinitionRef) -> Value {
    json!({"id": id, "workflow": definition.name, "version": definition.version})
}

/// Status names (the `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// Not started yet.
    Created,
    /// A task (or parallel state) is executing.
    Running,
    /// Waiting on a timer or a human task.
    Waiting,
    /// Undoing completed steps.
    Compensating,
    /// Blocked on a reviewer.
    NeedsIntervention,
    /// Finished successfully.
    Completed,
    /// Stopped on a failure without compensating.
    Failed,
    /// Failed and compensated.
    Compensated,
    /// Cancelled by an operator.
    Cancelled,
}

impl std::fmt::Display for StatusKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.write_str(&s)
    }
}

/// Where a run stands, with the data of that status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Created, `Started` not applied yet.
    Created,
    /// Executing a task or a parallel state.
    Running(Cursor),
    /// Waiting on a timer or a human.
    Waiting(WaitingOn),
    /// Undoing completed steps.
    Compensating(Compensating),
    /// Blocked on a reviewer after a failure.
    NeedsIntervention(Blocked),
    /// Done.
    Completed {
        /// Workflow output.
        output: Value,
    },
    /// Stopped on a failure without compensating.
    Failed {
        /// What failed.
        failure: Failure,
        /// The step an operator retry or skip would act on (absent when there is none, e.g.
        /// after a `fail` state or an aborted compensation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_from: Option<FailedStep>,
    },
    /// Failed, and every compensation ran.
    Compensated {
        /// What failed.
        failure: Failure,
    },
    /// Cancelled by an operator (after compensating).
    Cancelled {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
}

impl Status {
    /// The status without its data.
    pub fn kind(&self) -> StatusKind {
        match self {
            Status::Created => StatusKind::Created,
            Status::Running(_) => StatusKind::Running,
            Status::Waiting(_) => StatusKind::Waiting,
            Status::Compensating(_) => StatusKind::Compensating,
            Status::NeedsIntervention(_) => StatusKind::NeedsIntervention,
            Status::Completed { .. } => StatusKind::Completed,
            Status::Failed { .. } => StatusKind::Failed,
            Status::Compensated { .. } => StatusKind::Compensated,
            Status::Cancelled { .. } => StatusKind::Cancelled,
        }
    }
}

/// What is executing while `running`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum Cursor {
    /// A task of the top-level graph.
    Task(TaskRun),
    /// A parallel state.
    Parallel(ParallelRun),
}

/// One step (execution of a task state) in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    /// Task state name.
    pub state: String,
    /// `{instance}:{state}:{seq}`.
    pub step_id: String,
    /// Step sequence number.
    pub seq: u64,
    /// Rendered input.
    pub input: Value,
    /// 0 for the primary service, `i` for `fallbacks[i - 1]`.
    pub target: usize,
    /// The service of the current target.
    pub service: String,
    /// Idempotency key of the current target.
    pub key: String,
    /// Attempt number of the latest call (unique per step).
    pub attempt: u32,
    /// Attempts made on the current target in the current series (for the retry budget).
    pub target_attempt: u32,
    /// In flight or backing off.
    pub phase: TaskPhase,
}

/// Whether a step's call is out or it waits for a backoff timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum TaskPhase {
    /// `RunTask` was issued; waiting for its result.
    InFlight,
    /// The last attempt failed; waiting for the retry timer.
    BackingOff {
        /// Timer id.
        timer_id: String,
        /// Due time, epoch ms.
        fire_at_ms: i64,
        /// The error of the failed attempt.
        last_error: ServiceError,
    },
}

/// A parallel state in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelRun {
    /// Parallel state name.
    pub state: String,
    /// The branches, in definition order.
    pub branches: Vec<BranchRun>,
    /// Set once a branch failed: no branch advances any more; in-flight calls are awaited so
    /// their successes can be compensated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// One branch of a parallel state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchRun {
    /// Branch name.
    pub name: String,
    /// Where the branch stands.
    pub status: BranchStatus,
}

/// Where a branch stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "branch", rename_all = "snake_case")]
pub enum BranchStatus {
    /// Executing a task.
    Task(TaskRun),
    /// Waiting on a `wait` state's timer.
    Timer {
        /// Wait state name.
        state: String,
        /// Timer id.
        timer_id: String,
        /// Due time.
        fire_at_ms: i64,
        /// Output of the branch's last task so far.
        last_output: Value,
    },
    /// Finished with this output (the output of its last task).
    Succeeded {
        /// Branch output.
        output: Value,
    },
    /// Failed.
    Failed {
        /// What failed.
        failure: Failure,
    },
    /// Stopped because another branch failed or the instance was cancelled.
    Cancelled,
}

impl BranchStatus {
    /// The state the branch is at, if it is active.
    pub fn state(&self) -> Option<&str> {
        match self {
            BranchStatus::Task(t) => Some(&t.state),
            BranchStatus::Timer { state, .. } => Some(state),
            _ => None,
        }
    }
}

/// What a `waiting` instance waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum WaitingOn {
    /// A `wait` state's timer.
    Timer {
        /// State name.
        state: String,
        /// Timer id.
        timer_id: String,
        /// Due time.
        fire_at_ms: i64,
    },
    /// A `human` state's intervention.
    Human {
        /// State name.
        state: String,
        /// Intervention id.
        intervention_id: String,
        /// Allowed decisions.
        decisions: Vec<String>,
        /// Due time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_at_ms: Option<i64>,
    },
}

/// Why compensation runs; decides the final status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// The workflow failed; ends `compensated`.
    Failure(Failure),
    /// An operator cancelled; ends `cancelled`.
    Cancel {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
}

/// Compensation in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compensating {
    /// Why.
    pub cause: Cause,
    /// Task calls whose outcome is not known yet. Compensation waits for them: a call that
    /// still succeeds must be undone too (it completed last, so it is undone first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<TaskRun>,
    /// The compensation call in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CompensationRun>,
}

/// One compensation call series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompensationRun {
    /// Index into [`Instance::completed`].
    pub index: usize,
    /// Attempt number of the latest call (unique per compensation).
    pub attempt: u32,
    /// Attempts in the current series (for the retry budget).
    pub series_attempt: u32,
    /// In flight or backing off.
    pub phase: TaskPhase,
}

/// What a `needs_intervention` instance is blocked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "blocked_on", rename_all = "snake_case")]
pub enum Blocked {
    /// A task failed finally with `on_failure: intervention`.
    StepFailed {
        /// Intervention id.
        intervention_id: String,
        /// The step.
        step: FailedStep,
        /// Its last error.
        error: ServiceError,
    },
    /// A compensation failed after its retries; compensation is suspended.
    CompensationFailed {
        /// Intervention id.
        intervention_id: String,
        /// Why compensation was running.
        cause: Cause,
        /// Index into [`Instance::completed`] of the step whose undo failed.
        index: usize,
        /// Attempt number of the last call.
        attempt: u32,
        /// Its error.
        error: ServiceError,
    },
}

/// A failure, for display and for the `error` context field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// State where it happened, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Machine-readable code (`step.permanent`, `step.timeout`, `workflow.timeout`, or the code
    /// of a `fail` state).
    pub code: String,
    /// Message for people.
    pub message: String,
}

/// The step an operator retry or skip acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedStep {
    /// Task state.
    pub state: String,
    /// Step id.
    pub step_id: String,
    /// Step sequence number.
    pub seq: u64,
    /// Rendered input of the failed step.
    pub input: Value,
    /// Attempt number of the last call.
    pub attempt: u32,
}

/// A step that completed (compensations are run from this list, newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedStep {
    /// Task state.
    pub state: String,
    /// Step id.
    pub step_id: String,
    /// Idempotency key of the call that succeeded.
    pub key: String,
    /// Service that did the work (primary or fallback).
    pub service: String,
    /// When, epoch ms.
    pub completed_at_ms: i64,
    /// The undo, if the task declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<PlannedCompensation>,
}

/// A compensation fixed when its step completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCompensation {
    /// Service.
    pub service: String,
    /// Action.
    pub action: String,
    /// Rendered input.
    pub input: Value,
    /// Idempotency key (`{step key}:compensate`).
    pub key: String,
    /// Progress.
    pub state: CompensationState,
}

/// Progress of one compensation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CompensationState {
    /// Not run (yet).
    Pending,
    /// Ran successfully.
    Done,
    /// A reviewer marked it done by hand.
    Skipped {
        /// Who.
        actor: String,
    },
}

/// The operator pause flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Who paused.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When, epoch ms.
    pub at_ms: i64,
}
