//! The Switchboard console: the Leptos application and the wire types it shares with the server.
//!
//! This crate compiles twice: natively with the `ssr` feature, linked into the `switchboard` binary that
//! renders every page on the server, and to wasm32 with the `hydrate` feature, the browser bundle that
//! takes over the server-rendered HTML ([`hydrate`]). Never both at once.
//!
//! - [`wire`] holds the plain serde types that cross the wire between browser and server (the contract;
//!   engine types and database rows stay in `server/`).
//! - [`shell`] is the HTML document; [`App`] is the router: `/sign-in` on its own, every other page
//!   inside the console layout (navigation, top bar with the signed-in user, footer).
//! - [`auth`] holds the signed-in user, read once per page load, and what their role may do.
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
pub mod auth;
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
    components::{Outlet, ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

use crate::components::layout::ConsoleLayout;
use crate::pages::{
    audit::AuditPage, bottlenecks::BottlenecksPage, definitions::DefinitionsPage, instance::InstancePage,
    instances::InstancesPage, interventions::InterventionsPage, not_found::NotFoundPage, overview::OverviewPage,
    services::ServicesPage, sign_in::SignInPage, sla::SlaPage, users::UsersPage,
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

/// The console: the sign-in page on its own, and one route per section inside the layout (navigation,
/// live status, the signed-in user, footer).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // The live feed is provided by the console layout: the sign-in page has none (it would be refused).
    auth::provide_current_user();

    view! {
        <Stylesheet id="switchboard" href="/pkg/switchboard.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Switchboard".to_string() } else { format!("{page} · Switchboard") }
        } />
        <Router>
            // Async rendering: the server waits for every resource before it sends the page, so
            // the page is complete for a reader without JavaScript (out-of-order streaming would
            // leave Suspense fallbacks that only a script swaps for the content).
            <Routes fallback=|| view! { <ConsoleLayout><NotFoundPage /></ConsoleLayout> }>
                <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async />
                // The layout stays mounted while its pages change (the `Outlet`).
                <ParentRoute path=path!("") view=ConsolePages ssr=SsrMode::Async>
                    <Route path=path!("/") view=OverviewPage ssr=SsrMode::Async />
                    <Route path=path!("/instances") view=InstancesPage ssr=SsrMode::Async />
                    <Route path=path!("/instances/:id") view=InstancePage ssr=SsrMode::Async />
                    <Route path=path!("/definitions") view=DefinitionsPage ssr=SsrMode::Async />
                    <Route path=path!("/sla") view=SlaPage ssr=SsrMode::Async />
                    <Route path=path!("/bottlenecks") view=BottlenecksPage ssr=SsrMode::Async />
                    <Route path=path!("/interventions") view=InterventionsPage ssr=SsrMode::Async />
                    <Route path=path!("/services") view=ServicesPage ssr=SsrMode::Async />
                    <Route path=path!("/users") view=UsersPage ssr=SsrMode::Async />
                    <Route path=path!("/audit") view=AuditPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Every page but sign-in: the console layout around the matched page.
#[component]
fn ConsolePages() -> impl IntoView {
    view! {
        <ConsoleLayout>
            <Outlet />
        </ConsoleLayout>
    }
}

/// Entry point of the browser bundle: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
