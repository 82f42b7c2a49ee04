//! The runtime's HTTP client against hostile upstreams: credentials do not follow a redirect to
//! another origin, no `Retry-After` value panics a node, a response larger than the limit
//! fails without being held whole, and `deny_private_networks` refuses every private address,
//! however it is spelled, before any request is sent.
//!
//! The fixtures: `hostile-auth` (three requests to the input's URL, with bearer, basic and
//! header auth) and `hostile-fetch` (one GET of the input's URL; the variants here set
//! `settings.http` and the node's `max_response_bytes`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use flowc_tests::flows::{build, build_with, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(TestServer::start_blocking)
}

/// A second server: another origin (same host, another port).
fn other() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(TestServer::start_blocking)
}

/// `s` with the characters a query value cannot hold as they are percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const SECRETS: &[(&str, &str)] =
    &[("HOSTILE_TOKEN", "tok-secret"), ("HOSTILE_LOGIN", "user:pass-secret"), ("HOSTILE_KEY", "key-secret")];

fn run_auth(url: &str) -> Run {
    let result = run(&build("hostile-auth"), &json!({ "url": url }), &[], SECRETS);
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);
    result
}

/// Whether a request's headers hold any of the secrets (in any header, in any encoding we send).
fn leaked(headers: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let basic = "dXNlcjpwYXNzLXNlY3JldA=="; // base64 of user:pass-secret
    headers
        .iter()
        .filter(|(_, v)| v.contains("tok-secret") || v.contains("key-secret") || v.contains(basic))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect()
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    for status in [302, 307] {
        let target = other().url(&format!("/echo/landed-{status}"));
        let url = server().url(&format!("/redirect?status={status}&to={}", encode(&target)));
        let result = run_auth(&url);
        for node in ["bearer", "basic", "header"] {
            assert_eq!(
                result.node(node)["data"]["status"],
                200,
                "{node} followed the redirect: {:#}",
                result.node(node)
            );
        }
        let landed = other().requests_to(&format!("/echo/landed-{status}"));
        assert_eq!(landed.len(), 3, "every node followed the {status}");
        for request in &landed {
            assert_eq!(leaked(&request.headers), Vec::<String>::new(), "a credential reached the other origin");
            assert!(request.header("authorization").is_none() && request.header("x-api-key").is_none());
            assert!(request.header("x-plain").is_some(), "headers without credentials still go");
        }
        // The first origin did get them: the test sends what it means to.
        let first: Vec<_> = server()
            .requests_to("/redirect")
            .into_iter()
            .filter(|r| r.query.contains(&format!("status={status}")))
            .collect();
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|r| !leaked(&r.headers).is_empty()));
    }
}

#[test]
fn credentials_follow_a_redirect_within_the_origin() {
    let url = server().url(&format!("/redirect?to={}", encode("/echo/same-origin")));
    let result = run_auth(&url);
    assert_eq!(result.node("bearer")["data"]["status"], 200, "{:#}", result.result);
    let landed = server().requests_to("/echo/same-origin");
    assert_eq!(landed.len(), 3);
    assert!(landed.iter().all(|r| leaked(&r.headers).len() == 1), "{landed:#?}");
    assert!(landed.iter().any(|r| r.header("x-api-key") == Some("key-secret")));
}

/// Values of `Retry-After` that are no number of seconds a client can wait.
const WILD_RETRY_AFTER: &[&str] = &[
    "1e20",
    "-5",
    "-0.5",
    "NaN",
    "inf",
    "garbage",
    "99999999999999999999",
    "18446744073709551615",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
];

fn retry_after_url(value: &str, status: u16) -> String {
    server().url(&format!("/retry-after-value?status={status}&value={}", encode(value)))
}

#[test]
fn retry_after_on_a_success_is_ignored_whatever_it_says() {
    let binary = build("hostile-fetch");
    for value in WILD_RETRY_AFTER {
        let result = run(&binary, &json!({ "url": retry_after_url(value, 200) }), &[], &[]);
        assert_eq!(result.code, 0, "Retry-After: {value}\n{}\n{}", result.stdout, result.stderr);
        assert_eq!(result.node("get")["data"]["status"], 200);
    }
}

#[test]
fn retry_after_of_any_value_on_429_and_503_is_clamped_never_a_panic() {
    let binary = build("hostile-fetch");
    for status in [429, 503] {
        for value in WILD_RETRY_AFTER {
            let began = Instant::now();
            let result = run(&binary, &json!({ "url": retry_after_url(value, status) }), &["--events"], &[]);
            let took = began.elapsed();
            assert_eq!(result.code, 1, "Retry-After: {value}\n{}\n{}", result.stdout, result.stderr);
            let error = &result.node("get")["error"];
            let kind = if status == 429 { "rate_limit" } else { "server_error" };
            assert_eq!(error["kind"], kind, "Retry-After: {value}: {error:#}");
            assert_eq!(result.events("node_retry").len(), 1, "retried once (max_attempts 2)");
            // The wait is the policy's max_delay_ms (200 ms) at most.
            assert!(took < Duration::from_secs(4), "Retry-After: {value} took {took:?}");
        }
    }
}

/// The run result's size and the node's error, for a GET of `bytes` bytes.
fn fetch_big(binary: &std::path::Path, bytes: u64, with_length: bool) -> (Run, Value) {
    let url = server().url(&format!("/big?bytes={bytes}&length={}", u8::from(with_length)));
    let result = run(binary, &json!({ "url": url }), &[], &[]);
    let error = result.node("get")["error"].clone();
    (result, error)
}

fn assert_too_large(result: &Run, error: &Value) {
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(error["kind"], "validation", "{error:#}");
    assert_eq!(error["code"], "response_too_large", "{error:#}");
    assert!(result.stdout.len() < 16 * 1024, "the run result holds no body: {} bytes", result.stdout.len());
}

