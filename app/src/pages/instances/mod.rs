//! Instances (`/instances`): find any run by workflow, status, version, business key (buyer, seller,
//! call or payout id), creation time or error text; page through millions of them; watch their status
//! change live; and act on a selection or on everything the filter matches.
//!
//! The filter lives in the URL (`/instances?workflow=call-lifecycle&status=failed`), so a link shares the
//! exact view; the form is a plain GET form, so it works without JavaScript too. Pages follow the API's
//! id cursor: fast however many instances there are, with no duplicates or gaps while new ones start.
//!
//! [`list`] holds the filter, its form and the table; [`bulk`] the bar that acts on many instances (it
//! reads the list's filter and selection). This module puts them on one page.

pub mod bulk;
pub mod list;

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::client;
use crate::components::{page_header::PageHeader, status::ErrorNote};
use crate::live::{on_instance_change, use_live_feed};
use crate::wire::{InstanceChange, InstancePage};
use bulk::BulkBar;
use list::{FilterForm, InstanceFilter, InstanceTable, FILTER_FIELDS};

/// The Instances page.
#[component]
pub fn InstancesPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| InstanceFilter { fields: FILTER_FIELDS.iter().filter_map(|f| Some((*f, q.get(f)?))).collect() })
    });
    let cursor = Memo::new(move |_| query.with(|q| q.get("cursor").unwrap_or_default()));
    let page = Resource::new(
        move || (filter.get(), cursor.get()),
        |(filter, cursor)| async move {
            client::get::<InstancePage>(format!("/api/instances{}", filter.api_query(&cursor))).await
        },
    );

    // Live status: the latest change of every instance seen on the feed, shown over the loaded rows.
    let feed = use_live_feed();
    let changes = RwSignal::new(BTreeMap::<String, InstanceChange>::new());
    on_instance_change(feed, move |change| {
        changes.update(|all| {
            if all.len() > 5000 {
                all.clear();
            }
            all.insert(change.id.clone(), change.clone());
        })
    });
    let selected = RwSignal::new(BTreeSet::<String>::new());
    // A new filter or page starts a new selection.
    Effect::new(move |_| {
        let _ = (filter.get(), cursor.get());
        selected.set(BTreeSet::new());
    });

    view! {
        <PageHeader
            title="Instances"
            subtitle="Find any workflow run by type, status or business key — a buyer, seller, call or payout id — and act on it."
        />
        <section class="panel">
            <FilterForm filter />
        </section>
        <BulkBar filter selected />
        <section class="panel">
            <Transition fallback=|| view! { <p class="muted">"Loading instances…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) if page.items.is_empty() => view! {
                            <div class="empty-state" role="status" data-testid="instances-empty">
                                <p class="empty-heading">{if filter.get_untracked().is_empty() { "No workflow instances yet" } else { "No instance matches this filter" }}</p>
                                <p class="empty-detail">{if filter.get_untracked().is_empty() {
                                    "Every onboarding, call, settlement, dispute and payout the engine runs is listed here as soon as it starts."
                                } else {
                                    "Loosen the filter: a business key must match a whole id (call-2, buyer-42); error text matches any part."
                                }}</p>
                            </div>
                        }.into_any(),
                        Ok(page) => view! { <InstanceTable page changes selected filter cursor /> }.into_any(),
                        Err(error) => view! { <ErrorNote what="Cannot list instances" error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
