//! Definition validation: every problem, not just the first.
//!
//! [`validate_json`] reads a definition from untrusted JSON and checks it: it lists every format
//! problem (a field of the wrong type, an unknown field, a missing one; module `read`) together
//! with every problem of the parts that could be read. [`validate`] checks an already parsed
//! [`Definition`]. Both check it against itself and a [`ServiceCatalog`] (which `service.action`
//! pairs exist) and return every [`Problem`] they find: unknown or missing states, unreachable
//! states, unknown services and actions, conditions that do not parse, loops that pass through no
//! `wait` or `human` state (they would spin without pause), retry policies with impossible numbers,
//! names, conditions and graphs past the [limits](crate::limits), and more. A definition is accepted
//! only when the list is empty.
//!
//! Problems are folded under their cause: states that are unreachable only because a `next` names
//! a state that does not exist (and looks like a typo of one that does) are listed in that
//! problem's message, and the states only an unreachable state leads to are listed in its message,
//! instead of one problem each.
//!
//! The graph checks (reachability, loops) are linear in states plus transitions: states are
//! numbered once, and module `graph` finds loops with Tarjan's algorithm without recursion.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definition::{Definition, OnFailure, State};
use crate::expr::{self, Expr};
use crate::graph::{components, explore};
use crate::limits::{MAX_CONDITION_CHARS, MAX_NAME_CHARS, MAX_PROBLEMS, MAX_STATES};
use crate::path::{template_problems, Path};
use crate::read::{self, Gaps};
use crate::retry::RetryPolicy;
use crate::schema::{schema_problems, SchemaType};
use crate::words::{code, shorten, some_names, Suggester};

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
    /// The state concerned (`None` for definition-level fields). State names are unique across
    /// the definition, parallel branches included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The field concerned, inside the state if there is one, e.g. `next`, `retry.multiplier`,
    /// `choices[2].condition`, `input_schema.properties.amount.type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where the problem is in the definition's JSON, as one path: `states.payout.timeout_ms`,
    /// `states.p.branches[0].states.meter.next` for a branch state, `name` for a top-level field,
    /// `definition` for the whole.
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
}

impl Problem {
    /// A problem of `field` (or of the whole) of the state at `base` (`states.a`; empty for the
    /// top level).
    pub(crate) fn at(state: Option<&str>, base: &str, field: Option<&str>, message: String) -> Problem {
        let path = match (base.is_empty(), field) {
            (true, None) => "definition".to_string(),
            (true, Some(f)) => f.to_string(),
            (false, None) => base.to_string(),
            (false, Some(f)) => format!("{base}.{f}"),
        };
        Problem { state: state.map(str::to_string), field: field.map(str::to_string), path, message }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Validates a parsed definition (see the module docs).
///
/// # Errors
/// Every [`Problem`] found (at most [`MAX_PROBLEMS`], then one saying how many more), grouped by
/// state in name order after the definition-level ones.
pub fn validate(def: &Definition, catalog: &dyn ServiceCatalog) -> Result<(), Vec<Problem>> {
    let gaps = Gaps::default();
    let problems = check(def, &gaps, catalog);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(finish(problems, 0))
    }
}

/// Reads a definition from untrusted JSON and validates it: the definition, or every format
/// problem and every problem of the parts that could be read (see the module docs).
///
/// # Errors
/// As [`validate`]; problems that are only consequences of a part that could not be read are
/// left out.
pub fn validate_json(value: &Value, catalog: &dyn ServiceCatalog) -> Result<Definition, Vec<Problem>> {
    let reading = read::read(value);
    let Some(def) = reading.definition else {
        return Err(finish(reading.problems, reading.unlisted));
    };
    let mut problems = reading.problems;
    let checked = check(&def, &reading.gaps, catalog);
    // A problem of a field that could not be read (or lies inside one) is a consequence of its
    // placeholder; a problem of a whole state (unreachable, a name used twice) is not.
    problems.extend(checked.into_iter().filter(|p| p.field.is_none() || !reading.gaps.covers(&p.path)));
    if problems.is_empty() && reading.unlisted == 0 {
        Ok(def)
    } else {
        Err(finish(problems, reading.unlisted))
    }
}

/// Reads a definition from untrusted JSON without validating it: the definition, or every
/// format problem (see [`crate::read`]).
pub(crate) fn read_only(value: &Value) -> Result<Definition, Vec<Problem>> {
    let reading = read::read(value);
    match reading.definition {
        Some(def) if reading.problems.is_empty() && reading.unlisted == 0 => Ok(def),
        _ => Err(finish(reading.problems, reading.unlisted)),
    }
}

fn check(def: &Definition, gaps: &Gaps, catalog: &dyn ServiceCatalog) -> Vec<Problem> {
    let mut c = Checker { catalog, gaps, problems: Vec::new(), suggest: Suggester::default() };
    c.definition(def);
    c.problems
}

/// Orders problems (definition-level first, then by state, each state's in the order found) and
/// keeps at most [`MAX_PROBLEMS`], adding one that says how many more there are.
fn finish(mut problems: Vec<Problem>, unlisted: usize) -> Vec<Problem> {
    problems.sort_by_cached_key(|p| match &p.field {
        _ if p.state.is_none() => String::new(),
        Some(f) => p.path.strip_suffix(f.as_str()).unwrap_or(&p.path).trim_end_matches('.').to_string(),
        None => p.path.clone(),
    });
    let more = problems.len().saturating_sub(MAX_PROBLEMS) + unlisted;
    problems.truncate(MAX_PROBLEMS);
    if more > 0 {
        problems.push(Problem::at(
            None,
            "",
            None,
            format!("… and {more} more problems (only the first {MAX_PROBLEMS} are listed)"),
        ));
    }
    problems
}

struct Checker<'a> {
    catalog: &'a dyn ServiceCatalog,
    gaps: &'a Gaps,
    problems: Vec<Problem>,
    suggest: Suggester,
}

