//! `<bin> serve`: the flow as an HTTP service.
//!
//! | route | what | protected by |
//! |---|---|---|
//! | `POST /run` | runs the flow on the request body (`application/json`; empty: `null`) and answers the run result | Host and Origin checks; the bearer with `--auth-credential`; off for a flow triggered by a signed webhook unless `--auth-credential` is given |
//! | the `webhook` node's method and path | checks the signature (with `hmac`), then runs the flow on the body | its signature; without `hmac`, the bearer with `--auth-credential` |
//! | `GET /healthz` | 200 while the process serves | open (probes) |
//! | `GET /readyz` | 200 while it accepts runs, 503 once it is stopping; `?deep=1`: the `<bin> health` report (503 when a check fails) | open; `?deep=1` needs the bearer with `--auth-credential` (it calls out) |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) | open |
//! | `/mcp` | the flow as an MCP tool, over Streamable HTTP ([`crate::mcp_server`]) | Host and Origin checks; the bearer with `--auth-credential`; `--max-mcp-sessions` |
//!
//! The checks are [`crate::guard`]'s. A run answers 200 when its status is `success` or
//! `partial`, 500 for `error`; input that does not match the input schema is 400, a body over
//! `--max-body` 413, a body that is not JSON 415, a foreign Host or Origin 403, a missing
//! bearer or bad signature 401, and 503 with `Retry-After` when `--max-runs` runs are going on
//! already (tool calls over `/mcp` take the same slots). Runs do not depend on their request:
//! a client that goes away does not cancel its run. The HTTP client, rate limits and circuit
//! breakers are shared by every run of the process. A `schedule` node fires the flow
//! in-process (`--no-schedule` turns that off); a scheduled run does not start while the
//! previous one is still going on. A connection that has not sent its request's headers within
//! `--header-timeout-secs`, or its body within `--body-timeout-secs`, is dropped (408 for the
//! body).
//!
//! SIGTERM or SIGINT stop the listener, let every run in flight finish (and answer), then the
//! program exits 0. Logs are JSON lines on stderr, one per run with its `run_id`.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, post, MethodFilter};
use axum::Router;
use futures::future::CatchUnwind;
use futures::FutureExt;
use serde_json::{json, Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TrackedFuture;
use tokio_util::task::TaskTracker;

use crate::envelope::{now_rfc3339, RunResult, RunStatus};
use crate::events::Events;
use crate::flow::{Fired, Flow, Trigger};
use crate::guard::Guard;
use crate::http::Http;
use crate::metrics::{Metrics, Refusal};
use crate::schedule::Schedule;
use crate::scheduler::{self, RunOptions};
use crate::webhook::{Delivery, Rejection, Verifier, Webhook};

/// The options of `<bin> serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// Runs going on at once; one more request is answered 503.
    pub max_runs: usize,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// Fire the flow's `schedule` node.
    pub schedule: bool,
    /// Write each run's progress events to stderr.
    pub events: bool,
    /// The Host, Origin and bearer checks of the routes that run the flow.
    pub guard: Guard,
    /// `/mcp`'s sessions (its guard is `guard`).
    pub mcp: crate::mcp_server::HttpOptions,
    /// Signed webhook deliveries remembered within the replay window, at the most.
    pub replay_cache: usize,
    pub timeouts: Timeouts,
    /// Refuse requests to private addresses, whatever the flow's settings say.
    pub deny_private_networks: bool,
}

/// How long a client may take to send its request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the connection (or the previous answer) to the end of the request's headers.
    pub headers: Duration,
    /// For the whole request body.
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { headers: Duration::from_secs(10), body: Duration::from_secs(30) }
    }
}

/// Who may call `POST /run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunRoute {
    /// Anyone who passes the Host and Origin checks (no `--auth-credential`).
    Open,
    /// Only with the bearer of `--auth-credential`.
    Bearer,
    /// Nobody: the flow is triggered by a signed webhook, and no `--auth-credential` was given,
    /// so `/run` would be a way around the signature.
    Off,
}

