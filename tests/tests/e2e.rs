//! End to end: every valid fixture is compiled, built (one shared target folder) and run
//! against servers these tests start on 127.0.0.1 — a Rust test server and httpbin — and the
//! run results are checked.

use std::time::Duration;

use flowc_tests::flows::{build, fixture, run};
use flowc_tests::httpbin::Httpbin;
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

fn httpbin() -> Httpbin {
    Httpbin::start().unwrap_or_else(|e| panic!("httpbin is needed for this test: {e}"))
}

#[test]
fn every_valid_fixture_builds_without_warnings() {
    for entry in std::fs::read_dir(flowc_tests::flows::root().join("fixtures/valid")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let binary = build(&name);
        assert!(binary.exists(), "{name}: no binary at {}", binary.display());
    }
}

#[test]
fn branch_routes_and_the_untaken_side_is_skipped() {
    let binary = build("hello");
    let long = run(&binary, &json!({"name": "Ada Lovelace"}), &[], &[]);
    assert_eq!(long.code, 0, "{}", long.stderr);
    assert_eq!(long.status(), "success");
    assert_eq!(long.result["outputs"], json!({"greeting": "Hello, Ada Lovelace!", "verdict": "a long name"}));
    assert_eq!(long.node("say-long")["status"], "success");
    assert_eq!(long.node("say-short")["status"], "skipped");
    assert_eq!(long.node("long")["metadata"]["route"], "true", "the envelope says which route was taken");
    assert_eq!(long.node("in")["data"], json!({"name": "Ada Lovelace", "excited": false}), "defaults applied");

    let short = run(&binary, &json!({"name": "Bo", "excited": true}), &[], &[]);
    assert_eq!(short.result["outputs"]["verdict"], "a short name");
    assert_eq!(short.node("say-long")["status"], "skipped");
    assert_eq!(short.node("greeting")["data"]["excited"], true);
}

#[test]
fn switch_routes_by_case_and_skips_spread() {
    let binary = build("switch");
    let gold = run(&binary, &json!({"tier": "GOLD"}), &[], &[]);
    assert_eq!(gold.code, 0, "{}", gold.stderr);
    assert_eq!(gold.result["outputs"]["price"], json!(80.0));
    assert_eq!(gold.node("gold-note")["data"], "gold price 80.0");
    for skipped in ["silver", "standard"] {
        assert_eq!(gold.node(skipped)["status"], "skipped", "{skipped}");
    }

    let silver = run(&binary, &json!({"tier": "silver", "amount": 10}), &[], &[]);
    assert_eq!(silver.result["outputs"]["price"], json!(9.0));
    // gold is skipped, and so is gold-note behind it: the skip spreads.
    for skipped in ["gold", "gold-note", "standard"] {
        assert_eq!(silver.node(skipped)["status"], "skipped", "{skipped}");
    }
    assert_eq!(silver.node("gold-note")["metadata"]["reason"], "not run: no incoming edge was taken");

    let other = run(&binary, &json!({"tier": "bronze"}), &[], &[]);
    assert_eq!(other.result["outputs"]["price"], json!(100));
    assert_eq!(other.status(), "success");
}

#[test]
fn parallel_fan_out_overlaps_on_the_server() {
    let server = TestServer::start_blocking();
    let binary = build("fan-out");
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "fan"}), &[], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["out"], json!(["fan-a", "fan-b", "fan-c", "fan-d"]));
    // The server saw all four calls in flight at once: they ran in parallel.
    assert_eq!(server.max_overlap("/slow/fan"), 4, "{:#?}", server.requests_to("/slow/fan"));
}

#[test]
fn max_concurrency_bounds_the_fan_out() {
    let server = TestServer::start_blocking();
    let binary = build("bounded");
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "b"}), &[], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let keys: Vec<&str> = result.result["outputs"]["out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["b-a", "b-b", "b-c", "b-d"], "merge keeps edge order");
    assert_eq!(server.requests_to("/slow/b").len(), 4);
    assert_eq!(server.max_overlap("/slow/b"), 2, "at most two calls in flight: {:#?}", server.requests_to("/slow/b"));
}

