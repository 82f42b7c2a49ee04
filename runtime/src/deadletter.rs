//! Dead letters: what a run could not do, as JSON lines (`<bin> run --dead-letter FILE`), and
//! replays of them (`<bin> run --replay FILE`).
//!
//! One line per failed node of the flow and per map item that failed or never ran:
//!
//! ```json
//! {"kind": "map_item", "flow": "f", "run_id": "…", "node": "each", "index": 17, "item": {…}, "status": "error", "error": {…}, "nodes": {…}, "run_input": {…}}
//! {"kind": "node", "flow": "f", "run_id": "…", "node": "post", "input": {…}, "error": {…}, "attempts": 3, "run_input": {…}}
//! ```
//!
//! A failed map is written as its failed items, not as a node: its other items succeeded. A
//! replay runs the flow again on the recorded `run_input`; each map with dead-letter items
//! runs only those items (the recorded item values, at their old indices), every other node
//! runs as usual.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::envelope::{RunResult, Status};
use crate::flow::Flow;

/// The dead letters of a run, one JSON value per line.
pub fn lines(result: &RunResult) -> Vec<Value> {
    let mut out = Vec::new();
    for envelope in &result.nodes {
        if envelope.status != Status::Error {
            continue;
        }
        let base =
            |kind: &str| json!({ "kind": kind, "flow": result.flow, "run_id": result.run_id, "node": envelope.node });
        match envelope.metadata.get("items").and_then(Value::as_array) {
            Some(items) => {
                for item in items.iter().filter(|i| i["status"] == "error" || i["status"] == "skipped") {
                    let mut line = base("map_item");
                    for key in ["index", "item", "status", "error", "reason", "nodes"] {
                        if let Some(value) = item.get(key) {
                            line[key] = value.clone();
                        }
                    }
                    line["run_input"] = result.input.clone();
                    out.push(line);
                }
            }
            None => {
                let mut line = base("node");
                line["input"] = envelope.input.clone().unwrap_or(Value::Null);
                line["error"] = serde_json::to_value(&envelope.error).unwrap_or(Value::Null);
                line["attempts"] = Value::from(envelope.attempts);
                line["run_input"] = result.input.clone();
                out.push(line);
            }
        }
    }
    out
}

/// Writes the run's dead letters to `path` (replacing the file; an empty file when nothing
/// failed). Returns how many were written.
pub fn write(path: &Path, result: &RunResult) -> std::io::Result<usize> {
    let lines = lines(result);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in &lines {
        serde_json::to_writer(&mut file, line)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    Ok(lines.len())
}

/// What a replay re-runs: the input of the run that wrote the dead letters, and the items of
/// each map to run again.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub input: Value,
    items: HashMap<String, Vec<(usize, Value)>>,
    /// How many dead letters there were.
    pub letters: usize,
}

impl Replay {
    /// Reads a dead-letter file written by a run of `flow`. Every line must be a dead letter
    /// of this flow, of one run, naming a node the flow has (a map node for items).
    pub fn read(flow: &Flow, path: &Path) -> Result<Replay, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut input: Option<(Value, String)> = None;
        let mut items: HashMap<String, Vec<(usize, Value)>> = HashMap::new();
        let mut letters = 0;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let at = format!("{}:{}", path.display(), n + 1);
            let letter: Value =
                serde_json::from_str(line).map_err(|e| format!("{at}: not a dead letter (JSON lines): {e}"))?;
            if letter["flow"] != flow.id {
                return Err(format!(
                    "{at}: a dead letter of the flow {}, and this program runs the flow `{}`",
                    letter["flow"], flow.id
                ));
            }
            let run_id = letter["run_id"].as_str().unwrap_or_default().to_owned();
            match &input {
                None => input = Some((letter["run_input"].clone(), run_id)),
                Some((_, first)) if *first != run_id => {
                    return Err(format!(
                        "{at}: dead letters of two runs ({first} and {run_id}): replay one run's file at a time"
                    ))
                }
                Some(_) => {}
            }
            let node_id = letter["node"].as_str().unwrap_or_default();
            let Some(node) = flow.nodes.iter().find(|n| n.id == node_id) else {
                return Err(format!("{at}: the flow has no node `{node_id}`"));
            };
            match letter["kind"].as_str() {
                Some("map_item") => {
                    if node.kind != "map" {
                        return Err(format!("{at}: node `{node_id}` is not a map, so it has no items to replay"));
                    }
                    let index = letter["index"]
                        .as_u64()
                        .ok_or_else(|| format!("{at}: a map item's dead letter needs its `index`"))?;
                    items.entry(node_id.to_owned()).or_default().push((index as usize, letter["item"].clone()));
                }
                Some("node") => {}
                _ => return Err(format!("{at}: `kind` must be \"map_item\" or \"node\"")),
            }
            letters += 1;
        }
        let Some((input, _)) = input else {
            return Err(format!("{} holds no dead letters: there is nothing to replay", path.display()));
        };
        for list in items.values_mut() {
            list.sort_by_key(|(index, _)| *index);
            list.dedup_by_key(|(index, _)| *index);
        }
        Ok(Replay { input, items, letters })
    }

    /// The items of map node `node` to run again, in index order; `None` when the dead
    /// letters hold none of its items (the map then runs as usual).
    pub fn items(&self, node: &str) -> Option<&[(usize, Value)]> {
        self.items.get(node).map(Vec::as_slice)
    }
}
