//! A layered ("Sugiyama") layout of a [`Graph`]: states in rows by their distance from the start, long
//! edges broken by invisible waypoints that take a slot of their own, rows ordered to cut crossings, and
//! every edge drawn from the bottom of a box, through its waypoints' slots straight down their rows, to
//! the top of its target. Slanted lines therefore only run in the gaps between rows and vertical ones
//! only through free slots: no edge runs through a box, and no two boxes overlap.
//!
//! ```
//! use app::diagram::{graph::Graph, layout::layout};
//! let definition = serde_json::json!({"start_at": "a", "states": {
//!     "a": {"type": "task", "next": "b"}, "b": {"type": "succeed"}}});
//! let drawing = layout(&Graph::from_definition(&definition).unwrap());
//! assert!(drawing.boxes[0].y < drawing.boxes[1].y, "the start is above what follows");
//! ```

use super::graph::{EdgeKind, Graph};

pub const BOX_WIDTH: f64 = 168.0;
pub const BOX_HEIGHT: f64 = 40.0;
/// Horizontal distance between slot centres.
pub const SLOT: f64 = 196.0;
/// Vertical distance between row centres.
pub const ROW: f64 = 84.0;
const MARGIN: f64 = 16.0;

/// A state's box: centre, and the node it draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub node: usize,
    pub x: f64,
    pub y: f64,
}

/// An edge as a polyline from the bottom of its source box to the top of its target box.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub edge: usize,
    pub kind: EdgeKind,
    pub points: Vec<(f64, f64)>,
    /// The edge goes up (to an earlier row): a loop back.
    pub back: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drawing {
    /// One per node, in node order.
    pub boxes: Vec<Placed>,
    pub routes: Vec<Route>,
    pub width: f64,
    pub height: f64,
}

/// Lays out the graph; see the module docs.
pub fn layout(graph: &Graph) -> Drawing {
    let n = graph.nodes.len();
    if n == 0 {
        return Drawing::default();
    }
    let rows = rows_of(graph);
    // Slots per row: real nodes, and for every edge spanning several rows one waypoint per row between.
    let row_count = rows.iter().copied().max().unwrap_or(0) + 1;
    let mut slots: Vec<Vec<Slot>> = vec![Vec::new(); row_count];
    for (node, &row) in rows.iter().enumerate() {
        slots[row].push(Slot::Node(node));
    }
    let mut chains: Vec<Vec<(usize, usize)>> = Vec::new(); // per edge: (row, index of its slot) waypoints
    for (edge_index, edge) in graph.edges.iter().enumerate() {
        let (from, to) = (rows[edge.from], rows[edge.to]);
        let mut chain = Vec::new();
        let (top, bottom) = if from < to { (from, to) } else { (to, from) };
        // Forward edges get waypoints in the rows between; back edges run beside the rows they pass.
        for (row, row_slots) in slots.iter_mut().enumerate().take(bottom).skip(top + 1) {
            row_slots.push(Slot::Waypoint(edge_index));
            chain.push((row, row_slots.len() - 1));
        }
        chains.push(chain);
    }
    order_rows(graph, &rows, &mut slots);
    let widest = slots.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let width = widest * SLOT + 2.0 * MARGIN;
    let position = |row: usize, index: usize, len: usize| {
        // Rows are centred on the widest one.
        let offset = (widest - len as f64) * SLOT / 2.0;
        (MARGIN + offset + (index as f64 + 0.5) * SLOT, MARGIN + (row as f64 + 0.5) * ROW)
    };
    let mut boxes = vec![Placed { node: 0, x: 0.0, y: 0.0 }; n];
    let mut waypoints: std::collections::HashMap<(usize, usize), (f64, f64)> = std::collections::HashMap::new();
    for (row, row_slots) in slots.iter().enumerate() {
        for (index, slot) in row_slots.iter().enumerate() {
            let (x, y) = position(row, index, row_slots.len());
            match slot {
                Slot::Node(node) => boxes[*node] = Placed { node: *node, x, y },
                Slot::Waypoint(edge) => {
                    waypoints.insert((*edge, row), (x, y));
                }
            }
        }
    }
    let routes = graph
        .edges
        .iter()
        .enumerate()
        .map(|(edge_index, edge)| {
            let (a, b) = (&boxes[edge.from], &boxes[edge.to]);
            let back = rows[edge.to] <= rows[edge.from];
            let mut points = vec![(a.x, a.y + BOX_HEIGHT / 2.0)];
            // Through each waypoint's slot straight down its row, so that slanted lines only ever run in
            // the gaps between rows, where there are no boxes.
            let mut through: Vec<(f64, f64)> = chains[edge_index]
                .iter()
                .filter_map(|(row, _)| waypoints.get(&(edge_index, *row)).copied())
                .flat_map(|(x, y)| [(x, y - BOX_HEIGHT / 2.0), (x, y + BOX_HEIGHT / 2.0)])
                .collect();
            if back {
                through.reverse();
            }
            points.extend(through);
            points.push((b.x, b.y - BOX_HEIGHT / 2.0));
            Route { edge: edge_index, kind: edge.kind, points, back }
        })
        .collect();
    Drawing { boxes, routes, width, height: row_count as f64 * ROW + 2.0 * MARGIN }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Node(usize),
    Waypoint(usize),
}

