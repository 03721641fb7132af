//! The wire's closed vocabularies: instance statuses, state kinds, intervention kinds, priority levels,
//! and the journal records of an instance's history.
//!
//! Each word list is an enum serialized as the snake_case text the API has always used, so the JSON does
//! not change; the console and the server match on the enum, so a new word is a compile error wherever a
//! `match` must decide what it means (the server's conversions from the engine's own types match
//! exhaustively too, in `server/src/runtime/convert.rs`). Text that arrives from outside (query
//! parameters, database columns) is read with [`FromStr`], whose error names the word and what it may be.
//!
//! ```
//! use app::wire::InstanceStatus;
//!
//! let status: InstanceStatus = "needs_intervention".parse().unwrap();
//! assert_eq!(status, InstanceStatus::NeedsIntervention);
//! assert_eq!(serde_json::to_string(&status).unwrap(), "\"needs_intervention\"");
//! assert!("paused".parse::<InstanceStatus>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A word that is not in a vocabulary: what was expected, the word, and the words allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWord {
    /// What the word should have been, e.g. `instance status`.
    pub what: &'static str,
    pub word: String,
    /// Every word allowed, in the vocabulary's order.
    pub allowed: &'static [&'static str],
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`: must be one of {}", self.what, self.word, self.allowed.join(", "))
    }
}

impl std::error::Error for UnknownWord {}

/// Declares a vocabulary: the enum (serde snake_case, like `text`), `ALL` and `WORDS` in declaration
/// order, `as_str`, [`FromStr`] and `TryFrom<String>`, [`fmt::Display`] and comparison with text. One list per vocabulary, so none of them can miss
/// a word.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every word, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every word as text, in declaration order (for "must be one of" messages).
            pub const WORDS: &'static [&'static str] = &[$($text),+];

            /// The word as the API writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(word: &str) -> Result<Self, UnknownWord> {
                match word {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownWord { what: $what, word: word.to_string(), allowed: $name::WORDS }),
                }
            }
        }

        /// For readers that get owned text (a database column).
        impl TryFrom<String> for $name {
            type Error = UnknownWord;

            fn try_from(word: String) -> Result<Self, UnknownWord> {
                word.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the word as text (`status == "completed"`), for tests and checks on raw text.
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

vocabulary! {
    /// Where an instance stands (the engine's `StatusKind`).
    InstanceStatus ("instance status") {
        /// Not started yet.
        Created = "created",
        /// A task (or parallel state) is executing.
        Running = "running",
        /// Waiting on a timer or a person.
        Waiting = "waiting",
        /// Undoing completed steps.
        Compensating = "compensating",
        /// Blocked on a reviewer.
        NeedsIntervention = "needs_intervention",
        /// Finished successfully.
        Completed = "completed",
        /// Stopped on a failure without compensating; an operator may still retry or cancel.
        Failed = "failed",
        /// Failed and compensated.
        Compensated = "compensated",
        /// Cancelled by an operator.
        Cancelled = "cancelled",
    }
}

impl InstanceStatus {
    /// `completed`, `compensated` and `cancelled`: reached once and never left. (`failed` is a resting
    /// status: an operator may still retry or cancel.)
    pub fn is_final(self) -> bool {
        match self {
            InstanceStatus::Completed | InstanceStatus::Compensated | InstanceStatus::Cancelled => true,
            InstanceStatus::Created
            | InstanceStatus::Running
            | InstanceStatus::Waiting
            | InstanceStatus::Compensating
            | InstanceStatus::NeedsIntervention
            | InstanceStatus::Failed => false,
        }
    }
}

vocabulary! {
    /// The kind of a definition's state: its `type` field.
    StateKind ("state kind") {
        /// Calls `service.action`.
        Task = "task",
        /// Branches on conditions.
        Choice = "choice",
        /// Runs branches concurrently and joins them.
        Parallel = "parallel",
        /// A durable timer.
        Wait = "wait",
        /// A person decides (an intervention).
        Human = "human",
        /// Ends the run, succeeded.
        Succeed = "succeed",
        /// Ends the run, failed.
        Fail = "fail",
    }
}

impl StateKind {
    /// The kind of a state as a definition's JSON writes it (`{"type": "task", …}`); `None` when the
    /// `type` is missing or not a kind.
    pub fn of(state: &Value) -> Option<StateKind> {
        state.get("type")?.as_str()?.parse().ok()
    }
}

vocabulary! {
    /// What kind of manual work an inbox item is.
    InterventionKind ("intervention kind") {
        /// A `human` state waits for a decision.
        HumanTask = "human_task",
        /// A task failed finally with `on_failure: intervention`.
        RetriesExhausted = "retries_exhausted",
        /// A compensation failed after its retries.
        CompensationFailed = "compensation_failed",
        /// An SLA target was breached (no run of its own).
        SlaBreach = "sla_breach",
    }
}

vocabulary! {
    /// How urgent an inbox item is (see [`crate::wire::PRIORITY_LEVELS`] for the scores).
    PriorityLevel ("priority") {
        Urgent = "urgent",
        High = "high",
        Normal = "normal",
        Low = "low",
    }
}

/// One journal entry of a history: a record with when, who and why (the engine's `JournalEntry`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who caused it (operator actions and human decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Why (operator actions and human decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub record: JournalRecord,
}

/// What a journal entry records: the engine's journal records (same tags and fields), and `audit`, an
/// inbox change that did not move the run (a claim or an assignment), taken from the audit trail.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum JournalRecord {
    /// The event that was applied (its JSON as the engine writes it; the entry's `event` names it).
    Applied { event: Value },
    /// The run entered a state.
    StateEntered {
        state: String,
        /// The parallel branch, if inside one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// The run left a state after `duration_ms`.
    StateLeft { state: String, entered_at_ms: i64, duration_ms: i64 },
    /// A task call was issued.
    TaskScheduled { state: String, step_id: String, service: String, idempotency_key: String, attempt: u32 },
    /// A retry was scheduled after attempt `attempt` failed.
    RetryScheduled { state: String, idempotency_key: String, attempt: u32, delay_ms: u64, fire_at_ms: i64 },
    /// A fallback service was chosen.
    FallbackSelected { state: String, service: String, idempotency_key: String },
    /// A compensation call was issued.
    CompensationScheduled { state: String, idempotency_key: String, attempt: u32 },
    /// An intervention was opened.
    InterventionOpened { intervention_id: String, kind: InterventionKind },
    /// The status changed.
    StatusChanged { from: InstanceStatus, to: InstanceStatus },
    /// An inbox item was claimed, assigned or unassigned: the item's fields before and after.
    Audit { intervention_id: String, before: Option<Value>, after: Option<Value> },
}

/// Writes journal entries as JSON values do, keys in the order a `serde_json::Value` keeps them: the
/// order `GET /api/instances/{id}/history` has always answered in (it used to pass the stored JSON through
/// as a value).
pub(crate) fn journal_as_value<S: serde::Serializer>(
    entries: &[JournalEntry],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde_json::to_value(entries).map_err(serde::ser::Error::custom)?.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Every word serializes as the text it always had, reads back, and `as_str` agrees with serde.
    fn check<T>(expected: &[&str])
    where
        T: Copy + fmt::Debug + PartialEq + Serialize + for<'de> Deserialize<'de> + FromStr<Err = UnknownWord>,
        T: VocabularyList,
    {
        let words: Vec<String> = T::all().iter().map(|word| serde_json::to_string(word).unwrap()).collect();
        let quoted: Vec<String> = expected.iter().map(|word| format!("\"{word}\"")).collect();
        assert_eq!(words, quoted);
        for (word, text) in T::all().iter().zip(expected) {
            assert_eq!(serde_json::from_str::<T>(&format!("\"{text}\"")).unwrap(), *word);
            assert_eq!(text.parse::<T>().unwrap(), *word);
        }
        let unknown = "no_such_word".parse::<T>().unwrap_err();
        assert_eq!(unknown.word, "no_such_word");
        assert_eq!(unknown.allowed, expected);
        assert!(serde_json::from_str::<T>("\"no_such_word\"").is_err());
        assert!("".parse::<T>().is_err(), "an empty word is not a word");
        assert!(expected[0].to_uppercase().parse::<T>().is_err(), "words are lower case");
    }

    trait VocabularyList: Sized + 'static {
        fn all() -> &'static [Self];
    }
    impl VocabularyList for InstanceStatus {
        fn all() -> &'static [Self] {
            InstanceStatus::ALL
        }
    }
    impl VocabularyList for StateKind {
        fn all() -> &'static [Self] {
            StateKind::ALL
        }
    }
    impl VocabularyList for InterventionKind {
        fn all() -> &'static [Self] {
            InterventionKind::ALL
        }
    }
    impl VocabularyList for PriorityLevel {
        fn all() -> &'static [Self] {
            PriorityLevel::ALL
        }
    }

    #[test]
    fn words_are_the_api_text() {
        check::<InstanceStatus>(&[
            "created",
            "running",
            "waiting",
            "compensating",
            "needs_intervention",
            "completed",
            "failed",
            "compensated",
            "cancelled",
        ]);
        check::<StateKind>(&["task", "choice", "parallel", "wait", "human", "succeed", "fail"]);
        check::<InterventionKind>(&["human_task", "retries_exhausted", "compensation_failed", "sla_breach"]);
        check::<PriorityLevel>(&["urgent", "high", "normal", "low"]);
    }

    #[test]
    fn unknown_words_say_what_is_allowed() {
        let error = "paused".parse::<InstanceStatus>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown instance status `paused`: must be one of created, running, waiting, compensating, \
             needs_intervention, completed, failed, compensated, cancelled"
        );
        assert_eq!(InstanceStatus::Completed, "completed");
        assert_eq!(StateKind::of(&json!({"type": "human"})), Some(StateKind::Human));
        assert_eq!(StateKind::of(&json!({"type": "sleep"})), None);
        assert_eq!(StateKind::of(&json!({})), None);
    }

    #[test]
    fn journal_records_keep_their_json() {
        let stored = json!([
            {"at_ms": 5, "record": {"record": "applied", "event": {"type": "started", "input": {}}}},
            {"at_ms": 5, "record": {"record": "state_entered", "state": "a", "branch": "b"}},
            {"at_ms": 5, "record": {"record": "state_left", "state": "a", "entered_at_ms": 1, "duration_ms": 4}},
            {"at_ms": 5, "record": {"record": "task_scheduled", "state": "a", "step_id": "s", "service": "x",
                "idempotency_key": "k", "attempt": 1}},
            {"at_ms": 5, "record": {"record": "retry_scheduled", "state": "a", "idempotency_key": "k", "attempt": 1,
                "delay_ms": 10, "fire_at_ms": 15}},
            {"at_ms": 5, "record": {"record": "fallback_selected", "state": "a", "service": "y", "idempotency_key": "k"}},
            {"at_ms": 5, "record": {"record": "compensation_scheduled", "state": "a", "idempotency_key": "k",
                "attempt": 2}},
            {"at_ms": 5, "actor": "olga", "reason": "r", "record": {"record": "intervention_opened",
                "intervention_id": "i", "kind": "retries_exhausted"}},
            {"at_ms": 5, "record": {"record": "status_changed", "from": "running", "to": "needs_intervention"}},
            {"at_ms": 5, "record": {"record": "audit", "intervention_id": "i", "before": null,
                "after": {"assignee": "rita"}}},
        ]);
        let entries: Vec<JournalEntry> = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(entries.len(), 10);

        #[derive(Serialize)]
        struct Wrapper(#[serde(serialize_with = "journal_as_value")] Vec<JournalEntry>);
        let written = serde_json::to_string(&Wrapper(entries)).unwrap();
        assert_eq!(written, serde_json::to_string(&stored).unwrap(), "byte for byte what the stored JSON was");
        let unknown = json!([{"at_ms": 1, "record": {"record": "teleported", "state": "a"}}]);
        assert!(serde_json::from_value::<Vec<JournalEntry>>(unknown).is_err());
    }
}
