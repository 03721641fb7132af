//! The open item (`?item=ID`): what it is and why it is here, its run's diagram with the run's marks
//! (where it stopped, what failed or waits), the decision form ([`super::decision`]), the failed step's
//! input and error, the run's context, and the item's own history — opened, claimed, assigned,
//! resolved, with who and why.
//!
//! It loads `/api/interventions/{id}`, then the run (`/api/instances/{id}`, its history and steps) and
//! the definition version the run is pinned to, like the instance page. It reloads when the live feed
//! reports a change of this item or a transition of its run, so after a decision the item reads as
//! resolved and the diagram follows the workflow as it continues.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::decision::DecisionPanel;
use super::list::PriorityPill;
use super::query::InboxQuery;
use super::{viewer, words};
use crate::client::{self, encode_query_value, ApiFailure};
use crate::components::charts::heartbeat_ms;
use crate::components::status::{hydrated_flag, ErrorNote, JsonBlock, StatusPill};
use crate::diagram::{instance_marks, DiagramLegend, FlowDiagram};
use crate::format;
use crate::live::{on_instance_change, on_intervention_change, use_live_feed};
use crate::wire::{
    DefinitionVersion, HistoryEntry, InstanceDetail, InstanceStatus, InterventionDetail, InterventionEvent,
    InterventionKind, StepAttempt,
};

/// The run an item belongs to, as the diagram needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub instance: InstanceDetail,
    pub history: Vec<HistoryEntry>,
    pub steps: Vec<StepAttempt>,
}

/// Everything the detail shows, loaded together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    pub detail: InterventionDetail,
    /// `None` for an SLA breach, or when the run cannot be read.
    pub run: Option<RunView>,
    /// The clock when it was loaded: times read relative to it until the first heartbeat, so the
    /// server's page and the hydrated one agree.
    pub at_ms: i64,
}

async fn load(id: String) -> Result<ItemView, ApiFailure> {
    let detail = client::get::<InterventionDetail>(format!("/api/interventions/{}", encode_query_value(&id))).await?;
    let run = match detail.item.instance_id.clone() {
        Some(run) => futures::future::try_join3(
            client::get::<InstanceDetail>(format!("/api/instances/{run}")),
            client::get(format!("/api/instances/{run}/history")),
            client::get(format!("/api/instances/{run}/steps")),
        )
        .await
        .ok()
        .map(|(instance, history, steps)| RunView { instance, history, steps }),
        None => None,
    };
    Ok(ItemView { detail, run, at_ms: words::now_ms() })
}

/// The item, and the definition version its run is pinned to: what the detail first renders.
async fn load_with_definition(id: String) -> Result<(ItemView, Option<DefinitionVersion>), ApiFailure> {
    let view = load(id).await?;
    let definition = match &view.run {
        Some(run) => client::get::<DefinitionVersion>(format!(
            "/api/definitions/{}/versions/{}",
            encode_query_value(&run.instance.summary.workflow),
            run.instance.summary.version
        ))
        .await
        .ok(),
        None => None,
    };
    Ok((view, definition))
}

