//! Wire types of the schedules API (`/api/schedules`): recurring workflows started by cron.
//!
//! Times are RFC 3339 in UTC with milliseconds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A schedule.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScheduleView {
    pub name: String,
    /// The workflow it starts.
    pub workflow: String,
    /// Five fields, UTC: minute hour day-of-month month day-of-week.
    pub cron: String,
    /// The input template (`{{slot}}`, `{{slot_date}}`, `{{slot_date_minus_1}}` are filled in per run).
    pub input: Value,
    pub enabled: bool,
    pub next_run_at: String,
    pub last_run_at: Option<String>,
    pub last_instance_id: Option<String>,
}

/// `GET /api/schedules`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
}

/// The body of `PUT /api/schedules/{name}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PutSchedule {
    pub workflow: String,
    pub cron: String,
    #[serde(default)]
    pub input: Option<Value>,
    /// Absent: a new schedule is enabled, an existing one keeps its flag.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The answer of `POST /api/schedules/{name}/run`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunStarted {
    pub schedule: String,
    pub instance_id: String,
    pub idempotency_key: String,
    /// `false` when the same key had started the instance already.
    pub created: bool,
}
