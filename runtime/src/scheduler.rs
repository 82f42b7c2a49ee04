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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::envelope::{now_rfc3339, Envelope, RunResult, RunStatus, Status};
use crate::error::{Error, ErrorKind};
use crate::events::Events;
use crate::flow::{Cx, Flow, Handle, OnError, Output, Route, RunState};
use crate::http::Http;

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

/// Runs `flow` on `input` (already validated against the input schema).
pub async fn run(flow: &'static Flow, input: Value, options: RunOptions) -> Result<RunResult, Error> {
    let run_id = uuid::Uuid::new_v4().to_string();
    let started_at = now_rfc3339();
    let started = Instant::now();
    let events = Events::new(options.events, flow.id, run_id.clone());
    let n = flow.nodes.len();

    let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut incoming = vec![0usize; n];
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (e, edge) in flow.edges.iter().enumerate() {
        if !upstream[edge.target].contains(&edge.source) {
            upstream[edge.target].push(edge.source);
        }
        incoming[edge.target] += 1;
        outgoing[edge.source].push(e);
    }

    let state = Arc::new(RunState {
        flow,
        input,
        data: (0..n).map(|_| OnceLock::new()).collect(),
        upstream,
        http: Http::for_flow(flow, &events)?,
        events: events.clone(),
        mcp: Default::default(),
    });
    events.emit("flow_start", json!({ "nodes": n }));

    let permits = Arc::new(Semaphore::new(flow.max_concurrency.max(1)));
    let mut pending = incoming.clone();
    let mut live_in = vec![false; n];
    let mut envelopes: Vec<Option<Envelope>> = vec![None; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| incoming[i] == 0).collect();
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, (usize, Instant, String)> = HashMap::new();
    let mut halted_by: Option<&'static str> = None;
    let mut unhandled = false;
    let mut handled = false;
    let mut interrupted = false;
    let mut done = 0;
    let deadline = flow.timeout_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));

    loop {
        // Start (or skip) every node whose incoming edges are all decided.
        while let Some(i) = ready.pop_front() {
            let node = &flow.nodes[i];
            let reason = match halted_by {
                Some(failed) => Some(format!("not run: the flow failed at node `{failed}`")),
                None if incoming[i] > 0 && !live_in[i] => Some("not run: no incoming edge was taken".to_owned()),
                None => None,
            };
            if let Some(reason) = reason {
                events.emit("node_skipped", json!({ "node": node.id, "reason": reason }));
                envelopes[i] = Some(skipped(flow, i, reason));
                done += 1;
                notify(&options, flow, i, Status::Skipped, done);
                decide_edges(flow, &outgoing[i], |_| false, &mut pending, &mut live_in, &mut ready);
                continue;
            }
            let cx = Cx { run: state.clone(), node: i, attempt: 1 };
            let permits = permits.clone();
            let handle = tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("the semaphore is never closed");
                run_node(cx).await
            });
            running.insert(handle.id(), (i, Instant::now(), now_rfc3339()));
        }
        if tasks.is_empty() {
            break;
        }

        let deadline_passed = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let joined = tokio::select! {
            joined = tasks.join_next_with_id() => Ok(joined),
            _ = deadline_passed => Err(Cut::Deadline(flow.timeout_ms.unwrap_or_default())),
            reason = options.interrupt.wait() => Err(Cut::Interrupted(reason.to_owned())),
        };
        let finished = match joined {
            Ok(Some(Ok((id, finished)))) => {
                running.remove(&id);
                finished
            }
            Ok(Some(Err(join_error))) => {
                let Some((i, began, timestamp)) = running.remove(&join_error.id()) else { continue };
                let message = match join_error.try_into_panic() {
                    Ok(panic) => format!("the node panicked: {}", panic_message(&panic)),
                    Err(_) => "the node's task was cancelled".to_owned(),
                };
                let error = Error::internal(message).with_code("panic");
                events.emit("node_failed", json!({ "node": flow.nodes[i].id, "attempts": 1, "error": error }));
                Finished { node: i, envelope: failed(flow, i, timestamp, began, 1, error), route: None }
            }
            Ok(None) => unreachable!("the loop ends when no task is left"),
            Err(cut) => {
                // Cancel what runs, report it, skip the rest.
                tasks.abort_all();
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
                let mut cut_nodes: Vec<_> = running.drain().map(|(_, v)| v).collect();
                cut_nodes.sort_by_key(|(i, _, _)| *i);
                for (i, began, timestamp) in cut_nodes {
                    events.emit("node_failed", json!({ "node": flow.nodes[i].id, "attempts": 1, "error": error }));
                    envelopes[i] = Some(failed(flow, i, timestamp, began, 1, error.clone()));
                }
                for (i, envelope) in envelopes.iter_mut().enumerate() {
                    if envelope.is_none() {
                        *envelope = Some(skipped(flow, i, not_run.clone()));
                    }
                }
                match cut {
                    Cut::Deadline(_) => unhandled = true,
                    Cut::Interrupted(_) => interrupted = true,
                }
                break;
            }
        };

        let Finished { node: i, mut envelope, route } = finished;
        let node = &flow.nodes[i];
        let has_error_edge = outgoing[i].iter().any(|&e| flow.edges[e].handle == Handle::Error);
        let route = match (route, &envelope.error) {
            (Some(route), _) => {
                if let Route::Named(name) = route {
                    envelope.metadata.insert("route".into(), Value::from(name));
                }
                let _ = state.data[i].set(envelope.data.clone());
                Some(route)
            }
            (None, _) => {
                let downstream = match node.on_error {
                    OnError::Fail => None,
                    OnError::Continue => Some(Value::Null),
                    OnError::Fallback(value) => Some(value()),
                };
                let is_handled = downstream.is_some() || has_error_edge;
                if let Some(value) = downstream {
                    if !value.is_null() {
                        envelope.data = value.clone();
                        let _ = state.data[i].set(value);
                    }
                    let how = if matches!(node.on_error, OnError::Continue) { "continue" } else { "fallback" };
                    envelope.metadata.insert("handled_by".into(), Value::from(how));
                } else if has_error_edge {
                    envelope.metadata.insert("handled_by".into(), Value::from("error_edge"));
                }
                if is_handled {
                    handled = true;
                } else {
                    unhandled = true;
                    halted_by.get_or_insert(node.id);
                }
                (!matches!(node.on_error, OnError::Fail)).then_some(Route::Default)
            }
        };
        let failed_node = envelope.status == Status::Error;
        let status = envelope.status;
        envelopes[i] = Some(envelope);
        done += 1;
        notify(&options, flow, i, status, done);
        let taken = |handle: Handle| match handle {
            Handle::Error => failed_node,
            Handle::Success => route.is_some(),
            Handle::Route(name) => route == Some(Route::Named(name)),
        };
        decide_edges(flow, &outgoing[i], taken, &mut pending, &mut live_in, &mut ready);
    }

    let mut outputs = Map::new();
    let nodes: Vec<Envelope> = envelopes
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.unwrap_or_else(|| skipped(flow, i, "not run".to_owned())))
        .collect();
    for (node, envelope) in flow.nodes.iter().zip(&nodes) {
        if let (Some(name), Status::Success) = (node.output, envelope.status) {
            outputs.insert(name.to_owned(), envelope.data.clone());
        }
    }
    // Every MCP server this run started is stopped before the result is reported.
    drop(tasks);
    state.mcp.close_all().await;
    let status = if interrupted {
        RunStatus::Cancelled
    } else if unhandled {
        RunStatus::Error
    } else if handled {
        RunStatus::Partial
    } else {
        RunStatus::Success
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    events.emit("flow_complete", json!({ "status": status, "duration_ms": duration_ms }));
    Ok(RunResult { flow: flow.id, run_id, status, started_at, duration_ms, outputs, nodes })
}

