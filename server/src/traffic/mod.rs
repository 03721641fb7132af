//! The demo traffic generator: a living marketplace for `switchboard serve` (off with `--no-demo`).
//!
//! [`Traffic::spawn`] first seeds a believable marketplace through the real onboarding workflows — a
//! handful of buyers with campaigns and bids covering every vertical, a handful of sellers whose
//! compliance reviews it approves — then starts workflows at [`TrafficConfig::rate_per_sec`]: mostly
//! call lifecycles, plus buyer and seller onboardings, disputes (simple ones and complex ones that wait
//! for manual review), payouts (some above the balance) and quality monitoring runs (some breaching).
//! Now and then it makes one simulated service slow or unreliable for a while through
//! [`FaultControl`](crate::marketplace::FaultControl), then restores it.
//!
//! [`mix`] decides what to start (pure, from a seeded random source); this module starts it and
//! follows each instance until it settles: it answers the human tasks the plan says to decide (a few
//! are left for people, to be worked in the console) and learns from what finished (live sellers,
//! charged calls and what each seller earned), so later disputes and payouts refer to real things.
//!
//! The load is bounded: at most [`TrafficConfig::max_in_flight`] started instances are followed at a
//! time, and no new one starts while all slots are taken. The generator stops when the application's
//! [`EventBus`](crate::events::EventBus) shuts down, or after [`TrafficConfig::limit`] starts.
//!
//! ```no_run
//! # async fn example(state: switchboard::state::AppState) {
//! use switchboard::traffic::{Traffic, TrafficConfig};
//! let traffic = Traffic::spawn(state.clone(), TrafficConfig::demo(5.0));
//! // … later, on shutdown:
//! state.events.shut_down();
//! let report = traffic.finish().await;
//! println!("{} workflows started", report.started.len());
//! # }
//! ```

pub mod mix;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::marketplace::{FaultSettings, Latency};
use crate::runtime::{convert, Runtime, StartRequest};
use crate::state::AppState;
use mix::{ChargedCall, Kind, Market, Mix, Planned, Review};

/// How the generator behaves.
#[derive(Clone, Debug)]
pub struct TrafficConfig {
    /// Workflows started per second (after the seed).
    pub rate_per_sec: f64,
    /// Seeds every random choice: the same seed gives the same sequence of starts and decisions.
    pub seed: u64,
    /// Part of every generated id, so runs on the same database do not collide.
    pub tag: String,
    /// At most this many started instances are in flight (not yet settled) at once.
    pub max_in_flight: usize,
    /// Stop after this many starts (seed included); `None` runs until shutdown.
    pub limit: Option<u64>,
    /// Buyers and sellers onboarded first.
    pub buyers: usize,
    pub sellers: usize,
    /// Human tasks left for people to work in the console; the generator decides the others.
    pub leave_for_people: usize,
    /// Chance (0–1), per start, that a fault episode begins when none is running.
    pub fault_chance: f64,
    /// How long a fault episode lasts.
    pub fault_duration: Duration,
    /// Settings every simulated service gets at start (believable latency), if any.
    pub ambient: Option<FaultSettings>,
    /// How long to follow one instance before giving up on it.
    pub follow_timeout: Duration,
}

/// Services a fault episode may strike: ones the call path and payouts depend on.
const FAULTY_SERVICES: &[&str] = &["billing", "ledger", "notifications", "payments", "routing", "telephony"];

impl TrafficConfig {
    /// The demo of `switchboard serve`: `rate_per_sec` starts a second, a fresh seed, a fault episode
    /// about every forty seconds, believable latency.
    pub fn demo(rate_per_sec: f64) -> Self {
        let rate = rate_per_sec.max(0.1);
        Self {
            rate_per_sec: rate,
            seed: fastrand::u64(..),
            tag: base36(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()),
            max_in_flight: 64,
            limit: None,
            buyers: 7,
            sellers: 5,
            leave_for_people: 4,
            fault_chance: 1.0 / (rate * 40.0),
            fault_duration: Duration::from_secs(10),
            ambient: Some(FaultSettings { latency: Latency { p50_ms: 20, p99_ms: 200 }, ..FaultSettings::none() }),
            follow_timeout: Duration::from_secs(300),
        }
    }
}

