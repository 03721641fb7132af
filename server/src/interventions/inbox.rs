//! [`Inbox`]: what people do with interventions — claim, assign, resolve — and how an item reads, with
//! typed inputs and a typed [`Error`]. `http.rs` reads requests, calls one method, and answers.
//!
//! A resolution of an engine intervention is an event sent to its run (`HumanDecided` for a human
//! task, `InterventionResolved` for a failure): the runtime closes the row and writes the audit entry in
//! the transaction of the resulting transition, and the engine refuses an answer to an intervention
//! that is no longer open. An SLA breach has no run: acknowledging it closes the row here
//! ([`Inbox::resolve`]). Every change is announced on the event bus.
//!
//! ```no_run
//! # async fn example(state: switchboard::state::AppState) -> Result<(), switchboard::interventions::inbox::Error> {
//! use switchboard::interventions::inbox::Answer;
//! let row = state.inbox.claim("iv-1", "alice").await?; // 409 (Conflict) when bob holds it
//! let answer = Answer { choice: "approve", reason: "documents check out", input: None, output: None, data: None };
//! state.inbox.resolve(&row.id, "alice", answer).await?;
//! # Ok(()) }
//! ```

use serde_json::{json, Value};

use app::wire::{
    FieldError, InterventionChange, InterventionDetail, InterventionEvent, InterventionItem, InterventionKind, LiveEvent,
    Permission, Role,
};
use engine::instance::Blocked;
use engine::{Event, Instance, Resolution, Status};

use super::priority;
use super::store::{InboxQuery, InboxRow, ViewCounts};
use crate::events::EventBus;
use crate::http::time::rfc3339;
use crate::runtime::{self, Runtime};
use crate::store::audit::AuditFilter;
use crate::store::{AuditRow, Store};

/// Why an inbox operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No item has that id.
    #[error("{0}")]
    NotFound(String),
    /// The item is resolved, held by someone else, or changed meanwhile; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The request does not fit the item: `fields` names each problem.
    #[error("{message}")]
    Invalid { message: String, fields: Vec<FieldError> },
    /// Sending the resolution to the run failed.
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a resolver chose.
#[derive(Clone, Debug)]
pub struct Answer<'a> {
    pub choice: &'a str,
    pub reason: &'a str,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub data: Option<Value>,
}

/// The inbox's operations over the store, the runtime (which resolutions go to) and the event bus.
#[derive(Clone)]
pub struct Inbox {
    runtime: Runtime,
    events: EventBus,
    /// Where users are looked up (an assignee must be one who may work interventions).
    users: Store,
}

impl Inbox {
    pub fn new(runtime: Runtime, events: EventBus, users: Store) -> Self {
        Self { runtime, events, users }
    }

    fn store(&self) -> &Store {
        self.runtime.store()
    }

    /// The runtime's clock, in epoch ms: the one items are ranked and stamped with.
    pub fn now_ms(&self) -> i64 {
        self.runtime.now_ms()
    }

    /// The item with this id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is none.
    pub async fn find(&self, id: &str) -> Result<InboxRow> {
        self.store().inbox_item(id).await?.ok_or_else(|| Error::NotFound(format!("no intervention with id `{id}`")))
    }

    /// The items a selection matches, with their run.
    pub async fn items(&self, selection: &InboxQuery) -> Result<Vec<InboxRow>> {
        Ok(self.store().inbox_items(selection).await?)
    }

    /// Open items per view, as `me` sees them at `now`.
    pub async fn counts(&self, me: &str, now: i64) -> Result<ViewCounts> {
        Ok(self.store().inbox_counts(me, now).await?)
    }

    /// Makes the item `me`'s. Of many claims at once exactly one wins; claiming one's own item again is
    /// fine. Returns the item as it is after.
    ///
    /// # Errors
    /// [`Error::Conflict`] when it is resolved or someone else holds it (naming them and since when).
    pub async fn claim(&self, id: &str, me: &str) -> Result<InboxRow> {
        let now = self.now_ms();
        let row = self.find(id).await?;
        if !claimable(&row, me, now)? {
            let audit = audit_row(me, "intervention.claim", &row, now)
                .before(&json!({ "assignee": null }))
                .after(&json!({ "assignee": me }));
            if self.store().claim_intervention(id, me, now, &audit).await? {
                self.publish(&row, "claimed", Some(me));
            } else {
                // Someone else got there first (or it was resolved meanwhile): say who.
                let row = self.find(id).await?;
                if !claimable(&row, me, now)? {
                    return Err(Error::Conflict("the item changed meanwhile; look again".into()));
                }
            }
        }
        self.find(id).await
    }

