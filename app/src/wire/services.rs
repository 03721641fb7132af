//! Wire types of the services API: every registered service with its circuit breaker and its recent
//! calls, the breaker's operator controls, and the simulated faults (latency, failure rates) of the
//! simulated ones, changeable while running.

use serde::{Deserialize, Serialize};

/// `GET /api/services`: one entry per registered service, by name.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// The calls of the last five minutes (all zero from a server that predates them).
    #[serde(default)]
    pub calls: ServiceCallStats,
    /// The same figures on every live node sharing the database, this one included (as of each node's
    /// last heartbeat): calls and automatic breaker states are per node. One entry on a single node.
    #[serde(default)]
    pub nodes: Vec<ServiceOnNode>,
}

/// One service's calls and breaker on one node.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceOnNode {
    pub node: String,
    /// Whether it is the node that answered.
    pub this_node: bool,
    pub breaker: BreakerStatus,
    /// Calls in the last five minutes, and of those failed.
    pub calls: u64,
    pub failures: u64,
    pub error_rate: f64,
    pub latency_p95_ms: Option<f64>,
    pub calls_per_minute: f64,
}

/// A service's calls over a sliding window (the last five minutes), counted in memory by the server
/// process since it started.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCallStats {
    /// The window's length in seconds (300).
    pub window_secs: u64,
    /// Calls in the window, calls the breaker refused included.
    pub calls: u64,
    /// Failed calls in the window: any error (`retryable`, `permanent`, `timeout`, `circuit_open`).
    pub failures: u64,
    /// `failures / calls`, 0–1; 0 without calls.
    pub error_rate: f64,
    /// Latency percentiles in milliseconds of the calls that reached the service (refused calls have
    /// no latency); none without such calls.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Calls per minute over the window (over the time since the first call when that is shorter,
    /// counting at least one minute).
    pub calls_per_minute: f64,
    /// The last failures (at most 10, whatever their age), newest first.
    pub recent_failures: Vec<ServiceFailure>,
}

/// One failed call of a service.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFailure {
    /// When the call ended (RFC 3339, UTC, milliseconds).
    pub at: String,
    pub action: String,
    /// `retryable`, `permanent`, `timeout` or `circuit_open`.
    pub kind: String,
    /// What the service (or the runtime) said.
    pub error: String,
}

/// The body of `POST /api/services/{name}/breaker`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerCommand {
    pub action: BreakerAction,
}

/// What an operator does to a circuit breaker.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerAction {
    /// Force it open: every call is refused (`circuit_open`) until `reset`; it does not half-open by
    /// itself.
    Trip,
    /// Close it and clear its failure count.
    Reset,
}

/// A circuit breaker's state.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLatency {
    pub p50_ms: u64,
    pub p99_ms: u64,
}
