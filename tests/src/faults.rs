//! A fault-injecting HTTP/1.1 server for end-to-end tests of generated programs: it resets
//! connections, stalls, cuts bodies short, and answers 429 bursts and 5xx runs.
//!
//! [`FaultServer`] listens on `127.0.0.1` (port chosen by the OS) on its own thread and tokio
//! runtime, like [`TestServer`](crate::server::TestServer), but speaks HTTP itself on a raw
//! `TcpListener`: a reset or a body shorter than its `Content-Length` cannot be had from
//! axum. Every answer carries `Connection: close` and the connection is closed after it, so
//! every attempt of a client is one connection and one recorded request (no connection is
//! reused, so no client retries on a stale one behind our back). It stops when dropped.
//!
//! Endpoints (any method; request bodies are read by `Content-Length`):
//!
//! | path | answer |
//! |---|---|
//! | `/reset/{key}?n=N` (N = 2) | the first N calls for `key`: the request is read, then the connection is reset (`SO_LINGER` 0, so the client gets a TCP RST and no answer); then 200 `{"ok":true,"key":key,"calls":n}` |
//! | `/truncate/{key}?n=N` (N = 2) | the first N calls: 200 with `Content-Type: application/json` and a `Content-Length` of the whole body, but only its first half is sent before the connection is closed; then the whole 200 answer as above |
//! | `/stall/{key}` | the request is read and never answered: the connection stays open until the client closes it (or the server stops) |
//! | `/burst/{key}?n=N&secs=S` (N = 3, S = 1) | the first N calls: 429 with `Retry-After: S` and `{"error":"slow down"}`; then the 200 answer |
//! | `/fail/{key}?n=N&status=C` (N = 2, C = 503) | the first N calls: status C with `{"error":"try again"}`; then the 200 answer |
//! | anything else | 404 `{"error":"not found"}` |
//!
//! `n` counts every call for that key so far, this one included, per endpoint. Every request
//! is recorded as a [`Recorded`]: `status` is `None` for a reset and for a stall, and a
//! stall's `responded_at` is when the client closed the connection.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::server::Recorded;

/// Largest request head the server reads.
const HEAD_LIMIT: usize = 64 * 1024;

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Recorded>>,
    counters: Mutex<HashMap<String, u64>>,
}

impl Shared {
    fn bump(&self, key: String) -> u64 {
        let mut counters = self.counters.lock().unwrap();
        let n = counters.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    fn push(&self, rec: Recorded) -> usize {
        let mut log = self.log.lock().unwrap();
        log.push(rec);
        log.len() - 1
    }

    fn finish(&self, index: usize, status: Option<u16>) {
        let mut log = self.log.lock().unwrap();
        log[index].responded_at = Instant::now();
        log[index].status = status;
    }
}

/// The fault-injecting server. See the module docs for its endpoints.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultServer {
    /// Starts the server on its own thread and runtime; it answers as soon as this returns.
    pub fn start() -> FaultServer {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("fault server: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fault server: local_addr");
        listener.set_nonblocking(true).expect("fault server: set_nonblocking");
        let shared = Arc::new(Shared::default());
        let (tx, rx) = oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-server-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fault server: tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("fault server: tokio listener");
                    let accept = async {
                        loop {
                            match listener.accept().await {
                                Ok((stream, _)) => {
                                    tokio::spawn(connection(state.clone(), stream));
                                }
                                Err(e) => eprintln!("fault server on {addr}: accept: {e}"),
                            }
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = rx => {}
                    }
                });
                // Drops stalled connections.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("fault server: spawn thread");
        FaultServer { addr, shared, shutdown: Some(tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order. A stall still open shows
    /// `responded_at` = `received_at`.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The requests whose path starts with `path_prefix`, in arrival order.
    pub fn requests_to(&self, path_prefix: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.starts_with(path_prefix)).collect()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the server does with a request.
enum Answer {
    Reset,
    Stall,
    /// Status, extra headers, body, and how many bytes of the body to send.
    Send {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        sent: usize,
    },
}

impl Answer {
    fn json(status: u16, body: serde_json::Value) -> Answer {
        let body = body.to_string().into_bytes();
        Answer::Send { status, headers: Vec::new(), sent: body.len(), body }
    }

    fn with_header(mut self, name: &'static str, value: String) -> Answer {
        if let Answer::Send { headers, .. } = &mut self {
            headers.push((name, value));
        }
        self
    }

    /// Sends only the first half of the body (the head still announces all of it).
    fn cut_short(mut self) -> Answer {
        if let Answer::Send { body, sent, .. } = &mut self {
            *sent = body.len() / 2;
        }
        self
    }
}

async fn connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let Some(rec) = read_request(&mut stream).await else { return };
    let answer = answer(&shared, &rec);
    let index = shared.push(rec);
    match answer {
        Answer::Reset => {
            // SO_LINGER 0: closing sends a RST instead of a FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
            shared.finish(index, None);
        }
        Answer::Stall => {
            // Wait for the client to give up (EOF or an error), reading whatever it sends.
            let mut buf = [0u8; 1024];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            shared.finish(index, None);
        }
        Answer::Send { status, headers, body, sent } => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                reason(status),
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body[..sent]).await;
            let _ = stream.flush().await;
            let _ = stream.shutdown().await;
            shared.finish(index, Some(status));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Reads one request: head up to the blank line, then `Content-Length` bytes of body.
async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > HEAD_LIMIT {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let received_at = Instant::now();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim().to_owned();
            headers
                .entry(name.trim().to_ascii_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        received_at,
        responded_at: received_at,
        status: None,
    })
}

/// `name`'s value in a query string like `n=2&secs=1`.
fn param(query: &str, name: &str) -> Option<u64> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

fn answer(shared: &Shared, rec: &Recorded) -> Answer {
    let mut parts = rec.path.trim_start_matches('/').splitn(2, '/');
    let (Some(endpoint), Some(key)) = (parts.next(), parts.next()) else {
        return Answer::json(404, json!({"error": "not found"}));
    };
    if !["reset", "truncate", "stall", "burst", "fail"].contains(&endpoint) {
        return Answer::json(404, json!({"error": "not found"}));
    }
    let n = shared.bump(format!("{endpoint}/{key}"));
    let ok = || Answer::json(200, json!({"ok": true, "key": key, "calls": n}));
    let faulty = |default: u64| n <= param(&rec.query, "n").unwrap_or(default);
    match endpoint {
        "reset" if faulty(2) => Answer::Reset,
        "truncate" if faulty(2) => ok().cut_short(),
        "stall" => Answer::Stall,
        "burst" if faulty(3) => {
            let secs = param(&rec.query, "secs").unwrap_or(1);
            Answer::json(429, json!({"error": "slow down"})).with_header("Retry-After", secs.to_string())
        }
        "fail" if faulty(2) => {
            let status = param(&rec.query, "status").and_then(|s| u16::try_from(s).ok()).unwrap_or(503);
            Answer::json(status, json!({"error": "try again"}))
        }
        _ => ok(),
    }
}
