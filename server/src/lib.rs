//! `switchboard`: the binary that runs the Switchboard console and the durable workflow runtime around the
//! engine.
//!
//! Everything with I/O lives here; the engine (`switchboard-engine`, in `server/engine/`) stays pure and
//! the console (`switchboard-app`, in `app/`) stays free of server types.
//!
//! - [`auth`]: sign-in (throttled), sessions, API tokens, the route permission table and the guard on
//!   every request.
//! - [`bench`]: `switchboard bench` — the call-processing saga benchmark, takeovers, monitoring reads.
//! - [`cli`]: the command line (`serve`, `migrate`, `seed`, `bench`), every flag also read from an
//!   environment variable; the only module that knows clap — it turns each command's flags into the
//!   plain configuration of the module that runs it ([`serve::Config`], [`seed::Config`],
//!   [`bench::Config`]), so dependencies point from `cli` to those modules, never back.
//! - [`cluster`]: several nodes on one PostgreSQL — heartbeats, instance ownership with fencing, the
//!   leader, the live feed between nodes; one process per SQLite file.
//! - [`db`]: [`db::Database`], the connection pool for SQLite or PostgreSQL, chosen by URL scheme, and the
//!   embedded migrations.
//! - [`error`]: [`error::ApiError`], where errors become HTTP responses, in one place.
//! - [`events`]: [`events::EventBus`], the in-process bus whose messages reach browsers over SSE.
//! - [`health`]: what the background database probe and the writer observed, for `/api/health`.
//! - [`http`]: the axum [`http::router`], where every area's routes are merged: the JSON API, the SSE
//!   stream, the server-rendered console and the static files, with security headers, compression,
//!   request ids and request tracing; the OpenAPI 3.1 document of the JSON API
//!   (`http::openapi`); [`http::json`] (the JSON body extractor) and [`http::time`] serve
//!   every area's handlers.
//! - [`interventions`]: the intervention inbox — ranked work for people, claimed, assigned and resolved
//!   through [`interventions::inbox::Inbox`]; its HTTP handlers only read, call and answer.
//! - [`marketplace`]: the simulated marketplace services and the seven marketplace workflows.
//! - [`monitoring`]: success metrics, SLA targets and breaches, bottlenecks and charts (one module per
//!   chart, over shared axes, legend and canvas), all read from rollups the writer keeps.
//! - [`runtime`]: [`runtime::Runtime`] — one driver per moving instance, the group-commit writer,
//!   effects, timers, recovery and definitions.
//! - [`schedules`]: cron schedules of recurring workflows.
//! - [`seed`]: `switchboard seed`, a realistic history for monitoring at scale.
//! - [`serve`]: wires the parts together from a [`serve::Config`] and runs until Ctrl-C or SIGTERM.
//! - [`services`]: the services tasks call — the registry with circuit breakers and call figures, HTTP
//!   services ([`services::ServiceSpec`], `--service`), the recording service of tests and benchmarks.
//! - [`state`]: [`state::AppState`], what handlers reach.
//! - [`store`]: every query, for both databases: transitions written in group commits, reads, the audit.
//! - [`telemetry`]: Prometheus metrics on `GET /metrics` and optional OTLP trace export
//!   (`--otlp-endpoint`) of request and transition spans.
//! - [`traffic`]: the demo traffic generator that makes a fresh start look like a living marketplace.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use clap::Parser;
//! use switchboard::{cli::Cli, serve};
//! let cli = Cli::parse_from(["switchboard", "--database-url", "sqlite:data/demo.db", "--no-demo"]);
//! serve::run(cli.serve.config()?).await
//! # }
//! ```

// Release builds render the console without erased component types; the deepest views (the inbox
// table) need more than the default 128 levels when the server lays out their types.
#![recursion_limit = "512"]

pub mod auth;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod interventions;
pub mod marketplace;
pub mod monitoring;
pub mod runtime;
pub mod schedules;
pub mod seed;
pub mod serve;
pub mod services;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod traffic;
