//! Item flows: the execution model of n8n workflows, which imported n8n workflows run on.
//!
//! A flow document's own nodes run once each, as soon as what feeds them has finished
//! (`scheduler`). An n8n workflow works otherwise, and its results depend on it:
//! - every node takes lists of **items** (`{json}`), one list per input, and gives one list per
//!   output; an `if` can send items down both of its outputs in one run;
//! - a node runs **once per batch delivered to it**: fed by two upstream nodes, it runs twice
//!   (run index 0 and 1), and so does everything below it; a node with several inputs (a merge)
//!   waits until each input has a batch, and runs late, with an empty input, when one never
//!   comes;
//! - an empty output schedules nothing: what is below it does not run at all;
//! - one node runs at a time, in an order that decides which side effect happens first and which
//!   node ran last: depth first, the children of a node taken top to bottom, then left to right,
//!   by their position on the canvas (`executionOrder: v1`), or breadth first in connection
//!   order (`v0`, workflows saved before n8n 1.0);
//! - the node settings `disabled`, `executeOnce`, `alwaysOutputData`, `onError` and
//!   `retryOnFail` change what a run takes and gives;
//! - each output item records which input item it came from (`pairedItem`), which is what an
//!   expression's `$('Node').item` follows back.
//!
//! No crate implements this model; this module is a scheduler of its own over a static table
//! of nodes whose logic is compiled code, as `scheduler` is for flow documents. It keeps every
//! run of every node (`Execution::runs`), which is what n8n's run data holds: expressions read
//! other nodes' items from it, and the run result reports it.
//!
//! A workflow may loop: a connection may go back into a node upstream of it (a Loop Over Items
//! node fed again by its loop body, `item_loop`). Nothing here recurses over the graph while it
//! runs: a node fed again is one more pending entry, run again with the next run index, its
//! state kept in its [`NodeContext`]. So that a workflow wired into an endless loop ends, an
//! execution stops with an error once [`MAX_RUNS`] node runs have been made.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::Error;

/// One item: its JSON, and the input items it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub json: Value,
    /// The input items this item came from (n8n's `pairedItem`); empty when unknown.
    pub paired: Vec<Paired>,
}

impl Item {
    /// An item of `json` that came from no known input item.
    pub fn new(json: Value) -> Item {
        Item { json, paired: Vec::new() }
    }

    /// An item of `json` that came from input item `item` of input 0.
    pub fn from(json: Value, item: usize) -> Item {
        Item { json, paired: vec![Paired { item, input: 0 }] }
    }
}

/// Which input item an item came from: its index in input `input` of the node's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paired {
    pub item: usize,
    pub input: usize,
}

/// The order in which nodes run (a workflow's `settings.executionOrder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// n8n before 1.0, and any workflow without `executionOrder: v1`: breadth first, in
    /// connection order; a node's second input counts as delivered (empty) even when nothing
    /// came. (n8n's v0 also starts the unrun branch of a merge's other input with an empty
    /// item; this scheduler does not, so a v0 workflow with a node of several inputs must not
    /// be compiled onto it.)
    V0,
    /// Depth first; the children of a node run top to bottom, then left to right, by canvas
    /// position.
    V1,
}

/// What a node does when it fails (n8n's `onError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The workflow stops (the default).
    Stop,
    /// The node's input items go on, to output 0; items the node itself marks as errors stay
    /// where it put them.
    ContinueRegular,
    /// Like `ContinueRegular` for a failure of the whole node; items the node marks as errors
    /// go to an extra output after the node's own, with the fields of the input item they came
    /// from.
    ContinueErrorOutput,
}

/// Which inputs of a node with several must have had a batch before it runs without the
/// others (n8n's `requiredInputs`; only under [`Order::V1`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Every input: the node never runs with an input missing (a merge choosing a branch).
    All,
    /// At least this many inputs.
    AtLeast(usize),
}

/// How many node runs an execution makes at most: one more ends it with an error naming the
/// node that would have run (a loop that never finishes).
pub(crate) const MAX_RUNS: usize = 100_000;

/// What a node keeps across its runs in one execution (n8n's `getContext('node')`), and where
/// the items of its current run came from beyond its inputs.
#[derive(Debug, Default)]
pub struct NodeContext {
    /// The node's own state: `Value::Null` before its first run.
    pub state: std::sync::Mutex<Value>,
    /// Sources the current run's output items pair with (n8n's `sourceOverwrite`).
    extra: std::sync::Mutex<Vec<Source>>,
}

impl NodeContext {
    /// The extra sources declared by the run, emptied for the next.
    fn take_extra(&self) -> Vec<Source> {
        std::mem::take(&mut *self.extra.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What a node's function gets: the items of each input, and where the run is.
pub struct NodeInput<'a> {
    /// The items of each input (each item's `paired` says its own index in that input).
    pub inputs: Vec<Vec<Item>>,
    /// Where each input's batch came from.
    pub sources: Vec<Option<Source>>,
    /// How many times this node ran before in this execution.
    pub run_index: usize,
    /// Every node run so far, in order.
    pub history: &'a [NodeRun],
    pub order: Order,
    /// The flow, and the execution's id (`$workflow`, `$execution.id`).
    pub flow: &'a ItemFlow,
    pub execution_id: &'a str,
    /// The node's context in this execution, one per node, made by [`execute`].
    pub context: &'a NodeContext,
}

impl NodeInput<'_> {
    /// The items the node's parameters are evaluated on (n8n's `$input`): input 0's under
    /// [`Order::V0`], the first input that has any under [`Order::V1`].
    pub fn main(&self) -> &[Item] {
        match self.order {
            Order::V0 => self.inputs.first().map_or(&[], Vec::as_slice),
            Order::V1 => self.inputs.iter().find(|items| !items.is_empty()).map_or(&[], Vec::as_slice),
        }
    }

    /// The item of node `wanted` that item `item` of input `input` came from (n8n's
    /// `$('Node').item`).
    pub fn paired_item(&self, input: usize, item: usize, wanted: usize) -> Result<&Item, PairError> {
        paired_item(self.history, &self.sources, input, item, wanted)
    }

    /// The `input` an output item's [`Paired`] names to say it came from item `item` of
    /// `source`'s batch rather than from one of this run's inputs (n8n's `sourceOverwrite`):
    /// the run's recorded sources get `source` after its inputs' own.
    pub fn pair_with(&self, source: Source) -> usize {
        let mut extra = self.context.extra.lock().unwrap_or_else(|e| e.into_inner());
        let at = extra.iter().position(|s| *s == source).unwrap_or_else(|| {
            extra.push(source);
            extra.len() - 1
        });
        self.inputs.len() + at
    }
}

/// What a node's function gives: one list of items per output, or the failure of the whole
/// node.
pub type NodeOutput = Result<Vec<Vec<Item>>, Error>;

/// What a node's function returns: the future of its run.
pub type NodeFuture<'a> = Pin<Box<dyn Future<Output = NodeOutput> + Send + 'a>>;

/// A node's logic, as generated code: an async function of its input.
pub type NodeFn = for<'a> fn(NodeInput<'a>) -> NodeFuture<'a>;

