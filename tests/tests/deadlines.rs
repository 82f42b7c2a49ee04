//! A node's `deadline_ms`: a limit on the node as a whole, across attempts and the waits
//! between them, against a server that stalls.

use flowc_tests::flows::{build_with, run};
use flowc_tests::server::TestServer;
use serde_json::json;

const SLOW: &str = "\"timeout_ms\": 200, \"retry\": { \"max_attempts\": 2, \"initial_delay_ms\": 10 }";

#[test]
fn the_node_deadline_cuts_the_attempt_that_runs_when_it_passes() {
    let server = TestServer::start_blocking();
    let binary = build_with(
        "timeout",
        "node-deadline",
        &[(SLOW, "\"timeout_ms\": 300, \"deadline_ms\": 700, \"retry\": { \"max_attempts\": 10, \"initial_delay_ms\": 20, \"jitter\": \"none\" }")],
    );
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "nd"}), &[], &[]);
    assert_eq!(result.code, 0, "the fallback handles it: {}", result.stderr);
    let slow = result.node("slow");
    assert_eq!(slow["error"]["kind"], "timeout", "{slow:#}");
    assert_eq!(slow["error"]["code"], "node_deadline");
    assert_eq!(slow["error"]["retryable"], false);
    // 300 ms, wait 20, 300 ms, wait 40: the third attempt is cut at 700 ms.
    assert_eq!(slow["attempts"], 3);
    assert_eq!(slow["error"]["message"], "the node's deadline of 700 ms passed during attempt 3");
    let ms = slow["duration_ms"].as_u64().unwrap();
    assert!((690..1500).contains(&ms), "{ms} ms");
    assert_eq!(server.requests_to("/slow/nd").len(), 3);
}

#[test]
fn a_wait_that_would_outlast_the_deadline_is_not_waited() {
    let server = TestServer::start_blocking();
    let binary = build_with(
        "timeout",
        "long-wait",
        &[(SLOW, "\"timeout_ms\": 300, \"deadline_ms\": 700, \"retry\": { \"max_attempts\": 5, \"initial_delay_ms\": 1000, \"jitter\": \"none\" }")],
    );
    let result = run(&binary, &json!({"base_url": server.base_url(), "key": "lw"}), &[], &[]);
    let slow = result.node("slow");
    assert_eq!(slow["error"]["code"], "node_deadline", "{slow:#}");
    assert_eq!(slow["attempts"], 1);
    assert_eq!(
        slow["error"]["message"],
        "the node's deadline of 700 ms would pass before attempt 2 could start; attempt 1 failed with timeout: attempt 1 did not finish within 300 ms"
    );
    assert!(slow["duration_ms"].as_u64().unwrap() < 650, "{slow:#}");
}
