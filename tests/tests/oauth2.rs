//! OAuth2 credentials (`fixtures/valid/oauth2-client.json`, `oauth2-refresh.json`) against a real
//! OAuth2 server on 127.0.0.1 (oauth2-mock-server from npm, `tests/mcp/oauth2-server.mjs`)
//! and an API that accepts only the tokens it issued: one token for concurrent nodes and for
//! every run of a process, a refresh before expiry, one new token after a 401, a rotated
//! refresh token written back to its file, and the token endpoint's failures.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use flowc_tests::flows::{build, root, run, Run};
use serde_json::{json, Value};

/// The token endpoint and the API, killed on drop.
struct Servers {
    child: Child,
    _stdin: Option<ChildStdin>,
    token_port: u16,
    api_port: u16,
}

impl Servers {
    fn start(env: &[(&str, &str)]) -> Servers {
        let node = root().join("tests/mcp/node_modules/.bin/node");
        let script = root().join("tests/mcp/oauth2-server.mjs");
        assert!(node.is_file(), "Node.js 22 is missing: install it with `{}`", flowc_tests::mcp::NPM_INSTALL);
        let (token_port, api_port) = (flowc_tests::free_port(), flowc_tests::free_port());
        let mut child = Command::new(&node)
            .arg(&script)
            .current_dir(root().join("tests/mcp"))
            .env("TOKEN_PORT", token_port.to_string())
            .env("API_PORT", api_port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the OAuth2 server");
        let stdin = child.stdin.take();
        let began = Instant::now();
        for port in [token_port, api_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(began.elapsed() < Duration::from_secs(30), "the OAuth2 server did not listen on {port}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Servers { child, _stdin: stdin, token_port, api_port }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTH_BASE", format!("http://127.0.0.1:{}", self.token_port)),
            ("API_BASE", format!("http://127.0.0.1:{}", self.api_port)),
            ("CRM_CLIENT_ID", "crm-client".into()),
            ("CRM_CLIENT_SECRET", "crm-s3cret".into()),
            ("MAIL_CLIENT_ID", "mail-client".into()),
        ]
    }

    fn admin(&self, path: &str, body: Value) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.api_port);
        let agent = flowc_tests::http_agent();
        let mut response = if path == "/admin/stats" {
            agent.get(url).call().expect("GET the OAuth2 server's stats")
        } else {
            agent.post(url).header("content-type", "application/json").send(body.to_string()).expect("POST to it")
        };
        response.body_mut().read_json().expect("JSON")
    }

    fn grants(&self) -> Vec<Value> {
        self.admin("/admin/stats", Value::Null)["grants"].as_array().cloned().unwrap_or_default()
    }

    fn unauthorized(&self) -> u64 {
        self.admin("/admin/stats", Value::Null)["unauthorized"].as_u64().unwrap_or_default()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_flow(binary: &Path, servers: &Servers, more: &[(&str, &str)]) -> Run {
    let env = servers.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(more);
    run(binary, &json!({}), &[], &all)
}

/// `<bin> serve` on a free port, with the servers' environment; killed on drop.
struct Serving {
    child: Child,
    addr: String,
}

impl Serving {
    fn start(binary: &Path, servers: &Servers) -> Serving {
        let addr = format!("127.0.0.1:{}", flowc_tests::free_port());
        let child = Command::new(binary)
            .args(["serve", "--addr", &addr])
            .envs(servers.env())
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve");
        let began = Instant::now();
        while flowc_tests::http_agent().get(format!("http://{addr}/healthz")).call().is_err() {
            assert!(began.elapsed() < Duration::from_secs(20), "serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Serving { child, addr }
    }

    fn run(&self) -> Value {
        let mut response = flowc_tests::http_agent()
            .post(format!("http://{}/run", self.addr))
            .header("content-type", "application/json")
            .send("{}")
            .expect("POST /run");
        response.body_mut().read_json().expect("a run result")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn concurrent_nodes_wait_for_one_token_and_no_secret_is_written_anywhere() {
    let servers = Servers::start(&[]);
    let binary = build("oauth2-client");
    let ran = run_flow(&binary, &servers, &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.result["outputs"]["statuses"], json!([200, 200, 200, 200]), "{:#}", ran.result);
    let grants = servers.grants();
    assert_eq!(grants.len(), 1, "four nodes at once, one token request: {grants:#?}");
    let grant = &grants[0];
    assert_eq!(grant["grant_type"], "client_credentials");
    assert_eq!(grant["scope"], "read write");
    assert_eq!(grant["audience"], "crm");
    assert_eq!(grant["basic"], "crm-client:crm-s3cret", "HTTP Basic client authentication by default");
    assert_eq!(grant["client_secret"], Value::Null, "the secret is not also in the body");
    for text in [&ran.stdout, &ran.stderr] {
        assert!(!text.contains("crm-s3cret"), "the client secret leaked: {text}");
        assert!(!text.to_lowercase().contains("bearer ey"), "a token leaked: {text}");
    }
}

#[test]
fn runs_of_one_process_share_the_token_and_refresh_it_before_it_expires() {
    // Long enough that three runs on a loaded machine fit well before the refresh is due.
    let servers = Servers::start(&[("EXPIRES_IN", "5")]);
    let serving = Serving::start(&build("oauth2-client"), &servers);
    for _ in 0..3 {
        assert_eq!(serving.run()["outputs"]["statuses"], json!([200, 200, 200, 200]));
    }
    assert_eq!(servers.grants().len(), 1, "three runs, one token");
    // Past 90% of its life the token is fetched again, before the API would refuse it.
    std::thread::sleep(Duration::from_millis(4600));
    let result = serving.run();
    assert_eq!(result["outputs"]["statuses"], json!([200, 200, 200, 200]), "{result:#}");
    assert_eq!(servers.grants().len(), 2, "one refresh");
    assert_eq!(servers.unauthorized(), 0, "no request went out with an expired token");
}

#[test]
fn a_401_gets_one_new_token_and_one_more_attempt_then_the_retry_policy_decides() {
    let servers = Servers::start(&[]);
    let serving = Serving::start(&build("oauth2-client"), &servers);
    assert_eq!(serving.run()["outputs"]["statuses"], json!([200, 200, 200, 200]));
    servers.admin("/admin/revoke", json!({}));
    // Every node is refused once; the four wait for one new token between them.
    let result = serving.run();
    assert_eq!(result["outputs"]["statuses"], json!([200, 200, 200, 200]), "{result:#}");
    assert_eq!(servers.grants().len(), 2, "one new token for the four 401s");
    assert_eq!(servers.unauthorized(), 4);
    for node in ["a", "b", "c", "d"] {
        assert_eq!(result["nodes"][node]["attempts"], 2, "{:#}", result["nodes"][node]);
    }
}

#[test]
fn an_api_that_refuses_every_token_fails_the_node_after_one_new_token() {
    let servers = Servers::start(&[("EXPIRES_IN", "0")]);
    // Tokens that expire at once: the API refuses them all, the program fetches anew once.
    let ran = run_flow(&build("oauth2-client"), &servers, &[]);
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let a = ran.node("a");
    assert_eq!(a["error"]["kind"], "permission", "{a:#}");
    assert_eq!(a["error"]["status"], 401, "{a:#}");
    assert_eq!(a["attempts"], 2, "the first 401 brings a new token; a 401 is not retried after that: {a:#}");
}

#[test]
fn the_token_endpoint_s_refusal_and_failure_have_codes_of_their_own() {
    let servers = Servers::start(&[]);
    let binary = build("oauth2-client");
    servers.admin(
        "/admin/fail",
        json!({"status": 401, "body": {"error": "invalid_client", "error_description": "unknown client"}}),
    );
    let ran = run_flow(&binary, &servers, &[]);
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    // The one refused request fails the node that made it; the others wait for it and ask
    // again, and get a token.
    let failed: Vec<&Value> =
        ["a", "b", "c", "d"].iter().map(|n| &ran.node(n)["error"]).filter(|e| !e.is_null()).collect();
    assert_eq!(failed.len(), 1, "{:#}", ran.result);
    let refused = failed[0];
    assert_eq!(refused["code"], "oauth2_rejected", "{:#}", ran.result);
    assert_eq!(refused["kind"], "permission");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("invalid_client") && message.contains("`crm`"), "{message}");
    assert!(!ran.stdout.contains("crm-s3cret"));

    // A 503 from the token endpoint is `oauth2_unavailable`, retried by the policy: the
    // second attempt gets a token.
    let servers = Servers::start(&[]);
    servers.admin("/admin/fail", json!({"status": 503, "body": {"error": "temporarily_unavailable"}}));
    let ran = run_flow(&binary, &servers, &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let retried: Vec<&str> = ["a", "b", "c", "d"].into_iter().filter(|n| ran.node(n)["attempts"] == 2).collect();
    assert_eq!(retried.len(), 1, "one node met the 503 and was retried: {:#}", ran.result);
    assert_eq!(servers.grants().len(), 2);
}

fn refresh_files() -> (PathBuf, PathBuf) {
    let dir = root().join("target/oauth2");
    std::fs::create_dir_all(&dir).unwrap();
    (dir.join("mail-secret"), dir.join("mail-refresh"))
}

#[test]
fn a_rotated_refresh_token_is_written_back_and_the_next_process_uses_it() {
    let servers = Servers::start(&[("ROTATE", "1")]);
    let (secret, refresh) = refresh_files();
    std::fs::write(&secret, "mail-s3cret\n").unwrap();
    std::fs::write(&refresh, "first-refresh\n").unwrap();
    let binary = build("oauth2-refresh");
    let ran = run_flow(&binary, &servers, &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.result["outputs"]["status"], 200);
    assert_eq!(std::fs::read_to_string(&refresh).unwrap().trim(), "rotated-1");
    let ran = run_flow(&binary, &servers, &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let grants = servers.grants();
    let sent: Vec<&Value> = grants.iter().map(|g| &g["refresh_token"]).collect();
    assert_eq!(sent, [&json!("first-refresh"), &json!("rotated-1")], "{grants:#?}");
    assert_eq!(grants[0]["grant_type"], "refresh_token");
    assert_eq!(
        (&grants[0]["client_id"], &grants[0]["client_secret"], &grants[0]["basic"]),
        (&json!("mail-client"), &json!("mail-s3cret"), &Value::Null),
        "client_auth: body"
    );
    assert_eq!(std::fs::read_to_string(&refresh).unwrap().trim(), "rotated-2");
    let left: Vec<_> = std::fs::read_dir(refresh.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn health_fetches_a_client_credentials_token_and_names_a_missing_secret() {
    let servers = Servers::start(&[]);
    let binary = build("oauth2-client");
    let env = servers.env();
    let ok = flowc_tests::bin::run_tool(
        &binary,
        &["health", "--format", "json"],
        &env.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
    );
    assert_eq!(ok.code, 0, "{ok}");
    let report = ok.json();
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == "credential").unwrap().clone();
    assert_eq!(check["message"], "a token was fetched from its token endpoint", "{check:#}");
    assert_eq!(servers.grants().len(), 1);

    let without: Vec<(&str, &str)> =
        env.iter().filter(|(k, _)| *k != "CRM_CLIENT_SECRET").map(|(k, v)| (*k, v.as_str())).collect();
    let failed = flowc_tests::bin::run_tool(&binary, &["health", "--format", "json"], &without);
    assert_eq!(failed.code, 1, "{failed}");
    let report = failed.json();
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == "credential").unwrap().clone();
    assert_eq!(check["ok"], false);
    assert!(check["message"].as_str().unwrap().contains("CRM_CLIENT_SECRET"), "{check:#}");
    assert_eq!(servers.grants().len(), 1, "nothing was sent without the secret");
}

#[test]
fn deploy_k8s_reads_each_secret_of_the_credential_from_the_secret_and_the_parameters_from_a_config_map() {
    let dir = flowc_tests::flows::flows_dir().join("deploy").join(format!("oauth2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fixture = root().join("fixtures/valid/oauth2-client.json");
    let ran = flowc_tests::bin::flowc(
        &["deploy", "k8s", fixture.to_str().unwrap(), "--serve", "-o", dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(ran.code, 0, "{ran}");
    assert!(ran.stderr.contains("--from-literal=crm.client_id=... --from-literal=crm.client_secret=..."), "{ran}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let validated = flowc_tests::bin::run_tool(Path::new("kubernetes-validate"), &args, &[]);
    assert_eq!(validated.code, 0, "{validated}");
    assert!(!validated.stdout.contains("ERROR") && !validated.stdout.contains("WARN"), "{validated}");
    let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let deployment = flowc_tests::bin::run_tool(
        Path::new("python3"),
        &["-c", script, dir.join("deployment.yaml").to_str().unwrap()],
        &[],
    );
    let deployment: Value = serde_json::from_str(&deployment.stdout).unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let secret = |key: &str| json!({"secretKeyRef": {"name": "oauth2-client-credentials", "key": key}});
    assert_eq!(
        container["env"],
        json!([
            {"name": "CRM_CLIENT_ID", "valueFrom": secret("crm.client_id")},
            {"name": "CRM_CLIENT_SECRET", "valueFrom": secret("crm.client_secret")},
        ]),
        "{container:#}"
    );
    assert_eq!(container["envFrom"], json!([{"configMapRef": {"name": "oauth2-client-parameters"}}]));
}
