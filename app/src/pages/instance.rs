//! Instance detail (`/instances/:id`): one run, live — its diagram (where it is, the path it took, what
//! failed, was retried or undone), the selected step's attempts and data, the operator actions its
//! status allows, the full history with actors and reasons, and its input, context and output.
//!
//! Everything reloads when the live feed reports a transition of this instance; the diagram's geometry
//! stays put, only its colours change.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{self, ApiFailure};
use crate::components::access::IfAllowed;
use crate::components::status::{hydrated_flag, ErrorNote, JsonBlock, StatusPill};
use crate::diagram::{instance_marks, marks::state_definition, DiagramLegend, FlowDiagram};
use crate::format;
use crate::live::{on_instance_change, use_live_feed};
use crate::wire::{
    DefinitionVersion, HistoryEntry, InstanceAction, InstanceDetail, InstanceStatus, InterventionKind, JournalRecord,
    Permission, StateKind, StepAttempt,
};

/// Everything the page shows about one instance, loaded together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct InstanceView {
    instance: InstanceDetail,
    history: Vec<HistoryEntry>,
    steps: Vec<StepAttempt>,
}

async fn load(id: String) -> Result<InstanceView, ApiFailure> {
    // Three reads at once: a live update waits for the slowest, not for their sum.
    let (instance, history, steps) = futures::future::try_join3(
        client::get::<InstanceDetail>(format!("/api/instances/{id}")),
        client::get(format!("/api/instances/{id}/history")),
        client::get(format!("/api/instances/{id}/steps")),
    )
    .await?;
    Ok(InstanceView { instance, history, steps })
}

/// The instance and the definition version it is pinned to: what the page first renders.
async fn load_with_definition(id: String) -> Result<(InstanceView, Option<DefinitionVersion>), ApiFailure> {
    let view = load(id).await?;
    let summary = &view.instance.summary;
    let definition = client::get::<DefinitionVersion>(format!(
        "/api/definitions/{}/versions/{}",
        client::encode_query_value(&summary.workflow),
        summary.version
    ))
    .await
    .ok();
    Ok((view, definition))
}

