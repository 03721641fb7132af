//! Property tests: random saga definitions driven to rest by random failures and crashes.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard_engine::instance::CompensationState;
use switchboard_engine::testing::{replay, FixedEnv, Harness};
use switchboard_engine::{
    outstanding_effects, validate, Definition, Effect, EngineError, ErrorKind, Event, Instance, ServiceError,
    StaticCatalog, StatusKind, TimerPurpose,
};

#[derive(Debug, Clone)]
struct TaskSpec {
    compensable: bool,
    on_failure: &'static str,
    max_attempts: u32,
    fallback: bool,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok,
    Fail(ErrorKind),
}

fn task_spec() -> impl Strategy<Value = TaskSpec> {
    (
        any::<bool>(),
        prop_oneof![4 => Just("compensate"), 1 => Just("fail"), 1 => Just("intervention")],
        1u32..=3,
        prop::bool::weighted(0.3),
    )
        .prop_map(|(compensable, on_failure, max_attempts, fallback)| TaskSpec {
            compensable,
            on_failure,
            max_attempts,
            fallback,
        })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        6 => Just(Outcome::Ok),
        2 => Just(Outcome::Fail(ErrorKind::Retryable)),
        1 => Just(Outcome::Fail(ErrorKind::Timeout)),
        1 => Just(Outcome::Fail(ErrorKind::Permanent)),
        1 => Just(Outcome::Fail(ErrorKind::CircuitOpen)),
    ]
}

/// A chain of tasks t0..tn; with `branch_at`, a choice after that task skips the next task
/// when `input.skip` is true (a branching, merging graph).
fn build(specs: &[TaskSpec], branch_at: Option<usize>) -> Definition {
    let n = specs.len();
    let mut states = serde_json::Map::new();
    for (i, s) in specs.iter().enumerate() {
        let name = format!("t{i}");
        let after = if i + 1 < n { json!(format!("t{}", i + 1)) } else { json!("done") };
        let next = match branch_at {
            Some(b) if b == i && i + 1 < n => json!(format!("c{i}")),
            _ => after,
        };
        let mut t = json!({"type": "task", "service": "svc", "action": "do", "next": next,
            "retry": {"max_attempts": s.max_attempts, "initial_delay_ms": 10, "max_delay_ms": 100},
            "on_failure": s.on_failure});
        if s.compensable {
            t["compensation"] = json!({"service": "svc", "action": "undo", "input": {"of": format!("$.steps.{name}")}});
        }
        if s.fallback {
            t["fallbacks"] = json!(["backup"]);
        }
        states.insert(name, t);
        if let Some(b) = branch_at {
            if b == i && i + 1 < n {
                let skip_to = if i + 2 < n { format!("t{}", i + 2) } else { "done".into() };
                states.insert(
                    format!("c{i}"),
                    json!({"type": "choice",
                    "choices": [{"condition": "input.skip == true", "next": skip_to}],
                    "default": format!("t{}", i + 1)}),
                );
            }
        }
    }
    states.insert("done".into(), json!({"type": "succeed"}));
    Definition::from_value(json!({"name": "prop", "version": 1, "start_at": "t0", "states": states,
        "compensation_retry": {"max_attempts": 2, "initial_delay_ms": 5, "max_delay_ms": 50}}))
    .expect("generated definition parses")
}

struct Run {
    h: Harness,
    completed_order: Vec<(String, bool)>, // (key, compensable) in completion order
    compensated: Vec<String>,             // compensation keys, in order of success
    keys_by_step: BTreeMap<String, BTreeSet<String>>,
    attempts_by_key: BTreeMap<String, Vec<u32>>,
    /// Crashes simulated, and calls `outstanding_effects` re-issued after them.
    crashes: usize,
    recovered: usize,
}

/// The simulated runtime's durable side: what it stores with each transition besides the
/// instance, and what the services remember.
#[derive(Default)]
struct Durable {
    /// Armed timers (`StartTimer` minus `CancelTimers` and fired ones): id → (due, purpose).
    timers: BTreeMap<String, (i64, TimerPurpose)>,
    /// Keys of calls the services carried out (they deduplicate on the key).
    done: BTreeSet<String>,
}

