//! The checked flow, ready to emit: nodes in document order with their Rust names, typed
//! configs, resolved retry policies, and edges as indices.

use std::collections::HashMap;
use std::sync::Arc;

use crate::check::Checked;
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
    pub parameters: Vec<crate::model::Parameter>,
    /// Every flow of the program, addressed by [`FlowId`]: the document's first
    /// ([`Ir::TOP`]), each nested flow after the flow that holds it.
    pub flows: Vec<IrFlow>,
    /// The distinct MCP servers of the flow's `mcp_tool` nodes, in order of first use.
    pub mcp_servers: Vec<McpServerUse>,
    /// The other flow documents the program holds as agents' flow tools, at every depth, each
    /// once, every document after those it calls.
    pub flow_modules: Vec<Arc<FlowModule>>,
}

/// Another flow document compiled into the program, as a module of its own (an agent's flow
/// tool).
#[derive(Debug, Clone)]
pub struct FlowModule {
    /// The module's name, `flow_<id>`: `src/flow_<id>.rs`, `crate::flow_<id>::FLOW`.
    pub module: String,
    /// The document's path, as the calling document wrote it.
    pub path: String,
    /// Its canonical path: one document named by several tools is one module.
    pub key: std::path::PathBuf,
    /// The file as diagnostics name it, and the flowc document checked (for another tool's
    /// document, its translation).
    pub file: String,
    pub text: String,
    pub ir: Arc<Ir>,
}

/// A flow's index in [`Ir::flows`].
pub type FlowId = usize;

/// Where a node is: its flow, and its index in that flow's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRef {
    pub flow: FlowId,
    pub index: usize,
}

/// One flow: the document's, or a node's nested flow (a map's).
#[derive(Debug, Clone)]
pub struct IrFlow {
    pub nodes: Vec<IrNode>,
    pub edges: Vec<IrEdge>,
    /// For a nested flow: the node that holds it.
    pub parent: Option<NodeRef>,
    /// The path of its nodes' index module under `nodes` (`["each"]` for `nodes::each::FETCH`).
    pub module: Vec<String>,
    /// What each template root of this flow's nodes reads, resolved once here: the emitter
    /// looks roots up, never searches for them.
    pub roots: HashMap<String, Root>,
}

/// What a template root reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// A node's data: of this flow (`levels` 0) or of a flow `levels` nestings out.
    Node { levels: usize, node: NodeRef },
    /// Inside a nested flow: the item.
    Item,
    /// Inside a nested flow: the item's index.
    Index,
    /// The flow's parameters (`params`), in every flow.
    Params,
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
    /// The flow the node holds (a map's nested flow).
    pub nested: Option<FlowId>,
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
    /// The document's own flow.
    pub const TOP: FlowId = 0;

    pub fn new(flow: Flow, checked: Checked) -> Ir {
        let mut flows = Vec::new();
        lower(&mut flows, checked, None, &flow.settings);
        name_nodes(&mut flows, Ir::TOP, &mut Names::default(), "");
        for f in 1..flows.len() {
            let Some(parent) = flows[f].parent else { continue };
            let mut module = flows[parent.flow].module.clone();
            module.push(module_name(&flows[parent.flow].nodes[parent.index].local));
            flows[f].module = module;
        }
        resolve_roots(&mut flows);
        let mut mcp_servers: Vec<McpServerUse> = Vec::new();
        for flow in &flows {
            for node in &flow.nodes {
                for (k, server) in node.config.mcp_servers().into_iter().enumerate() {
                    match mcp_servers.iter_mut().find(|s| &s.server == server) {
                        Some(known) => known.users.push(node.id.clone()),
                        None => mcp_servers.push(McpServerUse {
                            // A node's second server and after are numbered.
                            name: if k == 0 { node.name.clone() } else { format!("{}_{k}", node.name) },
                            server: server.clone(),
                            users: vec![node.id.clone()],
                        }),
                    }
                }
            }
        }
        // Every flow module once, the ones a module calls before it; their credentials are the
        // program's too (the check made sure that one of a name is read from one place).
        let mut flow_modules: Vec<Arc<FlowModule>> = Vec::new();
        for node in flows.iter().flat_map(|flow| &flow.nodes) {
            for module in node.config.flow_modules() {
                for used in module.ir.flow_modules.iter().chain([module]) {
                    if !flow_modules.iter().any(|m| m.module == used.module) {
                        flow_modules.push(used.clone());
                    }
                }
            }
        }
        let mut credentials = flow.credentials;
        for module in &flow_modules {
            for credential in &module.ir.credentials {
                if !credentials.iter().any(|c| c.name == credential.name) {
                    credentials.push(credential.clone());
                }
            }
        }
        Ir {
            mcp_servers,
            flow_modules,
            id: flow.id,
            name: flow.name,
            description: flow.description,
            settings: flow.settings,
            credentials,
            parameters: flow.parameters,
            flows,
        }
    }

    /// The nodes of the document's own flow.
    pub fn nodes(&self) -> &[IrNode] {
        &self.flows[Ir::TOP].nodes
    }

    /// The edges of the document's own flow.
    pub fn edges(&self) -> &[IrEdge] {
        &self.flows[Ir::TOP].edges
    }

    pub fn node(&self, at: NodeRef) -> &IrNode {
        &self.flows[at.flow].nodes[at.index]
    }

    /// Every node of the program, nested flows' included.
    pub fn all_nodes(&self) -> impl Iterator<Item = &IrNode> {
        self.flows.iter().flat_map(|flow| &flow.nodes)
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes().iter().position(|n| n.id == id)
    }

    /// The input node's schema, if the flow has an input node with one.
    pub fn input_schema(&self) -> Option<&serde_json::Value> {
        self.nodes().iter().find_map(|n| n.config.input_schema())
    }
}

