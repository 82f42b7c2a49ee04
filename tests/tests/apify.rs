//! `apify_actor` (and the social-media pipeline: apify_actor → huggingface_inference) against
//! local stand-ins that follow Apify's API v2 and the Inference API references, on 127.0.0.1.

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::TestServer;
use serde_json::json;

const KEYS: [(&str, &str); 2] = [("APIFY_TOKEN", "apify_test"), ("HF_TOKEN", "hf_test")];

fn analyse(server: &TestServer, scenario: &str, actor: &str, env: &[(&str, &str)]) -> Run {
    let input = json!({
        "apify": format!("{}/apify/{scenario}", server.base_url()),
        "huggingface": format!("{}/hf/ok", server.base_url()),
        "actor": actor,
    });
    run(&build("social-media"), &input, &[], env)
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
