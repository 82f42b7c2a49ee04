//! `classify` against the OpenAI chat-completions stand-in, with scripted answers
//! (`tests/src/server/chat_script.rs`).

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const KEY: (&str, &str) = ("OPENAI_API_KEY", "test-key");

fn classify(server: &TestServer, script: &str, answers: &[Value]) -> Run {
    let steps = answers.iter().map(|a| json!({"content": a.to_string()})).collect();
    server.script(script, steps);
    let input = json!({"text": "I was charged twice", "api": server.base_url(), "script": format!("script-{script}")});
    run(&build("classify"), &input, &[], &[KEY])
}

fn calls(server: &TestServer, script: &str) -> Vec<Value> {
    server.requests_to(&format!("/openai/script-{script}/")).iter().map(|r| r.json()).collect()
}

#[test]
fn the_category_picks_the_edges() {
    let server = TestServer::start_blocking();
    let result = classify(&server, "a", &[json!({"category": "billing", "reason": "a double charge"})]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"], json!({"billing": "billing: a double charge"}));
    assert_eq!(result.node("tech")["status"], "skipped");
    assert_eq!(result.node("other")["status"], "skipped");
    assert_eq!(result.node("team")["data"], json!({"category": "billing", "reason": "a double charge"}));
    assert_eq!(result.node("team")["metadata"]["calls"], 1);

    let request = &calls(&server, "a")[0];
    assert_eq!(request["temperature"], 0.0);
    let format = &request["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(
        format["json_schema"]["schema"]["properties"]["category"]["enum"],
        json!(["billing", "tech", "default"])
    );
    let system = request["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("- billing: invoices, payments and refunds\n- tech: bugs, outages and errors\n"),
        "{system}"
    );
    assert!(system.ends_with("Messages in any language."), "{system}");
    assert_eq!(request["messages"][1], json!({"role": "user", "content": "I was charged twice"}));
}

#[test]
fn nothing_fits_takes_default() {
    let server = TestServer::start_blocking();
    let result = classify(&server, "b", &[json!({"category": "default", "reason": "a greeting"})]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["other"], json!({"category": "default", "reason": "a greeting"}));
    assert_eq!(result.node("billing")["status"], "skipped");
}

#[test]
fn an_answer_outside_the_categories_is_corrected_once() {
    let server = TestServer::start_blocking();
    let result = classify(
        &server,
        "c",
        &[json!({"category": "sales", "reason": "?"}), json!({"category": "Tech", "reason": "an error page"})],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"], json!({"tech": "tech: an error page"}));
    assert_eq!(result.node("team")["metadata"]["calls"], 2);
    let second = &calls(&server, "c")[1]["messages"];
    assert_eq!(second.as_array().unwrap().len(), 4, "the first answer and the correction are sent back");
    assert_eq!(second[2]["role"], "assistant");
    let correction = second[3]["content"].as_str().unwrap();
    assert!(correction.contains("`sales` is not one of the categories"), "{correction}");
    assert_eq!(result.node("team")["metadata"]["usage"]["completion_tokens"], 10, "both calls are counted");
}

#[test]
fn two_answers_outside_the_categories_take_default() {
    let server = TestServer::start_blocking();
    let result = classify(&server, "d", &[json!({"category": "sales"}), json!("not even an object")]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let other = &result.result["outputs"]["other"];
    assert_eq!(other["category"], "default");
    assert!(other["reason"].as_str().unwrap().contains("the model named no category twice"), "{other}");
    assert_eq!(result.node("team")["metadata"]["unclassified"], true);
    assert_eq!(server.script_left("d"), 0);
}

#[test]
fn a_server_error_is_retried_and_a_refused_key_fails_the_node() {
    let server = TestServer::start_blocking();
    server.script(
        "e",
        vec![json!({"status": 500}), json!({"content": json!({"category": "billing", "reason": "r"}).to_string()})],
    );
    let input = json!({"text": "t", "api": server.base_url(), "script": "script-e"});
    let binary = build("classify");
    let result = run(&binary, &input, &[], &[KEY]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.node("team")["attempts"], 2);
    let refused = run(&binary, &input, &[], &[("OPENAI_API_KEY", "wrong")]);
    assert_eq!(refused.code, 1);
    assert_eq!(refused.node("team")["error"]["kind"], "permission");
    for node in ["billing", "tech", "other"] {
        assert_eq!(refused.node(node)["status"], "skipped", "{node}");
    }
}