/// The runs of a served process: its run slots, HTTP client and metrics, shared by
/// `POST /run`, the webhook, the schedule and `/mcp`'s tool calls.
pub(crate) struct Runner {
    pub(crate) flow: &'static Flow,
    http: Http,
    runs: Arc<Semaphore>,
    max_runs: usize,
    events: bool,
    pub(crate) metrics: Metrics,
    /// `/mcp`'s sessions, for the gauge in `/metrics`.
    pub(crate) mcp_sessions:
        OnceLock<Arc<rmcp::transport::streamable_http_server::session::local::LocalSessionManager>>,
}

impl Runner {
    /// One of the `--max-runs` slots, or why there is none (counted as `busy`).
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, String> {
        self.runs.clone().try_acquire_owned().map_err(|_| {
            self.metrics.refused(Refusal::Busy);
            format!("{} runs are going on already (`--max-runs`): try again", self.max_runs)
        })
    }

    /// Runs the flow once with the process's HTTP client, counts it, logs it.
    pub(crate) async fn execute(
        &self,
        input: Value,
        mut options: RunOptions,
        trigger: &'static str,
    ) -> Result<RunResult, crate::error::Error> {
        self.metrics.started();
        options.events = self.events;
        options.http = Some(self.http.clone());
        match scheduler::run(self.flow, input, options).await {
            Ok(result) => {
                self.metrics.finished(&result);
                log(
                    "info",
                    self.flow,
                    "run finished",
                    json!({ "run_id": result.run_id, "trigger": trigger, "status": result.status, "duration_ms": result.duration_ms }),
                );
                Ok(result)
            }
            Err(error) => {
                self.metrics.abandoned();
                log(
                    "error",
                    self.flow,
                    "the run could not start",
                    json!({ "trigger": trigger, "error": error.to_string() }),
                );
                Err(error)
            }
        }
    }
}

/// What every request handler shares.
struct Service {
    runner: Arc<Runner>,
    webhook: Option<&'static Webhook>,
    verifier: Option<Verifier>,
    run_route: RunRoute,
    /// Runs, detached from their requests: shutdown waits for them.
    tracker: TaskTracker,
    ready: AtomicBool,
    options: ServeOptions,
}

impl Service {
    fn flow(&self) -> &'static Flow {
        self.runner.flow
    }

    fn metrics(&self) -> &Metrics {
        &self.runner.metrics
    }
}

