//! `settings.rate_limits`: requests of concurrent nodes share one limit, measured by the
//! server's own arrival times.

use std::time::Duration;

use flowc_tests::flows::{build, build_with, run};
use flowc_tests::server::TestServer;
use serde_json::json;

const LIMIT: &str = "{ \"credential\": \"api\", \"per_second\": 10, \"burst\": 2 }";
const CALLS: usize = 12;

/// The arrival times of the calls, from the first one.
fn arrivals(server: &TestServer) -> Vec<Duration> {
    let mut times: Vec<_> = server.requests_to("/echo/").into_iter().map(|r| r.received_at).collect();
    times.sort();
    let first = times[0];
    times.into_iter().map(|t| t - first).collect()
}

/// At 10 per second with a burst of 2, no window of length `w` holds more than `2 + 10 w`
/// requests, and the 12 calls take at least 1 s. The slack, 30 ms, is for the clocks and for
/// the first calls, which open their connections and so may reach the server later than the
/// limit let them go (on a loaded machine, by more than 10 ms).
fn assert_within_the_limit(times: &[Duration]) {
    assert_eq!(times.len(), CALLS, "{times:?}");
    for (i, start) in times.iter().enumerate() {
        for (j, end) in times.iter().enumerate().skip(i) {
            let window = (*end - *start).as_secs_f64() + 0.03;
            let allowed = 2.0 + 10.0 * window;
            assert!((j - i + 1) as f64 <= allowed, "calls {i}..={j} within {window:.3} s: {times:?}");
        }
    }
    let span = times[CALLS - 1];
    assert!(span >= Duration::from_millis(900), "12 calls at 10/s with a burst of 2 take about 1 s, not {span:?}");
}

#[test]
fn a_credential_limit_spaces_the_calls_of_concurrent_nodes() {
    let server = TestServer::start_blocking();
    let result = run(&build("rate-limited"), &json!({"base_url": server.base_url()}), &[], &[("API_TOKEN", "t")]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "success");
    assert_within_the_limit(&arrivals(&server));
}

#[test]
fn a_host_limit_spaces_them_too() {
    let server = TestServer::start_blocking();
    let host = server.base_url().trim_start_matches("http://").to_owned();
    let by_host = format!("{{ \"host\": \"{host}\", \"per_second\": 10, \"burst\": 2 }}");
    let binary = build_with("rate-limited", "by-host", &[(LIMIT, &by_host)]);
    let result = run(&binary, &json!({"base_url": server.base_url()}), &[], &[("API_TOKEN", "t")]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_within_the_limit(&arrivals(&server));
}

#[test]
fn without_a_limit_the_calls_go_at_once() {
    let server = TestServer::start_blocking();
    let binary =
        build_with("rate-limited", "unlimited", &[(LIMIT, "{ \"host\": \"elsewhere.example\", \"per_second\": 10 }")]);
    let result = run(&binary, &json!({"base_url": server.base_url()}), &[], &[("API_TOKEN", "t")]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let times = arrivals(&server);
    assert!(times[CALLS - 1] < Duration::from_millis(600), "{times:?}");
}
