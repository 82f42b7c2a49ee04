//! `<bin> serve`: POST /run, a signed webhook, health, readiness and metrics, the run limit,
//! the body limit, /mcp, schedules, and a graceful SIGTERM with runs in flight — each against
//! a program these tests start on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flowc_tests::flows::{build, build_with};
use flowc_tests::server::TestServer;
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};

const SECRET: &str = "whsec-test";

/// A `<bin> serve` process on a port the OS chose, with its stderr (JSON log lines) collected.
struct Served {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(binary: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut command = Command::new(binary);
        // From the workspace root, where the fixtures' relative paths start (as `run` does).
        command
            .current_dir(flowc_tests::flows::root())
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start serve");
        let stderr = child.stderr.take().expect("piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    if entry["message"] == "serving" {
                        let _ = tx.send(entry["addr"].as_str().unwrap_or_default().to_owned());
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("serve did not start: {:?}", log.lock().unwrap()));
        Served { child, base: format!("http://{addr}"), log }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log_lines(&self) -> Vec<Value> {
        self.log.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> i32 {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(sent.success());
        let began = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(began.elapsed() < Duration::from_secs(30), "serve did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(status, headers we look at, JSON body or the text as a JSON string)`.
fn call(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, Option<String>, Value) {
    let agent = flowc_tests::http_agent();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(body.to_owned()).unwrap();
    let mut response = agent.run(request).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, retry_after, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The signature a sender puts on `body` at `timestamp`: HMAC-SHA256 of `<timestamp>.<body>`.
fn sign(timestamp: u64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn hook() -> std::path::PathBuf {
    build("serve-hook")
}

/// `POST /run` of the signed hook's flow needs `--auth-credential` (a run by hand would go
/// around the signature), and a JSON content type.
const RUN: &[(&str, &str)] = &[("content-type", "application/json"), ("authorization", "Bearer whsec-test")];
const AUTH: [&str; 2] = ["--auth-credential", "hook"];

#[test]
fn post_run_answers_the_run_result_and_refuses_bad_requests() {
    let server = TestServer::start_blocking();
    let served =
        Served::start(&hook(), &["--max-body", "2000", "--auth-credential", "hook"], &[("HOOK_SECRET", SECRET)]);
    let body = json!({ "base_url": server.base_url(), "key": "r1", "ms": 1 }).to_string();
    let (status, _, result) = call("POST", &served.url("/run"), RUN, &body);
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "success");
    let first_run_id = result["run_id"].clone();
    assert_eq!(result["outputs"]["answer"], json!({ "status": 200, "key": "r1", "event": null, "source": null }));
    assert_eq!(result["nodes"]["hook"]["data"]["body"]["key"], "r1", "POST /run gives the webhook node the body");

    let (status, _, error) = call("POST", &served.url("/run"), RUN, "{not json");
    assert_eq!(status, 400);
    assert!(error["error"].as_str().unwrap().starts_with("the request body is not JSON"), "{error}");
    let (status, _, error) = call("POST", &served.url("/run"), RUN, &"x".repeat(3000));
    assert_eq!(status, 413, "{error}");
    // A failed run is a 500 with its run result.
    let failing = json!({ "base_url": "http://127.0.0.1:9", "key": "r2", "ms": 1 }).to_string();
    let (status, _, result) = call("POST", &served.url("/run"), RUN, &failing);
    assert_eq!((status, result["status"].as_str()), (500, Some("error")));
    let (status, _, error) = call("GET", &served.url("/nowhere"), &[], "");
    assert_eq!(status, 404);
    assert!(error["error"].as_str().unwrap().contains("POST /hooks/order"), "{error}");

    let runs: Vec<Value> = served.log_lines().into_iter().filter(|l| l["message"] == "run finished").collect();
    assert_eq!(runs.len(), 2, "one JSON log line per run");
    assert_eq!(runs[0]["run_id"], first_run_id, "the log line names the run it answered");
    assert_eq!((&runs[0]["status"], &runs[1]["status"]), (&json!("success"), &json!("error")));
    assert_eq!(served.stop(), 0);
}

#[test]
fn the_webhook_runs_only_for_a_fresh_valid_signature() {
    let server = TestServer::start_blocking();
    let served = Served::start(&hook(), &AUTH, &[("HOOK_SECRET", SECRET)]);
    let url = served.url("/hooks/order?source=shop");
    let body = json!({ "base_url": server.base_url(), "key": "w1", "ms": 1 }).to_string();
    let t = now();
    let signature = sign(t, &body);
    let stamp = t.to_string();
    let signed =
        [("x-signature-256", signature.as_str()), ("x-timestamp", stamp.as_str()), ("x-event", "order.placed")];

    let (status, _, result) = call("POST", &url, &signed, &body);
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["outputs"]["answer"],
        json!({ "status": 200, "key": "w1", "event": "order.placed", "source": "shop" })
    );
    let request = &result["nodes"]["hook"]["data"];
    assert_eq!((&request["method"], &request["path"]), (&json!("POST"), &json!("/hooks/order")));
    assert_eq!(server.requests_to("/slow/w1").len(), 1);

    // The same request again is a replay.
    let (status, _, error) = call("POST", &url, &signed, &body);
    assert_eq!(status, 401);
    assert_eq!(error["error"], "the request was already received (a replay)");
    // A signature of another body, a signature with another key, none at all, a stale time.
    let other = json!({ "base_url": server.base_url(), "key": "w2", "ms": 1 }).to_string();
    let (status, _, _) = call("POST", &url, &signed, &other);
    assert_eq!(status, 401);
    let mut wrong = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"guess").unwrap();
    wrong.update(format!("{t}.{other}").as_bytes());
    let wrong = format!("sha256={}", hex::encode(wrong.finalize().into_bytes()));
    let (status, _, _) = call("POST", &url, &[("x-signature-256", &wrong), ("x-timestamp", &stamp)], &other);
    assert_eq!(status, 401);
    let (status, _, error) = call("POST", &url, &[("x-timestamp", &stamp)], &other);
    assert_eq!((status, error["error"].as_str()), (401, Some("the request has no `x-signature-256` signature header")));
    let old = t - 1000;
    let (status, _, error) =
        call("POST", &url, &[("x-signature-256", &sign(old, &other)), ("x-timestamp", &old.to_string())], &other);
    assert_eq!(status, 401);
    assert!(error["error"].as_str().unwrap().contains("more than the 300 s allowed"), "{error}");
    assert_eq!(server.requests_to("/slow/w2").len(), 0, "no refused request ran the flow");
    // Only POST is routed to the webhook.
    let (status, _, _) = call("PUT", &url, &signed, &body);
    assert_eq!(status, 405);

    let (_, _, metrics) = call("GET", &served.url("/metrics"), &[], "");
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains("flowc_requests_refused_total{flow=\"serve-hook\",reason=\"unauthorized\"} 5"),
        "{metrics}"
    );
    assert_eq!(served.stop(), 0);
}

#[test]
fn a_webhook_body_that_does_not_match_its_schema_fails_the_run_with_the_request_kept() {
    let server = TestServer::start_blocking();
    let schema = r#""schema": { "type": "object", "required": ["base_url", "key"], "properties": { "base_url": { "type": "string" }, "key": { "type": "string" }, "ms": { "type": "integer" } } }"#;
    let binary = build_with(
        "serve-hook",
        "schema",
        &[(r#""tolerance_secs": 300 } } },"#, &format!(r#""tolerance_secs": 300 }}, {schema} }} }},"#))],
    );
    let served = Served::start(&binary, &AUTH, &[("HOOK_SECRET", SECRET)]);
    let url = served.url("/hooks/order");
    let post = |body: &str| {
        let t = now();
        let (signature, stamp) = (sign(t, body), t.to_string());
        call("POST", &url, &[("x-signature-256", &signature), ("x-timestamp", &stamp)], body)
    };
    let (status, _, result) = post(&json!({ "base_url": server.base_url(), "key": "s1", "ms": 1 }).to_string());
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["outputs"]["answer"]["key"], "s1");

    let (status, _, result) = post(&json!({ "base_url": server.base_url(), "key": 7, "ms": 1 }).to_string());
    assert_eq!(status, 500, "{result}");
    let hook = &result["nodes"]["hook"];
    assert_eq!(hook["error"]["kind"], "validation", "{hook:#}");
    assert_eq!(hook["error"]["code"], "schema");
    assert_eq!(
        hook["error"]["message"],
        "the request body of webhook `hook` does not match its `schema`: /key: expected a string, found a number (7)"
    );
    assert_eq!(hook["data"]["body"]["key"], 7, "the request is kept: {hook:#}");
    assert!(server.requests_to("/slow/").len() == 1, "nothing ran after the hook");
}

#[test]
fn a_webhook_with_response_outputs_answers_without_the_envelopes() {
    let server = TestServer::start_blocking();
    let binary = build_with(
        "serve-hook",
        "outputs",
        &[(r#""tolerance_secs": 300 } } },"#, r#""tolerance_secs": 300 }, "response": "outputs" } },"#)],
    );
    let served = Served::start(&binary, &AUTH, &[("HOOK_SECRET", SECRET)]);
    let url = served.url("/hooks/order?source=shop");
    let post = |body: &str| {
        let t = now();
        let (signature, stamp) = (sign(t, body), t.to_string());
        call("POST", &url, &[("x-signature-256", &signature), ("x-timestamp", &stamp)], body)
    };

    let (status, _, answer) = post(&json!({ "base_url": server.base_url(), "key": "o1", "ms": 1 }).to_string());
    assert_eq!(status, 200, "{answer}");
    let mut keys: Vec<&str> = answer.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["duration_ms", "flow", "outputs", "run_id", "started_at", "status"], "{answer}");
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["flow"], "serve-hook-outputs");
    assert_eq!(answer["outputs"]["answer"], json!({ "status": 200, "key": "o1", "event": null, "source": "shop" }));

    // A failed run answers 500 with each failed node's error, still without envelopes.
    let (status, _, answer) = post(&json!({ "base_url": "http://127.0.0.1:1", "key": "o2", "ms": 1 }).to_string());
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["status"], "error");
    assert!(answer.get("nodes").is_none(), "{answer}");
    assert_eq!(answer["outputs"], json!({}));
    let errors = answer["errors"].as_object().unwrap();
    assert_eq!(errors.keys().collect::<Vec<_>>(), ["call"], "{answer}");
    assert_eq!(errors["call"]["kind"], "network", "{answer}");

    // `POST /run` still answers the whole run result.
    let input = json!({ "base_url": server.base_url(), "key": "o3", "ms": 1 }).to_string();
    let (status, _, result) = call("POST", &served.url("/run"), RUN, &input);
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["nodes"]["call"]["status"], "success", "{result}");
}

#[test]
fn a_run_goes_on_when_its_client_hangs_up() {
    let server = TestServer::start_blocking();
    let served = Served::start(&hook(), &AUTH, &[("HOOK_SECRET", SECRET)]);
    let body = json!({ "base_url": server.base_url(), "key": "gone", "ms": 700 }).to_string();
    let mut client = std::net::TcpStream::connect(served.base.trim_start_matches("http://")).unwrap();
    write!(
        client,
        "POST /run HTTP/1.1\r\nhost: flowc\r\nauthorization: Bearer {SECRET}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Hang up once the run's call has reached the service (which answers 700 ms later).
    let began = Instant::now();
    while server.requests_to("/slow/gone").is_empty() {
        assert!(began.elapsed() < Duration::from_secs(10), "the run did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(client);
    let finished = loop {
        let found = served.log_lines().into_iter().find(|l| l["message"] == "run finished");
        if let Some(line) = found {
            break line;
        }
        assert!(began.elapsed() < Duration::from_secs(10), "the run did not finish: {:?}", served.log_lines());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(finished["status"], "success", "{finished}");
    assert!(finished["duration_ms"].as_u64().unwrap() >= 700, "{finished}");
    assert_eq!(served.stop(), 0);
}

#[test]
fn health_readiness_and_metrics_answer_and_metrics_count_runs() {
    let server = TestServer::start_blocking();
    let served = Served::start(&hook(), &AUTH, &[("HOOK_SECRET", SECRET)]);
    assert_eq!(call("GET", &served.url("/healthz"), &[], "").0, 200);
    let (status, _, ready) = call("GET", &served.url("/readyz"), &[], "");
    assert_eq!((status, ready), (200, json!({ "status": "ready" })));
    let (status, _, deep) = call("GET", &served.url("/readyz?deep=1"), &[RUN[1]], "");
    assert_eq!(status, 200, "{deep}");
    assert_eq!(deep["status"], "ok");
    assert!(
        deep["checks"].as_array().unwrap().iter().any(|c| c["check"] == "credential" && c["target"] == "hook"),
        "{deep}"
    );

    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    let success = "flowc_runs_total{flow=\"serve-hook\",status=\"success\"}";
    let (_, _, before) = call("GET", &served.url("/metrics"), &[], "");
    assert_eq!(metric(before.as_str().unwrap(), success), 0.0);
    for key in ["m1", "m2"] {
        let body = json!({ "base_url": server.base_url(), "key": key, "ms": 1 }).to_string();
        assert_eq!(call("POST", &served.url("/run"), RUN, &body).0, 200);
    }
    let (_, _, after) = call("GET", &served.url("/metrics"), &[], "");
    let after = after.as_str().unwrap();
    assert_eq!(metric(after, success), 2.0, "{after}");
    assert_eq!(metric(after, "flowc_node_duration_seconds_count{flow=\"serve-hook\",node=\"call\"}"), 2.0, "{after}");
    assert_eq!(metric(after, "flowc_runs_in_flight{flow=\"serve-hook\"}"), 0.0);
    assert_eq!(served.stop(), 0);
}

#[test]
fn a_full_service_answers_503_with_retry_after() {
    let server = TestServer::start_blocking();
    let served =
        Arc::new(Served::start(&hook(), &["--max-runs", "2", "--auth-credential", "hook"], &[("HOOK_SECRET", SECRET)]));
    let slow = |key: &str| json!({ "base_url": server.base_url(), "key": key, "ms": 1500 }).to_string();
    let running: Vec<_> = ["b1", "b2"]
        .into_iter()
        .map(|key| {
            let (url, body) = (served.url("/run"), slow(key));
            std::thread::spawn(move || call("POST", &url, RUN, &body).0)
        })
        .collect();
    let began = Instant::now();
    while server.requests_to("/slow/b").len() < 2 {
        assert!(began.elapsed() < Duration::from_secs(10), "the two runs never reached the server");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, retry_after, error) = call("POST", &served.url("/run"), RUN, &slow("b3"));
    assert_eq!((status, retry_after.as_deref()), (503, Some("1")), "{error}");
    for run in running {
        assert_eq!(run.join().unwrap(), 200);
    }
    assert_eq!(server.requests_to("/slow/b3").len(), 0);
    // With the runs done, there is room again.
    assert_eq!(
        call(
            "POST",
            &served.url("/run"),
            RUN,
            &json!({ "base_url": server.base_url(), "key": "b4", "ms": 1 }).to_string()
        )
        .0,
        200
    );
}

#[test]
fn sigterm_lets_fifty_runs_in_flight_finish_then_exits_0() {
    let server = TestServer::start_blocking();
    let served = Served::start(&hook(), &AUTH, &[("HOOK_SECRET", SECRET)]);
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let url = served.url("/run");
            let body = json!({ "base_url": server.base_url(), "key": format!("t{i}"), "ms": 1500 }).to_string();
            std::thread::spawn(move || call("POST", &url, RUN, &body))
        })
        .collect();
    let began = Instant::now();
    while server.requests_to("/slow/t").len() < 50 {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "only {} runs reached the server",
            server.requests_to("/slow/t").len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let base = served.base.clone();
    let code = served.stop();
    assert_eq!(code, 0);
    let answers: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(answers.iter().all(|(status, _, result)| *status == 200 && result["status"] == "success"), "{answers:?}");
    assert_eq!(answers.len(), 50);
    assert!(ureq::get(format!("{base}/healthz")).call().is_err(), "the listener is closed");
}

#[test]
fn the_schedule_fires_in_process_unless_turned_off() {
    let server = TestServer::start_blocking();
    let binary = build_with("nightly", "local", &[("http://127.0.0.1:9", &server.base_url())]);
    let served = Served::start(&binary, &["--no-schedule"], &[]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(server.requests_to("/echo/ping").len(), 0, "--no-schedule fires nothing");
    assert_eq!(served.stop(), 0);

    let served = Served::start(&binary, &[], &[]);
    std::thread::sleep(Duration::from_millis(3200));
    let pings = server.requests_to("/echo/ping");
    assert!((2..=4).contains(&pings.len()), "every second for about 3 s: {}", pings.len());
    for ping in &pings {
        assert!(ping.query.starts_with("at=20"), "the node yields when it fired: {}", ping.query);
    }
    let scheduled: Vec<Value> = served.log_lines().into_iter().filter(|l| l["trigger"] == "schedule").collect();
    assert!(scheduled.len() >= 2 && scheduled.iter().all(|l| l["status"] == "success"), "{scheduled:?}");
    assert_eq!(served.stop(), 0);
}

#[test]
fn mcp_is_served_under_serve() {
    let served = Served::start(&hook(), &AUTH, &[("HOOK_SECRET", SECRET)]);
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }
    })
    .to_string();
    let (status, _, answer) = call(
        "POST",
        &served.url("/mcp"),
        &[
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("authorization", "Bearer whsec-test"),
        ],
        &initialize,
    );
    assert_eq!(status, 200, "{answer}");
    let text = answer.to_string();
    assert!(text.contains("serverInfo") && text.contains("serve-hook"), "{text}");
    assert_eq!(served.stop(), 0);
}

// --- What a stranger can do to a served flow (issue 13) -------------------------------------

/// The signed hook with a delivery id header as well.
fn hook_with_id() -> std::path::PathBuf {
    build_with(
        "serve-hook",
        "id",
        &[(r#""tolerance_secs": 300 }"#, r#""tolerance_secs": 300, "id_header": "X-Delivery" }"#)],
    )
}

#[test]
fn a_captured_delivery_cannot_be_replayed_under_another_id_without_one_or_in_upper_case() {
    let server = TestServer::start_blocking();
    let served = Served::start(&hook_with_id(), &[], &[("HOOK_SECRET", SECRET)]);
    let url = served.url("/hooks/order");
    let body = json!({ "base_url": server.base_url(), "key": "rp", "ms": 1 }).to_string();
    let (t, signature) = (now().to_string(), sign(now(), &body));
    let (status, _, result) =
        call("POST", &url, &[("x-signature-256", &signature), ("x-timestamp", &t), ("x-delivery", "d-1")], &body);
    assert_eq!(status, 200, "{result}");
    let upper = format!("SHA256={}", signature.trim_start_matches("sha256=").to_uppercase());
    for headers in [
        vec![("x-signature-256", signature.as_str()), ("x-timestamp", t.as_str()), ("x-delivery", "d-2")],
        vec![("x-signature-256", signature.as_str()), ("x-timestamp", t.as_str())],
        vec![("x-signature-256", upper.as_str()), ("x-timestamp", t.as_str()), ("x-delivery", "d-3")],
    ] {
        let (status, _, error) = call("POST", &url, &headers, &body);
        assert_eq!((status, error["error"].as_str()), (401, Some("the request was already received (a replay)")));
    }
    assert_eq!(server.requests_to("/slow/rp").len(), 1, "the flow ran once");
}

/// Starts a run of 1.5 s over `POST /run` and waits until it has reached `server`: with
/// `--max-runs 1`, the one run slot is taken until the returned thread (its status) ends.
fn take_the_run_slot(served: &Served, server: &TestServer) -> std::thread::JoinHandle<u16> {
    let (url, body) = (served.url("/run"), json!({ "base_url": server.base_url(), "key": "slot", "ms": 1500 }));
    let busy = std::thread::spawn(move || call("POST", &url, RUN, &body.to_string()).0);
    let began = Instant::now();
    while server.requests_to("/slow/slot").is_empty() {
        assert!(began.elapsed() < Duration::from_secs(10), "the slow run did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    busy
}

#[test]
fn a_delivery_answered_503_is_not_remembered_and_the_replay_cache_is_bounded() {
    let server = TestServer::start_blocking();
    let args = ["--max-runs", "1", "--replay-cache", "2", "--auth-credential", "hook"];
    let served = Arc::new(Served::start(&hook(), &args, &[("HOOK_SECRET", SECRET)]));
    let url = served.url("/hooks/order");
    let post = |key: &str| {
        let body = json!({ "base_url": server.base_url(), "key": key, "ms": 1 }).to_string();
        let t = now();
        let (signature, stamp) = (sign(t, &body), t.to_string());
        move |url: &str| call("POST", url, &[("x-signature-256", &signature), ("x-timestamp", &stamp)], &body)
    };
    // The one run slot is taken...
    let busy = take_the_run_slot(&served, &server);
    // ...so the delivery is answered 503, and its retry later runs the flow.
    let delivery = post("lost");
    let (status, retry_after, error) = delivery(&url);
    assert_eq!((status, retry_after.as_deref()), (503, Some("1")), "{error}");
    assert_eq!(busy.join().unwrap(), 200);
    let (status, _, result) = delivery(&url);
    assert_eq!(status, 200, "the retry of a delivery answered 503 runs: {result}");
    assert_eq!(server.requests_to("/slow/lost").len(), 1);

    // Two deliveries remembered fill the cache: the next is refused, not let through.
    assert_eq!(post("second")(&url).0, 200);
    let (status, retry_after, error) = post("third")(&url);
    assert_eq!(status, 503, "{error}");
    assert!(error["error"].as_str().unwrap().contains("--replay-cache"), "{error}");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() > 250);
    assert_eq!(server.requests_to("/slow/third").len(), 0);
    let (_, _, metrics) = call("GET", &served.url("/metrics"), &[], "");
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("reason=\"replay_cache_full\"} 1"), "{metrics}");
}

#[test]
fn post_run_needs_the_bearer_a_json_body_a_served_host_and_no_foreign_origin() {
    let server = TestServer::start_blocking();
    let body = json!({ "base_url": server.base_url(), "key": "g", "ms": 1 }).to_string();
    // A flow triggered by a signed webhook serves no `/run` without `--auth-credential`.
    let served = Served::start(&hook(), &[], &[("HOOK_SECRET", SECRET)]);
    let (status, _, error) = call("POST", &served.url("/run"), &[("content-type", "application/json")], &body);
    assert_eq!(status, 403, "{error}");
    assert!(error["error"].as_str().unwrap().contains("signed webhook"), "{error}");
    drop(served);

    let served = Served::start(
        &hook(),
        &["--auth-credential", "hook", "--allow-host", "flows.example.com"],
        &[("HOOK_SECRET", SECRET)],
    );
    let url = served.url("/run");
    let json = ("content-type", "application/json");
    let (status, _, error) = call("POST", &url, &[json], &body);
    assert_eq!(status, 401, "no bearer: {error}");
    let (status, _, _) = call("POST", &url, &[json, ("authorization", "Bearer guess")], &body);
    assert_eq!(status, 401, "a wrong bearer");
    let (status, _, error) = call("POST", &url, &[("content-type", "text/plain"), RUN[1]], &body);
    assert_eq!(status, 415, "a body a cross-site form could send: {error}");
    let (status, _, error) = call("POST", &url, &[RUN[0], RUN[1], ("origin", "https://evil.example")], &body);
    assert_eq!(status, 403, "a foreign origin: {error}");
    let (status, _, error) = call("POST", &url, &[RUN[0], RUN[1], ("host", "rebound.example.com")], &body);
    assert_eq!(status, 403, "a foreign Host (DNS rebinding): {error}");
    for host in ["flow.default.svc.cluster.local:8080", "flow", "10.0.0.7:8080", "flows.example.com"] {
        let (status, _, result) = call("POST", &url, &[RUN[0], RUN[1], ("host", host)], &body);
        assert_eq!(status, 200, "{host}: {result}");
    }
    let (status, _, _) = call("POST", &url, &[RUN[0], RUN[1], ("origin", "http://localhost:3000")], &body);
    assert_eq!(status, 200, "a loopback origin");
    // /mcp refuses the foreign origin and the missing bearer too; /readyz?deep=1 needs the bearer.
    let mcp = [("content-type", "application/json"), ("accept", "application/json, text/event-stream")];
    assert_eq!(
        call("POST", &served.url("/mcp"), &[mcp[0], mcp[1], RUN[1], ("origin", "https://evil.example")], "{}").0,
        403
    );
    assert_eq!(call("POST", &served.url("/mcp"), &mcp, "{}").0, 401);
    assert_eq!(call("GET", &served.url("/readyz?deep=1"), &[], "").0, 401);
    assert_eq!(call("GET", &served.url("/readyz"), &[], "").0, 200, "probes need no bearer");
    assert_eq!(server.requests_to("/slow/g").len(), 5, "only the accepted requests ran the flow");
}

#[test]
fn an_unsigned_webhook_needs_the_bearer_when_the_service_has_one() {
    let server = TestServer::start_blocking();
    let binary = build_with(
        "serve-hook",
        "unsigned",
        &[(
            r#",
                  "hmac": { "credential": "hook", "header": "X-Signature-256", "timestamp_header": "X-Timestamp",
                            "tolerance_secs": 300 } } },"#,
            " } },",
        )],
    );
    let served = Served::start(&binary, &AUTH, &[("HOOK_SECRET", SECRET)]);
    let body = json!({ "base_url": server.base_url(), "key": "u", "ms": 1 }).to_string();
    assert_eq!(call("POST", &served.url("/hooks/order"), &[], &body).0, 401);
    assert_eq!(call("POST", &served.url("/hooks/order"), &[RUN[1]], &body).0, 200);
    assert_eq!(server.requests_to("/slow/u").len(), 1);
}

/// The resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

fn initialize() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }
    })
    .to_string()
}

