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
const SUPPORTED: &str = "Manual Trigger, No Operation, Edit Fields (Set), If, Filter, Switch (v3), Limit, Merge (append; v3's combine and choose branch), Split Out, Aggregate, Sort, Remove Duplicates, Summarize, Stop and Error, HTTP Request (v3–v4), Wait (time interval), Loop Over Items (v3)";

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
            let scope = crate::items::compile::Scope::new(names, names);
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
                let kind = if item_kind == "if" { "if_v1" } else { "filter_v1" };
                (kind, legacy_conditions(cx, p, &at, &who)?)
            } else {
                (item_kind, conditions(cx, node, &at, &who)?)
            }
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
            if !v1 {
                cx.unsupported(
                    at.to_owned(),
                    format!("{who} has two inputs, and the workflow runs in n8n's legacy order (v0), whose merges flowc does not compile yet"),
                    "set the workflow's Settings → Execution order to v1 (recommended), export it again, and check its results",
                );
                return None;
            }
            ("merge", merge(cx, p, &at, &who, version)?)
        }
        "n8n-nodes-base.switch" => ("switch", switch(cx, node, &at, &who, version)?),
        "n8n-nodes-base.splitOut" => {
            let include = match p["include"].as_str().unwrap_or("noOtherFields") {
                "allOtherFields" => "all",
                "selectedOtherFields" => "selected",
                _ => "none",
            };
            let mut config =
                json!({"fields": list(&p["fieldToSplitOut"]), "include": include, "dot_notation": dot_notation(p)});
            if include == "selected" {
                config["include_fields"] = json!(list(&p["fieldsToInclude"]));
            }
            if let Some(destination) = p["options"]["destinationFieldName"].as_str().filter(|d| !d.is_empty()) {
                config["destination_field"] = json!(destination);
            }
            no_expressions(cx, p, &at, &who)?;
            ("split_out", config)
        }
        "n8n-nodes-base.aggregate" => {
            no_expressions(cx, p, &at, &who)?;
            let options = &p["options"];
            let config = if p["aggregate"].as_str() == Some("aggregateAllItemData") {
                let (include, fields) = match p["include"].as_str().unwrap_or("allFields") {
                    "specifiedFields" => ("only", list(&p["fieldsToInclude"])),
                    "allFieldsExcept" => ("except", list(&p["fieldsToExclude"])),
                    _ => ("all", Vec::new()),
                };
                json!({"mode": "all", "destination": p["destinationFieldName"].as_str().unwrap_or("data"), "include": include, "include_fields": fields})
            } else {
                let fields: Vec<Value> = p["fieldsToAggregate"]["fieldToAggregate"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        let mut field = json!({"field": f["fieldToAggregate"].as_str().unwrap_or_default()});
                        if f["renameField"].as_bool() == Some(true) {
                            field["rename"] = f["outputFieldName"].clone();
                        }
                        field
                    })
                    .collect();
                json!({
                    "mode": "fields",
                    "fields": fields,
                    "merge_lists": options["mergeLists"].as_bool().unwrap_or(false),
                    "keep_missing": options["keepMissing"].as_bool().unwrap_or(false),
                    "dot_notation": dot_notation(p),
                })
            };
            ("aggregate", config)
        }
        "n8n-nodes-base.sort" => {
            let kind = p["type"].as_str().unwrap_or("simple");
            if kind != "simple" {
                cx.unsupported(
                    format!("{at}/parameters/type"),
                    format!("{who} sorts in mode `{kind}`, which this version of flowc does not compile"),
                    "use the Simple mode (sort by fields)",
                );
                return None;
            }
            no_expressions(cx, p, &at, &who)?;
            let fields: Vec<Value> = p["sortFieldsUi"]["sortField"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| json!({"field": f["fieldName"].as_str().unwrap_or_default(), "order": f["order"].as_str().unwrap_or("ascending")}))
                .collect();
            ("sort", json!({"fields": fields, "dot_notation": dot_notation(p)}))
        }
        "n8n-nodes-base.removeDuplicates" => {
            let operation = p["operation"].as_str().unwrap_or("removeDuplicateInputItems");
            if operation != "removeDuplicateInputItems" {
                cx.unsupported(format!("{at}/parameters/operation"), format!("{who} does `{operation}`, which keeps state across executions and which this version of flowc does not compile"), "use Remove Items Repeated Within Current Input");
                return None;
            }
            no_expressions(cx, p, &at, &who)?;
            let (compare, fields) = match p["compare"].as_str().unwrap_or("allFields") {
                "allFieldsExcept" => ("except", list(&p["fieldsToExclude"])),
                "selectedFields" => ("selected", list(&p["fieldsToCompare"])),
                _ => ("all", Vec::new()),
            };
            let remove = p["options"]["removeOtherFields"].as_bool().unwrap_or(false);
            (
                "remove_duplicates",
                json!({"compare": compare, "compare_fields": fields, "remove_other_fields": remove, "dot_notation": dot_notation(p)}),
            )
        }
        "n8n-nodes-base.summarize" => {
            if version < 1.1 && !list(&p["fieldsToSplitBy"]).is_empty() {
                cx.unsupported(
                    format!("{at}/typeVersion"),
                    format!("{who}: version 1 of this node groups by the split fields' values as text, which this version of flowc does not compile"),
                    "open the workflow in n8n and replace the node with a new Summarize (version 1.1), which groups by the values themselves",
                );
                return None;
            }
            ("summarize", summarize(cx, p, &at, &who)?)
        }
        "n8n-nodes-base.stopAndError" => {
            if p["errorType"].as_str() == Some("errorObject") {
                cx.unsupported(
                    format!("{at}/parameters/errorType"),
                    format!("{who} throws an error object, which this version of flowc does not compile"),
                    "use the Error Message type",
                );
                return None;
            }
            ("stop_and_error", json!({"message": p["errorMessage"].clone()}))
        }
        "n8n-nodes-base.httpRequest" => ("http_request", http_request(cx, node, &at, &who, version)?),
        "n8n-nodes-base.splitInBatches" => {
            if version < 3.0 {
                cx.unsupported(
                    format!("{at}/typeVersion"),
                    format!("{who}: versions 1 and 2 of this node (one output, read through its context) are not compiled by this version of flowc"),
                    "open the workflow in n8n and replace the node with a new Loop Over Items (version 3), with its `done` and `loop` outputs",
                );
                return None;
            }
            let reset = match p["options"].get("reset") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    cx.unsupported(
                        format!("{at}/parameters/options/reset"),
                        format!(
                            "{who} decides `reset` with an expression, which this version of flowc does not compile"
                        ),
                        "set Reset on or off",
                    );
                    return None;
                }
            };
            let Some(batch_size) = p.get("batchSize").map_or(Some(1), Value::as_u64).filter(|b| *b >= 1) else {
                cx.unsupported(
                    format!("{at}/parameters/batchSize"),
                    format!("{who}: `batchSize` must be a number of at least 1 (an expression there is not compiled)"),
                    "give the batch size as a number",
                );
                return None;
            };
            ("split_in_batches", json!({"batch_size": batch_size, "reset": reset}))
        }
        "n8n-nodes-base.wait" => {
            let resume = p["resume"].as_str().unwrap_or("timeInterval");
            if resume != "timeInterval" {
                cx.unsupported(
                    format!("{at}/parameters/resume"),
                    format!("{who} resumes on `{resume}`, which this version of flowc does not compile"),
                    "wait for a time interval",
                );
                return None;
            }
            let unit_ms = match p["unit"].as_str().unwrap_or("hours") {
                "seconds" => 1_000.0,
                "minutes" => 60_000.0,
                "days" => 86_400_000.0,
                _ => 3_600_000.0,
            };
            let Some(amount) = p.get("amount").map_or(Some(1.0), Value::as_f64).filter(|a| *a >= 0.0) else {
                cx.unsupported(
                    format!("{at}/parameters/amount"),
                    format!("{who} waits for an amount that is not a number (an expression there is not compiled)"),
                    "give the amount as a number",
                );
                return None;
            };
            ("wait", json!({"ms": (amount * unit_ms).round() as u64}))
        }
        "n8n-nodes-base.code" => {
            let (message, help) = if p["language"].as_str().is_some_and(|l| l.starts_with("python")) {
                (format!("{who} runs Python, which flowc does not compile"), "rewrite the node in JavaScript, or with Edit Fields, If, Filter and the other nodes flowc compiles")
            } else {
                (format!("{who} runs JavaScript in an engine, which this version of flowc does not embed yet"), "rewrite the node with Edit Fields, If, Filter and the other nodes flowc compiles, or keep the workflow on n8n for now")
            };
            cx.unsupported(format!("{at}/type"), message, help);
            return None;
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

/// A comma-separated list of field names, as n8n's nodes take them.
fn list(value: &Value) -> Vec<String> {
    value.as_str().unwrap_or_default().split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned).collect()
}

