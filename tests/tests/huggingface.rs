//! `huggingface_inference` (and the knowledge-base pipeline: firecrawl_scrape →
//! huggingface_inference → output) against local stand-ins that follow the Inference API's and
//! Firecrawl's references, on 127.0.0.1.

use std::time::Duration;

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::{TestServer, HF_RATE_LIMITED, HF_SERVER_ERROR};
use serde_json::{json, Value};

const KEYS: [(&str, &str); 2] = [("FIRECRAWL_API_KEY", "fc-test"), ("HF_TOKEN", "hf_test")];

/// The text the summarise-text flow summarises; the stand-in's summary is its first 5 words.
const TEXT: &str = "Compiled flows start in milliseconds and find their mistakes before they run";
const SUMMARY: &str = "Compiled flows start in milliseconds";

/// Runs the summarise-text flow (one summarization call, `timeout_ms` 1000, 3 attempts 50 ms
/// apart) against `base_url`, with progress events.
fn summarise(base_url: &str) -> Run {
    let input = json!({"huggingface": base_url, "text": TEXT});
    run(&build("summarise-text"), &input, &["--events"], &[KEYS[1]])
}

fn sentiment(server: &TestServer, scenario: &str, model: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut input = json!({
        "posts": ["the bill was bad again", "love the new release", "bad bad bad"],
        "huggingface": format!("{}/hf/{scenario}", server.base_url()),
    });
    if let Some(model) = model {
        input["model"] = json!(model);
    }
    run(&build("sentiment"), &input, &[], env)
}

#[test]
fn knowledge_base_scrapes_and_embeds() {
    let server = TestServer::start_blocking();
    let input = json!({
        "url": "https://example.com/docs",
        "firecrawl": format!("{}/firecrawl/ok", server.base_url()),
        "huggingface": format!("{}/hf/ok", server.base_url()),
    });
    let result = run(&build("knowledge-base"), &input, &[], &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let text = "# Page https://example.com/docs\n\nMain content only: true.";
    assert_eq!(
        result.result["outputs"]["document"],
        json!({"source": "https://example.com/docs", "text": text, "embedding": [text.len() as f64 / 100.0, 7.0, 0.5, -0.25]})
    );
    let embed = result.node("embed");
    assert_eq!(
        embed["metadata"],
        json!({"model": "sentence-transformers/all-MiniLM-L6-v2", "task": "feature-extraction"})
    );
    let calls = server.requests_to("/hf/ok/models/");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/hf/ok/models/sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].header("authorization"), Some("Bearer hf_test"));
    assert_eq!(calls[0].json(), json!({"inputs": text}));
}

#[test]
fn classification_and_zero_shot() {
    let server = TestServer::start_blocking();
    let result = sentiment(&server, "ok", None, &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["out"], json!({"negative": 2, "topic": "billing"}));
    let calls = server.requests_to("/hf/ok/models/facebook/bart-large-mnli");
    assert_eq!(
        calls[0].json(),
        json!({"inputs": "the bill was bad again", "parameters": {"candidate_labels": ["billing", "bugs", "praise"]}})
    );
}

#[test]
fn a_loading_model_is_waited_for() {
    let server = TestServer::start_blocking();
    let result = sentiment(&server, "loading-a", None, &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let retried: Vec<_> = ["classify", "topic"].into_iter().filter(|n| result.node(n)["attempts"] == 2).collect();
    assert_eq!(retried.len(), 1, "the first call got the 503: {}", result.stdout);
    let calls = server.requests_to("/hf/loading-a/");
    assert_eq!(calls.len(), 3);
    // The two nodes call at the same moment: the log's order need not be the order in which
    // the stand-in counted them, so the 503 is looked up rather than assumed first.
    let loading: Vec<_> = calls.iter().filter(|c| c.status == Some(503)).collect();
    assert_eq!(loading.len(), 1, "{calls:#?}");
    let retry = calls.iter().find(|c| c.path == loading[0].path && c.status == Some(200)).unwrap();
    let waited = retry.received_at.duration_since(loading[0].responded_at);
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}, estimated_time said 1 s");
}

#[test]
fn a_bad_token_is_a_permission_error() {
    let server = TestServer::start_blocking();
    let result = sentiment(&server, "ok", None, &[("HF_TOKEN", "hf_wrong")]);
    assert_eq!(result.code, 1);
    let error = &result.node("classify")["error"];
    assert_eq!(error["kind"], "permission");
    assert_eq!(error["message"], "Hugging Face: Invalid credentials in Authorization header (HTTP 401)");
    assert_eq!(result.node("classify")["attempts"], 1);
}

#[test]
fn an_answer_of_the_wrong_shape_or_an_unknown_model_fails() {
    let server = TestServer::start_blocking();
    let broken = sentiment(&server, "ok", Some("acme/broken-model"), &KEYS);
    assert_eq!(broken.node("classify")["error"]["code"], "unexpected_answer");
    assert_eq!(broken.node("classify")["data"]["body"], json!({"unexpected": true}), "the answer is kept");
    let missing = sentiment(&server, "ok", Some("acme/nothing"), &KEYS);
    assert_eq!(missing.node("classify")["error"]["kind"], "not_found");
    assert_eq!(
        missing.node("classify")["error"]["message"],
        "Hugging Face: Model acme/nothing does not exist (HTTP 404)"
    );
}

