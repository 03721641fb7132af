//! The console's pages, one module per navigation entry.

pub mod audit;
pub mod bottlenecks;
pub mod definitions;
pub mod instance;
pub mod instances;
pub mod interventions;
pub mod not_found;
pub mod overview;
pub mod services;
pub mod sign_in;
pub mod sla;
pub mod users;
