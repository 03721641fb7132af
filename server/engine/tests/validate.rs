//! Definition validation lists every problem at once.

mod common;

use serde_json::json;
use switchboard_engine::{validate, Definition, Problem, StaticCatalog};

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
        (Some("verify"), Some("compensation.service"), "has no action 'nope'"),
        (Some("verify"), Some("retry.max_attempts"), "at least 1"),
        (Some("verify"), Some("retry.multiplier"), "at least 1"),
        (Some("verify"), Some("retry.max_delay_ms"), "initial_delay_ms"),
        (Some("route"), Some("choices[0].condition"), "expected a field path"),
        (Some("route"), Some("choices[1].next"), "unknown state 'ghost'"),
        (Some("route"), Some("default"), "needs a default"),
        (Some("check"), Some("service"), "unknown service 'crdit'"),
        (Some("check"), Some("fallbacks[1]"), "has no action 'check'"),
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
    assert!(printed.iter().any(|p| p.contains("'check', 'loop_back'")));
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
    assert!(has(&ps, None, Some("start_at"), "'nowhere' of the definition does not exist"));
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
    assert!(has(&ps, Some("t"), None, "state name is used twice"));
    assert!(has(&ps, Some("p"), Some("states"), "branch 'empty' of 'p' has no states"));
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
    assert!(has(&ps, Some("a"), Some("result_path"), "workflow input"));
}
