//! The `flowc` command line, end to end: each test runs the real binary (built once with
//! `cargo build -p flowc`) and checks what it prints, what it writes and how it exits.
//!
//! The slow ones build generated programs: `a_vendored_project_builds_standalone` (a debug
//! build in `target/flows/standalone-target`, outside flowc's workspace) and the `run`/`build`
//! tests (a release build in `target/flows/cli-cache`); reruns reuse both build caches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use flowc_tests::bin::{flowc_bin, Ran};
use flowc_tests::flows::{fixture, flows_dir, root};
use serde_json::{json, Value};

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// `flowc ARGS` in the workspace root, with extra environment variables.
fn flowc_env(args: &[&str], env: &[(&str, &Path)]) -> Ran {
    let mut command = Command::new(flowc_bin());
    command.args(args).current_dir(root()).stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    Ran::from(command.output().expect("run flowc"))
}

fn flowc(args: &[&str]) -> Ran {
    flowc_env(args, &[])
}

/// `fixtures/<group>/<name>.json` relative to the workspace root, as flowc is given it (so
/// diagnostics name it the way a user would see it).
fn rel(group: &str, name: &str) -> String {
    let path = fixture(group, name);
    assert!(path.is_file(), "missing fixture {}", path.display());
    format!("fixtures/{group}/{name}.json")
}

