//! Item flows: flow documents whose nodes work on lists of items, as n8n's do. The n8n
//! importer translates a workflow into one (`"items": {"order": "v1"}` at the top), and this
//! module checks it and lowers it to an [`ItemIr`], which `emit` turns into a program on the
//! runtime's `items` scheduler.
//!
//! An item document's node is `{name, type, position, config, disabled, execute_once,
//! always_output_data, on_error, retry, origin}`, named by its `name` (connections and
//! expressions use names, as n8n does); an edge is `{source, output, target, input}`. Config
//! strings starting with `=` are n8n expressions, compiled here ([`compile`]): a reference to a
//! node that does not exist, or to `.item` of a node that is not upstream, is an error at
//! compile time instead of at run time.

pub mod compile;
pub mod emit;
pub mod expression;

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use serde_json::Value;

use crate::check::reader::{Field, Reader, Sink, Ty};
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics};
use crate::source::Document;

/// The fields of an item document.
pub const ITEM_FLOW_FIELDS: &[Field] = &[
    Field::req("version", Ty::Integer, "the format version: 1"),
    Field::req("id", Ty::String, "the flow's id: the program's name"),
    Field::opt("name", Ty::String, "a name for people"),
    Field::opt("description", Ty::String, "what the flow does"),
    Field::req("items", Ty::Object(ITEMS_FIELDS), "that the nodes work on items, and in which order they run"),
    Field::req("nodes", Ty::ListOf(ITEM_NODE_FIELDS), "the nodes"),
    Field::opt("edges", Ty::ListOf(ITEM_EDGE_FIELDS), "the connections"),
];

pub const ITEMS_FIELDS: &[Field] =
    &[Field::opt("order", Ty::Enum(&["v0", "v1"]), "n8n's execution order: `v1` (depth first, the default) or `v0`")];

pub const ITEM_NODE_FIELDS: &[Field] = &[
    Field::req("name", Ty::String, "the node's name, unique in the flow"),
    Field::req("type", Ty::Enum(KINDS), "the node's kind"),
    Field::opt("position", Ty::Other("[x, y]"), "where it is on the canvas, which decides the order under v1"),
    Field::opt("config", Ty::Other("an object"), "the kind's settings"),
    Field::opt("disabled", Ty::Boolean, "passes its input through without running"),
    Field::opt("execute_once", Ty::Boolean, "runs on the first item only"),
    Field::opt("always_output_data", Ty::Boolean, "gives one empty item when it would give none"),
    Field::opt("on_error", Ty::Enum(&["stop", "continue", "error_output"]), "what a failure does"),
    Field::opt("retry", Ty::Other("{\"tries\": n, \"wait_ms\": ms}"), "tries a failed run again"),
    Field::opt("origin", Ty::String, "the node it was translated from (`n8n-nodes-base.set@3.4`)"),
];

pub const ITEM_EDGE_FIELDS: &[Field] = &[
    Field::req("source", Ty::String, "the node the items come from"),
    Field::opt("output", Ty::Integer, "its output (0 by default)"),
    Field::req("target", Ty::String, "the node they go to"),
    Field::opt("input", Ty::Integer, "its input (0 by default)"),
];

/// The kinds of an item flow's nodes.
pub const KINDS: &[&str] = &[
    "manual_trigger",
    "noop",
    "set",
    "if",
    "filter",
    "limit",
    "merge",
    "switch",
    "split_out",
    "aggregate",
    "sort",
    "remove_duplicates",
    "summarize",
    "stop_and_error",
    "http_request",
    "wait",
    "split_in_batches",
    "if_v1",
    "filter_v1",
];

pub use flowc_core::n8n::{CONDITION_OPERATORS as OPERATORS, LEGACY_OPERATIONS};

/// A checked item flow.
#[derive(Debug, Clone)]
pub struct ItemIr {
    pub id: String,
    pub name: String,
    pub description: String,
    pub order_v0: bool,
    pub nodes: Vec<ItemNode>,
    /// `(source, output, target, input)`, by node index, in document order.
    pub edges: Vec<(usize, usize, usize, usize)>,
    /// The environment variables expressions read (`$env.NAME`), sorted.
    pub env: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ItemNode {
    pub name: String,
    pub pointer: String,
    /// The node it was translated from, for comments and messages (empty when written by hand).
    pub origin: String,
    pub position: (i64, i64),
    pub kind: Kind,
    pub disabled: bool,
    pub execute_once: bool,
    pub always_output_data: bool,
    pub on_error: OnError,
    pub retry: Option<(u32, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Stop,
    Continue,
    ErrorOutput,
}

/// A node's kind, with its config; expressions already compiled to Rust.
#[derive(Debug, Clone)]
pub enum Kind {
    ManualTrigger,
    NoOp,
    Set(SetNode),
    If(Conditions),
    Filter(Conditions),
    Limit {
        max_items: u64,
        keep_last: bool,
    },
    Merge {
        inputs: usize,
        mode: Merge,
    },
    Switch(Switch),
    SplitOut {
        fields: Vec<String>,
        include: FieldSet,
        destination: Option<String>,
        dot_notation: bool,
    },
    Aggregate(Aggregate),
    Sort {
        fields: Vec<(String, bool)>,
        dot_notation: bool,
    },
    RemoveDuplicates {
        compare: FieldSet,
        remove_other_fields: bool,
        dot_notation: bool,
    },
    /// Each aggregation: its name, field, separator (for `concatenate`) and whether empty values count.
    Summarize {
        split_by: Vec<String>,
        aggregations: Vec<(&'static str, String, String, bool)>,
        dot_notation: bool,
    },
    StopAndError {
        message: TokenStream,
    },
    HttpRequest(Box<HttpNode>),
    Wait {
        ms: u64,
    },
    SplitInBatches {
        batch_size: u64,
        reset: bool,
    },
    /// If and Filter version 1: `(type, operation, value1, value2)` per condition, and whether
    /// any one suffices.
    IfV1 {
        conditions: Vec<(String, String, TokenStream, TokenStream)>,
        any: bool,
    },
    FilterV1 {
        conditions: Vec<(String, String, TokenStream, TokenStream)>,
        any: bool,
    },
}

/// How a merge combines its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    Append,
    ByFields {
        fields: Vec<(String, String)>,
        join: &'static str,
        output_from: &'static str,
        clash: Clash,
        all_matches: bool,
        fuzzy: bool,
        dot_notation: bool,
    },
    ByPosition {
        clash: Clash,
        include_unpaired: bool,
    },
    AllCombinations {
        clash: Clash,
    },
    /// The items of this input (0-based), or one empty item.
    ChooseBranch {
        branch: Option<usize>,
    },
}

/// What a merge does when two items have a field of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    /// `prefer_last`, `prefer_input1`, `add_suffix`; `None`: n8n's default for the mode.
    pub resolve: Option<&'static str>,
    pub deep: bool,
    pub override_empty: bool,
}

/// Which fields: all, only these, all but these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSet {
    All,
    Only(Vec<String>),
    Except(Vec<String>),
    /// No field (Split Out's `include: none`).
    None,
}

#[derive(Debug, Clone)]
pub enum Switch {
    /// One output per rule; `fallback`: `None` (dropped), `Some(None)` an extra output,
    /// `Some(Some(i))` output `i`.
    Rules { rules: Vec<Conditions>, fallback: Option<Option<usize>>, all_matching: bool },
    /// The output an expression gives.
    Expression { outputs: usize, output: TokenStream },
}

#[derive(Debug, Clone)]
pub enum Aggregate {
    /// Each field's values over the items, as an array: `(field, output name)`.
    Fields { fields: Vec<(String, Option<String>)>, merge_lists: bool, keep_missing: bool, dot_notation: bool },
    /// Every item's json in one array field.
    All { destination: String, include: FieldSet },
}

