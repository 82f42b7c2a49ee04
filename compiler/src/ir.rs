//! The checked flow, ready to emit: nodes in document order with their Rust names, typed
//! configs, resolved retry policies, and edges as indices.

use crate::check::graph::Graph;
use crate::ident::Names;
use crate::model::{Credential, Edge, Flow, Node, NodeRetry, OnError, RetryPolicy, Settings};
use crate::nodes::{Config, NodeKind};

#[derive(Debug, Clone)]
pub struct Ir {
    pub id: String,
    pub name: String,
    pub description: String,
    pub settings: Settings,
    pub credentials: Vec<Credential>,
    pub nodes: Vec<IrNode>,
    pub edges: Vec<IrEdge>,
    /// The distinct MCP servers of the flow's `mcp_tool` nodes, in order of first use.
    pub mcp_servers: Vec<McpServerUse>,
}

/// One distinct MCP server and the nodes that call it.
#[derive(Debug, Clone)]
pub struct McpServerUse {
    /// The Rust name base of the first node that uses it: names the server and its static.
    pub name: String,
    pub server: crate::nodes::mcp_tool::Server,
    /// The ids of the nodes that use it.
    pub users: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct IrNode {
    pub id: String,
    /// The snake_case base of the node's function's name (`node_<name>`), unique in the
    /// program.
    pub name: String,
    /// The snake_case base of the node's index constant (`nodes::<LOCAL>`, or
    /// `nodes::<map>::<LOCAL>` inside a map), unique in its own flow.
    pub local: String,
    /// `/nodes/3`.
    pub pointer: String,
    pub label: Option<String>,
    pub kind: NodeKind,
    pub config: Config,
    /// `None`: one attempt only.
    pub retry: Option<RetryPolicy>,
    pub timeout_ms: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub on_error: OnError,
    /// The credential the node names.
    pub credential: Option<String>,
    /// The type of the node's output `data` (its fallback's included).
    pub output_type: crate::types::Type,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handle {
    Success,
    Error,
    Route(String),
}

#[derive(Debug, Clone)]
pub struct IrEdge {
    pub source: usize,
    pub target: usize,
    pub handle: Handle,
}

impl Ir {
    pub fn new(flow: Flow, graph: &Graph, configs: Vec<Config>, types: Vec<crate::types::Type>) -> Ir {
        let settings = flow.settings.clone();
        let (mut nodes, edges) = lower(flow.nodes, &flow.edges, graph, configs, types, &settings);
        name_nodes(&mut nodes, &mut Names::default(), "");
        let mut mcp_servers: Vec<McpServerUse> = Vec::new();
        collect_mcp_servers(&nodes, &mut mcp_servers);
        Ir {
            mcp_servers,
            id: flow.id,
            name: flow.name,
            description: flow.description,
            settings: flow.settings,
            credentials: flow.credentials,
            nodes,
            edges,
        }
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The input node's schema, if the flow has an input node with one.
    pub fn input_schema(&self) -> Option<&serde_json::Value> {
        self.nodes.iter().find_map(|n| match &n.config {
            Config::Input(input) => input.schema.as_ref(),
            _ => None,
        })
    }
}

/// Lowers the checked nodes and edges of one flow (the document's, or a map's nested flow).
/// Rust names are given afterwards, by [`name_nodes`], once for the whole program.
pub fn lower(
    nodes: Vec<Node>,
    edges: &[Edge],
    graph: &Graph,
    configs: Vec<Config>,
    types: Vec<crate::types::Type>,
    settings: &Settings,
) -> (Vec<IrNode>, Vec<IrEdge>) {
    let nodes: Vec<IrNode> = nodes
        .into_iter()
        .zip(configs)
        .zip(types)
        .map(|((node, config), output_type)| IrNode {
            output_type,
            name: String::new(),
            local: String::new(),
            retry: match node.retry {
                // A map is not retried as a whole: its nested nodes have retry policies.
                _ if node.kind == NodeKind::Map => None,
                NodeRetry::Inherit => Some(settings.retry.clone()),
                NodeRetry::Disabled => None,
                NodeRetry::Policy(policy) => Some(policy),
            },
            id: node.id,
            pointer: node.pointer,
            label: node.label,
            kind: node.kind,
            config,
            timeout_ms: node.timeout_ms,
            deadline_ms: node.deadline_ms,
            on_error: node.on_error,
            credential: node.credential,
        })
        .collect();
    let edges = graph
        .edges
        .iter()
        .map(|&(position, source, target)| IrEdge {
            source,
            target,
            handle: match edges[position].source_handle.as_deref() {
                None => Handle::Success,
                Some("error") => Handle::Error,
                Some(route) => Handle::Route(route.to_owned()),
            },
        })
        .collect();
    (nodes, edges)
}

/// Gives every node its Rust names: `name`, unique in the program (a nested node's starts
/// with its map's), and `local`, unique in its own flow. A flow's own nodes are named before
/// the nodes of its maps, so adding a map never renames a node outside it.
fn name_nodes(nodes: &mut [IrNode], names: &mut Names, prefix: &str) {
    let mut local = Names::default();
    for node in nodes.iter_mut() {
        node.local = local.allocate(&node.id);
        node.name = names.allocate(&format!("{prefix}{}", node.id));
    }
    for node in nodes.iter_mut() {
        if let Config::Map(map) = &mut node.config {
            let prefix = format!("{}_", node.name);
            name_nodes(&mut map.nodes, names, &prefix);
        }
    }
}

/// The distinct MCP servers of every `mcp_tool` node, maps' nested nodes included, in order
/// of first use.
fn collect_mcp_servers(nodes: &[IrNode], servers: &mut Vec<McpServerUse>) {
    for node in nodes {
        match &node.config {
            Config::McpTool(config) => match servers.iter_mut().find(|s| s.server == config.server) {
                Some(known) => known.users.push(node.id.clone()),
                None => servers.push(McpServerUse {
                    name: node.name.clone(),
                    server: config.server.clone(),
                    users: vec![node.id.clone()],
                }),
            },
            Config::Map(map) => collect_mcp_servers(&map.nodes, servers),
            _ => {}
        }
    }
}