/// One node of an item flow.
pub struct ItemNode {
    /// Its name (n8n names nodes by name: connections and expressions use it).
    pub name: &'static str,
    /// Its kind in the flow document (`set`, `if`, …).
    pub kind: &'static str,
    /// Its JSON pointer in the flow document.
    pub source: &'static str,
    /// Where it is on the canvas, `(x, y)`: what decides the order under [`Order::V1`].
    pub position: (i64, i64),
    /// Its main outputs, without the error output `ContinueErrorOutput` adds.
    pub outputs: usize,
    /// For a node of several inputs, which must have had a batch (see [`Required`]).
    pub required: Required,
    /// Not run: the items of input 0 pass to output 0.
    pub disabled: bool,
    /// Runs on the first item of each input only.
    pub execute_once: bool,
    /// Gives one empty item on output 0 when it would give none there.
    pub always_output_data: bool,
    pub on_error: OnError,
    /// `Some((tries, wait))`: a failed run is tried again, `tries` times in all.
    pub retry: Option<(u32, Duration)>,
    pub run: NodeFn,
}

impl ItemNode {
    /// A node with n8n's default settings: enabled, run per batch, stopping the workflow when it
    /// fails, no retry; the methods below change them.
    pub const fn new(
        name: &'static str,
        kind: &'static str,
        source: &'static str,
        position: (i64, i64),
        outputs: usize,
        run: NodeFn,
    ) -> ItemNode {
        ItemNode {
            name,
            kind,
            source,
            position,
            outputs,
            required: Required::AtLeast(1),
            disabled: false,
            execute_once: false,
            always_output_data: false,
            on_error: OnError::Stop,
            retry: None,
            run,
        }
    }

    pub const fn required(mut self, required: Required) -> ItemNode {
        self.required = required;
        self
    }

    pub const fn disabled(mut self) -> ItemNode {
        self.disabled = true;
        self
    }

    pub const fn execute_once(mut self) -> ItemNode {
        self.execute_once = true;
        self
    }

    pub const fn always_output_data(mut self) -> ItemNode {
        self.always_output_data = true;
        self
    }

    pub const fn on_error(mut self, on_error: OnError) -> ItemNode {
        self.on_error = on_error;
        self
    }

    /// Tries a failed run again, `tries` times in all, `wait_ms` apart.
    pub const fn retry(mut self, tries: u32, wait_ms: u64) -> ItemNode {
        self.retry = Some((tries, Duration::from_millis(wait_ms)));
        self
    }
}

/// A connection: output `output` of node `source` into input `input` of node `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub source: usize,
    pub output: usize,
    pub target: usize,
    pub input: usize,
}

/// An item flow: its nodes, its connections (in the order the workflow lists them), its order.
pub struct ItemFlow {
    /// The flow's id and name, and what it does (the document's).
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub nodes: &'static [ItemNode],
    pub connections: &'static [Connection],
    pub order: Order,
}

/// Where a batch came from: a run of another node, and which of its outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub node: usize,
    pub output: usize,
    pub run: usize,
}

/// One run of one node.
#[derive(Debug, Clone)]
pub struct NodeRun {
    pub node: usize,
    /// How many runs of this node came before.
    pub run_index: usize,
    /// Where each input's batch came from (`None`: nothing came on that input), then the
    /// sources the run's items pair with beyond its inputs ([`NodeInput::pair_with`]).
    pub sources: Vec<Option<Source>>,
    /// The items of each output; for a failed node, what went on.
    pub outputs: Vec<Vec<Item>>,
    /// The failure of the whole node, if it failed.
    pub error: Option<Error>,
    /// How many times it was tried.
    pub tries: u32,
    /// When it started, and how long it took (its tries and waits included).
    pub started: std::time::SystemTime,
    pub duration: Duration,
}

/// How an execution went.
#[derive(Debug, Clone)]
pub struct Execution {
    /// Every node run, in the order they ran.
    pub runs: Vec<NodeRun>,
    /// The failure that stopped the execution (the last run's error).
    pub error: Option<Error>,
}

impl Execution {
    /// The last node that ran (n8n's `lastNodeExecuted`): whose output a webhook that answers
    /// with the last node's data answers with.
    pub fn last_node(&self) -> Option<usize> {
        self.runs.last().map(|run| run.node)
    }

    /// The runs of node `node`, in order.
    pub fn runs_of(&self, node: usize) -> impl Iterator<Item = &NodeRun> {
        self.runs.iter().filter(move |run| run.node == node)
    }
}

/// A node waiting to run: its node, and the batch (or no batch yet) of each input, with the
/// run it came from (none for what the start node is given).
struct Pending {
    node: usize,
    inputs: Vec<Option<(Vec<Item>, Option<Source>)>>,
}