/// `options.disableDotNotation`, the other way round.
fn dot_notation(p: &Value) -> bool {
    p["options"]["disableDotNotation"].as_bool() != Some(true)
}

/// Parameters that name fields are compiled as they are: an expression there is not.
fn no_expressions(cx: &mut Import, p: &Value, at: &str, who: &str) -> Option<()> {
    fn find(value: &Value, pointer: String) -> Option<String> {
        match value {
            Value::String(s) if s.starts_with('=') => Some(pointer),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| find(v, format!("{pointer}/{i}"))),
            Value::Object(map) => map.iter().find_map(|(k, v)| find(v, format!("{pointer}/{}", escape(k)))),
            _ => None,
        }
    }
    match find(p, format!("{at}/parameters")) {
        None => Some(()),
        Some(pointer) => {
            cx.unsupported(
                pointer,
                format!("{who} has an expression where this version of flowc compiles field names as they are"),
                "write the field names themselves",
            );
            None
        }
    }
}

/// Merge: append (every version), and from version 3 combine (by fields, by position, every
/// combination) and choose branch.
fn merge(cx: &mut Import, p: &Value, at: &str, who: &str, version: f64) -> Option<Value> {
    let mode = p["mode"].as_str().unwrap_or("append");
    let inputs = p["numberInputs"].as_u64().unwrap_or(2);
    if mode == "append" {
        return Some(json!({"mode": "append", "inputs": inputs}));
    }
    if version < 3.0 || !matches!(mode, "combine" | "chooseBranch") {
        cx.unsupported(
            format!("{at}/parameters/mode"),
            format!("{who} merges in mode `{mode}`, which this version of flowc does not compile"),
            "flowc compiles Merge v3's Append, Combine (by matching fields, by position, all combinations) and Choose Branch",
        );
        return None;
    }
    let options = &p["options"];
    let clash = || -> Option<Value> {
        let values = options["clashHandling"]["values"].as_object()?;
        let mut clash = json!({});
        match values.get("resolveClash").and_then(Value::as_str) {
            Some("preferInput1") => clash["resolve"] = json!("prefer_input1"),
            Some("addSuffix") => clash["resolve"] = json!("add_suffix"),
            Some("preferLast") => clash["resolve"] = json!("prefer_last"),
            _ => {}
        }
        if values.get("mergeMode").and_then(Value::as_str) == Some("shallowMerge") {
            clash["deep"] = json!(false);
        }
        if values.get("overrideEmpty").and_then(Value::as_bool) == Some(true) {
            clash["override_empty"] = json!(true);
        }
        Some(clash)
    };
    let mut config = json!({"inputs": inputs});
    if mode == "chooseBranch" {
        config["mode"] = json!("choose_branch");
        config["branch"] = match p["output"].as_str().unwrap_or("specifiedInput") {
            "empty" => json!("empty"),
            _ => json!(p["useDataOfInput"].as_u64().unwrap_or(1)),
        };
        return Some(config);
    }
    match p["combineBy"].as_str().unwrap_or("combineByFields") {
        "combineByFields" => {
            no_expressions(cx, p, at, who)?;
            let fields: Vec<Value> = if p["advanced"].as_bool() == Some(true) {
                p["mergeByFields"]["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        json!([f["field1"].as_str().unwrap_or_default(), f["field2"].as_str().unwrap_or_default()])
                    })
                    .collect()
            } else {
                list(&p["fieldsToMatchString"]).into_iter().map(|f| json!([f, f])).collect()
            };
            config["mode"] = json!("combine_by_fields");
            config["fields"] = json!(fields);
            let join = match p["joinMode"].as_str().unwrap_or("keepMatches") {
                "keepNonMatches" => "keep_non_matches",
                "keepEverything" => "keep_everything",
                "enrichInput1" => "enrich_input1",
                "enrichInput2" => "enrich_input2",
                _ => "keep_matches",
            };
            config["join"] = json!(join);
            if let Some(from) = p["outputDataFrom"].as_str().filter(|f| *f != "both") {
                config["output_from"] = json!(from);
            }
            if options["multipleMatches"].as_str() == Some("first") {
                config["all_matches"] = json!(false);
            }
            if options["fuzzyCompare"].as_bool() == Some(true) {
                config["fuzzy"] = json!(true);
            }
            config["dot_notation"] = json!(dot_notation(p));
        }
        "combineByPosition" => {
            config["mode"] = json!("combine_by_position");
            if options["includeUnpaired"].as_bool() == Some(true) {
                config["include_unpaired"] = json!(true);
            }
        }
        "combineAll" => config["mode"] = json!("combine_all"),
        other => {
            cx.unsupported(
                format!("{at}/parameters/combineBy"),
                format!("{who} combines by `{other}`, which this version of flowc does not compile"),
                "combine by matching fields, by position or all combinations",
            );
            return None;
        }
    }
    if let Some(clash) = clash() {
        config["clash"] = clash;
    }
    Some(config)
}

