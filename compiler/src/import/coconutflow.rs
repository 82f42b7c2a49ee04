//! CoconutFlow's flow documents (the `bunnyflex/coconutflow` builder), in both dialects it
//! saves: the backend's (node types `agent`, `tool`, nested config such as `config.agent`,
//! `config.input_output`, `config.conditional`) and the frontend's (`llm_agent`, `web_search`,
//! flat config), with `source_handle` or `sourceHandle` on edges.
//!
//! CoconutFlow's data flows implicitly, as text: a node's input is its upstream node's output,
//! or, with several upstream nodes that ran, `[Input from <id>]:\n<output>` blocks joined by a
//! blank line. The translation makes that explicit with templates (and a `transform` where
//! several upstream nodes meet). Its semantics, node by node:
//!
//! | CoconutFlow | flowc |
//! |---|---|
//! | `input` | the run input as text (a JSON string, or an object's `input`), else the node's default text; one `input` node for all of them |
//! | `agent`, `llm_agent` | `agent`: model, instructions (`system_prompt`, else `instructions`), tools (`web_search`), the upstream text as the prompt; `temperature` is not sent, as CoconutFlow does not send it |
//! | `tool`, `web_search` | `agent` on `gpt-4o-mini` with a web search tool (provider from the environment), as CoconutFlow's search agent |
//! | `conditional` | `classify` on `gpt-4o-mini` with categories `true` (the condition) and `false`; its output is its input, passed on |
//! | `output` | `output`, named after its label (or id) |
//! | `firecrawl_scrape` | `firecrawl_scrape` of its `url`, or of the upstream text when `url` is empty or `{{upstream}}` |
//! | `apify_actor`, `huggingface_inference` | the kinds of the same names, the upstream text as the inputs |
//! | `mcp_server` | `agent` on `gpt-4o-mini` with every tool of the server |
//! | `knowledge_base` without sources | the text CoconutFlow yields for it: `[Knowledge Base unavailable: Knowledge base not configured]` |

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::Imported;
use crate::diag::{Code, Diagnostic, Diagnostics};

/// Node types CoconutFlow saves (backend and frontend names).
const TYPES: &[&str] = &[
    "input",
    "output",
    "agent",
    "llm_agent",
    "tool",
    "web_search",
    "knowledge_base",
    "conditional",
    "firecrawl_scrape",
    "apify_actor",
    "mcp_server",
    "huggingface_inference",
    "team",
    "prompt",
    "loop",
    "webhook",
    "schedule",
];

/// Whether a config key is one of the backend's nested configs: `input_output`, or a type
/// name (`agent`, `tool`, `conditional`, …).
fn nested_key(key: &str) -> bool {
    key == "input_output" || (TYPES.contains(&key) && !["input", "output", "llm_agent"].contains(&key))
}

/// Field names of the canvas's flat configs that no flowc kind has (`placeholder` is an input
/// node's hint text).
const FLAT: &[&str] = &[
    "model_id",
    "model_provider",
    "query_template",
    "result_count",
    "condition",
    "placeholder",
    "input_type",
    "display_format",
    "copy_to_clipboard",
    "server_url",
    "server_type",
    "chunk_size",
    "include_metadata",
    "credential_id",
];

/// CoconutFlow's text for a knowledge base without sources.
const KB_UNAVAILABLE: &str = "[Knowledge Base unavailable: Knowledge base not configured]";

/// The model CoconutFlow's search agent, condition evaluator and knowledge-base agent use.
const HELPER_MODEL: &str = "gpt-4o-mini";

/// Whether a document (without flowc's `version`) is CoconutFlow's: every node has one of its
/// types, and some node has a config only CoconutFlow writes.
pub fn recognise(value: &Value) -> bool {
    if ["settings", "credentials", "parameters"].iter().any(|k| value.get(k).is_some()) {
        return false;
    }
    let Some(nodes) = value.get("nodes").and_then(Value::as_array) else { return false };
    let typed = |n: &Value| n.get("type").and_then(Value::as_str).is_some_and(|t| TYPES.contains(&t));
    let coconut = |n: &Value| {
        let only_here = ["llm_agent", "tool", "conditional", "knowledge_base", "mcp_server", "team", "prompt", "loop"];
        n.get("type").and_then(Value::as_str).is_some_and(|t| only_here.contains(&t))
            || n.get("config")
                .and_then(Value::as_object)
                .is_some_and(|c| c.iter().any(|(k, v)| (nested_key(k) && v.is_object()) || FLAT.contains(&k.as_str())))
    };
    !nodes.is_empty() && nodes.iter().all(typed) && nodes.iter().any(coconut)
}