/// Serves `flow` until SIGTERM or SIGINT, then waits for the runs in flight.
pub async fn serve(flow: &'static Flow, options: ServeOptions) -> Result<(), String> {
    crate::cli::check_filters(flow)?;
    let webhook = flow.nodes.iter().find_map(|n| match n.trigger {
        Some(Trigger::Webhook(hook)) => Some(hook),
        _ => None,
    });
    let schedule = flow.nodes.iter().find_map(|n| match n.trigger {
        Some(Trigger::Schedule(schedule)) => Some(schedule),
        _ => None,
    });
    let verifier = match webhook.and_then(|hook| hook.hmac) {
        None => None,
        Some(hmac) => {
            let secret =
                flow.credential(hmac.credential).map_err(|e| format!("the webhook's signing secret: {}", e.message))?;
            Some(Verifier::new(hmac, secret, options.replay_cache))
        }
    };
    let run_route = match (&options.guard.token, &verifier) {
        (Some(_), _) => RunRoute::Bearer,
        (None, Some(_)) => RunRoute::Off,
        (None, None) => RunRoute::Open,
    };
    if let Some(schedule) = schedule {
        schedule.next_after(chrono::Utc::now())?;
    }
    // Breakers of a served flow outlive each run; their events go out with the process's id.
    let events = Events::new(options.events, flow.id, "serve".to_owned());
    let http = Http::for_flow(flow, &events, options.deny_private_networks).map_err(|e| e.message)?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;

    let runner = Arc::new(Runner {
        flow,
        http,
        runs: Arc::new(Semaphore::new(options.max_runs.max(1))),
        max_runs: options.max_runs,
        events: options.events,
        metrics: Metrics::new(flow.id),
        mcp_sessions: OnceLock::new(),
    });
    let service = Arc::new(Service {
        runner: runner.clone(),
        webhook,
        verifier,
        run_route,
        tracker: TaskTracker::new(),
        ready: AtomicBool::new(true),
        options: options.clone(),
    });
    let mut app = Router::new()
        .route("/run", post(run))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if let Some(hook) = webhook {
        let method = axum::http::Method::from_bytes(hook.method.as_bytes()).map_err(|e| e.to_string())?;
        let filter = MethodFilter::try_from(method).map_err(|e| e.to_string())?;
        app = app.route(hook.path, on(filter, webhook_request));
    }
    let mcp_options = crate::mcp_server::HttpOptions { guard: options.guard.clone(), ..options.mcp.clone() };
    let mcp = crate::mcp_server::router(flow, mcp_options, Some(runner));
    let app = app.fallback(not_found).with_state(service.clone()).merge(mcp);

    let stopping = CancellationToken::new();
    if let (Some(schedule), true) = (schedule, options.schedule) {
        service.tracker.spawn(fire_on_schedule(service.clone(), schedule, stopping.clone()));
    }
    log(
        "info",
        flow,
        "serving",
        json!({ "addr": local.to_string(), "webhook": webhook.map(|h| format!("{} {}", h.method, h.path)),
                "schedule": schedule.filter(|_| options.schedule).map(|s| format!("{} ({})", s.cron, s.timezone)),
                "run": match run_route { RunRoute::Open => "open", RunRoute::Bearer => "bearer", RunRoute::Off => "off" } }),
    );
    if run_route == RunRoute::Open && !local.ip().is_loopback() {
        log(
            "warn",
            flow,
            "POST /run and /mcp run the flow for anyone who can reach this address: \
             give `--auth-credential NAME` to require a bearer",
            json!({ "addr": local.to_string() }),
        );
    }
    let stop = {
        let service = service.clone();
        let stopping = stopping.clone();
        async move {
            let signal = shutdown_signal().await;
            service.ready.store(false, Ordering::SeqCst);
            stopping.cancel();
            log(
                "info",
                service.flow(),
                "stopping: no new requests, waiting for the runs in flight",
                json!({ "signal": signal }),
            );
        }
    };
    serve_connections(listener, app, options.timeouts, stop).await?;
    service.tracker.close();
    service.tracker.wait().await;
    log("info", flow, "stopped", json!({}));
    Ok(())
}

/// Accepts connections and serves `app` on each (HTTP/1.1 and HTTP/2) until `stop` finishes,
/// then waits for the requests in flight. (Not `axum::serve`: it sets no timer, so a client
/// that never finishes its headers would hold its connection forever.)
pub(crate) async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    timeouts: Timeouts,
    stop: impl Future<Output = ()>,
) -> Result<(), String> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.headers);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let service = TowerToHyperService::new(app);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        _ => std::future::pending().await,
    }
}

/// One JSON line on stderr. (A logging framework would add nothing here: the program writes
/// a handful of kinds of line, each already a JSON object.)
fn log(level: &str, flow: &Flow, message: &str, fields: Value) {
    let mut line = json!({ "timestamp": now_rfc3339(), "level": level, "flow": flow.id, "message": message });
    if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
        line.extend(fields);
    }
    // Formatted first, then written at once: `eprintln!` of a JSON value is one small write
    // per token to the unbuffered stderr, a cost on every run.
    let mut text = line.to_string();
    text.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    // Serialised straight into the answer's bytes (a run result is not turned into a `Value`
    // first); a value that cannot be serialised answers 500.
    let (status, body) = match serde_json::to_vec(body) {
        Ok(bytes) => (status, bytes),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": e.to_string() }).to_string().into_bytes()),
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({ "error": message.into() }))
}

