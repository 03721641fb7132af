//! Bottlenecks: The steps that slow workflows down or fail them, ranked.

use leptos::prelude::*;

use crate::components::{empty_state::EmptyState, page_header::PageHeader};

/// The Bottlenecks page.
#[component]
pub fn BottlenecksPage() -> impl IntoView {
    view! {
        <PageHeader title="Bottlenecks" subtitle="The steps that slow workflows down or fail them, ranked." />
        <section class="panel">
            <EmptyState heading="No step history to analyse yet" detail="Steps whose duration varies widely or whose error rate exceeds 5% are ranked here with the reason in words." />
        </section>
    }
}
