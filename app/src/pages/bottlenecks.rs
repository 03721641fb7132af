//! Bottlenecks (`/bottlenecks`): the steps that slow workflows down or fail them, ranked worst first,
//! each with the rule that flagged it and the reason in words, its figures, and links to the workflow's
//! definition and instances; and the time each step of a workflow takes, as a chart.
//!
//! The period and the workflow are in the URL (`/bottlenecks?period=7d&workflow=call-lifecycle`), so a
//! view can be shared. The ranking is the API's (`GET /api/monitoring/bottlenecks`); how many steps were
//! checked comes from each workflow's per-state aggregates (`GET /api/monitoring/states/{workflow}`), so
//! an empty ranking still says how much was looked at. The page reloads every half minute.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::client::{self, query_string, ApiFailure};
use crate::components::charts::{heartbeat_ms, period_words, ChartImage, PeriodPicker, DEFAULT_PERIOD};
use crate::components::{page_header::PageHeader, status::ErrorNote};
use crate::format;
use crate::live::use_live_feed;
use crate::wire::{Bottleneck, BottleneckRule, Bottlenecks, DefinitionSummary, StateMetrics, StateMetricsReport};

/// Heartbeats between two reloads.
const REFRESH_BEATS: u64 = 30;

/// Observations a rule needs before it fires (docs/api.md, bottlenecks).
const MIN_OBSERVATIONS: i64 = 20;

/// How much of the history the rules looked at.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Coverage {
    /// Workflow types looked at.
    workflows: Vec<String>,
    /// Steps with any history in the period.
    checked: usize,
    /// Of those, steps with enough observations for a rule to fire.
    judged: usize,
}

/// The rules in words: (short label, colour family, what it means).
pub(crate) fn rule_words(rule: BottleneckRule) -> (&'static str, &'static str, &'static str) {
    match rule {
        BottleneckRule::HighErrorRate => ("Fails often", "bad", "More than 5 % of its calls fail: retries, fallbacks and compensations follow."),
        BottleneckRule::HighVariance => ("Slow tail", "warn", "Its average time is over twice its median: some runs take far longer than usual."),
        BottleneckRule::QueueWait => ("Calls queue", "warn", "Calls wait over 100 ms before going out, more than half the call itself: the process, not the service, is slow."),
        BottleneckRule::ShareOfTime => ("Most of the time", "info", "It takes more than half of its workflow's time in states (wait states are exempt)."),
    }
}

/// The figure behind a rule, short: "17.2 % of 663 calls fail", "average 3.4× the median".
pub(crate) fn rule_figure(rule: BottleneckRule, m: &StateMetrics) -> String {
    match rule {
        BottleneckRule::HighErrorRate => {
            format!("{} of {} calls fail", format::percent(m.error_rate), format::count(m.attempts))
        }
        BottleneckRule::HighVariance => match (m.time_in_state.avg_ms, m.time_in_state.p50_ms) {
            (Some(avg), Some(p50)) if p50 > 0 => match avg / p50 as f64 {
                ratio if ratio >= 10.0 => format!("average {}× the median", format::count(ratio.round() as i64)),
                ratio => format!("average {ratio:.1}× the median"),
            },
            _ => "some runs take far longer".into(),
        },
        BottleneckRule::QueueWait => format!(
            "calls wait {} before going out (p95)",
            m.queue_wait.p95_ms.map(|v| format::duration(v as f64)).unwrap_or_else(|| "long".into())
        ),
        BottleneckRule::ShareOfTime => format!("{} of the workflow's time", format::percent(m.share_of_time)),
    }
}

/// Steps checked in `period` for `workflow` (or every registered workflow type).
async fn coverage(period: String, workflow: String) -> Result<Coverage, ApiFailure> {
    let workflows: Vec<String> = if workflow.is_empty() {
        client::get::<Vec<DefinitionSummary>>("/api/definitions").await?.into_iter().map(|d| d.name).collect()
    } else {
        vec![workflow]
    };
    let mut coverage = Coverage { workflows: workflows.clone(), ..Coverage::default() };
    for name in workflows {
        let path = format!(
            "/api/monitoring/states/{}{}",
            client::encode_query_value(&name),
            query_string([("period", period.as_str())])
        );
        let report: StateMetricsReport = client::get(path).await?;
        for state in report.states {
            let observations = state.time_in_state.count.max(state.attempts.max(0) as u64) as i64;
            if observations > 0 || state.entered > 0 {
                coverage.checked += 1;
            }
            if observations >= MIN_OBSERVATIONS {
                coverage.judged += 1;
            }
        }
    }
    Ok(coverage)
}

