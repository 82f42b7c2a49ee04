//! n8n workflows, compiled as they are. An n8n export is recognised by its shape and
//! translated into an item flow (`crate::items`): the same nodes, named as in n8n, with their
//! parameters as the item kinds' config, and every `={{ }}` expression kept as n8n wrote it (the
//! item checker compiles them). The nodes run on the runtime's item scheduler, which keeps n8n's
//! execution model (items, runs, pairing, the node settings).
//!
//! What this version translates: Manual Trigger, No Operation, Edit Fields (Set) v1–v3.4 in
//! manual mode, If v2, Filter v2, Limit and Merge in append mode, with the node settings
//! `disabled`, `executeOnce`, `alwaysOutputData`, `onError` (and the older `continueOnFail`) and
//! `retryOnFail`. Sticky notes are dropped (they hold text for the canvas). Anything else is an
//! E031 that names the node and points into the original file, and so is an expression outside
//! the compiled subset or one that names a node the workflow does not have.

use serde_json::{json, Map, Value};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::escape;

/// Whether `value` is an n8n workflow: `nodes` of `name`, `type` (`package.node`) and numeric
/// `typeVersion`, and `connections` keyed by node name.
pub fn recognise(value: &Value) -> bool {
    let Some(nodes) = value.get("nodes").and_then(Value::as_array) else { return false };
    let node = |n: &Value| {
        n.get("name").is_some_and(Value::is_string)
            && n.get("typeVersion").is_some_and(Value::is_number)
            && n.get("type").and_then(Value::as_str).is_some_and(|t| t.contains('.'))
    };
    value.get("connections").is_some_and(Value::is_object) && !nodes.is_empty() && nodes.iter().all(node)
}

/// Sticky notes hold text for the canvas and do not run: a workflow loses nothing without them.
const DROPPED: &[&str] = &["n8n-nodes-base.stickyNote"];

/// The node types this version translates, for messages.
const SUPPORTED: &str = "Manual Trigger, No Operation, Edit Fields (Set), If (v2), Filter (v2), Limit, Merge (append)";

struct Import {
    diagnostics: Vec<Diagnostic>,
    notes: Vec<String>,
}

impl Import {
    fn unsupported(&mut self, pointer: String, message: String, help: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(Code::E031, pointer, message).help(help));
    }
}

