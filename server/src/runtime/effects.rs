//! From a transition to what the database and the world see.
//!
//! Before commit: [`start_write`] and [`transition_write`] turn an engine transition into a
//! [`TransitionWrite`] — the instance row, the journal row, the finished step attempt, the timers it
//! starts and ends, the interventions it opens and closes — all written in one transaction.
//!
//! After commit: [`after_commit`] carries out the effects that touch the world: service calls (each in
//! its own task, bounded by the step's deadline, through the service's circuit breaker), timers armed in
//! memory, waiters and the event bus told. [`run_timers`] fires timers when they come due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Definition, Effect, Event, Transition};

use super::actor::{self, Delivery};
use super::convert;
use super::timers::{HORIZON_MS, SCAN_INTERVAL};
use super::{Error, Inner, Result};
use crate::monitoring::facts;
use crate::services::ServiceRequest;
use crate::store::write::ClosedIntervention;
use crate::store::{AuditRow, InstanceRow, InterventionRow, JournalRow, StepRow, TimerRow, TransitionWrite};

/// Whether a call was a task attempt or a compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Task,
    Compensation,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Task => "task",
            StepKind::Compensation => "compensation",
        }
    }
}

/// How one service call went, recorded with the answer it produced.
#[derive(Clone, Debug, PartialEq)]
pub struct StepTiming {
    pub kind: StepKind,
    pub step_id: String,
    pub state: String,
    pub service: String,
    pub action: String,
    pub idempotency_key: String,
    pub attempt: u32,
    /// When the transition that asked for the call was durable.
    pub scheduled_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// `succeeded` or the error kind.
    pub outcome: String,
    pub error: Option<String>,
}

/// The write for the transition that creates an instance.
pub(crate) fn start_write(
    definition: &Definition,
    transition: &Transition,
    start_key: Option<String>,
    keys: std::collections::BTreeMap<String, String>,
    now: i64,
    node_id: &str,
) -> Result<(TransitionWrite, InstanceRow)> {
    // A new instance is owned by the node that starts it, for as long as that node's heartbeat lasts.
    let row = InstanceRow {
        start_key,
        lease_owner: Some(node_id.to_string()),
        lease_expires_at: None,
        lease_epoch: 1,
        ..convert::instance_row(&transition.instance, None, 1, now)?
    };
    let mut write = base_write(definition, &row, transition, now)?;
    write.keys = keys.into_iter().collect();
    Ok((write, row))
}

/// Names who started the instance on its `started` history entry and audits the start in the same
/// transaction (what was started, which version, the business keys).
pub(crate) fn record_starter(write: &mut TransitionWrite, row: &InstanceRow, actor: &str, reason: Option<&str>, now: i64) {
    if let Some(journal) = &mut write.journal {
        journal.actor = Some(actor.to_string());
        journal.reason = reason.map(str::to_string);
    }
    let keys: serde_json::Map<String, serde_json::Value> =
        write.keys.iter().map(|(name, value)| (name.clone(), value.clone().into())).collect();
    let mut entry = AuditRow::ok(actor, "instance.start", "instance", &row.id, now).instance(row.id.clone()).after(
        &serde_json::json!({ "workflow": row.workflow, "version": row.version, "business_keys": keys }),
    );
    if let Some(reason) = reason {
        entry = entry.reason(reason);
    }
    write.audit.push(entry);
}

/// The write for a transition of an existing instance (`previous` is its row as last persisted).
pub(crate) fn transition_write(
    definition: &Definition,
    previous: &InstanceRow,
    transition: &Transition,
    delivery: &Delivery,
    now: i64,
) -> Result<(TransitionWrite, InstanceRow)> {
    let row = convert::instance_row(&transition.instance, Some(previous), previous.journal_seq + 1, now)?;
    let mut write = base_write(definition, &row, transition, now)?;
    write.audit.extend(operator_audit(previous, &row, &delivery.event, now));
    if let Some(timing) = &delivery.timing {
        let step = step_row(&row, timing);
        write.facts.push(facts::fact_of_step(&step));
        write.steps.push(step);
    }
    if let Event::TimerFired { timer_id } = &delivery.event {
        write.timers_ended.push(timer_id.clone());
    }
    Ok((write, row))
}

