//! Rollups: counts and duration sketches per workflow type (and per state of it) and time bucket.
//!
//! [`Rollups`] is the in-memory form: two ordered maps, one keyed by [`WorkflowKey`] (resolution,
//! bucket, workflow) holding [`WorkflowCounts`], one keyed by [`StateKey`] (… and state) holding
//! [`StateCounts`]. [`Rollups::add`] counts one [`Fact`] in its bucket at every resolution in
//! [`RESOLUTIONS`] (minute, hour, day, UTC-aligned); [`Rollups::merge`] adds another rollup in. Every
//! counter is a sum and every sketch merges exactly, so the rollup of a history is the same whether it was
//! built fact by fact as transitions committed, in batches, or all at once from the stored history — the
//! property the recomputation tests check.
//!
//! ```
//! use switchboard::monitoring::facts::{Fact, Outcome};
//! use switchboard::monitoring::rollup::{Rollups, WorkflowKey, HOUR};
//!
//! let mut rollups = Rollups::default();
//! rollups.add(&Fact::Started { workflow: "payout".into(), at: 3_600_500 });
//! rollups.add(&Fact::Finished { workflow: "payout".into(), outcome: Outcome::Completed, at: 3_601_700, duration_ms: 1_200 });
//! let hour = &rollups.workflows[&WorkflowKey { resolution_ms: HOUR, bucket_ms: 3_600_000, workflow: "payout".into() }];
//! assert_eq!((hour.started, hour.completed), (1, 1));
//! assert_eq!(hour.duration.quantile(0.5), Some(1_200));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{Fact, Outcome};
use super::sketch::DurationSketch;

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;
/// The bucket widths every fact is counted at.
pub const RESOLUTIONS: [i64; 3] = [MINUTE, HOUR, DAY];

/// The start of the bucket of width `resolution_ms` holding `at` (buckets are aligned to the epoch, UTC).
pub fn bucket_of(at: i64, resolution_ms: i64) -> i64 {
    at.div_euclid(resolution_ms) * resolution_ms
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkflowKey {
    pub resolution_ms: i64,
    pub bucket_ms: i64,
    pub workflow: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey {
    pub resolution_ms: i64,
    pub bucket_ms: i64,
    pub workflow: String,
    pub state: String,
}

/// What happened to instances of one workflow type in one bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkflowCounts {
    pub started: i64,
    pub completed: i64,
    pub failed: i64,
    pub compensated: i64,
    pub cancelled: i64,
    /// Interventions opened (human tasks, exhausted retries, failed compensations).
    pub interventions: i64,
    /// Creation-to-completion time of the instances that completed.
    pub duration: DurationSketch,
}

impl WorkflowCounts {
    pub fn merge(&mut self, other: &WorkflowCounts) {
        self.started += other.started;
        self.completed += other.completed;
        self.failed += other.failed;
        self.compensated += other.compensated;
        self.cancelled += other.cancelled;
        self.interventions += other.interventions;
        self.duration.merge(&other.duration);
    }

    /// Instances that reached an outcome.
    pub fn finished(&self) -> i64 {
        self.completed + self.failed + self.compensated + self.cancelled
    }
}

/// What happened in one state of one workflow type in one bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Times the state was entered.
    pub entered: i64,
    /// Finished task attempts, and how many of them failed or were retries.
    pub attempts: i64,
    pub failures: i64,
    pub retries: i64,
    /// Finished compensation attempts, and how many of them failed.
    pub compensations: i64,
    pub compensation_failures: i64,
    pub interventions: i64,
    /// Time from entering the state to leaving it (one sample per exit).
    pub time_in_state: DurationSketch,
    /// Duration of each task attempt (the call alone).
    pub attempt_duration: DurationSketch,
    /// Wait between asking for a call and the call going out.
    pub queue_wait: DurationSketch,
}

impl StateCounts {
    pub fn merge(&mut self, other: &StateCounts) {
        self.entered += other.entered;
        self.attempts += other.attempts;
        self.failures += other.failures;
        self.retries += other.retries;
        self.compensations += other.compensations;
        self.compensation_failures += other.compensation_failures;
        self.interventions += other.interventions;
        self.time_in_state.merge(&other.time_in_state);
        self.attempt_duration.merge(&other.attempt_duration);
        self.queue_wait.merge(&other.queue_wait);
    }
}

/// Rollup rows by key; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollups {
    pub workflows: BTreeMap<WorkflowKey, WorkflowCounts>,
    pub states: BTreeMap<StateKey, StateCounts>,
}

impl Rollups {
    pub fn is_empty(&self) -> bool {
        self.workflows.is_empty() && self.states.is_empty()
    }

