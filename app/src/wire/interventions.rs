//! The intervention inbox's API types: items that need a person, their history, and the actions on
//! them (`/api/interventions`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::vocabulary::{InstanceStatus, InterventionKind, PriorityLevel};

/// How the inbox ranks items, in words: what counts and for how many points, as
/// `server/src/interventions/priority.rs` computes it (its tests check the figures). The inbox shows it
/// as is, so the explanation and the computation have one text.
pub const PRIORITY_SCHEME: [(&str, &str); 4] = [
    (
        "SLA risk (due time)",
        "overdue +30, plus +5 per full hour overdue (at most +60 in all); due within 1 h +25, within 4 h +15, \
         within 24 h +5. Without its own due time an item is due 1 h after it opened (failed compensation), \
         2 h (retries exhausted), 4 h (SLA breach) or 24 h (human task).",
    ),
    ("Age", "+2 per full hour open, at most +20."),
    (
        "Money at stake",
        "the largest amount_minor, charge_minor, gross_minor, paid_minor or invoiced_minor in the run's input, \
         its steps' outputs or the failed step's input: from $10 +5, $100 +10, $1,000 +20, $10,000 +30, \
         $100,000 +40.",
    ),
    (
        "Kind",
        "failed compensation +30 (money may be half moved), retries exhausted +20, SLA breach +20, human task \
         +10; a human task its workflow marks urgent +20, high +10, low −5.",
    ),
];

/// The levels by score, highest first: `urgent` from 70 points, `high` from 45, `normal` from 15, `low` below.
pub const PRIORITY_LEVELS: [(i64, PriorityLevel); 3] =
    [(70, PriorityLevel::Urgent), (45, PriorityLevel::High), (15, PriorityLevel::Normal)];

/// How urgent an item is, and why (shown in the inbox).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Priority {
    pub level: PriorityLevel,
    /// The score the level comes from (higher is more urgent); the inbox sorts by it.
    pub score: i64,
    /// What made up the score, in words: "overdue by 2 h (+40)", "$1,250.00 at stake (+20)", …
    pub because: Vec<String>,
}

/// One item of the inbox.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterventionItem {
    pub id: String,
    pub kind: InterventionKind,
    pub reason: String,
    pub workflow: String,
    /// The run it belongs to (absent for an SLA breach).
    pub instance_id: Option<String>,
    /// The state that waits (the SLA target's id for a breach).
    pub state: String,
    /// What the resolver may choose: a human task's decisions (`approve`, `deny`, …), or for failures
    /// `retry`, `skip`, `compensate`, `abort`; `acknowledge` for an SLA breach.
    pub choices: Vec<String>,
    pub priority: Priority,
    pub opened_at: String,
    pub due_at: Option<String>,
    pub overdue: bool,
    pub assignee: Option<String>,
    pub assigned_at: Option<String>,
    /// `open` or `resolved`.
    pub status: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
    /// The choice made and its data, e.g. `{"choice":"approve","reason":"…"}`.
    pub resolution: Option<Value>,
    /// Money the run has at stake, in minor units, when its context says (amounts, payouts, …).
    pub amount_minor: Option<i64>,
    /// The run's status now (absent for an SLA breach).
    pub instance_status: Option<InstanceStatus>,
}

/// How many items each view holds (open items; `mine` is the caller's).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCounts {
    pub mine: u64,
    pub unassigned: u64,
    pub all: u64,
    pub overdue: u64,
}

/// `GET /api/interventions?view=mine|unassigned|all|overdue|resolved&kind=&workflow=&priority=`:
/// highest priority first (resolved: newest first).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterventionList {
    pub items: Vec<InterventionItem>,
    pub counts: InboxCounts,
}

/// One entry of an item's own history.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterventionEvent {
    pub at: String,
    /// `opened`, `claimed`, `assigned`, `unassigned`, `resolved`.
    pub action: String,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<Value>,
}

/// `GET /api/interventions/{id}`: the item, its run's context and input, and its history.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterventionDetail {
    pub item: InterventionItem,
    /// The run's context now (null for an SLA breach: then the breach's figures).
    pub context: Value,
    /// For a failed step: the input it was called with (to edit for a retry).
    pub step_input: Option<Value>,
    /// For a failed step: its last error.
    pub error: Option<String>,
    pub history: Vec<InterventionEvent>,
}

/// `POST /api/interventions/{id}/assign`: `assignee` null unassigns.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignIntervention {
    /// Required: a username, or `null` to unassign (a missing field is refused, not read as `null`).
    #[serde(deserialize_with = "present_or_null")]
    #[cfg_attr(feature = "ssr", schema(required = true))]
    pub assignee: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/interventions/{id}/resolve`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveIntervention {
    /// One of the item's `choices`.
    pub choice: String,
    /// Why. Required, not blank.
    pub reason: String,
    /// `retry` only: replacement input for the failed step.
    #[serde(default)]
    pub input: Option<Value>,
    /// `skip` only: the output the step is taken to have produced.
    #[serde(default)]
    pub output: Option<Value>,
    /// Human tasks: data entered with the decision (stored in the run's context).
    #[serde(default)]
    pub data: Option<Value>,
}

/// `POST /api/interventions/bulk-resolve`: one resolution for many similar items.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkResolve {
    pub ids: Vec<String>,
    pub choice: String,
    pub reason: String,
    #[serde(default)]
    pub data: Option<Value>,
}

/// One refused item of a bulk resolve.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResolveFailure {
    pub id: String,
    pub message: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResolveResult {
    pub resolved: u64,
    pub refused: Vec<BulkResolveFailure>,
}

/// Reads an `Option` that must be present (it may be `null`). serde reads a missing `Option` field as
/// `None` unless the field has its own deserializer, so this one only exists to make it required.
fn present_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(deserializer)
}
