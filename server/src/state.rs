//! [`AppState`]: what every handler and server function can reach.

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use app::wire::SystemInfo;

use crate::db::{Database, DatabaseUrl};
use crate::events::EventBus;
use crate::marketplace::FaultControl;
use crate::runtime::Runtime;

/// Shared by all handlers; cheap to clone (pools and channels are handles).
#[derive(Clone)]
pub struct AppState {
    /// Where the site's files are and what they are called; needed by the Leptos handlers.
    pub leptos_options: LeptosOptions,
    pub database: Database,
    pub database_url: DatabaseUrl,
    pub events: EventBus,
    /// The workflow runtime: definitions, instances, services.
    pub runtime: Runtime,
    /// The simulated services' latency and fault settings, changeable while running. Empty when the
    /// state was built without the simulated marketplace (`serve::build_state_with`).
    pub faults: FaultControl,
    /// Facts about this process for the console (provided to server functions as context).
    pub system: SystemInfo,
    /// Cron schedules of recurring workflows; their background task runs only under `serve::run`.
    pub schedules: crate::schedules::Scheduler,
    /// Monitoring: metrics, bottlenecks, SLA targets and their checks.
    pub monitor: crate::monitoring::monitor::Monitor,
    /// Users, sessions, tokens and the rules the guard applies to every request.
    pub access: crate::auth::Access,
    /// The intervention inbox: claim, assign, resolve.
    pub inbox: crate::interventions::inbox::Inbox,
    /// Which shared service settings (faults, breaker actions) this node has applied.
    pub controls: std::sync::Arc<crate::cluster::controls::Applied>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
