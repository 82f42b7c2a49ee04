//! The `main` of a program compiled from an item flow (an imported n8n workflow): `run` and
//! `describe`, and the run result an execution becomes.
//!
//! The run result has the shape of a flow document's (`RunResult`): `outputs`, then one
//! envelope per node in document order. An item node's envelope holds what n8n's run data
//! holds: `data` is the items' `json` of each main output (`[[…], […]]`), every run's items
//! one after the other, and `metadata.runs` says how many runs there were. `outputs` has, for
//! every node with no outgoing connection that ran, the items' `json` of its first output, as
//! an array keyed by the node's name.

use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::{Map, Value};

use crate::cli::RunArgs;
use crate::cli::{async_runtime, bad_input, read_input};
use crate::envelope::{rfc3339, Envelope, RunResult, RunStatus, Status};
use crate::items::{execute, Execution, Item, ItemFlow};

#[derive(Parser, Debug)]
#[command(version, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the flow once from its manual trigger and print the run result as JSON.
    Run(ItemRunArgs),
    /// Print the flow's nodes and connections as JSON.
    Describe,
}

/// The options of an item flow's `run`: the run input only.
#[derive(Args, Debug)]
struct ItemRunArgs {
    /// Read the run input from this JSON file: an object is the trigger's one item, an array
    /// of objects its items; without an input the trigger gives one empty item.
    #[arg(long, value_name = "FILE", conflicts_with = "input_json")]
    input: Option<std::path::PathBuf>,
    /// The run input as JSON text.
    #[arg(long, value_name = "JSON")]
    input_json: Option<String>,
}

/// The `main` of a generated item-flow program.
pub fn main(flow: &'static ItemFlow) -> ExitCode {
    let about = if flow.description.is_empty() { flow.name } else { flow.description };
    let command = Cli::command().name(flow.id).about(about);
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match cli.command {
        Command::Describe => {
            println!("{}", serde_json::to_string_pretty(&describe(flow)).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Run(args) => run(flow, args),
    }
}

fn run(flow: &'static ItemFlow, args: ItemRunArgs) -> ExitCode {
    let read = RunArgs { input: args.input, input_json: args.input_json, ..RunArgs::default() };
    let input = match read_input(&read).and_then(trigger_items) {
        Ok(input) => input,
        Err(message) => return bad_input(&message),
    };
    let Some(start) = flow.nodes.iter().position(|n| n.kind == "manual_trigger") else {
        return bad_input("the flow has no manual trigger to run it from");
    };
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    let started = std::time::SystemTime::now();
    let clock = std::time::Instant::now();
    let execution = runtime.block_on(execute(flow, start, input.clone(), &run_id));
    let result = run_result(flow, &execution, run_id, started, clock.elapsed(), input);
    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    println!("{text}");
    ExitCode::from(result.status.exit_code())
}

/// The trigger's items: an object is one item, an array of objects is one item each, no
/// input is one empty item (what n8n's manual trigger gives).
fn trigger_items(input: Value) -> Result<Vec<Item>, String> {
    match input {
        Value::Null => Ok(vec![Item::new(Value::Object(Map::new()))]),
        Value::Object(_) => Ok(vec![Item::new(input)]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(_) => Ok(Item::new(item)),
                other => Err(format!(
                    "item {i} of the input is {}: each item of an item flow is a JSON object",
                    kind_of(&other)
                )),
            })
            .collect(),
        other => Err(format!(
            "the input is {}: give an object (one item) or an array of objects (one item each)",
            kind_of(&other)
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The run result of an execution: `outputs` of the nodes with no outgoing connection, and
/// one envelope per node.
pub fn run_result(
    flow: &'static ItemFlow,
    execution: &Execution,
    run_id: String,
    started: std::time::SystemTime,
    took: std::time::Duration,
    input: Vec<Item>,
) -> RunResult {
    let mut outputs = Map::new();
    let mut nodes = Vec::with_capacity(flow.nodes.len());
    let mut failed_and_handled = false;
    for (index, node) in flow.nodes.iter().enumerate() {
        let runs: Vec<_> = execution.runs_of(index).collect();
        let Some(first) = runs.first() else {
            nodes.push(Envelope {
                node: node.name,
                kind: node.kind,
                source: node.source,
                status: Status::Skipped,
                timestamp: rfc3339(started),
                duration_ms: 0,
                attempts: 0,
                data: Value::Null,
                metadata: Map::new(),
                error: None,
                input: None,
            });
            continue;
        };
        let width = runs.iter().map(|r| r.outputs.len()).max().unwrap_or(0);
        let mut data: Vec<Vec<Value>> = vec![Vec::new(); width];
        for run in &runs {
            for (output, items) in run.outputs.iter().enumerate() {
                data[output].extend(items.iter().map(|i| i.json.clone()));
            }
        }
        let error = runs.iter().rev().find_map(|r| r.error.clone());
        if error.is_some() && execution.error.is_none() {
            failed_and_handled = true;
        }
        let is_leaf = !flow.connections.iter().any(|c| c.source == index);
        if is_leaf {
            outputs.insert(node.name.to_owned(), Value::Array(data.first().cloned().unwrap_or_default()));
        }
        let mut metadata = Map::new();
        metadata.insert("runs".to_owned(), Value::from(runs.len()));
        nodes.push(Envelope {
            node: node.name,
            kind: node.kind,
            source: node.source,
            status: if error.is_some() { Status::Error } else { Status::Success },
            timestamp: rfc3339(first.started),
            duration_ms: runs.iter().map(|r| r.duration.as_millis() as u64).sum(),
            attempts: runs.last().map_or(0, |r| r.tries),
            data: Value::Array(data.into_iter().map(Value::Array).collect()),
            metadata,
            error,
            input: None,
        });
    }
    let status = if execution.error.is_some() {
        RunStatus::Error
    } else if failed_and_handled {
        RunStatus::Partial
    } else {
        RunStatus::Success
    };
    RunResult {
        flow: flow.id,
        run_id,
        status,
        started_at: rfc3339(started),
        duration_ms: took.as_millis() as u64,
        outputs,
        nodes,
        input: Value::Array(input.into_iter().map(|i| i.json).collect()),
    }
}

/// The flow's nodes and connections, as `describe` prints them.
pub fn describe(flow: &ItemFlow) -> Value {
    let nodes: Vec<Value> = flow
        .nodes
        .iter()
        .map(|n| serde_json::json!({"name": n.name, "kind": n.kind, "source": n.source, "outputs": n.outputs}))
        .collect();
    let connections: Vec<Value> = flow
        .connections
        .iter()
        .map(|c| {
            serde_json::json!({
                "source": flow.nodes[c.source].name,
                "output": c.output,
                "target": flow.nodes[c.target].name,
                "input": c.input,
            })
        })
        .collect();
    serde_json::json!({
        "id": flow.id,
        "name": flow.name,
        "description": flow.description,
        "items": {"order": match flow.order { crate::items::Order::V0 => "v0", crate::items::Order::V1 => "v1" }},
        "nodes": nodes,
        "connections": connections,
    })
}
