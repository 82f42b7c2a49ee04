//! The options of a generated program's `run`, which `flowc run` also takes and passes on:
//! one definition, so the two command lines cannot drift apart.

use std::path::PathBuf;

use clap::Args;

/// The options of `run` (also `flowc run`'s, which passes them on).
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Read the run input from this JSON file.
    #[arg(long, value_name = "FILE", conflicts_with = "input_json")]
    pub input: Option<PathBuf>,
    /// The run input as JSON text.
    #[arg(long, value_name = "JSON")]
    pub input_json: Option<String>,
    /// Write progress events (JSON lines) to stderr.
    #[arg(long)]
    pub events: bool,
    /// Write every failed node and every failed or unfinished map item (input, error,
    /// attempts) to this file as JSON lines; an empty file when nothing failed.
    #[arg(long, value_name = "FILE")]
    pub dead_letter: Option<PathBuf>,
    /// Run again what a dead-letter file records: the same run input, and for each map only
    /// the recorded items.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["input", "input_json"])]
    pub replay: Option<PathBuf>,
}

impl RunArgs {
    /// The same options as command-line arguments.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        if let Some(path) = &self.input {
            args.extend(["--input".into(), path.clone().into_os_string()]);
        }
        if let Some(json) = &self.input_json {
            args.extend(["--input-json".into(), json.into()]);
        }
        if self.events {
            args.push("--events".into());
        }
        if let Some(path) = &self.dead_letter {
            args.extend(["--dead-letter".into(), path.clone().into_os_string()]);
        }
        if let Some(path) = &self.replay {
            args.extend(["--replay".into(), path.clone().into_os_string()]);
        }
        args
    }
}
