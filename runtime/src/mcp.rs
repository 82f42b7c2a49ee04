//! `mcp_tool`: calls a tool of an MCP server, over stdio (a child process) or Streamable HTTP,
//! with the official Rust SDK (rmcp).
//!
//! A run opens at most one session per distinct [`Server`] (the generated program has one
//! static per distinct server), on first use, and closes every session before the run ends —
//! also when the run fails, hits its deadline or is interrupted. A stdio server runs in its
//! own process group, is killed with its children when the session closes, and (on Linux) is
//! sent SIGKILL by the kernel should this process die without closing it.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Roots are deprecated by the 2026 specification (SEP-2577), but the filesystem reference
// server still takes its allowed directories from them; the client-side path check below is
// what enforces `allowed_directories` whatever the server does.
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ErrorCode, Implementation, ListRootsResult,
    ProtocolVersion, Root, RootsCapabilities, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, Peer, ServiceError, ServiceExt};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::{Error, ErrorKind};
use crate::flow::{Cx, Output};
use crate::http::Http;

/// How long closing a session may take. rmcp closes a stdio server's stdin and waits 3 s for it
/// to exit, then sends SIGTERM and waits 3 s more, then kills it; past this, the process group
/// is killed when the transport is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(8);

/// How much of a stdio server's stderr is kept for error messages.
const STDERR_TAIL_LINES: usize = 20;

/// The environment variables a stdio server inherits from this process; everything else it
/// gets is written in the flow (`env`, `credential_env`). Secrets of other nodes stay here.
const INHERITED_ENV: &[&str] = &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TMPDIR", "TZ"];

/// One MCP server, as the flow describes it.
#[derive(Debug)]
pub struct Server {
    /// A name for messages and metadata, unique in the flow (`files`, `search`).
    pub name: &'static str,
    /// Where its transport comes from.
    pub address: Address,
    /// The directories tools may touch: sent to the server as its roots, and checked against
    /// path arguments before each call. Empty: no restriction from the client.
    pub allowed_directories: &'static [&'static str],
    /// A credential of the flow: sent as `Authorization: Bearer` over HTTP, or put in the
    /// stdio server's environment as `credential_env`.
    pub credential: Option<&'static str>,
}

/// Where a server's transport comes from.
#[derive(Debug)]
pub enum Address {
    /// Written with literals and parameters only: known once the parameters are, so
    /// `<bin> health` can probe it.
    StartUp {
        transport: fn() -> Transport,
        /// The parameters it reads.
        parameters: &'static [&'static str],
    },
    /// It reads run data (these templates): each node renders it when it runs.
    Run { reads: &'static str },
}

