//! Bulk actions on the Instances page: retry, cancel, pause or resume the selected instances or
//! everything the filter matches. Always in two steps: a preview that counts what matches and what the
//! action applies to (nothing changes), then a confirmation that acts and reports what happened.

use std::collections::BTreeSet;

use leptos::prelude::*;

use super::list::{InstanceFilter, FILTER_FIELDS};
use crate::client::{self, ApiFailure};
use crate::components::access::IfAllowed;
use crate::format;
use crate::wire::{BulkAction, BulkActionKind, BulkActionResult, BulkFilter, Permission};

/// The actions offered, in the order the menu lists them.
const ACTIONS: [BulkActionKind; 4] =
    [BulkActionKind::Retry, BulkActionKind::Cancel, BulkActionKind::Pause, BulkActionKind::Resume];

/// The action's name, as in the API (`retry`), its past tense, and what it does to whom.
fn words_of(kind: BulkActionKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        BulkActionKind::Retry => ("retry", "retried", "Retry the failed step of failed instances"),
        BulkActionKind::Cancel => ("cancel", "cancelled", "Cancel and undo unfinished instances"),
        BulkActionKind::Pause => ("pause", "paused", "Pause active instances"),
        BulkActionKind::Resume => ("resume", "resumed", "Resume paused instances"),
    }
}

/// What the bulk action applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Selection,
    Filter,
}

/// The bar above the instance list, for roles that may steer runs; others see a one-line hint.
#[component]
pub fn BulkBar(filter: Memo<InstanceFilter>, selected: RwSignal<BTreeSet<String>>) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            <IfAllowed permission=Permission::OperateInstances>
                <BulkControls filter selected />
            </IfAllowed>
        </Suspense>
    }
}