/// An HTTP request node: the request's parts as Rust expressions (`String` for names and
/// the URL, `Value` for values), and its settings.
#[derive(Debug, Clone)]
pub struct HttpNode {
    pub method: &'static str,
    pub url: TokenStream,
    pub query: Vec<(TokenStream, TokenStream)>,
    pub headers: Vec<(TokenStream, TokenStream)>,
    pub body: HttpBody,
    pub format: &'static str,
    pub full_response: bool,
    pub never_error: bool,
    pub output_field: String,
    pub timeout_ms: Option<u64>,
    pub batch: Option<(u64, u64)>,
    pub follow_redirects: bool,
    pub max_redirects: u64,
    pub auth: HttpAuth,
}

#[derive(Debug, Clone)]
pub enum HttpBody {
    None,
    Json(TokenStream),
    JsonFields(Vec<(TokenStream, TokenStream)>),
    Form(Vec<(TokenStream, TokenStream)>),
    Raw { content_type: String, text: TokenStream },
}

/// Where a request's credential comes from: environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAuth {
    None,
    Header { name_env: String, value_env: String },
    Bearer { token_env: String },
    Basic { user_env: String, password_env: String },
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::ManualTrigger => "manual_trigger",
            Kind::NoOp => "noop",
            Kind::Set(_) => "set",
            Kind::If(_) => "if",
            Kind::Filter(_) => "filter",
            Kind::Limit { .. } => "limit",
            Kind::Merge { .. } => "merge",
            Kind::Switch(_) => "switch",
            Kind::SplitOut { .. } => "split_out",
            Kind::Aggregate(_) => "aggregate",
            Kind::Sort { .. } => "sort",
            Kind::RemoveDuplicates { .. } => "remove_duplicates",
            Kind::Summarize { .. } => "summarize",
            Kind::StopAndError { .. } => "stop_and_error",
            Kind::HttpRequest(_) => "http_request",
            Kind::Wait { .. } => "wait",
            Kind::SplitInBatches { .. } => "split_in_batches",
            Kind::IfV1 { .. } => "if_v1",
            Kind::FilterV1 { .. } => "filter_v1",
        }
    }

    /// Its main outputs.
    pub fn outputs(&self) -> usize {
        match self {
            Kind::If(_) | Kind::IfV1 { .. } | Kind::SplitInBatches { .. } => 2,
            Kind::Switch(Switch::Rules { rules, fallback, .. }) => rules.len() + usize::from(*fallback == Some(None)),
            Kind::Switch(Switch::Expression { outputs, .. }) => *outputs,
            _ => 1,
        }
    }

    /// Its inputs.
    pub fn inputs(&self) -> usize {
        match self {
            Kind::ManualTrigger => 0,
            Kind::Merge { inputs, .. } => *inputs,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SetNode {
    /// Each field: its name (a Rust expression of `String`), type and value (of `Value`).
    pub fields: Vec<(TokenStream, &'static str, TokenStream)>,
    pub include: &'static str,
    pub include_fields: Vec<String>,
    pub dot_notation: bool,
    pub ignore_conversion_errors: bool,
}

#[derive(Debug, Clone)]
pub struct Conditions {
    /// Each condition: its left value, operator, right value.
    pub conditions: Vec<(TokenStream, String, TokenStream)>,
    pub and: bool,
    pub case_sensitive: bool,
    pub loose: bool,
}

impl ItemIr {
    /// The variables the nodes' credentials are read from, with the node of each, in node order.
    pub fn secret_variables(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for node in &self.nodes {
            if let Kind::HttpRequest(http) = &node.kind {
                let vars: Vec<&String> = match &http.auth {
                    HttpAuth::None => Vec::new(),
                    HttpAuth::Header { name_env, value_env } => vec![name_env, value_env],
                    HttpAuth::Bearer { token_env } => vec![token_env],
                    HttpAuth::Basic { user_env, password_env } => vec![user_env, password_env],
                };
                out.extend(vars.into_iter().map(|v| (v.clone(), node.name.clone())));
            }
        }
        out
    }
}

/// Whether a parsed document is an item flow (it says so at the top).
pub fn is_item_flow(value: &Value) -> bool {
    value.get("items").is_some_and(Value::is_object) && value.get("version").is_some()
}

/// Checks an item document and lowers it.
pub fn check(file: &str, text: &str) -> Result<ItemIr, Diagnostics> {
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let d = Diagnostic::new(Code::E001, "", format!("the file is not valid JSON: {}", e.message))
                .help("flow documents are strict JSON")
                .at_range(crate::source::Range { start: e.range.start, end: e.range.end });
            return Err(Diagnostics::new(file, text, None, vec![d]));
        }
    };
    let mut sink = Sink::default();
    let ir = lower(&mut sink, &doc.value);
    match ir {
        Some(ir) if sink.diagnostics.is_empty() => Ok(ir),
        _ => Err(Diagnostics::new(file, text, Some(&doc), sink.diagnostics)),
    }
}

fn lower(sink: &mut Sink, doc: &Value) -> Option<ItemIr> {
    let mut top = Reader::new(sink, doc, "", ITEM_FLOW_FIELDS, "the item flow document")?;
    if top.get("version").and_then(Value::as_u64) != Some(1) {
        sink.push(Diagnostic::new(Code::E005, "/version", "unsupported format version").help("set \"version\": 1"));
    }
    let id = crate::check::shape::flow_id(sink, &mut top);
    let name = top.string(sink, "name").unwrap_or(&id).to_owned();
    let description = top.string(sink, "description").unwrap_or_default().to_owned();
    let order_v0 = match top.get("items") {
        Some(items) => {
            let mut items = Reader::new(sink, items, "/items", ITEMS_FIELDS, "`items`")?;
            items.one_of(sink, "order", &["v0", "v1"]) == Some("v0")
        }
        None => false,
    };
    let Some(Value::Array(nodes)) = top.get("nodes") else {
        sink.push(
            Diagnostic::new(Code::E002, "/nodes", "`nodes` must be an array of nodes").help("write `\"nodes\": [...]`"),
        );
        return None;
    };
    // The nodes' names and shapes first: edges and expressions refer to them.
    let mut heads = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let pointer = format!("/nodes/{i}");
        let head = head(sink, node, &pointer);
        if let Some(head) = &head {
            if names.contains(&head.name) {
                sink.push(
                    Diagnostic::new(
                        Code::E007,
                        format!("{pointer}/name"),
                        format!("two nodes are named `{}`", head.name),
                    )
                    .help("give each node a name of its own: connections and expressions find nodes by name"),
                );
            }
            names.push(head.name.clone());
        } else {
            names.push(String::new());
        }
        heads.push(head);
    }
    let edges = edges(sink, top.get("edges"), &names, &heads);
    // A connection back into a Loop Over Items node from a node below it closes its loop; any
    // other cycle never ends (and n8n's order is not defined for it).
    let loops: Vec<bool> = heads.iter().map(|h| h.as_ref().is_some_and(|h| h.kind == "split_in_batches")).collect();
    let all_upstream = upstream(names.len(), &edges);
    let forward: Vec<(usize, usize, usize, usize)> = edges
        .iter()
        .copied()
        .filter(|&(source, _, target, _)| {
            !(loops[target] && (source == target || all_upstream[source].contains(&target)))
        })
        .collect();
    let upstream = upstream(names.len(), &forward);
    if let Some(cycle) = upstream.iter().position(|ancestors| ancestors.contains(&usize::MAX)) {
        sink.push(
            Diagnostic::new(
                Code::E013,
                format!("/nodes/{cycle}"),
                format!("node `{}` is in a cycle of connections that no Loop Over Items node closes", names[cycle]),
            )
            .help("a loop goes back into a Loop Over Items (split_in_batches) node, which ends it when every batch is done: remove the connection back, or loop through one"),
        );
        return None;
    }
    let mut out = Vec::new();
    // Every `$env` variable an expression reads, with the node that reads it.
    let mut env: Vec<(String, String)> = Vec::new();
    for (i, (node, head)) in nodes.iter().zip(heads).enumerate() {
        let Some(head) = head else { continue };
        let ancestors: Vec<String> = upstream[i].iter().map(|&a| names[a].clone()).collect();
        let scope = compile::Scope::new(&names, &ancestors);
        let pointer = format!("/nodes/{i}");
        let config = node.get("config").cloned().unwrap_or(Value::Object(Default::default()));
        let what = format!("the config of node `{}` ({})", head.name, head.kind);
        let kind = config_of(sink, &scope, head.kind, &config, &format!("{pointer}/config"), &what);
        for name in scope.env.into_inner() {
            env.push((name, pointer.clone()));
        }
        if let Some(kind) = kind {
            out.push(ItemNode {
                name: head.name,
                pointer,
                origin: head.origin,
                position: head.position,
                kind,
                disabled: head.disabled,
                execute_once: head.execute_once,
                always_output_data: head.always_output_data,
                on_error: head.on_error,
                retry: head.retry,
            });
        }
    }
    // Edges against the kinds' inputs and outputs.
    for (e, &(source, output, target, input)) in edges.iter().enumerate() {
        let (Some(from), Some(to)) =
            (out.iter().find(|n| n.name == names[source]), out.iter().find(|n| n.name == names[target]))
        else {
            continue;
        };
        let outputs = from.kind.outputs() + usize::from(from.on_error == OnError::ErrorOutput);
        if output >= outputs {
            sink.push(
                Diagnostic::new(
                    Code::E012,
                    format!("/edges/{e}/output"),
                    format!("node `{}` has {outputs} output(s): there is no output {output}", from.name),
                )
                .help("outputs count from 0"),
            );
        }
        if input >= to.kind.inputs() {
            sink.push(
                Diagnostic::new(
                    Code::E012,
                    format!("/edges/{e}/input"),
                    format!("node `{}` has {} input(s): there is no input {input}", to.name, to.kind.inputs()),
                )
                .help("inputs count from 0; a trigger has none"),
            );
        }
    }
    // An expression's value can end up in the run result: it must not read a credential's
    // secret.
    let secrets: Vec<(&str, &str)> = out
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::HttpRequest(http) => Some((n.name.as_str(), &http.auth)),
            _ => None,
        })
        .flat_map(|(node, auth)| {
            let vars: Vec<&str> = match auth {
                HttpAuth::None => Vec::new(),
                HttpAuth::Header { name_env, value_env } => vec![name_env, value_env],
                HttpAuth::Bearer { token_env } => vec![token_env],
                HttpAuth::Basic { user_env, password_env } => vec![user_env, password_env],
            };
            vars.into_iter().map(move |v| (v, node))
        })
        .collect();
    for (name, pointer) in &env {
        if let Some((_, node)) = secrets.iter().find(|(var, _)| var == name) {
            sink.push(
                Diagnostic::new(Code::E015, pointer.clone(), format!("an expression reads `$env.{name}`, which holds the secret of the credential of node `{node}`"))
                    .help("a value an expression computes can reach the run result and the logs: give the expression a variable of its own"),
            );
        }
    }
    if out.len() != nodes.len() || !sink.diagnostics.is_empty() {
        return None;
    }
    let edges = edges.into_iter().collect();
    let mut env: Vec<String> = env.into_iter().map(|(name, _)| name).collect();
    env.sort();
    env.dedup();
    Some(ItemIr { id, name, description, order_v0, nodes: out, edges, env })
}