/// How to reach a server, rendered. A run has one session per distinct server and transport.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Start `command` with `args` and speak JSON-RPC over its stdin and stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
        cwd: Option<String>,
        /// The environment variable that carries the node's credential.
        credential_env: Option<&'static str>,
    },
    /// Streamable HTTP at `url`.
    Http { url: String, headers: Vec<(&'static str, String)> },
}

/// One call: what an `mcp_tool` node's function builds.
pub struct ToolCall {
    pub server: &'static Server,
    /// How to reach the server, rendered for this call.
    pub transport: Transport,
    /// The tool's name: a literal for an `mcp_tool` node, a listed name for an agent's tool.
    pub tool: std::borrow::Cow<'static, str>,
    /// The arguments, an object.
    pub arguments: Value,
}

/// A tool a server lists, as an agent offers it to a model.
#[derive(Debug, Clone)]
pub struct ListedTool {
    pub name: String,
    pub description: String,
    /// Its `inputSchema`.
    pub input_schema: Value,
}

/// Opens (or reuses) the run's session with `server` over `transport` and lists its tools.
pub async fn list_tools(cx: &Cx, server: &'static Server, transport: Transport) -> Result<Vec<ListedTool>, Error> {
    let (_, session) = open(cx, server, transport).await?;
    Ok(session
        .tools
        .iter()
        .map(|tool| ListedTool {
            name: tool.name.to_string(),
            description: tool.description.as_deref().unwrap_or_default().to_owned(),
            input_schema: Value::Object((*tool.input_schema).clone()),
        })
        .collect())
}

impl ToolCall {
    /// Checks path arguments against the allowed directories, opens (or reuses) the server's
    /// session, checks that it lists the tool, and calls it. The output is `{content,
    /// structured_content, is_error, text}`; a result with `isError` is an error that keeps
    /// that output as its data.
    pub async fn send(self, cx: &Cx) -> Result<Output, Error> {
        let ToolCall { server, transport, tool: name, arguments } = self;
        let tool: &str = &name;
        let arguments = match arguments {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(Error::validation(format!("the arguments of tool `{tool}` must be an object, not {other}")))
            }
        };
        let arguments = check_paths(arguments, &allowed_roots(server)?)?;
        let (key, session) = open(cx, server, transport).await?;
        if !session.tools.iter().any(|t| t.name == tool) {
            let mut names: Vec<&str> = session.tools.iter().map(|t| t.name.as_ref()).collect();
            names.sort_unstable();
            let has = if names.is_empty() { "no tools".to_owned() } else { format!("the tools {}", names.join(", ")) };
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("MCP server `{}` has no tool `{tool}`; it has {has}", server.name),
            )
            .with_code("unknown_tool"));
        }
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let result = match session.peer.call_tool(params).await {
            Ok(result) => result,
            Err(error) => {
                let error = call_error(server, &session, error);
                if error.code.as_deref() == Some("mcp_transport") {
                    cx.run.mcp.forget(&key, &session);
                }
                return Err(error);
            }
        };
        let is_error = result.is_error.unwrap_or(false);
        let text: Vec<&str> = result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.as_str())).collect();
        let text = text.join("\n");
        let content = serde_json::to_value(&result.content).unwrap_or(Value::Null);
        let data = json!({
            "content": content,
            "structured_content": result.structured_content.clone().unwrap_or(Value::Null),
            "is_error": is_error,
            "text": text,
        });
        if is_error {
            let message =
                if text.is_empty() { "the tool reported an error".to_owned() } else { crate::http::clip(&text, 500) };
            return Err(Error::new(ErrorKind::ClientError, format!("tool `{tool}` failed: {message}"))
                .with_code("tool_error")
                .with_data(data));
        }
        let mut output = Output::data(data).with_metadata("server", Value::from(server.name));
        output = output.with_metadata("tool", Value::from(tool));
        if let Some(info) = &session.server_info {
            output = output.with_metadata("server_info", info.clone());
        }
        Ok(output)
    }
}

/// The run's session with `server` over `transport` (opened on first use), and its key. A new
/// OAuth2 token (after a 401) is a new session.
async fn open(cx: &Cx, server: &'static Server, transport: Transport) -> Result<(Key, Arc<Session>), Error> {
    let roots = allowed_roots(server)?;
    let secret = match server.credential {
        Some(name) => Some(cx.credential(name).await?),
        None => None,
    };
    let key = (server.name, transport, secret);
    let session = cx.run.mcp.session(server, &key, &roots, cx.http()).await?;
    Ok((key, session))
}

/// A session's key: the server's name, its transport as rendered, and the secret it was
/// opened with.
type Key = (&'static str, Transport, Option<String>);

/// The sessions of one run, keyed by server and rendered transport.
#[derive(Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<Key, Arc<tokio::sync::OnceCell<Arc<Session>>>>>,
    /// Sessions whose transport failed, to be closed with the others.
    retired: Mutex<Vec<RunningService<RoleClient, Client>>>,
}

struct Session {
    peer: Peer<RoleClient>,
    /// Taken out when the session is closed.
    service: Mutex<Option<RunningService<RoleClient, Client>>>,
    tools: Vec<Tool>,
    server_info: Option<Value>,
    /// The last lines a stdio server wrote to stderr.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Sessions {
    async fn session(
        &self,
        server: &'static Server,
        key: &Key,
        roots: &[PathBuf],
        http: &Http,
    ) -> Result<Arc<Session>, Error> {
        let cell = self.open.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().clone();
        // Nodes that use the same server wait for one connection; a failed connection leaves
        // the cell empty, so the next attempt tries again.
        cell.get_or_try_init(|| async { connect(server, &key.1, roots, http, key.2.clone()).await }).await.cloned()
    }

