//! `<bin> serve`: the flow as an HTTP service.
//!
//! | route | what |
//! |---|---|
//! | `POST /run` | runs the flow on the request body (JSON; empty: `null`) and answers the run result |
//! | the `webhook` node's method and path | checks the signature (with `hmac`), then runs the flow on the body |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 while it accepts runs, 503 once it is stopping; `?deep=1`: the `<bin> health` report (503 when a check fails) |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) |
//! | `/mcp` | the flow as an MCP tool, over Streamable HTTP ([`crate::mcp_server`]) |
//!
//! A run answers 200 when its status is `success` or `partial`, 500 for `error`; input that
//! does not match the input schema is 400, a body over `--max-body` 413, a bad signature 401,
//! and 503 with `Retry-After` when `--max-runs` runs are going on already. Runs do not depend
//! on their request: a client that goes away does not cancel its run. The HTTP client, rate
//! limits and circuit breakers are shared by every run of the process. A `schedule` node fires
//! the flow in-process (`--no-schedule` turns that off); a scheduled run does not start while
//! the previous one is still going on.
//!
//! SIGTERM or SIGINT stop the listener, let every run in flight finish (and answer), then the
//! program exits 0. Logs are JSON lines on stderr, one per run with its `run_id`.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, post, MethodFilter};
use axum::Router;
use futures::future::CatchUnwind;
use futures::FutureExt;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TrackedFuture;
use tokio_util::task::TaskTracker;

use crate::envelope::{now_rfc3339, RunStatus};
use crate::events::Events;
use crate::flow::{Fired, Flow, Trigger};
use crate::http::Http;
use crate::metrics::{Metrics, Refusal};
use crate::schedule::Schedule;
use crate::scheduler::{self, RunOptions};
use crate::webhook::{Verifier, Webhook};

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
    /// How `/mcp` checks its requests.
    pub mcp: crate::mcp_server::HttpOptions,
    /// Refuse requests to private addresses, whatever the flow's settings say.
    pub deny_private_networks: bool,
}

/// What every request handler shares.
struct Service {
    flow: &'static Flow,
    http: Http,
    runs: Arc<Semaphore>,
    metrics: Metrics,
    webhook: Option<&'static Webhook>,
    verifier: Option<Verifier>,
    /// Runs, detached from their requests: shutdown waits for them.
    tracker: TaskTracker,
    ready: AtomicBool,
    options: ServeOptions,
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
            Some(Verifier::new(hmac, secret))
        }
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

    let service = Arc::new(Service {
        flow,
        http,
        runs: Arc::new(Semaphore::new(options.max_runs.max(1))),
        metrics: Metrics::new(flow.id),
        webhook,
        verifier,
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
    let mcp = crate::mcp_server::router(flow, options.mcp.clone());
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
                "schedule": schedule.filter(|_| options.schedule).map(|s| format!("{} ({})", s.cron, s.timezone)) }),
    );
    let stop = {
        let service = service.clone();
        let stopping = stopping.clone();
        async move {
            let signal = shutdown_signal().await;
            service.ready.store(false, Ordering::SeqCst);
            stopping.cancel();
            log(
                "info",
                service.flow,
                "stopping: no new requests, waiting for the runs in flight",
                json!({ "signal": signal }),
            );
        }
    };
    axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(|e| e.to_string())?;
    service.tracker.close();
    service.tracker.wait().await;
    log("info", flow, "stopped", json!({}));
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

/// Reads a body of at most `--max-body` bytes.
async fn read_body(service: &Service, body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, service.options.max_body).await.map_err(|_| {
        service.metrics.refused(Refusal::TooLarge);
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {} bytes (`--max-body`)", service.options.max_body),
        )
    })
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

async fn run(State(service): State<Arc<Service>>, request: Request) -> Response {
    let bytes = match read_body(&service, request.into_body()).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    match body_value(&bytes, true) {
        Ok(input) => start(&service, input, Fired::Manual, "run", crate::webhook::Response::RunResult).await,
        Err(message) => {
            service.metrics.refused(Refusal::BadInput);
            error_response(StatusCode::BAD_REQUEST, message)
        }
    }
}

