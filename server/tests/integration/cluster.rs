//! Several nodes on one PostgreSQL, in one test process (issue 13): claims never overlap, a write for an
//! instance that moved is fenced without failing its batch, a gone node's instances are taken over and
//! finish with every effect applied once, timers fire once on their owner, commands move an instance to
//! the node they reached, the leadership moves when its holder goes, one node's events reach another
//! node's stream, and rollups written by two nodes equal the rollup of all their facts. One SQLite file
//! refuses a second process.
//!
//! Each node is a [`Runtime`] with its own bus and pool on the same throwaway database. "Killing" a
//! node shuts its bus down: its heartbeat, claims and timers stop, as after kill -9, while its drivers
//! and writer stay, as a paused node's would — so whatever it still writes must be fenced.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio::sync::watch;

use app::wire::LiveEvent;
use switchboard::cluster::{sql, ClusterConfig};
use switchboard::db::DatabaseUrl;
use switchboard::events::EventBus;
use switchboard::runtime::clock::SystemClock;
use switchboard::runtime::writer::{CommitError, Writer};
use switchboard::runtime::{Command, Runtime, StartRequest};
use switchboard::services::{RecordingService, Registry, Service, ServiceRequest, ServiceResult};
use switchboard::store::write::Lease;
use switchboard::store::{InstanceRow, JournalRow, Store, TransitionWrite};

/// Generous: the machine may be busy with something else.
const WITHIN: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_millis(1_500);

const CALL_ACTIONS: &[&str] =
    &["validate", "find_buyer", "release_reservation", "connect", "disconnect", "start_billing", "cancel_meter"];

/// A service that records like [`RecordingService`] but answers only while its gate is open.
struct GatedService {
    record: Arc<RecordingService>,
    open: watch::Receiver<bool>,
}

impl Service for GatedService {
    fn actions(&self) -> Option<std::collections::BTreeSet<String>> {
        self.record.actions()
    }

    fn call(&self, request: ServiceRequest) -> BoxFuture<'_, ServiceResult> {
        let mut open = self.open.clone();
        Box::pin(async move {
            let _ = open.wait_for(|open| *open).await;
            self.record.call(request).await
        })
    }
}

/// The service every node calls, and the gate in front of it.
struct Calls {
    record: Arc<RecordingService>,
    gate: watch::Sender<bool>,
}

impl Calls {
    fn new(open: bool) -> Self {
        let (gate, _) = watch::channel(open);
        Self { record: Arc::new(RecordingService::new(CALL_ACTIONS)), gate }
    }

    fn registry(&self) -> Arc<Registry> {
        let mut registry = Registry::new();
        registry.register("calls", Arc::new(GatedService { record: self.record.clone(), open: self.gate.subscribe() }));
        Arc::new(registry)
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }

    /// Every effect applied at most once, whatever the re-deliveries.
    fn assert_each_effect_once(&self) {
        let twice: Vec<_> = self.record.applied_per_key().into_iter().filter(|(_, count)| *count > 1).collect();
        assert!(twice.is_empty(), "effects applied more than once: {twice:?}");
    }
}

/// A node: a runtime with its own bus and pool.
struct Node {
    runtime: Runtime,
    bus: EventBus,
}

impl Node {
    async fn start(url: &DatabaseUrl, id: &str, calls: &Calls) -> Self {
        let database = switchboard::db::open(url).await.expect("database");
        let bus = EventBus::new();
        let config = ClusterConfig {
            node_id: id.into(),
            lease: LEASE,
            heartbeat: Duration::from_millis(250),
            claim_interval: Duration::from_millis(250),
            ..ClusterConfig::default()
        };
        let runtime = Runtime::start(Store::new(database), calls.registry(), bus.clone(), Arc::new(SystemClock), config)
            .await
            .expect("runtime");
        Self { runtime, bus }
    }

    /// Stops the heartbeat, the claims and the timers: to the others, the node is gone.
    fn kill(&self) {
        self.bus.shut_down();
    }

    fn store(&self) -> &Store {
        self.runtime.store()
    }
}

async fn start_call(node: &Node, number: i64) -> InstanceRow {
    let request = StartRequest {
        workflow: "call-processing".into(),
        input: json!({"call_id": format!("call-{number}"), "number": number}),
        ..StartRequest::default()
    };
    node.runtime.start_instance(request).await.expect("start").instance
}