/// One instance the generator started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    pub id: String,
    pub workflow: &'static str,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every instance started, in order (a seed start that already existed is listed too).
    pub started: Vec<Started>,
    /// Fault episodes begun (each was restored before the run ended).
    pub fault_episodes: u32,
}

/// A running generator.
pub struct Traffic {
    task: JoinHandle<Report>,
    started: watch::Receiver<u64>,
}

impl Traffic {
    /// Starts the generator on its own task.
    pub fn spawn(state: AppState, config: TrafficConfig) -> Self {
        Self::spawn_while(state, config, None)
    }

    /// Starts the generator, to run while `leading` says `true` (and the server runs): the demo
    /// traffic of a cluster comes from its leader only.
    pub fn spawn_while(state: AppState, config: TrafficConfig, leading: Option<watch::Receiver<bool>>) -> Self {
        let (progress, started) = watch::channel(0);
        let task = tokio::spawn(run(state, config, progress, leading));
        Self { task, started }
    }

    /// Resolves once at least `count` instances were started (or the generator ended).
    pub async fn started_at_least(&self, count: u64) {
        let mut started = self.started.clone();
        let _ = started.wait_for(|started| *started >= count).await;
    }

    /// Waits for the generator to end — after its limit (once every instance it follows settled) or
    /// on shutdown — and returns what it did.
    pub async fn finish(self) -> Report {
        self.task.await.unwrap_or_else(|error| {
            tracing::error!(%error, "the traffic generator panicked");
            Report::default()
        })
    }
}

/// A fault episode in progress: which service, what it had before, until when.
struct Episode {
    service: String,
    before: FaultSettings,
    until: Instant,
}

