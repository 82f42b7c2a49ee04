//! n8n workflows, compiled as they are: in progress. An n8n export is recognised by its shape,
//! and until its nodes are translated each node type it uses is an E031 at the first node of
//! that type, rather than a confusing failure to read it as a flowc document.
//!
//! What is here for the translation: [`expression`], which reads n8n's parameter expressions
//! into chunks and parses their code. The execution model workflows run on is the runtime's
//! `items`; the JavaScript engine for what is not translated is the `flowc-js` crate.

pub mod expression;

use serde_json::Value;

use crate::diag::{Code, Diagnostic, Diagnostics};

/// Whether `value` is an n8n workflow: `nodes` of `name`, `type` (`package.node`) and numeric
/// `typeVersion`, and `connections` keyed by node name.
pub fn recognise(value: &Value) -> bool {
    let Some(nodes) = value.get("nodes").and_then(Value::as_array) else { return false };
    let node = |n: &Value| {
        n.get("name").is_some_and(Value::is_string)
            && n.get("typeVersion").is_some_and(Value::is_number)
            && n.get("type").and_then(Value::as_str).is_some_and(|t| t.contains('.'))
    };
    value.get("connections").is_some_and(Value::is_object) && !nodes.is_empty() && nodes.iter().all(node)
}

/// Sticky notes hold text for the canvas and do not run: a workflow loses nothing without them.
const DROPPED: &[&str] = &["n8n-nodes-base.stickyNote"];

/// Translates an n8n workflow. This version translates no node type yet: every type the
/// workflow uses is an E031 at its first node.
pub fn import(file: &str, text: &str) -> Result<super::Imported, Diagnostics> {
    let parsed = crate::source::Document::parse(text).ok();
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut seen: Vec<&str> = Vec::new();
    let mut diagnostics = Vec::new();
    for (i, node) in doc["nodes"].as_array().into_iter().flatten().enumerate() {
        let kind = node["type"].as_str().unwrap_or_default();
        if DROPPED.contains(&kind) || seen.contains(&kind) {
            continue;
        }
        seen.push(kind);
        let name = node["name"].as_str().unwrap_or_default();
        let version = &node["typeVersion"];
        diagnostics.push(
            Diagnostic::new(
                Code::E031,
                format!("/nodes/{i}/type"),
                format!("n8n node `{name}` is of type `{kind}` (version {version}), which this version of flowc does not compile"),
            )
            .help("flowc recognises n8n workflows, and compiles none of their node types yet: write the flow as a flowc document for now"),
        );
    }
    if diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::new(Code::E031, "/nodes", "the n8n workflow has no node that runs (only sticky notes)")
                .help("add the nodes the workflow should run"),
        );
    }
    Err(Diagnostics::new(file, text, parsed.as_ref(), diagnostics))
}
