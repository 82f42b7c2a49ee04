//! `flowc describe`: what a valid flow is made of, each node with the type of its output
//! `data` as the checker knows it, and the type of the run result's `outputs`.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::ir::{FlowId, Ir};
use crate::types::{Member, Object, Type};

/// The type of the run result's `outputs`: an object by output name (an output node that is
/// skipped or fails adds nothing, so each may be missing).
pub fn outputs_type(ir: &Ir) -> Type {
    Type::record(Object {
        fields: ir
            .nodes()
            .iter()
            .filter_map(|node| {
                Some((node.config.output_name()?.to_owned(), Member { ty: node.output_type.clone(), optional: true }))
            })
            .collect(),
        rest: None,
    })
}

/// The human description: one line per node (a map's nested nodes under it), then the
/// outputs.
pub fn text(ir: &Ir) -> String {
    let mut rows = Vec::new();
    collect(ir, Ir::TOP, "", &mut rows);
    let id_width = rows.iter().map(|(id, _, _)| id.chars().count()).max().unwrap_or(0);
    let kind_width = rows.iter().map(|(_, kind, _)| kind.len()).max().unwrap_or(0);
    let mut out = String::new();
    let title = crate::escape::one_line(&ir.name);
    let _ = writeln!(
        out,
        "flow `{}`{}: {} nodes",
        ir.id,
        if title.is_empty() { String::new() } else { format!(" ({title})") },
        rows.len()
    );
    for (id, kind, ty) in &rows {
        let _ = writeln!(out, "  {id:id_width$}  {kind:kind_width$}  {ty}");
    }
    let _ = writeln!(out, "outputs: {}", crate::escape::one_line(&outputs_type(ir).to_string()));
    for p in &ir.parameters {
        let default = match &p.default {
            Some(value) => format!("default {}", serde_json::Value::from(crate::escape::one_line(value))),
            None => "required".to_owned(),
        };
        let allowed = if p.allowed.is_empty() {
            String::new()
        } else {
            let values: Vec<String> =
                p.allowed.iter().map(|a| serde_json::Value::from(crate::escape::one_line(a)).to_string()).collect();
            format!(", one of {}", values.join(", "))
        };
        let _ = writeln!(out, "parameter {}: string from ${}, {default}{allowed}", p.name, p.env);
    }
    out
}

fn collect(ir: &Ir, flow: FlowId, prefix: &str, rows: &mut Vec<(String, &'static str, String)>) {
    for node in &ir.flows[flow].nodes {
        let id = format!("{prefix}{}", node.id);
        // Field names come from the document: written for the terminal like diagnostics.
        rows.push((id.clone(), node.kind.as_str(), crate::escape::one_line(&node.output_type.to_string())));
        if let Some(nested) = node.nested {
            collect(ir, nested, &format!("{id}/"), rows);
        }
    }
}

/// The JSON description: each node's id, kind, pointer, and output type as text and as a JSON
/// Schema; a map's nested nodes under `nodes`.
pub fn json(ir: &Ir) -> Value {
    json!({
        "id": ir.id,
        "nodes": nodes_json(ir, Ir::TOP),
        "parameters": ir.parameters.iter().map(|p| json!({
            "name": p.name, "env": p.env, "default": p.default, "enum": p.allowed, "description": p.description,
        })).collect::<Vec<_>>(),
        "outputs": { "type": outputs_type(ir).to_string(), "schema": outputs_type(ir).to_json_schema() },
    })
}

fn nodes_json(ir: &Ir, flow: FlowId) -> Vec<Value> {
    ir.flows[flow]
        .nodes
        .iter()
        .map(|node| {
            let mut entry = json!({
                "id": node.id,
                "kind": node.kind.as_str(),
                "pointer": node.pointer,
                "output_type": node.output_type.to_string(),
                "output_schema": node.output_type.to_json_schema(),
            });
            if let Some(nested) = node.nested {
                entry["nodes"] = Value::Array(nodes_json(ir, nested));
            }
            entry
        })
        .collect()
}