#[test]
fn retries_until_success_and_honours_retry_after() {
    let server = TestServer::start_blocking();
    let binary = build("retry");
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "r1"}), &["--events"], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let flaky = result.node("flaky");
    assert_eq!(flaky["status"], "success");
    assert_eq!(flaky["attempts"], 3, "503, 503, then 200");
    assert_eq!(flaky["data"]["body"]["calls"], 3);
    assert_eq!(server.requests_to("/flaky/r1").len(), 3);

    let limited = result.node("limited");
    assert_eq!(limited["attempts"], 2);
    let calls = server.requests_to("/retry-after/r1");
    assert_eq!(calls.len(), 2);
    let waited = calls[1].received_at.duration_since(calls[0].responded_at);
    // Retry-After: 1 beats the policy's 50 ms backoff.
    assert!(waited >= Duration::from_millis(950), "waited only {waited:?} after a 429 with Retry-After: 1");
    let retries = result.stderr.lines().filter(|l| l.contains("\"event\":\"node_retry\"")).count();
    assert_eq!(retries, 3, "two retries of flaky, one of limited:\n{}", result.stderr);
}

#[test]
fn on_error_continue_fallback_and_error_edges_make_a_partial_run() {
    let server = TestServer::start_blocking();
    let binary = build("on-error");
    let result = run(&binary, &json!({"base_url": server.base_url()}), &[], &[]);
    assert_eq!(result.code, 0, "partial exits 0: {}", result.stderr);
    assert_eq!(result.status(), "partial");

    let kept = result.node("keep-going");
    assert_eq!(kept["status"], "error");
    assert_eq!(kept["error"]["kind"], "server_error");
    assert_eq!(kept["error"]["status"], 500);
    assert_eq!(kept["metadata"]["handled_by"], "continue");
    assert_eq!(kept["data"]["status"], 500, "the failed response is kept in the envelope");

    let fallback = result.node("with-fallback");
    assert_eq!(fallback["error"]["kind"], "not_found");
    assert_eq!(fallback["data"], json!({"body": {"items": []}}));

    assert_eq!(result.node("guarded")["error"]["kind"], "permission");
    assert_eq!(result.node("on-guarded-failure")["status"], "success");
    assert_eq!(result.node("after-guarded")["status"], "skipped");
    assert_eq!(result.result["outputs"]["out"], json!({"kept": null, "fallback": []}));
}

#[test]
fn an_unhandled_failure_fails_the_flow_and_skips_what_depends_on_it() {
    let binary = build("unhandled");
    let result = run(&binary, &Value::Null, &[], &[]);
    assert_eq!(result.code, 1);
    assert_eq!(result.status(), "error");
    assert_eq!(result.node("boom")["error"]["kind"], "validation");
    assert!(result.node("boom")["error"]["message"].as_str().unwrap().contains("the data is bad"));
    assert_eq!(result.node("after")["status"], "skipped");
    assert_eq!(result.result["outputs"], json!({}));
}

