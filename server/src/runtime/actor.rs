//! One driver task per moving instance: its events are applied strictly one after another.
//!
//! [`deliver`] routes an event to the instance's task, starting one (which loads the instance from the
//! store) if there is none. The task applies the event through the engine, waits until the transition
//! is durable, then carries out its effects, and takes the next event. While the instance is running or
//! compensating the task stays (results are on their way); once it waits, settles or finishes, the task
//! retires as soon as its queue is empty, so an instance asleep on a timer for days costs no memory.
//!
//! Retiring and delivering both happen under the [`Actors`] lock, so no event is ever left in the queue
//! of a task that has gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use engine::{Definition, EngineError, Event, Instance, StatusKind};

use super::clock::RuntimeEnv;
use super::effects::{self, StepTiming};
use super::writer::CommitError;
use super::{convert, lock, Error, Inner, Result};
use crate::store::write::Lease;
use crate::store::InstanceRow;

/// An event for an instance, with what the runtime knows about how it came about.
pub struct Delivery {
    pub event: Event,
    /// For a service's answer: the step attempt it ends, with its timings (becomes a `steps` row).
    pub timing: Option<StepTiming>,
    /// Who waits for the outcome (an operator's request); `None` for service answers and timers.
    pub reply: Option<oneshot::Sender<Result<InstanceRow>>>,
}

impl Delivery {
    fn answer(self, outcome: Result<InstanceRow>) {
        if let Some(reply) = self.reply {
            let _ = reply.send(outcome);
        }
    }
}

/// The queues of the instances that have a driver task.
#[derive(Default)]
pub struct Actors {
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Delivery>>>,
}

impl Actors {
    pub fn len(&self) -> usize {
        lock(&self.queues).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the instance has a driver here.
    pub fn has(&self, id: &str) -> bool {
        lock(&self.queues).contains_key(id)
    }
}

/// What a driver task holds: the instance as last persisted.
pub(crate) struct Loaded {
    pub definition: Arc<Definition>,
    pub instance: Instance,
    pub row: InstanceRow,
}

/// Sends an event to an instance's driver, starting one if needed.
pub(crate) fn deliver(inner: &Arc<Inner>, instance_id: &str, delivery: Delivery) {
    let mut queues = lock(&inner.actors.queues);
    let delivery = match queues.get(instance_id) {
        Some(queue) => match queue.send(delivery) {
            Ok(()) => return,
            Err(mpsc::error::SendError(delivery)) => delivery,
        },
        None => delivery,
    };
    let (queue, receiver) = mpsc::unbounded_channel();
    let _ = queue.send(delivery);
    queues.insert(instance_id.to_string(), queue);
    drop(queues);
    tokio::spawn(run(inner.clone(), instance_id.to_string(), None, receiver));
}

/// Starts the driver of an instance that was just created, with its state in hand.
pub(crate) fn spawn_loaded(inner: &Arc<Inner>, definition: Arc<Definition>, instance: Instance, row: InstanceRow) {
    let (queue, receiver) = mpsc::unbounded_channel();
    let id = row.id.clone();
    lock(&inner.actors.queues).insert(id.clone(), queue);
    tokio::spawn(run(inner.clone(), id, Some(Loaded { definition, instance, row }), receiver));
}

/// Starts the driver of an instance taken over, unless it has one; `false` if it had.
pub(crate) fn spawn_loaded_if_absent(inner: &Arc<Inner>, loaded: Loaded) -> bool {
    let mut queues = lock(&inner.actors.queues);
    if queues.contains_key(&loaded.row.id) {
        return false;
    }
    let (queue, receiver) = mpsc::unbounded_channel();
    let id = loaded.row.id.clone();
    queues.insert(id.clone(), queue);
    drop(queues);
    tokio::spawn(run(inner.clone(), id, Some(loaded), receiver));
    true
}

async fn run(inner: Arc<Inner>, id: String, mut loaded: Option<Loaded>, mut queue: mpsc::UnboundedReceiver<Delivery>) {
    // Writes that failed in a row: each waits longer before the instance is reloaded and its calls
    // re-issued, so a database that is away (or a full disk) is not met with a storm of repeated calls.
    let mut failed_in_a_row = 0u32;
    loop {
        let moving = loaded.as_ref().is_some_and(|l| keeps_moving(&l.instance));
        let delivery = if moving {
            match queue.recv().await {
                Some(delivery) => delivery,
                None => return,
            }
        } else {
            match queue.try_recv() {
                Ok(delivery) => delivery,
                Err(_) => {
                    if retire(&inner, &id, &queue) {
                        return;
                    }
                    continue;
                }
            }
        };

        if loaded.is_none() {
            match load(&inner, &id).await {
                Ok(state) => loaded = Some(state),
                Err(error) => {
                    delivery.answer(Err(error));
                    continue;
                }
            }
        }
        let Some(state) = loaded.as_mut() else { continue };
        match step(&inner, state, delivery).await {
            Ok(()) => failed_in_a_row = 0,
            Err(error) => {
                if inner.bus.is_stopping() {
                    return; // shutting down: the pool may be closed; the next start recovers the instance
                }
                // What is in memory may be ahead of the database (the write failed) or behind it (the
                // instance moved): start again from the database.
                if let CommitError::Failed(_) = error {
                    tracing::error!(instance = %id, %error, "an instance transition was not persisted; reloading it");
                    let pause = RELOAD_BACKOFF.saturating_mul(1 << failed_in_a_row.min(6)).min(MAX_RELOAD_BACKOFF);
                    failed_in_a_row += 1;
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = inner.bus.stopping() => return,
                    }
                }
                loaded = reload(&inner, &id).await;
            }
        }
    }
}

