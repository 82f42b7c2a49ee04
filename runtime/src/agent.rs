//! The `agent` node: a tool-calling loop over the OpenAI chat-completions wire format (`tools`,
//! `tool_calls`, `tool` messages), so it works with OpenAI and the compatible servers (vLLM,
//! Ollama, LM Studio).
//!
//! Each iteration sends the conversation and the tools; an answer with tool calls has every
//! call run at once (each with its own timeout), their results sent back as `tool` messages,
//! and the loop goes on; an answer without tool calls is the final one. A failed tool call
//! goes back to the model as an error message unless the node says to fail instead.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind};
use crate::flow::{Cx, Output};
use crate::llm::{add_usage, complete, Endpoint};

/// What a tool function returns: the result the model is shown.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;

/// A tool the generated program implements (an HTTP request, a web search): it gets the
/// node's context and the arguments the model gave.
pub type ToolFn = fn(Cx, Value) -> ToolFuture;

/// How a tool is called.
#[derive(Clone)]
pub enum Call {
    /// A function of the generated program.
    Function(ToolFn),
    /// A tool of an MCP server, through the run's session with it.
    Mcp { server: &'static crate::mcp::Server, transport: crate::mcp::Transport, tool: String },
    /// Another flow compiled into the program: the arguments are its input, its `outputs`
    /// the result.
    Flow(&'static crate::flow::Flow),
}

/// A tool, as the model sees it.
#[derive(Clone)]
pub struct Tool {
    /// Its name in `tools` and `tool_calls`: at most 64 of `a-z A-Z 0-9 _ -`.
    pub name: String,
    pub description: String,
    /// The JSON Schema of its arguments.
    pub parameters: Value,
    pub call: Call,
}

/// Where an agent's tools come from, as its config compiles to.
pub enum Source {
    /// One tool.
    Tool(Tool),
    /// The tools an MCP server lists (those named in `only`, when it is not empty).
    Mcp { server: &'static crate::mcp::Server, transport: crate::mcp::Transport, only: &'static [&'static str] },
}

/// One agent run, as an `agent` node's config compiles to.
pub struct Agent {
    pub endpoint: Endpoint,
    pub model: String,
    /// The system message (`instructions`).
    pub system: Option<String>,
    pub prompt: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// The most model calls; reaching it without a final answer fails the node.
    pub max_iterations: u32,
    /// The final answer must be a JSON object (and match `json_schema`, when given: a name
    /// and JSON Schema text).
    pub json: bool,
    pub json_schema: Option<(&'static str, &'static str)>,
    /// How long one tool call may take.
    pub tool_timeout: Duration,
    /// A failed tool call fails the node (instead of going back to the model).
    pub fail_on_tool_error: bool,
    pub tools: Vec<Source>,
}

/// The most tool calls of one answer that run; the rest are errors for the model.
const MAX_CALLS: usize = 64;

/// The most tool calls of one answer that run at once.
const MAX_PARALLEL_CALLS: usize = 8;

/// A call past [`MAX_CALLS`].
fn too_many(call: &crate::llm::ToolCall) -> Record {
    let error = Error::validation(format!("more than {MAX_CALLS} tool calls in one answer: this one was not run"))
        .with_code("too_many_tool_calls");
    Record {
        tool: call.name.clone(),
        arguments: Value::String(call.arguments.clone()),
        outcome: Err(error),
        duration_ms: 0,
    }
}

/// The longest tool result sent back to the model, in bytes; longer ones are cut (and say
/// so).
const MAX_TOOL_RESULT: usize = 64 * 1024;

/// A tool name the API takes: `a-z A-Z 0-9 _ -`, at most 64, from any text.
pub fn tool_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if name.is_empty() {
        "tool".to_owned()
    } else {
        name
    }
}

/// What the run kept of one tool call.
struct Record {
    tool: String,
    arguments: Value,
    outcome: Result<Value, Error>,
    duration_ms: u64,
}

impl Agent {
    /// Lists the tools: MCP servers are asked for theirs (opening the run's session).
    async fn tools(&self, cx: &Cx) -> Result<Vec<Tool>, Error> {
        let mut tools: Vec<Tool> = Vec::new();
        for source in &self.tools {
            match source {
                Source::Tool(tool) => tools.push(tool.clone()),
                Source::Mcp { server, transport, only } => {
                    let listed = crate::mcp::list_tools(cx, server, transport.clone()).await?;
                    for name in only.iter() {
                        if !listed.iter().any(|t| t.name == *name) {
                            let mut names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
                            names.sort_unstable();
                            return Err(Error::new(
                                ErrorKind::NotFound,
                                format!(
                                    "MCP server `{}` has no tool `{name}`; it has {}",
                                    server.name,
                                    names.join(", ")
                                ),
                            )
                            .with_code("unknown_tool"));
                        }
                    }
                    for listed in listed.into_iter().filter(|t| only.is_empty() || only.contains(&t.name.as_str())) {
                        tools.push(Tool {
                            name: tool_name(&listed.name),
                            description: listed.description,
                            parameters: listed.input_schema,
                            call: Call::Mcp { server, transport: transport.clone(), tool: listed.name },
                        });
                    }
                }
            }
        }
        for (i, tool) in tools.iter().enumerate() {
            if tools[..i].iter().any(|t| t.name == tool.name) {
                return Err(Error::config(format!(
                    "two of the agent's tools are named `{}`: list one server's tools with `tools` to leave one out",
                    tool.name
                ))
                .with_code("duplicate_tool"));
            }
        }
        Ok(tools)
    }

    fn body(&self, messages: &[Value], tools: &[Tool]) -> Value {
        let mut body = json!({"model": self.model, "messages": messages});
        if !tools.is_empty() {
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body["tools"] = Value::Array(tools);
            body["parallel_tool_calls"] = Value::Bool(true);
        }
        crate::llm::sampling(&mut body, self.temperature, self.max_tokens, self.json, self.json_schema);
        body
    }

    /// Runs the loop. Output `data`: `{text, json?, tool_calls: [{tool, arguments,
    /// result|error, duration_ms}], iterations, usage}`; `metadata`: the model, and the
    /// transcript (every message sent and received, the flow's secrets replaced).
    pub async fn send(self, cx: &Cx) -> Result<Output, Error> {
        let tools = self.tools(cx).await?;
        // Read once per run: what a tool's answer or the transcript must not carry.
        let secrets = cx.secrets();
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": self.prompt}));
        let mut records: Vec<Record> = Vec::new();
        let mut usage = Value::Null;
        let mut corrected = false;
        for iteration in 1..=self.max_iterations {
            let began = Instant::now();
            let completion = match complete(cx.http(), &self.endpoint, self.body(&messages, &tools)).await {
                Ok(completion) => completion,
                Err(error) => return Err(self.failed(&secrets, error, &records, iteration - 1, usage, &messages)),
            };
            add_usage(&mut usage, &completion.usage);
            let model = completion.model.clone();
            cx.event("model_call", || {
                json!({
                    "iteration": iteration,
                    "finish_reason": completion.finish_reason,
                    "tool_calls": completion.tool_calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
                    "usage": completion.usage,
                    "duration_ms": began.elapsed().as_millis() as u64,
                })
            });
            messages.push(completion.message.clone());
            if completion.tool_calls.is_empty() {
                let text = completion.content.unwrap_or_default();
                if !self.json {
                    return Ok(self.output(&secrets, text, None, &records, iteration, usage, &model, &messages));
                }
                match self.final_json(&text) {
                    Ok(json) => {
                        return Ok(self.output(
                            &secrets,
                            text,
                            Some(json),
                            &records,
                            iteration,
                            usage,
                            &model,
                            &messages,
                        ))
                    }
                    Err(problem) if !corrected && iteration < self.max_iterations => {
                        corrected = true;
                        messages.push(json!({"role": "user", "content": format!(
                            "Your answer cannot be used: {problem}. Answer again with only the JSON object asked for."
                        )}));
                        continue;
                    }
                    Err(problem) => {
                        let error =
                            Error::validation(format!("the agent's final answer is not the JSON asked for: {problem}"))
                                .with_code(if self.json_schema.is_some() { "json_schema" } else { "invalid_json" });
                        return Err(self.failed(&secrets, error, &records, iteration, usage, &messages));
                    }
                }
            }
            // Every call of this answer at once, each with its own timeout.
            // At most MAX_PARALLEL_CALLS at once, in the order asked; past MAX_CALLS in one
            // answer, a call is an error for the model rather than work.
            // (The futures are made first: a stream of a closure over borrowed calls is not
            // general enough to be `Send` in the node's future.)
            let mut calls = Vec::with_capacity(completion.tool_calls.len());
            for (n, call) in completion.tool_calls.iter().enumerate() {
                let (agent, tools, secrets, run) = (&self, &tools, &secrets, n < MAX_CALLS);
                calls.push(async move {
                    if run {
                        agent.call(cx, tools, secrets, call, iteration).await
                    } else {
                        too_many(call)
                    }
                });
            }
            let results: Vec<Record> = futures::stream::iter(calls).buffered(MAX_PARALLEL_CALLS).collect().await;
            for (call, record) in completion.tool_calls.iter().zip(results) {
                let content = match &record.outcome {
                    Ok(result) => clip(tool_text(result)),
                    Err(error) => json!({"error": error.message}).to_string(),
                };
                messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": content}));
                let failed = record.outcome.as_ref().err().cloned();
                records.push(record);
                if let (true, Some(error)) = (self.fail_on_tool_error, failed) {
                    let tool = records.last().map(|r| r.tool.clone()).unwrap_or_default();
                    let error = Error { message: format!("tool `{tool}` failed: {}", error.message), ..error };
                    return Err(self.failed(&secrets, error, &records, iteration, usage, &messages));
                }
            }
        }
        let error = Error::new(
            ErrorKind::Validation,
            format!(
                "the agent reached max_iterations ({}) without a final answer: raise `max_iterations`, or make the task smaller",
                self.max_iterations
            ),
        )
        .with_code("max_iterations");
        Err(self.failed(&secrets, error, &records, self.max_iterations, usage, &messages))
    }

    /// Runs one tool call.
    async fn call(
        &self,
        cx: &Cx,
        tools: &[Tool],
        secrets: &[String],
        call: &crate::llm::ToolCall,
        iteration: u32,
    ) -> Record {
        let began = Instant::now();
        let arguments = if call.arguments.trim().is_empty() {
            Ok(Value::Object(Map::new()))
        } else {
            serde_json::from_str::<Value>(&call.arguments).map_err(|e| {
                Error::validation(format!(
                    "the arguments are not JSON ({e}): {}",
                    crate::http::clip(&call.arguments, 200)
                ))
            })
        };
        let shown = arguments.as_ref().cloned().unwrap_or_else(|_| Value::String(call.arguments.clone()));
        let outcome = match (arguments, tools.iter().find(|t| t.name == call.name)) {
            (_, None) => {
                let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                Err(Error::validation(format!("there is no tool `{}`; the tools are {}", call.name, names.join(", ")))
                    .with_code("unknown_tool"))
            }
            (Err(error), _) => Err(error.with_code("invalid_arguments")),
            (Ok(arguments), Some(tool)) => {
                let run = async {
                    match &tool.call {
                        Call::Function(function) => function(cx.clone(), arguments).await,
                        Call::Flow(flow) => run_flow(cx, flow, arguments).await,
                        Call::Mcp { server, transport, tool } => {
                            let call = crate::mcp::ToolCall {
                                server,
                                transport: transport.clone(),
                                tool: tool.clone().into(),
                                arguments,
                            };
                            call.send(cx).await.map(|output| output.data)
                        }
                    }
                };
                match tokio::time::timeout(self.tool_timeout, run).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Error::new(
                        ErrorKind::Timeout,
                        format!("tool `{}` took longer than {} ms", call.name, self.tool_timeout.as_millis()),
                    )
                    .with_code("tool_timeout")),
                }
            }
        };
        let duration_ms = began.elapsed().as_millis() as u64;
        // A tool's answer may carry a credential back (an echo, a debug endpoint): it goes
        // neither to the model nor into the record.
        let outcome = match outcome {
            Ok(mut result) => {
                redact(&mut result, secrets);
                Ok(result)
            }
            Err(mut error) => {
                let mut message = Value::String(std::mem::take(&mut error.message));
                redact(&mut message, secrets);
                error.message = message.as_str().unwrap_or_default().to_owned();
                error.data = None;
                Err(error)
            }
        };
        cx.event("tool_call", || {
            let mut fields =
                json!({"iteration": iteration, "tool": call.name, "duration_ms": duration_ms, "ok": outcome.is_ok()});
            if let Err(error) = &outcome {
                fields["error"] = json!(error.message);
            }
            fields
        });
        Record { tool: call.name.clone(), arguments: shown, outcome, duration_ms }
    }

    fn final_json(&self, text: &str) -> Result<Value, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
        match self.json_schema {
            Some((_, schema)) => {
                crate::input::conform(schema, json, "", "the answer", "json_schema").map_err(|e| e.message)
            }
            None => Ok(json),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn data(&self, text: String, json: Option<Value>, records: &[Record], iterations: u32, usage: Value) -> Value {
        let mut data = Map::new();
        data.insert("text".into(), Value::String(text));
        if let Some(json) = json {
            data.insert("json".into(), json);
        }
        let calls: Vec<Value> = records
            .iter()
            .map(|r| {
                let mut call = json!({"tool": r.tool, "arguments": r.arguments, "duration_ms": r.duration_ms});
                match &r.outcome {
                    Ok(result) => call["result"] = result.clone(),
                    Err(error) => call["error"] = serde_json::to_value(error).unwrap_or(Value::Null),
                }
                call
            })
            .collect();
        data.insert("tool_calls".into(), Value::Array(calls));
        data.insert("iterations".into(), Value::from(iterations));
        data.insert("usage".into(), usage);
        Value::Object(data)
    }

    #[allow(clippy::too_many_arguments)]
    fn output(
        &self,
        secrets: &[String],
        text: String,
        json: Option<Value>,
        records: &[Record],
        iterations: u32,
        usage: Value,
        model: &str,
        messages: &[Value],
    ) -> Output {
        let usage_meta = usage.clone();
        Output::data(self.data(text, json, records, iterations, usage))
            .with_metadata("model", Value::from(model))
            .with_metadata("usage", usage_meta)
            .with_metadata("transcript", transcript(messages, secrets))
    }

    /// A failure, with what the loop had done so far as its data.
    fn failed(
        &self,
        secrets: &[String],
        error: Error,
        records: &[Record],
        iterations: u32,
        usage: Value,
        messages: &[Value],
    ) -> Error {
        let mut data = self.data(String::new(), None, records, iterations, usage);
        data["transcript"] = transcript(messages, secrets);
        error.with_data(data)
    }
}

/// Runs a flow tool: the arguments are the flow's input (checked against its input schema,
/// defaults applied) and its `outputs` the result. The run shares the calling run's HTTP client
/// (its rate limits and circuit breakers); a run that fails is a failed call, whose message
/// names the node that failed and why.
async fn run_flow(cx: &Cx, flow: &'static crate::flow::Flow, arguments: Value) -> Result<Value, Error> {
    use crate::envelope::{RunStatus, Status};
    let input = crate::cli::prepare(flow, arguments)
        .map_err(|message| Error::validation(message).with_code("invalid_arguments"))?;
    let options = crate::scheduler::RunOptions {
        events: cx.events_enabled(),
        http: Some(cx.http().clone()),
        ..Default::default()
    };
    let result = crate::scheduler::run(flow, input, options).await?;
    match result.status {
        RunStatus::Success | RunStatus::Partial => Ok(Value::Object(result.outputs)),
        RunStatus::Error | RunStatus::Cancelled => {
            let failed = result.nodes.iter().find(|e| e.status == Status::Error && e.error.is_some());
            let (kind, message) = match failed.and_then(|e| e.error.as_ref().map(|error| (e.node, error))) {
                Some((node, error)) => (error.kind, format!("node `{node}` failed: {}", error.message)),
                None => (ErrorKind::Internal, "no node says why".to_owned()),
            };
            Err(Error::new(kind, format!("the flow `{}` failed: {message}", flow.id))
                .with_code("flow_failed")
                .with_data(json!({"run_id": result.run_id, "status": result.status})))
        }
    }
}

/// A tool result as the text of a `tool` message: a string as it is, a tool's `text` (MCP),
/// anything else as JSON.
fn tool_text(result: &Value) -> String {
    match result {
        Value::String(text) => text.clone(),
        Value::Object(map) if map.get("text").is_some_and(|t| t.as_str().is_some_and(|t| !t.is_empty())) => {
            map["text"].as_str().unwrap_or_default().to_owned()
        }
        other => other.to_string(),
    }
}

fn clip(mut text: String) -> String {
    if text.len() > MAX_TOOL_RESULT {
        let mut end = MAX_TOOL_RESULT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("… (cut: the result is longer than 64 KiB)");
    }
    text
}

/// The messages, with every secret of the flow's credentials replaced by `[redacted]`.
fn transcript(messages: &[Value], secrets: &[String]) -> Value {
    let mut value = Value::Array(messages.to_vec());
    if !secrets.is_empty() {
        redact(&mut value, secrets);
    }
    value
}

fn redact(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(text) => {
            for secret in secrets {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), "[redacted]");
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, secrets)),
        Value::Object(map) => map.values_mut().for_each(|item| redact(item, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_what_the_api_takes() {
        assert_eq!(tool_name("get_weather"), "get_weather");
        assert_eq!(tool_name("files.read file"), "files_read_file");
        assert_eq!(tool_name(&"x".repeat(80)).len(), 64);
        assert_eq!(tool_name(""), "tool");
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let mut value =
            json!([{"content": "token abc123 here"}, {"tool_calls": [{"arguments": "{\"k\":\"abc123\"}"}]}]);
        redact(&mut value, &["abc123".to_owned()]);
        assert!(!value.to_string().contains("abc123"), "{value}");
    }

    #[test]
    fn tool_results_are_text() {
        assert_eq!(tool_text(&json!("plain")), "plain");
        assert_eq!(tool_text(&json!({"text": "mcp text", "content": []})), "mcp text");
        assert_eq!(tool_text(&json!({"status": 200, "body": {"a": 1}})), r#"{"status":200,"body":{"a":1}}"#);
        assert!(clip("é".repeat(40_000)).ends_with("longer than 64 KiB)"));
    }
}
