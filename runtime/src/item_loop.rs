//! Loop Over Items (n8n's `splitInBatches`, version 3): a node that hands its input on in
//! batches, one batch per run, to a loop body wired back into its input, and gives everything
//! the body returned once no batch is left.
//!
//! n8n's semantics, which a workflow's results depend on:
//! - two outputs: `done` (0) and `loop` (1);
//! - its first run in an execution (its context has no state yet), or any run with `reset`
//!   true, starts over: it keeps its input items, gives the first `batch_size` on `loop`, and
//!   has processed nothing yet;
//! - every other run takes its input as what the loop body returned: those items are added to
//!   the processed ones, and the next batch of the kept items goes on `loop`;
//! - a run with no batch left gives every processed item on `done` (in the order they came
//!   back) and nothing on `loop`. Its state stays: a later input without `reset` is taken as
//!   one more return of the body, so `done` comes again at once, with the old items and the new
//!   (which is why nested loops set `reset`);
//! - an empty input on a fresh start gives nothing on either output (the scheduler does not
//!   even run a node whose input is empty, so a body that returns nothing ends the loop there,
//!   as in n8n);
//! - pairing: a first batch's items come from the input items at their places; a later batch's
//!   items from the items of the run that started the loop, and `done`'s items from the items
//!   of the body's run that returned them (n8n's `sourceOverwrite`, here
//!   [`NodeInput::pair_with`]).
//!
//! Why here: the state lives in the node's [`crate::items::NodeContext`], which the item
//! scheduler keeps for one execution, and the loop is a cycle in the flow's connections, which
//! the scheduler runs like any other delivery (see `items`).

use serde_json::{json, Value};

use crate::items::{Item, NodeInput, NodeOutput, Paired, Source};