#[test]
fn a_summary_is_asked_for_with_the_task_parameters() {
    let server = TestServer::start_blocking();
    let result = summarise(&format!("{}/hf/ok", server.base_url()));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"], json!({"summary": SUMMARY}));
    let summary = result.node("summary");
    assert_eq!(summary["attempts"], 1);
    assert_eq!(summary["data"], json!([{"summary_text": SUMMARY}]));
    assert_eq!(summary["metadata"], json!({"model": "facebook/bart-large-cnn", "task": "summarization"}));
    let calls = server.requests_to("/hf/ok/");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/hf/ok/models/facebook/bart-large-cnn");
    assert_eq!(calls[0].json(), json!({"inputs": TEXT, "parameters": {"max_length": 60}}));
}

#[test]
fn rate_limits_wait_for_retry_after() {
    let server = TestServer::start_blocking();
    let result = summarise(&format!("{}/hf/rate-limited-a", server.base_url()));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"], json!({"summary": SUMMARY}));
    assert_eq!(result.node("summary")["attempts"], 2);
    let calls = server.requests_to("/hf/rate-limited-a/");
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), [Some(429), Some(200)]);
    let waited = calls[1].received_at.duration_since(calls[0].responded_at);
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}, Retry-After said 1 s");
    let retries = result.events("node_retry");
    assert_eq!(retries.len(), 1, "{}", result.stderr);
    assert_eq!(retries[0]["attempt"], 1, "the attempt that failed");
    assert_eq!(retries[0]["delay_ms"], 1000, "Retry-After beats the policy's 50 ms");
    assert_eq!(
        retries[0]["error"],
        json!({
            "kind": "rate_limit",
            "message": format!("Hugging Face: {HF_RATE_LIMITED} (HTTP 429)"),
            "code": "http_429",
            "retryable": true,
            "status": 429
        })
    );
}

#[test]
fn a_server_error_is_retried_until_success() {
    let server = TestServer::start_blocking();
    let result = summarise(&format!("{}/hf/flaky-a", server.base_url()));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "success");
    assert_eq!(result.result["outputs"], json!({"summary": SUMMARY}));
    assert_eq!(result.node("summary")["attempts"], 2);
    let calls = server.requests_to("/hf/flaky-a/");
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), [Some(500), Some(200)]);
    assert_eq!(calls[0].body, calls[1].body, "the retry sends the same request");
    let retries = result.events("node_retry");
    assert_eq!(retries.len(), 1, "{}", result.stderr);
    assert_eq!(retries[0]["delay_ms"], 50, "the policy's initial delay");
    assert_eq!(
        retries[0]["error"],
        json!({
            "kind": "server_error",
            "message": format!("Hugging Face: {HF_SERVER_ERROR} (HTTP 500)"),
            "code": "http_500",
            "retryable": true,
            "status": 500
        })
    );
}

#[test]
fn a_malformed_body_is_a_validation_error_and_is_not_retried() {
    let server = TestServer::start_blocking();
    let result = summarise(&format!("{}/hf/malformed", server.base_url()));
    assert_eq!(result.code, 1);
    let summary = result.node("summary");
    assert_eq!(summary["status"], "error");
    assert_eq!(summary["attempts"], 1);
    let error = &summary["error"];
    assert_eq!(error["kind"], "validation");
    assert_eq!(error["code"], "invalid_json");
    assert_eq!(error["retryable"], false);
    assert_eq!(error["status"], 200);
    assert!(error["message"].as_str().unwrap().contains("the response is not JSON"), "{error}");
    assert_eq!(server.requests_to("/hf/malformed/").len(), 1);
    assert_eq!(result.node("out")["status"], "skipped");
    assert_eq!(result.result["outputs"], json!({}));
}

#[test]
fn a_slow_model_times_out_on_every_attempt() {
    let server = TestServer::start_blocking();
    let result = summarise(&format!("{}/hf/slow", server.base_url()));
    assert_eq!(result.code, 1);
    let summary = result.node("summary");
    assert_eq!(summary["attempts"], 3, "timeouts are retried");
    assert_eq!(
        summary["error"],
        json!({"kind": "timeout", "message": "attempt 3 did not finish within 1000 ms", "code": "attempt_timeout", "retryable": true})
    );
    let calls = server.requests_to("/hf/slow/");
    assert_eq!(calls.len(), 3);
    for call in &calls {
        // No status: the client went away before the answer, 1.5 s in.
        assert_eq!(call.status, None, "{call:?}");
        assert!(call.duration() >= Duration::from_millis(700), "cut after {:?}, timeout_ms is 1000", call.duration());
    }
    let retries = result.events("node_retry");
    assert_eq!(retries.iter().map(|e| e["error"]["code"].clone()).collect::<Vec<_>>(), ["attempt_timeout"; 2]);
}

#[test]
fn an_unreachable_server_is_a_network_error() {
    let port = flowc_tests::free_port();
    let result = summarise(&format!("http://127.0.0.1:{port}"));
    assert_eq!(result.code, 1);
    let summary = result.node("summary");
    assert_eq!(summary["attempts"], 3, "network errors are retried");
    assert_eq!(summary["error"]["kind"], "network");
    assert_eq!(summary["error"]["code"], "connect");
    assert_eq!(summary["error"]["retryable"], true);
    let message = summary["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("POST http://127.0.0.1:{port}/models/facebook/bart-large-cnn: ")),
        "{message}"
    );
    assert_eq!(summary["data"], Value::Null);
    assert_eq!(result.result["outputs"], json!({}));
}
