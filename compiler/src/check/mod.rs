//! Checking a flow document, in phases: syntax → shape → graph → per-kind config →
//! templates. Every phase reports all it finds; a node that fails a phase is left out of
//! the later ones, so one mistake is reported once and never hides a mistake elsewhere.

pub mod graph;
pub mod reader;
pub mod shape;

use std::collections::{BTreeSet, HashMap};

use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics};
use crate::ir::Ir;
use crate::model::{Edge, Node, Settings};
use crate::nodes::{self, CheckCx, Config};
use crate::source::Document;
use crate::types::{Miss, Type};
use reader::Sink;

/// Checks `text` (the contents of `file`) and, when it is valid, lowers it to the IR.
///
/// The parsers it uses (jsonc, jaq, syn) and the type inference recurse per level of nesting.
/// The limits (128 levels, jq chains of 1,000) bound that depth, but a filter at the limits
/// still takes more than the 2 MiB a spawned thread gets by default (seen: 1,000 `|` in a
/// debug build). So the check runs on a thread of its own with a stack sized for the limits,
/// whatever thread the caller is on: the library holds its bounds without asking the caller
/// for a large stack. (Only the touched pages of a stack take memory.)
pub fn check(file: &str, text: &str, origin: &Origin) -> Result<Ir, Diagnostics> {
    const STACK: usize = 256 * 1024 * 1024;
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("flowc-check".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || check_here(file, text, origin))
        {
            Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had (a process at its limit): check here, on the caller's stack.
            Err(_) => check_here(file, text, origin),
        }
    })
}

/// Where a document being checked is, for the other documents it names (an agent's flow
/// tools): the folder their paths are relative to, and the documents that hold it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The folder of the document (`.` for one without a file, such as standard input).
    pub dir: std::path::PathBuf,
    /// The canonical paths of this document and of the documents that hold it as a flow tool,
    /// innermost last: a document may not hold itself, however far down.
    pub chain: Vec<std::path::PathBuf>,
}

impl Origin {
    /// The origin of the document in `file`, as the user named it.
    pub fn of_file(file: &str) -> Origin {
        let path = std::path::Path::new(file);
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        Origin { dir, chain: std::fs::canonicalize(path).into_iter().collect() }
    }
}

/// Checks a document read from another's (a flow tool's), on the thread already checking:
/// the caller's stack is the one [`check`] sized.
pub fn check_nested(file: &str, text: &str, origin: &Origin) -> Result<Ir, Diagnostics> {
    check_here(file, text, origin)
}

fn check_here(file: &str, text: &str, origin: &Origin) -> Result<Ir, Diagnostics> {
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let help = if text.trim().is_empty() {
                "a flow document is a JSON object: {\"version\": 1, \"id\": \"my-flow\", \"nodes\": [...], \"edges\": [...]}"
            } else if text.starts_with('\u{feff}') {
                "the file starts with a byte-order mark: save it as UTF-8 without a BOM"
            } else {
                "flow documents are strict JSON: no comments, no trailing commas, keys in double quotes"
            };
            let d = Diagnostic::new(Code::E001, "", format!("the file is not valid JSON: {}", e.message))
                .help(help)
                .at_range(crate::source::Range { start: e.range.start, end: e.range.end });
            return Err(Diagnostics::new(file, text, None, vec![d]));
        }
    };
    let mut sink = Sink::default();
    for pointer in &doc.duplicate_keys {
        let name = pointer.rsplit('/').next().unwrap_or_default();
        sink.push(
            Diagnostic::new(
                Code::E023,
                pointer.clone(),
                format!("the field `{name}` appears twice in the same object"),
            )
            .help("JSON readers keep only one of them: remove the duplicate")
            .at_key(),
        );
    }
    let Some(shaped) = shape::check(&mut sink, &doc.value) else {
        return Err(Diagnostics::new(file, text, Some(&doc), sink.diagnostics));
    };
    let scope = Scope {
        settings: &shaped.flow.settings,
        credentials: &shaped.declared,
        credential_sources: &shaped.flow.credentials,
        origin,
        outer: Vec::new(),
        outer_ids: Vec::new(),
        after_map: Vec::new(),
        map: None,
        // Every node, at every level, reads the flow's parameters: strings, by name.
        types: HashMap::from([(
            shape::PARAMS_ROOT.to_owned(),
            parameters_type(&shaped.flow.parameters, &shaped.declared_parameters),
        )]),
    };
    // Skipped when the top level has unknown fields: a misspelt `edges` would make every
    // read look wrong.
    let check_templates = !shaped.top_level_unknown;
    let (graph, configs, types, nested) =
        check_scope(&mut sink, &scope, &shaped.flow.nodes, &shaped.flow.edges, &shaped.broken_ids, check_templates);

    if !sink.diagnostics.is_empty() {
        return Err(Diagnostics::new(file, text, Some(&doc), sink.diagnostics));
    }
    // Every node without a diagnostic has a config; anything else is a bug in flowc, which
    // must still be an error rather than a panic.
    let Some(configs) = configs.into_iter().collect::<Option<Vec<Config>>>() else {
        let d = Diagnostic::new(Code::E002, "", "internal error: a node passed every check but has no config")
            .help("this is a bug in flowc: please report it with this flow document");
        return Err(Diagnostics::new(file, text, Some(&doc), vec![d]));
    };
    let mut flow = shaped.flow;
    let (nodes, edges) = (std::mem::take(&mut flow.nodes), std::mem::take(&mut flow.edges));
    Ok(Ir::new(flow, Checked { nodes, edges, graph, configs, types, nested }))
}

