//! The static description of a flow that generated code hands to the scheduler, and the
//! context a node function runs with.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::credentials::Credential;
use crate::error::Error;
use crate::events::Events;
use crate::http::Http;
use crate::jq::Filter;
use crate::retry::RetryPolicy;

/// A whole flow: its nodes, its edges and its settings, as static data.
#[derive(Debug)]
pub struct Flow {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub nodes: &'static [Node],
    pub edges: &'static [Edge],
    pub credentials: &'static [Credential],
    /// The flow's parameters, resolved once at start-up (`crate::params::load`).
    pub parameters: &'static [crate::params::Parameter],
    /// The `input` node's schema, as JSON text; `None` when the flow has no input node.
    pub input_schema: Option<&'static str>,
    /// The schema of the run result's `outputs` as flowc typed them, as JSON text: an object
    /// schema with a property per output name (the MCP tool's `outputSchema` holds it).
    pub outputs_schema: Option<&'static str>,
    /// How many nodes may run at once.
    pub max_concurrency: usize,
    /// The retry policy of every node that has none of its own (`settings.retry`).
    pub retry: RetryPolicy,
    /// A deadline for the whole run.
    pub timeout_ms: Option<u64>,
    /// Every jq filter of the flow, compiled at start-up so a broken one stops the program
    /// before anything runs.
    pub jq_filters: &'static [&'static Filter],
    /// Every MCP server the flow's `mcp_tool` nodes call.
    pub mcp_servers: &'static [&'static crate::mcp::Server],
    /// Request rates shared by every node (`settings.rate_limits`).
    pub rate_limits: &'static [crate::ratelimit::RateLimit],
    /// Circuit breakers by host, shared by every node (`settings.circuit_breakers`).
    pub circuit_breakers: &'static [crate::breaker::CircuitBreaker],
    /// The limits of every request (`settings.http`).
    pub http: crate::http::HttpSettings,
}

impl Flow {
    /// Reads the secret of a credential the flow declares.
    pub fn credential(&self, name: &str) -> Result<String, Error> {
        self.credentials
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::config(format!("the flow declares no credential `{name}`")))?
            .resolve()
    }
}

/// A node function: takes the context, returns the node's output.
pub type NodeFuture = Pin<Box<dyn Future<Output = NodeResult> + Send>>;

/// What a node function returns.
pub type NodeResult = Result<Output, Error>;

/// One node.
#[derive(Debug)]
pub struct Node {
    pub id: &'static str,
    pub kind: &'static str,
    pub label: Option<&'static str>,
    /// The node's JSON pointer in the flow document (`/nodes/3`).
    pub source: &'static str,
    pub run: fn(Cx) -> NodeFuture,
    /// The node's own retry policy; `None`: the flow's.
    pub retry: Option<RetryPolicy>,
    /// A limit on each attempt.
    pub timeout_ms: Option<u64>,
    /// A limit on the node as a whole: every attempt and the waits between them.
    pub deadline_ms: Option<u64>,
    pub on_error: OnError,
    /// For `output` nodes: the name under which the run result's `outputs` holds its value.
    pub output: Option<&'static str>,
    /// What the node depends on: credentials, services, MCP tools (`<bin> health` checks them).
    pub needs: &'static [crate::health::Need],
    /// For a `webhook` or `schedule` node: what starts the flow in `<bin> serve`.
    pub trigger: Option<Trigger>,
    /// The type of the node's output `data` as flowc knows it (`describe` shows it); `None`
    /// when nothing is known (`any`).
    pub output_type: Option<&'static str>,
}

/// What starts a flow in `<bin> serve`, besides `POST /run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Webhook(&'static crate::webhook::Webhook),
    Schedule(&'static crate::schedule::Schedule),
}

/// What started a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Fired {
    /// `<bin> run`, `POST /run`, an MCP tool call.
    #[default]
    Manual,
    /// A request to the flow's webhook: `{method, path, query, headers, body}`.
    Webhook(Value),
    /// The flow's schedule, at this time (RFC 3339).
    Schedule(String),
}

impl Node {
    /// A node with the format's defaults: no label, the flow's retry policy, no attempt
    /// timeout, `on_error: fail`. The other methods change one of them (generated code
    /// writes only what differs from the defaults).
    pub const fn new(id: &'static str, kind: &'static str, source: &'static str, run: fn(Cx) -> NodeFuture) -> Node {
        Node {
            id,
            kind,
            label: None,
            source,
            run,
            retry: None,
            timeout_ms: None,
            deadline_ms: None,
            on_error: OnError::Fail,
            output: None,
            needs: &[],
            trigger: None,
            output_type: None,
        }
    }

