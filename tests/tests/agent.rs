//! `agent`: the tool-calling loop against the OpenAI chat-completions stand-in with scripted
//! answers (`tests/src/server/chat_script.rs`), the MCP reference server `everything` over
//! stdio, an HTTP API and a SearXNG stand-in, all on 127.0.0.1.

use flowc_tests::flows::{build, run, Run};
use flowc_tests::mcp::server_script;
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const KEYS: [(&str, &str); 2] = [("OPENAI_API_KEY", "test-key"), ("LOOKUP_TOKEN", "lookup-secret-7")];

fn call(name: &str, arguments: Value) -> Value {
    json!({"name": name, "arguments": arguments})
}

fn ask(server: &TestServer, script: &str, steps: Vec<Value>, args: &[&str]) -> Run {
    server_script("server-everything");
    server.script(script, steps);
    let input = json!({"question": "What is 2 + 40, and where is Paris?", "api": server.base_url(), "script": format!("script-{script}")});
    run(&build("agent"), &input, args, &KEYS)
}

fn model_calls(server: &TestServer, script: &str) -> Vec<Value> {
    server.requests_to(&format!("/openai/script-{script}/")).iter().map(|r| r.json()).collect()
}

#[test]
fn parallel_tool_calls_of_every_kind_and_a_final_answer() {
    let server = TestServer::start_blocking();
    let steps = vec![
        json!({"tool_calls": [
            call("get-sum", json!({"a": 2, "b": 40})),
            call("lookup", json!({"city": "Paris"})),
            call("web_search", json!({"query": "paris"})),
            call("echo", json!({"message": "hi"}))
        ]}),
        json!({"content": "42, and Paris is in France."}),
    ];
    let result = ask(&server, "a", steps, &["--events"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["answer"], "42, and Paris is in France.");
    let data = &result.node("assistant")["data"];
    assert_eq!(data["iterations"], 2);
    let calls = data["tool_calls"].as_array().unwrap();
    let tools: Vec<&str> = calls.iter().map(|c| c["tool"].as_str().unwrap()).collect();
    assert_eq!(tools, ["get-sum", "lookup", "web_search", "echo"], "in the order the model asked");
    assert!(calls[0]["result"]["text"].as_str().unwrap().contains("42"), "{}", calls[0]);
    assert_eq!(calls[1]["arguments"], json!({"city": "Paris"}));
    assert_eq!(calls[1]["result"]["body"]["query"]["name"], "Paris", "the template read the model's argument");
    assert_eq!(calls[2]["result"]["results"].as_array().unwrap().len(), 2);
    assert_eq!(calls[3]["result"]["text"], "Echo: hi");
    assert!(calls.iter().all(|c| c["duration_ms"].is_u64() && c.get("error").is_none()), "{calls:?}");
    assert_eq!(data["usage"]["completion_tokens"], 10);

    // The first request offers every tool; the second sends back one tool message per call.
    let requests = model_calls(&server, "a");
    assert_eq!(requests.len(), 2);
    let offered: Vec<&str> =
        requests[0]["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(offered, ["echo", "get-sum", "lookup", "slow", "web_search"]);
    assert_eq!(requests[0]["tools"][2]["function"]["parameters"]["required"], json!(["city"]));
    assert_eq!(requests[0]["messages"][0], json!({"role": "system", "content": "Answer with the tools' help."}));
    let messages = requests[1]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 7, "system, user, assistant with 4 calls, 4 tool messages: {messages:?}");
    let tool_messages: Vec<&Value> = messages.iter().filter(|m| m["role"] == "tool").collect();
    let ids: Vec<&str> = tool_messages.iter().map(|m| m["tool_call_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["call_1_0", "call_1_1", "call_1_2", "call_1_3"]);
    assert_eq!(tool_messages[3]["content"], "Echo: hi");
    assert!(tool_messages[2]["content"].as_str().unwrap().contains("paris result 1"));

    // The lookup API echoes its bearer token: it reaches neither the model nor the record.
    assert!(!result.stdout.contains("lookup-secret-7"), "{}", result.stdout);
    assert!(!requests[1].to_string().contains("lookup-secret-7"));
    assert_eq!(calls[1]["result"]["body"]["headers"]["authorization"], "Bearer [redacted]");
    let transcript = result.node("assistant")["metadata"]["transcript"].as_array().unwrap();
    assert_eq!(transcript.len(), 8, "the final answer too");

    // One event per model call and per tool call.
    assert_eq!(result.events("model_call").len(), 2);
    let tool_events = result.events("tool_call");
    assert_eq!(tool_events.len(), 4);
    assert!(tool_events.iter().all(|e| e["node"] == "assistant" && e["ok"] == true), "{tool_events:?}");
}

#[test]
fn failed_tool_calls_go_back_to_the_model() {
    let server = TestServer::start_blocking();
    let steps = vec![
        json!({"tool_calls": [
            call("no-such-tool", json!({})),
            {"name": "lookup", "arguments_text": "{\"city\": "},
            call("slow", json!({"key": "agent"})),
            call("get-sum", json!({"a": "two"}))
        ]}),
        json!({"content": "I could not find out."}),
    ];
    let result = ask(&server, "b", steps, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let calls = result.node("assistant")["data"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls[0]["error"]["code"], "unknown_tool");
    assert_eq!(calls[1]["error"]["code"], "invalid_arguments");
    assert_eq!(calls[1]["arguments"], "{\"city\": ", "the text as the model wrote it");
    assert_eq!(calls[2]["error"]["kind"], "timeout", "the tool timeout of 1 s cut a 3 s call");
    assert_eq!(calls[3]["error"]["code"], "tool_error", "{}", calls[3]);
    let second = &model_calls(&server, "b")[1]["messages"];
    let errors: Vec<Value> = second
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str::<Value>(m["content"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(errors.len(), 4);
    assert!(errors[0]["error"].as_str().unwrap().starts_with("there is no tool `no-such-tool`"), "{errors:?}");
    assert!(errors.iter().all(|e| e["error"].is_string()), "{errors:?}");
}

#[test]
fn max_iterations_fails_the_node_and_keeps_what_was_done() {
    let server = TestServer::start_blocking();
    let again = || json!({"tool_calls": [call("echo", json!({"message": "again"}))]});
    let result = ask(&server, "c", vec![again(), again(), again(), again()], &[]);
    assert_eq!(result.code, 1);
    let node = result.node("assistant");
    assert_eq!(node["error"]["code"], "max_iterations");
    assert!(node["error"]["message"].as_str().unwrap().contains("max_iterations (3)"), "{node}");
    assert_eq!(node["data"]["iterations"], 3);
    assert_eq!(node["data"]["tool_calls"].as_array().unwrap().len(), 3);
    assert_eq!(model_calls(&server, "c").len(), 3);
    assert_eq!(server.script_left("c"), 1);
    assert_eq!(result.node("out")["status"], "skipped");
}

fn facts(server: &TestServer, script: &str, steps: Vec<Value>) -> Run {
    server.script(script, steps);
    let input = json!({"question": "q", "api": server.base_url(), "script": format!("script-{script}")});
    run(&build("agent-json"), &input, &[], &KEYS)
}

#[test]
fn a_final_answer_off_its_schema_gets_one_correction() {
    let server = TestServer::start_blocking();
    let result =
        facts(&server, "d", vec![json!({"content": "{\"answer\": 42}"}), json!({"content": "{\"answer\": \"42\"}"})]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["answer"], "42");
    let requests = model_calls(&server, "d");
    assert_eq!(requests[0]["response_format"]["type"], "json_schema");
    let correction = requests[1]["messages"][3]["content"].as_str().unwrap();
    assert!(correction.starts_with("Your answer cannot be used:"), "{correction}");

    let failed = facts(&server, "e", vec![json!({"content": "no"}), json!({"content": "still no"})]);
    assert_eq!(failed.code, 1);
    assert_eq!(failed.node("facts")["error"]["code"], "json_schema");
}

#[test]
fn with_tool_errors_fail_a_failed_call_fails_the_node() {
    let server = TestServer::start_blocking();
    let result = facts(&server, "f", vec![json!({"tool_calls": [call("status", json!({"code": 503}))]})]);
    assert_eq!(result.code, 1);
    let error = &result.node("facts")["error"];
    assert_eq!(error["kind"], "server_error", "{error}");
    assert!(error["message"].as_str().unwrap().starts_with("tool `status` failed:"), "{error}");
    assert_eq!(result.node("facts")["data"]["tool_calls"][0]["error"]["status"], 503);
}

/// A model that asks for many calls at once gets at most 8 running together and 64 run in
/// all; the rest are errors it is told of, not work. (The calls answer at once, so the server
/// sees each end before the next starts: what overlaps there overlapped in the client.)
#[test]
fn tool_calls_of_one_answer_are_bounded() {
    let server = TestServer::start_blocking();
    let calls: Vec<Value> = (0..70).map(|i| call("lookup", json!({"city": format!("c{i}")}))).collect();
    let result = ask(&server, "many", vec![json!({"tool_calls": calls}), json!({"content": "done"})], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let records = result.node("assistant")["data"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(records.len(), 70);
    assert!(records[..64].iter().all(|r| r.get("error").is_none()), "{:?}", &records[..64]);
    assert!(records[64..].iter().all(|r| r["error"]["code"] == "too_many_tool_calls"), "{:?}", &records[64..]);
    assert_eq!(server.requests_to("/echo/cities").len(), 64);
    let overlap = server.max_overlap("/echo/cities");
    assert!(overlap <= 8, "{overlap} calls ran at once");
}
