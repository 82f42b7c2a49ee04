//! `<bin> mcp`: the flow as an MCP server with one tool, named after the flow, over stdio or
//! Streamable HTTP (rmcp's server side). Calling the tool runs the flow.
//!
//! - The tool's `inputSchema` is the `input` node's schema; a flow without one takes any
//!   object, and a schema that is not an object's is wrapped as `{"input": <schema>}`.
//! - Its `outputSchema` is the run result's, with the flow's output names.
//! - The result's `structuredContent` is the run result, its text a short summary. A run that
//!   fails (or input that does not match the schema) is a result with `isError`, not a
//!   protocol error.
//! - With a progress token, each finished node is a progress notification; cancelling the
//!   request interrupts the run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, Tool,
    ToolsCapability,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{json, Value};

use crate::envelope::{RunResult, RunStatus, Status};
use crate::flow::Flow;
use crate::guard::Guard;
use crate::metrics::Refusal;
use crate::scheduler::{self, Interrupt, RunOptions};
use crate::serve::Runner;

/// The flow, served as one MCP tool.
#[derive(Clone)]
pub struct FlowServer {
    flow: &'static Flow,
    /// Write each run's events to stderr.
    events: bool,
    /// Under `<bin> serve`: the process's run slots (`--max-runs`), metrics and HTTP client,
    /// shared with `POST /run` and the webhook.
    runner: Option<Arc<Runner>>,
}

impl FlowServer {
    pub fn new(flow: &'static Flow, events: bool) -> Self {
        FlowServer { flow, events, runner: None }
    }

    /// A tool whose runs are those of `<bin> serve`'s runner.
    pub(crate) fn with_runner(flow: &'static Flow, events: bool, runner: Arc<Runner>) -> Self {
        FlowServer { flow, events, runner: Some(runner) }
    }

    /// The input schema as the tool takes it, and whether the input is wrapped in `input`.
    fn input_schema(&self) -> (JsonObject, bool) {
        let schema: Value = self.flow.input_schema.and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
        match schema {
            Value::Null => (object(json!({"type": "object"})), false),
            Value::Object(map) if map.get("type").and_then(Value::as_str) == Some("object") => (map, false),
            other => (object(json!({"type": "object", "properties": {"input": other}, "required": ["input"]})), true),
        }
    }

    /// The run result's schema, with the flow's outputs as flowc typed them.
    fn output_schema(&self) -> JsonObject {
        let typed = self.flow.outputs_schema.and_then(|s| serde_json::from_str::<Value>(s).ok());
        let outputs: serde_json::Map<String, Value> = self
            .flow
            .nodes
            .iter()
            .filter_map(|n| n.output)
            .map(|name| {
                let schema = typed.as_ref().and_then(|t| t["properties"].get(name)).cloned().unwrap_or(json!({}));
                (name.to_owned(), schema)
            })
            .collect();
        object(json!({
            "type": "object",
            "properties": {
                "flow": {"type": "string"},
                "run_id": {"type": "string"},
                "status": {"enum": ["success", "partial", "error", "cancelled"]},
                "started_at": {"type": "string"},
                "duration_ms": {"type": "integer"},
                "outputs": {"type": "object", "properties": outputs},
                "nodes": {"type": "object", "additionalProperties": {"type": "object"}}
            },
            "required": ["flow", "run_id", "status", "outputs", "nodes"]
        }))
    }

    fn tool(&self) -> Tool {
        let flow = self.flow;
        let description = if flow.description.is_empty() { flow.name.to_owned() } else { flow.description.to_owned() };
        Tool::new(flow.id, description, Arc::new(self.input_schema().0))
            .with_title(flow.name)
            .with_raw_output_schema(Arc::new(self.output_schema()))
    }