/// The type of `params`: a closed object of the declared parameters, each a string (an
/// environment variable's text, or its default); one whose definition has errors of its own
/// is `any`, so that reading it is not a second error.
pub fn parameters_type(parameters: &[crate::model::Parameter], declared: &[String]) -> Type {
    Type::record(crate::types::Object {
        fields: declared
            .iter()
            .map(|name| {
                let ty = if parameters.iter().any(|p| &p.name == name) { Type::String } else { Type::Any };
                (name.clone(), crate::types::Member { ty, optional: false })
            })
            .collect(),
        rest: None,
    })
}

/// A template's `params.<name>` names no declared parameter: the error, with what to do.
fn unknown_parameter(
    sink: &mut Sink,
    pointer: &str,
    path: &crate::template::Path,
    known: &HashMap<String, Type>,
) -> bool {
    let Some(crate::template::Seg::Key(name)) = path.segs.first() else { return false };
    let Some(Type::Object(declared)) = known.get(shape::PARAMS_ROOT) else { return false };
    if declared.fields.iter().any(|(field, _)| field == name) || declared.rest.is_some() {
        return false;
    }
    let names = declared.fields.iter().map(|(field, _)| field.as_str());
    let help = match did_you_mean(name, names.clone()) {
        Some(near) => {
            let mut fixed = path.clone();
            fixed.segs[0] = crate::template::Seg::Key(near.to_owned());
            format!("did you mean `{{{{ {} }}}}`? The flow's parameters are {}", fixed.display(), reader::list(names))
        }
        None if declared.fields.is_empty() => format!(
            "the flow declares no parameters: declare it, e.g. \"parameters\": {{\"{name}\": {{\"env\": \"{}\"}}}}",
            name.to_ascii_uppercase()
        ),
        None => format!("the flow's parameters are {}", reader::list(names)),
    };
    sink.push(
        Diagnostic::new(
            Code::E029,
            pointer.to_owned(),
            format!(
                "`{{{{ {} }}}}` reads the parameter `{name}`, and the flow declares no such parameter",
                path.display()
            ),
        )
        .help(help),
    );
    true
}

/// One flow, checked: its nodes and edges as the document has them, its graph, each node's
/// config and output type, and the nested flows of its nodes (by node index).
#[derive(Debug)]
pub struct Checked {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub graph: graph::Graph,
    pub configs: Vec<Config>,
    pub types: Vec<Type>,
    pub nested: Vec<(usize, Checked)>,
}

/// What [`check_scope`] finds of one flow: its graph; each node's config (`None` for a node
/// with errors) and output type (`any` for one with errors); the nested flows its nodes hold.
pub type Scoped = (graph::Graph, Vec<Option<Config>>, Vec<Type>, Vec<(usize, Checked)>);

