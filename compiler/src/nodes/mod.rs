//! The node kinds. A kind is one file and one line of [`kinds!`] below: the file defines the
//! kind's config fields and check ([`Kind`]) and, for a checked config, its output type, its
//! code and what it needs ([`NodeConfig`]). Nothing outside a kind's file matches on kinds:
//! the rest of the compiler asks these two traits.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use proc_macro2::TokenStream;
use serde_json::Value;

use crate::check::reader::{Field, Json, Reader, Sink};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::model;
use crate::template::Template;
use crate::types::Type;

/// Declares the kinds: each `module::Type` is a file of this directory and the unit struct in
/// it that implements [`Kind`]. Their order is the order `flowc schema` and messages list them.
macro_rules! kinds {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every node kind this version compiles.
        pub static KINDS: &[&dyn Kind] = &[$(&$module::$kind),*];
    };
}

pub mod flow_tool;

kinds! {
    input::Input,
    output::Output,
    http_request::HttpRequest,
    transform::Transform,
    branch::Branch,
    switch::Switch,
    merge::Merge,
    delay::Delay,
    code::CodeKind,
    llm::Llm,
    agent::AgentKind,
    classify::ClassifyKind,
    firecrawl_scrape::FirecrawlScrape,
    web_search::WebSearch,
    knowledge_base::KnowledgeBase,
    huggingface_inference::HuggingfaceInference,
    apify_actor::ApifyActor,
    mcp_tool::McpTool,
    map::Map,
    webhook::Webhook,
    schedule::Schedule,
}

/// What a kind is, before any node's config is read.
pub trait Kind: Sync {
    /// Its name, the `type` of its nodes in the document.
    fn name(&self) -> &'static str;
    /// One sentence on what its nodes do (`flowc schema`).
    fn summary(&self) -> &'static str;
    /// The fields of its nodes' `config`.
    fn fields(&self) -> &'static [Field];
    /// Its part in a flow, which the graph and trigger checks ask.
    fn role(&self) -> Role {
        Role::Step
    }
    /// The handles its outgoing edges may name besides `error`, read from the raw config (the
    /// graph is checked before configs are).
    fn handles(&self, _config: &Value) -> Vec<String> {
        Vec::new()
    }
    /// For a kind with a nested flow: the type of the item its nested nodes read, from the raw
    /// config and the types of the nodes the node may read. `None`: no nested flow.
    fn nested_item(&self, _config: &Value, _known: &HashMap<String, Type>) -> Option<Type> {
        None
    }
    /// Phase 3: reads a node's config (reporting what is wrong with it).
    fn check(&self, cx: &mut CheckCx<'_>) -> Option<Config>;
}

/// A kind's part in a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Runs when its upstream nodes have.
    Step,
    /// Yields the run's input: at most one per flow, never in a nested flow.
    Input,
    /// Names a value of the run result's `outputs`.
    Output,
    /// Starts the flow (`serve`): at most one, in the document's own flow, with no edge in.
    Trigger,
}

/// What starts a flow, as deployment sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    /// An HTTP request.
    Webhook,
    /// A cron schedule, in an IANA time zone.
    Schedule { cron: &'a str, timezone: &'a str },
}

/// What a node depends on, for `<bin> health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A credential, by name.
    Credential(String),
    /// A service, by origin (an expression of type `&'static str`: a literal or a runtime
    /// constant).
    Host(HostOrigin),
    /// A tool of an MCP server: the server's static, and the tool's name.
    McpTool { server: String, tool: String },
    /// A setting the node reads from the environment, checked at start-up: the path of its
    /// `rt::health::Environment` static.
    Environment(&'static str),
    /// Everything the nodes of a flow module need (an agent's flow tool): the module's name.
    Flow(String),
}

/// Where a service is, when known before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostOrigin {
    /// `scheme://host[:port]`, from the document.
    Literal(String),
    /// A hosted service at its root: the default, or what its environment variable says.
    Default(&'static flowc_core::services::Service),
}

