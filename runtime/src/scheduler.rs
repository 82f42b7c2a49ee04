//! Runs a [`Flow`]: each node as soon as everything upstream of it has finished, as many at
//! once as `max_concurrency` allows.
//!
//! The rules (the flow document's execution semantics):
//! - a node whose incoming edges have all been decided runs if at least one of them is live,
//!   and is skipped otherwise; a skip makes all of its outgoing edges dead, so it spreads;
//! - a success makes its plain edges live, and the edges of the route it chose;
//! - a failure makes its `error` edges live; with `on_error` continue or fallback it also
//!   makes its plain edges live (downstream reads `null` or the fallback);
//! - a failure that nothing handles (no `error` edge, `on_error: fail`) fails the run: no
//!   further node starts, the ones running finish, the rest are reported as skipped.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::{json, Map, Value};

use crate::envelope::{now_rfc3339, rfc3339, Envelope, RunResult, RunStatus, Status};
use crate::error::{Error, ErrorKind};
use crate::events::Events;
use crate::flow::{Cx, Edge, Flow, Handle, Node, OnError, Output, Route, RunState, Scope};
use crate::http::Http;
use crate::inflight::InFlight;

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Write progress events to stderr.
    pub events: bool,
    /// Stops the run from outside.
    pub interrupt: Interrupt,
    /// Told about every node as it finishes or is skipped (`<bin> mcp` turns this into MCP
    /// progress notifications).
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
    /// Re-run only these map items (`<bin> run --replay FILE`).
    pub replay: Option<Arc<crate::deadletter::Replay>>,
    /// What started the run (a webhook's request, the schedule).
    pub fired: crate::flow::Fired,
    /// The HTTP client, rate limits and circuit breakers to use, shared with other runs
    /// (`<bin> serve`); `None`: the run's own.
    pub http: Option<Http>,
}

/// A node has finished (or was skipped): `done` of `total` nodes are.
#[derive(Debug, Clone)]
pub struct Progress {
    pub node: &'static str,
    pub status: Status,
    pub done: usize,
    pub total: usize,
}

/// Stops a run from outside (Ctrl-C, SIGTERM): the nodes running are cancelled and reported
/// with a `cancelled` error, the rest as skipped, and the run's status is `cancelled`.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: tokio_util::sync::CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl Interrupt {
    /// Interrupts the run; the first reason given is the one reported.
    pub fn interrupt(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.token.cancel();
    }

    async fn wait(&self) -> &str {
        self.token.cancelled().await;
        self.reason.get().map_or("the run was interrupted", String::as_str)
    }
}

/// Why the scheduler stopped before every node had finished.
enum Cut {
    Deadline(u64),
    Interrupted(String),
}

/// What a finished node task reports to the scheduler.
struct Finished {
    node: usize,
    envelope: Envelope,
    /// The route chosen on success; `None` on failure.
    route: Option<Route>,
}

/// Who feeds whom in a graph, worked out once per graph (once per map run for a map's
/// nested flow, shared by all its items).
pub(crate) struct Topology {
    pub edges: &'static [Edge],
    /// Each node's distinct upstream nodes, in edge order.
    pub upstream: Arc<[Vec<usize>]>,
    /// How many edges enter each node.
    incoming: Vec<usize>,
    /// The edges (indices into `edges`) that leave each node.
    outgoing: Vec<Vec<usize>>,
}

