//! [`FlowDiagram`]: a definition drawn as SVG from its [`layout`](super::layout), with [`Marks`] on top.
//!
//! The geometry is computed once from the definition; only classes, badges and notes follow the marks
//! signal, so live updates recolour boxes without moving anything. Every box is a button: click, Enter or
//! Space selects the state (the page shows its details beside the diagram).

use leptos::prelude::*;
use serde_json::Value;

use super::graph::{EdgeKind, Graph};
use super::layout::{layout, BOX_HEIGHT, BOX_WIDTH};
use super::marks::{state_definition, Marks, NodeMark, NodeStatus};
use crate::wire::StateKind;

/// The diagram of `definition` with `marks` drawn on it; clicking a state puts its name in `selected`.
#[component]
pub fn FlowDiagram(
    /// The definition as the API serves it.
    definition: Value,
    /// What to draw on the states and edges; may change at any time.
    #[prop(into)]
    marks: Signal<Marks>,
    /// The state whose details are shown; set by clicking a box.
    selected: RwSignal<Option<String>>,
    /// Says what the diagram shows, for screen readers.
    #[prop(into)]
    label: String,
) -> impl IntoView {
    let Some(graph) = Graph::from_definition(&definition) else {
        return view! {
            <p class="error-text">"This definition has no states to draw (no valid start state)."</p>
        }
        .into_any();
    };
    let drawing = layout(&graph);
    let names: Vec<String> = graph.nodes.iter().map(|n| n.name.clone()).collect();

    let edges = drawing
        .routes
        .iter()
        .map(|route| {
            let edge = &graph.edges[route.edge];
            let (from, to) = (names[edge.from].clone(), names[edge.to].clone());
            let kind = edge_css(route.kind);
            let back = if route.back { " back" } else { "" };
            let path = path_of(&route.points);
            let taken = Memo::new(move |_| marks.with(|m| m.taken.contains(&(from.clone(), to.clone()))));
            let class = move || format!("edge {kind}{back}{}", if taken.get() { " taken" } else { "" });
            let marker = move || format!("url(#arrow-{})", if taken.get() { "taken" } else { kind });
            view! { <path class=class d=path marker-end=marker /> }
        })
        .collect_view();

    let nodes = drawing
        .boxes
        .iter()
        .map(|placed| {
            let node = &graph.nodes[placed.node];
            let name = node.name.clone();
            let state = state_definition(&definition, &name).cloned().unwrap_or(Value::Null);
            let subtitle = subtitle_of(node.kind, &state);
            let undo = compensation_of(&state);
            let kind = node.kind.map_or("", StateKind::as_str);
            let (x, y) = (placed.x - BOX_WIDTH / 2.0, placed.y - BOX_HEIGHT / 2.0);
            let mark = {
                let name = name.clone();
                Memo::new(move |_| marks.with(|m| m.nodes.get(&name).cloned().unwrap_or_default()))
            };
            let is_selected = {
                let name = name.clone();
                Memo::new(move |_| selected.with(|s| s.as_deref() == Some(name.as_str())))
            };
            let class = move || {
                let status = mark.with(|m| m.status.map(NodeStatus::css).unwrap_or("idle"));
                let selected = if is_selected.get() { " selected" } else { "" };
                format!("node kind-{kind} {status}{selected}")
            };
            let select = {
                let name = name.clone();
                move || selected.set(Some(name.clone()))
            };
            let on_key = {
                let select = select.clone();
                move |event: leptos::ev::KeyboardEvent| {
                    if event.key() == "Enter" || event.key() == " " {
                        event.prevent_default();
                        select();
                    }
                }
            };
            let tooltip = {
                let (name, subtitle, undo) = (name.clone(), subtitle.clone(), undo.clone());
                Memo::new(move |_| tooltip_of(&name, &subtitle, undo.as_deref(), &mark.get()))
            };
            let fill = move || mark.with(|m| m.heat.map(heat_fill).map(|c| format!("fill: {c}")).unwrap_or_default());
            let second_line = move || mark.with(|m| m.note.clone()).unwrap_or_else(|| subtitle.clone());
            let badge = move || {
                mark.with(|m| m.badge.clone()).map(|text| {
                    let width = 10.0 + 6.5 * text.chars().count() as f64;
                    view! {
                        <g class="badge" transform=format!("translate({} -8)", BOX_WIDTH - width + 6.0)>
                            <rect width=width height="16" rx="8" />
                            <text x=width / 2.0 y="12" text-anchor="middle">{text}</text>
                        </g>
                    }
                })
            };
            view! {
                <g
                    class=class
                    transform=format!("translate({x} {y})")
                    tabindex="0"
                    role="button"
                    aria-pressed=move || is_selected.get().to_string()
                    aria-label=tooltip
                    data-state=name.clone()
                    on:click=move |_| select()
                    on:keydown=on_key
                >
                    <title>{tooltip}</title>
                    <rect class="box" width=BOX_WIDTH height=BOX_HEIGHT rx="8" style=fill />
                    <text class="node-name" x="10" y="16">{clip(&name, 21)}</text>
                    <text class="node-sub" x="10" y="31">{move || clip(&second_line(), 26)}</text>
                    {undo.map(|undo| view! {
                        <text class="undo-mark" x=BOX_WIDTH - 14.0 y="31">
                            "↺"
                            <title>{format!("Compensation: {undo}")}</title>
                        </text>
                    })}
                    {badge}
                </g>
            }
        })
        .collect_view();

    view! {
        <div class="diagram-scroll">
            <svg
                class="flow-diagram"
                viewBox=format!("0 0 {} {}", drawing.width, drawing.height)
                width=drawing.width
                height=drawing.height
                role="group"
                aria-label=label
            >
                <defs>
                    {["next", "choice", "decision", "failure", "branch", "taken"]
                        .into_iter()
                        .map(|kind| view! {
                            <marker
                                id=format!("arrow-{kind}")
                                class=format!("arrow {kind}")
                                viewBox="0 0 10 10"
                                refX="9"
                                refY="5"
                                markerWidth="7"
                                markerHeight="7"
                                orient="auto-start-reverse"
                            >
                                <path d="M 0 0 L 10 5 L 0 10 z" />
                            </marker>
                        })
                        .collect_view()}
                </defs>
                <g class="edges">{edges}</g>
                <g class="nodes">{nodes}</g>
            </svg>
        </div>
    }
    .into_any()
}

