//! From the IR to `src/main.rs`: one `async fn` per node (its body from the node kind's
//! emitter), the static graph the runtime's scheduler runs, and `main`. Everything from the
//! document reaches the output as a literal token (`quote!` of a `&str`), never as text
//! pasted into code, so nothing in a flow can inject code — except a `code` node, whose
//! whole purpose is to hold Rust.

use std::collections::{BTreeSet, HashMap};

use proc_macro2::{Ident, Literal, TokenStream, TokenTree};
use quote::{format_ident, quote};
use serde_json::Value;

use crate::check::reader::Json;
use crate::ir::{Handle, Ir, IrEdge, IrNode};
use crate::model::{CredentialSource, OnError, RetryPolicy};
use crate::nodes;
use crate::template::{Part, Path, Seg, Template};

/// What a node kind's emitter produces.
pub struct NodeCode {
    /// The statements of the node's `async fn`, ending in its `NodeResult`.
    pub body: TokenStream,
    /// Items the node needs beside its function (a `code` node's block).
    pub items: Vec<TokenStream>,
    /// The jq filters it runs: `(static name, filter text)`.
    pub filters: Vec<(Ident, String)>,
    /// Source to put in place of the marker statement after formatting (a `code` node's).
    pub verbatim: Option<String>,
}

impl NodeCode {
    pub fn body(body: TokenStream) -> Self {
        NodeCode { body, items: Vec::new(), filters: Vec::new(), verbatim: None }
    }

    pub fn with_item(mut self, item: TokenStream) -> Self {
        self.items.push(item);
        self
    }

    pub fn with_verbatim(mut self, source: String) -> Self {
        self.verbatim = Some(source);
        self
    }

    pub fn with_filter(mut self, name: Ident, code: &str) -> Self {
        self.filters.push((name, code.to_owned()));
        self
    }
}

/// One flow of the program: the document's, or a map's nested flow.
pub struct EmitScope<'a> {
    pub nodes: &'a [IrNode],
    pub edges: &'a [IrEdge],
    by_id: HashMap<&'a str, usize>,
    /// The path of its index module under `nodes` (`each` for `nodes::each::FETCH`).
    module: Vec<String>,
    /// The flow holding the map, and the map's index in it.
    parent: Option<(usize, usize)>,
}

/// Every flow of the program, the document's first, and every node in emission order: each
/// map's nested nodes right after the map. `(scope, index in the scope's nodes)`.
pub fn scopes(ir: &Ir) -> (Vec<EmitScope<'_>>, Vec<(usize, usize)>) {
    fn walk<'a>(
        nodes: &'a [IrNode],
        edges: &'a [IrEdge],
        module: Vec<String>,
        parent: Option<(usize, usize)>,
        scopes: &mut Vec<EmitScope<'a>>,
        order: &mut Vec<(usize, usize)>,
    ) {
        let s = scopes.len();
        let by_id = nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        scopes.push(EmitScope { nodes, edges, by_id, module: module.clone(), parent });
        for (i, node) in nodes.iter().enumerate() {
            order.push((s, i));
            if let nodes::Config::Map(map) = &node.config {
                let mut module = module.clone();
                module.push(module_ident(node).to_string());
                walk(&map.nodes, &map.edges, module, Some((s, i)), scopes, order);
            }
        }
    }
    let (mut scopes, mut order) = (Vec::new(), Vec::new());
    walk(&ir.nodes, &ir.edges, Vec::new(), None, &mut scopes, &mut order);
    (scopes, order)
}

/// What an emitter can ask about the flow.
pub struct EmitCx<'a> {
    pub ir: &'a Ir,
    pub node: &'a IrNode,
    scopes: &'a [EmitScope<'a>],
    /// The flow the node is in, and the node's index in it.
    scope: usize,
    index: usize,
}