    async fn run(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> CallToolResult {
        let flow = self.flow;
        let mut input = Value::Object(request.arguments.unwrap_or_default());
        let (_, wrapped) = self.input_schema();
        if wrapped {
            input = input.get("input").cloned().unwrap_or(Value::Null);
        }
        // Under serve, a run needs one of `--max-runs` slots, as a run of `POST /run` does.
        let permit = match &self.runner {
            None => None,
            Some(runner) => match runner.admit() {
                Ok(permit) => Some(permit),
                Err(message) => return CallToolResult::error(vec![ContentBlock::text(message)]),
            },
        };
        let input = match crate::cli::prepare(flow, input) {
            Ok(input) => input,
            Err(message) => {
                if let Some(runner) = &self.runner {
                    runner.metrics.refused(Refusal::BadInput);
                }
                return CallToolResult::error(vec![ContentBlock::text(message)]);
            }
        };
        let interrupt = Interrupt::default();
        let mut options = RunOptions { events: self.events, interrupt: interrupt.clone(), ..RunOptions::default() };
        let mut forward = None;
        if let Some(token) = context.meta.get_progress_token() {
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<scheduler::Progress>();
            options.progress = Some(sender);
            let peer = context.peer.clone();
            forward = Some(tokio::spawn(async move {
                while let Some(p) = receiver.recv().await {
                    let status = match p.status {
                        Status::Success => "success",
                        Status::Error => "error",
                        Status::Skipped => "skipped",
                    };
                    let mut param = ProgressNotificationParam::new(token.clone(), p.done as f64);
                    param.total = Some(p.total as f64);
                    param.message = Some(format!("node `{}`: {status}", p.node));
                    let _ = peer.notify_progress(param).await;
                }
            }));
        }
        let cancelled = context.ct.clone();
        let watcher = tokio::spawn(async move {
            cancelled.cancelled().await;
            interrupt.interrupt("the MCP request was cancelled");
        });
        let result = match &self.runner {
            None => scheduler::run(flow, input, options).await,
            Some(runner) => runner.execute(input, options, "mcp").await,
        };
        drop(permit);
        watcher.abort();
        if let Some(forward) = forward {
            // The sender went with the options: the forwarder ends once it has sent the rest.
            let _ = forward.await;
        }
        match result {
            Ok(result) => to_tool_result(&result),
            Err(error) => CallToolResult::error(vec![ContentBlock::text(error.to_string())]),
        }
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// The run result as a tool result: structured, with a summary; `isError` unless it went well.
fn to_tool_result(result: &RunResult) -> CallToolResult {
    let status = match result.status {
        RunStatus::Success => "success",
        RunStatus::Partial => "partial",
        RunStatus::Error => "error",
        RunStatus::Cancelled => "cancelled",
    };
    let mut summary = format!("flow `{}` ran: {status} in {} ms", result.flow, result.duration_ms);
    for envelope in &result.nodes {
        if let Some(error) = &envelope.error {
            summary.push_str(&format!("\nnode `{}` failed: {error}", envelope.node));
        }
    }
    if !result.outputs.is_empty() {
        let outputs = Value::Object(result.outputs.clone()).to_string();
        summary.push_str(&format!("\noutputs: {}", crate::http::clip(&outputs, 2000)));
    }
    let mut tool_result = CallToolResult::success(vec![ContentBlock::text(summary)]);
    tool_result.structured_content = Some(serde_json::to_value(result).unwrap_or(Value::Null));
    tool_result.is_error = Some(matches!(result.status, RunStatus::Error | RunStatus::Cancelled));
    tool_result
}

impl ServerHandler for FlowServer {
    fn get_info(&self) -> InitializeResult {
        let mut capabilities = ServerCapabilities::default();
        capabilities.tools = Some(ToolsCapability::default());
        let info = InitializeResult::new(capabilities).with_server_info(Implementation::new(self.flow.id, "0.1.0"));
        if self.flow.description.is_empty() {
            info
        } else {
            info.with_instructions(self.flow.description)
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![self.tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != self.flow.id {
            let message = format!("there is no tool `{}`; this server has one tool, `{}`", request.name, self.flow.id);
            return Err(ErrorData::invalid_params(message, None));
        }
        Ok(CallToolResponse::Complete(self.run(request, context).await))
    }
}

/// Serves the flow over stdio until stdin closes.
pub async fn serve_stdio(flow: &'static Flow, events: bool) -> Result<(), String> {
    let service = FlowServer::new(flow, events)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP handshake failed: {e}"))?;
    service.waiting().await.map(|_| ()).map_err(|e| e.to_string())
}

/// How the Streamable HTTP endpoint guards itself and bounds its sessions.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Its `Host`, `Origin` and bearer checks ([`crate::guard`]).
    pub guard: Guard,
    /// Write each run's events to stderr.
    pub events: bool,
    /// Sessions open at once; an `initialize` past that is answered 503 with `Retry-After`.
    pub max_sessions: usize,
    /// A session without a request for this long is closed.
    pub session_idle: Duration,
}

/// The default of `--max-mcp-sessions`. A session holds about 130 KB (its worker task and
/// channels), so this bounds them to about 17 MB.
pub const DEFAULT_MAX_SESSIONS: usize = 128;
/// The default of `--mcp-session-idle-secs`.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(120);

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            guard: Guard::default(),
            events: false,
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle: DEFAULT_SESSION_IDLE,
        }
    }
}

/// The `/mcp` endpoint as an axum router (also what `serve` mounts, with its runner).
pub(crate) fn router(flow: &'static Flow, options: HttpOptions, runner: Option<Arc<Runner>>) -> axum::Router {
    // The Host and Origin checks are the guard's, the same as `POST /run`'s.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(options.session_idle);
    let sessions = Arc::new(manager);
    let events = options.events;
    let make = {
        let runner = runner.clone();
        move || {
            Ok(match &runner {
                None => FlowServer::new(flow, events),
                Some(runner) => FlowServer::with_runner(flow, events, runner.clone()),
            })
        }
    };
    let service = StreamableHttpService::new(make, sessions.clone(), config);
    if let Some(runner) = &runner {
        let _ = runner.mcp_sessions.set(sessions.clone());
    }
    let limits = Arc::new(Limits { guard: options.guard, sessions, max_sessions: options.max_sessions, runner });
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(limits, guard_sessions))
}

