//! Services (`/services`): every service the workflows call — its circuit breaker, the latency, rate and
//! errors of its calls over the last five minutes, its latest failures, which workflow steps depend on
//! it — and, for the simulated marketplace services, controls to make them slow or unreliable, and to
//! trip or reset a breaker by hand. Refreshes every two seconds while the live feed runs.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::components::A;
use serde_json::Value;

use crate::auth;
use crate::client::{self, ApiFailure};
use crate::components::{
    access::RoleHint,
    page_header::PageHeader,
    status::{hydrated_flag, ErrorNote},
};
use crate::format;
use crate::live::use_live_feed;
use crate::wire::{
    BreakerAction, BreakerCommand, BreakerStatus, DefinitionSummary, DefinitionVersion, Permission, ServiceFaults,
    ServiceLatency, ServiceOnNode, ServiceStatus,
};

/// Which workflow steps call each service: service name → `(workflow, state)`.
type Dependents = BTreeMap<String, Vec<(String, String)>>;

async fn dependents() -> Result<Dependents, ApiFailure> {
    let mut map = Dependents::new();
    for summary in client::get::<Vec<DefinitionSummary>>("/api/definitions").await? {
        let version: DefinitionVersion = client::get(format!(
            "/api/definitions/{}/versions/{}",
            client::encode_query_value(&summary.name),
            summary.latest_version
        ))
        .await?;
        collect_calls(&summary.name, version.definition.get("states"), &mut map);
    }
    Ok(map)
}

/// Adds every task (branch states included) of `states` to `map` under the service it calls.
fn collect_calls(workflow: &str, states: Option<&Value>, map: &mut Dependents) {
    for (name, state) in states.and_then(Value::as_object).into_iter().flatten() {
        if let Some(service) = state.get("service").and_then(Value::as_str) {
            map.entry(service.to_string()).or_default().push((workflow.to_string(), name.clone()));
        }
        for branch in state.get("branches").and_then(Value::as_array).into_iter().flatten() {
            collect_calls(workflow, branch.get("states"), map);
        }
    }
}