    pub const fn output_type(mut self, ty: &'static str) -> Node {
        self.output_type = Some(ty);
        self
    }

    pub const fn label(mut self, label: &'static str) -> Node {
        self.label = Some(label);
        self
    }

    pub const fn retry(mut self, retry: RetryPolicy) -> Node {
        self.retry = Some(retry);
        self
    }

    pub const fn timeout_ms(mut self, ms: u64) -> Node {
        self.timeout_ms = Some(ms);
        self
    }

    pub const fn deadline_ms(mut self, ms: u64) -> Node {
        self.deadline_ms = Some(ms);
        self
    }

    pub const fn on_error(mut self, on_error: OnError) -> Node {
        self.on_error = on_error;
        self
    }

    pub const fn output(mut self, name: &'static str) -> Node {
        self.output = Some(name);
        self
    }

    pub const fn needs(mut self, needs: &'static [crate::health::Need]) -> Node {
        self.needs = needs;
        self
    }

    pub const fn trigger(mut self, trigger: Trigger) -> Node {
        self.trigger = Some(trigger);
        self
    }
}

/// What a failure of the node means for the flow.
#[derive(Debug, Clone, Copy)]
pub enum OnError {
    /// The failure fails the flow, unless an `error` edge handles it.
    Fail,
    /// Downstream nodes run and read `null` from this node.
    Continue,
    /// Downstream nodes run and read this value from this node.
    Fallback(fn() -> Value),
}

/// One edge: `source` and `target` index [`Flow::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub source: usize,
    pub target: usize,
    pub handle: Handle,
}

impl Edge {
    /// An edge followed when `source` succeeds.
    pub const fn new(source: usize, target: usize) -> Edge {
        Edge { source, target, handle: Handle::Success }
    }

    /// An edge followed when `source` takes `route` (a branch's `true`, a switch case).
    pub const fn route(source: usize, target: usize, route: &'static str) -> Edge {
        Edge { source, target, handle: Handle::Route(route) }
    }

    /// An edge followed when `source` fails.
    pub const fn error(source: usize, target: usize) -> Edge {
        Edge { source, target, handle: Handle::Error }
    }
}

/// Which outcome of the source node an edge follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handle {
    /// The source succeeded (or failed with `on_error` continue or fallback).
    Success,
    /// The source failed.
    Error,
    /// The source chose this route: `true`/`false` of a branch, a case of a switch.
    Route(&'static str),
}

/// Which routes a node's success activates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Only the plain success edges.
    Default,
    /// The plain success edges and the edges with this handle.
    Named(&'static str),
}

/// A node's successful output.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub data: Value,
    pub route: Route,
    pub metadata: Map<String, Value>,
}

impl Output {
    pub fn data(data: Value) -> Self {
        Output { data, route: Route::Default, metadata: Map::new() }
    }

    pub fn routed(data: Value, route: &'static str) -> Self {
        Output { data, route: Route::Named(route), metadata: Map::new() }
    }

    pub fn with_metadata(mut self, key: &str, value: Value) -> Self {
        self.metadata.insert(key.to_owned(), value);
        self
    }
}

/// How a `merge` node joins its upstream data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// `{upstream id: data}`.
    Object,
    /// `[data, ...]`, in edge order.
    Array,
    /// The first upstream, in edge order, that produced data.
    First,
}

/// Everything a run shares between its nodes, map items included.
pub(crate) struct RunState {
    pub flow: &'static Flow,
    pub input: Value,
    pub http: Http,
    pub events: Events,
    /// The run's MCP sessions, closed when the run ends.
    pub mcp: crate::mcp::Sessions,
    /// The map items to re-run (`<bin> run --replay FILE`), by top-level map node id.
    pub replay: Option<Arc<crate::deadletter::Replay>>,
    /// What started the run. A webhook's request is handed to the webhook node (there is at
    /// most one, outside any map, and it runs once), which takes it rather than copying it.
    pub fired: std::sync::Mutex<Fired>,
}