fn busy_response(message: String, retry_after_secs: u64) -> Response {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// A refusal of the guard, counted.
fn refused(service: &Service, refused: crate::guard::Refused) -> Response {
    let why = if refused.status == StatusCode::UNAUTHORIZED { Refusal::Unauthorized } else { Refusal::Forbidden };
    service.metrics().refused(why);
    refused.into_response()
}

/// Reads a body of at most `--max-body` bytes, within `--body-timeout-secs`.
async fn read_body(service: &Service, body: Body) -> Result<Bytes, Response> {
    let limit = service.options.max_body;
    match tokio::time::timeout(service.options.timeouts.body, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => {
            service.metrics().refused(Refusal::TooLarge);
            Err(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {limit} bytes (`--max-body`)"),
            ))
        }
        Err(_) => {
            service.metrics().refused(Refusal::TimedOut);
            let mut response = error_response(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s (`--body-timeout-secs`)",
                    service.options.timeouts.body.as_secs()
                ),
            );
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        }
    }
}

/// A body as the run's input: JSON, or the text itself, or `null` when empty.
fn body_value(bytes: &[u8], must_be_json: bool) -> Result<Value, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(e) if must_be_json => Err(format!("the request body is not JSON: {e}")),
        Err(_) => Ok(Value::String(String::from_utf8_lossy(bytes).into_owned())),
    }
}

/// `application/json`, `application/json; charset=utf-8`, `application/problem+json`, …
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn run(State(service): State<Arc<Service>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(refusal) = service.options.guard.check_browser(&parts.headers, authority(&parts)) {
        return refused(&service, refusal);
    }
    match service.run_route {
        RunRoute::Open => {}
        RunRoute::Bearer => {
            if let Err(refusal) = service.options.guard.check_bearer(&parts.headers) {
                return refused(&service, refusal);
            }
        }
        RunRoute::Off => {
            service.metrics().refused(Refusal::Forbidden);
            return error_response(
                StatusCode::FORBIDDEN,
                "POST /run is off: this flow is triggered by a signed webhook, and a run by hand would go \
                 around its signature; start `serve` with `--auth-credential NAME` to run it with a bearer",
            );
        }
    }
    let bytes = match read_body(&service, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    // A browser can send a cross-site form or `text/plain` post without asking first; it cannot
    // send `application/json` that way.
    if !bytes.is_empty() && !is_json(parts.headers.get(header::CONTENT_TYPE)) {
        service.metrics().refused(Refusal::BadInput);
        return error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, "POST /run takes `Content-Type: application/json`");
    }
    match body_value(&bytes, true) {
        Ok(input) => start(&service, input, Fired::Manual, "run", crate::webhook::Response::RunResult, None).await,
        Err(message) => {
            service.metrics().refused(Refusal::BadInput);
            error_response(StatusCode::BAD_REQUEST, message)
        }
    }
}

/// The request's authority when it has no `Host` header (HTTP/2).
fn authority(parts: &Parts) -> Option<&str> {
    parts.uri.authority().map(|a| a.as_str())
}

