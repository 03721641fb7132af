//! SLA: Targets per workflow type against what actually happened.

use leptos::prelude::*;

use crate::components::{empty_state::EmptyState, page_header::PageHeader};

/// The SLA page.
#[component]
pub fn SlaPage() -> impl IntoView {
    view! {
        <PageHeader title="SLA" subtitle="Targets per workflow type against what actually happened." />
        <section class="panel">
            <EmptyState heading="No SLA targets yet" detail="Each workflow type's targets (duration percentiles, completion rate) are reported here against actuals, with trends and breaches." />
        </section>
    }
}