/// The Bottlenecks page.
#[component]
pub fn BottlenecksPage() -> impl IntoView {
    let query = use_query_map();
    let period = Memo::new(move |_| {
        query.with(|q| q.get("period").filter(|p| !p.trim().is_empty()).unwrap_or_else(|| DEFAULT_PERIOD.to_string()))
    });
    let workflow = Memo::new(move |_| query.with(|q| q.get("workflow").unwrap_or_default().trim().to_string()));
    let feed = use_live_feed();
    let tick = Memo::new(move |_| feed.heartbeat.get().map(|beat| beat.sequence / REFRESH_BEATS));

    let ranking = Resource::new(
        move || (period.get(), workflow.get(), tick.get()),
        |(period, workflow, _)| {
            client::get::<Bottlenecks>(format!(
                "/api/monitoring/bottlenecks{}",
                query_string([("period", period.as_str()), ("workflow", workflow.as_str())])
            ))
        },
    );
    let checked = Resource::new(move || (period.get(), workflow.get(), tick.get()), |(p, w, _)| coverage(p, w));
    let definitions = Resource::new(|| (), |_| client::get::<Vec<DefinitionSummary>>("/api/definitions"));
    // The chart's `end` follows the server clock with each reload, so the picture is redrawn with the data.
    let end = Memo::new(move |_| {
        tick.get();
        feed.heartbeat.get_untracked().as_ref().and_then(heartbeat_ms)
    });

    let page_url = move |period: &str, workflow: &str| {
        format!("/bottlenecks{}", query_string([("period", period), ("workflow", workflow)]))
    };
    view! {
        <PageHeader title="Bottlenecks" subtitle="The steps that slow workflows down or fail them, ranked.">
            <PeriodPicker
                current=period
                href=Callback::new(move |p: &'static str| page_url(p, &workflow.get()))
            />
        </PageHeader>
        <nav class="wf-chips" aria-label="Workflow" data-testid="workflow-chips">
            <span class="period-caption">"Workflow"</span>
            <a href=move || page_url(&period.get(), "") class="wf-chip" aria-current=move || workflow.get().is_empty().then_some("true")>
                "All workflows"
            </a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    definitions.await.unwrap_or_default().into_iter().map(|d| {
                        let name = d.name.clone();
                        let selected = {
                            let name = name.clone();
                            move || (workflow.get() == name).then_some("true")
                        };
                        let href = {
                            let name = name.clone();
                            move || page_url(&period.get(), &name)
                        };
                        view! { <a href=href class="wf-chip" aria-current=selected>{name}</a> }
                    }).collect_view()
                })}
            </Suspense>
        </nav>
        <Transition fallback=|| view! { <section class="panel"><p class="muted">"Ranking the steps…"</p></section> }>
            {move || Suspend::new(async move {
                let (ranking, checked) = (ranking.await, checked.await);
                let period = period.get_untracked();
                let chosen = workflow.get_untracked();
                match (ranking, checked) {
                    (Err(error), _) => view! {
                        <section class="panel"><ErrorNote what="Cannot rank the steps" error /></section>
                    }.into_any(),
                    // The ranking answers an unknown workflow with an empty list; the per-state read says
                    // that there is no such workflow, which is the truth to show.
                    (Ok(_), Err(error)) if error.is_not_found() => {
                        view! {
                            <section class="panel">
                                <ErrorNote what="No such workflow type" error />
                                <p><a href=page_url(&period, "")>"Show the bottlenecks of all workflow types"</a></p>
                            </section>
                        }.into_any()
                    }
                    (Ok(found), checked) => {
                        let coverage = checked.ok();
                        // The chart shows the chosen workflow, else the worst bottleneck's, else the first.
                        let chart_workflow = if !chosen.is_empty() {
                            Some(chosen.clone())
                        } else {
                            found.items.first().map(|b| b.workflow.clone())
                                .or_else(|| coverage.as_ref().and_then(|c| c.workflows.first().cloned()))
                        };
                        view! {
                            <Summary found=found.items.clone() coverage period=period.clone() workflow=chosen />
                            {(!found.items.is_empty()).then(|| view! { <Ranking items=found.items /> })}
                            <div class="grid bottleneck-bottom">
                                <StepChart workflow=chart_workflow period end />
                                <RulesPanel />
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// One sentence on what was checked and what was found; the designed empty state when nothing was.
#[component]
fn Summary(found: Vec<Bottleneck>, coverage: Option<Coverage>, period: String, workflow: String) -> impl IntoView {
    let when = period_words(&period);
    let scope = if workflow.is_empty() { "all workflow types".to_string() } else { workflow.clone() };
    let checked = coverage.as_ref().map(|c| {
        format!(
            "{} steps of {scope} with history in {when}, {} of them with the {MIN_OBSERVATIONS} runs a rule needs",
            c.checked, c.judged
        )
    });
    if found.is_empty() {
        // A tick when the steps were judged and found fine; an hourglass when there was too little to judge.
        let judged = coverage.as_ref().is_none_or(|c| c.judged > 0);
        let icon =
            if judged { "M4 12l5 5L20 6" } else { "M7 3h10M7 21h10M8 3c0 5 8 7 8 9s-8 4-8 9M16 3c0 5-8 7-8 9s8 4 8 9" };
        let (heading, detail) = match &coverage {
            Some(c) if c.checked == 0 => (
                format!("No step history in {when}"),
                format!("Nothing of {scope} ran in this period, so there is nothing to judge yet. Steps are checked as soon as workflows run."),
            ),
            Some(c) if c.judged == 0 => (
                format!("Too little history to judge {when}"),
                format!(
                    "{} steps of {scope} ran in this period, none of them yet the {MIN_OBSERVATIONS} times a rule needs before it flags a step. Pick a longer period, or come back when more has run.",
                    c.checked
                ),
            ),
            Some(c) => (
                format!("No bottleneck in {when}"),
                format!(
                    "Checked {} steps of {scope}: the {} that ran often enough to judge are all fine — none fails often, queues, has a slow tail or takes most of its workflow's time.",
                    c.checked, c.judged
                ),
            ),
            None => (
                format!("No bottleneck in {when}"),
                format!("No step of {scope} fails often, queues, has a slow tail or takes most of its workflow's time."),
            ),
        };
        return view! {
            <section class="panel">
                <div class="empty-state" role="status" data-testid="bottlenecks-empty">
                    <svg class="empty-icon" viewBox="0 0 24 24" aria-hidden="true">
                        <path d=icon />
                    </svg>
                    <p class="empty-heading">{heading}</p>
                    <p class="empty-detail">{detail}</p>
                </div>
            </section>
        }
        .into_any();
    }
    let workflows = {
        let mut names: Vec<&str> = found.iter().map(|b| b.workflow.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    };
    let failing = found.iter().filter(|b| b.rules.contains(&BottleneckRule::HighErrorRate)).count();
    view! {
        <p class="callout warn bottleneck-summary" data-testid="bottlenecks-summary">
            <strong>{format!("{} step{} flagged", found.len(), if found.len() == 1 { "" } else { "s" })}</strong>
            {format!(
                " in {when}, in {workflows} workflow type{}; {failing} of them fail often. ",
                if workflows == 1 { "" } else { "s" }
            )}
            {checked.map(|c| format!("Checked: {c}."))}
        </p>
    }
    .into_any()
}

/// Rows shown at once; the rest of the ranking folds away under a disclosure.
const FIRST_ROWS: usize = 10;

/// The ranked steps, worst first: the first ten, and the others behind "Show the other N".
#[component]
fn Ranking(items: Vec<Bottleneck>) -> impl IntoView {
    let mut items = items;
    let rest = items.split_off(items.len().min(FIRST_ROWS));
    view! {
        <section class="panel" data-testid="bottleneck-ranking">
            <RankTable items start=1 />
            {(!rest.is_empty()).then(|| {
                let label = format!(
                    "Show the other {} flagged step{}",
                    rest.len(),
                    if rest.len() == 1 { "" } else { "s" }
                );
                view! {
                    <details class="more-ranked">
                        <summary>{label}</summary>
                        <RankTable items=rest start=FIRST_ROWS + 1 />
                    </details>
                }
            })}
        </section>
    }
}

/// A table of ranked steps starting at rank `start`; every such table has the same columns.
#[component]
fn RankTable(items: Vec<Bottleneck>, start: usize) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="table ranking" data-testid="bottleneck-table">
                <colgroup>
                    <col class="c-rank" /><col class="c-step" /><col class="c-why" /><col class="c-num" /><col class="c-num" />
                    <col class="c-small" /><col class="c-num" /><col class="c-small" /><col class="c-links" />
                </colgroup>
                <thead>
                    <tr>
                        <th class="num">"#"</th>
                        <th>"Step"</th>
                        <th>"Why it is flagged"</th>
                        <th class="num" title="95 % of passes through the step took at most this long">"p95 time"</th>
                        <th class="num" title="Share of the step's service calls that failed">"Failed"</th>
                        <th class="num">"Retries"</th>
                        <th class="num" title="95th percentile of the wait before a call goes out">"Queue wait"</th>
                        <th class="num" title="This step's part of all the time instances spent in the workflow's states">"Share"</th>
                        <th>"See"</th>
                    </tr>
                </thead>
                <tbody>
                    {items.into_iter().enumerate().map(|(i, b)| {
                        let m = &b.metrics;
                        let name = client::encode_query_value(&b.workflow);
                        let ms = |v: Option<u64>| v.map(|v| format::duration(v as f64)).unwrap_or_else(|| "—".into());
                        let p95 = ms(m.time_in_state.p95_ms);
                        let p50 = m.time_in_state.p50_ms.map(|v| format!("median {}", format::duration(v as f64)));
                        let queue = ms(m.queue_wait.p95_ms);
                        let kind = if m.kind.is_empty() { "no longer in the definition".to_string() } else { m.kind.clone() };
                        let failed = if m.attempts > 0 {
                            view! {
                                {format::percent(m.error_rate)}
                                <span class="small muted block">{format!("of {}", format::count(m.attempts))}</span>
                            }.into_any()
                        } else {
                            view! { <span class="muted" title="This step makes no service calls">"—"</span> }.into_any()
                        };
                        view! {
                            <tr data-testid="bottleneck-row" data-step=b.state.clone() data-workflow=b.workflow.clone()>
                                <td class="num rank">{start + i}</td>
                                <td>
                                    <div class="step-cell">
                                        <span class="mono strong">{b.state.clone()}</span>
                                        <span class="small muted">{format!("{} · {kind}", b.workflow)}</span>
                                        {(m.current > 0).then(|| view! { <span class="small">{format!("{} in it now", format::count(m.current))}</span> })}
                                    </div>
                                </td>
                                <td>
                                    <span class="rule-pills">
                                        {b.rules.iter().map(|rule| {
                                            let (label, tone, meaning) = rule_words(*rule);
                                            view! { <span class=format!("pill {tone}") title=meaning>{label}</span> }
                                        }).collect_view()}
                                    </span>
                                    <ul class="reasons">
                                        {b.reasons.iter().map(|reason| view! { <li>{reason.clone()}</li> }).collect_view()}
                                    </ul>
                                </td>
                                <td class="num nowrap">{p95}{p50.map(|t| view! { <span class="small muted block">{t}</span> })}</td>
                                <td class="num nowrap">{failed}</td>
                                <td class="num">{format::count(m.retries)}</td>
                                <td class="num nowrap">{queue}</td>
                                <td class="num">{format::percent(m.share_of_time)}</td>
                                <td class="links-cell">
                                    <a href=format!("/definitions?workflow={name}")>"Definition"</a>
                                    <a href=format!("/instances?workflow={name}")>"Instances"</a>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// p50 / p95 / p99 time of each step of one workflow type.
#[component]
fn StepChart(workflow: Option<String>, period: String, end: Memo<Option<i64>>) -> impl IntoView {
    let Some(workflow) = workflow else {
        return view! {
            <section class="panel">
                <h2>"Time per step"</h2>
                <p class="muted">"No workflow type is registered yet."</p>
            </section>
        }
        .into_any();
    };
    let alt = format!("Median, p95 and p99 time of each step of {workflow} over {}", period_words(&period));
    let note = format!(
        "Showing {workflow}. Pick a workflow above to see another. Bars are the median, p95 and p99 time spent in each step, retries included."
    );
    let src = Signal::derive(move || {
        let end = end.get().map(|ms| ms.to_string()).unwrap_or_default();
        format!(
            "/api/charts/steps.svg{}",
            query_string([("workflow", workflow.as_str()), ("period", period.as_str()), ("end", end.as_str())])
        )
    });
    view! {
        <section class="panel" data-testid="step-chart">
            <h2>"Time per step"</h2>
            <ChartImage src alt testid="steps-chart" />
            <p class="muted small">{note}</p>
        </section>
    }
    .into_any()
}

/// What each rule means, so a flag reads as a reason.
#[component]
fn RulesPanel() -> impl IntoView {
    let rules = [
        BottleneckRule::HighErrorRate,
        BottleneckRule::HighVariance,
        BottleneckRule::QueueWait,
        BottleneckRule::ShareOfTime,
    ];
    view! {
        <section class="panel">
            <h2>"How steps are judged"</h2>
            <dl class="rules">
                {rules.into_iter().map(|rule| {
                    let (label, tone, meaning) = rule_words(rule);
                    view! {
                        <dt><span class=format!("pill {tone}")>{label}</span></dt>
                        <dd>{meaning}</dd>
                    }
                }).collect_view()}
            </dl>
            <p class="muted small">
                {format!("A rule needs {MIN_OBSERVATIONS} observations of a step in the period before it fires, so a single slow run raises no alarm. Steps are ranked by how far past their rules they are.")}
            </p>
        </section>
    }
}
