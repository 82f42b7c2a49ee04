//! The node kinds. Each kind is one file: its config fields, its check (config → typed
//! [`Config`]) and its emitter (typed config → the body of the node's `async fn`). Adding a
//! kind is a new file plus an arm in each `match` below; the compiler points at every one.

use proc_macro2::TokenStream;
use quote::quote;

use std::collections::HashMap;

use crate::check::reader::{Field, Json, Reader, Sink};
use crate::emit::{EmitCx, NodeCode};
use crate::model;
use crate::template::Template;
use crate::types::Type;

pub mod apify_actor;
pub mod branch;
pub mod code;
pub mod delay;
pub mod firecrawl_scrape;
pub mod http_request;
pub mod huggingface_inference;
pub mod input;
pub mod llm;
pub mod map;
pub mod mcp_tool;
pub mod merge;
pub mod output;
pub mod schedule;
pub mod switch;
pub mod transform;
pub mod webhook;

/// Every node kind this version compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeKind {
    Input,
    Output,
    HttpRequest,
    Transform,
    Branch,
    Switch,
    Merge,
    Delay,
    Code,
    Llm,
    FirecrawlScrape,
    HuggingfaceInference,
    ApifyActor,
    McpTool,
    Map,
    Webhook,
    Schedule,
}

/// Whether a kind name is compiled, planned (part of the format, not compiled by this
/// version), or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Supported(NodeKind),
    Planned,
    Unknown,
}

/// Kinds the format defines that this version does not compile yet: a clear error, never a
/// node that compiles to nothing.
const PLANNED: &[&str] = &[];

impl NodeKind {
    pub const ALL: [NodeKind; 17] = [
        NodeKind::Input,
        NodeKind::Output,
        NodeKind::HttpRequest,
        NodeKind::Transform,
        NodeKind::Branch,
        NodeKind::Switch,
        NodeKind::Merge,
        NodeKind::Delay,
        NodeKind::Code,
        NodeKind::Llm,
        NodeKind::FirecrawlScrape,
        NodeKind::HuggingfaceInference,
        NodeKind::ApifyActor,
        NodeKind::McpTool,
        NodeKind::Map,
        NodeKind::Webhook,
        NodeKind::Schedule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Input => "input",
            NodeKind::Output => "output",
            NodeKind::HttpRequest => "http_request",
            NodeKind::Transform => "transform",
            NodeKind::Branch => "branch",
            NodeKind::Switch => "switch",
            NodeKind::Merge => "merge",
            NodeKind::Delay => "delay",
            NodeKind::Code => "code",
            NodeKind::Llm => "llm",
            NodeKind::FirecrawlScrape => "firecrawl_scrape",
            NodeKind::HuggingfaceInference => "huggingface_inference",
            NodeKind::ApifyActor => "apify_actor",
            NodeKind::McpTool => "mcp_tool",
            NodeKind::Map => "map",
            NodeKind::Webhook => "webhook",
            NodeKind::Schedule => "schedule",
        }
    }

    pub fn parse(name: &str) -> Support {
        match NodeKind::ALL.iter().find(|k| k.as_str() == name) {
            Some(kind) => Support::Supported(*kind),
            None if PLANNED.contains(&name) => Support::Planned,
            None => Support::Unknown,
        }
    }

    /// The fields of the kind's `config`.
    pub fn fields(self) -> &'static [Field] {
        match self {
            NodeKind::Input => input::FIELDS,
            NodeKind::Output => output::FIELDS,
            NodeKind::HttpRequest => http_request::FIELDS,
            NodeKind::Transform => transform::FIELDS,
            NodeKind::Branch => branch::FIELDS,
            NodeKind::Switch => switch::FIELDS,
            NodeKind::Merge => merge::FIELDS,
            NodeKind::Delay => delay::FIELDS,
            NodeKind::Code => code::FIELDS,
            NodeKind::Llm => llm::FIELDS,
            NodeKind::FirecrawlScrape => firecrawl_scrape::FIELDS,
            NodeKind::HuggingfaceInference => huggingface_inference::FIELDS,
            NodeKind::ApifyActor => apify_actor::FIELDS,
            NodeKind::McpTool => mcp_tool::FIELDS,
            NodeKind::Map => map::FIELDS,
            NodeKind::Webhook => webhook::FIELDS,
            NodeKind::Schedule => schedule::FIELDS,
        }
    }

    /// One sentence on what a node of this kind does (the doc comment of its function).
    pub fn summary(self) -> &'static str {
        match self {
            NodeKind::Input => "Yields the run's input, checked against the input schema, defaults applied.",
            NodeKind::Output => "Yields a value of the run result's `outputs`.",
            NodeKind::HttpRequest => "Sends one HTTP request and yields `{status, headers, body}`.",
            NodeKind::Transform => "Yields a new value, built from templates or computed by a jq filter.",
            NodeKind::Branch => "Passes its input on and takes its `true` or `false` edges, by a jq condition.",
            NodeKind::Switch => "Passes its input on and takes the edges of the case a jq filter selects.",
            NodeKind::Merge => "Joins the data of its upstream nodes.",
            NodeKind::Delay => "Waits, then passes its input on.",
            NodeKind::Code => "Runs a block of Rust written in the flow document.",
            NodeKind::Llm => "Asks a language model for one chat completion and yields `{text, json?, model, usage}`.",
            NodeKind::FirecrawlScrape => {
                "Scrapes one page with Firecrawl and yields its markdown, html, links and metadata."
            }
            NodeKind::HuggingfaceInference => {
                "Calls a model of the Hugging Face Inference API and yields its JSON answer."
            }
            NodeKind::ApifyActor => "Runs an Apify actor to its end and yields `{run_id, status, items}`.",
            NodeKind::McpTool => {
                "Calls a tool of an MCP server and yields `{content, structured_content, is_error, text}`."
            }
            NodeKind::Map => {
                "Runs its nested flow once per item of an array and yields every item's result, in item order."
            }
            NodeKind::Webhook => {
                "Starts the flow from an HTTP request (`serve`) and yields `{method, path, query, headers, body}`."
            }
            NodeKind::Schedule => "Starts the flow on its cron schedule (`serve`) and yields `{fired_at}`.",
        }
    }
}

