//! Checking a flow document, in phases: syntax → shape → graph → per-kind config →
//! templates. Every phase reports all it finds; a node that fails a phase is left out of
//! the later ones, so one mistake is reported once and never hides a mistake elsewhere.

pub mod graph;
pub mod reader;
pub mod shape;

use std::collections::HashMap;

use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics};
use crate::ir::Ir;
use crate::nodes::{self, CheckCx, Config};
use crate::source::Document;
use reader::Sink;

/// Checks `text` (the contents of `file`) and, when it is valid, lowers it to the IR.
pub fn check(file: &str, text: &str) -> Result<Ir, Diagnostics> {
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let d = Diagnostic::new(Code::E001, "", format!("the file is not valid JSON: {}", e.message))
                .help("flow documents are strict JSON: no comments, no trailing commas, keys in double quotes")
                .at_range(crate::source::Range { start: e.range.start, end: e.range.end });
            return Err(Diagnostics::new(file, text, None, vec![d]));
        }
    };
    let mut sink = Sink::default();
    for pointer in &doc.duplicate_keys {
        let name = pointer.rsplit('/').next().unwrap_or_default();
        sink.push(
            Diagnostic::new(
                Code::E023,
                pointer.clone(),
                format!("the field `{name}` appears twice in the same object"),
            )
            .help("JSON readers keep only one of them: remove the duplicate")
            .at_key(),
        );
    }
    let Some(shaped) = shape::check(&mut sink, &doc.value) else {
        return Err(Diagnostics::new(file, text, Some(&doc), sink.diagnostics));
    };
    let flow = shaped.flow;
    let graph = graph::check(&mut sink, &flow, &shaped.broken_ids);

    // Phase 3: each node's config, by kind.
    let mut configs: Vec<Option<Config>> = Vec::with_capacity(flow.nodes.len());
    let mut templates: Vec<Vec<(String, crate::template::Template)>> = Vec::with_capacity(flow.nodes.len());
    for (i, node) in flow.nodes.iter().enumerate() {
        if graph.broken[i] {
            configs.push(None);
            templates.push(Vec::new());
            continue;
        }
        let before = sink.templates.len();
        let mut cx = CheckCx { sink: &mut sink, node };
        configs.push(nodes::check(&mut cx));
        templates.push(sink.templates.split_off(before));
    }
    let mut outputs: HashMap<&str, &str> = HashMap::new();
    for (node, config) in flow.nodes.iter().zip(&configs) {
        if let Some(Config::Output(output)) = config {
            if let Some(first) = outputs.insert(&output.name, &node.id) {
                sink.push(
                    Diagnostic::new(
                        Code::E024,
                        format!("{}/config", node.pointer),
                        format!("nodes `{first}` and `{}` both write the output `{}`", node.id, output.name),
                    )
                    .help("give each output node its own \"name\""),
                );
            }
        }
    }

    // Phase 4: what templates read. Only when the graph has an order (no cycle).
    if !graph.order.is_empty() {
        let by_id: HashMap<&str, usize> = flow.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        for (reader, list) in templates.iter().enumerate() {
            if configs[reader].is_none() {
                continue;
            }
            for (pointer, template) in list {
                for path in template.paths() {
                    let reader_id = &flow.nodes[reader].id;
                    let Some(&source) = by_id.get(path.root.as_str()) else {
                        let help = match did_you_mean(&path.root, flow.nodes.iter().map(|n| n.id.as_str())) {
                            Some(near) => {
                                format!("did you mean `{{{{ {} }}}}`?", path.display().replacen(&path.root, near, 1))
                            }
                            None => "a template starts with the id of a node upstream of this one".to_owned(),
                        };
                        sink.push(
                            Diagnostic::new(
                                Code::E017,
                                pointer.clone(),
                                format!(
                                    "`{{{{ {} }}}}` reads the node `{}`, and there is no such node",
                                    path.display(),
                                    path.root
                                ),
                            )
                            .help(help),
                        );
                        configs[reader] = None;
                        continue;
                    };
                    if source == reader {
                        sink.push(
                            Diagnostic::new(
                                Code::E018,
                                pointer.clone(),
                                format!("node `{reader_id}` reads its own output in `{{{{ {} }}}}`", path.display()),
                            )
                            .help("a node can only read nodes upstream of it"),
                        );
                    } else if !graph.is_ancestor(source, reader) {
                        let help = if graph.is_ancestor(reader, source) {
                            format!("`{}` runs after `{reader_id}`, so its data does not exist yet when `{reader_id}` runs: read a node upstream of `{reader_id}`", path.root)
                        } else {
                            format!("add an edge so that `{}` runs first: {{\"source\": \"{}\", \"target\": \"{reader_id}\"}}", path.root, path.root)
                        };
                        sink.push(
                            Diagnostic::new(
                                Code::E018,
                                pointer.clone(),
                                format!(
                                    "node `{reader_id}` reads `{{{{ {} }}}}`, but `{}` is not upstream of it",
                                    path.display(),
                                    path.root
                                ),
                            )
                            .help(help),
                        );
                    } else {
                        continue;
                    }
                    configs[reader] = None;
                }
            }
        }
    }

    if !sink.diagnostics.is_empty() {
        return Err(Diagnostics::new(file, text, Some(&doc), sink.diagnostics));
    }
    // Every node without a diagnostic has a config; anything else is a bug in flowc, which
    // must still be an error rather than a panic.
    let Some(configs) = configs.into_iter().collect::<Option<Vec<Config>>>() else {
        let d = Diagnostic::new(Code::E002, "", "internal error: a node passed every check but has no config")
            .help("this is a bug in flowc: please report it with this flow document");
        return Err(Diagnostics::new(file, text, Some(&doc), vec![d]));
    };
    Ok(Ir::new(flow, &graph, configs))
}