/// Lowers one checked flow and, after it, the nested flows of its nodes; returns its id. Rust
/// names are given afterwards, by [`name_nodes`], once for the whole program.
fn lower(flows: &mut Vec<IrFlow>, checked: Checked, parent: Option<NodeRef>, settings: &Settings) -> FlowId {
    let Checked { nodes, edges, graph, configs, types, nested } = checked;
    let id = flows.len();
    let holders: Vec<usize> = nested.iter().map(|(index, _)| *index).collect();
    let nodes: Vec<IrNode> = nodes
        .into_iter()
        .zip(configs)
        .zip(types)
        .enumerate()
        .map(|(index, ((node, config), output_type))| IrNode {
            output_type,
            name: String::new(),
            local: String::new(),
            retry: match node.retry {
                // A node with a nested flow is not retried as a whole: its nested nodes have
                // retry policies.
                _ if holders.contains(&index) => None,
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
            nested: None,
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
    flows.push(IrFlow { nodes, edges, parent, module: Vec::new(), roots: HashMap::new() });
    for (index, inner) in nested {
        let child = lower(flows, inner, Some(NodeRef { flow: id, index }), settings);
        flows[id].nodes[index].nested = Some(child);
    }
    id
}

/// Gives every node of flow `flow` and its nested flows their Rust names: `name`, unique in
/// the program (a nested node's starts with its holder's), and `local`, unique in its own
/// flow. A flow's own nodes are named before its nested flows' nodes, so adding a map never
/// renames a node outside it.
fn name_nodes(flows: &mut [IrFlow], flow: FlowId, names: &mut Names, prefix: &str) {
    let mut local = Names::default();
    for node in flows[flow].nodes.iter_mut() {
        node.local = local.allocate(&node.id);
        node.name = names.allocate(&format!("{prefix}{}", node.id));
    }
    let holders: Vec<(FlowId, String)> =
        flows[flow].nodes.iter().filter_map(|n| Some((n.nested?, format!("{}_", n.name)))).collect();
    for (nested, prefix) in holders {
        name_nodes(flows, nested, names, &prefix);
    }
}

/// The module name of a holder's nested nodes' index constants: its local name, with a `_`
/// after a Rust keyword.
fn module_name(local: &str) -> String {
    if crate::ident::is_keyword(local) {
        format!("{local}_")
    } else {
        local.to_owned()
    }
}

/// Fills each flow's `roots`: its own nodes (the first of an id; a duplicate was reported),
/// then, in a nested flow, the item and its index, then the nodes of the flows around it,
/// nearest first. The checker has made sure a template reads only what it may.
fn resolve_roots(flows: &mut [IrFlow]) {
    for f in 0..flows.len() {
        let mut roots: HashMap<String, Root> =
            HashMap::from([(crate::check::shape::PARAMS_ROOT.to_owned(), Root::Params)]);
        let mut at = Some(f);
        let mut levels = 0;
        while let Some(flow) = at {
            for (index, node) in flows[flow].nodes.iter().enumerate() {
                roots.entry(node.id.clone()).or_insert(Root::Node { levels, node: NodeRef { flow, index } });
            }
            if levels == 0 && flows[flow].parent.is_some() {
                roots.insert("item".to_owned(), Root::Item);
                roots.insert("index".to_owned(), Root::Index);
            }
            at = flows[flow].parent.map(|p| p.flow);
            levels += 1;
        }
        flows[f].roots = roots;
    }
}