/// Where a set of states lives: the top level or one parallel branch.
#[derive(Clone, Copy)]
struct Scope<'a> {
    states: &'a BTreeMap<String, State>,
    /// States of this graph that could not be read (see [`Gaps`]).
    unreadable: Option<&'a BTreeMap<String, Option<Vec<String>>>>,
    start_at: &'a str,
    /// `(parallel state, branch index, branch name)` for a branch.
    branch: Option<(&'a str, usize, &'a str)>,
}

impl<'a> Scope<'a> {
    /// The path of one of its states.
    fn base(&self, name: &str) -> String {
        match self.branch {
            None => format!("states.{name}"),
            Some((p, i, _)) => format!("states.{p}.branches[{i}].states.{name}"),
        }
    }

    /// Where the scope's own fields (`states`, `start_at`) are: `(state, its path, field)`.
    fn own(&self, field: &str) -> (Option<&'a str>, String, String) {
        match self.branch {
            None => (None, String::new(), field.to_string()),
            Some((p, i, _)) => (Some(p), format!("states.{p}"), format!("branches[{i}].{field}")),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.states.contains_key(name) || self.unreadable.is_some_and(|u| u.contains_key(name))
    }

    /// Every state name, read or not, in no particular order.
    fn all_names(&self) -> impl Iterator<Item = &'a str> {
        self.states.keys().chain(self.unreadable.into_iter().flat_map(BTreeMap::keys)).map(String::as_str)
    }

    /// Every state name, sorted (states are numbered by their position here).
    fn sorted_names(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = self.all_names().collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    fn describe(&self) -> String {
        match self.branch {
            None => "the definition".to_string(),
            Some((p, _, b)) => format!("branch {} of {}", code(b), code(p)),
        }
    }
}

/// A `next` (or `default`, decision, goto) naming a state that does not exist: what it probably
/// meant, and which problem reports it (states only reachable through the meant one are folded
/// into its message).
struct BrokenRef {
    from: String,
    meant: Option<String>,
    problem: usize,
}

fn did_you_mean(guess: Option<&str>) -> String {
    guess.map(|g| format!(" (did you mean {}?)", code(g))).unwrap_or_default()
}

fn too_long(what: &str, name: &str) -> Option<String> {
    let chars = name.chars().count();
    (chars > MAX_NAME_CHARS).then(|| format!("{what} is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"))
}

impl Checker<'_> {
    /// Records a problem; returns its index.
    fn push(&mut self, state: Option<&str>, base: &str, field: Option<&str>, message: impl Into<String>) -> usize {
        self.problems.push(Problem::at(state, base, field, message.into()));
        self.problems.len() - 1
    }