/// Waits until `check` holds, polling; panics with `what` after [`WITHIN`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WITHIN;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn instance(store: &Store, id: &str) -> InstanceRow {
    store.instance(id).await.expect("read").expect("exists")
}

async fn all_final(store: &Store, ids: &[String]) -> bool {
    for id in ids {
        if !matches!(instance(store, id).await.status.as_str(), "completed" | "compensated" | "cancelled" | "failed") {
            return false;
        }
    }
    true
}

/// A transition write of `row` with journal row `seq` (event `test`), made under `owner`'s lease of `epoch`.
fn journal_write(row: &InstanceRow, owner: &str, epoch: i64, seq: i64) -> TransitionWrite {
    TransitionWrite {
        lease: Some(Lease { owner: owner.into(), epoch }),
        instance: Some(InstanceRow { journal_seq: seq, ..row.clone() }),
        journal: Some(JournalRow {
            instance_id: row.id.clone(),
            seq,
            at: 0,
            event: "test".into(),
            actor: None,
            reason: None,
            entries: "[]".into(),
        }),
        ..TransitionWrite::default()
    }
}

/// Whether `owner` owns every one of `ids`.
async fn all_owned_by(store: &Store, ids: &[String], owner: &str) -> bool {
    for id in ids {
        if instance(store, id).await.lease_owner.as_deref() != Some(owner) {
            return false;
        }
    }
    true
}

/// The journal's events of an instance, in order.
async fn journal_events(store: &Store, id: &str) -> Vec<String> {
    store.journal(id).await.expect("journal").into_iter().map(|row: JournalRow| row.event).collect()
}

fn waiting_saga() -> Value {
    json!({
        "name": "wait-then-call",
        "description": "Waits, then calls.",
        "start_at": "pause",
        "states": {
            "pause": {"type": "wait", "duration_ms": 2_000, "next": "call"},
            "call": {"type": "task", "service": "calls", "action": "validate", "next": "done"},
            "done": {"type": "succeed"}
        }
    })
}

fn review_saga() -> Value {
    json!({
        "name": "review",
        "description": "A person decides.",
        "start_at": "decide",
        "states": {
            "decide": {"type": "human", "assignee_group": "reviewers", "title": "Approve?",
                       "decisions": [{"name": "approve", "next": "approved"}, {"name": "deny", "next": "denied"}]},
            "approved": {"type": "succeed"},
            "denied": {"type": "fail", "error": "denied", "compensate": false}
        }
    })
}

macro_rules! on_postgres {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let Some(temp) = crate::support::TempPostgres::create().await else { return };
            tests::$name(temp.url.clone()).await;
        }
    };
}

on_postgres!(concurrent_claims_never_take_the_same_instance);
on_postgres!(a_write_for_an_instance_that_moved_is_fenced_and_spares_its_batch);
on_postgres!(a_gone_nodes_instances_are_taken_over_and_each_effect_applies_once);
on_postgres!(timers_fire_once_on_their_owner_and_move_with_it);
on_postgres!(commands_move_the_instance_to_the_node_they_reached);
on_postgres!(leadership_moves_when_the_leader_goes_and_at_once_when_it_leaves);
on_postgres!(one_nodes_transitions_reach_another_nodes_stream);
on_postgres!(rollups_written_by_two_nodes_equal_the_rollup_of_all_facts);
on_postgres!(a_graceful_leave_hands_instances_back_at_once);
on_postgres!(an_overloaded_node_hands_waiting_work_to_the_others);
on_postgres!(fault_settings_and_breaker_actions_hold_on_every_node);

mod tests {
    use super::*;

