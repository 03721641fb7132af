//! Synthesized history: one finished instance of a definition, walked state by state the way the
//! runtime would have run it — random branches, retries, failures and compensations, human decisions,
//! waits — with durations drawn from a per-step profile. It yields exactly the rows the runtime writes
//! (instance, business keys, journal, step attempts, interventions) and the monitoring facts of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use engine::definition::OnFailure;
use engine::instance::Failure;
use engine::journal::{JournalEntry, Record};
use engine::{Definition, ErrorKind, Event, Instance, ServiceError, State, Status, StatusKind};

use crate::monitoring::facts::{self, Fact};
use crate::store::{InstanceRow, InterventionRow, JournalRow, StepRow};

/// How one step behaves: lognormal duration around `median_ms`, failure chance per attempt, and a
/// queue wait before the call goes out.
#[derive(Clone, Debug)]
pub struct Profile {
    pub median_ms: f64,
    pub sigma: f64,
    pub failure: f64,
    pub queue_ms: f64,
}

/// Everything one synthesized instance writes.
#[derive(Debug, Default)]
pub struct History {
    pub instance: Option<InstanceRow>,
    pub keys: Vec<(String, String)>,
    pub journal: Vec<JournalRow>,
    pub steps: Vec<StepRow>,
    pub interventions: Vec<InterventionRow>,
    pub facts: Vec<Fact>,
}

/// Walks definitions into histories. Deterministic for a seed.
pub struct Synth {
    rng: fastrand::Rng,
    profiles: BTreeMap<(String, String), Profile>,
}

/// One walk in progress.
struct Walk<'a> {
    def: &'a Definition,
    id: String,
    now: i64,
    /// Nothing may happen after this time: waits and human tasks are shortened to fit.
    limit: i64,
    seq: u64,
    entries: Vec<JournalEntry>,
    steps: Vec<StepRow>,
    interventions: Vec<InterventionRow>,
    /// Completed task states with a compensation, in completion order.
    compensable: Vec<(String, String, String)>,
}

/// How a walk ended.
enum End {
    Completed,
    Failed(Failure, bool),
}

impl Synth {
    pub fn new(seed: u64) -> Self {
        Self { rng: fastrand::Rng::with_seed(seed), profiles: BTreeMap::new() }
    }

    /// The profile of a step: drawn once per (workflow, state) from the seed, so each step has a
    /// character — most quick and reliable, some slow, some with a long tail, some flaky, one in a
    /// while queueing before its calls go out.
    fn profile(&mut self, workflow: &str, state: &str) -> Profile {
        let key = (workflow.to_string(), state.to_string());
        if let Some(profile) = self.profiles.get(&key) {
            return profile.clone();
        }
        let rng = &mut self.rng;
        let profile = Profile {
            median_ms: [15.0, 30.0, 60.0, 120.0, 250.0, 600.0][rng.usize(0..6)],
            sigma: if rng.f64() < 0.15 { 1.4 } else { 0.45 },
            failure: if rng.f64() < 0.15 { 0.08 + rng.f64() * 0.1 } else { rng.f64() * 0.02 },
            queue_ms: if rng.f64() < 0.1 { 150.0 } else { 3.0 },
        };
        self.profiles.insert(key, profile.clone());
        profile
    }

    fn lognormal(&mut self, median: f64, sigma: f64) -> i64 {
        // Box–Muller: a standard normal from two uniforms.
        let (u1, u2) = (self.rng.f64().max(1e-12), self.rng.f64());
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (median * (sigma * normal).exp()).round().clamp(0.0, 3_600_000.0) as i64
    }

    /// A finished instance of `def` started at `start`, numbered `n`, ending by `limit`.
    pub fn instance(&mut self, def: &Arc<Definition>, n: u64, start: i64, limit: i64) -> History {
        let id = format!("seed-{:08}-{}", n, crate::runtime::clock::new_id());
        let input = self.input(def, n);
        let mut walk = Walk {
            def,
            id: id.clone(),
            now: start,
            limit,
            seq: 1,
            entries: Vec::new(),
            steps: Vec::new(),
            interventions: Vec::new(),
            compensable: Vec::new(),
        };
        walk.note(Record::Applied { event: Event::Started { input: input.clone() } });
        walk.note(Record::StatusChanged { from: StatusKind::Created, to: StatusKind::Running });
        let end = self.run(&mut walk, &def.start_at.clone(), &def.states, None);
        let status = match end {
            End::Completed => {
                walk.note(Record::StatusChanged { from: StatusKind::Running, to: StatusKind::Completed });
                Status::Completed { output: json!({}) }
            }
            End::Failed(failure, compensate) if compensate && !walk.compensable.is_empty() => {
                walk.note(Record::StatusChanged { from: StatusKind::Running, to: StatusKind::Compensating });
                self.compensate(&mut walk);
                walk.note(Record::StatusChanged { from: StatusKind::Compensating, to: StatusKind::Compensated });
                Status::Compensated { failure }
            }
            End::Failed(failure, _) => {
                walk.note(Record::StatusChanged { from: StatusKind::Running, to: StatusKind::Failed });
                Status::Failed { failure, retry_from: None }
            }
        };
        walk.finish(input, status, def)
    }

