//! The instance list: the filter (in the URL, as the API's query), its form, and one page of instances
//! with live status, selection and paging.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use leptos_router::components::{Form, A};

use crate::client::query_string;
use crate::components::status::{hydrated_flag, StatusPill};
use crate::components::workflow_select::WorkflowSelect;
use crate::format;
use crate::wire::{InstanceChange, InstancePage};

/// The filter's fields, as named in the URL (and in the API's query).
pub const FILTER_FIELDS: [&str; 7] = ["workflow", "status", "version", "key", "from", "to", "error"];

/// Rows per page.
const PAGE_SIZE: &str = "50";

/// The filter as the page's URL holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub fields: BTreeMap<&'static str, String>,
}

impl InstanceFilter {
    /// The value of one field ("" when not set).
    pub fn get(&self, field: &str) -> String {
        self.fields.get(field).cloned().unwrap_or_default()
    }

    /// Whether any field is set.
    pub fn is_empty(&self) -> bool {
        self.fields.values().all(|v| v.trim().is_empty())
    }

    /// The field's value as the API wants it: times from the form (`2026-11-25T22:15`, UTC) become RFC
    /// 3339.
    pub fn api_value(&self, field: &str) -> String {
        let value = self.get(field).trim().to_string();
        if (field == "from" || field == "to") && value.len() == 16 {
            format!("{value}:00Z")
        } else {
            value
        }
    }

    /// The API query for a page of this filter.
    pub fn api_query(&self, cursor: &str) -> String {
        let values: Vec<(&str, String)> = FILTER_FIELDS.iter().map(|f| (*f, self.api_value(f))).collect();
        let mut pairs: Vec<(&str, &str)> = values.iter().map(|(f, v)| (*f, v.as_str())).collect();
        pairs.push(("limit", PAGE_SIZE));
        pairs.push(("cursor", cursor));
        query_string(pairs)
    }

    /// The page's own URL for this filter, at `cursor`.
    pub fn page_url(&self, cursor: &str) -> String {
        let values: Vec<(&str, String)> = FILTER_FIELDS.iter().map(|f| (*f, self.get(f))).collect();
        let mut pairs: Vec<(&str, &str)> = values.iter().map(|(f, v)| (*f, v.as_str())).collect();
        pairs.push(("cursor", cursor));
        format!("/instances{}", query_string(pairs))
    }
}

