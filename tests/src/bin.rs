//! The `flowc` binary of this checkout, for tests that run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::flows::root;

/// The `flowc` binary, built once per test process with `cargo build -p flowc`. The path comes
/// from cargo's own report, so a `CARGO_TARGET_DIR` is honoured.
pub fn flowc_bin() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .args(["build", "-p", "flowc", "--bin", "flowc", "--message-format=json-render-diagnostics"])
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .expect("run cargo build -p flowc");
        assert!(output.status.success(), "cargo build -p flowc failed:\n{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|message| message["target"]["name"] == "flowc")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| root().join("target/debug/flowc"))
    });
    assert!(binary.is_file(), "no flowc binary at {}", binary.display());
    binary.clone()
}

/// What one run of a program gave.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout as JSON; panics with both streams if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON value ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

/// `program ARGS` in the workspace root with extra environment variables; panics with a hint
/// when the program is not installed.
pub fn run_tool(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = Command::new(program);
    command.args(args).current_dir(root()).stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    match command.output() {
        Ok(output) => Ran::from(output),
        Err(error) => panic!("cannot run {} ({error}); .ci/run installs what the tests need", program.display()),
    }
}

/// `flowc ARGS` in the workspace root, with extra environment variables.
pub fn flowc(args: &[&str], env: &[(&str, &str)]) -> Ran {
    run_tool(&flowc_bin(), args, env)
}