/// What the middleware in front of `/mcp` checks.
struct Limits {
    guard: Guard,
    sessions: Arc<LocalSessionManager>,
    max_sessions: usize,
    runner: Option<Arc<Runner>>,
}

/// Host, Origin and bearer first; then, for a request that would open a session (a POST
/// without `Mcp-Session-Id`), room for one more session.
async fn guard_sessions(
    axum::extract::State(limits): axum::extract::State<Arc<Limits>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let refuse = |why: Refusal| {
        if let Some(runner) = &limits.runner {
            runner.metrics.refused(why);
        }
    };
    if let Err(refused) = limits.guard.check(request.headers(), request.uri().authority().map(|a| a.as_str())) {
        refuse(if refused.status == axum::http::StatusCode::UNAUTHORIZED {
            Refusal::Unauthorized
        } else {
            Refusal::Forbidden
        });
        return refused.into_response();
    }
    let opens = request.method() == axum::http::Method::POST && !request.headers().contains_key("mcp-session-id");
    if opens && limits.sessions.sessions.read().await.len() >= limits.max_sessions {
        refuse(Refusal::McpSessions);
        let message = format!(
            "{} MCP sessions are open already (`--max-mcp-sessions`): close one (DELETE /mcp) or try again",
            limits.max_sessions
        );
        let mut response = crate::guard::json_error(axum::http::StatusCode::SERVICE_UNAVAILABLE, &message);
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        return response;
    }
    next.run(request).await
}

/// Serves the flow over Streamable HTTP at `http://ADDR/mcp` until SIGINT or SIGTERM.
pub async fn serve_http(flow: &'static Flow, addr: SocketAddr, options: HttpOptions) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("serving flow `{}` over MCP at http://{local}/mcp", flow.id);
    crate::serve::serve_connections(listener, router(flow, options, None), crate::serve::Timeouts::default(), async {
        shutdown_signal().await;
    })
    .await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
