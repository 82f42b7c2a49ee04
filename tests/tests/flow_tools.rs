//! An agent's flow tools: another flow document compiled into the same program and run as a
//! tool (`fixtures/tools/`), against the scripted chat stand-in and the echo API on 127.0.0.1;
//! and what flowc refuses in a flow tool's document.

use std::path::PathBuf;

use flowc_tests::flows::{build_imported, fixture, root, run};
use flowc_tests::mcp::{watch, Action};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const KEYS: [(&str, &str); 2] = [("OPENAI_API_KEY", "test-key"), ("LOOKUP_TOKEN", "lookup-secret-7")];

fn call(name: &str, arguments: Value) -> Value {
    json!({"name": name, "arguments": arguments})
}

#[test]
fn a_flow_runs_as_a_tool_with_its_input_schema_as_the_parameters() {
    let server = TestServer::start_blocking();
    let api = server.base_url();
    server.script(
        "flows",
        vec![
            json!({"tool_calls": [
                call("city-facts", json!({"city": "Paris", "api": api})),
                call("facts_again", json!({"city": "Oslo", "api": api, "path": "status/500"})),
                call("city-facts", json!({"api": api}))
            ]}),
            json!({"content": "Paris has 5 letters."}),
        ],
    );
    let input = json!({"question": "How long is Paris's name?", "api": api, "script": "script-flows"});
    let result = run(&build_imported("tools", "travel-agent"), &input, &["--events"], &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["answer"], "Paris has 5 letters.");
    let calls = result.node("assistant")["data"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 3);

    // The tool's result is the other flow's outputs; the secret its API echoed is redacted
    // (the credential is the other flow's, and the program's too).
    assert_eq!(
        calls[0]["result"],
        json!({"facts": {"city": "Paris", "letters": 5, "authorization": "Bearer [redacted]"}})
    );
    assert!(!result.stdout.contains("lookup-secret-7"), "{}", result.stdout);
    // The echo API saw the real token: the flow tool read its credential.
    let lookups = server.requests_to("/echo/cities");
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].header("authorization"), Some("Bearer lookup-secret-7"));

    // A run that fails is a failed call, naming the node; the model gets it as an error.
    assert_eq!(calls[1]["error"]["code"], "flow_failed", "{}", calls[1]);
    let message = calls[1]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("the flow `city-facts` failed: node `lookup` failed"), "{message}");
    assert!(message.contains("500"), "{message}");
    // Arguments that do not match the input schema never start a run.
    assert_eq!(calls[2]["error"]["code"], "invalid_arguments", "{}", calls[2]);
    assert!(calls[2]["error"]["message"].as_str().unwrap().contains("city"), "{}", calls[2]);

    // The model was offered both tools, each with the other flow's input schema.
    let requests: Vec<Value> = server.requests_to("/openai/script-flows/").iter().map(|r| r.json()).collect();
    let tools = requests[0]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["city-facts", "facts_again"]);
    assert_eq!(
        tools[0]["function"]["description"],
        "Looks a city up in the directory and counts the letters of its name"
    );
    assert_eq!(tools[1]["function"]["description"], "The same flow, under another name");
    assert_eq!(tools[0]["function"]["parameters"]["required"], json!(["city", "api"]));
    assert_eq!(tools[1]["function"]["parameters"], tools[0]["function"]["parameters"]);
    let sent: Vec<&Value> =
        requests[1]["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").collect();
    let sent: Value = serde_json::from_str(sent[1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(sent["error"], calls[1]["error"]["message"], "the model is told why");

    // With --events, the tool's runs report as runs of their own flow.
    let starts = result.events("flow_start");
    let flows: Vec<&str> = starts.iter().map(|e| e["flow"].as_str().unwrap()).collect();
    assert_eq!(flows, ["travel-agent", "city-facts", "city-facts"], "the call with bad arguments runs nothing");
}

#[test]
fn one_document_is_one_module_and_health_checks_what_its_nodes_need() {
    let text = std::fs::read_to_string(fixture("tools", "travel-agent")).unwrap();
    let file = fixture("tools", "travel-agent").display().to_string();
    let project = flowc::compile(&file, &text, &flowc::Options::default()).unwrap_or_else(|d| panic!("{d}"));
    let sources: Vec<String> =
        project.files.keys().filter(|p| p.starts_with("src")).map(|p| p.display().to_string()).collect();
    assert_eq!(sources, ["src/flow_city_facts.rs", "src/main.rs"], "two tools of one document");
    let main = &project.files[std::path::Path::new("src/main.rs")];
    assert_eq!(main.matches("mod flow_city_facts;").count(), 1);
    // The other flow's credential is the program's: `describe`, `.env.example`, health.
    assert!(project.files[std::path::Path::new(".env.example")].contains("LOOKUP_TOKEN"));

    // Without the flow tool's credential, health fails on it, for the agent's node.
    let binary = build_imported("tools", "travel-agent");
    let watched = watch(&binary, &["health", "--format", "json"], &[KEYS[0]], Action::None);
    let report: Value = serde_json::from_str(&watched.run.stdout).unwrap_or_else(|_| panic!("{}", watched.run.stdout));
    let lookup = report["checks"].as_array().unwrap().iter().find(|c| c["target"] == "lookup").cloned();
    let lookup = lookup.unwrap_or_else(|| panic!("no check of the flow tool's credential: {report}"));
    assert_eq!(lookup["ok"], false, "{lookup}");
    assert_eq!(lookup["nodes"], json!(["assistant"]));
    assert_eq!(report["status"], "failed");
}

/// Writes `files` into a folder of their own; returns it.
fn folder(name: &str, files: &[(&str, Value)]) -> PathBuf {
    let dir = root().join("target").join("flow-tool-documents").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, doc) in files {
        std::fs::write(dir.join(file), serde_json::to_string_pretty(doc).unwrap()).unwrap();
    }
    dir
}