impl<'a> EmitCx<'a> {
    fn new(ir: &'a Ir, scopes: &'a [EmitScope<'a>], (scope, index): (usize, usize)) -> EmitCx<'a> {
        EmitCx { ir, node: &scopes[scope].nodes[index], scopes, scope, index }
    }

    fn path_parts(&self, path: &Path) -> (TokenStream, TokenStream) {
        let segs = path.segs.iter().map(|seg| match seg {
            Seg::Key(key) => quote! { rt::Seg::Key(#key) },
            Seg::Index(i) => {
                let i = Literal::usize_unsuffixed(*i);
                quote! { rt::Seg::Index(#i) }
            }
        });
        let segs = quote! { &[#(#segs),*] };
        let in_map = self.scopes[self.scope].parent.is_some();
        if in_map && path.root == "item" {
            return (quote! { cx.item() }, segs);
        }
        if in_map && path.root == "index" {
            return (quote! { cx.index() }, segs);
        }
        // The check phase made sure every root names an upstream node: of this flow, or of a
        // flow around it, `levels` maps out.
        let mut scope = self.scope;
        let mut levels = 0usize;
        loop {
            let here = &self.scopes[scope];
            if let Some(&index) = here.by_id.get(path.root.as_str()) {
                let node = scope_const(here, index);
                let data = if levels == 0 {
                    quote! { cx.data(#node) }
                } else {
                    let levels = Literal::usize_unsuffixed(levels);
                    quote! { cx.outer(#levels).data(#node) }
                };
                return (data, segs);
            }
            match here.parent {
                Some((parent, _)) => {
                    scope = parent;
                    levels += 1;
                }
                None => return (quote! { cx.data(0) }, segs),
            }
        }
    }

    /// An expression of type `Value`: what the template yields.
    pub fn value(&self, template: &Template) -> TokenStream {
        match template {
            Template::Literal(text) => quote! { rt::serde_json::Value::from(#text) },
            Template::Value(path) if path.segs.is_empty() => {
                let (data, _) = self.path_parts(path);
                quote! { #data.clone() }
            }
            Template::Value(path) => {
                let (data, segs) = self.path_parts(path);
                quote! { rt::read(#data, #segs) }
            }
            Template::Mixed(_) => {
                let string = self.string(template);
                quote! { rt::serde_json::Value::String(#string) }
            }
        }
    }

    /// An expression of type `String`: the template rendered as text.
    pub fn string(&self, template: &Template) -> TokenStream {
        let parts: Vec<TokenStream> = match template {
            Template::Literal(text) => return quote! { #text.to_owned() },
            Template::Value(path) => vec![self.read_part(path)],
            Template::Mixed(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Text(text) => quote! { rt::Part::Text(#text) },
                    Part::Path(path) => self.read_part(path),
                })
                .collect(),
        };
        quote! { rt::render(&[#(#parts),*]) }
    }

    fn read_part(&self, path: &Path) -> TokenStream {
        let (data, segs) = self.path_parts(path);
        quote! { rt::Part::Read(#data, #segs) }
    }

    /// An expression of type `Value` for JSON whose strings may hold templates.
    pub fn json(&self, json: &Json) -> TokenStream {
        match json {
            Json::Null => quote! { rt::serde_json::Value::Null },
            Json::Bool(b) => quote! { rt::serde_json::Value::Bool(#b) },
            Json::Number(n) => number(n),
            Json::String(t) => self.value(t),
            Json::Array(items) => {
                let items = items.iter().map(|item| self.json(item));
                quote! { rt::serde_json::Value::Array(vec![#(#items),*]) }
            }
            Json::Object(members) => {
                let members = members.iter().map(|(k, v)| {
                    let v = self.json(v);
                    quote! { (#k, #v) }
                });
                quote! { rt::object([#(#members),*]) }
            }
        }
    }

    /// An integration's API root: the configured `base_url`, or the service's default (a
    /// runtime constant).
    pub fn base_url(&self, base_url: &Option<Template>, default: TokenStream) -> TokenStream {
        match base_url {
            Some(url) => self.string(url),
            None => quote! { #default.to_owned() },
        }
    }

    /// An integration's bearer token: the node's credential, resolved at run time, or none.
    pub fn api_key(&self, credential: &Option<String>) -> TokenStream {
        match credential {
            Some(name) => quote! { Some(cx.credential(#name)?) },
            None => quote! { None },
        }
    }

    /// The name of an MCP server's static (see `nodes::mcp_tool::server_static`).
    pub fn mcp_server_name(&self, server: &nodes::mcp_tool::Server) -> &str {
        self.ir.mcp_servers.iter().find(|s| &s.server == server).map_or("", |s| s.name.as_str())
    }

    /// The name of this map node's `rt::MapFlow` static.
    pub fn map_flow_ident(&self) -> Ident {
        format_ident!("MAP_{}", self.node.name.to_uppercase())
    }

    /// The scope of this map node's nested flow.
    fn nested_scope(&self) -> usize {
        let me = Some((self.scope, self.index));
        self.scopes.iter().position(|s| s.parent == me).unwrap_or_default()
    }

    /// The contexts of this map node's nested nodes.
    pub fn nested(&self, _map: &nodes::map::Config) -> Vec<EmitCx<'a>> {
        let s = self.nested_scope();
        (0..self.scopes[s].nodes.len()).map(|i| EmitCx::new(self.ir, self.scopes, (s, i))).collect()
    }

    /// The `rt::MapFlow { ... }` of this map node: its nested nodes, edges and concurrency.
    pub fn map_flow(&self, map: &nodes::map::Config) -> TokenStream {
        let entries = self.nested(map).iter().map(node_entry).collect::<Vec<_>>();
        let edges = edge_entries(&self.scopes[self.nested_scope()]);
        let concurrency = Literal::usize_unsuffixed(map.concurrency as usize);
        quote! {
            rt::MapFlow {
                nodes: &[#(#entries),*],
                edges: &[#(#edges),*],
                concurrency: #concurrency,
            }
        }
    }

    /// An expression of type `Value` for plain JSON.
    pub fn static_json(&self, value: &Value) -> TokenStream {
        static_json(value)
    }

    /// The name of the `static` that holds one of this node's jq filters.
    pub fn filter(&self, suffix: &str) -> Ident {
        format_ident!("JQ_{}_{}", self.node.name.to_uppercase(), suffix)
    }

    /// What a filter gets as `$nodes`: every finished ancestor when it reads `$nodes`,
    /// `null` otherwise (collecting them costs a walk of the graph).
    pub fn jq_nodes(&self, code: &str) -> TokenStream {
        if code.contains("$nodes") {
            quote! { cx.ancestors() }
        } else {
            quote! { rt::serde_json::Value::Null }
        }
    }
}

fn number(n: &serde_json::Number) -> TokenStream {
    let lit = if let Some(i) = n.as_i64() {
        if i32::try_from(i).is_ok() {
            Literal::i64_unsuffixed(i)
        } else {
            Literal::i64_suffixed(i)
        }
    } else if let Some(u) = n.as_u64() {
        Literal::u64_suffixed(u)
    } else {
        Literal::f64_unsuffixed(n.as_f64().unwrap_or_default())
    };
    // `Value::from(-1)`: a negative literal is a unary minus applied to a literal.
    quote! { rt::serde_json::Value::from(#lit) }
}

pub fn static_json(value: &Value) -> TokenStream {
    match value {
        Value::Null => quote! { rt::serde_json::Value::Null },
        Value::Bool(b) => quote! { rt::serde_json::Value::Bool(#b) },
        Value::Number(n) => number(n),
        Value::String(s) => quote! { rt::serde_json::Value::from(#s) },
        Value::Array(items) => {
            let items = items.iter().map(static_json);
            quote! { rt::serde_json::Value::Array(vec![#(#items),*]) }
        }
        Value::Object(map) => {
            let members = map.iter().map(|(k, v)| {
                let v = static_json(v);
                quote! { (#k, #v) }
            });
            quote! { rt::object([#(#members),*]) }
        }
    }
}

/// `nodes::NAME`, or `nodes::each::NAME` for a node of map `each`'s nested flow.
fn scope_const(scope: &EmitScope<'_>, index: usize) -> TokenStream {
    let name = const_ident(&scope.nodes[index]);
    let module = scope.module.iter().map(|m| format_ident!("{m}"));
    quote! { nodes::#(#module::)*#name }
}

fn const_ident(node: &IrNode) -> Ident {
    format_ident!("{}", node.local.to_uppercase())
}

/// The module of a map's nested nodes' index constants, under `nodes`.
fn module_ident(map: &IrNode) -> Ident {
    if crate::ident::is_keyword(&map.local) {
        format_ident!("{}_", map.local)
    } else {
        format_ident!("{}", map.local)
    }
}

fn fn_ident(node: &IrNode) -> Ident {
    format_ident!("node_{}", node.name)
}

fn uses_ident(tokens: &TokenStream, name: &str) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => uses_ident(&g.stream(), name),
        _ => false,
    })
}

fn retry_policy(policy: &RetryPolicy) -> TokenStream {
    let RetryPolicy { max_attempts, initial_delay_ms, backoff_rate, max_delay_ms, jitter_full, retry_on } = policy;
    let max_attempts = Literal::u32_unsuffixed(*max_attempts as u32);
    let initial_delay_ms = Literal::u64_unsuffixed(*initial_delay_ms);
    let backoff_rate = Literal::f64_unsuffixed(*backoff_rate);
    let max_delay_ms = Literal::u64_unsuffixed(*max_delay_ms);
    let jitter = if *jitter_full {
        quote! { rt::Jitter::Full }
    } else {
        quote! { rt::Jitter::None }
    };
    let kinds = retry_on.iter().map(|kind| {
        let variant = format_ident!("{}", kind.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect::<String>());
        quote! { rt::ErrorKind::#variant }
    });
    quote! {
        rt::RetryPolicy {
            max_attempts: #max_attempts,
            initial_delay_ms: #initial_delay_ms,
            backoff_rate: #backoff_rate,
            max_delay_ms: #max_delay_ms,
            jitter: #jitter,
            retry_on: &[#(#kinds),*],
        }
    }
}

fn option_u64(value: Option<u64>) -> TokenStream {
    match value {
        Some(v) => {
            let v = Literal::u64_unsuffixed(v);
            quote! { Some(#v) }
        }
        None => quote! { None },
    }
}

/// The whole `main.rs`, formatted, with its header.
///
/// Parsing and printing the tokens is most of flowc's time on large flows, and token streams
/// cannot cross threads, so the file is built in independent parts, each emitted, parsed and
/// printed on a thread of its own: the head (`main`, the `FLOW` table), then the nodes'
/// functions in contiguous runs; the parts are joined in order.
pub fn main_rs(ir: &Ir) -> String {
    let (scopes, order) = scopes(ir);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let threads = if order.len() < 200 { 1 } else { threads };
    let run = order.len().div_ceil(threads).max(1);
    let (scopes, order) = (&scopes, &order);
    let runs: Vec<&[(usize, usize)]> = order.chunks(run).collect();
    let (head, runs): (String, Vec<(String, Vec<String>)>) = if threads == 1 {
        let runs = runs.into_iter().map(|run| node_functions(ir, scopes, run)).collect();
        (head(ir, scopes), runs)
    } else {
        std::thread::scope(|scope| {
            let head = scope.spawn(|| head(ir, scopes));
            let runs: Vec<_> =
                runs.into_iter().map(|run| scope.spawn(move || node_functions(ir, scopes, run))).collect();
            let failed = || ("compile_error!(\"flowc: a thread failed\");\n".to_owned(), Vec::new());
            let runs = runs.into_iter().map(|h| h.join().unwrap_or_else(|_| failed())).collect();
            (head.join().unwrap_or_else(|_| failed().0), runs)
        })
    };
    let mut out =
        format!("// @generated by flowc {} from {}. Do not edit.\n\n{head}", env!("CARGO_PKG_VERSION"), ir.id);
    let mut filters = Vec::new();
    for (text, names) in runs {
        out.push('\n');
        out.push_str(&text);
        filters.extend(names.into_iter().map(|name| format_ident!("{name}")));
    }
    let tail = quote! {
        /// Every jq filter of the flow, compiled when the program starts.
        static JQ_FILTERS: &[&rt::jq::Filter] = &[#(&#filters),*];
    };
    out.push('\n');
    out.push_str(&format_tokens(tail));
    out
}

/// A node's entry in its flow's static table: `rt::Node::new(...)` with what differs from
/// the format's defaults.
fn node_entry(cx: &EmitCx<'_>) -> TokenStream {
    let node = cx.node;
    let name = fn_ident(node);
    let id = &node.id;
    let kind = node.kind.as_str();
    let pointer = &node.pointer;
    // `rt::Node::new` has the format's defaults; only what differs is written out.
    let mut entry = quote! { rt::Node::new(#id, #kind, #pointer, |cx| Box::pin(#name(cx))) };
    if let Some(label) = &node.label {
        entry = quote! { #entry.label(#label) };
    }
    match &node.retry {
        None => entry = quote! { #entry.retry(rt::RetryPolicy::NONE) },
        Some(policy) if policy == &cx.ir.settings.retry => {}
        Some(policy) => {
            let policy = retry_policy(policy);
            entry = quote! { #entry.retry(#policy) };
        }
    }
    if let Some(ms) = node.timeout_ms {
        let ms = Literal::u64_unsuffixed(ms);
        entry = quote! { #entry.timeout_ms(#ms) };
    }
    if let Some(ms) = node.deadline_ms {
        let ms = Literal::u64_unsuffixed(ms);
        entry = quote! { #entry.deadline_ms(#ms) };
    }
    match &node.on_error {
        OnError::Fail => {}
        OnError::Continue => entry = quote! { #entry.on_error(rt::OnError::Continue) },
        OnError::Fallback(value) => {
            let value = static_json(value);
            entry = quote! { #entry.on_error(rt::OnError::Fallback(|| #value)) };
        }
    }
    if node.output_type != crate::types::Type::Any {
        let ty = node.output_type.to_string();
        entry = quote! { #entry.output_type(#ty) };
    }
    if let nodes::Config::Output(output) = &node.config {
        let name = &output.name;
        entry = quote! { #entry.output(#name) };
    }
    let needs = nodes::needs(cx);
    if !needs.is_empty() {
        entry = quote! { #entry.needs(&[#(#needs),*]) };
    }
    if let Some(trigger) = nodes::trigger(cx) {
        entry = quote! { #entry.trigger(#trigger) };
    }
    entry
}

/// The entries of a flow's `edges` table.
fn edge_entries(scope: &EmitScope<'_>) -> Vec<TokenStream> {
    scope
        .edges
        .iter()
        .map(|edge| {
            let source = scope_const(scope, edge.source);
            let target = scope_const(scope, edge.target);
            match &edge.handle {
                Handle::Success => quote! { rt::Edge::new(#source, #target) },
                Handle::Error => quote! { rt::Edge::error(#source, #target) },
                Handle::Route(route) => quote! { rt::Edge::route(#source, #target, #route) },
            }
        })
        .collect()
}

/// The index constants of flow `s` and, as modules inside, of its maps' nested flows.
/// Every node a template reads is upstream of its reader, so it has an outgoing edge: the
/// nodes that edges name are all the index constants the code uses.
fn index_consts(scopes: &[EmitScope<'_>], s: usize) -> Vec<TokenStream> {
    let scope = &scopes[s];
    let referenced: BTreeSet<usize> = scope.edges.iter().flat_map(|e| [e.source, e.target]).collect();
    let mut items: Vec<TokenStream> = referenced
        .iter()
        .map(|&i| {
            let node = &scope.nodes[i];
            let name = const_ident(node);
            let i = Literal::usize_unsuffixed(i);
            let doc = format!(" Node `{}`.", node.id);
            quote! {
                #[doc = #doc]
                pub const #name: usize = #i;
            }
        })
        .collect();
    for (child, nested) in scopes.iter().enumerate().filter(|(_, c)| c.parent.is_some_and(|(p, _)| p == s)) {
        let inner = index_consts(scopes, child);
        if inner.is_empty() {
            continue;
        }
        let map = &scope.nodes[nested.parent.map_or(0, |(_, i)| i)];
        let module = module_ident(map);
        let doc = format!(
            " The nodes of map `{}`'s nested flow: each one's index in `MAP_{}.nodes`.",
            map.id,
            map.name.to_uppercase()
        );
        items.push(quote! {
            #[doc = #doc]
            pub mod #module {
                #(#inner)*
            }
        });
    }
    items
}

/// The file up to the nodes' functions: docs, `main`, the `FLOW` table, node indices.
fn head(ir: &Ir, scopes: &[EmitScope<'_>]) -> String {
    let node_entries: Vec<TokenStream> =
        (0..ir.nodes.len()).map(|i| node_entry(&EmitCx::new(ir, scopes, (0, i)))).collect();
    let edges = edge_entries(&scopes[0]);

    let credentials = ir.credentials.iter().map(|c| {
        let name = &c.name;
        let source = match &c.source {
            CredentialSource::Env(var) => quote! { rt::CredentialSource::Env(#var) },
            CredentialSource::File(path) => quote! { rt::CredentialSource::File(#path) },
        };
        quote! { rt::Credential { name: #name, source: #source } }
    });
    // Every value a template reads may be `null` at run time (its node was skipped, or failed
    // and the flow went on), so the schema a client holds the outputs to admits `null` too.
    let outputs_schema = crate::describe::outputs_type(ir).with_nulls().to_json_schema().to_string();
    let input_schema = match ir.input_schema() {
        Some(schema) => {
            let text = schema.to_string();
            quote! { Some(#text) }
        }
        None => quote! { None },
    };
    let (id, name, description) = (&ir.id, &ir.name, &ir.description);
    let max_concurrency = Literal::usize_unsuffixed(ir.settings.max_concurrency as usize);
    let timeout_ms = option_u64(ir.settings.timeout_ms);
    let flow_retry = if ir.settings.retry == RetryPolicy::default() {
        quote! { rt::RetryPolicy::DEFAULT }
    } else {
        retry_policy(&ir.settings.retry)
    };

    let index_consts = index_consts(scopes, 0);
    let nodes_mod = if index_consts.is_empty() {
        quote! {}
    } else {
        quote! {
            /// Each node's index in `FLOW.nodes`.
            mod nodes {
                #(#index_consts)*
            }
        }
    };

    let rate_limits = ir.settings.rate_limits.iter().map(|limit| {
        let key = match &limit.key {
            crate::model::RateKey::Host(host) => quote! { rt::ratelimit::RateKey::Host(#host) },
            crate::model::RateKey::Credential(name) => quote! { rt::ratelimit::RateKey::Credential(#name) },
        };
        let per_second = Literal::f64_unsuffixed(limit.per_second);
        let burst = Literal::u32_unsuffixed(limit.burst as u32);
        quote! { rt::ratelimit::RateLimit { key: #key, per_second: #per_second, burst: #burst } }
    });
    let circuit_breakers = ir.settings.circuit_breakers.iter().map(|breaker| {
        let host = &breaker.host;
        let failure_threshold = Literal::u32_unsuffixed(breaker.failure_threshold as u32);
        let open_ms = Literal::u64_unsuffixed(breaker.open_ms);
        let success_threshold = Literal::u32_unsuffixed(breaker.success_threshold as u32);
        quote! {
            rt::breaker::CircuitBreaker {
                host: #host,
                failure_threshold: #failure_threshold,
                open_ms: #open_ms,
                success_threshold: #success_threshold,
            }
        }
    });
    let http = if ir.settings.http == crate::model::HttpSettings::default() {
        quote! { rt::http::HttpSettings::DEFAULT }
    } else {
        let max_response_bytes = Literal::u64_unsuffixed(ir.settings.http.max_response_bytes);
        let deny_private_networks = ir.settings.http.deny_private_networks;
        quote! {
            rt::http::HttpSettings {
                max_response_bytes: #max_response_bytes,
                deny_private_networks: #deny_private_networks,
            }
        }
    };
    let mcp_idents = ir.mcp_servers.iter().map(|s| nodes::mcp_tool::server_ident(&s.name));
    let mcp_statics = ir.mcp_servers.iter().map(|s| {
        let users: Vec<&str> = s.users.iter().map(String::as_str).collect();
        nodes::mcp_tool::server_static(&s.name, &s.server, &users)
    });
    let mut title = ir.name.clone();
    if !ir.description.is_empty() {
        title = format!("{title}: {}", ir.description);
    }
    // One doc line per line of text, so that every line renders as `//!`; no hazard raw (a
    // bidirectional control is an error in a comment, a bare CR in a doc comment).
    let title_lines: Vec<String> = crate::escape::lines(&title).into_iter().map(|line| format!(" {line}")).collect();
    let usage =
        format!(" Compiled by flowc from the flow `{}`. Run it with `{} run --input-json '{{...}}'`;", ir.id, ir.id);
    format_tokens(quote! {
        #(#![doc = #title_lines])*
        #![doc = ""]
        #![doc = #usage]
        #![doc = " `describe` lists its nodes, input schema and credentials."]

        use ::flowc_runtime as rt;

        /// The runtime's allocator (mimalloc): runs allocate many small, short-lived values.
        #[global_allocator]
        static ALLOCATOR: rt::Allocator = rt::Allocator;

        fn main() -> ::std::process::ExitCode {
            rt::main(&FLOW)
        }

        /// The flow's graph and settings, as static data for the runtime's scheduler.
        static FLOW: rt::Flow = rt::Flow {
            id: #id,
            name: #name,
            description: #description,
            nodes: &[#(#node_entries),*],
            edges: &[#(#edges),*],
            credentials: &[#(#credentials),*],
            input_schema: #input_schema,
            outputs_schema: Some(#outputs_schema),
            max_concurrency: #max_concurrency,
            retry: #flow_retry,
            timeout_ms: #timeout_ms,
            jq_filters: JQ_FILTERS,
            mcp_servers: &[#(&#mcp_idents),*],
            rate_limits: &[#(#rate_limits),*],
            circuit_breakers: &[#(#circuit_breakers),*],
            http: #http,
        };

        #(#mcp_statics)*

        #nodes_mod
    })
}

/// The functions of the nodes in `run` (in emission order), each after its jq filters,
/// formatted; and the names of those filters.
fn node_functions(ir: &Ir, scopes: &[EmitScope<'_>], run: &[(usize, usize)]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut filter_names = Vec::new();
    for &at in run {
        let cx = EmitCx::new(ir, scopes, at);
        let node = cx.node;
        let code = nodes::emit(&cx, &node.config);
        let mut items = Vec::new();
        for (ident, text) in &code.filters {
            filter_names.push(ident.to_string());
            let doc = format!(" The jq filter of node `{}`.", node.id);
            items.push(quote! {
                #[doc = #doc]
                static #ident: rt::jq::Filter = rt::jq::Filter::new(#text);
            });
        }
        let name = fn_ident(node);
        let label = node.label.as_deref().map(|l| format!(" ({l:?})")).unwrap_or_default();
        let doc = format!(
            " Node `{}`{label}: `{}`, at `{}` in the flow document.",
            node.id,
            node.kind.as_str(),
            node.pointer
        );
        let summary = format!(" {}", node.kind.summary());
        let body = code.body;
        let param = if uses_ident(&body, "cx") {
            quote! { cx }
        } else {
            quote! { _cx }
        };
        items.push(quote! {
            #[doc = #doc]
            #[doc = ""]
            #[doc = #summary]
            async fn #name(#param: rt::Cx) -> rt::NodeResult {
                #body
            }
        });
        items.extend(code.items);
        // One node at a time: memory stays bounded by the largest node, not the flow.
        if !out.is_empty() {
            out.push('\n');
        }
        let mut formatted = format_tokens(quote! { #(#items)* });
        if let Some(source) = code.verbatim {
            // A whole line of its own: no string literal can hold a line break.
            let marker = format!("\n    {}\n", nodes::code::VERBATIM_MARKER);
            formatted = formatted.replacen(&marker, &format!("\n{source}"), 1);
        }
        out.push_str(&formatted);
    }
    (out, filter_names)
}

/// Parses tokens as a file and prints them with prettyplease.
fn format_tokens(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens) {
        Ok(file) => format_spaced(file),
        // Emitters build tokens from checked input; a parse failure is a bug in an emitter,
        // and this keeps the generated project from compiling.
        Err(error) => format!("compile_error!({:?});\n", error.to_string()),
    }
}

/// prettyplease puts items right under each other; a blank line between top-level items
/// reads better. Each item is formatted on its own and the results joined.
fn format_spaced(file: syn::File) -> String {
    let syn::File { shebang, attrs, items } = file;
    let mut out = String::new();
    if !attrs.is_empty() {
        out.push_str(&prettyplease::unparse(&syn::File { shebang, attrs, items: Vec::new() }));
    }
    for item in items {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&prettyplease::unparse(&syn::File { shebang: None, attrs: Vec::new(), items: vec![item] }));
    }
    out
}
