//! Parameters (`fixtures/valid/parameters.json`): read from the environment once at start-up,
//! through templates and jq against httpbin on 127.0.0.1; refused before anything runs when a
//! required one is missing or a value is outside its `enum`; in `describe`, the generated
//! README and `.env.example`, and `flowc deploy k8s`'s ConfigMap (kubernetes-validate strict).

use std::path::{Path, PathBuf};

use flowc_tests::bin::{flowc, run_tool};
use flowc_tests::flows::{build, flows_dir, root, run};
use flowc_tests::httpbin::Httpbin;
use serde_json::{json, Value};

fn httpbin() -> Httpbin {
    Httpbin::start().unwrap_or_else(|e| panic!("httpbin is needed for this test: {e}"))
}

fn fixture() -> PathBuf {
    root().join("fixtures/valid/parameters.json")
}

#[test]
fn templates_and_jq_read_the_parameters_from_the_environment() {
    let httpbin = httpbin();
    let binary = build("parameters");
    let base = httpbin.base_url();
    let ran = run(&binary, &json!({"user": "ada"}), &[], &[("API_BASE_URL", &base), ("REGION", "us")]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // The URL httpbin saw was built from both parameters; jq's `$params` read the region.
    assert_eq!(ran.result["outputs"]["where"]["region"], "us", "{:#}", ran.result);
    assert_eq!(ran.result["outputs"]["where"]["from"], format!("{base}/anything/us/ada"), "{:#}", ran.result);
    assert_eq!(ran.node("where")["data"]["region"], "us");
}

#[test]
fn a_missing_or_disallowed_parameter_stops_the_program_before_anything_runs() {
    let binary = build("parameters");
    // Empty counts as unset; REGION has no default.
    let ran = run(&binary, &json!({"user": "ada"}), &["--events"], &[("REGION", "")]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("parameter `region` is not set: set the environment variable REGION"),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty() && ran.events("node_started").is_empty(), "{ran:?}");

    let ran = run(&binary, &json!({"user": "ada"}), &[], &[("REGION", "asia")]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("REGION is \"asia\", which is not one of `eu`, `us`"), "{}", ran.stderr);

    // `describe` needs no environment, and lists the parameters without values.
    let described = run_tool(&binary, &["describe"], &[("REGION", "")]);
    assert_eq!(described.code, 0, "{described}");
    let described: Value = serde_json::from_str(&described.stdout).unwrap();
    assert_eq!(
        described["parameters"],
        json!([
            {"name": "api_base", "env": "API_BASE_URL", "default": "https://api.example.com", "enum": []},
            {"name": "region", "env": "REGION", "default": null, "enum": ["eu", "us"]},
        ])
    );
}

#[test]
fn the_generated_project_documents_the_parameters() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let project = flowc::compile("parameters.json", &text, &flowc::Options::default()).unwrap();
    let env = &project.files[Path::new(".env.example")];
    // With a default: commented out, showing it; without: to be set.
    assert!(env.lines().any(|l| l == "# API_BASE_URL=https://api.example.com"), "{env}");
    assert!(env.lines().any(|l| l == "REGION="), "{env}");
    assert!(env.contains("# parameter `region` (one of: eu, us)"), "{env}");
    let readme = &project.files[Path::new("README.md")];
    assert!(readme.contains("- `region`: environment variable `REGION`, required, one of `eu`, `us`"), "{readme}");
}

#[test]
fn deploy_k8s_puts_the_parameters_in_a_config_map_the_workload_reads() {
    let dir = flows_dir().join("deploy").join(format!("parameters-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fixture = fixture();
    let ran = flowc(&["deploy", "k8s", fixture.to_str().unwrap(), "--serve", "-o", dir.to_str().unwrap()], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(ran.stderr.contains("set REGION in parameters.yaml"), "{ran}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let validated = run_tool(Path::new("kubernetes-validate"), &args, &[]);
    assert_eq!(validated.code, 0, "{validated}");
    assert!(!validated.stdout.contains("ERROR") && !validated.stdout.contains("WARN"), "{validated}");

    let yaml = |file: &str| -> Value {
        let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
        let ran = run_tool(Path::new("python3"), &["-c", script, dir.join(file).to_str().unwrap()], &[]);
        assert_eq!(ran.code, 0, "{ran}");
        serde_json::from_str(&ran.stdout).unwrap()
    };
    let config_map = yaml("parameters.yaml");
    assert_eq!(config_map["metadata"]["name"], "parameters-parameters");
    assert_eq!(config_map["data"], json!({"API_BASE_URL": "https://api.example.com", "REGION": ""}));
    let deployment = yaml("deployment.yaml");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["envFrom"], json!([{"configMapRef": {"name": "parameters-parameters"}}]), "{container:#}");
}

#[test]
fn serve_runs_with_the_parameters_and_refuses_to_start_without_them() {
    let httpbin = httpbin();
    let binary = build("parameters");
    let port = flowc_tests::free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    // Without REGION, serve does not start: exit 2 before it listens.
    let refused = run_tool(&binary, &["serve", "--addr", &addr], &[("REGION", "")]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("REGION"), "{refused}");

    let base = httpbin.base_url();
    let mut child = std::process::Command::new(&binary)
        .args(["serve", "--addr", &addr])
        .envs([("API_BASE_URL", base.as_str()), ("REGION", "eu")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start serve");
    let agent = flowc_tests::http_agent();
    let began = std::time::Instant::now();
    while agent.get(format!("http://{addr}/healthz")).call().is_err() {
        assert!(began.elapsed() < std::time::Duration::from_secs(20), "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut response = agent
        .post(format!("http://{addr}/run"))
        .header("content-type", "application/json")
        .send(json!({"user": "grace"}).to_string())
        .expect("POST /run");
    let status = response.status().as_u16();
    let result: Value = response.body_mut().read_json().expect("a run result");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{result:#}");
    assert_eq!(result["outputs"]["where"], json!({"region": "eu", "from": format!("{base}/anything/eu/grace")}));
}

#[test]
fn health_reports_each_parameter_and_where_its_value_came_from() {
    let binary = build("parameters");
    let ran = run_tool(&binary, &["health", "--format", "json"], &[("REGION", "us"), ("API_BASE_URL", "")]);
    assert_eq!(ran.code, 0, "{ran}");
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let checks: Vec<&Value> =
        report["checks"].as_array().unwrap().iter().filter(|c| c["check"] == "parameter").collect();
    assert_eq!(checks.len(), 2, "{report:#}");
    assert_eq!(checks[0]["target"], "api_base");
    assert_eq!(checks[0]["message"], "\"https://api.example.com\" (the default: API_BASE_URL is not set)");
    assert_eq!(checks[1]["message"], "\"us\" (from REGION)");

    // A wrong value fails the report (and names the variable) instead of stopping `health`.
    let ran = run_tool(&binary, &["health", "--format", "json"], &[("REGION", "mars")]);
    assert_eq!(ran.code, 1, "{ran}");
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    let region = report["checks"].as_array().unwrap().iter().find(|c| c["target"] == "region").unwrap();
    assert_eq!(region["ok"], false);
    assert!(region["message"].as_str().unwrap().contains("REGION is \"mars\""), "{region}");
}
