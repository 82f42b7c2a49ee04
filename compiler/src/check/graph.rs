//! Phase 2, graph: unique ids, edges that name real nodes and real handles, no cycles.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::reader::{list, Sink};
use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::model::{Edge, Node};

/// The graph, once checked: edges as indices into `nodes`.
#[derive(Debug, Clone)]
pub struct Graph {
    /// `(position in edges, source, target)` for every valid edge.
    pub edges: Vec<(usize, usize, usize)>,
    /// A topological order of the nodes (only when there is no cycle).
    pub order: Vec<usize>,
    /// For each node, the set of its ancestors, as a bitset.
    ancestors: Vec<Vec<u64>>,
    /// Nodes whose ancestors are not known for sure: in or behind a cycle, or behind an edge
    /// that names a missing node. What they read is not checked against the graph, so one
    /// mistake does not bring false ones with it.
    pub uncertain: Vec<bool>,
    /// Nodes in or behind a graph error, left out of later phases.
    pub broken: Vec<bool>,
    /// Each id's node: the first with that id (the one edges name; a duplicate is reported).
    by_id: HashMap<String, usize>,
}

impl Graph {
    /// The node with this id (the first, when two have it).
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn is_ancestor(&self, ancestor: usize, of: usize) -> bool {
        self.ancestors.get(of).and_then(|bits| bits.get(ancestor / 64)).is_some_and(|w| w & (1 << (ancestor % 64)) != 0)
    }
}

/// Checks the nodes and edges of one flow (the document's, or a map's nested flow; only the
/// document's may have an `input` node, which a map's check reports).
pub fn check(
    sink: &mut Sink,
    nodes: &[Node],
    doc_edges: &[Edge],
    broken_ids: &BTreeSet<String>,
    top_level: bool,
) -> Graph {
    let n = nodes.len();
    let mut broken = vec![false; n];
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if let Some(&first) = by_id.get(node.id.as_str()) {
            sink.push(
                Diagnostic::new(
                    Code::E007,
                    format!("{}/id", node.pointer),
                    format!("two nodes have the id `{}`", node.id),
                )
                .help(format!("node ids must be unique; the first is at {}: rename one of them", nodes[first].pointer)),
            );
            broken[i] = true;
        } else {
            by_id.insert(&node.id, i);
        }
    }
    let mut edge_ids: BTreeMap<&str, &str> = BTreeMap::new();
    for edge in doc_edges {
        if let Some(id) = &edge.id {
            if let Some(first) = edge_ids.insert(id, &edge.pointer) {
                sink.push(
                    Diagnostic::new(
                        Code::E008,
                        format!("{}/id", edge.pointer),
                        format!("two edges have the id `{id}`"),
                    )
                    .help(format!("edge ids must be unique; the first is at {first}: rename or remove one")),
                );
            }
        }
    }
    let inputs: Vec<_> = nodes.iter().filter(|n| top_level && n.kind.role() == crate::nodes::Role::Input).collect();
    for extra in inputs.iter().skip(1) {
        sink.push(
            Diagnostic::new(
                Code::E022,
                format!("{}/type", extra.pointer),
                format!("node `{}` is a second `input` node", extra.id),
            )
            .help(format!("a flow has one input, node `{}`: read it from every node that needs it", inputs[0].id)),
        );
    }

    let mut edges = Vec::new();
    // Edges with a bad handle are reported, but still count for who is upstream of whom.
    let mut reported_edges = Vec::new();
    let mut uncertain = vec![false; n];
    for (position, edge) in doc_edges.iter().enumerate() {
        let mut resolve = |id: &str, field: &str| -> Option<usize> {
            if let Some(&i) = by_id.get(id) {
                return Some(i);
            }
            if broken_ids.contains(id) {
                return None; // already reported in the shape phase
            }
            let help = match did_you_mean(id, nodes.iter().map(|n| n.id.as_str())) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "name the id of a node of this flow".to_owned(),
            };
            sink.push(
                Diagnostic::new(
                    Code::E011,
                    format!("{}/{field}", edge.pointer),
                    format!("edge {} names the node `{id}` as its {field}, and there is no such node", edge.index),
                )
                .help(help),
            );
            None
        };
        let source = resolve(&edge.source, "source");
        let target = resolve(&edge.target, "target");
        let (Some(source), Some(target)) = (source, target) else {
            if let Some(&target) = by_id.get(edge.target.as_str()) {
                uncertain[target] = true;
            }
            continue;
        };
        if let Some(handle) = &edge.source_handle {
            let node = &nodes[source];
            let handles = crate::nodes::handles(node);
            if !handles.iter().any(|h| h == handle) {
                let help = match did_you_mean(handle, handles.iter().map(String::as_str)) {
                    Some(near) => format!(
                        "did you mean `{near}`? node `{}` has the handles {}",
                        node.id,
                        list(handles.iter().map(String::as_str))
                    ),
                    None => format!(
                        "node `{}` ({}) has the handles {}; leave `source_handle` out for the success path",
                        node.id,
                        node.kind.as_str(),
                        list(handles.iter().map(String::as_str))
                    ),
                };
                sink.push(
                    Diagnostic::new(
                        Code::E012,
                        format!("{}/source_handle", edge.pointer),
                        format!("node `{}` has no handle `{handle}`", node.id),
                    )
                    .help(help),
                );
                reported_edges.push((position, source, target));
                continue;
            }
        }
        edges.push((position, source, target));
    }

    // Cycles: Tarjan's strongly connected components, iteratively (flows may be long chains).
    let mut succ: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for &(e, s, t) in edges.iter().chain(&reported_edges) {
        succ[s].push((t, e));
    }
    let components = strongly_connected(&succ);
    let mut cyclic = false;
    for component in components {
        let self_loop = component.len() == 1 && succ[component[0]].iter().any(|&(t, _)| t == component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        cyclic = true;
        let cycle = find_cycle(&succ, &component);
        let names: Vec<&str> = cycle.iter().map(|&(node, _)| nodes[node].id.as_str()).collect();
        let closing_edge = cycle.last().map(|&(_, e)| e).unwrap_or(0);
        let mut path = names.join(" → ");
        path.push_str(&format!(" → {}", names[0]));
        sink.push(
            Diagnostic::new(
                Code::E013,
                doc_edges[closing_edge].pointer.clone(),
                format!("the edges form a cycle: {path}"),
            )
            .help(format!(
                "flows are acyclic: remove one of the edges of the cycle, e.g. this one ({} → {})",
                doc_edges[closing_edge].source, doc_edges[closing_edge].target
            )),
        );
        for &(node, _) in &cycle {
            broken[node] = true;
        }
    }

    let (order, ancestors) = topological(&succ, n, &mut uncertain);
    let order = if cyclic { Vec::new() } else { order };
    let by_id = by_id.into_iter().map(|(id, i)| (id.to_owned(), i)).collect();
    Graph { edges, order, ancestors, uncertain, broken, by_id }
}

