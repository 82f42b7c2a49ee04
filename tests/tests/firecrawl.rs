//! `firecrawl_scrape` (and the web-research pipeline: scrape → llm → output) against local
//! stand-ins that follow Firecrawl's and OpenAI's API references, on 127.0.0.1.

use std::time::Duration;

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const KEYS: [(&str, &str); 2] = [("FIRECRAWL_API_KEY", "fc-test"), ("OPENAI_API_KEY", "test-key")];

fn research(server: &TestServer, scenario: &str, env: &[(&str, &str)]) -> Run {
    let input = json!({
        "url": "https://example.com/post",
        "firecrawl": format!("{}/firecrawl/{scenario}", server.base_url()),
        "openai": format!("{}/openai/ok/v1", server.base_url()),
    });
    run(&build("web-research"), &input, &[], env)
}

#[test]
fn scrape_then_summarise() {
    let server = TestServer::start_blocking();
    let result = research(&server, "ok", &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "success");
    assert_eq!(
        result.result["outputs"]["summary"],
        json!({
            "text": "echo: # Page https://example.com/post\n\nMain content only: true.",
            "links": ["https://example.com/post/a", "https://example.com/post/b"],
            "title": "Page https://example.com/post"
        })
    );
    assert_eq!(result.node("scrape")["metadata"]["source_url"], "https://example.com/post");
    assert_eq!(result.node("scrape")["metadata"]["status_code"], 200);

    let calls = server.requests_to("/firecrawl/ok/v1/scrape");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].header("authorization"), Some("Bearer fc-test"));
    assert_eq!(
        calls[0].json(),
        json!({"url": "https://example.com/post", "formats": ["markdown", "links"], "onlyMainContent": true})
    );
    let prompt = &server.requests_to("/openai/ok/")[0].json()["messages"][1]["content"];
    assert_eq!(
        prompt, "# Page https://example.com/post\n\nMain content only: true.",
        "the scrape's markdown is the prompt"
    );
}

#[test]
fn a_bad_token_is_a_permission_error() {
    let server = TestServer::start_blocking();
    let result = research(&server, "ok", &[("FIRECRAWL_API_KEY", "fc-wrong"), KEYS[1]]);
    assert_eq!(result.code, 1);
    let error = &result.node("scrape")["error"];
    assert_eq!(error["kind"], "permission");
    assert_eq!(error["message"], "Firecrawl: Unauthorized: Invalid token (HTTP 401)");
    assert_eq!(result.node("summary")["status"], "skipped");
}

#[test]
fn rate_limits_wait_for_retry_after() {
    let server = TestServer::start_blocking();
    let result = research(&server, "rate-limited-a", &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.node("scrape")["attempts"], 2);
    let calls = server.requests_to("/firecrawl/rate-limited-a/");
    let waited = calls[1].received_at.duration_since(calls[0].responded_at);
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}, Retry-After said 1 s");
}

#[test]
fn a_server_error_is_retried_until_success() {
    let server = TestServer::start_blocking();
    let result = research(&server, "flaky-a", &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.node("scrape")["attempts"], 2);
    assert_eq!(result.node("scrape")["status"], "success");
}

#[test]
fn a_malformed_body_and_a_refused_page_are_validation_errors() {
    let server = TestServer::start_blocking();
    let malformed = research(&server, "malformed", &KEYS);
    assert_eq!(malformed.node("scrape")["error"]["code"], "invalid_json");
    assert_eq!(malformed.node("scrape")["attempts"], 1);
    let blocked = research(&server, "blocked", &KEYS);
    let error = &blocked.node("scrape")["error"];
    assert_eq!(error["code"], "scrape_failed");
    assert!(error["message"].as_str().unwrap().ends_with("This website is no longer supported."), "{error}");
    assert_eq!(blocked.node("scrape")["data"]["body"]["success"], false, "the answer is kept");
}

#[test]
fn a_slow_scrape_times_out_and_an_unreachable_one_is_a_network_error() {
    let server = TestServer::start_blocking();
    let slow = research(&server, "slow", &KEYS);
    assert_eq!(slow.node("scrape")["error"]["kind"], "timeout");
    assert_eq!(slow.node("scrape")["attempts"], 3);

    let port = flowc_tests::free_port();
    let input = json!({"url": "https://example.com", "firecrawl": format!("http://127.0.0.1:{port}"), "openai": "http://127.0.0.1:9/v1"});
    let unreachable = run(&build("web-research"), &input, &[], &KEYS);
    assert_eq!(unreachable.node("scrape")["error"]["kind"], "network");
    assert_eq!(unreachable.result["outputs"], Value::Object(Default::default()));
}

/// Nodes without a `base_url` call the hosted APIs at their default roots, which the
/// variables the official SDKs read move: `FIRECRAWL_API_URL` and `OPENAI_BASE_URL`. Without
/// them the run goes to the hosted APIs, which this machine cannot reach.
#[test]
fn the_sdk_variables_move_the_default_roots() {
    let server = TestServer::start_blocking();
    let binary = build("hosted-defaults");
    let firecrawl = format!("{}/firecrawl/ok", server.base_url());
    let openai = format!("{}/openai/ok/v1", server.base_url());
    let env = [KEYS[0], KEYS[1], ("FIRECRAWL_API_URL", firecrawl.as_str()), ("OPENAI_BASE_URL", openai.as_str())];
    let input = json!({"url": "https://example.com/post"});
    let result = run(&binary, &input, &[], &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        result.result["outputs"]["summary"],
        "echo: # Page https://example.com/post\n\nMain content only: true."
    );
    assert_eq!(server.requests_to("/firecrawl/ok/v1/scrape").len(), 1);
    assert_eq!(server.requests_to("/openai/ok/v1/chat/completions").len(), 1);

    // `health` checks the hosts the variables name.
    let health = flowc_tests::bin::run_tool(&binary, &["health", "--format", "json"], &env);
    let report = health.json();
    let hosts: Vec<&Value> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["check"] == "host")
        .map(|c| &c["target"])
        .collect();
    assert_eq!(hosts, [&json!(server.base_url())], "one origin serves both stand-ins");

    // Unset, they leave the default: the hosted API, unreachable here.
    let hosted = run(&binary, &input, &[], &KEYS);
    assert_eq!(hosted.code, 1);
    assert_eq!(hosted.node("page")["error"]["kind"], "network", "{}", hosted.node("page"));
    assert!(server.requests_to("/firecrawl/").len() == 1, "nothing more reached the stand-in");
}
