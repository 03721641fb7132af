//! Services: The marketplace services the workflows call, and their health.

use leptos::prelude::*;

use crate::components::{empty_state::EmptyState, page_header::PageHeader};

/// The Services page.
#[component]
pub fn ServicesPage() -> impl IntoView {
    view! {
        <PageHeader title="Services" subtitle="The marketplace services the workflows call, and their health." />
        <section class="panel">
            <EmptyState heading="No services registered yet" detail="Each service's circuit breaker, latency percentiles and error rate show here, with controls for simulated faults." />
        </section>
    }
}
