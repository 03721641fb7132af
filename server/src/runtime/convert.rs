//! Conversions between the engine's instance, the store's row and the wire's view. They live here, at
//! the runtime's edge, so none of the three knows the others (architecture invariant 5).

use serde::Serialize;

use app::wire::{InstanceChange, InstanceStatus, InterventionKind, JournalEntry, JournalRecord, StateKind};
use engine::instance::{Blocked, Cause, WaitingOn};
use engine::{Instance, Record, State, Status, StatusKind};

use super::{Error, Result};
use crate::store::InstanceRow;

/// The engine's instance stored in a row.
pub fn instance_of(row: &InstanceRow) -> Result<Instance> {
    serde_json::from_str(&row.state).map_err(|error| Error::Corrupt(format!("instance {}: {error}", row.id)))
}

/// The row for an instance after a transition at `now`. `previous` is the row before (none for a new
/// instance): what the engine does not know (start key, leases, when it first finished) carries over.
pub fn instance_row(
    instance: &Instance,
    previous: Option<&InstanceRow>,
    journal_seq: i64,
    now: i64,
) -> Result<InstanceRow> {
    let state = serde_json::to_string(instance).map_err(|error| Error::Corrupt(error.to_string()))?;
    let states = instance.current_states();
    let finished = matches!(
        instance.status,
        Status::Completed { .. } | Status::Failed { .. } | Status::Compensated { .. } | Status::Cancelled { .. }
    );
    Ok(InstanceRow {
        id: instance.id.clone(),
        workflow: instance.definition.name.clone(),
        version: i64::from(instance.definition.version),
        status: status_of(instance.status_kind()).as_str().to_string(),
        current_state: (!states.is_empty()).then(|| states.join(", ")),
        paused: i64::from(instance.paused.is_some()),
        error: error_of(&instance.status),
        state,
        start_key: previous.and_then(|p| p.start_key.clone()),
        journal_seq,
        created_at: instance.created_at_ms,
        updated_at: now,
        // A transition that keeps a finished status keeps its time; one that reaches a final status
        // (also from `failed`, by a skip) finishes now.
        finished_at: finished.then(|| {
            previous
                .filter(|p| p.status == status_of(instance.status_kind()).as_str())
                .and_then(|p| p.finished_at)
                .unwrap_or(now)
        }),
        lease_owner: previous.and_then(|p| p.lease_owner.clone()),
        lease_expires_at: previous.and_then(|p| p.lease_expires_at),
        lease_epoch: previous.map_or(0, |p| p.lease_epoch),
    })
}

/// Why an instance failed, is blocked or is being undone, in words; `None` when nothing is wrong.
pub fn error_of(status: &Status) -> Option<String> {
    match status {
        Status::Failed { failure, .. } | Status::Compensated { failure } => Some(failure.message.clone()),
        Status::Compensating(compensating) => match &compensating.cause {
            Cause::Failure(failure) => Some(failure.message.clone()),
            Cause::Cancel { actor, reason } => Some(format!("cancelled by {actor}: {reason}")),
        },
        Status::NeedsIntervention(Blocked::StepFailed { error, .. }) => Some(error.message.clone()),
        Status::NeedsIntervention(Blocked::CompensationFailed { error, .. }) => {
            Some(format!("compensation failed: {}", error.message))
        }
        Status::Cancelled { actor, reason } => Some(format!("cancelled by {actor}: {reason}")),
        Status::Created | Status::Running(_) | Status::Waiting(_) | Status::Completed { .. } => None,
    }
}

/// Whether the instance cannot move on by itself: finished, failed, or waiting for a person.
pub fn settled(instance: &Instance) -> bool {
    match &instance.status {
        Status::Completed { .. }
        | Status::Failed { .. }
        | Status::Compensated { .. }
        | Status::Cancelled { .. }
        | Status::NeedsIntervention(_)
        | Status::Waiting(WaitingOn::Human { .. }) => true,
        Status::Created | Status::Running(_) | Status::Waiting(WaitingOn::Timer { .. }) | Status::Compensating(_) => {
            false
        }
    }
}

