//! Workflow definitions: the declarative, versioned JSON graph of states.
//!
//! [`Definition::from_json`] parses a definition; [`validate`](crate::validate::validate) checks
//! it. The full format reference (every field, its default, the expression language, the input
//! schema subset) is in `DEFINITIONS.md` next to this crate's `Cargo.toml`.
//!
//! Parsing is strict: unknown fields are errors, so a typo (`"retyr"`) is caught instead of
//! silently falling back to a default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::retry::RetryPolicy;
use crate::schema::Schema;

/// Why a definition could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not JSON, or JSON that does not have the definition's shape; the message names the
    /// field, line and column.
    #[error("invalid workflow definition: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Default per-attempt task timeout: 30 s.
pub const DEFAULT_TASK_TIMEOUT_MS: u64 = 30_000;

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Workflow type name, e.g. `buyer-onboarding`.
    pub name: String,
    /// Version number (1, 2, ...). Instances stay on the version they started with. Optional in
    /// the JSON (1 when absent): a server that registers definitions numbers them itself.
    #[serde(default = "first_version")]
    pub version: u32,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Schema of the workflow input (see [`crate::schema`]); absent means any input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Schema>,
    /// Name of the first state.
    pub start_at: String,
    /// The states by name.
    pub states: BTreeMap<String, State>,
    /// Workflow-level timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// SLA targets, carried as data for monitoring.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sla: Vec<SlaTarget>,
    /// Context paths (e.g. `input.buyer_id`) whose values are indexed as business keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub business_keys: Vec<String>,
    /// Retry policy of compensations that do not declare their own; absent means
    /// [`RetryPolicy::compensation_default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation_retry: Option<RetryPolicy>,
}

impl Definition {
    /// Parses a definition from trusted JSON text (for example one a server stored itself), with
    /// serde: it stops at the first problem. Read untrusted definitions with
    /// [`Definition::read`] or [`validate_json`](crate::validate::validate_json), which list every
    /// problem at its field and enforce the [limits](crate::limits).
    ///
    /// # Errors
    /// [`Error::Json`] naming what is wrong and where.
    pub fn from_json(text: &str) -> Result<Definition> {
        Ok(serde_json::from_str(text)?)
    }

    /// Reads a definition from untrusted JSON without validating it: every format problem at its field,
    /// in words (the module `read` of this crate explains how).
    ///
    /// # Errors
    /// Every format problem, each at its field: a value of the wrong type, an unknown or missing
    /// field, a `states` past the limits.
    pub fn read(value: &Value) -> std::result::Result<Definition, Vec<crate::validate::Problem>> {
        crate::validate::read_only(value)
    }

    /// Parses a definition from a trusted JSON value, with serde (see [`Definition::from_json`]).
    ///
    /// # Errors
    /// [`Error::Json`] naming what is wrong.
    pub fn from_value(value: Value) -> Result<Definition> {
        Ok(serde_json::from_value(value)?)
    }

    /// The `(name, version)` pair instances are pinned to.
    pub fn reference(&self) -> DefinitionRef {
        DefinitionRef { name: self.name.clone(), version: self.version }
    }

    /// Finds a state by name, in the top-level graph or inside any parallel branch (state
    /// names are unique across the whole definition; validation checks it).
    pub fn find_state(&self, name: &str) -> Option<&State> {
        if let Some(s) = self.states.get(name) {
            return Some(s);
        }
        self.states.values().find_map(|s| match s {
            State::Parallel(p) => p.branches.iter().find_map(|b| b.states.get(name)),
            _ => None,
        })
    }

    /// The effective compensation retry policy of a task's compensation.
    pub fn compensation_policy(&self, c: &Compensation) -> RetryPolicy {
        c.retry.clone().or_else(|| self.compensation_retry.clone()).unwrap_or_else(RetryPolicy::compensation_default)
    }
}

/// Names a definition version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DefinitionRef {
    /// Workflow type name.
    pub name: String,
    /// Version number.
    pub version: u32,
}

impl std::fmt::Display for DefinitionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

/// Workflow-level timeouts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// The whole run must reach a final state within this many milliseconds of starting;
    /// otherwise it fails with code `workflow.timeout` and compensates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_ms: Option<u64>,
}

