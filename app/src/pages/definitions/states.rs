//! The chosen version's flow with the figures on it, the selected state's figures and definition beside
//! it, and the same figures per state in a sortable table. Figures come from a signal that the page
//! refreshes; the diagram and the rows update in place.

use leptos::prelude::*;
use serde_json::Value;

use super::figures::{self, error_tone, Figures};
use super::selection::{period_label, period_words, Selection, PERIODS};
use super::sla_words;
use crate::client::ApiFailure;
use crate::components::status::ErrorNote;
use crate::diagram::marks::{state_definition, state_kinds};
use crate::diagram::view::heat_fill;
use crate::diagram::{DiagramLegend, FlowDiagram};
use crate::format;
use crate::wire::{DefinitionVersion, StateKind, StateMetrics};

/// The workflow's own figures over the period: started, completed, failed or undone, p95 duration
/// against its SLA target, and in flight now.
#[component]
pub fn Kpis(current: Memo<Option<Figures>>, period: Memo<String>) -> impl IntoView {
    move || {
        let metrics = current.with(|f| f.as_ref().and_then(|f| f.workflow.clone()))?;
        let words = period_words(&period.get());
        let failed = metrics.failed + metrics.compensated;
        let sla = match (metrics.sla_duration_ms, metrics.sla_met) {
            (Some(target), Some(met)) => {
                format!("target {} · {} met", format::window(target as i64), format::percent(Some(met)))
            }
            (Some(target), None) => format!("target {}", format::window(target as i64)),
            _ => "no duration target".into(),
        };
        let completed_note = match metrics.completion_rate {
            Some(rate) => format!("{} of those finished", format::percent(Some(rate))),
            None => "none finished".into(),
        };
        let error_note = match metrics.error_rate {
            Some(rate) => format!("error rate {}", format::percent(Some(rate))),
            None => "none finished".into(),
        };
        let duration_tone = match (metrics.sla_duration_ms, metrics.duration.p95_ms) {
            (Some(target), Some(p95)) if p95 as f64 > target => "kpi bad",
            (Some(_), Some(_)) => "kpi ok",
            _ => "kpi",
        };
        let error_class = match error_tone(metrics.error_rate) {
            "bad" => "kpi bad",
            "warn" => "kpi warn",
            _ => "kpi",
        };
        Some(view! {
            <dl class="kpis" data-testid="workflow-kpis">
                <div class="kpi">
                    <dt>"Started"</dt>
                    <dd data-kpi="started">{format::count(metrics.started)}</dd>
                    <p class="kpi-note">{format!("in {words}")}</p>
                </div>
                <div class="kpi">
                    <dt>"Completed"</dt>
                    <dd data-kpi="completed">{format::count(metrics.completed)}</dd>
                    <p class="kpi-note">{completed_note}</p>
                </div>
                <div class=error_class>
                    <dt>"Failed or undone"</dt>
                    <dd data-kpi="failed">{format::count(failed)}</dd>
                    <p class="kpi-note">{error_note}</p>
                </div>
                <div class=duration_tone>
                    <dt>"Start to finish, p95"</dt>
                    <dd data-kpi="p95">{format::maybe_duration(metrics.duration.p95_ms.map(|v| v as f64))}</dd>
                    <p class="kpi-note">{sla}</p>
                </div>
                <div class="kpi">
                    <dt>"In flight now"</dt>
                    <dd data-kpi="active">{format::count(metrics.active)}</dd>
                    <p class="kpi-note">"running or waiting"</p>
                </div>
            </dl>
        })
    }
}