/// Each node's row: its longest distance from the start along edges that do not close a loop.
fn rows_of(graph: &Graph) -> Vec<usize> {
    let n = graph.nodes.len();
    // Depth-first from the start to find the edges that close loops (to a node still on the stack).
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    let mut back = vec![false; graph.edges.len()];
    let mut order = Vec::new();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in std::iter::once(0).chain(0..n) {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        stack.push((root, 0));
        while let Some((node, next_edge)) = stack.pop() {
            if let Some((edge_index, edge)) =
                graph.edges.iter().enumerate().skip(next_edge).find(|(_, edge)| edge.from == node)
            {
                stack.push((node, edge_index + 1));
                match state[edge.to] {
                    0 => {
                        state[edge.to] = 1;
                        stack.push((edge.to, 0));
                    }
                    1 => back[edge_index] = true,
                    _ => {}
                }
            } else {
                state[node] = 2;
                order.push(node);
            }
        }
    }
    // Longest path over the forward edges, in topological order (reverse finishing order).
    let mut rows = vec![0usize; n];
    for &node in order.iter().rev() {
        for (edge_index, edge) in graph.edges.iter().enumerate() {
            if edge.from == node && !back[edge_index] {
                rows[edge.to] = rows[edge.to].max(rows[node] + 1);
            }
        }
    }
    rows
}

