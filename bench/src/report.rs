//! The results: what was measured for each flow and engine, as JSON (`target/bench/results.json`)
//! and as the markdown table printed at the end and written into BENCHMARKS.md.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::engines::Kind;
use crate::flows::BenchFlow;
use crate::load::Measured;
use crate::stats::{fmt_mib, fmt_micros, fmt_rate, fmt_ratio, ratio};

/// How an engine's measurement of a flow ended.
#[derive(Debug, Clone)]
pub enum Status {
    Measured,
    /// Not run, for a reason that is no fault of the engine's (opt-in, time budget, …).
    Skipped(String),
    /// The engine could not be installed, started or did not answer.
    Failed(String),
}

/// One load run and the target server's own time during it.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub measured: Measured,
    /// Requests the target served during the run, and its mean handling time (µs).
    pub target_requests: u64,
    pub target_mean_us: f64,
}

/// One engine on one flow.
#[derive(Debug, Clone)]
pub struct EngineResult {
    pub kind: Kind,
    pub status: Status,
    pub cold_start_us: Option<f64>,
    pub peak_rss: Option<u64>,
    /// By connection count, in the order run.
    pub loads: Vec<LoadResult>,
    /// Inputs whose answers matched the expected result.
    pub equivalent_inputs: usize,
    /// Size of the answer to the timed input, in bytes.
    pub answer_bytes: Option<usize>,
    pub note: Option<String>,
}

impl EngineResult {
    pub fn new(kind: Kind, status: Status) -> EngineResult {
        EngineResult {
            kind,
            status,
            cold_start_us: None,
            peak_rss: None,
            loads: Vec::new(),
            equivalent_inputs: 0,
            answer_bytes: None,
            note: None,
        }
    }

    fn load(&self, connections: usize) -> Option<&LoadResult> {
        self.loads.iter().find(|l| l.measured.connections == connections)
    }

    /// (latency p50 at 1 connection − the target's own time on the critical path) / node
    /// executions, in µs.
    pub fn per_node_overhead_us(&self, flow: &BenchFlow) -> Option<f64> {
        let l = self.load(1)?;
        let p50 = l.measured.p50_us? as f64;
        Some(((p50 - flow.critical_calls * l.target_mean_us) / flow.node_runs as f64).max(0.0))
    }

    /// A figure by name (see [`FIGURES`]).
    pub fn figure(&self, figure: Figure, flow: &BenchFlow) -> Option<f64> {
        match figure {
            Figure::Rps(c) => self.load(c).filter(|l| l.measured.ok > 0).map(|l| l.measured.rps),
            Figure::P50(c) => self.load(c).and_then(|l| l.measured.p50_us).map(f64::from),
            Figure::P99(c) => self.load(c).and_then(|l| l.measured.p99_us).map(f64::from),
            Figure::PerNode => self.per_node_overhead_us(flow),
            Figure::Rss => self.peak_rss.map(|b| b as f64),
            Figure::ColdStart => self.cold_start_us,
        }
    }

    pub fn to_json(&self, flow: &BenchFlow) -> Value {
        let (status, reason) = match &self.status {
            Status::Measured => ("measured", None),
            Status::Skipped(r) => ("skipped", Some(r.clone())),
            Status::Failed(r) => ("failed", Some(r.clone())),
        };
        json!({
            "engine": self.kind.key(),
            "status": status,
            "reason": reason,
            "equivalent_inputs": self.equivalent_inputs,
            "answer_bytes": self.answer_bytes,
            "cold_start_ms": self.cold_start_us.map(|u| u / 1_000.0),
            "peak_rss_bytes": self.peak_rss,
            "per_node_overhead_us": self.per_node_overhead_us(flow),
            "loads": self.loads.iter().map(|l| {
                let mut m = l.measured.to_json();
                m["target_requests"] = json!(l.target_requests);
                m["target_mean_us"] = json!(l.target_mean_us);
                m
            }).collect::<Vec<_>>(),
            "note": self.note,
        })
    }
}

/// A column of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    Rps(usize),
    P50(usize),
    P99(usize),
    PerNode,
    Rss,
    ColdStart,
}

impl Figure {
    /// Whether more is better (requests per second) or less (everything else).
    fn higher_is_better(self) -> bool {
        matches!(self, Figure::Rps(_))
    }

    fn header(self) -> String {
        match self {
            Figure::Rps(c) => format!("req/s @{c}"),
            Figure::P50(c) => format!("p50 @{c}"),
            Figure::P99(c) => format!("p99 @{c}"),
            Figure::PerNode => "per node".to_string(),
            Figure::Rss => "peak RSS".to_string(),
            Figure::ColdStart => "cold start".to_string(),
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Figure::Rps(_) => fmt_rate(v),
            Figure::Rss => fmt_mib(v as u64),
            _ => fmt_micros(v),
        }
    }
}

/// The table's columns for the connection counts run.
pub fn figures(connections: &[usize]) -> Vec<Figure> {
    let mut out = Vec::new();
    for &c in connections {
        out.extend([Figure::Rps(c), Figure::P50(c), Figure::P99(c)]);
    }
    out.extend([Figure::PerNode, Figure::Rss, Figure::ColdStart]);
    out
}

