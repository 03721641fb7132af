//! Definition validation lists every problem at once, each at its field, in words, with
//! consequences folded under their cause (issue 14, items 16 and 17).

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use switchboard_engine::limits::{MAX_PROBLEMS, MAX_STATES};
use switchboard_engine::{validate, validate_json, Definition, Problem, StaticCatalog};

fn catalog() -> StaticCatalog {
    StaticCatalog::new().with("identity", &["verify", "revoke"]).with("credit", &["check"]).with("backup", &["check"])
}

fn problems(v: serde_json::Value) -> Vec<Problem> {
    let def = Definition::from_value(v).expect("parses");
    validate(&def, &catalog()).expect_err("should have problems")
}

fn has(ps: &[Problem], state: Option<&str>, field: Option<&str>, needle: &str) -> bool {
    ps.iter().any(|p| p.state.as_deref() == state && p.field.as_deref() == field && p.message.contains(needle))
}

#[test]
fn a_bad_definition_gets_every_problem_listed() {
    let ps = problems(json!({
        "name": "", "version": 0, "start_at": "verify",
        "business_keys": ["input..x"],
        "states": {
            "verify": {"type": "task", "service": "identity", "action": "verify", "next": "route",
                       "compensation": {"service": "identity", "action": "nope"},
                       "retry": {"max_attempts": 0, "multiplier": 0.5, "initial_delay_ms": 500, "max_delay_ms": 100}},
            "route": {"type": "choice", "choices": [{"condition": "input.amount >", "next": "check"},
                                                   {"condition": "true", "next": "ghost"}]},
            "check": {"type": "task", "service": "crdit", "action": "check", "next": "loop_back",
                      "fallbacks": ["backup", "identity"]},
            "loop_back": {"type": "choice", "choices": [{"condition": "steps.check.ok", "next": "check"}], "default": "end"},
            "end": {"type": "succeed"},
            "orphan": {"type": "wait", "duration_ms": 5, "until_path": "input.t", "next": "end"},
            "sleepy": {"type": "human", "assignee_group": "", "decisions": []}
        }
    }));
    let printed: Vec<String> = ps.iter().map(ToString::to_string).collect();
    let expected = [
        (None, Some("name"), "must not be empty"),
        (None, Some("version"), "at least 1"),
        (None, Some("business_keys[0]"), "segment 1"),
        (Some("verify"), Some("compensation.service"), "has no action `nope`"),
        (Some("verify"), Some("retry.max_attempts"), "at least 1"),
        (Some("verify"), Some("retry.multiplier"), "at least 1"),
        (Some("verify"), Some("retry.max_delay_ms"), "initial_delay_ms"),
        (Some("route"), Some("choices[0].condition"), "expected a field path"),
        (Some("route"), Some("choices[1].next"), "`ghost` is not a state of the definition"),
        (Some("route"), Some("default"), "needs a default"),
        (Some("check"), Some("service"), "unknown service `crdit`"),
        (Some("check"), Some("fallbacks[1]"), "has no action `check`"),
        (Some("check"), None, "loop without a wait"),
        (Some("orphan"), Some("duration_ms"), "choose one"),
        (Some("orphan"), None, "unreachable"),
        (Some("sleepy"), Some("assignee_group"), "must not be empty"),
        (Some("sleepy"), Some("decisions"), "at least one decision"),
        (Some("sleepy"), None, "unreachable"),
    ];
    for (state, field, needle) in expected {
        assert!(has(&ps, state, field, needle), "missing {state:?} {field:?} '{needle}' in:\n{}", printed.join("\n"));
    }
    assert_eq!(ps.len(), expected.len(), "unexpected extra problems:\n{}", printed.join("\n"));
    // The loop names every state in it.
    assert!(printed.iter().any(|p| p.contains("`check`, `loop_back`")));
    // Grouped: definition-level problems first, then state by state in name order.
    let states: Vec<&str> = ps.iter().filter_map(|p| p.state.as_deref()).collect();
    let mut sorted = states.clone();
    sorted.sort();
    assert_eq!(states, sorted);
    assert!(ps.iter().take(3).all(|p| p.state.is_none()));
}