    /// Drops a session whose transport failed, so the next attempt reconnects.
    fn forget(&self, key: &Key, session: &Arc<Session>) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.get(key).and_then(|cell| cell.get()).is_some_and(|s| Arc::ptr_eq(s, session)) {
            open.remove(key);
        }
        if let Some(service) = session.service.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.retired.lock().unwrap_or_else(|e| e.into_inner()).push(service);
        }
    }

    /// Closes every session: stdio servers get their stdin closed, then SIGTERM, then SIGKILL
    /// (with their process group) if they have not exited within a few seconds. Calls still
    /// in flight (of nodes cut by a deadline or an interrupt) end with a transport error.
    pub(crate) async fn close_all(&self) {
        let cells: Vec<_> = self.open.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, c)| c).collect();
        let mut services: Vec<_> = std::mem::take(&mut *self.retired.lock().unwrap_or_else(|e| e.into_inner()));
        for session in cells.iter().filter_map(|cell| cell.get()) {
            services.extend(session.service.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
        let mut closing = tokio::task::JoinSet::new();
        for mut service in services {
            closing.spawn(async move {
                let _ = service.close_with_timeout(CLOSE_TIMEOUT).await;
            });
        }
        while closing.join_next().await.is_some() {}
    }
}

/// The client side of a session: who we are, and the roots we grant.
#[derive(Clone)]
#[allow(deprecated)]
struct Client {
    config: ClientConfig,
    roots: Vec<Root>,
}

#[allow(deprecated)]
impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn list_roots(&self, _context: RequestContext<RoleClient>) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(self.roots.clone()))
    }
}

#[allow(deprecated)]
async fn connect(
    server: &'static Server,
    transport: &Transport,
    roots: &[PathBuf],
    http: &Http,
    secret: Option<String>,
) -> Result<Arc<Session>, Error> {
    let mut capabilities = ClientCapabilities::default();
    if !roots.is_empty() {
        capabilities.roots = Some(RootsCapabilities::default());
    }
    let client = Client {
        // The session starts with the `initialize` handshake, so it offers the newest revision
        // that has one: rmcp's default, its newest revision (2026-07-28), moved the lifecycle
        // into per-request `_meta` (SEP-2567), and naming it in `initialize` contradicts itself.
        config: ClientConfig::new(capabilities, Implementation::new("flowc-runtime", env!("CARGO_PKG_VERSION")))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE),
        roots: roots.iter().map(|dir| Root::new(file_uri(dir)).with_name(dir.display().to_string())).collect(),
    };
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let service = match transport {
        Transport::Stdio { command, args, env, cwd, credential_env } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear();
            for name in INHERITED_ENV {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
            cmd.envs(env.iter().map(|(name, value)| (name, value)));
            if let (Some(var), Some(secret)) = (credential_env, &secret) {
                cmd.env(var, secret);
            }
            if let Some(cwd) = cwd {
                cmd.current_dir(cwd);
            }
            die_with_parent(&mut cmd);
            let mut wrapped = process_wrap::tokio::CommandWrap::from(cmd);
            wrapped.wrap(process_wrap::tokio::ProcessGroup::leader()).wrap(process_wrap::tokio::KillOnDrop);
            let (transport, pipe) =
                TokioChildProcess::builder(wrapped).stderr(Stdio::piped()).spawn().map_err(|e| {
                    let hint =
                        if e.kind() == std::io::ErrorKind::NotFound { " (is it installed and on PATH?)" } else { "" };
                    Error::config(format!("cannot start MCP server `{}`: `{command}`: {e}{hint}", server.name))
                        .with_code("mcp_spawn")
                })?;
            if let Some(pipe) = pipe {
                let tail = stderr.clone();
                tokio::spawn(async move {
                    let mut lines = BufReader::new(pipe).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                        if tail.len() == STDERR_TAIL_LINES {
                            tail.remove(0);
                        }
                        tail.push(line);
                    }
                });
            }
            client.serve(transport).await.map_err(|e| {
                let said = stderr_tail(&stderr);
                Error::config(format!(
                    "MCP server `{}` did not complete the initialize handshake: {e}{said}",
                    server.name
                ))
                .with_code("mcp_initialize")
            })?
        }
        Transport::Http { url, headers } => {
            // The URL may come from run data: it must be an http or https URL, and an IP
            // address in it is not resolved, so the resolver cannot refuse it.
            let parsed = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
            let Some(parsed) = parsed else {
                return Err(Error::validation(format!(
                    "the URL of MCP server `{}` is `{}`, which is not an http or https URL",
                    server.name,
                    crate::http::clip(url, 200)
                ))
                .with_code("mcp_url"));
            };
            http.check_destination(&parsed)?;
            let mut custom = HashMap::new();
            for (name, value) in headers {
                let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| Error::config(format!("`{name}` is not an HTTP header name")))?;
                let value = reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| Error::config(format!("the value of header `{name}` cannot be sent")))?;
                custom.insert(name, value);
            }
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom);
            if let Some(secret) = &secret {
                config = config.auth_header(secret.clone());
            }
            let transport = StreamableHttpClientTransport::with_client(http.client().clone(), config);
            client.serve(transport).await.map_err(|e| {
                let mut error = initialize_error(&e);
                error.message = format!("MCP server `{}` at {url}: {}", server.name, error.message);
                error
            })?
        }
    };
    let tools = service.peer().list_all_tools().await.map_err(|e| {
        let mut error = service_error(e);
        error.message = format!("MCP server `{}` did not list its tools: {}", server.name, error.message);
        error
    })?;
    let server_info = service
        .peer()
        .peer_info()
        .and_then(|info| info.server_info.as_ref().map(|i| json!({ "name": i.name, "version": i.version })));
    let peer = service.peer().clone();
    Ok(Arc::new(Session { peer, service: Mutex::new(Some(service)), tools, server_info, stderr }))
}

