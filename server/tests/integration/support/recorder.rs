//! The recording service the process tests (`crash.rs`, `cluster_processes.rs`) point the
//! call-processing saga's `calls` tasks at, and what each call must do to it.
//!
//! [`Recorder`], served by [`start_service`], is an HTTP server inside the test process that behaves
//! like a real idempotent service: it keys on the `Idempotency-Key` header, applies an effect the first
//! time it sees a key, and answers a repeated key with its first response without applying anything.
//! Repeats (calls re-issued after a crash or a takeover) are only counted, per phase of the test's
//! scenario; the same step applied twice (under two keys) is what [`Ledger::problems`] catches. Calls
//! whose number [`fails`] have their billing refused (HTTP 400), and their sagas must compensate.
//!
//! Besides the ledger, the recorder publishes what a test waits on, as counts in watch channels:
//! effects applied ([`Recorder::applied`]), calls handled and sagas begun and finished
//! ([`Recorder::progress`]), and requests being handled right now ([`Recorder::handling`], to let the
//! calls of a killed process settle before reading the ledger). [`Ledger::calls`] keeps when each
//! call arrived, for the figures (how soon a restarted process resumed a saga).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------------------
// The saga and what it must do
// ---------------------------------------------------------------------------------------------------

/// Calls whose number is divisible by this have their billing refused (HTTP 400) and must compensate.
pub const FAILING_EVERY: i64 = 20;

/// `(state, action, compensation action)` of the saga's tasks ([`super::call_saga`]).
pub const TASKS: &[(&str, &str, Option<&str>)] = &[
    ("validate-caller", "validate", None),
    ("find-buyer", "find_buyer", Some("release_reservation")),
    ("connect-call", "connect", Some("disconnect")),
    ("start-billing", "start_billing", Some("cancel_meter")),
];

/// Whether call `number` has its billing refused.
pub fn fails(number: i64) -> bool {
    number % FAILING_EVERY == 0
}

/// What the service must have seen for a call, in order: `(action, refused)`, one key each.
pub fn expected_effects(number: i64) -> Vec<(&'static str, bool)> {
    if fails(number) {
        vec![
            ("validate", false),
            ("find_buyer", false),
            ("connect", false),
            ("start_billing", true),
            ("disconnect", false),
            ("release_reservation", false),
        ]
    } else {
        vec![("validate", false), ("find_buyer", false), ("connect", false), ("start_billing", false)]
    }
}

/// The status call `number`'s saga must end in.
pub fn expected_status(number: i64) -> &'static str {
    if fails(number) {
        "compensated"
    } else {
        "completed"
    }
}

/// Whether `action`, applied (not refused) for call `number`, is the last effect of its saga.
pub fn is_last_effect(number: i64, action: &str) -> bool {
    expected_effects(number).last().is_some_and(|(last, refused)| *last == action && !refused)
}

/// The effects (refusals excluded) the given sagas apply.
pub fn expected_applied(numbers: impl Iterator<Item = i64>) -> usize {
    numbers.map(|number| expected_effects(number).iter().filter(|(_, refused)| !refused).count()).sum()
}

/// The instance a key belongs to and the action it may carry. Keys are `{instance}:{state}:{seq}`, and
/// `{that}:compensate` for the compensation of the step.
pub fn parse_key(key: &str) -> Option<(&str, &'static str)> {
    let parts: Vec<&str> = key.split(':').collect();
    let (instance, state, compensation) = match parts.as_slice() {
        [instance, state, seq] if seq.parse::<u64>().is_ok() => (*instance, *state, false),
        [instance, state, seq, "compensate"] if seq.parse::<u64>().is_ok() => (*instance, *state, true),
        _ => return None,
    };
    let (_, action, undo) = TASKS.iter().find(|(name, _, _)| *name == state)?;
    if compensation {
        undo.map(|undo| (instance, undo))
    } else {
        Some((instance, *action))
    }
}

// ---------------------------------------------------------------------------------------------------
// The recording service
// ---------------------------------------------------------------------------------------------------

/// One key seen for the first time: an applied effect, or a refusal (billing refused, HTTP 400).
#[derive(Clone, Debug)]
pub struct Effect {
    pub key: String,
    pub action: String,
    pub number: Option<i64>,
    pub refused: bool,
}

/// How far the sagas got, as the service saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Keyed calls handled (repeats included): [`Ledger::calls`] has them.
    pub calls: usize,
    /// Sagas with a first effect (or refusal) recorded.
    pub begun: usize,
    /// Sagas whose last effect was applied ([`is_last_effect`]).
    pub finished: usize,
}

