//! Interventions: Work that needs a person: reviews, failed compensations, exhausted retries.

use leptos::prelude::*;

use crate::components::{empty_state::EmptyState, page_header::PageHeader};

/// The Interventions page.
#[component]
pub fn InterventionsPage() -> impl IntoView {
    view! {
        <PageHeader title="Interventions" subtitle="Work that needs a person: reviews, failed compensations, exhausted retries." />
        <section class="panel">
            <EmptyState heading="The intervention queue is empty" detail="Compliance reviews, manual dispute reviews, failed compensations and breached SLAs wait here to be claimed and resolved." />
        </section>
    }
}