/// One execution of a graph: the flow's own nodes once per run, a map's nested flow once per
/// item. Holds what its nodes produce; a nested scope can read its parent's.
pub struct Scope {
    pub(crate) nodes: &'static [Node],
    /// Each node's data for downstream readers, set once the node has finished.
    pub(crate) data: Vec<OnceLock<Value>>,
    /// Each node's distinct upstream nodes, in edge order (shared by every item of a map).
    pub(crate) upstream: Arc<[Vec<usize>]>,
    /// The scope of the node that runs this one (a map's), `None` for the flow itself.
    pub(crate) parent: Option<Arc<Scope>>,
    /// For a map item: the map node's id, the item and its index.
    pub(crate) item: Option<Item>,
    /// The progress of every `map` node of this scope that has started, by node index: the
    /// scheduler builds the map's envelope from it, also when the map was cut short.
    pub(crate) maps: std::sync::Mutex<Vec<(usize, Arc<std::sync::Mutex<crate::map::Progress>>)>>,
}

/// What a map item's nodes read as `{{ item }}` and `{{ index }}`.
pub(crate) struct Item {
    pub map: &'static str,
    pub value: Value,
    pub index: Value,
}

impl Scope {
    pub(crate) fn new(
        nodes: &'static [Node],
        upstream: Arc<[Vec<usize>]>,
        parent: Option<Arc<Scope>>,
        item: Option<Item>,
    ) -> Scope {
        Scope {
            nodes,
            data: (0..nodes.len()).map(|_| OnceLock::new()).collect(),
            upstream,
            parent,
            item,
            maps: Default::default(),
        }
    }

    /// The data of a finished node of this scope: its output, its fallback, or `null` when it
    /// was skipped or failed.
    pub fn data(&self, node: usize) -> &Value {
        static NULL: Value = Value::Null;
        self.data.get(node).and_then(OnceLock::get).unwrap_or(&NULL)
    }

    /// Adds the map item this scope runs (if any) to an event's fields.
    pub(crate) fn event_fields(&self, mut fields: Value) -> Value {
        if let (Some(item), Value::Object(map)) = (&self.item, &mut fields) {
            map.insert("map".into(), Value::from(item.map));
            map.insert("item".into(), item.index.clone());
        }
        fields
    }
}

/// What a node function gets: access to upstream data, the run input, the HTTP client and
/// credentials. Cheap to clone.
#[derive(Clone)]
pub struct Cx {
    pub(crate) run: Arc<RunState>,
    pub(crate) scope: Arc<Scope>,
    pub(crate) node: usize,
    pub(crate) attempt: u32,
    /// The OAuth2 tokens this attempt was given.
    pub(crate) issued: Arc<std::sync::Mutex<Vec<crate::oauth2::Issued>>>,
}

impl Cx {
    /// The data of a finished node of the same flow (for a node inside a map: of the same
    /// item): its output, its fallback, or `null` when it was skipped or failed.
    pub fn data(&self, node: usize) -> &Value {
        self.scope.data(node)
    }

    /// The scope `levels` maps out: `outer(1)` is the flow that holds this node's map. Nodes
    /// inside a map read the nodes upstream of the map through it.
    pub fn outer(&self, levels: usize) -> &Scope {
        let mut scope = &*self.scope;
        for _ in 0..levels {
            // The compiler only emits levels that exist.
            scope = scope.parent.as_deref().unwrap_or(scope);
        }
        scope
    }

    /// Inside a map: the item this run of the nested flow is for (`{{ item }}`); `null`
    /// elsewhere.
    pub fn item(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.scope.item.as_ref().map_or(&NULL, |item| &item.value)
    }

    /// Inside a map: the item's index in the map's `items`, from 0 (`{{ index }}`).
    pub fn index(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.scope.item.as_ref().map_or(&NULL, |item| &item.index)
    }

    /// This node's input: the data of its single upstream node, or an object keyed by the
    /// ids of its upstream nodes. A node with no upstream gets the map item inside a map,
    /// `null` elsewhere.
    pub fn input(&self) -> Value {
        let upstream = &self.scope.upstream[self.node];
        match upstream.as_slice() {
            [] => self.item().clone(),
            [only] => self.data(*only).clone(),
            many => {
                Value::Object(many.iter().map(|&i| (self.scope.nodes[i].id.to_owned(), self.data(i).clone())).collect())
            }
        }
    }

    /// Joins the data of the upstream nodes that produced data (succeeded, or failed with a
    /// fallback); skipped and failed ones are left out.
    pub fn merge(&self, mode: Merge) -> Value {
        let scope = &self.scope;
        let produced =
            scope.upstream[self.node].iter().filter_map(|&i| scope.data[i].get().map(|data| (scope.nodes[i].id, data)));
        match mode {
            Merge::Object => Value::Object(produced.map(|(id, data)| (id.to_owned(), data.clone())).collect()),
            Merge::Array => Value::Array(produced.map(|(_, data)| data.clone()).collect()),
            Merge::First => produced.map(|(_, data)| data.clone()).next().unwrap_or(Value::Null),
        }
    }

