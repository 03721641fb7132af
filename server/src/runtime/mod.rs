//! The runtime: drives workflow instances through the pure engine, durably.
//!
//! For every event (a service answered, a timer fired, an operator acted) the runtime loads the
//! instance, asks the engine for the transition, **persists it** (through the group-commit [`writer`]),
//! and only then carries out the transition's effects: calling services (with deadlines and circuit
//! breakers), arming timers, publishing on the event bus. Results come back as new events. Nothing is
//! executed before the transition that asked for it is durable (architecture invariant 3), and a crash
//! at any point is repaired by [`recovery`], which re-issues what was in flight with the same
//! idempotency keys.
//!
//! - [`Runtime`]: the handle the HTTP API, the console and the benchmark use: register definitions,
//!   start instances, act on them, wait for them.
//! - [`actor`]: one lightweight task per moving instance applies its events strictly in order.
//! - [`effects`]: turns a transition into a [`crate::store::TransitionWrite`] and, once durable, into
//!   service calls and timers.
//! - [`definitions`]: the cache of registered definitions and registration (validation, versioning).
//! - [`timers`], [`writer`], [`clock`], [`recovery`], [`convert`].

pub mod actor;
pub mod clock;
pub mod convert;
pub mod definitions;
pub mod effects;
pub mod recovery;
pub mod timers;
pub mod writer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, Notify};

use app::wire::LiveEvent;
use engine::{Definition, EngineError, Event, FieldProblem, Problem};

use crate::events::EventBus;
use crate::services::Registry;
use crate::store::{self, InstanceRow, Store};

use self::actor::{Actors, Delivery};
use self::clock::{Clock, RuntimeEnv};
use self::definitions::DefinitionCache;
use self::timers::TimerQueue;
use self::writer::{CommitError, Writer};

/// Errors the runtime reports to its callers (the HTTP layer maps each to a status, once).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no workflow named `{0}` is registered")]
    UnknownWorkflow(String),
    #[error("workflow `{name}` has no version {version}")]
    UnknownVersion { name: String, version: u32 },
    /// The body is not a definition; `field` is where reading stopped (`.` for the whole body).
    #[error("the definition cannot be read: {field}: {message}")]
    DefinitionFormat { field: String, message: String },
    #[error("the definition has {} problem(s)", .0.len())]
    InvalidDefinition(Vec<Problem>),
    #[error("the input does not match the workflow's input schema")]
    InvalidInput(Vec<FieldProblem>),
    #[error("no instance with id `{0}`")]
    InstanceNotFound(String),
    /// The engine refused the command in the instance's current state (e.g. resume when not paused).
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<EngineError> for Error {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::InvalidInput(problems) => Error::InvalidInput(problems),
            other => Error::Rejected(other.to_string()),
        }
    }
}

/// Settings of the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// This process's name in lease columns.
    pub node_id: String,
    /// How long a lease lasts before another process may take the instance over.
    pub lease: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { node_id: format!("node-{}", std::process::id()), lease: Duration::from_secs(30) }
    }
}

/// A request to start an instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartRequest {
    pub workflow: String,
    /// `None`: the latest version.
    pub version: Option<u32>,
    pub input: Value,
    /// Keys people search by, in addition to those the definition extracts from the input.
    pub business_keys: BTreeMap<String, String>,
    /// The same key (for the same workflow) returns the same instance instead of starting another.
    pub idempotency_key: Option<String>,
}

/// The outcome of a start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    pub instance: InstanceRow,
    /// `false` when an earlier start with the same idempotency key created it.
    pub created: bool,
}

/// An operator action on an instance, with who and why.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Stop, compensating the completed steps.
    Cancel,
    /// Run the failed step again, optionally with edited input.
    Retry {
        edited_input: Option<Value>,
    },
    /// Treat the failed step as done, with this output.
    Skip {
        output: Value,
    },
    Pause,
    Resume,
}