/// What a node's output text is, for the nodes downstream of it.
#[derive(Debug, Clone, PartialEq)]
enum Text {
    /// The data of a flowc node, or a field of it.
    Path { node: String, field: Option<&'static str> },
    /// Nothing (a node without upstream nodes).
    Empty,
}

impl Text {
    fn template(&self) -> String {
        match self {
            Text::Path { node, field: Some(field) } => format!("{{{{ {node}.{field} }}}}"),
            Text::Path { node, field: None } => format!("{{{{ {node} }}}}"),
            Text::Empty => String::new(),
        }
    }

    fn jq(&self) -> String {
        match self {
            Text::Path { node, field: Some(field) } => format!("$nodes[{}][{}]", json!(node), json!(field)),
            Text::Path { node, field: None } => format!("$nodes[{}]", json!(node)),
            Text::Empty => "\"\"".to_owned(),
        }
    }
}

/// One CoconutFlow edge, read.
struct Edge {
    source: usize,
    target: usize,
    /// `true` or `false`, out of a conditional.
    branch: Option<String>,
}

/// The translation under way.
struct Import<'a> {
    doc: &'a Value,
    diagnostics: Vec<Diagnostic>,
    /// The flowc ids taken so far.
    taken: HashSet<String>,
    /// Each CoconutFlow node's flowc id.
    ids: Vec<String>,
    nodes: Vec<Value>,
    edges: Vec<Value>,
    credentials: BTreeMap<&'static str, &'static str>,
    /// The shared `input` node, once made.
    input: Option<String>,
    notes: Vec<String>,
    /// The output names given so far.
    outputs: HashSet<String>,
}

/// A flowc node id from any text: `A-Z a-z 0-9 _ -`, at most 100, never `params`.
fn node_id(text: &str) -> String {
    let mut id: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(100)
        .collect();
    if id.is_empty() || id == "params" {
        id.push_str("_node");
    }
    id
}

/// A flow id from the flow's name: lower case, `-` between words, starting with a letter.
pub(crate) fn flow_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-');
    let id = if id.starts_with(|c: char| c.is_ascii_lowercase()) { id.to_owned() } else { format!("flow-{id}") };
    let id: String = id.chars().take(56).collect();
    let id = id.trim_end_matches('-').to_owned();
    // Not a keyword or a crate of the generated program's dependency set (E006 refuses those).
    if id == "flow-" || crate::check::shape::reserved_flow_id(&id).is_some() {
        format!("{id}-flow").replace("--", "-")
    } else {
        id
    }
}

/// Whether a string can be a flowc template as it is: no `{{` or `}}` (which would start or
/// end a template).
fn plain(text: &str) -> bool {
    !text.contains("{{") && !text.contains("}}")
}

impl Import<'_> {
    fn error(&mut self, pointer: impl Into<String>, message: impl Into<String>, help: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(Code::E031, pointer, message).help(help));
    }

    fn fresh(&mut self, wanted: &str) -> String {
        let base = node_id(wanted);
        let mut id = base.clone();
        let mut n = 2;
        while self.taken.contains(&id) {
            id = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(id.clone());
        id
    }

    fn credential(&mut self, name: &'static str, env: &'static str) -> &'static str {
        self.credentials.insert(name, env);
        name
    }

    /// A text as a template: itself, or, when it holds `{{` or `}}`, the data of a `transform`
    /// node that yields it (flowc templates have no escape).
    fn literal(&mut self, text: &str, for_node: &str) -> String {
        if plain(text) {
            return text.to_owned();
        }
        let id = self.fresh(&format!("{for_node}__text"));
        self.nodes.push(json!({"id": id, "type": "transform", "config": {"jq": json!(text).to_string()}}));
        self.edge(&id, for_node, None);
        format!("{{{{ {id} }}}}")
    }

    fn edge(&mut self, source: &str, target: &str, handle: Option<&str>) {
        let mut edge = json!({"source": source, "target": target});
        if let Some(handle) = handle {
            edge["source_handle"] = json!(handle);
        }
        self.edges.push(edge);
    }
}

