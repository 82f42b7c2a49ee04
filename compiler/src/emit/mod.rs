//! From the IR to `src/main.rs`: one `async fn` per node (its body from the node kind's
//! emitter), the static graph the runtime's scheduler runs, and `main`. Everything from the
//! document reaches the output as a literal token (`quote!` of a `&str`), never as text
//! pasted into code, so nothing in a flow can inject code — except a `code` node, whose
//! whole purpose is to hold Rust.

use std::collections::BTreeSet;

use proc_macro2::{Ident, Literal, TokenStream, TokenTree};
use quote::{format_ident, quote};
use serde_json::Value;

use crate::check::reader::Json;
use crate::ir::{FlowId, Handle, Ir, IrNode, NodeRef, Root};
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

/// An internal error: code flowc could not generate for a document its checker accepted. It is
/// a bug in flowc, reported as a diagnostic rather than as code that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error while generating {}: {message}", .node.as_ref().map_or_else(|| "the program".to_owned(), |(id, _)| format!("the code of node `{id}`")))]
pub struct EmitError {
    /// The node, by id and pointer, when one is concerned.
    pub node: Option<(String, String)>,
    pub message: String,
}

impl EmitError {
    /// The error as a diagnostic of the document, at the node concerned.
    pub fn into_diagnostics(self, file: &str, text: &str) -> crate::diag::Diagnostics {
        let pointer = self.node.as_ref().map_or(String::new(), |(_, pointer)| pointer.clone());
        let d = crate::diag::Diagnostic::new(crate::diag::Code::E002, pointer, self.to_string())
            .help("this is a bug in flowc: please report it with this flow document");
        crate::diag::Diagnostics::new(file, text, None, vec![d])
    }
}

/// Every node of the program in emission order: each nested flow's nodes right after the node
/// that holds it.
pub fn order(ir: &Ir) -> Vec<NodeRef> {
    fn walk(ir: &Ir, flow: FlowId, order: &mut Vec<NodeRef>) {
        for (index, node) in ir.flows[flow].nodes.iter().enumerate() {
            order.push(NodeRef { flow, index });
            if let Some(nested) = node.nested {
                walk(ir, nested, order);
            }
        }
    }
    let mut order = Vec::new();
    walk(ir, Ir::TOP, &mut order);
    order
}

/// The hosted services the program calls at their default roots (which their environment
/// variables may move), in `flowc_core::services::ALL`'s order.
pub fn services(ir: &Ir) -> Vec<&'static flowc_core::services::Service> {
    // The flow modules' nodes call from the same program.
    let irs = std::iter::once(ir).chain(ir.flow_modules.iter().map(|m| &*m.ir));
    let used: Vec<_> = irs
        .flat_map(|ir| order(ir).into_iter().map(move |at| (ir, at)))
        .flat_map(|(ir, at)| EmitCx::new(ir, at).node.config.needs(&EmitCx::new(ir, at)))
        .filter_map(|need| match need {
            nodes::Need::Host(nodes::HostOrigin::Default(service)) => Some(service),
            _ => None,
        })
        .collect();
    flowc_core::services::ALL.iter().copied().filter(|s| used.iter().any(|u| u == s)).collect()
}

/// What an emitter can ask about the flow.
pub struct EmitCx<'a> {
    pub ir: &'a Ir,
    pub node: &'a IrNode,
    /// Where the node is.
    pub at: NodeRef,
    /// Roots that templates may read besides nodes, and the expression (a `&Value`) each
    /// reads: an agent tool's `args`.
    pub locals: Vec<(&'static str, TokenStream)>,
}