    /// Whether reading left a placeholder at `field` of the state at `base` (or inside it).
    fn touched(&self, base: &str, field: &str) -> bool {
        let path = if base.is_empty() { field.to_string() } else { format!("{base}.{field}") };
        self.gaps.touched(&path)
    }

    fn definition(&mut self, def: &Definition) {
        if def.name.trim().is_empty() {
            self.push(None, "", Some("name"), "must not be empty");
        }
        if let Some(m) = too_long("the name", &def.name) {
            self.push(None, "", Some("name"), m);
        }
        if def.version == 0 {
            self.push(None, "", Some("version"), "must be at least 1");
        }
        if def.timeouts.workflow_ms == Some(0) {
            self.push(None, "", Some("timeouts.workflow_ms"), "must be greater than 0");
        }
        if let Some(schema) = &def.input_schema {
            if schema.kind.is_some_and(|k| k != SchemaType::Object) {
                self.push(None, "", Some("input_schema.type"), "the workflow input must be an object");
            }
            for (at, message) in schema_problems(schema) {
                self.push(None, "", Some(&at), message);
            }
        }
        for (i, key) in def.business_keys.iter().enumerate() {
            if let Err(e) = Path::parse(key) {
                self.push(None, "", Some(&format!("business_keys[{i}]")), e.to_string());
            }
        }
        for (i, t) in def.sla.iter().enumerate() {
            let field = format!("sla[{i}]");
            if t.metric.trim().is_empty() {
                self.push(None, "", Some(&format!("{field}.metric")), "must not be empty");
            }
            if !t.threshold.is_finite() {
                self.push(None, "", Some(&format!("{field}.threshold")), "must be a finite number");
            }
            if t.window_ms == 0 {
                self.push(None, "", Some(&format!("{field}.window_ms")), "must be greater than 0");
            }
        }
        if let Some(p) = &def.compensation_retry {
            self.retry(None, "", "compensation_retry", p);
        }
        if self.gaps.lost("states") {
            return; // not read: nothing to check in it
        }
        let count = def.states.len() + def.states.values().map(branch_states).sum::<usize>();
        if count > MAX_STATES {
            self.push(
                None,
                "",
                Some("states"),
                format!("has {count} states (branch states included); at most {MAX_STATES} are allowed"),
            );
            return;
        }
        self.unique_names(def);
        let unreadable = self.gaps.unreadable.get(&None);
        self.scope(Scope { states: &def.states, unreadable, start_at: &def.start_at, branch: None });
    }

    fn unique_names(&mut self, def: &Definition) {
        let top =
            Scope { states: &def.states, unreadable: self.gaps.unreadable.get(&None), start_at: "", branch: None };
        let mut seen: BTreeMap<&str, String> = top.all_names().map(|k| (k, "the top level".to_string())).collect();
        for (pname, s) in &def.states {
            let State::Parallel(p) = s else { continue };
            for (i, b) in p.branches.iter().enumerate() {
                let scope = Scope {
                    states: &b.states,
                    unreadable: self.gaps.unreadable.get(&Some((pname.clone(), i))),
                    start_at: "",
                    branch: Some((pname, i, &b.name)),
                };
                for name in scope.sorted_names() {
                    if let Some(where_) = seen.get(name) {
                        let message = format!(
                            "the state name {} is used twice (in {} and in {where_}); state names must be unique across the definition",
                            code(name),
                            scope.describe()
                        );
                        self.push(Some(name), &scope.base(name), None, message);
                    } else {
                        seen.insert(name, scope.describe());
                    }
                }
            }
        }
    }

