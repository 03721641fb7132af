//! Interventions (`/interventions`): the inbox of work that needs a person — human tasks (reviews,
//! approvals), steps whose retries ran out, compensations that failed, and breached SLA targets.
//!
//! The page has three parts, each its own module:
//! - the list ([`list`]) of one view — mine, unassigned, all open, overdue, resolved — as tabs with
//!   counts, filtered by kind, workflow and priority, highest priority first, with a selection for one
//!   decision on many similar items ([`bulk`]);
//! - the open item ([`detail`]): its run's diagram with the run's marks, its context, the failed
//!   step's input and error, and its own history;
//! - the decision form beside it ([`decision`]): claim, assign, unassign, and resolve with a choice
//!   and a reason.
//!
//! The view, the filters and the open item live in the URL ([`query`]): the filter form is a plain
//! GET form and every tab and item is a link, so the inbox works without JavaScript and a link shows
//! the same screen. The first load renders on the server; after that the parts stay mounted (a
//! half-typed reason survives) and refetch when the live feed reports inbox changes (at most once per
//! heartbeat) or instance changes of the open item's run. Who may act is read from the signed-in
//! user: without `WorkInterventions` (support, manager) the page is read-only and shows no controls.

pub mod bulk;
pub mod decision;
pub mod detail;
pub mod list;
pub mod query;
pub mod words;

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::auth::Me;
use crate::client::{self, ApiFailure};
use crate::components::workflow_select::WorkflowSelect;
use crate::components::{charts::heartbeat_ms, page_header::PageHeader, status::ErrorNote};
use crate::live::{inbox_refresh_tick, use_live_feed};
use crate::wire::{
    InboxCounts, InterventionKind, InterventionList, Permission, PriorityLevel, PRIORITY_LEVELS, PRIORITY_SCHEME,
};
use detail::ItemDetail;
use list::ItemTable;
use query::{InboxQuery, ListKey, VIEWS};

/// A list as loaded, with the clock at the time: ages are counted from it until the first heartbeat,
/// so the server's page and the hydrated one read the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    pub list: InterventionList,
    pub at_ms: i64,
}

async fn load_list(key: ListKey) -> Result<Loaded, ApiFailure> {
    let list = client::get::<InterventionList>(key.api_path()).await?;
    Ok(Loaded { list, at_ms: words::now_ms() })
}

/// Who is signed in, as the inbox needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Viewer {
    /// The username; `None` when unknown.
    pub username: Option<String>,
    /// Whether they may claim, assign and resolve.
    pub can_work: bool,
}

/// Waits for the signed-in user (inside a `Suspense`, so the server renders with it).
pub async fn viewer() -> Viewer {
    let Some(Me(me)) = use_context::<Me>() else {
        return Viewer::default();
    };
    match me.await {
        Ok(user) => Viewer { can_work: user.can(Permission::WorkInterventions), username: Some(user.username) },
        Err(_) => Viewer::default(),
    }
}

/// The Interventions page.
#[component]
pub fn InterventionsPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(|p| InboxQuery::from_query(|k| p.get(k))));
    let key = Memo::new(move |_| query.with(InboxQuery::list_key));
    let item = Memo::new(move |_| query.with(|q| q.item.clone()));
    // Whether an item is open: the detail stays mounted from one item to the next.
    let has_item = Memo::new(move |_| item.with(|i| !i.is_empty()));
    let feed = use_live_feed();
    let first = Resource::new(move || key.get(), load_list);

    // Live: the newest list of the current view, refetched after inbox changes and after actions here.
    let latest = RwSignal::new(None::<(ListKey, Loaded)>);
    let reload = RwSignal::new(0u64);
    let tick = inbox_refresh_tick(feed, |_| true);
    let asked = StoredValue::new(0u64);
    Effect::new(move |previous: Option<()>| {
        reload.track();
        tick.track();
        if previous.is_none() {
            return;
        }
        let ticket = asked.get_value() + 1;
        asked.set_value(ticket);
        let key = key.get_untracked();
        leptos::task::spawn_local(async move {
            if let Ok(loaded) = load_list(key.clone()).await {
                if asked.get_value() == ticket {
                    latest.set(Some((key, loaded)));
                }
            }
        });
    });
    // Ages count from the server's heartbeat once it flows, from the load's clock before.
    let beat_ms = Memo::new(move |_| feed.heartbeat.with(|b| b.as_ref().and_then(heartbeat_ms)));
    let selected = RwSignal::new(BTreeSet::<String>::new());
    Effect::new(move |_| {
        key.track();
        selected.set(BTreeSet::new());
    });
    // The newest list for the view: the live reload when it is for this view, else the first load.
    let current = move |loaded: Loaded| {
        Memo::new(move |_| {
            let key = key.get();
            latest.with(|l| match l {
                Some((k, newer)) if *k == key => newer.clone(),
                _ => loaded.clone(),
            })
        })
    };

    view! {
        <PageHeader
            title="Interventions"
            subtitle="Work that needs a person: reviews and approvals, steps whose retries ran out, failed compensations, breached SLAs."
        />
        <section class="panel inbox-bar">
            <Transition fallback=move || view! { <Tabs query counts=Signal::stored(None) /> }>
                {move || Suspend::new(async move {
                    let counts = match first.await {
                        Ok(loaded) => {
                            let current = current(loaded);
                            Signal::derive(move || Some(current.with(|c| c.list.counts.clone())))
                        }
                        Err(_) => Signal::stored(None),
                    };
                    view! { <Tabs query counts /> }
                })}
            </Transition>
            <FilterForm query />
        </section>
        <div class=move || if has_item.get() { "inbox-layout has-item" } else { "inbox-layout" }>
            <section class="panel inbox-list" aria-label="Inbox items">
                <Transition fallback=|| view! { <p class="muted">"Loading the inbox…"</p> }>
                    {move || Suspend::new(async move {
                        let viewer = viewer().await;
                        match first.await {
                            Err(error) => view! { <ErrorNote what="Cannot read the inbox" error /> }.into_any(),
                            Ok(loaded) => {
                                let current = current(loaded);
                                let now = Signal::derive(move || beat_ms.get().unwrap_or_else(|| current.with(|c| c.at_ms)));
                                view! { <ItemTable current query selected viewer now reload /> }.into_any()
                            }
                        }
                    })}
                </Transition>
            </section>
            {move || has_item.get().then(|| view! { <ItemDetail item query list_reload=reload /> })}
        </div>
        <PriorityHelp />
    }
}