/// Switch (version 3): rules, each a filter's conditions, or an expression giving the output.
fn switch(cx: &mut Import, node: &Value, at: &str, who: &str, version: f64) -> Option<Value> {
    let p = &node["parameters"];
    if version < 3.0 {
        cx.unsupported(
            format!("{at}/typeVersion"),
            format!("{who}: versions 1 and 2 of this node are not compiled by this version of flowc"),
            "open the workflow in n8n and replace the node with a new Switch (version 3), which has the same rules",
        );
        return None;
    }
    let options = &p["options"];
    if p["mode"].as_str() == Some("expression") {
        return Some(
            json!({"mode": "expression", "outputs": p["numberOutputs"].as_u64().unwrap_or(4), "output": p["output"].clone()}),
        );
    }
    let loose =
        p["looseTypeValidation"].as_bool() == Some(true) || options["looseTypeValidation"].as_bool() == Some(true);
    let mut rules = Vec::new();
    for (i, rule) in p["rules"]["values"].as_array().into_iter().flatten().enumerate() {
        let pointer = format!("{at}/parameters/rules/values/{i}/conditions");
        let mut conditions = filter_conditions(cx, &rule["conditions"], &pointer, who)?;
        if options["ignoreCase"].as_bool() == Some(true) {
            conditions["case_sensitive"] = json!(false);
        }
        if loose {
            conditions["loose"] = json!(true);
        }
        rules.push(conditions);
    }
    let fallback = match &options["fallbackOutput"] {
        Value::String(s) if s == "extra" => json!("extra"),
        Value::Number(n) => json!(n),
        _ => json!("none"),
    };
    let all = options["allMatchingOutputs"].as_bool().unwrap_or(false);
    Some(json!({"mode": "rules", "rules": rules, "fallback": fallback, "all_matching": all}))
}