/// What the nodes of one flow can see: the flow document's settings and credentials and, for
/// the nested flow of a `map`, the nodes of the flows around it.
pub struct Scope<'a> {
    pub settings: &'a Settings,
    /// Every name declared under `credentials`.
    pub credentials: &'a [String],
    /// The credentials declared without errors, with where each is read from.
    pub credential_sources: &'a [crate::model::Credential],
    /// Where the document is, for the documents it names.
    pub origin: &'a Origin,
    /// The nodes of enclosing flows this flow's nodes may read (those upstream of the map,
    /// at every level), with how many maps out each is.
    pub outer: Vec<(String, usize)>,
    /// Every node id of the enclosing flows: a nested node may not take one.
    pub outer_ids: Vec<String>,
    /// The nodes of the enclosing flow that run after the map (its downstream).
    pub after_map: Vec<String>,
    /// The id of the map whose nested flow this is.
    pub map: Option<String>,
    /// The types of what this flow's nodes read besides each other: the nodes of `outer`, and
    /// inside a map `item` and `index`.
    pub types: HashMap<String, Type>,
}

impl Scope<'_> {
    /// The scope of the nested flow of map node `map` of this scope: it sees the map's
    /// upstream nodes, one level out, and everything this scope sees, one level further.
    pub fn nested<'b>(
        &'b self,
        map: &str,
        upstream: Vec<String>,
        downstream: Vec<String>,
        ids: Vec<String>,
        types: HashMap<String, Type>,
    ) -> Scope<'b> {
        let mut outer: Vec<(String, usize)> = upstream.into_iter().map(|id| (id, 1)).collect();
        outer.extend(self.outer.iter().map(|(id, levels)| (id.clone(), levels + 1)));
        let mut outer_ids = ids;
        outer_ids.extend(self.outer_ids.iter().cloned());
        Scope {
            settings: self.settings,
            credentials: self.credentials,
            credential_sources: self.credential_sources,
            origin: self.origin,
            outer,
            outer_ids,
            after_map: downstream,
            map: Some(map.to_owned()),
            types,
        }
    }
}

