//! Building and running the generated programs of fixture flows.
//!
//! Every fixture is compiled with the runtime as a path dependency (this checkout's
//! `runtime/`), into `target/flows/projects/<name>`, and built with one shared target folder
//! (`target/flows/target`), so dependencies and the runtime are compiled once for all flows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// `fixtures/<group>/<name>.json`.
pub fn fixture(group: &str, name: &str) -> PathBuf {
    root().join("fixtures").join(group).join(format!("{name}.json"))
}

/// Where generated projects and their build live.
pub fn flows_dir() -> PathBuf {
    root().join("target").join("flows")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Compiles `fixtures/valid/<name>.json` into a project folder and builds it (debug); returns
/// the binary. Builds are serialised and each fixture is built once per test process.
/// Panics with cargo's output if the build fails or prints a warning.
pub fn build(name: &str) -> PathBuf {
    build_variant("valid", name, None, &[])
}

/// Like [`build`], for a document under `fixtures/<group>/`: another tool's (`coconutflow`),
/// translated as `flowc build` translates it, then compiled; or a flowc document of `tools`.
pub fn build_imported(group: &str, name: &str) -> PathBuf {
    build_variant(group, name, None, &[])
}

/// Like [`build`], for a variant of the fixture: each `(from, to)` replaces text in it, and
/// the flow id becomes `<id>-<variant>` (so the variant's binary is a program of its own).
/// For what a fixture must hold literally but a test only knows at run time, such as the port
/// of a server. A variant is built once per test process: give each set of replacements its
/// own variant name.
pub fn build_with(name: &str, variant: &str, replacements: &[(&str, &str)]) -> PathBuf {
    build_variant("valid", name, Some(variant), replacements)
}

fn build_variant(group: &str, fixture_name: &str, variant: Option<&str>, replacements: &[(&str, &str)]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let name = match variant {
        Some(variant) => format!("{fixture_name}-{variant}"),
        None if group == "valid" => fixture_name.to_owned(),
        None => format!("{group}-{fixture_name}"),
    };
    let name = name.as_str();
    if let Some(binary) = built.get(name) {
        return binary.clone();
    }
    let path = fixture(group, fixture_name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Other tools' documents are translated first (`tools` holds flowc documents whose agents
    // call the others as flow tools).
    if group == "coconutflow" || group == "n8n" {
        let imported = flowc::import::import(&path.display().to_string(), &text).unwrap_or_else(|d| panic!("{d}"));
        text = imported.unwrap_or_else(|| panic!("{} is not another tool's document", path.display())).text;
    }
    if variant.is_some() {
        let id = format!("\"id\": \"{fixture_name}\"");
        assert!(text.contains(&id), "{} does not hold {id}", path.display());
        text = text.replacen(&id, &format!("\"id\": \"{name}\""), 1);
    }
    for (from, to) in replacements {
        assert!(text.contains(from), "{} does not hold {from:?}", path.display());
        text = text.replace(from, to);
    }
    let options = flowc::Options { runtime: flowc::RuntimeSource::Path(root().join("runtime")) };
    let project = flowc::compile(&path.display().to_string(), &text, &options).unwrap_or_else(|d| panic!("{d}"));
    let dir = flows_dir().join("projects").join(name);
    project.write_to(&dir).expect("write the project");
    let binary = cargo_build(&dir, &flows_dir().join("target"), &[]);
    built.insert(name.to_owned(), binary.clone());
    binary
}

/// `cargo build --locked` of the project in `dir` with `target` as the target folder; returns
/// the binary. Panics if the build fails or warns.
pub fn cargo_build(dir: &Path, target: &Path, extra: &[&str]) -> PathBuf {
    let output = Command::new(cargo())
        .args(["build", "--locked", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args(extra)
        .env("CARGO_TARGET_DIR", target)
        // Line tables for the flow and the runtime are enough for a test's backtraces; full
        // debug info makes every generated program 90–200 MB (rmcp, axum, reqwest), its link
        // slow, and a hundred of them fill a CI machine's disk.
        .args(["--config", "profile.dev.debug=\"line-tables-only\""])
        .args(["--config", "profile.dev.package.\"*\".debug=false"])
        .args(["--config", "profile.dev.package.flowc-runtime.debug=\"line-tables-only\""])
        // Each generated program is built once per test run: incremental state only takes disk.
        .env("CARGO_INCREMENTAL", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo build of {} failed:\n{stderr}", dir.display());
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.trim_start().starts_with("warning")).collect();
    assert!(warnings.is_empty(), "the generated project {} builds with warnings:\n{stderr}", dir.display());
    let id = std::fs::read_to_string(dir.join("Cargo.toml"))
        .ok()
        .and_then(|toml| toml.lines().find_map(|l| Some(l.strip_prefix("name = \"")?.strip_suffix('"')?.to_owned())))
        .expect("the package name");
    target.join("debug").join(id)
}

/// What one run of a generated program gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    /// stdout parsed as JSON (`null` if it was not JSON).
    pub result: Value,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The envelope of a node.
    pub fn node(&self, id: &str) -> &Value {
        &self.result["nodes"][id]
    }

    pub fn status(&self) -> &str {
        self.result["status"].as_str().unwrap_or("")
    }

    /// The progress events (`--events`) of one kind, from stderr.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] == event)
            .collect()
    }
}

/// Runs `binary run --input-json <input>` with extra arguments and environment, from the
/// workspace root (where the fixtures' relative paths start).
pub fn run(binary: &Path, input: &Value, args: &[&str], env: &[(&str, &str)]) -> Run {
    let input = input.to_string();
    let mut all = vec!["--input-json", input.as_str()];
    all.extend_from_slice(args);
    run_with(binary, &all, env)
}

/// Runs `binary run <args>` (no input unless the arguments give one), from the workspace root.
pub fn run_with(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(binary);
    command.current_dir(root()).arg("run").args(args).stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("run the generated program");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    Run {
        code: output.status.code().unwrap_or(-1),
        result: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
