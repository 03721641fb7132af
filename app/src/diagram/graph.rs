//! A definition (the JSON the API serves) as a directed graph: one node per state — branch states of a
//! parallel state included — and one edge per way the run can move on.

use serde_json::Value;

use crate::wire::StateKind;

/// How a run gets from one state to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// `next`, or a parallel state's branch finishing.
    Next,
    /// A choice rule or a choice's default.
    Choice,
    /// A human decision.
    Decision,
    /// `on_failure` pointing at a state.
    Failure,
    /// A parallel state starting one of its branches.
    Branch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// The state's `type`; `None` when it is not a kind (the engine refuses such a definition).
    pub kind: Option<StateKind>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
}

/// The graph; node 0 is the start state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The graph of a definition; `None` when it has no `states` object or its `start_at` is not one of
    /// them.
    pub fn from_definition(definition: &Value) -> Option<Graph> {
        let states = definition.get("states")?.as_object()?;
        let start = definition.get("start_at")?.as_str()?;
        states.get(start)?;
        let mut graph = Graph::default();
        graph.add_states(states, start, None);
        Some(graph)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name == name)
    }

    /// Adds the states of one level (the top level, or a branch), start first, then their edges.
    /// `join` is where a branch's final states lead (the parallel state's successor).
    fn add_states(&mut self, states: &serde_json::Map<String, Value>, start: &str, join: Option<&str>) {
        let first = self.nodes.len();
        if let Some(state) = states.get(start) {
            self.nodes.push(Node { name: start.to_string(), kind: StateKind::of(state) });
        }
        for (name, state) in states {
            if name != start {
                self.nodes.push(Node { name: name.clone(), kind: StateKind::of(state) });
            }
        }
        let level: Vec<(usize, &Value)> =
            (first..self.nodes.len()).filter_map(|i| Some((i, states.get(&self.nodes[i].name)?))).collect();
        for (from, state) in level {
            let kind = self.nodes[from].kind;
            let text = |key: &str| state.get(key).and_then(Value::as_str).map(str::to_string);
            let mut targets: Vec<(String, EdgeKind)> = Vec::new();
            if let Some(next) = text("next") {
                targets.push((next, EdgeKind::Next));
            }
            for rule in state.get("choices").and_then(Value::as_array).into_iter().flatten() {
                if let Some(next) = rule.get("next").and_then(Value::as_str) {
                    targets.push((next.to_string(), EdgeKind::Choice));
                }
            }
            if let Some(default) = text("default") {
                targets.push((default, EdgeKind::Choice));
            }
            for decision in state.get("decisions").and_then(Value::as_array).into_iter().flatten() {
                if let Some(next) = decision.get("next").and_then(Value::as_str) {
                    targets.push((next.to_string(), EdgeKind::Decision));
                }
            }
            if let Some(target) = state.get("on_failure").and_then(|f| f.get("goto")).and_then(Value::as_str) {
                targets.push((target.to_string(), EdgeKind::Failure));
            }
            // A state with nowhere to go inside a branch finishes the branch, unless it ends the run.
            let ends_run = match kind {
                Some(StateKind::Succeed | StateKind::Fail) => true,
                Some(
                    StateKind::Task | StateKind::Choice | StateKind::Parallel | StateKind::Wait | StateKind::Human,
                )
                | None => false,
            };
            let ends = targets.is_empty() && !ends_run;
            if let (true, Some(join)) = (ends, join) {
                targets.push((join.to_string(), EdgeKind::Next));
            }
            if kind == Some(StateKind::Parallel) {
                let after = text("next");
                for branch in state.get("branches").and_then(Value::as_array).into_iter().flatten() {
                    let (Some(branch_states), Some(branch_start)) = (
                        branch.get("states").and_then(Value::as_object),
                        branch.get("start_at").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    self.add_states(branch_states, branch_start, after.as_deref());
                    if let Some(to) = self.index(branch_start) {
                        self.edges.push(Edge { from, to, kind: EdgeKind::Branch });
                    }
                }
                // The parallel state's own `next` is reached through its branches.
                targets.retain(|(_, kind)| *kind != EdgeKind::Next);
            }
            for (target, kind) in targets {
                if let Some(to) = self.index(&target) {
                    self.edges.push(Edge { from, to, kind });
                }
            }
        }
    }
}