    /// Gives the item to `assignee` — a user who may work interventions — or to nobody (`None`), as
    /// `me`, with an optional reason. Returns the item as it is after.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `assignee` when they may not work interventions; [`Error::Conflict`]
    /// when the item is resolved or changed meanwhile.
    pub async fn assign(&self, id: &str, me: &str, assignee: Option<String>, reason: Option<&str>) -> Result<InboxRow> {
        let now = self.now_ms();
        let row = self.find(id).await?;
        let after = assignee.map(|name| name.trim().to_string());
        if let Some(name) = &after {
            self.check_assignee(name).await?;
        }
        if !row.is_open() {
            return Err(already_resolved(&row, now));
        }
        if row.assignee == after {
            return Ok(row);
        }
        let action = if after.is_some() { "intervention.assign" } else { "intervention.unassign" };
        let mut audit = audit_row(me, action, &row, now)
            .before(&json!({ "assignee": row.assignee }))
            .after(&json!({ "assignee": after }));
        if let Some(reason) = reason.map(str::trim).filter(|reason| !reason.is_empty()) {
            audit = audit.reason(reason);
        }
        let moved =
            self.store().reassign_intervention(id, row.assignee.as_deref(), after.as_deref(), now, &audit).await?;
        let current = self.find(id).await?;
        if !moved {
            if !current.is_open() {
                return Err(already_resolved(&current, now));
            }
            let holder = current.assignee.as_deref().unwrap_or("nobody");
            return Err(Error::Conflict(format!("the item changed meanwhile: it is now held by {holder}; look again")));
        }
        self.publish(&current, if after.is_some() { "assigned" } else { "unassigned" }, after.as_deref());
        Ok(current)
    }

    /// Refuses (naming `assignee`) unless `name` is an enabled user whose role may work interventions.
    async fn check_assignee(&self, name: &str) -> Result<()> {
        let refuse = |message: String| {
            Err(Error::Invalid {
                message: format!("assignee: {message}"),
                fields: vec![FieldError { field: "assignee".into(), message }],
            })
        };
        if name.is_empty() {
            return refuse("must not be empty; send null to unassign".into());
        }
        let Some(user) = self.users.user_by_name(name).await? else {
            return refuse(format!("there is no user named {name}"));
        };
        if user.disabled_at.is_some() {
            return refuse(format!("{name} is disabled"));
        }
        let role = Role::parse(&user.role);
        if !role.is_some_and(|role| role.allows(Permission::WorkInterventions)) {
            return refuse(format!(
                "{name} is {}, a role that may not work interventions; choose a reviewer or an admin",
                role.map_or(user.role.as_str(), |role| role.as_str())
            ));
        }
        Ok(())
    }

    /// Resolves the item with this id as `me` (see [`Inbox::resolve_row`]); returns it as it is after.
    ///
    /// # Errors
    /// As [`Inbox::resolve_row`], and [`Error::NotFound`].
    pub async fn resolve(&self, id: &str, me: &str, answer: Answer<'_>) -> Result<InboxRow> {
        let row = self.find(id).await?;
        self.resolve_row(me, &row, answer).await?;
        self.find(id).await
    }