async fn run(
    state: AppState,
    config: TrafficConfig,
    progress: watch::Sender<u64>,
    leading: Option<watch::Receiver<bool>>,
) -> Report {
    let events = state.events.clone();
    let stop = async move {
        let no_longer_leading = async move {
            match leading {
                Some(mut leading) => {
                    let _ = leading.wait_for(|leading| !*leading).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = events.stopping() => {}
            () = no_longer_leading => {}
        }
    };
    tokio::pin!(stop);
    if let Some(ambient) = config.ambient {
        for (service, _) in state.faults.list() {
            set_shared_faults(&state, &service, ambient).await;
        }
    }
    let driver = Driver {
        runtime: state.runtime.clone(),
        market: Arc::new(Mutex::new(Market::default())),
        slots: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
        follow_timeout: config.follow_timeout,
    };
    let mut mix = Mix::new(config.seed, &config.tag, config.leave_for_people);
    let mut followers = JoinSet::new();
    let mut report = Report::default();
    let limit = config.limit.unwrap_or(u64::MAX);
    let mut attempts = 0_u64;
    let mut stopped = false;

    // The seed, all at once (bounded by the slots), then wait until it settled: calls need buyers.
    for plan in mix.seed(config.buyers, config.sellers) {
        if attempts >= limit {
            break;
        }
        attempts += 1;
        let Some(slot) = driver.slot(&mut stop).await else {
            stopped = true;
            break;
        };
        let started = driver.start(slot, plan, &mut followers).await;
        record(&mut report, &progress, started);
    }
    if !stopped {
        stopped = drain(&mut followers, &mut stop).await;
    }
    tracing::info!(sellers = driver.market().sellers.len(), "demo marketplace seeded");

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / config.rate_per_sec.max(0.01)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut episode: Option<Episode> = None;
    while !stopped && attempts < limit {
        tokio::select! {
            biased;
            _ = &mut stop => { stopped = true; break; }
            _ = ticker.tick() => {}
        }
        if episode.as_ref().is_some_and(|episode| Instant::now() >= episode.until) {
            end_episode(&state, episode.take()).await;
        }
        if episode.is_none() && config.fault_chance > 0.0 && mix.rng().f64() < config.fault_chance {
            episode = begin_episode(&state, mix.rng(), config.fault_duration).await;
            report.fault_episodes += u32::from(episode.is_some());
        }
        let plan = mix.next(&mut driver.market());
        attempts += 1;
        let Some(slot) = driver.slot(&mut stop).await else {
            stopped = true;
            break;
        };
        let started = driver.start(slot, plan, &mut followers).await;
        record(&mut report, &progress, started);
    }
    end_episode(&state, episode.take()).await;
    if stopped {
        // Shutting down: the instances themselves are durable and resume on the next start; only
        // the following stops.
        followers.shutdown().await;
    } else {
        drain(&mut followers, &mut stop).await;
    }
    tracing::info!(started = report.started.len(), "demo traffic stopped");
    report
}

fn record(report: &mut Report, progress: &watch::Sender<u64>, started: Option<Started>) {
    if let Some(started) = started {
        report.started.push(started);
        progress.send_replace(report.started.len() as u64);
    }
}

/// Waits for every follower; `true` when shutdown came first (the rest are stopped).
async fn drain(followers: &mut JoinSet<()>, stop: &mut Pin<&mut impl Future<Output = ()>>) -> bool {
    loop {
        tokio::select! {
            biased;
            _ = stop.as_mut() => {
                followers.shutdown().await;
                return true;
            }
            next = followers.join_next() => if next.is_none() { return false },
        }
    }
}

/// Makes one simulated service slow or unreliable. `None` when none of the candidates is simulated.
async fn begin_episode(state: &AppState, rng: &mut fastrand::Rng, duration: Duration) -> Option<Episode> {
    let candidates: Vec<&str> =
        FAULTY_SERVICES.iter().copied().filter(|name| state.faults.get(name).is_some()).collect();
    if candidates.is_empty() {
        return None;
    }
    let service = candidates[rng.usize(0..candidates.len())];
    let before = state.faults.get(service)?;
    let trouble = if rng.bool() {
        FaultSettings { failure_rate: 0.2 + rng.f64() * 0.4, ..before }
    } else {
        FaultSettings { latency: Latency { p50_ms: 300, p99_ms: 2_500 }, timeout_rate: 0.05, ..before }
    };
    if !set_shared_faults(state, service, trouble).await {
        return None;
    }
    tracing::info!(service, ?trouble, "demo fault episode begins");
    Some(Episode { service: service.to_string(), before, until: Instant::now() + duration })
}

/// Sets a simulated service's faults here and for every other node (the demo traffic runs on the
/// leader; its fault episodes hold everywhere). `false` if the settings were refused.
async fn set_shared_faults(state: &AppState, service: &str, settings: FaultSettings) -> bool {
    if state.faults.set(service, settings).is_err() {
        return false;
    }
    match crate::cluster::controls::store_faults(state.runtime.store(), service, &settings, None).await {
        Ok(version) => crate::cluster::controls::mark_applied(state, service, Some(version), None),
        Err(error) => tracing::warn!(%error, service, "cannot share the demo's fault settings with the other nodes"),
    }
    true
}

async fn end_episode(state: &AppState, episode: Option<Episode>) {
    if let Some(episode) = episode {
        set_shared_faults(state, &episode.service, episode.before).await;
        tracing::info!(service = episode.service, "demo fault episode ends");
    }
}

/// What starts and follows instances.
#[derive(Clone)]
struct Driver {
    runtime: Runtime,
    market: Arc<Mutex<Market>>,
    slots: Arc<Semaphore>,
    follow_timeout: Duration,
}

impl Driver {
    fn market(&self) -> std::sync::MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a free slot; `None` when shutdown comes first.
    async fn slot(&self, stop: &mut Pin<&mut impl Future<Output = ()>>) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            biased;
            _ = stop.as_mut() => None,
            slot = self.slots.clone().acquire_owned() => slot.ok(),
        }
    }

    /// Starts the plan and follows the instance on `followers`, which frees the slot once it
    /// settled. `None` when the start was refused (logged). Not cancelled by shutdown: a start that
    /// began is finished, so every instance the generator made is in its [`Report`].
    async fn start(&self, slot: OwnedSemaphorePermit, plan: Planned, followers: &mut JoinSet<()>) -> Option<Started> {
        let workflow = plan.kind.workflow();
        let request = StartRequest {
            workflow: workflow.to_string(),
            input: plan.input.clone(),
            idempotency_key: plan.idempotency_key.clone(),
            ..StartRequest::default()
        };
        match self.runtime.start_instance(request).await {
            Ok(started) => {
                let id = started.instance.id.clone();
                let driver = self.clone();
                followers.spawn(async move {
                    driver.follow(&id, plan).await;
                    drop(slot);
                });
                Some(Started { id: started.instance.id, workflow })
            }
            Err(error) => {
                tracing::warn!(workflow, %error, "demo traffic could not start a workflow");
                None
            }
        }
    }

    /// Waits until the instance settles, decides its human task if the plan says so, and learns from
    /// the outcome.
    async fn follow(&self, id: &str, plan: Planned) {
        let Ok(mut row) = self.runtime.wait_settled(id, self.follow_timeout).await else { return };
        if row.status == "waiting" {
            if let Some(Review::Decide(decision)) = plan.review {
                match self.decide(id, decision).await {
                    Ok(true) => match self.runtime.wait_settled(id, self.follow_timeout).await {
                        Ok(settled) => row = settled,
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(error) => tracing::warn!(instance = id, %error, "demo reviewer could not decide"),
                }
            }
        }
        if row.status != "completed" {
            return;
        }
        let Ok(instance) = convert::instance_of(&row) else { return };
        let engine::Status::Completed { output } = &instance.status else { return };
        let text = |value: &Value, field: &str| value[field].as_str().map(str::to_string);
        match plan.kind {
            Kind::SellerOnboarding => {
                if let Some(seller) = text(&plan.input, "seller_id") {
                    self.market().live(&seller);
                }
            }
            Kind::Call => {
                let charge = output["charge_minor"].as_i64().unwrap_or_default();
                let fee = output["fee_minor"].as_i64().unwrap_or_default();
                if let (Some(call_id), Some(buyer_id), Some(seller_id), true) =
                    (text(output, "call_id"), text(output, "buyer_id"), text(&plan.input, "seller_id"), charge > 0)
                {
                    self.market().charged(ChargedCall { call_id, buyer_id, seller_id, charge_minor: charge }, fee);
                }
            }
            _ => {}
        }
    }

    /// Answers the instance's open human task with `decision`. `Ok(false)` when there is none (it
    /// waits on something else).
    async fn decide(&self, id: &str, decision: &str) -> Result<bool, crate::runtime::Error> {
        let open = self.runtime.store().interventions_of(id).await?;
        let Some(task) = open.into_iter().find(|i| i.status == "open" && i.kind == "human_task") else {
            return Ok(false);
        };
        let event = engine::Event::HumanDecided {
            intervention_id: task.id,
            decision: decision.to_string(),
            data: Value::Object(Default::default()),
            actor: "demo-reviewer".into(),
            reason: format!("demo traffic: {decision}"),
        };
        self.runtime.send(id, event).await?;
        Ok(true)
    }
}

fn base36(mut value: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut text = Vec::new();
    loop {
        text.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    text.reverse();
    String::from_utf8(text).unwrap_or_default()
}
