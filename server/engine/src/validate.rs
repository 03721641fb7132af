//! Definition validation: every problem, not just the first.
//!
//! [`validate`] checks a parsed [`Definition`] against itself and a [`ServiceCatalog`] (which
//! `service.action` pairs exist) and returns every [`Problem`] it finds: unknown or missing
//! states, unreachable states, unknown services and actions, conditions that do not parse,
//! loops that pass through no `wait` or `human` state (they would spin without pause), retry
//! policies with impossible numbers, and more. A definition is accepted only when the list is
//! empty.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::definition::{Definition, OnFailure, State};
use crate::expr::{self, Expr};
use crate::limits::MAX_CONDITION_CHARS;
use crate::path::{template_problems, Path};
use crate::retry::RetryPolicy;
use crate::schema::{schema_problems, SchemaType};

/// Knows which services and actions exist (the runtime's service registry).
pub trait ServiceCatalog {
    /// Whether a service of this name is registered.
    fn has_service(&self, service: &str) -> bool;
    /// Whether the service offers this action.
    fn has_action(&self, service: &str, action: &str) -> bool;
}

/// A catalog from a fixed list, for tests and for registries known at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticCatalog {
    services: BTreeMap<String, BTreeSet<String>>,
}

impl StaticCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        StaticCatalog::default()
    }

    /// Adds a service with its actions (builder style).
    pub fn with(mut self, service: &str, actions: &[&str]) -> Self {
        self.add(service, actions);
        self
    }

    /// Adds a service with its actions.
    pub fn add(&mut self, service: &str, actions: &[&str]) {
        let entry = self.services.entry(service.to_string()).or_default();
        entry.extend(actions.iter().map(|a| a.to_string()));
    }
}

impl ServiceCatalog for StaticCatalog {
    fn has_service(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    fn has_action(&self, service: &str, action: &str) -> bool {
        self.services.get(service).is_some_and(|a| a.contains(action))
    }
}

/// One problem with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The state concerned (`None` for definition-level fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The field concerned, e.g. `next`, `retry.multiplier`, `choices[2].condition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.state, &self.field) {
            (Some(s), Some(fl)) => write!(f, "state '{s}', field '{fl}': {}", self.message),
            (Some(s), None) => write!(f, "state '{s}': {}", self.message),
            (None, Some(fl)) => write!(f, "field '{fl}': {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Validates a definition (see the module docs).
///
/// # Errors
/// Every [`Problem`] found, grouped by state in name order.
pub fn validate(def: &Definition, catalog: &dyn ServiceCatalog) -> Result<(), Vec<Problem>> {
    let mut c = Checker { catalog, problems: Vec::new() };
    c.definition(def);
    if c.problems.is_empty() {
        Ok(())
    } else {
        Err(c.problems)
    }
}

struct Checker<'a> {
    catalog: &'a dyn ServiceCatalog,
    problems: Vec<Problem>,
}

/// Where a set of states lives: the top level or one parallel branch.
#[derive(Clone, Copy)]
struct Scope<'a> {
    states: &'a BTreeMap<String, State>,
    start_at: &'a str,
    /// `(parallel state, branch name)` for a branch.
    branch: Option<(&'a str, &'a str)>,
}