    /// The rollup of these facts.
    pub fn of<'a>(facts: impl IntoIterator<Item = &'a Fact>) -> Rollups {
        let mut rollups = Rollups::default();
        for fact in facts {
            rollups.add(fact);
        }
        rollups
    }

    /// Counts one fact in its bucket at every resolution.
    pub fn add(&mut self, fact: &Fact) {
        for resolution_ms in RESOLUTIONS {
            self.add_at(fact, resolution_ms);
        }
    }

    /// Counts one fact at one resolution only.
    pub fn add_at(&mut self, fact: &Fact, resolution_ms: i64) {
        let bucket_ms = bucket_of(fact.at(), resolution_ms);
        let ms = |value: i64| u64::try_from(value).unwrap_or(0);
        match fact {
            Fact::Started { workflow, .. } => self.workflow(resolution_ms, bucket_ms, workflow).started += 1,
            Fact::Finished { workflow, outcome, duration_ms, .. } => {
                let counts = self.workflow(resolution_ms, bucket_ms, workflow);
                match outcome {
                    Outcome::Completed => {
                        counts.completed += 1;
                        counts.duration.record(ms(*duration_ms));
                    }
                    Outcome::Failed => counts.failed += 1,
                    Outcome::Compensated => counts.compensated += 1,
                    Outcome::Cancelled => counts.cancelled += 1,
                }
            }
            Fact::Entered { workflow, state, .. } => self.state(resolution_ms, bucket_ms, workflow, state).entered += 1,
            Fact::Left { workflow, state, duration_ms, .. } => {
                self.state(resolution_ms, bucket_ms, workflow, state).time_in_state.record(ms(*duration_ms));
            }
            Fact::Attempt { workflow, state, compensation, duration_ms, queue_wait_ms, failed, retry, .. } => {
                let counts = self.state(resolution_ms, bucket_ms, workflow, state);
                if *compensation {
                    counts.compensations += 1;
                    counts.compensation_failures += i64::from(*failed);
                } else {
                    counts.attempts += 1;
                    counts.failures += i64::from(*failed);
                    counts.retries += i64::from(*retry);
                    counts.attempt_duration.record(ms(*duration_ms));
                    counts.queue_wait.record(ms(*queue_wait_ms));
                }
            }
            Fact::InterventionOpened { workflow, state, .. } => {
                self.workflow(resolution_ms, bucket_ms, workflow).interventions += 1;
                self.state(resolution_ms, bucket_ms, workflow, state).interventions += 1;
            }
        }
    }

    /// Adds every row of `other` into this rollup.
    pub fn merge(&mut self, other: &Rollups) {
        for (key, counts) in &other.workflows {
            self.workflows.entry(key.clone()).or_default().merge(counts);
        }
        for (key, counts) in &other.states {
            self.states.entry(key.clone()).or_default().merge(counts);
        }
    }

    /// The `(resolution, bucket)` pairs that have rows.
    pub fn buckets(&self) -> BTreeSet<(i64, i64)> {
        let workflows = self.workflows.keys().map(|k| (k.resolution_ms, k.bucket_ms));
        let states = self.states.keys().map(|k| (k.resolution_ms, k.bucket_ms));
        workflows.chain(states).collect()
    }

    /// Keeps only the rows of buckets for which `keep(resolution, bucket)` holds.
    pub fn retain_buckets(&mut self, mut keep: impl FnMut(i64, i64) -> bool) {
        self.workflows.retain(|k, _| keep(k.resolution_ms, k.bucket_ms));
        self.states.retain(|k, _| keep(k.resolution_ms, k.bucket_ms));
    }

    /// Keeps only the rows whose keys `other` has.
    pub fn retain_keys_of(&mut self, other: &Rollups) {
        self.workflows.retain(|k, _| other.workflows.contains_key(k));
        self.states.retain(|k, _| other.states.contains_key(k));
    }

    fn workflow(&mut self, resolution_ms: i64, bucket_ms: i64, workflow: &str) -> &mut WorkflowCounts {
        self.workflows.entry(WorkflowKey { resolution_ms, bucket_ms, workflow: workflow.to_string() }).or_default()
    }

    fn state(&mut self, resolution_ms: i64, bucket_ms: i64, workflow: &str, state: &str) -> &mut StateCounts {
        self.states
            .entry(StateKey { resolution_ms, bucket_ms, workflow: workflow.to_string(), state: state.to_string() })
            .or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(at: i64, duration_ms: i64, failed: bool, retry: bool) -> Fact {
        Fact::Attempt {
            workflow: "w".into(),
            state: "s".into(),
            compensation: false,
            at,
            duration_ms,
            queue_wait_ms: 3,
            failed,
            retry,
        }
    }

    #[test]
    fn buckets_are_utc_aligned_and_floor_negative_times() {
        assert_eq!(bucket_of(3_599_999, HOUR), 0);
        assert_eq!(bucket_of(3_600_000, HOUR), 3_600_000);
        assert_eq!(bucket_of(-1, MINUTE), -60_000);
    }

    #[test]
    fn a_fact_is_counted_once_per_resolution() {
        let rollups = Rollups::of(&[attempt(90_000, 40, true, false)]);
        assert_eq!(rollups.states.len(), 3);
        for (key, counts) in &rollups.states {
            assert_eq!(key.bucket_ms, bucket_of(90_000, key.resolution_ms));
            assert_eq!((counts.attempts, counts.failures, counts.retries), (1, 1, 0));
            assert_eq!(counts.attempt_duration.count(), 1);
        }
    }

    #[test]
    fn building_fact_by_fact_equals_merging_halves() {
        let facts: Vec<Fact> = (0..200).map(|i| attempt(i * 7_919, i % 17, i % 5 == 0, i % 3 == 0)).collect();
        let whole = Rollups::of(&facts);
        let mut halves = Rollups::of(&facts[..77]);
        halves.merge(&Rollups::of(&facts[77..]));
        assert_eq!(whole, halves);
    }
}