/// The flow with its figures, the selected state beside it, and the table of states below.
#[component]
pub fn FlowAndStates(
    name: String,
    shown: DefinitionVersion,
    current: Memo<Option<Figures>>,
    figures_error: Option<ApiFailure>,
    period: Memo<String>,
    selection: Memo<Selection>,
    selected: RwSignal<Option<String>>,
) -> impl IntoView {
    let definition = shown.definition.clone();
    let version = shown.version;
    let marks = Memo::new(move |_| {
        current.with(|f| {
            f.as_ref().map(|f| figures::marks(&f.states, &period_words(&f.states.period.label))).unwrap_or_default()
        })
    });
    let empty = Memo::new(move |_| current.with(|f| f.as_ref().is_some_and(Figures::is_empty)));
    let in_version: Vec<String> = state_kinds(&definition).into_keys().collect();
    let label =
        format!("Flow of {name} version {version}, with the figures of {}", period_words(&period.get_untracked()));
    let empty_name = name.clone();

    view! {
        <div class="definition-grid">
            <section class="panel diagram-panel" data-testid="flow-panel">
                <div class="panel-head">
                    <h2>{move || format!("Flow · figures over {}", period_words(&period.get()))}</h2>
                </div>
                {figures_error.map(|error| view! { <ErrorNote what="Cannot load the figures of this workflow" error /> })}
                {move || empty.get().then(|| view! {
                    <p class="callout" role="status">
                        {format!("No instance ran {} in {}: the boxes show the flow without figures.", empty_name, period_words(&period.get()))}
                    </p>
                })}
                <FlowDiagram definition=definition.clone() marks=Signal::from(marks) selected label />
                <HeatLegend current />
                <DiagramLegend />
            </section>
            <StateDetail definition version current selection selected />
        </div>
        <section class="panel" data-testid="states-panel">
            <div class="panel-head states-head">
                <h2>{move || format!("States · {}", period_words(&period.get()))}</h2>
                <p class="muted small">"Select a state to see its definition. Sort by a column's heading."</p>
            </div>
            {move || if empty.get() {
                view! { <NoRuns name=name.clone() period selection /> }.into_any()
            } else if current.with(Option::is_none) {
                view! { <p class="muted">"No figures to show."</p> }.into_any()
            } else {
                view! { <StateTable current selection selected in_version=in_version.clone() version /> }.into_any()
            }}
        </section>
    }
}

/// The designed empty state of a period without runs, with links to longer periods.
#[component]
fn NoRuns(name: String, period: Memo<String>, selection: Memo<Selection>) -> impl IntoView {
    move || {
        let now = period.get();
        let position = PERIODS.iter().position(|p| *p == now).unwrap_or(0);
        let longer: Vec<&'static str> = PERIODS.iter().skip(position + 1).copied().collect();
        view! {
            <div class="empty-state" role="status" data-testid="figures-empty">
                <svg class="empty-icon" viewBox="0 0 24 24" aria-hidden="true">
                    <circle cx="12" cy="12" r="9" />
                    <path d="M12 7v5l3 2" />
                </svg>
                <p class="empty-heading">{format!("No instance ran {name} in {}", period_words(&now))}</p>
                <p class="empty-detail">
                    "Figures appear here as soon as an instance of this workflow starts."
                    {(!longer.is_empty()).then_some(" A longer period may have some:")}
                </p>
                {(!longer.is_empty()).then(|| view! {
                    <p class="button-row centered">
                        {longer.into_iter().map(|p| view! {
                            <a class="button secondary" href=selection.with(|s| s.with_period(p).url()) data-noscroll="true">
                                {format!("Show {}", period_label(p))}
                            </a>
                        }).collect_view()}
                    </p>
                })}
            </div>
        }
    }
}