/// Phases 2 to 4 for the nodes and edges of one flow (the document's, or a map's nested
/// one): the graph, each node's config, what templates read.
pub fn check_scope(
    sink: &mut Sink,
    scope: &Scope<'_>,
    nodes: &[Node],
    edges: &[Edge],
    broken_ids: &BTreeSet<String>,
    check_templates: bool,
) -> Scoped {
    let graph = graph::check(sink, nodes, edges, broken_ids, scope.map.is_none());
    // Templates and filters read by this flow's nodes; a nested flow takes its own out.
    let templates_before = sink.templates.len();
    let filters_before = sink.filters.len();

    // Phase 3: each node's config, by kind, and its output type; upstream nodes first, so
    // that a node's type can build on theirs (a branch passes its input on, a map's items are
    // an upstream array).
    let n = nodes.len();
    let mut configs: Vec<Option<Config>> = vec![None; n];
    let mut types: Vec<Type> = vec![Type::Any; n];
    let mut templates: Vec<Vec<(String, crate::template::Template)>> = vec![Vec::new(); n];
    // Paths of jq filters that cannot exist, reported with the templates' in phase 5.
    let mut filter_problems: Vec<Vec<Diagnostic>> = vec![Vec::new(); n];
    let mut filters: Vec<(usize, String, String)> = Vec::new();
    let mut nested_flows: Vec<(usize, Checked)> = Vec::new();
    let ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).chain(broken_ids.iter().cloned()).collect();
    // What each node may read, by id: the scope's, then this flow's nodes as they are typed.
    let mut known: HashMap<String, Type> = scope.types.clone();
    let order: Vec<usize> = if graph.order.len() == n { graph.order.clone() } else { (0..n).collect() };
    for i in order {
        let node = &nodes[i];
        if graph.broken[i] {
            continue;
        }
        let before = sink.templates.len();
        let filters_before = sink.filters.len();
        let nested = node.kind.kind().nested_item(&node.config, &known).map(|item| {
            let upstream: Vec<String> =
                (0..n).filter(|&j| graph.is_ancestor(j, i)).map(|j| nodes[j].id.clone()).collect();
            let downstream = (0..n).filter(|&j| graph.is_ancestor(i, j)).map(|j| nodes[j].id.clone()).collect();
            let mut seen: HashMap<String, Type> = scope.types.clone();
            for id in &upstream {
                seen.insert(id.clone(), known.get(id).cloned().unwrap_or(Type::Any));
            }
            seen.insert("item".to_owned(), item);
            seen.insert("index".to_owned(), Type::Integer);
            scope.nested(&node.id, upstream, downstream, ids.clone(), seen)
        });
        let mut cx = CheckCx { sink: &mut *sink, node, scope, nested: nested.as_ref(), nested_flow: None, at: None };
        configs[i] = node.kind.kind().check(&mut cx);
        if let Some(flow) = cx.nested_flow.take() {
            nested_flows.push((i, flow));
        }
        templates[i] = sink.templates.split_off(before);
        filters.extend(sink.filters.split_off(filters_before).into_iter().map(|(pointer, code)| (i, pointer, code)));
        if let Some(config) = &configs[i] {
            let flow = Reading { scope, nodes, broken_ids, graph: &graph, known: &known };
            (types[i], filter_problems[i]) = node_type(node, config, &flow, i);
        }
        // The first node with an id is the one templates read (a duplicate is reported).
        if graph.index_of(&node.id) == Some(i) {
            known.insert(node.id.clone(), types[i].clone());
        }
    }
    check_triggers(sink, scope, nodes, edges, &graph, &mut configs);
    let codes: Vec<&str> = filters.iter().map(|(_, _, code)| code.as_str()).collect();
    for ((node, pointer, _), result) in filters.iter().zip(flowc_core::jq::check_all(&codes)) {
        let Err(problems) = result else { continue };
        for p in problems {
            sink.push(
                Diagnostic::new(Code::E019, pointer.clone(), format!("invalid jq filter at character {}: {}", p.offset + 1, p.message))
                    .help("see https://jqlang.org/manual for the filter language; `$nodes` holds every finished upstream node's data"),
            );
        }
        configs[*node] = None;
    }
    let mut outputs: HashMap<&str, &str> = HashMap::new();
    for (node, config) in nodes.iter().zip(&configs) {
        if let Some(name) = config.as_ref().and_then(|c| c.output_name()) {
            if let Some(first) = outputs.insert(name, &node.id) {
                sink.push(
                    Diagnostic::new(
                        Code::E024,
                        format!("{}/config/name", node.pointer),
                        format!("nodes `{first}` and `{}` both write the output `{name}`", node.id),
                    )
                    .help("give each output node its own \"name\""),
                );
            }
        }
    }

    // Phase 4: what templates read.
    if check_templates {
        for (reader, list) in templates.iter().enumerate() {
            let flow = Reading { scope, nodes, broken_ids, graph: &graph, known: &known };
            if configs[reader].is_some() && !check_reads(sink, &flow, reader, list) {
                configs[reader] = None;
            }
            if configs[reader].is_some() && !graph.uncertain[reader] && !filter_problems[reader].is_empty() {
                sink.diagnostics.append(&mut filter_problems[reader]);
                configs[reader] = None;
            }
        }
    }
    sink.templates.truncate(templates_before);
    sink.filters.truncate(filters_before);
    (graph, configs, types, nested_flows)
}

/// The type of node `i`'s data (its kind's output type, or its fallback when it fails), and
/// the paths its jq filters take that cannot exist (E029).
fn node_type(node: &crate::model::Node, config: &Config, flow: &Reading<'_>, i: usize) -> (Type, Vec<Diagnostic>) {
    let Reading { scope, nodes, graph, known, .. } = *flow;
    // Its upstream nodes, in the order of their first edge (§9.1).
    let mut upstream: Vec<(&str, Type)> = Vec::new();
    for &(_, source, target) in &graph.edges {
        let id = nodes[source].id.as_str();
        if target == i && !upstream.iter().any(|(u, _)| *u == id) {
            upstream.push((id, known.get(id).cloned().unwrap_or(Type::Any)));
        }
    }
    let input = match upstream.as_slice() {
        // Inside a map, a node with no upstream node takes the item (§13.15).
        [] if scope.map.is_some() => known.get("item").cloned().unwrap_or(Type::Any),
        [] => Type::Null,
        [(_, only)] => only.clone(),
        several => Type::object(several.iter().map(|(id, t)| (*id, t.clone()))),
    };
    let filters = config.filters();
    // `$nodes`: the ancestors' data by id, each there once it finished. Built only for a
    // filter that reads it (it costs a pass over the flow).
    let dollar_nodes = if filters.iter().any(|(_, code)| code.contains("$nodes")) {
        Type::record(crate::types::Object {
            fields: (0..nodes.len())
                .filter(|&j| graph.is_ancestor(j, i) && graph.index_of(&nodes[j].id) == Some(j))
                .map(|j| {
                    let ty = known.get(&nodes[j].id).cloned().unwrap_or(Type::Any);
                    (nodes[j].id.clone(), crate::types::Member { ty, optional: true })
                })
                .collect(),
            rest: None,
        })
    } else {
        Type::Any
    };
    let cx = nodes::TypeCx { input, upstream, known, nodes: dollar_nodes };
    let mut problems = Vec::new();
    for (field, code) in filters {
        let inputs = crate::jq_types::Inputs { input: cx.input.clone(), nodes: &cx.nodes, params: cx.params() };
        for problem in crate::jq_types::infer(code, &inputs).problems {
            problems.push(filter_problem(node, field, &problem));
        }
    }
    let ty = config.output_type(&cx);
    let ty = match &node.on_error {
        crate::model::OnError::Fallback(value) => Type::union([ty, Type::of_value(value)]),
        _ => ty,
    };
    (ty, problems)
}