async fn webhook_request(State(service): State<Arc<Service>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // A webhook is called by another service under its public name, so its Host is not
    // checked; without a signature, `--auth-credential` is what keeps strangers out.
    if service.verifier.is_none() {
        if let Err(refusal) = service.options.guard.check_bearer(&parts.headers) {
            return refused(&service, refusal);
        }
    }
    let bytes = match read_body(&service, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let mut delivery = None;
    if let Some(verifier) = &service.verifier {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        match verifier.verify(header, &bytes, now) {
            Ok(verified) => delivery = Some(verified),
            Err(rejection) => return rejected(&service, rejection),
        }
    }
    let body = body_value(&bytes, false).unwrap_or(Value::Null);
    let query: Map<String, Value> = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    // Built from its parts (`json!` would copy each of them): the body once as the run's
    // input, once in the request the webhook node yields.
    let mut request = Map::with_capacity(5);
    request.insert("method".to_owned(), Value::from(parts.method.as_str()));
    request.insert("path".to_owned(), Value::from(parts.uri.path()));
    request.insert("query".to_owned(), Value::Object(query));
    request.insert("headers".to_owned(), Value::Object(recorded_headers(&parts.headers)));
    request.insert("body".to_owned(), body.clone());
    let response = service.webhook.map_or(crate::webhook::Response::RunResult, |hook| hook.response);
    start(&service, body, Fired::Webhook(Value::Object(request)), "webhook", response, delivery).await
}

/// A webhook request refused by its verifier: 401, or 503 when the replay cache is full.
fn rejected(service: &Service, rejection: Rejection) -> Response {
    let (why, level) = match rejection {
        Rejection::CacheFull { .. } => (Refusal::ReplayCacheFull, "error"),
        _ => (Refusal::Unauthorized, "warn"),
    };
    service.metrics().refused(why);
    log(level, service.flow(), "webhook request refused", json!({ "reason": rejection.to_string() }));
    match rejection {
        Rejection::CacheFull { retry_after_secs, .. } => busy_response(rejection.to_string(), retry_after_secs),
        _ => error_response(StatusCode::UNAUTHORIZED, rejection.to_string()),
    }
}

/// The request's headers as the webhook node yields them: names in lower case, repeated ones
/// joined with `, `; credentials the sender presents (`authorization`, `cookie`) left out, so
/// they never reach envelopes.
fn recorded_headers(headers: &HeaderMap) -> Map<String, Value> {
    crate::http::headers_object(headers, &["authorization", "proxy-authorization", "cookie"])
}

/// Starts a run unless `--max-runs` are going on, and answers its result. A signed webhook's
/// delivery is recorded as received only here, once the run has its slot and its input is
/// valid. The run goes on if the client goes away, and shutdown waits for it ([`Detachable`]).
async fn start(
    service: &Arc<Service>,
    input: Value,
    fired: Fired,
    trigger: &'static str,
    answer: crate::webhook::Response,
    delivery: Option<Delivery>,
) -> Response {
    let permit = match service.runner.admit() {
        Ok(permit) => permit,
        Err(message) => return busy_response(message, 1),
    };
    let input = match crate::cli::prepare(service.flow(), input) {
        Ok(input) => input,
        Err(message) => {
            service.metrics().refused(Refusal::BadInput);
            return error_response(StatusCode::BAD_REQUEST, message);
        }
    };
    if let (Some(verifier), Some(delivery)) = (&service.verifier, &delivery) {
        if let Err(rejection) = verifier.admit(delivery) {
            return rejected(service, rejection);
        }
    }
    let run = {
        let runner = service.runner.clone();
        async move {
            let _permit = permit;
            let options = RunOptions { fired, ..Default::default() };
            runner.execute(input, options, trigger).await
        }
    };
    match Detachable::new(&service.tracker, run).await {
        Ok(Ok(result)) => {
            let status = match result.status {
                RunStatus::Success | RunStatus::Partial => StatusCode::OK,
                RunStatus::Error => StatusCode::INTERNAL_SERVER_ERROR,
                RunStatus::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            };
            match answer {
                crate::webhook::Response::RunResult => json_response(status, &result),
                crate::webhook::Response::Outputs => json_response(status, &result.outputs_only()),
            }
        }
        Ok(Err(error)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        Err(panic) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the run failed: {}", crate::scheduler::panic_message(&*panic)),
        ),
    }
}

/// A run that goes on when the request that started it goes away. It is awaited where the
/// request is handled, so a run's wake-ups stay on the request's task, with no hop to another
/// task and thread while the client waits; if the handler is dropped first (the client hung
/// up), the run is handed to a task of its own and finishes there. Either way `serve`'s
/// shutdown waits for it (the tracker counts it), and a panic in it is caught.
struct Detachable<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    run: Option<Pin<Box<GuardedRun<F>>>>,
}

/// A run counted by the service's tracker, its panics caught.
type GuardedRun<F> = CatchUnwind<AssertUnwindSafe<TrackedFuture<F>>>;

impl<F> Detachable<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    fn new(tracker: &TaskTracker, run: F) -> Self {
        Detachable { run: Some(Box::pin(AssertUnwindSafe(tracker.track_future(run)).catch_unwind())) }
    }
}