/// What every node has, whatever its kind.
struct Head {
    name: String,
    kind: &'static str,
    origin: String,
    position: (i64, i64),
    disabled: bool,
    execute_once: bool,
    always_output_data: bool,
    on_error: OnError,
    retry: Option<(u32, u64)>,
}

fn head(sink: &mut Sink, node: &Value, pointer: &str) -> Option<Head> {
    let mut r = Reader::new(sink, node, pointer, ITEM_NODE_FIELDS, "a node")?;
    let name = r.string(sink, "name");
    if name.is_some_and(str::is_empty) {
        sink.push(
            Diagnostic::new(Code::E006, format!("{pointer}/name"), "a node's name cannot be empty")
                .help("name the node"),
        );
    }
    let kind = match r.get("type") {
        Some(Value::String(kind)) => match KINDS.iter().find(|k| *k == kind) {
            Some(kind) => Some(*kind),
            None => {
                let d =
                    Diagnostic::new(Code::E009, format!("{pointer}/type"), format!("unknown item node kind `{kind}`"));
                sink.push(match did_you_mean(kind, KINDS.iter().copied()) {
                    Some(near) => d.help(format!("did you mean `{near}`?")),
                    None => d.help(format!("the item kinds are {}", crate::check::reader::list(KINDS.iter().copied()))),
                });
                None
            }
        },
        _ => r.string(sink, "type").and(None),
    };
    let position = match r.get("position") {
        None => (0, 0),
        Some(Value::Array(xy)) if xy.len() == 2 && xy.iter().all(Value::is_number) => {
            let at = |v: &Value| v.as_f64().unwrap_or_default() as i64;
            (at(&xy[0]), at(&xy[1]))
        }
        Some(_) => {
            r.invalid(
                sink,
                "position",
                "`position` must be `[x, y]`, two numbers".to_owned(),
                "write the canvas position as [x, y]".to_owned(),
            );
            (0, 0)
        }
    };
    let on_error = match r.one_of(sink, "on_error", &["stop", "continue", "error_output"]) {
        Some("continue") => OnError::Continue,
        Some("error_output") => OnError::ErrorOutput,
        _ => OnError::Stop,
    };
    let retry = match r.get("retry") {
        None => None,
        Some(value) => {
            const RETRY: &[Field] = &[
                Field::req("tries", Ty::Integer, "how many tries in all (2 to 5)"),
                Field::opt("wait_ms", Ty::Integer, "the wait between tries (0 to 5000 ms)"),
            ];
            let mut retry = Reader::new(sink, value, &r.child("retry"), RETRY, "`retry`")?;
            let tries = retry.integer(sink, "tries", 1, 5)?;
            let wait = retry.integer(sink, "wait_ms", 0, 5000).unwrap_or(1000);
            Some((tries as u32, wait))
        }
    };
    let head = Head {
        name: name?.to_owned(),
        kind: kind?,
        origin: r.string(sink, "origin").unwrap_or_default().to_owned(),
        position,
        disabled: r.boolean(sink, "disabled").unwrap_or(false),
        execute_once: r.boolean(sink, "execute_once").unwrap_or(false),
        always_output_data: r.boolean(sink, "always_output_data").unwrap_or(false),
        on_error,
        retry,
    };
    r.ok.then_some(head)
}