/// What every transition writes: the instance, its journal row, and the durable parts of its effects.
fn base_write(
    definition: &Definition,
    row: &InstanceRow,
    transition: &Transition,
    now: i64,
) -> Result<TransitionWrite> {
    let first = transition.journal.first();
    let event = match first.map(|entry| &entry.record) {
        Some(engine::Record::Applied { event }) => event.name().to_string(),
        _ => "transition".to_string(),
    };
    let entries = serde_json::to_string(&transition.journal).map_err(|error| Error::Corrupt(error.to_string()))?;
    let mut write = TransitionWrite {
        instance: Some(row.clone()),
        journal: Some(JournalRow {
            instance_id: row.id.clone(),
            seq: row.journal_seq,
            at: now,
            event,
            actor: first.and_then(|entry| entry.actor.clone()),
            reason: first.and_then(|entry| entry.reason.clone()),
            entries,
        }),
        ..TransitionWrite::default()
    };
    for effect in &transition.effects {
        match effect {
            Effect::StartTimer { timer_id, fire_at_ms, purpose } => write.timers_started.push(TimerRow {
                id: timer_id.clone(),
                instance_id: row.id.clone(),
                fire_at: *fire_at_ms,
                purpose: convert::enum_text(purpose),
            }),
            Effect::CancelTimers { timer_ids } => write.timers_ended.extend(timer_ids.iter().cloned()),
            Effect::OpenIntervention {
                intervention_id,
                kind,
                state,
                decisions,
                assignee_group,
                priority,
                due_at_ms,
                reason,
            } => write.interventions_opened.push(InterventionRow {
                id: intervention_id.clone(),
                instance_id: row.id.clone(),
                workflow: definition.name.clone(),
                kind: convert::intervention_kind_of(*kind).as_str().to_string(),
                state: state.clone(),
                decisions: serde_json::to_string(decisions).unwrap_or_else(|_| "[]".into()),
                assignee_group: assignee_group.clone(),
                priority: convert::enum_text(priority),
                due_at: *due_at_ms,
                reason: reason.clone(),
                status: "open".into(),
                opened_at: now,
                closed_at: None,
            }),
            Effect::CloseIntervention { intervention_id } => {
                let (resolved_by, resolution) = match applied_event(transition) {
                    Some(event) => resolution_of(event, intervention_id),
                    None => (None, None),
                };
                write.interventions_closed.push(ClosedIntervention {
                    id: intervention_id.clone(),
                    at: now,
                    resolved_by,
                    resolution: resolution.map(|value| value.to_string()),
                });
            }
            Effect::RunTask { .. } | Effect::RunCompensation { .. } | Effect::Finish { .. } => {}
        }
    }
    write.facts = facts::facts_of_journal(&row.workflow, row.created_at, &transition.journal);
    write.facts.extend(write.interventions_opened.iter().map(facts::fact_of_intervention));
    Ok(write)
}

/// The event a transition applied (its journal's first entry).
fn applied_event(transition: &Transition) -> Option<&Event> {
    match transition.journal.first().map(|entry| &entry.record) {
        Some(engine::Record::Applied { event }) => Some(event),
        _ => None,
    }
}

/// Who closed an intervention and how, when the applied event is a person's answer to it.
fn resolution_of(event: &Event, intervention_id: &str) -> (Option<String>, Option<serde_json::Value>) {
    match event {
        Event::HumanDecided { intervention_id: id, decision, data, actor, reason } if id == intervention_id => {
            (Some(actor.clone()), Some(serde_json::json!({ "choice": decision, "data": data, "reason": reason })))
        }
        Event::InterventionResolved { intervention_id: id, resolution, actor, reason } if id == intervention_id => {
            let mut value = serde_json::to_value(resolution).unwrap_or_default();
            if let Some(fields) = value.as_object_mut() {
                if let Some(action) = fields.remove("action") {
                    fields.insert("choice".into(), action);
                }
                fields.insert("reason".into(), reason.clone().into());
            }
            (Some(actor.clone()), Some(value))
        }
        _ => (None, None),
    }
}