    fn scope(&mut self, scope: Scope<'_>) {
        let (state, base, field) = scope.own("states");
        if self.gaps.lost(&if base.is_empty() { field.clone() } else { format!("{base}.{field}") }) {
            return; // not read
        }
        let names = scope.sorted_names();
        if names.is_empty() {
            self.push(state, &base, Some(&field), format!("{} has no states", scope.describe()));
            return;
        }
        let mut start = names.binary_search(&scope.start_at).ok();
        let (state, base, field) = scope.own("start_at");
        if start.is_none() && !self.touched(&base, &field) {
            let guess = self.suggest.closest(scope.start_at, names.iter().copied());
            let message = format!(
                "start state {} of {} does not exist{}",
                code(scope.start_at),
                scope.describe(),
                did_you_mean(guess)
            );
            self.push(state, &base, Some(&field), message);
            start = guess.and_then(|g| names.binary_search(&g).ok());
        }
        let mut refs = Vec::new();
        for name in &names {
            let base = scope.base(name);
            if name.trim().is_empty() {
                self.push(Some(name), &base, None, "a state name must not be empty");
            }
            if let Some(m) = too_long("the state name", name) {
                self.push(Some(name), &base, None, m);
            }
            if let Some(state) = scope.states.get(*name) {
                self.state(scope, name, &base, state, &mut refs);
            }
        }
        self.graph(scope, &names, start, &refs);
    }

    fn next_exists(
        &mut self,
        scope: Scope<'_>,
        from: &str,
        base: &str,
        field: &str,
        target: &str,
        refs: &mut Vec<BrokenRef>,
    ) {
        if scope.contains(target) {
            return;
        }
        let guess = self.suggest.closest(target, scope.all_names());
        let hint = if scope.branch.is_some() { " (a branch cannot jump out of itself)" } else { "" };
        let message = format!("{} is not a state of {}{hint}{}", code(target), scope.describe(), did_you_mean(guess));
        let problem = self.push(Some(from), base, Some(field), message);
        refs.push(BrokenRef { from: from.to_string(), meant: guess.map(str::to_string), problem });
    }

    fn next_or_end(
        &mut self,
        scope: Scope<'_>,
        name: &str,
        base: &str,
        next: Option<&String>,
        end: bool,
        refs: &mut Vec<BrokenRef>,
    ) {
        if self.touched(base, "next") || self.touched(base, "end") {
            if let Some(n) = next {
                self.next_exists(scope, name, base, "next", n, refs);
            }
            return;
        }
        match (next, end) {
            (Some(_), true) => {
                self.push(Some(name), base, Some("next"), "has both `next` and `end: true`; choose one");
            }
            (None, false) => {
                self.push(Some(name), base, Some("next"), "has neither `next` nor `end: true`");
            }
            (Some(n), false) => self.next_exists(scope, name, base, "next", n, refs),
            (None, true) => {}
        }
    }

    fn service_action(&mut self, name: &str, base: &str, field: &str, service: &str, action: &str) {
        if !self.catalog.has_service(service) {
            self.push(Some(name), base, Some(field), format!("unknown service {}", code(service)));
        } else if !self.catalog.has_action(service, action) {
            self.push(
                Some(name),
                base,
                Some(field),
                format!("service {} has no action {}", code(service), code(action)),
            );
        }
    }

    fn template(&mut self, name: &str, base: &str, field: &str, t: &Value) {
        for (at, message) in template_problems(t) {
            let f = if at.is_empty() { field.to_string() } else { format!("{field}.{at}") };
            self.push(Some(name), base, Some(&f), message);
        }
    }

    fn path_field(&mut self, name: &str, base: &str, field: &str, p: Option<&String>) {
        if let Some(p) = p {
            match Path::parse(p) {
                Err(e) => {
                    self.push(Some(name), base, Some(field), e.to_string());
                }
                Ok(path) if matches!(path.segments().first().map(String::as_str), Some("input" | "instance")) => {
                    let first = &path.segments()[0];
                    self.push(Some(name), base, Some(field), format!("must not write into the workflow's `{first}`"));
                }
                Ok(_) => {}
            }
        }
    }

    fn retry(&mut self, state: Option<&str>, base: &str, prefix: &str, p: &RetryPolicy) {
        if self.touched(base, prefix) {
            return; // a placeholder: its numbers say nothing
        }
        for (field, message) in p.problems() {
            self.push(state, base, Some(&format!("{prefix}.{field}")), message);
        }
    }