pub(crate) struct Inner {
    pub store: Store,
    pub services: Arc<Registry>,
    pub bus: EventBus,
    pub clock: Arc<dyn Clock>,
    pub config: RuntimeConfig,
    pub writer: Writer,
    pub definitions: DefinitionCache,
    pub actors: Actors,
    pub timers: TimerQueue,
    /// Callers waiting for an instance to settle (see [`Runtime::wait_settled`]).
    watchers: Mutex<HashMap<String, Vec<oneshot::Sender<InstanceRow>>>>,
    /// Start keys being started right now, so two requests with one key create one instance.
    starting: Mutex<HashSet<String>>,
    started: Notify,
}

/// The handle to the runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// Starts the runtime: loads definitions, starts the writer and the timer task, and recovers every
    /// instance that was in flight when the process last stopped.
    pub async fn start(
        store: Store,
        services: Arc<Registry>,
        bus: EventBus,
        clock: Arc<dyn Clock>,
        config: RuntimeConfig,
    ) -> Result<Self> {
        let definitions = DefinitionCache::load(&store).await?;
        let inner = Arc::new(Inner {
            writer: Writer::spawn(store.clone()),
            store,
            services,
            bus,
            clock,
            config,
            definitions,
            actors: Actors::default(),
            timers: TimerQueue::default(),
            watchers: Mutex::new(HashMap::new()),
            starting: Mutex::new(HashSet::new()),
            started: Notify::new(),
        });
        let recovered = recovery::recover(&inner).await?;
        if recovered > 0 {
            tracing::info!(instances = recovered, "recovered instances that were in flight");
        }
        tokio::spawn(effects::run_timers(inner.clone()));
        Ok(Self { inner })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn services(&self) -> &Registry {
        &self.inner.services
    }

    pub fn writer_stats(&self) -> &writer::WriterStats {
        self.inner.writer.stats()
    }

    /// Registers a definition. An unchanged definition returns its existing version; a changed one
    /// becomes the next version. Running instances keep the version they started on.
    pub async fn register_definition(&self, body: Value, actor: &str) -> Result<definitions::Registered> {
        definitions::register(&self.inner, body, actor).await
    }

    /// A definition version, or the latest when `version` is `None`.
    pub fn definition(&self, name: &str, version: Option<u32>) -> Result<Arc<Definition>> {
        self.inner.definitions.get(name, version)
    }

    /// Every registered version, by name then version.
    pub fn definitions(&self) -> Vec<Arc<Definition>> {
        self.inner.definitions.all()
    }

    /// The runtime's clock: epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Starts an instance. Returns once the start is durable; the first steps run after that.
    pub async fn start_instance(&self, request: StartRequest) -> Result<Started> {
        let inner = &self.inner;
        let definition = inner.definitions.get(&request.workflow, request.version)?;
        engine::validate_input(&definition, &request.input).map_err(Error::InvalidInput)?;
        let start_key = request.idempotency_key.as_ref().map(|key| format!("{}:{key}", request.workflow));
        let _claim = match &start_key {
            Some(key) => {
                let claim = StartClaim::take(inner, key).await;
                if let Some(existing) = inner.store.instance_by_start_key(key).await? {
                    return Ok(Started { instance: existing, created: false });
                }
                Some(claim)
            }
            None => None,
        };

        let now = inner.clock.now_ms();
        let id = clock::new_id();
        let transition = engine::start(&definition, &id, request.input, &mut RuntimeEnv::at(now))?;
        let mut keys = transition.instance.business_keys.clone();
        keys.extend(request.business_keys);
        let (write, row) = effects::start_write(&definition, &transition, start_key, keys, now, &inner.config)?;
        inner.writer.commit(write).await?;
        actor::spawn_loaded(inner, definition.clone(), transition.instance.clone(), row.clone());
        effects::after_commit(inner, &row, &transition, now);
        Ok(Started { instance: row, created: true })
    }

    /// Applies an operator action and returns the instance once the change is durable.
    pub async fn command(&self, instance_id: &str, command: Command, actor: &str, reason: &str) -> Result<InstanceRow> {
        let (actor, reason) = (actor.to_string(), reason.to_string());
        let event = match command {
            Command::Cancel => Event::CancelRequested { actor, reason },
            Command::Retry { edited_input } => Event::RetryRequested { actor, reason, edited_input },
            Command::Skip { output } => Event::SkipRequested { actor, reason, output },
            Command::Pause => Event::PauseRequested { actor, reason },
            Command::Resume => Event::ResumeRequested { actor, reason },
        };
        self.send(instance_id, event).await
    }

    /// Delivers any event to an instance and waits for the resulting transition to be durable.
    pub async fn send(&self, instance_id: &str, event: Event) -> Result<InstanceRow> {
        let (reply, answer) = oneshot::channel();
        actor::deliver(&self.inner, instance_id, Delivery { event, timing: None, reply: Some(reply) });
        answer.await.map_err(|_| Error::Rejected("the instance's driver stopped".into()))?
    }

    /// Waits until the instance has settled — finished, failed, or waiting for a person — or the
    /// timeout passed. Returns the instance as it is then.
    pub async fn wait_settled(&self, instance_id: &str, timeout: Duration) -> Result<InstanceRow> {
        let (notify, settled) = oneshot::channel();
        self.inner.watch(instance_id, notify);
        // Register first, then look: a transition committed in between notifies the watcher.
        let current =
            self.inner.store.instance(instance_id).await?.ok_or_else(|| Error::InstanceNotFound(instance_id.into()))?;
        if is_settled(&current) {
            return Ok(current);
        }
        match tokio::time::timeout(timeout, settled).await {
            Ok(Ok(row)) => Ok(row),
            _ => Ok(self.inner.store.instance(instance_id).await?.unwrap_or(current)),
        }
    }

    /// How many instances have a driver task right now.
    pub fn active_instances(&self) -> usize {
        self.inner.actors.len()
    }
}