/// Kahn's algorithm, with each node's ancestors as a bitset. Nodes it never reaches (in or
/// behind a cycle) and nodes behind an uncertain one are marked uncertain.
fn topological(succ: &[Vec<(usize, usize)>], n: usize, uncertain: &mut [bool]) -> (Vec<usize>, Vec<Vec<u64>>) {
    let words = n.div_ceil(64);
    let mut indegree = vec![0usize; n];
    for list in succ {
        for &(t, _) in list {
            indegree[t] += 1;
        }
    }
    let mut ancestors = vec![vec![0u64; words]; n];
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &(t, _) in &succ[i] {
            let (from, to) = if i < t {
                let (a, b) = ancestors.split_at_mut(t);
                (&a[i], &mut b[0])
            } else {
                let (a, b) = ancestors.split_at_mut(i);
                (&b[0], &mut a[t])
            };
            for (w, f) in to.iter_mut().zip(from) {
                *w |= f;
            }
            to[i / 64] |= 1 << (i % 64);
            uncertain[t] |= uncertain[i];
            indegree[t] -= 1;
            if indegree[t] == 0 {
                queue.push_back(t);
            }
        }
    }
    let mut reached = vec![false; n];
    for &i in &order {
        reached[i] = true;
    }
    for (i, reached) in reached.into_iter().enumerate() {
        uncertain[i] |= !reached;
    }
    (order, ancestors)
}

/// Tarjan's algorithm without recursion; components in no particular order.
fn strongly_connected(succ: &[Vec<(usize, usize)>]) -> Vec<Vec<usize>> {
    let n = succ.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut child)) = work.last_mut() {
            if *child == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&(w, _)) = succ[v].get(*child) {
                *child += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                components.push(component);
            }
        }
    }
    components.sort();
    components
}

/// One concrete cycle inside a strongly connected component, starting at its smallest node:
/// `(node, edge leaving it)` pairs.
fn find_cycle(succ: &[Vec<(usize, usize)>], component: &[usize]) -> Vec<(usize, usize)> {
    let start = component[0];
    // Breadth-first from `start` inside the component, back to `start`.
    let mut came_from: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &(w, e) in &succ[v] {
            if !component.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![(v, e)];
                let mut at = v;
                while at != start {
                    let (prev, edge) = came_from[&at];
                    path.push((prev, edge));
                    at = prev;
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = came_from.entry(w) {
                slot.insert((v, e));
                queue.push_back(w);
            }
        }
    }
    vec![(start, 0)]
}