/// Translates an n8n workflow into an item flow document.
pub fn import(file: &str, text: &str) -> Result<super::Imported, Diagnostics> {
    let parsed = crate::source::Document::parse(text).ok();
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut cx = Import { diagnostics: Vec::new(), notes: Vec::new() };
    let all = doc["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let names: Vec<&str> = all.iter().filter_map(|n| n["name"].as_str()).collect();
    let owned: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let v1 = doc["settings"]["executionOrder"].as_str() == Some("v1");
    let mut nodes = Vec::new();
    for (i, node) in all.iter().enumerate() {
        let kind = node["type"].as_str().unwrap_or_default();
        if DROPPED.contains(&kind) {
            continue;
        }
        check_expressions(&mut cx, &node["parameters"], &format!("/nodes/{i}/parameters"), node, &owned);
        if let Some(translated) = translate(&mut cx, node, i, v1) {
            nodes.push(translated);
        }
    }
    if nodes.is_empty() && cx.diagnostics.is_empty() {
        cx.unsupported(
            "/nodes".to_owned(),
            "the n8n workflow has no node that runs (only sticky notes)".to_owned(),
            "add the nodes the workflow should run",
        );
    }
    let edges = connections(&mut cx, &doc, &names);
    if !cx.diagnostics.is_empty() {
        return Err(Diagnostics::new(file, text, parsed.as_ref(), cx.diagnostics));
    }
    let name = doc["name"].as_str().unwrap_or("n8n workflow");
    let mut out = Map::new();
    out.insert("version".into(), json!(1));
    out.insert("id".into(), json!(super::coconutflow::flow_id(name)));
    out.insert("name".into(), json!(name));
    out.insert("items".into(), json!({"order": if v1 { "v1" } else { "v0" }}));
    out.insert("nodes".into(), Value::Array(nodes));
    out.insert("edges".into(), Value::Array(edges));
    if !v1 {
        cx.notes.push(
            "the workflow has no `settings.executionOrder: v1`: its nodes run in n8n's legacy order (v0), as in n8n"
                .to_owned(),
        );
    }
    let text = serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default() + "\n";
    Ok(super::Imported { dialect: "n8n", text, notes: cx.notes })
}

/// Every expression of a node's parameters, compiled where it is in the original file, so
/// that a chunk outside the compiled subset, or a node name the workflow does not have, points
/// there. (Whether `.item` reads a node upstream is checked on the translation, which has the
/// edges.)
fn check_expressions(cx: &mut Import, value: &Value, pointer: &str, node: &Value, names: &[String]) {
    match value {
        Value::String(text) if text.starts_with('=') => {
            let scope = crate::items::compile::Scope { nodes: names, upstream: names };
            if let Err(problem) = crate::items::compile::value(&scope, value) {
                let message = format!("{}: {}", who(node), problem.message);
                cx.diagnostics.push(Diagnostic::new(problem.code, pointer, message).help(problem.help));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_expressions(cx, item, &format!("{pointer}/{i}"), node, names);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                check_expressions(cx, item, &format!("{pointer}/{}", escape(key)), node, names);
            }
        }
        _ => {}
    }
}

/// How messages name an n8n node: by its name and type.
fn who(node: &Value) -> String {
    format!(
        "n8n node `{}` ({} v{})",
        node["name"].as_str().unwrap_or_default(),
        node["type"].as_str().unwrap_or_default(),
        node["typeVersion"]
    )
}

/// One node, translated; `None` (with a diagnostic) when it cannot be.
fn translate(cx: &mut Import, node: &Value, i: usize, v1: bool) -> Option<Value> {
    let kind = node["type"].as_str().unwrap_or_default();
    let version = node["typeVersion"].as_f64().unwrap_or(1.0);
    let p = &node["parameters"];
    let at = format!("/nodes/{i}");
    let who = who(node);
    let (item_kind, config) = match kind {
        "n8n-nodes-base.manualTrigger" => ("manual_trigger", json!({})),
        "n8n-nodes-base.noOp" => ("noop", json!({})),
        "n8n-nodes-base.set" => ("set", set(cx, p, version, &at, &who)?),
        "n8n-nodes-base.if" | "n8n-nodes-base.filter" => {
            let item_kind = if kind.ends_with(".if") { "if" } else { "filter" };
            if version < 2.0 {
                cx.unsupported(
                    format!("{at}/typeVersion"),
                    format!("{who}: version 1 of this node (its `value1`/`operation`/`value2` conditions) is not compiled by this version of flowc"),
                    "open the workflow in n8n and replace the node with a new one (version 2), which has the same conditions",
                );
                return None;
            }
            (item_kind, conditions(cx, node, &at, &who)?)
        }
        "n8n-nodes-base.limit" => {
            let keep = if p["keep"].as_str() == Some("lastItems") { "last" } else { "first" };
            let max = p["maxItems"].as_u64().unwrap_or(1);
            if p.get("maxItems").is_some_and(|m| !m.is_u64()) {
                cx.unsupported(
                    format!("{at}/parameters/maxItems"),
                    format!("{who}: `maxItems` must be a number (an expression there is not compiled)"),
                    "give the number of items",
                );
                return None;
            }
            ("limit", json!({"max_items": max, "keep": keep}))
        }
        "n8n-nodes-base.merge" => {
            let mode = p["mode"].as_str().unwrap_or("append");
            if mode != "append" {
                cx.unsupported(
                    format!("{at}/parameters/mode"),
                    format!("{who} merges in mode `{mode}`, which this version of flowc does not compile (it compiles `append`)"),
                    "use mode Append, or keep the workflow on n8n for now",
                );
                return None;
            }
            if !v1 {
                cx.unsupported(
                    at.to_owned(),
                    format!("{who} has two inputs, and the workflow runs in n8n's legacy order (v0), whose merges flowc does not compile yet"),
                    "set the workflow's Settings → Execution order to v1 (recommended), export it again, and check its results",
                );
                return None;
            }
            let inputs = p["numberInputs"].as_u64().unwrap_or(2);
            ("merge", json!({"mode": "append", "inputs": inputs}))
        }
        _ => {
            cx.unsupported(
                format!("{at}/type"),
                format!("{who} is of a type this version of flowc does not compile"),
                format!("flowc compiles {SUPPORTED} so far"),
            );
            return None;
        }
    };
    let mut out = Map::new();
    out.insert("name".into(), node["name"].clone());
    out.insert("type".into(), json!(item_kind));
    out.insert("origin".into(), json!(format!("{kind}@{}", node["typeVersion"])));
    if let Some(position) = node.get("position").filter(|p| p.as_array().is_some_and(|xy| xy.len() == 2)) {
        out.insert("position".into(), position.clone());
    }
    if config.as_object().is_some_and(|c| !c.is_empty()) {
        out.insert("config".into(), config);
    }
    for (n8n, ours) in
        [("disabled", "disabled"), ("executeOnce", "execute_once"), ("alwaysOutputData", "always_output_data")]
    {
        if node[n8n].as_bool() == Some(true) {
            out.insert(ours.into(), json!(true));
        }
    }
    let on_error = match node["onError"].as_str() {
        Some("continueRegularOutput") => Some("continue"),
        Some("continueErrorOutput") => Some("error_output"),
        Some(_) => None,
        // Workflows saved before `onError` had `continueOnFail`.
        None if node["continueOnFail"].as_bool() == Some(true) => Some("continue"),
        None => None,
    };
    if let Some(on_error) = on_error {
        out.insert("on_error".into(), json!(on_error));
    }
    if node["retryOnFail"].as_bool() == Some(true) {
        // n8n's defaults and bounds: 3 tries (2 to 5), 1 s between them (0 to 5 s).
        let tries = node["maxTries"].as_u64().unwrap_or(3).clamp(2, 5);
        let wait = node["waitBetweenTries"].as_u64().unwrap_or(1000).min(5000);
        out.insert("retry".into(), json!({"tries": tries, "wait_ms": wait}));
    }
    Some(Value::Object(out))
}

/// Edit Fields (Set): the fields, and what of the input the items keep.
fn set(cx: &mut Import, p: &Value, version: f64, at: &str, who: &str) -> Option<Value> {
    let options = &p["options"];
    let dot_notation = options["dotNotation"].as_bool().unwrap_or(true);
    if version < 3.0 {
        // Versions 1 and 2: values by type, set without conversion, booleans first, then
        // numbers, then strings (the order the node writes them in); `keepOnlySet` drops the rest.
        let mut fields = Vec::new();
        for ty in ["boolean", "number", "string"] {
            for value in p["values"][ty].as_array().into_iter().flatten() {
                fields.push(json!({"name": value["name"].as_str().unwrap_or_default(), "type": "any", "value": value.get("value").cloned().unwrap_or(Value::Null)}));
            }
        }
        let include = if p["keepOnlySet"].as_bool() == Some(true) { "none" } else { "all" };
        return Some(json!({"fields": fields, "include": include, "dot_notation": dot_notation}));
    }
    let mode = p["mode"].as_str().unwrap_or("manual");
    if mode != "manual" {
        cx.unsupported(
            format!("{at}/parameters/mode"),
            format!("{who} is in mode `{mode}` (JSON), which this version of flowc does not compile"),
            "use the Manual Mapping mode",
        );
        return None;
    }
    if p["duplicateItem"].as_bool() == Some(true) {
        cx.unsupported(
            format!("{at}/parameters/duplicateItem"),
            format!("{who} duplicates items (a testing option), which flowc does not compile"),
            "turn Duplicate Item off",
        );
        return None;
    }
    let mut fields = Vec::new();
    if version >= 3.3 {
        for (j, a) in p["assignments"]["assignments"].as_array().into_iter().flatten().enumerate() {
            let ty = a["type"].as_str().unwrap_or("string");
            if !["string", "number", "boolean", "array", "object"].contains(&ty) {
                cx.unsupported(
                    format!("{at}/parameters/assignments/assignments/{j}/type"),
                    format!("{who} sets a field of type `{ty}`, which flowc does not compile"),
                    "use string, number, boolean, array or object",
                );
                return None;
            }
            fields.push(
                json!({"name": a["name"].clone(), "type": ty, "value": a.get("value").cloned().unwrap_or(Value::Null)}),
            );
        }
    } else {
        for (j, f) in p["fields"]["values"].as_array().into_iter().flatten().enumerate() {
            let key = f["type"].as_str().unwrap_or("stringValue");
            let Some(ty) =
                key.strip_suffix("Value").filter(|t| ["string", "number", "boolean", "array", "object"].contains(t))
            else {
                cx.unsupported(
                    format!("{at}/parameters/fields/values/{j}/type"),
                    format!("{who} sets a field of type `{key}`, which flowc does not compile"),
                    "use a string, number, boolean, array or object value",
                );
                return None;
            };
            fields.push(
                json!({"name": f["name"].clone(), "type": ty, "value": f.get(key).cloned().unwrap_or(Value::Null)}),
            );
        }
    }
    // From 3.3 the other fields are kept only with `includeOtherFields`; before, `include` says.
    let include = if version >= 3.3 && p["includeOtherFields"].as_bool() != Some(true) {
        "none"
    } else {
        match p["include"].as_str().unwrap_or("all") {
            "none" => "none",
            "selected" => "selected",
            "except" => "except",
            _ => "all",
        }
    };
    let list = |key: &str| -> Vec<String> {
        p[key]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let include_fields = match include {
        "selected" => list("includeFields"),
        "except" => list("excludeFields"),
        _ => Vec::new(),
    };
    let mut config = json!({"fields": fields, "include": include, "dot_notation": dot_notation});
    if !include_fields.is_empty() {
        config["include_fields"] = json!(include_fields);
    }
    if options["ignoreConversionErrors"].as_bool() == Some(true) {
        config["ignore_conversion_errors"] = json!(true);
    }
    Some(config)
}

/// If and Filter (version 2): the conditions of the filter parameter.
fn conditions(cx: &mut Import, node: &Value, at: &str, who: &str) -> Option<Value> {
    let p = &node["parameters"];
    let filter = &p["conditions"];
    let options = &filter["options"];
    let mut conditions = Vec::new();
    for (j, c) in filter["conditions"].as_array().into_iter().flatten().enumerate() {
        let operator = format!(
            "{}:{}",
            c["operator"]["type"].as_str().unwrap_or("string"),
            c["operator"]["operation"].as_str().unwrap_or("equals")
        );
        if !crate::items::OPERATORS.iter().any(|(op, _)| *op == operator) {
            cx.unsupported(
                format!("{at}/parameters/conditions/conditions/{j}/operator"),
                format!("{who} has a condition with the operator `{operator}`, which this version of flowc does not compile"),
                "use another operator of the same type",
            );
            continue;
        }
        let mut condition = json!({"left": c.get("leftValue").cloned().unwrap_or(json!("")), "operator": operator});
        if crate::items::OPERATORS.iter().any(|(op, right)| *op == operator && *right) {
            condition["right"] = c.get("rightValue").cloned().unwrap_or(json!(""));
        }
        conditions.push(condition);
    }
    let combinator = if filter["combinator"].as_str() == Some("or") { "or" } else { "and" };
    let mut case_sensitive = options["caseSensitive"].as_bool().unwrap_or(true);
    if p["options"]["ignoreCase"].as_bool() == Some(true) {
        case_sensitive = false;
    }
    let loose = options["typeValidation"].as_str() == Some("loose")
        || p["looseTypeValidation"].as_bool() == Some(true)
        || p["options"]["looseTypeValidation"].as_bool() == Some(true);
    Some(json!({"conditions": conditions, "combinator": combinator, "case_sensitive": case_sensitive, "loose": loose}))
}

/// The `main` connections as edges; other connection types (an AI model or tool) are not
/// compiled yet.
fn connections(cx: &mut Import, doc: &Value, names: &[&str]) -> Vec<Value> {
    let mut edges = Vec::new();
    let Some(by_source) = doc["connections"].as_object() else { return edges };
    for (source, by_type) in by_source {
        let at = format!("/connections/{}", escape(source));
        if !names.contains(&source.as_str()) {
            cx.diagnostics.push(
                Diagnostic::new(
                    Code::E011,
                    at.clone(),
                    format!("the connections name node `{source}`, and the workflow has no node of that name"),
                )
                .help("remove the connection, or name a node of the workflow")
                .at_key(),
            );
            continue;
        }
        for (ty, outputs) in by_type.as_object().into_iter().flatten() {
            if ty != "main" {
                cx.unsupported(
                    format!("{at}/{}", escape(ty)),
                    format!(
                        "node `{source}` has a connection of type `{ty}`, which this version of flowc does not compile"
                    ),
                    "flowc compiles `main` connections so far",
                );
                continue;
            }
            for (output, targets) in outputs.as_array().into_iter().flatten().enumerate() {
                for (k, target) in targets.as_array().into_iter().flatten().enumerate() {
                    let name = target["node"].as_str().unwrap_or_default();
                    if !names.contains(&name) {
                        cx.diagnostics.push(
                            Diagnostic::new(
                                Code::E011,
                                format!("{at}/main/{output}/{k}/node"),
                                format!(
                                    "node `{source}` connects to `{name}`, and the workflow has no node of that name"
                                ),
                            )
                            .help("remove the connection, or name a node of the workflow"),
                        );
                        continue;
                    }
                    edges.push(json!({"source": source, "output": output, "target": name, "input": target["index"].as_u64().unwrap_or(0)}));
                }
            }
        }
    }
    edges
}