    /// An input with the definition's business keys filled in (`input.call_id` → `call-000123`).
    fn input(&mut self, def: &Definition, n: u64) -> Value {
        let mut input = serde_json::Map::new();
        for path in &def.business_keys {
            if let Some(field) = path.strip_prefix("input.") {
                let stem = field.trim_end_matches("_id");
                let number = if field.contains("call") { n } else { n % 5_000 };
                input.insert(field.to_string(), json!(format!("{stem}-{number:06}")));
            }
        }
        input.insert("seeded".into(), json!(true));
        Value::Object(input)
    }

    /// Runs states from `start` in `states` until the run ends (or, inside a branch, reaches its end).
    fn run(&mut self, walk: &mut Walk, start: &str, states: &BTreeMap<String, State>, branch: Option<&str>) -> End {
        let mut current = start.to_string();
        for _ in 0..200 {
            let Some(state) = states.get(&current) else {
                return End::Failed(failure(&current, "definition.unknown_state", "unknown state"), false);
            };
            let entered = walk.now;
            walk.note(Record::StateEntered { state: current.clone(), branch: branch.map(str::to_string) });
            let next: Option<String> = match state {
                State::Task(task) => match self.task(walk, &current, task) {
                    Ok(()) => task.next.clone(),
                    Err(error) => {
                        walk.left(&current, entered);
                        match &task.on_failure {
                            OnFailure::Goto(target) => {
                                current = target.clone();
                                continue;
                            }
                            OnFailure::Fail => return End::Failed(error, false),
                            _ => return End::Failed(error, true),
                        }
                    }
                },
                State::Choice(choice) => {
                    let options: Vec<&String> =
                        choice.choices.iter().map(|rule| &rule.next).chain(choice.default.iter()).collect();
                    // The first rule is the usual path; the others share the rest.
                    let pick =
                        if options.len() > 1 && self.rng.f64() < 0.2 { self.rng.usize(1..options.len()) } else { 0 };
                    options.get(pick).map(|s| s.to_string())
                }
                State::Parallel(parallel) => {
                    let begin = walk.now;
                    let mut end = begin;
                    for branch_def in &parallel.branches {
                        walk.now = begin;
                        if let End::Failed(error, compensate) =
                            self.run(walk, &branch_def.start_at, &branch_def.states, Some(&branch_def.name))
                        {
                            walk.left(&current, entered);
                            return End::Failed(error, compensate);
                        }
                        end = end.max(walk.now);
                    }
                    walk.now = end;
                    parallel.next.clone()
                }
                State::Wait(wait) => {
                    let wanted = wait.duration_ms.map_or_else(|| 60_000 + self.rng.i64(0..600_000), |d| d as i64);
                    let timer_id = crate::runtime::clock::new_id();
                    walk.advance_bounded(wanted);
                    walk.note(Record::Applied { event: Event::TimerFired { timer_id } });
                    wait.next.clone()
                }
                State::Human(human) => {
                    let decision = &human.decisions
                        [self.rng.usize(0..human.decisions.len().max(1)).min(human.decisions.len().saturating_sub(1))];
                    let intervention_id = crate::runtime::clock::new_id();
                    walk.note(Record::InterventionOpened {
                        intervention_id: intervention_id.clone(),
                        kind: engine::InterventionKind::HumanTask,
                    });
                    let opened = walk.now;
                    // Reviewers answer in minutes to hours.
                    let wanted = self.lognormal(20.0 * 60_000.0, 1.0);
                    walk.advance_bounded(wanted);
                    walk.interventions.push(InterventionRow {
                        id: intervention_id.clone(),
                        instance_id: walk.id.clone(),
                        workflow: walk.def.name.clone(),
                        kind: app::wire::InterventionKind::HumanTask.as_str().into(),
                        state: current.clone(),
                        decisions: serde_json::to_string(&human.decisions.iter().map(|d| &d.name).collect::<Vec<_>>())
                            .unwrap_or_else(|_| "[]".into()),
                        assignee_group: Some(human.assignee_group.clone()),
                        priority: crate::runtime::convert::enum_text(&human.priority),
                        due_at: human.due_in_ms.map(|d| opened + d as i64),
                        reason: human.title.clone(),
                        status: "closed".into(),
                        opened_at: opened,
                        closed_at: Some(walk.now),
                    });
                    walk.note(Record::Applied {
                        event: Event::HumanDecided {
                            intervention_id,
                            decision: decision.name.clone(),
                            data: json!({}),
                            actor: "seed-reviewer".into(),
                            reason: "seeded decision".into(),
                        },
                    });
                    Some(decision.next.clone())
                }
                State::Succeed(_) => None,
                State::Fail(fail) => {
                    walk.left(&current, entered);
                    return End::Failed(failure(&current, &fail.error, &fail.message), fail.compensate);
                }
            };
            walk.left(&current, entered);
            match next {
                Some(next) => current = next,
                None => return End::Completed,
            }
        }
        End::Failed(failure(&current, "seed.too_long", "the walk did not end"), false)
    }

