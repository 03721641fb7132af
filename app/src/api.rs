//! Server functions: the console's calls to the server.
//!
//! Each is a public endpoint under `/api/` (a stable name, not a hash, so tests and tools can call it).
//! On the server they read what `switchboard` provides as Leptos context; in the browser they are HTTP
//! calls. They stay thin: fetch the handle, call one method, map the error.

use leptos::prelude::*;

use crate::wire::{InstanceCounts, SystemInfo};

/// What the server provides to server functions as context (`Arc<dyn ConsoleData>`): the console's
/// reads, without the console knowing the server's types.
#[cfg(feature = "ssr")]
pub trait ConsoleData: Send + Sync {
    /// Instances per status.
    fn instance_counts(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<InstanceCounts, String>> + Send + '_>>;
}

#[cfg(feature = "ssr")]
fn console_data() -> Result<std::sync::Arc<dyn ConsoleData>, ServerFnError> {
    use_context::<std::sync::Arc<dyn ConsoleData>>()
        .ok_or_else(|| ServerFnError::ServerError("console data is not available".into()))
}

/// Version, database backend and start time of the server the console is talking to.
#[server(endpoint = "system_info")]
pub async fn get_system_info() -> Result<SystemInfo, ServerFnError> {
    use_context::<SystemInfo>().ok_or_else(|| ServerFnError::ServerError("system information is not available".into()))
}

/// How many instances are in each status.
#[server(endpoint = "instance_counts")]
pub async fn get_instance_counts() -> Result<InstanceCounts, ServerFnError> {
    console_data()?.instance_counts().await.map_err(ServerFnError::ServerError)
}