    fn state(&mut self, scope: Scope<'_>, name: &str, base: &str, state: &State, refs: &mut Vec<BrokenRef>) {
        let in_branch = scope.branch.is_some();
        match state {
            State::Task(t) => {
                let action_known = !self.touched(base, "action");
                if action_known && !self.touched(base, "service") {
                    self.service_action(name, base, "service", &t.service, &t.action);
                }
                let mut seen = BTreeSet::from([t.service.as_str()]);
                for (i, fb) in t.fallbacks.iter().enumerate() {
                    let field = format!("fallbacks[{i}]");
                    if !seen.insert(fb) {
                        self.push(Some(name), base, Some(&field), format!("service {} is listed twice", code(fb)));
                    } else if action_known {
                        self.service_action(name, base, &field, fb, &t.action);
                    }
                }
                if let Some(input) = &t.input {
                    self.template(name, base, "input", input);
                }
                self.path_field(name, base, "result_path", t.result_path.as_ref());
                self.retry(Some(name), base, "retry", &t.retry);
                if t.timeout_ms == 0 {
                    self.push(Some(name), base, Some("timeout_ms"), "must be greater than 0");
                }
                if let Some(c) = &t.compensation {
                    if !self.touched(base, "compensation.service") && !self.touched(base, "compensation.action") {
                        self.service_action(name, base, "compensation.service", &c.service, &c.action);
                    }
                    if let Some(input) = &c.input {
                        self.template(name, base, "compensation.input", input);
                    }
                    if let Some(p) = &c.retry {
                        self.retry(Some(name), base, "compensation.retry", p);
                    }
                    if c.timeout_ms == 0 {
                        self.push(Some(name), base, Some("compensation.timeout_ms"), "must be greater than 0");
                    }
                }
                match &t.on_failure {
                    OnFailure::Compensate => {}
                    _ if in_branch => {
                        self.push(
                            Some(name),
                            base,
                            Some("on_failure"),
                            "inside a parallel branch a failed task fails its branch; set on_failure on the parallel state instead",
                        );
                    }
                    OnFailure::Goto(g) => self.next_exists(scope, name, base, "on_failure.goto", g, refs),
                    OnFailure::Fail | OnFailure::Intervention => {}
                }
                self.next_or_end(scope, name, base, t.next.as_ref(), t.end, refs);
            }
            State::Choice(c) => {
                if c.choices.is_empty() {
                    self.push(Some(name), base, Some("choices"), "has no rules");
                }
                for (i, rule) in c.choices.iter().enumerate() {
                    let field = format!("choices[{i}].condition");
                    let chars = rule.condition.chars().count();
                    if chars > MAX_CONDITION_CHARS {
                        self.push(
                            Some(name),
                            base,
                            Some(&field),
                            format!("is {chars} characters long; at most {MAX_CONDITION_CHARS} are allowed"),
                        );
                    } else {
                        match Expr::parse(&rule.condition) {
                            Ok(_) => {}
                            Err(e @ expr::Error::TooDeep { .. }) => {
                                self.push(Some(name), base, Some(&field), e.to_string());
                            }
                            Err(e) => {
                                let text = shorten(&rule.condition, 80);
                                self.push(Some(name), base, Some(&field), format!("bad condition `{text}`: {e}"));
                            }
                        }
                    }
                    self.next_exists(scope, name, base, &format!("choices[{i}].next"), &rule.next, refs);
                }
                match &c.default {
                    None => {
                        self.push(
                            Some(name),
                            base,
                            Some("default"),
                            "a choice needs a default next state for when no condition is true",
                        );
                    }
                    Some(d) => self.next_exists(scope, name, base, "default", d, refs),
                }
            }
            State::Parallel(p) => {
                if in_branch {
                    self.push(Some(name), base, None, "parallel states cannot be nested inside a parallel branch");
                    return;
                }
                if p.branches.is_empty() {
                    self.push(Some(name), base, Some("branches"), "has no branches");
                }
                let mut names = BTreeSet::new();
                for (i, b) in p.branches.iter().enumerate() {
                    let field = format!("branches[{i}].name");
                    if b.name.trim().is_empty() {
                        self.push(Some(name), base, Some(&field), "must not be empty");
                    } else if !names.insert(b.name.as_str()) {
                        self.push(
                            Some(name),
                            base,
                            Some(&field),
                            format!("branch name {} is used twice", code(&b.name)),
                        );
                    }
                    if let Some(m) = too_long("the branch name", &b.name) {
                        self.push(Some(name), base, Some(&field), m);
                    }
                    self.scope(Scope {
                        states: &b.states,
                        unreadable: self.gaps.unreadable.get(&Some((name.to_string(), i))),
                        start_at: &b.start_at,
                        branch: Some((name, i, &b.name)),
                    });
                }
                if p.on_failure == OnFailure::Intervention {
                    self.push(
                        Some(name),
                        base,
                        Some("on_failure"),
                        "`intervention` is not supported on parallel states; use compensate, fail or goto",
                    );
                }
                if let OnFailure::Goto(g) = &p.on_failure {
                    self.next_exists(scope, name, base, "on_failure.goto", g, refs);
                }
                self.path_field(name, base, "result_path", p.result_path.as_ref());
                self.next_or_end(scope, name, base, p.next.as_ref(), p.end, refs);
            }
            State::Wait(w) => {
                if !self.touched(base, "duration_ms") && !self.touched(base, "until_path") {
                    match (&w.duration_ms, &w.until_path) {
                        (Some(_), Some(_)) => {
                            self.push(
                                Some(name),
                                base,
                                Some("duration_ms"),
                                "has both duration_ms and until_path; choose one",
                            );
                        }
                        (None, None) => {
                            self.push(Some(name), base, Some("duration_ms"), "needs duration_ms or until_path");
                        }
                        (None, Some(p)) => {
                            if let Err(e) = Path::parse(p) {
                                self.push(Some(name), base, Some("until_path"), e.to_string());
                            }
                        }
                        (Some(_), None) => {}
                    }
                }
                self.next_or_end(scope, name, base, w.next.as_ref(), w.end, refs);
            }
            State::Human(h) => {
                if in_branch {
                    self.push(Some(name), base, None, "human states are not supported inside a parallel branch");
                }
                if h.assignee_group.trim().is_empty() {
                    self.push(Some(name), base, Some("assignee_group"), "must not be empty");
                }
                if h.due_in_ms == Some(0) {
                    self.push(Some(name), base, Some("due_in_ms"), "must be greater than 0");
                }
                if h.decisions.is_empty() {
                    self.push(Some(name), base, Some("decisions"), "a human state needs at least one decision");
                }
                let mut names = BTreeSet::new();
                for (i, d) in h.decisions.iter().enumerate() {
                    let field = format!("decisions[{i}].name");
                    if d.name.trim().is_empty() {
                        self.push(Some(name), base, Some(&field), "must not be empty");
                    } else if !names.insert(d.name.as_str()) {
                        self.push(
                            Some(name),
                            base,
                            Some(&field),
                            format!("decision {} is listed twice", code(&d.name)),
                        );
                    }
                    if let Some(m) = too_long("the decision name", &d.name) {
                        self.push(Some(name), base, Some(&field), m);
                    }
                    self.next_exists(scope, name, base, &format!("decisions[{i}].next"), &d.next, refs);
                }
                self.path_field(name, base, "result_path", h.result_path.as_ref());
            }
            State::Succeed(s) => {
                if let Some(o) = &s.output {
                    self.template(name, base, "output", o);
                }
            }
            State::Fail(f) => {
                if f.error.trim().is_empty() {
                    self.push(Some(name), base, Some("error"), "must name an error code");
                }
            }
        }
    }