#[test]
fn a_loop_through_a_wait_or_human_state_is_fine() {
    let def = Definition::from_value(json!({
        "name": "poll", "version": 1, "start_at": "check",
        "states": {
            "check": {"type": "task", "service": "credit", "action": "check", "next": "done?"},
            "done?": {"type": "choice", "choices": [{"condition": "steps.check.ready", "next": "end"}], "default": "sleep"},
            "sleep": {"type": "wait", "duration_ms": 60000, "next": "check"},
            "end": {"type": "succeed"}
        }
    })).unwrap();
    assert_eq!(validate(&def, &catalog()), Ok(()));
}

#[test]
fn missing_start_empty_states_and_next_end_conflicts() {
    let ps = problems(json!({"name": "x", "version": 1, "start_at": "nowhere", "states": {
        "a": {"type": "task", "service": "credit", "action": "check", "next": "b", "end": true},
        "b": {"type": "wait", "duration_ms": 1},
        "c": {"type": "fail", "error": ""}}}));
    assert!(has(&ps, None, Some("start_at"), "start state `nowhere` of the definition does not exist"));
    assert!(has(&ps, Some("a"), Some("next"), "both"));
    assert!(has(&ps, Some("b"), Some("next"), "neither"));
    assert!(has(&ps, Some("c"), Some("error"), "error code"));
    let ps = problems(json!({"name": "x", "version": 1, "start_at": "a", "states": {}}));
    assert!(has(&ps, None, Some("states"), "has no states"));
}

#[test]
fn parallel_branch_rules() {
    let ps = problems(json!({"name": "x", "version": 1, "start_at": "p", "states": {
        "p": {"type": "parallel", "on_failure": "intervention", "end": true, "branches": [
            {"name": "one", "start_at": "t", "states": {
                "t": {"type": "task", "service": "credit", "action": "check", "next": "out",
                      "on_failure": "fail"}}},
            {"name": "one", "start_at": "h", "states": {
                "h": {"type": "human", "assignee_group": "g", "decisions": [{"name": "ok", "next": "t"}]},
                "t": {"type": "succeed"}}},
            {"name": "empty", "start_at": "z", "states": {}}]},
        "out": {"type": "succeed"}}}));
    assert!(has(&ps, Some("p"), Some("on_failure"), "not supported on parallel"));
    assert!(has(&ps, Some("p"), Some("branches[1].name"), "used twice"));
    assert!(has(&ps, Some("t"), Some("next"), "cannot jump out"));
    assert!(has(&ps, Some("t"), Some("on_failure"), "fails its branch"));
    assert!(has(&ps, Some("h"), None, "not supported inside a parallel branch"));
    assert!(has(&ps, Some("t"), None, "the state name `t` is used twice"));
    assert!(has(&ps, Some("p"), Some("branches[2].states"), "branch `empty` of `p` has no states"));
    // A branch state's problem is located at its place in the JSON.
    let next = ps.iter().find(|p| p.field.as_deref() == Some("next") && p.state.as_deref() == Some("t")).unwrap();
    assert_eq!(next.path, "states.p.branches[0].states.t.next");
    assert!(has(&ps, Some("out"), None, "unreachable"));
}

#[test]
fn input_schema_sla_and_paths_are_checked() {
    let ps = problems(json!({"name": "x", "version": 1, "start_at": "a",
        "input_schema": {"type": "array", "items": {"type": "string", "minimum": 3}},
        "sla": [{"metric": "", "threshold": 1.0, "window_ms": 0}],
        "states": {"a": {"type": "task", "service": "credit", "action": "check", "end": true,
                         "input": {"x": "$.input..bad"}, "result_path": "input.x"}}}));
    assert!(has(&ps, None, Some("input_schema.type"), "must be an object"));
    assert!(has(&ps, None, Some("input_schema.items"), "minimum/maximum only apply"));
    assert!(has(&ps, None, Some("sla[0].metric"), "empty"));
    assert!(has(&ps, None, Some("sla[0].window_ms"), "greater than 0"));
    assert!(has(&ps, Some("a"), Some("input.x"), "segment"));
    assert!(has(&ps, Some("a"), Some("result_path"), "must not write into the workflow's `input`"));
}

// --- reading untrusted JSON: every problem, at its field, in words (issue 14, item 16) -----------

/// The problems of `v` read and validated as untrusted JSON, as `path: message` lines.
fn refused(v: Value) -> Vec<String> {
    let problems = validate_json(&v, &catalog()).expect_err("should be refused");
    problems.iter().map(ToString::to_string).collect()
}

fn one(v: Value) -> String {
    let lines = refused(v);
    assert_eq!(lines.len(), 1, "exactly one problem expected:\n{}", lines.join("\n"));
    lines.into_iter().next().unwrap()
}