impl ItemFlow {
    /// How many inputs node `node` has: the highest input a connection goes into, plus one.
    fn inputs_of(&self, node: usize) -> usize {
        self.connections.iter().filter(|c| c.target == node).map(|c| c.input + 1).max().unwrap_or(1)
    }

    /// Whether `ancestor` is upstream of `node`.
    fn is_ancestor(&self, ancestor: usize, node: usize) -> bool {
        let mut seen = vec![false; self.nodes.len()];
        let mut todo = vec![node];
        while let Some(at) = todo.pop() {
            for c in self.connections.iter().filter(|c| c.target == at) {
                if c.source == ancestor {
                    return true;
                }
                if !seen[c.source] {
                    seen[c.source] = true;
                    todo.push(c.source);
                }
            }
        }
        false
    }
}

/// Runs `flow` from node `start`, which gets `items` on its input 0 (a trigger passes what
/// fired it on). It stops with an error after [`MAX_RUNS`] node runs.
pub async fn execute(flow: &ItemFlow, start: usize, items: Vec<Item>, execution_id: &str) -> Execution {
    execute_bounded(flow, start, items, execution_id, MAX_RUNS).await
}

/// [`execute`], stopping with an error when a node would run after `max_runs` runs.
pub(crate) async fn execute_bounded(
    flow: &ItemFlow,
    start: usize,
    items: Vec<Item>,
    execution_id: &str,
    max_runs: usize,
) -> Execution {
    let mut execution = Execution { runs: Vec::new(), error: None };
    let contexts: Vec<NodeContext> = flow.nodes.iter().map(|_| NodeContext::default()).collect();
    let mut run_counts = vec![0usize; flow.nodes.len()];
    let mut stack: VecDeque<Pending> = VecDeque::new();
    // Nodes of several inputs with some batches, in the order they first got one.
    let mut waiting: Vec<Pending> = Vec::new();
    let mut first = Pending { node: start, inputs: vec![None; flow.inputs_of(start)] };
    first.inputs[0] = Some((items, None));
    stack.push_back(first);
    loop {
        let Some(pending) = stack.pop_front().or_else(|| release(flow, &mut waiting)) else { break };
        if execution.runs.len() >= max_runs {
            let name = flow.nodes[pending.node].name;
            execution.error = Some(Error::validation(format!(
                "node `{name}` would run after {max_runs} node runs, the most an execution makes: \
                 the workflow loops without end"
            )));
            break;
        }
        let (context, run_index) = (&contexts[pending.node], run_counts[pending.node]);
        let Some(run) = run_node(flow, pending, &execution.runs, execution_id, context, run_index).await else {
            continue;
        };
        run_counts[run.node] += 1;
        let failed = run.error.is_some() && flow.nodes[run.node].on_error == OnError::Stop;
        let node = run.node;
        let outputs = run.outputs.clone();
        let source_run = run.run_index;
        execution.runs.push(run);
        if failed {
            execution.error = execution.runs.last().and_then(|r| r.error.clone());
            break;
        }
        // The batches this run delivers, in connection order (output 0's first).
        let mut deliveries: Vec<(&Connection, Vec<Item>)> = Vec::new();
        for (output, items) in outputs.into_iter().enumerate() {
            for connection in flow.connections.iter().filter(|c| c.source == node && c.output == output) {
                let empty_second_input = flow.order == Order::V0 && connection.input > 0;
                if !items.is_empty() || empty_second_input {
                    deliveries.push((connection, items.clone()));
                }
            }
        }
        if flow.order == Order::V1 {
            // Taken bottom to top, right to left, and each put in front: the top-left child
            // runs first, and each child's branch runs before its next sibling.
            deliveries.sort_by(|(a, _), (b, _)| {
                let (pa, pb) = (flow.nodes[a.target].position, flow.nodes[b.target].position);
                pb.1.cmp(&pa.1).then(pb.0.cmp(&pa.0))
            });
        }
        for (connection, items) in deliveries {
            let source = Source { node, output: connection.output, run: source_run };
            let target = connection.target;
            let ready = if flow.inputs_of(target) == 1 {
                Some(Pending { node: target, inputs: vec![Some((items, Some(source)))] })
            } else {
                deliver(flow, &mut waiting, connection, items, source)
            };
            if let Some(ready) = ready {
                match flow.order {
                    Order::V1 => stack.push_front(ready),
                    Order::V0 => stack.push_back(ready),
                }
            }
        }
    }
    execution
}

/// Puts a batch into the first waiting entry of `connection.target` that lacks one on its
/// input (a new entry if none does); returns the entry once every input has a batch.
fn deliver(
    flow: &ItemFlow,
    waiting: &mut Vec<Pending>,
    connection: &Connection,
    items: Vec<Item>,
    source: Source,
) -> Option<Pending> {
    let target = connection.target;
    let at = waiting.iter().position(|p| p.node == target && p.inputs[connection.input].is_none());
    let at = at.unwrap_or_else(|| {
        waiting.push(Pending { node: target, inputs: vec![None; flow.inputs_of(target)] });
        waiting.len() - 1
    });
    waiting[at].inputs[connection.input] = Some((items, Some(source)));
    if waiting[at].inputs.iter().all(Option::is_some) {
        Some(waiting.remove(at))
    } else {
        None
    }
}

