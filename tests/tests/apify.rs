//! `apify_actor` (and the social-media pipeline: apify_actor → huggingface_inference) against
//! local stand-ins that follow Apify's API v2 and the Inference API references, on 127.0.0.1.

use std::time::Duration;

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::{TestServer, APIFY_RATE_LIMITED};
use serde_json::{json, Value};

const KEYS: [(&str, &str); 2] = [("APIFY_TOKEN", "apify_test"), ("HF_TOKEN", "hf_test")];

fn analyse(server: &TestServer, scenario: &str, actor: &str, env: &[(&str, &str)]) -> Run {
    let input = json!({
        "apify": format!("{}/apify/{scenario}", server.base_url()),
        "huggingface": format!("{}/hf/ok", server.base_url()),
        "actor": actor,
    });
    run(&build("social-media"), &input, &[], env)
}

/// Runs the collect-posts flow (one apify_actor node asking for 3 items, `timeout_ms` 1000, 3
/// attempts 50 ms apart) against `/apify/{scenario}`, with progress events.
fn collect(server: &TestServer, scenario: &str, token: &str) -> Run {
    let input = json!({"apify": format!("{}/apify/{scenario}", server.base_url())});
    run(&build("collect-posts"), &input, &["--events"], &[("APIFY_TOKEN", token)])
}

/// The 3 items the stand-in's dataset gives for `"count": 3`.
fn three_items() -> Value {
    json!([{"id": 1, "text": "post 1 is great"}, {"id": 2, "text": "post 2 is great"}, {"id": 3, "text": "post 3 is bad"}])
}

/// The statuses the stand-in answered to the requests under `prefix`, in order.
fn statuses(server: &TestServer, prefix: &str) -> Vec<Option<u16>> {
    server.requests_to(prefix).iter().map(|r| r.status).collect()
}

#[test]
fn runs_the_actor_polls_it_and_reads_its_items() {
    let server = TestServer::start_blocking();
    let result = analyse(&server, "ok", "apify/instagram-scraper", &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["out"], json!({"run": "run-ok-1", "report": {"posts": 4, "negative": 1}}));
    let posts = result.node("posts");
    assert_eq!(posts["data"]["status"], "SUCCEEDED");
    assert_eq!(posts["data"]["items"].as_array().unwrap().len(), 4, "max_items caps the read");
    assert_eq!(posts["metadata"]["dataset_id"], "ds-ok-1");

    let start = &server.requests_to("/apify/ok/v2/acts/")[0];
    assert_eq!(start.method, "POST");
    assert_eq!(start.path, "/apify/ok/v2/acts/apify~instagram-scraper/runs", "user/name is sent as user~name");
    assert_eq!(start.header("authorization"), Some("Bearer apify_test"));
    assert_eq!(start.json(), json!({"username": ["flowc"], "resultsLimit": 20, "count": 6}));
    assert_eq!(server.requests_to("/apify/ok/v2/actor-runs/run-ok-1").len(), 2, "polled until SUCCEEDED");
    let items = &server.requests_to("/apify/ok/v2/datasets/")[0];
    assert_eq!(items.path, "/apify/ok/v2/datasets/ds-ok-1/items");
    assert_eq!(items.query, "format=json&clean=true&limit=4");
}

#[test]
fn a_failed_run_is_an_error_that_names_it() {
    let server = TestServer::start_blocking();
    let result = analyse(&server, "failed", "apify/instagram-scraper", &KEYS);
    assert_eq!(result.code, 1);
    let posts = result.node("posts");
    assert_eq!(posts["error"]["code"], "actor_failed");
    assert!(posts["error"]["message"].as_str().unwrap().contains("run-failed-1"), "{posts}");
    assert_eq!(posts["data"], json!({"run_id": "run-failed-1", "status": "FAILED"}));
    assert_eq!(result.node("sentiment")["status"], "skipped");
}

#[test]
fn a_run_that_outlives_timeout_secs_is_aborted() {
    let server = TestServer::start_blocking();
    let result = analyse(&server, "stuck", "apify/instagram-scraper", &KEYS);
    assert_eq!(result.code, 1);
    let posts = result.node("posts");
    assert_eq!(posts["error"]["kind"], "timeout");
    assert_eq!(posts["error"]["code"], "actor_timeout");
    assert_eq!(posts["data"]["run_id"], "run-stuck-1");
    let aborts = server.requests_to("/apify/stuck/v2/actor-runs/run-stuck-1/abort");
    assert_eq!(aborts.len(), 1, "the run was aborted");
    assert_eq!(aborts[0].method, "POST");
}

