//! Monitoring: success metrics, SLA tracking and bottleneck detection over the workflow history.
//!
//! This module will hold the rollups that make those numbers cheap: per workflow type, state and time
//! bucket, counts by outcome plus a duration sketch, maintained as transitions commit, so a percentile
//! over any period is a merge of a few buckets rather than a scan of every instance. The queries, the SLA
//! targets and reports, the bottleneck rules, the charts and the endpoints will be built on top of them.
//!
//! So far only the groundwork exists:
//!
//! - [`sketch`]: [`sketch::DurationSketch`], a sparse log-linear histogram of durations in milliseconds.
//!   Sketches merge exactly (merging is bucket-wise addition), answer quantiles within a relative error of
//!   1/256, and encode to a short, versioned text form for a database column.
//! - [`charts`]: the monitoring charts (throughput by outcome, step duration percentiles, SLA trend), drawn
//!   with plotters as standalone SVG text.
//!
//! ```
//! use switchboard::monitoring::sketch::DurationSketch;
//!
//! // Two hourly buckets of the same workflow type…
//! let mut first_hour = DurationSketch::new();
//! first_hour.record(120);
//! first_hour.record(340);
//! let mut second_hour = DurationSketch::new();
//! second_hour.record_n(95, 3);
//!
//! // …merged to answer a question about both hours.
//! let mut both = first_hour.clone();
//! both.merge(&second_hour);
//! assert_eq!(both.count(), 5);
//! assert_eq!(both.quantile(0.5), Some(95));
//! assert_eq!(both.max(), Some(340));
//! ```

pub mod backfill;
pub mod bottlenecks;
pub mod charts;
pub mod facts;
pub mod metrics;
pub mod monitor;
pub mod period;
pub mod recompute;
pub mod rollup;
pub mod sketch;
pub mod sla;
