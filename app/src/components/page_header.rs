//! The title block at the top of every page.

use leptos::prelude::*;
use leptos_meta::Title;

/// A page's title (also the document title) and a one-line explanation of what the page is for.
#[component]
pub fn PageHeader(
    /// The page's name, e.g. "Instances".
    title: &'static str,
    /// One sentence saying what a person does on this page.
    subtitle: &'static str,
    /// Controls shown on the right of the header (filters, actions).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <Title text=title />
        <header class="page-header">
            <div>
                <h1>{title}</h1>
                <p class="page-subtitle">{subtitle}</p>
            </div>
            <div class="page-actions">{children.map(|c| c())}</div>
        </header>
    }
}
