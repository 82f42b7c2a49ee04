//! `huggingface_inference` (and the knowledge-base pipeline: firecrawl_scrape →
//! huggingface_inference → output) against local stand-ins that follow the Inference API's and
//! Firecrawl's references, on 127.0.0.1.

use std::time::Duration;

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::TestServer;
use serde_json::json;

const KEYS: [(&str, &str); 2] = [("FIRECRAWL_API_KEY", "fc-test"), ("HF_TOKEN", "hf_test")];

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
    assert_eq!(calls[0].status, Some(503));
    let retry = calls.iter().skip(1).find(|c| c.path == calls[0].path).unwrap();
    let waited = retry.received_at.duration_since(calls[0].responded_at);
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