    /// Resolves one item as `me`: checks it is open and not someone else's, that the choice is one of its
    /// choices and the fields fit the choice, then answers it — an event to its run, or for an SLA breach
    /// the row closed here. Returns once the resolution is durable.
    ///
    /// # Errors
    /// [`Error::Conflict`] when it is resolved (by whom, when) or someone else holds it;
    /// [`Error::Invalid`] naming each field that does not fit the item.
    pub async fn resolve_row(&self, me: &str, row: &InboxRow, answer: Answer<'_>) -> Result<()> {
        let now = self.now_ms();
        if !row.is_open() {
            return Err(already_resolved(row, now));
        }
        if let Some(holder) = row.assignee.as_deref().filter(|holder| *holder != me) {
            return Err(held_by(holder));
        }
        let choices = choices_of(row);
        let compensation = row.kind == InterventionKind::CompensationFailed;
        let mut problems = Vec::new();
        if !choices.iter().any(|c| c == answer.choice) {
            problems.push(problem("choice", format!("must be one of {}", choices.join(", "))));
        }
        if answer.input.is_some() {
            if compensation {
                problems.push(problem("input", "a compensation is retried with its own input; leave input out"));
            } else if answer.choice != "retry" {
                problems.push(problem("input", "only with the choice retry"));
            }
        }
        if answer.output.is_some() {
            if compensation {
                problems.push(problem("output", "a skipped compensation counts as done by hand; it has no output"));
            } else if answer.choice != "skip" {
                problems.push(problem("output", "only with the choice skip"));
            }
        }
        if answer.data.is_some() && row.kind != InterventionKind::HumanTask {
            problems.push(problem("data", "only for human tasks"));
        }
        match problems.as_slice() {
            [] => {}
            [one] => {
                return Err(Error::Invalid { message: format!("{}: {}", one.field, one.message), fields: problems })
            }
            _ => return Err(Error::Invalid { message: "the resolution has invalid fields".into(), fields: problems }),
        }

        let (actor, reason) = (me.to_string(), answer.reason.to_string());
        let intervention_id = row.id.clone();
        let event = match (row.kind, answer.choice) {
            (InterventionKind::SlaBreach, _) => return self.acknowledge(me, row, answer.reason, now).await,
            (InterventionKind::HumanTask, decision) => Event::HumanDecided {
                intervention_id,
                decision: decision.to_string(),
                data: answer.data.unwrap_or(Value::Null),
                actor,
                reason,
            },
            (InterventionKind::RetriesExhausted | InterventionKind::CompensationFailed, choice) => {
                let resolution = match choice {
                    "retry" => Resolution::Retry { edited_input: answer.input },
                    "skip" => Resolution::Skip { output: answer.output.unwrap_or(Value::Null) },
                    "compensate" => Resolution::Compensate,
                    "abort" => Resolution::Abort,
                    other => return Err(Error::Conflict(format!("the engine has no resolution `{other}`"))),
                };
                Event::InterventionResolved { intervention_id, resolution, actor, reason }
            }
        };
        match self.runtime.send(&row.instance_id, event).await {
            Ok(_) => Ok(()),
            // The engine refuses an answer to an intervention that is no longer open: another answer got
            // there first, or the run moved on. Say which.
            Err(runtime::Error::Rejected(message)) => match self.find(&row.id).await {
                Ok(current) if !current.is_open() => Err(already_resolved(&current, now)),
                _ => Err(Error::Conflict(message)),
            },
            Err(error) => Err(error.into()),
        }
    }

    /// Closes an SLA breach item with its audit entry, in one transaction, and announces it.
    async fn acknowledge(&self, me: &str, row: &InboxRow, reason: &str, now: i64) -> Result<()> {
        let resolution = json!({ "choice": "acknowledge", "reason": reason });
        let audit = audit_row(me, "intervention.resolve", row, now)
            .reason(reason)
            .before(&json!({ "status": "open", "assignee": row.assignee }))
            .after(&json!({ "status": "closed", "resolved_by": me, "applied": { "choice": "acknowledge" } }));
        if self.store().close_intervention(&row.id, me, now, &resolution.to_string(), &audit).await? {
            self.publish(row, "resolved", row.assignee.as_deref());
            return Ok(());
        }
        let current = self.find(&row.id).await?;
        match current.assignee.as_deref() {
            _ if !current.is_open() => Err(already_resolved(&current, now)),
            Some(holder) if holder != me => Err(held_by(holder)),
            _ => Err(Error::Conflict("the item changed meanwhile; look again".into())),
        }
    }

