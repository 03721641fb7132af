//! The inbox's list: one row per item — priority (with its reasons), kind and reason, workflow and run,
//! age, due time, assignee, status — and, for people who may resolve, a selection for the bulk bar.
//!
//! Rows are keyed by what they show, so a live refetch redraws only the rows that changed and the
//! selection (a set of ids) survives it. Every item links to `?item=ID`, which opens it beside the list.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_router::components::A;

use super::bulk::BulkResolveBar;
use super::query::InboxQuery;
use super::words;
use super::{Loaded, Viewer};
use crate::components::status::{hydrated_flag, StatusPill};
use crate::format;
use crate::wire::{InstanceStatus, InterventionItem, Priority};

/// The list of the current view.
#[component]
pub fn ItemTable(
    current: Memo<Loaded>,
    query: Memo<InboxQuery>,
    selected: RwSignal<BTreeSet<String>>,
    viewer: Viewer,
    now: Signal<i64>,
    reload: RwSignal<u64>,
) -> impl IntoView {
    let items = Memo::new(move |_| current.with(|c| c.list.items.clone()));
    let can_work = viewer.can_work;
    // Items that left the list (resolved elsewhere) leave the selection too.
    Effect::new(move |_| {
        items.with(|items| {
            let open: BTreeSet<&str> = items.iter().filter(|i| i.status == "open").map(|i| i.id.as_str()).collect();
            if selected.with_untracked(|s| s.iter().any(|id| !open.contains(id.as_str()))) {
                selected.update(|s| s.retain(|id| open.contains(id.as_str())));
            }
        })
    });
    let selectable = Memo::new(move |_| {
        items.with(|items| items.iter().filter(|i| i.status == "open").map(|i| i.id.clone()).collect::<Vec<_>>())
    });
    let all_selected = Memo::new(move |_| {
        selectable.with(|ids| !ids.is_empty() && selected.with(|s| ids.iter().all(|id| s.contains(id))))
    });
    let toggle_all = move |_| {
        let select = !all_selected.get_untracked();
        selected.set(if select { selectable.get_untracked().into_iter().collect() } else { BTreeSet::new() });
    };
    let ready = hydrated_flag();
    let open_id = Memo::new(move |_| query.with(|q| q.item.clone()));

    view! {
        {can_work.then(|| view! { <BulkResolveBar items selected query reload /> })}
        {move || items.with(Vec::is_empty).then(|| {
            let (heading, detail) = empty_words(&query.get_untracked());
            view! {
                <div class="empty-state" role="status" data-testid="inbox-empty">
                    <p class="empty-heading">{heading}</p>
                    <p class="empty-detail">{detail}</p>
                </div>
            }
        })}
        <div class="table-scroll" class:hidden=move || items.with(Vec::is_empty)>
            <table class="table inbox-table" data-testid="inbox-table" data-ready=move || ready.get().to_string()>
                <thead>
                    <tr>
                        {can_work.then(|| view! {
                            <th class="check">
                                <input type="checkbox" aria-label="Select every open item in this list"
                                    class:hidden=move || selectable.with(Vec::is_empty)
                                    prop:checked=all_selected on:change=toggle_all />
                            </th>
                        })}
                        <th>"Priority"</th>
                        <th>"Item"</th>
                        <th class="col-wide">"Run"</th>
                        <th class="col-wide">"Age"</th>
                        <th class="col-wide">"Due"</th>
                        <th class="col-wide">"Assignee"</th>
                        <th class="col-wide">"Status"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || items.get() key=row_key let:item>
                        <ItemRow item query selected can_work now open_id />
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// What a row shows; a row is redrawn when this changes.
fn row_key(item: &InterventionItem) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        item.id,
        item.status,
        item.assignee.as_deref().unwrap_or(""),
        item.priority.score,
        item.overdue,
        item.instance_status.map_or("", InstanceStatus::as_str),
        item.priority.because.join(";")
    )
}

