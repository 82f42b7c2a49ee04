//! `GET /metrics` of `<bin> serve`: Prometheus text, with the prometheus-client crate.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `flowc_runs_total` | counter | `flow`, `status` (`success`, `partial`, `error`, `cancelled`) |
//! | `flowc_runs_in_flight` | gauge | `flow` |
//! | `flowc_run_duration_seconds` | histogram | `flow` |
//! | `flowc_node_duration_seconds` | histogram | `flow`, `node` (nodes that ran) |
//! | `flowc_node_retries_total` | counter | `flow`, `node` (attempts after the first) |
//! | `flowc_node_failures_total` | counter | `flow`, `node`, `kind` (the error kind) |
//! | `flowc_requests_refused_total` | counter | `flow`, `reason` (`busy`, `bad_input`, `unauthorized`, `forbidden`, `too_large`, `timed_out`, `replay_cache_full`, `mcp_sessions`) |
//! | `flowc_mcp_sessions` | gauge | `flow`: `/mcp` sessions open |
//! | `flowc_breaker_state` | gauge | `flow`, `host`, `state`: 1 for the breaker's state, 0 for the others |

use std::sync::atomic::AtomicI64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::envelope::{RunResult, RunStatus, Status};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabel {
    flow: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    flow: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    flow: &'static str,
    node: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    flow: &'static str,
    node: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    flow: &'static str,
    node: &'static str,
    /// `prompt` or `completion`.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    flow: &'static str,
    node: &'static str,
    /// A tool the agent offered; a name the model made up is `(unknown)`, so the model
    /// cannot grow the label set.
    tool: String,
    /// `ok` or `error`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    flow: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    flow: &'static str,
    host: &'static str,
    state: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of one served flow.
pub struct Metrics {
    flow: &'static str,
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    in_flight: Family<FlowLabel, Gauge<i64, AtomicI64>>,
    run_seconds: Histograms<FlowLabel>,
    node_seconds: Histograms<NodeLabels>,
    retries: Family<NodeLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    refused: Family<ReasonLabels, Counter>,
    breakers: Family<BreakerLabels, Gauge<i64, AtomicI64>>,
    mcp_sessions: Family<FlowLabel, Gauge<i64, AtomicI64>>,
    tokens: Family<TokenLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    /// Encoding is not reentrant with updates of the breaker gauges.
    encoding: Mutex<()>,
}

/// Run durations: 1 ms to about 65 s.
fn run_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Node durations: 100 µs to about 6.5 s.
fn node_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// The outcome of a request that did not start a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No run slot free (`--max-runs`).
    Busy,
    /// Input that is not JSON, not `application/json`, or not of the input schema.
    BadInput,
    /// No or a wrong bearer, or a bad, stale or replayed webhook signature.
    Unauthorized,
    /// A foreign `Host` or `Origin`, or `POST /run` of a signed webhook's flow.
    Forbidden,
    /// A body over `--max-body`.
    TooLarge,
    /// A body slower than `--body-timeout-secs`.
    TimedOut,
    /// The webhook's replay cache is full (`--replay-cache`).
    ReplayCacheFull,
    /// `/mcp` has `--max-mcp-sessions` sessions open.
    McpSessions,
}

impl Refusal {
    const ALL: [Refusal; 8] = [
        Refusal::Busy,
        Refusal::BadInput,
        Refusal::Unauthorized,
        Refusal::Forbidden,
        Refusal::TooLarge,
        Refusal::TimedOut,
        Refusal::ReplayCacheFull,
        Refusal::McpSessions,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Refusal::Busy => "busy",
            Refusal::BadInput => "bad_input",
            Refusal::Unauthorized => "unauthorized",
            Refusal::Forbidden => "forbidden",
            Refusal::TooLarge => "too_large",
            Refusal::TimedOut => "timed_out",
            Refusal::ReplayCacheFull => "replay_cache_full",
            Refusal::McpSessions => "mcp_sessions",
        }
    }
}