/// Summarize: the aggregations, by field, and the fields the groups are split by.
fn summarize(cx: &mut Import, p: &Value, at: &str, who: &str) -> Option<Value> {
    let options = &p["options"];
    for (option, default) in [
        ("outputFormat", json!("separateItems")),
        ("continueIfFieldNotFound", json!(false)),
        ("skipEmptySplitFields", json!(false)),
    ] {
        if options.get(option).is_some_and(|v| *v != default) {
            cx.unsupported(
                format!("{at}/parameters/options/{option}"),
                format!("{who} sets the option `{option}`, which this version of flowc does not compile"),
                "leave the option at its default",
            );
            return None;
        }
    }
    no_expressions(cx, p, at, who)?;
    let mut aggregations = Vec::new();
    for value in p["fieldsToSummarize"]["values"].as_array().into_iter().flatten() {
        let aggregation = value["aggregation"].as_str().unwrap_or("count");
        let mut a = json!({"aggregation": aggregation, "field": value["field"].as_str().unwrap_or_default()});
        if value["includeEmpty"].as_bool() == Some(true) {
            a["include_empty"] = json!(true);
        }
        if aggregation == "concatenate" {
            let separator = match value["separateBy"].as_str().unwrap_or(",") {
                "other" => value["customSeparator"].as_str().unwrap_or_default().to_owned(),
                "\\n" => "\n".to_owned(),
                other => other.to_owned(),
            };
            a["separator"] = json!(separator);
        }
        aggregations.push(a);
    }
    Some(
        json!({"split_by": list(&p["fieldsToSplitBy"]), "aggregations": aggregations, "dot_notation": dot_notation(p)}),
    )
}