/// The filter form: a GET form on the page's own URL, so the filter is the link.
#[component]
pub fn FilterForm(filter: Memo<InstanceFilter>) -> impl IntoView {
    let value = move |field: &'static str| move || filter.with(|f| f.get(field));
    view! {
        <Form method="GET" action="/instances" attr:class="filters" attr:data-testid="instance-filters">
            <label>
                <span>"Business key"</span>
                <input type="search" name="key" placeholder="call-123, buyer-42, payout id…" prop:value=value("key") />
            </label>
            <WorkflowSelect current=Signal::derive(move || filter.with(|f| f.get("workflow"))) />
            <label class="narrow">
                <span>"Version"</span>
                <input type="number" min="1" name="version" placeholder="any" prop:value=value("version") />
            </label>
            <label>
                <span>"Status"</span>
                <select name="status">
                    <option value="">"Any status"</option>
                    {format::STATUSES.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || filter.with(|f| f.get("status") == s.as_str())>{format::status_label(s)}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>
                <span>"Started from (UTC)"</span>
                <input type="datetime-local" name="from" prop:value=value("from") />
            </label>
            <label>
                <span>"until (UTC)"</span>
                <input type="datetime-local" name="to" prop:value=value("to") />
            </label>
            <label>
                <span>"Error contains"</span>
                <input type="search" name="error" placeholder="card declined" prop:value=value("error") />
            </label>
            <div class="filter-buttons">
                <button class="button" type="submit">"Search"</button>
                <A href="/instances" attr:class="button secondary">"Clear"</A>
            </div>
        </Form>
    }
}

/// One page of instances with live status, selection and paging.
#[component]
pub fn InstanceTable(
    page: InstancePage,
    changes: RwSignal<BTreeMap<String, InstanceChange>>,
    selected: RwSignal<BTreeSet<String>>,
    filter: Memo<InstanceFilter>,
    cursor: Memo<String>,
) -> impl IntoView {
    let ids: Vec<String> = page.items.iter().map(|i| i.id.clone()).collect();
    let all_selected = {
        let ids = ids.clone();
        Memo::new(move |_| selected.with(|s| !ids.is_empty() && ids.iter().all(|id| s.contains(id))))
    };
    let toggle_all = {
        let ids = ids.clone();
        move |_| {
            let select = !all_selected.get_untracked();
            selected.update(|s| {
                for id in &ids {
                    if select {
                        s.insert(id.clone());
                    } else {
                        s.remove(id);
                    }
                }
            })
        }
    };
    let next = page.next_cursor.clone();
    let ready = hydrated_flag();
    view! {
        <div class="table-scroll">
            <table class="table instances" data-testid="instances-table" data-ready=move || ready.get().to_string()>
                <thead>
                    <tr>
                        <th class="check">
                            <input type="checkbox" aria-label="Select every instance on this page"
                                prop:checked=all_selected on:change=toggle_all />
                        </th>
                        <th>"Instance"</th>
                        <th>"Workflow"</th>
                        <th>"Status"</th>
                        <th>"Now in"</th>
                        <th>"Error"</th>
                        <th>"Started (UTC)"</th>
                        <th class="col-updated">"Last change"</th>
                    </tr>
                </thead>
                <tbody>
                    {page.items.into_iter().map(|item| {
                        let id = item.id.clone();
                        let live = {
                            let id = id.clone();
                            Memo::new(move |_| changes.with(|c| c.get(&id).cloned()))
                        };
                        let status = {
                            let fallback = item.status;
                            Signal::derive(move || live.with(|c| c.as_ref().map(|c| c.status)).unwrap_or(fallback))
                        };
                        let paused = {
                            let fallback = item.paused;
                            Signal::derive(move || live.with(|c| c.as_ref().map(|c| c.paused)).unwrap_or(fallback))
                        };
                        let current = {
                            let fallback = item.current_state.clone();
                            move || live.with(|c| match c { Some(c) => c.current_state.clone(), None => fallback.clone() }).unwrap_or_else(|| "—".into())
                        };
                        let error = {
                            let fallback = item.error.clone();
                            move || live.with(|c| match c { Some(c) => c.error.clone(), None => fallback.clone() }).unwrap_or_default()
                        };
                        let checked = {
                            let id = id.clone();
                            move || selected.with(|s| s.contains(&id))
                        };
                        let toggle = {
                            let id = id.clone();
                            move |_| selected.update(|s| { if !s.remove(&id) { s.insert(id.clone()); } })
                        };
                        let href = format!("/instances/{id}");
                        let select_label = format!("Select {id}");
                        let (row_id, shown_id, short_id) = (id.clone(), id.clone(), format::short_id(&id));
                        view! {
                            <tr data-id=row_id>
                                <td class="check">
                                    <input type="checkbox" aria-label=select_label prop:checked=checked on:change=toggle />
                                </td>
                                <td class="mono" title=shown_id><A href=href>{short_id}</A></td>
                                <td>{item.workflow.clone()}<span class="muted">{format!(" v{}", item.version)}</span></td>
                                <td><StatusPill status paused /></td>
                                <td class="mono small">{current}</td>
                                <td class="error-cell" title=error.clone()>{error.clone()}</td>
                                <td class="nowrap small" title=item.created_at.clone()>{format::short_time(&item.created_at)}</td>
                                <td class="nowrap small col-updated" title=item.updated_at.clone()>{format::short_time(&item.updated_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            {move || (!cursor.get().is_empty()).then(|| view! {
                <A href=filter.get().page_url("") attr:class="button secondary">"« First page"</A>
            })}
            {next.map(|next| view! {
                <A href=move || filter.get().page_url(&next) attr:class="button secondary" attr:data-testid="next-page">"Next page »"</A>
            })}
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pairs: &[(&'static str, &str)]) -> InstanceFilter {
        InstanceFilter { fields: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect() }
    }

    #[test]
    fn the_filter_becomes_the_api_query_and_the_page_url() {
        let f = filter(&[("workflow", "call-lifecycle"), ("key", "buyer 42"), ("from", "2026-11-25T22:15")]);
        assert_eq!(
            f.api_query("c1"),
            "?workflow=call-lifecycle&key=buyer%2042&from=2026-11-25T22%3A15%3A00Z&limit=50&cursor=c1"
        );
        assert_eq!(f.page_url(""), "/instances?workflow=call-lifecycle&key=buyer%2042&from=2026-11-25T22%3A15");
        assert!(filter(&[("status", " ")]).is_empty());
    }
}