/// The edges, by node index; what names a missing node is reported and left out.
fn edges(
    sink: &mut Sink,
    value: Option<&Value>,
    names: &[String],
    heads: &[Option<Head>],
) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::new();
    let Some(value) = value else { return out };
    let Value::Array(edges) = value else {
        sink.push(Diagnostic::new(Code::E002, "/edges", "`edges` must be an array").help("write `\"edges\": [...]`"));
        return out;
    };
    for (e, edge) in edges.iter().enumerate() {
        let pointer = format!("/edges/{e}");
        let Some(mut r) = Reader::new(sink, edge, &pointer, ITEM_EDGE_FIELDS, "an edge") else { continue };
        let end = |r: &mut Reader<'_>, sink: &mut Sink, field: &str| -> Option<usize> {
            let name = r.string(sink, field)?;
            match names.iter().position(|n| n == name) {
                Some(i) if heads[i].is_some() => Some(i),
                Some(_) => None,
                None => {
                    let d = Diagnostic::new(
                        Code::E011,
                        r.child(field),
                        format!("the edge's {field} `{name}` is not a node of the flow"),
                    );
                    sink.push(match did_you_mean(name, names.iter().map(String::as_str)) {
                        Some(near) => d.help(format!("did you mean `{near}`?")),
                        None => d.help("name a node of the flow"),
                    });
                    None
                }
            }
        };
        let source = end(&mut r, sink, "source");
        let target = end(&mut r, sink, "target");
        let output = r.integer(sink, "output", 0, 63).unwrap_or(0) as usize;
        let input = r.integer(sink, "input", 0, 63).unwrap_or(0) as usize;
        if let (Some(source), Some(target), true) = (source, target, r.ok) {
            out.push((source, output, target, input));
        }
    }
    out
}

/// Each node's ancestors; a node in a cycle has `usize::MAX` among them.
fn upstream(count: usize, edges: &[(usize, usize, usize, usize)]) -> Vec<Vec<usize>> {
    let mut parents: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(source, _, target, _) in edges {
        parents.entry(target).or_default().push(source);
    }
    (0..count)
        .map(|node| {
            let mut seen = vec![false; count];
            let mut stack = parents.get(&node).cloned().unwrap_or_default();
            let mut out = Vec::new();
            while let Some(at) = stack.pop() {
                if at == node {
                    out.push(usize::MAX);
                    continue;
                }
                if std::mem::replace(&mut seen[at], true) {
                    continue;
                }
                out.push(at);
                stack.extend(parents.get(&at).into_iter().flatten());
            }
            out.sort_unstable();
            out
        })
        .collect()
}

const SET_FIELDS: &[Field] = &[
    Field::opt("fields", Ty::ListOf(SET_FIELD_FIELDS), "the fields to set"),
    Field::opt("include", Ty::Enum(&["all", "none", "selected", "except"]), "which input fields the items keep"),
    Field::opt("include_fields", Ty::StringList, "the fields `selected` keeps or `except` drops"),
    Field::opt("dot_notation", Ty::Boolean, "`a.b` names a nested field (true by default)"),
    Field::opt("ignore_conversion_errors", Ty::Boolean, "a value that does not convert is kept as it is"),
];

const SET_FIELD_FIELDS: &[Field] = &[
    Field::req("name", Ty::String, "the field's name (an expression if it starts with `=`)"),
    Field::opt("type", Ty::Enum(FIELD_TYPES), "the type the value is converted to"),
    Field::opt("value", Ty::Json, "the value (an expression if it is a string starting with `=`)"),
];

const FIELD_TYPES: &[&str] = &["string", "number", "boolean", "array", "object", "any"];

const CONDITIONS_FIELDS: &[Field] = &[
    Field::req("conditions", Ty::ListOf(CONDITION_FIELDS), "the conditions"),
    Field::opt("combinator", Ty::Enum(&["and", "or"]), "whether every condition must hold, or one"),
    Field::opt("case_sensitive", Ty::Boolean, "string comparisons are case-sensitive (true by default)"),
    Field::opt("loose", Ty::Boolean, "values of the wrong type are converted instead of failing"),
];

const CONDITION_FIELDS: &[Field] = &[
    Field::opt("left", Ty::Json, "the left value"),
    Field::req("operator", Ty::String, "`type:operation`, such as `string:equals`"),
    Field::opt("right", Ty::Json, "the right value"),
];

const LIMIT_FIELDS: &[Field] = &[
    Field::opt("max_items", Ty::Integer, "how many items to keep (1 by default)"),
    Field::opt("keep", Ty::Enum(&["first", "last"]), "which items"),
];

const MERGE_MODES: &[&str] = &["append", "combine_by_fields", "combine_by_position", "combine_all", "choose_branch"];
const JOINS: &[&str] = &["keep_matches", "keep_non_matches", "keep_everything", "enrich_input1", "enrich_input2"];

const MERGE_FIELDS: &[Field] = &[
    Field::opt("mode", Ty::Enum(MERGE_MODES), "how inputs are merged (`append`: every input's items in input order)"),
    Field::opt("inputs", Ty::Integer, "how many inputs (2 to 10)"),
    Field::opt(
        "fields",
        Ty::Other("[[field of input 1, field of input 2], …]"),
        "`combine_by_fields`: the fields to match",
    ),
    Field::opt("join", Ty::Enum(JOINS), "`combine_by_fields`: which items to output"),
    Field::opt(
        "output_from",
        Ty::Enum(&["both", "input1", "input2"]),
        "`combine_by_fields`: whose items (`keep_matches`, `keep_non_matches`)",
    ),
    Field::opt("all_matches", Ty::Boolean, "`combine_by_fields`: every match (true by default), or the first"),
    Field::opt("fuzzy", Ty::Boolean, "`combine_by_fields`: compare across types (n8n's fuzzy compare)"),
    Field::opt("dot_notation", Ty::Boolean, "`combine_by_fields`: `a.b` names a nested field (true by default)"),
    Field::opt("clash", Ty::Object(CLASH_FIELDS), "what to do when two items have a field of the same name"),
    Field::opt("include_unpaired", Ty::Boolean, "`combine_by_position`: items without a partner are kept"),
    Field::opt("branch", Ty::Other("an input number from 1, or \"empty\""), "`choose_branch`: whose items go on"),
];

const CLASH_FIELDS: &[Field] = &[
    Field::opt(
        "resolve",
        Ty::Enum(&["prefer_last", "prefer_input1", "add_suffix"]),
        "which value wins, or both with a suffix",
    ),
    Field::opt("deep", Ty::Boolean, "nested objects are merged (true by default)"),
    Field::opt("override_empty", Ty::Boolean, "a later empty value does not replace one already there"),
];

fn clash(sink: &mut Sink, r: &mut Reader<'_>) -> Clash {
    let Some(value) = r.get("clash") else { return Clash { resolve: None, deep: true, override_empty: false } };
    let Some(mut c) = Reader::new(sink, value, &r.child("clash"), CLASH_FIELDS, "`clash`") else {
        r.ok = false;
        return Clash { resolve: None, deep: true, override_empty: false };
    };
    let clash = Clash {
        resolve: c.one_of(sink, "resolve", &["prefer_last", "prefer_input1", "add_suffix"]),
        deep: c.boolean(sink, "deep").unwrap_or(true),
        override_empty: c.boolean(sink, "override_empty").unwrap_or(false),
    };
    r.ok &= c.ok;
    clash
}