/// A node's config: the backend's nested object under `key` (with its pointer), else the
/// frontend's flat config.
fn config<'v>(node: &'v Value, i: usize, keys: &[&str]) -> (&'v Map<String, Value>, String) {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(Map::new);
    let Some(config) = node.get("config").and_then(Value::as_object) else {
        return (empty, format!("/nodes/{i}"));
    };
    for key in keys {
        if let Some(nested) = config.get(*key).and_then(Value::as_object) {
            return (nested, format!("/nodes/{i}/config/{key}"));
        }
    }
    (config, format!("/nodes/{i}/config"))
}

fn string<'v>(config: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    config.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// Translates a CoconutFlow document.
pub fn import(file: &str, text: &str) -> Result<Imported, Diagnostics> {
    let parsed = crate::source::Document::parse(text).ok();
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut cx = Import {
        doc: &doc,
        diagnostics: Vec::new(),
        taken: HashSet::new(),
        ids: Vec::new(),
        nodes: Vec::new(),
        edges: Vec::new(),
        credentials: BTreeMap::new(),
        input: None,
        notes: Vec::new(),
        outputs: HashSet::new(),
    };
    translate(&mut cx);
    if !cx.diagnostics.is_empty() {
        return Err(Diagnostics::new(file, text, parsed.as_ref(), cx.diagnostics));
    }
    let name = doc.get("name").and_then(Value::as_str).filter(|s| !s.trim().is_empty()).unwrap_or("CoconutFlow flow");
    let mut description = doc.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !description.is_empty() {
        description.push(' ');
    }
    description.push_str("(imported from CoconutFlow)");
    let credentials: Map<String, Value> =
        cx.credentials.iter().map(|(name, env)| ((*name).to_owned(), json!({"env": env}))).collect();
    let mut out = json!({
        "version": 1,
        "id": flow_id(name),
        "name": name,
        "description": description,
    });
    if !credentials.is_empty() {
        out["credentials"] = Value::Object(credentials);
        for (name, env) in &cx.credentials {
            cx.notes.push(format!("credential `{name}` is read from {env}"));
        }
    }
    out["nodes"] = Value::Array(cx.nodes);
    out["edges"] = Value::Array(cx.edges);
    let text = serde_json::to_string_pretty(&out).unwrap_or_default() + "\n";
    Ok(Imported { dialect: "CoconutFlow", text, notes: cx.notes })
}