impl<'a> EmitCx<'a> {
    pub fn new(ir: &'a Ir, at: NodeRef) -> EmitCx<'a> {
        EmitCx { ir, node: ir.node(at), at, locals: Vec::new() }
    }

    /// The same node, with one more root templates may read.
    pub fn with_local(&self, root: &'static str, expr: TokenStream) -> EmitCx<'a> {
        let mut locals = self.locals.clone();
        locals.push((root, expr));
        EmitCx { ir: self.ir, node: self.node, at: self.at, locals }
    }

    /// An internal error about this node.
    pub fn error(&self, message: impl Into<String>) -> EmitError {
        EmitError { node: Some((self.node.id.clone(), self.node.pointer.clone())), message: message.into() }
    }

    /// The data a path reads, and its steps.
    fn path_parts(&self, path: &Path) -> Result<(TokenStream, TokenStream), EmitError> {
        let segs = segs(&path.segs);
        if let Some((_, expr)) = self.locals.iter().find(|(root, _)| *root == path.root) {
            return Ok((expr.clone(), segs));
        }
        // Lowering resolved every root the checker accepted.
        let data = match self.ir.flows[self.at.flow].roots.get(&path.root) {
            Some(Root::Item) => quote! { cx.item() },
            Some(Root::Index) => quote! { cx.index() },
            Some(Root::Params) => quote! { cx.params() },
            Some(Root::Node { levels: 0, node }) => {
                let node = index_path(self.ir, *node);
                quote! { cx.data(#node) }
            }
            Some(Root::Node { levels, node }) => {
                let node = index_path(self.ir, *node);
                let levels = Literal::usize_unsuffixed(*levels);
                quote! { cx.outer(#levels).data(#node) }
            }
            None => return Err(self.error(format!("`{}` names nothing the node can read", path.root))),
        };
        Ok((data, segs))
    }

    /// An expression of type `Value`: what the template yields.
    pub fn value(&self, template: &Template) -> Result<TokenStream, EmitError> {
        Ok(match template {
            Template::Literal(text) => quote! { rt::serde_json::Value::from(#text) },
            Template::Value(path) if path.segs.is_empty() => {
                let (data, _) = self.path_parts(path)?;
                quote! { #data.clone() }
            }
            Template::Value(path) => {
                let (data, segs) = self.path_parts(path)?;
                quote! { rt::read(#data, #segs) }
            }
            Template::Mixed(_) => {
                let string = self.string(template)?;
                quote! { rt::serde_json::Value::String(#string) }
            }
        })
    }

    /// An expression of type `String`: the template rendered as text.
    pub fn string(&self, template: &Template) -> Result<TokenStream, EmitError> {
        render_string(template, |path| self.read_part(path))
    }

    fn read_part(&self, path: &Path) -> Result<TokenStream, EmitError> {
        let (data, segs) = self.path_parts(path)?;
        Ok(quote! { rt::Part::Read(#data, #segs) })
    }

    /// An expression of type `Value` for JSON whose strings may hold templates.
    pub fn json(&self, json: &Json) -> Result<TokenStream, EmitError> {
        Ok(match json {
            Json::Null => quote! { rt::serde_json::Value::Null },
            Json::Bool(b) => quote! { rt::serde_json::Value::Bool(#b) },
            Json::Number(n) => number(n),
            Json::String(t) => self.value(t)?,
            Json::Array(items) => {
                let items = items.iter().map(|item| self.json(item)).collect::<Result<Vec<_>, _>>()?;
                quote! { rt::array([#(#items),*]) }
            }
            Json::Object(members) => {
                let members = members
                    .iter()
                    .map(|(k, v)| {
                        let v = self.json(v)?;
                        Ok(quote! { (#k, #v) })
                    })
                    .collect::<Result<Vec<_>, EmitError>>()?;
                quote! { rt::object([#(#members),*]) }
            }
        })
    }

    /// `(name, expression)` pairs of templates rendered as text: `Vec<(&str, String)>`.
    pub fn string_pairs(&self, list: &[(String, Template)]) -> Result<TokenStream, EmitError> {
        let items = list
            .iter()
            .map(|(k, v)| {
                let v = self.string(v)?;
                Ok(quote! { (#k, #v) })
            })
            .collect::<Result<Vec<_>, EmitError>>()?;
        if items.is_empty() {
            return Ok(quote! { Vec::new() });
        }
        Ok(quote! { Vec::from([#(#items),*]) })
    }

    /// An integration's API root: the configured `base_url`, or the service's default (a
    /// runtime constant).
    /// A service's API root: the node's `base_url`, else the service's root at run time (its
    /// default, or what its environment variable says).
    pub fn base_url(
        &self,
        base_url: &Option<Template>,
        default: &'static flowc_core::services::Service,
    ) -> Result<TokenStream, EmitError> {
        match base_url {
            Some(url) => self.string(url),
            None => {
                let service = format_ident!("{}", default.constant);
                Ok(quote! { rt::services::#service.root() })
            }
        }
    }

    /// An integration's bearer token: the node's credential, resolved at run time, or none.
    pub fn api_key(&self, credential: &Option<String>) -> TokenStream {
        match credential {
            Some(name) => quote! { Some(cx.credential(#name).await?) },
            None => quote! { None },
        }
    }

    /// The flow's entry for an MCP server (see `nodes::mcp_tool::server_static`).
    pub fn mcp_server(&self, server: &nodes::mcp_tool::Server) -> Result<&'a crate::ir::McpServerUse, EmitError> {
        self.ir
            .mcp_servers
            .iter()
            .find(|s| &s.server == server)
            .ok_or_else(|| self.error("its MCP server is not among the flow's"))
    }

    /// The name of the static of this node's nested flow.
    pub fn nested_flow_ident(&self) -> Ident {
        format_ident!("MAP_{}", self.node.name.to_uppercase())
    }

    /// The flow this node holds.
    fn nested_id(&self) -> Result<FlowId, EmitError> {
        self.node.nested.ok_or_else(|| self.error("the node has no nested flow"))
    }

    /// The contexts of the nodes of this node's nested flow.
    pub fn nested(&self) -> Result<Vec<EmitCx<'a>>, EmitError> {
        let flow = self.nested_id()?;
        Ok((0..self.ir.flows[flow].nodes.len()).map(|index| EmitCx::new(self.ir, NodeRef { flow, index })).collect())
    }

    /// The `rt::MapFlow { ... }` of this node's nested flow: its nodes, edges and concurrency.
    pub fn nested_flow(&self, concurrency: u64) -> Result<TokenStream, EmitError> {
        let entries = self.nested()?.iter().map(node_entry).collect::<Result<Vec<_>, _>>()?;
        let edges = edge_entries(self.ir, self.nested_id()?);
        let concurrency = Literal::usize_unsuffixed(concurrency as usize);
        Ok(quote! {
            rt::MapFlow {
                nodes: &[#(#entries),*],
                edges: &[#(#edges),*],
                concurrency: #concurrency,
            }
        })
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

/// The static of an OAuth2 credential and the function that renders its token URL.
fn oauth2_static(name: &str, rust: &str, oauth2: &crate::model::OAuth2) -> Result<TokenStream, EmitError> {
    let ident = format_ident!("OAUTH2_{}", rust.to_uppercase());
    let url_fn = format_ident!("oauth2_{}_token_url", rust);
    let source = |s: &CredentialSource| match s {
        CredentialSource::Env(var) => Ok(quote! { rt::credentials::Source::Env(#var) }),
        CredentialSource::File(path) => Ok(quote! { rt::credentials::Source::File(#path) }),
        // The checker lets only `env` and `file` in as an OAuth2 credential's secrets.
        CredentialSource::OAuth2(_) => {
            Err(EmitError { node: None, message: format!("credential `{name}` has an OAuth2 credential as a secret") })
        }
    };
    let optional = |s: &Option<CredentialSource>| match s {
        Some(s) => source(s).map(|s| quote! { Some(#s) }),
        None => Ok(quote! { None }),
    };
    let grant = match oauth2.grant.as_str() {
        "refresh_token" => quote! { rt::oauth2::Grant::RefreshToken },
        _ => quote! { rt::oauth2::Grant::ClientCredentials },
    };
    let client_auth = match oauth2.client_auth.as_str() {
        "body" => quote! { rt::oauth2::ClientAuth::Body },
        _ => quote! { rt::oauth2::ClientAuth::Basic },
    };
    let client_id = source(&oauth2.client_id)?;
    let client_secret = optional(&oauth2.client_secret)?;
    let refresh_token = optional(&oauth2.refresh_token)?;
    let scopes = &oauth2.scopes;
    let audience = match &oauth2.audience {
        Some(audience) => quote! { Some(#audience) },
        None => quote! { None },
    };
    let url = render_string(&oauth2.token_url, |path| {
        let segs = segs(&path.segs);
        Ok(quote! { rt::Part::Read(rt::params::values(), #segs) })
    })?;
    // The name is any string of the document: one line, no hazard raw, in the doc comments.
    let shown = crate::escape::one_line(name);
    let doc = format!(" The OAuth2 credential `{shown}`: an access token from its token endpoint.");
    let url_doc = format!(" The token endpoint of credential `{shown}`.");
    Ok(quote! {
        #[doc = #doc]
        static #ident: rt::oauth2::OAuth2 = rt::oauth2::OAuth2 {
            grant: #grant,
            token_url: #url_fn,
            client_id: #client_id,
            client_secret: #client_secret,
            refresh_token: #refresh_token,
            scopes: &[#(#scopes),*],
            audience: #audience,
            client_auth: #client_auth,
        };

        #[doc = #url_doc]
        fn #url_fn() -> String {
            #url
        }
    })
}

/// An expression of type `String` for a template, each path read as `read` says.
pub fn render_string(
    template: &Template,
    read: impl Fn(&Path) -> Result<TokenStream, EmitError>,
) -> Result<TokenStream, EmitError> {
    let parts: Vec<TokenStream> = match template {
        Template::Literal(text) => return Ok(quote! { #text.to_owned() }),
        Template::Value(path) => vec![read(path)?],
        Template::Mixed(parts) => parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => Ok(quote! { rt::Part::Text(#text) }),
                Part::Path(path) => read(path),
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(quote! { rt::render(&[#(#parts),*]) })
}

/// `&[rt::Seg::Key("a"), rt::Seg::Index(0)]`: the steps of a path after its root.
pub fn segs(segs: &[Seg]) -> TokenStream {
    let segs = segs.iter().map(|seg| match seg {
        Seg::Key(key) => quote! { rt::Seg::Key(#key) },
        Seg::Index(i) => {
            let i = Literal::usize_unsuffixed(*i);
            quote! { rt::Seg::Index(#i) }
        }
    });
    quote! { &[#(#segs),*] }
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
            quote! { rt::array([#(#items),*]) }
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
fn index_path(ir: &Ir, at: NodeRef) -> TokenStream {
    let name = const_ident(ir.node(at));
    let module = ir.flows[at.flow].module.iter().map(|m| format_ident!("{m}"));
    quote! { nodes::#(#module::)*#name }
}

fn const_ident(node: &IrNode) -> Ident {
    format_ident!("{}", node.local.to_uppercase())
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
pub fn main_rs(ir: &Ir) -> Result<String, EmitError> {
    source(ir, File::Program)
}

/// The whole `src/<module>.rs` of a flow module (an agent's flow tool), formatted, with its
/// header: the flow's table as `pub static FLOW`, its nodes' functions, its jq filters.
pub fn module_rs(module: &crate::ir::FlowModule) -> Result<String, EmitError> {
    source(&module.ir, File::Module(module))
}

/// Which file of the program a flow becomes.
#[derive(Clone, Copy)]
enum File<'a> {
    /// `main.rs`: the program, with `main`, its allocator and the flow modules.
    Program,
    /// A flow module.
    Module(&'a crate::ir::FlowModule),
}

fn source(ir: &Ir, part: File<'_>) -> Result<String, EmitError> {
    let order = order(ir);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let threads = if order.len() < 200 { 1 } else { threads };
    let run = order.len().div_ceil(threads).max(1);
    let runs: Vec<&[NodeRef]> = order.chunks(run).collect();
    type Run = Result<(String, Vec<String>), EmitError>;
    let (head, runs): (Result<String, EmitError>, Vec<Run>) = if threads == 1 {
        let runs = runs.into_iter().map(|run| node_functions(ir, run)).collect();
        (head(ir, part), runs)
    } else {
        std::thread::scope(|scope| {
            let head = scope.spawn(|| head(ir, part));
            let runs: Vec<_> = runs.into_iter().map(|run| scope.spawn(move || node_functions(ir, run))).collect();
            let runs = runs.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect();
            (head.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), runs)
        })
    };
    let from = match part {
        File::Program => ir.id.clone(),
        File::Module(module) => format!("{} ({})", ir.id, crate::escape::one_line(&module.path)),
    };
    let mut out =
        format!("// @generated by flowc {} from {from}. Do not edit.\n\n{}", env!("CARGO_PKG_VERSION"), head?);
    let mut filters = Vec::new();
    for run in runs {
        let (text, names) = run?;
        out.push('\n');
        out.push_str(&text);
        filters.extend(names.into_iter().map(|name| format_ident!("{name}")));
    }
    let doc = match part {
        File::Program => " Every jq filter of the flow, compiled when the program starts.",
        File::Module(_) => " Every jq filter of the flow, compiled when an agent first calls it.",
    };
    let tail = quote! {
        #[doc = #doc]
        static JQ_FILTERS: &[&rt::jq::Filter] = &[#(&#filters),*];
    };
    out.push('\n');
    out.push_str(&format_tokens(tail).map_err(|message| EmitError { node: None, message })?);
    Ok(out)
}

/// A node's entry in its flow's static table: `rt::Node::new(...)` with what differs from
/// the format's defaults.
fn node_entry(cx: &EmitCx<'_>) -> Result<TokenStream, EmitError> {
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
    if let Some(name) = node.config.output_name() {
        entry = quote! { #entry.output(#name) };
    }
    let needs = needs(cx)?.iter().map(need).collect::<Result<Vec<_>, _>>().map_err(|m| cx.error(m))?;
    if !needs.is_empty() {
        entry = quote! { #entry.needs(&[#(#needs),*]) };
    }
    if let Some(trigger) = node.config.trigger_entry(cx) {
        entry = quote! { #entry.trigger(#trigger) };
    }
    Ok(entry)
}

/// What a node depends on, each once: its credential, what its kind says, and what the nodes
/// of its nested flow need.
fn needs(cx: &EmitCx<'_>) -> Result<Vec<nodes::Need>, EmitError> {
    let mut needs = Vec::new();
    if let Some(name) = &cx.node.credential {
        needs.push(nodes::Need::Credential(name.clone()));
    }
    needs.extend(cx.node.config.needs(cx));
    if cx.node.nested.is_some() {
        for inner in cx.nested()? {
            needs.extend(self::needs(&inner)?);
        }
    }
    let mut distinct: Vec<nodes::Need> = Vec::with_capacity(needs.len());
    for need in needs {
        if !distinct.contains(&need) {
            distinct.push(need);
        }
    }
    Ok(distinct)
}

/// A need as an `rt::health::Need` expression.
fn need(need: &nodes::Need) -> Result<TokenStream, String> {
    Ok(match need {
        nodes::Need::Credential(name) => quote! { rt::health::Need::Credential(#name) },
        nodes::Need::Host(nodes::HostOrigin::Literal(origin)) => quote! { rt::health::Need::Host(#origin) },
        nodes::Need::Host(nodes::HostOrigin::Default(service)) => {
            let service = format_ident!("{}", service.constant);
            quote! { rt::health::Need::Service(&rt::services::#service) }
        }
        nodes::Need::Environment(path) => {
            let path: TokenStream = path.parse().map_err(|_| format!("`{path}` is not a path"))?;
            quote! { rt::health::Need::Environment(&#path) }
        }
        nodes::Need::McpTool { server, tool } => {
            let server = format_ident!("{server}");
            quote! { rt::health::Need::McpTool(&#server, #tool) }
        }
        nodes::Need::Flow(module) => {
            let module = format_ident!("{module}");
            quote! { rt::health::Need::Flow(&crate::#module::FLOW) }
        }
    })
}

/// The entries of a flow's `edges` table.
fn edge_entries(ir: &Ir, flow: FlowId) -> Vec<TokenStream> {
    ir.flows[flow]
        .edges
        .iter()
        .map(|edge| {
            let source = index_path(ir, NodeRef { flow, index: edge.source });
            let target = index_path(ir, NodeRef { flow, index: edge.target });
            match &edge.handle {
                Handle::Success => quote! { rt::Edge::new(#source, #target) },
                Handle::Error => quote! { rt::Edge::error(#source, #target) },
                Handle::Route(route) => quote! { rt::Edge::route(#source, #target, #route) },
            }
        })
        .collect()
}

/// The index constants of flow `flow` and, as modules inside, of its nodes' nested flows.
/// Every node a template reads is upstream of its reader, so it has an outgoing edge: the
/// nodes that edges name are all the index constants the code uses.
fn index_consts(ir: &Ir, flow: FlowId) -> Vec<TokenStream> {
    let here = &ir.flows[flow];
    let referenced: BTreeSet<usize> = here.edges.iter().flat_map(|e| [e.source, e.target]).collect();
    let mut items: Vec<TokenStream> = referenced
        .iter()
        .map(|&i| {
            let node = &here.nodes[i];
            let name = const_ident(node);
            let i = Literal::usize_unsuffixed(i);
            let doc = format!(" Node `{}`.", node.id);
            quote! {
                #[doc = #doc]
                pub const #name: usize = #i;
            }
        })
        .collect();
    for holder in &here.nodes {
        let Some(nested) = holder.nested else { continue };
        let inner = index_consts(ir, nested);
        if inner.is_empty() {
            continue;
        }
        let module = ir.flows[nested].module.last().map(|m| format_ident!("{m}"));
        let doc = format!(
            " The nodes of map `{}`'s nested flow: each one's index in `MAP_{}.nodes`.",
            holder.id,
            holder.name.to_uppercase()
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
fn head(ir: &Ir, part: File<'_>) -> Result<String, EmitError> {
    let node_entries = (0..ir.nodes().len())
        .map(|index| node_entry(&EmitCx::new(ir, NodeRef { flow: Ir::TOP, index })))
        .collect::<Result<Vec<_>, _>>()?;
    let edges = edge_entries(ir, Ir::TOP);

    let mut oauth2_statics = Vec::new();
    // Snake-case names, unique, for each OAuth2 credential's static and function.
    let mut oauth2_names = crate::ident::Names::default();
    let mut credentials = Vec::new();
    for c in &ir.credentials {
        let name = &c.name;
        let source = match &c.source {
            CredentialSource::Env(var) => quote! { rt::CredentialSource::Env(#var) },
            CredentialSource::File(path) => quote! { rt::CredentialSource::File(#path) },
            CredentialSource::OAuth2(oauth2) => {
                let unique = oauth2_names.allocate(name);
                let ident = format_ident!("OAUTH2_{}", unique.to_uppercase());
                oauth2_statics.push(oauth2_static(name, &unique, oauth2)?);
                quote! { rt::CredentialSource::OAuth2(&#ident) }
            }
        };
        credentials.push(quote! { rt::Credential { name: #name, source: #source } });
    }
    let parameters = ir.parameters.iter().map(|p| {
        let (name, env, allowed) = (&p.name, &p.env, &p.allowed);
        let default = match &p.default {
            Some(value) => quote! { Some(#value) },
            None => quote! { None },
        };
        quote! { rt::params::Parameter { name: #name, env: #env, default: #default, allowed: &[#(#allowed),*] } }
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

    let index_consts = index_consts(ir, Ir::TOP);
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
    let mcp_statics = ir.mcp_servers.iter().map(nodes::mcp_tool::server_static).collect::<Result<Vec<_>, _>>()?;
    let mut title = ir.name.clone();
    if !ir.description.is_empty() {
        title = format!("{title}: {}", ir.description);
    }
    // One doc line per line of text, so that every line renders as `//!`; no hazard raw (a
    // bidirectional control is an error in a comment, a bare CR in a doc comment).
    let title_lines: Vec<String> = crate::escape::lines(&title).into_iter().map(|line| format!(" {line}")).collect();
    let program = match part {
        File::Program => {
            let usage = format!(
                " Compiled by flowc from the flow `{}`. Run it with `{} run --input-json '{{...}}'`;",
                ir.id, ir.id
            );
            let modules = ir.flow_modules.iter().map(|module| {
                let doc = format!(
                    " The flow `{}` of {}, which agents call as a tool.",
                    module.ir.id,
                    crate::escape::markdown_code(&module.path)
                );
                let name = format_ident!("{}", module.module);
                quote! {
                    #[doc = #doc]
                    mod #name;
                }
            });
            quote! {
                #![doc = #usage]
                #![doc = " `describe` lists its nodes, input schema and credentials."]

                use ::flowc_runtime as rt;

                /// The runtime's allocator (mimalloc): runs allocate many small, short-lived values.
                #[global_allocator]
                static ALLOCATOR: rt::Allocator = rt::Allocator;

                fn main() -> ::std::process::ExitCode {
                    rt::main(&FLOW)
                }

                #(#modules)*
            }
        }
        File::Module(module) => {
            let usage = format!(
                " Compiled by flowc from the flow `{}` of {}, as a tool: agents run it with its input as the tool's arguments.",
                ir.id,
                crate::escape::markdown_code(&module.path)
            );
            quote! {
                #![doc = #usage]

                use ::flowc_runtime as rt;
            }
        }
    };
    let visibility = match part {
        File::Program => quote! {},
        File::Module(_) => quote! { pub },
    };
    let head = quote! {
        #(#![doc = #title_lines])*
        #![doc = ""]
        #program

        /// The flow's graph and settings, as static data for the runtime's scheduler.
        #visibility static FLOW: rt::Flow = rt::Flow {
            id: #id,
            name: #name,
            description: #description,
            nodes: &[#(#node_entries),*],
            edges: &[#(#edges),*],
            credentials: &[#(#credentials),*],
            parameters: &[#(#parameters),*],
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

        #(#oauth2_statics)*

        #nodes_mod
    };
    format_tokens(head).map_err(|message| EmitError { node: None, message })
}

/// The functions of the nodes in `run` (in emission order), each after its jq filters,
/// formatted; and the names of those filters.
fn node_functions(ir: &Ir, run: &[NodeRef]) -> Result<(String, Vec<String>), EmitError> {
    let mut out = String::new();
    let mut filter_names = Vec::new();
    for &at in run {
        let cx = EmitCx::new(ir, at);
        let node = cx.node;
        let code = node.config.emit(&cx)?;
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
        let doc = function_doc(ir, node);
        let body = code.body;
        let param = if uses_ident(&body, "cx") {
            quote! { cx }
        } else {
            quote! { _cx }
        };
        items.push(quote! {
            #(#[doc = #doc])*
            async fn #name(#param: rt::Cx) -> rt::NodeResult {
                #body
            }
        });
        items.extend(code.items);
        // One node at a time: memory stays bounded by the largest node, not the flow.
        if !out.is_empty() {
            out.push('\n');
        }
        let mut formatted = format_tokens(quote! { #(#items)* }).map_err(|message| cx.error(message))?;
        if let Some(source) = code.verbatim {
            // A whole line of its own: no string literal can hold a line break.
            let marker = format!("\n    {}\n", nodes::code::VERBATIM_MARKER);
            formatted = formatted.replacen(&marker, &format!("\n{source}"), 1);
        }
        out.push_str(&formatted);
    }
    Ok((out, filter_names))
}

/// The doc comment of a node's function, a line per element: where the node is, what it does
/// with its config, and how it is retried. Every line is inert text (see `escape::one_line`).
fn function_doc(ir: &Ir, node: &IrNode) -> Vec<String> {
    let label = node.label.as_deref().map(|l| format!(" ({})", crate::escape::markdown_code(l))).unwrap_or_default();
    let mut lines = vec![format!(
        "Node `{}`{label}: `{}`, at `{}` in the flow document.",
        node.id,
        node.kind.as_str(),
        node.pointer
    )];
    lines.push(String::new());
    lines.extend(node.config.describe());
    let mut run = Vec::new();
    // The flow's own policy is `FLOW.retry`; only a node's own is spelt out here.
    match &node.retry {
        Some(policy) if policy == &ir.settings.retry => {}
        Some(policy) if policy.max_attempts > 1 => {
            let on = if policy.retry_on.is_empty() {
                "no error kind".to_owned()
            } else {
                policy.retry_on.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            };
            run.push(format!(
                "Up to {} attempts on {on}, waiting {} ms at first, ×{} each time, at most {} ms.",
                policy.max_attempts, policy.initial_delay_ms, policy.backoff_rate, policy.max_delay_ms
            ));
        }
        _ if node.nested.is_some() => {}
        _ => run.push("One attempt.".to_owned()),
    }
    if let Some(ms) = node.timeout_ms {
        run.push(format!("Each attempt times out after {ms} ms."));
    }
    if let Some(ms) = node.deadline_ms {
        run.push(format!("All attempts end within {ms} ms."));
    }
    match &node.on_error {
        OnError::Fail => {}
        OnError::Continue => run.push("When it fails, the flow goes on (`on_error: continue`).".to_owned()),
        OnError::Fallback(_) => run.push("When it fails, it yields its `fallback` value.".to_owned()),
    }
    if !run.is_empty() {
        lines.push(String::new());
        lines.push(run.join(" "));
    }
    let mut doc = Vec::new();
    for line in lines {
        if line.is_empty() {
            doc.push(String::new());
        } else {
            doc.extend(crate::escape::lines(&line).into_iter().map(|l| format!(" {l}")));
        }
    }
    doc
}

/// Parses tokens as a file and prints them with prettyplease. Emitters build tokens from
/// checked input, so a parse failure is a bug in an emitter: an internal error.
pub(crate) fn format_tokens(tokens: TokenStream) -> Result<String, String> {
    match syn::parse2::<syn::File>(tokens) {
        Ok(file) => Ok(format_spaced(file)),
        Err(error) => Err(format!("the generated code does not parse: {error}")),
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