    pub async fn concurrent_claims_never_take_the_same_instance(url: DatabaseUrl) {
        let calls = Calls::new(false);
        let a = Node::start(&url, "a", &calls).await;
        a.runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
        let mut ids = Vec::new();
        for number in 0..300 {
            ids.push(start_call(&a, number).await.id);
        }
        a.kill();
        // Hand them to nobody, as a graceful stop would, then let four claimers race for them.
        let database = a.store().database().clone();
        sql::stop(&database, "a", &a.runtime.node().incarnation).await.unwrap();
        let claims = (0..4).map(|claimer| {
            let database = database.clone();
            tokio::spawn(async move {
                let me = format!("claimer-{claimer}");
                let mut taken = Vec::new();
                loop {
                    let rows = sql::claim(&database, &me, &[], 25).await.unwrap();
                    if rows.is_empty() {
                        return taken;
                    }
                    taken.extend(rows);
                }
            })
        });
        let mut owner_of: HashMap<String, String> = HashMap::new();
        for claim in futures::future::join_all(claims).await {
            for row in claim.unwrap() {
                assert_eq!(row.lease_epoch, 2, "one claim bumps the epoch once: {row:?}");
                let previous = owner_of.insert(row.id.clone(), row.lease_owner.clone().unwrap());
                assert!(previous.is_none(), "{} was claimed twice", row.id);
            }
        }
        assert_eq!(owner_of.len(), ids.len(), "every unowned instance was claimed");
        let owners: HashSet<&String> = owner_of.values().collect();
        assert!(owners.len() > 1, "the claimers shared the work: {owners:?}");
    }

