//! Progress events as JSON lines on stderr (`<bin> run --events`).

use std::io::Write;

use serde_json::{json, Value};

use crate::envelope::now_rfc3339;

/// Where events go. Disabled by default; each event is one line, written whole.
#[derive(Debug, Clone)]
pub struct Events {
    enabled: bool,
    flow: &'static str,
    run_id: String,
}

impl Events {
    pub fn new(enabled: bool, flow: &'static str, run_id: String) -> Self {
        Events { enabled, flow, run_id }
    }

    /// Writes `{"event": name, "flow", "run_id", "timestamp", ...fields}`. The fields are
    /// built only when events are on: a run without `--events` pays nothing for them.
    /// Whether events are written (`--events`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn emit(&self, event: &str, fields: impl FnOnce() -> Value) {
        if !self.enabled {
            return;
        }
        let fields = fields();
        let mut line = json!({
            "event": event,
            "flow": self.flow,
            "run_id": self.run_id,
            "timestamp": now_rfc3339(),
        });
        if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
            line.extend(fields);
        }
        let mut text = line.to_string();
        text.push('\n');
        // A closed stderr must not fail the run: events are a side channel.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