/// For `<bin> health`: starts (or connects to) `server` by `transport`, completes the
/// handshake, lists its tools and closes the session again. Returns the tools' names, sorted.
pub async fn probe(
    server: &'static Server,
    transport: &Transport,
    http: &Http,
    secret: Option<String>,
) -> Result<Vec<String>, Error> {
    let roots = allowed_roots(server)?;
    let session = connect(server, transport, &roots, http, secret).await?;
    let mut names: Vec<String> = session.tools.iter().map(|t| t.name.to_string()).collect();
    names.sort_unstable();
    let service = session.service.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut service) = service {
        let _ = service.close_with_timeout(CLOSE_TIMEOUT).await;
    }
    Ok(names)
}

/// Asks the kernel to SIGKILL the server if this process dies first (Linux only): the last
/// guard for a program killed with SIGKILL, which runs no clean-up of its own.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // async-signal-safe prctl call.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut tokio::process::Command) {}

fn stderr_tail(stderr: &Mutex<Vec<String>>) -> String {
    let tail = stderr.lock().unwrap_or_else(|e| e.into_inner());
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with:\n{}", tail.join("\n"))
    }
}

fn call_error(server: &Server, session: &Session, error: ServiceError) -> Error {
    let transport_failed = matches!(error, ServiceError::TransportClosed | ServiceError::TransportSend(_));
    let mut error = service_error(error);
    if transport_failed {
        error.message = format!("the session with MCP server `{}` ended: {}", server.name, error.message);
        error.message.push_str(&stderr_tail(&session.stderr));
        error = error.with_code("mcp_transport");
    }
    error
}

fn service_error(error: ServiceError) -> Error {
    match error {
        ServiceError::McpError(data) => protocol_error(&data),
        ServiceError::TransportSend(e) => transport_error(e.error.as_ref()),
        ServiceError::TransportClosed => Error::new(ErrorKind::Network, "the connection closed"),
        ServiceError::Timeout { timeout } => {
            Error::timeout(format!("no answer within {} ms", timeout.as_millis())).with_code("mcp_timeout")
        }
        ServiceError::Cancelled { reason } => {
            Error::new(ErrorKind::Cancelled, format!("cancelled: {}", reason.as_deref().unwrap_or("no reason given")))
        }
        other => Error::new(ErrorKind::ClientError, other.to_string()).with_code("mcp_protocol"),
    }
}