/// Orders each row by the average position of its neighbours in the row above (then below), a few
/// sweeps down and up: the barycentre heuristic against crossings.
fn order_rows(graph: &Graph, rows: &[usize], slots: &mut [Vec<Slot>]) {
    // Each slot's neighbours in the rows above and below, by slot identity.
    let above = |slot: Slot| -> Vec<Slot> {
        match slot {
            Slot::Node(node) => graph
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| e.to == node && rows[e.from] < rows[node])
                .map(|(i, e)| if rows[node] - rows[e.from] == 1 { Slot::Node(e.from) } else { Slot::Waypoint(i) })
                .collect(),
            Slot::Waypoint(edge) => {
                let e = &graph.edges[edge];
                vec![Slot::Node(e.from.min(e.to)), Slot::Waypoint(edge)]
            }
        }
    };
    for _ in 0..4 {
        for row in 1..slots.len() {
            let (upper, rest) = slots.split_at_mut(row);
            let previous = &upper[row - 1];
            let position = |slot: &Slot| previous.iter().position(|s| s == slot);
            let mut keyed: Vec<(f64, usize, Slot)> = rest[0]
                .iter()
                .enumerate()
                .map(|(index, &slot)| {
                    let found: Vec<usize> = above(slot).iter().filter_map(position).collect();
                    let key = if found.is_empty() {
                        index as f64
                    } else {
                        found.iter().sum::<usize>() as f64 / found.len() as f64
                    };
                    (key, index, slot)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rest[0] = keyed.into_iter().map(|(_, _, slot)| slot).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOWS: [&str; 7] = [
        include_str!("../../../server/src/marketplace/workflows/buyer-onboarding.json"),
        include_str!("../../../server/src/marketplace/workflows/call-lifecycle.json"),
        include_str!("../../../server/src/marketplace/workflows/daily-settlement.json"),
        include_str!("../../../server/src/marketplace/workflows/dispute-resolution.json"),
        include_str!("../../../server/src/marketplace/workflows/payout-processing.json"),
        include_str!("../../../server/src/marketplace/workflows/quality-monitoring.json"),
        include_str!("../../../server/src/marketplace/workflows/seller-onboarding.json"),
    ];

    fn overlaps(a: &Placed, b: &Placed) -> bool {
        (a.x - b.x).abs() < BOX_WIDTH && (a.y - b.y).abs() < BOX_HEIGHT
    }

    /// Whether the segment p–q passes through the inside of the box (sampled finely).
    fn crosses(p: (f64, f64), q: (f64, f64), b: &Placed) -> bool {
        (1..100).any(|i| {
            let t = f64::from(i) / 100.0;
            let (x, y) = (p.0 + (q.0 - p.0) * t, p.1 + (q.1 - p.1) * t);
            (x - b.x).abs() < BOX_WIDTH / 2.0 - 1.0 && (y - b.y).abs() < BOX_HEIGHT / 2.0 - 1.0
        })
    }

    fn check(name: &str, drawing: &Drawing, graph: &Graph) {
        for (i, a) in drawing.boxes.iter().enumerate() {
            for b in &drawing.boxes[i + 1..] {
                assert!(
                    !overlaps(a, b),
                    "{name}: {} and {} overlap",
                    graph.nodes[a.node].name,
                    graph.nodes[b.node].name
                );
            }
        }
        for route in drawing.routes.iter().filter(|r| !r.back) {
            let edge = &graph.edges[route.edge];
            for pair in route.points.windows(2) {
                for b in drawing.boxes.iter().filter(|b| b.node != edge.from && b.node != edge.to) {
                    assert!(
                        !crosses(pair[0], pair[1], b),
                        "{name}: the edge {} → {} runs through {}",
                        graph.nodes[edge.from].name,
                        graph.nodes[edge.to].name,
                        graph.nodes[b.node].name
                    );
                }
            }
        }
    }

    #[test]
    fn every_marketplace_workflow_is_laid_out_without_overlaps_or_edges_through_boxes() {
        for text in WORKFLOWS {
            let definition: serde_json::Value = serde_json::from_str(text).unwrap();
            let name = definition["name"].as_str().unwrap().to_string();
            let graph = Graph::from_definition(&definition).expect("a graph");
            assert!(graph.nodes.len() >= 5, "{name}: {} states", graph.nodes.len());
            let drawing = layout(&graph);
            assert_eq!(drawing.boxes.len(), graph.nodes.len());
            assert_eq!(drawing.boxes[0].y, MARGIN + ROW / 2.0, "{name}: the start is on the first row");
            check(&name, &drawing, &graph);
            for route in &drawing.routes {
                let edge = &graph.edges[route.edge];
                assert_eq!(
                    route.points.first(),
                    Some(&(drawing.boxes[edge.from].x, drawing.boxes[edge.from].y + BOX_HEIGHT / 2.0))
                );
                assert_eq!(
                    route.points.last(),
                    Some(&(drawing.boxes[edge.to].x, drawing.boxes[edge.to].y - BOX_HEIGHT / 2.0))
                );
            }
        }
    }

    #[test]
    fn fifty_random_states_are_laid_out_cleanly() {
        let mut seed = 7u64;
        let mut next = |bound: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % bound
        };
        for round in 0..20 {
            let count = 10 + next(41);
            let mut states = serde_json::Map::new();
            for i in 0..count {
                let state = if i + 1 == count {
                    serde_json::json!({"type": "succeed"})
                } else if next(4) == 0 {
                    let a = i + 1 + next(count - i - 1);
                    let b = i + 1 + next(count - i - 1);
                    serde_json::json!({"type": "choice", "choices": [{"condition": "true", "next": format!("s{a}")}], "default": format!("s{b}")})
                } else {
                    let to = i + 1 + next((count - i - 1).min(3));
                    serde_json::json!({"type": "task", "next": format!("s{to}")})
                };
                states.insert(format!("s{i}"), state);
            }
            let definition = serde_json::json!({"start_at": "s0", "states": states});
            let graph = Graph::from_definition(&definition).unwrap();
            check(&format!("round {round}"), &layout(&graph), &graph);
        }
    }

    #[test]
    fn a_loop_back_is_marked_and_does_not_push_rows_down_forever() {
        let definition = serde_json::json!({"start_at": "a", "states": {
            "a": {"type": "task", "next": "b"},
            "b": {"type": "choice", "choices": [{"condition": "x", "next": "a"}], "default": "c"},
            "c": {"type": "succeed"}}});
        let graph = Graph::from_definition(&definition).unwrap();
        let drawing = layout(&graph);
        let rows: Vec<f64> = drawing.boxes.iter().map(|b| b.y).collect();
        assert!(rows[0] < rows[1] && rows[1] < rows[2]);
        assert_eq!(drawing.routes.iter().filter(|r| r.back).count(), 1);
    }
}