#[test]
fn bad_input_exits_2_and_names_the_pointer() {
    let binary = build("hello");
    let result = run(&binary, &json!({"name": 42}), &[], &[]);
    assert_eq!(result.code, 2);
    assert!(result.stderr.contains("at /name: expected a string"), "{}", result.stderr);
    assert!(result.stdout.is_empty());

    let binary = build("retry");
    let result = run(&binary, &json!({"key": "k"}), &[], &[]);
    assert_eq!(result.code, 2);
    assert!(result.stderr.contains("/base_url"), "{}", result.stderr);

    let output = std::process::Command::new(&binary).args(["run", "--input-json", "{not json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn http_requests_carry_query_headers_and_credentials() {
    let bin = httpbin();
    let binary = build("http-get");
    let input = json!({"httpbin": bin.base_url()});
    let result = run(&binary, &input, &[], &[("HTTPBIN_TOKEN", "s3cret-token")]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, result.stdout);
    let summary = &result.result["outputs"]["summary"];
    assert_eq!(summary["args"], json!({"q": "flows", "page": "2"}));
    assert_eq!(summary["trace"], "trace-flows");
    assert_eq!(summary["token"], "s3cret-token");
    assert_eq!(summary["status"], 200);

    // Without the credential the node fails with a config error that says what to set.
    let missing = run(&binary, &input, &[], &[]);
    assert_eq!(missing.code, 1);
    assert_eq!(missing.node("auth")["error"]["kind"], "config");
    assert!(missing.node("auth")["error"]["message"].as_str().unwrap().contains("HTTPBIN_TOKEN"));
    assert_eq!(missing.node("auth")["attempts"], 1, "config errors are not retried");
}

#[test]
fn request_bodies_are_sent_as_json_form_and_text() {
    let server = TestServer::start_blocking();
    let bin = httpbin();
    let binary = build("post");
    let result = run(&binary, &json!({"base_url": server.base_url(), "httpbin": bin.base_url()}), &[], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let out = &result.result["outputs"]["out"];
    assert_eq!(
        out["json"],
        json!({"user": {"name": "Ada", "tags": ["x", "y"]}, "greeting": "hi Ada", "n": 3, "ok": true, "none": null, "big": 12345678901u64, "ratio": 0.25})
    );
    assert_eq!(out["form"], json!({"name": "Ada", "tags": "[\"x\",\"y\"]"}));
    assert_eq!(out["text"], "name=Ada");
    assert_eq!(out["method"], "PUT");
    assert_eq!(out["content_type"], "text/plain; charset=utf-8");
    let json_call = &server.requests_to("/echo/json")[0];
    assert_eq!(json_call.method, "POST");
    assert_eq!(json_call.header("content-type"), Some("application/json"));
}

#[test]
fn code_nodes_compute_and_their_errors_are_handled() {
    let binary = build("code");
    let ok = run(&binary, &json!({}), &[], &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.result["outputs"]["out"], json!({"stats": {"count": 3, "sum": 6.0, "max": 3.0}, "limit": 20}));

    let bad = run(&binary, &json!({"limit": "ten"}), &[], &[]);
    assert_eq!(bad.status(), "partial");
    assert_eq!(bad.node("limit")["error"]["kind"], "validation");
    assert_eq!(bad.node("limit")["error"]["message"], "invalid digit found in string");
    assert_eq!(bad.result["outputs"]["out"]["limit"], Value::Null);
}

#[test]
fn jq_sees_upstreams_by_id_and_nodes() {
    let binary = build("jq-nodes");
    let result = run(&binary, &json!({"who": "me"}), &[], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        result.result["outputs"]["out"],
        json!({"items": [{"sku": "a", "gross": 3.75}, {"sku": "b", "gross": 6.25}], "input": {"who": "me"}})
    );
}

#[test]
fn attempt_timeouts_cut_slow_calls() {
    let server = TestServer::start_blocking();
    let binary = build("timeout");
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "t"}), &[], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "partial");
    let slow = result.node("slow");
    assert_eq!(slow["error"]["kind"], "timeout");
    assert_eq!(slow["attempts"], 2);
    assert_eq!(slow["data"], "too slow");
    assert_eq!(result.result["outputs"]["out"], json!({"slow": "too slow", "paused": "t"}));
    assert!(result.node("pause")["duration_ms"].as_u64().unwrap() >= 150);
    // Both attempts reached the server and were abandoned by the client.
    let calls = server.requests_to("/slow/t");
    assert_eq!(calls.len(), 2);
}

