//! Tests of the test servers themselves: `cargo test -p flowc-tests --test servers`.

use std::time::{Duration, Instant};

use flowc_tests::http_agent;
use flowc_tests::httpbin::Httpbin;
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

fn get(url: &str) -> (u16, Value) {
    let mut resp = http_agent().get(url).call().expect(url);
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn echo_shape() {
    let server = TestServer::start_blocking();
    let mut resp = http_agent()
        .post(server.url("/echo/a/b?x=1&y=two%20words"))
        .header("X-Test", "yes")
        .header("Content-Type", "application/json")
        .send(r#"{"n": 1, "s": "x"}"#)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/echo/a/b");
    assert_eq!(body["query"], json!({"x": "1", "y": "two words"}));
    assert_eq!(body["headers"]["x-test"], "yes");
    assert_eq!(body["headers"]["content-type"], "application/json");
    assert_eq!(body["body"], json!({"n": 1, "s": "x"}));

    let mut resp = http_agent().put(server.url("/echo")).send("plain text").unwrap();
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["query"], json!({}));
    assert_eq!(body["body"], "plain text");

    let (status, body) = get(&server.url("/echo"));
    assert_eq!(status, 200);
    assert_eq!(body["method"], "GET");
    assert_eq!(body["body"], Value::Null);
}

#[test]
fn flaky_counts_per_key() {
    let server = TestServer::start_blocking();
    for n in 1..=3 {
        let (status, body) = get(&server.url("/flaky/three?fail=3"));
        assert_eq!(status, 503, "call {n}");
        assert_eq!(body, json!({"error": "try again"}));
    }
    let (status, body) = get(&server.url("/flaky/three?fail=3"));
    assert_eq!(status, 200);
    assert_eq!(body, json!({"ok": true, "key": "three", "calls": 4}));

    // Another key starts from zero; the default is two failures.
    assert_eq!(get(&server.url("/flaky/other")).0, 503);
    assert_eq!(get(&server.url("/flaky/other")).0, 503);
    let (status, body) = get(&server.url("/flaky/other"));
    assert_eq!(status, 200);
    assert_eq!(body, json!({"ok": true, "key": "other", "calls": 3}));

    assert_eq!(server.requests_to("/flaky/three").len(), 4);
    assert_eq!(server.requests_to("/flaky/").len(), 7);
    let statuses: Vec<_> = server.requests_to("/flaky/other").iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
}

#[test]
fn retry_after_header() {
    let server = TestServer::start_blocking();
    let mut resp = http_agent().get(server.url("/retry-after/k?secs=2")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body, json!({"error": "slow down"}));

    let (status, body) = get(&server.url("/retry-after/k?secs=2"));
    assert_eq!(status, 200);
    assert_eq!(body, json!({"ok": true, "calls": 2}));

    // Default of one second, separate key.
    let resp = http_agent().get(server.url("/retry-after/other")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
}

#[test]
fn slow_calls_overlap() {
    let server = TestServer::start_blocking();
    let started = Instant::now();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let url = server.url(&format!("/slow/s{i}?ms=400"));
            std::thread::spawn(move || get(&url))
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let (status, body) = t.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, json!({"key": format!("s{i}")}));
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");

    let reqs = server.requests_to("/slow/");
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert!(r.duration() >= Duration::from_millis(400), "{r:?}");
    }
    assert_eq!(server.max_overlap("/slow/"), 3);

    // One after the other: no overlap.
    get(&server.url("/slow/seq?ms=50"));
    get(&server.url("/slow/seq?ms=50"));
    assert_eq!(server.max_overlap("/slow/seq"), 1);
    assert_eq!(get(&server.url("/slow/d")).1, json!({"key": "d"}));
}