impl Metrics {
    pub fn new(flow: &'static str) -> Metrics {
        let mut registry = Registry::default();
        let runs = Family::<RunLabels, Counter>::default();
        registry.register("flowc_runs", "Runs of the flow, by status", runs.clone());
        let in_flight = Family::<FlowLabel, Gauge<i64, AtomicI64>>::default();
        registry.register("flowc_runs_in_flight", "Runs going on now", in_flight.clone());
        let run_seconds: Histograms<FlowLabel> = Family::new_with_constructor(run_buckets);
        registry.register("flowc_run_duration_seconds", "How long runs took", run_seconds.clone());
        let node_seconds: Histograms<NodeLabels> = Family::new_with_constructor(node_buckets);
        registry.register(
            "flowc_node_duration_seconds",
            "How long each node took, retries included",
            node_seconds.clone(),
        );
        let retries = Family::<NodeLabels, Counter>::default();
        registry.register("flowc_node_retries", "Attempts after the first, by node", retries.clone());
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register("flowc_node_failures", "Nodes that failed, by error kind", failures.clone());
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register("flowc_requests_refused", "Requests that did not start a run, by reason", refused.clone());
        let breakers = Family::<BreakerLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "flowc_breaker_state",
            "Each circuit breaker's state (1 for the state it is in)",
            breakers.clone(),
        );
        let mcp_sessions = Family::<FlowLabel, Gauge<i64, AtomicI64>>::default();
        registry.register("flowc_mcp_sessions", "MCP sessions open on /mcp", mcp_sessions.clone());
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "flowc_model_tokens",
            "Tokens of the language-model calls of llm, classify and agent nodes, by type",
            tokens.clone(),
        );
        let tool_calls = Family::<ToolLabels, Counter>::default();
        registry.register(
            "flowc_agent_tool_calls",
            "Tool calls of agent nodes, by tool and outcome",
            tool_calls.clone(),
        );
        let metrics = Metrics {
            flow,
            registry,
            runs,
            in_flight,
            run_seconds,
            node_seconds,
            retries,
            failures,
            refused,
            breakers,
            mcp_sessions,
            tokens,
            tool_calls,
            encoding: Mutex::new(()),
        };
        // Every status and reason is there from the start, at 0, so that rates work at once.
        for status in ["success", "partial", "error", "cancelled"] {
            let _ = metrics.runs.get_or_create(&RunLabels { flow, status });
        }
        for why in Refusal::ALL {
            let _ = metrics.refused.get_or_create(&ReasonLabels { flow, reason: why.as_str() });
        }
        let _ = metrics.in_flight.get_or_create(&FlowLabel { flow });
        metrics
    }

    /// A run has started.
    pub fn started(&self) {
        self.in_flight.get_or_create(&FlowLabel { flow: self.flow }).inc();
    }

    /// A run has ended: counts it and its nodes.
    pub fn finished(&self, result: &RunResult) {
        let flow = self.flow;
        self.in_flight.get_or_create(&FlowLabel { flow }).dec();
        let status = match result.status {
            RunStatus::Success => "success",
            RunStatus::Partial => "partial",
            RunStatus::Error => "error",
            RunStatus::Cancelled => "cancelled",
        };
        self.runs.get_or_create(&RunLabels { flow, status }).inc();
        self.run_seconds.get_or_create(&FlowLabel { flow }).observe(result.duration_ms as f64 / 1000.0);
        for envelope in &result.nodes {
            if envelope.status == Status::Skipped {
                continue;
            }
            let node = envelope.node;
            self.node_seconds.get_or_create(&NodeLabels { flow, node }).observe(envelope.duration_ms as f64 / 1000.0);
            if envelope.attempts > 1 {
                self.retries.get_or_create(&NodeLabels { flow, node }).inc_by(u64::from(envelope.attempts - 1));
            }
            if let Some(error) = &envelope.error {
                self.failures.get_or_create(&FailureLabels { flow, node, kind: error.kind.as_str() }).inc();
            }
            if matches!(envelope.kind, "llm" | "classify" | "agent") {
                let usage = envelope.metadata.get("usage").or_else(|| envelope.data.get("usage"));
                for (key, kind) in [("prompt_tokens", "prompt"), ("completion_tokens", "completion")] {
                    if let Some(n) = usage.and_then(|u| u[key].as_u64()).filter(|n| *n > 0) {
                        self.tokens.get_or_create(&TokenLabels { flow, node, kind }).inc_by(n);
                    }
                }
            }
            if envelope.kind == "agent" {
                for call in envelope.data["tool_calls"].as_array().into_iter().flatten() {
                    let unknown = call["error"]["code"] == "unknown_tool";
                    let tool = if unknown { "(unknown)" } else { call["tool"].as_str().unwrap_or("(unknown)") };
                    let outcome = if call.get("error").is_some() { "error" } else { "ok" };
                    self.tool_calls.get_or_create(&ToolLabels { flow, node, tool: tool.to_owned(), outcome }).inc();
                }
            }
        }
    }

    /// A run ended before it produced a result (the runtime could not start it).
    pub fn abandoned(&self) {
        self.in_flight.get_or_create(&FlowLabel { flow: self.flow }).dec();
    }

    pub fn refused(&self, why: Refusal) {
        self.refused.get_or_create(&ReasonLabels { flow: self.flow, reason: why.as_str() }).inc();
    }

    /// The text exposition, with the breakers' states and the number of `/mcp` sessions as
    /// they are now.
    pub fn encode(&self, breakers: &[(&'static str, &'static str)], mcp_sessions: usize) -> String {
        let _guard = self.encoding.lock().unwrap_or_else(|e| e.into_inner());
        self.mcp_sessions.get_or_create(&FlowLabel { flow: self.flow }).set(mcp_sessions as i64);
        for &(host, current) in breakers {
            for state in ["closed", "open", "half_open"] {
                let value = i64::from(state == current);
                self.breakers.get_or_create(&BreakerLabels { flow: self.flow, host, state }).set(value);
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
