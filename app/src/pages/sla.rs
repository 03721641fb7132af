//! SLA (`/sla`): for managers — every workflow type's targets against what actually happened, whether
//! each is met, at risk or breached (colour and words), its trend, the recent breaches, and the targets
//! themselves, which managers and admins change, add and remove here (other roles see a hint instead).
//!
//! Each target is judged over its own window, as the API reports it (`GET /api/sla/report`); the period
//! in the URL (`/sla?period=7d`, [`PeriodPicker`]) chooses the delivery figures shown beside each
//! workflow (`GET /api/monitoring/metrics`) and the breaches listed. The page refreshes itself when the
//! live feed reports a breach or a recovery, and every half minute — but not while a form is open.
//!
//! - [`standing`]: met / at risk / breached / no data, and how a metric's values read.
//! - [`editor`]: the target form, with the server's validation errors beside their fields.

pub mod editor;
pub mod standing;

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use self::editor::{focus_when_shown, TargetForm};
use self::standing::{standing, tally, Metric, Standing};
use crate::auth;
use crate::client::{self, query_string, ApiFailure};
use crate::components::access::{IfAllowed, RoleHint};
use crate::components::charts::{period_ms, period_words, ChartImage, PeriodPicker, DEFAULT_PERIOD};
use crate::components::status::{hydrated_flag, ErrorNote};
use crate::components::{empty_state::EmptyState, page_header::PageHeader};
use crate::format;
use crate::live::use_live_feed;
use crate::wire::{
    DefinitionSummary, Permission, SlaBreach, SlaReport, SlaResult, SlaTarget, SuccessMetrics, WorkflowMetrics,
};

/// Heartbeats between two refreshes of the report while nothing happens.
const REFRESH_BEATS: u64 = 30;

/// Breaches read per refresh (the newest); the period then narrows them.
const BREACHES_READ: &str = "200";

/// What the page is doing with one target: nothing, editing it, or asking before removing it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Editing {
    None,
    Change(String),
    Remove(String),
}

/// The page's shared state, handed to the pieces that change it.
#[derive(Clone, Copy)]
struct PageState {
    editing: RwSignal<Editing>,
    /// Bumped to reload the report, the figures and the breaches.
    refresh: RwSignal<u64>,
    /// The latest outcome of a change, shown as a note in the corner.
    notice: RwSignal<Option<Result<String, String>>>,
    /// Each trend chart as last fetched (a `data:` URL by chart URL): a card drawn again starts from it.
    charts: StoredValue<BTreeMap<String, String>>,
}

impl PageState {
    fn changed(&self, message: String) {
        self.editing.set(Editing::None);
        self.notice.set(Some(Ok(message)));
        self.refresh.update(|r| *r += 1);
    }
}

/// The report with the delivery figures of the period.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct ReportData {
    report: Result<SlaReport, ApiFailure>,
    metrics: Result<SuccessMetrics, ApiFailure>,
}

async fn load(period: String) -> ReportData {
    let report = client::get::<SlaReport>("/api/sla/report").await;
    let metrics = client::get::<SuccessMetrics>(format!(
        "/api/monitoring/metrics{}",
        query_string([("period", period.as_str())])
    ))
    .await;
    ReportData { report, metrics }
}

