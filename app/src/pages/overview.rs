//! Overview: the first screen — is the system live, and what is the marketplace doing.

use leptos::prelude::*;

use crate::api::{get_instance_counts, get_system_info};
use crate::components::{empty_state::EmptyState, page_header::PageHeader};
use crate::live::use_live_feed;
use crate::wire::Heartbeat;

/// The overview page.
#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <PageHeader
            title="Overview"
            subtitle="What the marketplace's workflows are doing right now."
        />
        <div class="grid two">
            <LivePanel />
            <SystemPanel />
        </div>
        <ActivityPanel />
    }
}

/// Instances per status, refreshed every two seconds while the live feed runs.
#[component]
fn ActivityPanel() -> impl IntoView {
    let feed = use_live_feed();
    // Keyed on every second heartbeat: SSR renders once (no heartbeat yet), the browser refreshes live.
    let counts = Resource::new(move || feed.heartbeat.get().map(|beat| beat.sequence / 2), |_| get_instance_counts());
    const TILES: &[(&str, &str, &str)] = &[
        ("running", "Running", "tile"),
        ("waiting", "Waiting", "tile"),
        ("needs_intervention", "Needs a person", "tile warn"),
        ("completed", "Completed", "tile ok"),
        ("compensated", "Compensated", "tile warn"),
        ("failed", "Failed", "tile bad"),
        ("cancelled", "Cancelled", "tile"),
    ];
    view! {
        <section class="panel">
            <h2>"Workflow instances"</h2>
            // Transition keeps the last numbers on screen while new ones load: no flicker, no jumps.
            <Transition fallback=|| view! { <p class="muted">"Counting instances…"</p> }>
                {move || Suspend::new(async move {
                    match counts.await {
                        Ok(counts) if counts.total() == 0 => view! {
                            <EmptyState
                                heading="No workflow activity yet"
                                detail="Counters appear here as soon as workflows run; throughput, SLA tiles and the top bottlenecks follow with monitoring."
                            />
                        }.into_any(),
                        Ok(counts) => view! {
                            <div class="tiles" data-testid="instance-counts">
                                {TILES.iter().map(|(status, label, class)| view! {
                                    <div class=*class data-status=*status>
                                        <p class="tile-value">{counts.of(status)}</p>
                                        <p class="tile-label">{*label}</p>
                                    </div>
                                }).collect_view()}
                            </div>
                            <p class="muted">{format!("{} instances in all", counts.total())}</p>
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