/// The key under a diagram: edge kinds, and the run statuses when the diagram shows a run.
#[component]
pub fn DiagramLegend(
    /// Whether to list the run statuses (an instance's diagram) besides the edge kinds.
    #[prop(optional)]
    statuses: bool,
) -> impl IntoView {
    let edges = [
        ("next", "next step"),
        ("choice", "choice branch"),
        ("decision", "a person's decision"),
        ("failure", "on failure"),
        ("branch", "parallel branch"),
    ];
    view! {
        <ul class="diagram-legend" aria-label="Legend">
            {edges.into_iter().map(|(kind, label)| view! {
                <li><span class=format!("legend-edge {kind}") aria-hidden="true"></span>{label}</li>
            }).collect_view()}
            <li><span class="legend-undo" aria-hidden="true">"↺"</span>"has a compensation"</li>
            {statuses.then(|| view! {
                <li><span class="legend-edge taken" aria-hidden="true"></span>"path taken"</li>
                {NodeStatus::ALL.into_iter().map(|status| view! {
                    <li><span class=format!("legend-box {}", status.css()) aria-hidden="true"></span>{status.label()}</li>
                }).collect_view()}
            })}
        </ul>
    }
}

fn edge_css(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Next => "next",
        EdgeKind::Choice => "choice",
        EdgeKind::Decision => "decision",
        EdgeKind::Failure => "failure",
        EdgeKind::Branch => "branch",
    }
}

/// An SVG path through the points.
fn path_of(points: &[(f64, f64)]) -> String {
    points.iter().enumerate().map(|(i, (x, y))| format!("{}{x:.1} {y:.1}", if i == 0 { "M" } else { " L" })).collect()
}

/// The box's second line: what the state does.
fn subtitle_of(kind: Option<StateKind>, state: &Value) -> String {
    let text = |key: &str| state.get(key).and_then(Value::as_str).unwrap_or("");
    let Some(kind) = kind else { return String::new() };
    match kind {
        StateKind::Task => format!("{}.{}", text("service"), text("action")),
        StateKind::Choice => "choice".into(),
        StateKind::Parallel => {
            let branches = state.get("branches").and_then(Value::as_array).map_or(0, Vec::len);
            format!("parallel · {branches} branches")
        }
        StateKind::Wait => "wait (timer)".into(),
        StateKind::Human => "human task".into(),
        StateKind::Succeed => "end · succeeded".into(),
        StateKind::Fail => "end · failed".into(),
    }
}

/// `service.action` of a task's compensation, if it has one.
fn compensation_of(state: &Value) -> Option<String> {
    let compensation = state.get("compensation")?;
    let text = |key: &str| compensation.get(key).and_then(Value::as_str).unwrap_or("?");
    Some(format!("{}.{}", text("service"), text("action")))
}

fn tooltip_of(name: &str, subtitle: &str, undo: Option<&str>, mark: &NodeMark) -> String {
    let mut lines = vec![format!("{name} ({subtitle})")];
    if let Some(status) = mark.status {
        lines.push(status.label().to_string());
    }
    if let Some(note) = &mark.note {
        lines.push(note.clone());
    }
    if let Some(undo) = undo {
        lines.push(format!("compensation: {undo}"));
    }
    lines.extend(mark.detail.iter().cloned());
    lines.join("\n")
}

/// Cuts text to `max` characters with an ellipsis (the full text is in the tooltip).
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Heat 0–1 as a fill: pale green through amber to red.
pub fn heat_fill(heat: f64) -> String {
    let h = heat.clamp(0.0, 1.0);
    let stops = [(0.0, (220.0, 243.0, 228.0)), (0.5, (253.0, 230.0, 138.0)), (1.0, (248.0, 113.0, 113.0))];
    let (lo, hi) = if h <= 0.5 { (stops[0], stops[1]) } else { (stops[1], stops[2]) };
    let t = (h - lo.0) / (hi.0 - lo.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!("rgb({}, {}, {})", mix(lo.1 .0, hi.1 .0), mix(lo.1 .1, hi.1 .1), mix(lo.1 .2, hi.1 .2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_clipped_with_an_ellipsis() {
        assert_eq!(clip("short", 21), "short");
        assert_eq!(clip("a-very-long-state-name-indeed", 10), "a-very-lo…");
    }

    #[test]
    fn paths_go_through_every_point() {
        assert_eq!(path_of(&[(1.0, 2.0), (3.0, 4.5)]), "M1.0 2.0 L3.0 4.5");
    }

    #[test]
    fn heat_runs_from_green_to_red() {
        assert_eq!(heat_fill(0.0), "rgb(220, 243, 228)");
        assert_eq!(heat_fill(1.0), "rgb(248, 113, 113)");
        assert_eq!(heat_fill(7.0), heat_fill(1.0));
    }
}