impl Inner {
    fn watch(&self, instance_id: &str, watcher: oneshot::Sender<InstanceRow>) {
        lock(&self.watchers).entry(instance_id.to_string()).or_default().push(watcher);
    }

    /// Tells waiters that the instance settled, and publishes every change on the bus: the instance's,
    /// and each intervention the transition opened or closed (the inbox follows these).
    pub(crate) fn announce(&self, row: &InstanceRow, instance: &engine::Instance, effects: &[engine::Effect]) {
        if convert::settled(instance) {
            if let Some(waiting) = lock(&self.watchers).remove(&row.id) {
                for watcher in waiting {
                    let _ = watcher.send(row.clone());
                }
            }
        }
        if self.bus.has_subscribers() {
            self.bus.publish(LiveEvent::Instance(convert::instance_change(row)));
            for effect in effects {
                let (id, change, status) = match effect {
                    engine::Effect::OpenIntervention { intervention_id, .. } => (intervention_id, "opened", "open"),
                    engine::Effect::CloseIntervention { intervention_id } => (intervention_id, "resolved", "resolved"),
                    _ => continue,
                };
                self.bus.publish(LiveEvent::Intervention(app::wire::InterventionChange {
                    id: id.clone(),
                    instance_id: Some(row.id.clone()),
                    change: change.into(),
                    status: status.into(),
                    assignee: None,
                }));
            }
        }
    }
}

/// Whether an instance cannot move on without a person (or at all).
pub fn is_settled(row: &InstanceRow) -> bool {
    convert::instance_of(row).is_ok_and(|instance| convert::settled(&instance))
}

/// Holds a start key while its start is in progress.
struct StartClaim<'a> {
    inner: &'a Inner,
    key: String,
}

impl<'a> StartClaim<'a> {
    async fn take(inner: &'a Inner, key: &str) -> StartClaim<'a> {
        loop {
            let released = inner.started.notified();
            if lock(&inner.starting).insert(key.to_string()) {
                return StartClaim { inner, key: key.to_string() };
            }
            released.await;
        }
    }
}

impl Drop for StartClaim<'_> {
    fn drop(&mut self) {
        lock(&self.inner.starting).remove(&self.key);
        self.inner.started.notify_waiters();
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
