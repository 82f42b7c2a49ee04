//! Stand-ins for the web search APIs, after their public references (see `runtime/src/search.rs`
//! for what each is asked). Each gives `max(1, min(asked, 20))` results (SerpApi and SearXNG,
//! which take no count, give 8) for a query `q`: title `q result i`, URL
//! `https://example.com/{provider}/{i}?q=…`, snippet `About q (i)`.
//!
//! | path | key |
//! |---|---|
//! | `GET /brave/{scenario}/res/v1/web/search` | `X-Subscription-Token: brave-test`, else 422 `SUBSCRIPTION_TOKEN_INVALID` |
//! | `POST /tavily/{scenario}/search` | `Authorization: Bearer tvly-test`, else 401 `{"detail": {"error": …}}` |
//! | `GET /serpapi/{scenario}/search.json` | `api_key=serp-test`, else 401 `{"error": …}` |
//! | `GET /searxng/{scenario}/search` | none; `format` other than `json` is a 403 HTML page |
//!
//! Scenarios: `ok`; `empty` (nothing found, in the provider's way: Brave without `web`,
//! SerpApi a 200 with an `error`, the others an empty list); `rate-limited-K` (the first call
//! for K: 429 with `Retry-After: 1` and the provider's error body); `flaky-K` (the first call:
//! 500); `down` (SearXNG: every engine failed, a 200 with no results); `no-json` (SearXNG: the
//! JSON format is not enabled, always 403).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Shared;

pub(super) fn routes(router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    router
        .route("/brave/{scenario}/res/v1/web/search", get(brave))
        .route("/tavily/{scenario}/search", post(tavily))
        .route("/serpapi/{scenario}/search.json", get(serpapi))
        .route("/searxng/{scenario}/search", get(searxng))
}

type Params = Query<std::collections::HashMap<String, String>>;

fn results(provider: &str, query: &str, n: usize, link: &str, snippet: &str) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let url = format!("https://example.com/{provider}/{i}?q={}", query.replace(' ', "+"));
            let mut item = json!({"title": format!("{query} result {i}"), "position": i});
            item[link] = json!(url);
            item[snippet] = json!(format!("About {query} ({i})"));
            item
        })
        .collect()
}

/// The fault `scenario` asks for on call `n`, as a status; `None`: answer normally.
fn fault(shared: &Shared, provider: &str, scenario: &str) -> Option<StatusCode> {
    let n = shared.bump(format!("{provider}/{scenario}"));
    match scenario {
        s if s.starts_with("rate-limited") && n == 1 => Some(StatusCode::TOO_MANY_REQUESTS),
        s if s.starts_with("flaky") && n == 1 => Some(StatusCode::INTERNAL_SERVER_ERROR),
        _ => None,
    }
}

fn with_retry_after(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    }
    response
}

fn brave_error(status: StatusCode, code: Option<&str>, detail: &str) -> Response {
    let error = json!({"id": "00000000-0000-0000-0000-000000000000", "status": status.as_u16(), "code": code, "detail": detail});
    with_retry_after(status, json!({"type": "ErrorResponse", "error": error, "time": 1_700_000_000}))
}

async fn brave(
    State(shared): State<Arc<Shared>>,
    Path(scenario): Path<String>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    if headers.get("x-subscription-token").and_then(|v| v.to_str().ok()) != Some("brave-test") {
        return brave_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("SUBSCRIPTION_TOKEN_INVALID"),
            "The provided subscription token is invalid.",
        );
    }
    let Some(q) = params.get("q").filter(|q| !q.is_empty()) else {
        return brave_error(StatusCode::UNPROCESSABLE_ENTITY, None, "Unable to validate request parameter(s)");
    };
    if let Some(status) = fault(&shared, "brave", &scenario) {
        let code = if status == StatusCode::TOO_MANY_REQUESTS { "RATE_LIMITED" } else { "INTERNAL" };
        return brave_error(status, Some(code), "Request rate limit exceeded for plan.");
    }
    if scenario == "empty" {
        return Json(json!({"type": "search", "query": {"original": q}})).into_response();
    }
    let count = params.get("count").and_then(|c| c.parse().ok()).unwrap_or(20usize).clamp(1, 20);
    let results = results("brave", q, count, "url", "description");
    Json(json!({"type": "search", "query": {"original": q}, "web": {"type": "search", "results": results, "family_friendly": true}}))
        .into_response()
}

async fn tavily(
    State(shared): State<Arc<Shared>>,
    Path(scenario): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some("Bearer tvly-test") {
        let error = json!({"detail": {"error": "Unauthorized: missing or invalid API key."}});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(query) = request["query"].as_str().filter(|q| !q.is_empty()) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"detail": {"error": "Query is missing."}}))).into_response();
    };
    if let Some(status) = fault(&shared, "tavily", &scenario) {
        return with_retry_after(status, json!({"detail": {"error": "Too many requests."}}));
    }
    let n = if scenario == "empty" { 0 } else { request["max_results"].as_u64().unwrap_or(5).clamp(1, 20) as usize };
    let mut results = results("tavily", query, n, "url", "content");
    for (i, item) in results.iter_mut().enumerate() {
        item["score"] = json!(1.0 - i as f64 / 40.0);
    }
    Json(json!({"query": query, "answer": null, "images": [], "results": results, "response_time": 0.5}))
        .into_response()
}

async fn serpapi(State(shared): State<Arc<Shared>>, Path(scenario): Path<String>, Query(params): Params) -> Response {
    if params.get("api_key").map(String::as_str) != Some("serp-test") {
        let error =
            json!({"error": "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    let (Some(q), Some("google")) = (params.get("q"), params.get("engine").map(String::as_str)) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "Missing query `q` parameter."}))).into_response();
    };
    if let Some(status) = fault(&shared, "serpapi", &scenario) {
        return with_retry_after(status, json!({"error": "Your account has run out of searches."}));
    }
    let metadata = json!({"id": "search-1", "status": "Success"});
    if scenario == "empty" {
        let error = "Google hasn't returned any results for this query.";
        return Json(json!({"search_metadata": metadata, "error": error, "search_information": {"organic_results_state": "Fully empty"}}))
            .into_response();
    }
    let results = results("serpapi", q, 8, "link", "snippet");
    Json(json!({"search_metadata": metadata, "search_parameters": {"engine": "google", "q": q}, "organic_results": results}))
        .into_response()
}

async fn searxng(State(shared): State<Arc<Shared>>, Path(scenario): Path<String>, Query(params): Params) -> Response {
    let forbidden = || {
        let page = "<!doctype html><title>403 Forbidden</title><h1>Forbidden</h1>";
        (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
    };
    if scenario == "no-json" || params.get("format").map(String::as_str) != Some("json") {
        return forbidden();
    }
    let Some(q) = params.get("q").filter(|q| !q.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "no query").into_response();
    };
    if let Some(status) = fault(&shared, "searxng", &scenario) {
        return with_retry_after(status, json!({"error": "busy"}));
    }
    let (results, unresponsive) = match scenario.as_str() {
        "down" => (Vec::new(), json!([["duckduckgo", "timeout"], ["brave", "HTTP error"]])),
        "empty" => (Vec::new(), json!([])),
        _ => (results("searxng", q, 8, "url", "content"), json!([])),
    };
    Json(json!({"query": q, "number_of_results": 0, "results": results, "answers": [], "suggestions": [], "unresponsive_engines": unresponsive}))
        .into_response()
}
