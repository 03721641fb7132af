//! Reading a definition from untrusted JSON: every format problem at once, each at its field.
//!
//! serde's derived `Deserialize` (used by [`Definition::from_json`] for trusted text, such as
//! the definitions a server stored itself) stops at the first problem and, inside a state
//! (tagged by `type`), cannot say which field was wrong. [`read`] walks the JSON by hand: the
//! top-level fields one by one, each state on its own, each field of a state on its own. Every
//! problem names its exact field (`states.payout.timeout_ms`) and says what was expected in
//! words (`must be a whole number of milliseconds, found the text "5s"`); an unknown field names
//! the fields there are. A part that cannot be read is replaced by its default or an empty
//! value, and [`Gaps`] remembers where, so that validation can check everything else without
//! reporting the consequences of those placeholders.
//!
//! It accepts what serde accepts, with the same defaults (`tests/fuzz.rs` compares the two on
//! generated definitions), except that it wants JSON objects where serde would also read a
//! struct from an array, that it refuses more than [`MAX_STATES`] states and schemas or
//! templates nested more than [`MAX_NESTING`] levels deep, and that it does not read the branches
//! of a parallel state inside a branch (validation refuses such a state). It never recurses
//! deeper than that.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::definition::{
    Branch, ChoiceRule, ChoiceState, Compensation, Decision, Definition, FailState, HumanState, OnFailure,
    ParallelState, Priority, SlaTarget, State, SucceedState, TaskState, Timeouts, WaitState, DEFAULT_TASK_TIMEOUT_MS,
};
use crate::event::ErrorKind;
use crate::limits::{MAX_NESTING, MAX_STATES};
use crate::retry::{Jitter, RetryPolicy};
use crate::schema::{Schema, SchemaType};
use crate::validate::Problem;
use crate::words::{code, codes, found, shorten, Suggester};

/// Which graph a state belongs to: `None` for the top level, `(parallel state, branch index)`
/// for a branch.
pub(crate) type ScopeId = Option<(String, usize)>;

/// Where reading left placeholders.
#[derive(Debug, Default)]
pub(crate) struct Gaps {
    /// Paths (as in [`Problem::path`]) of the parts that could not be read.
    broken: BTreeSet<String>,
    /// States that could not be read at all (no known `type`, or not an object), by graph and
    /// name, with the states their JSON names as next (`None` when that is unknown).
    pub(crate) unreadable: BTreeMap<ScopeId, BTreeMap<String, Option<Vec<String>>>>,
    /// Paths of states (`states.a`) some of whose next states could not be read.
    pub(crate) unknown_successors: BTreeSet<String>,
}

impl Gaps {
    /// Whether the part at `path`, or anything inside it, could not be read.
    pub(crate) fn touched(&self, path: &str) -> bool {
        self.broken
            .range(path.to_string()..)
            .take_while(|b| b.starts_with(path))
            .any(|b| matches!(b.as_bytes().get(path.len()), None | Some(b'.' | b'[')))
    }

    /// Whether the part at `path` itself could not be read (what is inside it may have been).
    pub(crate) fn lost(&self, path: &str) -> bool {
        self.broken.contains(path)
    }

    /// Whether `path` is a part that could not be read, or lies inside one: a problem found
    /// there is a consequence of the placeholder.
    pub(crate) fn covers(&self, path: &str) -> bool {
        if self.broken.contains(path) {
            return true;
        }
        path.char_indices().any(|(i, c)| (c == '.' || c == '[') && self.broken.contains(&path[..i]))
    }
}

/// What [`read`] found.
pub(crate) struct Reading {
    /// The definition with placeholders, or `None` when the JSON is not an object at all.
    pub(crate) definition: Option<Definition>,
    /// Every format problem (at most a few thousand; see `unlisted`).
    pub(crate) problems: Vec<Problem>,
    /// Problems found past the ones kept.
    pub(crate) unlisted: usize,
    pub(crate) gaps: Gaps,
}

/// Reads a definition (see the module docs).
pub(crate) fn read(value: &Value) -> Reading {
    let mut r = Reader::default();
    let definition = match value {
        Value::Object(map) => Some(r.definition(map)),
        other => {
            r.fail(&At::root(), format!("a definition is a JSON object, found {}", found(other)));
            None
        }
    };
    Reading { definition, problems: r.problems, unlisted: r.unlisted, gaps: r.gaps }
}

