//! An agent's flow tool: another flow document, compiled into the same program as a module of
//! its own and run as a tool, its input schema the tool's parameters and its `outputs` the
//! tool's result.
//!
//! The other document is checked here as a flow of its own (every diagnostic of it is one
//! E015 at the entry, naming its first), and must be a flow a tool call can run: an input node
//! with an object schema, no trigger, no parameters (the program's parameters are its
//! top-level flow's), no settings of the HTTP client (a tool's run shares its caller's client,
//! rate limits and circuit breakers). Its credentials join the program's: a credential both
//! declare must be read from the same place.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::CheckCx;
use crate::check::reader::{Field, Reader, Ty};
use crate::diag::{Code, Diagnostic};
use crate::ir::FlowModule;

/// The fields of a flow tool entry.
const FIELDS: &[Field] = &[
    Field::req("type", Ty::Enum(&["flow"]), "\"flow\""),
    Field::req("path", Ty::String, "the other flow document, relative to this document's folder"),
    Field::opt("name", Ty::String, "the tool's name for the model (default: the other flow's id)"),
    Field::opt("description", Ty::String, "what the tool does, for the model (default: the other flow's description)"),
];

/// How many documents deep flow tools may nest (a document, its tool, that tool's tool, ...).
const MAX_DEPTH: usize = 8;

/// A flow tool, checked.
#[derive(Debug, Clone)]
pub struct FlowTool {
    pub name: String,
    pub description: String,
    /// The other flow's input schema.
    pub parameters: Value,
    pub module: Arc<FlowModule>,
}

/// The module of the flow with id `id`: `flow_<id in snake case>`.
pub fn module_name(id: &str) -> String {
    format!("flow_{}", crate::ident::Names::default().allocate(id))
}

