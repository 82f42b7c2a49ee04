//! A local HTTP server for end-to-end tests of generated programs.
//!
//! [`TestServer`] serves on `127.0.0.1` (port chosen by the OS) from its own thread and its own
//! tokio runtime, so it keeps answering while the test thread blocks (e.g. waiting on a child
//! process with `std::process::Command`). It stops when dropped.
//!
//! Endpoints (any method unless said otherwise):
//!
//! | path | answer |
//! |---|---|
//! | `/echo`, `/echo/*rest` | 200 `{"method","path","query":{k:v},"headers":{lowercase:v},"body"}`; `body` is the parsed JSON body, else the body as a string, else `null` when empty |
//! | `/flaky/{key}?fail=N` (N = 2) | the first N calls for `key`: 503 `{"error":"try again"}`; then 200 `{"ok":true,"key":key,"calls":n}` |
//! | `/retry-after/{key}?secs=S` (S = 1) | first call for `key`: 429 with `Retry-After: S` and `{"error":"slow down"}`; then 200 `{"ok":true,"calls":n}` |
//! | `/slow/{key}?ms=M` (M = 300) | sleeps M ms (concurrent calls overlap), then 200 `{"key":key}` |
//! | `/status/{code}` | that status with `{"status":code}` |
//! | `/json` | 200 `{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}],"total":2}` |
//! | `/text` | 200 `text/plain` `hello` |
//! | `/redirect?to=URL&status=S` (S = 302) | S with `Location: URL` and an empty body |
//! | `/retry-after-value?value=V&status=S` (S = 200) | S with `Retry-After: V` (V as given, any text) and `{"status":S}` |
//! | `/big?bytes=N&length=L` | 200 `text/plain`: N bytes of `a`, generated in 64 KiB chunks (never held whole); with `Content-Length` when L is `1`, chunked otherwise |
//! | `POST /openai/{scenario}/v1/chat/completions` | an OpenAI chat-completions stand-in (below) |
//! | anything else | 404 `{"error":"not found"}` |
//!
//! The OpenAI stand-in follows the API reference: `Authorization: Bearer test-key` or 401
//! (`invalid_api_key`); a body without `model` or `messages` is 400; the answer is a
//! `chat.completion` whose content is `echo: <last user message>`, or, when the request asks
//! for `response_format: {"type": "json_object"}`, the JSON text `{"answer": <message>}`; usage
//! counts words. Scenarios: `ok`; `rate-limited-K` (first call for K: 429 with
//! `Retry-After: 1` and `rate_limit_exceeded`); `flaky-K` (first call: 500 `server_error`);
//! `malformed` (200 with a truncated JSON body); `slow` (answers after 1.5 s); `chatty` (answers prose even when asked for
//! JSON); `script-KEY` (the answers a test scripted, `server/chat_script.rs`).
//!
//! `POST /firecrawl/{scenario}/v1/scrape` is a Firecrawl stand-in, after its scrape reference:
//! `Authorization: Bearer fc-test` or 401 `{"success": false, "error": "Unauthorized: Invalid
//! token"}`; a body without `url` is 400; the answer is `{"success": true, "data": {...}}` with
//! `markdown` (`# Page <url>`), and `html`/`links` when `formats` asks, plus `metadata` (`title`,
//! `sourceURL`, `statusCode`). Scenarios: `ok`, `rate-limited-K`, `flaky-K`, `malformed`,
//! `slow`, as above, and `blocked` (200 with `success: false`).
//!
//! `POST /hf/{scenario}/models/{model}` is a Hugging Face Inference API stand-in:
//! `Authorization: Bearer hf_test` or 401 `{"error": "Invalid credentials in Authorization
//! header"}`; the answer follows the model's task, picked from its name: `…sst-2…`
//! text-classification (NEGATIVE for texts holding "bad"), `…MiniLM…` feature-extraction (a
//! 4-number vector per text), `…bart-large-cnn…` summarization, `…squad…` question-answering,
//! `…mnli…` zero-shot-classification (needs `parameters.candidate_labels`), `…broken…` an answer
//! of no task's shape. Scenarios: `ok`; `loading-K` (first call: 503 `{"error": "Model … is
//! currently loading", "estimated_time": 1.0}`); `rate-limited-K` (first call: 429 with
//! `Retry-After: 1` and `{"error": "Rate limit reached. …"}`, [`HF_RATE_LIMITED`]); `flaky-K`
//! (first call: 500 `{"error": "There was an inference error: …"}`, [`HF_SERVER_ERROR`]);
//! `malformed` (200 with a truncated JSON body); `slow` (answers after 1.5 s).
//!
//! `/apify/{scenario}/v2/...` is an Apify API v2 stand-in: `POST acts/{user~name}/runs` starts
//! a run (201, `data.id` `run-{scenario}-N` where N counts the scenario's runs from 1,
//! `data.defaultDatasetId` `ds-{scenario}-N`; an actor `nobody~missing` is 404
//! `record-not-found`); `GET actor-runs/{id}` polls it (`failed`: FAILED on the second poll;
//! `stuck`: RUNNING until aborted; every other scenario: RUNNING, then SUCCEEDED on the second
//! poll); `POST actor-runs/{id}/abort` aborts it; `GET datasets/{id}/items?limit=L` gives
//! `min(L, input.count or 5)` items `{"id": i, "text": …}` (every third text holds "bad").
//! `Authorization: Bearer apify_test` or 401 `token-not-valid`. Scenarios: `ok`, `failed`,
//! `stuck`, and faults named `FAULT-CALL` or `FAULT-CALL-K`, where CALL is the call that gets
//! the fault (`start`, `poll` or `items`) and the run otherwise goes as in `ok`:
//! `rate-limited-CALL-K` (the scenario's first such call: 429 with `Retry-After: 1` and
//! `{"error": {"type": "rate-limit-exceeded", "message": …}}`, [`APIFY_RATE_LIMITED`]);
//! `flaky-CALL-K` (the first such call: 500 `internal-server-error`, [`APIFY_SERVER_ERROR`]);
//! `malformed-CALL` (every such call: 200 with a truncated JSON body); `slow-CALL` (every such
//! call answers after 1.5 s). A fault on `start` comes before the run is created; one on `poll`
//! or `items` hits a run that exists (the first one: `run-{scenario}-1`).
//!
//! `/brave/…`, `/tavily/…`, `/serpapi/…` and `/searxng/…` are web search stand-ins (see
//! `server/search.rs`); `POST /openai/{scenario}/v1/embeddings` an embeddings stand-in
//! (`server/embeddings.rs`).
//!
//! `n` counts every call for that key so far, this one included. Counters are per key and per
//! endpoint (`/flaky/a` and `/retry-after/a` count separately), so tests stay independent when
//! they use distinct keys. Every request, whatever its path, is recorded ([`Recorded`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Largest request body the server accepts (bigger bodies get 413).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query (`/flaky/a`).
    pub path: String,
    /// The raw query string without `?` (`fail=3&x=1`), empty when there is none.
    pub query: String,
    /// Request headers, names lowercased; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The request body (lossy UTF-8).
    pub body: String,
    /// When the request arrived.
    pub received_at: Instant,
    /// When the handler finished. For a request still being handled when
    /// [`TestServer::requests`] was called, the time of that call; for a request the client
    /// gave up on (the connection closed first), when the server noticed (right away:
    /// the handler is then dropped).
    pub responded_at: Instant,
    /// The status code sent, or `None` if no response was produced (still running, or the
    /// client went away first).
    pub status: Option<u16>,
}

