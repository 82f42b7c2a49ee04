//! The `llm` node against a local stand-in that follows OpenAI's chat-completions reference
//! (path, bearer auth, body, error bodies, `Retry-After`), on 127.0.0.1.

use std::time::Duration;

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const KEY: (&str, &str) = ("OPENAI_API_KEY", "test-key");

fn ask(server: &TestServer, scenario: &str, facts_scenario: &str, env: &[(&str, &str)]) -> Run {
    let input = json!({"base_url": server.base_url(), "topic": "compiled flows", "scenario": scenario, "facts_scenario": facts_scenario});
    run(&build("llm"), &input, &[], env)
}

#[test]
fn completions_are_requested_as_the_reference_says() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "ok", "ok", &[KEY]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "success");
    assert_eq!(
        result.result["outputs"]["out"],
        json!({"summary": "echo: Summarise: compiled flows", "answer": "compiled flows", "tokens": 11})
    );
    let summary = result.node("summary");
    assert_eq!(summary["data"]["model"], "gpt-4o-mini");
    assert_eq!(summary["metadata"]["finish_reason"], "stop");
    assert_eq!(summary["metadata"]["usage"], json!({"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}));

    let calls = server.requests_to("/openai/ok/v1/chat/completions");
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.method, "POST");
        assert_eq!(call.header("authorization"), Some("Bearer test-key"));
        assert_eq!(call.header("content-type"), Some("application/json"));
    }
    let bodies: Vec<Value> = calls.iter().map(|c| c.json()).collect();
    let summary_body = bodies.iter().find(|b| b["messages"].as_array().unwrap().len() == 2).unwrap();
    assert_eq!(
        summary_body,
        &json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Summarise in 5 bullets."}, {"role": "user", "content": "Summarise: compiled flows"}],
            "temperature": 0.2,
            "max_tokens": 100
        })
    );
    let facts_body = bodies.iter().find(|b| b["messages"].as_array().unwrap().len() == 1).unwrap();
    // With a `json_schema`, the structured-output format of the reference.
    assert_eq!(
        facts_body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "facts", "strict": false,
               "schema": {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}}})
    );
}

#[test]
fn an_answer_off_its_json_schema_is_a_validation_error_with_the_answer_kept() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "ok", "off-schema", &[KEY]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "partial", "facts fails under on_error: continue");
    let facts = result.node("facts");
    assert_eq!(facts["error"]["kind"], "validation", "{facts:#}");
    assert_eq!(facts["error"]["code"], "json_schema");
    assert_eq!(
        facts["error"]["message"],
        "the model's JSON answer does not match its `json_schema`: /answer: expected a string, found a number (42)"
    );
    assert_eq!(facts["data"]["json"], json!({"answer": 42}), "the answer is kept: {facts:#}");
    assert_eq!(facts["data"]["text"], "{\"answer\":42}");
}

#[test]
fn a_wrong_key_is_a_permission_error_with_the_service_message() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "ok", "ok", &[("OPENAI_API_KEY", "wrong")]);
    assert_eq!(result.code, 1);
    let summary = result.node("summary");
    assert_eq!(summary["error"]["kind"], "permission");
    assert_eq!(summary["error"]["code"], "invalid_api_key");
    assert_eq!(summary["error"]["status"], 401);
    assert!(summary["error"]["message"].as_str().unwrap().starts_with("Incorrect API key provided"));
    assert_eq!(summary["attempts"], 1, "permission errors are not retried");
}

#[test]
fn rate_limits_wait_for_retry_after() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "rate-limited-a", "ok", &[KEY]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.node("summary")["attempts"], 2);
    let calls = server.requests_to("/openai/rate-limited-a/");
    assert_eq!(calls.len(), 2);
    let waited = calls[1].received_at.duration_since(calls[0].responded_at);
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}, Retry-After said 1 s");
}

#[test]
fn a_server_error_is_retried_until_success() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "flaky-a", "ok", &[KEY]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.node("summary")["attempts"], 2);
    assert_eq!(result.result["outputs"]["out"]["summary"], "echo: Summarise: compiled flows");
}

#[test]
fn a_malformed_body_is_a_validation_error() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "malformed", "ok", &[KEY]);
    assert_eq!(result.code, 1);
    let error = &result.node("summary")["error"];
    assert_eq!(error["kind"], "validation");
    assert_eq!(error["code"], "invalid_json");
    assert_eq!(result.node("summary")["attempts"], 1);
}

#[test]
fn a_slow_answer_times_out() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "slow", "ok", &[KEY]);
    assert_eq!(result.code, 1);
    assert_eq!(result.node("summary")["error"]["kind"], "timeout");
    assert_eq!(result.node("summary")["attempts"], 3, "timeouts are retried");
}

#[test]
fn an_unreachable_server_is_a_network_error() {
    let port = flowc_tests::free_port();
    let input = json!({"base_url": format!("http://127.0.0.1:{port}"), "topic": "x"});
    let result = run(&build("llm"), &input, &[], &[KEY]);
    assert_eq!(result.code, 1);
    assert_eq!(result.node("summary")["error"]["kind"], "network");
    assert_eq!(result.node("summary")["attempts"], 3);
}

#[test]
fn prose_where_json_was_asked_for_is_a_validation_error() {
    let server = TestServer::start_blocking();
    let result = ask(&server, "ok", "chatty", &[KEY]);
    assert_eq!(result.code, 0, "facts has on_error continue: {}", result.stderr);
    assert_eq!(result.status(), "partial");
    let facts = result.node("facts");
    assert_eq!(facts["error"]["kind"], "validation");
    assert_eq!(facts["error"]["code"], "invalid_json");
    assert!(facts["data"]["text"].as_str().unwrap().starts_with("Sure!"), "the answer is kept: {facts}");
    assert_eq!(result.result["outputs"]["out"]["answer"], Value::Null);
}