#[test]
fn fixed_endpoints_and_recording() {
    let server = TestServer::start_blocking();
    assert!(server.base_url().starts_with("http://127.0.0.1:"));

    let (status, body) = get(&server.url("/status/418"));
    assert_eq!((status, body), (418, json!({"status": 418})));
    let (status, body) = get(&server.url("/status/500"));
    assert_eq!((status, body), (500, json!({"status": 500})));

    let (status, body) = get(&server.url("/json"));
    assert_eq!(status, 200);
    assert_eq!(body, json!({"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "total": 2}));

    let mut resp = http_agent().get(server.url("/text")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "hello");

    assert_eq!(get(&server.url("/nope")).0, 404);

    http_agent().post(server.url("/echo?a=1&b=2")).header("X-Custom-Header", "v").send("raw body").unwrap();

    let reqs = server.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/status/418", "/status/500", "/json", "/text", "/nope", "/echo"]);
    assert_eq!(reqs[4].status, Some(404));
    let echo = &reqs[5];
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.query, "a=1&b=2");
    assert_eq!(echo.body, "raw body");
    assert_eq!(echo.headers["x-custom-header"], "v");
    assert_eq!(echo.header("X-Custom-Header"), Some("v"));
    assert!(echo.headers.keys().all(|k| *k == k.to_lowercase()));
    assert!(echo.responded_at >= echo.received_at);
    for w in reqs.windows(2) {
        assert!(w[0].received_at <= w[1].received_at);
    }
}

/// The server has its own runtime: it answers while a tokio test blocks its own thread,
/// here on a child process that calls the server.
#[tokio::test(flavor = "multi_thread")]
async fn serves_while_test_thread_blocks() {
    let server = TestServer::start().await;
    let url = server.url("/flaky/child?fail=0");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request; \
             print(urllib.request.urlopen(sys.argv[1]).read().decode())",
            &url,
        ])
        .env("NO_PROXY", "*")
        .output();
    match out {
        Ok(out) => {
            assert!(out.status.success(), "{out:?}");
            let body: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(body, json!({"ok": true, "key": "child", "calls": 1}));
        }
        // No python: a blocking call from this thread shows the same thing.
        Err(_) => assert_eq!(get(&url).0, 200),
    }
    assert_eq!(server.requests_to("/flaky/child").len(), 1);
}

#[test]
fn drop_stops_the_server() {
    let server = TestServer::start_blocking();
    let addr = server.addr();
    assert_eq!(get(&server.url("/json")).0, 200);
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn abandoned_request_is_recorded() {
    let server = TestServer::start_blocking();
    let agent: ureq::Agent =
        ureq::Agent::config_builder().proxy(None).timeout_global(Some(Duration::from_millis(200))).build().into();
    assert!(agent.get(server.url("/slow/gone?ms=1500")).call().is_err());
    std::thread::sleep(Duration::from_millis(1800));
    let reqs = server.requests_to("/slow/gone");
    assert_eq!(reqs.len(), 1);
    // The server drops the handler when the client goes away: no status, and
    // `responded_at` is when that happened, not when the sleep would have ended.
    assert_eq!(reqs[0].status, None);
    assert!(reqs[0].duration() < Duration::from_millis(1400), "{:?}", reqs[0]);
}

#[test]
fn httpbin_answers() {
    let httpbin = Httpbin::start().unwrap_or_else(|e| panic!("{e}"));
    assert!(httpbin.base_url().starts_with("http://127.0.0.1:"));
    let (status, body) = get(&httpbin.url("/get?x=1"));
    assert_eq!(status, 200);
    assert_eq!(body["args"], json!({"x": "1"}));
    assert_eq!(body["url"], httpbin.url("/get?x=1"));

    let mut resp = http_agent()
        .post(httpbin.url("/post"))
        .header("Content-Type", "application/json")
        .send(r#"{"a": [1, 2]}"#)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["json"], json!({"a": [1, 2]}));

    assert_eq!(get(&httpbin.url("/status/418")).0, 418);
}

#[test]
fn httpbin_child_is_killed_on_drop() {
    let httpbin = Httpbin::start().unwrap_or_else(|e| panic!("{e}"));
    let pid = httpbin.pid();
    let url = httpbin.url("/get");
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    drop(httpbin);
    assert!(!proc_dir.exists(), "httpbin pid {pid} still exists");
    assert!(http_agent().get(&url).call().is_err());
}
