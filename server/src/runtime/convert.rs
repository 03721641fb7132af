//! Conversions between the engine's instance, the store's row and the wire's view. They live here, at
//! the runtime's edge, so none of the three knows the others (architecture invariant 5).

use serde::Serialize;

use app::wire::InstanceChange;
use engine::instance::{Blocked, Cause, WaitingOn};
use engine::{Instance, Status};

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
        status: instance.status_kind().to_string(),
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
                .filter(|p| p.status == instance.status_kind().to_string())
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

/// The bus message for a changed instance.
pub fn instance_change(row: &InstanceRow) -> InstanceChange {
    InstanceChange {
        id: row.id.clone(),
        workflow: row.workflow.clone(),
        version: u32::try_from(row.version).unwrap_or_default(),
        status: row.status.clone(),
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
    let mut events = vec![LiveEvent::Instance(instance_change(row))];
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