/// The audit entry of an operator's event (pause, resume, retry, skip, cancel, a decision or a
/// resolution), written in the transition's transaction; `None` for everything else.
fn operator_audit(previous: &InstanceRow, row: &InstanceRow, event: &Event, now: i64) -> Option<AuditRow> {
    let (action, actor, reason, detail, intervention) = match event {
        Event::CancelRequested { actor, reason } => ("instance.cancel", actor, reason, None, None),
        Event::PauseRequested { actor, reason } => ("instance.pause", actor, reason, None, None),
        Event::ResumeRequested { actor, reason } => ("instance.resume", actor, reason, None, None),
        Event::RetryRequested { actor, reason, edited_input } => {
            let detail = edited_input.as_ref().map(|input| serde_json::json!({ "edited_input": input }));
            ("instance.retry", actor, reason, detail, None)
        }
        Event::SkipRequested { actor, reason, output } => {
            ("instance.skip", actor, reason, Some(serde_json::json!({ "output": output })), None)
        }
        Event::HumanDecided { intervention_id, decision, data, actor, reason } => (
            "intervention.resolve",
            actor,
            reason,
            Some(serde_json::json!({ "choice": decision, "data": data })),
            Some(intervention_id),
        ),
        Event::InterventionResolved { intervention_id, resolution, actor, reason } => {
            ("intervention.resolve", actor, reason, serde_json::to_value(resolution).ok(), Some(intervention_id))
        }
        _ => return None,
    };
    let facts = |row: &InstanceRow| serde_json::json!({ "status": row.status, "state": row.current_state, "paused": row.paused != 0 });
    let mut after = facts(row);
    if let (Some(detail), Some(fields)) = (detail, after.as_object_mut()) {
        fields.insert("applied".into(), detail);
    }
    let (kind, target) = match intervention {
        Some(id) => ("intervention", id.as_str()),
        None => ("instance", row.id.as_str()),
    };
    Some(
        AuditRow::ok(actor, action, kind, target, now)
            .instance(row.id.clone())
            .reason(reason.clone())
            .before(&facts(previous))
            .after(&after),
    )
}

fn step_row(row: &InstanceRow, timing: &StepTiming) -> StepRow {
    StepRow {
        instance_id: row.id.clone(),
        step_id: timing.step_id.clone(),
        attempt: i64::from(timing.attempt),
        kind: timing.kind.as_str().into(),
        workflow: row.workflow.clone(),
        state: timing.state.clone(),
        service: timing.service.clone(),
        action: timing.action.clone(),
        idempotency_key: timing.idempotency_key.clone(),
        scheduled_at: timing.scheduled_at,
        started_at: timing.started_at,
        finished_at: timing.finished_at,
        duration_ms: timing.finished_at - timing.started_at,
        outcome: timing.outcome.clone(),
        error: timing.error.clone(),
    }
}

/// Carries out a durable transition's effects.
pub(crate) fn after_commit(inner: &Arc<Inner>, row: &InstanceRow, transition: &Transition, now: i64) {
    execute(inner, &row.id, &transition.effects, now);
    inner.announce(row, &transition.instance, &transition.effects);
}

/// Runs the effects that reach outside the database. Also used by recovery for re-issued calls.
pub(crate) fn execute(inner: &Arc<Inner>, instance_id: &str, effects: &[Effect], now: i64) {
    // A timer started and cancelled by the same transition (the engine lists cancellations first) is
    // never armed.
    let cancelled: Vec<&String> = effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::CancelTimers { timer_ids } => Some(timer_ids),
            _ => None,
        })
        .flatten()
        .collect();
    for effect in effects {
        match effect {
            Effect::RunTask { step_id, state, service, action, input, idempotency_key, attempt, deadline_ms }
            | Effect::RunCompensation {
                step_id,
                state,
                service,
                action,
                input,
                idempotency_key,
                attempt,
                deadline_ms,
            } => {
                let kind =
                    if matches!(effect, Effect::RunTask { .. }) { StepKind::Task } else { StepKind::Compensation };
                let call = Call {
                    kind,
                    instance_id: instance_id.to_string(),
                    step_id: step_id.clone(),
                    state: state.clone(),
                    service: service.clone(),
                    action: action.clone(),
                    input: input.clone(),
                    idempotency_key: idempotency_key.clone(),
                    attempt: *attempt,
                    deadline_ms: *deadline_ms,
                    scheduled_at: now,
                };
                tokio::spawn(call.run(inner.clone()));
            }
            Effect::StartTimer { timer_id, fire_at_ms, .. } if !cancelled.contains(&timer_id) => {
                inner.timers.schedule(timer_id, instance_id, *fire_at_ms, now);
            }
            Effect::StartTimer { .. } => {}
            Effect::CancelTimers { timer_ids } => inner.timers.cancel(timer_ids),
            // Durable already (rows written with the transition); the bus hears of them via `announce`.
            Effect::OpenIntervention { .. } | Effect::CloseIntervention { .. } | Effect::Finish { .. } => {}
        }
    }
}