async fn webhook_request(State(service): State<Arc<Service>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&service, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    if let Some(verifier) = &service.verifier {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        if let Err(rejection) = verifier.verify(header, &bytes, now) {
            service.metrics.refused(Refusal::Unauthorized);
            log("warn", service.flow, "webhook request refused", json!({ "reason": rejection.to_string() }));
            return error_response(StatusCode::UNAUTHORIZED, rejection.to_string());
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
    start(&service, body, Fired::Webhook(Value::Object(request)), "webhook", response).await
}

/// The request's headers as the webhook node yields them: names in lower case, repeated ones
/// joined with `, `; credentials the sender presents (`authorization`, `cookie`) left out, so
/// they never reach envelopes.
fn recorded_headers(headers: &HeaderMap) -> Map<String, Value> {
    crate::http::headers_object(headers, &["authorization", "proxy-authorization", "cookie"])
}

/// Starts a run unless `--max-runs` are going on, and answers its result. The run goes on if
/// the client goes away, and shutdown waits for it ([`Detachable`]).
async fn start(
    service: &Arc<Service>,
    input: Value,
    fired: Fired,
    trigger: &'static str,
    answer: crate::webhook::Response,
) -> Response {
    let Ok(permit) = service.runs.clone().try_acquire_owned() else {
        service.metrics.refused(Refusal::Busy);
        let mut response = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} runs are going on already (`--max-runs`): try again", service.options.max_runs),
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let input = match crate::cli::prepare(service.flow, input) {
        Ok(input) => input,
        Err(message) => {
            service.metrics.refused(Refusal::BadInput);
            return error_response(StatusCode::BAD_REQUEST, message);
        }
    };
    let run = {
        let service = service.clone();
        async move {
            let _permit = permit;
            execute(&service, input, fired, trigger).await
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
        Ok(Err(message)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, message),
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

/// Runs the flow once, counts it, logs it.
async fn execute(
    service: &Service,
    input: Value,
    fired: Fired,
    trigger: &'static str,
) -> Result<crate::envelope::RunResult, String> {
    service.metrics.started();
    let options =
        RunOptions { events: service.options.events, fired, http: Some(service.http.clone()), ..Default::default() };
    match scheduler::run(service.flow, input, options).await {
        Ok(result) => {
            service.metrics.finished(&result);
            log(
                "info",
                service.flow,
                "run finished",
                json!({ "run_id": result.run_id, "trigger": trigger, "status": result.status, "duration_ms": result.duration_ms }),
            );
            Ok(result)
        }
        Err(error) => {
            service.metrics.abandoned();
            log("error", service.flow, "the run could not start", json!({ "trigger": trigger, "error": error }));
            Err(error.to_string())
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
                log("error", service.flow, "the schedule stopped", json!({ "error": message }));
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
                service.flow,
                "the schedule fired while its previous run was still going on: skipped",
                json!({ "fired_at": fired_at }),
            );
            continue;
        }
        let Ok(permit) = service.runs.clone().try_acquire_owned() else {
            running.store(false, Ordering::SeqCst);
            service.metrics.refused(Refusal::Busy);
            log(
                "warn",
                service.flow,
                "the schedule fired while --max-runs runs were going on: skipped",
                json!({ "fired_at": fired_at }),
            );
            continue;
        };
        let input = match crate::cli::prepare(service.flow, Value::Null) {
            Ok(input) => input,
            Err(message) => {
                running.store(false, Ordering::SeqCst);
                service.metrics.refused(Refusal::BadInput);
                log("error", service.flow, "a scheduled run has no valid input", json!({ "error": message }));
                continue;
            }
        };
        let (service, running) = (service.clone(), running.clone());
        service.tracker.clone().spawn(async move {
            let _permit = permit;
            let _ = execute(&service, input, Fired::Schedule(fired_at), "schedule").await;
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
    let report = crate::health::check(service.flow).await;
    let status = if report.ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(status, &serde_json::to_value(&report).unwrap_or(Value::Null))
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let text = service.metrics.encode(&service.http.breakers().states());
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn not_found(State(service): State<Arc<Service>>, request: Request) -> Response {
    let mut routes =
        vec!["POST /run".to_owned(), "GET /healthz".into(), "GET /readyz".into(), "GET /metrics".into(), "/mcp".into()];
    if let Some(hook) = service.webhook {
        routes.insert(1, format!("{} {}", hook.method, hook.path));
    }
    error_response(
        StatusCode::NOT_FOUND,
        format!("no route {} {}: this service answers {}", request.method(), request.uri().path(), routes.join(", ")),
    )
}
