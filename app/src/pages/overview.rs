//! Overview (`/`): the first screen — what the marketplace's workflows are doing right now, and what
//! needs attention.
//!
//! Instances per status (every two seconds), throughput over the last two hours, where the SLA targets
//! stand (met, at risk, breached), the five worst bottlenecks, the instances waiting for a person, and
//! the latest failures — each linking to the page that says more — and the nodes that share the database. Every panel reloads on the live
//! feed's heartbeat (every few seconds) inside a `<Transition>`: the old numbers stay until the new ones
//! arrive, and tiles and lists keep their size, so nothing on the screen jumps. SLA breaches and
//! recoveries reload the SLA tiles at once. The server renders the page complete; the browser then
//! keeps it live.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{get_instance_counts, get_system_info};
use crate::client::{self, query_string};
use crate::components::charts::{heartbeat_ms, ChartImage};
use crate::components::{page_header::PageHeader, status::ErrorNote};
use crate::format;
use crate::live::use_live_feed;
use crate::pages::bottlenecks::{rule_figure, rule_words};
use crate::pages::sla::standing::{standing, tally, Metric, Standing};
use crate::wire::{
    Bottlenecks, ClusterNodes, Dashboard, Heartbeat, InstancePage, InstanceStatus, NodeState, SlaReport,
};

/// Heartbeats between two reloads of the panels other than the counters.
const PANEL_BEATS: u64 = 5;

/// The throughput chart's period: minute buckets, so the last minutes show.
const THROUGHPUT_PERIOD: &str = "2h";

/// The bottlenecks' period: long enough for the rules' 20 observations on a quiet day.
const BOTTLENECK_PERIOD: &str = "24h";

/// How many instances waiting for a person are read to find the oldest (the API lists newest first).
const QUEUE_READ: &str = "500";

/// The overview page.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let feed = use_live_feed();
    // One reload tick for the panels, every few heartbeats; `None` while server rendering and until the
    // first heartbeat, so the browser starts from the server's data.
    let tick = Memo::new(move |_| feed.heartbeat.get().map(|beat| beat.sequence / PANEL_BEATS));
    view! {
        <PageHeader
            title="Overview"
            subtitle="What the marketplace's workflows are doing right now, and what needs attention."
        />
        <ActivityPanel />
        <div class="grid overview-main">
            <ThroughputPanel tick />
            <SlaPanel tick />
        </div>
        <div class="grid three overview-lists">
            <BottleneckPanel tick />
            <QueuePanel tick />
            <FailuresPanel tick />
        </div>
        <NodesPanel tick />
        <div class="grid two">
            <LivePanel />
            <SystemPanel />
        </div>
    }
}

