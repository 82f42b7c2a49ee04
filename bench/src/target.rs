//! The local target server every flow calls: `GET /echo/{v}` answers `{"v": v}` after a fixed
//! latency (0 by default), and the server records how long its own handling took, so that the
//! per-node overhead of an engine can leave it out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What the target server counted since the last [`TargetStats::take`].
#[derive(Debug, Default)]
pub struct TargetStats {
    requests: AtomicU64,
    nanos: AtomicU64,
}

impl TargetStats {
    /// (requests, mean handling time in µs) since the last call, and starts counting afresh.
    pub fn take(&self) -> (u64, f64) {
        let n = self.requests.swap(0, Ordering::Relaxed);
        let ns = self.nanos.swap(0, Ordering::Relaxed);
        (n, if n == 0 { 0.0 } else { ns as f64 / n as f64 / 1_000.0 })
    }
}

#[derive(Clone)]
struct Target {
    stats: Arc<TargetStats>,
    latency: Duration,
}

async fn echo(State(target): State<Target>, Path(v): Path<String>) -> Response {
    let start = Instant::now();
    if !target.latency.is_zero() {
        tokio::time::sleep(target.latency).await;
    }
    let body = serde_json::json!({ "v": v }).to_string();
    let response = ([(CONTENT_TYPE, "application/json")], body).into_response();
    target.stats.requests.fetch_add(1, Ordering::Relaxed);
    target.stats.nanos.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    response
}

/// The server's routes.
pub fn router(stats: Arc<TargetStats>, latency: Duration) -> Router {
    Router::new()
        .route("/echo/{v}", get(echo))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Target { stats, latency })
}

/// Starts the target server on 127.0.0.1 (any free port) on a runtime of its own, in its own
/// thread, so that it does not share worker threads with the load generator. Returns its base
/// URL and its statistics.
pub fn spawn(latency: Duration) -> std::io::Result<(String, Arc<TargetStats>)> {
    let stats = Arc::new(TargetStats::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let app = router(stats.clone(), latency);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("target").enable_all().build()?;
    std::thread::Builder::new().name("target".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("target server");
        })
    })?;
    Ok((format!("http://{addr}"), stats))
}

/// `flowc-bench target`: the same server in the foreground, for trying flows by hand.
pub async fn serve_forever(addr: &str, latency: Duration) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("target server on http://{}", listener.local_addr()?);
    axum::serve(listener, router(Arc::new(TargetStats::default()), latency)).await
}
