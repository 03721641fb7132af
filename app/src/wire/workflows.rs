//! Wire types of the workflow API: definitions, instances, their history and steps, operator actions.
//!
//! Times are RFC 3339 in UTC with milliseconds (`2026-11-25T22:15:03.120Z`); JSON payloads (input,
//! context, outputs) pass through as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::vocabulary::{InstanceStatus, JournalEntry};

/// `GET /api/definitions`: one entry per workflow type.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionSummary {
    pub name: String,
    pub description: String,
    pub latest_version: u32,
    /// Every version, oldest first.
    pub versions: Vec<u32>,
}

/// One version of a definition, with the definition itself.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefinitionVersion {
    pub name: String,
    pub version: u32,
    pub description: String,
    pub created_at: String,
    pub created_by: String,
    /// The definition as the engine reads it (see `server/engine/DEFINITIONS.md`).
    pub definition: Value,
}

/// The answer to `POST /api/definitions`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredDefinition {
    pub name: String,
    pub version: u32,
    /// `false` when the body was identical to the latest version (no new version was made).
    pub created: bool,
}

/// `POST /api/instances`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartInstance {
    /// The workflow type, e.g. `call-lifecycle`.
    pub workflow: String,
    /// A version to pin; the latest when absent.
    #[serde(default)]
    pub version: Option<u32>,
    /// The workflow's input; checked against the definition's input schema.
    #[serde(default)]
    pub input: Value,
    /// Keys to find the instance by (buyer, seller, call, payout ids), besides those the definition
    /// extracts from the input.
    #[serde(default)]
    pub business_keys: BTreeMap<String, String>,
    /// Starting twice with the same key returns the first instance. The `Idempotency-Key` header works
    /// too.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// An instance in a list.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSummary {
    pub id: String,
    pub workflow: String,
    pub version: u32,
    pub status: InstanceStatus,
    /// The state(s) it is in, comma-separated; none when finished.
    pub current_state: Option<String>,
    pub paused: bool,
    /// Why it failed or is blocked.
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

/// `GET /api/instances`: a page, newest first.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePage {
    pub items: Vec<InstanceSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/instances/{id}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceDetail {
    #[serde(flatten)]
    pub summary: InstanceSummary,
    pub business_keys: BTreeMap<String, String>,
    pub input: Value,
    /// Everything the steps produced so far (`input`, `steps.<state>`, …).
    pub context: Value,
    /// The final output, once completed.
    pub output: Option<Value>,
    /// The intervention it waits on, if any.
    pub open_intervention: Option<String>,
    /// The engine's full status, for tools that need the detail (what is in flight, what it waits on).
    pub engine_status: Value,
}

/// One entry of `GET /api/instances/{id}/history`: an applied event and what it caused.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: i64,
    pub at: String,
    /// The event, e.g. `step_succeeded`, `cancel_requested`.
    pub event: String,
    /// Who did it, for operator actions.
    pub actor: Option<String>,
    /// Why, for operator actions.
    pub reason: Option<String>,
    /// The engine's journal entries for this event (state entered, task scheduled, …).
    #[serde(serialize_with = "super::vocabulary::journal_as_value")]
    pub records: Vec<JournalEntry>,
}

/// One finished attempt of a task or compensation: `GET /api/instances/{id}/steps`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepAttempt {
    pub step_id: String,
    pub state: String,
    /// `task` or `compensation`.
    pub kind: String,
    pub service: String,
    pub action: String,
    pub attempt: u32,
    pub idempotency_key: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
    /// Between the transition that asked for it and the call going out.
    pub queue_wait_ms: i64,
    /// `succeeded`, `retryable`, `permanent`, `timeout` or `circuit_open`.
    pub outcome: String,
    pub error: Option<String>,
}

/// The body of an operator action (`POST /api/instances/{id}/cancel|retry|skip|pause|resume`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceAction {
    /// Why; recorded in the history. Required.
    pub reason: String,
    /// Who; until sign-in exists, the caller names themselves (default `api`).
    #[serde(default)]
    pub actor: Option<String>,
    /// `retry` only: replacement input for the failed step.
    #[serde(default)]
    pub input: Option<Value>,
    /// `skip` only: the output the skipped step is taken to have produced.
    #[serde(default)]
    pub output: Option<Value>,
}

