//! One decision for many similar items: the selected items get the same choice and reason
//! (`POST /api/interventions/bulk-resolve`). Always in two steps — choose and explain, then confirm —
//! and the answer says how many were resolved and why the others were refused (someone else got there
//! first, the choice does not fit one of them, …).
//!
//! Only the choices every selected item offers are listed: approving a dispute and retrying a failed
//! payout cannot be one decision.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_router::components::A;

use super::query::InboxQuery;
use super::words;
use crate::client::{self, ApiFailure};
use crate::format;
use crate::wire::{BulkResolve, BulkResolveResult, InterventionItem};

/// The choices all `selected` items offer, in the first item's order.
pub fn common_choices(items: &[InterventionItem], selected: &BTreeSet<String>) -> Vec<String> {
    let mut chosen = items.iter().filter(|i| selected.contains(&i.id));
    let Some(first) = chosen.next() else {
        return Vec::new();
    };
    let rest: Vec<&InterventionItem> = chosen.collect();
    first.choices.iter().filter(|c| rest.iter().all(|i| i.choices.contains(c))).cloned().collect()
}

/// The bar above the list; shows once something is selected, and keeps the last answer in view.
#[component]
pub fn BulkResolveBar(
    items: Memo<Vec<InterventionItem>>,
    selected: RwSignal<BTreeSet<String>>,
    query: Memo<InboxQuery>,
    reload: RwSignal<u64>,
) -> impl IntoView {
    let choices = Memo::new(move |_| items.with(|items| selected.with(|s| common_choices(items, s))));
    let choice = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let answer = RwSignal::new(None::<Result<BulkResolveResult, ApiFailure>>);
    // The chosen choice follows what the selection offers.
    Effect::new(move |_| {
        let offered = choices.get();
        if !offered.contains(&choice.get_untracked()) {
            choice.set(offered.first().cloned().unwrap_or_default());
        }
    });
    Effect::new(move |_| {
        selected.track();
        confirming.set(false);
    });
    let send = Action::new(move |body: &BulkResolve| {
        let body = body.clone();
        async move { client::post::<_, BulkResolveResult>("/api/interventions/bulk-resolve", &body).await }
    });
    Effect::new(move |_| {
        if let Some(result) = send.value().get() {
            if result.is_ok() {
                selected.set(BTreeSet::new());
                reason.set(String::new());
            }
            confirming.set(false);
            answer.set(Some(result));
            reload.update(|n| *n += 1);
        }
    });
    let count = move || selected.with(BTreeSet::len);
    let any_selected = Memo::new(move |_| selected.with(|s| !s.is_empty()));
    let apply = move |_| {
        let body = BulkResolve {
            ids: selected.get_untracked().into_iter().collect(),
            choice: choice.get_untracked(),
            reason: reason.get_untracked().trim().to_string(),
            data: None,
        };
        send.dispatch(body);
    };

    view! {
        <Show when=move || any_selected.get() || answer.with(Option::is_some)>
            <div class="inbox-bulk" data-testid="inbox-bulk" role="region" aria-label="Resolve the selected items">
                <Show when=move || any_selected.get()>
                    <form class="bulk-form" on:submit=move |ev| {
                        ev.prevent_default();
                        answer.set(None);
                        confirming.set(true);
                    }>
                        <p class="bulk-count"><strong>{count}</strong>" selected"</p>
                        {move || if choices.with(Vec::is_empty) {
                            view! {
                                <p class="muted small">"The selected items have no choice in common: select items of the same kind and workflow."</p>
                            }.into_any()
                        } else {
                            view! {
                                <label>
                                    <span>"Decision for all"</span>
                                    <select name="bulk-choice" data-testid="bulk-choice"
                                        on:change=move |ev| { choice.set(event_target_value(&ev)); confirming.set(false); }>
                                        {choices.get().into_iter().map(|c| {
                                            let label = words::choice_label(&c);
                                            let value = c.clone();
                                            view! { <option value=value selected=move || choice.get() == c>{label}</option> }
                                        }).collect_view()}
                                    </select>
                                </label>
                                <label class="grow">
                                    <span>"Reason (kept in each item's history)"</span>
                                    <input type="text" name="bulk-reason" data-testid="bulk-reason"
                                        placeholder="e.g. duplicates of dispute 4411, same evidence"
                                        prop:value=move || reason.get()
                                        on:input=move |ev| { reason.set(event_target_value(&ev)); confirming.set(false); } />
                                </label>
                                <button class="button secondary" type="submit" data-testid="bulk-resolve"
                                    disabled=move || reason.with(|r| r.trim().is_empty()) || send.pending().get()>
                                    {move || format!("Resolve {} items…", count())}
                                </button>
                            }.into_any()
                        }}
                        <button class="button secondary" type="button" on:click=move |_| selected.set(BTreeSet::new())>
                            "Clear selection"
                        </button>
                    </form>
                </Show>
                {move || (confirming.get() && any_selected.get()).then(|| view! {
                    <div class="callout confirm" role="status">
                        <p>
                            {format!("{} the {} selected items with the reason “{}”? Each item records your decision; this cannot be undone.",
                                words::choice_label(&choice.get_untracked()), count(), reason.get_untracked().trim())}
                        </p>
                        <div class="button-row">
                            <button class=if words::is_destructive(&choice.get_untracked()) { "button danger" } else { "button" }
                                type="button" data-testid="bulk-confirm"
                                disabled=move || send.pending().get() on:click=apply>
                                {format!("{} {} items", words::choice_label(&choice.get_untracked()), count())}
                            </button>
                            <button class="button secondary" type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </div>
                    </div>
                })}
                {move || answer.get().map(|result| match result {
                    Ok(done) => view! {
                        <div class=if done.refused.is_empty() { "callout ok" } else { "callout warn" } role="status" data-testid="bulk-result">
                            <p>
                                <strong>{resolved_words(&done)}</strong>
                                {(!done.refused.is_empty()).then(|| format!("; {} refused:", done.refused.len()))}
                            </p>
                            {(!done.refused.is_empty()).then(|| view! {
                                <ul class="refused">
                                    {done.refused.clone().into_iter().map(|r| {
                                        let href = query.with_untracked(|q| q.with_item(&r.id).url());
                                        let label = crate::format::short_id(&r.id);
                                        view! {
                                            <li>
                                                <A href=href attr:class="mono" attr:title=r.id>{label}</A>
                                                " — "{r.message}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            })}
                            <button class="button secondary" type="button" on:click=move |_| answer.set(None)>"Dismiss"</button>
                        </div>
                    }.into_any(),
                    Err(error) => view! {
                        <p class="callout bad" role="alert" data-testid="bulk-result">{error.to_string()}</p>
                    }.into_any(),
                })}
            </div>
        </Show>
    }
}

/// "Resolved 3 items", or "Resolved 2 of 3 items" when some were refused.
fn resolved_words(done: &BulkResolveResult) -> String {
    let total = done.resolved + done.refused.len() as u64;
    let noun = if total == 1 { "item" } else { "items" };
    if done.refused.is_empty() {
        format!("Resolved {} {noun}", format::count(done.resolved as i64))
    } else {
        format!("Resolved {} of {} {noun}", format::count(done.resolved as i64), format::count(total as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{InterventionKind, Priority, PriorityLevel};

    fn item(id: &str, choices: &[&str]) -> InterventionItem {
        InterventionItem {
            id: id.into(),
            kind: InterventionKind::HumanTask,
            reason: String::new(),
            workflow: "w".into(),
            instance_id: None,
            state: "s".into(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            priority: Priority { level: PriorityLevel::Normal, score: 0, because: Vec::new() },
            opened_at: String::new(),
            due_at: None,
            overdue: false,
            assignee: None,
            assigned_at: None,
            status: "open".into(),
            resolved_by: None,
            resolved_at: None,
            resolution: None,
            amount_minor: None,
            instance_status: None,
        }
    }

    #[test]
    fn the_answer_counts_what_was_resolved() {
        let refused = |n: usize| {
            (0..n).map(|i| crate::wire::BulkResolveFailure { id: i.to_string(), message: String::new() }).collect()
        };
        assert_eq!(resolved_words(&BulkResolveResult { resolved: 3, refused: refused(0) }), "Resolved 3 items");
        assert_eq!(resolved_words(&BulkResolveResult { resolved: 2, refused: refused(1) }), "Resolved 2 of 3 items");
        assert_eq!(resolved_words(&BulkResolveResult { resolved: 1, refused: refused(0) }), "Resolved 1 item");
    }

    #[test]
    fn only_choices_every_selected_item_offers_are_listed() {
        let items = [item("a", &["approve", "deny"]), item("b", &["deny", "approve"]), item("c", &["retry", "abort"])];
        let pick = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(common_choices(&items, &pick(&["a", "b"])), ["approve", "deny"]);
        assert!(common_choices(&items, &pick(&["a", "c"])).is_empty());
        assert!(common_choices(&items, &pick(&[])).is_empty());
    }
}
