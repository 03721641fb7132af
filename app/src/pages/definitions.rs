//! Definitions (`/definitions`): the marketplace's workflows; for the chosen one, its flow with the
//! monitoring figures drawn on it over a period (instances in each state now, times passed, p95 time
//! as heat, error rate), the same figures per state in a table, the selected state's definition, and
//! its versions with a structural diff between any two.
//!
//! The view lives in the URL ([`selection::Selection`]):
//! `/definitions?workflow=call-lifecycle&version=1&period=24h&diff=1..2&state=find-buyer&sort=p95`,
//! so every view is a link and the page reads completely without JavaScript (states are chosen through
//! the table's links there). In the browser, clicking a box of the diagram selects its state, and the
//! figures refresh every few heartbeats while the live feed runs; the diagram's geometry never moves.
//!
//! Parts: [`figures`] (monitoring → diagram marks, sorting), [`diff`] (what changed between two
//! versions), [`states`] (diagram panel, state table, state detail), [`versions`] (versions and diff).

pub mod diff;
pub mod figures;
pub mod selection;
mod states;
mod versions;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{self, ApiFailure};
use crate::components::{empty_state::EmptyState, page_header::PageHeader, status::ErrorNote};
use crate::format;
use crate::live::use_live_feed;
use crate::wire::{DefinitionSummary, DefinitionVersion, StateMetricsReport, SuccessMetrics};

use figures::Figures;
use selection::{period_label, period_words, Selection, PERIODS};

/// Heartbeats (one a second) between two refreshes of the figures.
const REFRESH_BEATS: u64 = 5;

/// The workflow list and the chosen workflow's versions, loaded together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Catalog {
    workflows: Vec<DefinitionSummary>,
    /// The chosen workflow's name and every version of it (oldest first), or why they cannot be read;
    /// `None` when no workflow is registered.
    chosen: Option<(String, Result<Vec<DefinitionVersion>, ApiFailure>)>,
}

async fn load_catalog(workflow: String) -> Result<Catalog, ApiFailure> {
    let workflows: Vec<DefinitionSummary> = client::get("/api/definitions").await?;
    let name = if workflow.is_empty() { workflows.first().map(|w| w.name.clone()) } else { Some(workflow) };
    let chosen = match name {
        Some(name) => {
            let versions = client::get(format!("/api/definitions/{}", client::encode_query_value(&name))).await;
            Some((name, versions))
        }
        None => None,
    };
    Ok(Catalog { workflows, chosen })
}

/// The figures of `workflow` (empty: the first registered one) over `period`; `None` when no workflow
/// is registered.
async fn load_figures(workflow: String, period: String) -> Result<Option<Figures>, ApiFailure> {
    let name = if workflow.is_empty() {
        match client::get::<Vec<DefinitionSummary>>("/api/definitions").await?.into_iter().next() {
            Some(first) => first.name,
            None => return Ok(None),
        }
    } else {
        workflow
    };
    fetch_figures(&name, &period).await.map(Some)
}

async fn fetch_figures(name: &str, period: &str) -> Result<Figures, ApiFailure> {
    let encoded = client::encode_query_value(name);
    let states: StateMetricsReport =
        client::get(format!("/api/monitoring/states/{encoded}?period={}", client::encode_query_value(period))).await?;
    // The workflow's own totals are a bonus: the page stands without them.
    let workflow = client::get::<SuccessMetrics>(format!(
        "/api/monitoring/metrics?period={}&workflow={encoded}",
        client::encode_query_value(period)
    ))
    .await
    .ok()
    .and_then(|m| m.workflows.into_iter().find(|w| w.workflow == name));
    Ok(Figures { states, workflow })
}

