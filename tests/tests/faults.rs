//! Generated programs against the fault-injecting server (`flowc_tests::faults`): connection
//! resets, bodies cut short, 429 bursts with `Retry-After` and 5xx runs end in success once
//! the fault clears; stalls are cut by the attempt timeout and by the flow's deadline and
//! reported as `timeout`. The flows are variants of the `retry`, `timeout` and `deadline`
//! fixtures pointed at the fault server's endpoints.

use std::time::{Duration, Instant};

use flowc_tests::faults::FaultServer;
use flowc_tests::flows::{build_with, run, Run};
use flowc_tests::server::Recorded;
use serde_json::{json, Value};

const FLAKY: &str = "/flaky/{{ in.key }}?fail=2";
const LIMITED: &str = "/retry-after/{{ in.key }}?secs=1";

/// The `error` of each `node_retry` event of `node`.
fn retry_errors(result: &Run, node: &str) -> Vec<Value> {
    result.events("node_retry").into_iter().filter(|e| e["node"] == node).map(|e| e["error"].clone()).collect()
}

/// How long the client waited between the end of each call and the start of the next.
fn gaps(calls: &[Recorded]) -> Vec<Duration> {
    calls.windows(2).map(|w| w[1].received_at.saturating_duration_since(w[0].responded_at)).collect()
}

/// The requests to `prefix`, once the server has seen the client close every stalled one.
fn settled(server: &FaultServer, prefix: &str, count: usize) -> Vec<Recorded> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let calls = server.requests_to(prefix);
        let open = calls.iter().any(|c| c.responded_at == c.received_at);
        if (calls.len() == count && !open) || Instant::now() > until {
            return calls;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn resets_and_a_429_burst_end_in_success_once_they_clear() {
    let server = FaultServer::start();
    let binary = build_with(
        "retry",
        "faults-reset",
        &[(FLAKY, "/reset/{{ in.key }}?n=2"), (LIMITED, "/burst/{{ in.key }}?n=2&secs=1")],
    );
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "r"}), &["--events"], &[]);
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);

    // Reset twice, then answered.
    let flaky = result.node("flaky");
    assert_eq!(flaky["status"], "success", "{flaky:#}");
    assert_eq!(flaky["attempts"], 3);
    assert_eq!(flaky["data"]["body"], json!({"ok": true, "key": "r", "calls": 3}));
    let errors = retry_errors(&result, "flaky");
    assert_eq!(errors.len(), 2, "{}", result.stderr);
    for error in &errors {
        assert_eq!(error["kind"], "network", "{error:#}");
        assert_eq!(error["retryable"], true);
        assert!(error["message"].as_str().unwrap().contains("reset"), "{error:#}");
    }
    let calls = server.requests_to("/reset/r");
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), [None, None, Some(200)]);

    // 429 twice with Retry-After: 1, which the client waits out (over the 50 ms backoff).
    let limited = result.node("limited");
    assert_eq!(limited["status"], "success", "{limited:#}");
    assert_eq!(limited["attempts"], 3);
    let errors = retry_errors(&result, "limited");
    assert_eq!(errors.iter().map(|e| e["kind"].clone()).collect::<Vec<_>>(), ["rate_limit", "rate_limit"]);
    let delays: Vec<Value> = result
        .events("node_retry")
        .into_iter()
        .filter(|e| e["node"] == "limited")
        .map(|e| e["delay_ms"].clone())
        .collect();
    assert_eq!(delays, [1000, 1000]);
    let calls = server.requests_to("/burst/r");
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), [Some(429), Some(429), Some(200)]);
    for gap in gaps(&calls) {
        assert!(gap >= Duration::from_millis(950), "the server saw the next call {gap:?} after a 429");
    }
}

