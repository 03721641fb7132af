//! Graph algorithms of validation, linear in states plus transitions and free of recursion.
//!
//! States are numbered `0..n`; `edges[v]` lists the states `v` can move to. [`components`]
//! finds strongly connected components (Tarjan's algorithm with an explicit stack), which
//! gives loops (a component of more than one state, or a state that leads to itself) and the
//! entry points of the unreachable part of a graph. [`explore`] is a breadth-first walk.

/// Marks a state outside the considered part of the graph.
pub(crate) const NONE: usize = usize::MAX;

/// The strongly connected components of the states `v` with `include(v)`, following only edges
/// between such states: `(component of each state, number of components)`; excluded states get
/// [`NONE`]. Components are numbered in reverse topological order (a component's successors have
/// smaller numbers).
pub(crate) fn components(edges: &[Vec<usize>], include: impl Fn(usize) -> bool) -> (Vec<usize>, usize) {
    let n = edges.len();
    let mut order = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![NONE; n];
    let mut stack: Vec<usize> = Vec::new();
    // The explicit call stack: (state, position of its next edge to follow).
    let mut calls: Vec<(usize, usize)> = Vec::new();
    let (mut next_order, mut count) = (0, 0);
    for root in 0..n {
        if !include(root) || order[root] != NONE {
            continue;
        }
        order[root] = next_order;
        low[root] = next_order;
        next_order += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));
        while let Some(&(v, at)) = calls.last() {
            if let Some(&w) = edges[v].get(at) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                if w >= n || !include(w) {
                    continue;
                }
                if order[w] == NONE {
                    order[w] = next_order;
                    low[w] = next_order;
                    next_order += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = count;
                    if w == v {
                        break;
                    }
                }
                count += 1;
            }
        }
    }
    (component, count)
}

/// Walks from `from` (which must pass `allow`) through states that pass `allow` and are not
/// marked yet, marking them; returns them in the order reached, `from` first.
pub(crate) fn explore(
    edges: &[Vec<usize>],
    from: usize,
    marked: &mut [bool],
    allow: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut reached = vec![from];
    marked[from] = true;
    let mut next = 0;
    while let Some(&v) = reached.get(next) {
        next += 1;
        for &w in &edges[v] {
            if w < marked.len() && !marked[w] && allow(w) {
                marked[w] = true;
                reached.push(w);
            }
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_of_a_small_graph() {
        // 0 -> 1 -> 2 -> 0 (a loop), 2 -> 3, 3 -> 3 (a self loop), 4 alone, 5 excluded.
        let edges = vec![vec![1], vec![2], vec![0, 3], vec![3], vec![], vec![0]];
        let (c, count) = components(&edges, |v| v != 5);
        assert_eq!(count, 3);
        assert_eq!((c[0], c[1]), (c[2], c[2]));
        assert!(c[3] < c[0], "successors first");
        assert_ne!(c[3], c[4]);
        assert_eq!(c[5], NONE);
    }

    #[test]
    fn a_cycle_of_a_hundred_thousand_states_is_one_component_without_recursion() {
        let n = 100_000;
        let edges: Vec<Vec<usize>> = (0..n).map(|v| vec![(v + 1) % n]).collect();
        let (c, count) = components(&edges, |_| true);
        assert_eq!(count, 1);
        assert!(c.iter().all(|&x| x == 0));
        let mut marked = vec![false; n];
        assert_eq!(explore(&edges, 7, &mut marked, |_| true).len(), n);
        let chain: Vec<Vec<usize>> = (0..n).map(|v| if v + 1 < n { vec![v + 1] } else { vec![] }).collect();
        assert_eq!(components(&chain, |_| true).1, n, "a chain is n components");
    }
}