/// The nodes sharing the database: which is up, which leads, what each drives. On SQLite, the one node.
#[component]
fn NodesPanel(tick: Memo<Option<u64>>) -> impl IntoView {
    let nodes = Resource::new(move || tick.get(), |_| client::get::<ClusterNodes>("/api/cluster/nodes"));
    view! {
        <section class="panel" data-testid="cluster-nodes">
            <Transition fallback=|| view! { <h2>"Nodes"</h2><p class="muted">"Reading the nodes…"</p> }>
                {move || Suspend::new(async move {
                    match nodes.await {
                        Err(error) => view! { <h2>"Nodes"</h2><ErrorNote what="Cannot read the nodes" error /> }.into_any(),
                        Ok(cluster) => {
                            let up = cluster.nodes.iter().filter(|node| node.state == NodeState::Up).count();
                            let summary = if cluster.shared {
                                format!(
                                    "{up} of {} up · a silent node's runs move to the others after {}",
                                    cluster.nodes.len(),
                                    format::duration(cluster.lease_ms as f64)
                                )
                            } else {
                                "One node on the embedded SQLite database (run on PostgreSQL for several).".to_string()
                            };
                            let this_node = cluster.this_node.clone();
                            view! {
                                <div class="panel-head spaced">
                                    <h2>"Nodes"</h2>
                                    <span class="muted small" data-testid="cluster-summary">{summary}</span>
                                </div>
                                <div class="table-scroll">
                                    <table class="table compact nodes-table">
                                        <thead><tr>
                                            <th>"Node"</th><th>"State"</th><th class="wide-only">"Address"</th><th class="wide-only">"Up since"</th>
                                            <th class="num medium-only">"Last heartbeat"</th><th class="num">"Runs driven"</th>
                                            <th class="num wide-only" title="Runs taken over from gone nodes, or handed back">"Taken over"</th>
                                            <th class="num wide-only" title="Runs moved here because a person acted on this node">"Moved here"</th>
                                            <th class="num wide-only" title="Writes refused because the run had moved to another node">"Fenced"</th>
                                        </tr></thead>
                                        <tbody>
                                            {cluster.nodes.into_iter().map(|node| {
                                                let tone = match node.state {
                                                    NodeState::Up => "pill ok",
                                                    NodeState::Silent => "pill warn",
                                                    NodeState::Stopped => "pill neutral",
                                                };
                                                let here = node.id == this_node;
                                                view! {
                                                    <tr data-testid="cluster-node">
                                                        <td class="nowrap">
                                                            <span class="mono">{node.id.clone()}</span>
                                                            {node.leader.then(|| view! { <span class="pill info node-tag">"leader"</span> })}
                                                            {here.then(|| view! { <span class="pill neutral node-tag">"this console"</span> })}
                                                        </td>
                                                        <td><span class=tone>{node.state.label()}</span></td>
                                                        <td class="mono wide-only">{node.address.clone()}</td>
                                                        <td class="nowrap wide-only">{format::short_time(&node.started_at)}</td>
                                                        <td class="num medium-only">{format!("{} ago", format::duration(node.heartbeat_age_ms as f64))}</td>
                                                        <td class="num">{format::count(node.owned)}</td>
                                                        <td class="num wide-only">{format::count(node.claimed)}</td>
                                                        <td class="num wide-only">{format::count(node.moved_in)}</td>
                                                        <td class="num wide-only">{format::count(node.fenced_writes)}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// Instances per status, refreshed every two seconds while the live feed runs.
#[component]
fn ActivityPanel() -> impl IntoView {
    let feed = use_live_feed();
    // Keyed on every second heartbeat: SSR renders once (no heartbeat yet), the browser refreshes live.
    let counts = Resource::new(move || feed.heartbeat.get().map(|beat| beat.sequence / 2), |_| get_instance_counts());
    const TILES: &[(InstanceStatus, &str, &str)] = &[
        (InstanceStatus::Running, "Running", "tile"),
        (InstanceStatus::Waiting, "Waiting", "tile"),
        (InstanceStatus::NeedsIntervention, "Needs a person", "tile warn"),
        (InstanceStatus::Completed, "Completed", "tile ok"),
        (InstanceStatus::Compensated, "Compensated", "tile warn"),
        (InstanceStatus::Failed, "Failed", "tile bad"),
        (InstanceStatus::Cancelled, "Cancelled", "tile"),
    ];
    view! {
        <section class="panel">
            <div class="panel-head spaced">
                <h2>"Workflow instances"</h2>
                <A href="/instances" attr:class="small">"All instances →"</A>
            </div>
            // Transition keeps the last numbers on screen while new ones load: no flicker, no jumps.
            <Transition fallback=|| view! { <p class="muted">"Counting instances…"</p> }>
                {move || Suspend::new(async move {
                    match counts.await {
                        Ok(counts) => view! {
                            <div class="tiles counter-tiles" data-testid="instance-counts">
                                {TILES.iter().map(|(status, label, class)| {
                                    let value = format::count(counts.of(*status));
                                    view! {
                                        <A href=format!("/instances?status={status}") attr:class=*class attr:data-status=status.as_str()>
                                            <p class="tile-value">{value.clone()}</p>
                                            <p class="tile-label">{*label}</p>
                                        </A>
                                    }
                                }).collect_view()}
                            </div>
                            <p class="muted small" data-testid="instance-total">
                                {if counts.total() == 0 {
                                    "No workflow has run yet: the counters move as soon as one starts.".to_string()
                                } else {
                                    format!("{} instances in all", format::count(counts.total()))
                                }}
                            </p>
                        }.into_any(),
                        Err(error) => view! {
                            <p class="error-text">"Cannot count instances: " {error.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Starts and outcomes per minute over the last two hours, redrawn every ten seconds.
#[component]
fn ThroughputPanel(tick: Memo<Option<u64>>) -> impl IntoView {
    let feed = use_live_feed();
    let hour = Resource::new(move || tick.get(), |_| client::get::<Dashboard>("/api/monitoring/dashboard"));
    // The chart's `end` follows the server's clock in steps of ten seconds: a new URL, a new picture.
    let end = Memo::new(move |_| feed.heartbeat.get().as_ref().and_then(heartbeat_ms).map(|ms| ms / 10_000 * 10_000));
    let src = Signal::derive(move || {
        let end = end.get().map(|ms| ms.to_string()).unwrap_or_default();
        format!("/api/charts/throughput.svg{}", query_string([("period", THROUGHPUT_PERIOD), ("end", end.as_str())]))
    });
    view! {
        <section class="panel" data-testid="throughput">
            <h2>"Throughput, last 2 hours"</h2>
            <ChartImage
                src
                alt="Instances started, completed, failed, compensated and cancelled per minute over the last two hours"
                testid="throughput-chart"
            />
            <Transition fallback=|| view! { <p class="muted small">"Reading the last hour…"</p> }>
                {move || Suspend::new(async move {
                    match hour.await {
                        Err(error) => view! { <p class="error-text small">"Cannot read the last hour: " {error.to_string()}</p> }.into_any(),
                        Ok(d) => view! {
                            <p class="hour-figures" data-testid="hour-figures">
                                <span class="muted">"Last hour: "</span>
                                <strong class="ok-text">{format::count(d.completed)}</strong>" completed · "
                                <strong class="bad-text">{format::count(d.failed)}</strong>" failed · "
                                <strong class="warn-text">{format::count(d.compensated)}</strong>" compensated · "
                                "average " <strong>{format::maybe_duration(d.avg_duration_ms)}</strong>" · "
                                <strong>{format::count(d.active)}</strong>" in flight now"
                            </p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// How many SLA targets are met, at risk and breached now, each linking to the SLA page.
#[component]
fn SlaPanel(tick: Memo<Option<u64>>) -> impl IntoView {
    let feed = use_live_feed();
    let report = Resource::new(
        move || (tick.get(), feed.sla.get().map(|change| change.at_ms)),
        |_| client::get::<SlaReport>("/api/sla/report"),
    );
    view! {
        <section class="panel" data-testid="sla-overview">
            <div class="panel-head spaced">
                <h2>"SLA targets now"</h2>
                <A href="/sla" attr:class="small">"SLA report →"</A>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Reading the SLA report…"</p> }>
                {move || Suspend::new(async move {
                    match report.await {
                        Err(error) => view! { <ErrorNote what="Cannot read the SLA report" error /> }.into_any(),
                        Ok(report) => {
                            let counts = tally(&report.results);
                            let no_data = counts.iter().find(|(s, _)| *s == Standing::NoData).map_or(0, |(_, n)| *n);
                            let mut worst: Vec<_> = report.results.iter()
                                .filter(|r| standing(r) != Standing::Met && standing(r) != Standing::NoData)
                                .collect();
                            worst.sort_by_key(|r| (standing(r), r.target.workflow.clone()));
                            let more = worst.len().saturating_sub(3);
                            let rows = if worst.is_empty() { "ov-list" } else { "ov-list three-rows" };
                            view! {
                                <div class="tiles sla-tiles">
                                    {counts.into_iter().filter(|(s, _)| *s != Standing::NoData).map(|(s, n)| view! {
                                        <A href="/sla" attr:class=format!("tile {}", s.tone()) attr:data-standing=s.key()>
                                            <p class="tile-value">{n}</p>
                                            <p class="tile-label">{s.label()}</p>
                                        </A>
                                    }).collect_view()}
                                </div>
                                {worst.is_empty().then(|| view! {
                                    <div class="ov-list three-rows ov-empty" role="status">
                                        <p class="empty-heading">"Nothing needs attention"</p>
                                        <p class="muted small">"No target is breached or close to its limit."</p>
                                    </div>
                                })}
                                <ul class=rows aria-label="Targets that need attention">
                                    {worst.into_iter().take(3).map(|r| {
                                        let s = standing(r);
                                        let metric = Metric::of(&r.target.metric);
                                        view! {
                                            <li>
                                                <span class=format!("pill {}", s.tone())>{s.label()}</span>
                                                <span class="ov-main">{r.target.workflow.clone()}</span>
                                                <span class="ov-detail" title=r.target.description.clone()>
                                                    {format!("{} {} (target {})", metric.words(), metric.show_maybe(r.actual), metric.bound(r.target.threshold))}
                                                </span>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                                <p class="muted small">
                                    {match (more, no_data) {
                                        (0, 0) => String::from("Each target is judged over its own window."),
                                        (0, n) => format!("{n} without data in their window."),
                                        (m, 0) => format!("And {m} more on the SLA page."),
                                        (m, n) => format!("And {m} more on the SLA page · {n} without data."),
                                    }}
                                </p>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// The five worst bottlenecks of the last 24 hours.
#[component]
fn BottleneckPanel(tick: Memo<Option<u64>>) -> impl IntoView {
    let bottlenecks = Resource::new(
        move || tick.get(),
        |_| {
            client::get::<Bottlenecks>(format!(
                "/api/monitoring/bottlenecks{}",
                query_string([("period", BOTTLENECK_PERIOD)])
            ))
        },
    );
    view! {
        <section class="panel" data-testid="top-bottlenecks">
            <div class="panel-head spaced">
                <h2>"Top bottlenecks, 24 h"</h2>
                <A href=format!("/bottlenecks?period={BOTTLENECK_PERIOD}") attr:class="small">"All →"</A>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Looking for bottlenecks…"</p> }>
                {move || Suspend::new(async move {
                    match bottlenecks.await {
                        Err(error) => view! { <ErrorNote what="Cannot read the bottlenecks" error /> }.into_any(),
                        Ok(found) if found.items.is_empty() => view! {
                            <div class="ov-list five-rows ov-empty" role="status">
                                <p class="empty-heading">"No bottleneck in the last 24 hours"</p>
                                <p class="muted small">"Steps are flagged when they fail often, queue, dominate their workflow's time or have a slow tail."</p>
                            </div>
                        }.into_any(),
                        Ok(found) => view! {
                            <ol class="ov-list five-rows">
                                {found.items.into_iter().take(5).map(|b| {
                                    let href = format!(
                                        "/bottlenecks{}",
                                        query_string([("period", BOTTLENECK_PERIOD), ("workflow", b.workflow.as_str())])
                                    );
                                    let first = b.rules.first().copied();
                                    let more = b.rules.len().saturating_sub(1);
                                    view! {
                                        <li>
                                            <A href=href attr:class="ov-main mono">{b.state.clone()}</A>
                                            <span class="ov-sub">{b.workflow.clone()}</span>
                                            <span class="ov-detail" title=b.reasons.join(" · ")>
                                                {first.map(|rule| {
                                                    let (label, tone, _) = rule_words(rule);
                                                    view! {
                                                        <span class=format!("pill {tone}")>{label}</span>
                                                        " " {rule_figure(rule, &b.metrics)}
                                                    }
                                                })}
                                                {(more > 0).then(|| format!(" · +{more} more"))}
                                            </span>
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Instances waiting for a person: how many, and the ones waiting longest.
#[component]
fn QueuePanel(tick: Memo<Option<u64>>) -> impl IntoView {
    let queue = Resource::new(
        move || tick.get(),
        |_| {
            client::get::<InstancePage>(format!(
                "/api/instances{}",
                query_string([("status", InstanceStatus::NeedsIntervention.as_str()), ("limit", QUEUE_READ)])
            ))
        },
    );
    view! {
        <section class="panel" data-testid="intervention-queue">
            <div class="panel-head spaced">
                <h2>"Waiting for a person"</h2>
                <A href="/instances?status=needs_intervention" attr:class="small">"All →"</A>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Reading the queue…"</p> }>
                {move || Suspend::new(async move {
                    match queue.await {
                        Err(error) => view! { <ErrorNote what="Cannot read the queue" error /> }.into_any(),
                        Ok(page) => {
                            let total = if page.next_cursor.is_some() {
                                format!("{}+", page.items.len())
                            } else {
                                page.items.len().to_string()
                            };
                            let empty = page.items.is_empty();
                            // Newest first from the API: the oldest are at the end.
                            let oldest: Vec<_> = page.items.into_iter().rev().take(3).collect();
                            view! {
                                <p class="queue-count">
                                    <span class=if empty { "tile-value" } else { "tile-value warn" } data-testid="queue-count">{total}</span>
                                    <span class="muted">{if empty { "blocked — nothing waits for a person" } else { "blocked, waiting longest:" }}</span>
                                </p>
                                <ul class="ov-list three-rows">
                                    {oldest.into_iter().map(|i| view! {
                                        <li>
                                            <A href=format!("/instances/{}", i.id) attr:class="ov-main">{i.workflow.clone()}</A>
                                            <span class="ov-sub nowrap">{format!("since {}", format::short_time(&i.updated_at))}</span>
                                            <span class="ov-detail" title=i.error.clone().unwrap_or_default()>
                                                {i.error.clone().or(i.current_state.clone()).unwrap_or_default()}
                                            </span>
                                        </li>
                                    }).collect_view()}
                                </ul>
                                <p class="muted small">"Claim and resolve them in the "<A href="/interventions" attr:data-testid="queue-inbox-link">"intervention inbox"</A>", or open an instance to retry, skip or cancel it."</p>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// The latest failed instances.
#[component]
fn FailuresPanel(tick: Memo<Option<u64>>) -> impl IntoView {
    let failures = Resource::new(
        move || tick.get(),
        |_| {
            client::get::<InstancePage>(format!(
                "/api/instances{}",
                query_string([("status", "failed"), ("limit", "5")])
            ))
        },
    );
    view! {
        <section class="panel" data-testid="recent-failures">
            <div class="panel-head spaced">
                <h2>"Recent failures"</h2>
                <A href="/instances?status=failed" attr:class="small">"All →"</A>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Reading failures…"</p> }>
                {move || Suspend::new(async move {
                    match failures.await {
                        Err(error) => view! { <ErrorNote what="Cannot read the failures" error /> }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <div class="ov-list five-rows ov-empty" role="status">
                                <p class="empty-heading">"No failed instance"</p>
                                <p class="muted small">"Instances that end failed — after their retries and compensations — are listed here."</p>
                            </div>
                        }.into_any(),
                        Ok(page) => view! {
                            <ul class="ov-list five-rows">
                                {page.items.into_iter().map(|i| view! {
                                    <li>
                                        <A href=format!("/instances/{}", i.id) attr:class="ov-main">{i.workflow.clone()}</A>
                                        <span class="ov-sub nowrap">{format::short_time(&i.updated_at)}</span>
                                        <span class="ov-detail bad" title=i.error.clone().unwrap_or_default()>
                                            {i.error.clone().unwrap_or_else(|| "failed".into())}
                                        </span>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The server's heartbeat as it arrives over server-sent events, with a control to hold the display.
#[component]
fn LivePanel() -> impl IntoView {
    let feed = use_live_feed();
    let paused = RwSignal::new(false);
    // What the panel shows: follows the feed unless paused, so a person can read a value that keeps moving.
    let shown = RwSignal::new(None::<Heartbeat>);
    Effect::new(move |_| {
        let latest = feed.heartbeat.get();
        if !paused.get_untracked() {
            shown.set(latest);
        }
    });
    let toggle = move |_| {
        let now_paused = !paused.get_untracked();
        paused.set(now_paused);
        if !now_paused {
            shown.set(feed.heartbeat.get_untracked());
        }
    };

    view! {
        <section class="panel live-panel" aria-live="polite">
            <div class="panel-head">
                <h2>"Live updates"</h2>
                <button
                    class="button secondary"
                    data-testid="live-toggle"
                    aria-pressed=move || paused.get().to_string()
                    on:click=toggle
                >
                    {move || if paused.get() { "Resume" } else { "Pause" }}
                </button>
            </div>
            <p class="live-clock" data-testid="server-time">
                {move || shown.get().map(|b| b.time_of_day().to_string()).unwrap_or_else(|| "--:--:--".into())}
                <span class="unit">" UTC"</span>
            </p>
            <p class="muted" data-testid="live-detail">
                {move || match (paused.get(), shown.get()) {
                    (true, _) => "Paused — the clock holds until you resume.".to_string(),
                    (false, Some(beat)) => format!("Server heartbeat #{} · {}", beat.sequence, feed.connection.get().label()),
                    (false, None) => "Waiting for the first heartbeat from the server…".to_string(),
                }}
            </p>
        </section>
    }
}

/// Which server and database this console is looking at.
#[component]
fn SystemPanel() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_system_info());
    view! {
        <section class="panel">
            <h2>"System"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading system information…"</p> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(info) => view! {
                            <dl class="facts" data-testid="system-facts">
                                <dt>"Version"</dt><dd>{info.version}</dd>
                                <dt>"Database"</dt><dd>{info.backend.label()}</dd>
                                <dt>"Location"</dt><dd class="mono">{info.database}</dd>
                                <dt>"Started"</dt><dd>{info.started_at.replace('T', " ").replace('Z', " UTC")}</dd>
                                <dt>"Demo traffic"</dt><dd>{if info.demo_traffic { "On" } else { "Off" }}</dd>
                            </dl>
                        }.into_any(),
                        Err(error) => view! {
                            <p class="error-text">"Cannot load system information: " {error.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