#[test]
fn adversarial_strings_come_out_exactly_as_written() {
    let path = flowc_tests::flows::fixture("valid", "adversarial");
    let flow: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tricky = &flow["nodes"][1]["config"]["value"];
    let binary = build("adversarial");
    let result = run(&binary, &json!({"k": "v"}), &[], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let out = &result.result["outputs"]["strings \"quoted\" */"];
    assert_eq!(&out["self"], tricky);
    let expected = format!("{}|{}", tricky["injection"].as_str().unwrap(), tricky["emoji"].as_str().unwrap());
    assert_eq!(out["type"], expected);
    assert_eq!(out["my-node"], expected);
    assert_eq!(out["1st"], json!({"key with spaces": tricky["comment_end"], "*/": {"k": "v"}}));
    assert_eq!(out["Self"], tricky["comment_end"]);
    assert_eq!(out["my_node"], "\"); std::process::exit(1); //");

    let describe = std::process::Command::new(&binary).arg("describe").output().unwrap();
    let describe: Value = serde_json::from_slice(&describe.stdout).unwrap();
    assert_eq!(describe["name"], flow["name"]);
    assert_eq!(describe["description"], flow["description"]);
    let labels: Vec<&Value> = describe["nodes"].as_array().unwrap().iter().map(|n| &n["label"]).collect();
    let written: Vec<&Value> = flow["nodes"].as_array().unwrap().iter().map(|n| &n["label"]).collect();
    assert_eq!(labels, written);
    // Each node's output type as `flowc describe` gives it, and the outputs' schema.
    let (_, compiled) =
        flowc::describe("adversarial.json", &std::fs::read_to_string(fixture("valid", "adversarial")).unwrap())
            .unwrap();
    let types: Vec<&Value> = describe["nodes"].as_array().unwrap().iter().map(|n| &n["output_type"]).collect();
    let expected: Vec<&Value> = compiled["nodes"].as_array().unwrap().iter().map(|n| &n["output_type"]).collect();
    assert_eq!(types, expected);
    assert_eq!(describe["nodes"][2]["output_type"], "string", "{describe:#}");
    assert_eq!(describe["outputs_schema"]["type"], "object", "{describe:#}");
    assert!(describe["outputs_schema"]["properties"]["strings \"quoted\" */"].is_object(), "{describe:#}");
}

#[test]
fn events_are_json_lines_on_stderr() {
    let binary = build("hello");
    let result = run(&binary, &json!({"name": "Eve"}), &["--events"], &[]);
    let events: Vec<Value> = result.stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"flow_start"));
    assert_eq!(kinds.last(), Some(&"flow_complete"));
    assert_eq!(kinds.iter().filter(|k| **k == "node_complete").count(), 8);
    assert_eq!(kinds.iter().filter(|k| **k == "node_skipped").count(), 1);
    assert!(events.iter().all(|e| e["run_id"] == result.result["run_id"]));
}

#[test]
fn the_flow_deadline_cuts_what_runs_and_reports_every_node() {
    let server = TestServer::start_blocking();
    let binary = build("deadline");
    let started = std::time::Instant::now();
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "d"}), &[], &[]);
    // The run ends at the deadline, not when the 3 s call would have answered.
    assert!(started.elapsed() < Duration::from_millis(2500), "took {:?}", started.elapsed());
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(result.status(), "error");
    assert_eq!(result.node("quick")["status"], "success", "what finished in time is kept");
    assert_eq!(result.node("slow")["error"]["kind"], "timeout");
    assert_eq!(result.node("slow")["error"]["code"], "flow_deadline");
    assert_eq!(result.node("after")["status"], "skipped");
    let calls = server.requests_to("/slow/d");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, None, "the call was abandoned, not answered");
}

#[test]
fn response_and_output_schemas_pass_matching_data_on_and_fail_the_rest_with_their_data_kept() {
    let server = TestServer::start_blocking();
    let binary = build("typed-schemas");
    let result = run(&binary, &json!({"base_url": server.base_url()}), &[], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "partial", "{}", result.stdout);
    assert_eq!(result.result["outputs"]["out"], json!({"first": "a", "n": 2, "names": 2}));
    // The body matched: passed on unchanged.
    assert_eq!(result.node("fetch")["data"]["body"]["total"], 2);
    // A body that does not match fails the node, `validation`, with the response kept.
    let mistyped = result.node("mistyped");
    assert_eq!(mistyped["status"], "error", "{mistyped:#}");
    assert_eq!(mistyped["error"]["kind"], "validation");
    assert_eq!(mistyped["error"]["code"], "response_schema");
    assert_eq!(
        mistyped["error"]["message"],
        "the response body of node `mistyped` does not match its `response_schema`: /total: expected a string, found a number (2)"
    );
    assert_eq!(mistyped["data"]["status"], 200, "{mistyped:#}");
    assert_eq!(mistyped["data"]["body"]["total"], 2, "{mistyped:#}");
    // A code node's value likewise.
    let wrong = result.node("wrong");
    assert_eq!(wrong["error"]["code"], "output_schema", "{wrong:#}");
    assert_eq!(wrong["data"], json!({"n": "two"}), "{wrong:#}");
}