    /// Reachability and loops of one graph, in time linear in its states and transitions.
    fn graph(&mut self, scope: Scope<'_>, names: &[&str], start: Option<usize>, refs: &[BrokenRef]) {
        let index = |name: &str| names.binary_search(&name).ok();
        let n = names.len();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
        // Whether a state's next states are all known, and whether it runs without pausing.
        let mut known = vec![true; n];
        let mut moving = vec![false; n];
        for (i, name) in names.iter().enumerate() {
            match scope.states.get(*name) {
                Some(state) => {
                    edges[i] = state.successors().into_iter().filter_map(|(_, t)| index(t)).collect();
                    known[i] = !self.gaps.unknown_successors.contains(&scope.base(name));
                    moving[i] = !matches!(state, State::Wait(_) | State::Human(_));
                }
                None => match scope.unreadable.and_then(|u| u.get(*name)) {
                    Some(Some(raw)) => edges[i] = raw.iter().filter_map(|t| index(t)).collect(),
                    _ => known[i] = false,
                },
            }
        }
        if let Some(start) = start {
            self.reachability(scope, names, &edges, &known, start, refs);
        }
        self.loops(scope, names, &edges, &moving);
    }

    /// Reports unreachable states. States that become reachable once a broken reference is read
    /// as the state it probably meant are folded into that reference's problem; the remaining
    /// unreachable states are reported once per entry point, with the states it leads to.
    fn reachability(
        &mut self,
        scope: Scope<'_>,
        names: &[&str],
        edges: &[Vec<usize>],
        known: &[bool],
        start: usize,
        refs: &[BrokenRef],
    ) {
        let index = |name: &str| names.binary_search(&name).ok();
        let n = names.len();
        let mut refs_from: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (r, broken) in refs.iter().enumerate() {
            if let Some(i) = index(&broken.from) {
                refs_from[i].push(r);
            }
        }
        let mut seen = vec![false; n];
        // Broken references of reached states, in the order their states were reached.
        let mut ready: Vec<usize> = Vec::new();
        for v in explore(edges, start, &mut seen, |_| true) {
            ready.extend(&refs_from[v]);
        }
        let mut next = 0;
        while let Some(&r) = ready.get(next) {
            next += 1;
            let Some(meant) = refs[r].meant.as_deref().and_then(index) else { continue };
            if seen[meant] {
                continue;
            }
            let newly = explore(edges, meant, &mut seen, |_| true);
            for &v in &newly {
                ready.extend(&refs_from[v]);
            }
            let verb = if newly.len() == 1 { "is" } else { "are" };
            let list = some_names(newly.iter().map(|&v| names[v]));
            self.problems[refs[r].problem].message.push_str(&format!("; because of this, {list} {verb} unreachable"));
        }
        if (0..n).any(|v| seen[v] && !known[v]) {
            return; // a reached state leads to states that could not be read: any state may be reachable
        }
        let left: Vec<bool> = seen.iter().map(|s| !s).collect();
        if !left.contains(&true) {
            return;
        }
        let (component, count) = components(edges, |v| left[v]);
        // A component some other unreachable state leads to is not an entry point.
        let mut entered = vec![false; count];
        for u in (0..n).filter(|&u| left[u]) {
            for &v in &edges[u] {
                if left[v] && component[u] != component[v] {
                    entered[component[v]] = true;
                }
            }
        }
        let mut assigned = vec![false; n];
        for v in 0..n {
            if !left[v] || assigned[v] || entered[component[v]] {
                continue;
            }
            let group = explore(edges, v, &mut assigned, |w| left[w]);
            let mut message = format!("unreachable from start state {}", code(names[start]));
            if group.len() > 1 {
                let others = some_names(group[1..].iter().map(|&w| names[w]));
                message.push_str(&format!(", and so are the states it leads to: {others}"));
            }
            self.push(Some(names[v]), &scope.base(names[v]), None, message);
        }
    }