/// When nothing else can run: the first waiting node (in the order they began to wait) none of
/// whose ancestors is waiting too, and whose required inputs came, runs with what it has (an
/// input that got nothing is empty). `None` when no waiting node may run.
fn release(flow: &ItemFlow, waiting: &mut Vec<Pending>) -> Option<Pending> {
    let mut nodes: Vec<usize> = Vec::new();
    for pending in waiting.iter() {
        if !nodes.contains(&pending.node) {
            nodes.push(pending.node);
        }
    }
    for node in nodes {
        // In a loop two nodes are each other's ancestors: neither holds the other back.
        let held = |p: &Pending| p.node != node && flow.is_ancestor(p.node, node) && !flow.is_ancestor(node, p.node);
        if waiting.iter().any(held) {
            continue;
        }
        // The node's first waiting entry.
        let at = waiting.iter().position(|p| p.node == node)?;
        let entry = &waiting[at];
        let came = entry.inputs.iter().filter(|i| i.is_some()).count();
        let allowed = match (flow.order, flow.nodes[node].required) {
            (Order::V0, _) => true,
            (Order::V1, Required::All) => came == entry.inputs.len(),
            (Order::V1, Required::AtLeast(n)) => came >= n,
        };
        let has_items = entry.inputs.iter().flatten().any(|(items, _)| !items.is_empty());
        if allowed && has_items {
            return Some(waiting.remove(at));
        }
    }
    None
}

/// Runs one node on one pending entry, with its settings; `None` when it does not run (none
/// of its inputs has an item, and it need not output data anyway).
async fn run_node(
    flow: &ItemFlow,
    pending: Pending,
    history: &[NodeRun],
    execution_id: &str,
    context: &NodeContext,
    run_index: usize,
) -> Option<NodeRun> {
    let node = &flow.nodes[pending.node];
    let sources: Vec<Option<Source>> = pending.inputs.iter().map(|i| i.as_ref().and_then(|(_, s)| *s)).collect();
    // Each input item is stamped with its own place: what the items a node passes on say.
    let inputs: Vec<Vec<Item>> = pending
        .inputs
        .into_iter()
        .enumerate()
        .map(|(input, batch)| {
            let items = batch.map(|(items, _)| items).unwrap_or_default();
            items
                .into_iter()
                .enumerate()
                .map(|(item, i)| Item { json: i.json, paired: vec![Paired { item, input }] })
                .collect()
        })
        .collect();
    let started = std::time::SystemTime::now();
    let clock = std::time::Instant::now();
    let record = |outputs: Vec<Vec<Item>>, error: Option<Error>, tries: u32| NodeRun {
        node: pending.node,
        run_index,
        sources: sources.clone(),
        outputs,
        error,
        tries,
        started,
        duration: clock.elapsed(),
    };
    let outputs_count = node.outputs + usize::from(node.on_error == OnError::ContinueErrorOutput);
    if node.disabled {
        let mut outputs = vec![Vec::new(); outputs_count.max(1)];
        outputs[0] = inputs.into_iter().next().unwrap_or_default();
        return Some(record(outputs, None, 0));
    }
    let has_items = inputs.iter().any(|items| !items.is_empty());
    if !has_items {
        if !node.always_output_data {
            return None;
        }
        let mut outputs = vec![Vec::new(); outputs_count];
        always_output(&mut outputs, &inputs);
        return Some(record(outputs, None, 0));
    }
    let given: Vec<Vec<Item>> = if node.execute_once {
        inputs.iter().map(|items| items.iter().take(1).cloned().collect()).collect()
    } else {
        inputs.clone()
    };
    let (tries_allowed, wait) = node.retry.unwrap_or((1, Duration::ZERO));
    let mut tries = 0;
    let outcome = loop {
        tries += 1;
        let input = NodeInput {
            inputs: given.clone(),
            sources: sources.clone(),
            run_index,
            history,
            order: flow.order,
            flow,
            execution_id,
            context,
        };
        context.take_extra();
        let outcome = (node.run)(input).await;
        // A node that marks its first item as an error is tried again too.
        let marked = matches!(&outcome, Ok(outputs) if outputs.first().and_then(|o| o.first()).is_some_and(|i| truthy(&i.json["error"])));
        if (outcome.is_ok() && !marked) || tries >= tries_allowed {
            break outcome;
        }
        tokio::time::sleep(wait).await;
    };
    let extra = context.take_extra();
    let mut outputs = match outcome {
        Ok(mut outputs) => {
            outputs.resize(node.outputs, Vec::new());
            fill_paired(&mut outputs, &given);
            if node.on_error == OnError::ContinueErrorOutput {
                let errors = take_errors(&mut outputs, &given);
                outputs.push(errors);
            }
            outputs
        }
        Err(error) if node.on_error == OnError::Stop => return Some(record(Vec::new(), Some(error), tries)),
        // The whole node failed and goes on: its input items go to output 0.
        Err(error) => {
            let mut outputs = vec![Vec::new(); outputs_count];
            outputs[0] = inputs.into_iter().next().unwrap_or_default();
            return Some(record(outputs, Some(error), tries));
        }
    };
    if node.always_output_data {
        always_output(&mut outputs, &inputs);
    }
    let mut run = record(outputs, None, tries);
    run.sources.extend(extra.into_iter().map(Some));
    Some(run)
}

/// Output 0 gets one empty item, from every input item, when it has none.
fn always_output(outputs: &mut [Vec<Item>], inputs: &[Vec<Item>]) {
    if outputs.first().is_some_and(Vec::is_empty) {
        let paired = inputs.iter().flat_map(|items| items.iter().flat_map(|i| i.paired.iter().copied())).collect();
        outputs[0].push(Item { json: Value::Object(Map::new()), paired });
    }
}

/// Output items that do not say where they came from: from the only input item, or, when
/// one output has as many items as the only input, from the input item at the same place.
fn fill_paired(outputs: &mut [Vec<Item>], inputs: &[Vec<Item>]) {
    let single_input = inputs.len() == 1 || inputs.iter().skip(1).all(Vec::is_empty);
    if !single_input {
        return;
    }
    let given = inputs[0].len();
    let filled: Vec<usize> = outputs.iter().map(Vec::len).filter(|&n| n > 0).collect();
    let same_length = filled.len() == 1 && filled[0] == given;
    for items in outputs.iter_mut() {
        for (i, item) in items.iter_mut().enumerate() {
            if !item.paired.is_empty() {
                continue;
            }
            if given == 1 {
                item.paired.push(Paired { item: 0, input: 0 });
            } else if same_length {
                item.paired.push(Paired { item: i, input: 0 });
            } else {
                // n8n stops at the first item it cannot pair.
                return;
            }
        }
    }
}