fn merge(sink: &mut Sink, r: &mut Reader<'_>, inputs: usize) -> Option<Merge> {
    Some(match r.one_of(sink, "mode", MERGE_MODES).unwrap_or("append") {
        "combine_by_fields" => {
            let mut fields = Vec::new();
            match r.get("fields") {
                Some(Value::Array(pairs)) if !pairs.is_empty() => {
                    for (i, pair) in pairs.iter().enumerate() {
                        match pair.as_array().map(Vec::as_slice) {
                            Some([Value::String(a), Value::String(b)]) if !a.is_empty() && !b.is_empty() => {
                                fields.push((a.clone(), b.clone()))
                            }
                            _ => {
                                sink.push(
                                    Diagnostic::new(
                                        Code::E015,
                                        format!("{}/{i}", r.child("fields")),
                                        "a pair of fields to match must be two field names",
                                    )
                                    .help("write [\"field of input 1\", \"field of input 2\"]"),
                                );
                                r.ok = false;
                            }
                        }
                    }
                }
                _ => {
                    r.invalid(
                        sink,
                        "fields",
                        "`combine_by_fields` needs `fields`, the pairs of fields to match".to_owned(),
                        "add `\"fields\": [[\"id\", \"id\"]]`".to_owned(),
                    );
                    return None;
                }
            }
            Merge::ByFields {
                fields,
                join: r.one_of(sink, "join", JOINS).unwrap_or("keep_matches"),
                output_from: r.one_of(sink, "output_from", &["both", "input1", "input2"]).unwrap_or("both"),
                clash: clash(sink, r),
                all_matches: r.boolean(sink, "all_matches").unwrap_or(true),
                fuzzy: r.boolean(sink, "fuzzy").unwrap_or(false),
                dot_notation: r.boolean(sink, "dot_notation").unwrap_or(true),
            }
        }
        "combine_by_position" => Merge::ByPosition {
            clash: clash(sink, r),
            include_unpaired: r.boolean(sink, "include_unpaired").unwrap_or(false),
        },
        "combine_all" => Merge::AllCombinations { clash: clash(sink, r) },
        "choose_branch" => {
            let branch = match r.get("branch") {
                Some(Value::String(s)) if s == "empty" => None,
                None => Some(0),
                Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1 && n as usize <= inputs) => {
                    n.as_u64().map(|n| n as usize - 1)
                }
                Some(_) => {
                    r.invalid(
                        sink,
                        "branch",
                        format!("`branch` must be an input number from 1 to {inputs}, or \"empty\""),
                        "name the input whose items go on".to_owned(),
                    );
                    return None;
                }
            };
            Merge::ChooseBranch { branch }
        }
        _ => Merge::Append,
    })
}

const SWITCH_FIELDS: &[Field] = &[
    Field::opt(
        "mode",
        Ty::Enum(&["rules", "expression"]),
        "`rules` (the default): an output per rule; `expression`: an expression gives the output",
    ),
    Field::opt("rules", Ty::ListOf(CONDITIONS_FIELDS), "the rules, each a set of conditions, in output order"),
    Field::opt("fallback", Ty::Other("\"none\", \"extra\" or an output index"), "where an item no rule matches goes"),
    Field::opt("all_matching", Ty::Boolean, "an item goes to every output whose rule matches, not only the first"),
    Field::opt("outputs", Ty::Integer, "how many outputs, in expression mode (1 to 64)"),
    Field::opt("output", Ty::Json, "the output index, in expression mode (an expression)"),
];

const SPLIT_OUT_FIELDS: &[Field] = &[
    Field::req("fields", Ty::StringList, "the fields whose arrays become items"),
    Field::opt("include", Ty::Enum(&["none", "all", "selected"]), "which other fields the new items keep"),
    Field::opt("include_fields", Ty::StringList, "the fields `selected` keeps"),
    Field::opt("destination_field", Ty::String, "the field each element goes to"),
    Field::opt("dot_notation", Ty::Boolean, "`a.b` names a nested field (true by default)"),
];

const AGGREGATE_FIELDS: &[Field] = &[
    Field::opt(
        "mode",
        Ty::Enum(&["fields", "all"]),
        "`fields`: each field's values as an array; `all`: every item in one array",
    ),
    Field::opt("fields", Ty::ListOf(AGGREGATE_FIELD_FIELDS), "the fields, in `fields` mode"),
    Field::opt("merge_lists", Ty::Boolean, "array values are merged into one array"),
    Field::opt("keep_missing", Ty::Boolean, "an item without the field gives null"),
    Field::opt("dot_notation", Ty::Boolean, "`a.b` names a nested field (true by default)"),
    Field::opt("destination", Ty::String, "the field of the array, in `all` mode (`data`)"),
    Field::opt("include", Ty::Enum(&["all", "only", "except"]), "which fields of the items, in `all` mode"),
    Field::opt("include_fields", Ty::StringList, "the fields `only` keeps or `except` drops"),
];

const AGGREGATE_FIELD_FIELDS: &[Field] = &[
    Field::req("field", Ty::String, "the input field"),
    Field::opt("rename", Ty::String, "the output field (the input field's name by default)"),
];

const SORT_FIELDS: &[Field] = &[
    Field::req("fields", Ty::ListOf(SORT_FIELD_FIELDS), "the fields to sort by, in order"),
    Field::opt("dot_notation", Ty::Boolean, "`a.b` names a nested field (true by default)"),
];

const SORT_FIELD_FIELDS: &[Field] = &[
    Field::req("field", Ty::String, "the field"),
    Field::opt("order", Ty::Enum(&["ascending", "descending"]), "the order (ascending by default)"),
];

const REMOVE_DUPLICATES_FIELDS: &[Field] = &[
    Field::opt("compare", Ty::Enum(&["all", "except", "selected"]), "which fields two items are compared on"),
    Field::opt("compare_fields", Ty::StringList, "the fields `selected` compares or `except` leaves out"),
    Field::opt("remove_other_fields", Ty::Boolean, "with `selected`, the items keep only those fields"),
    Field::opt("dot_notation", Ty::Boolean, "`a.b` names a nested field (true by default)"),
];

/// Summarize's aggregations, by n8n's names.
pub const AGGREGATIONS: &[&str] = &["count", "countUnique", "sum", "min", "max", "average", "concatenate", "append"];

const SUMMARIZE_FIELDS: &[Field] = &[
    Field::opt("split_by", Ty::StringList, "the fields whose values make the groups"),
    Field::req("aggregations", Ty::ListOf(SUMMARIZE_AGGREGATION_FIELDS), "what to compute per group"),
    Field::opt("dot_notation", Ty::Boolean, "`a.b` names a nested field (true by default)"),
];

const SUMMARIZE_AGGREGATION_FIELDS: &[Field] = &[
    Field::req("aggregation", Ty::Enum(AGGREGATIONS), "what to compute"),
    Field::req("field", Ty::String, "of which field"),
    Field::opt("separator", Ty::String, "between concatenated values (`,` by default)"),
    Field::opt("include_empty", Ty::Boolean, "count, concatenate or append missing, null and empty values too"),
];

const STOP_FIELDS: &[Field] =
    &[Field::req("message", Ty::Json, "the error's message (an expression if it starts with `=`)")];

const HTTP_FIELDS: &[Field] = &[
    Field::opt("method", Ty::Enum(HTTP_METHODS), "the method (GET by default)"),
    Field::req("url", Ty::Json, "the URL (an expression if it starts with `=`)"),
    Field::opt("query", Ty::ListOf(NAME_VALUE_FIELDS), "query parameters"),
    Field::opt("headers", Ty::ListOf(NAME_VALUE_FIELDS), "headers"),
    Field::opt("body", Ty::Object(HTTP_BODY_FIELDS), "the body"),
    Field::opt("format", Ty::Enum(&["autodetect", "json", "text"]), "how the response is read"),
    Field::opt("full_response", Ty::Boolean, "the item is `{body, headers, statusCode, statusMessage}`"),
    Field::opt("never_error", Ty::Boolean, "a status other than 2xx is an answer, not a failure"),
    Field::opt("output_field", Ty::String, "the field of a text answer (`data`)"),
    Field::opt("timeout_ms", Ty::Integer, "the request's timeout"),
    Field::opt("batch", Ty::Other("{\"size\": n, \"interval_ms\": ms}"), "requests in batches"),
    Field::opt("follow_redirects", Ty::Boolean, "follow redirects (true by default)"),
    Field::opt("max_redirects", Ty::Integer, "at most this many (21 by default)"),
    Field::opt("auth", Ty::Object(HTTP_AUTH_FIELDS), "the credential, from environment variables"),
];

const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

const NAME_VALUE_FIELDS: &[Field] = &[
    Field::req("name", Ty::Json, "the name"),
    Field::opt("value", Ty::Json, "the value (an expression if it is a string starting with `=`)"),
];

