//! `flowc graph`: the flow as a Mermaid flowchart or a Graphviz digraph.

use std::fmt::Write as _;

use crate::ir::{Handle, Ir};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
}

pub fn render(ir: &Ir, format: Format) -> String {
    let mut out = String::new();
    let label = |i: usize| {
        let node = &ir.nodes[i];
        let text = node.label.as_deref().unwrap_or(&node.id);
        format!("{text}\n{}", node.kind.as_str())
    };
    let handle = |h: &Handle| match h {
        Handle::Success => None,
        Handle::Error => Some("error".to_owned()),
        Handle::Route(r) => Some(r.clone()),
    };
    match format {
        Format::Mermaid => {
            // Mermaid node names are the Rust names with a prefix: no id can clash with a
            // Mermaid keyword such as `end`.
            let name = |i: usize| format!("n_{}", ir.nodes[i].name);
            out.push_str("flowchart TD\n");
            for i in 0..ir.nodes.len() {
                // Mermaid strings take `#quot;` for a double quote.
                let text = label(i).replace('"', "#quot;").replace('\n', "<br/>");
                let _ = writeln!(out, "    {}[\"{text}\"]", name(i));
            }
            for edge in &ir.edges {
                let (s, t) = (name(edge.source), name(edge.target));
                match handle(&edge.handle) {
                    Some(h) => {
                        let _ = writeln!(out, "    {s} -->|\"{}\"| {t}", h.replace('"', "#quot;"));
                    }
                    None => {
                        let _ = writeln!(out, "    {s} --> {t}");
                    }
                }
            }
        }
        Format::Dot => {
            let quote = |s: &str| serde_json::Value::from(s).to_string();
            let _ = writeln!(out, "digraph {} {{", quote(&ir.id));
            out.push_str("    node [shape=box];\n");
            for (i, node) in ir.nodes.iter().enumerate() {
                let _ = writeln!(out, "    {} [label={}];", quote(&node.id), quote(&label(i)));
            }
            for edge in &ir.edges {
                let (s, t) = (quote(&ir.nodes[edge.source].id), quote(&ir.nodes[edge.target].id));
                match handle(&edge.handle) {
                    Some(h) => {
                        let style = if edge.handle == Handle::Error { ", style=dashed, color=red" } else { "" };
                        let _ = writeln!(out, "    {s} -> {t} [label={}{style}];", quote(&h));
                    }
                    None => {
                        let _ = writeln!(out, "    {s} -> {t};");
                    }
                }
            }
            out.push_str("}\n");
        }
    }
    out
}
