//! What the diagram draws on top of a definition: each state's mark (how far a run got there, or a
//! monitoring figure) and the edges a run took. [`instance_marks`] derives them from an instance, its
//! history and its step attempts, so the same picture comes out on the server and in the browser.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::wire::{HistoryEntry, InstanceDetail, InstanceStatus, JournalRecord, StateKind, StepAttempt};

/// How a state stands in one instance's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// The run is in this state now (a call in flight, a choice being made).
    Current,
    /// The run waits here on a timer.
    Waiting,
    /// The run waits here for a person's decision.
    HumanTask,
    /// Done: the step succeeded, the branch was taken, the end was reached.
    Succeeded,
    /// Done, but only after one or more failed attempts.
    Retried,
    /// The step failed for good, or the run ended here failed.
    Failed,
    /// The step's effect was undone by its compensation.
    Compensated,
    /// An operator skipped the step.
    Skipped,
}

impl NodeStatus {
    /// The CSS modifier of the node's box.
    pub fn css(self) -> &'static str {
        match self {
            NodeStatus::Current => "current",
            NodeStatus::Waiting => "waiting",
            NodeStatus::HumanTask => "human-task",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Retried => "retried",
            NodeStatus::Failed => "failed",
            NodeStatus::Compensated => "compensated",
            NodeStatus::Skipped => "skipped",
        }
    }

    /// Words for people (legend, tooltips, screen readers).
    pub fn label(self) -> &'static str {
        match self {
            NodeStatus::Current => "in progress",
            NodeStatus::Waiting => "waiting on a timer",
            NodeStatus::HumanTask => "waiting for a person",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Retried => "succeeded after retries",
            NodeStatus::Failed => "failed",
            NodeStatus::Compensated => "compensated (undone)",
            NodeStatus::Skipped => "skipped by an operator",
        }
    }

    /// Every status, in legend order.
    pub const ALL: [NodeStatus; 8] = [
        NodeStatus::Current,
        NodeStatus::Waiting,
        NodeStatus::HumanTask,
        NodeStatus::Succeeded,
        NodeStatus::Retried,
        NodeStatus::Failed,
        NodeStatus::Compensated,
        NodeStatus::Skipped,
    ];
}

/// What is drawn on one state's box.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeMark {
    pub status: Option<NodeStatus>,
    /// Replaces the box's second line (normally the service call), e.g. `p95 1.2 s · 3 now`.
    pub note: Option<String>,
    /// A small count in the box's corner, e.g. `×3` attempts or `12` instances here now.
    pub badge: Option<String>,
    /// 0–1: colours the box from cool to hot (a duration heatmap).
    pub heat: Option<f64>,
    /// Extra lines for the box's tooltip.
    pub detail: Vec<String>,
}

/// Everything drawn on top of the definition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Marks {
    /// By state name.
    pub nodes: BTreeMap<String, NodeMark>,
    /// Edges a run took, as `(from, to)` state names.
    pub taken: BTreeSet<(String, String)>,
}

