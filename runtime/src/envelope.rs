//! The uniform record of what happened to each node, and the run result that holds them.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Error,
    Skipped,
}

/// One node's record: the same shape for every kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    pub node: &'static str,
    pub kind: &'static str,
    /// The node's JSON pointer in the flow document.
    pub source: &'static str,
    pub status: Status,
    /// When the node started (or was skipped), RFC 3339 in UTC.
    pub timestamp: String,
    pub duration_ms: u64,
    pub attempts: u32,
    /// The node's output; for a failed node, whatever it had received (an HTTP error
    /// response, say), or its `on_error` fallback.
    pub data: Value,
    pub metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
    /// For a failed node: the input it had (written to dead letters, not to the run result).
    #[serde(skip)]
    pub input: Option<Value>,
}

/// How the run as a whole went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every node that ran succeeded.
    Success,
    /// Some node failed, and every failure was handled (`on_error` or an `error` edge).
    Partial,
    /// A failure was not handled.
    Error,
    /// The run was interrupted (Ctrl-C, SIGTERM) before it finished.
    Cancelled,
}

impl RunStatus {
    /// The process exit code: 0 for success and partial, 1 for error, 130 (128 + SIGINT) for
    /// an interrupted run; `run` uses 143 when the interrupt was SIGTERM.
    pub fn exit_code(self) -> u8 {
        match self {
            RunStatus::Success | RunStatus::Partial => 0,
            RunStatus::Error => 1,
            RunStatus::Cancelled => 130,
        }
    }
}

/// A run result without its envelopes ([`RunResult::outputs_only`]).
#[derive(Debug, Serialize)]
pub struct OutputsOnly<'a> {
    pub flow: &'static str,
    pub run_id: &'a str,
    pub status: RunStatus,
    pub started_at: &'a str,
    pub duration_ms: u64,
    pub outputs: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "ErrorsById::is_empty")]
    pub errors: ErrorsById<'a>,
}

/// Node errors, serialised as an object by node id, in document order.
#[derive(Debug)]
pub struct ErrorsById<'a>(Vec<(&'a str, &'a Error)>);

impl ErrorsById<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for ErrorsById<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(id, error)| (*id, *error)))
    }
}

/// What `<bin> run` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub flow: &'static str,
    pub run_id: String,
    pub status: RunStatus,
    pub started_at: String,
    pub duration_ms: u64,
    /// The values of the `output` nodes that ran, by name.
    pub outputs: Map<String, Value>,
    /// Every node's envelope, in the order of the flow document.
    #[serde(serialize_with = "envelopes_by_id")]
    pub nodes: Vec<Envelope>,
    /// The run's input, defaults applied (written to dead letters, so that a replay runs on it).
    #[serde(skip)]
    pub input: Value,
}

impl RunResult {
    /// The result without the envelopes: `{flow, run_id, status, started_at, duration_ms,
    /// outputs}`, and `errors` (each failed node's error, by node id) when a node failed. What a
    /// webhook with `"response": "outputs"` answers.
    pub fn outputs_only(&self) -> OutputsOnly<'_> {
        let errors: Vec<(&str, &Error)> = self
            .nodes
            .iter()
            .filter_map(|e| Some((e.node, e.error.as_ref().filter(|_| e.status == Status::Error)?)))
            .collect();
        OutputsOnly {
            flow: self.flow,
            run_id: &self.run_id,
            status: self.status,
            started_at: &self.started_at,
            duration_ms: self.duration_ms,
            outputs: &self.outputs,
            errors: ErrorsById(errors),
        }
    }

    /// The envelope of the node with this id.
    pub fn node(&self, id: &str) -> Option<&Envelope> {
        self.nodes.iter().find(|e| e.node == id)
    }
}

fn envelopes_by_id<S: Serializer>(nodes: &[Envelope], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(nodes.len()))?;
    for envelope in nodes {
        map.serialize_entry(envelope.node, envelope)?;
    }
    map.end()
}

/// Now, as RFC 3339 with milliseconds, in UTC.
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// `at` in RFC 3339, UTC, to the millisecond.
pub fn rfc3339(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
