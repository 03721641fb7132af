//! Wire types of the services API: every registered service with its circuit breaker, and the
//! simulated faults (latency, failure rates) of the simulated ones, changeable while running.

use serde::{Deserialize, Serialize};

/// `GET /api/services`: one entry per registered service, by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    /// The circuit breaker right now.
    pub breaker: BreakerStatus,
    /// Whether this is a simulated marketplace service (whose faults can be set).
    pub simulated: bool,
    /// The simulated service's current fault settings; none for real (HTTP) services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<ServiceFaults>,
}

/// A circuit breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerStatus {
    /// Calls pass.
    Closed,
    /// Calls are refused at once (too many failures in a row).
    Open,
    /// A few probe calls pass; their outcome closes or reopens it.
    HalfOpen,
}

/// How slow and how unreliable a simulated service is. The body of `PUT`/`POST
/// /api/services/{name}/faults` and the answer of `GET` on the same path; every field is required.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFaults {
    pub latency: ServiceLatency,
    /// Share of calls (0–1) that fail with a retryable error and apply nothing.
    pub failure_rate: f64,
    /// Share of calls (0–1) that hang until the caller's deadline and apply nothing.
    pub timeout_rate: f64,
    /// Share of calls (0–1) that apply their effect but whose answer is lost.
    pub lost_reply_rate: f64,
}

/// A latency distribution: median and 99th percentile in milliseconds (both 0: no delay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLatency {
    pub p50_ms: u64,
    pub p99_ms: u64,
}