/// The SLA page.
#[component]
pub fn SlaPage() -> impl IntoView {
    let query = use_query_map();
    let period = Memo::new(move |_| {
        query.with(|q| q.get("period").filter(|p| !p.trim().is_empty()).unwrap_or_else(|| DEFAULT_PERIOD.to_string()))
    });
    let state = PageState {
        editing: RwSignal::new(Editing::None),
        refresh: RwSignal::new(0),
        notice: RwSignal::new(None),
        charts: StoredValue::new(BTreeMap::new()),
    };

    // Live: a breach or recovery marks the report stale; the next heartbeat reloads it (as does every
    // thirtieth), unless someone is editing — a reload would replace the form under their fingers.
    let feed = use_live_feed();
    let stale = RwSignal::new(false);
    Effect::new(move |_| {
        if feed.sla.get().is_some() {
            stale.set(true);
        }
    });
    Effect::new(move |_| {
        let Some(beat) = feed.heartbeat.get() else { return };
        let idle = state.editing.get_untracked() == Editing::None;
        if idle && (stale.get_untracked() || (beat.sequence > 0 && beat.sequence % REFRESH_BEATS == 0)) {
            stale.set(false);
            state.refresh.update(|r| *r += 1);
        }
    });

    // One resource for both, so a refresh draws the targets once (a card drawn again fetches its chart).
    let report = Resource::new(move || (period.get(), state.refresh.get()), |(period, _)| load(period));
    let breaches = Resource::new(
        move || state.refresh.get(),
        |_| client::get::<Vec<SlaBreach>>(format!("/api/sla/breaches{}", query_string([("limit", BREACHES_READ)]))),
    );
    let definitions = Resource::new(|| (), |_| client::get::<Vec<DefinitionSummary>>("/api/definitions"));

    view! {
        <PageHeader title="SLA" subtitle="Targets per workflow type against what actually happened.">
            <PeriodPicker current=period href=Callback::new(|p: &'static str| format!("/sla?period={p}")) />
        </PageHeader>
        <Suspense fallback=|| ()>
            {move || auth::current_user().get().filter(|user| !user.can(Permission::ManageSla)).map(|user| view! {
                <RoleHint role=user.role permission=Permission::ManageSla />
            })}
        </Suspense>
        <Transition fallback=|| view! { <section class="panel"><p class="muted">"Reading the SLA report…"</p></section> }>
            {move || Suspend::new(async move {
                let ReportData { report, metrics } = report.await;
                match report {
                    Err(error) => view! {
                        <section class="panel"><ErrorNote what="Cannot read the SLA report" error /></section>
                    }.into_any(),
                    Ok(report) if report.results.is_empty() => view! {
                        <section class="panel">
                            <EmptyState
                                heading="No SLA targets yet"
                                detail="Managers and admins add targets below: a workflow type, what to measure, the threshold and the window it is judged over."
                            />
                        </section>
                    }.into_any(),
                    Ok(report) => {
                        let period = period.get_untracked();
                        view! { <Report report metrics period state /> }.into_any()
                    }
                }
            })}
        </Transition>
        <section class="panel" data-testid="sla-breaches">
            <div class="panel-head spaced">
                <h2>"Breaches"</h2>
                <p class="muted small">{move || format!("Found in {} or still open, newest first", period_words(&period.get()))}</p>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Reading breaches…"</p> }>
                {move || Suspend::new(async move {
                    match breaches.await {
                        Err(error) => view! { <ErrorNote what="Cannot read the breaches" error /> }.into_any(),
                        Ok(all) => {
                            let period = period.get_untracked();
                            // The report's time is the server's "now", from which the period counts back.
                            let now = report.await.report.ok().map(|r| r.generated_at_ms);
                            view! { <BreachTable all period now /> }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
        // Only roles that may change targets get the form (the server refuses the others anyway).
        <Suspense fallback=|| ()>
            <IfAllowed permission=Permission::ManageSla quiet=true>
                <section class="panel" id="add-target" data-testid="add-target">
                    <h2>"Add a target"</h2>
                    <p class="muted small">
                        "A workflow type, what to measure, the threshold, and the window it is judged over."
                    </p>
                    <Suspense fallback=|| view! { <p class="muted">"Loading workflow types…"</p> }>
                        {move || Suspend::new(async move {
                            match definitions.await {
                                Err(error) => view! { <ErrorNote what="Cannot list the workflow types" error /> }.into_any(),
                                Ok(definitions) => {
                                    let workflows: Vec<String> = definitions.into_iter().map(|d| d.name).collect();
                                    let on_saved = Callback::new(move |saved: SlaTarget| {
                                        state.changed(format!("Added to {}: {}.", saved.workflow, saved.description));
                                    });
                                    view! { <TargetForm target=None workflows on_saved /> }.into_any()
                                }
                            }
                        })}
                    </Suspense>
                </section>
            </IfAllowed>
        </Suspense>
        <Notice notice=state.notice />
    }
}

/// Where every target stands, then each workflow type's targets.
#[component]
fn Report(
    report: SlaReport,
    metrics: Result<SuccessMetrics, ApiFailure>,
    period: String,
    state: PageState,
) -> impl IntoView {
    let counts = tally(&report.results);
    let attention: Vec<SlaResult> = {
        let mut worrying: Vec<SlaResult> = report
            .results
            .iter()
            .filter(|r| matches!(standing(r), Standing::Breached | Standing::AtRisk))
            .cloned()
            .collect();
        worrying.sort_by_key(|r| (standing(r), r.target.workflow.clone()));
        worrying
    };

    // Workflow types, the one in the worst state first, each with its targets (worst first).
    let mut by_workflow: BTreeMap<String, Vec<SlaResult>> = BTreeMap::new();
    for result in report.results {
        by_workflow.entry(result.target.workflow.clone()).or_default().push(result);
    }
    let mut groups: Vec<(String, Vec<SlaResult>)> = by_workflow.into_iter().collect();
    for (_, results) in &mut groups {
        results.sort_by_key(|r| (standing(r), r.target.metric.clone(), r.target.window_ms));
    }
    groups.sort_by_key(|(name, results)| (results.iter().map(standing).min(), name.clone()));

    let (figures, figures_error) = match metrics {
        Ok(m) => (m.workflows.into_iter().map(|w| (w.workflow.clone(), w)).collect::<BTreeMap<_, _>>(), None),
        Err(error) => (BTreeMap::new(), Some(error)),
    };
    // The cards' buttons respond once this part has hydrated (it arrives with its data).
    let ready = hydrated_flag();
    let untargeted: Vec<String> =
        figures.keys().filter(|name| !groups.iter().any(|(g, _)| g == *name)).cloned().collect();

    view! {
        <section class="panel" data-testid="sla-summary" data-ready=move || ready.get().to_string()>
            <div class="panel-head spaced">
                <h2>"Where the targets stand now"</h2>
                <p class="muted small">{format!("Checked {}", format::epoch_minute(report.generated_at_ms))}</p>
            </div>
            <div class="tiles standing-tiles">
                {counts.iter().map(|(s, n)| view! {
                    <div class=format!("tile {}", s.tone()) data-standing=s.key()>
                        <p class="tile-value">{*n}</p>
                        <p class="tile-label">{s.label()}</p>
                        <p class="tile-note">{s.meaning()}</p>
                    </div>
                }).collect_view()}
            </div>
            {if attention.is_empty() {
                view! { <p class="callout ok">"Every target with data is met with room to spare."</p> }.into_any()
            } else {
                view! {
                    <ul class="attention-list" aria-label="Targets that need attention">
                        {attention.into_iter().map(|r| {
                            let s = standing(&r);
                            let metric = Metric::of(&r.target.metric);
                            view! {
                                <li>
                                    <span class=format!("pill {}", s.tone())>{s.label()}</span>
                                    <a href=format!("#wf-{}", r.target.workflow)>{r.target.workflow.clone()}</a>
                                    <span>{format!(" — {}: ", r.target.description)}</span>
                                    <strong>{metric.show_maybe(r.actual)}</strong>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <p class="muted small">
                "Each target is judged over its own window, shown on it. The period above chooses the delivery figures beside each workflow and the breaches listed at the bottom."
            </p>
        </section>
        {figures_error.map(|error| view! {
            <section class="panel"><ErrorNote what="Cannot read the delivery figures of this period" error /></section>
        })}
        {groups.into_iter().map(|(workflow, results)| {
            let figures = figures.get(&workflow).cloned();
            view! { <WorkflowTargets workflow results figures period=period.clone() state /> }
        }).collect_view()}
        {(!untargeted.is_empty()).then(|| view! {
            <p class="muted small untargeted">
                {format!("Workflow types without targets: {}. ", untargeted.join(", "))}
                <a href="#add-target">"Add a target"</a>
            </p>
        })}
    }
}

/// One workflow type: what it delivered in the period, and each of its targets.
#[component]
fn WorkflowTargets(
    workflow: String,
    results: Vec<SlaResult>,
    figures: Option<WorkflowMetrics>,
    period: String,
    state: PageState,
) -> impl IntoView {
    view! {
        <section class="panel sla-workflow" id=format!("wf-{workflow}") data-workflow=workflow.clone()>
            <div class="panel-head spaced">
                <h2>{workflow.clone()}</h2>
                <p class="muted small delivery" data-testid="delivery">{delivery(figures.as_ref(), &period)}</p>
            </div>
            <div class="sla-targets">
                {results.into_iter().map(|result| view! { <TargetCard result state /> }).collect_view()}
            </div>
        </section>
    }
}

/// "In the last 24 hours: 279 finished · 96.4 % completed · p95 4.4 s · 92 % within the 2.0 s target".
fn delivery(figures: Option<&WorkflowMetrics>, period: &str) -> String {
    let Some(m) = figures else {
        return format!("No figures for {}", period_words(period));
    };
    if m.finished == 0 && m.active == 0 {
        return format!("Nothing ran in {}", period_words(period));
    }
    let mut parts = vec![format!("{} finished", format::count(m.finished))];
    if m.completion_rate.is_some() {
        parts.push(format!("{} completed", format::percent(m.completion_rate)));
    }
    if let Some(p95) = m.duration.p95_ms {
        parts.push(format!("p95 {}", format::duration(p95 as f64)));
    }
    if let (Some(share), Some(target)) = (m.sla_met, m.sla_duration_ms) {
        parts.push(format!("{} within {}", format::percent(Some(share)), format::duration(target)));
    }
    if m.active > 0 {
        parts.push(format!("{} in flight now", format::count(m.active)));
    }
    let mut words = period_words(period);
    if let Some(first) = words.get(..1) {
        words = first.to_uppercase() + &words[1..];
    }
    format!("{words}: {}", parts.join(" · "))
}

/// One target: standing, actual against threshold, the trend chart, and the controls to change it.
#[component]
fn TargetCard(result: SlaResult, state: PageState) -> impl IntoView {
    let s = standing(&result);
    let target = result.target.clone();
    let metric = Metric::of(&target.metric);
    let id = target.id.clone();
    let sample_noun = if metric.is_duration() {
        "completed"
    } else if target.metric == "manual_intervention_rate" {
        "started"
    } else {
        "finished"
    };
    let margin = result.actual.map(|a| metric.margin(target.threshold, a)).unwrap_or_else(|| "—".into());
    // A chart of twelve empty windows says nothing; a line does, in far less room.
    let has_history = result.trend.iter().any(|p| p.actual.is_some());
    let chart = format!("/api/charts/sla/{}.svg", client::encode_query_value(&id));
    // The first rendering (server, hydration) shows the chart's URL. A card drawn again after a
    // refresh or an edit fetches the picture anew: the browser would show the first one again for the
    // same URL, and this chart's URL has nothing to vary (see `fetch_chart`).
    let src = RwSignal::new(state.charts.with_value(|c| c.get(&chart).cloned()).unwrap_or_else(|| chart.clone()));
    #[cfg(feature = "hydrate")]
    if has_history && state.refresh.get_untracked() > 0 {
        let url = chart.clone();
        leptos::task::spawn_local(async move {
            if let Some(fresh) = crate::components::charts::fetch_chart(url.clone()).await {
                // The card, or the page, may be gone by now: then there is nothing to update.
                let _ = state.charts.try_update_value(|c| c.insert(url, fresh.clone()));
                let _ = src.try_set(fresh);
            }
        });
    }
    let alt = format!(
        "Trend of {} for {}: the last 12 windows against the target {}",
        metric.words(),
        target.workflow,
        metric.bound(target.threshold)
    );
    let (change_id, remove_id, form_id) = (id.clone(), id.clone(), id.clone());
    let is_changing = move || state.editing.with(|e| *e == Editing::Change(form_id.clone()));
    let confirm_id = id.clone();
    let is_removing = move || state.editing.with(|e| *e == Editing::Remove(confirm_id.clone()));
    let form_target = target.clone();
    let meta = format!(
        "{}Changed {} by {}",
        if target.open_intervention { "A breach opens an intervention. " } else { "" },
        format::epoch_minute(target.updated_at_ms),
        target.updated_by
    );
    let removed_text = format!("Removed from {}: {}.", target.workflow, target.description);
    let may_change = auth::can(Permission::ManageSla);
    let delete_id = id.clone();
    let remove = Action::new(move |_: &()| {
        let id = delete_id.clone();
        async move { client::post_no_answer(format!("/api/sla/targets/{}/delete", client::encode_query_value(&id))).await }
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => state.changed(removed_text.clone()),
        Some(Err(error)) => state.notice.set(Some(Err(format!("Not removed: {error}")))),
        None => {}
    });

    view! {
        <article class=format!("sla-target {}", s.tone()) data-testid="sla-target" data-standing=s.key() data-target=id.clone()>
            <header class="sla-target-head">
                <span class=format!("pill {}", s.tone()) data-testid="sla-status" title=s.meaning()>{s.label()}</span>
                <h3>{target.description.clone()}</h3>
            </header>
            <dl class="sla-figures">
                <div>
                    <dt>"Actual"</dt>
                    <dd class=format!("sla-actual {}", s.tone()) data-testid="sla-actual">{metric.show_maybe(result.actual)}</dd>
                </div>
                <div><dt>"Target"</dt><dd data-testid="sla-threshold">{metric.bound(target.threshold)}</dd></div>
                <div><dt>"Margin"</dt><dd>{margin}</dd></div>
                <div>
                    <dt>"Over"</dt>
                    <dd>{format!("the last {} · {} {sample_noun}", format::window(target.window_ms), format::count(result.sample))}</dd>
                </div>
            </dl>
            {result.open_breach.map(|breach| view! {
                <p class="small breach-line">
                    {format!("Breached since {}", format::epoch_minute(breach.breached_at_ms))}
                    {breach.intervention_id.map(|_| view! { " · " <a href="/interventions">"intervention opened"</a> })}
                </p>
            })}
            {if has_history {
                view! { <ChartImage src alt testid="sla-trend" /> }.into_any()
            } else {
                view! {
                    <p class="no-history" data-testid="sla-no-history">
                        {format!("No trend yet: nothing to judge in any of the last 12 windows of {}.", format::window(target.window_ms))}
                    </p>
                }.into_any()
            }}
            {move || if is_changing() {
                let on_saved = Callback::new(move |saved: SlaTarget| {
                    state.changed(format!("Saved {}: {}.", saved.workflow, saved.description));
                });
                let on_cancel = Callback::new(move |_| state.editing.set(Editing::None));
                view! { <TargetForm target=Some(form_target.clone()) on_saved on_cancel /> }.into_any()
            } else if is_removing() {
                let confirm = NodeRef::<leptos::html::Button>::new();
                focus_when_shown(confirm);
                view! {
                    <div class="callout warn confirm-remove" role="group" aria-label="Remove this target?">
                        <p>"Remove this target? Its past breaches stay on record."</p>
                        <div class="button-row">
                            <button class="button danger" type="button" node_ref=confirm disabled=move || remove.pending().get()
                                on:click=move |_| { remove.dispatch(()); }>
                                "Remove target"
                            </button>
                            <button class="button secondary" type="button" on:click=move |_| state.editing.set(Editing::None)>
                                "Keep it"
                            </button>
                        </div>
                    </div>
                }.into_any()
            } else if !may_change.get() {
                view! {
                    <div class="button-row target-foot">
                        <p class="muted small target-meta">{meta.clone()}</p>
                    </div>
                }.into_any()
            } else {
                let (change_id, remove_id) = (change_id.clone(), remove_id.clone());
                view! {
                    <div class="button-row target-foot">
                        <button class="button secondary" type="button" data-testid="edit-target"
                            on:click=move |_| { state.notice.set(None); state.editing.set(Editing::Change(change_id.clone())); }>
                            "Change target"
                        </button>
                        <button class="button secondary" type="button" data-testid="remove-target"
                            on:click=move |_| { state.notice.set(None); state.editing.set(Editing::Remove(remove_id.clone())); }>
                            "Remove"
                        </button>
                        <p class="muted small target-meta">{meta.clone()}</p>
                    </div>
                }.into_any()
            }}
        </article>
    }
}

/// Breaches found in the period or still open, newest first.
#[component]
fn BreachTable(all: Vec<SlaBreach>, period: String, now: Option<i64>) -> impl IntoView {
    // Without the server's time (the report failed), the latest breach or recovery stands in for it.
    let now = now.or_else(|| all.iter().map(|b| b.recovered_at_ms.unwrap_or(b.breached_at_ms)).max()).unwrap_or(0);
    let since = period_ms(&period).map_or(i64::MIN, |length| now - length);
    let shown: Vec<SlaBreach> =
        all.into_iter().filter(|b| b.recovered_at_ms.is_none() || b.breached_at_ms >= since).take(50).collect();
    if shown.is_empty() {
        return view! {
            <div class="empty-state compact" role="status">
                <p class="empty-heading">"No breach in this period"</p>
                <p class="empty-detail">"Every target was met whenever it was checked (every 15 seconds by default)."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="table breaches" data-testid="breach-table">
                <thead>
                    <tr>
                        <th>"Workflow"</th>
                        <th>"Target"</th>
                        <th class="num">"Value found"</th>
                        <th>"Found (UTC)"</th>
                        <th>"Now"</th>
                        <th class="num">"Lasted"</th>
                    </tr>
                </thead>
                <tbody>
                    {shown.into_iter().map(|b| {
                        let metric = Metric::of(&b.metric);
                        let lasted = b.recovered_at_ms.map(|r| format::duration((r - b.breached_at_ms) as f64));
                        view! {
                            <tr>
                                <td><a href=format!("#wf-{}", b.workflow)>{b.workflow.clone()}</a></td>
                                <td>{format!("{} {} over {}", metric.words(), metric.bound(b.threshold), format::window(b.window_ms))}</td>
                                <td class="num">{metric.show(b.actual)}</td>
                                <td class="nowrap">{format::epoch_minute(b.breached_at_ms).trim_end_matches(" UTC").to_string()}</td>
                                <td>
                                    {if b.recovered_at_ms.is_some() {
                                        view! { <span class="pill ok">"Recovered"</span> }.into_any()
                                    } else {
                                        view! { <span class="pill bad">"Still breached"</span> }.into_any()
                                    }}
                                    {b.intervention_id.map(|_| view! { " " <a class="small" href="/interventions">"intervention"</a> })}
                                </td>
                                <td class="num">{lasted.unwrap_or_else(|| "ongoing".into())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The outcome of the latest change, in the corner of the screen (it takes no room on the page).
#[component]
fn Notice(notice: RwSignal<Option<Result<String, String>>>) -> impl IntoView {
    view! {
        <div class="toast-region" aria-live="polite">
            {move || notice.get().map(|outcome| {
                let (class, text) = match outcome {
                    Ok(text) => ("callout ok toast", text),
                    Err(text) => ("callout bad toast", text),
                };
                view! {
                    <div class=class data-testid="sla-notice">
                        <p>{text}</p>
                        <button class="toast-close" type="button" aria-label="Dismiss" on:click=move |_| notice.set(None)>"×"</button>
                    </div>
                }
            })}
        </div>
    }
}