/// A serde unit enum as its text (`retries_exhausted`, `high`, …).
pub fn enum_text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The wire's word for an engine status. Every conversion from the engine's vocabularies to the wire's
/// is an exhaustive `match` (no `_`): a status, state kind, intervention kind or journal record the
/// engine adds is a compile error here until the wire has a word for it.
pub fn status_of(kind: StatusKind) -> InstanceStatus {
    match kind {
        StatusKind::Created => InstanceStatus::Created,
        StatusKind::Running => InstanceStatus::Running,
        StatusKind::Waiting => InstanceStatus::Waiting,
        StatusKind::Compensating => InstanceStatus::Compensating,
        StatusKind::NeedsIntervention => InstanceStatus::NeedsIntervention,
        StatusKind::Completed => InstanceStatus::Completed,
        StatusKind::Failed => InstanceStatus::Failed,
        StatusKind::Compensated => InstanceStatus::Compensated,
        StatusKind::Cancelled => InstanceStatus::Cancelled,
    }
}

/// The wire's word for a definition state's kind.
pub fn state_kind_of(state: &State) -> StateKind {
    match state {
        State::Task(_) => StateKind::Task,
        State::Choice(_) => StateKind::Choice,
        State::Parallel(_) => StateKind::Parallel,
        State::Wait(_) => StateKind::Wait,
        State::Human(_) => StateKind::Human,
        State::Succeed(_) => StateKind::Succeed,
        State::Fail(_) => StateKind::Fail,
    }
}

/// The wire's word for the kind of an intervention the engine opens (SLA breaches are the monitor's).
pub fn intervention_kind_of(kind: engine::InterventionKind) -> InterventionKind {
    match kind {
        engine::InterventionKind::HumanTask => InterventionKind::HumanTask,
        engine::InterventionKind::RetriesExhausted => InterventionKind::RetriesExhausted,
        engine::InterventionKind::CompensationFailed => InterventionKind::CompensationFailed,
    }
}

/// A journal entry as the history shows it: the same record, its event as the engine writes it.
pub fn journal_entry_of(entry: engine::JournalEntry) -> JournalEntry {
    let record = match entry.record {
        Record::Applied { event } => {
            JournalRecord::Applied { event: serde_json::to_value(&event).unwrap_or(serde_json::Value::Null) }
        }
        Record::StateEntered { state, branch } => JournalRecord::StateEntered { state, branch },
        Record::StateLeft { state, entered_at_ms, duration_ms } => {
            JournalRecord::StateLeft { state, entered_at_ms, duration_ms }
        }
        Record::TaskScheduled { state, step_id, service, idempotency_key, attempt } => {
            JournalRecord::TaskScheduled { state, step_id, service, idempotency_key, attempt }
        }
        Record::RetryScheduled { state, idempotency_key, attempt, delay_ms, fire_at_ms } => {
            JournalRecord::RetryScheduled { state, idempotency_key, attempt, delay_ms, fire_at_ms }
        }
        Record::FallbackSelected { state, service, idempotency_key } => {
            JournalRecord::FallbackSelected { state, service, idempotency_key }
        }
        Record::CompensationScheduled { state, idempotency_key, attempt } => {
            JournalRecord::CompensationScheduled { state, idempotency_key, attempt }
        }
        Record::InterventionOpened { intervention_id, kind } => {
            JournalRecord::InterventionOpened { intervention_id, kind: intervention_kind_of(kind) }
        }
        Record::StatusChanged { from, to } => JournalRecord::StatusChanged { from: status_of(from), to: status_of(to) },
    };
    JournalEntry { at_ms: entry.at_ms, actor: entry.actor, reason: entry.reason, record }
}

/// The bus message for a changed instance, whose status is `status` (the row's, read by the caller).
pub fn instance_change(row: &InstanceRow, status: InstanceStatus) -> InstanceChange {
    InstanceChange {
        id: row.id.clone(),
        workflow: row.workflow.clone(),
        version: u32::try_from(row.version).unwrap_or_default(),
        status,
        current_state: row.current_state.clone(),
        paused: row.paused != 0,
        error: row.error.clone(),
        updated_at_ms: row.updated_at,
    }
}