/// The Definitions page.
#[component]
pub fn DefinitionsPage() -> impl IntoView {
    let query = use_query_map();
    let selection = Memo::new(move |_| query.with(|q| Selection::from_query(|k| q.get(k))));
    let workflow = Memo::new(move |_| selection.with(|s| s.workflow.clone()));
    let period = Memo::new(move |_| selection.with(|s| s.period_or_default().to_string()));
    let catalog = Resource::new(move || workflow.get(), load_catalog);
    let figures = Resource::new(move || (workflow.get(), period.get()), |(w, p)| load_figures(w, p));

    // The selected state: set by the URL (links, history) and by clicking the diagram, which writes it
    // back to the URL so the view stays a link.
    let selected = RwSignal::new(selection.with_untracked(|s| (!s.state.is_empty()).then(|| s.state.clone())));
    Effect::new(move |_| {
        let from_url = selection.with(|s| (!s.state.is_empty()).then(|| s.state.clone()));
        if selected.get_untracked() != from_url {
            selected.set(from_url);
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        let chosen = selected.get();
        let current = selection.get_untracked();
        if chosen.as_deref().unwrap_or("") != current.state {
            let options = NavigateOptions { replace: true, scroll: false, ..NavigateOptions::default() };
            navigate(&current.with_state(chosen.as_deref()).url(), options);
        }
    });

    // Fresh figures every few heartbeats, without redrawing the page: the diagram's marks and the
    // table follow this signal.
    let feed = use_live_feed();
    let live = RwSignal::new(None::<Figures>);
    Effect::new(move |last: Option<Option<u64>>| {
        let tick = feed.heartbeat.with(|b| b.as_ref().map(|b| b.sequence / REFRESH_BEATS));
        // Not on the first heartbeat: the page has just been loaded with fresh figures.
        if matches!(last, Some(Some(previous)) if Some(previous) != tick) {
            if let Some(Ok(Some(shown))) = figures.get_untracked() {
                let (name, label) = (shown.states.workflow.clone(), shown.states.period.label.clone());
                leptos::task::spawn_local(async move {
                    if let Ok(fresh) = fetch_figures(&name, &label).await {
                        live.set(Some(fresh));
                    }
                });
            }
        }
        tick
    });

    view! {
        <PageHeader
            title="Definitions"
            subtitle="The marketplace's workflows: each flow with where time goes and where calls fail, and what changed between versions."
        />
        <Transition fallback=|| view! {
            <section class="panel" aria-busy="true"><p class="muted">"Loading the workflow definitions…"</p></section>
        }>
            {move || Suspend::new(async move {
                let catalog = catalog.await;
                let figures = figures.await;
                match catalog {
                    Err(error) => view! {
                        <section class="panel"><ErrorNote what="Cannot load the workflow definitions" error /></section>
                    }.into_any(),
                    Ok(catalog) => view! { <CatalogView catalog figures selection selected live /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The workflow list, then the chosen workflow (or why it cannot be shown).
#[component]
fn CatalogView(
    catalog: Catalog,
    figures: Result<Option<Figures>, ApiFailure>,
    selection: Memo<Selection>,
    selected: RwSignal<Option<String>>,
    live: RwSignal<Option<Figures>>,
) -> impl IntoView {
    let Catalog { workflows, chosen } = catalog;
    if workflows.is_empty() && chosen.as_ref().is_none_or(|(_, versions)| versions.is_err()) {
        return view! {
            <section class="panel">
                <EmptyState
                    heading="No workflow definitions registered"
                    detail="Workflows registered through POST /api/definitions appear here with their versions and flow diagrams, heat-mapped with live step counts and durations."
                />
            </section>
        }
        .into_any();
    }
    let chosen_name = chosen.as_ref().map(|(name, _)| name.clone()).unwrap_or_default();
    let body = match chosen {
        None => ().into_any(),
        Some((name, Err(error))) if error.is_not_found() => view! {
            <section class="panel" data-testid="unknown-workflow">
                <div class="empty-state" role="alert">
                    <p class="empty-heading">{format!("No workflow named “{name}”")}</p>
                    <p class="empty-detail">
                        "No workflow of that name is registered. Choose one of the registered workflows above; names are case-sensitive, like "
                        <code>"call-lifecycle"</code>"."
                    </p>
                </div>
            </section>
        }
        .into_any(),
        Some((name, Err(error))) => view! {
            <section class="panel"><ErrorNote what=format!("Cannot load the versions of {name}") error /></section>
        }
        .into_any(),
        Some((name, Ok(versions))) if versions.is_empty() => view! {
            <section class="panel"><p class="muted">{format!("{name} has no version to show.")}</p></section>
        }
        .into_any(),
        Some((name, Ok(versions))) => view! { <WorkflowView name versions figures selection selected live /> }.into_any(),
    };
    view! {
        <WorkflowPicker workflows chosen=chosen_name selection />
        {body}
    }
    .into_any()
}

/// Every workflow as a card: name, latest version, number of versions, description.
#[component]
fn WorkflowPicker(workflows: Vec<DefinitionSummary>, chosen: String, selection: Memo<Selection>) -> impl IntoView {
    view! {
        <nav class="workflow-picker" aria-label="Workflows" data-testid="workflow-list">
            <ul>
                {workflows.into_iter().map(|w| {
                    let current = w.name == chosen;
                    let name = w.name.clone();
                    let href = move || selection.with(|s| s.with_workflow(&name).url());
                    let versions = w.versions.len();
                    let description = if w.description.is_empty() { "No description.".to_string() } else { w.description.clone() };
                    let title = description.clone();
                    view! {
                        <li>
                            <a
                                class="workflow-card"
                                href=href
                                data-noscroll="true"
                                data-workflow=w.name.clone()
                                aria-current=current.then_some("true")
                                title=title
                            >
                                <span class="workflow-name">{w.name.clone()}</span>
                                <span class="workflow-meta">
                                    {format!("v{} · {versions} {}", w.latest_version, if versions == 1 { "version" } else { "versions" })}
                                </span>
                                <span class="workflow-description">{description}</span>
                            </a>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </nav>
    }
}

/// The version to show and, when the URL asked for one that cannot be shown, why another is shown.
#[derive(Clone, Debug, PartialEq)]
struct Shown {
    version: DefinitionVersion,
    latest: u32,
    notice: Option<String>,
}

fn resolve_version(name: &str, all: &[DefinitionVersion], asked: Result<Option<u32>, String>) -> Option<Shown> {
    let latest = all.last()?;
    let pick = |notice: Option<String>| Shown { version: latest.clone(), latest: latest.version, notice };
    Some(match asked {
        Ok(None) => pick(None),
        Ok(Some(v)) => match all.iter().find(|d| d.version == v) {
            Some(found) => Shown { version: found.clone(), latest: latest.version, notice: None },
            None => pick(Some(format!(
                "{name} has no version {v} (it has {}); showing the latest, version {}.",
                version_list(all),
                latest.version
            ))),
        },
        Err(bad) => {
            pick(Some(format!("“{bad}” is not a version number; showing the latest, version {}.", latest.version)))
        }
    })
}

/// `1`, `1 and 2`, `1 to 5`.
fn version_list(all: &[DefinitionVersion]) -> String {
    match all {
        [] => "none".into(),
        [one] => format!("only version {}", one.version),
        [a, b] => format!("versions {} and {}", a.version, b.version),
        [first, .., last] => format!("versions {} to {}", first.version, last.version),
    }
}

/// One workflow: its header with version and period, the figures, the flow, the states, the versions.
#[component]
fn WorkflowView(
    name: String,
    versions: Vec<DefinitionVersion>,
    figures: Result<Option<Figures>, ApiFailure>,
    selection: Memo<Selection>,
    selected: RwSignal<Option<String>>,
    live: RwSignal<Option<Figures>>,
) -> impl IntoView {
    let all = StoredValue::new(versions);
    let shown = {
        let name = name.clone();
        Memo::new(move |_| {
            let asked = selection.with(|s| s.version());
            all.with_value(|all| resolve_version(&name, all, asked))
        })
    };
    let (initial, figures_error) = match figures {
        Ok(figures) => (figures, None),
        Err(error) => (None, Some(error)),
    };
    // The figures on screen: the latest refresh when it is of the same workflow and period.
    let current = Memo::new(move |_| {
        live.with(|fresh| {
            fresh
                .as_ref()
                .filter(|f| {
                    initial.as_ref().is_some_and(|i| {
                        i.states.workflow == f.states.workflow && i.states.period.label == f.states.period.label
                    })
                })
                .cloned()
                .or_else(|| initial.clone())
        })
    });
    let period = Memo::new(move |_| selection.with(|s| s.period_or_default().to_string()));
    let period_notice = move || {
        selection.with(|s| s.period().err()).map(|bad| {
            view! {
                <p class="callout warn" role="status">
                    {format!("“{bad}” is not a period this page offers (1 h, 24 h, 7 days, 30 days); showing the last 24 h.")}
                </p>
            }
        })
    };
    let version_notice = move || {
        shown.with(|s| s.as_ref().and_then(|s| s.notice.clone())).map(|notice| {
            view! { <p class="callout warn" role="status" data-testid="version-notice">{notice}</p> }
        })
    };
    let older_notice = {
        let name = name.clone();
        move || {
            shown.with(|s| s.as_ref().filter(|s| s.version.version != s.latest).map(|s| (s.version.version, s.latest))).map(
                |(v, latest)| {
                    view! {
                        <p class="callout" role="note">
                            {format!(
                                "You are looking at version {v}; the latest is {latest}. The figures count every run of {name}, whatever its version: the monitoring API does not split them by version."
                            )}
                        </p>
                    }
                },
            )
        }
    };

    let title_name = name.clone();
    view! {
        <section class="panel workflow-head" data-testid="workflow-head">
            <div class="workflow-head-top">
                <div class="workflow-title">
                    <h2 data-testid="workflow-title">
                        <span>{title_name}</span>
                        {move || shown.with(|s| s.as_ref().map(|s| {
                            let latest = s.version.version == s.latest;
                            view! {
                                <span class=if latest { "pill info" } else { "pill warn" } data-testid="shown-version">
                                    {format!("version {}{}", s.version.version, if latest { " · latest" } else { "" })}
                                </span>
                            }
                        }))}
                    </h2>
                    <p class="muted workflow-summary">
                        {move || shown.with(|s| s.as_ref().map(|s| s.version.description.clone()).unwrap_or_default())}
                    </p>
                </div>
                <div class="workflow-controls">
                    <VersionSwitch all selection shown />
                    <PeriodSwitch selection />
                </div>
            </div>
            {period_notice}
            {version_notice}
            {older_notice}
            <states::Kpis current period />
        </section>
        {move || shown.get().map(|shown| view! {
            <states::FlowAndStates
                name=name.clone()
                shown=shown.version
                current
                figures_error=figures_error.clone()
                period
                selection
                selected
            />
        })}
        <versions::VersionsPanel all selection />
    }
}

/// The versions as links (the shown one marked).
#[component]
fn VersionSwitch(
    all: StoredValue<Vec<DefinitionVersion>>,
    selection: Memo<Selection>,
    shown: Memo<Option<Shown>>,
) -> impl IntoView {
    let numbers: Vec<u32> = all.with_value(|all| all.iter().map(|d| d.version).collect());
    let latest = numbers.last().copied().unwrap_or(1);
    view! {
        <div class="segmented" role="group" aria-label="Version">
            <span class="segmented-label">"Version"</span>
            {numbers.into_iter().map(|v| {
                let is_current = move || shown.with(|s| s.as_ref().is_some_and(|s| s.version.version == v));
                let href = move || selection.with(|s| s.with_version((v != latest).then_some(v)).url());
                view! {
                    <a href=href data-noscroll="true" data-version=v aria-current=move || is_current().then_some("true")>
                        {format!("v{v}")}
                    </a>
                }
            }).collect_view()}
        </div>
    }
}

/// The periods as links (the shown one marked).
#[component]
fn PeriodSwitch(selection: Memo<Selection>) -> impl IntoView {
    view! {
        <div class="segmented" role="group" aria-label="Period">
            <span class="segmented-label">"Period"</span>
            {PERIODS.into_iter().map(|p| {
                let is_current = move || selection.with(|s| s.period_or_default() == p);
                let href = move || selection.with(|s| s.with_period(p).url());
                view! {
                    <a href=href data-noscroll="true" data-period=p aria-current=move || is_current().then_some("true")
                        title=format!("Figures over {}", period_words(p))>
                        {period_label(p)}
                    </a>
                }
            }).collect_view()}
        </div>
    }
}

/// A duration threshold or a rate of an SLA target, in words: `p95 duration ≤ 2.0 s over 1 h`.
fn sla_words(target: &Value) -> String {
    let metric = target.get("metric").and_then(Value::as_str).unwrap_or("?");
    let threshold = target.get("threshold").and_then(Value::as_f64).unwrap_or(0.0);
    let window =
        target.get("window_ms").and_then(Value::as_f64).map(|w| format::window(w as i64)).unwrap_or_else(|| "?".into());
    let (what, bound, value) = match metric {
        "p50_duration_ms" => ("p50 duration", "≤", format::window(threshold as i64)),
        "p95_duration_ms" => ("p95 duration", "≤", format::window(threshold as i64)),
        "p99_duration_ms" => ("p99 duration", "≤", format::window(threshold as i64)),
        "avg_duration_ms" => ("average duration", "≤", format::window(threshold as i64)),
        "completion_rate" => ("completion rate", "≥", format::percent(Some(threshold))),
        "error_rate" => ("error rate", "≤", format::percent(Some(threshold))),
        "compensation_rate" => ("compensation rate", "≤", format::percent(Some(threshold))),
        "manual_intervention_rate" => ("manual intervention rate", "≤", format::percent(Some(threshold))),
        other => (other, "", threshold.to_string()),
    };
    format!("{what} {bound} {value} over {window}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn version(v: u32) -> DefinitionVersion {
        DefinitionVersion {
            name: "w".into(),
            version: v,
            description: String::new(),
            created_at: String::new(),
            created_by: "api".into(),
            definition: json!({}),
        }
    }

    #[test]
    fn an_unknown_version_falls_back_to_the_latest_and_says_why() {
        let all = [version(1), version(2)];
        let latest = resolve_version("w", &all, Ok(None)).unwrap();
        assert_eq!((latest.version.version, latest.notice), (2, None));
        assert_eq!(resolve_version("w", &all, Ok(Some(1))).unwrap().version.version, 1);
        let missing = resolve_version("w", &all, Ok(Some(9))).unwrap();
        assert_eq!(missing.version.version, 2);
        assert_eq!(
            missing.notice.as_deref(),
            Some("w has no version 9 (it has versions 1 and 2); showing the latest, version 2.")
        );
        assert!(resolve_version("w", &all, Err("x".into())).unwrap().notice.unwrap().contains("“x” is not a version"));
        assert!(resolve_version("w", &[], Ok(None)).is_none());
    }

    #[test]
    fn sla_targets_read_as_sentences() {
        assert_eq!(
            sla_words(&json!({"metric": "p95_duration_ms", "threshold": 5000, "window_ms": 3600000})),
            "p95 duration ≤ 5.0 s over 1 h"
        );
        assert_eq!(
            sla_words(&json!({"metric": "manual_intervention_rate", "threshold": 0.1, "window_ms": 86400000})),
            "manual intervention rate ≤ 10.0 % over 24 h"
        );
        assert_eq!(
            sla_words(&json!({"metric": "p95_duration_ms", "threshold": 60000.0, "window_ms": 86400000.0})),
            "p95 duration ≤ 1 min over 24 h"
        );
    }
}