/// The marks of one instance: where it is, where it went, what succeeded, failed, was retried, undone
/// or skipped.
pub fn instance_marks(
    definition: &Value,
    instance: &InstanceDetail,
    history: &[HistoryEntry],
    steps: &[StepAttempt],
) -> Marks {
    let mut marks = Marks::default();
    let kinds = state_kinds(definition);
    let kind_of = |state: &str| kinds.get(state).copied().flatten();

    // States in the order the run entered them, and what operators did to which state.
    let mut entered: Vec<String> = Vec::new();
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    let mut compensation_scheduled: BTreeSet<String> = BTreeSet::new();
    for entry in history {
        for journal in &entry.records {
            match &journal.record {
                JournalRecord::StateEntered { state, .. } => entered.push(state.clone()),
                JournalRecord::CompensationScheduled { state, .. } => {
                    compensation_scheduled.insert(state.clone());
                }
                // The rest does not move the path: leaving a state is followed by entering the next.
                JournalRecord::Applied { .. }
                | JournalRecord::StateLeft { .. }
                | JournalRecord::TaskScheduled { .. }
                | JournalRecord::RetryScheduled { .. }
                | JournalRecord::FallbackSelected { .. }
                | JournalRecord::InterventionOpened { .. }
                | JournalRecord::StatusChanged { .. }
                | JournalRecord::Audit { .. } => {}
            }
        }
        if entry.event == "skip_requested" {
            if let Some(state) = last_task_state(&entered, &kinds) {
                skipped.insert(state);
            }
        }
    }

    // The path: an edge of the definition is taken when its target was entered after its source.
    let first_entry: BTreeMap<&str, usize> =
        entered.iter().enumerate().rev().map(|(i, state)| (state.as_str(), i)).collect();
    let last_entry: BTreeMap<&str, usize> = entered.iter().enumerate().map(|(i, state)| (state.as_str(), i)).collect();
    if let Some(graph) = super::graph::Graph::from_definition(definition) {
        for edge in &graph.edges {
            let (from, to) = (&graph.nodes[edge.from].name, &graph.nodes[edge.to].name);
            if let (Some(f), Some(t)) = (first_entry.get(from.as_str()), last_entry.get(to.as_str())) {
                if f < t {
                    marks.taken.insert((from.clone(), to.clone()));
                }
            }
        }
    }

    // Attempts per state (tasks) and compensation outcomes.
    let mut attempts: BTreeMap<&str, Vec<&StepAttempt>> = BTreeMap::new();
    let mut compensations: BTreeMap<&str, Vec<&StepAttempt>> = BTreeMap::new();
    for step in steps {
        let into = if step.kind == "compensation" { &mut compensations } else { &mut attempts };
        into.entry(step.state.as_str()).or_default().push(step);
    }

    let current: BTreeSet<&str> = instance
        .summary
        .current_state
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let status = instance.summary.status;
    let blocked = matches!(status, InstanceStatus::Failed | InstanceStatus::NeedsIntervention);

    for state in entered.iter().map(String::as_str).collect::<BTreeSet<_>>() {
        let mut mark = NodeMark::default();
        let tries = attempts.get(state).map(Vec::as_slice).unwrap_or(&[]);
        let failures = tries.iter().filter(|a| a.outcome != "succeeded").count();
        let succeeded = tries.iter().any(|a| a.outcome == "succeeded");
        if tries.len() > 1 {
            mark.badge = Some(format!("×{}", tries.len()));
        }
        for attempt in tries {
            mark.detail.push(match &attempt.error {
                Some(error) => format!("attempt {}: {} — {error}", attempt.attempt, attempt.outcome),
                None => format!("attempt {}: {} in {} ms", attempt.attempt, attempt.outcome, attempt.duration_ms),
            });
        }
        let undone = compensations.get(state).is_some_and(|c| c.iter().any(|a| a.outcome == "succeeded"));
        let is_current = current.contains(state);
        mark.status = Some(if skipped.contains(state) {
            NodeStatus::Skipped
        } else if kind_of(state) == Some(StateKind::Fail) {
            // A run that ended in a fail state still names it as its state: it is where it failed.
            NodeStatus::Failed
        } else if undone {
            NodeStatus::Compensated
        } else if is_current {
            match kind_of(state) {
                Some(StateKind::Wait) => NodeStatus::Waiting,
                Some(StateKind::Human) => NodeStatus::HumanTask,
                Some(StateKind::Task) if blocked && failures > 0 && !succeeded => NodeStatus::Failed,
                Some(
                    StateKind::Task | StateKind::Choice | StateKind::Parallel | StateKind::Succeed | StateKind::Fail,
                )
                | None => NodeStatus::Current,
            }
        } else if failures > 0 && !succeeded {
            NodeStatus::Failed
        } else if compensation_scheduled.contains(state) && status == InstanceStatus::Compensating {
            NodeStatus::Current
        } else if failures > 0 {
            NodeStatus::Retried
        } else {
            NodeStatus::Succeeded
        });
        marks.nodes.insert(state.to_string(), mark);
    }
    marks
}

/// Every state's kind, branch states included (`None` for a state whose `type` is not a kind).
pub fn state_kinds(definition: &Value) -> BTreeMap<String, Option<StateKind>> {
    fn walk(states: &serde_json::Map<String, Value>, into: &mut BTreeMap<String, Option<StateKind>>) {
        for (name, state) in states {
            into.insert(name.clone(), StateKind::of(state));
            for branch in state.get("branches").and_then(Value::as_array).into_iter().flatten() {
                if let Some(inner) = branch.get("states").and_then(Value::as_object) {
                    walk(inner, into);
                }
            }
        }
    }
    let mut kinds = BTreeMap::new();
    if let Some(states) = definition.get("states").and_then(Value::as_object) {
        walk(states, &mut kinds);
    }
    kinds
}

/// A state's definition (branch states included), if the definition has it.
pub fn state_definition<'a>(definition: &'a Value, name: &str) -> Option<&'a Value> {
    fn find<'a>(states: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
        if let Some(state) = states.get(name) {
            return Some(state);
        }
        states.values().find_map(|state| {
            state
                .get("branches")
                .and_then(Value::as_array)?
                .iter()
                .find_map(|branch| find(branch.get("states")?.as_object()?, name))
        })
    }
    find(definition.get("states")?.as_object()?, name)
}

