//! The service a benchmark's flows call: answers `GET|POST /answer` at once with a small JSON
//! body, on a port of 127.0.0.1 the OS chooses, which it prints on stdout. Nothing is recorded,
//! so its memory stays flat however many requests it serves. Stops on SIGTERM or SIGINT.

use axum::routing::any;
use axum::Router;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind 127.0.0.1:0");
        println!("http://{}", listener.local_addr().expect("local address"));
        let app = Router::new().route(
            "/answer",
            any(|| async { ([("content-type", "application/json")], "{\"ok\":true,\"answer\":42}") }),
        );
        let stop = async {
            use tokio::signal::unix::{signal, SignalKind};
            let (mut int, mut term) =
                (signal(SignalKind::interrupt()).expect("SIGINT"), signal(SignalKind::terminate()).expect("SIGTERM"));
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        };
        axum::serve(listener, app).with_graceful_shutdown(stop).await.expect("serve");
    });
}