/// What the colours, badges and second lines of the boxes mean, with the top of the heat scale.
#[component]
fn HeatLegend(current: Memo<Option<Figures>>) -> impl IntoView {
    let gradient =
        format!("background: linear-gradient(to right, {}, {}, {})", heat_fill(0.0), heat_fill(0.5), heat_fill(1.0));
    let top = move || current.with(|f| f.as_ref().and_then(|f| figures::slowest(&f.states)));
    view! {
        <ul class="diagram-legend heat-legend" aria-label="What the figures on the boxes mean" data-testid="heat-legend">
            <li class="heat-scale">
                <span class="heat-bar-wrap" aria-hidden="true">
                    <span class="heat-bar" style=gradient></span>
                    <span class="heat-ends">
                        <span>"0"</span>
                        <span>{move || top().map(|t| format::duration(t.p95_ms as f64)).unwrap_or_default()}</span>
                    </span>
                </span>
                <span>
                    <strong>"Colour: p95 time in the state"</strong>
                    {move || match top() {
                        Some(t) => format!(", relative to the slowest, {} ({})", t.state, format::duration(t.p95_ms as f64)),
                        None => " (no state has a time in this period)".into(),
                    }}
                </span>
            </li>
            <li><span class="badge-sample" aria-hidden="true">"3"</span>"instances in the state now"</li>
            <li>
                <span class="text-sample" aria-hidden="true">"4.5k · p95 375 ms · ⚠2%"</span>
                "times passed · p95 time · share of its calls that failed"
            </li>
        </ul>
    }
}

