//! Wire types: the contract between the browser and the server.
//!
//! Plain serde data, compiled into both the server and the browser bundle. Under the `ssr` feature
//! (the server's build only) each type also derives `utoipa::ToSchema`, from which the server's OpenAPI
//! document (`GET /api/openapi.json`) takes its schemas; the browser bundle does not carry utoipa.
//! The server converts its own types (engine states, database rows) into these at its edge; nothing
//! here knows about either.
//!
//! This module holds the system-level types (health, live events, errors); [`workflows`] holds the
//! workflow API's, and [`vocabulary`] the closed word lists (statuses, kinds) and journal records.

pub mod access;
pub mod cluster;
pub mod interventions;
pub mod monitoring;
pub mod schedules;
pub mod services;
pub mod vocabulary;
pub mod workflows;

use serde::{Deserialize, Serialize};

pub use access::*;
pub use cluster::*;
pub use interventions::*;
pub use monitoring::*;
pub use schedules::*;
pub use services::*;
pub use vocabulary::*;
pub use workflows::*;

/// Which database the running `switchboard` stores its state in.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded default: one SQLite file on local disk.
    Sqlite,
    /// PostgreSQL, for scale-out across several processes.
    Postgres,
}

impl Backend {
    /// The name shown to people: "SQLite" or "PostgreSQL".
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// `GET /api/health`: is this process up, and can it reach its database?
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` when everything answers, `degraded` when the database does not or writes fail.
    pub status: HealthStatus,
    /// The version of the running `switchboard` binary.
    pub version: String,
    /// The database backend in use.
    pub backend: Backend,
    /// Whether the database answered the background probe (once a second, on a connection of its
    /// own) within the last 3 s.
    pub database_reachable: bool,
    /// What is wrong, in sentences (the database silent since when, writes failing and why); empty
    /// when `status` is `ok`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The overall verdict of a health check.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Degraded,
}

/// What the console shows about the server it talks to (the footer, the overview's system panel).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// The version of the running `switchboard` binary.
    pub version: String,
    /// The database backend in use.
    pub backend: Backend,
    /// The database location with any password removed, e.g. `sqlite:data/switchboard.db`.
    pub database: String,
    /// When this process started, RFC 3339 in UTC.
    pub started_at: String,
    /// Whether the built-in demo traffic generator is switched on.
    pub demo_traffic: bool,
}

/// One message on `GET /api/events`, the server-sent-events stream. Sent as the `data:` line, JSON,
/// tagged by `type` so new kinds can be added without breaking older tabs (they ignore unknown types).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// Sent once a second, and at once to a new subscriber, so the console can show that it is live.
    Heartbeat(Heartbeat),
    /// A workflow instance changed (a transition was committed).
    Instance(InstanceChange),
    /// An SLA target was found breached, or met again.
    Sla(SlaChange),
    /// An inbox item was opened, claimed, assigned, unassigned or resolved.
    Intervention(InterventionChange),
}

/// What changed about an inbox item; enough for the navigation's count and the inbox to refresh.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionChange {
    pub id: String,
    pub instance_id: Option<String>,
    /// `opened`, `claimed`, `assigned`, `unassigned` or `resolved`.
    pub change: String,
    /// `open` or `resolved`.
    pub status: String,
    pub assignee: Option<String>,
}

/// What changed about an instance, enough to update a list row or a diagram without a reload.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceChange {
    pub id: String,
    pub workflow: String,
    pub version: u32,
    pub status: InstanceStatus,
    /// The state(s) it is in now, comma-separated.
    pub current_state: Option<String>,
    pub paused: bool,
    pub error: Option<String>,
    /// When the transition happened, epoch milliseconds.
    pub updated_at_ms: i64,
}

/// The server's clock and a counter, proving that the stream is flowing.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Server time, RFC 3339 in UTC with second precision, e.g. `2026-11-25T22:15:03Z`.
    pub server_time: String,
    /// Increases by one with every heartbeat of this process.
    pub sequence: u64,
}

impl Heartbeat {
    /// The time of day part, `HH:MM:SS`, for compact display.
    pub fn time_of_day(&self) -> &str {
        self.server_time.get(11..19).unwrap_or(&self.server_time)
    }
}

/// The body of every API error response: one stable shape for every route.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

/// What went wrong, in words, with the offending fields when the request was invalid.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    /// A stable, machine-readable code: `not_found`, `invalid_request`, `unavailable`, `internal`, …
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Field-level problems; empty when the error is not about particular fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// One invalid field: its path in the request (e.g. `input.amount`) and what is wrong with it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_events_are_tagged_by_type() {
        let event = LiveEvent::Heartbeat(Heartbeat { server_time: "2026-11-25T22:15:03Z".into(), sequence: 7 });
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"type":"heartbeat","server_time":"2026-11-25T22:15:03Z","sequence":7}"#);
        assert_eq!(serde_json::from_str::<LiveEvent>(&json).unwrap(), event);
    }

    #[test]
    fn time_of_day_is_cut_from_rfc3339() {
        let beat = Heartbeat { server_time: "2026-11-25T22:15:03Z".into(), sequence: 1 };
        assert_eq!(beat.time_of_day(), "22:15:03");
        let odd = Heartbeat { server_time: "now".into(), sequence: 1 };
        assert_eq!(odd.time_of_day(), "now");
    }

    #[test]
    fn health_serialises_in_lowercase() {
        let health = Health {
            status: HealthStatus::Ok,
            version: "0.1.0".into(),
            backend: Backend::Postgres,
            database_reachable: true,
            problems: Vec::new(),
        };
        let value = serde_json::to_value(&health).unwrap();
        assert_eq!(value["status"], "ok");
        assert_eq!(value["backend"], "postgres");
    }
}