impl Topology {
    /// The topology of a graph of the program: graphs are static data, so each is worked out
    /// once per process and shared by every run (a handful of entries, one per graph).
    pub fn of(nodes: &'static [Node], edges: &'static [Edge]) -> Arc<Topology> {
        type Key = (usize, usize, usize, usize);
        static KNOWN: std::sync::Mutex<Vec<(Key, Arc<Topology>)>> = std::sync::Mutex::new(Vec::new());
        let key = (nodes.as_ptr() as usize, nodes.len(), edges.as_ptr() as usize, edges.len());
        let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, topology)) = known.iter().find(|(k, _)| *k == key) {
            return topology.clone();
        }
        let topology = Arc::new(Topology::work_out(nodes, edges));
        known.push((key, topology.clone()));
        topology
    }

    fn work_out(nodes: &[Node], edges: &'static [Edge]) -> Topology {
        let n = nodes.len();
        let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut incoming = vec![0usize; n];
        let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (e, edge) in edges.iter().enumerate() {
            if !upstream[edge.target].contains(&edge.source) {
                upstream[edge.target].push(edge.source);
            }
            incoming[edge.target] += 1;
            outgoing[edge.source].push(e);
        }
        Topology { edges, upstream: upstream.into(), incoming, outgoing }
    }

    /// Whether a failure of `node` is caught by one of its `error` edges.
    pub fn has_error_edge(&self, node: usize) -> bool {
        self.outgoing[node].iter().any(|&e| self.edges[e].handle == Handle::Error)
    }
}

/// What bounds one execution of a graph.
pub(crate) struct Limits<'a> {
    pub max_concurrency: usize,
    /// The flow's deadline and its length in ms (the top level only: a map item is cut with
    /// the map).
    pub deadline: Option<(tokio::time::Instant, u64)>,
    pub interrupt: Option<&'a Interrupt>,
    pub progress: Option<&'a tokio::sync::mpsc::UnboundedSender<Progress>>,
}

/// How one execution of a graph went.
pub(crate) struct Executed {
    /// Every node's envelope, in document order.
    pub envelopes: Vec<Envelope>,
    /// The first node (in document order) whose failure nothing handled.
    pub failure: Option<usize>,
    /// Some node failed and its failure was handled.
    pub handled: bool,
    /// A deadline cut the run (the nodes it cut failed with `timeout`).
    pub deadline_passed: bool,
    pub interrupted: bool,
}

