//! What the console's server functions read: [`StoreConsoleData`], the server's implementation of
//! `app::api::ConsoleData`, provided to every server function and server-rendered page as context.

use std::future::Future;
use std::pin::Pin;

use app::api::ConsoleData;
use app::wire::InstanceCounts;

use crate::store::Store;

/// The console's reads, answered from the store.
pub struct StoreConsoleData {
    pub store: Store,
}

impl ConsoleData for StoreConsoleData {
    fn instance_counts(&self) -> Pin<Box<dyn Future<Output = Result<InstanceCounts, String>> + Send + '_>> {
        Box::pin(async move {
            let by_status = self.store.status_counts().await.map_err(|error| {
                tracing::error!(%error, "cannot count instances");
                "cannot count instances; the server log has the details".to_string()
            })?;
            Ok(InstanceCounts { by_status })
        })
    }
}