/// The bar's controls: action, scope, reason, preview and confirmation.
#[component]
fn BulkControls(filter: Memo<InstanceFilter>, selected: RwSignal<BTreeSet<String>>) -> impl IntoView {
    let action = RwSignal::new(BulkActionKind::Retry);
    let scope = RwSignal::new(Scope::Filter);
    let reason = RwSignal::new(String::new());
    // The preview answer the confirmation is about; cleared whenever what it describes changes.
    let preview = RwSignal::new(None::<BulkActionResult>);
    let done = RwSignal::new(None::<Result<BulkActionResult, ApiFailure>>);
    let failure = RwSignal::new(None::<ApiFailure>);
    Effect::new(move |_| {
        let _ = (action.get(), scope.get(), filter.get(), selected.get());
        preview.set(None);
    });
    // Selecting rows switches to the selection; clearing it goes back to the filter.
    Effect::new(move |previous: Option<bool>| {
        let any = selected.with(|s| !s.is_empty());
        if previous != Some(any) {
            scope.set(if any { Scope::Selection } else { Scope::Filter });
        }
        any
    });

    let request = move |preview: bool| BulkAction {
        action: action.get_untracked(),
        reason: reason.get_untracked(),
        // The server records the signed-in user as the actor.
        actor: None,
        ids: (scope.get_untracked() == Scope::Selection).then(|| selected.get_untracked().into_iter().collect()),
        filter: (scope.get_untracked() == Scope::Filter).then(|| {
            let f = filter.get_untracked();
            let value = |field: &str| Some(f.api_value(field)).filter(|v| !v.is_empty());
            BulkFilter {
                workflow: value("workflow"),
                status: value("status"),
                version: value("version").and_then(|v| v.parse().ok()),
                key: value("key"),
                from: value("from"),
                to: value("to"),
                error: value("error"),
            }
        }),
        // The preview said "in all (no filter is set)"; confirming it is meant for every instance.
        all: scope.get_untracked() == Scope::Filter && filter.with_untracked(InstanceFilter::is_empty),
        preview,
    };
    let send = Action::new(move |body: &BulkAction| {
        let body = body.clone();
        async move { (body.preview, client::post::<_, BulkActionResult>("/api/instances/bulk", &body).await) }
    });
    Effect::new(move |_| match send.value().get() {
        Some((true, Ok(answer))) => {
            failure.set(None);
            preview.set(Some(answer));
        }
        Some((false, result)) => {
            preview.set(None);
            failure.set(None);
            if result.is_ok() {
                selected.set(BTreeSet::new());
                reason.set(String::new());
            }
            done.set(Some(result));
        }
        Some((true, Err(error))) => failure.set(Some(error)),
        None => {}
    });

    // Completes "N instances …" in the confirmation.
    let scope_words = move || match scope.get() {
        Scope::Selection => format!(" of the {} selected instances found", selected.with(BTreeSet::len)),
        Scope::Filter if filter.with(InstanceFilter::is_empty) => " instances in all (no filter is set)".to_string(),
        Scope::Filter => " instances match the filter".to_string(),
    };
    let filter_words = move || {
        filter.with(|f| {
            FILTER_FIELDS
                .iter()
                .filter(|field| !f.get(field).trim().is_empty())
                .map(|field| format!("{field} = {}", f.get(field)))
                .collect::<Vec<_>>()
                .join(", ")
        })
    };

    view! {
        <section class="panel bulk-bar" data-testid="bulk-bar" aria-label="Act on many instances">
            <form class="bulk-form" on:submit=move |ev| {
                ev.prevent_default();
                done.set(None);
                send.dispatch(request(true));
            }>
                <label>
                    <span>"Bulk action"</span>
                    <select name="bulk-action" on:change=move |ev| {
                        let value = event_target_value(&ev);
                        if let Some(kind) = ACTIONS.into_iter().find(|kind| words_of(*kind).0 == value) {
                            action.set(kind);
                        }
                    }>
                        {ACTIONS.into_iter().map(|kind| (kind, words_of(kind))).map(|(kind, (name, _, words))| view! {
                            <option value=name selected=move || action.get() == kind>{words}</option>
                        }).collect_view()}
                    </select>
                </label>
                <fieldset class="scope">
                    <legend>"Apply to"</legend>
                    <div class="scope-options">
                    <label class="radio">
                        <input type="radio" name="bulk-scope" value="selection"
                            prop:checked=move || scope.get() == Scope::Selection
                            disabled=move || selected.with(BTreeSet::is_empty)
                            on:change=move |_| scope.set(Scope::Selection) />
                        {move || format!("Selected ({})", selected.with(BTreeSet::len))}
                    </label>
                    <label class="radio">
                        <input type="radio" name="bulk-scope" value="filter"
                            prop:checked=move || scope.get() == Scope::Filter
                            on:change=move |_| scope.set(Scope::Filter) />
                        "All matching the filter"
                    </label>
                    </div>
                </fieldset>
                <label class="grow">
                    <span>"Reason (kept in each instance's history)"</span>
                    <input type="text" name="bulk-reason" placeholder="e.g. payments outage resolved"
                        prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) />
                </label>
                <button class="button secondary" type="submit" data-testid="bulk-preview"
                    disabled=move || reason.get().trim().is_empty() || send.pending().get()>
                    "Preview"
                </button>
            </form>
            {move || failure.get().map(|error| view! { <p class="callout bad" role="alert">{error.to_string()}</p> })}
            {move || preview.get().map(|answer| {
                let (verb, done_verb, _) = words_of(action.get());
                let can_apply = answer.eligible > 0;
                view! {
                    <div class="callout confirm" role="status" data-testid="bulk-confirm">
                        <p>
                            <strong data-testid="bulk-matched">{format::count(answer.matched as i64)}</strong>
                            {scope_words}
                            {move || (scope.get() == Scope::Filter && !filter.with(InstanceFilter::is_empty))
                                .then(|| view! { <span class="muted">" ("{filter_words}")"</span> })}
                            "; "
                            <strong data-testid="bulk-eligible">{format::count(answer.eligible as i64)}</strong>
                            {format!(" can be {done_verb}.")}
                            {(answer.eligible > answer.limit).then(|| format!(
                                " This confirmation acts on the first {}; run it again for the rest.",
                                format::count(answer.limit as i64)
                            ))}
                        </p>
                        <div class="button-row">
                            <button class="button danger" type="button" data-testid="bulk-apply"
                                disabled=move || !can_apply || send.pending().get()
                                on:click=move |_| { send.dispatch(request(false)); }>
                                {format!("{} {} instances", capitalised(verb), format::count(answer.eligible.min(answer.limit) as i64))}
                            </button>
                            <button class="button secondary" type="button" on:click=move |_| preview.set(None)>"Cancel"</button>
                        </div>
                    </div>
                }
            })}
            {move || done.get().map(|result| match result {
                Ok(answer) => view! {
                    <p class="callout ok" role="status" data-testid="bulk-done">
                        {format!("{} {} of {} instances", capitalised(words_of(action.get_untracked()).1), format::count(answer.applied as i64), format::count(answer.eligible as i64))}
                        {answer.failed.first().map(|first| format!("; {} refused (for example {}: {})", format::count(answer.failed_count as i64), first.id, first.error))}
                        {(answer.remaining > 0).then(|| format!("; {} remain — run it again for them", format::count(answer.remaining as i64)))}
                        "."
                    </p>
                }.into_any(),
                Err(error) => view! { <p class="callout bad" role="alert">{error.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}