    /// The item, its run's context (an SLA breach: the breach's figures), the failed step's input and
    /// error, and its history.
    pub async fn detail(&self, row: InboxRow) -> Result<InterventionDetail> {
        let store = self.store();
        let item = item_of(&row, self.now_ms())?;
        let (context, step_input, mut error) = if row.kind == InterventionKind::SlaBreach {
            let breach = store.breach_of_intervention(&row.id).await?;
            let figures = breach.map(|b| {
                json!({
                    "breach_id": b.id, "target_id": b.target_id, "workflow": b.workflow, "metric": b.metric,
                    "threshold": b.threshold, "actual": b.actual, "window_ms": b.window_ms,
                    "breached_at": rfc3339(b.breached_at), "recovered_at": b.recovered_at.map(rfc3339),
                })
            });
            (figures.unwrap_or(Value::Null), None, None)
        } else {
            match instance_of(&row) {
                Some(instance) => {
                    let (input, error) = failure_of(&instance, &row.id);
                    let input = input.cloned();
                    (instance.context, input, error)
                }
                None => (Value::Null, None, None),
            }
        };
        // The step attempts a failure item is about: the task's, or its compensation's.
        let failed_calls = match row.kind {
            InterventionKind::RetriesExhausted => Some("task"),
            InterventionKind::CompensationFailed => Some("compensation"),
            InterventionKind::HumanTask | InterventionKind::SlaBreach => None,
        };
        if let (None, Some(kind)) = (&error, failed_calls) {
            // Resolved already, so the run no longer holds the failure: its last failed call still says why.
            let steps = store.steps(&row.instance_id).await?;
            error = steps
                .into_iter()
                .filter(|s| s.state == row.state && s.kind == kind && s.finished_at <= row.opened_at)
                .filter_map(|s| s.error)
                .next_back();
        }
        let history = self.history_of(&row).await?;
        Ok(InterventionDetail { item, context, step_input, error, history })
    }

