//! `settings.circuit_breakers`: a breaker per host opens after consecutive failed calls, fails
//! calls at once while open (the server's own log shows they never arrive), lets one trial
//! through when half-open, and closes when the service has recovered. A node's retries are one
//! logical call.
//!
//! The fixture `circuit-breaker` is a chain of requests to one host (`failure_threshold` 2,
//! `open_ms` 1000, `success_threshold` 2), every one `on_error: continue` and without retries,
//! with delays of 1100 ms to let the breaker half-open.

use std::sync::OnceLock;

use flowc_tests::flows::{build_with, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

/// One server for the file: every test uses keys of its own.
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(TestServer::start_blocking)
}

/// `127.0.0.1:PORT`, the breaker's host.
fn host() -> String {
    server().base_url().trim_start_matches("http://").to_owned()
}

fn build_breaker(variant: &str, extra: &[(&str, &str)]) -> std::path::PathBuf {
    let host = format!("\"host\": \"{}\"", host());
    let mut replacements = vec![("\"host\": \"api.example.com\"", host.as_str())];
    replacements.extend_from_slice(extra);
    build_with("circuit-breaker", variant, &replacements)
}

fn run_breaker(binary: &std::path::Path, key: &str, fail: u64) -> Run {
    let input = json!({"base_url": server().base_url(), "key": key, "fail": fail});
    let result = run(binary, &input, &["--events"], &[]);
    assert_eq!(result.code, 0, "every failure is handled: {}\n{}", result.stdout, result.stderr);
    result
}

/// The names of the events about nodes in `nodes` and about breakers, in order.
fn timeline(result: &Run, nodes: &[&str]) -> Vec<String> {
    result
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| {
            let event = e["event"].as_str()?.to_owned();
            if event.starts_with("breaker_") {
                return Some(event);
            }
            let node = e["node"].as_str()?;
            (nodes.contains(&node) && (event == "node_complete" || event == "node_failed"))
                .then(|| format!("{event} {node}"))
        })
        .collect()
}

fn assert_circuit_open(result: &Run, node: &str) -> String {
    let envelope = result.node(node);
    assert_eq!(envelope["status"], "error", "{node}: {envelope:#}");
    assert_eq!(envelope["error"]["kind"], "circuit_open", "{node}: {envelope:#}");
    assert_eq!(envelope["error"]["code"], "circuit_open");
    assert_eq!(envelope["error"]["retryable"], false);
    assert_eq!(envelope["attempts"], 1);
    envelope["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn the_breaker_opens_fails_fast_half_opens_and_closes_when_the_service_recovers() {
    let binary = build_breaker("local", &[]);
    // The first 3 calls to /flaky/cb-main answer 503, every later one 200.
    let result = run_breaker(&binary, "cb-main", 3);
    let flaky = || server().requests_to("/flaky/cb-main");

    // Two failures in a row open it; the third call fails at once, without a request.
    for node in ["fail-1", "fail-2"] {
        assert_eq!(result.node(node)["error"]["kind"], "server_error", "{node}: {:#}", result.node(node));
    }
    let message = assert_circuit_open(&result, "while-open");
    let prefix = format!(
        "the circuit breaker for {} is open after 2 failed calls in a row; it lets a trial call through in ",
        host()
    );
    let ms: u64 = message
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(" ms"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!((1..=1000).contains(&ms), "{message}");

    // After open_ms, one trial: it fails (the third 503) and the breaker opens again.
    assert_eq!(result.node("trial-fails")["error"]["kind"], "server_error", "{:#}", result.node("trial-fails"));

    // Half-open again: of the two probes that start together, one is the trial and reaches
    // the server; the other fails at once.
    let probes: Vec<&Value> = ["probe-a", "probe-b"].iter().map(|id| result.node(id)).collect();
    let passed: Vec<&&Value> = probes.iter().filter(|p| p["status"] == "success").collect();
    assert_eq!(passed.len(), 1, "exactly one trial at a time: {probes:#?}");
    let refused = if probes[0]["status"] == "success" { "probe-b" } else { "probe-a" };
    let message = assert_circuit_open(&result, refused);
    assert!(message.contains("is half-open and another node's trial call is in progress"), "{message}");
    assert_eq!(server().requests_to("/slow/cb-main").len(), 1, "the refused probe sent nothing");

    // The second successful trial closes it; the call after it goes through as usual.
    for node in ["trial-ok", "closed"] {
        assert_eq!(result.node(node)["status"], "success", "{node}: {:#}", result.node(node));
    }
    assert_eq!(result.result["outputs"]["out"], json!({"ok": true, "key": "cb-main", "calls": 5}));

    // The server's own log: fail-1, fail-2, trial-fails, trial-ok, closed; nothing while open.
    let calls = flaky();
    let statuses: Vec<Option<u16>> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(503), Some(200), Some(200)]);
    let open_for = calls[2].received_at.duration_since(calls[1].responded_at);
    assert!(open_for >= std::time::Duration::from_millis(1000), "the trial came {open_for:?} after the breaker opened");

    assert_eq!(
        timeline(&result, &["fail-1", "fail-2", "while-open", "trial-fails", "trial-ok", "closed"]),
        [
            "node_failed fail-1",
            "node_failed fail-2",
            "breaker_open",
            "node_failed while-open",
            "breaker_half_open",
            "node_failed trial-fails",
            "breaker_open",
            "breaker_half_open",
            "node_complete trial-ok",
            "breaker_closed",
            "node_complete closed",
        ]
    );
    let fields = |event: &str| -> Vec<Value> {
        result
            .events(event)
            .into_iter()
            .map(|mut e| {
                let e = e.as_object_mut().unwrap();
                for key in ["event", "flow", "run_id", "timestamp"] {
                    e.remove(key);
                }
                Value::Object(e.clone())
            })
            .collect()
    };
    assert_eq!(
        fields("breaker_open"),
        [
            json!({"host": host(), "from": "closed", "failures": 2, "open_ms": 1000}),
            json!({"host": host(), "from": "half_open", "failures": 1, "open_ms": 1000}),
        ]
    );
    assert_eq!(fields("breaker_half_open"), [json!({"host": host()}), json!({"host": host()})]);
    assert_eq!(fields("breaker_closed"), [json!({"host": host(), "successes": 2})]);
}

