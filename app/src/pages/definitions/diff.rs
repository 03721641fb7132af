//! What changed between two versions of a workflow definition, for people: the states added, removed
//! and changed (with each changed field's old and new value) and the workflow's own settings that
//! changed (`sla`, `timeouts`, `input_schema`, `business_keys`, `description`, …).
//!
//! [`diff_definitions`] is a pure function over the definitions as the API serves them
//! (`GET /api/definitions/{name}/versions/{v}`, field `definition`). States are compared by name, branch
//! states of parallel states included (a parallel state itself lists its branches' state names, so a
//! state moved into a branch shows there); fields by path, `retry.max_attempts`, `choices[0].next`.
//!
//! ```
//! use app::pages::definitions::diff::{diff_definitions, Change};
//! let old = serde_json::json!({"start_at": "a", "states": {"a": {"type": "task", "timeout_ms": 30000}}});
//! let new = serde_json::json!({"start_at": "a", "states": {"a": {"type": "task", "timeout_ms": 60000}}});
//! let diff = diff_definitions(&old, &new);
//! assert_eq!(diff.changed[0].fields[0].path, "timeout_ms");
//! assert_eq!(diff.changed[0].fields[0].change, Change::Changed(30000.into(), 60000.into()));
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Top-level fields that are not settings: `states` is compared state by state, and `version` always
/// differs between two versions.
const NOT_SETTINGS: [&str; 2] = ["states", "version"];

/// How one value changed.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Only the new version has it.
    Added(Value),
    /// Only the old version has it.
    Removed(Value),
    /// Both have it, with different values: old, new.
    Changed(Value, Value),
}

impl Change {
    /// The old value, if there is one.
    pub fn old(&self) -> Option<&Value> {
        match self {
            Change::Removed(old) | Change::Changed(old, _) => Some(old),
            Change::Added(_) => None,
        }
    }

    /// The new value, if there is one.
    pub fn new_value(&self) -> Option<&Value> {
        match self {
            Change::Added(new) | Change::Changed(_, new) => Some(new),
            Change::Removed(_) => None,
        }
    }

    /// `added`, `removed` or `changed`.
    pub fn label(&self) -> &'static str {
        match self {
            Change::Added(_) => "added",
            Change::Removed(_) => "removed",
            Change::Changed(..) => "changed",
        }
    }
}

/// One field that differs, by its path inside what is compared (`retry.max_attempts`, `sla[0].threshold`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub change: Change,
}

/// A state only one of the two versions has.
#[derive(Clone, Debug, PartialEq)]
pub struct StateEntry {
    pub name: String,
    /// Its `type`: task, choice, parallel, wait, human, succeed, fail.
    pub kind: String,
    pub definition: Value,
}

/// A state both versions have, with the fields that differ.
#[derive(Clone, Debug, PartialEq)]
pub struct StateChange {
    pub name: String,
    /// Its `type` in the new version.
    pub kind: String,
    pub fields: Vec<FieldChange>,
}

/// Everything that differs between two definitions. States are in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DefinitionDiff {
    /// Top-level fields other than `states` and `version`.
    pub settings: Vec<FieldChange>,
    pub added: Vec<StateEntry>,
    pub removed: Vec<StateEntry>,
    pub changed: Vec<StateChange>,
    /// States both versions have, identical.
    pub unchanged: usize,
}

impl DefinitionDiff {
    /// Whether the two definitions are the same (apart from their version numbers).
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// One line for people: `1 state changed · 1 state added · 2 workflow settings changed · 14 states
    /// unchanged`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "No difference: the two versions define the same workflow.".into();
        }
        let mut parts = Vec::new();
        for (n, what) in [(self.changed.len(), "changed"), (self.added.len(), "added"), (self.removed.len(), "removed")]
        {
            if n > 0 {
                parts.push(format!("{} {what}", plural(n, "state", "states")));
            }
        }
        if !self.settings.is_empty() {
            parts.push(format!("{} changed", plural(self.settings.len(), "workflow setting", "workflow settings")));
        }
        parts.push(format!("{} unchanged", plural(self.unchanged, "state", "states")));
        parts.join(" · ")
    }
}