/// An SLA target (data for monitoring; the engine does not evaluate it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTarget {
    /// Metric name, e.g. `p95_duration_ms` or `completion_rate`.
    pub metric: String,
    /// Target value.
    pub threshold: f64,
    /// Measurement window in milliseconds.
    pub window_ms: u64,
}

/// One node of the graph, tagged by `"type"`.
// Definitions are parsed once and kept; a few hundred bytes per state cost nothing, while
// boxing the task variant would add noise to every match on it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum State {
    /// Call `service.action`.
    Task(TaskState),
    /// Branch on conditions.
    Choice(ChoiceState),
    /// Run branches concurrently and join.
    Parallel(ParallelState),
    /// Durable timer.
    Wait(WaitState),
    /// Human task (intervention) with decisions.
    Human(HumanState),
    /// Terminal success.
    Succeed(SucceedState),
    /// Terminal failure.
    Fail(FailState),
}

impl State {
    /// The kind name as written in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            State::Task(_) => "task",
            State::Choice(_) => "choice",
            State::Parallel(_) => "parallel",
            State::Wait(_) => "wait",
            State::Human(_) => "human",
            State::Succeed(_) => "succeed",
            State::Fail(_) => "fail",
        }
    }

    /// Every state this one can move to, with the field that names it.
    pub fn successors(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        match self {
            State::Task(t) => {
                if let Some(n) = &t.next {
                    out.push(("next", n.as_str()));
                }
                if let OnFailure::Goto(g) = &t.on_failure {
                    out.push(("on_failure", g.as_str()));
                }
            }
            State::Choice(c) => {
                for rule in &c.choices {
                    out.push(("choices", rule.next.as_str()));
                }
                if let Some(d) = &c.default {
                    out.push(("default", d.as_str()));
                }
            }
            State::Parallel(p) => {
                if let Some(n) = &p.next {
                    out.push(("next", n.as_str()));
                }
                if let OnFailure::Goto(g) = &p.on_failure {
                    out.push(("on_failure", g.as_str()));
                }
            }
            State::Wait(w) => {
                if let Some(n) = &w.next {
                    out.push(("next", n.as_str()));
                }
            }
            State::Human(h) => {
                for d in &h.decisions {
                    out.push(("decisions", d.next.as_str()));
                }
            }
            State::Succeed(_) | State::Fail(_) => {}
        }
        out
    }
}

/// What happens when a task (or a parallel state) finally fails, after retries and fallbacks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Run the compensations of completed steps in reverse order; status `compensated`.
    #[default]
    Compensate,
    /// Go to the named state; the failure is stored at `error` in the context.
    Goto(String),
    /// Stop with status `failed`, without compensating (an operator may retry or cancel).
    Fail,
    /// Open an intervention (`retries_exhausted`) and wait for a reviewer.
    Intervention,
}

/// A `task` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskState {
    /// Service name in the registry.
    pub service: String,
    /// Action of that service.
    pub action: String,
    /// Input template (see [`crate::path::render`]); absent means `"$.input"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Where the output is stored in the context; absent means `steps.<state name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
    /// Retry policy per target.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Deadline of one attempt, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// How to undo this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Compensation>,
    /// Services with the same action tried in order when the current one gives up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// What to do on final failure.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Next state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// True when the workflow (or branch) ends after this state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

fn first_version() -> u32 {
    1
}

fn default_timeout() -> u64 {
    DEFAULT_TASK_TIMEOUT_MS
}

/// The undo action of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compensation {
    /// Service name.
    pub service: String,
    /// Action name.
    pub action: String,
    /// Input template, rendered when the step completes (so it sees the step's output);
    /// absent means `"$.steps.<state name>"`, the step's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Retry policy; absent means the definition's `compensation_retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Deadline of one attempt, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

/// A `choice` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceState {
    /// Rules tried in order; the first true condition wins.
    pub choices: Vec<ChoiceRule>,
    /// Next state when no condition is true (required by validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// One rule of a `choice` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceRule {
    /// A condition in the [expression language](crate::expr).
    pub condition: String,
    /// Next state when it is true.
    pub next: String,
}