#[test]
fn a_node_retried_three_times_counts_as_one_failure() {
    // fail-1 now retries: three attempts, three 503s, one failed logical call.
    let binary = build_breaker(
        "retrying",
        &[(
            "{ \"id\": \"fail-1\", \"type\": \"http_request\", \"retry\": false,",
            "{ \"id\": \"fail-1\", \"type\": \"http_request\", \"retry\": { \"max_attempts\": 3, \"initial_delay_ms\": 10, \"jitter\": \"none\" },",
        )],
    );
    // Every call fails.
    let result = run_breaker(&binary, "cb-retries", 1000);
    let fail_1 = result.node("fail-1");
    assert_eq!(fail_1["attempts"], 3, "{fail_1:#}");
    assert_eq!(fail_1["error"]["kind"], "server_error", "its retries were not cut short by the breaker");
    assert_eq!(result.events("node_retry").iter().filter(|e| e["node"] == "fail-1").count(), 2);
    // Still closed after those three attempts: fail-2 reaches the server, and opens it.
    assert_eq!(result.node("fail-2")["error"]["kind"], "server_error", "{:#}", result.node("fail-2"));
    assert_circuit_open(&result, "while-open");
    assert_eq!(
        timeline(&result, &["fail-1", "fail-2", "while-open"])[..4],
        ["node_failed fail-1", "node_failed fail-2", "breaker_open", "node_failed while-open"]
    );
    assert_eq!(result.events("breaker_open")[0]["failures"], 2);
    // fail-1 ×3 and fail-2, then a trial each time it half-opens with a /flaky call next:
    // trial-fails and trial-ok (the probes' trial succeeded, one of two needed). `closed` is
    // refused.
    let calls = server().requests_to("/flaky/cb-retries");
    assert_eq!(calls.len(), 6, "{calls:#?}");
    assert!(calls.iter().all(|c| c.status == Some(503)), "{calls:#?}");
    assert_circuit_open(&result, "closed");
}

#[test]
fn a_breaker_for_another_host_leaves_calls_alone() {
    let binary = build_with("circuit-breaker", "elsewhere", &[]);
    // The first 2 calls fail, as in a closed breaker they may.
    let result = run_breaker(&binary, "cb-elsewhere", 2);
    assert_eq!(result.node("while-open")["status"], "success", "{:#}", result.node("while-open"));
    assert!(result.events("breaker_open").is_empty(), "{}", result.stderr);
    for probe in ["probe-a", "probe-b"] {
        assert_eq!(result.node(probe)["status"], "success");
    }
    assert_eq!(server().requests_to("/flaky/cb-elsewhere").len(), 6);
}
