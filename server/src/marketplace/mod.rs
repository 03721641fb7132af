//! The simulated marketplace: stand-ins for the services a pay-per-call marketplace runs on, each with
//! its own state in its own tables, behind the engine's [`crate::services::Service`] interface.
//!
//! - [`sql`]: [`sql::SimDb`] / [`sql::SimTx`], the backend-neutral SQL the services are written in.
//! - [`sim`]: the framework — [`sim::SimService`] adds idempotency (`sim_calls`), simulated latency
//!   and faults, and input checks to a service's [`sim::Handler`].
//! - [`faults`]: [`FaultControl`], every service's live [`faults::FaultSettings`], by name.
//! - the services, one module each (constants `NAME`, `ACTIONS`, function `handle`): [`identity`],
//!   [`credit`], [`accounts`], [`campaigns`], [`routing`], [`telephony`], [`quality`], [`billing`],
//!   [`ledger`] (ledger and settlement), [`payments`], [`compliance`], [`contracts`],
//!   [`notifications`], [`disputes`].
//!
//! [`register_all`] puts every one into a [`Registry`]:
//!
//! ```no_run
//! # fn example(db: switchboard::db::Database) {
//! use switchboard::marketplace::{register_all, FaultControl};
//! use switchboard::services::Registry;
//! let faults = FaultControl::new();
//! let mut registry = Registry::new();
//! register_all(&mut registry, db, &faults);
//! assert!(faults.get("ledger").is_some());
//! # }
//! ```

pub mod accounts;
pub mod billing;
pub mod campaigns;
pub mod compliance;
pub mod contracts;
pub mod credit;
pub mod disputes;
pub mod faults;
pub mod identity;
pub mod ledger;
pub mod notifications;
pub mod payments;
pub mod quality;
pub mod routing;
pub mod sim;
pub mod sql;
pub mod telephony;
pub mod workflows;

use std::sync::Arc;

use crate::db::Database;
use crate::services::Registry;

pub use faults::{FaultControl, FaultSettings, Latency};
pub use sim::SimService;

/// Every simulated service: name, actions, handler.
pub const SERVICES: &[(&str, &[&str], sim::Handler)] = &[
    (accounts::NAME, accounts::ACTIONS, accounts::handle),
    (billing::NAME, billing::ACTIONS, billing::handle),
    (campaigns::NAME, campaigns::ACTIONS, campaigns::handle),
    (compliance::NAME, compliance::ACTIONS, compliance::handle),
    (contracts::NAME, contracts::ACTIONS, contracts::handle),
    (credit::NAME, credit::ACTIONS, credit::handle),
    (disputes::NAME, disputes::ACTIONS, disputes::handle),
    (identity::NAME, identity::ACTIONS, identity::handle),
    (ledger::NAME, ledger::ACTIONS, ledger::handle),
    (notifications::NAME, notifications::ACTIONS, notifications::handle),
    (payments::NAME, payments::ACTIONS, payments::handle),
    (quality::NAME, quality::ACTIONS, quality::handle),
    (routing::NAME, routing::ACTIONS, routing::handle),
    (telephony::NAME, telephony::ACTIONS, telephony::handle),
];

/// Builds every simulated service on `db`, each with its fault handle from `faults`.
pub fn services(db: Database, faults: &FaultControl) -> Vec<Arc<SimService>> {
    let db = sql::SimDb::new(db);
    SERVICES
        .iter()
        .map(|(name, actions, handler)| {
            Arc::new(SimService::new(name, actions, *handler, db.clone(), faults.handle(name)))
        })
        .collect()
}

/// Registers every simulated service under its name (replacing any service of the same name).
pub fn register_all(registry: &mut Registry, db: Database, faults: &FaultControl) {
    for service in services(db, faults) {
        registry.register(service.name(), service);
    }
}