    pub async fn a_write_for_an_instance_that_moved_is_fenced_and_spares_its_batch(url: DatabaseUrl) {
        let calls = Calls::new(false);
        let a = Node::start(&url, "a", &calls).await;
        a.runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
        let kept = start_call(&a, 1).await;
        let moved = start_call(&a, 2).await;
        // Node b takes `moved` (as a command reaching b would).
        let taken = sql::take_one(a.store().database(), "b", &moved.id).await.unwrap().expect("moved");
        assert_eq!((taken.lease_owner.as_deref(), taken.lease_epoch), (Some("b"), 2));

        // One batch with a write for each, both made under a's lease (epoch 1).
        let store = a.store().clone();
        let mut tx = store.begin_batch().await.unwrap();
        let write = |row: &InstanceRow| journal_write(row, "a", 1, 99);
        let batch = [write(&kept), write(&moved)];
        let fenced = tx.fenced(&batch.iter().collect::<Vec<_>>()).await.unwrap();
        assert_eq!(fenced, HashSet::from([moved.id.clone()]));
        tx.rollback().await.unwrap();

        // Through the writer: the moved one is refused, the other one is written.
        let writer = Writer::spawn_for(store.clone(), a.runtime.node().clone());
        let (first, second) = tokio::join!(writer.commit(write(&kept)), writer.commit(write(&moved)));
        assert_eq!(first, Ok(()));
        assert_eq!(second, Err(CommitError::Fenced));
        assert_eq!(instance(&store, &kept.id).await.journal_seq, 99);
        let after = instance(&store, &moved.id).await;
        assert_ne!(after.journal_seq, 99, "the fenced write changed nothing");
        assert!(!journal_events(&store, &moved.id).await.contains(&"test".to_string()));
        assert!(a.runtime.node().stats.fenced_writes.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    }

    pub async fn a_gone_nodes_instances_are_taken_over_and_each_effect_applies_once(url: DatabaseUrl) {
        let calls = Calls::new(false); // calls hang until the gate opens: instances stay in flight
        let a = Node::start(&url, "a", &calls).await;
        a.runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
        let mut ids = Vec::new();
        for number in 0..20 {
            ids.push(start_call(&a, number).await.id);
        }
        let b = Node::start(&url, "b", &calls).await;
        a.kill();
        eventually("b owns every instance of a", || all_owned_by(b.store(), &ids, "b"))
        .await;
        // Now both a's hanging calls and b's re-issued ones answer; a's answers must not land.
        calls.open();
        eventually("every instance completed", || all_final(b.store(), &ids)).await;
        for id in &ids {
            assert_eq!(instance(b.store(), id).await.status, "completed");
            let events = journal_events(b.store(), id).await;
            let succeeded = events.iter().filter(|event| event.as_str() == "step_succeeded").count();
            assert_eq!(succeeded, 4, "one success per step, however many answers: {events:?}");
        }
        calls.assert_each_effect_once();
        assert!(b.runtime.node().stats.claimed.load(std::sync::atomic::Ordering::Relaxed) >= ids.len() as u64);
        eventually("a's late answers were fenced", || async {
            a.runtime.node().stats.fenced_writes.load(std::sync::atomic::Ordering::Relaxed) >= 1
        })
        .await;
        // Both nodes wrote rollups (each its own shard), and the fenced writes counted nowhere: together
        // they equal a recomputation from the journal.
        eventually("the rollups of both nodes equal a recomputation from the stored history", || async {
            let history = b.store().history().await.unwrap();
            let recomputed = switchboard::monitoring::recompute::rollups_of_history(&history).unwrap();
            b.store().all_rollups().await.unwrap() == recomputed
        })
        .await;
    }

    pub async fn timers_fire_once_on_their_owner_and_move_with_it(url: DatabaseUrl) {
        let calls = Calls::new(true);
        let a = Node::start(&url, "a", &calls).await;
        let b = Node::start(&url, "b", &calls).await;
        a.runtime.register_definition(waiting_saga(), "test").await.unwrap();
        let start = |node: &Node| {
            let runtime = node.runtime.clone();
            async move {
                let request = StartRequest { workflow: "wait-then-call".into(), input: json!({}), ..StartRequest::default() };
                runtime.start_instance(request).await.expect("start").instance.id
            }
        };
        // Both alive: each instance's timer fires on its owner, once.
        let on_a = [start(&a).await, start(&a).await];
        let on_b = [start(&b).await, start(&b).await];
        // A node that dies while its instances wait: the timer fires on the node that took them.
        let orphaned = [start(&a).await, start(&a).await];
        a.kill();
        let everything: Vec<String> = on_a.iter().chain(&on_b).chain(&orphaned).cloned().collect();
        eventually("every waiting instance went on", || all_final(b.store(), &orphaned)).await;
        eventually("the instances of the live nodes went on", || all_final(b.store(), &on_b)).await;
        for id in orphaned.iter().chain(&on_b) {
            let row = instance(b.store(), id).await;
            assert_eq!((row.status.as_str(), row.lease_owner.as_deref()), ("completed", Some("b")), "{row:?}");
        }
        for id in &everything {
            let events = journal_events(b.store(), id).await;
            assert!(
                events.iter().filter(|event| event.as_str() == "timer_fired").count() <= 1,
                "a timer fired twice: {events:?}"
            );
        }
        calls.assert_each_effect_once();
    }

    pub async fn commands_move_the_instance_to_the_node_they_reached(url: DatabaseUrl) {
        let calls = Calls::new(false);
        let a = Node::start(&url, "a", &calls).await;
        let b = Node::start(&url, "b", &calls).await;
        a.runtime.register_definition(review_saga(), "test").await.unwrap();
        a.runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();

        // A person's decision, sent to b, for a run that a drives.
        let request = StartRequest { workflow: "review".into(), input: json!({}), ..StartRequest::default() };
        let review = a.runtime.start_instance(request).await.unwrap().instance;
        let waiting = a.runtime.wait_settled(&review.id, WITHIN).await.unwrap();
        assert_eq!(waiting.status, "waiting", "{waiting:?}");
        let intervention = b.store().interventions_of(&review.id).await.unwrap().remove(0);
        let decided = b
            .runtime
            .send(
                &review.id,
                engine::Event::HumanDecided {
                    intervention_id: intervention.id.clone(),
                    decision: "approve".into(),
                    data: Value::Null,
                    actor: "reviewer".into(),
                    reason: "looks right".into(),
                },
            )
            .await
            .expect("the decision is taken where it arrived");
        assert_eq!(decided.lease_owner.as_deref(), Some("b"));
        let done = b.runtime.wait_settled(&review.id, WITHIN).await.unwrap();
        assert_eq!(done.status, "completed");

        // An operator's cancel, sent to b, for a run that is busy on a: a's pending answer is fenced.
        let call = start_call(&a, 7).await;
        let cancelled = b.runtime.command(&call.id, Command::Cancel, "operator", "wrong number").await.expect("cancel");
        assert_eq!(cancelled.lease_owner.as_deref(), Some("b"));
        calls.open();
        eventually("the cancelled run finished", || all_final(b.store(), std::slice::from_ref(&call.id))).await;
        let row = instance(b.store(), &call.id).await;
        assert!(matches!(row.status.as_str(), "cancelled" | "compensated"), "{row:?}");
        calls.assert_each_effect_once();
        // Commands for an unknown instance still say so.
        let missing = b.runtime.command("no-such-instance", Command::Pause, "operator", "").await.unwrap_err();
        assert!(missing.to_string().contains("no-such-instance"), "{missing}");
    }

    pub async fn leadership_moves_when_the_leader_goes_and_at_once_when_it_leaves(url: DatabaseUrl) {
        let calls = Calls::new(true);
        let a = Node::start(&url, "a", &calls).await;
        let b = Node::start(&url, "b", &calls).await;
        let c = Node::start(&url, "c", &calls).await;
        let nodes = [&a, &b, &c];
        let leaders = || nodes.iter().filter(|node| node.runtime.node().is_leader()).count();
        eventually("one leader", || async { leaders() == 1 }).await;
        let first = nodes.iter().position(|node| node.runtime.node().is_leader()).unwrap();
        nodes[first].kill();
        eventually("another node leads after the leader went silent", || async {
            nodes.iter().enumerate().any(|(i, node)| i != first && node.runtime.node().is_leader())
        })
        .await;
        let second = nodes.iter().enumerate().position(|(i, node)| i != first && node.runtime.node().is_leader()).unwrap();
        assert!(!nodes[first].runtime.node().is_leader(), "a silent node steps down by itself");
        nodes[second].runtime.leave().await;
        nodes[second].kill();
        eventually("the last node leads after the leader left", || async {
            nodes.iter().enumerate().any(|(i, node)| i != first && i != second && node.runtime.node().is_leader())
        })
        .await;
        let holder = sql::lease_holder(a.store().database(), switchboard::cluster::LEADER).await.unwrap();
        let last = nodes.iter().enumerate().find(|(i, _)| *i != first && *i != second).unwrap().1;
        assert_eq!(holder.as_deref(), Some(last.runtime.node().id()));
    }

    pub async fn one_nodes_transitions_reach_another_nodes_stream(url: DatabaseUrl) {
        let calls = Calls::new(true);
        let a = Node::start(&url, "a", &calls).await;
        let b = Node::start(&url, "b", &calls).await;
        a.runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
        let mut stream = b.bus.subscribe(); // a console open on b
        eventually("a learns that a console is open elsewhere", || async { a.runtime.node().others_listen() }).await;
        let started = start_call(&a, 3).await;
        let deadline = Instant::now() + WITHIN;
        let mut statuses = Vec::new();
        while !statuses.contains(&"completed".to_string()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.recv()).await {
                Ok(Ok(LiveEvent::Instance(change))) if change.id == started.id => {
                    statuses.push(change.status.to_string())
                }
                Ok(_) => {}
                Err(_) => panic!("b's stream did not show a's run completing; saw {statuses:?}"),
            }
        }
        assert!(b.runtime.node().stats.feed_events.load(std::sync::atomic::Ordering::Relaxed) > 0);
    }

