//! `<bin> mcp`: compiled flows served as MCP tools, driven by a client nobody here wrote (the
//! MCP Inspector's CLI mode, from npm), by rmcp's client (a flow's `mcp_tool` node calling a
//! compiled flow), and by hand-written JSON-RPC for progress and cancellation.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use flowc_tests::flows::{build, build_with, fixture, root};
use flowc_tests::mcp::{run_watched, Action};
use serde_json::{json, Value};

/// The MCP Inspector's launcher (`mcp-inspector`), installed by `npm ci --prefix tests/mcp`.
fn inspector_script() -> PathBuf {
    let script = root().join("tests/mcp/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    assert!(script.is_file(), "{} is missing: run `npm ci --prefix tests/mcp`", script.display());
    script
}

/// `mcp-inspector --cli ARGS`: the exit code and the first JSON document it printed.
fn inspector(args: &[&str]) -> (i32, Value, String) {
    let output = Command::new("node")
        .arg(inspector_script())
        .arg("--cli")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run the MCP Inspector");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>().next().and_then(Result::ok);
    let json = json.unwrap_or_else(|| panic!("no JSON from the inspector:\n{stdout}\n{stderr}"));
    (output.status.code().unwrap_or(-1), json, format!("{stdout}\n{stderr}"))
}

fn text_of(result: &Value) -> String {
    result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
}

fn hello_schema() -> Value {
    let flow: Value = serde_json::from_str(&std::fs::read_to_string(fixture("valid", "hello")).unwrap()).unwrap();
    flow["nodes"][0]["config"]["schema"].clone()
}

fn path(binary: &Path) -> &str {
    binary.to_str().expect("a UTF-8 path")
}

#[test]
fn the_inspector_lists_and_calls_a_flow_over_stdio() {
    let hello = build("hello");
    let (code, listed, out) = inspector(&[path(&hello), "mcp", "--method", "tools/list"]);
    assert_eq!(code, 0, "{out}");
    let tools = listed["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 1);
    let tool = &tools[0];
    assert_eq!(tool["name"], "hello");
    assert_eq!(tool["title"], "Hello");
    assert_eq!(tool["description"], "Greets someone and sizes their name; needs no network");
    assert_eq!(tool["inputSchema"], hello_schema(), "the input node's schema");
    let outputs = &tool["outputSchema"]["properties"]["outputs"]["properties"];
    // Typed by flowc: `say` yields a string (or null, when its branch was not taken); each
    // admits null, as every value read from a node that may be skipped does.
    let text_or_null = json!({"type": ["string", "null"]});
    assert_eq!(outputs, &json!({"verdict": text_or_null, "greeting": text_or_null}), "{tool:#}");

    let (code, called, out) =
        inspector(&[path(&hello), "mcp", "--method", "tools/call", "--tool-name", "hello", "--tool-arg", "name=Ada"]);
    assert_eq!(code, 0, "{out}");
    assert_ne!(called["isError"], true, "{called:#}");
    let run = &called["structuredContent"];
    assert_eq!(run["flow"], "hello");
    assert_eq!(run["status"], "success");
    assert_eq!(run["outputs"], json!({"verdict": "a short name", "greeting": "Hello, Ada!"}));
    assert_eq!(run["nodes"]["size"]["data"], json!({"length": 3}));
    assert!(text_of(&called).starts_with("flow `hello` ran: success in "), "{called:#}");
}

#[test]
fn invalid_input_and_a_failing_flow_are_tool_errors() {
    let hello = build("hello");
    let (_, called, out) =
        inspector(&[path(&hello), "mcp", "--method", "tools/call", "--tool-name", "hello", "--tool-arg", "excited=1"]);
    assert_eq!(called["isError"], true, "{out}");
    let text = text_of(&called);
    assert!(text.contains("at /name: missing required property \"name\""), "{text}");
    assert!(text.contains("at /excited: expected a boolean"), "{text}");

    let unhandled = build("unhandled");
    let (_, called, out) = inspector(&[path(&unhandled), "mcp", "--method", "tools/call", "--tool-name", "unhandled"]);
    assert_eq!(called["isError"], true, "{out}");
    assert_eq!(called["structuredContent"]["status"], "error");
    assert_eq!(called["structuredContent"]["nodes"]["boom"]["error"]["kind"], "validation");
    assert!(text_of(&called).contains("node `boom` failed: validation: "), "{called:#}");
}

/// `<bin> mcp --http 127.0.0.1:PORT ARGS`, killed on drop.
struct HttpServer {
    child: Child,
    url: String,
}

impl HttpServer {
    fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> HttpServer {
        let port = flowc_tests::free_port();
        let child = Command::new(binary)
            .args(["mcp", "--http", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the flow's MCP server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "`mcp --http` did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        HttpServer { child, url: format!("http://127.0.0.1:{port}/mcp") }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
}

fn post(url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = flowc_tests::http_agent()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send(initialize_body().to_string()).expect("POST").status().as_u16()
}

#[test]
fn the_inspector_calls_a_flow_over_streamable_http_behind_origin_and_host_checks() {
    let hello = build("hello");
    let server = HttpServer::start(&hello, &[], &[]);
    let (code, listed, out) =
        inspector(&["--transport", "http", "--server-url", &server.url, "--method", "tools/list"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(listed["tools"][0]["inputSchema"], hello_schema());
    let (code, called, out) = inspector(&[
        "--transport",
        "http",
        "--server-url",
        &server.url,
        "--method",
        "tools/call",
        "--tool-name",
        "hello",
        "--tool-arg",
        "name=Grace Hopper",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(called["structuredContent"]["outputs"]["greeting"], "Hello, Grace Hopper!");

    // DNS-rebinding protection: foreign origins and hosts are refused, loopback ones served.
    assert_eq!(post(&server.url, &[("origin", "http://127.0.0.1:3000")]), 200);
    assert_eq!(post(&server.url, &[("origin", "https://evil.example")]), 403);
    assert_eq!(post(&server.url, &[("host", "evil.example")]), 403);
}

#[test]
fn a_bearer_token_from_a_credential_guards_the_http_endpoint() {
    let flow = build("web-research");
    let server = HttpServer::start(&flow, &["--auth-credential", "openai"], &[("OPENAI_API_KEY", "s3cret")]);
    assert_eq!(post(&server.url, &[]), 401);
    assert_eq!(post(&server.url, &[("authorization", "Bearer wrong")]), 401);
    assert_eq!(post(&server.url, &[("authorization", "Bearer s3cret")]), 200);
    let (code, listed, out) = inspector(&[
        "--transport",
        "http",
        "--server-url",
        &server.url,
        "--header",
        "Authorization: Bearer s3cret",
        "--method",
        "tools/list",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(listed["tools"][0]["name"], "web-research");
}

#[test]
fn a_flow_calls_a_compiled_flow_over_mcp() {
    build("hello");
    let watched = run_watched(&build("flow-as-tool"), &json!({"name": "Ada"}), &[], Action::None);
    let run = &watched.run;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.result["outputs"]["greeting"], json!({"greeting": "Hello, Ada!", "status": "success"}));
    let greet = run.node("greet");
    assert_eq!(greet["metadata"]["server_info"]["name"], "hello");
    assert_eq!(greet["data"]["structured_content"]["nodes"]["in"]["data"], json!({"name": "Ada", "excited": true}));
    assert_eq!(watched.started.len(), 1, "{:#?}", watched.started);
    let left = watched.left_behind(Duration::from_secs(2));
    assert!(left.is_empty(), "{left:#?}");
}

/// `<bin> mcp --events` over stdio, spoken to line by line.
struct Stdio_ {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<Value>,
    stderr: Receiver<Value>,
}

impl Stdio_ {
    fn start(binary: &Path) -> Stdio_ {
        let mut child = Command::new(binary)
            .args(["mcp", "--events"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start `mcp`");
        let lines = |reader: Box<dyn std::io::Read + Send>| {
            let (send, receive) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    if let Ok(value) = serde_json::from_str::<Value>(&line) {
                        if send.send(value).is_err() {
                            break;
                        }
                    }
                }
            });
            receive
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        let mut session = Stdio_ { stdin: child.stdin.take(), child, stdout, stderr };
        session.send(initialize_body());
        let answer = session.next_message(|m| m["id"] == 1);
        assert!(answer["result"]["serverInfo"].is_object(), "{answer}");
        session.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        session
    }

    fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{message}").and_then(|()| stdin.flush()).expect("write to the server");
    }

    /// The next message on stdout that `wanted` picks, within 20 s.
    fn next_message(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        next(&self.stdout, wanted, "stdout")
    }
}

fn next(from: &Receiver<Value>, wanted: impl Fn(&Value) -> bool, what: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match from.recv_timeout(left) {
            Ok(message) if wanted(&message) => return message,
            Ok(_) => {}
            Err(_) => panic!("nothing wanted on {what} within 20 s"),
        }
    }
}

impl Drop for Stdio_ {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn each_finished_node_is_a_progress_notification() {
    let mut session = Stdio_::start(&build("hello"));
    session.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "hello", "arguments": {"name": "Ada"}, "_meta": {"progressToken": "p1"}}}));
    let mut progress = Vec::new();
    let answer = loop {
        let message = session.next_message(|_| true);
        if message["method"] == "notifications/progress" {
            progress.push(message["params"].clone());
        } else if message["id"] == 2 {
            break message;
        }
    };
    assert_eq!(answer["result"]["structuredContent"]["status"], "success");
    assert_eq!(progress.len(), 9, "one per node of hello: {progress:#?}");
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["progressToken"], "p1");
        assert_eq!(p["progress"], (i + 1) as f64);
        assert_eq!(p["total"], 9.0);
    }
    assert_eq!(progress[0]["message"], "node `in`: success");
    assert!(progress.iter().any(|p| p["message"] == "node `say-long`: skipped"), "{progress:#?}");
}

#[test]
fn cancelling_the_request_cancels_the_run() {
    let mut session = Stdio_::start(&build("slow-greeting"));
    session.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "slow-greeting", "arguments": {"name": "Ada"}, "_meta": {"progressToken": 7}}}));
    // The input node is done; the 30 s delay runs.
    let first = session.next_message(|m| m["method"] == "notifications/progress");
    assert_eq!(first["params"]["message"], "node `in`: success");
    next(&session.stderr, |e| e["event"] == "node_start" && e["node"] == "think", "stderr");
    let began = Instant::now();
    session.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2, "reason": "test"}}),
    );
    let failed = next(&session.stderr, |e| e["event"] == "node_failed", "stderr");
    assert_eq!(failed["node"], "think");
    assert_eq!(failed["error"]["kind"], "cancelled");
    assert_eq!(failed["error"]["message"], "the MCP request was cancelled while this node ran");
    let done = next(&session.stderr, |e| e["event"] == "flow_complete", "stderr");
    assert_eq!(done["status"], "cancelled");
    assert!(began.elapsed() < Duration::from_secs(10), "the 30 s delay was cut");
    // The server goes on serving.
    session.send(json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}));
    session.next_message(|m| m["id"] == 3);
    // And ends when its stdin closes.
    session.stdin = None;
    let until = Instant::now() + Duration::from_secs(10);
    while session.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < until, "`mcp` did not exit when its stdin closed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_generated_readme_holds_the_mcp_client_configuration() {
    let path = fixture("valid", "web-research");
    let text = std::fs::read_to_string(&path).unwrap();
    let options = flowc::Options { runtime: flowc::RuntimeSource::Vendored };
    let project = flowc::compile("web-research.json", &text, &options).unwrap_or_else(|d| panic!("{d}"));
    let readme = &project.files[std::path::Path::new("README.md")];
    let start = readme.find("```json\n").expect("a JSON block") + "```json\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let config: Value = serde_json::from_str(&readme[start..end]).expect("the snippet is JSON");
    assert_eq!(
        config,
        json!({"mcpServers": {"web-research": {
            "command": "/path/to/web-research",
            "args": ["mcp"],
            "env": {"FIRECRAWL_API_KEY": "<firecrawl>", "OPENAI_API_KEY": "<openai>"}
        }}})
    );
}