/// `1 state`, `3 states`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What differs between `old` and `new`.
pub fn diff_definitions(old: &Value, new: &Value) -> DefinitionDiff {
    let mut diff = DefinitionDiff::default();

    let empty = Map::new();
    let (old_top, new_top) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
    let keys: std::collections::BTreeSet<&String> = old_top.keys().chain(new_top.keys()).collect();
    for key in keys.into_iter().filter(|k| !NOT_SETTINGS.contains(&k.as_str())) {
        diff_field(key, old_top.get(key), new_top.get(key), &mut diff.settings);
    }

    let (old_states, new_states) = (flat_states(old), flat_states(new));
    for (name, state) in &old_states {
        match new_states.get(name) {
            None => diff.removed.push(entry(name, state)),
            Some(new_state) => {
                let mut fields = Vec::new();
                diff_values("", state, new_state, &mut fields);
                if fields.is_empty() {
                    diff.unchanged += 1;
                } else {
                    diff.changed.push(StateChange { name: name.clone(), kind: kind_of(new_state), fields });
                }
            }
        }
    }
    for (name, state) in &new_states {
        if !old_states.contains_key(name) {
            diff.added.push(entry(name, state));
        }
    }
    diff
}

fn entry(name: &str, state: &Value) -> StateEntry {
    StateEntry { name: name.to_string(), kind: kind_of(state), definition: state.clone() }
}

fn kind_of(state: &Value) -> String {
    state.get("type").and_then(Value::as_str).unwrap_or("").to_string()
}

/// Every state by name, branch states included. A parallel state's branches list their states' names
/// instead of the states themselves: each state is compared once, on its own.
fn flat_states(definition: &Value) -> BTreeMap<String, Value> {
    fn walk(states: &Map<String, Value>, into: &mut BTreeMap<String, Value>) {
        for (name, state) in states {
            let mut own = state.clone();
            if let Some(branches) = own.get_mut("branches").and_then(Value::as_array_mut) {
                for branch in branches {
                    if let Some(inner) = branch.get("states").and_then(Value::as_object) {
                        walk(inner, into);
                        let names: Vec<Value> = inner.keys().cloned().map(Value::String).collect();
                        branch["states"] = Value::Array(names);
                    }
                }
            }
            into.insert(name.clone(), own);
        }
    }
    let mut all = BTreeMap::new();
    if let Some(states) = definition.get("states").and_then(Value::as_object) {
        walk(states, &mut all);
    }
    all
}

fn diff_field(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(old), Some(new)) => diff_values(path, old, new, out),
        (Some(old), None) => out.push(FieldChange { path: path.to_string(), change: Change::Removed(old.clone()) }),
        (None, Some(new)) => out.push(FieldChange { path: path.to_string(), change: Change::Added(new.clone()) }),
        (None, None) => {}
    }
}

/// Appends the differences between `old` and `new`, found under `path`, to `out`: objects field by
/// field; arrays of the same length element by element; an array that only grew or shrank at its end
/// by the elements added or removed; any other array as a whole (an insertion in the middle would
/// otherwise read as every later element changing).
pub fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                diff_field(&join(path, key), a.get(key), b.get(key), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_values(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.iter().zip(b).all(|(x, y)| x == y) => {
            let common = a.len().min(b.len());
            for (i, gone) in a.iter().enumerate().skip(common) {
                out.push(FieldChange { path: format!("{path}[{i}]"), change: Change::Removed(gone.clone()) });
            }
            for (i, came) in b.iter().enumerate().skip(common) {
                out.push(FieldChange { path: format!("{path}[{i}]"), change: Change::Added(came.clone()) });
            }
        }
        _ if numbers_equal(old, new) => {}
        _ => out.push(FieldChange { path: path.to_string(), change: Change::Changed(old.clone(), new.clone()) }),
    }
}

/// The value with every float that is a whole number written as an integer.
pub fn whole_numbers(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(whole_numbers).collect()),
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), whole_numbers(v))).collect()),
        other => other.clone(),
    }
}