/// HTTP Request (versions 3 and 4): the request, its options, and its credential as
/// environment variables.
fn http_request(cx: &mut Import, node: &Value, at: &str, who: &str, version: f64) -> Option<Value> {
    let p = &node["parameters"];
    if version < 3.0 {
        cx.unsupported(
            format!("{at}/typeVersion"),
            format!("{who}: versions 1 and 2 of this node are not compiled by this version of flowc"),
            "open the workflow in n8n and replace the node with a new HTTP Request (version 4), which has the same options",
        );
        return None;
    }
    let options = &p["options"];
    for option in ["pagination", "proxy", "allowUnauthorizedCerts", "queryParameterArrays", "lowercaseHeaders"] {
        if options.get(option).is_some() {
            cx.unsupported(
                format!("{at}/parameters/options/{option}"),
                format!("{who} sets the option `{option}`, which this version of flowc does not compile"),
                "remove the option",
            );
            return None;
        }
    }
    let pairs =
        |cx: &mut Import, send: &str, specify: &str, list: &str, json_key: &str, what: &str| -> Option<Vec<Value>> {
            if p[send].as_bool() != Some(true) {
                return Some(Vec::new());
            }
            if p[specify].as_str() == Some("json") {
                cx.unsupported(
                    format!("{at}/parameters/{json_key}"),
                    format!("{who} gives its {what} as JSON, which this version of flowc does not compile"),
                    "give them as fields below (Using Fields Below)",
                );
                return None;
            }
            Some(
                p[list]["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|q| json!({"name": q["name"].clone(), "value": q.get("value").cloned().unwrap_or(json!(""))}))
                    .collect(),
            )
        };
    let query = pairs(cx, "sendQuery", "specifyQuery", "queryParameters", "jsonQuery", "query parameters")?;
    let headers = pairs(cx, "sendHeaders", "specifyHeaders", "headerParameters", "jsonHeaders", "headers")?;
    let mut config = json!({"method": p["method"].as_str().unwrap_or("GET"), "url": p["url"].clone()});
    if !query.is_empty() {
        config["query"] = json!(query);
    }
    if !headers.is_empty() {
        config["headers"] = json!(headers);
    }
    if p["sendBody"].as_bool() == Some(true) {
        let content = p["contentType"].as_str().unwrap_or("json");
        let body = match content {
            "json" if p["specifyBody"].as_str() == Some("json") => {
                json!({"type": "json", "json": p["jsonBody"].clone()})
            }
            "json" | "form-urlencoded" => {
                let fields: Vec<Value> = p["bodyParameters"]["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|q| json!({"name": q["name"].clone(), "value": q.get("value").cloned().unwrap_or(json!(""))}))
                    .collect();
                json!({"type": if content == "json" { "json" } else { "form" }, "fields": fields})
            }
            "raw" => {
                json!({"type": "raw", "raw": p["body"].clone(), "content_type": p["rawContentType"].as_str().unwrap_or("text/plain")})
            }
            other => {
                cx.unsupported(
                    format!("{at}/parameters/contentType"),
                    format!("{who} sends a body of type `{other}`, which this version of flowc does not compile"),
                    "send JSON, a form (urlencoded) or a raw body",
                );
                return None;
            }
        };
        config["body"] = body;
    }
    let response = &options["response"]["response"];
    match response["responseFormat"].as_str().unwrap_or("autodetect") {
        "autodetect" => {}
        format @ ("json" | "text") => config["format"] = json!(format),
        other => {
            cx.unsupported(
                format!("{at}/parameters/options/response"),
                format!("{who} reads its response as `{other}`, which this version of flowc does not compile"),
                "read the response as JSON or text",
            );
            return None;
        }
    }
    if response["fullResponse"].as_bool() == Some(true) {
        config["full_response"] = json!(true);
    }
    if response["neverError"].as_bool() == Some(true) {
        config["never_error"] = json!(true);
    }
    if let Some(field) = response["outputPropertyName"].as_str().filter(|f| !f.is_empty() && *f != "data") {
        config["output_field"] = json!(field);
    }
    if let Some(ms) = options["timeout"].as_u64() {
        config["timeout_ms"] = json!(ms);
    }
    if let Some(batch) = options["batching"]["batch"].as_object() {
        config["batch"] = json!({"size": batch.get("batchSize").and_then(Value::as_u64).unwrap_or(50), "interval_ms": batch.get("batchInterval").and_then(Value::as_u64).unwrap_or(1000)});
    }
    let redirect = &options["redirect"]["redirect"];
    if redirect["followRedirects"].as_bool() == Some(false) {
        config["follow_redirects"] = json!(false);
    }
    if let Some(max) = redirect["maxRedirects"].as_u64() {
        config["max_redirects"] = json!(max.min(21));
    }
    match p["authentication"].as_str().unwrap_or("none") {
        "none" => {}
        "genericCredentialType" => {
            let kind = p["genericAuthType"].as_str().unwrap_or_default();
            let name = node["credentials"][kind]["name"].as_str().unwrap_or(kind);
            let prefix = env_prefix(name);
            let (auth, vars) = match kind {
                "httpHeaderAuth" => (
                    json!({"type": "header", "name_env": format!("{prefix}_NAME"), "value_env": format!("{prefix}_VALUE")}),
                    format!("{prefix}_NAME (the header's name) and {prefix}_VALUE"),
                ),
                "httpBearerAuth" => {
                    (json!({"type": "bearer", "token_env": format!("{prefix}_TOKEN")}), format!("{prefix}_TOKEN"))
                }
                "httpBasicAuth" => (
                    json!({"type": "basic", "user_env": format!("{prefix}_USER"), "password_env": format!("{prefix}_PASSWORD")}),
                    format!("{prefix}_USER and {prefix}_PASSWORD"),
                ),
                other => {
                    cx.unsupported(format!("{at}/parameters/genericAuthType"), format!("{who} authenticates with a credential of type `{other}`, which this version of flowc does not compile"), "use a Header, Bearer or Basic Auth credential");
                    return None;
                }
            };
            let note = format!(
                "credential `{name}` ({kind}) of node `{}`: set {vars}",
                node["name"].as_str().unwrap_or_default()
            );
            if !cx.notes.contains(&note) {
                cx.notes.push(note);
            }
            config["auth"] = auth;
        }
        other => {
            cx.unsupported(format!("{at}/parameters/authentication"), format!("{who} authenticates with `{other}` (a service's own credential), which this version of flowc does not compile"), "use a generic Header, Bearer or Basic Auth credential");
            return None;
        }
    }
    Some(config)
}

/// The prefix of the environment variables of an n8n credential: `N8N_` and its name in
/// upper snake case (`Acme API` → `N8N_ACME_API`).
fn env_prefix(name: &str) -> String {
    let mut prefix = String::from("N8N");
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        prefix.push('_');
        prefix.push_str(&word.to_ascii_uppercase());
    }
    prefix
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

/// The order If and Filter version 1 evaluate their conditions in: by type.
const LEGACY_TYPE_ORDER: &[&str] = &["boolean", "dateTime", "number", "string"];

/// If and Filter version 1: `conditions.<type>[] {value1, operation, value2}`, evaluated by type
/// (booleans, dates, numbers, strings), and how they combine.
fn legacy_conditions(cx: &mut Import, p: &Value, at: &str, who: &str) -> Option<Value> {
    let mut conditions = Vec::new();
    let mut ok = true;
    for ty in LEGACY_TYPE_ORDER {
        for (j, c) in p["conditions"][*ty].as_array().into_iter().flatten().enumerate() {
            // Exports leave out what equals its default: the operation and values by type.
            let (default_operation, default_value) = match *ty {
                "boolean" => ("equal", json!(false)),
                "dateTime" => ("after", json!("")),
                "number" => ("smaller", json!(0)),
                _ => ("equal", json!("")),
            };
            let operation = c["operation"].as_str().unwrap_or(default_operation);
            if !crate::items::LEGACY_OPERATIONS.contains(&(*ty, operation)) {
                cx.unsupported(
                    format!("{at}/parameters/conditions/{ty}/{j}/operation"),
                    format!("{who} has a {ty} condition `{operation}`, which this version of flowc does not compile"),
                    "use another operation, or replace the node with a new If (version 2)",
                );
                ok = false;
                continue;
            }
            conditions.push(json!({
                "type": ty,
                "operation": operation,
                "value1": c.get("value1").cloned().unwrap_or_else(|| default_value.clone()),
                "value2": c.get("value2").cloned().unwrap_or_else(|| default_value.clone()),
            }));
        }
    }
    // If v1 says `combineOperation` (`all`, `any`), Filter v1 `combineConditions` (`AND`, `OR`).
    let any = p["combineOperation"].as_str() == Some("any") || p["combineConditions"].as_str() == Some("OR");
    let combine = if any { "any" } else { "all" };
    ok.then(|| json!({"conditions": conditions, "combine": combine}))
}

/// If and Filter (version 2): the conditions of the filter parameter, and the node's options.
fn conditions(cx: &mut Import, node: &Value, at: &str, who: &str) -> Option<Value> {
    let p = &node["parameters"];
    let mut conditions = filter_conditions(cx, &p["conditions"], &format!("{at}/parameters/conditions"), who)?;
    if p["options"]["ignoreCase"].as_bool() == Some(true) {
        conditions["case_sensitive"] = json!(false);
    }
    if p["looseTypeValidation"].as_bool() == Some(true) || p["options"]["looseTypeValidation"].as_bool() == Some(true) {
        conditions["loose"] = json!(true);
    }
    Some(conditions)
}

/// A filter parameter (`{options, conditions, combinator}`) as an item flow's conditions.
fn filter_conditions(cx: &mut Import, filter: &Value, pointer: &str, who: &str) -> Option<Value> {
    let options = &filter["options"];
    let mut conditions = Vec::new();
    let mut ok = true;
    for (j, c) in filter["conditions"].as_array().into_iter().flatten().enumerate() {
        let operator = format!(
            "{}:{}",
            c["operator"]["type"].as_str().unwrap_or("string"),
            c["operator"]["operation"].as_str().unwrap_or("equals")
        );
        if !crate::items::OPERATORS.iter().any(|(op, _)| *op == operator) {
            cx.unsupported(
                format!("{pointer}/conditions/{j}/operator"),
                format!("{who} has a condition with the operator `{operator}`, which this version of flowc does not compile"),
                "use another operator of the same type",
            );
            ok = false;
            continue;
        }
        let mut condition = json!({"left": c.get("leftValue").cloned().unwrap_or(json!("")), "operator": operator});
        if crate::items::OPERATORS.iter().any(|(op, right)| *op == operator && *right) {
            condition["right"] = c.get("rightValue").cloned().unwrap_or(json!(""));
        }
        conditions.push(condition);
    }
    let combinator = if filter["combinator"].as_str() == Some("or") { "or" } else { "and" };
    let case_sensitive = options["caseSensitive"].as_bool().unwrap_or(true);
    let loose = options["typeValidation"].as_str() == Some("loose");
    ok.then(|| json!({"conditions": conditions, "combinator": combinator, "case_sensitive": case_sensitive, "loose": loose}))
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