const HTTP_BODY_FIELDS: &[Field] = &[
    Field::req("type", Ty::Enum(&["json", "form", "raw"]), "the body's type"),
    Field::opt("json", Ty::Json, "the JSON body (a value, JSON text, or an expression)"),
    Field::opt("fields", Ty::ListOf(NAME_VALUE_FIELDS), "the fields of a JSON object or form body"),
    Field::opt("raw", Ty::Json, "the raw body"),
    Field::opt("content_type", Ty::String, "the raw body's content type"),
];

const HTTP_AUTH_FIELDS: &[Field] = &[
    Field::req("type", Ty::Enum(&["header", "bearer", "basic"]), "how the request authenticates"),
    Field::opt("name_env", Ty::String, "`header`: the variable of the header's name"),
    Field::opt("value_env", Ty::String, "`header`: the variable of the header's value"),
    Field::opt("token_env", Ty::String, "`bearer`: the variable of the token"),
    Field::opt("user_env", Ty::String, "`basic`: the variable of the user"),
    Field::opt("password_env", Ty::String, "`basic`: the variable of the password"),
];

/// A field list as it is.
fn fields_list(sink: &mut Sink, r: &mut Reader<'_>, name: &str) -> Vec<String> {
    r.string_list(sink, name).unwrap_or_default()
}