/// The Services page.
#[component]
pub fn ServicesPage() -> impl IntoView {
    let feed = use_live_feed();
    // The first load renders the page (on the server too); after that the cards stay mounted — so a
    // half-typed fault setting or an open section survives — and follow `latest`, refreshed every two
    // seconds and after every change made here.
    let first = Resource::new(|| (), |_| client::get::<Vec<ServiceStatus>>("/api/services"));
    let used_by = Resource::new(|| (), |_| dependents());
    let latest = RwSignal::new(None::<Vec<ServiceStatus>>);
    let changed = RwSignal::new(0u64);
    let tick = Memo::new(move |_| (feed.heartbeat.get().map(|beat| beat.sequence / 2), changed.get()));
    Effect::new(move |previous: Option<()>| {
        // `get`, not `track`: a memo that was never computed has not subscribed to its sources yet.
        let _ = tick.get();
        if previous.is_some() {
            leptos::task::spawn_local(async move {
                if let Ok(list) = client::get::<Vec<ServiceStatus>>("/api/services").await {
                    latest.set(Some(list));
                }
            });
        }
    });

    view! {
        <PageHeader
            title="Services"
            subtitle="The marketplace services the workflows call: circuit breakers, latency, errors — and controls to simulate trouble."
        />
        <Suspense fallback=|| view! { <section class="panel"><p class="muted">"Loading services…"</p></section> }>
            {move || Suspend::new(async move {
                let used_by = used_by.await.unwrap_or_default();
                match first.await {
                    Ok(list) if list.is_empty() => view! {
                        <section class="panel">
                            <div class="empty-state" role="status">
                                <p class="empty-heading">"No services registered"</p>
                                <p class="empty-detail">"Services appear here when the server registers them at start."</p>
                            </div>
                        </section>
                    }.into_any(),
                    Ok(list) => {
                        let current = Signal::derive(move || latest.get().unwrap_or_else(|| list.clone()));
                        let names: Vec<String> = current.get_untracked().iter().map(|s| s.name.clone()).collect();
                        view! {
                            <ServiceSummary list=current />
                            // Roles that may not trip breakers or set faults: one hint for the page, no controls on the cards.
                            {move || auth::current_user().get().filter(|user| !user.can(Permission::OperateServices)).map(|user| view! {
                                <RoleHint role=user.role permission=Permission::OperateServices />
                            })}
                            <div class="service-grid" data-testid="services">
                                {names.into_iter().map(|name| {
                                    let steps = used_by.get(&name).cloned().unwrap_or_default();
                                    let status = {
                                        let name = name.clone();
                                        Memo::new(move |_| current.with(|all| all.iter().find(|s| s.name == name).cloned()))
                                    };
                                    view! { <ServiceCard name status steps changed /> }
                                }).collect_view()}
                            </div>
                        }.into_any()
                    }
                    Err(error) => view! { <section class="panel"><ErrorNote what="Cannot load the services" error /></section> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One line over the cards: how many breakers are open, how many services have faults injected.
#[component]
fn ServiceSummary(list: Signal<Vec<ServiceStatus>>) -> impl IntoView {
    let open = move || list.with(|l| l.iter().filter(|s| s.breaker != BreakerStatus::Closed).count());
    let faulty = move || list.with(|l| l.iter().filter(|s| s.faults.is_some_and(|f| has_faults(&f))).count());
    let failing = move || list.with(|l| l.iter().filter(|s| s.calls.error_rate >= 0.05 && s.calls.calls > 0).count());
    view! {
        <section class="panel service-summary" aria-live="polite">
            <p>
                <strong>{move || list.with(Vec::len)}</strong>" services · "
                <strong class=move || tone(open(), "bad")>{open}</strong>" breakers open or probing · "
                <strong class=move || tone(failing(), "bad")>{failing}</strong>" with 5 % errors or more · "
                <strong class=move || tone(faulty(), "warn")>{faulty}</strong>" with simulated faults on"
            </p>
        </section>
    }
}

/// The emphasis of a count: `tone` when it is not zero.
fn tone(count: usize, tone: &'static str) -> &'static str {
    if count > 0 {
        tone
    } else {
        ""
    }
}

/// How the simulated services behave when nothing is wrong: quick, and no injected errors.
const NORMAL: ServiceFaults = ServiceFaults {
    latency: ServiceLatency { p50_ms: 20, p99_ms: 200 },
    failure_rate: 0.0,
    timeout_rate: 0.0,
    lost_reply_rate: 0.0,
};

/// Whether the settings make the service noticeably slow or unreliable (the demo's background rate of
/// a few percent of failures and its 20 ms median do not count).
fn has_faults(faults: &ServiceFaults) -> bool {
    faults.failure_rate > 0.05
        || faults.timeout_rate > 0.0
        || faults.lost_reply_rate > 0.0
        || faults.latency.p50_ms >= 250
}

fn breaker_words(status: BreakerStatus) -> (&'static str, &'static str) {
    match status {
        BreakerStatus::Closed => ("closed", "ok"),
        BreakerStatus::Open => ("open — calls refused", "bad"),
        BreakerStatus::HalfOpen => ("half-open — probing", "warn"),
    }
}

/// One service: its breaker, its calls, what depends on it, and its controls. Mounted once; every
/// figure follows `status`.
#[component]
fn ServiceCard(
    name: String,
    status: Memo<Option<ServiceStatus>>,
    steps: Vec<(String, String)>,
    changed: RwSignal<u64>,
) -> impl IntoView {
    let Some(initial) = status.get_untracked() else {
        return ().into_any();
    };
    let stat = move |f: fn(&ServiceStatus) -> String| move || status.with(|s| s.as_ref().map(f).unwrap_or_default());
    let breaker_state = move || status.with(|s| s.as_ref().map_or(BreakerStatus::Closed, |s| s.breaker));
    let unhealthy = move || {
        status.with(|s| {
            s.as_ref().is_some_and(|s| {
                s.breaker != BreakerStatus::Closed || (s.calls.calls > 0 && s.calls.error_rate >= 0.05)
            })
        })
    };
    let breaker = {
        let name = name.clone();
        Action::new(move |action: &BreakerAction| {
            let (name, action) = (name.clone(), *action);
            async move {
                let result = client::post::<_, ServiceStatus>(
                    format!("/api/services/{name}/breaker"),
                    &BreakerCommand { action },
                )
                .await;
                changed.update(|c| *c += 1);
                result
            }
        })
    };
    let breaker_error = move || breaker.value().get().and_then(Result::err);
    let failures = move || status.with(|s| s.as_ref().map(|s| s.calls.recent_failures.clone()).unwrap_or_default());
    let ready = hydrated_flag();
    let can_operate = auth::can(Permission::OperateServices);
    view! {
        <article class=move || format!("panel service-card{}", if unhealthy() { " unhealthy" } else { "" }) data-service=name.clone()
            data-ready=move || ready.get().to_string()>
            <header class="service-head">
                <h2>{name.clone()}</h2>
                <span class=move || format!("pill {}", breaker_words(breaker_state()).1) data-testid="breaker">
                    {move || format!("breaker {}", breaker_words(breaker_state()).0)}
                </span>
                {(!initial.simulated).then(|| view! { <span class="pill neutral">"real (HTTP)"</span> })}
            </header>
            <dl class="service-stats">
                <div><dt>"Calls / min"</dt><dd>{stat(|s| format!("{:.1}", s.calls.calls_per_minute))}</dd></div>
                <div><dt>"Error rate"</dt>
                    <dd class=move || tone(status.with(|s| s.as_ref().filter(|s| s.calls.error_rate >= 0.05).map_or(0, |_| 1)), "bad")
                        data-testid="error-rate">
                        {stat(|s| if s.calls.calls == 0 { "—".to_string() } else { format::percent(Some(s.calls.error_rate)) })}
                    </dd></div>
                <div><dt>"p50"</dt><dd>{stat(|s| format::maybe_duration(s.calls.latency_p50_ms))}</dd></div>
                <div><dt>"p95"</dt><dd>{stat(|s| format::maybe_duration(s.calls.latency_p95_ms))}</dd></div>
                <div><dt>"p99"</dt><dd>{stat(|s| format::maybe_duration(s.calls.latency_p99_ms))}</dd></div>
            </dl>
            {move || status.with(|s| s.as_ref().filter(|s| s.nodes.len() > 1).map(|s| view! { <NodeFigures nodes=s.nodes.clone() /> }))}
            <p class="muted small">{stat(|s| format!(
                "{} calls, {} failed in the last {} min.",
                format::count(s.calls.calls as i64),
                format::count(s.calls.failures as i64),
                (s.calls.window_secs / 60).max(1)
            ))}</p>
            <details class="recent-failures">
                <summary>{move || match failures().len() {
                    0 => "No failures recorded".to_string(),
                    n => format!("Latest failures ({n})"),
                }}</summary>
                <ul>
                    {move || failures().into_iter().map(|f| view! {
                        <li><span class="mono small">{format::clock_ms(&f.at)}</span>" "
                            <strong>{f.action}</strong>" "<span class="pill bad">{f.kind}</span>
                            <span class="small">" "{f.error}</span></li>
                    }).collect_view()}
                </ul>
            </details>
            {(!steps.is_empty()).then(|| view! {
                <p class="small used-by">"Used by: "
                    {steps.iter().map(|(workflow, state)| {
                        let href = format!("/definitions?workflow={}", client::encode_query_value(workflow));
                        view! { <A href=href attr:class="chip">{format!("{workflow} · {state}")}</A> }
                    }).collect_view()}
                </p>
            })}
            <Show when=move || can_operate.get()>
                <div class="button-row">
                    {move || match breaker_state() {
                        BreakerStatus::Closed => view! {
                            <button class="button secondary" data-testid="trip" on:click=move |_| { breaker.dispatch(BreakerAction::Trip); }>
                                "Trip breaker"
                            </button>
                        }.into_any(),
                        _ => view! {
                            <button class="button" data-testid="reset" on:click=move |_| { breaker.dispatch(BreakerAction::Reset); }>
                                "Reset breaker"
                            </button>
                        }.into_any(),
                    }}
                </div>
                {move || breaker_error().map(|error| view! { <p class="callout bad" role="alert">{error.to_string()}</p> })}
            </Show>
            {initial.faults.map(|faults| {
                let current = Signal::derive(move || status.with(|s| s.as_ref().and_then(|s| s.faults)).unwrap_or(faults));
                let name = name.clone();
                view! {
                    <Show
                        when=move || can_operate.get()
                        fallback=move || view! {
                            <p class="small fault-readonly">
                                "Simulated behaviour: "
                                <span class=move || if has_faults(&current.get()) { "warn-text" } else { "muted" }.to_string() data-testid="fault-summary">
                                    {move || describe_faults(&current.get())}
                                </span>
                            </p>
                        }
                    >
                        <FaultControls name=name.clone() faults current changed />
                    </Show>
                }
            })}
        </article>
    }
    .into_any()
}

/// With several nodes: the service's calls and breaker on each (calls and automatic breaker states
/// are per node; an operator's trip or reset and the simulated faults hold on all of them).
#[component]
fn NodeFigures(nodes: Vec<ServiceOnNode>) -> impl IntoView {
    view! {
        <table class="table compact node-figures" data-testid="service-nodes">
            <caption class="small muted">"By node (calls and breakers are each node's own)"</caption>
            <thead><tr><th>"Node"</th><th>"Breaker"</th><th class="num">"Calls"</th><th class="num">"Errors"</th><th class="num">"p95"</th></tr></thead>
            <tbody>
                {nodes.into_iter().map(|node| {
                    let (word, tone) = breaker_words(node.breaker);
                    view! {
                        <tr>
                            <td class="mono">{node.node.clone()}{node.this_node.then_some(" (this console)")}</td>
                            <td><span class=format!("pill {tone}")>{word}</span></td>
                            <td class="num">{format::count(node.calls as i64)}</td>
                            <td class="num">{if node.calls == 0 { "—".to_string() } else { format::percent(Some(node.error_rate)) }}</td>
                            <td class="num">{format::maybe_duration(node.latency_p95_ms)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The simulated service's faults: presets for the common cases and a form for exact values.
#[component]
fn FaultControls(
    name: String,
    /// The settings when the page loaded: the form starts from them.
    faults: ServiceFaults,
    /// The settings in effect now.
    current: Signal<ServiceFaults>,
    changed: RwSignal<u64>,
) -> impl IntoView {
    let p50 = RwSignal::new(faults.latency.p50_ms.to_string());
    let p99 = RwSignal::new(faults.latency.p99_ms.to_string());
    let failure = RwSignal::new(rate_text(faults.failure_rate));
    let timeout = RwSignal::new(rate_text(faults.timeout_rate));
    let lost = RwSignal::new(rate_text(faults.lost_reply_rate));
    let set = Action::new(move |faults: &ServiceFaults| {
        let (name, faults) = (name.clone(), *faults);
        async move {
            let result = client::post::<_, ServiceFaults>(format!("/api/services/{name}/faults"), &faults).await;
            changed.update(|c| *c += 1);
            result
        }
    });
    let outcome = move || set.value().get();
    let apply_form = move || {
        let parse_ms = |text: String| text.trim().parse::<u64>();
        let parse_rate = |text: String| text.trim().trim_end_matches('%').trim().parse::<f64>().map(|p| p / 100.0);
        match (
            parse_ms(p50.get_untracked()),
            parse_ms(p99.get_untracked()),
            parse_rate(failure.get_untracked()),
            parse_rate(timeout.get_untracked()),
            parse_rate(lost.get_untracked()),
        ) {
            (Ok(p50_ms), Ok(p99_ms), Ok(failure_rate), Ok(timeout_rate), Ok(lost_reply_rate)) => {
                set.dispatch(ServiceFaults {
                    latency: ServiceLatency { p50_ms, p99_ms },
                    failure_rate,
                    timeout_rate,
                    lost_reply_rate,
                });
                None
            }
            _ => Some("Latencies are whole milliseconds; rates are percentages from 0 to 100."),
        }
    };
    let local_error = RwSignal::new(None::<&'static str>);
    let preset = move |faults: ServiceFaults| {
        p50.set(faults.latency.p50_ms.to_string());
        p99.set(faults.latency.p99_ms.to_string());
        failure.set(rate_text(faults.failure_rate));
        timeout.set(rate_text(faults.timeout_rate));
        lost.set(rate_text(faults.lost_reply_rate));
        set.dispatch(faults);
    };
    let failing = ServiceFaults { failure_rate: 1.0, ..NORMAL };
    let slow = ServiceFaults { latency: ServiceLatency { p50_ms: 800, p99_ms: 3000 }, ..NORMAL };
    let field = move |label: &'static str, unit: &'static str, value: RwSignal<String>| {
        view! {
            <label>
                <span>{label}</span>
                <span class="with-unit">
                    <input type="text" inputmode="decimal" prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev)) />
                    <span class="unit">{unit}</span>
                </span>
            </label>
        }
    };
    view! {
        <details class="fault-controls" open=has_faults(&faults)>
            <summary>
                "Simulated behaviour: "
                <span class=move || if has_faults(&current.get()) { "warn-text" } else { "muted" }.to_string() data-testid="fault-summary">
                    {move || describe_faults(&current.get())}
                </span>
            </summary>
            <div class="button-row presets">
                <button class="button danger" type="button" data-testid="fail-all" on:click=move |_| preset(failing)>"Fail every call"</button>
                <button class="button secondary" type="button" on:click=move |_| preset(slow)>"Make it slow"</button>
                <button class="button secondary" type="button" data-testid="clear-faults" title="p50 20 ms, p99 200 ms, no injected errors"
                    on:click=move |_| preset(NORMAL)>"Back to normal"</button>
            </div>
            <form class="form-grid" on:submit=move |ev| {
                ev.prevent_default();
                local_error.set(apply_form());
            }>
                {field("Latency p50", "ms", p50)}
                {field("Latency p99", "ms", p99)}
                {field("Failures", "%", failure)}
                {field("Timeouts", "%", timeout)}
                {field("Lost replies", "%", lost)}
                <button class="button" type="submit" disabled=move || set.pending().get()>"Apply"</button>
            </form>
            {move || local_error.get().map(|message| view! { <p class="callout bad" role="alert">{message}</p> })}
            {move || outcome().map(|result| match result {
                Ok(faults) => view! { <p class="callout ok small" role="status">"In effect: " {describe_faults(&faults)}</p> }.into_any(),
                Err(error) => view! { <p class="callout bad" role="alert">{error.to_string()}</p> }.into_any(),
            })}
        </details>
    }
}

fn rate_text(rate: f64) -> String {
    let percent = rate * 100.0;
    if percent.fract() == 0.0 {
        format!("{percent:.0}")
    } else {
        format!("{percent}")
    }
}

/// Fault settings in words: `fails 100 % · p50 800 ms, p99 3.0 s`, or `none`.
fn describe_faults(faults: &ServiceFaults) -> String {
    let mut parts = Vec::new();
    if faults.failure_rate > 0.0 {
        parts.push(format!("fails {}", format::percent(Some(faults.failure_rate))));
    }
    if faults.timeout_rate > 0.0 {
        parts.push(format!("times out {}", format::percent(Some(faults.timeout_rate))));
    }
    if faults.lost_reply_rate > 0.0 {
        parts.push(format!("loses {} of replies", format::percent(Some(faults.lost_reply_rate))));
    }
    if faults.latency.p99_ms > 0 {
        parts.push(format!(
            "p50 {}, p99 {}",
            format::duration(faults.latency.p50_ms as f64),
            format::duration(faults.latency.p99_ms as f64)
        ));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn faults_read_in_words() {
        let none = ServiceFaults {
            latency: ServiceLatency { p50_ms: 0, p99_ms: 0 },
            failure_rate: 0.0,
            timeout_rate: 0.0,
            lost_reply_rate: 0.0,
        };
        assert_eq!(describe_faults(&none), "none");
        let bad = ServiceFaults { failure_rate: 1.0, latency: ServiceLatency { p50_ms: 800, p99_ms: 3000 }, ..none };
        assert_eq!(describe_faults(&bad), "fails 100 % · p50 800 ms, p99 3.0 s");
        assert_eq!(rate_text(0.25), "25");
    }

    #[test]
    fn tasks_in_branches_count_as_dependents() {
        let states = json!({
            "a": {"type": "task", "service": "billing"},
            "p": {"type": "parallel", "branches": [{"states": {"b": {"type": "task", "service": "quality"}}}]}
        });
        let mut map = Dependents::new();
        collect_calls("w", Some(&states), &mut map);
        assert_eq!(map["billing"], vec![("w".to_string(), "a".to_string())]);
        assert_eq!(map["quality"], vec![("w".to_string(), "b".to_string())]);
    }
}