#[test]
fn through_rmcp_invalid_input_and_a_failing_flow_are_tool_errors() {
    build("hello");
    build("unhandled");
    let invalid = build_with(
        "flow-as-tool",
        "invalid-input",
        &[(
            "\"arguments\": { \"name\": \"{{ in.name }}\", \"excited\": true }",
            "\"arguments\": { \"excited\": \"{{ in.name }}\" }",
        )],
    );
    let watched = run_watched(&invalid, &json!({"name": "Ada"}), &[], Action::None);
    let greet = watched.run.node("greet");
    assert_eq!(greet["error"]["kind"], "client_error", "{greet:#}");
    assert_eq!(greet["error"]["code"], "tool_error");
    assert_eq!(greet["data"]["is_error"], true);
    let text = greet["data"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("at /name: missing required property \"name\""), "{text}");
    assert!(text.contains("at /excited: expected a boolean"), "{text}");

    let failing = build_with(
        "flow-as-tool",
        "failing-flow",
        &[
            ("target/flows/target/debug/hello", "target/flows/target/debug/unhandled"),
            ("\"tool\": \"hello\"", "\"tool\": \"unhandled\""),
        ],
    );
    let watched = run_watched(&failing, &json!({"name": "Ada"}), &[], Action::None);
    let greet = watched.run.node("greet");
    assert_eq!(greet["error"]["code"], "tool_error", "{greet:#}");
    let run = &greet["data"]["structured_content"];
    assert_eq!(run["status"], "error");
    assert_eq!(run["nodes"]["boom"]["error"]["kind"], "validation");
    assert!(watched.left_behind(Duration::from_secs(2)).is_empty());
}
