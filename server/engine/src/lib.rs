//! The Switchboard workflow engine: definitions, validation and the transition function, with no I/O.
//!
//! This crate is the pure heart of Switchboard. It depends on serde, serde_json and thiserror only (see
//! `server/tests/engine_dependency_rule.rs`): time, ids and randomness are injected by the runtime in
//! `server/`, which persists each transition before it executes the effects the engine returns.