/// A node's config, checked: what the rest of the compiler knows of a node beyond its kind.
pub trait NodeConfig: Debug + Send + Sync {
    /// The type of the node's output `data` when it succeeds (a failed node's fallback is
    /// added by the caller).
    fn output_type(&self, cx: &TypeCx<'_>) -> Type;
    /// The body of the node's `async fn`, and the items beside it.
    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError>;
    /// What the node does with its config, in a few lines of its function's doc comment
    /// (its method and URL, its filter, ...). Document text in them is escaped by the caller.
    fn describe(&self) -> Vec<String>;
    /// Its jq filters: the config field each is in, and its text.
    fn filters(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
    /// What it depends on besides the node's own credential (added by the caller) and its
    /// nested flow's needs.
    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<Need> {
        Vec::new()
    }
    /// For a trigger: what starts the flow.
    fn trigger(&self) -> Option<Trigger<'_>> {
        None
    }
    /// For a trigger: the `rt::Trigger` expression of the node's entry in the flow table.
    fn trigger_entry(&self, _cx: &EmitCx<'_>) -> Option<TokenStream> {
        None
    }
    /// For an output node: the key it writes in `outputs`.
    fn output_name(&self) -> Option<&str> {
        None
    }
    /// For an input node: the schema the run's input must match.
    fn input_schema(&self) -> Option<&Value> {
        None
    }
    /// The MCP servers the node calls.
    fn mcp_servers(&self) -> Vec<&mcp_tool::Server> {
        Vec::new()
    }
    /// The other flow documents the node calls (an agent's flow tools).
    fn flow_modules(&self) -> Vec<&std::sync::Arc<crate::ir::FlowModule>> {
        Vec::new()
    }
}

/// A node's config, checked and typed.
pub type Config = Arc<dyn NodeConfig>;

/// Wraps a kind's checked config.
pub fn config(config: impl NodeConfig + 'static) -> Config {
    Arc::new(config)
}

/// A node kind, as the document names it.
#[derive(Clone, Copy)]
pub struct NodeKind(&'static dyn Kind);

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        self.0.name()
    }

    /// The kind named `name`, if this version compiles it.
    pub fn parse(name: &str) -> Option<NodeKind> {
        KINDS.iter().find(|k| k.name() == name).map(|k| NodeKind(*k))
    }

    /// Every kind's name, in registry order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        KINDS.iter().map(|k| k.name())
    }

    /// Every kind, in registry order.
    pub fn all() -> impl Iterator<Item = NodeKind> {
        KINDS.iter().map(|k| NodeKind(*k))
    }

    pub fn fields(self) -> &'static [Field] {
        self.0.fields()
    }

    pub fn summary(self) -> &'static str {
        self.0.summary()
    }

    pub fn role(self) -> Role {
        self.0.role()
    }

    pub fn kind(self) -> &'static dyn Kind {
        self.0
    }
}

impl PartialEq for NodeKind {
    fn eq(&self, other: &NodeKind) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for NodeKind {}

impl Debug for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_str())
    }
}

/// What a node's output type is computed from: the types of what it reads.
pub struct TypeCx<'a> {
    /// The node's input (§9.1): `null` with no upstream node, that node's data with one, an
    /// object by upstream id with several.
    pub input: Type,
    /// Its upstream nodes, in the order of their first edge, with their types.
    pub upstream: Vec<(&'a str, Type)>,
    /// The type of every node the node may read, by id (`item` and `index` inside a map).
    pub known: &'a HashMap<String, Type>,
    /// `$nodes` of its jq filters: its ancestors' data by id (`any` when no filter reads it).
    pub nodes: Type,
}

impl TypeCx<'_> {
    /// The type a template yields: the type at its path, for an exact template; a string
    /// otherwise. A path that cannot be followed is `any` here (phase 5 reports it).
    pub fn template(&self, template: &Template) -> Type {
        match template {
            Template::Value(path) => self.path(path),
            Template::Literal(_) | Template::Mixed(_) => Type::String,
        }
    }

    /// The type of `$params` (and of `{{ params }}`): the flow's parameters.
    pub fn params(&self) -> &Type {
        static ANY: Type = Type::Any;
        self.known.get(crate::check::shape::PARAMS_ROOT).unwrap_or(&ANY)
    }

    pub fn path(&self, path: &crate::template::Path) -> Type {
        self.known.get(&path.root).and_then(|root| root.follow(&path.segs).ok()).unwrap_or(Type::Any)
    }

    /// The type of a JSON value with templates.
    pub fn json(&self, json: &Json) -> Type {
        match json {
            Json::Null => Type::Null,
            Json::Bool(_) => Type::Boolean,
            Json::Number(n) if n.is_i64() || n.is_u64() => Type::Integer,
            Json::Number(_) => Type::Number,
            Json::String(template) => self.template(template),
            Json::Array(items) => Type::array(Type::union(items.iter().map(|item| self.json(item)))),
            Json::Object(members) => Type::record(crate::types::Object {
                fields: members
                    .iter()
                    .map(|(name, value)| (name.clone(), crate::types::Member { ty: self.json(value), optional: false }))
                    .collect(),
                rest: None,
            }),
        }
    }
}