fn translate(cx: &mut Import<'_>) {
    let doc = cx.doc;
    let Some(nodes) = doc.get("nodes").and_then(Value::as_array) else {
        cx.error(
            "/nodes",
            "the CoconutFlow document has no `nodes` array",
            "a flow has nodes: [{\"id\", \"type\", \"config\"}, ...]",
        );
        return;
    };
    // Ids first: edges name nodes by their CoconutFlow id.
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let id = match node.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(id) => id,
            None => {
                cx.error(
                    format!("/nodes/{i}"),
                    format!("node {i} has no `id`"),
                    "give every node a unique string `id`",
                );
                ""
            }
        };
        if !id.is_empty() && by_id.insert(id, i).is_some() {
            cx.error(format!("/nodes/{i}/id"), format!("a second node has the id `{id}`"), "node ids must be unique");
        }
        let flowc = cx.fresh(if id.is_empty() { "node" } else { id });
        cx.ids.push(flowc);
    }
    let mut edges: Vec<Edge> = Vec::new();
    let empty = Vec::new();
    for (e, edge) in doc.get("edges").and_then(Value::as_array).unwrap_or(&empty).iter().enumerate() {
        let end = |key: &str| edge.get(key).and_then(Value::as_str).and_then(|id| by_id.get(id).copied());
        let (Some(source), Some(target)) = (end("source"), end("target")) else {
            let key = if end("source").is_none() { "source" } else { "target" };
            let found = edge.get(key).map_or("nothing".to_owned(), |v| v.to_string());
            cx.error(
                format!("/edges/{e}/{key}"),
                format!("edge {e}'s `{key}` is {found}, which names no node"),
                "an edge's `source` and `target` are node ids",
            );
            continue;
        };
        let handle = edge.get("source_handle").or_else(|| edge.get("sourceHandle")).and_then(Value::as_str);
        let from_conditional = nodes[source].get("type").and_then(Value::as_str) == Some("conditional");
        let branch = match (from_conditional, handle) {
            (true, Some(h @ ("true" | "false"))) => Some(h.to_owned()),
            (true, Some(other)) => {
                let key = if edge.get("source_handle").is_some() { "source_handle" } else { "sourceHandle" };
                cx.error(
                    format!("/edges/{e}/{key}"),
                    format!(
                        "edge {e} leaves conditional `{}` by the handle `{other}`, which CoconutFlow never takes",
                        cx.ids[source]
                    ),
                    "a conditional's edges leave by `true` or `false`",
                );
                continue;
            }
            _ => None,
        };
        edges.push(Edge { source, target, branch });
    }
    let Some(order) = topological(nodes.len(), &edges) else {
        cx.error(
            "/edges",
            "the edges form a cycle",
            "CoconutFlow runs its nodes in dependency order: remove an edge of the cycle",
        );
        return;
    };
    let mut texts: Vec<Text> = vec![Text::Empty; nodes.len()];
    for i in order {
        let upstream: Vec<usize> = {
            let mut seen = Vec::new();
            for edge in edges.iter().filter(|e| e.target == i) {
                if !seen.contains(&edge.source) {
                    seen.push(edge.source);
                }
            }
            seen
        };
        let id = cx.ids[i].clone();
        // The node's input text, and the flowc nodes its edges come from.
        let input = match upstream.as_slice() {
            [] => Text::Empty,
            [one] => texts[*one].clone(),
            many => {
                let combine = cx.fresh(&format!("{id}__input"));
                let parts: Vec<String> = many
                    .iter()
                    .map(|&u| {
                        let original = nodes[u].get("id").and_then(Value::as_str).unwrap_or_default();
                        format!("[{}, {}]", json!(original), texts[u].jq())
                    })
                    .collect();
                let jq = format!(
                    "[{}] | map(select(.[1] != null)) | if length == 1 then .[0][1] else map(\"[Input from \\(.[0])]:\\n\\(.[1])\") | join(\"\\n\\n\") end",
                    parts.join(", ")
                );
                cx.nodes.push(json!({"id": combine, "type": "transform", "label": "Joins the upstream outputs, as CoconutFlow does", "config": {"jq": jq}}));
                for edge in edges.iter().filter(|e| e.target == i) {
                    let source = cx.ids[edge.source].clone();
                    cx.edge(&source, &combine, edge.branch.as_deref());
                }
                Text::Path { node: combine, field: None }
            }
        };
        texts[i] = node(cx, &nodes[i], i, &id, &input);
        // Edges into the node (those into a joining transform are made above).
        match upstream.len() {
            0 => {}
            1 => {
                for edge in edges.iter().filter(|e| e.target == i) {
                    let source = cx.ids[edge.source].clone();
                    cx.edge(&source, &id, edge.branch.as_deref());
                }
            }
            _ => {
                if let Text::Path { node, .. } = &input {
                    let node = node.clone();
                    cx.edge(&node, &id, None);
                }
            }
        }
    }
}

