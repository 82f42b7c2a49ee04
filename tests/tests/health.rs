//! `<bin> health`: every dependency of a flow checked without running it — credentials, the
//! HTTP services it calls, its MCP servers and the tools it calls on them — each failure
//! reported with the nodes that need it and a non-zero exit.

use std::time::Duration;

use flowc_tests::flows::build_with;
use flowc_tests::mcp::{server_script, watch, Action, Watched};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const API: &str = "http://127.0.0.1:8080";
const TOKEN: (&str, &str) = ("STATUS_API_TOKEN", "t0ken");

/// `ops-digest` with its API at `api` and more replacements; `health --format json`.
fn health(variant: &str, api: &str, more: &[(&str, &str)], env: &[(&str, &str)]) -> Watched {
    server_script("server-everything");
    let mut replacements = vec![(API, api)];
    replacements.extend_from_slice(more);
    let binary = build_with("ops-digest", variant, &replacements);
    watch(&binary, &["health", "--format", "json"], env, Action::None)
}

fn check<'a>(watched: &'a Watched, kind: &str) -> &'a Value {
    let checks = watched.run.result["checks"].as_array().unwrap_or_else(|| panic!("{}", watched.run.stdout));
    checks.iter().find(|c| c["check"] == kind).unwrap_or_else(|| panic!("no {kind} check: {}", watched.run.stdout))
}

fn assert_nothing_left(watched: &Watched) {
    let left = watched.left_behind(Duration::from_secs(2));
    assert!(left.is_empty(), "left running: {left:#?}");
}

#[test]
fn all_good() {
    let server = TestServer::start_blocking();
    let watched = health("health-ok", &server.base_url(), &[], &[TOKEN]);
    let run = &watched.run;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.result["flow"], "ops-digest-health-ok");
    assert_eq!(run.result["status"], "ok");
    assert_eq!(run.result["checks"].as_array().map(Vec::len), Some(3), "{}", run.stdout);
    let credential = check(&watched, "credential");
    assert_eq!(credential["target"], "status-api");
    assert_eq!(credential["nodes"], json!(["status"]));
    assert_eq!(credential["message"], "set (environment variable STATUS_API_TOKEN)");
    assert!(!run.stdout.contains("t0ken"), "the secret is never printed");
    let host = check(&watched, "host");
    assert_eq!(host["target"], server.base_url());
    assert_eq!(host["ok"], true);
    let mcp = check(&watched, "mcp");
    assert_eq!(mcp["target"], "say", "the server is named after its first node");
    assert_eq!(mcp["nodes"], json!(["say", "count"]));
    assert!(mcp["message"].as_str().unwrap_or_default().ends_with("including echo, get-sum"), "{mcp}");
    for c in run.result["checks"].as_array().unwrap() {
        assert!(c["latency_ms"].is_u64(), "{c}");
    }
    // The MCP server was started for the check, and stopped.
    assert_eq!(watched.started.len(), 1, "{:#?}", watched.started);
    assert_nothing_left(&watched);
    // Only the check ran: the API got a HEAD, not the flow's GET.
    let calls = server.requests_to("/");
    assert!(calls.iter().all(|c| c.method == "HEAD"), "{:?}", calls.iter().map(|c| &c.method).collect::<Vec<_>>());
}

#[test]
fn a_missing_credential() {
    let server = TestServer::start_blocking();
    let watched = health("health-no-credential", &server.base_url(), &[], &[]);
    assert_eq!(watched.run.code, 1);
    assert_eq!(watched.run.result["status"], "failed");
    let credential = check(&watched, "credential");
    assert_eq!(credential["ok"], false);
    assert_eq!(credential["nodes"], json!(["status"]));
    assert!(credential["message"]
        .as_str()
        .unwrap_or_default()
        .contains("set the environment variable STATUS_API_TOKEN"));
    assert_eq!(check(&watched, "host")["ok"], true, "the other checks still run");
    assert_eq!(check(&watched, "mcp")["ok"], true);
}

#[test]
fn an_unreachable_host() {
    let closed = format!("http://127.0.0.1:{}", flowc_tests::free_port());
    let watched = health("health-unreachable", &closed, &[], &[TOKEN]);
    assert_eq!(watched.run.code, 1);
    let host = check(&watched, "host");
    assert_eq!(host["ok"], false);
    assert_eq!(host["target"], closed);
    assert_eq!(host["nodes"], json!(["status"]));
    let message = host["message"].as_str().unwrap_or_default();
    assert!(message.contains("HEAD") && message.to_lowercase().contains("connect"), "{message}");
}

#[test]
fn an_mcp_server_whose_command_does_not_exist() {
    let server = TestServer::start_blocking();
    let watched = health(
        "health-no-command",
        &server.base_url(),
        &[("\"command\": \"node\"", "\"command\": \"flowc-no-such-server\"")],
        &[TOKEN],
    );
    assert_eq!(watched.run.code, 1);
    let mcp = check(&watched, "mcp");
    assert_eq!(mcp["ok"], false);
    assert_eq!(mcp["nodes"], json!(["say", "count"]));
    let message = mcp["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot start MCP server `say`: `flowc-no-such-server`"), "{message}");
}

#[test]
fn a_server_that_lacks_a_tool_the_flow_calls() {
    let server = TestServer::start_blocking();
    let watched = health(
        "health-no-tool",
        &server.base_url(),
        &[("\"tool\": \"get-sum\"", "\"tool\": \"get-product\"")],
        &[TOKEN],
    );
    assert_eq!(watched.run.code, 1);
    let mcp = check(&watched, "mcp");
    assert_eq!(mcp["ok"], false);
    let message = mcp["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("it does not list `get-product`; it has "), "{message}");
    assert!(message.contains("get-sum"), "{message}");
    assert_nothing_left(&watched);
}

#[test]
fn the_text_report_has_a_line_per_check() {
    let server = TestServer::start_blocking();
    let binary = build_with("ops-digest", "health-text", &[(API, &server.base_url())]);
    let watched = watch(&binary, &["health"], &[], Action::None);
    assert_eq!(watched.run.code, 1);
    let lines: Vec<&str> = watched.run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", watched.run.stdout);
    assert!(lines[0].starts_with("FAIL credential status-api ("), "{}", lines[0]);
    assert!(lines[0].contains("node status):"), "{}", lines[0]);
    assert!(lines.iter().any(|l| l.starts_with("ok   mcp        say (") && l.contains("nodes say, count)")));
    assert_eq!(lines[3], "flow `ops-digest-health-text`: 1 of 3 checks failed");
}
