//! The versions of the chosen workflow (who registered which, when) and what changed between any two
//! of them ([`super::diff`]). The two versions to compare are in the URL (`diff=1..2`); the compare
//! form is a plain GET form, so it works without JavaScript too.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;
use serde_json::Value;

use super::diff::{diff_definitions, short_json, text_change, whole_numbers, Change, DefinitionDiff, FieldChange};
use super::selection::Selection;
use crate::format;
use crate::wire::DefinitionVersion;

/// Longest value shown inline in a diff line (the full value is in its tooltip).
const VALUE_CHARS: usize = 160;

/// Texts longer than this are shown around what changed in them, with this much context.
const TEXT_CHARS: usize = 60;
const TEXT_CONTEXT: usize = 40;

/// The versions and the diff between two of them.
#[component]
pub fn VersionsPanel(all: StoredValue<Vec<DefinitionVersion>>, selection: Memo<Selection>) -> impl IntoView {
    let count = all.with_value(Vec::len);
    let name = all.with_value(|a| a.first().map(|d| d.name.clone()).unwrap_or_default());
    let latest = all.with_value(|a| a.last().map(|d| d.version).unwrap_or(1));
    let shown_version = move || selection.with(|s| s.version().ok().flatten().unwrap_or(latest));
    let rows = all.with_value(|a| a.iter().rev().cloned().collect::<Vec<_>>());
    view! {
        <section class="panel versions-panel" data-testid="versions">
            <div class="panel-head">
                <h2>{format!("Versions · {count}")}</h2>
                <p class="muted small">"Versions are never edited: each registration that changes the definition makes a new one, and running instances stay on theirs."</p>
            </div>
            <div class="table-scroll">
                <table class="table compact versions-table">
                    <thead>
                        <tr>
                            <th scope="col">"Version"</th>
                            <th scope="col">"Registered (UTC)"</th>
                            <th scope="col">"By"</th>
                            <th scope="col">"Description"</th>
                            <th scope="col"><span class="visually-hidden">"Show"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows.into_iter().map(|d| {
                            let v = d.version;
                            let is_shown = move || shown_version() == v;
                            let href = move || selection.with(|s| s.with_version((v != latest).then_some(v)).url());
                            view! {
                                <tr data-version-row=v class:selected=is_shown>
                                    <td class="nowrap">
                                        <strong>{format!("v{v}")}</strong>
                                        {(v == latest).then(|| view! { <span class="pill info">"latest"</span> })}
                                    </td>
                                    <td class="nowrap small" title=d.created_at.clone()>{format::time(&d.created_at)}</td>
                                    <td class="small">{d.created_by.clone()}</td>
                                    <td class="small version-description">{d.description.clone()}</td>
                                    <td class="nowrap">
                                        {move || if is_shown() {
                                            view! { <span class="muted small">"shown above"</span> }.into_any()
                                        } else {
                                            view! { <a href=href data-noscroll="true">{format!("Show v{v}")}</a> }.into_any()
                                        }}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <h3 class="detail-heading">"What changed"</h3>
            {if count < 2 {
                view! {
                    <p class="callout" role="status" data-testid="single-version">
                        {format!("{name} has only one version, so there is nothing to compare yet. ")}
                        "Registering a changed definition (POST /api/definitions) makes version 2, and this panel then shows what changed."
                    </p>
                }.into_any()
            } else {
                view! { <Compare all selection /> }.into_any()
            }}
        </section>
    }
}

/// Two selects and the diff of the versions they name.
#[component]
fn Compare(all: StoredValue<Vec<DefinitionVersion>>, selection: Memo<Selection>) -> impl IntoView {
    let numbers: Vec<u32> = all.with_value(|a| a.iter().map(|d| d.version).collect());
    let latest = numbers.last().copied().unwrap_or(1);
    let previous = numbers.iter().rev().nth(1).copied().unwrap_or(latest);
    // The pair asked for, or the two latest versions.
    let pair = Memo::new(move |_| selection.with(|s| s.diff()));
    let chosen = move || match pair.get() {
        Ok(Some(pair)) => pair,
        _ => (previous, latest),
    };
    let from = RwSignal::new(chosen().0);
    let to = RwSignal::new(chosen().1);
    Effect::new(move |_| {
        let (a, b) = chosen();
        from.set(a);
        to.set(b);
    });
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let url = selection.with_untracked(|s| s.with_diff(from.get_untracked(), to.get_untracked()).url());
        navigate(&url, NavigateOptions { scroll: false, ..NavigateOptions::default() });
    };
    let hidden = move |field: &'static str| {
        let value = selection.with_untracked(|s| match field {
            "workflow" => s.workflow.clone(),
            "version" => s.version.clone(),
            "period" => s.period.clone(),
            _ => s.sort.clone(),
        });
        (!value.is_empty()).then(|| view! { <input type="hidden" name=field value=value /> })
    };
    let options = move |current: RwSignal<u32>| {
        numbers
            .iter()
            .map(|v| {
                let v = *v;
                view! {
                    <option value=v.to_string() selected=move || current.get() == v>
                        {format!("v{v}{}", if v == latest { " (latest)" } else { "" })}
                    </option>
                }
            })
            .collect_view()
    };
    let from_options = options(from);
    let to_options = options(to);
    view! {
        <form class="filters compare-form" method="get" action="/definitions" on:submit=submit data-testid="compare-form">
            {hidden("workflow")}
            {hidden("version")}
            {hidden("period")}
            {hidden("sort")}
            <label>
                <span>"From"</span>
                <select name="from" data-testid="diff-from"
                    on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { from.set(v) }>
                    {from_options}
                </select>
            </label>
            <label>
                <span>"To"</span>
                <select name="to" data-testid="diff-to"
                    on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { to.set(v) }>
                    {to_options}
                </select>
            </label>
            <div class="filter-buttons">
                <button class="button" type="submit">"Compare"</button>
            </div>
        </form>
        {move || {
            let (a, b) = chosen();
            let bad = pair.get().err();
            if let Some(bad) = bad {
                return view! {
                    <p class="callout bad" role="alert">{format!("“{bad}” does not name two versions: write it as 1..2.")}</p>
                }.into_any();
            }
            let find = |v: u32| all.with_value(|all| all.iter().find(|d| d.version == v).map(|d| d.definition.clone()));
            match (find(a), find(b)) {
                _ if a == b => view! {
                    <p class="callout" role="status">{format!("Both sides are version {a}: choose two different versions.")}</p>
                }.into_any(),
                (Some(old), Some(new)) => view! { <DiffView from=a to=b diff=diff_definitions(&old, &new) /> }.into_any(),
                (old, _) => {
                    let missing = if old.is_none() { a } else { b };
                    view! {
                        <p class="callout bad" role="alert">{format!("There is no version {missing} to compare; choose one of the versions listed.")}</p>
                    }.into_any()
                }
            }
        }}
    }
}

/// The diff of two versions: a summary line, then the workflow's settings, the states added, removed and
/// changed.
#[component]
fn DiffView(from: u32, to: u32, diff: DefinitionDiff) -> impl IntoView {
    let summary = diff.summary();
    let DefinitionDiff { settings, added, removed, changed, .. } = diff;
    let empty = settings.is_empty() && added.is_empty() && removed.is_empty() && changed.is_empty();
    view! {
        <div class="diff" data-testid="diff" data-from=from data-to=to>
            <p class=if empty { "callout ok" } else { "diff-summary" } data-testid="diff-summary">
                <strong>{format!("v{from} → v{to}: ")}</strong>{summary}
            </p>
            {(!settings.is_empty()).then(|| view! {
                <section class="diff-block" data-diff-block="settings">
                    <h4>"Workflow settings"</h4>
                    <FieldTable fields=settings from to />
                </section>
            })}
            {(!added.is_empty() || !removed.is_empty()).then(|| view! {
                <section class="diff-block" data-diff-block="states">
                    <h4>"States added and removed"</h4>
                    <ul class="diff-states">
                        {added.into_iter().map(|s| view! {
                            <li data-diff-state=s.name.clone() data-change="added">
                                <span class="pill ok">"added"</span>
                                <span class="mono">{s.name.clone()}</span>
                                <span class="muted small">{state_line(&s.kind, &s.definition)}</span>
                            </li>
                        }).collect_view()}
                        {removed.into_iter().map(|s| view! {
                            <li data-diff-state=s.name.clone() data-change="removed">
                                <span class="pill bad">"removed"</span>
                                <span class="mono">{s.name.clone()}</span>
                                <span class="muted small">{state_line(&s.kind, &s.definition)}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
            })}
            {(!changed.is_empty()).then(|| view! {
                <section class="diff-block" data-diff-block="changed">
                    <h4>"States changed"</h4>
                    {changed.into_iter().map(|s| view! {
                        <div class="diff-state" data-diff-state=s.name.clone() data-change="changed">
                            <p class="diff-state-name">
                                <span class="pill warn">"changed"</span>
                                <span class="mono">{s.name.clone()}</span>
                                <span class="muted small">{s.kind.clone()}</span>
                            </p>
                            <FieldTable fields=s.fields from to />
                        </div>
                    }).collect_view()}
                </section>
            })}
        </div>
    }
}

/// Fields that changed: path, old value, new value.
#[component]
fn FieldTable(fields: Vec<FieldChange>, from: u32, to: u32) -> impl IntoView {
    view! {
        <table class="table compact diff-table">
            <thead>
                <tr>
                    <th scope="col">"Field"</th>
                    <th scope="col">{format!("v{from}")}</th>
                    <th scope="col" class="arrow-col" aria-hidden="true"></th>
                    <th scope="col">{format!("v{to}")}</th>
                </tr>
            </thead>
            <tbody>
                {fields.into_iter().map(|f| {
                    let kind = f.change.label();
                    let (old, new) = match &f.change {
                        Change::Changed(Value::String(a), Value::String(b)) if a.chars().count().max(b.chars().count()) > TEXT_CHARS => {
                            let t = text_change(a, b, TEXT_CONTEXT);
                            (text_cell(&t.before, &t.old, &t.after, a, false), text_cell(&t.before, &t.new, &t.after, b, true))
                        }
                        change => (
                            value_cell(&f.path, change.old(), "not set"),
                            value_cell(&f.path, change.new_value(), "removed"),
                        ),
                    };
                    view! {
                        <tr data-field=f.path.clone() data-change=kind>
                            <td class="mono diff-path">{f.path.clone()}</td>
                            <td class="diff-old">{old}</td>
                            <td class="arrow-col" aria-hidden="true">"→"</td>
                            <td class="diff-new">{new}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A long text with the changed part marked; the whole text is in the tooltip.
fn text_cell(before: &str, changed: &str, after: &str, full: &str, added: bool) -> AnyView {
    let mark = if changed.is_empty() {
        ().into_any()
    } else if added {
        view! { <ins>{changed.to_string()}</ins> }.into_any()
    } else {
        view! { <del>{changed.to_string()}</del> }.into_any()
    };
    view! {
        <code class="diff-value diff-text" title=full.to_string()>
            {before.to_string()}{mark}{after.to_string()}
        </code>
    }
    .into_any()
}

/// A value as JSON; a number of milliseconds (a field named `…_ms`) also in words.
fn value_cell(path: &str, value: Option<&Value>, missing: &'static str) -> AnyView {
    match value {
        None => view! { <span class="muted small">{missing}</span> }.into_any(),
        Some(value) => {
            let full = format::json(&whole_numbers(value));
            let words = value
                .as_f64()
                .filter(|_| path.ends_with("_ms"))
                .map(|ms| format!(" ({})", crate::format::window(ms as i64)));
            view! {
                <code class="diff-value" title=full>{short_json(value, VALUE_CHARS)}</code>
                {words.map(|w| view! { <span class="muted small">{w}</span> })}
            }
            .into_any()
        }
    }
}

/// A state in one line: its kind and, for a task, the call.
fn state_line(kind: &str, state: &Value) -> String {
    let text = |key: &str| state.get(key).and_then(Value::as_str).unwrap_or("?").to_string();
    match kind {
        "task" => format!("task · {}.{}", text("service"), text("action")),
        "" => "state".into(),
        other => other.to_string(),
    }
}