    pub async fn rollups_written_by_two_nodes_equal_the_rollup_of_all_facts(url: DatabaseUrl) {
        use switchboard::cluster::Node as ClusterNode;
        use switchboard::monitoring::facts::Fact;
        use switchboard::monitoring::rollup::Rollups;

        let store = Store::new(switchboard::db::open(&url).await.unwrap());
        let writer = |id: &str| {
            let config = ClusterConfig { node_id: id.into(), ..ClusterConfig::default() };
            Writer::spawn_for(store.clone(), Arc::new(ClusterNode::new(config, true)))
        };
        let writers = [writer("a"), writer("b"), writer("c")];
        let base = 1_800_000_000_000_i64;
        let mut all = Vec::new();
        let mut commits = Vec::new();
        for i in 0..600_i64 {
            // The same buckets from every writer, at the same time.
            let fact = Fact::Started { workflow: ["x", "y"][(i % 2) as usize].to_string(), at: base + (i % 50) * 7_000 };
            all.push(fact.clone());
            let write = TransitionWrite { facts: vec![fact], ..TransitionWrite::default() };
            commits.push(writers[(i % 3) as usize].commit(write));
        }
        for outcome in futures::future::join_all(commits).await {
            outcome.expect("committed");
        }
        assert_eq!(store.all_rollups().await.unwrap(), Rollups::of(&all));
    }

