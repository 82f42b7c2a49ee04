//! CoconutFlow documents compiled as they are: five documents in its format, one per featured
//! template (both dialects), built and run end to end against the OpenAI stand-in (scripted
//! answers), a SearXNG stand-in and a Firecrawl stand-in on 127.0.0.1, reached through the
//! variables the official SDKs read (`OPENAI_BASE_URL`, `FIRECRAWL_API_URL`, `SEARXNG_URL`).

use flowc_tests::bin::flowc;
use flowc_tests::flows::{build_imported, fixture, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

fn coconut(name: &str, input: Value, env: &[(&str, String)]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(&build_imported("coconutflow", name), &input, &[], &env)
}

fn openai(server: &TestServer, scenario: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_API_KEY", "test-key".to_owned()),
        ("OPENAI_BASE_URL", format!("{}/openai/{scenario}/v1", server.base_url())),
    ]
}

fn chat(server: &TestServer, scenario: &str) -> Vec<Value> {
    server.requests_to(&format!("/openai/{scenario}/")).iter().map(|r| r.json()).collect()
}

#[test]
fn web_research_pipeline_searches_then_summarises() {
    let server = TestServer::start_blocking();
    server.script(
        "wr",
        vec![
            json!({"tool_calls": [{"name": "web_search", "arguments": {"query": "rust async runtimes"}}]}),
            json!({"content": "Found tokio and smol."}),
            json!({"content": "Report: tokio leads."}),
        ],
    );
    let mut env = openai(&server, "script-wr");
    env.push(("SEARXNG_URL", format!("{}/searxng/ok", server.base_url())));
    let result = coconut("web-research-pipeline", json!("rust async"), &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"], json!({"Research Summary": "Report: tokio leads."}));

    let calls = chat(&server, "script-wr");
    assert_eq!(calls.len(), 3);
    // The search agent: gpt-4o-mini, CoconutFlow's instruction, the topic as the message.
    assert_eq!(calls[0]["model"], "gpt-4o-mini");
    assert_eq!(calls[0]["messages"][1], json!({"role": "user", "content": "rust async"}));
    assert!(calls[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .starts_with("Search the web and return relevant results."));
    assert_eq!(calls[0]["tools"][0]["function"]["name"], "web_search");
    let searched = &server.requests_to("/searxng/ok/search")[0];
    assert_eq!(searched.query, "q=rust+async+runtimes&format=json");
    assert!(calls[1]["messages"][3]["content"].as_str().unwrap().contains("rust async runtimes result 1"));
    // The summariser gets the search agent's text; CoconutFlow sends no temperature.
    assert_eq!(calls[2]["messages"][1]["content"], "Found tokio and smol.");
    assert_eq!(
        calls[2]["messages"][0]["content"],
        "Summarise the search results into a concise report.\n\nUse markdown to format your answers."
    );
    assert!(calls[2].get("temperature").is_none(), "{}", calls[2]);
}

#[test]
fn a_web_search_without_a_provider_does_not_start() {
    let server = TestServer::start_blocking();
    let result = coconut("web-research-pipeline", json!("x"), &openai(&server, "ok"));
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("set one of SEARXNG_URL, BRAVE_API_KEY, TAVILY_API_KEY, SERPAPI_API_KEY"),
        "{}",
        result.stderr
    );
    assert!(server.requests().is_empty());
}

#[test]
fn document_qa_without_sources_answers_from_coconutflow_s_unavailable_text() {
    let server = TestServer::start_blocking();
    let result = coconut("document-qa", json!({"input": "What is the refund policy?"}), &openai(&server, "ok"));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let expected = "echo: [Knowledge Base unavailable: Knowledge base not configured]";
    assert_eq!(result.result["outputs"], json!({"Answer": expected}));
}

#[test]
fn content_writer_from_the_canvas_chains_two_agents() {
    let server = TestServer::start_blocking();
    let result = coconut("content-writer", json!("Rust for data teams, friendly"), &openai(&server, "ok"));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"], json!({"Article": "echo: echo: Rust for data teams, friendly"}));
    let calls = chat(&server, "ok");
    assert_eq!(calls[0]["model"], "gpt-4o");
    assert!(calls[0]["messages"][0]["content"].as_str().unwrap().ends_with("Use markdown to format your answers."));
    assert_eq!(
        calls[1]["messages"][0]["content"], "Write a full article based on this outline. Be engaging and informative.",
        "markdown: false adds nothing"
    );

    // No input: the input node's placeholder, as CoconutFlow falls back to it.
    let empty = coconut("content-writer", Value::Null, &openai(&server, "ok"));
    assert_eq!(empty.result["outputs"]["Article"], "echo: echo: Enter your input...");
}

#[test]
fn competitor_analysis_scrapes_the_input_url() {
    let server = TestServer::start_blocking();
    let mut env = openai(&server, "ok");
    env.push(("FIRECRAWL_API_KEY", "fc-test".to_owned()));
    env.push(("FIRECRAWL_API_URL", format!("{}/firecrawl/ok", server.base_url())));
    let result = coconut("competitor-analysis", json!("https://rival.example.com"), &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let scraped = &server.requests_to("/firecrawl/ok/v1/scrape")[0];
    assert_eq!(scraped.json()["url"], "https://rival.example.com", "an empty `url` scrapes the upstream text");
    assert_eq!(
        result.result["outputs"]["SWOT Analysis"],
        "echo: # Page https://rival.example.com\n\nMain content only: true."
    );
}

#[test]
fn smart_router_takes_one_branch() {
    let server = TestServer::start_blocking();
    let verdict = |category: &str| json!({"content": json!({"category": category, "reason": "r"}).to_string()});
    server.script("tech", vec![verdict("true"), json!({"content": "Use a HashMap."})]);
    let tech = coconut("smart-router", json!("How do I dedupe a Vec in Rust?"), &openai(&server, "script-tech"));
    assert_eq!(tech.code, 0, "{}", tech.stderr);
    assert_eq!(tech.result["outputs"], json!({"Response": "Use a HashMap."}));
    assert_eq!(tech.node("n4")["status"], "skipped");
    let calls = chat(&server, "script-tech");
    assert_eq!(calls[0]["model"], "gpt-4o-mini", "the condition is judged by gpt-4o-mini");
    assert_eq!(calls[1]["model"], "gpt-4o");
    assert_eq!(
        calls[1]["messages"][1]["content"], "How do I dedupe a Vec in Rust?",
        "a conditional passes its input on"
    );

    server.script("chat", vec![verdict("false"), json!({"content": "Hello!"})]);
    let small_talk = coconut("smart-router", json!({"input": "hi there"}), &openai(&server, "script-chat"));
    assert_eq!(small_talk.result["outputs"], json!({"Response": "Hello!"}));
    assert_eq!(small_talk.node("n3")["status"], "skipped");
    assert_eq!(chat(&server, "script-chat")[1]["model"], "gpt-4o-mini");

    // An evaluator that answers in words, as CoconutFlow's asks it to: `True…` is true, and
    // anything else is false at once, with no second call.
    server.script(
        "words",
        vec![json!({"content": "True. It asks about Rust."}), json!({"content": "Use sort + dedup."})],
    );
    let words = coconut("smart-router", json!("Vec dedupe?"), &openai(&server, "script-words"));
    assert_eq!(words.result["outputs"], json!({"Response": "Use sort + dedup."}));
    server.script("unclear", vec![json!({"content": "Perhaps."}), json!({"content": "Hi!"})]);
    let unclear = coconut("smart-router", json!("hm"), &openai(&server, "script-unclear"));
    assert_eq!(unclear.result["outputs"], json!({"Response": "Hi!"}));
    assert_eq!(unclear.node("n2")["metadata"]["calls"], 1);
    assert_eq!(unclear.node("n2")["data"]["category"], "false");
}

/// Where two upstream nodes meet, their outputs are joined as CoconutFlow joins them: a block
/// per node that ran, in the order of the edges.
#[test]
fn outputs_that_meet_are_joined_as_coconutflow_joins_them() {
    let server = TestServer::start_blocking();
    let result = coconut("fan-in", json!("Will it rain?"), &openai(&server, "ok"));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        result.result["outputs"]["Opinions"],
        "[Input from optimist]:\necho: Will it rain?\n\n[Input from skeptic]:\necho: Will it rain?"
    );
}

#[test]
fn import_writes_a_readable_flowc_document_and_mistakes_point_into_the_original() {
    let dir = std::env::temp_dir().join(format!("flowc-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("smart-router.flow.json");
    let source = fixture("coconutflow", "smart-router");
    let ran = flowc(&["import", source.to_str().unwrap(), "-o", out.to_str().unwrap()], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(ran.stderr.contains("credential `openai` is read from OPENAI_API_KEY"), "{ran}");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(document["version"], 1);
    let n3 = document["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "n3").unwrap();
    assert_eq!(n3["position"], json!({"x": 600, "y": 100}), "positions are kept");
    let keys: Vec<&String> = n3.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "type", "credential", "position", "config"]);
    let checked = flowc(&["check", out.to_str().unwrap()], &[]);
    assert_eq!(checked.code, 0, "{checked}");
    std::fs::remove_dir_all(&dir).ok();

    let invalid = fixture("invalid", "80-coconutflow-mistakes");
    let ran = flowc(&["check", invalid.to_str().unwrap()], &[]);
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("80-coconutflow-mistakes.json:7:42 (at /nodes/1/config/agent/provider)"), "{ran}");
    assert_eq!(ran.stderr.matches("error[E031]").count(), 8, "{ran}");
    // A flowc document needs no import.
    let own = fixture("valid", "hello");
    assert_eq!(flowc(&["import", own.to_str().unwrap()], &[]).code, 1);
}

/// Hostile strings everywhere a CoconutFlow document has one (ids, labels, instructions, a
/// condition, model names, templates' braces): the document translates, checks, builds
/// without a warning and runs, each string arriving as written.
#[test]
fn a_document_of_hostile_strings_translates_builds_and_runs() {
    let h = "NUL\0 RLO\u{202e} LS\u{2028} \"q\" */ /* r#\" {{ x }} }} {% if %} $(id) `t` é🦀\n# h";
    let document = json!({
        "id": h, "name": h, "description": h,
        "nodes": [
            {"id": format!("in {h}"), "type": "input", "label": h, "config": {"input_output": {"label": h}}},
            {"id": "cond", "type": "conditional", "label": h, "config": {"conditional": {"condition_expression": h}}},
            {"id": h, "type": "agent", "label": h,
             "config": {"agent": {"provider": "openai", "model": h, "instructions": [h, h], "tools": []}}},
            {"id": "o1", "type": "output", "label": h, "config": {"input_output": {"label": h}}},
            {"id": "o2", "type": "output", "label": h, "config": {}}
        ],
        "edges": [
            {"id": "e1", "source": format!("in {h}"), "target": "cond"},
            {"id": "e2", "source": "cond", "target": h, "source_handle": "true"},
            {"id": "e3", "source": h, "target": "o1"},
            {"id": "e4", "source": "cond", "target": "o2", "source_handle": "false"}
        ]
    });
    let text = document.to_string();
    let imported = flowc::import::import("hostile.json", &text).unwrap_or_else(|d| panic!("{d}")).expect("CoconutFlow");
    let options = flowc::Options { runtime: flowc::RuntimeSource::Path(flowc_tests::flows::root().join("runtime")) };
    let project = flowc::compile("hostile.json", &text, &options).unwrap_or_else(|d| panic!("{d}\n{}", imported.text));
    let dir = flowc_tests::flows::flows_dir().join("projects").join("coconutflow-hostile");
    project.write_to(&dir).unwrap();
    let binary = flowc_tests::flows::cargo_build(&dir, &flowc_tests::flows::flows_dir().join("target"), &[]);

    let server = TestServer::start_blocking();
    server.script("hostile", vec![json!({"content": "true"}), json!({"content": h})]);
    let result = run(
        &binary,
        &json!(h),
        &[],
        &openai(&server, "script-hostile").iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        result.result["outputs"][h], h,
        "the output is named after its label, and carries the answer as written"
    );
    let calls = chat(&server, "script-hostile");
    assert_eq!(calls[1]["model"], h);
    assert_eq!(calls[1]["messages"][0]["content"], format!("{h}\n{h}\n\nUse markdown to format your answers."));
    assert_eq!(calls[1]["messages"][1]["content"], h, "the run input reaches the agent as written");
    assert!(calls[0]["messages"][0]["content"].as_str().unwrap().contains(h), "the condition reaches the model");
}