/// Problems kept while reading; a body with more (hundreds of thousands of unknown fields fit
/// in a megabyte) only has them counted.
const KEPT: usize = 2_000;

const KINDS: &[&str] = &["task", "choice", "parallel", "wait", "human", "succeed", "fail"];
const TOP_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "input_schema",
    "start_at",
    "states",
    "timeouts",
    "sla",
    "business_keys",
    "compensation_retry",
];
const TASK_FIELDS: &[&str] = &[
    "type",
    "service",
    "action",
    "input",
    "result_path",
    "retry",
    "timeout_ms",
    "compensation",
    "fallbacks",
    "on_failure",
    "next",
    "end",
];
const CHOICE_FIELDS: &[&str] = &["type", "choices", "default"];
const PARALLEL_FIELDS: &[&str] = &["type", "branches", "result_path", "on_failure", "next", "end"];
const WAIT_FIELDS: &[&str] = &["type", "duration_ms", "until_path", "next", "end"];
const HUMAN_FIELDS: &[&str] = &["type", "assignee_group", "title", "priority", "due_in_ms", "decisions", "result_path"];
const SUCCEED_FIELDS: &[&str] = &["type", "output"];
const FAIL_FIELDS: &[&str] = &["type", "error", "message", "compensate"];
const RETRY_FIELDS: &[&str] = &["max_attempts", "initial_delay_ms", "multiplier", "max_delay_ms", "jitter", "retry_on"];
const COMPENSATION_FIELDS: &[&str] = &["service", "action", "input", "retry", "timeout_ms"];
const RULE_FIELDS: &[&str] = &["condition", "next"];
const BRANCH_FIELDS: &[&str] = &["name", "start_at", "states"];
const DECISION_FIELDS: &[&str] = &["name", "next"];
const SLA_FIELDS: &[&str] = &["metric", "threshold", "window_ms"];
const TIMEOUT_FIELDS: &[&str] = &["workflow_ms"];
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "title",
    "description",
];
const PRIORITIES: &[(&str, Priority)] =
    &[("low", Priority::Low), ("normal", Priority::Normal), ("high", Priority::High), ("urgent", Priority::Urgent)];
const JITTERS: &[(&str, Jitter)] = &[("full", Jitter::Full), ("none", Jitter::None)];
const ERROR_KINDS: &[(&str, ErrorKind)] = &[
    ("retryable", ErrorKind::Retryable),
    ("permanent", ErrorKind::Permanent),
    ("timeout", ErrorKind::Timeout),
    ("circuit_open", ErrorKind::CircuitOpen),
];
const SCHEMA_TYPES: &[(&str, SchemaType)] = &[
    ("object", SchemaType::Object),
    ("array", SchemaType::Array),
    ("string", SchemaType::String),
    ("integer", SchemaType::Integer),
    ("number", SchemaType::Number),
    ("boolean", SchemaType::Boolean),
];

const TEXT: &str = "text";
const MILLIS: &str = "a whole number of milliseconds";

/// Where a value sits: the state it belongs to (if any), that state's path, and the field path
/// inside it.
#[derive(Clone)]
struct At {
    state: Option<String>,
    base: String,
    field: String,
}

impl At {
    fn root() -> At {
        At { state: None, base: String::new(), field: String::new() }
    }

    fn state(name: &str, base: String) -> At {
        At { state: Some(name.to_string()), base, field: String::new() }
    }

    fn key(&self, key: &str) -> At {
        let field = if self.field.is_empty() { key.to_string() } else { format!("{}.{key}", self.field) };
        At { field, ..self.clone() }
    }

    fn index(&self, i: usize) -> At {
        At { field: format!("{}[{i}]", self.field), ..self.clone() }
    }

    fn problem(&self, message: String) -> Problem {
        let field = (!self.field.is_empty()).then_some(self.field.as_str());
        Problem::at(self.state.as_deref(), &self.base, field, message)
    }
}

/// A field of an object: absent, `null`, or a value.
fn get<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key)
}

/// A field whose Rust type is an `Option`: serde reads `null` as absent there.
fn get_opt<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// Whether a value has arrays or objects nested more than `limit` levels deep (looks no deeper).
fn deeper_than(v: &Value, limit: usize) -> bool {
    match v {
        Value::Array(items) => limit == 0 || items.iter().any(|item| deeper_than(item, limit - 1)),
        Value::Object(map) => limit == 0 || map.values().any(|item| deeper_than(item, limit - 1)),
        _ => false,
    }
}