/// A fresh folder under the system's temp folder (outside the workspace), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("flowc-cli-{tag}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp folder");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, rest: &str) -> PathBuf {
        self.0.join(rest)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Every file under `dir`, by relative path, with its bytes.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let bytes = std::fs::read(&path).expect("read a generated file");
                out.insert(path.strip_prefix(base).expect("under base").to_owned(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    files_under(dir)
        .into_keys()
        .map(|rel| {
            let modified = std::fs::metadata(dir.join(&rel)).and_then(|m| m.modified()).expect("mtime");
            (rel, modified)
        })
        .collect()
}

/// The tests that build in `target/flows/cli-cache` take turns: two `flowc build`s of the same
/// flow would rewrite the same project folder under each other's cargo.
fn cli_cache() -> (MutexGuard<'static, ()>, PathBuf) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    (guard, flows_dir().join("cli-cache"))
}

/// The fixture with three unrelated mistakes: (code, pointer, line, column) of each.
const SEVERAL_MISTAKES: &str = "43-several-unrelated-mistakes";
const SEVERAL_MISTAKES_EXPECTED: [(&str, &str, u64, u64); 3] =
    [("E009", "/nodes/1/type", 10, 34), ("E019", "/nodes/3/config/jq", 16, 65), ("E002", "/nodes/4/config/ms", 18, 57)];

// ---------------------------------------------------------------------------------------
// flowc check
// ---------------------------------------------------------------------------------------

#[test]
fn check_accepts_a_valid_flow_and_counts_its_nodes() {
    let file = rel("valid", "hello");
    let ran = flowc(&["check", &file]);
    assert_eq!(ran.code, 0, "{ran}");
    assert_eq!(ran.stdout.trim_end(), format!("{file}: flow `hello` is valid (9 nodes, 9 edges)"), "{ran}");
    assert!(ran.stderr.is_empty(), "{ran}");

    let switch = rel("valid", "switch");
    let ran = flowc(&["check", &switch]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(ran.stdout.contains("flow `switch` is valid (8 nodes, 9 edges)"), "{ran}");
}

#[test]
fn check_reports_every_mistake_with_its_location() {
    let file = rel("invalid", SEVERAL_MISTAKES);
    let ran = flowc(&["check", &file]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stdout.is_empty(), "diagnostics go to stderr:\n{ran}");
    for (code, pointer, line, column) in SEVERAL_MISTAKES_EXPECTED {
        assert!(ran.stderr.contains(&format!("error[{code}]: ")), "no {code}:\n{ran}");
        assert!(
            ran.stderr.contains(&format!("--> {file}:{line}:{column} (at {pointer})")),
            "no location of {code}:\n{ran}"
        );
    }
    assert_eq!(ran.stderr.matches("error[E").count(), 3, "exactly three errors:\n{ran}");
    // Reported in document order, each with its help line.
    let at = |code: &str| ran.stderr.find(&format!("error[{code}]")).unwrap();
    assert!(at("E009") < at("E019") && at("E019") < at("E002"), "{ran}");
    assert!(ran.stderr.contains("= help: did you mean `http_request`?"), "{ran}");
    assert!(ran.stderr.contains("3 errors found"), "{ran}");
}

#[test]
fn check_of_a_missing_file_exits_2_and_names_it() {
    let ran = flowc(&["check", "fixtures/valid/no-such-flow.json"]);
    assert_eq!(ran.code, 2, "{ran}");
    assert!(ran.stdout.is_empty(), "{ran}");
    assert!(ran.stderr.contains("fixtures/valid/no-such-flow.json"), "{ran}");
    assert!(ran.stderr.starts_with("error: cannot read"), "{ran}");

    let ran = flowc(&["graph", "no-such-flow.json"]);
    assert_eq!(ran.code, 2, "flowc graph: {ran}");
    assert!(ran.stderr.contains("no-such-flow.json"), "flowc graph: {ran}");
}

/// `compile`, `build` and `run` exit 2 for a flow file they cannot read, as `check` does.
#[test]
fn every_command_exits_2_for_a_missing_file() {
    let temp = TempDir::new("missing");
    let out = temp.join("out");
    let cache = temp.join("cache");
    for args in [
        &["compile", "no-such-flow.json", "-o", arg(&out)][..],
        &["build", "no-such-flow.json"],
        &["run", "no-such-flow.json"],
    ] {
        let ran = flowc_env(args, &[("FLOWC_CACHE_DIR", &cache)]);
        assert!(ran.stderr.contains("no-such-flow.json"), "flowc {args:?}: {ran}");
        assert_eq!(ran.code, 2, "flowc {args:?}: {ran}");
    }
}

#[test]
fn check_as_json_lists_every_diagnostic() {
    let file = rel("invalid", SEVERAL_MISTAKES);
    let ran = flowc(&["check", "--format", "json", &file]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stderr.is_empty(), "{ran}");
    assert_eq!(ran.stdout.trim_end().lines().count(), 1, "one JSON object on one line:\n{ran}");
    let report = ran.json();
    assert_eq!(report["valid"], false, "{report:#}");
    assert_eq!(report["file"], file.as_str(), "{report:#}");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics is an array");
    assert_eq!(diagnostics.len(), 3, "{report:#}");
    for (diagnostic, (code, pointer, line, column)) in diagnostics.iter().zip(SEVERAL_MISTAKES_EXPECTED) {
        for field in ["code", "message", "pointer", "help"] {
            let text =
                diagnostic[field].as_str().unwrap_or_else(|| panic!("`{field}` is not a string: {diagnostic:#}"));
            assert!(!text.is_empty(), "`{field}` is empty: {diagnostic:#}");
        }
        for field in ["line", "column"] {
            assert!(diagnostic[field].as_u64().is_some_and(|n| n >= 1), "`{field}` is not a position: {diagnostic:#}");
        }
        assert_eq!(diagnostic["code"], code, "{diagnostic:#}");
        assert_eq!(diagnostic["pointer"], pointer, "{diagnostic:#}");
        assert_eq!(
            (diagnostic["line"].as_u64(), diagnostic["column"].as_u64()),
            (Some(line), Some(column)),
            "{diagnostic:#}"
        );
        assert_eq!(diagnostic["severity"], "error", "{diagnostic:#}");
    }
    assert_eq!(diagnostics[0]["help"], "did you mean `http_request`?");
    assert!(diagnostics[2]["message"].as_str().unwrap().contains("`ms`"), "{report:#}");

    // The pointers lead to the mistakes in the document itself.
    let source: Value = serde_json::from_str(&std::fs::read_to_string(fixture("invalid", SEVERAL_MISTAKES)).unwrap())
        .expect("the fixture is JSON");
    assert_eq!(source.pointer("/nodes/1/type"), Some(&json!("http_reqest")));
    assert_eq!(source.pointer("/nodes/4/config/ms"), Some(&json!("2s")));
}

#[test]
fn check_as_json_of_a_valid_flow() {
    let file = rel("valid", "hello");
    let ran = flowc(&["check", "--format", "json", &file]);
    assert_eq!(ran.code, 0, "{ran}");
    assert_eq!(ran.json(), json!({"file": file, "valid": true, "diagnostics": []}));
}

#[test]
fn bad_usage_exits_2() {
    let ran = flowc(&["frobnicate"]);
    assert_eq!(ran.code, 2, "{ran}");
    assert!(ran.stderr.contains("frobnicate"), "{ran}");

    let ran = flowc(&["check", &rel("valid", "hello"), "--format", "yaml"]);
    assert_eq!(ran.code, 2, "{ran}");
    assert!(ran.stderr.contains("yaml"), "{ran}");

    let ran = flowc(&["run", &rel("valid", "hello"), "--input", "in.json", "--input-json", "{}"]);
    assert_eq!(ran.code, 2, "--input and --input-json conflict: {ran}");
    assert!(ran.stderr.contains("cannot be used with"), "{ran}");
}

// ---------------------------------------------------------------------------------------
// flowc compile
// ---------------------------------------------------------------------------------------

#[test]
fn compile_writes_a_complete_project_and_is_deterministic() {
    let temp = TempDir::new("compile");
    let first = temp.join("first");
    let ran = flowc(&["compile", &rel("valid", "hello"), "-o", arg(&first)]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(ran.stdout.is_empty(), "{ran}");
    assert!(ran.stderr.contains("wrote the project of flow `hello`"), "{ran}");

    let files = files_under(&first);
    for expected in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "README.md",
        ".env.example",
        "Dockerfile",
        ".dockerignore",
        "vendor/flowc-runtime/Cargo.toml",
        "vendor/flowc-runtime/src/lib.rs",
        "vendor/core/Cargo.toml",
        "vendor/core/src/lib.rs",
    ] {
        assert!(files.contains_key(Path::new(expected)), "no {expected} in {:#?}", files.keys());
    }
    // The vendored crates are exactly this checkout's runtime and core crates.
    for vendored_file in flowc::vendored_files() {
        let vendored = &files[&Path::new("vendor").join(vendored_file)];
        let in_checkout = match vendored_file.split_once('/') {
            Some(("flowc-runtime", rest)) => root().join("runtime").join(rest),
            _ => root().join(vendored_file),
        };
        let original = std::fs::read(&in_checkout).unwrap();
        assert!(vendored == &original, "vendor/{vendored_file} differs from {}", in_checkout.display());
    }
    let text = |path: &str| String::from_utf8(files[Path::new(path)].clone()).expect("UTF-8");
    assert!(text("src/main.rs").starts_with("// @generated by flowc"), "{}", text("src/main.rs"));
    assert!(text("Cargo.toml").contains("name = \"hello\""));
    assert!(
        text("Cargo.toml").contains("flowc-runtime = { path = \"vendor/flowc-runtime\" }"),
        "{}",
        text("Cargo.toml")
    );
    assert_eq!(text("Cargo.lock"), flowc::lock_file("hello"));

    // Twice into a fresh folder: the same bytes.
    let second = temp.join("second");
    let ran = flowc(&["compile", &rel("valid", "hello"), "-o", arg(&second)]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(files_under(&second) == files, "two compiles of the same flow differ");

    // Again into the same folder: nothing changes, and no file is even rewritten.
    let before = mtimes(&first);
    let ran = flowc(&["compile", &rel("valid", "hello"), "-o", arg(&first)]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(files_under(&first) == files, "recompiling in place changed the project");
    assert_eq!(mtimes(&first), before, "recompiling in place touched unchanged files");
}

#[test]
fn compile_names_the_credentials_in_env_example() {
    let temp = TempDir::new("credentials");
    let ran = flowc(&["compile", &rel("valid", "http-get"), "-o", arg(temp.path())]);
    assert_eq!(ran.code, 0, "{ran}");
    let env = std::fs::read_to_string(temp.join(".env.example")).unwrap();
    assert!(env.lines().any(|line| line == "HTTPBIN_TOKEN="), "{env}");
    assert!(env.contains("credential `httpbin`"), "{env}");

    // A flow without credentials has none to name.
    let hello = TempDir::new("no-credentials");
    let ran = flowc(&["compile", &rel("valid", "hello"), "-o", arg(hello.path())]);
    assert_eq!(ran.code, 0, "{ran}");
    let env = std::fs::read_to_string(hello.join(".env.example")).unwrap();
    assert!(!env.lines().any(|line| !line.starts_with('#') && line.contains('=')), "{env}");
    assert!(!env.contains("_BASE_URL"), "hello calls no hosted API: {env}");

    // The hosted APIs a flow calls at their default roots are listed, commented out.
    let hosted = TempDir::new("hosted-defaults");
    let ran = flowc(&["compile", &rel("valid", "hosted-defaults"), "-o", arg(hosted.path())]);
    assert_eq!(ran.code, 0, "{ran}");
    let env = std::fs::read_to_string(hosted.join(".env.example")).unwrap();
    let lines: Vec<&str> = env.lines().filter(|line| line.contains("_URL=")).collect();
    assert_eq!(lines, ["# OPENAI_BASE_URL=https://api.openai.com/v1", "# FIRECRAWL_API_URL=https://api.firecrawl.dev"]);
}

#[test]
fn compile_with_a_runtime_path_does_not_vendor() {
    let temp = TempDir::new("runtime-path");
    let runtime = root().join("runtime");
    let ran = flowc(&["compile", &rel("valid", "hello"), "-o", arg(temp.path()), "--runtime-path", arg(&runtime)]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(!temp.join("vendor").exists(), "the runtime was vendored anyway");
    let toml = std::fs::read_to_string(temp.join("Cargo.toml")).unwrap();
    let dependency = format!("flowc-runtime = {{ path = {} }}", Value::from(arg(&runtime)));
    assert!(toml.contains(&dependency), "no `{dependency}` in\n{toml}");
}

#[test]
fn compile_of_an_invalid_flow_writes_nothing() {
    let temp = TempDir::new("invalid");
    let out = temp.join("out");
    let file = rel("invalid", SEVERAL_MISTAKES);
    let ran = flowc(&["compile", &file, "-o", arg(&out)]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stderr.contains("error[E009]") && ran.stderr.contains("error[E002]"), "{ran}");
    assert!(!out.exists(), "compile wrote {} for an invalid flow", out.display());
}

/// The promise of a vendored project: copied anywhere, it builds on its own with
/// `cargo build --locked`, without warnings, and runs.
#[test]
fn a_vendored_project_builds_standalone() {
    let temp = TempDir::new("standalone");
    assert!(!temp.path().starts_with(root()), "the temp folder must be outside the workspace");
    let project = temp.join("hello");
    let ran = flowc(&["compile", &rel("valid", "hello"), "-o", arg(&project)]);
    assert_eq!(ran.code, 0, "{ran}");

    let target = flows_dir().join("standalone-target");
    let output = Command::new(cargo())
        .args(["build", "--locked", "--offline"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", &target)
        // Debug info and incremental state only take disk here (tests/src/flows.rs says why).
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run cargo build");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo build --locked --offline of the vendored project failed:\n{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.trim_start().starts_with("warning")).collect();
    assert!(warnings.is_empty(), "the vendored project builds with warnings:\n{stderr}");
    // `--locked` passed, so the lock file flowc wrote is the one cargo wanted.
    assert_eq!(std::fs::read_to_string(project.join("Cargo.lock")).unwrap(), flowc::lock_file("hello"));

    let binary = target.join("debug").join("hello");
    let output =
        Command::new(&binary).args(["run", "--input-json", r#"{"name":"Ada"}"#]).stdin(Stdio::null()).output().unwrap();
    let ran = Ran::from(output);
    assert_eq!(ran.code, 0, "{ran}");
    let result = ran.json();
    assert_eq!(result["status"], "success", "{result:#}");
    assert_eq!(result["outputs"]["greeting"], "Hello, Ada!", "{result:#}");
    assert_eq!(result["outputs"]["verdict"], "a short name", "{result:#}");
}

// ---------------------------------------------------------------------------------------
// flowc graph, flowc schema
// ---------------------------------------------------------------------------------------

#[test]
fn graph_as_mermaid_labels_every_handle() {
    let ran = flowc(&["graph", &rel("valid", "switch")]);
    assert_eq!(ran.code, 0, "{ran}");
    let mermaid = &ran.stdout;
    assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
    for (handle, target) in [("gold", "gold"), ("silver", "silver"), ("default", "standard")] {
        let edge = format!("n_route -->|\"{handle}\"| n_{target}");
        assert_eq!(mermaid.lines().filter(|l| l.trim() == edge).count(), 1, "`{edge}` once in\n{mermaid}");
    }
    assert_eq!(mermaid.matches("-->|").count(), 3, "only the switch's edges are labelled:\n{mermaid}");
    assert_eq!(mermaid.lines().filter(|l| l.contains("-->")).count(), 9, "one line per edge:\n{mermaid}");
    // Every node is declared with its id and kind in its label.
    for (id, kind) in [("in", "input"), ("route", "switch"), ("gold-note", "transform"), ("price", "merge")] {
        assert!(mermaid.contains(&format!("[\"{id}<br/>{kind}\"]")), "no node `{id}` in\n{mermaid}");
    }

    // The explicit flag gives the same, and a branch's handles are labelled too.
    assert_eq!(flowc(&["graph", "--format", "mermaid", &rel("valid", "switch")]).stdout, *mermaid);
    let hello = flowc(&["graph", &rel("valid", "hello")]);
    assert!(hello.stdout.contains("n_long -->|\"true\"| n_say_long"), "{hello}");
    assert!(hello.stdout.contains("n_long -->|\"false\"| n_say_short"), "{hello}");
}

/// Mermaid reserves lowercase `end` (it closes a `subgraph`): a node with that id must not
/// become a Mermaid name.
#[test]
fn graph_as_mermaid_does_not_use_reserved_words_as_names() {
    let temp = TempDir::new("mermaid-end");
    let flow = temp.join("ends.json");
    let document = json!({
        "version": 1,
        "id": "ends",
        "nodes": [
            { "id": "in", "type": "input" },
            { "id": "end", "type": "output", "config": { "name": "x", "value": "{{ in }}" } }
        ],
        "edges": [{ "source": "in", "target": "end" }]
    });
    std::fs::write(&flow, document.to_string()).unwrap();
    assert_eq!(flowc(&["check", arg(&flow)]).code, 0, "the flow is valid");
    let ran = flowc(&["graph", arg(&flow)]);
    assert_eq!(ran.code, 0, "{ran}");
    for line in ran.stdout.lines().skip(1) {
        // Outside labels (the quoted parts), no word may be `end`.
        let outside: String = line.split('"').step_by(2).collect::<Vec<_>>().join(" ");
        let words: Vec<&str> = outside.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
        assert!(!words.contains(&"end"), "`end` as a Mermaid name in `{line}`:\n{}", ran.stdout);
    }
}

#[test]
fn graph_as_dot_has_every_node() {
    let ran = flowc(&["graph", "--format", "dot", &rel("valid", "switch")]);
    assert_eq!(ran.code, 0, "{ran}");
    let dot = &ran.stdout;
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    let flow: Value = serde_json::from_str(&std::fs::read_to_string(fixture("valid", "switch")).unwrap()).unwrap();
    let nodes = flow["nodes"].as_array().unwrap();
    for node in nodes {
        let id = node["id"].as_str().unwrap();
        assert!(dot.contains(&format!("    \"{id}\" [label=")), "no node `{id}` in\n{dot}");
    }
    for edge in flow["edges"].as_array().unwrap() {
        let line = format!("\"{}\" -> \"{}\"", edge["source"].as_str().unwrap(), edge["target"].as_str().unwrap());
        assert!(dot.contains(&line), "no edge {line} in\n{dot}");
    }
    assert_eq!(dot.matches(" -> ").count(), 9, "{dot}");
    assert!(dot.contains("\"route\" -> \"gold\" [label=\"gold\"];"), "{dot}");
}

#[test]
fn graph_of_an_invalid_flow_reports_it() {
    let ran = flowc(&["graph", &rel("invalid", SEVERAL_MISTAKES)]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stdout.is_empty(), "{ran}");
    assert!(ran.stderr.contains("error[E009]"), "{ran}");
}

#[test]
fn schema_describes_flow_documents() {
    let ran = flowc(&["schema"]);
    assert_eq!(ran.code, 0, "{ran}");
    let schema = ran.json();
    let kinds: Vec<&str> = schema
        .pointer("/properties/nodes/items/properties/type/enum")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no node kind enum in {schema:#}"))
        .iter()
        .map(|k| k.as_str().expect("a kind is a string"))
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "agent",
            "apify_actor",
            "branch",
            "classify",
            "code",
            "delay",
            "firecrawl_scrape",
            "http_request",
            "huggingface_inference",
            "input",
            "knowledge_base",
            "llm",
            "map",
            "mcp_tool",
            "merge",
            "output",
            "schedule",
            "switch",
            "transform",
            "web_search",
            "webhook"
        ],
        "{kinds:?}"
    );
    // A field with variants (an MCP server) is a oneOf keyed by its tag.
    let mcp = schema["properties"]["nodes"]["items"]["allOf"]
        .as_array()
        .and_then(|all| all.iter().find(|k| k["if"]["properties"]["type"]["const"] == "mcp_tool"))
        .expect("the mcp_tool config schema");
    let server = &mcp["then"]["properties"]["config"]["properties"]["server"]["oneOf"];
    assert_eq!(server[0]["properties"]["transport"], json!({"const": "stdio"}), "{server:#}");
    assert_eq!(server[0]["required"], json!(["transport", "command"]));
    assert_eq!(server[1]["properties"]["transport"], json!({"const": "http"}));
    assert_eq!(server[1]["required"], json!(["transport", "url"]));
    let required: Vec<&str> =
        schema["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
    for field in ["version", "id", "nodes"] {
        assert!(required.contains(&field), "`{field}` not required: {required:?}");
    }
    assert_eq!(schema["type"], "object");

    // Every node kind the valid fixtures use is in the schema.
    for entry in std::fs::read_dir(root().join("fixtures/valid")).unwrap() {
        let path = entry.unwrap().path();
        let flow: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for node in flow["nodes"].as_array().unwrap() {
            let kind = node["type"].as_str().unwrap();
            assert!(kinds.contains(&kind), "{}: kind `{kind}` not in the schema", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------
// flowc run, flowc build (release builds in target/flows/cli-cache)
// ---------------------------------------------------------------------------------------

#[test]
fn run_builds_and_runs_the_flow() {
    let (_turn, cache) = cli_cache();
    let hello = rel("valid", "hello");
    let ran = flowc_env(&["run", &hello, "--input-json", r#"{"name":"Ada"}"#], &[("FLOWC_CACHE_DIR", &cache)]);
    assert_eq!(ran.code, 0, "{ran}");
    let result = ran.json();
    assert_eq!(result["flow"], "hello", "{result:#}");
    assert_eq!(result["status"], "success", "{result:#}");
    assert_eq!(result["outputs"], json!({"verdict": "a short name", "greeting": "Hello, Ada!"}), "{result:#}");
    assert_eq!(result["nodes"]["in"]["data"], json!({"name": "Ada", "excited": false}), "{result:#}");
    assert!(cache.join("projects/hello/Cargo.toml").is_file(), "the project is kept in the cache");

    // Input that does not match the input schema: exit 2, and nothing on stdout.
    let ran = flowc_env(&["run", &hello, "--input-json", r#"{"name": 1}"#], &[("FLOWC_CACHE_DIR", &cache)]);
    assert_eq!(ran.code, 2, "{ran}");
    assert!(ran.stderr.contains("/name"), "the error names the field:\n{ran}");
    assert!(ran.stdout.trim().is_empty(), "{ran}");

    // Input from a file, with progress events as JSON lines on stderr.
    let temp = TempDir::new("run-input");
    let input = temp.join("input.json");
    std::fs::write(&input, r#"{"name": "Ada Lovelace", "excited": true}"#).unwrap();
    let ran = flowc_env(&["run", &hello, "--input", arg(&input), "--events"], &[("FLOWC_CACHE_DIR", &cache)]);
    assert_eq!(ran.code, 0, "{ran}");
    let result = ran.json();
    assert_eq!(result["outputs"]["verdict"], "a long name", "{result:#}");
    assert_eq!(result["nodes"]["greeting"]["data"]["excited"], true, "{result:#}");
    // Events are the JSON lines (flowc itself may add a line of its own, which is not JSON).
    let events: Vec<Value> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON event ({e}): {l}\n{ran}")))
        .collect();
    assert_eq!(events.first().map(|e| &e["event"]), Some(&json!("flow_start")), "{ran}");
    assert!(events.iter().any(|e| e["event"] == "node_start" && e["node"] == "greeting"), "{ran}");
}

#[test]
fn build_prints_the_binary_path() {
    let (_turn, cache) = cli_cache();
    let ran = flowc_env(&["build", &rel("valid", "hello")], &[("FLOWC_CACHE_DIR", &cache)]);
    assert_eq!(ran.code, 0, "{ran}");
    let printed = ran.stdout.trim_end();
    assert_eq!(printed.lines().count(), 1, "one line, the path:\n{ran}");
    let binary = PathBuf::from(printed);
    assert!(binary.is_absolute(), "{ran}");
    assert!(binary.starts_with(&cache), "the binary is in the cache: {ran}");
    assert!(binary.is_file(), "{} does not exist", binary.display());

    // It is the flow's program.
    let output = Command::new(&binary).arg("describe").stdin(Stdio::null()).output().unwrap();
    let described = Ran::from(output);
    assert_eq!(described.code, 0, "{described}");
    assert_eq!(described.json()["id"], "hello", "{described}");

    // An invalid flow is not built.
    let ran = flowc_env(&["build", &rel("invalid", SEVERAL_MISTAKES)], &[("FLOWC_CACHE_DIR", &cache)]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stdout.is_empty(), "{ran}");
    assert!(ran.stderr.contains("error[E019]"), "{ran}");
}