    /// A task's attempts; `Err` when they are exhausted.
    fn task(&mut self, walk: &mut Walk, state: &str, task: &engine::definition::TaskState) -> Result<(), Failure> {
        let profile = self.profile(&walk.def.name, state);
        let seq = walk.seq;
        walk.seq += 1;
        let key = format!("{}:{state}:{seq}", walk.id);
        let attempts = task.retry.max_attempts.max(1);
        for attempt in 1..=attempts {
            walk.note(Record::TaskScheduled {
                state: state.to_string(),
                step_id: key.clone(),
                service: task.service.clone(),
                idempotency_key: key.clone(),
                attempt,
            });
            let scheduled = walk.now;
            let started = scheduled + self.lognormal(profile.queue_ms, 0.8);
            let duration = self.lognormal(profile.median_ms, profile.sigma);
            walk.now = started + duration;
            let failed = self.rng.f64() < profile.failure;
            let kind = if self.rng.bool() { ErrorKind::Retryable } else { ErrorKind::Timeout };
            walk.steps.push(StepRow {
                instance_id: walk.id.clone(),
                step_id: key.clone(),
                attempt: i64::from(attempt),
                kind: "task".into(),
                workflow: walk.def.name.clone(),
                state: state.to_string(),
                service: task.service.clone(),
                action: task.action.clone(),
                idempotency_key: key.clone(),
                scheduled_at: scheduled,
                started_at: started,
                finished_at: walk.now,
                duration_ms: duration,
                outcome: if failed { crate::runtime::convert::enum_text(&kind) } else { "succeeded".into() },
                error: failed.then(|| format!("{} did not answer in time", task.service)),
            });
            if !failed {
                walk.note(Record::Applied {
                    event: Event::StepSucceeded { idempotency_key: key.clone(), attempt, output: json!({}) },
                });
                if let Some(compensation) = &task.compensation {
                    walk.compensable.push((
                        state.to_string(),
                        compensation.service.clone(),
                        compensation.action.clone(),
                    ));
                }
                return Ok(());
            }
            let error = ServiceError::new(kind, format!("{} did not answer in time", task.service));
            walk.note(Record::Applied { event: Event::StepFailed { idempotency_key: key.clone(), attempt, error } });
            if attempt < attempts {
                let delay = (task.retry.initial_delay_ms as f64 * task.retry.multiplier.powi(attempt as i32 - 1))
                    .min(task.retry.max_delay_ms as f64) as i64;
                walk.note(Record::RetryScheduled {
                    state: state.to_string(),
                    idempotency_key: key.clone(),
                    attempt,
                    delay_ms: u64::try_from(delay).unwrap_or(0),
                    fire_at_ms: walk.now + delay,
                });
                walk.now += delay;
                walk.note(Record::Applied { event: Event::TimerFired { timer_id: crate::runtime::clock::new_id() } });
            }
        }
        Err(failure(state, "step.retries_exhausted", &format!("{} failed {attempts} times", task.service)))
    }