impl Recorded {
    /// The request body parsed as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// How long the handler took.
    pub fn duration(&self) -> Duration {
        self.responded_at.saturating_duration_since(self.received_at)
    }
}

struct Entry {
    rec: Recorded,
    done: bool,
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Entry>>,
    counters: Mutex<HashMap<String, u64>>,
    /// Scripted chat answers, by key (see `server/chat_script.rs`).
    scripts: Mutex<HashMap<String, std::collections::VecDeque<Value>>>,
}

impl Shared {
    /// Counts one more call for `key` and returns the count, this call included.
    fn bump(&self, key: String) -> u64 {
        let mut counters = self.counters.lock().unwrap();
        let n = counters.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    /// The count for `key`, without counting.
    fn count(&self, key: &str) -> u64 {
        self.counters.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// The local test server. See the module docs for its endpoints.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts the server on its own thread and runtime. Usable from a plain `#[test]` and from
    /// inside a tokio runtime alike. The server answers as soon as this returns.
    pub fn start_blocking() -> TestServer {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("test server: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("test server: local_addr");
        listener.set_nonblocking(true).expect("test server: set_nonblocking");

        let shared = Arc::new(Shared::default());
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();

        let thread = std::thread::Builder::new()
            .name(format!("test-server-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("test server: tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("test server: tokio listener");
                    tokio::select! {
                        res = axum::serve(listener, app) => {
                            if let Err(e) = res {
                                eprintln!("test server on {addr} stopped: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Cancels connections still open (keep-alive, slow handlers).
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("test server: spawn thread");

        TestServer { addr, shared, shutdown: Some(tx), thread: Some(thread) }
    }

    /// Same as [`TestServer::start_blocking`] (the server has its own runtime either way).
    pub async fn start() -> TestServer {
        Self::start_blocking()
    }

    /// Gives the chat stand-in's scenario `script-{key}` its answers, one per call (see
    /// `server/chat_script.rs`), replacing any left.
    pub fn script(&self, key: &str, steps: Vec<Value>) {
        self.shared.scripts.lock().unwrap().insert(key.to_owned(), steps.into());
    }

    /// The scripted answers of `key` not given yet.
    pub fn script_left(&self, key: &str) -> usize {
        self.shared.scripts.lock().unwrap().get(key).map_or(0, std::collections::VecDeque::len)
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url()` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        let now = Instant::now();
        let log = self.shared.log.lock().unwrap();
        log.iter()
            .map(|e| {
                let mut rec = e.rec.clone();
                if !e.done {
                    rec.responded_at = now;
                }
                rec
            })
            .collect()
    }

    /// The requests whose path starts with `path_prefix`, in arrival order.
    pub fn requests_to(&self, path_prefix: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.starts_with(path_prefix)).collect()
    }

    /// The largest number of requests to `path_prefix` that were being handled at the same
    /// moment (from their `received_at`..`responded_at` intervals).
    pub fn max_overlap(&self, path_prefix: &str) -> usize {
        let reqs = self.requests_to(path_prefix);
        // Ends sort before starts at the same instant: touching intervals do not overlap.
        let mut events: Vec<(Instant, i32)> = Vec::with_capacity(reqs.len() * 2);
        for r in &reqs {
            events.push((r.received_at, 1));
            events.push((r.responded_at, -1));
        }
        events.sort();
        let (mut current, mut max) = (0i32, 0i32);
        for (_, delta) in events {
            current += delta;
            max = max.max(current);
        }
        max as usize
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

mod chat_script;
pub mod embeddings;
mod search;

fn router(shared: Arc<Shared>) -> Router {
    embeddings::routes(search::routes(Router::new()))
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route("/flaky/{key}", any(flaky))
        .route("/retry-after/{key}", any(retry_after))
        .route("/slow/{key}", any(slow))
        .route("/status/{code}", any(status))
        .route("/json", any(json_doc))
        .route("/text", any(text))
        .route("/redirect", any(redirect))
        .route("/retry-after-value", any(retry_after_value))
        .route("/big", any(big))
        .route("/openai/{scenario}/v1/chat/completions", axum::routing::post(openai))
        .route("/firecrawl/{scenario}/v1/scrape", axum::routing::post(firecrawl))
        .route("/hf/{scenario}/models/{*model}", axum::routing::post(huggingface))
        .route("/apify/{scenario}/v2/acts/{actor}/runs", axum::routing::post(apify_start))
        .route("/apify/{scenario}/v2/actor-runs/{id}", axum::routing::get(apify_poll))
        .route("/apify/{scenario}/v2/actor-runs/{id}/abort", axum::routing::post(apify_abort))
        .route("/apify/{scenario}/v2/datasets/{id}/items", axum::routing::get(apify_items))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// Marks the log entry finished when the handler completes or is dropped (client gone).
struct Finish {
    shared: Arc<Shared>,
    index: usize,
    status: Option<u16>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut log = self.shared.log.lock().unwrap();
        let entry = &mut log[self.index];
        entry.rec.responded_at = Instant::now();
        entry.rec.status = self.status;
        entry.done = true;
    }
}

async fn record(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let received_at = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({"error": e.to_string()}))).into_response(),
    };
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: header_map(&parts.headers),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        received_at,
        responded_at: received_at,
        status: None,
    };
    let index = {
        let mut log = shared.log.lock().unwrap();
        log.push(Entry { rec, done: false });
        log.len() - 1
    };
    let mut finish = Finish { shared, index, status: None };
    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    finish.status = Some(resp.status().as_u16());
    drop(finish);
    resp
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let query: serde_json::Map<String, Value> =
        query_pairs(uri.query().unwrap_or("")).into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let headers: serde_json::Map<String, Value> =
        header_map(&headers).into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": query,
        "headers": headers,
        "body": body,
    }))
}

/// Decodes `a=1&b=x%20y` into pairs (a repeated key keeps its last value in the echo map).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{query}").parse::<Uri>().unwrap_or_default())
        .map(|Query(pairs)| pairs)
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct FlakyParams {
    fail: Option<u64>,
}

async fn flaky(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(params): Query<FlakyParams>,
) -> Response {
    let fail = params.fail.unwrap_or(2);
    let n = shared.bump(format!("flaky/{key}"));
    if n <= fail {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "try again"}))).into_response()
    } else {
        Json(json!({"ok": true, "key": key, "calls": n})).into_response()
    }
}

#[derive(Deserialize)]
struct RetryAfterParams {
    secs: Option<u64>,
}

async fn retry_after(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(params): Query<RetryAfterParams>,
) -> Response {
    let secs = params.secs.unwrap_or(1);
    let n = shared.bump(format!("retry-after/{key}"));
    if n == 1 {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, HeaderValue::from(secs))],
            Json(json!({"error": "slow down"})),
        )
            .into_response()
    } else {
        Json(json!({"ok": true, "calls": n})).into_response()
    }
}

#[derive(Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

async fn slow(Path(key): Path<String>, Query(params): Query<SlowParams>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(params.ms.unwrap_or(300))).await;
    Json(json!({"key": key}))
}

async fn status(Path(code): Path<String>) -> Response {
    match code.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()) {
        Some(status) => (status, Json(json!({"status": status.as_u16()}))).into_response(),
        None => (StatusCode::BAD_REQUEST, Json(json!({"error": format!("not a status code: {code}")}))).into_response(),
    }
}

async fn json_doc() -> Json<Value> {
    Json(json!({
        "items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "total": 2,
    }))
}

async fn text() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "hello").into_response()
}

#[derive(Deserialize)]
struct RedirectParams {
    to: String,
    status: Option<u16>,
}

async fn redirect(Query(params): Query<RedirectParams>) -> Response {
    let status = params.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::FOUND);
    match HeaderValue::from_str(&params.to) {
        Ok(location) => (status, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, Json(json!({"error": "`to` cannot be a header value"}))).into_response(),
    }
}

#[derive(Deserialize)]
struct RetryAfterValueParams {
    value: String,
    status: Option<u16>,
}

async fn retry_after_value(Query(params): Query<RetryAfterValueParams>) -> Response {
    let status = params.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    match HeaderValue::from_str(&params.value) {
        Ok(value) => (status, [(header::RETRY_AFTER, value)], Json(json!({"status": status.as_u16()}))).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, Json(json!({"error": "`value` cannot be a header value"}))).into_response(),
    }
}

#[derive(Deserialize)]
struct BigParams {
    bytes: u64,
    length: Option<u8>,
}

/// `bytes` bytes of `a`, streamed in chunks of one static buffer.
async fn big(Query(params): Query<BigParams>) -> Response {
    static CHUNK: [u8; 64 * 1024] = [b'a'; 64 * 1024];
    let total = params.bytes;
    let chunks = (0..total.div_ceil(CHUNK.len() as u64)).map(move |i| {
        let start = i * CHUNK.len() as u64;
        let len = (total - start).min(CHUNK.len() as u64) as usize;
        Ok::<_, std::convert::Infallible>(Bytes::from_static(&CHUNK[..len]))
    });
    let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if params.length == Some(1) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    }
    response
}

fn openai_error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let error = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(error)).into_response()
}

async fn openai(
    State(shared): State<Arc<Shared>>,
    Path(scenario): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some("Bearer test-key") {
        let message =
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.";
        return openai_error(StatusCode::UNAUTHORIZED, message, "invalid_request_error", Some("invalid_api_key"));
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        );
    };
    let (Some(model), Some(messages)) = (request["model"].as_str(), request["messages"].as_array()) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
        );
    };
    let n = shared.bump(format!("openai/{scenario}"));
    if let Some(key) = scenario.strip_prefix("script-") {
        return chat_script::answer(&shared, key, &request, n);
    }
    if scenario.starts_with("rate-limited") && n == 1 {
        let mut response = openai_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit reached for requests",
            "requests",
            Some("rate_limit_exceeded"),
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
        return response;
    }
    if scenario.starts_with("flaky") && n == 1 {
        return openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request.",
            "server_error",
            None,
        );
    }
    if scenario == "slow" {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    if scenario == "malformed" {
        return ([(header::CONTENT_TYPE, "application/json")], "{\"id\": \"chatcmpl-1\", \"choices\": [")
            .into_response();
    }
    let user = messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or("");
    // Structured outputs, per the reference: `json_schema` needs a `name` of at most 64
    // letters, digits, `_` and `-`, and a `schema` object.
    let format = &request["response_format"];
    if format["type"] == "json_schema" {
        let name = format["json_schema"]["name"].as_str().unwrap_or("");
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok || !format["json_schema"]["schema"].is_object() {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "Invalid 'response_format.json_schema': a name and a schema object are required.",
                "invalid_request_error",
                None,
            );
        }
    }
    let wants_json = format["type"] == "json_object" || format["type"] == "json_schema";
    let content = if wants_json && scenario == "off-schema" {
        json!({"answer": 42}).to_string()
    } else if wants_json && scenario != "chatty" {
        json!({"answer": user}).to_string()
    } else if wants_json {
        "Sure! Here is the JSON you asked for: {answer: ...}".to_owned()
    } else {
        format!("echo: {user}")
    };
    let words = |text: &str| text.split_whitespace().count();
    let prompt_tokens: usize = messages.iter().filter_map(|m| m["content"].as_str()).map(words).sum();
    let completion_tokens = words(&content);
    Json(json!({
        "id": format!("chatcmpl-{n}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
    }))
    .into_response()
}

async fn firecrawl(
    State(shared): State<Arc<Shared>>,
    Path(scenario): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error =
        |status: StatusCode, message: &str| (status, Json(json!({"success": false, "error": message}))).into_response();
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some("Bearer fc-test") {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized: Invalid token");
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(url) = request["url"].as_str() else {
        return error(StatusCode::BAD_REQUEST, "Bad Request: url is required");
    };
    let n = shared.bump(format!("firecrawl/{scenario}"));
    if scenario.starts_with("rate-limited") && n == 1 {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded. Consumed (req/min): 11, Remaining (req/min): 0.",
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
        return response;
    }
    if scenario.starts_with("flaky") && n == 1 {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred. Please contact help@firecrawl.com for help.",
        );
    }
    if scenario == "slow" {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    if scenario == "malformed" {
        return ([(header::CONTENT_TYPE, "application/json")], "{\"success\": true, \"data\": {\"markdown\": \"# Pa")
            .into_response();
    }
    if scenario == "blocked" {
        return Json(json!({"success": false, "error": "This website is no longer supported."})).into_response();
    }
    let formats: Vec<&str> =
        request["formats"].as_array().map(|f| f.iter().filter_map(Value::as_str).collect()).unwrap_or(vec!["markdown"]);
    let mut data = serde_json::Map::new();
    if formats.contains(&"markdown") {
        data.insert(
            "markdown".into(),
            json!(format!("# Page {url}\n\nMain content only: {}.", request["onlyMainContent"])),
        );
    }
    if formats.contains(&"html") {
        data.insert("html".into(), json!(format!("<h1>Page {url}</h1>")));
    }
    if formats.contains(&"links") {
        data.insert("links".into(), json!([format!("{url}/a"), format!("{url}/b")]));
    }
    data.insert("metadata".into(), json!({"title": format!("Page {url}"), "sourceURL": url, "statusCode": 200}));
    Json(json!({"success": true, "data": data})).into_response()
}

/// The Inference API's 429 text (free tier, hourly quota).
pub const HF_RATE_LIMITED: &str = "Rate limit reached. You reached free usage limit (reset hourly). Please subscribe to a plan at https://huggingface.co/pricing to use the API at this rate";

/// The Inference API's text for a model that failed while it ran.
pub const HF_SERVER_ERROR: &str = "There was an inference error: CUDA error: out of memory";

async fn huggingface(
    State(shared): State<Arc<Shared>>,
    Path((scenario, model)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = |status: StatusCode, body: Value| (status, Json(body)).into_response();
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some("Bearer hf_test") {
        return error(StatusCode::UNAUTHORIZED, json!({"error": "Invalid credentials in Authorization header"}));
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let inputs = &request["inputs"];
    if inputs.is_null() {
        return error(StatusCode::BAD_REQUEST, json!({"error": "Missing inputs"}));
    }
    let n = shared.bump(format!("hf/{scenario}"));
    if scenario.starts_with("loading") && n == 1 {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": format!("Model {model} is currently loading"), "estimated_time": 1.0}),
        );
    }
    if scenario.starts_with("rate-limited") && n == 1 {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, json!({"error": HF_RATE_LIMITED}));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
        return response;
    }
    if scenario.starts_with("flaky") && n == 1 {
        return error(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": HF_SERVER_ERROR}));
    }
    if scenario == "slow" {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    if scenario == "malformed" {
        return ([(header::CONTENT_TYPE, "application/json")], "[{\"summary_text\": \"The fir").into_response();
    }
    let texts: Vec<String> = match inputs {
        Value::Array(items) => items.iter().map(|i| i.as_str().unwrap_or_default().to_owned()).collect(),
        other => vec![other.as_str().unwrap_or_default().to_owned()],
    };
    let one_or_many = |answers: Vec<Value>| if inputs.is_array() { Value::Array(answers) } else { answers[0].clone() };
    let answer = if model.contains("sst-2") {
        let label = |t: &String| {
            let negative = t.contains("bad");
            let (first, second) = if negative { ("NEGATIVE", "POSITIVE") } else { ("POSITIVE", "NEGATIVE") };
            json!([{"label": first, "score": 0.9987}, {"label": second, "score": 0.0013}])
        };
        Value::Array(texts.iter().map(label).collect())
    } else if model.contains("MiniLM") {
        let vector = |t: &String| json!([t.len() as f64 / 100.0, t.split_whitespace().count() as f64, 0.5, -0.25]);
        one_or_many(texts.iter().map(vector).collect())
    } else if model.contains("bart-large-cnn") {
        let summary = |t: &String| json!({"summary_text": t.split_whitespace().take(5).collect::<Vec<_>>().join(" ")});
        Value::Array(texts.iter().map(summary).collect())
    } else if model.contains("squad") {
        let context = inputs["context"].as_str().unwrap_or_default();
        let answer = context.split_whitespace().last().unwrap_or_default();
        json!({"answer": answer, "score": 0.97, "start": context.len() - answer.len(), "end": context.len()})
    } else if model.contains("mnli") {
        let Some(labels) = request["parameters"]["candidate_labels"].as_array() else {
            return error(StatusCode::BAD_REQUEST, json!({"error": "candidate_labels is required"}));
        };
        let scores: Vec<f64> = (0..labels.len()).map(|i| 1.0 / (i as f64 + 2.0)).collect();
        json!({"sequence": texts[0], "labels": labels, "scores": scores})
    } else if model.contains("broken") {
        json!({"unexpected": true})
    } else {
        return error(StatusCode::NOT_FOUND, json!({"error": format!("Model {model} does not exist")}));
    };
    Json(answer).into_response()
}

fn apify_unauthorized(headers: &HeaderMap) -> Option<Response> {
    let ok = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some("Bearer apify_test");
    (!ok).then(|| {
        let body = json!({"error": {"type": "token-not-valid", "message": "Authentication token is not valid."}});
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    })
}

fn apify_run(id: &str, status: &str) -> Value {
    let n = id.trim_start_matches("run-");
    json!({"data": {"id": id, "actId": "act-1", "status": status, "defaultDatasetId": format!("ds-{n}"), "startedAt": "2026-11-22T00:00:00.000Z"}})
}

/// Apify's 429 text.
pub const APIFY_RATE_LIMITED: &str = "You have exceeded the rate limit of 30 requests per second";

/// Apify's 500 text.
pub const APIFY_SERVER_ERROR: &str = "Internal server error. Please try again later.";

/// The fault a scenario `FAULT-CALL` or `FAULT-CALL-K` puts into `call` (`start`, `poll`,
/// `items`), if any.
fn apify_fault(scenario: &str, call: &str) -> Option<&'static str> {
    ["rate-limited", "flaky", "malformed", "slow"].into_iter().find(|fault| {
        scenario
            .strip_prefix(fault)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_prefix(call))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    })
}

/// Applies the scenario's fault to this call: `Some(answer)` is sent instead of the API's
/// answer. `truncated` is the beginning of the call's real answer, sent for `malformed`.
async fn apify_inject(shared: &Shared, scenario: &str, call: &str, truncated: &'static str) -> Option<Response> {
    let fault = apify_fault(scenario, call)?;
    let error = |status: StatusCode, kind: &str, message: &str| {
        (status, Json(json!({"error": {"type": kind, "message": message}}))).into_response()
    };
    // `rate-limited` and `flaky` fail the scenario's first call of that kind only.
    let first = || shared.bump(format!("apify-fault/{scenario}")) == 1;
    match fault {
        "rate-limited" if first() => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate-limit-exceeded", APIFY_RATE_LIMITED);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
            Some(response)
        }
        "flaky" if first() => {
            Some(error(StatusCode::INTERNAL_SERVER_ERROR, "internal-server-error", APIFY_SERVER_ERROR))
        }
        "malformed" => Some(([(header::CONTENT_TYPE, "application/json")], truncated).into_response()),
        "slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            None
        }
        _ => None,
    }
}

async fn apify_start(
    State(shared): State<Arc<Shared>>,
    Path((scenario, actor)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = apify_unauthorized(&headers) {
        return denied;
    }
    if actor == "nobody~missing" {
        let body = json!({"error": {"type": "record-not-found", "message": "Actor was not found"}});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    if let Some(fault) = apify_inject(&shared, &scenario, "start", "{\"data\": {\"id\": \"run-").await {
        return fault;
    }
    let n = shared.bump(format!("apify-runs/{scenario}"));
    let id = format!("run-{scenario}-{n}");
    let count = serde_json::from_slice::<Value>(&body).ok().and_then(|input| input["count"].as_u64()).unwrap_or(5);
    shared.counters.lock().unwrap().insert(format!("apify-count/{id}"), count);
    (StatusCode::CREATED, Json(apify_run(&id, "READY"))).into_response()
}

async fn apify_poll(
    State(shared): State<Arc<Shared>>,
    Path((scenario, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = apify_unauthorized(&headers) {
        return denied;
    }
    if let Some(fault) =
        apify_inject(&shared, &scenario, "poll", "{\"data\": {\"id\": \"run-1\", \"status\": \"RUN").await
    {
        return fault;
    }
    let polls = shared.bump(format!("apify-poll/{id}"));
    let status = if shared.count(&format!("apify-abort/{id}")) > 0 {
        "ABORTED"
    } else {
        match (scenario.as_str(), polls) {
            ("stuck", _) => "RUNNING",
            ("failed", n) if n >= 2 => "FAILED",
            (_, n) if n >= 2 => "SUCCEEDED",
            _ => "RUNNING",
        }
    };
    Json(apify_run(&id, status)).into_response()
}

async fn apify_abort(
    State(shared): State<Arc<Shared>>,
    Path((_scenario, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = apify_unauthorized(&headers) {
        return denied;
    }
    shared.bump(format!("apify-abort/{id}"));
    Json(apify_run(&id, "ABORTING")).into_response()
}

#[derive(Deserialize)]
struct ItemsParams {
    limit: Option<u64>,
}

async fn apify_items(
    State(shared): State<Arc<Shared>>,
    Path((scenario, id)): Path<(String, String)>,
    Query(params): Query<ItemsParams>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = apify_unauthorized(&headers) {
        return denied;
    }
    if let Some(fault) = apify_inject(&shared, &scenario, "items", "[{\"id\": 1, \"text\": \"post 1 is gr").await {
        return fault;
    }
    let run = format!("run-{}", id.trim_start_matches("ds-"));
    let available = shared.count(&format!("apify-count/{run}"));
    let n = params.limit.unwrap_or(u64::MAX).min(available);
    let items: Vec<Value> = (1..=n)
        .map(|i| json!({"id": i, "text": if i % 3 == 0 { format!("post {i} is bad") } else { format!("post {i} is great") }}))
        .collect();
    Json(Value::Array(items)).into_response()
}

async fn not_found(uri: Uri) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not found", "path": uri.path()}))).into_response()
}