#[test]
fn a_response_over_the_node_limit_fails_without_being_read_whole() {
    let binary = build_with(
        "hostile-fetch",
        "node-limit",
        &[("\"response\": \"text\" }", "\"response\": \"text\", \"max_response_bytes\": 1048576 }")],
    );
    for with_length in [false, true] {
        let (result, error) = fetch_big(&binary, 64 * 1024 * 1024, with_length);
        assert_too_large(&result, &error);
        assert!(error["message"].as_str().unwrap_or("").contains("1048576"), "{error:#}");
    }
    // At the limit exactly is not over it.
    let (result, _) = fetch_big(&binary, 1024 * 1024, false);
    assert_eq!(result.code, 0, "{}", result.stderr);
}

#[test]
fn the_default_limit_is_32_mib_and_settings_http_changes_it() {
    let (result, error) = fetch_big(&build("hostile-fetch"), 32 * 1024 * 1024 + 1, false);
    assert_too_large(&result, &error);
    let binary = build_with(
        "hostile-fetch",
        "flow-limit",
        &[("\"settings\": {", "\"settings\": { \"http\": { \"max_response_bytes\": 1000 },")],
    );
    let (result, error) = fetch_big(&binary, 1001, true);
    assert_too_large(&result, &error);
    let (result, _) = fetch_big(&binary, 1000, true);
    assert_eq!(result.code, 0, "{}", result.stderr);
}

fn deny_binary() -> std::path::PathBuf {
    build_with(
        "hostile-fetch",
        "deny",
        &[("\"settings\": {", "\"settings\": { \"http\": { \"deny_private_networks\": true },")],
    )
}

/// Every spelling of a loopback or unspecified address that reaches this machine.
fn private_urls(path: &str) -> Vec<String> {
    let port = server().addr().port();
    ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::ffff:127.0.0.1]", "2130706433", "127.1", "0x7f.0.0.1"]
        .iter()
        .map(|host| format!("http://{host}:{port}{path}"))
        .collect()
}

fn assert_refused(envelope: &Value, url: &str) {
    let error = &envelope["error"];
    assert_eq!(error["kind"], "permission", "{url}: {envelope:#}");
    assert_eq!(error["code"], "private_address", "{url}: {envelope:#}");
}

#[test]
fn deny_private_networks_refuses_loopback_however_spelled_and_sends_nothing() {
    let binary = deny_binary();
    for (i, url) in private_urls("/echo/denied").iter().enumerate() {
        let url = format!("{url}-{i}");
        let result = run(&binary, &json!({ "url": url }), &["--events"], &[]);
        assert_eq!(result.code, 1, "{url}: {}\n{}", result.stdout, result.stderr);
        assert_refused(result.node("get"), &url);
        assert!(result.events("node_retry").is_empty(), "a refusal is not retried");
    }
    assert_eq!(server().requests_to("/echo/denied").len(), 0, "no request reached the server");
    // Without the setting, the same program kind reaches it.
    let allowed = run(&build("hostile-fetch"), &json!({ "url": server().url("/echo/allowed") }), &[], &[]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

#[test]
fn deny_private_networks_checks_every_redirect_hop() {
    // A redirect to a private address from a private address: the first hop is refused already;
    // the hop check itself is the same function (see the runtime's unit tests).
    let binary = deny_binary();
    let url = server().url(&format!("/redirect?to={}", encode(&other().url("/echo/hop"))));
    let result = run(&binary, &json!({ "url": url }), &[], &[]);
    assert_refused(result.node("get"), &url);
    assert_eq!(other().requests_to("/echo/hop").len(), 0);
}

#[test]
fn serve_deny_private_networks_refuses_what_the_flow_alone_allows() {
    let binary = build("hostile-fetch");
    let mut child = Command::new(&binary)
        .args(["serve", "--addr", "127.0.0.1:0", "--deny-private-networks"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut addr = None;
    for line in stderr.lines().map_while(Result::ok) {
        let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if entry["message"] == "serving" {
            addr = entry["addr"].as_str().map(str::to_owned);
            break;
        }
        assert!(entry["level"] != "error", "serve failed: {line}");
    }
    let addr = addr.expect("serve started");
    let agent = flowc_tests::http_agent();
    let body = json!({ "url": server().url("/echo/served-denied") }).to_string();
    let answer = agent
        .post(&format!("http://{addr}/run"))
        .header("content-type", "application/json")
        .send(body)
        .map(|mut r| r.body_mut().read_json::<Value>());
    let _ = child.kill();
    let _ = child.wait();
    let result = answer.expect("POST /run").expect("a JSON answer");
    assert_refused(&result["nodes"]["get"], "served");
    assert_eq!(server().requests_to("/echo/served-denied").len(), 0);
}

#[test]
fn the_schema_lists_the_http_settings_and_the_node_limit() {
    let ran = flowc_tests::bin::flowc(&["schema"], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    let schema = ran.json();
    let http = &schema["properties"]["settings"]["properties"]["http"];
    assert_eq!(http["properties"]["max_response_bytes"]["type"], "integer", "{http:#}");
    assert_eq!(http["properties"]["deny_private_networks"]["type"], "boolean", "{http:#}");
    assert_eq!(http["additionalProperties"], false);
    let node = schema["properties"]["nodes"]["items"]["allOf"]
        .as_array()
        .and_then(|all| all.iter().find(|k| k["if"]["properties"]["type"]["const"] == "http_request"))
        .expect("the http_request config schema");
    assert_eq!(node["then"]["properties"]["config"]["properties"]["max_response_bytes"]["type"], "integer");
}
