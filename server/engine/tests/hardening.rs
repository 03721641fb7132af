//! Hostile definitions are refused with a problem naming the field, never by exhausting the
//! stack or the CPU (issue 14, "Hardening: hostile input").

use serde_json::json;
use switchboard_engine::expr::{self, Expr};
use switchboard_engine::limits::{MAX_CONDITION_CHARS, MAX_NESTING};
use switchboard_engine::{validate, Definition, Problem, StaticCatalog};

/// The condition of issue 14 that aborted the server: 1,750 nested parentheses (3.5 KB).
fn parentheses() -> String {
    format!("{}input.amount > 100{}", "(".repeat(1_750), ")".repeat(1_750))
}

/// The other one: 50,000 × `not`.
fn nots() -> String {
    format!("{}true", "not ".repeat(50_000))
}

fn choice_definition(condition: &str) -> Definition {
    Definition::from_value(json!({
        "name": "hostile", "version": 1, "start_at": "route",
        "states": {
            "route": {"type": "choice", "choices": [{"condition": condition, "next": "done"}], "default": "done"},
            "done": {"type": "succeed"}
        }
    }))
    .expect("parses")
}

fn condition_problem(condition: &str) -> Problem {
    let problems = validate(&choice_definition(condition), &StaticCatalog::new()).expect_err("refused");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = problems.into_iter().next().unwrap();
    assert_eq!((problem.state.as_deref(), problem.field.as_deref()), (Some("route"), Some("choices[0].condition")));
    problem
}

#[test]
fn issue_14_deep_parentheses_are_refused_without_recursing() {
    let text = parentheses();
    assert!(text.len() < MAX_CONDITION_CHARS, "short enough for the length limit: the depth is what is refused");
    let error = Expr::parse(&text).unwrap_err();
    assert_eq!(error, expr::Error::TooDeep { position: MAX_NESTING, limit: MAX_NESTING });
    let problem = condition_problem(&text);
    assert!(problem.message.starts_with("nested more than 32 levels deep"), "{problem}");
    assert!(problem.message.len() < 200, "the message does not repeat the condition: {problem}");
}

#[test]
fn issue_14_fifty_thousand_nots_are_refused_without_recursing() {
    let text = nots();
    let error = Expr::parse(&text).unwrap_err();
    assert_eq!(error, expr::Error::TooDeep { position: 4 * MAX_NESTING, limit: MAX_NESTING });
    let problem = condition_problem(&text);
    assert_eq!(problem.message, "is 200004 characters long; at most 4096 are allowed");
}

#[test]
fn the_deepest_allowed_condition_parses_and_evaluates_on_a_small_stack() {
    let text = format!("{}input.amount > 100{}", "(not ".repeat(MAX_NESTING / 2), ")".repeat(MAX_NESTING / 2));
    // A thread with a 256 KiB stack (an eighth of a Rust thread's default) is enough to parse,
    // evaluate and drop the deepest condition, even in a debug build.
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let e = Expr::parse(&text).expect("32 levels parse");
            e.eval(&json!({"input": {"amount": 5}}))
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(!outcome, "16 `not`s of a false comparison are false");
}
