//! The page for an address the console does not know.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::page_header::PageHeader;

/// Shown for unknown console routes (the server answers 404 with it).
#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <PageHeader title="Page not found" subtitle="There is no console page at this address." />
        <section class="panel">
            <p>"Check the address, or go back to the " <A href="/">"overview"</A> "."</p>
        </section>
    }
}
