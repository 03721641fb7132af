//! Property-based fuzzing of what a definition's author controls (issue 14, "Hardening: hostile
//! input"): the definition reader and validator, and the condition parser and evaluator.
//!
//! Inputs: arbitrary JSON values (with the definition's own field names as keys, so the reader
//! is exercised beyond its first check), arbitrary strings and bytes, token soups of the
//! condition language, and near-valid definitions (valid ones with a few random mutations:
//! a field removed, renamed or given a value of another type, an unknown field added).
//!
//! Properties: nothing panics or overflows the stack; every answer is a definition or a
//! non-empty list of problems, each with a path and a message; what the reader accepts, serde
//! accepts too and reads the same way; a definition `validate_json` accepts, `validate`
//! accepts. Each test prints how many cases it tried and the longest time one took (tests do
//! not assert on speed; a blow-up shows as a slow or hanging test).

use std::cell::Cell;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use switchboard_engine::expr::Expr;
use switchboard_engine::limits::MAX_PROBLEMS;
use switchboard_engine::{validate, validate_json, Definition, Problem, State, StaticCatalog};

fn catalog() -> StaticCatalog {
    StaticCatalog::new().with("svc", &["go", "undo"]).with("backup", &["go"])
}

/// Words the reader knows: field names, kinds, enum variants; used as keys and strings so that
/// random values often look like parts of a definition.
const WORDS: &[&str] = &[
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
    "type",
    "task",
    "choice",
    "parallel",
    "wait",
    "human",
    "succeed",
    "fail",
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
    "choices",
    "condition",
    "default",
    "branches",
    "duration_ms",
    "until_path",
    "assignee_group",
    "title",
    "priority",
    "due_in_ms",
    "decisions",
    "output",
    "error",
    "message",
    "compensate",
    "max_attempts",
    "initial_delay_ms",
    "multiplier",
    "max_delay_ms",
    "jitter",
    "retry_on",
    "goto",
    "properties",
    "required",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "object",
    "string",
    "integer",
    "a",
    "b",
    "svc",
    "go",
    "$.input.x",
    "$",
    "$$x",
    "full",
    "none",
    "timeout",
    "high",
    "compensate",
    "intervention",
    "workflow_ms",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(WORDS).prop_map(str::to_string), 1 => "[a-z_$.]{0,8}", 1 => ".{0,12}"]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..100_000).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        word().prop_map(Value::from),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 200, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(word(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Number of cases and worst times of one test, printed at its end (cells: the runner takes a
/// `Fn`).
#[derive(Default)]
struct Figures {
    cases: Cell<usize>,
    refused: Cell<usize>,
    worst: Cell<Duration>,
    worst_refusal: Cell<Duration>,
}

impl Figures {
    /// Runs `f`, counting it and keeping the worst time; `refused` tells whether its outcome
    /// was a refusal.
    fn time<T>(&self, f: impl FnOnce() -> T, refused: impl Fn(&T) -> bool) -> T {
        let started = Instant::now();
        let out = f();
        let took = started.elapsed();
        self.cases.set(self.cases.get() + 1);
        self.worst.set(self.worst.get().max(took));
        if refused(&out) {
            self.refused.set(self.refused.get() + 1);
            self.worst_refusal.set(self.worst_refusal.get().max(took));
        }
        out
    }

    fn print(&self, what: &str) {
        eprintln!(
            "fuzz {what}: {} cases ({} refused), worst {:?}, worst refusal {:?}",
            self.cases.get(),
            self.refused.get(),
            self.worst.get(),
            self.worst_refusal.get()
        );
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// The checks every answer of `validate_json` must pass.
fn check_answer(v: &Value, answer: &Result<Definition, Vec<Problem>>) -> Result<(), TestCaseError> {
    match answer {
        Ok(def) => {
            prop_assert_eq!(validate(def, &catalog()), Ok(()), "validate_json accepted what validate refuses: {}", v);
            let read = Definition::read(v);
            prop_assert!(read.is_ok(), "validated but not readable: {:?}", read);
        }
        Err(problems) => {
            prop_assert!(!problems.is_empty());
            prop_assert!(problems.len() <= MAX_PROBLEMS + 1);
            for p in problems {
                prop_assert!(!p.message.is_empty() && !p.path.is_empty(), "{:?}", p);
            }
        }
    }
    Ok(())
}

/// Whether a serde-parsed definition has a parallel state inside a branch (the reader does not
/// read such a state's branches: validation refuses it anyway).
fn nests_parallel(def: &Definition) -> bool {
    def.states.values().any(|s| match s {
        State::Parallel(p) => p.branches.iter().any(|b| b.states.values().any(|s| matches!(s, State::Parallel(_)))),
        _ => false,
    })
}

/// The reader and serde agree: what the reader takes, serde takes and reads the same way; what
/// serde refuses, the reader refuses. The reader may refuse more: a list where serde would also
/// take an object field by field, and what is past the limits.
fn check_agrees_with_serde(v: &Value) -> Result<(), TestCaseError> {
    let read = Definition::read(v);
    let serde = serde_json::from_value::<Definition>(v.clone());
    match (&read, &serde) {
        (Ok(mine), Ok(theirs)) if !nests_parallel(theirs) => prop_assert_eq!(mine, theirs),
        (Ok(_), Ok(_)) => {}
        (Ok(mine), Err(e)) => prop_assert!(false, "the reader took what serde refuses ({}): {:?}\n{}", e, mine, v),
        (Err(_), Err(_)) => {}
        (Err(problems), Ok(_)) => {
            for p in problems {
                let explained = p.message.contains("found a list")
                    || p.message.contains("nested more than")
                    || p.message.contains("at most");
                prop_assert!(explained, "the reader refused what serde takes: {}\n{}", p, v);
            }
        }
    }
    Ok(())
}

#[test]
fn arbitrary_json_is_a_definition_or_a_list_of_problems() {
    let figures = Figures::default();
    let strategy = prop_oneof![
        arb_json(),
        // An object with the definition's fields, each holding anything.
        prop::collection::btree_map(prop::sample::select(WORDS).prop_map(str::to_string), arb_json(), 0..10)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        // States holding anything.
        prop::collection::btree_map("[a-c]", arb_json(), 0..6).prop_map(|states| {
            json!({"name": "x", "start_at": "a", "states": Value::Object(states.into_iter().collect())})
        }),
    ];
    runner(3_000)
        .run(&strategy, |v| {
            let answer = figures.time(|| validate_json(&v, &catalog()), Result::is_err);
            check_answer(&v, &answer)?;
            check_agrees_with_serde(&v)
        })
        .unwrap();
    figures.print("arbitrary JSON");
}

#[test]
fn arbitrary_bytes_never_break_the_reader_or_the_condition_parser() {
    let figures = Figures::default();
    runner(3_000)
        .run(&prop::collection::vec(any::<u8>(), 0..400), |bytes| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let parsed = figures.time(|| Expr::parse(&text), Result::is_err);
            if let Err(e) = parsed {
                prop_assert!(e.position() <= text.len());
                prop_assert!(!e.to_string().is_empty());
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                let answer = validate_json(&v, &catalog());
                check_answer(&v, &answer)?;
            }
            Ok(())
        })
        .unwrap();
    figures.print("arbitrary bytes");
}

/// Random contexts the conditions are evaluated over.
fn context() -> impl Strategy<Value = Value> {
    (arb_json(), arb_json(), any::<i64>(), ".{0,6}")
        .prop_map(|(x, steps, a, s)| json!({"input": {"x": x, "a": a, "s": s}, "steps": {"a": steps}, "a": a}))
}

/// Conditions of the grammar, nested up to a few levels: most of them parse.
fn condition() -> impl Strategy<Value = String> {
    let path = prop::sample::select(&["input.a", "input.x", "$.input.s", "steps.a.b", "a", "input.x.0"][..]);
    let literal = prop::sample::select(&["1", "-2.5", "1e3", "'x'", "\"y\"", "true", "false", "null"][..]);
    let operand = prop_oneof![path.clone().prop_map(str::to_string), literal.clone().prop_map(str::to_string)];
    let op = prop::sample::select(&["==", "!=", "<", "<=", ">", ">="][..]);
    let atom = prop_oneof![
        (operand.clone(), op, operand.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        path.clone().prop_map(|p| format!("exists({p})")),
        (path, prop::collection::vec(literal, 0..4)).prop_map(|(p, l)| format!("{p} in [{}]", l.join(", "))),
        operand,
    ];
    atom.prop_recursive(8, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5).prop_map(|all| all.join(" and ")),
            prop::collection::vec(inner.clone(), 2..5).prop_map(|any| any.join(" or ")),
            inner.clone().prop_map(|e| format!("not {e}")),
            inner.prop_map(|e| format!("({e})")),
        ]
    })
}

#[test]
fn conditions_parse_or_say_where_and_always_evaluate() {
    const TOKENS: &[&str] = &[
        "(",
        ")",
        "not",
        "and",
        "or",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "in",
        "[",
        "]",
        ",",
        "exists(",
        "input.a",
        "input.x",
        "steps.a.b",
        "$.input.s",
        "a",
        "'x'",
        "\"y\"",
        "1",
        "-2.5e3",
        "true",
        "false",
        "null",
        "'",
        "1.2.3",
        "a..b",
        "#",
    ];
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..300).prop_map(|t| t.join(" "));
    let strategy = (prop_oneof![3 => condition(), 2 => soup, 1 => any::<String>()], context());
    let figures = Figures::default();
    runner(5_000)
        .run(&strategy, |(text, ctx)| {
            let outcome = figures.time(|| Expr::parse(&text).map(|e| e.eval(&ctx)), Result::is_err);
            if let Err(e) = outcome {
                prop_assert!(e.position() <= text.len(), "{} at {}", e, e.position());
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
    figures.print("conditions (parsed and evaluated, or refused)");
}

// --- near-valid definitions ---------------------------------------------------------------------

/// A valid definition: a chain `s0 -> s1 -> ... -> s{n-1}` of states of every kind, each of which
/// may also lead to a later state, ending in `succeed` or `fail`; a parallel state with branches
/// now and then.
fn valid_definition() -> impl Strategy<Value = Value> {
    (2usize..12, prop::collection::vec((0u8..7, 0usize..100, any::<bool>()), 12)).prop_map(|(n, picks)| {
        let name = |i: usize| format!("s{i}");
        let mut states = Map::new();
        for (i, &(kind, r, flag)) in picks.iter().enumerate().take(n) {
            if i + 1 == n {
                let last = if flag {
                    json!({"type": "succeed", "output": {"done": "$.steps", "id": "$.instance.id"}})
                } else {
                    json!({"type": "fail", "error": "x.failed", "message": "no", "compensate": r % 2 == 0})
                };
                states.insert(name(i), last);
                break;
            }
            let a = name(i + 1);
            let b = name(i + 1 + r % (n - i - 1));
            let state = match kind {
                0 => json!({"type": "task", "service": "svc", "action": "go", "next": a,
                    "input": {"x": "$.input.x", "n": [1, "$$lit"]}, "retry": {"max_attempts": 2, "jitter": "none"},
                    "compensation": {"service": "svc", "action": "undo"}, "fallbacks": ["backup"]}),
                1 => json!({"type": "choice", "default": b,
                    "choices": [{"condition": "input.x > 3 and not exists(steps.s0.y)", "next": a}]}),
                2 if flag => json!({"type": "wait", "next": a, "duration_ms": 1000}),
                2 => json!({"type": "wait", "next": a, "until_path": "input.at"}),
                3 => json!({"type": "human", "assignee_group": "ops", "priority": "high", "due_in_ms": 60000,
                    "decisions": [{"name": "ok", "next": a}, {"name": "no", "next": b}]}),
                4 => json!({"type": "parallel", "next": a, "branches": [
                    {"name": "one", "start_at": format!("p{i}a"), "states": {
                        format!("p{i}a"): {"type": "task", "service": "svc", "action": "go", "next": format!("p{i}b")},
                        format!("p{i}b"): {"type": "succeed"}}},
                    {"name": "two", "start_at": format!("p{i}c"), "states": {
                        format!("p{i}c"): {"type": "wait", "duration_ms": 5, "end": true}}}]}),
                5 => json!({"type": "task", "service": "svc", "action": "go", "next": a, "on_failure": "fail"}),
                _ => json!({"type": "task", "service": "svc", "action": "go", "next": a,
                    "on_failure": {"goto": b}, "timeout_ms": 500}),
            };
            states.insert(name(i), state);
        }
        json!({
            "name": "fuzzed", "start_at": "s0", "states": states,
            "input_schema": {"type": "object", "required": ["x"], "properties": {
                "x": {"type": "integer", "minimum": 0}, "tags": {"type": "array", "items": {"type": "string"}}}},
            "timeouts": {"workflow_ms": 60000}, "business_keys": ["input.x"],
            "sla": [{"metric": "p95_duration_ms", "threshold": 1000, "window_ms": 3600000}]
        })
    })
}

/// One random change somewhere in a definition.
#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    AddField(String, Value),
    RenameKey,
}

fn mutation() -> impl Strategy<Value = (Vec<usize>, Mutation)> {
    let m = prop_oneof![
        Just(Mutation::Remove),
        leaf().prop_map(Mutation::Replace),
        arb_json().prop_map(Mutation::Replace),
        (word(), leaf()).prop_map(|(k, v)| Mutation::AddField(k, v)),
        Just(Mutation::RenameKey),
    ];
    (prop::collection::vec(any::<usize>(), 1..7), m)
}

/// Applies a mutation at the place `walk` picks (each number chooses a child, modulo their count).
fn mutate(v: &mut Value, walk: &[usize], m: &Mutation) {
    let (first, rest) = match walk.split_first() {
        Some(split) => split,
        None => return,
    };
    match v {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(first % map.len()).cloned().unwrap_or_default();
            let go_deeper = !rest.is_empty() && map.get(&key).is_some_and(|c| c.is_object() || c.is_array());
            if go_deeper {
                if let Some(child) = map.get_mut(&key) {
                    mutate(child, rest, m);
                }
                return;
            }
            match m {
                Mutation::Remove => {
                    map.remove(&key);
                }
                Mutation::Replace(x) => {
                    map.insert(key, x.clone());
                }
                Mutation::AddField(k, x) => {
                    map.insert(k.clone(), x.clone());
                }
                Mutation::RenameKey => {
                    if let Some(x) = map.remove(&key) {
                        let mut typo: String = key.chars().rev().collect();
                        typo.push('x');
                        map.insert(typo, x);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = first % items.len();
            if !rest.is_empty() && (items[i].is_object() || items[i].is_array()) {
                mutate(&mut items[i], rest, m);
            } else if let Mutation::Replace(x) = m {
                items[i] = x.clone();
            } else {
                items.remove(i);
            }
        }
        _ => {}
    }
}

#[test]
fn near_valid_definitions_are_read_like_serde_and_every_problem_is_listed() {
    let strategy = (valid_definition(), prop::collection::vec(mutation(), 0..4));
    let figures = Figures::default();
    runner(2_000)
        .run(&strategy, |(valid, mutations)| {
            prop_assert!(validate_json(&valid, &catalog()).is_ok(), "the generator makes valid definitions: {}", valid);
            let mut v = valid;
            for (walk, m) in &mutations {
                mutate(&mut v, walk, m);
            }
            let answer = figures.time(|| validate_json(&v, &catalog()), Result::is_err);
            check_answer(&v, &answer)?;
            check_agrees_with_serde(&v)
        })
        .unwrap();
    figures.print("near-valid definitions");
}

/// Large definitions: up to 1,000 states in one graph with random transitions (cycles, dead ends,
/// unknown targets). Validation stays linear, so even the worst case is quick.
#[test]
fn large_random_graphs_are_validated_quickly() {
    let strategy = (1usize..=1_000, prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1_000));
    let figures = Figures::default();
    runner(40)
        .run(&strategy, |(n, picks)| {
            let mut states = Map::new();
            for (i, &(kind, a, b)) in picks.iter().enumerate().take(n) {
                // Now and then a target that does not exist, or a typo of one that does.
                let target = |r: u32| match r % 50 {
                    0 => "nowhere".to_string(),
                    1 => format!("s{}x", r as usize % n),
                    _ => format!("s{}", r as usize % n),
                };
                let state = match kind % 4 {
                    0 => json!({"type": "task", "service": "svc", "action": "go", "next": target(a)}),
                    1 => json!({"type": "choice", "choices": [{"condition": "input.x == 1", "next": target(a)}],
                                "default": target(b)}),
                    2 => json!({"type": "wait", "duration_ms": 10, "next": target(a)}),
                    _ => json!({"type": "succeed"}),
                };
                states.insert(format!("s{i}"), state);
            }
            let v = json!({"name": "big", "start_at": "s0", "states": states});
            let answer = figures.time(|| validate_json(&v, &catalog()), Result::is_err);
            check_answer(&v, &answer)
        })
        .unwrap();
    figures.print("graphs of up to 1,000 states");
}

/// The seven marketplace workflows (in the server crate) read the same with the reader as with
/// serde.
#[test]
fn real_definitions_read_like_serde() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/marketplace/workflows");
    let mut read = 0;
    for entry in std::fs::read_dir(&folder).expect("the marketplace workflows") {
        let path = entry.expect("a file").path();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("JSON");
        let mine = Definition::read(&v).unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
        assert_eq!(mine, serde_json::from_value::<Definition>(v).unwrap(), "{}", path.display());
        read += 1;
    }
    assert_eq!(read, 7);
}
