//! `map` nodes: a nested flow, run once per item of an array.
//!
//! Each item runs the nested flow in a scope of its own (its nodes read `{{ item }}`,
//! `{{ index }}`, each other and the nodes upstream of the map), at most `concurrency` items
//! at once. Items are started in order and results are kept in item order. Only the items in
//! flight hold futures and scopes, so memory is bounded by `concurrency`, not by the number of
//! items; what stays per item is its result and a small record.
//!
//! An item's failure is its own: the other items still run (under `on_error: fail` no new
//! item starts after a failure, and the ones in flight finish). The map's envelope holds every
//! item's result in `data` (`null` for an item that failed or did not run), the tally in
//! `metadata.counts`, and in `metadata.items` a record of every item that did not succeed:
//! its status, and for a failed item its input, its error and its nodes' envelopes. The scheduler builds that envelope from the map's [`Progress`],
//! which the map fills in as items finish: so it is complete also when a deadline or an
//! interrupt cuts the map short.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::envelope::{Envelope, Status};
use crate::error::{Error, ErrorKind};
use crate::flow::{Cx, Edge, Item, Node, NodeResult, OnError, Output, Scope};
use crate::inflight::InFlight;
use crate::scheduler::{execute, reclaim_data, Limits, Topology};

/// A map's nested flow and how many of its items may run at once.
#[derive(Debug)]
pub struct MapFlow {
    pub nodes: &'static [Node],
    pub edges: &'static [Edge],
    pub concurrency: usize,
}

/// How one item went. A success is only counted (its result is in `Progress::results`), so
/// the per-item cost of a long map is its result and one word here.
enum Record {
    Success,
    /// Some node of the item failed, and the failure was handled inside the item.
    Partial(Box<Partial>),
    Failed(Box<Failed>),
}

struct Partial {
    duration_ms: u64,
    /// The envelopes of the nodes that failed and were handled.
    nodes: Map<String, Value>,
}

struct Failed {
    duration_ms: u64,
    error: Error,
    /// Every node's envelope.
    nodes: Map<String, Value>,
}

/// What a map has done so far: filled in by the map as its items finish, read by the
/// scheduler when the map node ends, however it ends.
pub(crate) struct Progress {
    /// Each slot's index in the map's `items` (a replay runs some items only).
    indices: Vec<usize>,
    /// Each slot's item, kept until the item succeeds (a failed or unfinished item's input is
    /// reported and written to dead letters).
    items: Vec<Value>,
    /// Slots `0..started` have started.
    started: usize,
    results: Vec<Value>,
    records: Vec<Option<Record>>,
    /// Why items after `started` were not started, when the map stopped early.
    stopped: Option<String>,
}

impl Progress {
    fn new(indices: Vec<usize>, items: Vec<Value>) -> Progress {
        let n = items.len();
        Progress {
            indices,
            items,
            started: 0,
            results: vec![Value::Null; n],
            records: (0..n).map(|_| None).collect(),
            stopped: None,
        }
    }

    /// The slot's index and a copy of its item, marking it started.
    fn start(&mut self, slot: usize) -> (usize, Value) {
        self.started = self.started.max(slot + 1);
        (self.indices[slot], self.items[slot].clone())
    }

    fn record(&mut self, slot: usize, result: Value, record: Record) {
        if matches!(record, Record::Success | Record::Partial(_)) {
            self.items[slot] = Value::Null;
        }
        self.results[slot] = result;
        self.records[slot] = Some(record);
    }

    /// The failed item with the lowest index, and how many items failed.
    fn failures(&self) -> Option<(usize, &Error, usize)> {
        let mut failed = self.records.iter().enumerate().filter_map(|(slot, r)| match r {
            Some(Record::Failed(failed)) => Some((slot, &failed.error)),
            _ => None,
        });
        let (slot, error) = failed.next()?;
        Some((self.indices[slot], error, 1 + failed.count()))
    }
}

fn lock(progress: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    // A panic while holding the lock cannot leave a record half-written (each is one
    // assignment), so a poisoned lock is still good to read.
    progress.lock().unwrap_or_else(|e| e.into_inner())
}

