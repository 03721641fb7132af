//! Every server integration test, in one binary.
//!
//! Each module was once its own test binary; each linked the whole server with Leptos, so a change
//! to the server relinked 27 large executables. One binary links once. The modules keep their own
//! files and docs; `support` holds what they share (throwaway databases on both backends, HTTP and
//! process helpers, the recording service). Run one module with `cargo test --test integration api::`.

// `on_both!` (in `support`) is used by name in the modules below, so `support` comes first.
#[macro_use]
mod support;

mod api;
mod bulk_actions;
mod cli;
mod cluster;
mod cluster_processes;
mod crash;
mod database;
mod definition_hardening;
mod engine_dependency_rule;
mod faults;
mod fuzz_bodies;
mod hostile_input;
mod http;
mod http_service;
mod interventions;
mod marketplace_services;
mod marketplace_workflows;
mod monitoring;
mod monitoring_api;
mod openapi;
mod permissions;
mod runtime;
mod schedules;
mod services_api;
mod store;
mod telemetry;
mod traffic;
mod visitor_hardening;