/// E029 for a path a jq filter takes that cannot exist.
fn filter_problem(node: &crate::model::Node, field: &str, problem: &crate::jq_types::PathProblem) -> Diagnostic {
    let crate::jq_types::PathProblem { offset, path, before, on_input, miss } = problem;
    let of = match (before.is_empty(), on_input) {
        (true, true) => "its input".to_owned(),
        (true, false) => "`.` there".to_owned(),
        (false, _) => format!("`{before}`"),
    };
    let reads = format!("the jq filter of node `{}` reads `{path}` (character {})", node.id, offset + 1);
    let (message, help) = match miss {
        Miss::NoField { name, fields } => {
            let message = format!("{reads}, and {of} has no field `{name}`");
            let listed = if fields.is_empty() {
                String::new()
            } else {
                format!("{} has the fields {}", capitalise(&of), reader::list(fields.iter().map(String::as_str)))
            };
            let help = match did_you_mean(name, fields.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{before}.{near}`? {listed}"),
                None if before == "$nodes" => format!(
                    "`$nodes` holds the nodes upstream of `{}`: {}",
                    node.id,
                    if fields.is_empty() {
                        "it has none".to_owned()
                    } else {
                        reader::list(fields.iter().map(String::as_str))
                    }
                ),
                None if listed.is_empty() => {
                    "read a field the data has: `flowc describe` shows each node's type".to_owned()
                }
                None => listed,
            };
            (message, help)
        }
        Miss::Scalar { found, .. } | Miss::WrongContainer { found, .. } => {
            (format!("{reads}, and {of} is {}", found.article()), format!("{} is `{found}`", capitalise(&of)))
        }
    };
    Diagnostic::new(Code::E029, format!("{}/config/{field}", node.pointer), message).help(help)
}

/// Trigger nodes (`webhook`, `schedule`) start a flow: at most one per flow, only in the
/// document's own flow, and nothing runs before them (E027).
fn check_triggers(
    sink: &mut Sink,
    scope: &Scope<'_>,
    nodes: &[Node],
    edges: &[Edge],
    graph: &graph::Graph,
    configs: &mut [Option<Config>],
) {
    let is_trigger = |n: &Node| n.kind.role() == nodes::Role::Trigger;
    let mut first: Option<&Node> = None;
    for (i, node) in nodes.iter().enumerate().filter(|(_, n)| is_trigger(n)) {
        let kind = node.kind.as_str();
        let problem = if let Some(map) = &scope.map {
            Some((
                format!("{}/type", node.pointer),
                format!("node `{}` is a `{kind}` inside map `{map}`", node.id),
                "a trigger starts the whole flow: put it in the flow's own `nodes`, before the map".to_owned(),
            ))
        } else if let Some(first) = first {
            Some((
                format!("{}/type", node.pointer),
                format!("node `{}` is a second trigger: `{}` already starts the flow", node.id, first.id),
                "a flow has one trigger (a `webhook` or a `schedule`): compile a flow per trigger".to_owned(),
            ))
        } else if let Some(&(position, source, _)) = graph.edges.iter().find(|&&(_, _, target)| target == i) {
            Some((
                format!("{}/target", edges[position].pointer),
                format!("an edge enters `{kind}` node `{}`, which starts the flow", node.id),
                format!("a trigger runs first: remove the edge from `{}`", nodes[source].id),
            ))
        } else {
            None
        };
        first.get_or_insert(node);
        if let Some((pointer, message, help)) = problem {
            sink.push(Diagnostic::new(Code::E027, pointer, message).help(help));
            configs[i] = None;
        }
    }
}

/// What phase 5 reads of one flow: its nodes and graph, and the type of everything its nodes
/// may read.
struct Reading<'a> {
    scope: &'a Scope<'a>,
    nodes: &'a [Node],
    broken_ids: &'a BTreeSet<String>,
    graph: &'a graph::Graph,
    known: &'a HashMap<String, Type>,
}

/// Checks that every template of node `reader` reads a node upstream of it, along a path its
/// type can have.
fn check_reads(
    sink: &mut Sink,
    flow: &Reading<'_>,
    reader: usize,
    templates: &[(String, crate::template::Template)],
) -> bool {
    let Reading { scope, nodes, broken_ids, graph, known } = *flow;
    let reader_id = &nodes[reader].id;
    let mut ok = true;
    for (pointer, template) in templates {
        for path in template.paths() {
            if path.root == shape::PARAMS_ROOT {
                if unknown_parameter(sink, pointer, path, known) {
                    ok = false;
                } else {
                    ok &= check_path(sink, pointer, path, "the flow's parameters", known);
                }
                continue;
            }
            if let Some((_, _, ty)) =
                sink.locals.iter().find(|(prefix, root, _)| *root == path.root && pointer.starts_with(prefix.as_str()))
            {
                // A root of the config around the template (an agent tool's `args`).
                let local: HashMap<String, Type> = [(path.root.clone(), ty.clone())].into();
                ok &= check_path(sink, pointer, path, "the tool's `args`", &local);
                continue;
            }
            if scope.map.is_some() && (path.root == "item" || path.root == "index") {
                // The map item, or its index.
                let what = if path.root == "item" { "the map item" } else { "the map index" };
                ok &= check_path(sink, pointer, path, what, known);
                continue;
            }
            // The first node with an id is the one edges name (a duplicate is reported).
            let Some(source) = graph.index_of(&path.root) else {
                if broken_ids.contains(&path.root) {
                    continue; // the node exists, with errors of its own
                }
                if scope.outer.iter().any(|(id, _)| *id == path.root) {
                    // Upstream of the map.
                    ok &= check_path(sink, pointer, path, &format!("node `{}`", path.root), known);
                    continue;
                }
                if let (Some(map), true) = (&scope.map, scope.outer_ids.contains(&path.root)) {
                    let root = &path.root;
                    sink.push(
                        Diagnostic::new(
                            Code::E018,
                            pointer.clone(),
                            format!(
                                "node `{reader_id}` inside map `{map}` reads `{{{{ {} }}}}`, but `{root}` is not upstream of the map",
                                path.display()
                            ),
                        )
                        .help(if scope.after_map.contains(root) {
                            format!("`{root}` runs after map `{map}`, so its data does not exist yet when the map runs: read a node upstream of the map")
                        } else {
                            format!("a node inside a map reads the nodes upstream of the map: add an edge {{\"source\": \"{root}\", \"target\": \"{map}\"}}")
                        }),
                    );
                    ok = false;
                    continue;
                }
                let upstream: Vec<&str> = (0..nodes.len())
                    .filter(|&i| graph.is_ancestor(i, reader))
                    .map(|i| nodes[i].id.as_str())
                    .chain(scope.outer.iter().map(|(id, _)| id.as_str()))
                    .chain(scope.map.iter().flat_map(|_| ["item", "index"]))
                    .collect();
                let known = nodes.iter().map(|n| n.id.as_str()).chain(upstream.iter().copied());
                let help = match did_you_mean(&path.root, known) {
                    Some(near) => format!("did you mean `{{{{ {} }}}}`?", path.display().replacen(&path.root, near, 1)),
                    None if upstream.is_empty() => {
                        format!("a template starts with the id of a node upstream of `{reader_id}`, and it has none yet: add an edge into it")
                    }
                    None => format!("the nodes upstream of `{reader_id}` are {}", reader::list(upstream)),
                };
                sink.push(
                    Diagnostic::new(
                        Code::E017,
                        pointer.clone(),
                        format!(
                            "`{{{{ {} }}}}` reads the node `{}`, and there is no such node",
                            path.display(),
                            path.root
                        ),
                    )
                    .help(help),
                );
                ok = false;
                continue;
            };
            if graph.uncertain[reader] {
                continue; // its upstream is not known for sure, for a reason already reported
            }
            if source == reader {
                sink.push(
                    Diagnostic::new(
                        Code::E018,
                        pointer.clone(),
                        format!("node `{reader_id}` reads its own output in `{{{{ {} }}}}`", path.display()),
                    )
                    .help("a node can only read nodes upstream of it"),
                );
                ok = false;
            } else if !graph.is_ancestor(source, reader) {
                let root = &path.root;
                let help = if graph.is_ancestor(reader, source) {
                    format!("`{root}` runs after `{reader_id}`, so its data does not exist yet when `{reader_id}` runs: read a node upstream of `{reader_id}`")
                } else {
                    format!("add an edge so that `{root}` runs first: {{\"source\": \"{root}\", \"target\": \"{reader_id}\"}}")
                };
                sink.push(
                    Diagnostic::new(
                        Code::E018,
                        pointer.clone(),
                        format!(
                            "node `{reader_id}` reads `{{{{ {} }}}}`, but `{root}` is not upstream of it",
                            path.display()
                        ),
                    )
                    .help(help),
                );
                ok = false;
            } else if !check_path(
                sink,
                pointer,
                path,
                &format!("node `{}` ({})", nodes[source].id, nodes[source].kind.as_str()),
                known,
            ) {
                ok = false;
            }
        }
    }
    ok
}

/// Follows a template's path through the type of the node it reads (E029).
fn check_path(
    sink: &mut Sink,
    pointer: &str,
    path: &crate::template::Path,
    node: &str,
    known: &HashMap<String, Type>,
) -> bool {
    let Some(ty) = known.get(&path.root) else { return true };
    let Err((at, miss)) = ty.follow(&path.segs) else { return true };
    let what = |segs: &[crate::template::Seg]| {
        crate::template::Path { root: path.root.clone(), segs: segs.to_vec() }.display()
    };
    let read = path.display();
    let before = what(&path.segs[..at]);
    let (message, help) = match miss {
        Miss::NoField { name, fields } => {
            let whose = whose(at, &before, node);
            let message = format!("`{{{{ {read} }}}}` reads the field `{name}`, and {whose} has no such field");
            let help = match did_you_mean(&name, fields.iter().map(String::as_str)) {
                Some(near) => {
                    let mut fixed = path.segs.clone();
                    fixed[at] = crate::template::Seg::Key(near.to_owned());
                    format!(
                        "did you mean `{{{{ {} }}}}`? {} has the fields {}",
                        what(&fixed),
                        capitalise(&whose),
                        reader::list(fields.iter().map(String::as_str))
                    )
                }
                None if fields.is_empty() => {
                    format!("{} is `{}`", capitalise(&whose), ty.follow(&path.segs[..at]).unwrap_or(Type::Any))
                }
                None => {
                    format!("{} has the fields {}", capitalise(&whose), reader::list(fields.iter().map(String::as_str)))
                }
            };
            (message, help)
        }
        Miss::Scalar { step, found } | Miss::WrongContainer { step, found } => {
            let step_text = match &step {
                crate::template::Seg::Key(name) => format!("the field `{name}`"),
                crate::template::Seg::Index(i) => format!("the element `[{i}]`"),
            };
            let whose = whose(at, &before, node);
            let message = format!("`{{{{ {read} }}}}` reads {step_text}, and {whose} is {}", found.article());
            let help = match (&step, &found) {
                (crate::template::Seg::Key(_), Type::Array(_)) => {
                    format!("an array has elements, not fields: read one with `{{{{ {before}[0] }}}}`, or use a `map` or a jq filter for all of them")
                }
                (crate::template::Seg::Index(_), Type::Object(_)) => {
                    format!("an object has fields, not elements: `{before}` is `{found}`")
                }
                _ => format!("`{before}` is `{found}`: read it whole, as `{{{{ {before} }}}}`"),
            };
            (message, help)
        }
    };
    sink.push(Diagnostic::new(Code::E029, pointer.to_owned(), message).help(help));
    false
}

/// How a message names the value a step was taken from: the data of a node, or a part of it.
fn whose(at: usize, before: &str, node: &str) -> String {
    match (at, node.starts_with("node ")) {
        (0, true) => format!("the data of {node}"),
        (0, false) => node.to_owned(),
        _ => format!("`{before}` of {node}"),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