/// A flow document whose agent has `tools`.
fn caller(id: &str, tools: Value) -> Value {
    json!({
        "version": 1, "id": id,
        "credentials": {"openai": {"env": "OPENAI_API_KEY"}, "lookup": {"env": "LOOKUP_TOKEN"}},
        "nodes": [
            {"id": "in", "type": "input", "config": {"schema": {"type": "object", "properties": {"q": {"type": "string"}}}}},
            {"id": "agent", "type": "agent", "credential": "openai",
             "config": {"model": "gpt-4o-mini", "prompt": "{{ in.q }}", "tools": tools}},
            {"id": "out", "type": "output", "config": {"value": "{{ agent.text }}"}}
        ],
        "edges": [{"source": "in", "target": "agent"}, {"source": "agent", "target": "out"}]
    })
}

/// A tool document: an input of `{city}` and an output.
fn tool(id: &str) -> Value {
    json!({
        "version": 1, "id": id, "description": "Says hello to a city",
        "nodes": [
            {"id": "in", "type": "input", "config": {"schema": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"id": "out", "type": "output", "config": {"value": "hello {{ in.city }}"}}
        ],
        "edges": [{"source": "in", "target": "out"}]
    })
}

/// The diagnostics of checking `main.json` in `dir`, as JSON.
fn diagnostics(dir: &std::path::Path) -> Vec<Value> {
    let path = dir.join("main.json");
    let text = std::fs::read_to_string(&path).unwrap();
    match flowc::check(&path.display().to_string(), &text) {
        Ok(summary) => panic!("{} should be invalid: {summary:?}", path.display()),
        Err(d) => d.to_json()["diagnostics"].as_array().unwrap().clone(),
    }
}

fn only(dir: &std::path::Path) -> (String, String, String) {
    let found = diagnostics(dir);
    assert_eq!(found.len(), 1, "{found:#?}");
    let d = &found[0];
    (d["code"].as_str().unwrap().into(), d["pointer"].as_str().unwrap().into(), d["message"].as_str().unwrap().into())
}

#[test]
fn a_flow_tool_that_cannot_be_compiled_is_one_error_at_its_entry() {
    // No such file.
    let dir = folder("missing", &[("main.json", caller("main", json!([{"type": "flow", "path": "nowhere.json"}])))]);
    let (code, pointer, message) = only(&dir);
    assert_eq!((code.as_str(), pointer.as_str()), ("E015", "/nodes/1/config/tools/0/path"));
    assert!(message.contains("nowhere.json") && message.contains("cannot be read"), "{message}");

    // A document with errors: the first, with its file, line and column.
    let mut broken = tool("broken");
    broken["nodes"][1]["config"]["value"] = json!("hello {{ in.town }}");
    let dir = folder(
        "broken",
        &[("main.json", caller("main", json!([{"type": "flow", "path": "broken.json"}]))), ("broken.json", broken)],
    );
    let (code, _, message) = only(&dir);
    assert_eq!(code, "E015");
    assert!(message.contains("is not a valid flow (1 error)"), "{message}");
    assert!(message.contains("broken.json:24:"), "the place in the tool's document: {message}");
    assert!(message.contains("error[E029]") && message.contains("in.town"), "{message}");

    // A flow that calls itself, two documents down.
    let dir = folder(
        "cycle",
        &[
            ("main.json", caller("main", json!([{"type": "flow", "path": "a.json"}]))),
            ("a.json", with_input(caller("a", json!([{"type": "flow", "path": "b.json"}])))),
            ("b.json", with_input(caller("b", json!([{"type": "flow", "path": "a.json"}])))),
        ],
    );
    let (code, _, message) = only(&dir);
    assert_eq!(code, "E015");
    assert!(message.contains("a.json") && message.contains("calls it as a tool"), "{message}");

    // Two documents of one id would be one module.
    let dir = folder(
        "same-id",
        &[
            (
                "main.json",
                caller(
                    "main",
                    json!([{"type": "flow", "path": "one.json"}, {"type": "flow", "path": "two.json", "name": "two"}]),
                ),
            ),
            ("one.json", tool("greet")),
            ("two.json", tool("greet")),
        ],
    );
    let (code, pointer, message) = only(&dir);
    assert_eq!((code.as_str(), pointer.as_str()), ("E015", "/nodes/1/config/tools/1/path"));
    assert!(message.contains("`flow_greet`"), "{message}");

    // The same document under two names is fine; one name twice is not.
    let dir = folder(
        "same-name",
        &[
            (
                "main.json",
                caller("main", json!([{"type": "flow", "path": "one.json"}, {"type": "flow", "path": "one.json"}])),
            ),
            ("one.json", tool("greet")),
        ],
    );
    let (code, pointer, _) = only(&dir);
    assert_eq!((code.as_str(), pointer.as_str()), ("E015", "/nodes/1/config/tools/1/name"));
}

/// The tool document `a.json`/`b.json` above, with the input schema a flow tool needs.
fn with_input(mut doc: Value) -> Value {
    doc["description"] = json!("calls another flow");
    doc["nodes"][0]["config"]["schema"] = json!({"type": "object", "properties": {"q": {"type": "string"}}});
    doc
}

#[test]
fn a_flow_tool_runs_as_a_call_or_it_is_refused() {
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, &str)> = vec![
        ("no-schema", Box::new(|d| d["nodes"][0]["config"] = json!({})), "has no input node with an object schema"),
        (
            "trigger",
            Box::new(|d| {
                d["nodes"][0] = json!({"id": "in", "type": "schedule", "config": {"cron": "0 * * * *"}});
                d["nodes"][1]["config"]["value"] = json!("hello");
            }),
            "starts at the trigger `in`",
        ),
        ("parameters", Box::new(|d| d["parameters"] = json!({"region": {"env": "REGION"}})), "declares parameters"),
        (
            "rate-limits",
            Box::new(|d| d["settings"] = json!({"rate_limits": [{"host": "api.example.com", "per_second": 1}]})),
            "has settings of its own",
        ),
        (
            "credential",
            Box::new(|d| d["credentials"] = json!({"lookup": {"env": "OTHER_TOKEN"}})),
            "declares the credential `lookup` with another source",
        ),
    ];
    for (name, change, expected) in cases {
        let mut doc = tool("greet");
        change(&mut doc);
        let dir = folder(
            name,
            &[("main.json", caller("main", json!([{"type": "flow", "path": "greet.json"}]))), ("greet.json", doc)],
        );
        let found = diagnostics(&dir);
        assert!(
            found.iter().any(|d| d["code"] == "E015" && d["message"].as_str().unwrap().contains(expected)),
            "{name}: {found:#?}"
        );
    }
}

