//! `web_search` against stand-ins of Brave Search, Tavily, SerpApi and SearXNG that follow
//! their API references (`tests/src/server/search.rs`), on 127.0.0.1.

use flowc_tests::flows::{build, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const KEYS: [(&str, &str); 3] =
    [("BRAVE_API_KEY", "brave-test"), ("TAVILY_API_KEY", "tvly-test"), ("SERPAPI_API_KEY", "serp-test")];

fn search(server: &TestServer, scenario: &str, env: &[(&str, &str)]) -> Run {
    let input = json!({"query": "rust async", "api": server.base_url(), "scenario": scenario});
    run(&build("web-search"), &input, &[], env)
}

fn urls(result: &Run, node: &str) -> Vec<String> {
    let results = result.node(node)["data"]["results"].as_array().unwrap_or_else(|| panic!("{}", result.node(node)));
    results.iter().map(|r| r["url"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn every_provider_is_asked_as_its_reference_says_and_answers_in_one_shape() {
    let server = TestServer::start_blocking();
    let result = search(&server, "ok", &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.result["outputs"]["top"]["brave"], "https://example.com/brave/1?q=rust+async");
    assert_eq!(result.result["outputs"]["top"]["tavily"], "rust async result 1");
    assert_eq!(result.result["outputs"]["top"]["serpapi"], "About rust async (1)");
    assert_eq!(
        result.node("brave")["data"]["results"][0],
        json!({"title": "rust async result 1", "url": "https://example.com/brave/1?q=rust+async", "snippet": "About rust async (1)"})
    );
    assert_eq!(result.node("tavily")["data"]["provider"], "tavily");
    assert_eq!(result.node("tavily")["data"]["query"], "rust async");
    // Brave and Tavily are asked for 3; SerpApi and SearXNG take no count and are cut.
    for node in ["brave", "tavily", "serpapi"] {
        assert_eq!(urls(&result, node).len(), 3, "{node}");
    }
    assert_eq!(urls(&result, "searxng").len(), 5, "the default max_results");
    assert_eq!(result.node("serpapi")["metadata"]["count"], 3);

    let brave = &server.requests_to("/brave/ok/res/v1/web/search")[0];
    assert_eq!(brave.method, "GET");
    assert_eq!(brave.header("x-subscription-token"), Some("brave-test"));
    assert_eq!(brave.header("accept"), Some("application/json"));
    assert_eq!(brave.query, "q=rust+async&count=3");
    let tavily = &server.requests_to("/tavily/ok/search")[0];
    assert_eq!((tavily.method.as_str(), tavily.header("authorization")), ("POST", Some("Bearer tvly-test")));
    assert_eq!(tavily.json(), json!({"query": "rust async", "max_results": 3}));
    let serpapi = &server.requests_to("/serpapi/ok/search.json")[0];
    assert_eq!(serpapi.query, "engine=google&q=rust+async&api_key=serp-test");
    assert_eq!(serpapi.header("authorization"), None);
    let searxng = &server.requests_to("/searxng/ok/search")[0];
    assert_eq!(searxng.query, "q=rust+async&format=json");
}

#[test]
fn nothing_found_is_an_empty_list_in_each_provider_s_way() {
    let server = TestServer::start_blocking();
    let result = search(&server, "empty", &KEYS);
    assert_eq!(result.code, 0, "{}", result.stderr);
    for node in ["brave", "tavily", "serpapi", "searxng"] {
        assert_eq!(result.node(node)["status"], "success", "{node}");
        assert_eq!(result.node(node)["data"]["results"], json!([]), "{node}");
    }
}

#[test]
fn refused_keys_are_permission_errors_and_the_query_key_never_shows() {
    let server = TestServer::start_blocking();
    let wrong =
        [("BRAVE_API_KEY", "brave-wrong"), ("TAVILY_API_KEY", "tvly-wrong"), ("SERPAPI_API_KEY", "serp-wrong-secret")];
    let result = search(&server, "ok", &wrong);
    // Brave answers a bad key with 422, which the node reports as what it is.
    let brave = &result.node("brave")["error"];
    assert_eq!(
        (brave["kind"].as_str(), brave["code"].as_str()),
        (Some("permission"), Some("SUBSCRIPTION_TOKEN_INVALID"))
    );
    assert_eq!(brave["message"], "Brave Search: The provided subscription token is invalid. (HTTP 422)");
    assert_eq!(result.node("brave")["attempts"], 1, "a refused key is not retried");
    let tavily = &result.node("tavily")["error"];
    assert_eq!(tavily["kind"], "permission");
    assert_eq!(tavily["message"], "Tavily: Unauthorized: missing or invalid API key. (HTTP 401)");
    let serpapi = &result.node("serpapi")["error"];
    assert_eq!(serpapi["kind"], "permission");
    assert!(serpapi["message"].as_str().unwrap().starts_with("SerpApi: Invalid API key."), "{serpapi}");
    assert!(!result.stdout.contains("serp-wrong-secret") && !result.stderr.contains("serp-wrong-secret"));
}

/// The SerpApi key is a query parameter, and a transport error's message shows the URL: the
/// key is replaced there.
#[test]
fn a_query_key_is_redacted_from_transport_errors() {
    let port = flowc_tests::free_port();
    let input = json!({"query": "q", "api": format!("http://127.0.0.1:{port}")});
    let result = run(&build("web-search"), &input, &[], &[("SERPAPI_API_KEY", "serp-secret-123"), KEYS[0], KEYS[1]]);
    let error = &result.node("serpapi")["error"];
    assert_eq!(error["kind"], "network", "{error}");
    assert!(error["message"].as_str().unwrap().contains("api_key=[redacted]"), "{error}");
    assert!(!result.stdout.contains("serp-secret-123"), "{}", result.stdout);
    assert!(!result.stderr.contains("serp-secret-123"), "{}", result.stderr);
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let server = TestServer::start_blocking();
    let limited = search(&server, "rate-limited-a", &KEYS);
    assert_eq!(limited.code, 0, "{}", limited.stderr);
    for node in ["brave", "tavily", "serpapi", "searxng"] {
        assert_eq!(limited.node(node)["attempts"], 2, "{node}");
        assert_eq!(limited.node(node)["status"], "success", "{node}");
    }
    let flaky = search(&server, "flaky-a", &KEYS);
    assert_eq!(flaky.code, 0, "{}", flaky.stderr);
    assert_eq!(flaky.node("tavily")["attempts"], 2);
}

#[test]
fn searxng_without_json_or_without_engines_fails_clearly() {
    let server = TestServer::start_blocking();
    let no_json = search(&server, "no-json", &KEYS);
    let error = &no_json.node("searxng")["error"];
    assert_eq!(error["code"], "json_format_disabled", "{error}");
    assert!(error["message"].as_str().unwrap().contains("`search.formats`"), "{error}");
    let down = search(&server, "down", &KEYS);
    let error = &down.node("searxng")["error"];
    assert_eq!(error["kind"], "validation");
    assert_eq!(error["message"], "SearXNG: no engine answered (duckduckgo, brave)");
    assert_eq!(down.node("searxng")["data"]["body"]["results"], json!([]), "the answer is kept");
}

#[test]
fn the_environment_names_the_provider_in_a_documented_order() {
    let server = TestServer::start_blocking();
    let binary = build("web-search-env");
    let input = json!({"query": "flowc"});

    // Nothing configured: the program does not start, and says what to set.
    let none = run(&binary, &input, &[], &[]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(
        none.stderr.contains("no web search provider is configured: set one of SEARXNG_URL, BRAVE_API_KEY, TAVILY_API_KEY, SERPAPI_API_KEY"),
        "{}",
        none.stderr
    );
    assert_eq!(none.result, Value::Null, "nothing ran");

    // SEARXNG_URL comes before any key.
    let searxng = format!("{}/searxng/ok", server.base_url());
    let env = [("SEARXNG_URL", searxng.as_str()), ("BRAVE_API_KEY", "brave-test")];
    let result = run(&binary, &input, &[], &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.node("search")["data"]["provider"], "searxng");
    assert_eq!(result.result["outputs"]["results"].as_array().unwrap().len(), 2);
    assert!(server.requests_to("/brave/").is_empty());

    // `health` reports the choice.
    let health = flowc_tests::bin::run_tool(&binary, &["health", "--format", "json"], &env);
    let report = health.json();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "environment")
        .expect("an environment check");
    assert_eq!(check["target"], "web search provider");
    assert_eq!(check["message"], format!("SearXNG at {searxng} (from SEARXNG_URL)"));
    let unset = flowc_tests::bin::run_tool(&binary, &["health", "--format", "json"], &[]);
    assert_ne!(unset.code, 0);
}
