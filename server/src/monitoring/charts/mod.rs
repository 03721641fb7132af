//! Server-side charts for the monitoring pages, drawn with plotters as standalone SVG documents.
//!
//! Three charts, each a function from plain data to a complete `<svg …>` document of 800 × 320 px, with a
//! title, labelled axes, a legend above the plot and a light grid on white:
//!
//! - [`throughput_chart`]: instances per time bucket, one line per outcome ([`TimeSeries`]), with a fixed
//!   colour per outcome (started blue, completed green, failed red, compensated amber, cancelled grey).
//! - [`step_duration_chart`]: the p50 / p95 / p99 durations of each step ([`StepPercentiles`]) as groups of
//!   three bars, in milliseconds, or in seconds once the largest value reaches 10 s.
//! - [`sla_trend_chart`]: an SLA target's value per period ([`SlaPoint`]) against its threshold, drawn as a
//!   dashed red line labelled "target"; periods that met the target are green, the others red.
//!
//! The module is pure: data in, SVG text out, no I/O, no clock, no fonts read from the system (text stays
//! SVG `<text>` sized with plotters' built-in estimate, so the browser renders it). Time axes are in UTC,
//! ticked `HH:MM` up to a 48 h range and `MM-DD` beyond. The functions never fail and never panic: input
//! with nothing to draw gives a chart that says "No data in this period", non-finite values are skipped,
//! negative ones clamp to 0, and an internal drawing error gives a "Chart unavailable" placeholder.
//!
//! ```
//! use switchboard::monitoring::charts::{sla_trend_chart, SlaPoint};
//!
//! let hour = 3_600_000;
//! let points: Vec<SlaPoint> = [Some(420.0), Some(515.0), None, Some(380.0)]
//!     .into_iter()
//!     .enumerate()
//!     .map(|(i, actual)| SlaPoint { period_end_ms: 1_700_000_000_000 + i as i64 * hour, actual })
//!     .collect();
//! // p95 must stay at or below 500 ms: the second hour breaks the target, the third has no data.
//! let svg = sla_trend_chart("Checkout p95", "p95 duration (ms)", 500.0, false, &points);
//! assert!(svg.starts_with("<svg"));
//! assert!(svg.contains("target"));
//! assert!(svg.contains("Checkout p95"));
//! ```
//!
//! Split by job: `throughput`, `steps` and `sla` draw one chart each (with its data type);
//! `axis` holds the axes, ticks and value clamping; `legend` the title and legend above the plot;
//! `canvas` the size, fonts, colours, text fitting, and rendering with its fallbacks.

mod axis;
mod canvas;
mod legend;
mod sla;
mod steps;
#[cfg(test)]
mod tests;
mod throughput;

pub use sla::{sla_trend_chart, SlaPoint};
pub use steps::{step_duration_chart, StepPercentiles};
pub use throughput::{throughput_chart, TimeSeries};
