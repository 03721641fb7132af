//! Simulated faults: how slow and how unreliable each simulated service is, changeable while running.
//!
//! [`FaultSettings`] is plain data (serde, for the HTTP API and the console): a [`Latency`]
//! distribution and the rates of three kinds of trouble. [`Faults`] is one service's live handle to its
//! settings; [`FaultControl`] is the registry of those handles by service name, shared by the services
//! (which read it on every call) and the operator API (which changes it).
//!
//! Failures and timeouts strike *before* anything is applied; a lost reply strikes *after* the effect
//! is committed, which is how a real caller ends up delivering the same request twice.
//!
//! ```
//! use switchboard::marketplace::faults::{FaultControl, FaultSettings};
//! let control = FaultControl::new();
//! let ledger = control.handle("ledger"); // what the `ledger` service holds
//! control.set("ledger", FaultSettings { failure_rate: 0.1, ..FaultSettings::default() }).unwrap();
//! assert_eq!(ledger.get().failure_rate, 0.1);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A log-normal latency whose median is `p50_ms` and whose 99th percentile is `p99_ms`: most calls are
/// quick, a few are slow, as with real services. Both zero means no delay at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: u64,
    pub p99_ms: u64,
}

/// The z-score of the 99th percentile of a normal distribution.
const Z_99: f64 = 2.326_347_874;

impl Latency {
    /// Draws one delay. Capped at ten times p99 so a single draw cannot stall a run.
    pub fn sample(&self) -> Duration {
        if self.p99_ms == 0 {
            return Duration::ZERO;
        }
        let p50 = self.p50_ms.max(1) as f64;
        let p99 = (self.p99_ms as f64).max(p50);
        let sigma = (p99.ln() - p50.ln()) / Z_99;
        // Box–Muller: one standard normal from two uniforms (the first kept away from 0 for ln).
        let u1 = fastrand::f64().max(f64::MIN_POSITIVE);
        let u2 = fastrand::f64();
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let millis = (p50.ln() + sigma * normal).exp().min(p99 * 10.0);
        Duration::from_micros((millis * 1000.0) as u64)
    }
}

/// One service's simulated behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultSettings {
    pub latency: Latency,
    /// Share of calls (0–1) that fail with a retryable error and apply nothing.
    pub failure_rate: f64,
    /// Share of calls (0–1) that hang until the caller's deadline and apply nothing.
    pub timeout_rate: f64,
    /// Share of calls (0–1) that apply their effect but whose answer is lost (the caller sees a
    /// timeout and, rightly, tries again with the same key).
    pub lost_reply_rate: f64,
}

impl FaultSettings {
    /// No delay, no faults: what tests use.
    pub fn none() -> Self {
        Self::default()
    }

    /// A believable default for the demo: quick, rarely failing.
    pub fn demo() -> Self {
        Self { latency: Latency { p50_ms: 20, p99_ms: 200 }, failure_rate: 0.02, ..Self::default() }
    }

    /// Checks the rates lie in 0–1 and p99 is not below p50.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first bad field.
    pub fn validate(&self) -> Result<(), Error> {
        for (field, rate) in [
            ("failure_rate", self.failure_rate),
            ("timeout_rate", self.timeout_rate),
            ("lost_reply_rate", self.lost_reply_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(Error::Invalid { field, problem: "must be between 0 and 1" });
            }
        }
        if self.latency.p99_ms < self.latency.p50_ms {
            return Err(Error::Invalid { field: "latency.p99_ms", problem: "must not be below latency.p50_ms" });
        }
        Ok(())
    }
}

/// What one call should suffer, decided before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Fail with a retryable error before applying anything.
    Fail,
    /// Hang until the caller's deadline, apply nothing.
    Timeout,
    /// Apply, then answer with a timeout.
    LoseReply,
}

/// Errors of the fault settings.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("invalid fault settings: `{field}` {problem}")]
    Invalid { field: &'static str, problem: &'static str },
    #[error("no simulated service named `{0}`")]
    UnknownService(String),
}

