//! `switchboard seed`: fills a store with realistic finished history, fast, for demos and benchmarks.
//!
//! Instances of the registered workflows are synthesized ([`synth`]) with start times spread over the
//! last `--days` days (a marketplace mix: mostly calls, some onboardings, disputes, payouts and quality
//! checks, one daily settlement a day), walked through their definitions with random branches,
//! retries, failures, compensations and human decisions. They are written in chunks, each in one
//! transaction with its rollup rows — the rows the runtime would have written, and the rollups it would
//! have kept, so monitoring over seeded history equals a recomputation from it. A progress bar on
//! stderr shows how far it got.
//!
//! Run it on a database no server is using at the time (the server's writer keeps the newest rollup
//! buckets in memory and would not see the seeded rows in them).

pub mod synth;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use crate::db::DatabaseUrl;
use crate::monitoring::rollup::Rollups;
use crate::state::AppState;
use crate::store::TransitionWrite;

/// What `switchboard seed` writes, and where (the command line's `seed` flags, as values).
#[derive(Clone, Debug)]
pub struct Config {
    /// The database to seed.
    pub database: DatabaseUrl,
    /// How many instances to add.
    pub instances: u64,
    /// Spread their start times over this many days up to now.
    pub days: u32,
    /// Seeds every random choice.
    pub seed: u64,
    /// Instances per transaction.
    pub chunk: u64,
}

/// What a seed run wrote.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    pub instances: u64,
    pub journal_rows: u64,
    pub step_rows: u64,
    pub seconds: f64,
}

/// The share of starts per workflow type; types not listed get a small share, the daily settlement
/// runs once a day.
const MIX: &[(&str, f64)] = &[
    ("call-lifecycle", 0.64),
    ("payout-processing", 0.08),
    ("quality-monitoring", 0.08),
    ("dispute-resolution", 0.08),
    ("buyer-onboarding", 0.06),
    ("seller-onboarding", 0.06),
];
const DAILY: &str = "daily-settlement";
const DAY_MS: i64 = 86_400_000;

/// Runs `switchboard seed`: opens the database (migrating it and registering the marketplace
/// workflows), seeds, and prints a summary.
///
/// # Errors
/// The database cannot be opened or a write fails.
pub async fn run(args: Config) -> anyhow::Result<()> {
    let serve = crate::serve::Config { no_demo: true, ..crate::serve::Config::defaults_on(&args.database) };
    let state = crate::serve::build_state(&serve).await?;
    let mut bar = ProgressBar::new(args.instances);
    let report = seed(&state, &args, |done| bar.update(done)).await?;
    bar.finish();
    println!(
        "seeded {} instances ({} journal rows, {} step attempts) in {:.1} s: {:.0} instances/s",
        report.instances,
        report.journal_rows,
        report.step_rows,
        report.seconds,
        report.instances as f64 / report.seconds.max(0.001)
    );
    state.events.shut_down();
    Ok(())
}

/// Seeds `args.instances` instances into the state's store; `progress` is told how many are written.
///
/// # Errors
/// A write fails (the chunk being written is rolled back whole).
pub async fn seed(state: &AppState, args: &Config, mut progress: impl FnMut(u64)) -> anyhow::Result<SeedReport> {
    let began = Instant::now();
    let store = state.runtime.store();
    let definitions: Vec<Arc<engine::Definition>> = {
        let mut latest = std::collections::BTreeMap::new();
        for definition in state.runtime.definitions() {
            latest.insert(definition.name.clone(), definition);
        }
        latest.into_values().collect()
    };
    anyhow::ensure!(!definitions.is_empty(), "no workflows are registered to seed instances of");
    let weights: Vec<(Arc<engine::Definition>, f64)> = definitions
        .iter()
        .filter(|d| d.name != DAILY)
        .map(|d| (d.clone(), MIX.iter().find(|(name, _)| *name == d.name).map_or(0.01, |(_, w)| *w)))
        .collect();
    let total_weight: f64 = weights.iter().map(|(_, w)| w).sum();
    let daily = definitions.iter().find(|d| d.name == DAILY).cloned();

    let now = state.runtime.now_ms();
    let span = i64::from(args.days) * DAY_MS;
    let first = now - span;
    let mut synth = synth::Synth::new(args.seed);
    let mut rng = fastrand::Rng::with_seed(args.seed ^ 0x5eed);
    let mut report = SeedReport::default();
    let mut written = 0u64;
    let mut last_day: Option<i64> = None;
    let base = store.count_instances(&crate::store::InstanceFilter::default()).await? as u64;
    while written < args.instances {
        let count = args.chunk.min(args.instances - written);
        let mut writes: Vec<TransitionWrite> = Vec::new();
        let mut delta = Rollups::default();
        for i in written..written + count {
            // Starts in time order, so a chunk touches a narrow band of rollup buckets.
            let start = first + (span as f64 * (i as f64 + rng.f64()) / args.instances as f64) as i64;
            let pick = rng.f64() * total_weight;
            let mut acc = 0.0;
            let mut def = &weights[0].0;
            for (candidate, weight) in &weights {
                acc += weight;
                if pick <= acc {
                    def = candidate;
                    break;
                }
            }
            // One settlement a day: the first instance of each day (counted from 00:05 UTC).
            let day = (start - 5 * 60_000).div_euclid(DAY_MS);
            let def = match &daily {
                Some(daily) if last_day.is_some_and(|last| last != day) => daily,
                _ => def,
            };
            last_day = Some(day);
            let history = synth.instance(def, base + i, start, now);
            report.journal_rows += history.journal.len() as u64;
            report.step_rows += history.steps.len() as u64;
            for fact in &history.facts {
                delta.add(fact);
            }
            let mut journal = history.journal.into_iter();
            writes.push(TransitionWrite {
                instance: history.instance,
                keys: history.keys,
                journal: journal.next(),
                steps: history.steps,
                interventions_opened: history.interventions,
                ..TransitionWrite::default()
            });
            writes.extend(journal.map(|row| TransitionWrite { journal: Some(row), ..TransitionWrite::default() }));
        }
        let merged = store.stored_plus(&delta).await?;
        store.commit_with_rollups(&writes, &(&merged).into()).await?;
        written += count;
        report.instances = written;
        progress(written);
    }
    report.seconds = began.elapsed().as_secs_f64();
    Ok(report)
}

/// A one-line progress bar on stderr: `[#####-----]  52% 520,000/1,000,000 · 41,200/s · 12 s left`.
/// Redrawn in place on a terminal; elsewhere a line every tenth.
struct ProgressBar {
    total: u64,
    began: Instant,
    terminal: bool,
    last_tenth: u64,
}

impl ProgressBar {
    fn new(total: u64) -> Self {
        use std::io::IsTerminal as _;
        Self { total: total.max(1), began: Instant::now(), terminal: std::io::stderr().is_terminal(), last_tenth: 0 }
    }

    fn update(&mut self, done: u64) {
        let fraction = done as f64 / self.total as f64;
        let tenth = (fraction * 10.0) as u64;
        if !self.terminal && tenth == self.last_tenth && done < self.total {
            return;
        }
        self.last_tenth = tenth;
        let elapsed = self.began.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / elapsed;
        let left = if rate > 0.0 { (self.total - done) as f64 / rate } else { 0.0 };
        let filled = (fraction * 30.0).round() as usize;
        let line = format!(
            "[{}{}] {:>3.0}% {}/{} · {:.0}/s · {:.0} s left",
            "#".repeat(filled),
            "-".repeat(30 - filled.min(30)),
            fraction * 100.0,
            done,
            self.total,
            rate,
            left
        );
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}