/// A name (text: as it is, or an expression's value as text) and a value, each compiled.
fn name_values(
    sink: &mut Sink,
    scope: &compile::Scope<'_>,
    r: &mut Reader<'_>,
    name: &str,
) -> Vec<(TokenStream, TokenStream)> {
    let mut out = Vec::new();
    let pointer = r.child(name);
    for (i, pair) in r.get(name).and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("{pointer}/{i}");
        let Some(p) = Reader::new(sink, pair, &at, NAME_VALUE_FIELDS, "a name and value") else {
            r.ok = false;
            continue;
        };
        let name = match p.get("name") {
            Some(Value::String(n)) if !n.starts_with('=') => Some(quote::quote! { #n.to_owned() }),
            Some(n) => param(sink, scope, n, &format!("{at}/name")).map(|n| quote::quote! { rt::items::text(&#n) }),
            None => None,
        };
        let value = param(sink, scope, p.get("value").unwrap_or(&Value::from("")), &format!("{at}/value"));
        match (name, value, p.ok) {
            (Some(name), Some(value), true) => out.push((name, value)),
            _ => r.ok = false,
        }
    }
    out
}

/// An environment variable's name, checked (E028).
fn env_name(sink: &mut Sink, r: &mut Reader<'_>, name: &str) -> Option<String> {
    let Some(value) = r.string(sink, name) else {
        sink.push(
            Diagnostic::new(Code::E004, r.pointer.clone(), format!("{} is missing `{name}`", r.what()))
                .help(format!("add `\"{name}\": \"SOME_VARIABLE\"`")),
        );
        r.ok = false;
        return None;
    };
    if !crate::ident::is_env_name(value) {
        sink.push(crate::check::shape::env_name_diagnostic(r.child(name), value, "the variable"));
        r.ok = false;
        return None;
    }
    Some(value.to_owned())
}

fn http(sink: &mut Sink, scope: &compile::Scope<'_>, config: &Value, pointer: &str, what: &str) -> Option<HttpNode> {
    let mut r = Reader::new(sink, config, pointer, HTTP_FIELDS, what)?;
    let method = r.one_of(sink, "method", HTTP_METHODS).unwrap_or("GET");
    let url = r
        .get("url")
        .and_then(|u| param(sink, scope, u, &format!("{pointer}/url")))
        .map(|u| quote::quote! { rt::items::text(&#u) });
    let query = name_values(sink, scope, &mut r, "query");
    let headers = name_values(sink, scope, &mut r, "headers");
    let body = match r.get("body") {
        None => Some(HttpBody::None),
        Some(body) => {
            let at = r.child("body");
            let mut b = Reader::new(sink, body, &at, HTTP_BODY_FIELDS, "the body")?;
            match b.one_of(sink, "type", &["json", "form", "raw"]) {
                Some("json") if b.get("fields").is_some() => {
                    Some(HttpBody::JsonFields(name_values(sink, scope, &mut b, "fields")))
                }
                Some("json") => {
                    param(sink, scope, b.get("json").unwrap_or(&Value::Null), &format!("{at}/json")).map(HttpBody::Json)
                }
                Some("form") => Some(HttpBody::Form(name_values(sink, scope, &mut b, "fields"))),
                Some("raw") => {
                    let content_type = b.string(sink, "content_type").unwrap_or("text/plain").to_owned();
                    param(sink, scope, b.get("raw").unwrap_or(&Value::from("")), &format!("{at}/raw"))
                        .map(|t| HttpBody::Raw { content_type, text: quote::quote! { rt::items::text(&#t) } })
                }
                _ => None,
            }
            .filter(|_| b.ok)
        }
    };
    let format = r.one_of(sink, "format", &["autodetect", "json", "text"]).unwrap_or("autodetect");
    let full_response = r.boolean(sink, "full_response").unwrap_or(false);
    let never_error = r.boolean(sink, "never_error").unwrap_or(false);
    let output_field = r.string(sink, "output_field").unwrap_or("data").to_owned();
    let timeout_ms = r.integer(sink, "timeout_ms", 1, 3_600_000);
    let batch = match r.get("batch") {
        None => None,
        Some(value) => {
            const BATCH: &[Field] = &[
                Field::req("size", Ty::Integer, "requests per batch"),
                Field::opt("interval_ms", Ty::Integer, "the wait between batches"),
            ];
            let mut b = Reader::new(sink, value, &r.child("batch"), BATCH, "`batch`")?;
            let size = b.integer(sink, "size", 1, 10_000)?;
            Some((size, b.integer(sink, "interval_ms", 0, 3_600_000).unwrap_or(0)))
        }
    };
    let follow_redirects = r.boolean(sink, "follow_redirects").unwrap_or(true);
    let max_redirects = r.integer(sink, "max_redirects", 0, 21).unwrap_or(21);
    let auth = match r.get("auth") {
        None => HttpAuth::None,
        Some(auth) => {
            let mut a = Reader::new(sink, auth, &r.child("auth"), HTTP_AUTH_FIELDS, "`auth`")?;
            let auth = match a.one_of(sink, "type", &["header", "bearer", "basic"]) {
                Some("header") => HttpAuth::Header {
                    name_env: env_name(sink, &mut a, "name_env")?,
                    value_env: env_name(sink, &mut a, "value_env")?,
                },
                Some("bearer") => HttpAuth::Bearer { token_env: env_name(sink, &mut a, "token_env")? },
                Some("basic") => HttpAuth::Basic {
                    user_env: env_name(sink, &mut a, "user_env")?,
                    password_env: env_name(sink, &mut a, "password_env")?,
                },
                _ => return None,
            };
            if !a.ok {
                return None;
            }
            auth
        }
    };
    let node = HttpNode {
        method,
        url: url?,
        query,
        headers,
        body: body?,
        format,
        full_response,
        never_error,
        output_field,
        timeout_ms,
        batch,
        follow_redirects,
        max_redirects,
        auth,
    };
    r.ok.then_some(node)
}

/// `all`, `only`/`selected` and `except` with their field list.
fn field_set(choice: Option<&str>, fields: Vec<String>) -> FieldSet {
    match choice {
        Some("only" | "selected") => FieldSet::Only(fields),
        Some("except") => FieldSet::Except(fields),
        Some("none") => FieldSet::None,
        _ => FieldSet::All,
    }
}

fn other_kinds(
    sink: &mut Sink,
    scope: &compile::Scope<'_>,
    kind: &str,
    config: &Value,
    pointer: &str,
    what: &str,
) -> Option<Kind> {
    match kind {
        "switch" => {
            let mut r = Reader::new(sink, config, pointer, SWITCH_FIELDS, what)?;
            let switch = if r.one_of(sink, "mode", &["rules", "expression"]) == Some("expression") {
                let outputs = r.integer(sink, "outputs", 1, 64).unwrap_or(4) as usize;
                let output = param(sink, scope, r.get("output").unwrap_or(&Value::Null), &r.child("output"))?;
                Switch::Expression { outputs, output }
            } else {
                let mut rules = Vec::new();
                for (i, rule) in r.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    match conditions(sink, scope, rule, &format!("{pointer}/rules/{i}"), "a rule") {
                        Some(rule) => rules.push(rule),
                        None => r.ok = false,
                    }
                }
                let fallback = match r.get("fallback") {
                    None => None,
                    Some(Value::String(s)) if s == "none" => None,
                    Some(Value::String(s)) if s == "extra" => Some(None),
                    Some(Value::Number(n)) if n.as_u64().is_some_and(|n| (n as usize) < rules.len()) => {
                        Some(n.as_u64().map(|n| n as usize))
                    }
                    Some(_) => {
                        r.invalid(
                            sink,
                            "fallback",
                            "`fallback` must be \"none\", \"extra\" or the index of a rule's output".to_owned(),
                            "write \"none\", \"extra\" or an output index".to_owned(),
                        );
                        None
                    }
                };
                let all_matching = r.boolean(sink, "all_matching").unwrap_or(false);
                Switch::Rules { rules, fallback, all_matching }
            };
            r.ok.then_some(Kind::Switch(switch))
        }
        "split_out" => {
            let mut r = Reader::new(sink, config, pointer, SPLIT_OUT_FIELDS, what)?;
            let fields = fields_list(sink, &mut r, "fields");
            let choice = r.one_of(sink, "include", &["none", "all", "selected"]).unwrap_or("none");
            let include = field_set(Some(choice), fields_list(sink, &mut r, "include_fields"));
            let destination = r.string(sink, "destination_field").filter(|d| !d.is_empty()).map(str::to_owned);
            let dot_notation = r.boolean(sink, "dot_notation").unwrap_or(true);
            r.ok.then_some(Kind::SplitOut { fields, include, destination, dot_notation })
        }
        "aggregate" => {
            let mut r = Reader::new(sink, config, pointer, AGGREGATE_FIELDS, what)?;
            let aggregate = if r.one_of(sink, "mode", &["fields", "all"]) == Some("all") {
                let destination = r.string(sink, "destination").unwrap_or("data").to_owned();
                let choice = r.one_of(sink, "include", &["all", "only", "except"]);
                Aggregate::All { destination, include: field_set(choice, fields_list(sink, &mut r, "include_fields")) }
            } else {
                let mut fields = Vec::new();
                for (i, field) in r.get("fields").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    let Some(mut f) =
                        Reader::new(sink, field, &format!("{pointer}/fields/{i}"), AGGREGATE_FIELD_FIELDS, "a field")
                    else {
                        r.ok = false;
                        continue;
                    };
                    let name = f.string(sink, "field").unwrap_or_default().to_owned();
                    let rename = f.string(sink, "rename").filter(|n| !n.is_empty()).map(str::to_owned);
                    r.ok &= f.ok;
                    fields.push((name, rename));
                }
                let merge_lists = r.boolean(sink, "merge_lists").unwrap_or(false);
                let keep_missing = r.boolean(sink, "keep_missing").unwrap_or(false);
                let dot_notation = r.boolean(sink, "dot_notation").unwrap_or(true);
                Aggregate::Fields { fields, merge_lists, keep_missing, dot_notation }
            };
            r.ok.then_some(Kind::Aggregate(aggregate))
        }
        "sort" => {
            let mut r = Reader::new(sink, config, pointer, SORT_FIELDS, what)?;
            let mut fields = Vec::new();
            for (i, field) in r.get("fields").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let Some(mut f) =
                    Reader::new(sink, field, &format!("{pointer}/fields/{i}"), SORT_FIELD_FIELDS, "a sort field")
                else {
                    r.ok = false;
                    continue;
                };
                let name = f.string(sink, "field").unwrap_or_default().to_owned();
                let descending = f.one_of(sink, "order", &["ascending", "descending"]) == Some("descending");
                r.ok &= f.ok;
                fields.push((name, descending));
            }
            let dot_notation = r.boolean(sink, "dot_notation").unwrap_or(true);
            r.ok.then_some(Kind::Sort { fields, dot_notation })
        }
        "remove_duplicates" => {
            let mut r = Reader::new(sink, config, pointer, REMOVE_DUPLICATES_FIELDS, what)?;
            let choice = r.one_of(sink, "compare", &["all", "except", "selected"]);
            let compare = field_set(choice, fields_list(sink, &mut r, "compare_fields"));
            let remove_other_fields = r.boolean(sink, "remove_other_fields").unwrap_or(false);
            let dot_notation = r.boolean(sink, "dot_notation").unwrap_or(true);
            r.ok.then_some(Kind::RemoveDuplicates { compare, remove_other_fields, dot_notation })
        }
        "summarize" => {
            let mut r = Reader::new(sink, config, pointer, SUMMARIZE_FIELDS, what)?;
            let split_by = fields_list(sink, &mut r, "split_by");
            let mut aggregations = Vec::new();
            for (i, a) in r.get("aggregations").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let Some(mut a) = Reader::new(
                    sink,
                    a,
                    &format!("{pointer}/aggregations/{i}"),
                    SUMMARIZE_AGGREGATION_FIELDS,
                    "an aggregation",
                ) else {
                    r.ok = false;
                    continue;
                };
                let aggregation = a.one_of(sink, "aggregation", AGGREGATIONS);
                let field = a.string(sink, "field").unwrap_or_default().to_owned();
                let separator = a.string(sink, "separator").unwrap_or(",").to_owned();
                let include_empty = a.boolean(sink, "include_empty").unwrap_or(false);
                match (aggregation, a.ok) {
                    (Some(aggregation), true) => aggregations.push((aggregation, field, separator, include_empty)),
                    _ => r.ok = false,
                }
            }
            let dot_notation = r.boolean(sink, "dot_notation").unwrap_or(true);
            r.ok.then_some(Kind::Summarize { split_by, aggregations, dot_notation })
        }
        "stop_and_error" => {
            let r = Reader::new(sink, config, pointer, STOP_FIELDS, what)?;
            let message = param(sink, scope, r.get("message").unwrap_or(&Value::Null), &r.child("message"))?;
            r.ok.then_some(Kind::StopAndError { message })
        }
        "http_request" => http(sink, scope, config, pointer, what).map(|h| Kind::HttpRequest(Box::new(h))),
        "if_v1" | "filter_v1" => {
            const LEGACY: &[Field] = &[
                Field::req(
                    "conditions",
                    Ty::ListOf(LEGACY_CONDITION_FIELDS),
                    "the conditions, in the order n8n evaluates them",
                ),
                Field::opt(
                    "combine",
                    Ty::Enum(&["all", "any"]),
                    "whether every condition must hold (the default), or one",
                ),
            ];
            const LEGACY_CONDITION_FIELDS: &[Field] = &[
                Field::req("type", Ty::Enum(&["boolean", "dateTime", "number", "string"]), "the values' type"),
                Field::req("operation", Ty::String, "the operation (`equal`, `larger`, `contains`, …)"),
                Field::opt("value1", Ty::Json, "the first value"),
                Field::opt("value2", Ty::Json, "the second value"),
            ];
            let mut r = Reader::new(sink, config, pointer, LEGACY, what)?;
            let mut conditions = Vec::new();
            for (i, c) in r.get("conditions").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let at = format!("{pointer}/conditions/{i}");
                let Some(mut c) = Reader::new(sink, c, &at, LEGACY_CONDITION_FIELDS, "a condition") else {
                    r.ok = false;
                    continue;
                };
                let ty = c.one_of(sink, "type", &["boolean", "dateTime", "number", "string"]).unwrap_or_default();
                let operation = c.string(sink, "operation").unwrap_or_default().to_owned();
                if c.ok && !crate::items::LEGACY_OPERATIONS.contains(&(ty, operation.as_str())) {
                    c.invalid(
                        sink,
                        "operation",
                        format!("`{operation}` is not an operation of {ty} conditions flowc compiles"),
                        "see docs/flow-format.md, chapter 19".to_owned(),
                    );
                }
                let value1 = param(sink, scope, c.get("value1").unwrap_or(&Value::Null), &format!("{at}/value1"));
                let value2 = param(sink, scope, c.get("value2").unwrap_or(&Value::Null), &format!("{at}/value2"));
                match (value1, value2, c.ok) {
                    (Some(v1), Some(v2), true) => conditions.push((ty.to_owned(), operation, v1, v2)),
                    _ => r.ok = false,
                }
            }
            let any = r.one_of(sink, "combine", &["all", "any"]) == Some("any");
            r.ok.then(
                || if kind == "if_v1" { Kind::IfV1 { conditions, any } } else { Kind::FilterV1 { conditions, any } },
            )
        }
        "split_in_batches" => {
            const LOOP: &[Field] = &[
                Field::opt("batch_size", Ty::Integer, "items per batch (1 by default)"),
                Field::opt(
                    "reset",
                    Ty::Boolean,
                    "start over with each input, instead of taking it as the loop's answer",
                ),
            ];
            let mut r = Reader::new(sink, config, pointer, LOOP, what)?;
            let batch_size = r.integer(sink, "batch_size", 1, u32::MAX as u64).unwrap_or(1);
            let reset = r.boolean(sink, "reset").unwrap_or(false);
            r.ok.then_some(Kind::SplitInBatches { batch_size, reset })
        }
        "wait" => {
            const WAIT: &[Field] =
                &[Field::req("ms", Ty::Integer, "how long the items wait, in milliseconds (up to 30 days)")];
            let mut r = Reader::new(sink, config, pointer, WAIT, what)?;
            let ms = r.integer(sink, "ms", 0, 30 * 24 * 3_600_000);
            r.ok.then_some(Kind::Wait { ms: ms? })
        }
        _ => None,
    }
}

/// A set of conditions (an `if`'s, a `filter`'s, a switch rule's).
fn conditions(
    sink: &mut Sink,
    scope: &compile::Scope<'_>,
    config: &Value,
    pointer: &str,
    what: &str,
) -> Option<Conditions> {
    let mut r = Reader::new(sink, config, pointer, CONDITIONS_FIELDS, what)?;
    let mut conditions = Vec::new();
    for (i, condition) in r.get("conditions").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("{pointer}/conditions/{i}");
        let Some(mut c) = Reader::new(sink, condition, &at, CONDITION_FIELDS, "a condition") else {
            r.ok = false;
            continue;
        };
        let operator = c.string(sink, "operator").unwrap_or_default().to_owned();
        if c.ok && !OPERATORS.iter().any(|(op, _)| *op == operator) {
            let ops = OPERATORS.iter().map(|(op, _)| *op);
            let help = match did_you_mean(&operator, ops.clone()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("the operators are {}", crate::check::reader::list(ops)),
            };
            c.invalid(sink, "operator", format!("unknown condition operator `{operator}`"), help);
        }
        let left = param(sink, scope, c.get("left").unwrap_or(&Value::Null), &format!("{at}/left"));
        let right = param(sink, scope, c.get("right").unwrap_or(&Value::Null), &format!("{at}/right"));
        match (left, right, c.ok) {
            (Some(left), Some(right), true) => conditions.push((left, operator, right)),
            _ => r.ok = false,
        }
    }
    let and = r.one_of(sink, "combinator", &["and", "or"]) != Some("or");
    let case_sensitive = r.boolean(sink, "case_sensitive").unwrap_or(true);
    let loose = r.boolean(sink, "loose").unwrap_or(false);
    r.ok.then_some(Conditions { conditions, and, case_sensitive, loose })
}

/// A config value compiled: an expression's code, or the JSON itself.
fn param(sink: &mut Sink, scope: &compile::Scope<'_>, value: &Value, pointer: &str) -> Option<TokenStream> {
    match compile::value(scope, value) {
        Ok(tokens) => Some(tokens),
        Err(problem) => {
            sink.push(Diagnostic::new(problem.code, pointer, problem.message).help(problem.help));
            None
        }
    }
}

fn config_of(
    sink: &mut Sink,
    scope: &compile::Scope<'_>,
    kind: &str,
    config: &Value,
    pointer: &str,
    what: &str,
) -> Option<Kind> {
    let empty: &[Field] = &[];
    match kind {
        "manual_trigger" => Reader::new(sink, config, pointer, empty, what)?.ok.then_some(Kind::ManualTrigger),
        "noop" => Reader::new(sink, config, pointer, empty, what)?.ok.then_some(Kind::NoOp),
        "set" => {
            let mut r = Reader::new(sink, config, pointer, SET_FIELDS, what)?;
            let mut fields = Vec::new();
            for (i, field) in r.get("fields").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let at = format!("{pointer}/fields/{i}");
                let Some(mut f) = Reader::new(sink, field, &at, SET_FIELD_FIELDS, "a field") else {
                    r.ok = false;
                    continue;
                };
                // A name is text: as it is, or an expression's value as n8n writes it in text.
                let name = match f.get("name") {
                    Some(Value::String(name)) if !name.starts_with('=') => Some(quote::quote! { #name.to_owned() }),
                    Some(name) => {
                        param(sink, scope, name, &format!("{at}/name")).map(|n| quote::quote! { rt::items::text(&#n) })
                    }
                    None => None,
                };
                let ty = f.one_of(sink, "type", FIELD_TYPES).unwrap_or("string");
                let value = param(sink, scope, f.get("value").unwrap_or(&Value::Null), &format!("{at}/value"));
                match (name, value, f.ok) {
                    (Some(name), Some(value), true) => fields.push((name, ty, value)),
                    _ => r.ok = false,
                }
            }
            let include = r.one_of(sink, "include", &["all", "none", "selected", "except"]).unwrap_or("all");
            let include_fields = r.string_list(sink, "include_fields").unwrap_or_default();
            let dot_notation = r.boolean(sink, "dot_notation").unwrap_or(true);
            let ignore_conversion_errors = r.boolean(sink, "ignore_conversion_errors").unwrap_or(false);
            r.ok.then_some(Kind::Set(SetNode {
                fields,
                include,
                include_fields,
                dot_notation,
                ignore_conversion_errors,
            }))
        }
        "if" | "filter" => {
            let c = conditions(sink, scope, config, pointer, what)?;
            Some(if kind == "if" { Kind::If(c) } else { Kind::Filter(c) })
        }
        "limit" => {
            let mut r = Reader::new(sink, config, pointer, LIMIT_FIELDS, what)?;
            let max_items = r.integer(sink, "max_items", 1, u32::MAX as u64).unwrap_or(1);
            let keep_last = r.one_of(sink, "keep", &["first", "last"]) == Some("last");
            r.ok.then_some(Kind::Limit { max_items, keep_last })
        }
        "merge" => {
            let mut r = Reader::new(sink, config, pointer, MERGE_FIELDS, what)?;
            let inputs = r.integer(sink, "inputs", 2, 10).unwrap_or(2) as usize;
            let mode = merge(sink, &mut r, inputs)?;
            r.ok.then_some(Kind::Merge { inputs, mode })
        }
        other => other_kinds(sink, scope, other, config, pointer, what),
    }
}