#[test]
fn a_missing_actor_and_a_bad_token_are_reported_as_apify_says() {
    let server = TestServer::start_blocking();
    let missing = analyse(&server, "ok", "nobody/missing", &KEYS);
    assert_eq!(missing.node("posts")["error"]["kind"], "not_found");
    assert_eq!(missing.node("posts")["error"]["code"], "record-not-found");
    assert_eq!(missing.node("posts")["error"]["message"], "Apify: Actor was not found (HTTP 404)");
    let denied = analyse(&server, "ok", "apify/instagram-scraper", &[("APIFY_TOKEN", "nope"), KEYS[1]]);
    assert_eq!(denied.node("posts")["error"]["kind"], "permission");
    assert_eq!(denied.node("posts")["error"]["code"], "token-not-valid");
}

#[test]
fn a_rate_limited_start_waits_for_retry_after_and_starts_one_run() {
    let server = TestServer::start_blocking();
    let result = collect(&server, "rate-limited-start-a", "apify_test");
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["out"], json!({"run": "run-rate-limited-start-a-1", "items": three_items()}));
    assert_eq!(result.node("posts")["attempts"], 2);
    let starts = server.requests_to("/apify/rate-limited-start-a/v2/acts/");
    assert_eq!(starts.iter().map(|r| r.status).collect::<Vec<_>>(), [Some(429), Some(201)]);
    let waited = starts[1].received_at.duration_since(starts[0].responded_at);
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}, Retry-After said 1 s");
    assert_eq!(
        statuses(&server, "/apify/rate-limited-start-a/v2/actor-runs/"),
        [Some(200); 2],
        "only the run the second start made is polled"
    );
    let retries = result.events("node_retry");
    assert_eq!(retries.len(), 1, "{}", result.stderr);
    assert_eq!(retries[0]["attempt"], 1, "the attempt that failed");
    assert_eq!(retries[0]["delay_ms"], 1000, "Retry-After beats the policy's 50 ms");
    assert_eq!(
        retries[0]["error"],
        json!({
            "kind": "rate_limit",
            "message": format!("Apify: {APIFY_RATE_LIMITED} (HTTP 429)"),
            "code": "rate-limit-exceeded",
            "retryable": true,
            "status": 429
        })
    );
}

#[test]
fn without_retries_a_rate_limit_fails_the_node_at_once() {
    let server = TestServer::start_blocking();
    // social-media's `posts` node has `"retry": false`.
    let result = analyse(&server, "rate-limited-start-a", "apify/instagram-scraper", &KEYS);
    assert_eq!(result.code, 1);
    let posts = result.node("posts");
    assert_eq!(posts["attempts"], 1);
    assert_eq!(
        posts["error"],
        json!({
            "kind": "rate_limit",
            "message": format!("Apify: {APIFY_RATE_LIMITED} (HTTP 429)"),
            "code": "rate-limit-exceeded",
            "retryable": true,
            "status": 429
        })
    );
    assert_eq!(posts["data"]["status"], 429, "the answer is kept: {posts}");
    assert_eq!(posts["data"]["headers"]["retry-after"], "1");
    assert_eq!(posts["data"]["body"]["error"]["type"], "rate-limit-exceeded");
    assert_eq!(server.requests_to("/apify/rate-limited-start-a/").len(), 1, "one call, no retry");
    assert_eq!(result.node("sentiment")["status"], "skipped");
    assert_eq!(result.result["outputs"], json!({}));
}

#[test]
fn a_server_error_while_polling_is_retried_in_place() {
    let server = TestServer::start_blocking();
    let result = collect(&server, "flaky-poll-a", "apify_test");
    assert_eq!(result.code, 0, "{}", result.stderr);
    let posts = result.node("posts");
    assert_eq!(posts["attempts"], 1, "the node itself is not retried");
    assert_eq!(result.result["outputs"]["out"], json!({"run": "run-flaky-poll-a-1", "items": three_items()}));
    assert_eq!(statuses(&server, "/apify/flaky-poll-a/v2/acts/"), [Some(201)], "one run only");
    assert_eq!(
        statuses(&server, "/apify/flaky-poll-a/v2/actor-runs/run-flaky-poll-a-1"),
        [Some(500), Some(200), Some(200)],
        "the failed poll is repeated"
    );
    assert!(result.events("node_retry").is_empty(), "{}", result.stderr);
}

#[test]
fn a_server_error_reading_the_items_is_retried_in_place() {
    let server = TestServer::start_blocking();
    let result = collect(&server, "flaky-items-a", "apify_test");
    assert_eq!(result.code, 0, "{}", result.stderr);
    let posts = result.node("posts");
    assert_eq!(posts["attempts"], 1);
    assert_eq!(result.result["outputs"]["out"], json!({"run": "run-flaky-items-a-1", "items": three_items()}));
    assert_eq!(statuses(&server, "/apify/flaky-items-a/v2/acts/"), [Some(201)], "one run only");
    let reads: Vec<(String, Option<u16>)> =
        server.requests_to("/apify/flaky-items-a/v2/datasets/").into_iter().map(|r| (r.path, r.status)).collect();
    let path = "/apify/flaky-items-a/v2/datasets/ds-flaky-items-a-1/items".to_owned();
    assert_eq!(reads, [(path.clone(), Some(500)), (path, Some(200))]);
}