    pub async fn an_overloaded_node_hands_waiting_work_to_the_others(url: DatabaseUrl) {
        let calls = Calls::new(true);
        let a = Node::start(&url, "a", &calls).await;
        let b = Node::start(&url, "b", &calls).await;
        a.runtime.register_definition(review_saga(), "test").await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..80 {
            let request = StartRequest { workflow: "review".into(), input: json!({}), ..StartRequest::default() };
            ids.push(a.runtime.start_instance(request).await.unwrap().instance.id);
        }
        let owned_by = |node: &'static str| {
            let (store, ids) = (b.store().clone(), ids.clone());
            async move {
                let mut owned = 0;
                for id in &ids {
                    owned += usize::from(instance(&store, id).await.lease_owner.as_deref() == Some(node));
                }
                owned
            }
        };
        eventually("b took a share of a's waiting runs", || async { owned_by("b").await >= 20 }).await;
        let (on_a, on_b) = (owned_by("a").await, owned_by("b").await);
        assert_eq!(on_a + on_b, ids.len(), "every run has exactly one live owner");
        // Still one decision away from done, wherever they are.
        let intervention = b.store().interventions_of(&ids[0]).await.unwrap().remove(0);
        let decision = engine::Event::HumanDecided {
            intervention_id: intervention.id,
            decision: "approve".into(),
            data: Value::Null,
            actor: "reviewer".into(),
            reason: "fine".into(),
        };
        a.runtime.send(&ids[0], decision).await.expect("decided");
        assert_eq!(a.runtime.wait_settled(&ids[0], WITHIN).await.unwrap().status, "completed");
    }

    pub async fn fault_settings_and_breaker_actions_hold_on_every_node(url: DatabaseUrl) {
        use axum::body::Body;
        use axum::http::Request;
        use engine::breaker::BreakerState;
        use crate::support::reply::Reply;

        let calls = Calls::new(true);
        let registry = || {
            let mut registry = Registry::new();
            registry.register("calls", Arc::new(GatedService { record: calls.record.clone(), open: calls.gate.subscribe() }));
            registry
        };
        let a = crate::support::state_with(&url, registry()).await;
        let b = crate::support::state_with(&url, registry()).await;
        for node in [&a, &b] {
            node.faults.handle("calls"); // simulated, so its faults can be set
        }
        let post = |path: &str, body: Value| {
            Request::post(path).header("content-type", "application/json").body(Body::from(body.to_string())).unwrap()
        };
        let router = crate::support::admin_router(&a);
        let faults = json!({"latency": {"p50_ms": 5, "p99_ms": 50}, "failure_rate": 0.5, "timeout_rate": 0.0, "lost_reply_rate": 0.0});
        let reply = Reply::exchange(&router, post("/api/services/calls/faults", faults)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        eventually("b runs with the faults set on a", || async {
            b.faults.get("calls").is_some_and(|settings| settings.failure_rate == 0.5)
        })
        .await;
        let reply = Reply::exchange(&router, post("/api/services/calls/breaker", json!({"action": "trip"}))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let breaker_on_b = || b.runtime.services().breaker_state("calls", b.runtime.now_ms());
        eventually("b's breaker is tripped", || async { breaker_on_b() == Some(BreakerState::Open) }).await;
        let reply = Reply::exchange(&router, post("/api/services/calls/breaker", json!({"action": "reset"}))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        eventually("b's breaker is closed again", || async { breaker_on_b() == Some(BreakerState::Closed) }).await;
        // A node that starts later applies what was set before it.
        let c = crate::support::state_with(&url, registry()).await;
        c.faults.handle("calls");
        eventually("a late node runs with the shared faults", || async {
            c.faults.get("calls").is_some_and(|settings| settings.failure_rate == 0.5)
        })
        .await;
        // The Services page shows every live node's figures for each service.
        let listed = || async {
            let reply = Reply::exchange(&router, Request::get("/api/services").body(Body::empty()).unwrap()).await;
            let services: Vec<app::wire::ServiceStatus> = serde_json::from_value(reply.body).unwrap();
            let calls = services.into_iter().find(|service| service.name == "calls").expect("listed");
            calls.nodes.into_iter().map(|node| (node.node, node.this_node)).collect::<Vec<_>>()
        };
        let (a_id, b_id) = (a.runtime.node().id().to_string(), b.runtime.node().id().to_string());
        eventually("a lists the service on both nodes", || async {
            let nodes = listed().await;
            nodes.contains(&(a_id.clone(), true)) && nodes.contains(&(b_id.clone(), false))
        })
        .await;
        // Each change has its audit entry (written with it).
        let filter = switchboard::store::audit::AuditFilter { limit: 50, ..Default::default() };
        let audit = a.runtime.store().audit(&filter).await.unwrap();
        let actions: Vec<&str> = audit.iter().map(|entry| entry.action.as_str()).collect();
        for action in ["service.faults", "service.breaker_trip", "service.breaker_reset"] {
            assert!(actions.contains(&action), "{action} audited: {actions:?}");
        }
    }

    pub async fn a_graceful_leave_hands_instances_back_at_once(url: DatabaseUrl) {
        let calls = Calls::new(false);
        let a = Node::start(&url, "a", &calls).await;
        let b = Node::start(&url, "b", &calls).await;
        a.runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
        let mut ids = Vec::new();
        for number in 0..10 {
            ids.push(start_call(&a, number).await.id);
        }
        a.runtime.leave().await;
        for id in &ids {
            assert_ne!(instance(a.store(), id).await.lease_owner.as_deref(), Some("a"), "handed back");
        }
        a.kill();
        eventually("b took the handed-back instances", || all_owned_by(b.store(), &ids, "b"))
        .await;
        calls.open();
        eventually("they completed on b", || all_final(b.store(), &ids)).await;
        calls.assert_each_effect_once();
        let nodes = sql::nodes(b.store().database()).await.unwrap();
        let a_row = nodes.iter().find(|node| node.id == "a").expect("a is listed");
        assert!(a_row.stopped_at.is_some() && a_row.owned == 0, "{a_row:?}");
    }
}

/// A write that cannot be written (here: a journal row that exists already) fails alone: the other
/// writes of its group commit are written, and the writer goes on (issue 13, item 8).
async fn a_write_that_fails_on_its_own_does_not_fail_its_batch(url: DatabaseUrl) {
    let calls = Calls::new(false);
    let database = switchboard::db::open(&url).await.expect("database");
    let bus = EventBus::new();
    let runtime = Runtime::start(Store::new(database), calls.registry(), bus, Arc::new(SystemClock), ClusterConfig::default())
        .await
        .expect("runtime");
    runtime.register_definition(crate::support::call_saga(), "test").await.unwrap();
    let request = |n: i64| StartRequest {
        workflow: "call-processing".into(),
        input: json!({"call_id": format!("c{n}"), "number": n}),
        ..StartRequest::default()
    };
    let good = runtime.start_instance(request(1)).await.unwrap().instance;
    let bad = runtime.start_instance(request(2)).await.unwrap().instance;
    let store = runtime.store().clone();
    let write = |row: &InstanceRow, seq: i64| journal_write(row, runtime.node().id(), row.lease_epoch, seq);
    let writer = Writer::spawn_for(store.clone(), runtime.node().clone());
    // `bad` repeats journal row 1, which its start wrote: a conflict no retry can fix.
    let (first, second, third) =
        tokio::join!(writer.commit(write(&good, 50)), writer.commit(write(&bad, 1)), writer.commit(write(&good, 51)));
    assert_eq!(first, Ok(()));
    assert!(matches!(second, Err(CommitError::Failed(_))), "{second:?}");
    assert_eq!(third, Ok(()));
    assert_eq!(instance(&store, &good.id).await.journal_seq, 51);
    assert_eq!(instance(&store, &bad.id).await.journal_seq, 1, "the failed write changed nothing");
    // The writer still writes.
    assert_eq!(writer.commit(write(&bad, 60)).await, Ok(()));
}
on_both!(a_write_that_fails_on_its_own_does_not_fail_its_batch);

/// A second `switchboard serve` on the SQLite file of a running one exits 1, naming the file and the pid
/// that holds it (issue 13).
#[tokio::test]
async fn a_second_process_on_one_sqlite_file_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("one.db");
    let url = format!("sqlite:{}", file.display());
    let serve = |port: u16| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--no-demo", "--log", "warn", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &url])
            .arg("--site-root")
            .arg(folder.path())
            .env("SWITCHBOARD_ADMIN_PASSWORD", "a-long-enough-password")
            .env_remove("SWITCHBOARD_SERVICES")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start switchboard")
    };
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let first_port = free_port();
    let mut first = serve(first_port);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + WITHIN;
    loop {
        assert!(first.try_wait().unwrap().is_none(), "the first process exited");
        let health = client.get(format!("http://127.0.0.1:{first_port}/api/health")).send().await;
        if health.is_ok_and(|response| response.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "the first process never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = serve(free_port()).wait_with_output().expect("second process");
    let _ = first.kill();
    let _ = first.wait();
    let message = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{message}");
    assert!(message.contains(&file.display().to_string()), "names the file: {message}");
    assert!(message.contains(&format!("pid {}", first.id())), "names the holder's pid: {message}");
}