/// A JSON-RPC error answer.
fn protocol_error(data: &ErrorData) -> Error {
    let (kind, code) = match data.code {
        ErrorCode::INVALID_PARAMS => (ErrorKind::ClientError, "mcp_invalid_params"),
        ErrorCode::METHOD_NOT_FOUND => (ErrorKind::NotFound, "mcp_method_not_found"),
        ErrorCode::INVALID_REQUEST => (ErrorKind::ClientError, "mcp_invalid_request"),
        ErrorCode::RESOURCE_NOT_FOUND => (ErrorKind::NotFound, "mcp_resource_not_found"),
        _ => (ErrorKind::ServerError, "mcp_error"),
    };
    let mut error = Error::new(kind, format!("{} (JSON-RPC error {})", data.message, data.code.0)).with_code(code);
    if let Some(details) = &data.data {
        error = error.with_data(details.clone());
    }
    error
}

fn initialize_error(error: &rmcp::service::ClientInitializeError) -> Error {
    use rmcp::service::ClientInitializeError as E;
    match error {
        E::TransportError { error, .. } => transport_error(error.error.as_ref()),
        E::JsonRpcError(data) => protocol_error(data),
        E::ConnectionClosed(_) => Error::new(ErrorKind::Network, error.to_string()).with_code("connect"),
        other => Error::new(ErrorKind::ClientError, other.to_string()).with_code("mcp_protocol"),
    }
}

/// An error of the Streamable HTTP transport, by what the server answered.
fn transport_error(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Error {
    let Some(http) = error.downcast_ref::<StreamableHttpError<reqwest::Error>>() else {
        return Error::new(ErrorKind::Network, error.to_string()).with_code("network");
    };
    match http {
        StreamableHttpError::HttpStatus(status) => {
            let wait = status.retry_after.as_deref().and_then(crate::http::parse_retry_after);
            crate::http::status_error("the server", status.status, &Value::Null).with_retry_after(wait)
        }
        StreamableHttpError::AuthRequired(_) | StreamableHttpError::InsufficientScope(_) => {
            Error::new(ErrorKind::Permission, format!("the server refused the credentials: {http}"))
                .with_code("http_401")
                .with_status(401)
        }
        StreamableHttpError::Client(e) => crate::http::transport_error("the server", e),
        // rmcp reports a 401 without `WWW-Authenticate`, a 403 without a scope challenge and
        // other unexpected statuses this way, the status only in the text ("HTTP 401 ...").
        StreamableHttpError::UnexpectedServerResponse(text) => match status_in(text) {
            Some(status) => crate::http::status_error("the server", status, &Value::Null),
            None => Error::new(ErrorKind::ClientError, http.to_string()).with_code("mcp_protocol"),
        },
        other => Error::new(ErrorKind::Network, other.to_string()).with_code("network"),
    }
}

/// The status at the start of rmcp's "HTTP 401 Unauthorized: ..." messages.
fn status_in(text: &str) -> Option<u16> {
    let digits = text.strip_prefix("HTTP ")?.get(..3)?;
    digits.parse().ok().filter(|status| (100..600).contains(status))
}

/// The canonical allowed directories of a server. Each must exist.
fn allowed_roots(server: &Server) -> Result<Vec<PathBuf>, Error> {
    server
        .allowed_directories
        .iter()
        .map(|dir| {
            std::fs::canonicalize(expand_home(dir)).ok().filter(|p| p.is_dir()).ok_or_else(|| {
                Error::config(format!(
                    "the allowed directory `{dir}` of MCP server `{}` is not a directory here",
                    server.name
                ))
                .with_code("allowed_directory")
            })
        })
        .collect()
}

/// Whether an argument holds a path (or paths): `path`, `paths`, `source`, `destination`,
/// or a name ending in `path`, `paths`, `dir` or `directory` (any case).
pub fn is_path_argument(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "source" | "destination")
        || ["path", "paths", "dir", "directory"].iter().any(|end| name.ends_with(end))
}

