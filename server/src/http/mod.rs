//! The HTTP surface: one [`router`] for the JSON API, the event stream, the server-rendered console and
//! the static files of the browser bundle. [`openapi`] describes the JSON API as an OpenAPI 3.1
//! document (`GET /api/openapi.json`).
//!
//! Every area has its own `router()` next to its handlers (`api/*`, `auth::routes`, `interventions`,
//! `schedules`); [`router`] is the one place they are merged, so the whole surface is listed once.
//! [`json`] (the JSON body extractor) and [`time`] (times on the wire) serve every area's handlers.
//!
//! Layers, outermost first: request id (`x-request-id`, generated when absent and echoed back), request
//! tracing (one span per request carrying the id), security headers ([`headers`]: CSP with a
//! per-response nonce, no framing, nosniff, referrer policy, HSTS over TLS), compression (gzip or brotli
//! by `Accept-Encoding`; never for the event stream, which must flush each event), and `api_errors`
//! (every error under `/api/` in the JSON shape; the server functions' bodies checked).

mod api;
mod api_errors;
mod console;
mod events;
pub mod headers;
mod health;
pub mod json;
pub mod openapi;
mod site;
pub mod time;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{any, get};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use app::{shell, App};

use crate::error::ApiError;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The largest request body accepted under `/api/` (definitions and inputs are small JSON documents;
/// sign-in has its own smaller bound, `auth::routes::SIGN_IN_MAX_BODY_BYTES`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route under `/api/`, area by area: the one list of what the API answers.
fn api_routes() -> Router<AppState> {
    // The workflow API answers a wrong method with a 405 naming it. (The guard answers one first on
    // every route it checks; health, which it lets through, keeps axum's 405, rewritten by `api_errors`.)
    let workflows = Router::new()
        .merge(api::definitions::router())
        .merge(api::instances::router())
        .merge(crate::schedules::router())
        .merge(api::services::router())
        .merge(api::monitoring::router())
        .merge(api::cluster::router())
        .method_not_allowed_fallback(api::method_not_allowed);
    Router::new()
        .merge(workflows)
        .merge(crate::auth::routes::router())
        .merge(crate::interventions::router())
        .route("/api/health", get(health::health))
        .route("/api/health/live", get(health::live))
        .route("/api/events", get(events::stream))
        .route("/api/openapi.json", get(openapi::serve))
        .route(crate::telemetry::METRICS_PATH, get(crate::telemetry::scrape::metrics))
        // Anything else under /api/ that no route or server function claims is a JSON 404, not a page.
        .route("/api/{*rest}", any(unknown_api_route))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The whole application as one axum router: `api_routes`, the console's pages and the bundle.
pub fn router(state: AppState) -> Router {
    let api = api_routes()
        // Per route, so after routing: the guard sees the matched route. Requests the server sends itself
        // while rendering (`InProcessApi`) go through this router, so they pass the same guard.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard::guard));

    let console_context = {
        let system = state.system.clone();
        let data: std::sync::Arc<dyn app::api::ConsoleData> =
            std::sync::Arc::new(console::StoreConsoleData { store: state.runtime.store().clone() });
        let api: std::sync::Arc<dyn app::client::ApiTransport> =
            std::sync::Arc::new(console::InProcessApi { router: api.clone().with_state(state.clone()) });
        move || {
            headers::adopt_nonce();
            provide_context(system.clone());
            provide_context(data.clone());
            provide_context(api.clone());
        }
    };
    let options = state.leptos_options.clone();
    let pages = Router::new()
        .leptos_routes_with_context(&state, generate_route_list(App), console_context.clone(), move || {
            shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(console_context, shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard::guard));
    Router::new()
        .merge(api)
        .merge(pages)
        .nest_service("/pkg", site::bundle_files(&state.leptos_options))
        // Inside compression: it reads and rewrites uncompressed error bodies.
        .layer(axum::middleware::from_fn(api_errors::json_errors))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(state.clone(), headers::security_headers))
        .layer(axum::middleware::from_fn(crate::telemetry::http::observe))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), uri = %request.uri(), id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_request(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn unknown_api_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API route at {}", uri.path()))
}