/// `5000` and `5000.0` are the same threshold (the server writes numbers back as it read them).
fn numbers_equal(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A value as compact JSON for a diff line, cut to `max` characters with an ellipsis. Whole numbers read
/// as such (`2000`, not the `2000.0` the server stores).
pub fn short_json(value: &Value, max: usize) -> String {
    let text = whole_numbers(value).to_string();
    if text.chars().count() <= max {
        text
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A changed text cut down to what changed: the part both versions share at the start and at the end is
/// kept to `context` characters on each side (`…` marks a cut), so a sentence appended to a long
/// description reads as exactly that. The changed part runs from word edge to word edge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextChange {
    /// Shared text just before the change (`…` first when cut).
    pub before: String,
    /// What the old text had there, and what the new one has.
    pub old: String,
    pub new: String,
    /// Shared text just after the change (`…` last when cut).
    pub after: String,
}

/// What changed between two texts, with `context` characters around it.
pub fn text_change(old: &str, new: &str, context: usize) -> TextChange {
    let (a, b): (Vec<char>, Vec<char>) = (old.chars().collect(), new.chars().collect());
    // Whole words change: a cut inside a word moves to the word's edge ("three" → "five", not "thre" → "fiv").
    let edge = |c: &[char], i: usize| i == 0 || i == c.len() || c[i - 1].is_whitespace() || c[i].is_whitespace();
    let mut prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    while prefix > 0 && !(edge(&a, prefix) && edge(&b, prefix)) {
        prefix -= 1;
    }
    let room = a.len().min(b.len()) - prefix;
    let mut suffix = a.iter().rev().zip(b.iter().rev()).take(room).take_while(|(x, y)| x == y).count();
    while suffix > 0 && !(edge(&a, a.len() - suffix) && edge(&b, b.len() - suffix)) {
        suffix -= 1;
    }
    let text = |chars: &[char]| chars.iter().collect::<String>();
    // Context is cut at a word edge too, so it never starts or ends in the middle of a word.
    let before = if prefix > context {
        let mut start = prefix - context;
        while start < prefix && !edge(&a, start) {
            start += 1;
        }
        format!("…{}", text(&a[start..prefix]))
    } else {
        text(&a[..prefix])
    };
    let after_start = a.len() - suffix;
    let after = if suffix > context {
        let mut end = after_start + context;
        while end > after_start && !edge(&a, end) {
            end -= 1;
        }
        format!("{}…", text(&a[after_start..end]))
    } else {
        text(&a[after_start..])
    };
    TextChange { before, old: text(&a[prefix..after_start]), new: text(&b[prefix..b.len() - suffix]), after }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v1() -> Value {
        json!({
            "name": "call", "version": 1, "description": "Calls.",
            "timeouts": {"workflow_ms": 60000},
            "sla": [{"metric": "p95_duration_ms", "threshold": 2000, "window_ms": 3600000}],
            "input_schema": {"type": "object", "required": ["call_id"]},
            "start_at": "validate",
            "states": {
                "validate": {"type": "task", "service": "calls", "action": "validate", "next": "route",
                             "timeout_ms": 30000, "retry": {"max_attempts": 3, "initial_delay_ms": 200}},
                "route": {"type": "choice", "choices": [{"condition": "steps.validate.ok", "next": "done"}],
                          "default": "reject"},
                "reject": {"type": "fail", "message": "invalid call"},
                "done": {"type": "succeed"}
            }
        })
    }

    #[test]
    fn identical_definitions_have_no_difference_whatever_their_versions() {
        let mut v2 = v1();
        v2["version"] = json!(2);
        let diff = diff_definitions(&v1(), &v2);
        assert!(diff.is_empty());
        assert_eq!(diff.unchanged, 4);
        assert_eq!(diff.summary(), "No difference: the two versions define the same workflow.");
    }

    #[test]
    fn changed_state_fields_are_listed_by_path_with_old_and_new_values() {
        let mut v2 = v1();
        v2["states"]["validate"]["timeout_ms"] = json!(45000);
        v2["states"]["validate"]["retry"]["max_attempts"] = json!(5);
        v2["states"]["validate"]["compensation"] = json!({"service": "calls", "action": "release"});
        v2["states"]["route"]["choices"][0]["next"] = json!("reject");
        let diff = diff_definitions(&v1(), &v2);
        assert!(diff.added.is_empty() && diff.removed.is_empty() && diff.settings.is_empty());
        assert_eq!(diff.changed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["route", "validate"]);
        assert_eq!(diff.changed[0].kind, "choice");
        assert_eq!(
            diff.changed[0].fields,
            [FieldChange { path: "choices[0].next".into(), change: Change::Changed(json!("done"), json!("reject")) }]
        );
        let validate: Vec<(&str, &Change)> =
            diff.changed[1].fields.iter().map(|f| (f.path.as_str(), &f.change)).collect();
        assert_eq!(
            validate,
            [
                ("compensation", &Change::Added(json!({"service": "calls", "action": "release"}))),
                ("retry.max_attempts", &Change::Changed(json!(3), json!(5))),
                ("timeout_ms", &Change::Changed(json!(30000), json!(45000))),
            ]
        );
        assert_eq!(diff.unchanged, 2);
        assert_eq!(diff.summary(), "2 states changed · 2 states unchanged");
    }

    #[test]
    fn added_and_removed_states_are_listed_with_their_kind() {
        let mut v2 = v1();
        let states = v2["states"].as_object_mut().unwrap();
        states.remove("reject");
        states.insert("review".into(), json!({"type": "human", "assignee_group": "ops", "decisions": []}));
        states["route"]["default"] = json!("review");
        let diff = diff_definitions(&v1(), &v2);
        assert_eq!(diff.added.len(), 1);
        assert_eq!((diff.added[0].name.as_str(), diff.added[0].kind.as_str()), ("review", "human"));
        assert_eq!((diff.removed[0].name.as_str(), diff.removed[0].kind.as_str()), ("reject", "fail"));
        assert_eq!(diff.removed[0].definition, json!({"type": "fail", "message": "invalid call"}));
        assert_eq!(diff.changed[0].fields[0].path, "default");
        assert_eq!(diff.summary(), "1 state changed · 1 state added · 1 state removed · 2 states unchanged");
    }

    #[test]
    fn top_level_settings_are_compared_field_by_field() {
        let mut v2 = v1();
        v2["sla"][0]["threshold"] = json!(1500);
        v2["sla"]
            .as_array_mut()
            .unwrap()
            .push(json!({"metric": "error_rate", "threshold": 0.05, "window_ms": 86400000}));
        v2["timeouts"] = json!({});
        v2["input_schema"]["required"] = json!(["call_id", "number"]);
        v2["business_keys"] = json!(["input.call_id"]);
        let diff = diff_definitions(&v1(), &v2);
        let settings: Vec<(&str, &str)> = diff.settings.iter().map(|f| (f.path.as_str(), f.change.label())).collect();
        assert_eq!(
            settings,
            [
                ("business_keys", "added"),
                ("input_schema.required[1]", "added"),
                // The list changed inside and grew: shown whole.
                ("sla", "changed"),
                ("timeouts.workflow_ms", "removed"),
            ]
        );
        assert_eq!(diff.settings[3].change.old(), Some(&json!(60000)));
        assert_eq!(diff.settings[3].change.new_value(), None);
        assert!(diff.changed.is_empty());
        assert_eq!(diff.summary(), "4 workflow settings changed · 4 states unchanged");
    }

    #[test]
    fn a_shorter_list_shows_the_removed_tail_and_equal_numbers_are_equal() {
        let mut changes = Vec::new();
        diff_values("required", &json!(["a", "b", "c"]), &json!(["a"]), &mut changes);
        assert_eq!(changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), ["required[1]", "required[2]"]);
        assert!(changes.iter().all(|c| matches!(c.change, Change::Removed(_))));
        let mut none = Vec::new();
        diff_values("threshold", &json!(5000), &json!(5000.0), &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn branch_states_are_compared_on_their_own() {
        let parallel = |monitor_timeout: u64, extra: bool| {
            let mut branch_states = json!({"monitor": {"type": "task", "service": "q", "action": "m",
                                                       "timeout_ms": monitor_timeout}});
            if extra {
                branch_states["score"] = json!({"type": "task", "service": "q", "action": "s"});
            }
            json!({"start_at": "during", "states": {
                "during": {"type": "parallel", "next": "done",
                           "branches": [{"start_at": "monitor", "states": branch_states}]},
                "done": {"type": "succeed"}}})
        };
        let diff = diff_definitions(&parallel(1000, false), &parallel(2000, true));
        assert_eq!(diff.added.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["score"]);
        let changed: Vec<(&str, &str)> = diff
            .changed
            .iter()
            .flat_map(|c| c.fields.iter().map(move |f| (c.name.as_str(), f.path.as_str())))
            .collect();
        // The parallel state lists its branch's states by name; the branch state's own change is its own.
        assert_eq!(changed, [("during", "branches[0].states[1]"), ("monitor", "timeout_ms")]);
        assert_eq!(diff.unchanged, 1);
    }

    #[test]
    fn a_changed_text_is_cut_down_to_what_changed() {
        let old = "One call from initiation to settlement. A failure undoes it.";
        let new = "One call from initiation to settlement. A failure undoes it. Version two waits longer.";
        assert_eq!(
            text_change(old, new, 12),
            TextChange {
                before: "… undoes it.".into(),
                old: String::new(),
                new: " Version two waits longer.".into(),
                after: String::new()
            }
        );
        let swapped = text_change("retry three times", "retry five times", 40);
        assert_eq!(
            (swapped.before.as_str(), swapped.old.as_str(), swapped.new.as_str(), swapped.after.as_str()),
            ("retry ", "three", "five", " times")
        );
        // Repeated letters at the seam are not counted twice; a changed word is shown whole.
        let repeated = text_change("aa", "aaa", 5);
        assert_eq!((repeated.before.as_str(), repeated.old.as_str(), repeated.new.as_str()), ("", "aa", "aaa"));
        assert_eq!(text_change("same", "same", 5).old, "");
    }

    #[test]
    fn long_values_are_cut_for_a_diff_line() {
        assert_eq!(short_json(&json!("abc"), 10), "\"abc\"");
        assert_eq!(short_json(&json!({"a": "bcdefghijk"}), 10), "{\"a\":\"bcd…");
        assert_eq!(short_json(&json!({"threshold": 2000.0, "rate": 0.5}), 80), "{\"rate\":0.5,\"threshold\":2000}");
    }
}