/// Checks entry `i` of an agent's `tools`, at `at`, as a flow tool.
pub fn check(cx: &mut CheckCx<'_>, entry: &Value, at: &str, i: usize) -> Option<FlowTool> {
    let agent = &cx.node.id;
    let what = format!("flow tool {i} of agent `{agent}`");
    let mut r = Reader::new(cx.sink, entry, at, FIELDS, &what)?;
    let sink = &mut *cx.sink;
    let path_text = r.string(sink, "path");
    let name = r.string(sink, "name").map(str::to_owned);
    let description = r.string(sink, "description").map(str::to_owned);
    let path_text = path_text?.to_owned();
    if !r.ok {
        return None;
    }
    drop(r);
    let at_path = format!("{at}/path");
    let fail = |sink: &mut crate::check::reader::Sink, message: String, help: String| {
        sink.push(Diagnostic::new(Code::E015, at_path.clone(), message).help(help));
        None
    };
    let origin = cx.scope.origin;
    let path = origin.dir.join(&path_text);
    let shown = path.display().to_string();
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            return fail(
                sink,
                format!("{what} names `{shown}`, which cannot be read: {error}"),
                format!("`path` is relative to the folder of this document ({})", origin.dir.display()),
            )
        }
    };
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if origin.chain.contains(&key) {
        return fail(
            sink,
            format!("{what} names `{shown}`, which is this document or one that calls it as a tool"),
            "a flow cannot call itself as a tool, however far down: give the repeated work a flow of its own"
                .to_owned(),
        );
    }
    if origin.chain.len() >= MAX_DEPTH {
        return fail(
            sink,
            format!("{what} names `{shown}`, {MAX_DEPTH} flow tools deep"),
            format!("flow tools nest at most {MAX_DEPTH} documents deep"),
        );
    }
    let checked = crate::decode(&shown, bytes).and_then(|text| {
        let (file, text) = crate::translated(&shown, &text)?;
        let mut chain = origin.chain.clone();
        chain.push(key.clone());
        let dir = path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        let origin = crate::check::Origin { dir, chain };
        let ir = crate::check::check_nested(&file, &text, &origin)?;
        Ok((file, text.into_owned(), ir))
    });
    let (file, text, ir) = match checked {
        Ok(checked) => checked,
        Err(diagnostics) => {
            let first = diagnostics.first_line().unwrap_or_default();
            let n = diagnostics.len();
            return fail(
                sink,
                format!(
                    "{what}: `{shown}` is not a valid flow ({n} error{}); the first is {first}",
                    if n == 1 { "" } else { "s" }
                ),
                format!("run `flowc check {shown}` for every error"),
            );
        }
    };
    let mut ok = true;
    let mut refuse = |sink: &mut crate::check::reader::Sink, message: String, help: &str| {
        sink.push(Diagnostic::new(Code::E015, at_path.clone(), format!("{what}: `{shown}` {message}")).help(help));
        ok = false;
    };
    let parameters = ir.input_schema().filter(|s| s.get("type").and_then(Value::as_str) == Some("object")).cloned();
    if parameters.is_none() {
        refuse(
            sink,
            "has no input node with an object schema".to_owned(),
            "a flow tool's input schema is the tool's parameters: give its input node a schema of type object",
        );
    }
    if let Some(trigger) = ir.all_nodes().find(|n| n.config.trigger().is_some()) {
        refuse(
            sink,
            format!("starts at the trigger `{}`", trigger.id),
            "a tool's run starts at the agent's call: use a flow with an input node instead of a trigger",
        );
    }
    if !ir.parameters.is_empty() {
        refuse(
            sink,
            "declares parameters".to_owned(),
            "a program's parameters are its top-level flow's: declare them in this document and pass the values as tool arguments or inputs",
        );
    }
    let settings = &ir.settings;
    if !settings.rate_limits.is_empty()
        || !settings.circuit_breakers.is_empty()
        || settings.http != crate::model::HttpSettings::default()
    {
        refuse(
            sink,
            "has settings of its own for rate_limits, circuit_breakers or http".to_owned(),
            "a flow tool's requests go through the calling program's HTTP client, rate limits and circuit breakers: declare them in this document",
        );
    }
    for theirs in &ir.credentials {
        if let Some(mine) = cx.scope.credential_sources.iter().find(|c| c.name == theirs.name) {
            if mine.source != theirs.source {
                refuse(
                    sink,
                    format!("declares the credential `{}` with another source than this document", theirs.name),
                    "a program has one credential of a name: declare it the same way in both documents, or rename one",
                );
            }
        }
    }
    // One module per document; two documents of one id would be two modules of one name.
    let module =
        Arc::new(FlowModule { module: module_name(&ir.id), path: path_text, key, file, text, ir: Arc::new(ir) });
    for used in module.ir.flow_modules.iter().chain([&module]) {
        match sink.flow_modules.iter().find(|(name, _)| *name == used.module) {
            Some((_, key)) if *key != used.key => {
                refuse(
                    sink,
                    format!("makes the module `{}`, which another flow tool's document makes too", used.module),
                    "flow tools' documents need ids that differ (as snake case): change the `id` of one",
                );
            }
            Some(_) => {}
            None => sink.flow_modules.push((used.module.clone(), used.key.clone())),
        }
    }
    let name = name.unwrap_or_else(|| module.ir.id.clone());
    if !super::agent::tool_name_ok(&name) {
        cx.sink.push(
            Diagnostic::new(Code::E015, format!("{at}/name"), format!("`{name}` cannot name a tool"))
                .help("a tool's name is at most 64 of a-z, A-Z, 0-9, `_` and `-`: give the entry a `name`"),
        );
        ok = false;
    }
    let description = description.unwrap_or_else(|| {
        if module.ir.description.is_empty() {
            module.ir.name.clone()
        } else {
            module.ir.description.clone()
        }
    });
    if description.trim().is_empty() {
        cx.sink.push(
            Diagnostic::new(Code::E004, at, format!("{what} has no `description`, and `{shown}` has none either"))
                .help("the model chooses a tool by its description: give the entry a `description`"),
        );
        ok = false;
    }
    Some(FlowTool { name, description, parameters: parameters?, module }).filter(|_| ok)
}

/// The path of a flow tool's `FLOW` static. Every flow module is declared at the crate root
/// (`mod flow_x;` in `main.rs`), whichever flow calls it.
pub fn flow_static(module: &FlowModule) -> proc_macro2::TokenStream {
    let module = quote::format_ident!("{}", module.module);
    quote::quote! { crate::#module::FLOW }
}