impl Durable {
    /// Records what a persisted transition asked for.
    fn persist(&mut self, effects: &[Effect]) {
        for e in effects {
            match e {
                Effect::StartTimer { timer_id, fire_at_ms, purpose } => {
                    self.timers.insert(timer_id.clone(), (*fire_at_ms, *purpose));
                }
                Effect::CancelTimers { timer_ids } => {
                    for t in timer_ids {
                        self.timers.remove(t);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Drives a run to rest, answering calls with the given outcomes. At the loop steps listed
/// in `crash_at` the runtime crashes: if the next effect is a call, the service carries it out
/// (when its outcome is a success) but the answer is lost; every effect not yet answered is
/// dropped; the instance is reloaded from its JSON, and the runtime re-issues what
/// `outstanding_effects` returns and re-arms its stored timers.
fn drive(
    def: Definition,
    skip: bool,
    seed: u64,
    task_outcomes: &[Outcome],
    comp_outcomes: &[bool],
    crash_at: &[usize],
) -> Run {
    let specs_compensable: BTreeMap<String, bool> = def
        .states
        .iter()
        .filter_map(|(n, s)| match s {
            switchboard_engine::State::Task(t) => Some((n.clone(), t.compensation.is_some())),
            _ => None,
        })
        .collect();
    let h = Harness::start_with(def, json!({"skip": skip}), FixedEnv::new(1_000_000, seed)).expect("starts");
    let mut run = Run {
        completed_order: vec![],
        compensated: vec![],
        keys_by_step: BTreeMap::new(),
        attempts_by_key: BTreeMap::new(),
        crashes: 0,
        recovered: 0,
        h,
    };
    let mut durable = Durable::default();
    durable.persist(&run.h.effects);
    let mut queue: VecDeque<Effect> = run.h.effects.iter().cloned().collect();
    let mut tasks = task_outcomes.iter().copied();
    let mut comps = comp_outcomes.iter().copied();
    let mut steps = 0;
    while let Some(effect) = queue.pop_front() {
        steps += 1;
        assert!(steps < 10_000, "driver did not come to rest");
        if crash_at.contains(&steps) {
            // The effect was being carried out when the process died: a call may have
            // happened at the service, but its answer is lost.
            let happened = match &effect {
                Effect::RunTask { idempotency_key, .. } => {
                    matches!(tasks.next().unwrap_or(Outcome::Ok), Outcome::Ok).then_some(idempotency_key)
                }
                Effect::RunCompensation { idempotency_key, .. } => {
                    comps.next().unwrap_or(true).then_some(idempotency_key)
                }
                _ => None,
            };
            if let Some(key) = happened {
                durable.done.insert(key.clone());
            }
            queue.clear();
            let stored = serde_json::to_string(&run.h.instance).expect("serializes");
            run.h.instance = serde_json::from_str(&stored).expect("deserializes");
            run.h.env.advance(1_000);
            let recovered = outstanding_effects(&run.h.def, &run.h.instance, run.h.env.now());
            run.crashes += 1;
            run.recovered += recovered.len();
            queue.extend(recovered);
            let mut timers: Vec<(i64, String, TimerPurpose)> =
                durable.timers.iter().map(|(id, (at, purpose))| (*at, id.clone(), *purpose)).collect();
            timers.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            queue.extend(timers.into_iter().map(|(fire_at_ms, timer_id, purpose)| Effect::StartTimer {
                timer_id,
                fire_at_ms,
                purpose,
            }));
            continue;
        }
        let mut success: Option<(String, bool)> = None;
        let mut compensated: Option<String> = None;
        let mut fired: Option<String> = None;
        let event = match effect {
            Effect::RunTask { step_id, state, idempotency_key, attempt, .. } => {
                run.keys_by_step.entry(step_id).or_default().insert(idempotency_key.clone());
                run.attempts_by_key.entry(idempotency_key.clone()).or_default().push(attempt);
                // A call the service already carried out returns its result again.
                let outcome = if durable.done.contains(&idempotency_key) {
                    Outcome::Ok
                } else {
                    tasks.next().unwrap_or(Outcome::Ok)
                };
                match outcome {
                    Outcome::Ok => {
                        durable.done.insert(idempotency_key.clone());
                        success = Some((idempotency_key.clone(), specs_compensable[&state]));
                        Event::StepSucceeded { idempotency_key, attempt, output: json!({"state": state}) }
                    }
                    Outcome::Fail(kind) => {
                        Event::StepFailed { idempotency_key, attempt, error: ServiceError::new(kind, "injected") }
                    }
                }
            }
            Effect::RunCompensation { idempotency_key, attempt, .. } => {
                let ok = durable.done.contains(&idempotency_key) || comps.next().unwrap_or(true);
                if ok {
                    durable.done.insert(idempotency_key.clone());
                    compensated = Some(idempotency_key.clone());
                    Event::CompensationSucceeded { idempotency_key, attempt }
                } else {
                    Event::CompensationFailed {
                        idempotency_key,
                        attempt,
                        error: ServiceError::new(ErrorKind::Retryable, "injected"),
                    }
                }
            }
            Effect::StartTimer { timer_id, fire_at_ms, purpose } => {
                assert!(matches!(purpose, TimerPurpose::Retry | TimerPurpose::CompensationRetry));
                run.h.env.set_now(fire_at_ms.max(run.h.env.now()));
                fired = Some(timer_id.clone());
                Event::TimerFired { timer_id }
            }
            Effect::OpenIntervention { .. } => break, // a person takes over
            Effect::CancelTimers { .. } | Effect::CloseIntervention { .. } | Effect::Finish { .. } => continue,
        };
        let is_call = fired.is_none();
        if let Some(t) = &fired {
            durable.timers.remove(t);
        }
        match run.h.apply(event) {
            Ok(effects) => {
                let effects = effects.to_vec();
                durable.persist(&effects);
                queue.extend(effects);
                run.completed_order.extend(success);
                run.compensated.extend(compensated);
            }
            // A timer may fire after it was cancelled; a call's answer is never stale.
            Err(EngineError::StaleEvent { .. }) if !is_call => {}
            Err(e) => panic!("unexpected engine error: {e}"),
        }
    }
    run
}

fn catalog() -> StaticCatalog {
    StaticCatalog::new().with("svc", &["do", "undo"]).with("backup", &["do"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// With `crash_at`, the runtime crashes at random points and recovers with
    /// `outstanding_effects` from the instance's JSON; every invariant must still hold.
    #[test]
    fn sagas_come_to_rest_and_compensate_exactly_what_completed(
        specs in prop::collection::vec(task_spec(), 1..6),
        branch in prop::option::of(0usize..5),
        skip in any::<bool>(),
        seed in 1u64..u64::MAX,
        task_outcomes in prop::collection::vec(outcome(), 0..25),
        comp_outcomes in prop::collection::vec(prop::bool::weighted(0.7), 0..8),
        crash_at in prop::collection::vec(1usize..40, 0..4),
    ) {
        let def = build(&specs, branch);
        prop_assert_eq!(validate(&def, &catalog()), Ok(()));
        let run = drive(def.clone(), skip, seed, &task_outcomes, &comp_outcomes, &crash_at);
        let inst = &run.h.instance;

        // 1. Every run ends at rest.
        let kind = inst.status_kind();
        prop_assert!(matches!(kind, StatusKind::Completed | StatusKind::Compensated | StatusKind::Failed | StatusKind::NeedsIntervention),
            "ended {:?}", kind);

        // 2. Compensations: exactly the completed compensable steps, newest first.
        let expected: Vec<String> = run.completed_order.iter().rev()
            .filter(|(_, c)| *c).map(|(k, _)| format!("{k}:compensate")).collect();
        match kind {
            StatusKind::Compensated => prop_assert_eq!(&run.compensated, &expected),
            StatusKind::NeedsIntervention => prop_assert!(expected.starts_with(&run.compensated)),
            _ => prop_assert!(run.compensated.is_empty()),
        }
        if kind == StatusKind::Compensated {
            prop_assert!(inst.completed.iter().filter_map(|s| s.compensation.as_ref()).all(|c| c.state == CompensationState::Done));
        }

        // 3. No key completes twice.
        let mut seen = BTreeSet::new();
        for (k, _) in &run.completed_order {
            prop_assert!(seen.insert(k.clone()), "key {} completed twice", k);
        }

        // 4. Retries reuse the key: each step has its primary key (= step id) plus at most one
        //    key per fallback, and attempts under one key only go up.
        for (step, keys) in &run.keys_by_step {
            prop_assert!(keys.contains(step));
            prop_assert!(keys.len() <= 2);
        }
        for attempts in run.attempts_by_key.values() {
            prop_assert!(attempts.windows(2).all(|w| w[0] < w[1]));
        }

        // 5. Replay of the recorded events from the initial instance gives the same instance.
        let initial = Instance::new(&def, "inst-1", 1_000_000);
        let replayed = replay(&def, &initial, &run.h.applied_events(), &mut FixedEnv::new(1_000_000, seed)).unwrap();
        prop_assert_eq!(&replayed, inst);
    }
}

/// A smaller, exhaustive sanity check that the driver exercises every path at least once.
#[test]
fn the_driver_reaches_every_resting_status() {
    let specs = vec![
        TaskSpec { compensable: true, on_failure: "compensate", max_attempts: 1, fallback: false },
        TaskSpec { compensable: true, on_failure: "compensate", max_attempts: 1, fallback: false },
    ];
    let def = build(&specs, None);
    let ok = Outcome::Ok;
    let perm = Outcome::Fail(ErrorKind::Permanent);
    assert_eq!(drive(def.clone(), false, 1, &[ok, ok], &[], &[]).h.instance.status_kind(), StatusKind::Completed);
    assert_eq!(drive(def.clone(), false, 1, &[ok, perm], &[], &[]).h.instance.status_kind(), StatusKind::Compensated);
    assert_eq!(
        drive(def, false, 1, &[ok, perm], &[false, false], &[]).h.instance.status_kind(),
        StatusKind::NeedsIntervention
    );
    let mut spec_fail = specs;
    spec_fail[1].on_failure = "fail";
    assert_eq!(
        drive(build(&spec_fail, None), false, 1, &[ok, perm], &[], &[]).h.instance.status_kind(),
        StatusKind::Failed
    );
    let _: Value = json!(null);
}

/// The crash simulation is not vacuous: a crash with a call in flight (the first effect), and
/// one during compensation, are recovered and the runs still come to the expected rest.
#[test]
fn crashes_with_calls_in_flight_are_recovered() {
    let spec = TaskSpec { compensable: true, on_failure: "compensate", max_attempts: 1, fallback: false };
    let def = build(&[spec.clone(), spec], None);
    let ok = Outcome::Ok;
    let perm = Outcome::Fail(ErrorKind::Permanent);

    let run = drive(def.clone(), false, 1, &[ok, ok, ok], &[], &[1]);
    assert_eq!((run.crashes, run.recovered), (1, 1));
    assert_eq!(run.h.instance.status_kind(), StatusKind::Completed);
    assert_eq!(run.completed_order.len(), 2, "t0 completed once");

    // t0 ok, t1 fails: the compensation of t0 is in flight at step 3 (after the failure).
    let run = drive(def, false, 1, &[ok, perm], &[true, true], &[3]);
    assert_eq!((run.crashes, run.recovered), (1, 1));
    assert_eq!(run.h.instance.status_kind(), StatusKind::Compensated);
    assert_eq!(run.compensated.len(), 1, "t0 compensated once");
}
