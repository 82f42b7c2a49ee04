//! An OpenAI embeddings stand-in, after the API reference: `POST
//! /openai/{scenario}/v1/embeddings` with `{model, input}` (a string or an array of strings)
//! and `Authorization: Bearer test-key` (else 401 `invalid_api_key`) answers
//! `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
//! "usage"}`. A text's embedding counts its words (lower-cased runs of letters and digits)
//! into 16 buckets by a hash of each word, so texts that share words are close. Scenario
//! `short` answers one vector fewer than asked.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

use super::{openai_error, Shared};

pub(super) fn routes(router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    router.route("/openai/{scenario}/v1/embeddings", post(embeddings))
}

/// The stand-in's embedding of `text`.
pub fn embedding(text: &str) -> Vec<f64> {
    let mut vector = vec![0.0; 16];
    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        // FNV-1a: stable across runs and platforms.
        let hash =
            word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        vector[(hash % 16) as usize] += 1.0;
    }
    vector
}

async fn embeddings(Path(scenario): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some("Bearer test-key") {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let texts: Vec<String> = match &request["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        _ => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "'input' must be a string or an array of strings",
                "invalid_request_error",
                None,
            )
        }
    };
    if request["model"].as_str().is_none() || texts.is_empty() {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "you must provide a model and a non-empty input",
            "invalid_request_error",
            None,
        );
    }
    let shown = if scenario == "short" { texts.len() - 1 } else { texts.len() };
    let data: Vec<Value> = texts
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": embedding(text)}))
        .collect();
    let tokens: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    Json(json!({"object": "list", "data": data, "model": request["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
        .into_response()
}