/// Moves the items a node marked as errors (`json` of nothing but `error`, `message` and
/// `details`, with a truthy `error`) out of its outputs; each gets the fields of the input
/// item it came from, under its own.
fn take_errors(outputs: &mut [Vec<Item>], inputs: &[Vec<Item>]) -> Vec<Item> {
    let mut errors = Vec::new();
    for items in outputs.iter_mut() {
        let (bad, good): (Vec<Item>, Vec<Item>) = std::mem::take(items).into_iter().partition(is_error_item);
        *items = good;
        for mut item in bad {
            let original = item.paired.first().and_then(|p| inputs.get(p.input)?.get(p.item));
            if let (Some(original), Value::Object(own)) = (original, &item.json) {
                let mut merged = original.json.as_object().cloned().unwrap_or_default();
                merged.extend(own.clone());
                item.json = Value::Object(merged);
            }
            errors.push(item);
        }
    }
    errors
}

fn is_error_item(item: &Item) -> bool {
    match &item.json {
        Value::Object(map) => {
            map.get("error").is_some_and(truthy)
                && map.keys().all(|k| matches!(k.as_str(), "error" | "message" | "details"))
        }
        _ => false,
    }
}

/// JavaScript's truthiness of a JSON value.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A value as n8n writes it into text, for a `{{ }}` among other text: `null` (and the empty
/// string) as nothing, numbers as JavaScript prints them, objects as `[object Object]`, arrays as
/// their elements joined by `,` (a `null` element as nothing), as JavaScript's `String()` does.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => crate::js::number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Object(_) => "[object Object]".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
    }
}

/// Why an item's origin in another node cannot be found (n8n's paired-item errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairError {
    /// The node is not upstream of the item.
    NoPath,
    /// An item on the way does not say where it came from.
    Missing { node: usize },
    /// The item came from several different items of the node.
    Several,
}

/// The item of node `wanted` that item `item` of input `input` came from, for a run fed from
/// `sources`: each item's `paired` is followed back through the runs in `runs` that fed it
/// (n8n's `$('Node').item`).
pub fn paired_item<'a>(
    runs: &'a [NodeRun],
    sources: &[Option<Source>],
    input: usize,
    item: usize,
    wanted: usize,
) -> Result<&'a Item, PairError> {
    let mut found: Vec<&'a Item> = Vec::new();
    follow(runs, runs.len(), sources, input, item, wanted, &mut found)?;
    match found.as_slice() {
        [] => Err(PairError::NoPath),
        [one, rest @ ..] if rest.iter().all(|other| std::ptr::eq(*one, *other)) => Ok(one),
        _ => Err(PairError::Several),
    }
}