    /// Cycles among states that are neither `wait` nor `human` would run without pause.
    fn loops(&mut self, scope: Scope<'_>, names: &[&str], edges: &[Vec<usize>], moving: &[bool]) {
        let (component, count) = components(edges, |v| moving[v]);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
        for v in (0..names.len()).filter(|&v| moving[v]) {
            members[component[v]].push(v);
        }
        let mut cycles: Vec<&Vec<usize>> = members
            .iter()
            .filter(|m| match m.as_slice() {
                [v] => edges[*v].contains(v),
                many => many.len() > 1,
            })
            .collect();
        cycles.sort_by_key(|m| m[0]);
        for m in cycles {
            let first = names[m[0]];
            let message = if m.len() == 1 {
                format!(
                    "loop without a wait: state {} leads to itself without passing through a wait or human state",
                    code(first)
                )
            } else {
                format!(
                    "loop without a wait: states {} form a cycle that passes through no wait or human state",
                    some_names(m.iter().map(|&v| names[v]))
                )
            };
            self.push(Some(first), &scope.base(first), None, message);
        }
    }
}

/// The states inside a parallel state's branches.
fn branch_states(state: &State) -> usize {
    match state {
        State::Parallel(p) => p.branches.iter().map(|b| b.states.len()).sum(),
        _ => 0,
    }
}
