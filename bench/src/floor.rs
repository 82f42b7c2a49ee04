//! The floor: flow (3) — five HTTP calls in a chain — written by hand with tokio, axum and
//! reqwest, as a careful engineer would without flowc. `POST /run` takes the same input as
//! the flow and answers `{"status": "success", "outputs": {"result": …}}`, the part of a flowc
//! run result the harness reads. flowc's generated program should be within 1.1× of it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::flows::CHAIN;

async fn run(State(client): State<reqwest::Client>, body: Bytes) -> Response {
    let input: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let (Some(base), Some(key)) = (input["base_url"].as_str(), input["key"].as_str()) else {
        return (StatusCode::BAD_REQUEST, "base_url and key are required").into_response();
    };
    let mut v = key.to_string();
    let mut answer = Value::Null;
    for i in 1..=CHAIN {
        let url = format!("{base}/echo/{v}-{i}");
        let result = async {
            let response = client.get(&url).send().await?.error_for_status()?;
            response.bytes().await
        }
        .await;
        let bytes = match result {
            Ok(b) => b,
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        };
        answer = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        };
        v = answer["v"].as_str().unwrap_or_default().to_string();
    }
    let out = json!({"status": "success", "outputs": {"result": answer}});
    ([(CONTENT_TYPE, "application/json")], out.to_string()).into_response()
}

/// `flowc-bench floor --addr ADDR`: serves until killed.
pub async fn serve(addr: &str) -> std::io::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build().map_err(std::io::Error::other)?;
    let app = Router::new().route("/run", post(run)).route("/healthz", get(|| async { "ok" })).with_state(client);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
