//! Telemetry for operators: Prometheus metrics scraped from `GET /metrics`, and OpenTelemetry traces
//! sent to a collector when `--otlp-endpoint` is given.
//!
//! - [`metrics`]: the process's recorder ([`metrics::install`]), every series' name and help text, and
//!   the one-line hooks other modules call (a transition committed, a group commit written, a service
//!   call settled, an SLA breach recorded).
//! - [`scrape`]: the `GET /metrics` handler — refreshes the gauges read from state (breakers, open
//!   interventions, open SLA breaches), then renders the text format. The guard checks it like an API
//!   route: `auth::policy` gives it `View`.
//! - [`http`]: the middleware counting and timing every request by its route *pattern*
//!   (`MatchedPath`, so label values stay few), and opening its trace span.
//! - [`transitions`]: [`transitions::Committing`], which times one transition from the writer's hand-off
//!   to durability and traces it.
//! - [`traces`]: the process's `tracing` subscriber: logs to stderr, plus the OTLP/HTTP span exporter.
//!
//! Trace spans use their own target, [`traces::OTEL_TARGET`], which only the OTLP layer listens to: the
//! logs never show them, and without `--otlp-endpoint` no layer wants them, so creating one costs a
//! cached callsite check.
//!
//! ```no_run
//! // At start (serve does this): the recorder exists before the first transition.
//! switchboard::telemetry::metrics::install();
//! // Then every scrape of /metrics renders it:
//! let text = switchboard::telemetry::metrics::install().render();
//! assert!(text.contains("switchboard_"));
//! ```

pub mod http;
pub mod metrics;
pub mod scrape;
pub mod traces;
pub mod transitions;

/// Where Prometheus scrapes; outside `/api/` by convention, but guarded like the API.
pub const METRICS_PATH: &str = "/metrics";