impl Checker<'_> {
    fn push(&mut self, state: Option<&str>, field: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            state: state.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    fn definition(&mut self, def: &Definition) {
        if def.name.trim().is_empty() {
            self.push(None, Some("name"), "must not be empty");
        }
        if def.version == 0 {
            self.push(None, Some("version"), "must be at least 1");
        }
        if def.timeouts.workflow_ms == Some(0) {
            self.push(None, Some("timeouts.workflow_ms"), "must be greater than 0");
        }
        if let Some(schema) = &def.input_schema {
            if schema.kind.is_some_and(|k| k != SchemaType::Object) {
                self.push(None, Some("input_schema.type"), "the workflow input must be an object");
            }
            for (at, message) in schema_problems(schema) {
                self.push(None, Some(&at), message);
            }
        }
        for (i, key) in def.business_keys.iter().enumerate() {
            if let Err(e) = Path::parse(key) {
                self.push(None, Some(&format!("business_keys[{i}]")), e.to_string());
            }
        }
        for (i, t) in def.sla.iter().enumerate() {
            let field = format!("sla[{i}]");
            if t.metric.trim().is_empty() {
                self.push(None, Some(&format!("{field}.metric")), "must not be empty");
            }
            if !t.threshold.is_finite() {
                self.push(None, Some(&format!("{field}.threshold")), "must be a finite number");
            }
            if t.window_ms == 0 {
                self.push(None, Some(&format!("{field}.window_ms")), "must be greater than 0");
            }
        }
        if let Some(p) = &def.compensation_retry {
            self.retry(None, "compensation_retry", p);
        }
        self.unique_names(def);
        let scope = Scope { states: &def.states, start_at: &def.start_at, branch: None };
        self.scope(scope);
    }

    fn unique_names(&mut self, def: &Definition) {
        let mut seen: BTreeMap<&str, &str> = def.states.keys().map(|k| (k.as_str(), "the top level")).collect();
        for (pname, s) in &def.states {
            let State::Parallel(p) = s else { continue };
            for b in &p.branches {
                for name in b.states.keys() {
                    if let Some(where_) = seen.get(name.as_str()) {
                        self.push(
                            Some(name),
                            None,
                            format!(
                                "state name is used twice (in branch '{}' of '{pname}' and in {where_}); state names must be unique across the definition",
                                b.name
                            ),
                        );
                    } else {
                        seen.insert(name, "another branch");
                    }
                }
            }
        }
    }

    fn scope(&mut self, scope: Scope<'_>) {
        let where_ = match scope.branch {
            None => "the definition".to_string(),
            Some((p, b)) => format!("branch '{b}' of '{p}'"),
        };
        if scope.states.is_empty() {
            self.push(scope.branch.map(|(p, _)| p), Some("states"), format!("{where_} has no states"));
            return;
        }
        if !scope.states.contains_key(scope.start_at) {
            self.push(
                scope.branch.map(|(p, _)| p),
                Some("start_at"),
                format!("start state '{}' of {where_} does not exist", scope.start_at),
            );
        }
        for (name, state) in scope.states {
            self.state(scope, name, state);
        }
        self.reachability(scope);
        self.loops(scope);
    }

    fn next_exists(&mut self, scope: Scope<'_>, state: &str, field: &str, target: &str) {
        if !scope.states.contains_key(target) {
            let hint = if scope.branch.is_some() {
                " in this parallel branch (a branch cannot jump out of itself)"
            } else {
                ""
            };
            self.push(Some(state), Some(field), format!("unknown state '{target}'{hint}"));
        }
    }

    fn next_or_end(&mut self, scope: Scope<'_>, state: &str, next: Option<&String>, end: bool) {
        match (next, end) {
            (Some(_), true) => self.push(Some(state), Some("next"), "has both 'next' and 'end: true'; choose one"),
            (None, false) => self.push(Some(state), Some("next"), "has neither 'next' nor 'end: true'"),
            (Some(n), false) => self.next_exists(scope, state, "next", n),
            (None, true) => {}
        }
    }

    fn service_action(&mut self, state: &str, field: &str, service: &str, action: &str) {
        if !self.catalog.has_service(service) {
            self.push(Some(state), Some(field), format!("unknown service '{service}'"));
        } else if !self.catalog.has_action(service, action) {
            self.push(Some(state), Some(field), format!("service '{service}' has no action '{action}'"));
        }
    }

    fn template(&mut self, state: &str, field: &str, t: &serde_json::Value) {
        for (at, e) in template_problems(t) {
            let f = if at.is_empty() { field.to_string() } else { format!("{field}.{at}") };
            self.push(Some(state), Some(&f), e.to_string());
        }
    }

    fn path_field(&mut self, state: &str, field: &str, p: Option<&String>) {
        if let Some(p) = p {
            if let Err(e) = Path::parse(p) {
                self.push(Some(state), Some(field), e.to_string());
            } else if p == "input" || p.starts_with("input.") || p.starts_with("$.input") {
                self.push(Some(state), Some(field), "must not write into the workflow input");
            }
        }
    }

    fn retry(&mut self, state: Option<&str>, prefix: &str, p: &RetryPolicy) {
        for (field, message) in p.problems() {
            self.push(state, Some(&format!("{prefix}.{field}")), message);
        }
    }

    fn state(&mut self, scope: Scope<'_>, name: &str, state: &State) {
        let in_branch = scope.branch.is_some();
        match state {
            State::Task(t) => {
                self.service_action(name, "service", &t.service, &t.action);
                let mut seen = BTreeSet::from([t.service.as_str()]);
                for (i, fb) in t.fallbacks.iter().enumerate() {
                    let field = format!("fallbacks[{i}]");
                    if !seen.insert(fb) {
                        self.push(Some(name), Some(&field), format!("service '{fb}' is listed twice"));
                    }
                    self.service_action(name, &field, fb, &t.action);
                }
                if let Some(input) = &t.input {
                    self.template(name, "input", input);
                }
                self.path_field(name, "result_path", t.result_path.as_ref());
                self.retry(Some(name), "retry", &t.retry);
                if t.timeout_ms == 0 {
                    self.push(Some(name), Some("timeout_ms"), "must be greater than 0");
                }
                if let Some(c) = &t.compensation {
                    self.service_action(name, "compensation.service", &c.service, &c.action);
                    if let Some(input) = &c.input {
                        self.template(name, "compensation.input", input);
                    }
                    if let Some(p) = &c.retry {
                        self.retry(Some(name), "compensation.retry", p);
                    }
                    if c.timeout_ms == 0 {
                        self.push(Some(name), Some("compensation.timeout_ms"), "must be greater than 0");
                    }
                }
                match &t.on_failure {
                    OnFailure::Compensate => {}
                    _ if in_branch => self.push(
                        Some(name),
                        Some("on_failure"),
                        "inside a parallel branch a failed task fails its branch; set on_failure on the parallel state instead",
                    ),
                    OnFailure::Goto(g) => self.next_exists(scope, name, "on_failure.goto", g),
                    OnFailure::Fail | OnFailure::Intervention => {}
                }
                self.next_or_end(scope, name, t.next.as_ref(), t.end);
            }
            State::Choice(c) => {
                if c.choices.is_empty() {
                    self.push(Some(name), Some("choices"), "has no rules");
                }
                for (i, rule) in c.choices.iter().enumerate() {
                    let field = format!("choices[{i}].condition");
                    let chars = rule.condition.chars().count();
                    if chars > MAX_CONDITION_CHARS {
                        self.push(
                            Some(name),
                            Some(&field),
                            format!("is {chars} characters long; at most {MAX_CONDITION_CHARS} are allowed"),
                        );
                    } else {
                        match Expr::parse(&rule.condition) {
                            Ok(_) => {}
                            Err(e @ expr::Error::TooDeep { .. }) => self.push(Some(name), Some(&field), e.to_string()),
                            Err(e) => self.push(
                                Some(name),
                                Some(&field),
                                format!("bad condition '{}': {e}", shorten(&rule.condition, 80)),
                            ),
                        }
                    }
                    self.next_exists(scope, name, &format!("choices[{i}].next"), &rule.next);
                }
                match &c.default {
                    None => self.push(
                        Some(name),
                        Some("default"),
                        "a choice needs a default next state for when no condition is true",
                    ),
                    Some(d) => self.next_exists(scope, name, "default", d),
                }
            }
            State::Parallel(p) => {
                if in_branch {
                    self.push(Some(name), None, "parallel states cannot be nested inside a parallel branch");
                    return;
                }
                if p.branches.is_empty() {
                    self.push(Some(name), Some("branches"), "has no branches");
                }
                let mut names = BTreeSet::new();
                for (i, b) in p.branches.iter().enumerate() {
                    if b.name.trim().is_empty() {
                        self.push(Some(name), Some(&format!("branches[{i}].name")), "must not be empty");
                    } else if !names.insert(b.name.as_str()) {
                        self.push(
                            Some(name),
                            Some(&format!("branches[{i}].name")),
                            format!("branch name '{}' is used twice", b.name),
                        );
                    }
                    self.scope(Scope { states: &b.states, start_at: &b.start_at, branch: Some((name, &b.name)) });
                }
                if p.on_failure == OnFailure::Intervention {
                    self.push(
                        Some(name),
                        Some("on_failure"),
                        "'intervention' is not supported on parallel states; use compensate, fail or goto",
                    );
                }
                if let OnFailure::Goto(g) = &p.on_failure {
                    self.next_exists(scope, name, "on_failure.goto", g);
                }
                self.path_field(name, "result_path", p.result_path.as_ref());
                self.next_or_end(scope, name, p.next.as_ref(), p.end);
            }
            State::Wait(w) => {
                match (&w.duration_ms, &w.until_path) {
                    (Some(_), Some(_)) => {
                        self.push(Some(name), Some("duration_ms"), "has both duration_ms and until_path; choose one")
                    }
                    (None, None) => self.push(Some(name), Some("duration_ms"), "needs duration_ms or until_path"),
                    (None, Some(p)) => {
                        if let Err(e) = Path::parse(p) {
                            self.push(Some(name), Some("until_path"), e.to_string());
                        }
                    }
                    (Some(_), None) => {}
                }
                self.next_or_end(scope, name, w.next.as_ref(), w.end);
            }
            State::Human(h) => {
                if in_branch {
                    self.push(Some(name), None, "human states are not supported inside a parallel branch");
                }
                if h.assignee_group.trim().is_empty() {
                    self.push(Some(name), Some("assignee_group"), "must not be empty");
                }
                if h.due_in_ms == Some(0) {
                    self.push(Some(name), Some("due_in_ms"), "must be greater than 0");
                }
                if h.decisions.is_empty() {
                    self.push(Some(name), Some("decisions"), "a human state needs at least one decision");
                }
                let mut names = BTreeSet::new();
                for (i, d) in h.decisions.iter().enumerate() {
                    if d.name.trim().is_empty() {
                        self.push(Some(name), Some(&format!("decisions[{i}].name")), "must not be empty");
                    } else if !names.insert(d.name.as_str()) {
                        self.push(
                            Some(name),
                            Some(&format!("decisions[{i}].name")),
                            format!("decision '{}' is listed twice", d.name),
                        );
                    }
                    self.next_exists(scope, name, &format!("decisions[{i}].next"), &d.next);
                }
                self.path_field(name, "result_path", h.result_path.as_ref());
            }
            State::Succeed(s) => {
                if let Some(o) = &s.output {
                    self.template(name, "output", o);
                }
            }
            State::Fail(f) => {
                if f.error.trim().is_empty() {
                    self.push(Some(name), Some("error"), "must name an error code");
                }
            }
        }
    }

    fn reachability(&mut self, scope: Scope<'_>) {
        if !scope.states.contains_key(scope.start_at) {
            return; // already reported; everything would be "unreachable"
        }
        let mut seen = BTreeSet::from([scope.start_at]);
        let mut todo = vec![scope.start_at];
        while let Some(n) = todo.pop() {
            let Some(s) = scope.states.get(n) else {
                continue;
            };
            for (_, next) in s.successors() {
                if scope.states.contains_key(next) && seen.insert(next) {
                    todo.push(next);
                }
            }
        }
        for name in scope.states.keys() {
            if !seen.contains(name.as_str()) {
                self.push(Some(name), None, format!("unreachable from start state '{}'", scope.start_at));
            }
        }
    }

    /// Cycles among states that are neither `wait` nor `human` would run without pause.
    fn loops(&mut self, scope: Scope<'_>) {
        let pausing = |s: &State| matches!(s, State::Wait(_) | State::Human(_));
        let nodes: Vec<&str> = scope.states.iter().filter(|(_, s)| !pausing(s)).map(|(n, _)| n.as_str()).collect();
        let edges = |n: &str| -> Vec<&str> {
            scope.states.get(n).map_or_else(Vec::new, |s| {
                s.successors()
                    .into_iter()
                    .map(|(_, t)| t)
                    .filter(|t| scope.states.get(*t).is_some_and(|ts| !pausing(ts)))
                    .collect()
            })
        };
        // Reachable sets via at least one edge; graphs are small, so quadratic is fine.
        let reach: BTreeMap<&str, BTreeSet<&str>> = nodes
            .iter()
            .map(|&n| {
                let mut seen = BTreeSet::new();
                let mut todo = edges(n);
                while let Some(m) = todo.pop() {
                    if seen.insert(m) {
                        todo.extend(edges(m));
                    }
                }
                (n, seen)
            })
            .collect();
        let mut reported = BTreeSet::new();
        for &n in &nodes {
            if reported.contains(n) || !reach[n].contains(n) {
                continue;
            }
            let component: Vec<&str> =
                nodes.iter().copied().filter(|m| reach[n].contains(m) && reach[*m].contains(n)).collect();
            reported.extend(component.iter().copied());
            self.push(
                Some(n),
                None,
                format!(
                    "loop without a wait: states {} form a cycle that passes through no wait or human state",
                    component.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
}

/// At most `keep` characters of a text taken from the definition, for messages.
fn shorten(text: &str, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
