//! The Switchboard console: the Leptos application and the wire types it shares with the server.
//!
//! This crate compiles twice: natively with the `ssr` feature, linked into the `switchboard` binary that
//! renders every page on the server, and to wasm32 with the `hydrate` feature, the browser bundle that
//! takes over the server-rendered HTML ([`hydrate`]). Never both at once.
//!
//! - [`wire`] holds the plain serde types that cross the wire between browser and server (the contract;
//!   engine types and database rows stay in `server/`).
//! - [`shell`] is the HTML document; [`App`] is the router and the console layout around the pages.
//! - [`live`] keeps one server-sent-events connection per browser tab and exposes what arrives as signals.
//! - [`api`] holds the server functions the pages call; on the server they read what `switchboard`
//!   provides as context ([`wire::SystemInfo`] and, later, the console's service handle).
//! - [`pages`] and [`components`] are the screens and the pieces they are built from.
//!
//! ```text
//! // server side (switchboard): render the shell for every console route
//! Router::new().leptos_routes_with_context(&state, generate_route_list(App), ctx, move || shell(opts.clone()));
//! ```

// Views of the larger pages are deep types when components are not erased (release builds).
#![recursion_limit = "512"]

pub mod api;
pub mod client;
pub mod components;
pub mod diagram;
pub mod format;
pub mod live;
pub mod pages;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::components::layout::ConsoleLayout;
use crate::pages::{
    bottlenecks::BottlenecksPage, definitions::DefinitionsPage, instance::InstancePage, instances::InstancesPage,
    interventions::InterventionsPage, not_found::NotFoundPage, overview::OverviewPage, services::ServicesPage,
    sla::SlaPage,
};

/// The name every built asset carries: `/pkg/switchboard.js`, `.wasm` and `.css`.
pub const OUTPUT_NAME: &str = "switchboard";

/// The HTML document around the application, rendered by the server for every console route.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The console: the layout (navigation, live status, footer) and one route per section.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    live::provide_live_feed();

    view! {
        <Stylesheet id="switchboard" href="/pkg/switchboard.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Switchboard".to_string() } else { format!("{page} · Switchboard") }
        } />
        <Router>
            <ConsoleLayout>
                // Async rendering: the server waits for every resource before it sends the page, so
                // the page is complete for a reader without JavaScript (out-of-order streaming would
                // leave Suspense fallbacks that only a script swaps for the content).
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=OverviewPage ssr=SsrMode::Async />
                    <Route path=path!("/instances") view=InstancesPage ssr=SsrMode::Async />
                    <Route path=path!("/instances/:id") view=InstancePage ssr=SsrMode::Async />
                    <Route path=path!("/definitions") view=DefinitionsPage ssr=SsrMode::Async />
                    <Route path=path!("/sla") view=SlaPage ssr=SsrMode::Async />
                    <Route path=path!("/bottlenecks") view=BottlenecksPage ssr=SsrMode::Async />
                    <Route path=path!("/interventions") view=InterventionsPage ssr=SsrMode::Async />
                    <Route path=path!("/services") view=ServicesPage ssr=SsrMode::Async />
                </Routes>
            </ConsoleLayout>
        </Router>
    }
}

/// Entry point of the browser bundle: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