    /// Every finished ancestor's data, keyed by node id (jq's `$nodes`); inside a map, the
    /// ancestors within the item.
    pub fn ancestors(&self) -> Value {
        let scope = &self.scope;
        let mut seen = vec![false; scope.nodes.len()];
        let mut stack: Vec<usize> = scope.upstream[self.node].clone();
        let mut out = Map::new();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            if let Some(value) = scope.data[i].get() {
                out.insert(scope.nodes[i].id.to_owned(), value.clone());
            }
            stack.extend(&scope.upstream[i]);
        }
        Value::Object(out)
    }

    /// The flow's parameters by name (`{{ params }}`), as resolved at start-up.
    pub fn params(&self) -> &'static Value {
        crate::params::values()
    }

    /// The run's input, after the input schema's defaults were applied.
    pub fn run_input(&self) -> &Value {
        &self.run.input
    }

    /// The run's pooled HTTP client.
    pub fn http(&self) -> &Http {
        &self.run.http
    }

    /// Resolves a credential declared by the flow: its secret, or for an OAuth2 credential an
    /// access token (fetched if none is held). A token this attempt used is remembered, so
    /// that a 401 answer can drop it ([`crate::oauth2::invalidate`]).
    pub async fn credential(&self, name: &str) -> Result<String, Error> {
        let flow = self.run.flow;
        let credential = flow.credentials.iter().find(|c| c.name == name);
        let Some(credential) = credential else { return flow.credential(name) };
        match credential.source {
            crate::credentials::CredentialSource::OAuth2(config) => {
                let (token, issued) = crate::oauth2::access_token(credential.name, config, self.http()).await?;
                self.issued.lock().unwrap_or_else(|e| e.into_inner()).push(issued);
                Ok(token)
            }
            _ => credential.resolve(),
        }
    }

    /// Writes a progress event (`--events`) about this node: `node` (and, inside a map, the
    /// item) is added to `fields`, which are built only when events are on.
    /// Whether the run writes events (`--events`).
    pub fn events_enabled(&self) -> bool {
        self.run.events.enabled()
    }

    pub fn event(&self, event: &str, fields: impl FnOnce() -> Value) {
        self.run.events.emit(event, || {
            let mut fields = fields();
            if let Value::Object(map) = &mut fields {
                map.insert("node".into(), Value::from(self.node_id()));
            }
            self.scope.event_fields(fields)
        });
    }

    /// The secrets of the flow's credentials that can be read now (environment variables and
    /// files; OAuth2 tokens are the service's), to keep them out of what a node records.
    pub fn secrets(&self) -> Vec<String> {
        self.run.flow.credentials.iter().filter_map(|c| c.resolve().ok()).filter(|s| s.len() >= 4).collect()
    }

    /// The OAuth2 tokens this attempt was given, for the scheduler.
    pub(crate) fn issued_tokens(&self) -> Vec<crate::oauth2::Issued> {
        self.issued.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The id of the node running.
    pub fn node_id(&self) -> &'static str {
        self.scope.nodes[self.node].id
    }

    /// A `webhook` node's data: the request that started the run, `{method, path, query,
    /// headers, body}`. A run started otherwise (`<bin> run`, `POST /run`) has the run input as
    /// the body, no query and no headers.
    pub fn webhook_request(&self) -> Value {
        if let Fired::Webhook(request) = &mut *self.run.fired.lock().unwrap_or_else(|e| e.into_inner()) {
            return std::mem::take(request);
        }
        let (method, path) = match self.node().trigger {
            Some(Trigger::Webhook(hook)) => (hook.method, hook.path),
            _ => ("POST", ""),
        };
        serde_json::json!({ "method": method, "path": path, "query": {}, "headers": {}, "body": self.run.input })
    }

    /// A `schedule` node's data: `{fired_at}`, when the schedule fired (RFC 3339, UTC); a run
    /// started otherwise fires now.
    pub fn schedule_fired(&self) -> Value {
        let fired_at = match &*self.run.fired.lock().unwrap_or_else(|e| e.into_inner()) {
            Fired::Schedule(at) => at.clone(),
            _ => crate::envelope::now_rfc3339(),
        };
        serde_json::json!({ "fired_at": fired_at })
    }

    /// The node running.
    pub(crate) fn node(&self) -> &'static Node {
        &self.scope.nodes[self.node]
    }
}
