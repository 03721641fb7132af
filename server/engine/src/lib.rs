//! The pure workflow and saga engine of Switchboard.
//!
//! This crate knows nothing about HTTP, SQL or the wall clock. It turns a declarative,
//! versioned workflow [`Definition`] plus a stream of [`Event`]s into new [`Instance`] states,
//! journal entries and [`Effect`]s for a runtime to carry out. Time, ids and randomness come
//! in through the [`Env`] trait, so the same events always give the same result.
//!
//! # Main types and how they relate
//!
//! * [`Definition`] (module [`definition`]): the JSON graph of states (`task`, `choice`,
//!   `parallel`, `wait`, `human`, `succeed`, `fail`). Checked by [`validate()`] against a
//!   [`ServiceCatalog`]; inputs are checked by [`validate_input`]. Conditions of `choice`
//!   states use the small language in [`expr`]. The format reference is `DEFINITIONS.md`.
//! * [`Instance`] (module [`instance`]): one run, pinned to a definition version; its
//!   [`Status`] carries the data of each status (what is in flight, what it waits on).
//! * [`apply`] (module [`transition`]): `(definition, instance, event, env)` →
//!   [`Transition`] `{ instance, journal, effects }`. One exhaustive match; an illegal pair is
//!   an [`EngineError`], never a panic.
//! * [`Effect`]: `RunTask`, `RunCompensation`, `StartTimer`, `CancelTimers`,
//!   `OpenIntervention`, `CloseIntervention`, `Finish`. The runtime persists the transition,
//!   then carries out the effects and feeds their outcomes back as events.
//! * [`outstanding_effects`] (module [`recovery`]): the calls a runtime must re-issue for an
//!   instance it reloads after a crash (see [Recovery](#recovery)).
//! * [`CircuitBreaker`] (module [`breaker`]) and [`RetryPolicy`] (module [`retry`]): pure
//!   helpers the runtime and the engine share.
//! * [`testing`]: a deterministic [`FixedEnv`](testing::FixedEnv), a
//!   [`Harness`](testing::Harness) and [`replay`](testing::replay).
//!
//! # Recovery
//!
//! A runtime persists each transition (instance + journal, one database transaction) before
//! it carries out the effects, so a crash can lose effects but never state. On restart, for
//! every stored instance that is not final, it:
//!
//! 1. carries out [`outstanding_effects`]`(def, &instance, now)`: a `RunTask` for every task
//!    call in flight and a `RunCompensation` for a compensation call in flight, with the
//!    original idempotency key and attempt number and a fresh deadline; services deduplicate
//!    on the key, and the results are accepted by [`apply`] as usual;
//! 2. re-arms the timers it stored from `StartTimer` (minus `CancelTimers`) — the engine
//!    does not return them; a duplicate `TimerFired` is just a stale event;
//! 3. keeps the interventions it stored from `OpenIntervention` / `CloseIntervention`.
//!
//! Calls held by a pause are not returned: they stay in [`Instance::held_effects`] until
//! `ResumeRequested` releases them. Calls already in flight when the instance was paused are
//! returned (pause holds new calls only).
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use switchboard_engine::testing::FixedEnv;
//! use switchboard_engine::{
//!     apply, start, validate, Definition, Effect, Event, StaticCatalog, StatusKind,
//! };
//!
//! let def = Definition::from_json(r#"{
//!     "name": "payout", "version": 1, "start_at": "reserve",
//!     "input_schema": {"type": "object", "required": ["seller_id"],
//!                      "properties": {"seller_id": {"type": "string"}}},
//!     "states": {
//!         "reserve": {"type": "task", "service": "finance", "action": "reserve_funds",
//!                     "input": {"seller": "$.input.seller_id"},
//!                     "compensation": {"service": "finance", "action": "release_funds"},
//!                     "next": "done"},
//!         "done": {"type": "succeed"}
//!     }
//! }"#).unwrap();
//! let catalog = StaticCatalog::new().with("finance", &["reserve_funds", "release_funds"]);
//! validate(&def, &catalog).unwrap();
//!
//! let mut env = FixedEnv::new(1_700_000_000_000, 7);
//! let t = start(&def, "inst-1", json!({"seller_id": "s-9"}), &mut env).unwrap();
//! let Effect::RunTask { idempotency_key, attempt, input, .. } = &t.effects[0] else { panic!() };
//! assert_eq!(idempotency_key, "inst-1:reserve:1");
//! assert_eq!(input, &json!({"seller": "s-9"}));
//!
//! // The runtime persists `t`, calls the service, and reports the outcome.
//! let done = apply(&def, &t.instance, Event::StepSucceeded {
//!     idempotency_key: idempotency_key.clone(),
//!     attempt: *attempt,
//!     output: json!({"reservation": "r-1"}),
//! }, &mut env).unwrap();
//! assert_eq!(done.instance.status_kind(), StatusKind::Completed);
//! assert!(matches!(done.effects.last(), Some(Effect::Finish { .. })));
//! ```

pub mod breaker;
pub mod definition;
pub mod effect;
pub mod env;
pub mod error;
pub mod event;
pub mod expr;
mod graph;
pub mod instance;
pub mod journal;
pub mod limits;
pub mod path;
mod read;
pub mod recovery;
pub mod retry;
pub mod schema;
pub mod testing;
mod timestamp;
pub mod transition;
pub mod validate;
mod words;

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use definition::{Definition, DefinitionRef, State};
pub use effect::{Effect, FinalStatus, InterventionKind, TimerPurpose};
pub use env::Env;
pub use error::EngineError;
pub use event::{ErrorKind, Event, Resolution, ServiceError};
pub use instance::{Instance, Status, StatusKind};
pub use journal::{JournalEntry, Record};
pub use recovery::outstanding_effects;
pub use retry::RetryPolicy;
pub use schema::{validate_input, FieldProblem};
pub use transition::{apply, start, Transition};
pub use validate::{validate, validate_json, Problem, ServiceCatalog, StaticCatalog};