    /// The item's history, oldest first: opened (from the row), then its audit entries; a row the run
    /// closed by moving on (a cancel, an operator's retry of the instance) gets its `resolved` from the row.
    async fn history_of(&self, row: &InboxRow) -> Result<Vec<InterventionEvent>> {
        let filter = AuditFilter {
            target_kind: Some("intervention".into()),
            target_id: Some(row.id.clone()),
            limit: 1_000,
            ..AuditFilter::default()
        };
        let entries = self.store().audit(&filter).await?;
        let mut events = vec![(
            row.opened_at,
            InterventionEvent {
                at: rfc3339(row.opened_at),
                action: "opened".into(),
                actor: None,
                reason: Some(row.reason.clone()),
                detail: Some(json!({ "kind": row.kind, "state": row.state })),
            },
        )];
        let parse = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok());
        for entry in entries.iter().rev() {
            let action = match entry.action.as_str() {
                "intervention.claim" => "claimed",
                "intervention.assign" => "assigned",
                "intervention.unassign" => "unassigned",
                "intervention.resolve" => "resolved",
                other => other.trim_start_matches("intervention."),
            };
            events.push((
                entry.at,
                InterventionEvent {
                    at: rfc3339(entry.at),
                    action: action.into(),
                    actor: Some(entry.actor.clone()),
                    reason: entry.reason.clone(),
                    detail: Some(json!({ "before": parse(&entry.before), "after": parse(&entry.after) })),
                },
            ));
        }
        if let (false, Some(closed_at)) = (row.is_open(), row.closed_at) {
            if !events.iter().any(|(_, event)| event.action == "resolved") {
                let resolution = parse(&row.resolution);
                events.push((
                    closed_at,
                    InterventionEvent {
                        at: rfc3339(closed_at),
                        action: "resolved".into(),
                        actor: row.resolved_by.clone(),
                        reason: resolution
                            .as_ref()
                            .and_then(|r| r.get("reason"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        detail: resolution,
                    },
                ));
            }
        }
        events.sort_by_key(|(at, _)| *at);
        Ok(events.into_iter().map(|(_, event)| event).collect())
    }

    fn publish(&self, row: &InboxRow, change: &str, assignee: Option<&str>) {
        self.events.announce(LiveEvent::Intervention(InterventionChange {
            id: row.id.clone(),
            instance_id: (!row.instance_id.is_empty()).then(|| row.instance_id.clone()),
            change: change.into(),
            status: if change == "resolved" { "resolved" } else { "open" }.into(),
            assignee: assignee.map(str::to_string),
        }));
    }
}

/// The item as the list shows it, ranked at `now` (a resolved item as it stood when it was resolved).
pub fn item_of(row: &InboxRow, now: i64) -> Result<InterventionItem> {
    let instance = instance_of(row);
    let amount_minor = instance.as_ref().and_then(|instance| {
        let (step_input, _) = failure_of(instance, &row.id);
        priority::amount_at_stake(&instance.context, step_input)
    });
    let at = if row.is_open() { now } else { row.closed_at.unwrap_or(now) };
    let due = priority::due_at(row.kind, row.opened_at, row.due_at);
    let inputs = priority::Inputs {
        kind: row.kind,
        declared: &row.priority,
        opened_at: row.opened_at,
        due_at: row.due_at,
        amount_minor,
    };
    let instance_status =
        row.instance_status.as_deref().map(|text| crate::store::rows::status_of(&row.instance_id, text)).transpose()?;
    Ok(InterventionItem {
        id: row.id.clone(),
        kind: row.kind,
        reason: row.reason.clone(),
        workflow: row.workflow.clone(),
        instance_id: (!row.instance_id.is_empty()).then(|| row.instance_id.clone()),
        state: match (&row.breach_target, row.kind) {
            (Some(target), InterventionKind::SlaBreach) => target.clone(),
            _ => row.state.clone(),
        },
        choices: choices_of(row),
        priority: priority::score(&inputs, at),
        opened_at: rfc3339(row.opened_at),
        due_at: Some(rfc3339(due)),
        overdue: due < at,
        assignee: row.assignee.clone(),
        assigned_at: row.assigned_at.map(rfc3339),
        status: if row.is_open() { "open" } else { "resolved" }.into(),
        resolved_by: row.resolved_by.clone(),
        resolved_at: row.closed_at.map(rfc3339),
        resolution: row.resolution.as_deref().and_then(|text| serde_json::from_str(text).ok()),
        amount_minor,
        instance_status,
    })
}

/// Whether `me` may claim the item: `Ok(true)` when it is theirs already, `Ok(false)` when it is free,
/// a conflict when it is resolved or held by someone else.
fn claimable(row: &InboxRow, me: &str, now: i64) -> Result<bool> {
    if !row.is_open() {
        return Err(already_resolved(row, now));
    }
    match row.assignee.as_deref() {
        Some(holder) if holder == me => Ok(true),
        Some(holder) => Err(Error::Conflict(format!(
            "already claimed by {holder} at {}",
            clock(row.assigned_at.unwrap_or(now), now)
        ))),
        None => Ok(false),
    }
}

/// The engine's instance of the item's run, when it has one that reads.
fn instance_of(row: &InboxRow) -> Option<Instance> {
    let state = row.instance_state.as_deref()?;
    match serde_json::from_str(state) {
        Ok(instance) => Some(instance),
        Err(error) => {
            tracing::warn!(instance = %row.instance_id, %error, "an instance's state does not read");
            None
        }
    }
}

/// While the run is blocked on this intervention: the failed call's input and its error.
fn failure_of<'a>(instance: &'a Instance, intervention_id: &str) -> (Option<&'a Value>, Option<String>) {
    match &instance.status {
        Status::NeedsIntervention(Blocked::StepFailed { intervention_id: id, step, error })
            if id == intervention_id =>
        {
            (Some(&step.input), Some(error.message.clone()))
        }
        Status::NeedsIntervention(Blocked::CompensationFailed { intervention_id: id, index, error, .. })
            if id == intervention_id =>
        {
            let input = instance.completed.get(*index).and_then(|step| step.compensation.as_ref()).map(|c| &c.input);
            (input, Some(error.message.clone()))
        }
        _ => (None, None),
    }
}

fn choices_of(row: &InboxRow) -> Vec<String> {
    serde_json::from_str(&row.decisions).unwrap_or_default()
}

fn problem(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

fn audit_row(me: &str, action: &str, row: &InboxRow, now: i64) -> AuditRow {
    let audit = AuditRow::ok(me, action, "intervention", &row.id, now);
    if row.instance_id.is_empty() {
        audit
    } else {
        audit.instance(row.instance_id.clone())
    }
}

fn already_resolved(row: &InboxRow, now: i64) -> Error {
    let at = clock(row.closed_at.unwrap_or(now), now);
    match row.resolved_by.as_deref() {
        Some(by) => Error::Conflict(format!("already resolved by {by} at {at}")),
        None => Error::Conflict(format!("already closed at {at}: the run moved on without it")),
    }
}

fn held_by(holder: &str) -> Error {
    Error::Conflict(format!("claimed by {holder}; ask them or have it reassigned"))
}

/// A time for a message: `10:02:11 UTC` today, `2026-11-25 10:02:11 UTC` another day.
fn clock(at: i64, now: i64) -> String {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let (at, now) = (time(at), time(now));
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M:%S UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}