#[test]
fn five_thousand_mcp_initializes_leave_memory_bounded() {
    let served = Served::start(&hook(), &AUTH, &[("HOOK_SECRET", SECRET)]);
    let headers = [("content-type", "application/json"), ("accept", "application/json, text/event-stream"), RUN[1]];
    assert_eq!(call("POST", &served.url("/mcp"), &headers, &initialize()).0, 200);
    let before = rss(served.child.id());
    let mut refused = 0;
    for _ in 0..5000 {
        match call("POST", &served.url("/mcp"), &headers, &initialize()).0 {
            200 => {}
            503 => refused += 1,
            other => panic!("initialize answered {other}"),
        }
    }
    let after = rss(served.child.id());
    assert!(after < before + 50 * 1024 * 1024, "RSS went from {before} to {after} bytes");
    assert_eq!(refused, 5000 - 127, "sessions past --max-mcp-sessions (128) are refused");
    let (_, _, metrics) = call("GET", &served.url("/metrics"), &[], "");
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("flowc_mcp_sessions{flow=\"serve-hook\"} 128"), "{metrics}");
    assert!(metrics.contains(&format!("reason=\"mcp_sessions\"}} {refused}")), "{metrics}");
}

/// An MCP session over `/mcp`: initialize, then JSON-RPC requests under its session id.
struct McpSession {
    url: String,
    id: String,
}