/// The instance detail page.
///
/// The first load renders the page (on the server too). After that the parts stay mounted — a
/// half-typed reason, the selected state and the scroll position survive — and follow `latest`,
/// reloaded in the browser whenever the live feed reports a transition of this instance.
#[component]
pub fn InstancePage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let feed = use_live_feed();
    let first = Resource::new(move || id.get(), load_with_definition);
    let latest = RwSignal::new(None::<(String, InstanceView)>);
    // Bumped by every transition of this instance and after every action taken here.
    let reload = RwSignal::new(0u64);
    on_instance_change(feed, move |change| {
        if change.id == id.get_untracked() {
            reload.update(|n| *n += 1);
        }
    });
    // Reloads can finish out of order; only the answer to the newest one is shown.
    let asked = StoredValue::new(0u64);
    Effect::new(move |previous: Option<()>| {
        let _ = reload.get();
        if previous.is_none() {
            return;
        }
        let ticket = asked.get_value() + 1;
        asked.set_value(ticket);
        let id = id.get_untracked();
        leptos::task::spawn_local(async move {
            if let Ok(view) = load(id.clone()).await {
                if asked.get_value() == ticket {
                    latest.set(Some((id, view)));
                }
            }
        });
    });

    view! {
        <Title text=move || format!("Instance {}", crate::format::short_id(&id.get())) />
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <A href="/instances">"Instances"</A>
            <span aria-hidden="true">" / "</span>
            <span class="mono">{move || id.get()}</span>
        </nav>
        <Suspense fallback=|| view! { <section class="panel"><p class="muted">"Loading the instance…"</p></section> }>
            {move || Suspend::new(async move {
                match first.await {
                    Err(error) if error.is_not_found() => view! {
                        <section class="panel">
                            <div class="empty-state" role="status">
                                <p class="empty-heading">"No such instance"</p>
                                <p class="empty-detail">{format!("There is no workflow instance with id {}. ", id.get_untracked())}
                                    <A href="/instances">"Search the instances"</A></p>
                            </div>
                        </section>
                    }.into_any(),
                    Err(error) => view! {
                        <section class="panel"><ErrorNote what="Cannot load this instance" error /></section>
                    }.into_any(),
                    Ok((loaded, definition)) => {
                        let shown_id = loaded.instance.summary.id.clone();
                        let current = Memo::new(move |_| {
                            latest.with(|l| match l {
                                Some((id, view)) if *id == shown_id => view.clone(),
                                _ => loaded.clone(),
                            })
                        });
                        view! { <InstanceBody view=current definition reload /> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn InstanceBody(
    view: Memo<InstanceView>,
    definition: Option<DefinitionVersion>,
    reload: RwSignal<u64>,
) -> impl IntoView {
    let first = view.get_untracked();
    let summary = first.instance.summary.clone();
    let field = move |f: fn(&InstanceView) -> String| move || view.with(f);
    let marks = {
        let definition = definition.clone();
        Memo::new(move |_| {
            view.with(|v| {
                definition
                    .as_ref()
                    .map(|d| instance_marks(&d.definition, &v.instance, &v.history, &v.steps))
                    .unwrap_or_default()
            })
        })
    };
    // The state shown beside the diagram: the current one, else the last failed one, else the last entered.
    let initial = summary
        .current_state
        .as_deref()
        .and_then(|s| s.split(',').next())
        .map(str::to_string)
        .or_else(|| first.steps.iter().rev().find(|s| s.outcome != "succeeded").map(|s| s.state.clone()))
        .or_else(|| first.steps.last().map(|s| s.state.clone()));
    let selected = RwSignal::new(initial);
    let ready = hydrated_flag();
    let status = Signal::derive(move || view.with(|v| v.instance.summary.status));
    let paused = Signal::derive(move || view.with(|v| v.instance.summary.paused));
    let error = move || view.with(|v| v.instance.summary.error.clone());
    let keys = first.instance.business_keys.clone();
    let definition_json = definition.as_ref().map(|d| d.definition.clone());
    let action_id = summary.id.clone();

    view! {
        <header class="page-header instance-header">
            <div>
                <h1>
                    <span>{summary.workflow.clone()}</span>
                    <span class="version">{format!(" v{}", summary.version)}</span>
                </h1>
                <p class="page-subtitle mono" data-testid="instance-id">{summary.id.clone()}</p>
            </div>
            <div class="page-actions">
                <StatusPill status paused />
            </div>
        </header>
        {move || error().map(|error| view! {
            <p class="callout bad" data-testid="instance-error"><strong>"Error: "</strong>{error}</p>
        })}
        <section class="panel facts-panel">
            <dl class="facts inline">
                <dt>"Now in"</dt>
                <dd data-testid="current-state">
                    {field(|v| v.instance.summary.current_state.clone().unwrap_or_else(|| "— (finished)".into()))}
                </dd>
                <dt>"Started"</dt><dd>{format::time(&summary.created_at)}</dd>
                <dt>"Last change"</dt><dd>{field(|v| format::time(&v.instance.summary.updated_at))}</dd>
                <dt>"Finished"</dt>
                <dd>{field(|v| v.instance.summary.finished_at.as_deref().map(format::time).unwrap_or_else(|| "—".into()))}</dd>
                {keys.into_iter().map(|(key, value)| {
                    let href = format!("/instances?key={}", client::encode_query_value(&value));
                    view! { <dt>{key}</dt><dd><A href=href attr:class="mono">{value}</A></dd> }
                }).collect_view()}
            </dl>
            // Roles that may not steer runs see a hint instead (the server refuses them anyway).
            <IfAllowed permission=Permission::OperateInstances>
                <Actions id=action_id.clone() status paused reload />
            </IfAllowed>
        </section>
        <div class="instance-grid" data-testid="instance-body" data-ready=move || ready.get().to_string()>
            <section class="panel diagram-panel">
                <h2>"Flow"</h2>
                {match definition {
                    Some(d) => view! {
                        <FlowDiagram
                            definition=d.definition
                            marks
                            selected
                            label=format!("Flow of {} version {}", summary.workflow, summary.version)
                        />
                        <DiagramLegend statuses=true />
                    }.into_any(),
                    None => view! { <p class="muted">"The definition of this version cannot be loaded."</p> }.into_any(),
                }}
            </section>
            <StepPanel selected view definition=definition_json />
        </div>
        <section class="panel">
            <h2>"History"</h2>
            <Timeline view />
        </section>
        <div class="grid three">
            <section class="panel">{move || view! { <JsonBlock title="Input" value=view.with(|v| v.instance.input.clone()) /> }}</section>
            <section class="panel">{move || view! { <JsonBlock title="Context" value=view.with(|v| v.instance.context.clone()) /> }}</section>
            <section class="panel">
                {move || view! { <JsonBlock title="Output" value=view.with(|v| v.instance.output.clone().unwrap_or(Value::Null)) /> }}
            </section>
        </div>
    }
}

/// The selected state: what it does, each attempt with timing and error, and what it produced.
#[component]
fn StepPanel(selected: RwSignal<Option<String>>, view: Memo<InstanceView>, definition: Option<Value>) -> impl IntoView {
    view! {
        <section class="panel step-panel" data-testid="step-panel" aria-live="polite">
            {move || match selected.get() {
                None => view! {
                    <h2>"Step"</h2>
                    <p class="muted">"Select a state in the diagram to see its attempts, timings, input, output and error."</p>
                }.into_any(),
                Some(state) => {
                    let attempts: Vec<StepAttempt> =
                        view.with(|v| v.steps.iter().filter(|s| s.state == state).cloned().collect());
                    let spec = definition.as_ref().and_then(|d| state_definition(d, &state)).cloned().unwrap_or(Value::Null);
                    let output = view.with(|v| {
                        v.instance.context.get("steps").and_then(|s| s.get(&state)).cloned().unwrap_or(Value::Null)
                    });
                    let kind = StateKind::of(&spec);
                    // The request the call was made with: the state's template filled from the context
                    // (steps only add to the context, so what it read then is still there).
                    let input = match spec.get("input") {
                        Some(template) => view.with(|v| fill_template(template, &v.instance.context)),
                        None => view.with(|v| v.instance.context.get("input").cloned().unwrap_or(Value::Null)),
                    };
                    view! {
                        <h2 data-testid="step-name">{state.clone()}</h2>
                        <p class="muted">{describe_state(kind, &spec)}</p>
                        {if attempts.is_empty() {
                            view! { <p class="muted">"No service call has finished for this state."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table compact" data-testid="step-attempts">
                                    <thead><tr><th>"#"</th><th>"Outcome"</th><th>"Started"</th><th class="num">"Took"</th></tr></thead>
                                    <tbody>
                                        {attempts.iter().map(|a| view! {
                                            <tr>
                                                <td>{a.attempt}</td>
                                                <td><span class=format!("pill {}", if a.outcome == "succeeded" { "ok" } else { "bad" })>
                                                    {if a.kind == "compensation" { format!("undo {}", a.outcome) } else { a.outcome.clone() }}
                                                </span></td>
                                                <td class="mono">{format::clock_ms(&a.started_at)}</td>
                                                <td class="num" title=format!("queued {} before the call", format::duration(a.queue_wait_ms as f64))>
                                                    {format::duration(a.duration_ms as f64)}
                                                </td>
                                            </tr>
                                            {a.error.clone().map(|e| view! { <tr class="error-row"><td colspan="4">{e}</td></tr> })}
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                        <JsonBlock title="Input" value=input />
                        <JsonBlock title="Output" value=output />
                    }.into_any()
                }
            }}
        </section>
    }
}

/// A definition's template with its paths replaced by the context's values, as the engine fills it
/// (`server/engine/DEFINITIONS.md`: `"$.a.b"` is a path, `"$"` the whole context, `"$$…"` a literal `$…`).
fn fill_template(template: &Value, context: &Value) -> Value {
    match template {
        Value::String(text) if text == "$" => context.clone(),
        Value::String(text) if text.starts_with("$$") => Value::String(text[1..].to_string()),
        Value::String(text) if text.starts_with("$.") => text[2..]
            .split('.')
            .try_fold(context, |value, segment| match value {
                Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => value.get(segment),
            })
            .cloned()
            .unwrap_or(Value::Null),
        Value::Array(items) => Value::Array(items.iter().map(|item| fill_template(item, context)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(key, value)| (key.clone(), fill_template(value, context))).collect())
        }
        other => other.clone(),
    }
}

fn describe_state(kind: Option<StateKind>, spec: &Value) -> String {
    let text = |key: &str| spec.get(key).and_then(Value::as_str).unwrap_or("?").to_string();
    match kind {
        Some(StateKind::Task) => {
            let mut s = format!("Calls {}.{}", text("service"), text("action"));
            if let Some(max) = spec.get("retry").and_then(|r| r.get("max_attempts")).and_then(Value::as_u64) {
                s.push_str(&format!(", up to {max} attempts"));
            }
            if let Some(timeout) = spec.get("timeout_ms").and_then(Value::as_f64) {
                s.push_str(&format!(", {} timeout", format::duration(timeout)));
            }
            if let Some(c) = spec.get("compensation") {
                let t = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                s.push_str(&format!("; undone by {}.{}", t("service"), t("action")));
            }
            s + "."
        }
        Some(StateKind::Choice) => "Chooses the next state from the context.".into(),
        Some(StateKind::Parallel) => "Runs its branches at the same time and joins them.".into(),
        Some(StateKind::Wait) => "Waits on a durable timer.".into(),
        Some(StateKind::Human) => "Waits for a person's decision (an intervention).".into(),
        Some(StateKind::Succeed) => "The run ends here, succeeded.".into(),
        Some(StateKind::Fail) => format!("The run ends here, failed: {}", text("message")),
        None => "A state.".into(),
    }
}

/// The operator actions an instance in `status` allows: `(action, button label)`. The server decides in
/// the end (and says why it refuses); this only keeps buttons that cannot work off the page.
fn allowed_actions(status: InstanceStatus, paused: bool) -> Vec<(&'static str, &'static str)> {
    // Whether the status allows retry and skip (a failed step), pause, and cancel.
    let (retry, pause, cancel) = match status {
        InstanceStatus::Created => (false, false, true),
        InstanceStatus::Running | InstanceStatus::Waiting => (false, true, true),
        InstanceStatus::Compensating => (false, true, false),
        InstanceStatus::NeedsIntervention => (true, true, true),
        InstanceStatus::Failed => (true, false, true),
        InstanceStatus::Completed | InstanceStatus::Compensated | InstanceStatus::Cancelled => (false, false, false),
    };
    let mut allowed = Vec::new();
    if retry {
        allowed.push(("retry", "Retry the failed step"));
        allowed.push(("skip", "Skip the failed step"));
    }
    if paused {
        allowed.push(("resume", "Resume"));
    } else if pause {
        allowed.push(("pause", "Pause"));
    }
    if cancel {
        allowed.push(("cancel", "Cancel and undo"));
    }
    allowed
}

/// The operator actions the instance's status allows, each asking for a reason first.
#[component]
fn Actions(id: String, status: Signal<InstanceStatus>, paused: Signal<bool>, reload: RwSignal<u64>) -> impl IntoView {
    let allowed = Memo::new(move |_| allowed_actions(status.get(), paused.get()));
    let chosen = RwSignal::new(None::<&'static str>);
    let reason = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, ApiFailure>>);
    let act = Action::new(move |(action, reason): &(&'static str, String)| {
        let (action, id) = (*action, id.clone());
        // The server records the signed-in user as the actor.
        let body = InstanceAction { reason: reason.clone(), actor: None, input: None, output: None };
        async move { client::post::<_, InstanceDetail>(format!("/api/instances/{id}/{action}"), &body).await }
    });
    Effect::new(move |_| {
        if let Some(result) = act.value().get() {
            let succeeded = result.is_ok();
            outcome.set(Some(
                result.map(|d| format!("Done: the instance is now {}.", format::status_label(d.summary.status))),
            ));
            if succeeded {
                chosen.set(None);
                reason.set(String::new());
            }
            reload.update(|n| *n += 1);
        }
    });
    // A choice the new status no longer allows is dropped.
    Effect::new(move |_| {
        let allowed = allowed.get();
        if chosen.get_untracked().is_some_and(|c| !allowed.iter().any(|(a, _)| *a == c)) {
            chosen.set(None);
        }
    });

    view! {
        <div class="actions" data-testid="instance-actions">
            {move || allowed.with(Vec::is_empty).then(|| view! {
                <p class="muted actions-note">"This instance has finished; there is nothing to act on."</p>
            })}
            <div class="button-row">
                {move || allowed.get().into_iter().map(|(action, label)| view! {
                    <button
                        class=if action == "cancel" { "button danger" } else { "button secondary" }
                        data-action=action
                        aria-expanded=move || (chosen.get() == Some(action)).to_string()
                        on:click=move |_| { chosen.set(Some(action)); outcome.set(None); }
                    >{label}</button>
                }).collect_view()}
            </div>
            {move || chosen.get().map(|action| view! {
                <form class="reason-form" on:submit=move |ev| {
                    ev.prevent_default();
                    act.dispatch((action, reason.get_untracked()));
                }>
                    <label for="action-reason">{format!("Why {action}? (recorded in the history)")}</label>
                    <input id="action-reason" name="reason" type="text" required autofocus
                        placeholder="e.g. buyer asked to stop the call"
                        prop:value=move || reason.get()
                        on:input=move |ev| reason.set(event_target_value(&ev)) />
                    <button class="button" type="submit" disabled=move || reason.get().trim().is_empty() || act.pending().get()>
                        {format!("Confirm {action}")}
                    </button>
                    <button class="button secondary" type="button" on:click=move |_| chosen.set(None)>"Cancel"</button>
                </form>
            })}
            {move || outcome.get().map(|result| match result {
                Ok(message) => view! { <p class="callout ok" role="status">{message}</p> }.into_any(),
                Err(error) => view! { <p class="callout bad" role="alert">{error.to_string()}</p> }.into_any(),
            })}
        </div>
    }
    .into_any()
}

/// Every event, oldest first, with its time, actor, reason and what the engine did. Entries are keyed by
/// their number: new ones are appended, the ones on screen stay.
#[component]
fn Timeline(view: Memo<InstanceView>) -> impl IntoView {
    let entries = move || view.with(|v| v.history.clone());
    view! {
        {move || view.with(|v| v.history.is_empty()).then(|| view! { <p class="muted">"No events yet."</p> })}
        <ol class="timeline" data-testid="timeline">
            <For each=entries key=|entry| entry.seq let:entry>
                <TimelineEntry entry />
            </For>
        </ol>
    }
}

#[component]
fn TimelineEntry(entry: HistoryEntry) -> impl IntoView {
    let lines: Vec<String> = entry.records.iter().filter_map(|r| record_line(&r.record)).collect();
    let tone = event_tone(&entry.event);
    view! {
        <li class=format!("timeline-entry {tone}")>
            <time class="mono" datetime=entry.at.clone() title=entry.at.clone()>{format::clock_ms(&entry.at)}</time>
            <div>
                <p class="timeline-event">
                    <strong>{entry.event.replace('_', " ")}</strong>
                    {entry.actor.map(|actor| view! { <span class="actor">" by " {actor}</span> })}
                </p>
                {entry.reason.map(|reason| view! { <p class="timeline-reason">"“" {reason} "”"</p> })}
                <ul class="timeline-records">
                    {lines.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                </ul>
            </div>
        </li>
    }
}

fn event_tone(event: &str) -> &'static str {
    match event {
        "step_failed" | "compensation_failed" => "bad",
        "cancel_requested"
        | "retry_requested"
        | "skip_requested"
        | "pause_requested"
        | "resume_requested"
        | "intervention_resolved"
        | "human_decided"
        | "intervention_claimed"
        | "intervention_assigned"
        | "intervention_unassigned" => "operator",
        _ => "",
    }
}

/// One journal record in words; `None` for the `applied` record (the entry's heading says it).
fn record_line(record: &JournalRecord) -> Option<String> {
    Some(match record {
        JournalRecord::Applied { .. } => return None,
        JournalRecord::Audit { before, after, .. } => return audit_line(before.as_ref(), after.as_ref()),
        JournalRecord::StateEntered { state, .. } => format!("entered {state}"),
        JournalRecord::StateLeft { state, duration_ms, .. } => {
            format!("left {state} after {}", format::duration(*duration_ms as f64))
        }
        JournalRecord::TaskScheduled { state, service, attempt, .. } => {
            format!("called {service} for {state} (attempt {attempt})")
        }
        JournalRecord::RetryScheduled { state, attempt, delay_ms, .. } => {
            format!("retry of {state} in {} (attempt {attempt})", format::duration(*delay_ms as f64))
        }
        JournalRecord::FallbackSelected { state, service, .. } => format!("fell back to {service} for {state}"),
        JournalRecord::CompensationScheduled { state, attempt, .. } => format!("undoing {state} (attempt {attempt})"),
        JournalRecord::InterventionOpened { kind, .. } => format!("asked a person ({})", kind_words(*kind)),
        JournalRecord::StatusChanged { from, to } => format!("status {from} → {to}"),
    })
}

/// An inbox claim or assignment from the audit trail: who holds the item now.
fn audit_line(before: Option<&Value>, after: Option<&Value>) -> Option<String> {
    let holder = |fields: Option<&Value>| fields?.get("assignee")?.as_str().map(str::to_string);
    Some(match (holder(before), holder(after)) {
        (Some(before), Some(after)) => format!("the item moved from {before} to {after}"),
        (None, Some(after)) => format!("the item is with {after}"),
        (Some(before), None) => format!("the item is no longer with {before}"),
        (None, None) => return None,
    })
}

/// An intervention kind as the timeline says it: `retries_exhausted` → `retries exhausted`.
fn kind_words(kind: InterventionKind) -> String {
    kind.as_str().replace('_', " ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn journal_records_read_as_sentences() {
        let line = |record: Value| record_line(&serde_json::from_value(record).unwrap());
        assert_eq!(line(json!({"record": "applied", "event": {}})), None);
        assert_eq!(line(json!({"record": "state_entered", "state": "charge"})).unwrap(), "entered charge");
        assert_eq!(
            line(json!({"record": "task_scheduled", "state": "charge", "step_id": "i:charge:2", "service": "payments",
                        "idempotency_key": "k", "attempt": 2}))
            .unwrap(),
            "called payments for charge (attempt 2)"
        );
        assert_eq!(
            line(json!({"record": "status_changed", "from": "running", "to": "failed"})).unwrap(),
            "status running → failed"
        );
        assert_eq!(
            line(json!({"record": "intervention_opened", "intervention_id": "i", "kind": "retries_exhausted"}))
                .unwrap(),
            "asked a person (retries exhausted)"
        );
        assert_eq!(
            line(json!({"record": "audit", "intervention_id": "i", "before": null, "after": {"assignee": "rita"}}))
                .unwrap(),
            "the item is with rita"
        );
    }

    #[test]
    fn templates_are_filled_from_the_context_like_the_engine_does() {
        let context =
            json!({"input": {"call_id": "c-1", "items": [{"sku": "a"}]}, "steps": {"find-buyer": {"buyer_id": "b-7"}}});
        let template = json!({
            "call": "$.input.call_id", "buyer": "$.steps.find-buyer.buyer_id", "sku": "$.input.items.0.sku",
            "missing": "$.steps.nope.x", "literal": "$$5", "fixed": 3, "all": ["$.input.call_id"]
        });
        assert_eq!(
            fill_template(&template, &context),
            json!({"call": "c-1", "buyer": "b-7", "sku": "a", "missing": null, "literal": "$5", "fixed": 3, "all": ["c-1"]})
        );
        assert_eq!(fill_template(&json!("$"), &context), context);
    }
}
