//! The designed "nothing here yet" state: says what will appear and what brings it.

use leptos::prelude::*;

/// An empty panel: a heading, what the panel will show, and how it fills.
#[component]
pub fn EmptyState(
    /// What is empty, e.g. "No workflow instances yet".
    heading: &'static str,
    /// What will appear here and what makes it appear.
    detail: &'static str,
) -> impl IntoView {
    view! {
        <div class="empty-state" role="status">
            <svg class="empty-icon" viewBox="0 0 24 24" aria-hidden="true">
                <circle cx="12" cy="12" r="9" />
                <path d="M8 12h8" />
            </svg>
            <p class="empty-heading">{heading}</p>
            <p class="empty-detail">{detail}</p>
        </div>
    }
}