#[test]
fn hostile_names_of_a_flow_tool_build_and_arrive_as_written() {
    // A file name and a description with line breaks, bidirectional controls, backticks,
    // quotes and comment ends: the generated files hold them as inert text.
    let file = "we\u{202e}ird `x` \"q\" *\n{{ in.q }}.json";
    let mut doc = tool("hostile-tool");
    let description = "ends */ here\n\u{2066}and \"quotes\" `ticks` {{ x }}";
    doc["description"] = json!(description);
    let dir = folder(
        "hostile",
        &[("main.json", caller("hostile-caller", json!([{"type": "flow", "path": file}]))), (file, doc)],
    );
    let path = dir.join("main.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let options = flowc::Options { runtime: flowc::RuntimeSource::Path(root().join("runtime")) };
    let project = flowc::compile(&path.display().to_string(), &text, &options).unwrap_or_else(|d| panic!("{d}"));
    for (name, source) in project.files.iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "rs")) {
        assert!(
            !source.chars().any(|c| ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)),
            "{}",
            name.display()
        );
    }
    // The model is offered the description as written (a Rust string literal of it).
    assert!(project.files[std::path::Path::new("src/main.rs")].contains(&format!("{description:?}")));
    let out = root().join("target").join("flows").join("projects").join("hostile-caller");
    project.write_to(&out).unwrap();
    // Builds, without a warning.
    let binary = flowc_tests::flows::cargo_build(&out, &root().join("target").join("flows").join("target"), &[]);
    let described = std::process::Command::new(binary).arg("describe").output().unwrap();
    let described: Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(described["id"], "hostile-caller");
}