/// The open item, beside the list.
#[component]
pub fn ItemDetail(item: Memo<String>, query: Memo<InboxQuery>, list_reload: RwSignal<u64>) -> impl IntoView {
    let feed = use_live_feed();
    let first = Resource::new(move || item.get(), load_with_definition);
    let latest = RwSignal::new(None::<(String, ItemView)>);
    // Bumped by changes of this item or its run, and after every action taken here.
    let reload = RwSignal::new(0u64);
    // The run of the item on screen, to match instance changes against.
    let run_id = RwSignal::new(None::<String>);
    on_intervention_change(feed, move |change| {
        if change.id == item.get_untracked() {
            reload.update(|n| *n += 1);
        }
    });
    on_instance_change(feed, move |change| {
        if run_id.with_untracked(|r| r.as_deref() == Some(change.id.as_str())) {
            reload.update(|n| *n += 1);
        }
    });
    let asked = StoredValue::new(0u64);
    Effect::new(move |previous: Option<()>| {
        reload.track();
        if previous.is_none() {
            return;
        }
        let ticket = asked.get_value() + 1;
        asked.set_value(ticket);
        let id = item.get_untracked();
        leptos::task::spawn_local(async move {
            if let Ok(view) = load(id.clone()).await {
                if asked.get_value() == ticket {
                    latest.set(Some((id, view)));
                }
            }
        });
    });
    let close = move || query.with(|q| q.with_item("").url());

    view! {
        <section class="panel inbox-detail" data-testid="inbox-detail" aria-label="The open item">
            <A href=close attr:class="detail-close" attr:title="Close this item" attr:aria-label="Close this item">"×"</A>
            <Transition fallback=|| view! { <p class="muted">"Loading the item…"</p> }>
                {move || Suspend::new(async move {
                    let viewer = viewer().await;
                    match first.await {
                        Err(error) if error.is_not_found() => view! {
                            <div class="empty-state" role="status">
                                <p class="empty-heading">"No such item"</p>
                                <p class="empty-detail">{format!("There is no intervention with id {}.", item.get_untracked())}</p>
                            </div>
                        }.into_any(),
                        Err(error) => view! { <ErrorNote what="Cannot load this item" error /> }.into_any(),
                        Ok((loaded, definition)) => {
                            let shown = loaded.detail.item.id.clone();
                            run_id.set(loaded.detail.item.instance_id.clone());
                            let current = Memo::new(move |_| {
                                latest.with(|l| match l {
                                    Some((id, view)) if *id == shown => view.clone(),
                                    _ => loaded.clone(),
                                })
                            });
                            view! { <DetailBody view=current definition viewer query reload list_reload /> }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn DetailBody(
    view: Memo<ItemView>,
    definition: Option<DefinitionVersion>,
    viewer: super::Viewer,
    query: Memo<InboxQuery>,
    reload: RwSignal<u64>,
    list_reload: RwSignal<u64>,
) -> impl IntoView {
    let first = view.get_untracked();
    // Another item the run waits on: after a retry that failed again, or a later review.
    let next_item = Memo::new(move |_| {
        view.with(|v| {
            v.run.as_ref().and_then(|r| r.instance.open_intervention.clone()).filter(|id| *id != v.detail.item.id)
        })
    });
    let item = first.detail.item.clone();
    let field = move |f: fn(&ItemView) -> String| move || view.with(f);
    let status = Memo::new(move |_| view.with(|v| v.detail.item.status.clone()));
    let resolved = move || status.with(|s| s != "open");
    let ready = hydrated_flag();
    let marks = {
        let definition = definition.clone();
        Memo::new(move |_| {
            view.with(|v| match (&definition, &v.run) {
                (Some(d), Some(run)) => instance_marks(&d.definition, &run.instance, &run.history, &run.steps),
                _ => Default::default(),
            })
        })
    };
    let selected = RwSignal::new(Some(item.state.clone()));
    let run_status = Signal::derive(move || {
        // Shown only for an item with a run; the fallback is never drawn.
        view.with(|v| v.run.as_ref().map_or(InstanceStatus::Created, |r| r.instance.summary.status))
    });
    let run_paused = Signal::derive(move || view.with(|v| v.run.as_ref().is_some_and(|r| r.instance.summary.paused)));
    let has_run = first.run.is_some();
    let kind = item.kind;
    let overdue = move || view.with(|v| v.detail.item.overdue && v.detail.item.status == "open");
    // Memos: a reload redraws these only when they changed (an opened priority pill stays open).
    let priority = Memo::new(move |_| view.with(|v| v.detail.item.priority.clone()));
    let feed = use_live_feed();
    let now = Memo::new(move |_| {
        feed.heartbeat.with(|b| b.as_ref().and_then(heartbeat_ms)).unwrap_or_else(|| view.with(|v| v.at_ms))
    });
    let opened_at = item.opened_at.clone();
    let context = Memo::new(move |_| view.with(|v| v.detail.context.clone()));
    let step_input = Memo::new(move |_| view.with(|v| v.detail.step_input.clone()));

    view! {
        <div class="detail-body" data-ready=move || ready.get().to_string()>
            <header class="detail-head">
                <p class="detail-kind">
                    <span class=format!("kind-tag {}", item.kind)>{words::kind_label(item.kind)}</span>
                    <span class="muted">{format!(" in {} · state ", item.workflow)}</span>
                    <span class="mono">{item.state.clone()}</span>
                </p>
                <h2 data-testid="item-reason">{item.reason.clone()}</h2>
                <p class="muted small">{words::kind_help(kind)}</p>
            </header>
            <dl class="facts inline detail-facts">
                <dt>"Status"</dt>
                <dd>
                    <span class=move || if resolved() { "pill ok" } else { "pill warn" } data-testid="item-status"
                        data-status=move || status.get()>{move || status.get()}</span>
                </dd>
                <dt>"Assignee"</dt>
                <dd data-testid="item-assignee">{field(|v| v.detail.item.assignee.clone().unwrap_or_else(|| "nobody".into()))}</dd>
                <dt>"Priority"</dt>
                <dd>{move || view! { <PriorityPill priority=priority.get() /> }}</dd>
                <dt>"Opened"</dt>
                <dd title=format::time(&item.opened_at)>{move || format!("{} ago", words::age(&opened_at, now.get()))}</dd>
                <dt>"Due"</dt>
                <dd class:overdue=overdue data-testid="item-due"
                    title=move || view.with(|v| v.detail.item.due_at.as_deref().map(format::time).unwrap_or_default())>
                    {move || view.with(|v| match (v.detail.item.status.as_str(), v.detail.item.resolved_at.as_deref()) {
                        ("open", _) => words::due_words(v.detail.item.due_at.as_deref(), now.get()),
                        (_, Some(at)) => format!("— resolved {} ago", words::age(at, now.get())),
                        _ => "— resolved".to_string(),
                    })}
                    {move || overdue().then(|| view! { <span class="pill bad overdue-pill">"overdue"</span> })}
                </dd>
                <dt>"Run"</dt>
                <dd>
                    {match item.instance_id.clone() {
                        Some(run) => {
                            let (href, label) = (format!("/instances/{run}"), crate::format::short_id(&run));
                            view! {
                                <A href=href attr:class="mono nowrap" attr:title=run attr:data-testid="item-instance">{label}</A>
                                " "
                                {has_run.then(|| view! { <StatusPill status=run_status paused=run_paused /> })}
                            }
                            .into_any()
                        }
                        None => view! { <span class="muted">"— (an SLA target, not a run)"</span> }.into_any(),
                    }}
                </dd>
                {item.amount_minor.map(|m| view! { <dt>"At stake"</dt><dd>{words::money(m)}</dd> })}
            </dl>
            {move || next_item.get().map(|next| view! {
                <p class="callout warn" data-testid="next-item">
                    {move || if resolved() { "The run stopped again and waits on another item: " } else { "The run also waits on another item: " }}
                    <A href=query.with_untracked(|q| q.with_item(&next).url())>"open it"</A>
                    "."
                </p>
            })}
            <div class="detail-grid">
                <section class="detail-diagram" aria-label="The run's flow">
                    <h3>"Where the run stands"</h3>
                    {match (definition, has_run) {
                        (Some(d), true) => view! {
                            <FlowDiagram
                                definition=d.definition
                                marks
                                selected
                                label=format!("Flow of {} version {}", d.name, d.version)
                            />
                            <DiagramLegend statuses=true />
                            <StateNote selected marks=marks.into() />
                        }.into_any(),
                        (None, true) => view! { <p class="muted">"The definition of this run's version cannot be loaded."</p> }.into_any(),
                        _ => view! { <p class="muted">"This item belongs to no run: nothing to draw."</p> }.into_any(),
                    }}
                </section>
                <DecisionPanel view viewer reload list_reload />
            </div>
            {move || view.with(|v| v.detail.error.clone()).map(|error| view! {
                <p class="callout bad" data-testid="item-error"><strong>"Last error: "</strong>{error}</p>
            })}
            <div class="detail-data">
                {move || step_input.get().map(|input| view! {
                    <JsonBlock title="Failed step's input" value=input />
                })}
                {move || view! { <JsonBlock title=context_title(kind) value=context.get() /> }}
            </div>
            <section class="detail-history">
                <h3>"This item's history"</h3>
                <ItemHistory view />
            </section>
        </div>
    }
}

fn context_title(kind: InterventionKind) -> String {
    if kind == InterventionKind::SlaBreach {
        "The breach's figures".into()
    } else {
        "The run's context".into()
    }
}

/// The selected state in words under the diagram: how it stands and its attempts.
#[component]
fn StateNote(selected: RwSignal<Option<String>>, marks: Signal<crate::diagram::Marks>) -> impl IntoView {
    move || {
        selected.get().map(|state| {
            let mark = marks.with(|m| m.nodes.get(&state).cloned()).unwrap_or_default();
            let standing = mark.status.map_or("not reached", |s| s.label());
            view! {
                <div class="state-note" data-testid="state-note">
                    <p><span class="mono">{state}</span>" — "{standing}</p>
                    {(!mark.detail.is_empty()).then(|| view! {
                        <ul>{mark.detail.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}</ul>
                    })}
                </div>
            }
        })
    }
}

/// The item's own history, oldest first.
#[component]
fn ItemHistory(view: Memo<ItemView>) -> impl IntoView {
    move || {
        let events = view.with(|v| v.detail.history.clone());
        if events.is_empty() {
            return view! { <p class="muted">"No history yet."</p> }.into_any();
        }
        view! {
            <ol class="timeline item-history" data-testid="item-history">
                {events.into_iter().map(|event| view! { <HistoryLine event /> }).collect_view()}
            </ol>
        }
        .into_any()
    }
}

#[component]
fn HistoryLine(event: InterventionEvent) -> impl IntoView {
    let tone = if event.action == "resolved" { "timeline-entry operator" } else { "timeline-entry" };
    let detail = event.detail.filter(|d| !d.is_null() && d.as_object().is_none_or(|o| !o.is_empty()));
    view! {
        <li class=tone data-action=event.action.clone()>
            <time class="mono" datetime=event.at.clone() title=format::time(&event.at)>{format::short_time(&event.at)}</time>
            <div>
                <p class="timeline-event">
                    <strong>{event.action.clone()}</strong>
                    {event.actor.map(|actor| view! { <span class="actor">" by " {actor}</span> })}
                </p>
                {event.reason.map(|reason| view! { <p class="timeline-reason">"“" {reason} "”"</p> })}
                {detail.map(|d| view! { <p class="timeline-records mono">{compact(&d)}</p> })}
            </div>
        </li>
    }
}

/// An event's detail on one line: what changed (`assignee: nobody → rita`) for a before/after pair,
/// else its fields.
fn compact(value: &Value) -> String {
    let text = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "nobody".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if let (Some(before), Some(after)) = (value.get("before"), value.get("after")) {
        let empty = serde_json::Map::new();
        let (b, a) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
        let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
        return keys
            .into_iter()
            .filter(|k| b.get(*k) != a.get(*k))
            .map(|k| match (b.get(k), a.get(k)) {
                (Some(_), Some(_)) | (Some(_), None) => format!("{k}: {} → {}", text(b.get(k)), text(a.get(k))),
                (None, _) => format!("{k}: {}", text(a.get(k))),
            })
            .collect::<Vec<_>>()
            .join(" · ");
    }
    match value {
        Value::Object(fields) => fields
            .iter()
            .filter(|(k, _)| k.as_str() != "reason")
            .map(|(k, v)| format!("{k}: {}", text(Some(v))))
            .collect::<Vec<_>>()
            .join(" · "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn event_details_read_as_what_changed() {
        let claim = json!({"before": {"assignee": null}, "after": {"assignee": "rita"}});
        assert_eq!(compact(&claim), "assignee: nobody → rita");
        let resolve = json!({"before": {"status": "open", "assignee": "rita"},
                             "after": {"status": "closed", "assignee": "rita", "resolved_by": "rita"}});
        assert_eq!(compact(&resolve), "resolved_by: rita · status: open → closed");
        assert_eq!(
            compact(&json!({"kind": "human_task", "state": "manual-review"})),
            "kind: human_task · state: manual-review"
        );
        assert_eq!(compact(&json!({"choice": "approve", "reason": "ok"})), "choice: approve");
    }
}