/// One run of Loop Over Items: `[done, loop]`. `batch_size` below 1 counts as 1.
pub fn split_in_batches(input: &NodeInput<'_>, batch_size: usize, reset: bool) -> NodeOutput {
    let batch_size = batch_size.max(1);
    let items: &[Item] = input.inputs.first().map_or(&[], Vec::as_slice);
    let source = input.sources.first().copied().flatten();
    let mut state = input.context.state.lock().unwrap_or_else(|e| e.into_inner());
    let started = state.get("items").is_some();
    let batch: Vec<Item> = if !started || reset {
        // Starting over: each kept item remembers its place in this run's input.
        let kept: Vec<Value> =
            items.iter().enumerate().skip(batch_size).map(|(at, i)| json!({"json": i.json, "item": at})).collect();
        *state = json!({"items": kept, "source": source_to_json(source), "processed": []});
        items.iter().take(batch_size).enumerate().map(|(at, i)| Item::from(i.json.clone(), at)).collect()
    } else {
        let came_from = source_to_json(source);
        let processed = state["processed"].as_array_mut().map(std::mem::take).unwrap_or_default();
        let returned = items.iter().enumerate().map(|(at, i)| json!({"json": i.json, "item": at, "source": came_from}));
        state["processed"] = Value::Array(processed.into_iter().chain(returned).collect());
        let first_source = source_from_json(&state["source"]);
        let kept = state["items"].as_array_mut().map(std::mem::take).unwrap_or_default();
        let split = batch_size.min(kept.len());
        let (next, rest) = kept.split_at(split);
        let next: Vec<Item> = next
            .iter()
            .map(|kept| Item { json: kept["json"].clone(), paired: paired(input, first_source, &kept["item"]) })
            .collect();
        state["items"] = Value::Array(rest.to_vec());
        next
    };
    if !batch.is_empty() {
        return Ok(vec![Vec::new(), batch]);
    }
    let done = state["processed"]
        .as_array()
        .map(|processed| {
            processed
                .iter()
                .map(|p| Item {
                    json: p["json"].clone(),
                    paired: paired(input, source_from_json(&p["source"]), &p["item"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(vec![done, Vec::new()])
}

/// Item `item` of `source`'s batch, as this run's output pairs with it; nothing when the batch
/// came from no run (what the start node was given).
fn paired(input: &NodeInput<'_>, source: Option<Source>, item: &Value) -> Vec<Paired> {
    match (source, item.as_u64()) {
        (Some(source), Some(item)) => vec![Paired { item: item as usize, input: input.pair_with(source) }],
        _ => Vec::new(),
    }
}

fn source_to_json(source: Option<Source>) -> Value {
    source.map_or(Value::Null, |s| json!({"node": s.node, "output": s.output, "run": s.run}))
}

fn source_from_json(value: &Value) -> Option<Source> {
    let field = |name: &str| value.get(name).and_then(Value::as_u64).map(|n| n as usize);
    Some(Source { node: field("node")?, output: field("output")?, run: field("run")? })
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use super::*;
    use crate::items::{
        execute, execute_bounded, paired_item, Connection, Execution, ItemFlow, ItemNode, NodeContext, NodeFn, Order,
    };

    type Boxed<'a> = Pin<Box<dyn Future<Output = NodeOutput> + Send + 'a>>;

    fn pass(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move { Ok(vec![input.main().to_vec()]) })
    }

    fn loop2(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move { split_in_batches(&input, 2, false) })
    }

    fn loop_reset(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move { split_in_batches(&input, 2, true) })
    }

    /// Each item with `seen: <run index>` added, from the item at its place.
    fn body(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            let items = input
                .main()
                .iter()
                .map(|i| {
                    let mut json = i.json.clone();
                    json["seen"] = json!(input.run_index);
                    Item { json, paired: i.paired.clone() }
                })
                .collect();
            Ok(vec![items])
        })
    }

    const fn node(name: &'static str, x: i64, y: i64, outputs: usize, run: NodeFn) -> ItemNode {
        ItemNode::new(name, "test", "", (x, y), outputs, run)
    }

    const fn wire(source: usize, output: usize, target: usize, input: usize) -> Connection {
        Connection { source, output, target, input }
    }

    static LOOP: [ItemNode; 4] = [
        node("trigger", 0, 0, 1, pass),
        node("loop", 200, 0, 2, loop2),
        node("body", 400, 100, 1, body),
        node("sink", 400, -100, 1, pass),
    ];
    static LOOP_RESET: [ItemNode; 4] = [
        node("trigger", 0, 0, 1, pass),
        node("loop", 200, 0, 2, loop_reset),
        node("body", 400, 100, 1, body),
        node("sink", 400, -100, 1, pass),
    ];
    static LOOP_WIRES: [Connection; 4] = [wire(0, 0, 1, 0), wire(1, 1, 2, 0), wire(2, 0, 1, 0), wire(1, 0, 3, 0)];

    fn flow(nodes: &'static [ItemNode]) -> ItemFlow {
        ItemFlow { id: "test", name: "test", description: "", nodes, connections: &LOOP_WIRES, order: Order::V1 }
    }

    fn numbers(n: i64) -> Vec<Item> {
        (0..n).map(|n| Item::new(json!({"n": n}))).collect()
    }

    fn order(flow: &ItemFlow, execution: &Execution) -> Vec<&'static str> {
        execution.runs.iter().map(|r| flow.nodes[r.node].name).collect()
    }

    #[tokio::test]
    async fn the_body_runs_once_per_batch_and_done_gives_every_processed_item_in_order() {
        let flow = flow(&LOOP);
        let execution = execute(&flow, 0, numbers(5), "1").await;
        assert!(execution.error.is_none(), "{:?}", execution.error);
        assert_eq!(
            order(&flow, &execution),
            ["trigger", "loop", "body", "loop", "body", "loop", "body", "loop", "sink"]
        );
        let sizes: Vec<usize> = execution.runs_of(2).map(|r| r.outputs[0].len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let sink_at = execution.runs.iter().position(|r| r.node == 3).unwrap();
        let sink = &execution.runs[sink_at];
        let got: Vec<Value> = sink.outputs[0].iter().map(|i| i.json.clone()).collect();
        let want: Vec<Value> = (0..5).map(|n| json!({"n": n, "seen": n / 2})).collect();
        assert_eq!(got, want);
        // Each processed item leads back to the trigger's item it was made from, through the
        // body's run and the loop's batch that run was given.
        for item in 0..5 {
            let found = paired_item(&execution.runs[..sink_at], &sink.sources, 0, item, 0).unwrap();
            assert_eq!(found.json, json!({"n": item}), "item {item}");
            let found = paired_item(&execution.runs[..sink_at], &sink.sources, 0, item, 2).unwrap();
            assert_eq!(found.json["n"], json!(item));
        }
        // And within the body, a later batch's items lead back to the trigger too.
        let body_at = execution.runs.iter().rposition(|r| r.node == 2).unwrap();
        let last = &execution.runs[body_at];
        let found = paired_item(&execution.runs[..body_at], &last.sources, 0, 0, 0).unwrap();
        assert_eq!(found.json, json!({"n": 4}));
    }

    fn input<'a>(items: &[i64], context: &'a NodeContext, flow: &'a ItemFlow, run: usize) -> NodeInput<'a> {
        NodeInput {
            inputs: vec![items.iter().enumerate().map(|(at, n)| Item::from(json!({"n": n}), at)).collect()],
            sources: vec![Some(Source { node: 0, output: 0, run })],
            run_index: run,
            history: &[],
            order: Order::V1,
            flow,
            execution_id: "1",
            context,
        }
    }

    fn ns(items: &[Item]) -> Vec<i64> {
        items.iter().map(|i| i.json["n"].as_i64().unwrap_or(-1)).collect()
    }

    #[test]
    fn reset_starts_over_and_without_it_the_state_stays_after_done() {
        let flow = flow(&LOOP);
        let context = NodeContext::default();
        let out = split_in_batches(&input(&[1, 2, 3], &context, &flow, 0), 2, false).unwrap();
        assert_eq!((ns(&out[0]), ns(&out[1])), (vec![], vec![1, 2]));
        // Reset: the input is a new set.
        let out = split_in_batches(&input(&[7, 8, 9], &context, &flow, 1), 2, true).unwrap();
        assert_eq!((ns(&out[0]), ns(&out[1])), (vec![], vec![7, 8]));
        let out = split_in_batches(&input(&[70, 80], &context, &flow, 2), 2, false).unwrap();
        assert_eq!((ns(&out[0]), ns(&out[1])), (vec![], vec![9]));
        let out = split_in_batches(&input(&[90], &context, &flow, 3), 2, false).unwrap();
        assert_eq!((ns(&out[0]), ns(&out[1])), (vec![70, 80, 90], vec![]));
        // After done, n8n keeps the state: a new input is one more return, done again at once.
        let out = split_in_batches(&input(&[5], &context, &flow, 4), 2, false).unwrap();
        assert_eq!((ns(&out[0]), ns(&out[1])), (vec![70, 80, 90, 5], vec![]));
        // With reset it starts over.
        let out = split_in_batches(&input(&[5], &context, &flow, 5), 2, true).unwrap();
        assert_eq!((ns(&out[0]), ns(&out[1])), (vec![], vec![5]));
    }

    #[tokio::test]
    async fn an_empty_input_gives_nothing_and_runs_nothing() {
        let flow = flow(&LOOP);
        let context = NodeContext::default();
        let out = split_in_batches(&input(&[], &context, &flow, 0), 2, false).unwrap();
        assert_eq!(out, [Vec::<Item>::new(), Vec::new()]);
        let execution = execute(&flow, 0, Vec::new(), "1").await;
        assert!(execution.runs.is_empty() && execution.error.is_none());
    }

    #[tokio::test]
    async fn a_loop_that_never_finishes_stops_at_the_bound() {
        // With `reset` always true, each return of the body starts over: `done` never comes.
        let flow = flow(&LOOP_RESET);
        let execution = execute_bounded(&flow, 0, numbers(3), "1", 50).await;
        assert_eq!(execution.runs.len(), 50);
        let error = execution.error.as_ref().expect("the bound stops it");
        assert!(error.message.contains("`body`") && error.message.contains("50"), "{}", error.message);
        assert_eq!(execution.runs_of(3).count(), 0);
    }
}