fn flow(states: Value) -> Value {
    json!({"name": "payouts", "start_at": "validate", "states": states})
}

#[test]
fn a_wrong_type_names_the_field_and_the_expected_type_in_words() {
    let v = flow(json!({
        "validate": {"type": "task", "service": "credit", "action": "check", "next": "payout"},
        "payout": {"type": "task", "service": "credit", "action": "check", "timeout_ms": "5s", "end": true}
    }));
    assert_eq!(one(v), r#"states.payout.timeout_ms: must be a whole number of milliseconds, found the text "5s""#);

    let v = flow(json!({
        "validate": {"type": "human", "assignee_group": "ops", "priority": "asap",
                     "decisions": [{"name": "ok", "next": "done"}]},
        "done": {"type": "succeed"}
    }));
    assert_eq!(one(v), "states.validate.priority: must be one of `low`, `normal`, `high`, `urgent`, found `asap`");

    let v = flow(json!({"validate": {"type": "task", "service": "credit", "action": "check", "end": "yes",
                                     "retry": {"max_attempts": "three", "jitter": "fully"}}}));
    assert_eq!(
        refused(v),
        [
            r#"states.validate.retry.max_attempts: must be a whole number of attempts, found the text "three""#,
            "states.validate.retry.jitter: must be one of `full`, `none`, found `fully` (did you mean `full`?)",
            r#"states.validate.end: must be `true` or `false`, found the text "yes""#,
        ]
    );
}

#[test]
fn unknown_fields_are_named_with_the_fields_there_are() {
    let v = flow(json!({"validate": {"type": "task", "service": "credit", "action": "check", "end": true,
                                     "retyr": {"max_attempts": 2}}}));
    assert_eq!(
        one(v),
        "states.validate.retyr: is not a field of a `task` state (did you mean `retry`?); its fields are `type`, \
         `service`, `action`, `input`, `result_path`, `retry`, `timeout_ms`, `compensation`, `fallbacks`, \
         `on_failure`, `next`, `end`"
    );
    let mut v = flow(json!({"validate": {"type": "succeed"}}));
    v["colour"] = json!("blue");
    assert!(one(v).starts_with("colour: is not a field of a definition; its fields are `name`, `version`"));
    let v = flow(json!({"validate": {"type": "taks", "next": "done"}, "done": {"type": "succeed"}}));
    assert_eq!(
        one(v),
        "states.validate.type: must be one of `task`, `choice`, `parallel`, `wait`, `human`, `succeed`, `fail`, \
         found `taks` (did you mean `task`?)",
        "the state is unreadable, but its `next` still counts: `done` is not reported unreachable"
    );
}

#[test]
fn every_format_problem_of_every_state_is_listed_with_the_validation_problems_of_the_rest() {
    let lines = refused(json!({
        "name": 7, "start_at": "validate", "description": null,
        "states": {
            "validate": {"type": "task", "service": "nope", "action": "check", "next": "route"},
            "route": {"type": "choice", "choices": [{"condition": "input.amount >", "next": "payout"},
                                                  {"condition": 5, "next": "payout"}], "default": "payout"},
            "payout": {"type": "task", "service": "credit", "action": 5, "timeout_ms": -1, "next": "notify"},
            "notify": {"type": "wait", "until_path": "input..at", "end": true},
            "broken": "task"
        }
    }));
    let expected = [
        "name: must be text, found the number 7",
        "description: must be text, found null",
        "states.broken: must be an object with a `type` (`task`, `choice`, `parallel`, `wait`, `human`, `succeed`, \
         `fail`), found the text \"task\"",
        "states.broken: unreachable from start state `validate`",
        "states.notify.until_path: segment 1 of path 'input..at' is invalid: segments are non-empty and use only \
         letters, digits, '_' and '-'",
        "states.payout.action: must be text, found the number 5",
        "states.payout.timeout_ms: must be a whole number of milliseconds, found the number -1",
        "states.route.choices[1].condition: must be text, found the number 5",
        "states.route.choices[0].condition: bad condition `input.amount >`: at position 14: expected a field path, \
         a literal, 'not', 'exists(' or '(', found end of expression",
        "states.validate.service: unknown service `nope`",
    ];
    assert_eq!(lines, expected, "\n{}", lines.join("\n"));
}

#[test]
fn missing_fields_and_values_that_are_not_objects() {
    assert_eq!(refused(json!([1, 2])), ["definition: a definition is a JSON object, found a list"]);
    assert_eq!(
        refused(json!({"states": {"a": {"type": "task", "end": true}}})),
        ["name: is required", "start_at: is required", "states.a.service: is required", "states.a.action: is required"]
    );
    assert_eq!(
        refused(json!({"name": "x", "start_at": "a", "states": {"a": {"next": "b"}, "b": {"type": "succeed"}}})),
        ["states.a.type: is required: one of `task`, `choice`, `parallel`, `wait`, `human`, `succeed`, `fail`"]
    );
    assert_eq!(
        refused(json!({"name": "x", "start_at": "a", "states": []})),
        ["states: must be an object (states by name), found a list"]
    );
}

#[test]
fn placeholders_of_unreadable_fields_have_no_consequences() {
    // `action` unreadable: no "has no action"; `next` unreadable: no "neither next nor end", and the
    // states after it are not reported unreachable (they may well be reachable).
    let v = flow(json!({
        "validate": {"type": "task", "service": "credit", "action": 5, "next": 7,
                     "fallbacks": ["backup", 3]},
        "payout": {"type": "task", "service": "credit", "action": "check", "end": true}
    }));
    assert_eq!(
        refused(v),
        [
            "states.validate.action: must be text, found the number 5",
            "states.validate.fallbacks[1]: must be text, found the number 3",
            "states.validate.next: must be text, found the number 7",
        ]
    );
    let v = json!({"name": "", "start_at": 5, "states": {"a": {"type": "succeed"}}});
    assert_eq!(refused(v), ["start_at: must be text, found the number 5", "name: must not be empty"]);
}

#[test]
fn the_version_is_optional_and_must_be_a_whole_number_when_given() {
    let body = flow(json!({"validate": {"type": "succeed"}}));
    assert_eq!(validate_json(&body, &catalog()).unwrap().version, 1);
    let mut numbered = body.clone();
    numbered["version"] = json!(4);
    assert_eq!(validate_json(&numbered, &catalog()).unwrap().version, 4);
    numbered["version"] = json!("two");
    assert_eq!(one(numbered), r#"version: must be a whole number (1, 2, …), found the text "two""#);
    assert_eq!(Definition::from_value(body).unwrap().version, 1, "serde agrees");
}

#[test]
fn an_unsupported_schema_keyword_is_listed_with_every_other_problem() {
    let mut properties = Map::new();
    for i in 0..20 {
        properties.insert(format!("f{i:02}"), json!({"type": "string", "minimum": 1}));
    }
    properties.insert("code".into(), json!({"type": "string", "pattern": "^[A-Z]+$"}));
    let mut v = flow(json!({"validate": {"type": "succeed"}}));
    v["input_schema"] = json!({"type": "object", "properties": properties});
    let lines = refused(v);
    assert_eq!(lines.len(), 21, "\n{}", lines.join("\n"));
    assert!(lines.contains(
        &"input_schema.properties.code.pattern: `pattern` is not a supported schema keyword; the supported ones \
          are `type`, `properties`, `required`, `items`, `enum`, `minimum`, `maximum`, `minLength`, `maxLength`, \
          `title`, `description`"
            .to_string()
    ));
    assert!(
        lines.contains(&"input_schema.properties.f07: minimum/maximum only apply to integer and number".to_string())
    );
}

#[test]
fn a_typo_in_next_is_one_problem_with_its_consequences_folded_in() {
    let v = flow(json!({
        "validate": {"type": "task", "service": "credit", "action": "check", "next": "payot"},
        "payout": {"type": "task", "service": "credit", "action": "check", "next": "notify"},
        "notify": {"type": "task", "service": "credit", "action": "check", "next": "audit"},
        "audit": {"type": "choice", "choices": [{"condition": "true", "next": "done"}], "default": "report"},
        "report": {"type": "task", "service": "credit", "action": "check", "next": "done"},
        "done": {"type": "succeed"},
        "orphan": {"type": "task", "service": "credit", "action": "check", "next": "orphan-2"},
        "orphan-2": {"type": "wait", "duration_ms": 5, "next": "done"}
    }));
    assert_eq!(
        refused(v),
        [
            "states.orphan: unreachable from start state `validate`, and so are the states it leads to: `orphan-2`",
            "states.validate.next: `payot` is not a state of the definition (did you mean `payout`?); because of \
             this, `payout`, `notify`, `audit`, `done`, `report` are unreachable",
        ]
    );
    // Without a likely meaning, the unreachable part is reported once, at its entry.
    let v = flow(json!({
        "validate": {"type": "task", "service": "credit", "action": "check", "next": "elsewhere"},
        "payout": {"type": "task", "service": "credit", "action": "check", "next": "notify"},
        "notify": {"type": "succeed"}
    }));
    assert_eq!(
        refused(v),
        [
            "states.payout: unreachable from start state `validate`, and so are the states it leads to: `notify`",
            "states.validate.next: `elsewhere` is not a state of the definition",
        ]
    );
    // A typo in `start_at` is read as the state it probably meant for reachability.
    let v = json!({"name": "x", "start_at": "valdate", "states": {
        "validate": {"type": "task", "service": "credit", "action": "check", "next": "done"},
        "done": {"type": "succeed"}}});
    assert_eq!(one(v), "start_at: start state `valdate` of the definition does not exist (did you mean `validate`?)");
}

// --- size: limits, and validation in linear time (issue 14, item 17) ---------------------------------

/// `n` task states in one cycle: `s0 -> s1 -> ... -> s{n-1} -> s0`.
fn cycle(n: usize) -> Value {
    let mut states = Map::new();
    for i in 0..n {
        let next = format!("s{}", (i + 1) % n);
        states.insert(format!("s{i}"), json!({"type": "task", "service": "credit", "action": "check", "next": next}));
    }
    json!({"name": "big", "start_at": "s0", "states": states})
}

#[test]
fn issue_14_a_ten_thousand_state_cyclic_definition_is_refused_at_once() {
    let body = cycle(10_000);
    let started = Instant::now();
    let lines = refused(body.clone());
    let read = started.elapsed();
    assert_eq!(lines, ["states: has 10000 states (branch states included); at most 1000 are allowed"]);
    // The same through serde and `validate`, as a server reading a stored definition would.
    let started = Instant::now();
    let def = Definition::from_value(body).unwrap();
    let problems = validate(&def, &catalog()).unwrap_err();
    let parsed = started.elapsed();
    assert_eq!(problems.len(), 1);
    eprintln!("10,000-state cycle refused: validate_json {read:?}, from_value + validate {parsed:?}");
}

#[test]
fn a_cycle_of_the_most_states_allowed_is_found_in_linear_time() {
    let started = Instant::now();
    let lines = refused(cycle(MAX_STATES));
    eprintln!("{MAX_STATES}-state cycle validated in {:?}", started.elapsed());
    assert_eq!(
        lines,
        ["states.s0: loop without a wait: states `s0`, `s1`, `s10`, `s100`, `s101`, `s102`, `s103`, `s104`, `s105`, \
          `s106` and 990 more form a cycle that passes through no wait or human state"]
    );
    let mut chain = cycle(MAX_STATES);
    chain["states"][format!("s{}", MAX_STATES - 1)] = json!({"type": "succeed"});
    assert!(validate_json(&chain, &catalog()).is_ok());
}

#[test]
fn problems_past_the_limit_are_counted_not_listed() {
    let mut states = Map::new();
    for i in 0..300 {
        states.insert(format!("s{i:03}"), json!({"type": "task", "service": "nope", "action": "x", "end": true}));
    }
    let v = json!({"name": "x", "start_at": "s000", "states": states});
    let problems = validate_json(&v, &catalog()).unwrap_err();
    assert_eq!(problems.len(), MAX_PROBLEMS + 1);
    // 300 unknown services and 299 unreachable states (one problem: they lead nowhere).
    assert_eq!(
        problems[MAX_PROBLEMS].to_string(),
        "definition: … and 399 more problems (only the first 200 are listed)"
    );
}

#[test]
fn names_and_conditions_past_the_limits_are_refused() {
    let long = "n".repeat(129);
    let v = json!({"name": long, "start_at": "a", "states": {"a": {"type": "succeed"}}});
    assert_eq!(one(v), "name: the name is 129 characters long; at most 128 are allowed");
    let v = json!({"name": "x", "start_at": long, "states": {long.clone(): {"type": "succeed"}}});
    assert!(one(v).ends_with("the state name is 129 characters long; at most 128 are allowed"));
}

/// The reference the linear graph checks are compared with: reachability and loops by brute force.
fn naive(edges: &[Vec<usize>], pausing: &[bool]) -> (BTreeSet<usize>, BTreeSet<usize>) {
    let n = edges.len();
    let reach_from = |from: usize, through: &dyn Fn(usize) -> bool| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = edges[from].iter().copied().filter(|&w| through(w)).collect();
        while let Some(v) = todo.pop() {
            if seen.insert(v) {
                todo.extend(edges[v].iter().copied().filter(|&w| through(w)));
            }
        }
        seen
    };
    let mut reachable = reach_from(0, &|_| true);
    reachable.insert(0);
    let in_loop = (0..n).filter(|&v| !pausing[v] && reach_from(v, &|w| !pausing[w]).contains(&v)).collect();
    (reachable, in_loop)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The linear checks find exactly the unreachable states and the states in loops that brute
    /// force finds, on random graphs of tasks (moving on) and waits (pausing).
    #[test]
    fn graph_checks_agree_with_brute_force(
        // At most 10 states, so that every message lists its states in full (past 10 it counts them).
        kinds in prop::collection::vec(prop::bool::weighted(0.25), 1..=10),
        raw_edges in prop::collection::vec(prop::collection::vec(0usize..10, 0..3), 10),
    ) {
        let n = kinds.len();
        let edges: Vec<Vec<usize>> = (0..n).map(|v| raw_edges[v].iter().map(|w| w % n).collect()).collect();
        let name = |v: usize| format!("s{v:02}");
        let mut states = Map::new();
        for v in 0..n {
            let choices: Vec<Value> =
                edges[v].iter().map(|&w| json!({"condition": "input.go", "next": name(w)})).collect();
            let state = if kinds[v] {
                // A human state pauses; its decisions are its edges (it needs one: a self-less exit).
                let mut decisions: Vec<Value> =
                    edges[v].iter().enumerate().map(|(i, &w)| json!({"name": format!("d{i}"), "next": name(w)})).collect();
                decisions.push(json!({"name": "stop", "next": "end"}));
                json!({"type": "human", "assignee_group": "ops", "decisions": decisions})
            } else {
                json!({"type": "choice", "choices": choices, "default": "end"})
            };
            states.insert(name(v), state);
        }
        states.insert("end".into(), json!({"type": "succeed"}));
        let body = json!({"name": "g", "start_at": name(0), "states": states});
        let problems = match validate_json(&body, &catalog()) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        };
        let (reachable, in_loop) = naive(&edges, &kinds);
        let mut unreachable_found = BTreeSet::new();
        let mut looping_found = BTreeSet::new();
        for p in &problems {
            let listed: Vec<usize> = p.message.split('`').skip(1).step_by(2)
                .filter_map(|s| s.strip_prefix('s')).filter_map(|s| s.parse().ok()).collect();
            let state: usize = p.state.as_deref().and_then(|s| s.strip_prefix('s')).and_then(|s| s.parse().ok()).unwrap();
            if p.message.starts_with("unreachable") {
                unreachable_found.insert(state);
                unreachable_found.extend(listed.iter().skip(1));
            } else if p.message.starts_with("loop without a wait") {
                looping_found.extend(listed);
            } else if p.message.starts_with("a choice") {
                // a choice without rules is fine here: it always takes its default
            }
        }
        let unreachable: BTreeSet<usize> = (0..n).filter(|v| !reachable.contains(v)).collect();
        prop_assert_eq!(unreachable_found, unreachable, "{:#?}", problems);
        prop_assert_eq!(looping_found, in_loop, "{:#?}", problems);
    }
}

#[test]
fn a_thousand_typos_among_long_similar_names_cost_a_bounded_number_of_guesses() {
    let name = |i: usize| format!("{}{i:03}", "x".repeat(36));
    let mut states = Map::new();
    for i in 0..MAX_STATES {
        let typo = format!("{}{:03}y", "x".repeat(35), (i + 1) % MAX_STATES);
        states.insert(name(i), json!({"type": "task", "service": "credit", "action": "check", "next": typo}));
    }
    let v = json!({"name": "w", "start_at": name(0), "states": states});
    let started = Instant::now();
    let problems = validate_json(&v, &catalog()).unwrap_err();
    eprintln!("1,000 typos among 1,000 similar 39-character names: {:?}", started.elapsed());
    assert_eq!(problems.len(), MAX_PROBLEMS + 1);
    let guessed = problems.iter().filter(|p| p.message.contains("did you mean")).count();
    assert!(guessed > 0 && guessed < MAX_PROBLEMS, "guesses stop when their budget is spent: {guessed}");
}