/// The views as tabs, each with its count of open items (resolved has none).
#[component]
fn Tabs(query: Memo<InboxQuery>, counts: Signal<Option<InboxCounts>>) -> impl IntoView {
    view! {
        <nav class="inbox-tabs" aria-label="Inbox views">
            {VIEWS.into_iter().map(|(view, label)| {
                let count = move || counts.with(|c| c.as_ref().and_then(|c| match view {
                    "mine" => Some(c.mine),
                    "unassigned" => Some(c.unassigned),
                    "all" => Some(c.all),
                    "overdue" => Some(c.overdue),
                    _ => None,
                }));
                let current = move || query.with(|q| q.view() == view);
                view! {
                    <A href=move || query.with(|q| q.with_view(view).url())
                        attr:class=move || if current() { "inbox-tab current" } else { "inbox-tab" }
                        attr:aria-current=move || current().then_some("page")
                        attr:data-testid="inbox-view-tab"
                        attr:data-view=view>
                        <span>{label}</span>
                        {move || count().map(|n| {
                            let class = if view == "overdue" && n > 0 { "tab-count bad" } else { "tab-count" };
                            view! { <span class=class data-testid="inbox-view-count">{n}</span> }
                        })}
                    </A>
                }
            }).collect_view()}
        </nav>
    }
}

/// The filters: a GET form on the page's own URL (the view rides along hidden), so the filter is the
/// link and works without JavaScript.
#[component]
fn FilterForm(query: Memo<InboxQuery>) -> impl IntoView {
    view! {
        <Form method="GET" action="/interventions" attr:class="filters inbox-filters" attr:data-testid="inbox-filters">
            <input type="hidden" name="view" prop:value=move || query.with(|q| q.view().to_string()) />
            <label>
                <span>"Kind"</span>
                <select name="kind">
                    <option value="">"Any kind"</option>
                    {InterventionKind::ALL.iter().map(|k| view! {
                        <option value=k.as_str() selected=move || query.with(|q| q.kind == k.as_str())>{words::kind_label(*k)}</option>
                    }).collect_view()}
                </select>
            </label>
            <WorkflowSelect current=Signal::derive(move || query.with(|q| q.workflow.clone())) />
            <label>
                <span>"Priority"</span>
                <select name="priority">
                    <option value="">"Any priority"</option>
                    {PriorityLevel::ALL.iter().map(|p| view! {
                        <option value=p.as_str() selected=move || query.with(|q| q.priority == p.as_str())>{p.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            <div class="filter-buttons">
                <button class="button" type="submit">"Filter"</button>
                {move || query.with(InboxQuery::is_filtered).then(|| view! {
                    <A href=move || query.with(|q| q.without_filters().url()) attr:class="button secondary">"Clear"</A>
                })}
            </div>
            {move || {
                let note = query.with(describe_filters);
                (!note.is_empty()).then(|| view! { <span class="filter-note muted small">{note}</span> })
            }}
        </Form>
    }
}

/// The active filters in words, for the line beside the form.
fn describe_filters(query: &InboxQuery) -> String {
    let mut parts = Vec::new();
    if !query.kind.is_empty() {
        // The URL's text; the server refuses a kind that is not one (the list then says so).
        let kind = query.kind.parse::<InterventionKind>();
        parts.push(kind.map_or_else(|_| query.kind.clone(), |kind| words::kind_label(kind).to_string()));
    }
    if !query.workflow.is_empty() {
        parts.push(query.workflow.clone());
    }
    if !query.priority.is_empty() {
        parts.push(format!("{} priority", query.priority));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("Showing only: {}", parts.join(" · "))
    }
}

/// How the priority score is made, for people who wonder why an item is on top: the server's own
/// words and figures (`wire::PRIORITY_SCHEME`, checked against the computation by its tests); each
/// item's own reasons come with it.
#[component]
fn PriorityHelp() -> impl IntoView {
    view! {
        <details class="panel priority-help" data-testid="priority-help">
            <summary>"How priority is computed"</summary>
            <p>"Every open item gets a score, the sum of the points below; the inbox lists the highest first."</p>
            <ul>
                {PRIORITY_SCHEME
                    .iter()
                    .map(|(title, text)| view! { <li><strong>{*title}</strong>" — " {*text}</li> })
                    .collect_view()}
            </ul>
            <p>
                "Levels: "
                {PRIORITY_LEVELS
                    .iter()
                    .map(|(from, level)| {
                        view! {
                            <span class=format!("pill {}", words::priority_tone(*level))>{level.as_str()}</span>
                            {format!(" from {from} points, ")}
                        }
                    })
                    .collect_view()} <span class="pill neutral">"low"</span> " below. "
                "Open an item's priority pill to see its own reasons with their points, e.g. “overdue by 2 h (+40)”."
            </p>
        </details>
    }
}
