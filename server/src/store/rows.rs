//! Row types: what the tables hold, as the store reads and writes it. Conversions to engine and wire
//! types live with the code that needs them (runtime, HTTP), not here.

use sqlx::FromRow;

use app::wire::InstanceStatus;

use super::{Error, Result};

/// A registered definition version.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct DefinitionRow {
    pub name: String,
    pub version: i64,
    pub description: String,
    /// The definition JSON.
    pub body: String,
    pub content_hash: String,
    pub created_at: i64,
    pub created_by: String,
}

/// One instance: the engine's state as JSON plus the columns people search and sort by.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub workflow: String,
    pub version: i64,
    pub status: String,
    pub current_state: Option<String>,
    pub paused: i64,
    pub error: Option<String>,
    /// The engine's `Instance`, JSON.
    pub state: String,
    pub start_key: Option<String>,
    pub journal_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub lease_epoch: i64,
}

/// The status column read as the wire's word; an unknown word is corrupt data, named with its instance.
/// Rows keep the column's text (they are what the table holds); this is where it becomes a status.
pub fn status_of(id: &str, text: &str) -> Result<InstanceStatus> {
    text.parse().map_err(|error| Error::Corrupt(format!("instance {id}: {error}")))
}

impl InstanceRow {
    /// The status column as a status.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the column holds no known status.
    pub fn status(&self) -> Result<InstanceStatus> {
        status_of(&self.id, &self.status)
    }

    /// The row without its state, as lists show it.
    pub fn summary(&self) -> InstanceSummaryRow {
        InstanceSummaryRow {
            id: self.id.clone(),
            workflow: self.workflow.clone(),
            version: self.version,
            status: self.status.clone(),
            current_state: self.current_state.clone(),
            paused: self.paused,
            error: self.error.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
        }
    }
}

/// An instance without its (large) state, for lists.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct InstanceSummaryRow {
    pub id: String,
    pub workflow: String,
    pub version: i64,
    pub status: String,
    pub current_state: Option<String>,
    pub paused: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl InstanceSummaryRow {
    /// The status column as a status.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the column holds no known status.
    pub fn status(&self) -> Result<InstanceStatus> {
        status_of(&self.id, &self.status)
    }
}

/// One applied event and what it caused.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct JournalRow {
    pub instance_id: String,
    pub seq: i64,
    pub at: i64,
    pub event: String,
    pub actor: Option<String>,
    pub reason: Option<String>,
    /// The engine's journal entries, a JSON array.
    pub entries: String,
}

/// One finished attempt of a task or compensation.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct StepRow {
    pub instance_id: String,
    pub step_id: String,
    pub attempt: i64,
    /// `task` or `compensation`.
    pub kind: String,
    pub workflow: String,
    pub state: String,
    pub service: String,
    pub action: String,
    pub idempotency_key: String,
    pub scheduled_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub duration_ms: i64,
    /// `succeeded`, or the error kind: `retryable`, `permanent`, `timeout`, `circuit_open`.
    pub outcome: String,
    pub error: Option<String>,
}

/// A durable timer.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct TimerRow {
    pub id: String,
    pub instance_id: String,
    pub fire_at: i64,
    pub purpose: String,
}

/// An item of work for a person.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct InterventionRow {
    pub id: String,
    pub instance_id: String,
    pub workflow: String,
    pub kind: String,
    pub state: String,
    /// JSON array of the allowed decisions.
    pub decisions: String,
    pub assignee_group: Option<String>,
    pub priority: String,
    pub due_at: Option<i64>,
    pub reason: String,
    pub status: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}