/// Follows item `item` of input `input`, of a run fed from `sources` that came after the
/// first `before` runs, back to node `wanted`.
fn follow<'a>(
    runs: &'a [NodeRun],
    before: usize,
    sources: &[Option<Source>],
    input: usize,
    item: usize,
    wanted: usize,
    found: &mut Vec<&'a Item>,
) -> Result<(), PairError> {
    let Some(Some(source)) = sources.get(input) else { return Err(PairError::NoPath) };
    // The run that fed it came before it: every step goes back, so the walk ends.
    let Some(from) = runs[..before].iter().rposition(|r| r.node == source.node && r.run_index == source.run) else {
        return Err(PairError::NoPath);
    };
    let Some(given) = runs[from].outputs.get(source.output).and_then(|items| items.get(item)) else {
        return Err(PairError::Missing { node: source.node });
    };
    if source.node == wanted {
        found.push(given);
        return Ok(());
    }
    if given.paired.is_empty() {
        return Err(PairError::Missing { node: source.node });
    }
    for paired in &given.paired {
        follow(runs, from, &runs[from].sources, paired.input, paired.item, wanted, found)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use serde_json::json;

    use super::*;

    type Boxed<'a> = Pin<Box<dyn Future<Output = NodeOutput> + Send + 'a>>;

    /// Passes its main input on, on output 0.
    fn pass(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move { Ok(vec![input.main().to_vec()]) })
    }

    /// Its own items, without saying where they came from: `{"run": run_index, "n": …}` for
    /// each input item, so that paired items are filled in.
    fn tag(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            let items =
                input.main().iter().map(|i| Item::new(json!({"run": input.run_index, "n": i.json["n"]}))).collect();
            Ok(vec![items])
        })
    }

    /// Even `n` to output 0, odd to output 1.
    fn even(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            let (even, odd) = input.main().iter().cloned().partition(|i| i.json["n"].as_i64().unwrap_or(0) % 2 == 0);
            Ok(vec![even, odd])
        })
    }

    /// Input 0's items, then input 1's.
    fn append(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move { Ok(vec![input.inputs.concat()]) })
    }

    fn fail(_input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move { Err(Error::validation("it broke")) })
    }

    /// Odd `n` becomes an error item, the rest pass.
    fn odd_errors(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            let items = input
                .main()
                .iter()
                .map(|i| match i.json["n"].as_i64() {
                    Some(n) if n % 2 == 1 => {
                        Item { json: json!({"error": format!("{n} is odd")}), paired: i.paired.clone() }
                    }
                    _ => i.clone(),
                })
                .collect();
            Ok(vec![items])
        })
    }

    static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

    /// Fails twice, then passes.
    fn flaky(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(Error::validation("not yet"));
            }
            Ok(vec![input.main().to_vec()])
        })
    }

    const fn node(name: &'static str, x: i64, y: i64, outputs: usize, run: NodeFn) -> ItemNode {
        ItemNode::new(name, "test", "", (x, y), outputs, run)
    }

    const fn wire(source: usize, output: usize, target: usize, input: usize) -> Connection {
        Connection { source, output, target, input }
    }

    fn numbers(ns: &[i64]) -> Vec<Item> {
        ns.iter().map(|n| Item::new(json!({"n": n}))).collect()
    }

    async fn run(flow: &ItemFlow, ns: &[i64]) -> Execution {
        execute(flow, 0, numbers(ns), "1").await
    }

    /// The order of the runs, as names.
    fn order(flow: &ItemFlow, execution: &Execution) -> Vec<&'static str> {
        execution.runs.iter().map(|r| flow.nodes[r.node].name).collect()
    }

    fn ns(items: &[Item]) -> Vec<i64> {
        items.iter().map(|i| i.json["n"].as_i64().unwrap_or(-1)).collect()
    }

    fn output_of<'a>(flow: &ItemFlow, execution: &'a Execution, name: &str) -> &'a [Item] {
        let node = flow.nodes.iter().position(|n| n.name == name).unwrap();
        &execution.runs_of(node).next().unwrap_or_else(|| panic!("{name} did not run")).outputs[0]
    }

    static IF_BOTH: [ItemNode; 4] = [
        node("start", 0, 0, 1, pass),
        node("if", 200, 0, 2, even),
        node("low", 400, 300, 1, pass),
        node("high", 400, -100, 1, pass),
    ];
    static IF_BOTH_WIRES: [Connection; 3] = [wire(0, 0, 1, 0), wire(1, 0, 2, 0), wire(1, 1, 3, 0)];

    #[tokio::test]
    async fn an_if_sends_items_down_both_outputs_and_the_upper_branch_runs_first() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &IF_BOTH,
            connections: &IF_BOTH_WIRES,
            order: Order::V1,
        };
        let execution = run(&flow, &[1, 2, 3, 4]).await;
        // `high` (odd items, output 1) is above `low` (even, output 0) on the canvas.
        assert_eq!(order(&flow, &execution), ["start", "if", "high", "low"]);
        assert_eq!(ns(output_of(&flow, &execution, "low")), [2, 4]);
        assert_eq!(ns(output_of(&flow, &execution, "high")), [1, 3]);
        assert_eq!(execution.last_node(), Some(2));
        // Pass-through items say which input item they were.
        assert_eq!(output_of(&flow, &execution, "low")[1].paired, [Paired { item: 1, input: 0 }]);
    }

    static DEPTH: [ItemNode; 4] = [
        node("start", 0, 0, 1, pass),
        node("a", 200, 0, 1, pass),
        node("b", 200, 200, 1, pass),
        node("a2", 400, 0, 1, pass),
    ];
    static DEPTH_WIRES: [Connection; 3] = [wire(0, 0, 2, 0), wire(0, 0, 1, 0), wire(1, 0, 3, 0)];

    #[tokio::test]
    async fn v1_runs_a_branch_to_its_end_and_v0_runs_level_by_level_in_connection_order() {
        let v1 = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &DEPTH,
            connections: &DEPTH_WIRES,
            order: Order::V1,
        };
        assert_eq!(order(&v1, &run(&v1, &[1]).await), ["start", "a", "a2", "b"]);
        let v0 = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &DEPTH,
            connections: &DEPTH_WIRES,
            order: Order::V0,
        };
        assert_eq!(order(&v0, &run(&v0, &[1]).await), ["start", "b", "a", "a2"]);
    }

    static TWICE: [ItemNode; 5] = [
        node("start", 0, 0, 1, pass),
        node("a", 200, 0, 1, pass),
        node("b", 200, 200, 1, pass),
        node("join", 400, 100, 1, tag),
        node("after", 600, 100, 1, pass),
    ];
    static TWICE_WIRES: [Connection; 5] =
        [wire(0, 0, 1, 0), wire(0, 0, 2, 0), wire(1, 0, 3, 0), wire(2, 0, 3, 0), wire(3, 0, 4, 0)];

    #[tokio::test]
    async fn a_node_fed_by_two_nodes_runs_once_per_batch_and_so_does_what_follows() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &TWICE,
            connections: &TWICE_WIRES,
            order: Order::V1,
        };
        let execution = run(&flow, &[7, 8]).await;
        assert_eq!(order(&flow, &execution), ["start", "a", "join", "after", "b", "join", "after"]);
        let joins: Vec<&NodeRun> = execution.runs_of(3).collect();
        assert_eq!(joins.iter().map(|r| r.run_index).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(joins[1].outputs[0][0].json, json!({"run": 1, "n": 7}));
        assert_eq!(joins[1].sources, [Some(Source { node: 2, output: 0, run: 0 })]);
        // Items of equal count pair up by place.
        assert_eq!(joins[0].outputs[0][1].paired, [Paired { item: 1, input: 0 }]);
    }

    const fn evens(always_output_data: bool) -> [ItemNode; 3] {
        [
            node("start", 0, 0, 1, pass),
            ItemNode { always_output_data, ..node("if", 200, 0, 2, even) },
            node("evens", 400, 0, 1, pass),
        ]
    }
    static EMPTY: [ItemNode; 3] = evens(false);
    static ALWAYS: [ItemNode; 3] = evens(true);
    static EMPTY_WIRES: [Connection; 2] = [wire(0, 0, 1, 0), wire(1, 0, 2, 0)];

    #[tokio::test]
    async fn an_empty_output_runs_nothing_below_it_unless_the_node_always_outputs_data() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &EMPTY,
            connections: &EMPTY_WIRES,
            order: Order::V1,
        };
        let execution = run(&flow, &[1, 3]).await;
        assert_eq!(order(&flow, &execution), ["start", "if"], "`evens` has no run at all");
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &ALWAYS,
            connections: &EMPTY_WIRES,
            order: Order::V1,
        };
        let execution = run(&flow, &[1, 3]).await;
        assert_eq!(order(&flow, &execution), ["start", "if", "evens"]);
        let empty = &output_of(&flow, &execution, "evens")[0];
        assert_eq!(empty.json, json!({}));
        assert_eq!(execution.runs[1].outputs[1].len(), 2, "the other output is as it was");
    }

    const fn merging(required: Required) -> [ItemNode; 5] {
        [
            node("start", 0, 0, 1, pass),
            node("if", 200, 0, 2, even),
            ItemNode { required, ..node("merge", 400, 0, 1, append) },
            node("side", 400, 500, 1, pass),
            node("after", 600, 0, 1, pass),
        ]
    }
    static MERGE: [ItemNode; 5] = merging(Required::AtLeast(1));
    static CHOOSE: [ItemNode; 5] = merging(Required::All);
    static MERGE_WIRES: [Connection; 5] =
        [wire(0, 0, 1, 0), wire(1, 0, 2, 0), wire(1, 1, 2, 1), wire(0, 0, 3, 0), wire(2, 0, 4, 0)];

    #[tokio::test]
    async fn a_merge_waits_for_both_inputs_and_runs_last_with_an_input_that_never_came() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &MERGE,
            connections: &MERGE_WIRES,
            order: Order::V1,
        };
        let both = run(&flow, &[1, 2, 3]).await;
        assert_eq!(order(&flow, &both), ["start", "if", "merge", "after", "side"]);
        assert_eq!(ns(output_of(&flow, &both, "merge")), [2, 1, 3], "input 0, then input 1");
        // Only evens: input 1 gets nothing; the merge runs once everything else has.
        let one = run(&flow, &[2, 4]).await;
        assert_eq!(order(&flow, &one), ["start", "if", "side", "merge", "after"]);
        assert_eq!(ns(output_of(&flow, &one, "merge")), [2, 4]);
        assert_eq!(one.runs[3].sources[1], None);
        // A merge that needs every input never runs without one.
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &CHOOSE,
            connections: &MERGE_WIRES,
            order: Order::V1,
        };
        assert_eq!(order(&flow, &run(&flow, &[2, 4]).await), ["start", "if", "side"]);
    }

    static SETTINGS: [ItemNode; 4] = [
        node("start", 0, 0, 1, pass),
        ItemNode { disabled: true, ..node("off", 200, 0, 1, fail) },
        ItemNode { execute_once: true, ..node("once", 400, 0, 1, tag) },
        node("end", 600, 0, 1, pass),
    ];
    static CHAIN_WIRES: [Connection; 3] = [wire(0, 0, 1, 0), wire(1, 0, 2, 0), wire(2, 0, 3, 0)];

    #[tokio::test]
    async fn a_disabled_node_passes_its_items_and_execute_once_takes_the_first() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &SETTINGS,
            connections: &CHAIN_WIRES,
            order: Order::V1,
        };
        let execution = run(&flow, &[5, 6, 7]).await;
        assert!(execution.error.is_none());
        assert_eq!(ns(output_of(&flow, &execution, "off")), [5, 6, 7]);
        assert_eq!(ns(output_of(&flow, &execution, "once")), [5]);
        assert_eq!(output_of(&flow, &execution, "once")[0].paired, [Paired { item: 0, input: 0 }]);
    }

    /// `start` into `check` (of `run`, with `on_error`) into `next`; and `check`'s error output,
    /// or `start` again, into `other` at `(x, y)`.
    const fn guarded(
        on_error: OnError,
        run: NodeFn,
        next: &'static str,
        other: (&'static str, i64, i64),
    ) -> [ItemNode; 4] {
        [
            node("start", 0, 0, 1, pass),
            ItemNode { on_error, ..node("check", 200, 0, 1, run) },
            node(next, 400, 0, 1, pass),
            node(other.0, other.1, other.2, 1, pass),
        ]
    }
    static STOPS: [ItemNode; 4] = guarded(OnError::Stop, fail, "never", ("other", 200, 300));
    static GOES_ON: [ItemNode; 4] = guarded(OnError::ContinueErrorOutput, fail, "never", ("other", 200, 300));
    static STOPS_WIRES: [Connection; 3] = [wire(0, 0, 1, 0), wire(1, 0, 2, 0), wire(0, 0, 3, 0)];

    #[tokio::test]
    async fn a_failure_stops_the_workflow_unless_the_node_goes_on_with_its_input() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &STOPS,
            connections: &STOPS_WIRES,
            order: Order::V1,
        };
        let execution = run(&flow, &[1]).await;
        assert_eq!(order(&flow, &execution), ["start", "check"], "the pending branch never runs");
        assert_eq!(execution.error.as_ref().map(|e| e.message.as_str()), Some("it broke"));
        assert_eq!(execution.runs[1].error.as_ref().map(|e| e.message.as_str()), Some("it broke"));
        // Going on after a failure of the whole node: the input items go to output 0, the
        // error output gets nothing.
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &GOES_ON,
            connections: &STOPS_WIRES,
            order: Order::V1,
        };
        let execution = run(&flow, &[1, 2]).await;
        assert_eq!(order(&flow, &execution), ["start", "check", "never", "other"]);
        assert!(execution.error.is_none());
        assert_eq!(ns(&execution.runs[1].outputs[0]), [1, 2]);
        assert_eq!(execution.runs[1].outputs[1], []);
    }

    static ERROR_OUTPUT: [ItemNode; 4] =
        guarded(OnError::ContinueErrorOutput, odd_errors, "good", ("errors", 400, 200));
    static ERROR_REGULAR: [ItemNode; 4] = guarded(OnError::ContinueRegular, odd_errors, "good", ("errors", 400, 200));
    static ERROR_OUTPUT_WIRES: [Connection; 3] = [wire(0, 0, 1, 0), wire(1, 0, 2, 0), wire(1, 1, 3, 0)];

    #[tokio::test]
    async fn items_marked_as_errors_go_to_the_error_output_with_their_input_fields() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &ERROR_OUTPUT,
            connections: &ERROR_OUTPUT_WIRES,
            order: Order::V1,
        };
        let start = vec![Item::new(json!({"n": 1, "name": "one"})), Item::new(json!({"n": 2, "name": "two"}))];
        let execution = execute(&flow, 0, start.clone(), "1").await;
        assert_eq!(ns(output_of(&flow, &execution, "good")), [2]);
        let errors = output_of(&flow, &execution, "errors");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].json, json!({"n": 1, "name": "one", "error": "1 is odd"}));
        // With the regular output, error items stay where the node put them.
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &ERROR_REGULAR,
            connections: &ERROR_OUTPUT_WIRES,
            order: Order::V1,
        };
        let execution = execute(&flow, 0, start, "1").await;
        assert_eq!(output_of(&flow, &execution, "good")[0].json, json!({"error": "1 is odd"}));
        assert_eq!(order(&flow, &execution), ["start", "check", "good"]);
    }

    static RETRIED: [ItemNode; 2] = [
        node("start", 0, 0, 1, pass),
        ItemNode { retry: Some((3, Duration::from_millis(1))), ..node("flaky", 200, 0, 1, flaky) },
    ];
    static ONE_WIRE: [Connection; 1] = [wire(0, 0, 1, 0)];

    #[tokio::test]
    async fn a_node_that_retries_is_tried_again_up_to_its_tries() {
        FLAKY_CALLS.store(0, Ordering::SeqCst);
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &RETRIED,
            connections: &ONE_WIRE,
            order: Order::V1,
        };
        let execution = run(&flow, &[1]).await;
        assert!(execution.error.is_none(), "{:?}", execution.error);
        assert_eq!(execution.runs[1].tries, 3);
        assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);
    }

    /// Keeps the items whose `n` is at least 2 (losing their places), each as a new item.
    fn big(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            let items = input
                .main()
                .iter()
                .filter(|i| i.json["n"].as_i64().unwrap_or(0) >= 2)
                .map(|i| Item { json: json!({"big": i.json["n"]}), paired: i.paired.clone() })
                .collect();
            Ok(vec![items])
        })
    }

    static PAIRS: [ItemNode; 4] = [
        node("start", 0, 0, 1, pass),
        node("if", 200, 0, 2, even),
        node("big", 400, 0, 1, big),
        node("end", 600, 0, 1, tag),
    ];
    static PAIRS_WIRES: [Connection; 3] = [wire(0, 0, 1, 0), wire(1, 0, 2, 0), wire(2, 0, 3, 0)];

    #[tokio::test]
    async fn an_item_is_followed_back_to_the_item_it_came_from() {
        let flow = ItemFlow {
            id: "test",
            name: "test",
            description: "",
            nodes: &PAIRS,
            connections: &PAIRS_WIRES,
            order: Order::V1,
        };
        let start = vec![
            Item::new(json!({"n": 0, "name": "zero"})),
            Item::new(json!({"n": 1, "name": "one"})),
            Item::new(json!({"n": 2, "name": "two"})),
            Item::new(json!({"n": 4, "name": "four"})),
        ];
        let execution = execute(&flow, 0, start, "1").await;
        let end = execution.runs_of(3).next().unwrap();
        assert_eq!(end.outputs[0].len(), 2);
        let end_at = execution.runs.iter().position(|r| r.node == 3).unwrap();
        // Item 1 of `end`'s input is `big`'s second item: `if`'s third even item... back to
        // start's `four`.
        let found = paired_item(&execution.runs[..end_at], &end.sources, 0, 1, 0).unwrap();
        assert_eq!(found.json["name"], "four");
        let found = paired_item(&execution.runs[..end_at], &end.sources, 0, 0, 1).unwrap();
        assert_eq!(found.json["n"], 2);
        // A node that is not upstream.
        assert_eq!(paired_item(&execution.runs[..end_at], &end.sources, 0, 0, 3), Err(PairError::NoPath));
        // `end` made new items without saying where they came from, as many as its input
        // had: each is paired with the input item at its place.
        let paired: Vec<&[Paired]> = end.outputs[0].iter().map(|i| i.paired.as_slice()).collect();
        assert_eq!(paired, [[Paired { item: 0, input: 0 }], [Paired { item: 1, input: 0 }]]);
    }

    #[test]
    fn values_are_written_into_text_as_javascript_writes_them() {
        let cases = [
            (json!(null), ""),
            (json!(""), ""),
            (json!(false), "false"),
            (json!(0), "0"),
            (json!(-0.0), "0"),
            (json!(42), "42"),
            (json!(2.0), "2"),
            (json!(1.5), "1.5"),
            (json!(-1.25), "-1.25"),
            (json!(0.1), "0.1"),
            (json!(123.456), "123.456"),
            (json!(0.000001), "0.000001"),
            (json!(1e-7), "1e-7"),
            (json!(1.5e-10), "1.5e-10"),
            (json!(1e21), "1e+21"),
            (json!(1.2345e25), "1.2345e+25"),
            (json!(123456789012345680000.0), "123456789012345680000"),
            (json!(18446744073709551615u64), "18446744073709552000"),
            (json!(-9007199254740993i64), "-9007199254740992"),
            (json!({"a": 1}), "[object Object]"),
            (json!([1, [2, 3], null, "x", {"b": 2}]), "1,2,3,,x,[object Object]"),
            (json!("as is"), "as is"),
        ];
        for (value, expected) in cases {
            assert_eq!(text(&value), expected, "{value}");
        }
    }

    #[test]
    fn truthiness_is_javascripts() {
        for falsy in [json!(null), json!(false), json!(0), json!(""), json!(0.0)] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for true_ in [json!(true), json!(1), json!("x"), json!([]), json!({})] {
            assert!(truthy(&true_), "{true_}");
        }
    }
}