/// The body of `POST /api/instances/bulk`: one operator action on many instances, chosen by `ids` or
/// by `filter` (exactly one of the two).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkAction {
    pub action: BulkActionKind,
    /// Why; recorded in every instance's history. Required, not blank.
    pub reason: String,
    /// Who; default `api`.
    #[serde(default)]
    pub actor: Option<String>,
    /// These instances (at most 10,000).
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// The instances `GET /api/instances` would list with the same parameters. Must be an object.
    #[serde(default)]
    pub filter: Option<BulkFilter>,
    /// Confirms that an action with an empty filter (`{}`) is meant for every instance. Required for
    /// such an action unless it is a preview; refused with `ids` or a filter that narrows.
    #[serde(default)]
    pub all: bool,
    /// Only count what the action would apply to; change nothing.
    #[serde(default)]
    pub preview: bool,
}


/// An operator action that applies to many instances at once.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkActionKind {
    /// Run the failed step again (`failed` with a step to retry, or `needs_intervention`).
    Retry,
    /// Stop and compensate (`running`, `waiting`, `failed`, or `needs_intervention` on a failed step).
    Cancel,
    /// Hold new service calls (`running`, `waiting`, `compensating`, `needs_intervention`; not paused).
    Pause,
    /// Release a pause (paused instances).
    Resume,
}

/// Which instances a bulk action addresses: the parameters of `GET /api/instances`, same meaning and
/// validation. Every field narrows; none means all instances (an action then needs `all: true`).
///
/// Read only from a JSON object: serde would also fill a struct from an array (field by field, in
/// order), so `"filter": []` would be an empty filter, which selects every instance.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct BulkFilter {
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
    /// A business key value.
    #[serde(default)]
    pub key: Option<String>,
    /// Created at or after (RFC 3339).
    #[serde(default)]
    pub from: Option<String>,
    /// Created before (RFC 3339).
    #[serde(default)]
    pub to: Option<String>,
    /// Text the error contains (ignoring case).
    #[serde(default)]
    pub error: Option<String>,
}

impl Serialize for BulkFilter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BulkFilter::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for BulkFilter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly;
        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = BulkFilter;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<BulkFilter, A::Error> {
                BulkFilter::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_map(ObjectOnly)
    }
}

impl BulkFilter {
    /// `true` when no field narrows the selection: the filter selects every instance.
    pub fn is_empty(&self) -> bool {
        self == &BulkFilter::default()
    }
}

/// The answer to `POST /api/instances/bulk`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkActionResult {
    /// `true` when nothing was changed (the request asked for a preview).
    pub preview: bool,
    /// Instances the ids or the filter match.
    pub matched: u64,
    /// Of those, the ones in a status where the action applies.
    pub eligible: u64,
    /// The most instances one request acts on (10,000).
    pub limit: u64,
    /// Instances the action was applied to (0 in a preview).
    pub applied: u64,
    /// Instances the action failed on, in id order: at most 50 listed.
    pub failed: Vec<BulkFailure>,
    /// How many failed in all (`failed` lists at most 50).
    pub failed_count: u64,
    /// Eligible instances beyond the limit, left alone (send the request again for them).
    pub remaining: u64,
}

/// An instance a bulk action could not be applied to, and why.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkFailure {
    pub id: String,
    pub error: String,
}

/// How many instances are in each status, for the overview.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCounts {
    /// `(status, count)`, statuses in alphabetical order; absent statuses have no entry.
    pub by_status: Vec<(InstanceStatus, i64)>,
}

impl InstanceCounts {
    /// The count of one status (0 when absent).
    pub fn of(&self, status: InstanceStatus) -> i64 {
        self.by_status.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n)
    }

    /// All instances.
    pub fn total(&self) -> i64 {
        self.by_status.iter().map(|(_, n)| n).sum()
    }
}
