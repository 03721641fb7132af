//! The "Workflow" field of a filter form (a plain GET form): every registered workflow type, the one in
//! the URL selected.

use leptos::prelude::*;

use crate::client;
use crate::wire::DefinitionSummary;

/// A `<label>` with `<select name="workflow">`; `current` is read once, when the options are drawn.
#[component]
pub fn WorkflowSelect(#[prop(into)] current: Signal<String>) -> impl IntoView {
    let workflows = Resource::new(|| (), |_| client::get::<Vec<DefinitionSummary>>("/api/definitions"));
    view! {
        <label>
            <span>"Workflow"</span>
            <select name="workflow">
                <option value="">"All workflows"</option>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let current = current.get_untracked();
                        workflows.await.unwrap_or_default().into_iter().map(|w| {
                            let selected = w.name == current;
                            view! { <option value=w.name.clone() selected=selected>{w.name.clone()}</option> }
                        }).collect_view()
                    })}
                </Suspense>
            </select>
        </label>
    }
}