#[test]
fn a_malformed_answer_is_a_validation_error_and_is_not_retried() {
    let server = TestServer::start_blocking();
    let start = collect(&server, "malformed-start", "apify_test");
    assert_eq!(start.code, 1);
    let posts = start.node("posts");
    assert_eq!(posts["attempts"], 1);
    assert_eq!(posts["error"]["kind"], "validation");
    assert_eq!(posts["error"]["code"], "invalid_json");
    assert_eq!(posts["error"]["retryable"], false);
    let message = posts["error"]["message"].as_str().unwrap();
    assert!(message.contains("/v2/acts/apify~instagram-scraper/runs: the response is not JSON"), "{message}");
    assert_eq!(server.requests_to("/apify/malformed-start/").len(), 1, "no poll, no retry");

    let items = collect(&server, "malformed-items", "apify_test");
    assert_eq!(items.code, 1);
    let posts = items.node("posts");
    assert_eq!(posts["attempts"], 1);
    assert_eq!(posts["error"]["kind"], "validation");
    assert_eq!(posts["error"]["code"], "invalid_json");
    let message = posts["error"]["message"].as_str().unwrap();
    assert!(message.contains("/v2/datasets/ds-malformed-items-1/items: the response is not JSON"), "{message}");
    assert_eq!(server.requests_to("/apify/malformed-items/v2/acts/").len(), 1, "one run only");
    assert_eq!(items.result["outputs"], json!({}));
    assert_eq!(
        posts["data"],
        json!({"run_id": "run-malformed-items-1", "status": "SUCCEEDED", "dataset_id": "ds-malformed-items-1"}),
        "the items can still be fetched by hand"
    );

    // A poll that cannot be read gives the run up: it is aborted, and named in the error.
    let poll = collect(&server, "malformed-poll", "apify_test");
    assert_eq!(poll.code, 1);
    let posts = poll.node("posts");
    assert_eq!(posts["attempts"], 1);
    assert_eq!(posts["error"]["kind"], "validation");
    assert_eq!(posts["data"]["run_id"], "run-malformed-poll-1");
    let message = posts["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("run run-malformed-poll-1: ") && message.ends_with("(the run was aborted)"),
        "{message}"
    );
    assert_eq!(server.requests_to("/apify/malformed-poll/v2/actor-runs/run-malformed-poll-1/abort").len(), 1);
}

#[test]
fn a_slow_poll_times_out_every_attempt_and_each_retry_starts_a_new_run() {
    let server = TestServer::start_blocking();
    let result = collect(&server, "slow-poll", "apify_test");
    assert_eq!(result.code, 1);
    let posts = result.node("posts");
    assert_eq!(posts["attempts"], 3, "timeouts are retried");
    assert_eq!(
        posts["error"],
        json!({"kind": "timeout", "message": "attempt 3 did not finish within 1000 ms", "code": "attempt_timeout", "retryable": true})
    );
    let runs: Vec<String> = server.requests_to("/apify/slow-poll/v2/actor-runs/").into_iter().map(|r| r.path).collect();
    assert_eq!(
        runs,
        (1..=3).map(|n| format!("/apify/slow-poll/v2/actor-runs/run-slow-poll-{n}")).collect::<Vec<_>>(),
        "one poll per run, none aborted (timeout_ms does not abort runs; timeout_secs does)"
    );
    assert_eq!(statuses(&server, "/apify/slow-poll/v2/actor-runs/"), [None; 3], "every poll was cut");
    assert_eq!(statuses(&server, "/apify/slow-poll/v2/acts/"), [Some(201); 3]);
}

#[test]
fn an_unreachable_api_is_a_network_error() {
    let port = flowc_tests::free_port();
    let input = json!({"apify": format!("http://127.0.0.1:{port}")});
    let result = run(&build("collect-posts"), &input, &[], &[KEYS[0]]);
    assert_eq!(result.code, 1);
    let posts = result.node("posts");
    assert_eq!(posts["attempts"], 3, "network errors are retried");
    assert_eq!(posts["error"]["kind"], "network");
    assert_eq!(posts["error"]["code"], "connect");
    let message = posts["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("POST http://127.0.0.1:{port}/v2/acts/apify~instagram-scraper/runs: ")),
        "{message}"
    );
    assert_eq!(posts["data"], Value::Null);
}

#[test]
fn a_bad_token_is_not_retried() {
    let server = TestServer::start_blocking();
    let result = collect(&server, "ok", "nope");
    assert_eq!(result.code, 1);
    let posts = result.node("posts");
    assert_eq!(posts["attempts"], 1, "permission errors are not retried");
    assert_eq!(
        posts["error"],
        json!({
            "kind": "permission",
            "message": "Apify: Authentication token is not valid. (HTTP 401)",
            "code": "token-not-valid",
            "retryable": false,
            "status": 401
        })
    );
    assert_eq!(server.requests_to("/apify/").len(), 1);
}
