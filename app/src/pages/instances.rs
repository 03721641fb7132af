//! Instances: Find any workflow by type, status or business key, and act on it.

use leptos::prelude::*;

use crate::components::{empty_state::EmptyState, page_header::PageHeader};

/// The Instances page.
#[component]
pub fn InstancesPage() -> impl IntoView {
    view! {
        <PageHeader title="Instances" subtitle="Find any workflow by type, status or business key, and act on it." />
        <section class="panel">
            <EmptyState heading="No workflow instances yet" detail="Every onboarding, call, settlement, dispute and payout the engine runs is listed here, searchable by buyer, seller, call or payout id." />
        </section>
    }
}
