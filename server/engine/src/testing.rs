//! Test helpers, public so the runtime's tests can use them too.
//!
//! * [`FixedEnv`]: a test clock you set and advance, counter ids (`id-1`, `id-2`, ...) and
//!   seeded deterministic randomness (xorshift64*).
//! * [`Harness`]: one instance plus its definition, env and accumulated journal, with
//!   shorthands to find what the last transition asked for.
//! * [`replay`]: re-applies recorded events to rebuild an instance.

use serde_json::Value;

use crate::definition::Definition;
use crate::effect::Effect;
use crate::env::Env;
use crate::error::Result;
use crate::event::Event;
use crate::instance::Instance;
use crate::journal::JournalEntry;
use crate::transition::{apply, start};

/// A deterministic [`Env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedEnv {
    now_ms: i64,
    next_id: u64,
    rng: u64,
}

impl FixedEnv {
    /// Clock at `now_ms`, ids from 1, randomness from `seed` (0 is replaced by a constant,
    /// because xorshift would stay at 0 forever).
    pub fn new(now_ms: i64, seed: u64) -> Self {
        FixedEnv { now_ms, next_id: 1, rng: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms = self.now_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
    }

    /// Sets the clock.
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// The current clock value (without counting as a read).
    pub fn now(&self) -> i64 {
        self.now_ms
    }
}

impl Env for FixedEnv {
    fn now_ms(&mut self) -> i64 {
        self.now_ms
    }

    fn new_id(&mut self) -> String {
        let id = format!("id-{}", self.next_id);
        self.next_id += 1;
        id
    }

    fn random_f64(&mut self) -> f64 {
        // xorshift64* (Vigna): tiny, fast, good enough for jitter and tests.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Re-applies `(time, event)` pairs to `initial`, setting `env`'s clock to each time first.
///
/// # Errors
/// The first error `apply` returns.
pub fn replay(def: &Definition, initial: &Instance, events: &[(i64, Event)], env: &mut FixedEnv) -> Result<Instance> {
    let mut inst = initial.clone();
    for (at, event) in events {
        env.set_now(*at);
        inst = apply(def, &inst, event.clone(), env)?.instance;
    }
    Ok(inst)
}

/// One instance under test.
#[derive(Debug, Clone)]
pub struct Harness {
    /// The definition.
    pub def: Definition,
    /// The instance as of the last transition.
    pub instance: Instance,
    /// The env used for every transition.
    pub env: FixedEnv,
    /// Every journal entry so far.
    pub journal: Vec<JournalEntry>,
    /// Effects of the last transition.
    pub effects: Vec<Effect>,
    /// Every effect so far, in order.
    pub all_effects: Vec<Effect>,
}

impl Harness {
    /// Starts an instance `inst-1` at time 1 000 000 with random seed 42.
    ///
    /// # Errors
    /// What [`start`] returns.
    pub fn start(def: Definition, input: Value) -> Result<Harness> {
        Harness::start_with(def, input, FixedEnv::new(1_000_000, 42))
    }

    /// Starts an instance `inst-1` with the given env.
    ///
    /// # Errors
    /// What [`start`] returns.
    pub fn start_with(def: Definition, input: Value, mut env: FixedEnv) -> Result<Harness> {
        let t = start(&def, "inst-1", input, &mut env)?;
        Ok(Harness {
            def,
            instance: t.instance,
            env,
            journal: t.journal,
            all_effects: t.effects.clone(),
            effects: t.effects,
        })
    }

    /// Applies an event; on success the harness moves on, on error nothing changes.
    ///
    /// # Errors
    /// What [`apply`] returns.
    pub fn apply(&mut self, event: Event) -> Result<&[Effect]> {
        let t = apply(&self.def, &self.instance, event, &mut self.env)?;
        self.instance = t.instance;
        self.journal.extend(t.journal);
        self.all_effects.extend(t.effects.iter().cloned());
        self.effects = t.effects;
        Ok(&self.effects)
    }

    /// `(idempotency_key, attempt, service)` of every `RunTask` of the last transition.
    pub fn run_tasks(&self) -> Vec<(String, u32, String)> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::RunTask { idempotency_key, attempt, service, .. } => {
                    Some((idempotency_key.clone(), *attempt, service.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// `(idempotency_key, attempt, state)` of every `RunCompensation` of the last transition.
    pub fn run_compensations(&self) -> Vec<(String, u32, String)> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::RunCompensation { idempotency_key, attempt, state, .. } => {
                    Some((idempotency_key.clone(), *attempt, state.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// `(timer_id, fire_at_ms)` of every `StartTimer` of the last transition.
    pub fn timers(&self) -> Vec<(String, i64)> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::StartTimer { timer_id, fire_at_ms, .. } => Some((timer_id.clone(), *fire_at_ms)),
                _ => None,
            })
            .collect()
    }

    /// The id of the intervention opened by the last transition, if any.
    pub fn opened_intervention(&self) -> Option<String> {
        self.effects.iter().find_map(|e| match e {
            Effect::OpenIntervention { intervention_id, .. } => Some(intervention_id.clone()),
            _ => None,
        })
    }

    /// The applied events with their times (input for [`replay`]).
    pub fn applied_events(&self) -> Vec<(i64, Event)> {
        crate::journal::applied_events(&self.journal).map(|(t, e)| (t, e.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_env_is_deterministic_and_in_range() {
        let mut a = FixedEnv::new(5, 7);
        let mut b = FixedEnv::new(5, 7);
        for _ in 0..1000 {
            let x = a.random_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.random_f64().to_bits());
        }
        assert_eq!(a.new_id(), "id-1");
        assert_eq!(a.new_id(), "id-2");
        a.advance(10);
        assert_eq!(a.now_ms(), 15);
        let mut z = FixedEnv::new(0, 0);
        assert!(z.random_f64() > 0.0);
    }
}