fn last_task_state(entered: &[String], kinds: &BTreeMap<String, Option<StateKind>>) -> Option<String> {
    entered.iter().rev().find(|state| kinds.get(*state) == Some(&Some(StateKind::Task))).cloned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::wire::InstanceSummary;

    fn definition() -> Value {
        json!({"start_at": "reserve", "states": {
            "reserve": {"type": "task", "service": "s", "action": "reserve", "next": "charge",
                        "compensation": {"service": "s", "action": "release"}},
            "charge": {"type": "task", "service": "s", "action": "charge", "next": "review"},
            "review": {"type": "human", "decisions": [{"name": "approve", "next": "done"}]},
            "done": {"type": "succeed"}}})
    }

    fn instance(status: &str, current: Option<&str>) -> InstanceDetail {
        InstanceDetail {
            summary: InstanceSummary {
                id: "i".into(),
                workflow: "w".into(),
                version: 1,
                status: status.parse().unwrap(),
                current_state: current.map(str::to_string),
                paused: false,
                error: None,
                created_at: String::new(),
                updated_at: String::new(),
                finished_at: None,
            },
            business_keys: Default::default(),
            input: Value::Null,
            context: Value::Null,
            output: None,
            open_intervention: None,
            engine_status: Value::Null,
        }
    }

    fn entered(seq: i64, states: &[&str]) -> HistoryEntry {
        HistoryEntry {
            seq,
            at: String::new(),
            event: "step_succeeded".into(),
            actor: None,
            reason: None,
            records: serde_json::from_value(Value::Array(
                states.iter().map(|s| json!({"at_ms": 0, "record": {"record": "state_entered", "state": s}})).collect(),
            ))
            .unwrap(),
        }
    }

    fn attempt(state: &str, kind: &str, n: u32, outcome: &str) -> StepAttempt {
        StepAttempt {
            step_id: format!("i:{state}:1"),
            state: state.into(),
            kind: kind.into(),
            service: "s".into(),
            action: "a".into(),
            attempt: n,
            idempotency_key: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
            duration_ms: 3,
            queue_wait_ms: 0,
            outcome: outcome.into(),
            error: (outcome != "succeeded").then(|| "boom".to_string()),
        }
    }

    #[test]
    fn a_run_waiting_for_a_person_shows_its_path_retries_and_the_human_task() {
        let history = [entered(1, &["reserve"]), entered(2, &["charge"]), entered(3, &["review"])];
        let steps = [
            attempt("reserve", "task", 1, "succeeded"),
            attempt("charge", "task", 1, "retryable"),
            attempt("charge", "task", 2, "succeeded"),
        ];
        let marks = instance_marks(&definition(), &instance("waiting", Some("review")), &history, &steps);
        assert_eq!(marks.nodes["reserve"].status, Some(NodeStatus::Succeeded));
        assert_eq!(marks.nodes["charge"].status, Some(NodeStatus::Retried));
        assert_eq!(marks.nodes["charge"].badge.as_deref(), Some("×2"));
        assert_eq!(marks.nodes["review"].status, Some(NodeStatus::HumanTask));
        assert!(!marks.nodes.contains_key("done"), "not reached yet");
        assert!(marks.taken.contains(&("reserve".into(), "charge".into())));
        assert!(marks.taken.contains(&("charge".into(), "review".into())));
        assert!(!marks.taken.contains(&("review".into(), "done".into())));
    }

    #[test]
    fn a_failed_run_shows_the_failed_step_and_the_compensated_one() {
        let history = [entered(1, &["reserve"]), entered(2, &["charge"])];
        let steps = [
            attempt("reserve", "task", 1, "succeeded"),
            attempt("charge", "task", 1, "permanent"),
            attempt("reserve", "compensation", 1, "succeeded"),
        ];
        let marks = instance_marks(&definition(), &instance("compensated", None), &history, &steps);
        assert_eq!(marks.nodes["charge"].status, Some(NodeStatus::Failed));
        assert_eq!(marks.nodes["reserve"].status, Some(NodeStatus::Compensated));
        assert!(marks.nodes["charge"].detail[0].contains("boom"));
    }

    #[test]
    fn a_step_blocked_on_a_person_after_failing_is_failed_not_in_progress() {
        let history = [entered(1, &["reserve"])];
        let steps = [attempt("reserve", "task", 1, "permanent")];
        let marks = instance_marks(&definition(), &instance("needs_intervention", Some("reserve")), &history, &steps);
        assert_eq!(marks.nodes["reserve"].status, Some(NodeStatus::Failed));
        let running = instance_marks(&definition(), &instance("running", Some("reserve")), &history, &[]);
        assert_eq!(running.nodes["reserve"].status, Some(NodeStatus::Current));
    }

    #[test]
    fn a_run_that_ended_in_a_fail_state_shows_it_failed_not_in_progress() {
        let definition = json!({"start_at": "check", "states": {
            "check": {"type": "task", "service": "s", "action": "a", "on_failure": {"goto": "rejected"}, "next": "done"},
            "rejected": {"type": "fail"}, "done": {"type": "succeed"}}});
        let history = [entered(1, &["check"]), entered(2, &["rejected"])];
        let steps = [attempt("check", "task", 1, "permanent")];
        let marks = instance_marks(&definition, &instance("failed", Some("rejected")), &history, &steps);
        assert_eq!(marks.nodes["check"].status, Some(NodeStatus::Failed));
        assert_eq!(marks.nodes["rejected"].status, Some(NodeStatus::Failed));
        assert!(marks.taken.contains(&("check".into(), "rejected".into())));
    }
}