/// One service call the engine asked for.
struct Call {
    kind: StepKind,
    instance_id: String,
    step_id: String,
    state: String,
    service: String,
    action: String,
    input: serde_json::Value,
    idempotency_key: String,
    attempt: u32,
    deadline_ms: i64,
    scheduled_at: i64,
}

impl Call {
    async fn run(self, inner: Arc<Inner>) {
        let started_at = inner.clock.now_ms();
        let timeout = Duration::from_millis(u64::try_from(self.deadline_ms - started_at).unwrap_or(0).max(1));
        let request = ServiceRequest {
            action: self.action.clone(),
            input: self.input,
            idempotency_key: self.idempotency_key.clone(),
            timeout,
            origin: crate::services::CallOrigin {
                instance_id: self.instance_id.clone(),
                state: self.state.clone(),
                attempt: self.attempt,
                compensation: matches!(self.kind, StepKind::Compensation),
            },
        };
        let call = inner.services.call(&self.service, request, started_at);
        let outcome = match tokio::time::timeout(timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(engine::ServiceError::new(
                engine::ErrorKind::Timeout,
                format!("{}.{} did not answer within {} ms", self.service, self.action, timeout.as_millis()),
            )),
        };
        let finished_at = inner.clock.now_ms();
        let (outcome_text, error_text) = match &outcome {
            Ok(_) => ("succeeded".to_string(), None),
            Err(error) => (error.kind.to_string(), Some(error.message.clone())),
        };
        let key = self.idempotency_key.clone();
        let event = match (self.kind, outcome) {
            (StepKind::Task, Ok(output)) => {
                Event::StepSucceeded { idempotency_key: key, attempt: self.attempt, output }
            }
            (StepKind::Task, Err(error)) => Event::StepFailed { idempotency_key: key, attempt: self.attempt, error },
            (StepKind::Compensation, Ok(_)) => {
                Event::CompensationSucceeded { idempotency_key: key, attempt: self.attempt }
            }
            (StepKind::Compensation, Err(error)) => {
                Event::CompensationFailed { idempotency_key: key, attempt: self.attempt, error }
            }
        };
        let timing = StepTiming {
            kind: self.kind,
            step_id: self.step_id,
            state: self.state,
            service: self.service,
            action: self.action,
            idempotency_key: self.idempotency_key,
            attempt: self.attempt,
            scheduled_at: self.scheduled_at,
            started_at,
            finished_at,
            outcome: outcome_text,
            error: error_text,
        };
        actor::deliver(&inner, &self.instance_id, Delivery { event, timing: Some(timing), reply: None });
    }
}

/// Fires timers as they come due, and scans the table for this node's timers coming within the horizon.
pub(crate) async fn run_timers(inner: Arc<Inner>) {
    let mut next_scan = Instant::now();
    loop {
        let now = inner.clock.now_ms();
        if Instant::now() >= next_scan {
            match inner.store.timers_due_for(inner.node.id(), now + HORIZON_MS, 50_000).await {
                Ok(rows) => {
                    for timer in rows {
                        inner.timers.schedule(&timer.id, &timer.instance_id, timer.fire_at, now);
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot scan timers"),
            }
            next_scan = Instant::now() + SCAN_INTERVAL;
        }
        for (_, timer_id, instance_id) in inner.timers.take_due(now) {
            actor::deliver(
                &inner,
                &instance_id,
                Delivery { event: Event::TimerFired { timer_id }, timing: None, reply: None },
            );
        }
        let until_scan = next_scan.saturating_duration_since(Instant::now());
        let until_timer = inner
            .timers
            .next_fire_at()
            .map(|at| Duration::from_millis(u64::try_from(at - inner.clock.now_ms()).unwrap_or(0)))
            .unwrap_or(until_scan);
        tokio::select! {
            _ = tokio::time::sleep(until_timer.min(until_scan)) => {}
            _ = inner.timers.changed() => {}
            _ = inner.bus.stopping() => return,
        }
    }
}