/// What a written transition shows on a live stream: the instance's change, and each intervention it
/// opened or closed (the same events [`super::Inner::announce`] publishes on the node that made it).
pub fn live_events_of(write: &crate::store::TransitionWrite) -> Vec<app::wire::LiveEvent> {
    use app::wire::{InterventionChange, LiveEvent};
    let Some(row) = &write.instance else { return Vec::new() };
    // The row was written from the engine's status (`instance_row`), so its word is known; a row that
    // says otherwise is not announced rather than announced wrong.
    let status = match row.status() {
        Ok(status) => status,
        Err(error) => {
            tracing::error!(%error, "not announcing an instance change");
            return Vec::new();
        }
    };
    let mut events = vec![LiveEvent::Instance(instance_change(row, status))];
    let change = |id: &str, change: &str, status: &str| {
        LiveEvent::Intervention(InterventionChange {
            id: id.to_string(),
            instance_id: Some(row.id.clone()),
            change: change.into(),
            status: status.into(),
            assignee: None,
        })
    };
    events.extend(write.interventions_opened.iter().map(|opened| change(&opened.id, "opened", "open")));
    events.extend(write.interventions_closed.iter().map(|closed| change(&closed.id, "resolved", "resolved")));
    events
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The wire's words are the engine's serde text, so the status column, the filters and the API keep
    /// the text they always had.
    #[test]
    fn the_wire_words_are_the_engine_words() {
        let statuses = [
            StatusKind::Created,
            StatusKind::Running,
            StatusKind::Waiting,
            StatusKind::Compensating,
            StatusKind::NeedsIntervention,
            StatusKind::Completed,
            StatusKind::Failed,
            StatusKind::Compensated,
            StatusKind::Cancelled,
        ];
        for kind in statuses {
            assert_eq!(status_of(kind).as_str(), kind.to_string());
        }
        let kinds = [
            engine::InterventionKind::HumanTask,
            engine::InterventionKind::RetriesExhausted,
            engine::InterventionKind::CompensationFailed,
        ];
        for kind in kinds {
            assert_eq!(intervention_kind_of(kind).as_str(), enum_text(&kind));
        }
        let definition = engine::Definition::from_value(json!({
            "name": "w", "version": 1, "start_at": "a",
            "states": {
                "a": {"type": "task", "service": "s", "action": "x", "next": "b"},
                "b": {"type": "choice", "choices": [{"condition": "true", "next": "c"}], "default": "d"},
                "c": {"type": "wait", "duration_ms": 5, "next": "d"},
                "d": {"type": "human", "assignee_group": "ops", "decisions": [{"name": "ok", "next": "p"}]},
                "p": {"type": "parallel", "branches": [{"name": "one", "start_at": "p1", "states": {
                    "p1": {"type": "succeed"}}}], "end": true},
                "f": {"type": "fail", "error": "e"}
            }
        }))
        .unwrap();
        assert_eq!(definition.states.len(), StateKind::ALL.len() - 1, "one state of each kind, succeed in a branch");
        let State::Parallel(parallel) = &definition.states["p"] else { panic!("p is parallel") };
        for state in definition.states.values().chain(parallel.branches[0].states.values()) {
            assert_eq!(state_kind_of(state).as_str(), state.kind());
        }
    }

    /// A journal entry reads the same through the wire's records as the stored JSON did.
    #[test]
    fn journal_entries_keep_their_json() {
        let stored = json!([
            {"at_ms": 1, "record": {"record": "applied", "event": {"type": "started", "input": {"a": 1}}}},
            {"at_ms": 1, "record": {"record": "status_changed", "from": "created", "to": "running"}},
            {"at_ms": 1, "record": {"record": "state_entered", "state": "a"}},
            {"at_ms": 2, "record": {"record": "task_scheduled", "state": "a", "step_id": "i:a:1", "service": "s",
                "idempotency_key": "k", "attempt": 1}},
            {"at_ms": 3, "actor": "olga", "reason": "why", "record": {"record": "intervention_opened",
                "intervention_id": "n", "kind": "retries_exhausted"}},
        ]);
        let entries: Vec<engine::JournalEntry> = serde_json::from_value(stored.clone()).unwrap();
        let wire: Vec<JournalEntry> = entries.into_iter().map(journal_entry_of).collect();
        assert_eq!(serde_json::to_value(&wire).unwrap(), stored);
    }
}
