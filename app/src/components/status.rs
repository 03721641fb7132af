//! Small pieces that show a status the same way everywhere.

use leptos::prelude::*;

use crate::format::{status_label, status_tone};
use crate::wire::InstanceStatus;

/// An instance status as a coloured pill, with a "paused" pill beside it when it is paused.
#[component]
pub fn StatusPill(
    #[prop(into)] status: Signal<InstanceStatus>,
    #[prop(into, optional)] paused: Signal<bool>,
) -> impl IntoView {
    view! {
        <span class="status-cell">
            <span
                class=move || format!("pill {}", status_tone(status.get()))
                data-testid="status-pill"
                data-status=move || status.get().as_str()
            >
                {move || status_label(status.get())}
            </span>
            {move || paused.get().then(|| view! { <span class="pill paused">"paused"</span> })}
        </span>
    }
}

/// JSON for reading: pretty-printed, scrollable, with a heading.
#[component]
pub fn JsonBlock(#[prop(into)] title: String, value: serde_json::Value) -> impl IntoView {
    let empty = value.is_null() || value.as_object().is_some_and(|o| o.is_empty());
    view! {
        <section class="json-block">
            <h3>{title}</h3>
            {if empty {
                view! { <p class="muted">"Nothing here."</p> }.into_any()
            } else {
                view! { <pre class="json">{crate::format::json(&value)}</pre> }.into_any()
            }}
        </section>
    }
}

/// An API failure shown in a panel: what failed and why, in words.
#[component]
pub fn ErrorNote(#[prop(into)] what: String, error: crate::client::ApiFailure) -> impl IntoView {
    view! {
        <div class="error-note" role="alert">
            <p class="error-heading">{what}</p>
            <p>{error.to_string()}</p>
        </div>
    }
}

/// A flag that turns true once the part of the page that created it runs in the browser. Parts inside
/// a `<Suspense>` hydrate after the rest of the page, when their data has arrived: such a part carries
/// `data-ready=…` so tests and people's scripts can wait until its controls respond.
pub fn hydrated_flag() -> RwSignal<bool> {
    let flag = RwSignal::new(false);
    Effect::new(move |_| flag.set(true));
    flag
}