/// `Some(value)` or `None`, as an expression.
pub fn some(value: Option<impl quote::ToTokens>) -> TokenStream {
    match value {
        Some(value) => quote::quote! { Some(#value) },
        None => quote::quote! { None },
    }
}

/// Document text (a filter, a URL template) for a line of a doc comment: a Markdown code span
/// of its first 160 characters.
pub fn code_text(text: &str) -> String {
    const MAX: usize = 160;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", crate::escape::markdown_code(&text[..end])),
        None => crate::escape::markdown_code(text),
    }
}

/// The handles a node's outgoing edges may name.
pub fn handles(node: &model::Node) -> Vec<String> {
    let mut out = node.kind.kind().handles(&node.config);
    out.push("error".into());
    out
}

/// Where a service is, for a node whose address is its `base_url` or the service's default.
pub fn service_origin(
    base_url: &Option<Template>,
    default: &'static flowc_core::services::Service,
) -> Option<HostOrigin> {
    match base_url {
        None => Some(HostOrigin::Default(default)),
        Some(url) => url_origin(url).map(HostOrigin::Literal),
    }
}

/// `scheme://host[:port]` when a URL template starts with it literally.
pub fn url_origin(url: &Template) -> Option<String> {
    let (text, whole) = match url {
        Template::Literal(text) => (text.as_str(), true),
        Template::Mixed(parts) => match parts.first() {
            Some(crate::template::Part::Text(text)) => (text.as_str(), false),
            _ => return None,
        },
        Template::Value(_) => return None,
    };
    let (scheme, rest) = text.split_once("://")?;
    // Unless the URL is all literal, the host must end before the first template: in
    // `https://api.{{ region }}.example.com` it is not known.
    let end = rest.find(['/', '?', '#']).or(whole.then_some(rest.len()))?;
    let host = &rest[..end];
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// What a kind's check gets.
pub struct CheckCx<'a> {
    pub sink: &'a mut Sink,
    pub node: &'a model::Node,
    /// What the flow the node is in can see.
    pub scope: &'a crate::check::Scope<'a>,
    /// For a kind with a nested flow: what its nested flow can see.
    pub nested: Option<&'a crate::check::Scope<'a>>,
    /// Where a kind with a nested flow leaves it, checked.
    pub nested_flow: Option<crate::check::Checked>,
    /// For a config inside another node's (an agent's tool): its pointer, and how messages
    /// name it.
    pub at: Option<(String, String)>,
}

impl<'a> CheckCx<'a> {
    /// Starts reading this node's config as an object with `fields` (reporting unknown and
    /// missing ones): the reader, the sink it reports to, and the node. `None` when the config
    /// is not an object (reported).
    pub fn read(&mut self, fields: &[Field]) -> Option<(Reader<'a>, &mut Sink, &'a model::Node)> {
        let node = self.node;
        let reader = Reader::new(self.sink, &node.config, &self.pointer(), fields, &self.what())?;
        Some((reader, &mut *self.sink, node))
    }

    /// How messages name this node's config.
    pub fn what(&self) -> String {
        match &self.at {
            Some((_, what)) => what.clone(),
            None => format!("the config of node `{}` ({})", self.node.id, self.node.kind.as_str()),
        }
    }

    /// The pointer of this node's config.
    pub fn pointer(&self) -> String {
        match &self.at {
            Some((pointer, _)) => pointer.clone(),
            None => format!("{}/config", self.node.pointer),
        }
    }
}

/// Reads an optional field that holds a JSON Schema of the input subset (E021 for what the
/// subset does not take): `output_schema`, `response_schema`, `json_schema`.
pub fn schema_field(r: &mut Reader<'_>, sink: &mut Sink, name: &str) -> Option<serde_json::Value> {
    let schema = r.get(name).cloned()?;
    let problems = flowc_core::input::check_schema(&schema);
    for problem in &problems {
        sink.push(
            crate::diag::Diagnostic::new(
                crate::diag::Code::E021,
                format!("{}/{name}{}", r.pointer, problem.pointer),
                problem.message.clone(),
            )
            .help("these schemas use type, properties, required, additionalProperties, default, enum and items"),
        );
    }
    if !problems.is_empty() {
        r.ok = false;
        return None;
    }
    Some(schema)
}

/// Records a jq filter to check: the config phase checks every filter of the flow at once
/// (see `flowc_core::jq::check_all`).
pub fn check_jq(sink: &mut Sink, code: &str, pointer: &str) -> bool {
    sink.filters.push((pointer.to_owned(), code.to_owned()));
    true
}

/// Reports a node that calls a hosted service without a credential (E025). `service` names
/// the service, `credential` and `env` suggest the declaration, `alternative` how to do
/// without one (a `base_url`, say). Returns whether the node is fine.
pub fn require_credential(
    sink: &mut Sink,
    node: &model::Node,
    service: &str,
    (credential, env): (&str, &str),
    alternative: &str,
) -> bool {
    if node.credential.is_some() {
        return true;
    }
    sink.push(
        crate::diag::Diagnostic::new(
            crate::diag::Code::E025,
            format!("{}/type", node.pointer),
            format!("node `{}` calls {service} but names no credential", node.id),
        )
        .help(format!(
            "add \"credential\": \"{credential}\", declared as \"credentials\": {{\"{credential}\": {{\"env\": \"{env}\"}}}}{alternative}"
        )),
    );
    false
}