/// Refuses, before the call, path arguments that point outside every allowed directory, and
/// makes relative ones absolute (from the program's working directory, as they were checked:
/// servers differ in what they resolve a relative path against).
fn check_paths(mut arguments: Map<String, Value>, roots: &[PathBuf]) -> Result<Map<String, Value>, Error> {
    if roots.is_empty() {
        return Ok(arguments);
    }
    for (name, value) in arguments.iter_mut().filter(|(name, _)| is_path_argument(name)) {
        let paths: Vec<&mut String> = match value {
            Value::String(path) => vec![path],
            Value::Array(items) => items
                .iter_mut()
                .filter_map(|item| match item {
                    Value::String(path) => Some(path),
                    _ => None,
                })
                .collect(),
            _ => continue,
        };
        for path in paths {
            let inside = resolve(path).is_some_and(|p| roots.iter().any(|root| p.starts_with(root)));
            if !inside {
                let dirs: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
                return Err(Error::new(
                    ErrorKind::Permission,
                    format!(
                        "argument `{name}` is `{path}`, which is outside the allowed directories ({})",
                        dirs.join(", ")
                    ),
                )
                .with_code("path_not_allowed"));
            }
            if let Some(absolute) = absolute(path) {
                *path = absolute.to_string_lossy().into_owned();
            }
        }
    }
    Ok(arguments)
}

/// `path` made absolute: `~` expanded, a relative path joined to the working directory.
fn absolute(path: &str) -> Option<PathBuf> {
    let path = expand_home(path);
    if path.is_absolute() {
        Some(path)
    } else {
        Some(std::env::current_dir().ok()?.join(path))
    }
}

/// Where a path really points: its longest existing prefix with symlinks resolved, then the
/// rest. `None` when that cannot be known (`..` after a part that does not exist yet, or a
/// dangling symlink), which the caller refuses.
fn resolve(path: &str) -> Option<PathBuf> {
    let path = absolute(path)?;
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    while std::fs::metadata(existing).is_err() {
        if std::fs::symlink_metadata(existing).is_ok() {
            return None;
        }
        rest.push(existing.file_name()?);
        existing = existing.parent()?;
    }
    if path.components().skip(existing.components().count()).any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut resolved = std::fs::canonicalize(existing).ok()?;
    resolved.extend(rest.iter().rev());
    Some(resolved)
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/").or((path == "~").then_some("")), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn file_uri(dir: &Path) -> String {
    let mut uri = String::from("file://");
    for byte in dir.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_arguments_by_name() {
        for name in ["path", "paths", "source", "destination", "filePath", "output_dir", "Directory"] {
            assert!(is_path_argument(name), "{name}");
        }
        for name in ["content", "pattern", "edits", "message", "dry_run"] {
            assert!(!is_path_argument(name), "{name}");
        }
    }

    #[test]
    fn paths_resolve_through_symlinks_and_dotdot() {
        let base = std::env::temp_dir().join(format!("flowc-mcp-paths-{}", std::process::id()));
        let allowed = base.join("allowed");
        let outside = base.join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("escape")).unwrap();
        let roots = vec![std::fs::canonicalize(&allowed).unwrap()];
        let check = |path: &Path| {
            let mut args = Map::new();
            args.insert("path".into(), Value::from(path.to_str().unwrap()));
            check_paths(args, &roots)
        };
        assert!(check(&allowed.join("new.txt")).is_ok());
        assert!(check(&allowed.join("sub/deeper/new.txt")).is_ok());
        let refused = check(&allowed.join("../outside/x")).unwrap_err();
        assert_eq!((refused.kind, refused.code.as_deref()), (ErrorKind::Permission, Some("path_not_allowed")));
        assert!(check(&allowed.join("escape/x")).is_err(), "a symlink out of the directory");
        assert!(check(&allowed.join("missing/../../outside")).is_err(), "`..` after a missing part");
        assert!(check(Path::new("/etc/passwd")).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn roots_are_file_uris() {
        assert_eq!(file_uri(Path::new("/tmp/a b/c")), "file:///tmp/a%20b/c");
    }
}