/// Runs `flow` on `input` (already validated against the input schema).
pub async fn run(flow: &'static Flow, input: Value, options: RunOptions) -> Result<RunResult, Error> {
    let RunOptions { events, interrupt, progress, replay, fired, http } = options;
    let run_id = uuid::Uuid::new_v4().to_string();
    let started_at = now_rfc3339();
    let started = Instant::now();
    let events = Events::new(events, flow.id, run_id.clone());
    let topology = Topology::of(flow.nodes, flow.edges);
    let run = Arc::new(RunState {
        flow,
        input,
        http: match http {
            Some(shared) => shared,
            None => Http::for_flow(flow, &events, false)?,
        },
        events: events.clone(),
        mcp: Default::default(),
        replay,
        fired: std::sync::Mutex::new(fired),
    });
    let scope = Arc::new(Scope::new(flow.nodes, topology.upstream.clone(), None, None));
    events.emit("flow_start", || json!({ "nodes": flow.nodes.len() }));
    let limits = Limits {
        max_concurrency: flow.max_concurrency,
        deadline: flow.timeout_ms.map(|ms| (tokio::time::Instant::now() + Duration::from_millis(ms), ms)),
        interrupt: Some(&interrupt),
        progress: progress.as_ref(),
    };
    let mut executed = execute(&run, &scope, &topology, limits).await;
    reclaim_data(scope, &mut executed.envelopes);

    let mut outputs = Map::new();
    for (node, envelope) in flow.nodes.iter().zip(&executed.envelopes) {
        if let (Some(name), Status::Success) = (node.output, envelope.status) {
            outputs.insert(name.to_owned(), envelope.data.clone());
        }
    }
    // Every MCP server this run started is stopped before the result is reported.
    run.mcp.close_all().await;
    let status = if executed.interrupted {
        RunStatus::Cancelled
    } else if executed.failure.is_some() || executed.deadline_passed {
        RunStatus::Error
    } else if executed.handled {
        RunStatus::Partial
    } else {
        RunStatus::Success
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    events.emit("flow_complete", || json!({ "status": status, "duration_ms": duration_ms }));
    // Nothing holds the run's state any more (its nodes have finished): its input moves into
    // the result.
    let input = Arc::try_unwrap(run).map_or_else(|run| run.input.clone(), |run| run.input);
    Ok(RunResult { flow: flow.id, run_id, status, started_at, duration_ms, outputs, nodes: executed.envelopes, input })
}

/// Gives each envelope back the data its node passed downstream. While the graph runs, that
/// data lives in the scope alone, where downstream nodes read it (no copy per node); once the
/// execution is over nothing reads the scope, and the data moves into the envelopes. (When
/// something still holds the scope, the data is copied instead.)
pub(crate) fn reclaim_data(scope: Arc<Scope>, envelopes: &mut [Envelope]) {
    match Arc::try_unwrap(scope) {
        Ok(scope) => {
            for (cell, envelope) in scope.data.into_iter().zip(envelopes) {
                if let Some(data) = cell.into_inner() {
                    envelope.data = data;
                }
            }
        }
        Err(scope) => {
            for (cell, envelope) in scope.data.iter().zip(envelopes) {
                if let Some(data) = cell.get() {
                    envelope.data = data.clone();
                }
            }
        }
    }
}

/// Runs the nodes of `scope` (the flow's, or one map item's): each as soon as everything
/// upstream of it has finished, as many at once as `limits` allow, until every node has
/// finished or was skipped, or a deadline or an interrupt cuts the execution short.
pub(crate) async fn execute(
    run: &Arc<RunState>,
    scope: &Arc<Scope>,
    topology: &Topology,
    limits: Limits<'_>,
) -> Executed {
    let nodes = scope.nodes;
    let events = &run.events;
    let n = nodes.len();
    let max_concurrency = limits.max_concurrency.max(1);
    let mut pending = topology.incoming.clone();
    let mut live_in = vec![false; n];
    let mut envelopes: Vec<Option<Envelope>> = vec![None; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| topology.incoming[i] == 0).collect();
    // The nodes running, as futures polled by this task: no task per node, so a node's wake-up
    // (its HTTP answer, its timer) resumes the run where it is, without a hop between threads.
    // Concurrency within a run is I/O concurrency; runs, map items of other runs and the HTTP
    // connections are tasks of their own and spread over the worker threads.
    let mut tasks = InFlight::new();
    // When each running node started (for the envelope of a node that panics or is cut).
    let mut running: Vec<Option<(Instant, std::time::SystemTime)>> = vec![None; n];
    let mut halted_by: Option<&'static str> = None;
    let mut failure: Option<usize> = None;
    let mut handled = false;
    let mut deadline_passed = false;
    let mut interrupted = false;
    let mut done = 0;
    let notify = |i: usize, status: Status, done: usize| {
        if let Some(progress) = limits.progress {
            let _ = progress.send(Progress { node: nodes[i].id, status, done, total: n });
        }
    };
    let deadline = async {
        match limits.deadline {
            Some((at, _)) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    let interrupt = async {
        match limits.interrupt {
            Some(interrupt) => interrupt.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline, interrupt);

    loop {
        // Start (or skip) every node whose incoming edges are all decided, as many at once as
        // `max_concurrency` allows; the others wait in `ready`, in the order they got there.
        while let Some(&i) = ready.front() {
            let node = &nodes[i];
            let reason = match halted_by {
                Some(failed) => Some(format!("not run: the flow failed at node `{failed}`")),
                None if topology.incoming[i] > 0 && !live_in[i] => {
                    Some("not run: no incoming edge was taken".to_owned())
                }
                None => None,
            };
            if let Some(reason) = reason {
                ready.pop_front();
                events.emit("node_skipped", || scope.event_fields(json!({ "node": node.id, "reason": reason })));
                envelopes[i] = Some(skipped(node, reason));
                done += 1;
                notify(i, Status::Skipped, done);
                decide_edges(topology, i, |_| false, &mut pending, &mut live_in, &mut ready);
                continue;
            }
            if tasks.len() >= max_concurrency {
                break;
            }
            ready.pop_front();
            let cx = Cx { run: run.clone(), scope: scope.clone(), node: i, attempt: 1, issued: Default::default() };
            running[i] = Some((Instant::now(), std::time::SystemTime::now()));
            // A panic in a node is caught here and becomes the node's error, as it would at a
            // task's edge.
            tasks.push(async move { (i, AssertUnwindSafe(run_node(cx)).catch_unwind().await) });
        }
        if tasks.is_empty() {
            break;
        }

        let joined = tokio::select! {
            joined = tasks.next() => Ok(joined),
            _ = &mut deadline => Err(Cut::Deadline(limits.deadline.map_or(0, |(_, ms)| ms))),
            reason = &mut interrupt => Err(Cut::Interrupted(reason.to_owned())),
        };
        let finished = match joined {
            Ok(Some((i, Ok(finished)))) => {
                running[i] = None;
                finished
            }
            Ok(Some((i, Err(panic)))) => {
                let (began, at) = running[i].take().expect("a running node has its start");
                let timestamp = rfc3339(at);
                let message = format!("the node panicked: {}", panic_message(&*panic));
                let error = Error::internal(message).with_code("panic");
                events.emit("node_failed", || {
                    scope.event_fields(json!({ "node": nodes[i].id, "attempts": 1, "error": error }))
                });
                Finished { node: i, envelope: failed(&nodes[i], timestamp, began, 1, error), route: None }
            }
            Ok(None) => unreachable!("the loop ends when no node is left running"),
            Err(cut) => {
                // Cancel what runs (dropping a node's future cancels it), report it, skip the rest.
                drop(std::mem::replace(&mut tasks, InFlight::new()));
                let (error, not_run) = match &cut {
                    Cut::Deadline(ms) => (
                        Error::timeout(format!("the flow's deadline of {ms} ms passed while this node ran"))
                            .with_code("flow_deadline"),
                        format!("not run: the flow's deadline of {ms} ms passed"),
                    ),
                    Cut::Interrupted(reason) => (
                        Error::new(ErrorKind::Cancelled, format!("{reason} while this node ran"))
                            .with_code("interrupted"),
                        format!("not run: {reason}"),
                    ),
                };
                for (i, started) in running.iter_mut().enumerate() {
                    let Some((began, at)) = started.take() else { continue };
                    let timestamp = rfc3339(at);
                    events.emit("node_failed", || {
                        scope.event_fields(json!({ "node": nodes[i].id, "attempts": 1, "error": error }))
                    });
                    let mut envelope = failed(&nodes[i], timestamp, began, 1, error.clone());
                    crate::map::finish(scope, i, &mut envelope);
                    envelopes[i] = Some(envelope);
                }
                for (i, envelope) in envelopes.iter_mut().enumerate() {
                    if envelope.is_none() {
                        *envelope = Some(skipped(&nodes[i], not_run.clone()));
                    }
                }
                match cut {
                    Cut::Deadline(_) => deadline_passed = true,
                    Cut::Interrupted(_) => interrupted = true,
                }
                break;
            }
        };

        let Finished { node: i, mut envelope, route } = finished;
        let node = &nodes[i];
        // A map's envelope holds its items' results and records.
        let map = crate::map::finish(scope, i, &mut envelope);
        if map.is_some_and(|m| m.handled_inside) {
            handled = true;
        }
        let route = match route {
            Some(route) => {
                if let Route::Named(name) = route {
                    envelope.metadata.insert("route".into(), Value::from(name));
                }
                // Downstream reads it from the scope; it returns to the envelope at the end
                // (`reclaim_data`).
                let _ = scope.data[i].set(std::mem::take(&mut envelope.data));
                Some(route)
            }
            None => {
                let downstream = match node.on_error {
                    OnError::Fail => None,
                    // A map that goes on passes on what its items produced (`null` for each
                    // failed one); any other node passes on `null`.
                    OnError::Continue if map.is_some() => Some(std::mem::take(&mut envelope.data)),
                    OnError::Continue => Some(Value::Null),
                    OnError::Fallback(value) => Some(value()),
                };
                let has_error_edge = topology.has_error_edge(i);
                let is_handled = downstream.is_some() || has_error_edge;
                if let Some(value) = downstream {
                    if !value.is_null() {
                        // Replaces the failed node's data, in the envelope too (`reclaim_data`).
                        envelope.data = Value::Null;
                        let _ = scope.data[i].set(value);
                    }
                    let how = if matches!(node.on_error, OnError::Continue) { "continue" } else { "fallback" };
                    envelope.metadata.insert("handled_by".into(), Value::from(how));
                } else if has_error_edge {
                    envelope.metadata.insert("handled_by".into(), Value::from("error_edge"));
                }
                if is_handled {
                    handled = true;
                } else {
                    failure = Some(failure.map_or(i, |f| f.min(i)));
                    halted_by.get_or_insert(node.id);
                }
                (!matches!(node.on_error, OnError::Fail)).then_some(Route::Default)
            }
        };
        let failed_node = envelope.status == Status::Error;
        let status = envelope.status;
        envelopes[i] = Some(envelope);
        done += 1;
        notify(i, status, done);
        let taken = |handle: Handle| match handle {
            Handle::Error => failed_node,
            Handle::Success => route.is_some(),
            Handle::Route(name) => route == Some(Route::Named(name)),
        };
        decide_edges(topology, i, taken, &mut pending, &mut live_in, &mut ready);
    }

    let envelopes = envelopes
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.unwrap_or_else(|| skipped(&nodes[i], "not run".to_owned())))
        .collect();
    Executed { envelopes, failure, handled, deadline_passed, interrupted }
}

/// Runs one node to its end: attempts, per-attempt timeouts, retry delays.
async fn run_node(mut cx: Cx) -> Finished {
    let flow = cx.run.flow;
    let i = cx.node;
    let node = cx.node();
    let retry = node.retry.unwrap_or(flow.retry);
    let events = cx.run.events.clone();
    let scope = cx.scope.clone();
    let timestamp = now_rfc3339();
    let began = Instant::now();
    events.emit("node_start", || scope.event_fields(json!({ "node": node.id, "kind": node.kind })));
    let mut attempt = 1;
    let deadline = node.deadline_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let past_deadline = |attempts: u32| {
        let ms = node.deadline_ms.unwrap_or_default();
        Error::timeout(format!("the node's deadline of {ms} ms passed during attempt {attempts}"))
            .with_code("node_deadline")
    };
    // Circuit breakers count the node's run once, however many attempts it makes.
    let logical_call = crate::breaker::LogicalCall::new(cx.http());
    // A 401 to an OAuth2 token gets one more attempt with a new token, outside the retry
    // policy: `policy_attempt` is the attempt as the policy counts it.
    let mut token_refetched = false;
    let mut policy_attempt = 1;
    loop {
        cx.attempt = attempt;
        cx.issued = Default::default();
        let call = logical_call.scope((node.run)(cx.clone()));
        let attempt_deadline = node.timeout_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
        // The earlier of the attempt's limit and the node's deadline cuts the attempt.
        let cut_at = match (attempt_deadline, deadline) {
            (Some(a), Some(n)) => Some(a.min(n)),
            (a, n) => a.or(n),
        };
        let result = match cut_at {
            Some(at) => tokio::time::timeout_at(at, call).await.unwrap_or_else(|_| {
                if deadline.is_some_and(|n| at == n) {
                    let mut error = past_deadline(attempt);
                    error.retryable = false;
                    Err(error)
                } else {
                    let ms = node.timeout_ms.unwrap_or_default();
                    Err(Error::timeout(format!("attempt {attempt} did not finish within {ms} ms"))
                        .with_code("attempt_timeout"))
                }
            }),
            None => call.await,
        };
        match result {
            Ok(Output { data, route, metadata }) => {
                let duration_ms = began.elapsed().as_millis() as u64;
                events.emit("node_complete", || {
                    scope.event_fields(json!({ "node": node.id, "duration_ms": duration_ms, "attempts": attempt }))
                });
                let envelope = Envelope {
                    node: node.id,
                    kind: node.kind,
                    source: node.source,
                    status: Status::Success,
                    timestamp,
                    duration_ms,
                    attempts: attempt,
                    data,
                    metadata,
                    error: None,
                    input: None,
                };
                return Finished { node: i, envelope, route: Some(route) };
            }
            Err(error) if error.status == Some(401) && !token_refetched && !cx.issued_tokens().is_empty() => {
                token_refetched = true;
                for issued in cx.issued_tokens() {
                    crate::oauth2::invalidate(issued).await;
                }
                events.emit("node_retry", || {
                    scope.event_fields(json!({
                        "node": node.id, "attempt": attempt, "delay_ms": 0, "error": error,
                        "reason": "a new OAuth2 access token",
                    }))
                });
                attempt += 1;
            }
            Err(error)
                if retry.should_retry(policy_attempt, &error) && error.code.as_deref() != Some("node_deadline") =>
            {
                let delay = retry.delay(policy_attempt, &error);
                if deadline.is_some_and(|n| tokio::time::Instant::now() + delay >= n) {
                    // The wait would outlast the node's deadline: give up now, naming the last error.
                    let ms = node.deadline_ms.unwrap_or_default();
                    let mut error = Error::timeout(format!(
                        "the node's deadline of {ms} ms would pass before attempt {} could start; attempt {attempt} failed with {error}",
                        attempt + 1
                    ))
                    .with_code("node_deadline");
                    error.retryable = false;
                    events.emit("node_failed", || {
                        scope.event_fields(json!({ "node": node.id, "attempts": attempt, "error": error }))
                    });
                    let envelope = failed_with_input(&cx, timestamp, began, attempt, error);
                    return Finished { node: i, envelope, route: None };
                }
                events.emit(
                    "node_retry",
                    || scope.event_fields(
                        json!({ "node": node.id, "attempt": attempt, "delay_ms": delay.as_millis() as u64, "error": error }),
                    ),
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
                policy_attempt += 1;
            }
            Err(error) => {
                events.emit("node_failed", || {
                    scope.event_fields(json!({ "node": node.id, "attempts": attempt, "error": error }))
                });
                let envelope = failed_with_input(&cx, timestamp, began, attempt, error);
                return Finished { node: i, envelope, route: None };
            }
        }
    }
}

/// Decides every outgoing edge of `node` at once; `live` says which handles were taken.
fn decide_edges(
    topology: &Topology,
    node: usize,
    live: impl Fn(Handle) -> bool,
    pending: &mut [usize],
    live_in: &mut [bool],
    ready: &mut VecDeque<usize>,
) {
    for &e in &topology.outgoing[node] {
        let edge = &topology.edges[e];
        live_in[edge.target] |= live(edge.handle);
        pending[edge.target] -= 1;
        if pending[edge.target] == 0 {
            ready.push_back(edge.target);
        }
    }
}

pub(crate) fn skipped(node: &Node, reason: String) -> Envelope {
    let mut metadata = Map::new();
    metadata.insert("reason".into(), Value::String(reason));
    Envelope {
        node: node.id,
        kind: node.kind,
        source: node.source,
        status: Status::Skipped,
        timestamp: now_rfc3339(),
        duration_ms: 0,
        attempts: 0,
        data: Value::Null,
        metadata,
        error: None,
        input: None,
    }
}

fn failed(node: &Node, timestamp: String, began: Instant, attempts: u32, mut error: Error) -> Envelope {
    Envelope {
        node: node.id,
        kind: node.kind,
        source: node.source,
        status: Status::Error,
        timestamp,
        duration_ms: began.elapsed().as_millis() as u64,
        attempts,
        data: error.data.take().map_or(Value::Null, |data| *data),
        metadata: Map::new(),
        error: Some(error),
        input: None,
    }
}

/// A failed node's envelope, with the input it had (for dead letters).
fn failed_with_input(cx: &Cx, timestamp: String, began: Instant, attempts: u32, error: Error) -> Envelope {
    let mut envelope = failed(cx.node(), timestamp, began, attempts, error);
    envelope.input = Some(cx.input());
    envelope
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_owned()
    }
}