#[test]
fn truncated_bodies_and_a_5xx_run_end_in_success_once_they_clear() {
    let server = FaultServer::start();
    let binary = build_with(
        "retry",
        "faults-truncate",
        &[(FLAKY, "/truncate/{{ in.key }}?n=2"), (LIMITED, "/fail/{{ in.key }}?n=2&status=502")],
    );
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "t"}), &["--events"], &[]);
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);

    // A body shorter than its Content-Length is a network failure, retried like one.
    let flaky = result.node("flaky");
    assert_eq!(flaky["status"], "success", "{flaky:#}");
    assert_eq!(flaky["attempts"], 3);
    assert_eq!(flaky["data"]["body"], json!({"ok": true, "key": "t", "calls": 3}));
    let errors = retry_errors(&result, "flaky");
    assert_eq!(errors.len(), 2, "{}", result.stderr);
    for error in &errors {
        assert_eq!(error["kind"], "network", "{error:#}");
        assert_eq!(error["code"], "network");
    }
    // Every call got its status line and headers; the first two lost half the body.
    assert_eq!(server.requests_to("/truncate/t").len(), 3);

    let limited = result.node("limited");
    assert_eq!(limited["status"], "success", "{limited:#}");
    assert_eq!(limited["attempts"], 3);
    let errors = retry_errors(&result, "limited");
    let codes: Vec<(Value, Value)> = errors.iter().map(|e| (e["kind"].clone(), e["code"].clone())).collect();
    assert_eq!(codes, [(json!("server_error"), json!("http_502")), (json!("server_error"), json!("http_502"))]);
    let calls = server.requests_to("/fail/t");
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), [Some(502), Some(502), Some(200)]);
}

#[test]
fn a_stall_is_cut_by_the_attempt_timeout_on_every_attempt() {
    let server = FaultServer::start();
    let binary = build_with("timeout", "faults-stall", &[("/slow/{{ in.key }}?ms=2000", "/stall/{{ in.key }}")]);
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "s"}), &["--events"], &[]);
    assert_eq!(result.code, 0, "the fallback handles it: {}", result.stderr);
    let slow = result.node("slow");
    assert_eq!(slow["error"]["kind"], "timeout", "{slow:#}");
    assert_eq!(slow["error"]["code"], "attempt_timeout");
    assert_eq!(slow["error"]["message"], "attempt 2 did not finish within 200 ms");
    assert_eq!(slow["attempts"], 2);
    let errors = retry_errors(&result, "slow");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], "attempt_timeout");
    // The server never answered; it saw the client hang up on each attempt after 200 ms.
    let calls = settled(&server, "/stall/s", 2);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    for call in &calls {
        assert_eq!(call.status, None);
        let held = call.duration();
        assert!((Duration::from_millis(190)..Duration::from_millis(1500)).contains(&held), "held {held:?}");
    }
}

#[test]
fn a_stall_cut_by_the_flow_deadline_reports_every_node() {
    let server = FaultServer::start();
    let binary = build_with(
        "deadline",
        "faults-stall",
        &[("/json", "/fail/{{ in.key }}?n=0"), ("/slow/{{ in.key }}?ms=3000", "/stall/{{ in.key }}")],
    );
    let started = Instant::now();
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "d"}), &[], &[]);
    assert!(started.elapsed() < Duration::from_millis(3000), "took {:?}", started.elapsed());
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(result.status(), "error");
    let statuses: Vec<(&str, &Value)> =
        ["in", "quick", "slow", "after"].into_iter().map(|id| (id, &result.node(id)["status"])).collect();
    assert_eq!(
        statuses,
        [
            ("in", &json!("success")),
            ("quick", &json!("success")),
            ("slow", &json!("error")),
            ("after", &json!("skipped"))
        ]
    );
    let slow = result.node("slow");
    assert_eq!(slow["error"]["kind"], "timeout");
    assert_eq!(slow["error"]["code"], "flow_deadline");
    assert_eq!(slow["error"]["message"], "the flow's deadline of 500 ms passed while this node ran");
    assert_eq!(result.node("after")["metadata"]["reason"], "not run: the flow's deadline of 500 ms passed");
    let calls = settled(&server, "/stall/d", 1);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, None);
    let held = calls[0].duration();
    assert!((Duration::from_millis(400)..Duration::from_millis(2500)).contains(&held), "held {held:?}");
}