/// A `parallel` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelState {
    /// The branches, each its own sub-graph.
    pub branches: Vec<Branch>,
    /// Where `{branch name: branch output}` is stored; absent means `steps.<state name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
    /// What to do when a branch fails (`intervention` is not supported here).
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Next state after the join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// True when the workflow ends after the join.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

/// One branch of a `parallel` state: `task`, `choice`, `wait`, `succeed` and `fail` states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// Branch name (key of its output in the join result).
    pub name: String,
    /// First state of the branch.
    pub start_at: String,
    /// The branch's states.
    pub states: BTreeMap<String, State>,
}

/// A `wait` state: exactly one of the two fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitState {
    /// Wait this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Wait until the epoch-milliseconds integer at this context path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_path: Option<String>,
    /// Next state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// True when the workflow (or branch) ends after waiting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

/// Priority of an intervention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever there is time.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before normal work.
    High,
    /// Drop everything.
    Urgent,
}

/// A `human` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HumanState {
    /// Who should work on it (a role or team name).
    pub assignee_group: String,
    /// What the reviewer is asked to do.
    #[serde(default)]
    pub title: String,
    /// Queue priority.
    #[serde(default)]
    pub priority: Priority,
    /// Due this long after the task opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_in_ms: Option<u64>,
    /// Allowed decisions, in display order.
    pub decisions: Vec<Decision>,
    /// Where `{decision, data, actor, reason}` is stored; absent means `steps.<state name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
}

/// One allowed decision of a `human` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Decision name, e.g. `approve`.
    pub name: String,
    /// State to go to.
    pub next: String,
}

/// A `succeed` state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SucceedState {
    /// Output template; absent means the context's `steps` object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// A `fail` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailState {
    /// Machine-readable error code, e.g. `credit.denied`.
    pub error: String,
    /// Message for people.
    #[serde(default)]
    pub message: String,
    /// Whether completed steps are compensated (default true: a saga that ends in failure
    /// undoes what it did). With `false` the instance ends `failed`.
    #[serde(default = "yes")]
    pub compensate: bool,
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_every_state_kind_with_defaults() {
        let def = Definition::from_value(json!({
            "name": "w", "version": 1, "start_at": "a",
            "states": {
                "a": {"type": "task", "service": "s", "action": "x", "next": "b",
                      "on_failure": {"goto": "f"}},
                "b": {"type": "choice", "choices": [{"condition": "true", "next": "c"}], "default": "d"},
                "c": {"type": "wait", "duration_ms": 5, "next": "d"},
                "d": {"type": "human", "assignee_group": "ops", "decisions": [{"name": "ok", "next": "p"}]},
                "p": {"type": "parallel", "branches": [{"name": "one", "start_at": "p1", "states": {
                    "p1": {"type": "succeed"}}}], "end": true},
                "f": {"type": "fail", "error": "e"}
            }
        }))
        .unwrap();
        let State::Task(t) = &def.states["a"] else { panic!() };
        assert_eq!(t.retry, RetryPolicy::default());
        assert_eq!(t.timeout_ms, DEFAULT_TASK_TIMEOUT_MS);
        assert_eq!(t.on_failure, OnFailure::Goto("f".into()));
        let State::Fail(f) = &def.states["f"] else { panic!() };
        assert!(f.compensate);
        assert!(def.find_state("p1").is_some());
        // round trip
        let back = Definition::from_value(serde_json::to_value(&def).unwrap()).unwrap();
        assert_eq!(back, def);
    }

    #[test]
    fn unknown_fields_and_kinds_are_errors() {
        let bad = json!({"name": "w", "version": 1, "start_at": "a", "states": {
            "a": {"type": "task", "service": "s", "action": "x", "end": true, "retyr": {}}}});
        let err = Definition::from_value(bad).unwrap_err().to_string();
        assert!(err.contains("retyr"), "{err}");
        let bad = json!({"name": "w", "version": 1, "start_at": "a", "states": {"a": {"type": "loop"}}});
        assert!(Definition::from_value(bad).is_err());
        let on_failure: OnFailure = serde_json::from_value(json!("intervention")).unwrap();
        assert_eq!(on_failure, OnFailure::Intervention);
    }
}
