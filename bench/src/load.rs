//! The load generator: a closed loop of N connections, each sending the next request as soon
//! as the previous answer is read, for a fixed time; every latency is kept (in µs) and the
//! percentiles are exact.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::stats::percentile;

/// One load run.
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub body: Bytes,
    pub connections: usize,
    /// Time spent loading before measuring (the answers are read, not counted).
    pub warmup: Duration,
    /// Time during which new requests are started.
    pub duration: Duration,
    /// After `duration`, how long requests in flight may still take; after that they are
    /// abandoned and counted as unfinished.
    pub grace: Duration,
}

/// What one load run measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub connections: usize,
    pub ok: u64,
    pub failed: u64,
    pub unfinished: u64,
    pub elapsed_s: f64,
    pub rps: f64,
    pub p50_us: Option<u32>,
    pub p99_us: Option<u32>,
    pub mean_us: Option<f64>,
    pub first_error: Option<String>,
}

impl Measured {
    pub fn to_json(&self) -> Value {
        json!({
            "connections": self.connections,
            "ok": self.ok,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "elapsed_s": self.elapsed_s,
            "rps": self.rps,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "mean_us": self.mean_us,
            "first_error": self.first_error,
        })
    }
}

/// An HTTP client for loopback only: no proxy, HTTP/1, one pooled connection per worker.
pub fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections)
        .build()
        .expect("an HTTP client")
}

/// Sends one request and reads the whole answer: (status, body).
pub async fn post(client: &reqwest::Client, url: &str, body: Bytes, timeout: Duration) -> Result<(u16, Bytes), String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| error_chain(&e))?;
    Ok((status, body))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

struct Worker {
    latencies: Vec<u32>,
    failed: u64,
    unfinished: u64,
    first_error: Option<String>,
}

async fn worker(client: reqwest::Client, load: Load, until: Instant, measure: bool) -> Worker {
    let mut w = Worker { latencies: Vec::new(), failed: 0, unfinished: 0, first_error: None };
    let hard_stop = until + load.grace;
    while Instant::now() < until {
        let t0 = Instant::now();
        let left = hard_stop.saturating_duration_since(t0);
        let outcome = tokio::time::timeout(left, post(&client, &load.url, load.body.clone(), left)).await;
        let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        match outcome {
            Ok(Ok((200, _))) => w.latencies.push(us),
            Ok(Ok((status, body))) => {
                w.failed += 1;
                w.first_error.get_or_insert_with(|| {
                    format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]))
                });
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => {
                w.unfinished += 1;
                break;
            }
            Ok(Err(e)) if Instant::now() >= hard_stop => {
                w.unfinished += 1;
                w.first_error.get_or_insert(e);
                break;
            }
            Ok(Err(e)) => {
                w.failed += 1;
                w.first_error.get_or_insert(e);
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    if !measure {
        w.latencies.clear();
    }
    w
}

async fn phase(client: &reqwest::Client, load: &Load, length: Duration, measure: bool) -> (Vec<Worker>, f64) {
    let start = Instant::now();
    let until = start + length;
    let tasks: Vec<_> =
        (0..load.connections).map(|_| tokio::spawn(worker(client.clone(), load.clone(), until, measure))).collect();
    let mut workers = Vec::new();
    for task in tasks {
        workers.push(task.await.expect("a load worker"));
    }
    (workers, start.elapsed().as_secs_f64())
}

/// Runs the warm-up, then the measured phase.
pub async fn run(load: &Load) -> Measured {
    let client = client(load.connections);
    if !load.warmup.is_zero() {
        phase(&client, load, load.warmup, false).await;
    }
    let (workers, elapsed_s) = phase(&client, load, load.duration, true).await;
    let mut latencies: Vec<u32> = Vec::new();
    let mut m = Measured { connections: load.connections, elapsed_s, ..Measured::default() };
    for w in workers {
        latencies.extend(w.latencies);
        m.failed += w.failed;
        m.unfinished += w.unfinished;
        if m.first_error.is_none() {
            m.first_error = w.first_error;
        }
    }
    latencies.sort_unstable();
    m.ok = latencies.len() as u64;
    m.rps = if elapsed_s > 0.0 { m.ok as f64 / elapsed_s } else { 0.0 };
    m.p50_us = percentile(&latencies, 0.5);
    m.p99_us = percentile(&latencies, 0.99);
    if !latencies.is_empty() {
        m.mean_us = Some(latencies.iter().map(|&l| l as f64).sum::<f64>() / latencies.len() as f64);
    }
    m
}