/// Every flow's results.
pub struct FlowResults<'a> {
    pub flow: &'a BenchFlow,
    pub engines: Vec<EngineResult>,
}

impl FlowResults<'_> {
    fn flowc(&self) -> Option<&EngineResult> {
        self.engines.iter().find(|e| e.kind == Kind::Flowc && matches!(e.status, Status::Measured))
    }
}

/// The markdown table: one row per flow and engine; each peer figure with its ratio to
/// flowc's (the peer's value divided by flowc's).
pub fn table(results: &[FlowResults], connections: &[usize]) -> String {
    let figures = figures(connections);
    let mut out = String::new();
    let _ = write!(out, "| flow | engine |");
    for f in &figures {
        let _ = write!(out, " {} |", f.header());
    }
    out.push('\n');
    let _ = write!(out, "|---|---|");
    for _ in &figures {
        out.push_str("---:|");
    }
    out.push('\n');
    for r in results {
        let base = r.flowc();
        for e in &r.engines {
            let _ = write!(out, "| {} | {} |", r.flow.title, e.kind.name());
            match &e.status {
                Status::Measured => {
                    for &f in &figures {
                        let v = e.figure(f, r.flow);
                        let mut cell = match v {
                            None => "–".to_string(),
                            Some(v) if e.kind == Kind::Flowc => f.format(v),
                            Some(v) => match ratio(Some(v), base.and_then(|b| b.figure(f, r.flow))) {
                                Some(q) => format!("{} ({})", f.format(v), fmt_ratio(q)),
                                None => f.format(v),
                            },
                        };
                        if let Figure::Rps(c) = f {
                            let bad = e.load(c).map_or(0, |l| l.measured.failed + l.measured.unfinished);
                            if bad > 0 {
                                let _ = write!(cell, " ({bad} failed)");
                            }
                        }
                        let _ = write!(out, " {cell} |");
                    }
                }
                Status::Skipped(reason) | Status::Failed(reason) => {
                    let word = if matches!(e.status, Status::Failed(_)) { "failed" } else { "not run" };
                    let _ = write!(out, " {word}: {} |", short_reason(reason));
                    for _ in 1..figures.len() {
                        out.push_str(" |");
                    }
                }
            }
            out.push('\n');
        }
    }
    out
}

/// A reason for a table cell: its first line, at most 90 characters, no `|`.
fn short_reason(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or_default().replace('|', "/");
    if line.chars().count() > 90 {
        format!("{}…", line.chars().take(89).collect::<String>())
    } else {
        line
    }
}

/// Requests that failed under load: (flow, engine, connections, count, first error).
pub fn load_errors(results: &[FlowResults]) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        for e in &r.engines {
            for l in &e.loads {
                let m = &l.measured;
                if m.failed + m.unfinished > 0 {
                    out.push(format!(
                        "{} · {} @{}: {} failed, {} unfinished; first: {}",
                        r.flow.title,
                        e.kind.name(),
                        m.connections,
                        m.failed,
                        m.unfinished,
                        short_reason(m.first_error.as_deref().unwrap_or("?"))
                    ));
                }
            }
        }
    }
    out
}

/// Every figure on which a peer did better than flowc: (flow, engine, figure, ratio).
pub fn losses(results: &[FlowResults], connections: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        let Some(base) = r.flowc() else { continue };
        for e in r.engines.iter().filter(|e| e.kind != Kind::Flowc) {
            for f in figures(connections) {
                let Some(q) = ratio(e.figure(f, r.flow), base.figure(f, r.flow)) else { continue };
                // The floor is a goal, not a peer: flowc is behind it only beyond 1.1×.
                let margin = if e.kind == Kind::Floor { 1.1 } else { 1.0 };
                let peer_better = if f.higher_is_better() { q > margin } else { q < 1.0 / margin };
                if peer_better {
                    out.push(format!(
                        "{}: {} is better on {} ({} of flowc's)",
                        r.flow.title,
                        e.kind.name(),
                        f.header(),
                        fmt_ratio(q)
                    ));
                }
            }
        }
    }
    out
}

/// The check of flowc against the floor on flow (3): flowc's figure / the floor's, for the
/// latencies at 1 connection and the throughput at the highest count (as the floor's / flowc's,
/// so that above 1 means flowc is slower). The goal is ≤ 1.1×.
pub fn floor_check(results: &[FlowResults], connections: &[usize]) -> Option<Vec<(String, f64)>> {
    let r = results.iter().find(|r| r.flow.name == "http-chain")?;
    let flowc = r.flowc()?;
    let floor = r.engines.iter().find(|e| e.kind == Kind::Floor && matches!(e.status, Status::Measured))?;
    let mut out = Vec::new();
    for &c in connections {
        if let Some(q) = ratio(flowc.figure(Figure::P50(c), r.flow), floor.figure(Figure::P50(c), r.flow)) {
            out.push((format!("p50 @{c}"), q));
        }
        if let Some(q) = ratio(floor.figure(Figure::Rps(c), r.flow), flowc.figure(Figure::Rps(c), r.flow)) {
            out.push((format!("req/s @{c} (floor's / flowc's)"), q));
        }
    }
    Some(out)
}