impl<F> Future for Detachable<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let Some(run) = self.run.as_mut() else { panic!("a Detachable polled after it finished") };
        let done = std::task::ready!(run.as_mut().poll(cx));
        self.run = None;
        std::task::Poll::Ready(done)
    }
}

impl<F> Drop for Detachable<F>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    fn drop(&mut self) {
        // Dropped before the run finished: the run goes on in a task of its own (unless the
        // runtime itself is shutting down, when nothing could run it).
        if let Some(run) = self.run.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(run);
            }
        }
    }
}

/// Fires the flow at each time of its schedule, until the service stops.
async fn fire_on_schedule(service: Arc<Service>, schedule: &'static Schedule, stopping: CancellationToken) {
    let running = Arc::new(AtomicBool::new(false));
    loop {
        let now = chrono::Utc::now();
        let next = match schedule.next_after(now) {
            Ok(next) => next,
            Err(message) => {
                log("error", service.flow(), "the schedule stopped", json!({ "error": message }));
                return;
            }
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.cancelled() => return,
        }
        let fired_at = next.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if running.swap(true, Ordering::SeqCst) {
            log(
                "warn",
                service.flow(),
                "the schedule fired while its previous run was still going on: skipped",
                json!({ "fired_at": fired_at }),
            );
            continue;
        }
        let Ok(permit) = service.runner.admit() else {
            running.store(false, Ordering::SeqCst);
            log(
                "warn",
                service.flow(),
                "the schedule fired while --max-runs runs were going on: skipped",
                json!({ "fired_at": fired_at }),
            );
            continue;
        };
        let input = match crate::cli::prepare(service.flow(), Value::Null) {
            Ok(input) => input,
            Err(message) => {
                running.store(false, Ordering::SeqCst);
                service.metrics().refused(Refusal::BadInput);
                log("error", service.flow(), "a scheduled run has no valid input", json!({ "error": message }));
                continue;
            }
        };
        let (service, running) = (service.clone(), running.clone());
        service.tracker.clone().spawn(async move {
            let _permit = permit;
            let options = RunOptions { fired: Fired::Schedule(fired_at), ..Default::default() };
            let _ = service.runner.execute(input, options, "schedule").await;
            running.store(false, Ordering::SeqCst);
        });
    }
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

async fn readyz(State(service): State<Arc<Service>>, request: Request) -> Response {
    let deep = url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "deep" && v != "0" && v != "false");
    if !service.ready.load(Ordering::SeqCst) {
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "stopping" }));
    }
    if !deep {
        return json_response(StatusCode::OK, &json!({ "status": "ready" }));
    }
    // The deep check calls the flow's services: with a bearer configured, only its holder may
    // make the process do that.
    if let Err(refusal) = service.options.guard.check_bearer(request.headers()) {
        return refused(&service, refusal);
    }
    let report = crate::health::check(service.flow()).await;
    let status = if report.ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(status, &serde_json::to_value(&report).unwrap_or(Value::Null))
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let sessions = match service.runner.mcp_sessions.get() {
        Some(sessions) => sessions.sessions.read().await.len(),
        None => 0,
    };
    let text = service.metrics().encode(&service.runner.http.breakers().states(), sessions);
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn not_found(State(service): State<Arc<Service>>, request: Request) -> Response {
    let mut routes = vec!["GET /healthz".to_owned(), "GET /readyz".into(), "GET /metrics".into(), "/mcp".into()];
    if service.run_route != RunRoute::Off {
        routes.insert(0, "POST /run".to_owned());
    }
    if let Some(hook) = service.webhook {
        routes.insert(usize::from(service.run_route != RunRoute::Off), format!("{} {}", hook.method, hook.path));
    }
    let path = crate::guard::printable(request.uri().path());
    error_response(
        StatusCode::NOT_FOUND,
        format!("no route {} {path}: this service answers {}", request.method(), routes.join(", ")),
    )
}
