//! The checked flow, ready to emit: nodes in document order with their Rust names, typed
//! configs, resolved retry policies, and edges as indices.

use crate::check::graph::Graph;
use crate::ident::Names;
use crate::model::{Credential, Flow, NodeRetry, OnError, RetryPolicy, Settings};
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
    /// The snake_case base of the node's Rust names (`node_<name>`, `nodes::<NAME>`).
    pub name: String,
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
    pub fn new(flow: Flow, graph: &Graph, configs: Vec<Config>) -> Ir {
        let mut names = Names::default();
        let settings = flow.settings.clone();
        let nodes: Vec<IrNode> = flow
            .nodes
            .into_iter()
            .zip(configs)
            .map(|(node, config)| IrNode {
                name: names.allocate(&node.id),
                retry: match node.retry {
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
                handle: match flow.edges[position].source_handle.as_deref() {
                    None => Handle::Success,
                    Some("error") => Handle::Error,
                    Some(route) => Handle::Route(route.to_owned()),
                },
            })
            .collect();
        let mut mcp_servers: Vec<McpServerUse> = Vec::new();
        for node in &nodes {
            if let Config::McpTool(config) = &node.config {
                match mcp_servers.iter_mut().find(|s| s.server == config.server) {
                    Some(known) => known.users.push(node.id.clone()),
                    None => mcp_servers.push(McpServerUse {
                        name: node.name.clone(),
                        server: config.server.clone(),
                        users: vec![node.id.clone()],
                    }),
                }
            }
        }
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