#[derive(Default)]
struct Reader {
    problems: Vec<Problem>,
    unlisted: usize,
    gaps: Gaps,
    suggest: Suggester,
}

impl Reader {
    fn fail(&mut self, at: &At, message: String) {
        let problem = at.problem(message);
        self.gaps.broken.insert(problem.path.clone());
        if self.problems.len() < KEPT {
            self.problems.push(problem);
        } else {
            self.unlisted += 1;
        }
    }

    /// Reports the fields of `map` that are not in `allowed`, naming the ones there are.
    fn unknown_fields(&mut self, map: &Map<String, Value>, at: &At, allowed: &[&str], what: &str) {
        let mut unknown: Vec<&String> = map.keys().filter(|k| !allowed.contains(&k.as_str())).collect();
        unknown.sort();
        for key in unknown {
            let guess = self.suggest.closest(key, allowed.iter().copied());
            let guess = guess.map(|g| format!(" (did you mean {}?)", code(g))).unwrap_or_default();
            self.fail(
                &at.key(&shorten(key, 60)),
                format!("is not a field of {what}{guess}; its fields are {}", codes(allowed)),
            );
        }
    }

    fn object<'v>(&mut self, v: &'v Value, at: &At, what: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(map) => Some(map),
            other => {
                self.fail(at, format!("must be an object ({what}), found {}", found(other)));
                None
            }
        }
    }

    fn list<'v>(&mut self, v: &'v Value, at: &At, what: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(items) => Some(items),
            other => {
                self.fail(at, format!("must be a list of {what}, found {}", found(other)));
                None
            }
        }
    }

    fn text(&mut self, v: &Value, at: &At) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.fail(at, format!("must be {TEXT}, found {}", found(other)));
                None
            }
        }
    }

    fn whole(&mut self, v: &Value, at: &At, what: &str) -> Option<u64> {
        let n = v.as_u64();
        if n.is_none() {
            self.fail(at, format!("must be {what}, found {}", found(v)));
        }
        n
    }

    fn whole_u32(&mut self, v: &Value, at: &At, what: &str) -> Option<u32> {
        match v.as_u64().map(u32::try_from) {
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                self.fail(at, format!("must be {what} of at most {}, found {}", u32::MAX, found(v)));
                None
            }
            None => {
                self.fail(at, format!("must be {what}, found {}", found(v)));
                None
            }
        }
    }

    fn number(&mut self, v: &Value, at: &At) -> Option<f64> {
        let n = v.as_f64();
        if n.is_none() {
            self.fail(at, format!("must be a number, found {}", found(v)));
        }
        n
    }

    fn flag(&mut self, v: &Value, at: &At) -> Option<bool> {
        let b = v.as_bool();
        if b.is_none() {
            self.fail(at, format!("must be `true` or `false`, found {}", found(v)));
        }
        b
    }

    fn one_of<T: Copy>(&mut self, v: &Value, at: &At, variants: &[(&str, T)]) -> Option<T> {
        if let Some(s) = v.as_str() {
            if let Some((_, t)) = variants.iter().find(|(name, _)| *name == s) {
                return Some(*t);
            }
        }
        let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
        let message = one_of_message(&names, v, &mut self.suggest);
        self.fail(at, message);
        None
    }

    /// A required text field; `None` (reported) when absent or not text.
    fn required_text(&mut self, map: &Map<String, Value>, at: &At, key: &str) -> Option<String> {
        match get(map, key) {
            None => {
                self.fail(&at.key(key), "is required".into());
                None
            }
            Some(v) => self.text(v, &at.key(key)),
        }
    }

    /// An optional text field (`null` is absent).
    fn optional_text(&mut self, map: &Map<String, Value>, at: &At, key: &str) -> Option<String> {
        get_opt(map, key).and_then(|v| self.text(v, &at.key(key)))
    }

    /// A text field with a default (absent is the default, `null` is wrong).
    fn text_or(&mut self, map: &Map<String, Value>, at: &At, key: &str, default: &str) -> String {
        get(map, key).and_then(|v| self.text(v, &at.key(key))).unwrap_or_else(|| default.to_string())
    }

    fn text_list(&mut self, map: &Map<String, Value>, at: &At, key: &str, what: &str) -> Vec<String> {
        let at = at.key(key);
        let Some(items) = get(map, key).and_then(|v| self.list(v, &at, what)) else {
            return Vec::new();
        };
        items.iter().enumerate().map(|(i, item)| self.text(item, &at.index(i)).unwrap_or_default()).collect()
    }

    fn flag_or(&mut self, map: &Map<String, Value>, at: &At, key: &str, default: bool) -> bool {
        get(map, key).and_then(|v| self.flag(v, &at.key(key))).unwrap_or(default)
    }

    /// A JSON template (any value; `null` is absent), refused past [`MAX_NESTING`] levels.
    fn template(&mut self, map: &Map<String, Value>, at: &At, key: &str) -> Option<Value> {
        let v = get_opt(map, key)?;
        if deeper_than(v, MAX_NESTING) {
            self.fail(&at.key(key), format!("nested more than {MAX_NESTING} levels deep"));
            return None;
        }
        Some(v.clone())
    }

    /// Records that the state at `base` has next states that could not be read, if any of the
    /// fields at `paths` (inside it) could not be read.
    fn note_successors(&mut self, base: &str, paths: impl IntoIterator<Item = String>) {
        if paths.into_iter().any(|p| self.gaps.lost(&format!("{base}.{p}"))) {
            self.gaps.unknown_successors.insert(base.to_string());
        }
    }

    fn definition(&mut self, map: &Map<String, Value>) -> Definition {
        let at = At::root();
        self.unknown_fields(map, &at, TOP_FIELDS, "a definition");
        let name = self.required_text(map, &at, "name").unwrap_or_default();
        let version = match get(map, "version") {
            None => 1,
            Some(v) => self.whole_u32(v, &at.key("version"), "a whole number (1, 2, …)").unwrap_or(1),
        };
        let description = self.text_or(map, &at, "description", "");
        let input_schema = get_opt(map, "input_schema").map(|v| self.schema(v, &at.key("input_schema"), 0));
        let start_at = self.required_text(map, &at, "start_at").unwrap_or_default();
        let states = match get(map, "states") {
            None => {
                self.fail(&at.key("states"), "is required".into());
                BTreeMap::new()
            }
            Some(v) => match count_states(v) {
                n if n > MAX_STATES => {
                    self.fail(
                        &at.key("states"),
                        format!("has {n} states (branch states included); at most {MAX_STATES} are allowed"),
                    );
                    BTreeMap::new()
                }
                _ => self.states(v, &at.key("states"), None, false),
            },
        };
        let timeouts = match get(map, "timeouts") {
            None => Timeouts::default(),
            Some(v) => self.timeouts(v, &at.key("timeouts")),
        };
        let sla = match get(map, "sla") {
            None => Vec::new(),
            Some(v) => self.sla(v, &at.key("sla")),
        };
        let business_keys = self.text_list(map, &at, "business_keys", "context paths");
        let compensation_retry =
            get_opt(map, "compensation_retry").map(|v| self.retry(v, &at.key("compensation_retry")));
        Definition {
            name,
            version,
            description,
            input_schema,
            start_at,
            states,
            timeouts,
            sla,
            business_keys,
            compensation_retry,
        }
    }

    fn timeouts(&mut self, v: &Value, at: &At) -> Timeouts {
        let Some(map) = self.object(v, at, "workflow-level timeouts") else {
            return Timeouts::default();
        };
        self.unknown_fields(map, at, TIMEOUT_FIELDS, "`timeouts`");
        let workflow_ms = get_opt(map, "workflow_ms").and_then(|v| self.whole(v, &at.key("workflow_ms"), MILLIS));
        Timeouts { workflow_ms }
    }

    fn sla(&mut self, v: &Value, at: &At) -> Vec<SlaTarget> {
        let Some(items) = self.list(v, at, "SLA targets") else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = at.index(i);
            let mut target = SlaTarget { metric: String::new(), threshold: 0.0, window_ms: 0 };
            if let Some(map) = self.object(item, &at, "an SLA target") {
                self.unknown_fields(map, &at, SLA_FIELDS, "an SLA target");
                target.metric = self.required_text(map, &at, "metric").unwrap_or_default();
                target.threshold = match get(map, "threshold") {
                    None => {
                        self.fail(&at.key("threshold"), "is required".into());
                        0.0
                    }
                    Some(v) => self.number(v, &at.key("threshold")).unwrap_or(0.0),
                };
                target.window_ms = match get(map, "window_ms") {
                    None => {
                        self.fail(&at.key("window_ms"), "is required".into());
                        0
                    }
                    Some(v) => self.whole(v, &at.key("window_ms"), MILLIS).unwrap_or(0),
                };
            }
            out.push(target);
        }
        out
    }

    /// The states of one graph; states that cannot be read are left out and remembered.
    fn states(&mut self, v: &Value, at: &At, scope: ScopeId, in_branch: bool) -> BTreeMap<String, State> {
        let Some(map) = self.object(v, at, "states by name") else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (name, value) in map {
            let base = match &scope {
                None => format!("states.{name}"),
                Some((parallel, i)) => format!("states.{parallel}.branches[{i}].states.{name}"),
            };
            match self.state(name, value, base, in_branch) {
                Some(state) => {
                    out.insert(name.clone(), state);
                }
                None => {
                    self.gaps.unreadable.entry(scope.clone()).or_default().insert(name.clone(), raw_successors(value));
                }
            }
        }
        out
    }

    fn state(&mut self, name: &str, v: &Value, base: String, in_branch: bool) -> Option<State> {
        let at = At::state(name, base.clone());
        let Value::Object(map) = v else {
            self.fail(&at, format!("must be an object with a `type` ({}), found {}", codes(KINDS), found(v)));
            return None;
        };
        let kind = match get(map, "type") {
            None => {
                self.fail(&at.key("type"), format!("is required: one of {}", codes(KINDS)));
                return None;
            }
            Some(Value::String(kind)) if KINDS.contains(&kind.as_str()) => kind.as_str(),
            Some(other) => {
                let message = one_of_message(KINDS, other, &mut self.suggest);
                self.fail(&at.key("type"), message);
                return None;
            }
        };
        Some(match kind {
            "task" => State::Task(self.task(map, &at, &base)),
            "choice" => State::Choice(self.choice(map, &at, &base)),
            "parallel" => State::Parallel(self.parallel(name, map, &at, &base, in_branch)),
            "wait" => State::Wait(self.wait(map, &at, &base)),
            "human" => State::Human(self.human(map, &at, &base)),
            "succeed" => {
                self.unknown_fields(map, &at, SUCCEED_FIELDS, "a `succeed` state");
                State::Succeed(SucceedState { output: self.template(map, &at, "output") })
            }
            _ => State::Fail(self.fail_state(map, &at)),
        })
    }

    fn task(&mut self, map: &Map<String, Value>, at: &At, base: &str) -> TaskState {
        self.unknown_fields(map, at, TASK_FIELDS, "a `task` state");
        let service = self.required_text(map, at, "service").unwrap_or_default();
        let action = self.required_text(map, at, "action").unwrap_or_default();
        let input = self.template(map, at, "input");
        let result_path = self.optional_text(map, at, "result_path");
        let retry = get(map, "retry").map_or_else(RetryPolicy::default, |v| self.retry(v, &at.key("retry")));
        let timeout_ms = get(map, "timeout_ms")
            .and_then(|v| self.whole(v, &at.key("timeout_ms"), MILLIS))
            .unwrap_or(DEFAULT_TASK_TIMEOUT_MS);
        let compensation = get_opt(map, "compensation").and_then(|v| self.compensation(v, &at.key("compensation")));
        let fallbacks = self.text_list(map, at, "fallbacks", "service names");
        let on_failure = self.on_failure(map, at);
        let next = self.optional_text(map, at, "next");
        self.note_successors(base, ["next".into(), "on_failure".into(), "on_failure.goto".into()]);
        let end = self.flag_or(map, at, "end", false);
        TaskState {
            service,
            action,
            input,
            result_path,
            retry,
            timeout_ms,
            compensation,
            fallbacks,
            on_failure,
            next,
            end,
        }
    }

    fn on_failure(&mut self, map: &Map<String, Value>, at: &At) -> OnFailure {
        let Some(v) = get(map, "on_failure") else {
            return OnFailure::default();
        };
        let at = at.key("on_failure");
        match v {
            Value::String(s) if s == "compensate" => OnFailure::Compensate,
            Value::String(s) if s == "fail" => OnFailure::Fail,
            Value::String(s) if s == "intervention" => OnFailure::Intervention,
            Value::Object(m) if m.len() == 1 && m.contains_key("goto") => {
                self.text(&m["goto"], &at.key("goto")).map_or_else(OnFailure::default, OnFailure::Goto)
            }
            other => {
                let said = match other {
                    Value::String(s) => code(s),
                    other => found(other),
                };
                self.fail(
                    &at,
                    format!("must be `compensate`, `fail`, `intervention` or {{\"goto\": \"<state>\"}}, found {said}"),
                );
                OnFailure::default()
            }
        }
    }

    fn retry(&mut self, v: &Value, at: &At) -> RetryPolicy {
        let mut p = RetryPolicy::default();
        let Some(map) = self.object(v, at, "a retry policy") else {
            return p;
        };
        self.unknown_fields(map, at, RETRY_FIELDS, "a retry policy");
        if let Some(n) = get(map, "max_attempts")
            .and_then(|v| self.whole_u32(v, &at.key("max_attempts"), "a whole number of attempts"))
        {
            p.max_attempts = n;
        }
        if let Some(ms) = get(map, "initial_delay_ms").and_then(|v| self.whole(v, &at.key("initial_delay_ms"), MILLIS))
        {
            p.initial_delay_ms = ms;
        }
        if let Some(x) = get(map, "multiplier").and_then(|v| self.number(v, &at.key("multiplier"))) {
            p.multiplier = x;
        }
        if let Some(ms) = get(map, "max_delay_ms").and_then(|v| self.whole(v, &at.key("max_delay_ms"), MILLIS)) {
            p.max_delay_ms = ms;
        }
        if let Some(j) = get(map, "jitter").and_then(|v| self.one_of(v, &at.key("jitter"), JITTERS)) {
            p.jitter = j;
        }
        if let Some(v) = get(map, "retry_on") {
            let at = at.key("retry_on");
            if let Some(items) = self.list(v, &at, "error kinds") {
                let kinds: Vec<Option<ErrorKind>> =
                    items.iter().enumerate().map(|(i, item)| self.one_of(item, &at.index(i), ERROR_KINDS)).collect();
                if kinds.iter().all(Option::is_some) {
                    p.retry_on = kinds.into_iter().flatten().collect();
                }
            }
        }
        p
    }

    fn compensation(&mut self, v: &Value, at: &At) -> Option<Compensation> {
        let map = self.object(v, at, "a compensation")?;
        self.unknown_fields(map, at, COMPENSATION_FIELDS, "a compensation");
        Some(Compensation {
            service: self.required_text(map, at, "service").unwrap_or_default(),
            action: self.required_text(map, at, "action").unwrap_or_default(),
            input: self.template(map, at, "input"),
            retry: get_opt(map, "retry").map(|v| self.retry(v, &at.key("retry"))),
            timeout_ms: get(map, "timeout_ms")
                .and_then(|v| self.whole(v, &at.key("timeout_ms"), MILLIS))
                .unwrap_or(DEFAULT_TASK_TIMEOUT_MS),
        })
    }

    fn choice(&mut self, map: &Map<String, Value>, at: &At, base: &str) -> ChoiceState {
        self.unknown_fields(map, at, CHOICE_FIELDS, "a `choice` state");
        let choices: Vec<ChoiceRule> = self
            .pairs(map, at, "choices", ("rule", "rules"), RULE_FIELDS, "condition")
            .into_iter()
            .map(|(condition, next)| ChoiceRule { condition, next })
            .collect();
        let default = self.optional_text(map, at, "default");
        let rules = (0..choices.len()).flat_map(|i| [format!("choices[{i}]"), format!("choices[{i}].next")]);
        self.note_successors(base, rules.chain(["choices".into(), "default".into()]));
        ChoiceState { choices, default }
    }

    fn parallel(
        &mut self,
        name: &str,
        map: &Map<String, Value>,
        at: &At,
        base: &str,
        in_branch: bool,
    ) -> ParallelState {
        self.unknown_fields(map, at, PARALLEL_FIELDS, "a `parallel` state");
        let branches = match get(map, "branches") {
            None => {
                self.fail(&at.key("branches"), "is required".into());
                Vec::new()
            }
            // Validation refuses a parallel state inside a branch; its branches are not read, so
            // reading never goes deeper than one level of branches.
            Some(_) if in_branch => Vec::new(),
            Some(v) => self.branches(name, v, &at.key("branches")),
        };
        let result_path = self.optional_text(map, at, "result_path");
        let on_failure = self.on_failure(map, at);
        let next = self.optional_text(map, at, "next");
        self.note_successors(base, ["next".into(), "on_failure".into(), "on_failure.goto".into()]);
        let end = self.flag_or(map, at, "end", false);
        ParallelState { branches, result_path, on_failure, next, end }
    }

    fn branches(&mut self, parallel: &str, v: &Value, at: &At) -> Vec<Branch> {
        let Some(items) = self.list(v, at, "branches ({\"name\": …, \"start_at\": …, \"states\": {…}})") else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = at.index(i);
            let mut branch = Branch { name: String::new(), start_at: String::new(), states: BTreeMap::new() };
            if let Some(m) = self.object(item, &at, "a branch: {\"name\": …, \"start_at\": …, \"states\": {…}}") {
                self.unknown_fields(m, &at, BRANCH_FIELDS, "a branch");
                branch.name = self.required_text(m, &at, "name").unwrap_or_default();
                branch.start_at = self.required_text(m, &at, "start_at").unwrap_or_default();
                branch.states = match get(m, "states") {
                    None => {
                        self.fail(&at.key("states"), "is required".into());
                        BTreeMap::new()
                    }
                    Some(v) => self.states(v, &at.key("states"), Some((parallel.to_string(), i)), true),
                };
            }
            out.push(branch);
        }
        out
    }

    fn wait(&mut self, map: &Map<String, Value>, at: &At, base: &str) -> WaitState {
        self.unknown_fields(map, at, WAIT_FIELDS, "a `wait` state");
        let duration_ms = get_opt(map, "duration_ms").and_then(|v| self.whole(v, &at.key("duration_ms"), MILLIS));
        let until_path = self.optional_text(map, at, "until_path");
        let next = self.optional_text(map, at, "next");
        self.note_successors(base, ["next".into()]);
        WaitState { duration_ms, until_path, next, end: self.flag_or(map, at, "end", false) }
    }

    fn human(&mut self, map: &Map<String, Value>, at: &At, base: &str) -> HumanState {
        self.unknown_fields(map, at, HUMAN_FIELDS, "a `human` state");
        let assignee_group = self.required_text(map, at, "assignee_group").unwrap_or_default();
        let title = self.text_or(map, at, "title", "");
        let priority =
            get(map, "priority").and_then(|v| self.one_of(v, &at.key("priority"), PRIORITIES)).unwrap_or_default();
        let due_in_ms = get_opt(map, "due_in_ms").and_then(|v| self.whole(v, &at.key("due_in_ms"), MILLIS));
        let decisions: Vec<Decision> = self
            .pairs(map, at, "decisions", ("decision", "decisions"), DECISION_FIELDS, "name")
            .into_iter()
            .map(|(name, next)| Decision { name, next })
            .collect();
        let each = (0..decisions.len()).flat_map(|i| [format!("decisions[{i}]"), format!("decisions[{i}].next")]);
        self.note_successors(base, each.chain(["decisions".into()]));
        let result_path = self.optional_text(map, at, "result_path");
        HumanState { assignee_group, title, priority, due_in_ms, decisions, result_path }
    }

    /// The required list `field` of `{first, "next"}` objects (a choice's rules, a human state's
    /// decisions), each problem at its item; an unreadable item still counts, as empty texts, so the
    /// item numbers of later problems stay right.
    fn pairs(
        &mut self,
        map: &Map<String, Value>,
        at: &At,
        field: &str,
        (item, items): (&str, &str),
        allowed: &[&str],
        first: &str,
    ) -> Vec<(String, String)> {
        let Some(v) = get(map, field) else {
            self.fail(&at.key(field), "is required".into());
            return Vec::new();
        };
        let at = at.key(field);
        let shape = format!("{{\"{first}\": …, \"next\": …}}");
        let Some(values) = self.list(v, &at, &format!("{items} ({shape})")) else { return Vec::new() };
        let mut pairs = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let at = at.index(i);
            let mut pair = (String::new(), String::new());
            if let Some(m) = self.object(value, &at, &format!("a {item}: {shape}")) {
                self.unknown_fields(m, &at, allowed, &format!("a {item}"));
                pair.0 = self.required_text(m, &at, first).unwrap_or_default();
                pair.1 = self.required_text(m, &at, "next").unwrap_or_default();
            }
            pairs.push(pair);
        }
        pairs
    }

    fn fail_state(&mut self, map: &Map<String, Value>, at: &At) -> FailState {
        self.unknown_fields(map, at, FAIL_FIELDS, "a `fail` state");
        FailState {
            error: self.required_text(map, at, "error").unwrap_or_default(),
            message: self.text_or(map, at, "message", ""),
            compensate: self.flag_or(map, at, "compensate", true),
        }
    }

    /// One schema of the input-schema subset; `depth` counts the schemas around it.
    fn schema(&mut self, v: &Value, at: &At, depth: usize) -> Schema {
        let mut s = Schema::default();
        let Some(map) = self.object(v, at, "a schema") else {
            return s;
        };
        if depth >= MAX_NESTING {
            self.fail(at, format!("nested more than {MAX_NESTING} levels deep"));
            return s;
        }
        let mut unknown: Vec<&String> = map.keys().filter(|k| !SCHEMA_KEYWORDS.contains(&k.as_str())).collect();
        unknown.sort();
        for key in unknown {
            let guess = self.suggest.closest(key, SCHEMA_KEYWORDS.iter().copied());
            let guess = guess.map(|g| format!(" (did you mean {}?)", code(g))).unwrap_or_default();
            self.fail(
                &at.key(&shorten(key, 60)),
                format!(
                    "{} is not a supported schema keyword{guess}; the supported ones are {}",
                    code(key),
                    codes(SCHEMA_KEYWORDS)
                ),
            );
        }
        s.kind = get_opt(map, "type").and_then(|v| self.one_of(v, &at.key("type"), SCHEMA_TYPES));
        if let Some(v) = get(map, "properties") {
            let at = at.key("properties");
            if let Some(props) = self.object(v, &at, "schemas by field name") {
                for (name, sub) in props {
                    let schema = self.schema(sub, &at.key(name), depth + 1);
                    s.properties.insert(name.clone(), schema);
                }
            }
        }
        s.required = self.text_list(map, at, "required", "field names");
        s.items = get_opt(map, "items").map(|v| Box::new(self.schema(v, &at.key("items"), depth + 1)));
        if let Some(v) = get_opt(map, "enum") {
            let at = at.key("enum");
            if let Some(items) = self.list(v, &at, "allowed values") {
                if deeper_than(v, MAX_NESTING) {
                    self.fail(&at, format!("nested more than {MAX_NESTING} levels deep"));
                } else {
                    s.allowed = Some(items.clone());
                }
            }
        }
        s.minimum = get_opt(map, "minimum").and_then(|v| self.number(v, &at.key("minimum")));
        s.maximum = get_opt(map, "maximum").and_then(|v| self.number(v, &at.key("maximum")));
        let chars = "a whole number of characters";
        s.min_length = get_opt(map, "minLength").and_then(|v| self.whole(v, &at.key("minLength"), chars)).map(to_usize);
        s.max_length = get_opt(map, "maxLength").and_then(|v| self.whole(v, &at.key("maxLength"), chars)).map(to_usize);
        s.title = self.optional_text(map, at, "title");
        s.description = self.optional_text(map, at, "description");
        s
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// "must be one of `a`, `b`, found `c` (did you mean `a`?)".
fn one_of_message(names: &[&str], v: &Value, suggest: &mut Suggester) -> String {
    match v {
        Value::String(s) => {
            let guess = suggest.closest(s, names.iter().copied());
            let guess = guess.map(|g| format!(" (did you mean {}?)", code(g))).unwrap_or_default();
            format!("must be one of {}, found {}{guess}", codes(names), code(s))
        }
        other => format!("must be one of {}, found {}", codes(names), found(other)),
    }
}

/// How many states a `states` value holds, branch states included (nothing is read yet).
fn count_states(v: &Value) -> usize {
    let Value::Object(states) = v else { return 0 };
    let in_branches = |state: &Value| -> usize {
        let Some(Value::Array(branches)) = state.get("branches") else { return 0 };
        branches.iter().map(|b| b.get("states").and_then(Value::as_object).map_or(0, Map::len)).sum()
    };
    states.len() + states.values().map(in_branches).sum::<usize>()
}

/// The next states an unreadable state's JSON names, if they can be told: the text values of
/// `next`, `default`, `choices[].next`, `decisions[].next` and `on_failure.goto`.
fn raw_successors(v: &Value) -> Option<Vec<String>> {
    let Value::Object(map) = v else { return None };
    let mut out = Vec::new();
    let mut take = |v: Option<&Value>| -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => {
                out.push(s.clone());
                true
            }
            Some(_) => false,
        }
    };
    let mut known = take(map.get("next")) && take(map.get("default"));
    for list in ["choices", "decisions"] {
        match map.get(list) {
            None => {}
            Some(Value::Array(items)) => known &= items.iter().all(|item| take(item.get("next"))),
            Some(_) => known = false,
        }
    }
    if let Some(Value::Object(goto)) = map.get("on_failure") {
        known &= take(goto.get("goto"));
    }
    known.then_some(out)
}
