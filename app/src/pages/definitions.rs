//! Definitions: The marketplace's workflows, their versions and where time goes in each step.

use leptos::prelude::*;

use crate::components::{empty_state::EmptyState, page_header::PageHeader};

/// The Definitions page.
#[component]
pub fn DefinitionsPage() -> impl IntoView {
    view! {
        <PageHeader title="Definitions" subtitle="The marketplace's workflows, their versions and where time goes in each step." />
        <section class="panel">
            <EmptyState heading="No workflow definitions registered" detail="Registered workflows appear here with their versions and flow diagrams, heat-mapped with live step counts and durations." />
        </section>
    }
}