/// The states of the figures, one row each, in flow order or sorted by a column.
#[component]
fn StateTable(
    current: Memo<Option<Figures>>,
    selection: Memo<Selection>,
    selected: RwSignal<Option<String>>,
    in_version: Vec<String>,
    version: u32,
) -> impl IntoView {
    let order = Memo::new(move |_| {
        let sort = selection.with(|s| s.sort().to_string());
        current.with(|f| {
            f.as_ref()
                .map(|f| {
                    figures::sorted(&f.states.states, &sort).into_iter().map(|s| s.state.clone()).collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let in_version = StoredValue::new(in_version);
    let heading = move |key: &'static str, label: &'static str, class: &'static str, title: &'static str| {
        let sorted_here = move || selection.with(|s| s.sort() == key);
        view! {
            <th class=class scope="col" title=title
                aria-sort=move || if sorted_here() { if key.is_empty() { "ascending" } else { "descending" } } else { "none" }>
                <a class="sort-link" href=move || selection.with(|s| s.with_sort(key).url()) data-noscroll="true">
                    {label}
                    <span class="sort-mark" aria-hidden="true">{move || if sorted_here() { if key.is_empty() { " ↓" } else { " ▼" } } else { "" }}</span>
                </a>
            </th>
        }
    };
    view! {
        <div class="table-scroll">
            <table class="table state-table" data-testid="state-table">
                <thead>
                    <tr>
                        {heading("", "State", "", "In flow order")}
                        <th scope="col">"Kind"</th>
                        {heading("now", "Now", "num", "Instances in the state now")}
                        {heading("passed", "Passed", "num", "Times the state was entered in the period")}
                        <th class="num" scope="col" title="Median time in the state">"p50"</th>
                        {heading("p95", "p95 time", "num", "95th percentile of the time in the state, retries included")}
                        {heading("errors", "Call errors", "num", "Failed attempts of the state's service calls")}
                        <th class="num" scope="col" title="Attempts after the first">"Retries"</th>
                        {heading("share", "Share of time", "num", "This state's part of all the time runs spent in states")}
                    </tr>
                </thead>
                <tbody>
                    <For each=move || order.get() key=|name| name.clone() let:name>
                        <StateRow
                            in_version=in_version.with_value(|v| v.contains(&name))
                            name
                            current
                            selection
                            selected
                            version
                        />
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// One state's row; its figures follow the refreshes.
#[component]
fn StateRow(
    name: String,
    in_version: bool,
    current: Memo<Option<Figures>>,
    selection: Memo<Selection>,
    selected: RwSignal<Option<String>>,
    version: u32,
) -> impl IntoView {
    let metrics = {
        let name = name.clone();
        Memo::new(move |_| {
            current.with(|f| f.as_ref().and_then(|f| f.states.states.iter().find(|s| s.state == name).cloned()))
        })
    };
    let heat = Memo::new(move |_| {
        current.with(|f| {
            let f = f.as_ref()?;
            let top = figures::slowest(&f.states);
            metrics.with(|m| m.as_ref().and_then(|m| figures::heat(m, top.as_ref())))
        })
    });
    let is_selected = {
        let name = name.clone();
        move || selected.with(|s| s.as_deref() == Some(name.as_str()))
    };
    let href = {
        let name = name.clone();
        move || selection.with(|s| s.with_state(Some(&name)).url())
    };
    let cell = move |f: fn(&StateMetrics) -> String| move || metrics.with(|m| m.as_ref().map(f).unwrap_or_default());
    view! {
        <tr data-row=name.clone() class:selected=is_selected.clone() aria-current=move || is_selected().then_some("true")>
            <td class="state-name">
                <a class="state-link mono" href=href data-noscroll="true">{name.clone()}</a>
                {(!in_version).then(|| view! { <span class="pill neutral" title="This version has no state of this name">{format!("not in v{version}")}</span> })}
            </td>
            <td class="small muted">{cell(|m| if m.kind.is_empty() { "removed".into() } else { m.kind.clone() })}</td>
            <td class="num" data-col="now">{cell(|m| format::count(m.current))}</td>
            <td class="num" data-col="passed">{cell(|m| format::count(m.entered))}</td>
            <td class="num">{cell(|m| ms(m.time_in_state.p50_ms))}</td>
            <td class="num" data-col="p95">
                <span class="heat-swatch" aria-hidden="true"
                    style=move || heat.get().map(|h| format!("background: {}", heat_fill(h))).unwrap_or_else(|| "visibility: hidden".into())></span>
                {cell(|m| ms(m.time_in_state.p95_ms))}
            </td>
            <td class="num" data-col="errors">
                {move || metrics.with(|m| m.as_ref().map(|m| {
                    if m.attempts == 0 {
                        view! { <span class="muted" title="No service call">"—"</span> }.into_any()
                    } else {
                        let title = format!("{} of {} attempts failed", format::count(m.failures), format::count(m.attempts));
                        view! {
                            <span class=format!("pill {}", error_tone(m.error_rate)) title=title>{format::percent(m.error_rate)}</span>
                        }.into_any()
                    }
                }))}
            </td>
            <td class="num">{cell(|m| if m.attempts == 0 { "—".into() } else { format::count(m.retries) })}</td>
            <td class="num">{cell(|m| format::percent(m.share_of_time))}</td>
        </tr>
    }
}

fn ms(value: Option<u64>) -> String {
    format::maybe_duration(value.map(|v| v as f64))
}

/// Beside the diagram: the selected state's figures and definition, or the workflow at a glance.
#[component]
fn StateDetail(
    definition: Value,
    version: u32,
    current: Memo<Option<Figures>>,
    selection: Memo<Selection>,
    selected: RwSignal<Option<String>>,
) -> impl IntoView {
    let definition = StoredValue::new(definition);
    view! {
        <aside class="panel state-detail" data-testid="state-detail" aria-label="Selected state">
            {move || match selected.get() {
                None => definition.with_value(|d| view! { <WorkflowFacts definition=d.clone() /> }).into_any(),
                Some(state) => {
                    let spec = definition.with_value(|d| state_definition(d, &state).cloned());
                    let kind = spec.as_ref().and_then(StateKind::of);
                    let metrics = {
                        let state = state.clone();
                        Memo::new(move |_| current.with(|f| f.as_ref().and_then(|f| f.states.states.iter().find(|s| s.state == state).cloned())))
                    };
                    let clear = move || selection.with(|s| s.with_state(None).url());
                    view! {
                        <div class="state-detail-head">
                            <h2 class="mono" data-testid="detail-state">{state.clone()}</h2>
                            {kind.map(|kind| view! { <span class="pill neutral">{kind.as_str()}</span> })}
                        </div>
                        <p class="muted">{spec.as_ref().map(|s| describe_state(kind, s)).unwrap_or_else(|| format!("Version {version} has no state named {state}."))}</p>
                        <StateFigures metrics />
                        {spec.map(|spec| view! {
                            <h3 class="detail-heading">{format!("Definition in version {version}")}</h3>
                            <pre class="json state-json" data-testid="state-json" tabindex="0">{format::json(&spec)}</pre>
                        })}
                        <p class="detail-actions">
                            <a href=clear data-noscroll="true" on:click=move |_| selected.set(None)>"Clear the selection"</a>
                        </p>
                    }.into_any()
                }
            }}
        </aside>
    }
}

/// The selected state's figures.
#[component]
fn StateFigures(metrics: Memo<Option<StateMetrics>>) -> impl IntoView {
    move || {
        let Some(m) = metrics.get() else {
            return view! { <p class="muted">"No figures for this state in the period."</p> }.into_any();
        };
        let time = &m.time_in_state;
        view! {
            <dl class="facts detail-facts" data-testid="detail-figures">
                <dt>"In it now"</dt><dd>{format::count(m.current)}</dd>
                <dt>"Passed"</dt><dd>{figures::times(m.entered)}</dd>
                <dt>"Time in state"</dt>
                <dd>{if time.count == 0 { "—".to_string() } else {
                    format!("p50 {} · p95 {} · p99 {}", ms(time.p50_ms), ms(time.p95_ms), ms(time.p99_ms))
                }}</dd>
                {(m.attempts > 0).then(|| view! {
                    <dt>"Calls"</dt>
                    <dd>{format!("{} attempts, {} retries", format::count(m.attempts), format::count(m.retries))}</dd>
                    <dt>"Failed"</dt>
                    <dd>
                        <span class=format!("pill {}", error_tone(m.error_rate))>{format::percent(m.error_rate)}</span>
                        {format!(" {} of {}", format::count(m.failures), format::count(m.attempts))}
                    </dd>
                    <dt>"Call alone, p95"</dt><dd>{ms(m.attempt_duration.p95_ms)}</dd>
                    <dt>"Queued, p95"</dt><dd>{ms(m.queue_wait.p95_ms)}</dd>
                })}
                {(m.compensations > 0).then(|| view! {
                    <dt>"Undone"</dt>
                    <dd>{format!("{} compensations, {} failed", format::count(m.compensations), format::count(m.compensation_failures))}</dd>
                })}
                {(m.interventions > 0).then(|| view! {
                    <dt>"Asked a person"</dt><dd>{figures::times(m.interventions)}</dd>
                })}
                <dt>"Share of time"</dt><dd>{format::percent(m.share_of_time)}</dd>
            </dl>
        }
        .into_any()
    }
}

/// The workflow at a glance, while no state is selected.
#[component]
fn WorkflowFacts(definition: Value) -> impl IntoView {
    let kinds = state_kinds(&definition);
    let tasks = kinds.values().filter(|k| **k == Some(StateKind::Task)).count();
    let people = kinds.values().filter(|k| **k == Some(StateKind::Human)).count();
    let start = definition.get("start_at").and_then(Value::as_str).unwrap_or("?").to_string();
    let timeout = definition.pointer("/timeouts/workflow_ms").and_then(Value::as_f64).map(|ms| format::window(ms as i64));
    let keys: Vec<String> = definition
        .get("business_keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let sla: Vec<String> =
        definition.get("sla").and_then(Value::as_array).map(|a| a.iter().map(sla_words).collect()).unwrap_or_default();
    view! {
        <h2>"This workflow"</h2>
        <p class="muted">"Select a state in the diagram or the table to see its figures and its definition."</p>
        <dl class="facts detail-facts">
            <dt>"Starts at"</dt><dd class="mono">{start}</dd>
            <dt>"States"</dt>
            <dd>{format!("{} · {tasks} service {} · {people} for a person", kinds.len(), if tasks == 1 { "call" } else { "calls" })}</dd>
            <dt>"Must finish within"</dt><dd>{timeout.unwrap_or_else(|| "no deadline".into())}</dd>
            <dt>"Found by"</dt>
            <dd>{if keys.is_empty() { "no business key".to_string() } else { keys.join(", ") }}</dd>
        </dl>
        <h3 class="detail-heading">"SLA targets as registered"</h3>
        {if sla.is_empty() {
            view! { <p class="muted">"None in the definition."</p> }.into_any()
        } else {
            view! { <ul class="sla-list">{sla.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}</ul> }.into_any()
        }}
        <p class="muted small">"Managers adjust the targets on the SLA page; the definition only sets the first ones."</p>
    }
}

/// What a state does, in a sentence.
fn describe_state(kind: Option<StateKind>, spec: &Value) -> String {
    let text = |key: &str| spec.get(key).and_then(Value::as_str).unwrap_or("?").to_string();
    match kind {
        Some(StateKind::Task) => {
            let mut s = format!("Calls {}.{}", text("service"), text("action"));
            if let Some(max) = spec.pointer("/retry/max_attempts").and_then(Value::as_u64) {
                s.push_str(&format!(", up to {max} attempts"));
            }
            if let Some(timeout) = spec.get("timeout_ms").and_then(Value::as_f64) {
                s.push_str(&format!(", {} timeout each", format::duration(timeout)));
            }
            match spec.get("on_failure") {
                Some(Value::String(how)) => s.push_str(&format!("; on failure: {how}")),
                Some(other) => {
                    if let Some(to) = other.get("goto").and_then(Value::as_str) {
                        s.push_str(&format!("; on failure: go to {to}"));
                    }
                }
                None => {}
            }
            if let Some(c) = spec.get("compensation") {
                let t = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                s.push_str(&format!("; undone by {}.{}", t("service"), t("action")));
            }
            s + "."
        }
        Some(StateKind::Choice) => {
            let rules = spec.get("choices").and_then(Value::as_array).map_or(0, Vec::len);
            format!(
                "Chooses the next state by {rules} {}, otherwise {}.",
                if rules == 1 { "rule" } else { "rules" },
                text("default")
            )
        }
        Some(StateKind::Parallel) => {
            let branches = spec.get("branches").and_then(Value::as_array).map_or(0, Vec::len);
            format!("Runs {branches} branches at the same time and continues when all are done.")
        }
        Some(StateKind::Wait) => "Waits on a durable timer.".into(),
        Some(StateKind::Human) => format!("Asks the {} team: {}", text("assignee_group"), text("title")),
        Some(StateKind::Succeed) => "The run ends here, succeeded.".into(),
        Some(StateKind::Fail) => format!("The run ends here, failed: {}", text("message")),
        None => "A state.".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn states_are_described_in_a_sentence() {
        let task = json!({"type": "task", "service": "payments", "action": "charge", "timeout_ms": 30000,
                          "retry": {"max_attempts": 3}, "on_failure": "compensate",
                          "compensation": {"service": "payments", "action": "refund"}});
        assert_eq!(
            describe_state(Some(StateKind::Task), &task),
            "Calls payments.charge, up to 3 attempts, 30.0 s timeout each; on failure: compensate; undone by payments.refund."
        );
        let choice = json!({"type": "choice", "choices": [{"condition": "x", "next": "a"}], "default": "b"});
        assert_eq!(describe_state(Some(StateKind::Choice), &choice), "Chooses the next state by 1 rule, otherwise b.");
        let goto = json!({"type": "task", "service": "s", "action": "a", "on_failure": {"goto": "cleanup"}});
        assert_eq!(describe_state(Some(StateKind::Task), &goto), "Calls s.a; on failure: go to cleanup.");
    }
}