    /// Undoes the completed compensable steps in reverse order (each compensation succeeds).
    fn compensate(&mut self, walk: &mut Walk) {
        for (state, service, action) in std::mem::take(&mut walk.compensable).into_iter().rev() {
            let key = format!("{}:{state}:compensate", walk.id);
            walk.note(Record::CompensationScheduled { state: state.clone(), idempotency_key: key.clone(), attempt: 1 });
            let scheduled = walk.now;
            let started = scheduled + self.lognormal(3.0, 0.5);
            let duration = self.lognormal(40.0, 0.5);
            walk.now = started + duration;
            walk.steps.push(StepRow {
                instance_id: walk.id.clone(),
                step_id: key.clone(),
                attempt: 1,
                kind: "compensation".into(),
                workflow: walk.def.name.clone(),
                state,
                service,
                action,
                idempotency_key: key.clone(),
                scheduled_at: scheduled,
                started_at: started,
                finished_at: walk.now,
                duration_ms: duration,
                outcome: "succeeded".into(),
                error: None,
            });
            walk.note(Record::Applied { event: Event::CompensationSucceeded { idempotency_key: key, attempt: 1 } });
        }
    }
}

fn failure(state: &str, code: &str, message: &str) -> Failure {
    Failure { state: Some(state.to_string()), code: code.to_string(), message: message.to_string() }
}

impl Walk<'_> {
    fn note(&mut self, record: Record) {
        self.entries.push(JournalEntry { at_ms: self.now, actor: None, reason: None, record });
    }

    fn left(&mut self, state: &str, entered: i64) {
        self.note(Record::StateLeft {
            state: state.to_string(),
            entered_at_ms: entered,
            duration_ms: self.now - entered,
        });
    }

    /// Moves time on by `wanted`, but never past the limit (less a margin for what follows).
    fn advance_bounded(&mut self, wanted: i64) {
        let room = ((self.limit - self.now) / 4).max(1_000);
        self.now += wanted.clamp(0, room);
    }

    /// The rows: the journal cut into one row per applied event (as the runtime writes them).
    fn finish(self, input: Value, status: Status, def: &Definition) -> History {
        let created = self.entries.first().map_or(self.now, |e| e.at_ms);
        let mut journal = Vec::new();
        let mut current: Vec<JournalEntry> = Vec::new();
        for entry in self.entries {
            if matches!(entry.record, Record::Applied { .. }) && !current.is_empty() {
                journal.push(std::mem::take(&mut current));
            }
            current.push(entry);
        }
        journal.push(current);
        let mut facts = Vec::new();
        let journal: Vec<JournalRow> = journal
            .into_iter()
            .enumerate()
            .map(|(i, entries)| {
                facts.extend(facts::facts_of_journal(&def.name, created, &entries));
                let event = match entries.first().map(|e| &e.record) {
                    Some(Record::Applied { event }) => event.name().to_string(),
                    _ => "transition".into(),
                };
                let (actor, reason) = entries.first().map_or((None, None), |e| match &e.record {
                    Record::Applied { event: Event::HumanDecided { actor, reason, .. } } => {
                        (Some(actor.clone()), Some(reason.clone()))
                    }
                    _ => (None, None),
                });
                JournalRow {
                    instance_id: self.id.clone(),
                    seq: i as i64 + 1,
                    at: entries.first().map_or(created, |e| e.at_ms),
                    event,
                    actor,
                    reason,
                    entries: serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into()),
                }
            })
            .collect();
        facts.extend(self.steps.iter().map(facts::fact_of_step));
        facts.extend(self.interventions.iter().map(facts::fact_of_intervention));
        let mut instance = Instance::new(def, self.id.clone(), created);
        instance.context = json!({"input": input, "steps": {}});
        instance.status = status;
        instance.updated_at_ms = self.now;
        instance.next_seq = self.seq;
        let keys: Vec<(String, String)> = def
            .business_keys
            .iter()
            .filter_map(|path| {
                let field = path.strip_prefix("input.")?;
                Some((path.clone(), input.get(field)?.as_str()?.to_string()))
            })
            .collect();
        instance.business_keys = keys.iter().cloned().collect();
        let row = crate::runtime::convert::instance_row(&instance, None, journal.len() as i64, self.now).ok();
        History {
            instance: row.map(|row| InstanceRow { finished_at: Some(self.now), ..row }),
            keys,
            journal,
            steps: self.steps,
            interventions: self.interventions,
            facts,
        }
    }
}