/// One service's live settings. Shared (`Arc`) between the service and [`FaultControl`].
#[derive(Debug, Default)]
pub struct Faults {
    settings: RwLock<FaultSettings>,
}

impl Faults {
    /// The settings now.
    pub fn get(&self) -> FaultSettings {
        *self.settings.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the settings; calls already running keep what they drew.
    pub fn set(&self, settings: FaultSettings) {
        *self.settings.write().unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
    }

    /// Draws the fault for one call (one uniform draw split among the rates, so they add up).
    pub fn draw(&self) -> (Duration, Fault) {
        let settings = self.get();
        let roll = fastrand::f64();
        let fault = if roll < settings.failure_rate {
            Fault::Fail
        } else if roll < settings.failure_rate + settings.timeout_rate {
            Fault::Timeout
        } else if roll < settings.failure_rate + settings.timeout_rate + settings.lost_reply_rate {
            Fault::LoseReply
        } else {
            Fault::None
        };
        (settings.latency.sample(), fault)
    }
}

/// The fault handles of every simulated service, by name. Cheap to clone; clones share the handles.
#[derive(Clone, Debug, Default)]
pub struct FaultControl {
    services: Arc<RwLock<BTreeMap<String, Arc<Faults>>>>,
}

impl FaultControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// The handle of `service`, created with no faults on first use (services call this when they are
    /// built, so a registered service is always listed).
    pub fn handle(&self, service: &str) -> Arc<Faults> {
        let mut services = self.services.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        services.entry(service.to_string()).or_default().clone()
    }

    /// Changes the settings of a registered service.
    ///
    /// # Errors
    /// [`Error::UnknownService`] for a name no service registered; [`Error::Invalid`] for bad settings.
    pub fn set(&self, service: &str, settings: FaultSettings) -> Result<(), Error> {
        settings.validate()?;
        let services = self.services.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let faults = services.get(service).ok_or_else(|| Error::UnknownService(service.to_string()))?;
        faults.set(settings);
        Ok(())
    }

    /// Applies the same settings to every registered service (the demo's "occasional faults").
    ///
    /// # Errors
    /// [`Error::Invalid`] for bad settings.
    pub fn set_all(&self, settings: FaultSettings) -> Result<(), Error> {
        settings.validate()?;
        for faults in self.services.read().unwrap_or_else(std::sync::PoisonError::into_inner).values() {
            faults.set(settings);
        }
        Ok(())
    }

    /// The settings of `service`, if it is registered.
    pub fn get(&self, service: &str) -> Option<FaultSettings> {
        self.services.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(service).map(|f| f.get())
    }

    /// Every registered service with its settings, by name.
    pub fn list(&self) -> Vec<(String, FaultSettings)> {
        let services = self.services.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        services.iter().map(|(name, faults)| (name.clone(), faults.get())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_has_the_requested_median() {
        let latency = Latency { p50_ms: 10, p99_ms: 100 };
        let mut draws: Vec<Duration> = (0..2001).map(|_| latency.sample()).collect();
        draws.sort();
        let median = draws[1000].as_secs_f64() * 1000.0;
        assert!((6.0..16.0).contains(&median), "median {median} ms");
        assert_eq!(Latency::default().sample(), Duration::ZERO);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let control = FaultControl::new();
        control.handle("ledger");
        let bad = FaultSettings { failure_rate: 1.5, ..FaultSettings::none() };
        assert_eq!(
            control.set("ledger", bad),
            Err(Error::Invalid { field: "failure_rate", problem: "must be between 0 and 1" })
        );
        assert_eq!(control.set("nope", FaultSettings::none()), Err(Error::UnknownService("nope".into())));
    }

    #[test]
    fn certain_failure_always_fails() {
        let faults = Faults::default();
        faults.set(FaultSettings { failure_rate: 1.0, ..FaultSettings::none() });
        assert!((0..100).all(|_| faults.draw().1 == Fault::Fail));
        faults.set(FaultSettings::none());
        assert!((0..100).all(|_| faults.draw() == (Duration::ZERO, Fault::None)));
    }
}
