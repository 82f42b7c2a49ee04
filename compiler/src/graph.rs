//! `flowc graph`: the flow as a Mermaid flowchart or a Graphviz digraph. A map's nested flow
//! is drawn as a subgraph (a cluster), entered from the map node by a dotted "each item" edge.

use std::fmt::Write as _;

use crate::ir::{FlowId, Handle, Ir, IrEdge, IrNode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
}

pub fn render(ir: &Ir, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Mermaid => {
            out.push_str("flowchart TD\n");
            mermaid(&mut out, ir, Ir::TOP, 1);
        }
        Format::Dot => {
            let _ = writeln!(out, "digraph {} {{", quote(&ir.id));
            out.push_str("    node [shape=box];\n");
            dot(&mut out, ir, Ir::TOP, 1);
            out.push_str("}\n");
        }
    }
    out
}

fn label(node: &IrNode) -> String {
    let text = node.label.as_deref().unwrap_or(&node.id);
    format!("{text}\n{}", node.kind.as_str())
}

fn handle(h: &Handle) -> Option<String> {
    match h {
        Handle::Success => None,
        Handle::Error => Some("error".to_owned()),
        Handle::Route(r) => Some(r.clone()),
    }
}

/// The nodes of a map's nested flow that no edge enters: where each item starts.
fn roots<'a>(nodes: &'a [IrNode], edges: &[IrEdge]) -> impl Iterator<Item = &'a IrNode> + use<'a> {
    let entered: Vec<usize> = edges.iter().map(|e| e.target).collect();
    nodes.iter().enumerate().filter(move |(i, _)| !entered.contains(i)).map(|(_, n)| n)
}

fn mermaid(out: &mut String, ir: &Ir, flow: FlowId, depth: usize) {
    let (nodes, edges) = (&ir.flows[flow].nodes, &ir.flows[flow].edges);
    let pad = "    ".repeat(depth);
    // Mermaid node names are the Rust names with a prefix: no id can clash with a Mermaid
    // keyword such as `end`.
    let name = |node: &IrNode| format!("n_{}", node.name);
    for node in nodes {
        // Mermaid strings take `#quot;` for a double quote.
        let text = label(node).replace('"', "#quot;").replace('\n', "<br/>");
        let _ = writeln!(out, "{pad}{}[\"{text}\"]", name(node));
        if let Some(nested) = node.nested {
            let (inner_nodes, inner_edges) = (&ir.flows[nested].nodes, &ir.flows[nested].edges);
            let title = format!("each item of {}", node.id).replace('"', "#quot;");
            let _ = writeln!(out, "{pad}subgraph s_{}[\"{title}\"]", node.name);
            mermaid(out, ir, nested, depth + 1);
            let _ = writeln!(out, "{pad}end");
            for root in roots(inner_nodes, inner_edges) {
                let _ = writeln!(out, "{pad}{} -.->|\"each item\"| {}", name(node), name(root));
            }
        }
    }
    for edge in edges {
        let (s, t) = (name(&nodes[edge.source]), name(&nodes[edge.target]));
        match handle(&edge.handle) {
            Some(h) => {
                let _ = writeln!(out, "{pad}{s} -->|\"{}\"| {t}", h.replace('"', "#quot;"));
            }
            None => {
                let _ = writeln!(out, "{pad}{s} --> {t}");
            }
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn dot(out: &mut String, ir: &Ir, flow: FlowId, depth: usize) {
    let (nodes, edges) = (&ir.flows[flow].nodes, &ir.flows[flow].edges);
    let pad = "    ".repeat(depth);
    // Node ids are unique across a flow and its maps' nested flows, so they name Graphviz
    // nodes as they are.
    for node in nodes {
        let _ = writeln!(out, "{pad}{} [label={}];", quote(&node.id), quote(&label(node)));
        if let Some(nested) = node.nested {
            let (inner_nodes, inner_edges) = (&ir.flows[nested].nodes, &ir.flows[nested].edges);
            let _ = writeln!(out, "{pad}subgraph {} {{", quote(&format!("cluster_{}", node.name)));
            let _ = writeln!(out, "{pad}    label={};", quote(&format!("each item of {}", node.id)));
            dot(out, ir, nested, depth + 1);
            let _ = writeln!(out, "{pad}}}");
            for root in roots(inner_nodes, inner_edges) {
                let _ = writeln!(
                    out,
                    "{pad}{} -> {} [label=\"each item\", style=dotted];",
                    quote(&node.id),
                    quote(&root.id)
                );
            }
        }
    }
    for edge in edges {
        let (s, t) = (quote(&nodes[edge.source].id), quote(&nodes[edge.target].id));
        match handle(&edge.handle) {
            Some(h) => {
                let style = if edge.handle == Handle::Error { ", style=dashed, color=red" } else { "" };
                let _ = writeln!(out, "{pad}{s} -> {t} [label={}{style}];", quote(&h));
            }
            None => {
                let _ = writeln!(out, "{pad}{s} -> {t};");
            }
        }
    }
}