/// The first pause before reloading an instance whose write failed; it doubles with each failure in a
/// row, up to [`MAX_RELOAD_BACKOFF`].
const RELOAD_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);
const MAX_RELOAD_BACKOFF: std::time::Duration = std::time::Duration::from_secs(8);

/// Reads the instance again after a write that did not land, and re-issues what it has outstanding —
/// the event that was lost may have been a service's answer that nobody sends again; the call, re-issued
/// with its key, brings the same answer. `None` when the instance is no longer this node's (or gone).
/// While the database cannot be read, tries again with back-off.
async fn reload(inner: &Arc<Inner>, id: &str) -> Option<Loaded> {
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        match load(inner, id).await {
            Ok(state) => {
                let now = inner.clock.now_ms();
                let outstanding = engine::outstanding_effects(&state.definition, &state.instance, now);
                effects::execute(inner, id, &outstanding, now);
                return Some(state);
            }
            Err(Error::Commit(CommitError::Fenced) | Error::InstanceNotFound(_)) => return None,
            Err(error) => {
                tracing::warn!(instance = %id, %error, "cannot reload an instance; trying again");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = inner.bus.stopping() => return None,
                }
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
}

/// Applies one delivery. `Err` only when the transition could not be persisted.
async fn step(inner: &Arc<Inner>, state: &mut Loaded, delivery: Delivery) -> Result<(), CommitError> {
    let now = inner.clock.now_ms();
    let event = delivery.event.clone();
    let transition = match engine::apply(&state.definition, &state.instance, event, &mut RuntimeEnv::at(now)) {
        Ok(transition) => transition,
        Err(EngineError::StaleEvent { .. }) | Err(EngineError::IllegalEvent { .. }) if is_answer(&delivery.event) => {
            // A duplicate or late answer (a timer fired twice around a restart, a result for an
            // instance that has moved on or finished): nothing to do, except not to leave a fired
            // timer's row behind.
            if let Event::TimerFired { timer_id } = &delivery.event {
                if let Err(error) = inner.store.delete_timer(timer_id).await {
                    tracing::warn!(%error, "cannot delete a stale timer");
                }
            }
            let current = state.row.clone();
            delivery.answer(Err(Error::Rejected(format!(
                "nothing is waiting for this event (instance is {})",
                current.status
            ))));
            return Ok(());
        }
        Err(error) => {
            delivery.answer(Err(error.into()));
            return Ok(());
        }
    };
    let (mut write, row) = match effects::transition_write(&state.definition, &state.row, &transition, &delivery, now) {
        Ok(prepared) => prepared,
        Err(error) => {
            delivery.answer(Err(error));
            return Ok(());
        }
    };
    write.lease = Some(Lease { owner: inner.node.id().to_string(), epoch: state.row.lease_epoch });
    if let Err(error) = inner.writer.commit(write).await {
        delivery.answer(Err(error.clone().into()));
        return Err(error);
    }
    state.instance = transition.instance.clone();
    state.row = row.clone();
    effects::after_commit(inner, &row, &transition, now);
    delivery.answer(Ok(row));
    Ok(())
}

/// Whether the event answers something the runtime did (a call, a timer) rather than a person's
/// request: such events may arrive late or twice and are then dropped quietly.
fn is_answer(event: &Event) -> bool {
    matches!(
        event,
        Event::StepSucceeded { .. }
            | Event::StepFailed { .. }
            | Event::CompensationSucceeded { .. }
            | Event::CompensationFailed { .. }
            | Event::TimerFired { .. }
    )
}

/// Whether answers are on their way, so the driver should wait for them rather than retire.
pub(crate) fn keeps_moving(instance: &Instance) -> bool {
    matches!(instance.status_kind(), StatusKind::Running | StatusKind::Compensating | StatusKind::Created)
}

/// Removes the driver if nothing is queued; `false` if an event arrived meanwhile.
fn retire(inner: &Inner, id: &str, queue: &mpsc::UnboundedReceiver<Delivery>) -> bool {
    let mut queues = lock(&inner.actors.queues);
    if queue.is_empty() {
        queues.remove(id);
        true
    } else {
        false
    }
}

/// Reads an instance and its definition version from the store, if this node owns it: an event for an
/// instance another node drives (a timer or an answer that arrived after it moved) is refused with
/// [`CommitError::Fenced`] and dropped.
pub(crate) async fn load(inner: &Inner, id: &str) -> Result<Loaded> {
    let row = inner.store.instance(id).await?.ok_or_else(|| Error::InstanceNotFound(id.to_string()))?;
    if row.lease_owner.as_deref() != Some(inner.node.id()) {
        return Err(Error::Commit(CommitError::Fenced));
    }
    loaded_from_row(inner, row).await
}

/// The instance of a row with its definition version (read from the store if another node registered
/// it since this one started).
pub(crate) async fn loaded_from_row(inner: &Inner, row: InstanceRow) -> Result<Loaded> {
    let instance = convert::instance_of(&row)?;
    let version = u32::try_from(row.version).map_err(|_| Error::Corrupt(format!("version {}", row.version)))?;
    let definition = inner.definitions.get_or_refresh(&inner.store, &row.workflow, Some(version)).await?;
    Ok(Loaded { definition, instance, row })
}