#[component]
fn ItemRow(
    item: InterventionItem,
    query: Memo<InboxQuery>,
    selected: RwSignal<BTreeSet<String>>,
    can_work: bool,
    now: Signal<i64>,
    open_id: Memo<String>,
) -> impl IntoView {
    let id = item.id.clone();
    let href = {
        let id = id.clone();
        move || query.with(|q| q.with_item(&id).url())
    };
    let is_open = {
        let id = id.clone();
        Memo::new(move |_| open_id.with(|open| *open == id))
    };
    let checked = {
        let id = id.clone();
        move || selected.with(|s| s.contains(&id))
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            selected.update(|s| {
                if !s.remove(&id) {
                    s.insert(id.clone());
                }
            })
        }
    };
    let opened_at = item.opened_at.clone();
    let opened_title = format::time(&opened_at);
    let due_at = item.due_at.clone();
    let due_title = due_at.as_deref().map(format::time).unwrap_or_default();
    let kind = item.kind.as_str();
    let meta_due = item.due_at.clone();
    let meta_assignee = match (&item.resolved_by, &item.assignee) {
        (Some(by), _) if item.status != "open" => format!("by {by}"),
        (_, Some(who)) => who.clone(),
        (_, None) if item.status != "open" => "by the run moving on".into(),
        (_, None) => "unassigned".into(),
    };
    let overdue = item.overdue;
    let resolved = item.status != "open";
    let select_label = format!("Select {} {}", words::kind_label(item.kind), item.reason);
    let row_class = move || {
        let mut class = String::from("inbox-row");
        if is_open.get() {
            class.push_str(" open");
        }
        if overdue && !resolved {
            class.push_str(" overdue");
        }
        class
    };
    let run_status = item.instance_status;
    view! {
        <tr class=row_class data-testid="inbox-item" data-id=id.clone() data-kind=kind
            aria-current=move || is_open.get().then_some("true")>
            {can_work.then(|| view! {
                <td class="check">
                    {(!resolved).then(|| view! {
                        <input type="checkbox" aria-label=select_label prop:checked=checked on:change=toggle />
                    })}
                </td>
            })}
            <td><PriorityPill priority=item.priority.clone() /></td>
            <td class="item-cell">
                <A href=href attr:class="item-link">
                    <span class="item-kind">{words::kind_label(item.kind)}</span>
                    <span class="item-sep">" · "</span>
                    <span class="item-where">{format!("{} · {}", item.workflow, item.state)}</span>
                </A>
                <span class="item-reason" title=item.reason.clone()>{item.reason.clone()}</span>
                {item.amount_minor.map(|m| view! { <span class="item-amount">{format!("{} at stake", words::money(m))}</span> })}
                // With an item open the list narrows: due time and assignee move under the reason.
                <span class=if overdue && !resolved { "item-meta overdue" } else { "item-meta" }>
                    {move || if resolved { "resolved".to_string() } else { format!("due {}", words::due_words(meta_due.as_deref(), now.get())) }}
                    {format!(" · {}", meta_assignee)}
                </span>
            </td>
            <td class="col-wide mono">
                {match item.instance_id.clone() {
                    Some(run) => {
                        let (href, label) = (format!("/instances/{run}"), format::short_id(&run));
                        view! { <A href=href attr:title=run>{label}</A> }.into_any()
                    }
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}
            </td>
            <td class="col-wide nowrap small" title=opened_title>{move || words::age(&opened_at, now.get())}</td>
            <td class=if overdue && !resolved { "col-wide nowrap small due overdue" } else { "col-wide nowrap small due" }
                title=due_title>
                {move || if resolved { "—".to_string() } else { words::due_words(due_at.as_deref(), now.get()) }}
            </td>
            <td class="col-wide nowrap small" data-testid="row-assignee">
                {match item.assignee.clone() {
                    Some(who) => view! { <span>{who}</span> }.into_any(),
                    None => view! { <span class="muted">"unassigned"</span> }.into_any(),
                }}
            </td>
            <td class="col-wide nowrap">
                <span class=if resolved { "pill ok" } else { "pill warn" } data-testid="row-status">
                    {if resolved { "resolved" } else { "open" }}
                </span>
                {run_status.map(|s| view! { <span class="run-status" title="The run's status now"><StatusPill status=s /></span> })}
            </td>
        </tr>
    }
}

/// A priority level as a pill; opening it lists what made up the score (also its tooltip).
#[component]
pub fn PriorityPill(priority: Priority) -> impl IntoView {
    let tone = words::priority_tone(priority.level);
    let title = if priority.because.is_empty() {
        format!("score {}", priority.score)
    } else {
        format!("score {}: {}", priority.score, priority.because.join("; "))
    };
    view! {
        <details class="priority" data-testid="item-priority" data-level=priority.level.as_str()>
            <summary title=title>
                <span class=format!("pill {tone}")>{priority.level.as_str()}</span>
                <span class="score">{priority.score}</span>
            </summary>
            <ul class="because">
                {priority.because.into_iter().map(|reason| view! { <li>{reason}</li> }).collect_view()}
            </ul>
        </details>
    }
}

/// What an empty list means in this view.
fn empty_words(query: &InboxQuery) -> (&'static str, &'static str) {
    if query.is_filtered() {
        return ("No item matches these filters", "Clear a filter, or look in another view.");
    }
    match query.view() {
        "mine" => ("Nothing is assigned to you", "Claim an item from Unassigned, or ask someone to assign one to you."),
        "unassigned" => (
            "Every open item has someone on it",
            "New reviews, exhausted retries and failed compensations arrive here first.",
        ),
        "overdue" => ("Nothing is overdue", "Items whose due time has passed are listed here, most urgent first."),
        "resolved" => (
            "Nothing has been resolved yet",
            "Resolved items are listed here, newest first, with who decided what and why.",
        ),
        _ => (
            "The inbox is empty",
            "Compliance reviews, manual dispute reviews, exhausted retries, failed compensations and breached SLAs wait here to be claimed and resolved.",
        ),
    }
}