impl Progress {
    /// Begun and not finished: a kill now interrupts them between two steps.
    pub fn mid_flight(&self) -> usize {
        self.begun.saturating_sub(self.finished)
    }
}

/// One keyed call, as the service handled it.
#[derive(Clone, Debug)]
pub struct Call {
    pub at: Instant,
    /// The call number of the saga, from the input.
    pub number: Option<i64>,
    /// The phase of the scenario it arrived in.
    pub phase: usize,
}

#[derive(Clone, Default)]
pub struct Ledger {
    /// The first response per key, replayed for every repeat.
    pub responses: HashMap<String, (StatusCode, Value)>,
    /// Every first-seen key, in the order seen.
    pub effects: Vec<Effect>,
    pub applied: usize,
    /// Repeated keys (re-issued calls), per phase of the scenario.
    pub repeats: Vec<usize>,
    /// Calls without an `Idempotency-Key` header (refused: the engine must always send one).
    pub unkeyed: usize,
    /// Every keyed call, in the order handled.
    pub calls: Vec<Call>,
}

impl Ledger {
    /// Every effect checked against the started calls `ids` (call number → instance id): each key
    /// belongs to one of them and carries its step's action and the call's number, and each call saw
    /// exactly its [`expected_effects`], in order, one key each. Answers the problems found and the
    /// effects per instance.
    pub fn problems<'a>(&'a self, ids: &'a BTreeMap<i64, String>) -> (Vec<String>, HashMap<&'a str, Vec<&'a Effect>>) {
        let number_of: HashMap<&str, i64> = ids.iter().map(|(number, id)| (id.as_str(), *number)).collect();
        let mut seen: HashMap<&str, Vec<&Effect>> = HashMap::new();
        let mut problems = Vec::new();
        for effect in &self.effects {
            match parse_key(&effect.key) {
                Some((instance, action)) if number_of.contains_key(instance) => {
                    if action != effect.action {
                        problems
                            .push(format!("key {} carried action {}, expected {action}", effect.key, effect.action));
                    }
                    if effect.number.is_some_and(|number| number != number_of[instance]) {
                        problems.push(format!("key {} carried call number {:?}", effect.key, effect.number));
                    }
                    seen.entry(instance).or_default().push(effect);
                }
                _ => problems.push(format!("unexpected key {} ({})", effect.key, effect.action)),
            }
        }
        for (number, id) in ids {
            let actual: Vec<(&str, bool)> = seen
                .get(id.as_str())
                .map(|effects| effects.iter().map(|e| (e.action.as_str(), e.refused)).collect())
                .unwrap_or_default();
            if actual != expected_effects(*number) {
                problems
                    .push(format!("call {number} ({id}): saw {actual:?}, expected {:?}", expected_effects(*number)));
            }
        }
        (problems, seen)
    }

    /// Effects of one instance's step applied under more than one key (`instance action: keys`),
    /// whoever started the instances: what a stalled test reports before it knows every instance.
    pub fn doubled(&self) -> Vec<String> {
        let mut keys: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for effect in self.effects.iter().filter(|effect| !effect.refused) {
            if let Some((instance, _)) = parse_key(&effect.key) {
                keys.entry((instance, effect.action.as_str())).or_default().push(effect.key.as_str());
            }
        }
        keys.into_iter()
            .filter(|(_, keys)| keys.len() > 1)
            .map(|((instance, action), keys)| format!("{instance} {action}: {}", keys.join(", ")))
            .collect()
    }

    /// The sagas (by call number) the service saw begin and not end: at least one effect (or refusal)
    /// recorded, their last effect not applied yet.
    pub fn mid_flight(&self) -> BTreeSet<i64> {
        let mut begun = BTreeSet::new();
        let mut ended = BTreeSet::new();
        for effect in &self.effects {
            let Some(number) = effect.number else { continue };
            begun.insert(number);
            if !effect.refused && is_last_effect(number, &effect.action) {
                ended.insert(number);
            }
        }
        begun.difference(&ended).copied().collect()
    }
}

/// An idempotent service that records what it applies.
pub struct Recorder {
    ledger: Mutex<Ledger>,
    /// The phase of the test's scenario, for the repeat counts (an index into [`Ledger::repeats`]).
    phase: AtomicUsize,
    /// Service latency, in milliseconds, both before and after an effect is applied: an effect can
    /// land while its answer is lost to a kill.
    latency_ms: RangeInclusive<u64>,
    /// The number of applied effects, for the test to wait on.
    pub applied: watch::Sender<usize>,
    /// Calls handled, sagas begun and finished, for the test to wait on. Sent under the ledger's
    /// lock: read the ledger after a change, never while holding the watch's value.
    pub progress: watch::Sender<Progress>,
    /// The number of requests being handled right now: after a kill, the test waits for zero before
    /// it reads the ledger and moves to the next phase, so no late call of the dead process counts in
    /// the next one. (A request the dead process had sent whole but the service had not begun to read
    /// is not counted yet; it would land in the next phase — rare, and it only moves a figure.)
    pub handling: watch::Sender<usize>,
}

