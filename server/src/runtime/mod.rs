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
//! - [`recovery`]: taking instances over — at start, and from nodes that are gone — and re-issuing
//!   their in-flight calls.
//! - [`timers`], [`writer`], [`clock`], [`convert`].
//!
//! Several runtimes (nodes) may share one PostgreSQL database (see [`crate::cluster`]): each drives
//! the instances it owns, every write is fenced by the instance's lease, and a command for an instance
//! another node drives moves it here ([`Runtime::send`]).

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

use crate::cluster::{self, Node};
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
    /// The definition cannot be read or is not valid: every problem, each at its field.
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

/// Settings of the runtime: how its node takes part in the cluster (one node on SQLite).
pub type RuntimeConfig = cluster::ClusterConfig;

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
    /// Who asked for the start: the `started` history entry's actor, and an `instance.start` audit
    /// entry written in the start's own transaction. `None` for the system's own starts (demo traffic,
    /// benchmarks), which are not audited.
    pub started_by: Option<String>,
    /// Why, for the audit entry (e.g. the schedule that fired).
    pub reason: Option<String>,
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
    pub node: Arc<Node>,
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
        let shared = matches!(store.database(), crate::db::Database::Postgres(_));
        let node = Arc::new(Node::new(config, shared));
        cluster::membership::join(&node, store.database()).await?;
        cluster::membership::beat(&node, store.database(), &bus, "{}").await; // know the leader from the start
        let inner = Arc::new(Inner {
            writer: Writer::spawn_for(store.clone(), node.clone()),
            store,
            services,
            bus,
            clock,
            node,
            definitions,
            actors: Actors::default(),
            timers: TimerQueue::default(),
            watchers: Mutex::new(HashMap::new()),
            starting: Mutex::new(HashSet::new()),
            started: Notify::new(),
        });
        let recovered = recovery::recover(&inner).await?;
        if recovered > 0 {
            tracing::info!(instances = recovered, "took over instances that were in flight");
        }
        let database = inner.store.database().clone();
        tokio::spawn(effects::run_timers(inner.clone()));
        tokio::spawn(recovery::run_stranded_sweep(inner.clone()));
        let report = {
            let (services, clock) = (inner.services.clone(), inner.clock.clone());
            Arc::new(move || services.figures_json(clock.now_ms())) as cluster::membership::ServicesReport
        };
        tokio::spawn(cluster::membership::run(inner.node.clone(), database.clone(), inner.bus.clone(), report));
        if inner.node.shared {
            tokio::spawn(recovery::run(inner.clone()));
            tokio::spawn(cluster::feed::run_reader(inner.node.clone(), database.clone(), inner.bus.clone()));
            let (outbox, announcements) = tokio::sync::mpsc::unbounded_channel();
            inner.bus.attach_outbox(outbox);
            tokio::spawn(cluster::feed::run_outbox(inner.node.clone(), database, announcements));
        }
        Ok(Self { inner })
    }

    /// This node: its id, whether it leads, its counters.
    pub fn node(&self) -> &Arc<Node> {
        &self.inner.node
    }

    /// Leaves the cluster gracefully (SIGTERM): hands this node's instances back and gives up the
    /// leadership, so other nodes take over at once. Writes still in flight here are fenced.
    pub async fn leave(&self) {
        cluster::membership::leave(&self.inner.node, self.inner.store.database()).await;
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
        let definition = inner.definitions.get_or_refresh(&inner.store, &request.workflow, request.version).await?;
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
        let start_key_for_retry = start_key.clone();
        let (mut write, row) =
            effects::start_write(&definition, &transition, start_key, keys, now, inner.node.id())?;
        if let Some(actor) = &request.started_by {
            effects::record_starter(&mut write, &row, actor, request.reason.as_deref(), now);
        }
        // The commit and what follows it run on their own task: a caller that goes away (a client
        // hanging up) must not leave a committed instance without its driver.
        let committed = {
            let (inner, row) = (self.inner.clone(), row.clone());
            tokio::spawn(async move {
                inner.writer.commit(write).await?;
                actor::spawn_loaded(&inner, definition.clone(), transition.instance.clone(), row.clone());
                effects::after_commit(&inner, &row, &transition, now);
                Ok::<(), CommitError>(())
            })
        };
        match committed.await.map_err(|error| Error::Rejected(format!("the start was interrupted: {error}")))? {
            Ok(()) => Ok(Started { instance: row, created: true }),
            Err(error) => {
                // Another node may have started the same key at the same moment: the start key is
                // unique, so its start won and this one was refused; answer with that instance.
                if let Some(key) = &start_key_for_retry {
                    if let Some(existing) = inner.store.instance_by_start_key(key).await? {
                        return Ok(Started { instance: existing, created: false });
                    }
                }
                Err(error.into())
            }
        }
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
    ///
    /// Commands (operator actions, decisions, resolutions) may reach any node: an instance that another
    /// node drives is first moved here ([`cluster::sql::take_one`] bumps its epoch, so the other node's
    /// writes for it are fenced), and its in-flight calls are re-issued here. The caller gets the answer
    /// one node would give.
    pub async fn send(&self, instance_id: &str, event: Event) -> Result<InstanceRow> {
        const MOVES: u32 = 5;
        let mut moves = 0;
        loop {
            self.take_over(instance_id).await?;
            let (reply, answer) = oneshot::channel();
            let delivery = Delivery { event: event.clone(), timing: None, reply: Some(reply) };
            actor::deliver(&self.inner, instance_id, delivery);
            match answer.await.map_err(|_| Error::Rejected("the instance's driver stopped".into()))? {
                // Moved away between the take-over and the write (another node's command): again.
                Err(Error::Commit(CommitError::Fenced)) if moves < MOVES => moves += 1,
                outcome => return outcome,
            }
        }
    }

    /// Makes this node the instance's owner, if it is not. Alone on its database (SQLite) a node owns
    /// every instance already: it took them all at start and owns what it starts.
    async fn take_over(&self, instance_id: &str) -> Result<()> {
        let node = &self.inner.node;
        if !node.shared {
            return Ok(());
        }
        if let Some(row) = cluster::sql::take_one(self.inner.store.database(), node.id(), instance_id).await? {
            node.stats.moved_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(instance = instance_id, "moved here for a command");
            recovery::adopt(&self.inner, row).await;
        }
        Ok(())
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
        // The watcher hears of this node's transitions; another node's (nodes sharing PostgreSQL) are
        // read from the store every little while.
        let poll = async {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Ok(Some(row)) = self.inner.store.instance(instance_id).await {
                    if is_settled(&row) {
                        return row;
                    }
                }
            }
        };
        let waited = async {
            tokio::select! {
                Ok(row) = settled => Some(row),
                row = poll, if self.inner.node.shared => Some(row),
                else => None,
            }
        };
        match tokio::time::timeout(timeout, waited).await {
            Ok(Some(row)) => Ok(row),
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
            let status = convert::status_of(instance.status_kind());
            self.bus.publish(LiveEvent::Instance(convert::instance_change(row, status)));
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