/// Kahn's order of the nodes; `None` for a cycle.
fn topological(n: usize, edges: &[Edge]) -> Option<Vec<usize>> {
    let mut indegree = vec![0usize; n];
    for e in edges {
        indegree[e.target] += 1;
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).rev().collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for e in edges.iter().filter(|e| e.source == i) {
            indegree[e.target] -= 1;
            if indegree[e.target] == 0 {
                ready.insert(0, e.target);
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Translates node `i` (flowc id `id`, input text `input`); returns its output text.
fn node(cx: &mut Import<'_>, node: &Value, i: usize, id: &str, input: &Text) -> Text {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or_default();
    let mut out = json!({"id": id});
    if let Some(label) = node.get("label").and_then(Value::as_str).filter(|l| !l.is_empty()) {
        out["label"] = json!(label);
    }
    if let Some(position) = node.get("position").filter(|p| p["x"].is_number() && p["y"].is_number()) {
        out["position"] = json!({"x": position["x"], "y": position["y"]});
    }
    let text = match kind {
        "input" => {
            let (config, _) = config(node, i, &["input_output"]);
            // The default text, as CoconutFlow falls back to it: the canvas's `value`, else the
            // backend's `label`, else the canvas's `placeholder` field (the input box's hint).
            let fallback = string(config, "value")
                .or(string(config, "label"))
                .or(string(config, "placeholder"))
                .unwrap_or_default();
            let shared = match &cx.input {
                Some(shared) => shared.clone(),
                None => {
                    let shared = cx.fresh("run_input");
                    cx.nodes.push(json!({"id": shared, "type": "input", "label": "The run input: a JSON string, or an object whose `input` is the text"}));
                    cx.input = Some(shared.clone());
                    shared
                }
            };
            out["type"] = json!("transform");
            out["config"] = json!({"jq": format!(
                "(if type == \"string\" then . elif type == \"object\" and (.input | type) == \"string\" then .input else \"\" end) as $text | if $text == \"\" then {} else $text end",
                json!(fallback)
            )});
            cx.edge(&shared, id, None);
            Text::Path { node: id.to_owned(), field: None }
        }
        "output" => {
            let (config, _) = config(node, i, &["input_output"]);
            let name = node
                .get("label")
                .and_then(Value::as_str)
                .filter(|l| !l.trim().is_empty())
                .or(string(config, "label"))
                .unwrap_or(id)
                .to_owned();
            // CoconutFlow keeps each output node's result apart; flowc's outputs have a name each.
            let name = if cx.outputs.contains(&name) {
                let unique = format!("{name} ({id})");
                cx.notes.push(format!("two output nodes are labelled `{name}`: `{id}`'s output is named `{unique}`"));
                unique
            } else {
                name
            };
            cx.outputs.insert(name.clone());
            out["type"] = json!("output");
            out["config"] = json!({"name": name, "value": input.template()});
            input.clone()
        }
        "agent" | "llm_agent" => {
            let (config, at) = config(node, i, &["agent"]);
            let provider = string(config, "provider").or(string(config, "model_provider")).unwrap_or("openai");
            let model = string(config, "model").or(string(config, "model_id")).unwrap_or("gpt-4o");
            let system =
                string(config, "system_prompt").map(str::to_owned).or_else(|| match config.get("instructions") {
                    Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                    Some(Value::Array(lines)) => {
                        let lines: Vec<&str> = lines.iter().filter_map(Value::as_str).collect();
                        (!lines.is_empty()).then(|| lines.join("\n"))
                    }
                    _ => None,
                });
            let markdown = config.get("markdown").and_then(Value::as_bool).unwrap_or(true);
            let mut tools = Vec::new();
            let listed = config.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
            for (k, tool) in listed.iter().enumerate() {
                match tool.as_str() {
                    Some("web_search") => tools.push(json!({"type": "web_search", "provider": "environment"})),
                    other => cx.error(
                        format!("{at}/tools/{k}"),
                        format!("agent `{id}` uses the tool {}, which flowc does not have", other.map_or(tool.to_string(), |t| format!("`{t}`"))),
                        "flowc gives CoconutFlow agents the `web_search` tool; remove the others, or call their APIs from an HTTP tool of a flowc agent",
                    ),
                }
            }
            agent(
                cx,
                &mut out,
                id,
                provider,
                &format!("{at}/{}", if config.contains_key("provider") { "provider" } else { "model_provider" }),
                model,
                system,
                markdown,
                tools,
                input,
            )
        }
        "tool" | "web_search" => {
            let (config, _) = config(node, i, &["tool", "web_search"]);
            let parameters = config.get("parameters").and_then(Value::as_object).unwrap_or(config);
            let max = parameters
                .get("result_count")
                .or(parameters.get("max_results"))
                .and_then(Value::as_u64)
                .unwrap_or(5)
                .clamp(1, 20);
            let tools = vec![json!({"type": "web_search", "provider": "environment", "max_results": max})];
            let system = Some("Search the web and return relevant results.".to_owned());
            agent(cx, &mut out, id, "openai", "", HELPER_MODEL, system, true, tools, input)
        }
        "conditional" => {
            let (config, at) = config(node, i, &["conditional"]);
            let Some(condition) = string(config, "condition_expression").or(string(config, "condition")) else {
                cx.error(
                    at,
                    format!("conditional `{id}` has no condition"),
                    "write the condition in plain English, e.g. \"Is the input a technical question?\"",
                );
                return input.clone();
            };
            let credential = cx.credential("openai", "OPENAI_API_KEY");
            let condition = condition.to_owned();
            let described = cx.literal(&condition, id);
            out["type"] = json!("classify");
            out["credential"] = json!(credential);
            let categories = if plain(&condition) {
                json!({"true": condition, "false": "the condition does not hold"})
            } else {
                json!({"true": "the condition holds", "false": "the condition does not hold"})
            };
            out["config"] = json!({
                "model": HELPER_MODEL,
                "text": input.template(),
                "categories": categories,
                "instructions": format!("Decide whether this condition holds for the message: {described}"),
                "fallback": "false",
                // CoconutFlow asks once: an answer that does not start with `true` is false.
                "retry_unclear": false
            });
            // A conditional passes its input on.
            input.clone()
        }
        "firecrawl_scrape" => {
            let (config, at) = config(node, i, &["firecrawl_scrape"]);
            let url = match string(config, "url") {
                None => input.template(),
                Some(url) if url.replace(' ', "") == "{{upstream}}" => input.template(),
                Some(url) if plain(url) => url.to_owned(),
                Some(url) => {
                    cx.error(
                        format!("{at}/url"),
                        format!("the `url` of `{id}` is `{url}`, which holds a template flowc cannot read"),
                        "leave `url` empty (or `{{upstream}}`) to scrape the upstream text, or write the URL",
                    );
                    String::new()
                }
            };
            let mut formats = Vec::new();
            let listed = config.get("formats").and_then(Value::as_array).cloned().unwrap_or_default();
            for (k, format) in listed.iter().enumerate() {
                match format.as_str() {
                    Some(f @ ("markdown" | "html" | "rawHtml" | "links" | "screenshot" | "summary" | "images")) => {
                        formats.push(f)
                    }
                    _ => cx.error(
                        format!("{at}/formats/{k}"),
                        format!("{format} is not a Firecrawl format"),
                        "Firecrawl's formats are markdown, html, rawHtml, links, screenshot, summary and images",
                    ),
                }
            }
            if formats.is_empty() {
                formats.push("markdown");
            }
            let credential = cx.credential("firecrawl", "FIRECRAWL_API_KEY");
            out["type"] = json!("firecrawl_scrape");
            out["credential"] = json!(credential);
            out["config"] = json!({"url": url, "formats": formats});
            let field = if formats.contains(&"markdown") { Some("markdown") } else { None };
            Text::Path { node: id.to_owned(), field }
        }
        "apify_actor" => {
            let (config, at) = config(node, i, &["apify_actor"]);
            let Some(actor) = string(config, "actor_id") else {
                cx.error(
                    at,
                    format!("Apify actor `{id}` names no `actor_id`"),
                    "name the actor, e.g. \"apify/website-content-crawler\"",
                );
                return Text::Empty;
            };
            if !plain(actor) {
                cx.error(
                    format!("{at}/actor_id"),
                    format!("the `actor_id` of `{id}` holds braces"),
                    "write the actor's id",
                );
            }
            let credential = cx.credential("apify", "APIFY_TOKEN");
            let mut settings = json!({"actor_id": actor, "input": config.get("input").cloned().filter(Value::is_object).unwrap_or(json!({}))});
            if let Some(n) = config.get("max_items").and_then(Value::as_u64) {
                settings["max_items"] = json!(n);
            }
            if let Some(n) = config.get("timeout_secs").and_then(Value::as_u64) {
                settings["timeout_secs"] = json!(n);
            }
            if settings["input"].to_string().contains("{{") || settings["input"].to_string().contains("}}") {
                cx.error(
                    format!("{at}/input"),
                    format!("the `input` of `{id}` holds braces, which flowc would read as templates"),
                    "write the actor input without `{{` and `}}`",
                );
            }
            out["type"] = json!("apify_actor");
            out["credential"] = json!(credential);
            out["config"] = settings;
            Text::Path { node: id.to_owned(), field: Some("items") }
        }
        "huggingface_inference" => {
            let (config, at) = config(node, i, &["huggingface_inference"]);
            let Some(model) = string(config, "model_id") else {
                cx.error(
                    at,
                    format!("Hugging Face node `{id}` names no `model_id`"),
                    "name the model, e.g. \"facebook/bart-large-cnn\"",
                );
                return Text::Empty;
            };
            let task = string(config, "task").unwrap_or("text-generation");
            if !crate::nodes::huggingface_inference::TASKS.contains(&task) {
                cx.error(
                    format!("{at}/task"),
                    format!("Hugging Face node `{id}` has the task `{task}`, which flowc does not call"),
                    format!(
                        "flowc's tasks are {}",
                        crate::check::reader::list(crate::nodes::huggingface_inference::TASKS.iter().copied())
                    ),
                );
            }
            let credential = cx.credential("huggingface", "HF_TOKEN");
            out["type"] = json!("huggingface_inference");
            out["credential"] = json!(credential);
            let model = cx.literal(model, id);
            let mut settings = json!({"model": model, "task": task, "inputs": input.template()});
            if let Some(parameters) = config.get("parameters").filter(|p| p.as_object().is_some_and(|m| !m.is_empty()))
            {
                settings["parameters"] = parameters.clone();
            }
            out["config"] = settings;
            Text::Path { node: id.to_owned(), field: None }
        }
        "mcp_server" => {
            let (config, at) = config(node, i, &["mcp_server"]);
            let kind = string(config, "server_type").unwrap_or("stdio");
            let Some(address) = string(config, "server_url") else {
                cx.error(
                    at,
                    format!("MCP server `{id}` has no `server_url`"),
                    "give the command that starts it (stdio) or its URL (http)",
                );
                return Text::Empty;
            };
            let server = match kind {
                "stdio" => match split_command(address) {
                    Some((command, args)) => json!({"transport": "stdio", "command": command, "args": args}),
                    None => {
                        cx.error(
                            format!("{at}/server_url"),
                            format!("the command of MCP server `{id}` cannot be read: `{address}`"),
                            "write the command and its arguments, quoting arguments with spaces",
                        );
                        return Text::Empty;
                    }
                },
                "http" => json!({"transport": "http", "url": address}),
                other => {
                    cx.error(
                        format!("{at}/server_type"),
                        format!("MCP server `{id}` uses the transport `{other}`, which flowc does not speak"),
                        "flowc speaks stdio and Streamable HTTP (`http`); the SSE transport is deprecated by MCP",
                    );
                    return Text::Empty;
                }
            };
            if !plain(&server.to_string()) {
                cx.error(
                    format!("{at}/server_url"),
                    format!("the address of MCP server `{id}` holds braces"),
                    "write the command or URL without `{{` and `}}`",
                );
            }
            let name = string(config, "server_name").unwrap_or("the MCP server");
            let system = string(config, "instructions")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Answer with the tools of {name}."));
            let tools = vec![json!({"type": "mcp", "server": server})];
            agent(cx, &mut out, id, "openai", "", HELPER_MODEL, Some(system), false, tools, input)
        }
        "knowledge_base" => {
            let (config, at) = config(node, i, &["knowledge_base"]);
            let sources = config.get("sources").and_then(Value::as_array).map_or(0, Vec::len)
                + config.get("files").and_then(Value::as_array).map_or(0, Vec::len);
            if sources > 0 {
                cx.error(
                    format!("{at}/sources"),
                    format!("knowledge base `{id}` loads its sources (files, websites, videos) into pgvector when it runs, which flowc does not do"),
                    "store the texts with a flowc `knowledge_base` upsert, and query it; CoconutFlow knowledge bases without sources compile (they yield CoconutFlow's \"not configured\" text)",
                );
                return Text::Empty;
            }
            out["type"] = json!("transform");
            out["config"] = json!({"jq": json!(KB_UNAVAILABLE).to_string()});
            cx.notes
                .push(format!("knowledge base `{id}` has no sources: it yields `{KB_UNAVAILABLE}`, as in CoconutFlow"));
            Text::Path { node: id.to_owned(), field: None }
        }
        other => {
            cx.error(
                format!("/nodes/{i}/type"),
                format!("node `{id}` has the type `{other}`, which CoconutFlow saves but cannot run, and flowc does not compile"),
                "CoconutFlow runs input, output, agent, tool, conditional, knowledge_base, firecrawl_scrape, apify_actor, mcp_server and huggingface_inference nodes",
            );
            return Text::Empty;
        }
    };
    // In the order a reader looks for them.
    let mut ordered = Map::new();
    if let Value::Object(mut fields) = out {
        for key in ["id", "type", "label", "credential", "position", "config"] {
            if let Some(value) = fields.remove(key) {
                ordered.insert(key.to_owned(), value);
            }
        }
        ordered.extend(fields);
    }
    cx.nodes.push(Value::Object(ordered));
    text
}

/// Fills in an `agent` node.
#[allow(clippy::too_many_arguments)]
fn agent(
    cx: &mut Import<'_>,
    out: &mut Value,
    id: &str,
    provider: &str,
    provider_at: &str,
    model: &str,
    system: Option<String>,
    markdown: bool,
    tools: Vec<Value>,
    input: &Text,
) -> Text {
    out["type"] = json!("agent");
    let mut config = json!({"model": cx.literal(model, id)});
    match provider {
        "openai" => {
            out["credential"] = json!(cx.credential("openai", "OPENAI_API_KEY"));
        }
        "groq" => {
            out["credential"] = json!(cx.credential("groq", "GROQ_API_KEY"));
            config["provider"] = json!("openai_compatible");
            config["base_url"] = json!("https://api.groq.com/openai/v1");
        }
        other => {
            cx.error(
                provider_at,
                format!("agent `{id}` uses the provider `{other}`, which flowc does not call"),
                "flowc calls OpenAI and OpenAI-compatible servers: use `openai` (OPENAI_BASE_URL moves it) or `groq`",
            );
        }
    }
    // Agno, which CoconutFlow runs agents on, asks for markdown unless told otherwise.
    let system = match (system, markdown) {
        (Some(text), true) => Some(format!("{text}\n\nUse markdown to format your answers.")),
        (None, true) => Some("Use markdown to format your answers.".to_owned()),
        (system, false) => system,
    };
    if let Some(system) = system {
        config["instructions"] = json!(cx.literal(&system, id));
    }
    config["prompt"] = json!(input.template());
    if !tools.is_empty() {
        config["tools"] = Value::Array(tools);
    }
    out["config"] = config;
    Text::Path { node: id.to_owned(), field: Some("text") }
}

/// A command line as words: whitespace separates, single and double quotes group.
fn split_command(line: &str) -> Option<(String, Vec<String>)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    if started || !word.is_empty() {
        words.push(word);
    }
    let mut words = words.into_iter();
    let command = words.next()?;
    Some((command, words.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_coconutflow_documents_only() {
        let backend = json!({"nodes": [{"id": "n1", "type": "input", "config": {"input_output": {"label": "Q"}}}]});
        let canvas = json!({"nodes": [{"id": "a", "type": "llm_agent", "config": {}}]});
        assert!(recognise(&backend) && recognise(&canvas));
        // flowc's own documents, even without `version`, are not.
        let flowc = json!({"nodes": [{"id": "in", "type": "input"}, {"id": "a", "type": "agent", "config": {"model": "m", "prompt": "p"}}]});
        assert!(!recognise(&flowc));
        let with_settings = json!({"settings": {}, "nodes": [{"id": "a", "type": "llm_agent"}]});
        assert!(!recognise(&with_settings));
        let other = json!({"nodes": [{"id": "a", "type": "http_request", "config": {"input_output": {}}}]});
        assert!(!recognise(&other));
    }

    #[test]
    fn ids_and_commands() {
        assert_eq!(node_id("node_1700000_1"), "node_1700000_1");
        assert_eq!(node_id("a b/c"), "a_b_c");
        assert_eq!(node_id("params"), "params_node");
        assert_eq!(flow_id("Web Research Pipeline"), "web-research-pipeline");
        assert_eq!(flow_id("2024 plan"), "flow-2024-plan");
        assert_eq!(flow_id("Tokio"), "tokio-flow");
        assert_eq!(
            split_command("npx -y '@scope/server x' \"a b\""),
            Some(("npx".to_owned(), vec!["-y".to_owned(), "@scope/server x".to_owned(), "a b".to_owned()]))
        );
        assert_eq!(split_command("node 'unclosed"), None);
    }
}