fn notify(options: &RunOptions, flow: &Flow, i: usize, status: Status, done: usize) {
    if let Some(progress) = &options.progress {
        let _ = progress.send(Progress { node: flow.nodes[i].id, status, done, total: flow.nodes.len() });
    }
}

/// Runs one node to its end: attempts, per-attempt timeouts, retry delays.
async fn run_node(mut cx: Cx) -> Finished {
    let flow = cx.run.flow;
    let i = cx.node;
    let node = &flow.nodes[i];
    let retry = node.retry.unwrap_or(flow.retry);
    let events = cx.run.events.clone();
    let timestamp = now_rfc3339();
    let began = Instant::now();
    events.emit("node_start", json!({ "node": node.id, "kind": node.kind }));
    let mut attempt = 1;
    let deadline = node.deadline_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let past_deadline = |attempts: u32| {
        let ms = node.deadline_ms.unwrap_or_default();
        Error::timeout(format!("the node's deadline of {ms} ms passed during attempt {attempts}"))
            .with_code("node_deadline")
    };
    // Circuit breakers count the node's run once, however many attempts it makes.
    let logical_call = crate::breaker::LogicalCall::new(cx.http());
    loop {
        cx.attempt = attempt;
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
                events
                    .emit("node_complete", json!({ "node": node.id, "duration_ms": duration_ms, "attempts": attempt }));
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
                };
                return Finished { node: i, envelope, route: Some(route) };
            }
            Err(error) if retry.should_retry(attempt, &error) && error.code.as_deref() != Some("node_deadline") => {
                let delay = retry.delay(attempt, &error);
                if deadline.is_some_and(|n| tokio::time::Instant::now() + delay >= n) {
                    // The wait would outlast the node's deadline: give up now, naming the last error.
                    let ms = node.deadline_ms.unwrap_or_default();
                    let mut error = Error::timeout(format!(
                        "the node's deadline of {ms} ms would pass before attempt {} could start; attempt {attempt} failed with {error}",
                        attempt + 1
                    ))
                    .with_code("node_deadline");
                    error.retryable = false;
                    events.emit("node_failed", json!({ "node": node.id, "attempts": attempt, "error": error }));
                    return Finished {
                        node: i,
                        envelope: failed(flow, i, timestamp, began, attempt, error),
                        route: None,
                    };
                }
                events.emit(
                    "node_retry",
                    json!({ "node": node.id, "attempt": attempt, "delay_ms": delay.as_millis() as u64, "error": error }),
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => {
                events.emit("node_failed", json!({ "node": node.id, "attempts": attempt, "error": error }));
                return Finished { node: i, envelope: failed(flow, i, timestamp, began, attempt, error), route: None };
            }
        }
    }
}

/// Decides every outgoing edge of a node at once; `live` says which handles were taken.
fn decide_edges(
    flow: &Flow,
    outgoing: &[usize],
    live: impl Fn(Handle) -> bool,
    pending: &mut [usize],
    live_in: &mut [bool],
    ready: &mut VecDeque<usize>,
) {
    for &e in outgoing {
        let edge = &flow.edges[e];
        decide(edge.target, live(edge.handle), pending, live_in, ready);
    }
}

fn decide(target: usize, live: bool, pending: &mut [usize], live_in: &mut [bool], ready: &mut VecDeque<usize>) {
    live_in[target] |= live;
    pending[target] -= 1;
    if pending[target] == 0 {
        ready.push_back(target);
    }
}

fn skipped(flow: &Flow, i: usize, reason: String) -> Envelope {
    let node = &flow.nodes[i];
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
    }
}

fn failed(flow: &Flow, i: usize, timestamp: String, began: Instant, attempts: u32, mut error: Error) -> Envelope {
    let node = &flow.nodes[i];
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
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_owned()
    }
}