impl McpSession {
    fn open(url: String) -> McpSession {
        let agent = flowc_tests::http_agent();
        let response = agent
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", "Bearer whsec-test")
            .send(initialize())
            .unwrap();
        let id = response.headers().get("mcp-session-id").unwrap().to_str().unwrap().to_owned();
        let session = McpSession { url, id };
        session.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
        session
    }

    /// Sends a message; the answer's JSON-RPC result (from JSON or the last SSE data line).
    fn send(&self, message: &Value) -> Value {
        let agent = flowc_tests::http_agent();
        let mut response = agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", "Bearer whsec-test")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-06-18")
            .send(message.to_string())
            .unwrap();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let data = text.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).rfind(|d| !d.is_empty());
        serde_json::from_str(data.unwrap_or(&text)).unwrap_or(Value::Null)
    }

    fn call_tool(&self, arguments: Value) -> Value {
        let message = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                              "params": { "name": "serve-hook-breaker", "arguments": arguments } });
        self.send(&message)["result"].clone()
    }
}

#[test]
fn mcp_tool_calls_take_run_slots_count_in_metrics_and_share_the_breakers() {
    let server = TestServer::start_blocking();
    let binary = build_with(
        "serve-hook",
        "breaker",
        &[(
            r#""credentials": {"#,
            r#""settings": { "circuit_breakers": [ { "host": "127.0.0.1:1", "failure_threshold": 1, "open_ms": 600000 } ] },
  "credentials": {"#,
        )],
    );
    let served =
        Arc::new(Served::start(&binary, &["--max-runs", "1", "--auth-credential", "hook"], &[("HOOK_SECRET", SECRET)]));
    let session = McpSession::open(served.url("/mcp"));

    // A tool call fails against a closed port: the process's breaker for it opens...
    let result = session.call_tool(json!({ "base_url": "http://127.0.0.1:1", "key": "m", "ms": 1 }));
    assert_eq!(result["isError"], true, "{result}");
    let (_, _, metrics) = call("GET", &served.url("/metrics"), &[], "");
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("host=\"127.0.0.1:1\",state=\"open\"} 1"), "the call used the shared breakers: {metrics}");
    assert!(metrics.contains("flowc_runs_total{flow=\"serve-hook-breaker\",status=\"error\"} 1"), "{metrics}");
    // ...so POST /run sees it open, without a request.
    let body = json!({ "base_url": "http://127.0.0.1:1", "key": "r", "ms": 1 }).to_string();
    let (_, _, run) = call("POST", &served.url("/run"), RUN, &body);
    assert_eq!(run["nodes"]["call"]["error"]["code"], "circuit_open", "{run}");

    // With the one run slot taken by POST /run, a tool call is refused.
    let busy = take_the_run_slot(&served, &server);
    let result = session.call_tool(json!({ "base_url": server.base_url(), "key": "m2", "ms": 1 }));
    assert_eq!(result["isError"], true, "{result}");
    assert!(result.to_string().contains("--max-runs"), "{result}");
    assert_eq!(busy.join().unwrap(), 200);
    assert_eq!(server.requests_to("/slow/m2").len(), 0);
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed() {
    use std::io::Read;
    let served = Served::start(&hook(), &["--header-timeout-secs", "1"], &[("HOOK_SECRET", SECRET)]);
    let mut slow = std::net::TcpStream::connect(served.base.trim_start_matches("http://")).unwrap();
    slow.write_all(b"POST /run HTTP/1.1\r\nhost: flowc\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let began = Instant::now();
    let mut buffer = [0u8; 512];
    // The server answers 408 or just closes: either way the read ends, well before 8 s.
    let ended = loop {
        match slow.read(&mut buffer) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(ended && began.elapsed() < Duration::from_secs(6), "the connection stayed open {:?}", began.elapsed());
}

/// An agent's token usage and tool calls are counted in `/metrics`; a tool name the model made
/// up is counted as `(unknown)`, so the model cannot grow the label set.
#[test]
fn agent_tokens_and_tool_calls_are_in_metrics() {
    flowc_tests::mcp::server_script("server-everything");
    let stand_in = TestServer::start_blocking();
    stand_in.script(
        "serve",
        vec![
            json!({"tool_calls": [{"name": "echo", "arguments": {"message": "m"}}, {"name": "made-up-1", "arguments": {}}]}),
            json!({"content": "done"}),
        ],
    );
    let served =
        Served::start(&build("agent"), &[], &[("OPENAI_API_KEY", "test-key"), ("LOOKUP_TOKEN", "t0ken-t0ken")]);
    let input = json!({"question": "q", "api": stand_in.base_url(), "script": "script-serve"});
    let (status, _, result) =
        call("POST", &served.url("/run"), &[("content-type", "application/json")], &input.to_string());
    assert_eq!(status, 200, "{result}");
    let (_, _, metrics) = call("GET", &served.url("/metrics"), &[], "");
    let metrics = metrics.as_str().unwrap().to_owned();
    for line in [
        "flowc_model_tokens_total{flow=\"agent\",node=\"assistant\",kind=\"completion\"} 10",
        "flowc_agent_tool_calls_total{flow=\"agent\",node=\"assistant\",tool=\"echo\",outcome=\"ok\"} 1",
        "flowc_agent_tool_calls_total{flow=\"agent\",node=\"assistant\",tool=\"(unknown)\",outcome=\"error\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in\n{metrics}");
    }
    assert!(!metrics.contains("made-up-1"));
}
