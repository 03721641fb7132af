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

/// The console's API calls during server rendering: sent through the API router in process, so a
/// rendered page reads exactly what `/api/…` answers (same validation, same errors).
#[derive(Clone)]
pub struct InProcessApi {
    pub router: axum::Router,
}

/// The largest answer a page reads in one call (a page of instances, a definition, a chart).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

impl app::client::ApiTransport for InProcessApi {
    fn request(&self, method: &'static str, path: String, body: Option<String>) -> app::client::TransportAnswer {
        use tower::ServiceExt;
        let router = self.router.clone();
        // The page request's caller, found by the guard: the API answers as it would answer them.
        let principal = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<crate::auth::Principal>().cloned());
        Box::pin(async move {
            let mut request = axum::http::Request::builder()
                .method(method)
                .uri(&path)
                .header(axum::http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body.unwrap_or_default()))
                .map_err(|error| format!("cannot build the request {method} {path}: {error}"))?;
            request.extensions_mut().insert(crate::auth::guard::InProcess);
            if let Some(principal) = principal {
                request.extensions_mut().insert(principal);
            }
            let Ok(response) = router.oneshot(request).await;
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
                .await
                .map_err(|error| format!("cannot read the answer to {method} {path}: {error}"))?;
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        })
    }
}
