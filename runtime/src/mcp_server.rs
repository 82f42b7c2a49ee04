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
use crate::scheduler::{self, Interrupt, RunOptions};

/// The flow, served as one MCP tool.
#[derive(Clone, Copy)]
pub struct FlowServer {
    flow: &'static Flow,
    /// Write each run's events to stderr.
    events: bool,
}

impl FlowServer {
    pub fn new(flow: &'static Flow, events: bool) -> Self {
        FlowServer { flow, events }
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

    /// The run result's schema, with the flow's output names.
    fn output_schema(&self) -> JsonObject {
        let outputs: serde_json::Map<String, Value> =
            self.flow.nodes.iter().filter_map(|n| n.output).map(|name| (name.to_owned(), json!({}))).collect();
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
        let input = match crate::cli::prepare(flow, input) {
            Ok(input) => input,
            Err(message) => return CallToolResult::error(vec![ContentBlock::text(message)]),
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
        let result = scheduler::run(flow, input, options).await;
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

/// How `<bin> mcp --http` guards its endpoint.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// `Host` values accepted besides loopback ones (DNS-rebinding protection).
    pub allow_hosts: Vec<String>,
    /// Browser `Origin`s accepted besides loopback ones; other origins are refused.
    pub allow_origins: Vec<String>,
    /// A bearer token every request must carry.
    pub token: Option<String>,
    /// Write each run's events to stderr.
    pub events: bool,
}

/// The `/mcp` endpoint as an axum router (also what `serve` mounts).
pub fn router(flow: &'static Flow, options: HttpOptions) -> axum::Router {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"].map(String::from).to_vec();
    hosts.extend(options.allow_hosts);
    let mut origins: Vec<String> =
        ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"].map(String::from).to_vec();
    origins.extend(options.allow_origins);
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts).with_allowed_origins(origins);
    let service = StreamableHttpService::new(
        move || Ok(FlowServer::new(flow, options.events)),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    match options.token {
        None => router,
        Some(token) => router.layer(axum::middleware::from_fn(move |request, next| {
            let token = token.clone();
            require_bearer(token, request, next)
        })),
    }
}

async fn require_bearer(
    token: String,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let given = request.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let expected = format!("Bearer {token}");
    if given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
        next.run(request).await
    } else {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response()
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the flow over Streamable HTTP at `http://ADDR/mcp` until SIGINT or SIGTERM.
pub async fn serve_http(flow: &'static Flow, addr: SocketAddr, options: HttpOptions) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("serving flow `{}` over MCP at http://{local}/mcp", flow.id);
    axum::serve(listener, router(flow, options))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
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