/// How the scheduler should count a map that has ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    /// Some item had a failure that was handled inside it: the run is `partial`.
    pub handled_inside: bool,
}

impl Cx {
    /// Runs a map node: `flow` once per element of `items` (an array). Returns once every item
    /// has ended; the node's data (every item's result) is filled in by the scheduler from
    /// the map's progress. Fails when an item failed, with the first failed item's error kind.
    pub async fn map(&self, flow: &'static MapFlow, items: Value) -> NodeResult {
        let node = self.node();
        let items = match items {
            Value::Array(items) => items,
            other => {
                return Err(Error::validation(format!(
                    "the map's `items` must be an array, and it is {}",
                    crate::value::type_name(&other)
                ))
                .with_code("items_not_array"))
            }
        };
        // A replay runs the items recorded in the dead letters, at their old indices.
        let replayed = self.run.replay.as_ref().filter(|_| self.scope.parent.is_none()).and_then(|r| r.items(node.id));
        let (indices, items): (Vec<usize>, Vec<Value>) = match replayed {
            Some(recorded) => recorded.iter().cloned().unzip(),
            None => ((0..items.len()).collect(), items),
        };
        let total = items.len();
        let progress = Arc::new(Mutex::new(Progress::new(indices, items)));
        self.scope.maps.lock().unwrap_or_else(|e| e.into_inner()).push((self.node, progress.clone()));

        let topology = Topology::of(flow.nodes, flow.edges);
        let fail_fast = matches!(node.on_error, OnError::Fail);
        let mut running = InFlight::new();
        let mut next = 0;
        loop {
            while next < total && running.len() < flow.concurrency.max(1) && lock(&progress).stopped.is_none() {
                let (index, item) = lock(&progress).start(next);
                running.push(self.run_item(flow, &topology, next, index, item));
                next += 1;
            }
            let Some((slot, result, record)) = running.next().await else { break };
            let failed = matches!(record, Record::Failed(_));
            let mut progress = lock(&progress);
            let index = progress.indices[slot];
            progress.record(slot, result, record);
            if failed && fail_fast && progress.stopped.is_none() {
                progress.stopped = Some(format!("not run: item {index} failed, and the map's on_error is fail"));
            }
        }

        let progress = lock(&progress);
        match progress.failures() {
            None => Ok(Output::data(Value::Null)),
            Some((index, error, count)) => {
                let mut message = format!("{count} of {total} items failed; the first, item {index}: {error}");
                if next < total {
                    message.push_str(&format!("; {} items were not started", total - next));
                }
                let mut failure = Error::new(error.kind, message).with_code("items_failed");
                failure.retryable = false;
                Err(failure)
            }
        }
    }

    /// Runs the nested flow for one item.
    async fn run_item(
        &self,
        flow: &'static MapFlow,
        topology: &Topology,
        slot: usize,
        index: usize,
        item: Value,
    ) -> (usize, Value, Record) {
        let map = self.node();
        let run = &self.run;
        let item = Item { map: map.id, value: item, index: Value::from(index) };
        let scope = Arc::new(Scope::new(flow.nodes, topology.upstream.clone(), Some(self.scope.clone()), Some(item)));
        let began = Instant::now();
        let limits =
            Limits { max_concurrency: run.flow.max_concurrency, deadline: None, interrupt: None, progress: None };
        let mut executed = execute(run, &scope, topology, limits).await;
        reclaim_data(scope, &mut executed.envelopes);
        let duration_ms = began.elapsed().as_millis() as u64;

        let envelopes = |only_failed: bool| -> Map<String, Value> {
            executed
                .envelopes
                .iter()
                .filter(|e| !only_failed || e.status == Status::Error)
                .map(|e| (e.node.to_owned(), serde_json::to_value(e).unwrap_or(Value::Null)))
                .collect()
        };
        let record = match executed.failure {
            Some(failed) => {
                let error =
                    executed.envelopes[failed].error.clone().unwrap_or_else(|| Error::internal("a node failed"));
                Record::Failed(Box::new(Failed { duration_ms, error, nodes: envelopes(false) }))
            }
            None if executed.handled => Record::Partial(Box::new(Partial { duration_ms, nodes: envelopes(true) })),
            None => Record::Success,
        };
        // The item's result moves out of its output nodes' envelopes, which are not kept (a
        // record keeps only failed nodes' envelopes, and a failed item has no result).
        let mut outputs: Vec<(&str, &mut Envelope)> = flow
            .nodes
            .iter()
            .zip(&mut executed.envelopes)
            .filter_map(|(node, envelope)| Some((node.output?, envelope)))
            .collect();
        let result = match outputs.as_mut_slice() {
            [(_, only)] if only.status == Status::Success => std::mem::take(&mut only.data),
            [_] => Value::Null,
            many => Value::Object(
                many.iter_mut()
                    .filter(|(_, e)| e.status == Status::Success)
                    .map(|(name, e)| ((*name).to_owned(), std::mem::take(&mut e.data)))
                    .collect(),
            ),
        };
        let status = match &record {
            Record::Success => "success",
            Record::Partial(_) => "partial",
            Record::Failed(_) => "error",
        };
        run.events.emit("map_item", || {
            self.scope
                .event_fields(json!({ "node": map.id, "index": index, "status": status, "duration_ms": duration_ms }))
        });
        (slot, if matches!(record, Record::Failed(_)) { Value::Null } else { result }, record)
    }
}

