//! The `mcp_tool` node against the MCP reference servers from npm (`server-everything` over
//! stdio and Streamable HTTP, `server-filesystem` over stdio), and the processes it starts:
//! every test checks that nothing the generated program started is still running after it
//! exits — after success, failure, Ctrl-C, SIGTERM and SIGKILL.

use std::time::Duration;

use flowc_tests::flows::{build, build_with, root};
use flowc_tests::mcp::{run_watched, server_script, Action, EverythingHttp, Process, Watched};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const EVERYTHING_STDIO: &str = "\"tool\": \"echo\", \"arguments\": { \"message\": \"{{ in.message }}\" }";

fn assert_nothing_left(watched: &Watched, grace: Duration) {
    let left = watched.left_behind(grace);
    assert!(left.is_empty(), "processes left running: {left:#?}\nstderr:\n{}", watched.run.stderr);
}

/// The four tool calls of the `mcp-everything` fixtures, whatever the transport.
fn assert_everything_outputs(watched: &Watched) {
    let run = &watched.run;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status(), "partial", "bad-sum fails under on_error: continue");
    let tools = &run.result["outputs"]["tools"];
    assert_eq!(tools["echo"], "Echo: hello MCP");
    assert_eq!(tools["sum"], "The sum of 2 and 40 is 42.");
    assert_eq!(tools["weather"], json!({"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82}));
    assert_eq!(tools["bad_sum"], Value::Null, "a failed node gives downstream null");

    let echo = run.node("echo");
    assert_eq!(echo["data"]["content"], json!([{"type": "text", "text": "Echo: hello MCP"}]));
    assert_eq!(echo["data"]["is_error"], false);
    assert_eq!(echo["metadata"]["tool"], "echo");
    assert_eq!(echo["metadata"]["server_info"]["name"], "mcp-servers/everything");
    assert_eq!(run.node("weather")["data"]["structured_content"]["conditions"], "Light rain / drizzle");

    // The tool rejected "hello MCP" as a number: a result with isError, so a node error that
    // keeps the result in the envelope.
    let bad = run.node("bad-sum");
    assert_eq!(bad["status"], "error");
    assert_eq!(bad["error"]["kind"], "client_error");
    assert_eq!(bad["error"]["code"], "tool_error");
    assert_eq!(bad["metadata"]["handled_by"], "continue");
    assert_eq!(bad["data"]["is_error"], true);
    let text = bad["data"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("a") && text.to_lowercase().contains("number"), "{text}");
    assert!(bad["error"]["message"].as_str().unwrap_or_default().starts_with("tool `get-sum` failed: "));
}

#[test]
fn stdio_server_everything_echo_sum_structured_content_and_a_tool_error() {
    server_script("server-everything");
    let watched = run_watched(&build("mcp-everything"), &json!({"message": "hello MCP"}), &[], Action::None);
    assert_everything_outputs(&watched);
    // Four nodes, one server: a single process for the whole run.
    assert_eq!(watched.started.len(), 1, "{:#?}", watched.started);
    assert!(watched.started.iter().all(|p| p.command.contains("server-everything/dist/index.js stdio")));
    assert_nothing_left(&watched, Duration::from_secs(2));
}

#[test]
fn structured_content_that_does_not_match_the_output_schema_fails_the_node_with_the_result_kept() {
    server_script("server-everything");
    let binary = build_with(
        "mcp-everything",
        "mistyped",
        &[(r#""humidity": { "type": "integer" }"#, r#""humidity": { "type": "string" }"#)],
    );
    let watched = run_watched(&binary, &json!({"message": "hello MCP"}), &[], Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let weather = run.node("weather");
    assert_eq!(weather["status"], "error", "{weather:#}");
    assert_eq!(weather["error"]["kind"], "validation");
    assert_eq!(weather["error"]["code"], "output_schema");
    assert_eq!(
        weather["error"]["message"],
        "the structured content of node `weather` does not match its `output_schema`: /humidity: expected a string, found a number (82)"
    );
    assert_eq!(weather["data"]["structured_content"]["humidity"], 82, "the result is kept: {weather:#}");
    assert_nothing_left(&watched, Duration::from_secs(2));
}

#[test]
fn streamable_http_server_everything_with_a_bearer_token() {
    server_script("server-everything");
    let server = EverythingHttp::start();
    let binary = build_with("mcp-everything-http", "live", &[("http://127.0.0.1:3001/mcp", &server.url())]);
    let watched =
        run_watched(&binary, &json!({"message": "hello MCP"}), &[("EVERYTHING_TOKEN", "t0ken")], Action::None);
    assert_everything_outputs(&watched);
    assert!(watched.started.is_empty(), "the http transport starts no process: {:#?}", watched.started);
    let process = Process::find(server.pid()).expect("the server runs");
    drop(server);
    assert!(!process.alive(), "the test's own server is gone once the test is done");
}

#[test]
fn streamable_http_requests_carry_the_credential_headers_and_the_handshake() {
    let stand_in = TestServer::start_blocking();
    let url = format!("{}/status/401", stand_in.base_url());
    let binary = build_with("mcp-everything-http", "refused", &[("http://127.0.0.1:3001/mcp", &url)]);
    let watched = run_watched(&binary, &json!({"message": "hi"}), &[("EVERYTHING_TOKEN", "s3cret")], Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let echo = run.node("echo");
    assert_eq!(echo["error"]["kind"], "permission", "{echo:#}");
    assert_eq!(echo["attempts"], 1, "a refused credential is not retried");

    let calls = stand_in.requests_to("/status/401");
    assert!(!calls.is_empty());
    let first = &calls[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(first.header("x-flow"), Some("mcp-everything-http"));
    let accept = first.header("accept").unwrap_or_default();
    assert!(accept.contains("application/json") && accept.contains("text/event-stream"), "{accept}");
    let body = first.json();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["method"], "initialize");
    assert_eq!(body["params"]["clientInfo"]["name"], "flowc-runtime");
    assert!(body["params"]["protocolVersion"].is_string());
}

fn workspace() -> std::path::PathBuf {
    let dir = root().join("target/mcp-workspace");
    std::fs::create_dir_all(&dir).expect("create target/mcp-workspace");
    dir
}

#[test]
fn filesystem_server_reads_and_writes_inside_the_allowed_directory() {
    server_script("server-filesystem");
    let dir = workspace();
    std::fs::write(dir.join("add.rs"), "fn add(a: i32, b: i32) -> i32 { a - b }\n").unwrap();
    let _ = std::fs::remove_file(dir.join("add.rs.review.md"));
    let openai = TestServer::start_blocking();
    let input = json!({
        "file": "target/mcp-workspace/add.rs",
        "review_file": "target/mcp-workspace/add.rs.review.md",
        "openai": format!("{}/openai/ok/v1", openai.base_url()),
    });
    let watched = run_watched(&build("code-assistant"), &input, &[("OPENAI_API_KEY", "test-key")], Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status(), "success");
    let expected_review = "echo: Review target/mcp-workspace/add.rs:\n\nfn add(a: i32, b: i32) -> i32 { a - b }\n";
    assert_eq!(run.result["outputs"]["review"]["review"], expected_review);
    let written = std::fs::read_to_string(dir.join("add.rs.review.md")).expect("the review was written");
    assert_eq!(written, expected_review);
    assert!(run.result["outputs"]["review"]["written"].as_str().unwrap_or_default().starts_with("Successfully wrote"));
    // The model got the file's text.
    let asked = openai.requests_to("/openai/ok/v1/chat/completions");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].json()["messages"][1]["content"], expected_review.trim_start_matches("echo: "));
    // Read and write share one server process.
    assert_eq!(watched.started.len(), 1, "{:#?}", watched.started);
    assert_nothing_left(&watched, Duration::from_secs(2));
}

#[test]
fn paths_outside_the_allowed_directory_are_refused_before_the_call() {
    server_script("server-filesystem");
    workspace();
    let openai = TestServer::start_blocking();
    for outside in ["Cargo.toml", "target/mcp-workspace/../../Cargo.toml", "/etc/hostname"] {
        let input = json!({"file": outside, "review_file": "target/mcp-workspace/x.md", "openai": openai.base_url()});
        let watched = run_watched(&build("code-assistant"), &input, &[("OPENAI_API_KEY", "test-key")], Action::None);
        let run = &watched.run;
        assert_eq!(run.code, 1, "{outside}: {}", run.stdout);
        let read = run.node("read");
        assert_eq!(read["error"]["kind"], "permission", "{outside}: {read:#}");
        assert_eq!(read["error"]["code"], "path_not_allowed");
        assert_eq!(read["attempts"], 1, "a refusal is not retried");
        let message = read["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(outside) && message.contains("target/mcp-workspace"), "{message}");
        assert_eq!(run.node("review")["status"], "skipped");
        // Refused before the call: the server was never even started.
        assert!(watched.started.is_empty(), "{outside}: {:#?}", watched.started);
    }
    assert!(openai.requests_to("/openai").is_empty());
}

#[test]
fn a_tool_the_server_does_not_list_is_an_error_that_names_its_tools() {
    server_script("server-everything");
    let binary = build_with(
        "mcp-everything",
        "unknown-tool",
        &[(EVERYTHING_STDIO, "\"tool\": \"ecko\", \"arguments\": { \"message\": \"{{ in.message }}\" }")],
    );
    let watched = run_watched(&binary, &json!({"message": "x"}), &[], Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 1);
    let echo = run.node("echo");
    assert_eq!(echo["error"]["kind"], "not_found");
    assert_eq!(echo["error"]["code"], "unknown_tool");
    let message = echo["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("has no tool `ecko`"), "{message}");
    assert!(message.contains("echo") && message.contains("get-sum") && message.contains("get-structured-content"));
    assert_nothing_left(&watched, Duration::from_secs(2));
}

#[test]
fn a_server_that_cannot_start_is_a_config_error() {
    let binary = build_with(
        "mcp-everything",
        "no-command",
        &[("\"command\": \"node\"", "\"command\": \"flowc-no-such-server\"")],
    );
    let watched = run_watched(&binary, &json!({"message": "x"}), &[], Action::None);
    let echo = watched.run.node("echo");
    assert_eq!(echo["error"]["kind"], "config", "{echo:#}");
    assert_eq!(echo["error"]["code"], "mcp_spawn");
    assert!(echo["error"]["message"].as_str().unwrap_or_default().contains("flowc-no-such-server"));
    assert_eq!(watched.run.code, 1);
}

/// `mcp-everything` with its `echo` node calling a tool that takes 30 s.
fn slow_flow() -> std::path::PathBuf {
    server_script("server-everything");
    build_with(
        "mcp-everything",
        "slow",
        &[(
            EVERYTHING_STDIO,
            "\"tool\": \"trigger-long-running-operation\", \"arguments\": { \"duration\": 30, \"steps\": 30 }",
        )],
    )
}

fn interrupted(signal: &'static str, code: i32) {
    let watched =
        run_watched(&slow_flow(), &json!({"message": "x"}), &[], Action::Signal(signal, Duration::from_millis(1500)));
    let run = &watched.run;
    assert_eq!(run.code, code, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status(), "cancelled");
    let echo = run.node("echo");
    assert_eq!(echo["status"], "error");
    assert_eq!(echo["error"]["kind"], "cancelled");
    assert_eq!(echo["error"]["code"], "interrupted");
    // The nodes that had finished keep their results; the output never ran.
    assert_eq!(run.node("add")["status"], "success");
    assert_eq!(run.node("out")["status"], "skipped");
    assert!(run.result["duration_ms"].as_u64().unwrap_or(u64::MAX) < 15_000, "it did not wait for the 30 s tool");
    assert_nothing_left(&watched, Duration::from_secs(1));
}

#[test]
fn ctrl_c_cancels_the_call_reports_every_node_and_stops_the_server() {
    interrupted("INT", 130);
}

#[test]
fn sigterm_cancels_the_call_reports_every_node_and_stops_the_server() {
    interrupted("TERM", 143);
}

#[test]
fn sigkill_of_the_program_still_takes_the_server_down() {
    let watched =
        run_watched(&slow_flow(), &json!({"message": "x"}), &[], Action::Signal("KILL", Duration::from_millis(1500)));
    assert_eq!(watched.run.code, 128 + 9);
    assert!(!watched.started.is_empty());
    assert_nothing_left(&watched, Duration::from_secs(2));
}

#[test]
fn allowed_directories_are_sent_to_the_server_as_roots() {
    server_script("server-everything");
    let dir = workspace().canonicalize().unwrap();
    let binary = build_with(
        "mcp-everything",
        "roots",
        &[(
            EVERYTHING_STDIO,
            "\"tool\": \"get-roots-list\", \"arguments\": {}, \"allowed_directories\": [\"target/mcp-workspace\"]",
        )],
    );
    let watched = run_watched(&binary, &json!({"message": "x"}), &[], Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let text = run.node("echo")["data"]["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains(&format!("file://{}", dir.display())), "{text}");
    // A server with other allowed directories is another session: two processes.
    assert_eq!(watched.started.len(), 2, "{:#?}", watched.started);
    assert_nothing_left(&watched, Duration::from_secs(2));
}

/// The conformance package's client scenarios: the package's own server for each scenario is
/// reached at the URL the conformance runner passes, which the wrapper script hands to the
/// flow as its run input (`{{ in.server }}` is the node's `url`).
#[test]
fn a_server_url_from_the_run_input_passes_the_conformance_client_scenarios() {
    let runner = root().join("tests/mcp/node_modules/@modelcontextprotocol/conformance/dist/index.js");
    let node = root().join("tests/mcp/node_modules/.bin/node");
    assert!(
        runner.is_file() && node.is_file(),
        "the conformance package and Node.js 22 are missing: install them with `{}`",
        flowc_tests::mcp::NPM_INSTALL
    );
    let binary = build("mcp-from-input");
    let client = root().join("target/mcp-conformance-client.sh");
    let script = format!(
        "#!/bin/sh\n# The conformance runner appends the server's URL.\nexec '{}' run --input-json \"{{\\\"server\\\": \\\"$1\\\"}}\"\n",
        binary.display()
    );
    std::fs::write(&client, script).unwrap();
    std::fs::set_permissions(&client, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for scenario in ["initialize", "tools_call"] {
        let output = std::process::Command::new(&node)
            .arg(&runner)
            .args(["client", "--scenario", scenario, "--timeout", "60000", "--command"])
            .arg(&client)
            .current_dir(root())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the conformance package");
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "scenario {scenario} failed:\n{said}");
        assert!(said.contains("OVERALL: PASSED") && said.contains("0 failed"), "scenario {scenario}:\n{said}");
    }
}

/// The node's transport is rendered per call, so within one run a map whose server reads
/// `{{ item }}` starts one server per distinct directory, not one per item, and not one for
/// all.
#[test]
fn servers_rendered_alike_share_a_session_and_distinct_ones_get_their_own() {
    server_script("server-filesystem");
    let dir = workspace().join("per-directory");
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(dir.join(sub).join(format!("{sub}.txt")), sub).unwrap();
    }
    let a = "target/mcp-workspace/per-directory/a";
    let b = "target/mcp-workspace/per-directory/b";
    let watched = run_watched(&build("mcp-per-directory"), &json!({"dirs": [a, b, a]}), &[], Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let listings = &run.result["outputs"]["listings"];
    assert_eq!(listings, &json!(["[FILE] a.txt", "[FILE] b.txt", "[FILE] a.txt"]), "{}", run.stdout);
    assert_eq!(watched.started.len(), 2, "one server for a, one for b: {:#?}", watched.started);
    assert_nothing_left(&watched, Duration::from_secs(2));
}

/// A server named by parameters is known before a run: `run` reaches it, and `health` probes
/// it; one named by run data is reached when the node runs, and `health` says it could not
/// probe it.
#[test]
fn servers_from_parameters_are_probed_and_servers_from_data_are_named_as_unknown() {
    let server = EverythingHttp::start();
    let binary = build("mcp-configured");
    let url = server.url();
    let env = [("EVERYTHING_URL", url.as_str()), ("REGION", "us")];
    let watched = run_watched(&binary, &json!({"message": "configured", "server": server.url()}), &env, Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.result["outputs"]["results"],
        json!({"echo": "Echo: configured", "sum": "The sum of 40 and 2 is 42."})
    );

    let health = flowc_tests::mcp::watch(&binary, &["health", "--format", "json"], &env, Action::None);
    let report = &health.run.result;
    assert_eq!(health.run.code, 0, "{}\n{}", health.run.stdout, health.run.stderr);
    let mcp: Vec<&Value> = report["checks"].as_array().unwrap().iter().filter(|c| c["check"] == "mcp").collect();
    assert_eq!(mcp.len(), 2, "{report:#}");
    let echo = mcp.iter().find(|c| c["nodes"] == json!(["echo"])).expect("the echo server's check");
    assert_eq!((echo["ok"].as_bool(), echo.get("skipped")), (Some(true), None), "{echo:#}");
    assert!(echo["message"].as_str().unwrap().starts_with("started"), "{echo:#}");
    let sum = mcp.iter().find(|c| c["nodes"] == json!(["sum"])).expect("the sum server's check");
    assert_eq!((sum["ok"].as_bool(), sum["skipped"].as_bool()), (Some(true), Some(true)), "{sum:#}");
    assert_eq!(sum["message"], "not probed: its address reads {{ in.server }}, which is known only when the flow runs");

    // Without the parameter, the server cannot be named: the report says so, and fails.
    let health = flowc_tests::mcp::watch(&binary, &["health", "--format", "json"], &[], Action::None);
    assert_eq!(health.run.code, 1, "{}\n{}", health.run.stdout, health.run.stderr);
    let checks = health.run.result["checks"].as_array().unwrap().clone();
    let parameter = checks.iter().find(|c| c["target"] == "everything_url").expect("the parameter's check");
    assert_eq!(parameter["ok"], false, "{parameter:#}");
    let echo = checks.iter().find(|c| c["check"] == "mcp" && c["nodes"] == json!(["echo"])).unwrap();
    assert_eq!(echo["ok"], false);
    assert_eq!(
        echo["message"],
        "not probed: it reads the parameter `everything_url`, which did not resolve (see the parameter checks)"
    );
}

/// A URL that run data renders into something else is the node's validation error, before
/// anything is sent.
#[test]
fn a_url_from_data_that_is_not_http_fails_the_node_without_a_request() {
    let binary = build("mcp-from-input");
    let run = flowc_tests::flows::run(&binary, &json!({"server": "file:///etc/passwd"}), &[], &[]);
    assert_eq!(run.code, 0, "`add` is on_error continue: {}\n{}", run.stdout, run.stderr);
    let add = run.node("add");
    assert_eq!(add["error"]["kind"], "validation", "{add:#}");
    assert_eq!(add["error"]["code"], "mcp_url", "{add:#}");
    assert_eq!(add["attempts"], 1, "{add:#}");
}
