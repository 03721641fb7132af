//! Server functions: the console's calls to the server.
//!
//! Each is a public endpoint under `/api/` (a stable name, not a hash, so tests and tools can call it).
//! On the server they read what `switchboard` provides as Leptos context; in the browser they are HTTP
//! calls. They stay thin: fetch the handle, call one method, map the error.

use leptos::prelude::*;

use crate::wire::SystemInfo;

/// Version, database backend and start time of the server the console is talking to.
#[server(endpoint = "system_info")]
pub async fn get_system_info() -> Result<SystemInfo, ServerFnError> {
    use_context::<SystemInfo>().ok_or_else(|| ServerFnError::ServerError("system information is not available".into()))
}