/// Builds the envelope of map node `node` of `scope` from the map's progress, when the node
/// was a map that started: `data` holds every item's result in item order, `metadata.items`
/// every item's record and `metadata.counts` the tally. Items that were running when the map
/// was cut get the map's error; items that never started are `skipped`.
pub(crate) fn finish(scope: &Scope, node: usize, envelope: &mut Envelope) -> Option<Ended> {
    let progress = {
        let mut maps = scope.maps.lock().unwrap_or_else(|e| e.into_inner());
        let mine: Vec<_> = maps.iter().filter(|(i, _)| *i == node).map(|(_, p)| p.clone()).collect();
        maps.retain(|(i, _)| *i != node);
        mine.into_iter().last()?
    };
    let mut progress = lock(&progress);
    let Progress { indices, items, started, results, records, stopped } =
        std::mem::replace(&mut *progress, Progress::new(Vec::new(), Vec::new()));
    let (mut success, mut partial, mut failed, mut skipped) = (0, 0, 0, 0);
    let mut handled_inside = false;
    let cut = envelope.error.clone();
    // One record per item that did not succeed, in item order; a successful item is counted,
    // and its result is in `data`.
    let mut list: Vec<Value> = Vec::new();
    for (slot, (record, item)) in records.into_iter().zip(items).enumerate() {
        let index = indices[slot];
        match record {
            Some(Record::Success) => success += 1,
            Some(Record::Partial(p)) => {
                partial += 1;
                handled_inside = true;
                list.push(
                    json!({ "index": index, "status": "partial", "duration_ms": p.duration_ms, "nodes": p.nodes }),
                );
            }
            Some(Record::Failed(f)) => {
                failed += 1;
                list.push(json!({
                    "index": index, "status": "error", "duration_ms": f.duration_ms,
                    "item": item, "error": f.error, "nodes": f.nodes,
                }));
            }
            None if slot < started => {
                // Running when the map was cut (a deadline, an interrupt).
                failed += 1;
                let error = match &cut {
                    Some(cut) => Error {
                        message: format!("the map was cut while this item ran: {}", cut.message),
                        ..cut.clone()
                    },
                    None => Error::new(ErrorKind::Internal, "the item did not finish"),
                };
                list.push(json!({ "index": index, "status": "error", "item": item, "error": error }));
            }
            None => {
                skipped += 1;
                let reason = stopped
                    .clone()
                    .or_else(|| cut.as_ref().map(|e| format!("not run: the map was cut short: {}", e.message)));
                list.push(json!({ "index": index, "status": "skipped", "item": item, "reason": reason.unwrap_or_else(|| "not run".to_owned()) }));
            }
        }
    }
    envelope.data = Value::Array(results);
    envelope.metadata.insert(
        "counts".into(),
        json!({ "total": indices.len(), "success": success, "partial": partial, "error": failed, "skipped": skipped }),
    );
    envelope.metadata.insert("items".into(), Value::Array(list));
    Some(Ended { handled_inside })
}