/// A node's config, checked and typed.
#[derive(Debug, Clone)]
pub enum Config {
    Input(input::Config),
    Output(output::Config),
    HttpRequest(http_request::Config),
    Transform(transform::Config),
    Branch(branch::Config),
    Switch(switch::Config),
    Merge(merge::Config),
    Delay(delay::Config),
    Code(code::Config),
    Llm(llm::Config),
    FirecrawlScrape(firecrawl_scrape::Config),
    HuggingfaceInference(huggingface_inference::Config),
    ApifyActor(apify_actor::Config),
    McpTool(mcp_tool::Config),
    Map(map::Config),
    Webhook(webhook::Config),
    Schedule(schedule::Config),
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

/// The node's jq filters: the config field each is in, and its text.
pub fn filters(config: &Config) -> Vec<(&'static str, &str)> {
    match config {
        Config::Transform(transform::Config::Jq(code)) => vec![("jq", code.as_str())],
        Config::Branch(c) => vec![("condition", c.condition.as_str())],
        Config::Switch(c) => vec![("value", c.value.as_str())],
        _ => Vec::new(),
    }
}

/// The type of a node's output `data` when it succeeds (a failed node's fallback is added by
/// the caller).
pub fn output_type(config: &Config, cx: &TypeCx<'_>) -> Type {
    match config {
        Config::Input(c) => input::output(c),
        Config::Output(c) => output::output(c, cx),
        Config::HttpRequest(c) => http_request::output(c),
        Config::Transform(c) => transform::output(c, cx),
        Config::Branch(_) | Config::Switch(_) | Config::Delay(_) => cx.input.clone(),
        Config::Merge(c) => merge::output(c, cx),
        Config::Code(c) => c.output_schema.as_ref().map_or(Type::Any, Type::of_schema),
        Config::Llm(c) => llm::output(c),
        Config::FirecrawlScrape(c) => firecrawl_scrape::output(c),
        Config::HuggingfaceInference(c) => huggingface_inference::output(c),
        Config::ApifyActor(_) => apify_actor::output(),
        Config::McpTool(c) => mcp_tool::output(c),
        Config::Map(c) => map::output(c),
        Config::Webhook(c) => webhook::output(c),
        Config::Schedule(_) => schedule::output(),
    }
}

/// The handles a node's outgoing edges may name.
pub fn handles(node: &model::Node) -> Vec<String> {
    let mut out: Vec<String> = match node.kind {
        NodeKind::Branch => vec!["true".into(), "false".into()],
        NodeKind::Switch => switch::case_names(&node.config),
        NodeKind::Input
        | NodeKind::Output
        | NodeKind::HttpRequest
        | NodeKind::Transform
        | NodeKind::Merge
        | NodeKind::Delay
        | NodeKind::Code
        | NodeKind::Llm
        | NodeKind::FirecrawlScrape
        | NodeKind::HuggingfaceInference
        | NodeKind::ApifyActor
        | NodeKind::McpTool
        | NodeKind::Map
        | NodeKind::Webhook
        | NodeKind::Schedule => Vec::new(),
    };
    out.push("error".into());
    out
}

/// What starts the flow, for a `webhook` or `schedule` node: an `rt::Trigger` expression.
pub fn trigger(cx: &EmitCx<'_>) -> Option<TokenStream> {
    match &cx.node.config {
        Config::Webhook(c) => {
            let (name, _) = webhook::trigger_static(cx, c);
            Some(quote! { rt::Trigger::Webhook(&#name) })
        }
        Config::Schedule(c) => {
            let (name, _) = schedule::trigger_static(cx, c);
            Some(quote! { rt::Trigger::Schedule(&#name) })
        }
        _ => None,
    }
}

/// What a node depends on, as `rt::health::Need` expressions for `<bin> health`: its
/// credential, the services it calls when their address is known before the run, the MCP tool
/// it calls.
pub fn needs(cx: &EmitCx<'_>) -> Vec<TokenStream> {
    needs_of(cx)
}

fn needs_of(cx: &EmitCx<'_>) -> Vec<TokenStream> {
    let node = cx.node;
    let mut needs = Vec::new();
    if let Some(name) = &node.credential {
        needs.push(quote! { rt::health::Need::Credential(#name) });
    }
    if let Config::Webhook(webhook::Config { hmac: Some(hmac), .. }) = &node.config {
        let name = &hmac.credential;
        needs.push(quote! { rt::health::Need::Credential(#name) });
    }
    let host = |base_url: &Option<Template>, default: TokenStream| match base_url {
        None => Some(default),
        Some(url) => url_origin(url).map(|origin| quote! { #origin }),
    };
    let service = match &node.config {
        Config::HttpRequest(c) => url_origin(&c.url).map(|origin| quote! { #origin }),
        Config::Llm(c) => host(&c.base_url, quote! { rt::llm::OPENAI_BASE_URL }),
        Config::FirecrawlScrape(c) => host(&c.base_url, quote! { rt::firecrawl::FIRECRAWL_BASE_URL }),
        Config::HuggingfaceInference(c) => host(&c.base_url, quote! { rt::huggingface::HUGGINGFACE_BASE_URL }),
        Config::ApifyActor(c) => host(&c.base_url, quote! { rt::apify::APIFY_BASE_URL }),
        Config::McpTool(c) => {
            let server = mcp_tool::server_ident(cx.mcp_server_name(&c.server));
            let tool = &c.tool;
            needs.push(quote! { rt::health::Need::McpTool(&#server, #tool) });
            None
        }
        Config::Map(c) => {
            // The map needs what every node of its nested flow needs, each once.
            let mut seen: Vec<String> = needs.iter().map(ToString::to_string).collect();
            for need in cx.nested(c).into_iter().flat_map(|inner| needs_of(&inner)) {
                if !seen.contains(&need.to_string()) {
                    seen.push(need.to_string());
                    needs.push(need);
                }
            }
            None
        }
        _ => None,
    };
    if let Some(url) = service {
        needs.push(quote! { rt::health::Need::Host(#url) });
    }
    needs
}

/// `scheme://host[:port]` when a URL template starts with it literally.
fn url_origin(url: &Template) -> Option<String> {
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
    /// For a `map` node: what its nested flow can see.
    pub nested: Option<&'a crate::check::Scope<'a>>,
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
        format!("the config of node `{}` ({})", self.node.id, self.node.kind.as_str())
    }

    /// The pointer of this node's config.
    pub fn pointer(&self) -> String {
        format!("{}/config", self.node.pointer)
    }
}

/// Phase 3: reads one node's config.
pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    match cx.node.kind {
        NodeKind::Input => input::check(cx).map(Config::Input),
        NodeKind::Output => output::check(cx).map(Config::Output),
        NodeKind::HttpRequest => http_request::check(cx).map(Config::HttpRequest),
        NodeKind::Transform => transform::check(cx).map(Config::Transform),
        NodeKind::Branch => branch::check(cx).map(Config::Branch),
        NodeKind::Switch => switch::check(cx).map(Config::Switch),
        NodeKind::Merge => merge::check(cx).map(Config::Merge),
        NodeKind::Delay => delay::check(cx).map(Config::Delay),
        NodeKind::Code => code::check(cx).map(Config::Code),
        NodeKind::Llm => llm::check(cx).map(Config::Llm),
        NodeKind::FirecrawlScrape => firecrawl_scrape::check(cx).map(Config::FirecrawlScrape),
        NodeKind::HuggingfaceInference => huggingface_inference::check(cx).map(Config::HuggingfaceInference),
        NodeKind::ApifyActor => apify_actor::check(cx).map(Config::ApifyActor),
        NodeKind::McpTool => mcp_tool::check(cx).map(Config::McpTool),
        NodeKind::Map => map::check(cx).map(Config::Map),
        NodeKind::Webhook => webhook::check(cx).map(Config::Webhook),
        NodeKind::Schedule => schedule::check(cx).map(Config::Schedule),
    }
}

/// Emits the body of a node's function.
pub fn emit(cx: &EmitCx<'_>, config: &Config) -> NodeCode {
    match config {
        Config::Input(c) => input::emit(cx, c),
        Config::Output(c) => output::emit(cx, c),
        Config::HttpRequest(c) => http_request::emit(cx, c),
        Config::Transform(c) => transform::emit(cx, c),
        Config::Branch(c) => branch::emit(cx, c),
        Config::Switch(c) => switch::emit(cx, c),
        Config::Merge(c) => merge::emit(cx, c),
        Config::Delay(c) => delay::emit(cx, c),
        Config::Code(c) => code::emit(cx, c),
        Config::Llm(c) => llm::emit(cx, c),
        Config::FirecrawlScrape(c) => firecrawl_scrape::emit(cx, c),
        Config::HuggingfaceInference(c) => huggingface_inference::emit(cx, c),
        Config::ApifyActor(c) => apify_actor::emit(cx, c),
        Config::McpTool(c) => mcp_tool::emit(cx, c),
        Config::Map(c) => map::emit(cx, c),
        Config::Webhook(c) => webhook::emit(cx, c),
        Config::Schedule(c) => schedule::emit(cx, c),
    }
}

/// Reads an optional field that holds a JSON Schema of the input subset (E021 for what the
/// subset does not take): `output_schema`, `response_schema`, `json_schema`.
pub fn schema_field(r: &mut Reader<'_>, sink: &mut Sink, name: &str) -> Option<serde_json::Value> {
    let schema = r.get(name).cloned()?;
    let problems = flowc_runtime::input::check_schema(&schema);
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
/// (see `flowc_runtime::jq::check_all`).
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