impl Recorder {
    /// A service waiting a random `latency_ms` before and after each call, counting repeats in
    /// `phases` phases (it starts in phase 0).
    pub fn new(latency_ms: RangeInclusive<u64>, phases: usize) -> Arc<Self> {
        let ledger = Ledger { repeats: vec![0; phases], ..Ledger::default() };
        Arc::new(Self {
            ledger: Mutex::new(ledger),
            phase: AtomicUsize::new(0),
            latency_ms,
            applied: watch::channel(0).0,
            progress: watch::channel(Progress::default()).0,
            handling: watch::channel(0).0,
        })
    }

    /// The phase of the scenario that repeats from now on count in.
    pub fn set_phase(&self, phase: usize) {
        self.phase.store(phase, Ordering::SeqCst);
    }

    pub fn phase(&self) -> usize {
        self.phase.load(Ordering::SeqCst)
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("ledger lock")
    }

    /// A copy, to read without holding the lock the service needs.
    pub fn snapshot(&self) -> Ledger {
        self.ledger().clone()
    }

    /// Applies the call unless its key was seen before; either way answers with the key's first
    /// response. Check and apply happen under one lock, as a real service's unique key constraint.
    fn call(&self, key: &str, action: &str, input: &Value) -> (StatusCode, Value) {
        let mut ledger = self.ledger();
        let number = input.get("number").and_then(Value::as_i64);
        let phase = self.phase();
        ledger.calls.push(Call { at: Instant::now(), number, phase });
        if let Some(first) = ledger.responses.get(key).cloned() {
            ledger.repeats[phase] += 1;
            self.progress.send_modify(|progress| progress.calls += 1);
            return first;
        }
        let refused = action == "start_billing" && number.is_some_and(fails);
        let response = if refused {
            (StatusCode::BAD_REQUEST, json!({"error": "billing refused the call"}))
        } else {
            (StatusCode::OK, json!({"action": action, "number": number, "effect": ledger.effects.len()}))
        };
        let begins = number.is_some_and(|number| ledger.effects.iter().all(|effect| effect.number != Some(number)));
        ledger.responses.insert(key.to_string(), response.clone());
        ledger.effects.push(Effect { key: key.to_string(), action: action.to_string(), number, refused });
        if !refused {
            ledger.applied += 1;
            self.applied.send_replace(ledger.applied);
        }
        let finishes = !refused && number.is_some_and(|number| is_last_effect(number, action));
        self.progress.send_modify(|progress| {
            progress.calls += 1;
            progress.begun += usize::from(begins);
            progress.finished += usize::from(finishes);
        });
        response
    }

    async fn latency(&self) {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(self.latency_ms.clone()))).await;
    }
}

/// `POST /{action}` with the `Idempotency-Key` header: the service the `calls` tasks reach.
async fn handle_call(
    State(recorder): State<Arc<Recorder>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    Json(input): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(key) = headers.get("idempotency-key").and_then(|value| value.to_str().ok()).map(str::to_string) else {
        recorder.ledger().unkeyed += 1;
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "no Idempotency-Key header"})));
    };
    recorder.latency().await;
    let (status, body) = recorder.call(&key, &action, &input);
    recorder.latency().await;
    (status, Json(body))
}

/// Counts a request in [`Recorder::handling`] from the moment its head is read (before the body is)
/// until its answer is ready, or it is dropped.
async fn count_handling(State(recorder): State<Arc<Recorder>>, request: Request, next: Next) -> Response {
    struct Handling(Arc<Recorder>);
    impl Drop for Handling {
        fn drop(&mut self) {
            self.0.handling.send_modify(|handling| *handling -= 1);
        }
    }
    recorder.handling.send_modify(|handling| *handling += 1);
    let _handling = Handling(recorder);
    next.run(request).await
}

/// Serves the recorder on a free local port; returns its address.
pub async fn start_service(recorder: Arc<Recorder>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the service");
    let address = listener.local_addr().expect("service address");
    let router = Router::new()
        .route("/{action}", post(handle_call))
        .layer(axum::middleware::from_fn_with_state(recorder.clone(), count_handling))
        .with_state(recorder);
    tokio::spawn(async move { axum::serve(listener, router).await.expect("the recording service failed") });
    address
}
