//! The `flowc` command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::{Parser, Subcommand, ValueEnum};

// Compiling a large flow allocates millions of small token and syntax-tree nodes; mimalloc
// makes that markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "flowc", version, about = "Compiles flow documents into standalone Rust programs")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check a flow document and report every problem.
    Check {
        flow: PathBuf,
        #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
        format: DiagFormat,
    },
    /// Write the generated Cargo project to a folder.
    Compile {
        flow: PathBuf,
        /// The folder to write the project to.
        #[arg(short, long)]
        output: PathBuf,
        /// Depend on the runtime at this path instead of vendoring it.
        #[arg(long, value_name = "DIR")]
        runtime_path: Option<PathBuf>,
    },
    /// Compile and build a release binary; prints its path.
    Build {
        flow: PathBuf,
        /// Keep the generated project in this folder (default: in the cache).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Build the flow if needed, then run it once.
    Run {
        flow: PathBuf,
        #[command(flatten)]
        args: flowc_runtime::cli::RunArgs,
    },
    /// Print the flow's graph.
    Graph {
        flow: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Print the JSON Schema of flow documents.
    Schema,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DiagFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

/// Exit codes: 1 for an invalid flow or a failed build, 2 for an unreadable file or bad use.
const INVALID: u8 = 1;
const UNREADABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Check { flow, format } => {
            let Some(text) = read(&flow) else { return ExitCode::from(UNREADABLE) };
            let name = flow.display().to_string();
            let result = flowc::check(&name, &text);
            match (format, result) {
                (DiagFormat::Human, Ok(summary)) => {
                    println!(
                        "{name}: flow `{}` is valid ({} nodes, {} edges)",
                        summary.id, summary.nodes, summary.edges
                    );
                    ExitCode::SUCCESS
                }
                (DiagFormat::Human, Err(diagnostics)) => {
                    eprint!("{}", diagnostics.render());
                    ExitCode::from(INVALID)
                }
                (DiagFormat::Json, Ok(_)) => {
                    println!("{}", serde_json::json!({"file": name, "valid": true, "diagnostics": []}));
                    ExitCode::SUCCESS
                }
                (DiagFormat::Json, Err(diagnostics)) => {
                    println!("{}", diagnostics.to_json());
                    ExitCode::from(INVALID)
                }
            }
        }
        Cmd::Compile { flow, output, runtime_path } => {
            let runtime = match runtime_path {
                Some(path) => flowc::RuntimeSource::Path(absolute(&path)),
                None => flowc::RuntimeSource::Vendored,
            };
            let project = match compile(&flow, runtime) {
                Ok(project) => project,
                Err(code) => return ExitCode::from(code),
            };
            if let Err(error) = project.write_to(&output) {
                eprintln!("error: cannot write {}: {error}", output.display());
                return ExitCode::from(UNREADABLE);
            }
            eprintln!("wrote the project of flow `{}` to {}", project.id, output.display());
            ExitCode::SUCCESS
        }
        Cmd::Build { flow, output } => match build(&flow, output.as_deref()) {
            Ok(binary) => {
                println!("{}", binary.display());
                ExitCode::SUCCESS
            }
            Err(code) => ExitCode::from(code),
        },
        Cmd::Run { flow, args } => {
            let binary = match build(&flow, None) {
                Ok(binary) => binary,
                Err(code) => return ExitCode::from(code),
            };
            let mut command = Command::new(&binary);
            command.arg("run").args(args.to_args());
            match command.status() {
                Ok(status) => ExitCode::from(status.code().unwrap_or(1) as u8),
                Err(error) => {
                    eprintln!("error: cannot run {}: {error}", binary.display());
                    ExitCode::from(UNREADABLE)
                }
            }
        }
        Cmd::Graph { flow, format } => {
            let Some(text) = read(&flow) else { return ExitCode::from(UNREADABLE) };
            let format = match format {
                GraphFormat::Mermaid => flowc::graph::Format::Mermaid,
                GraphFormat::Dot => flowc::graph::Format::Dot,
            };
            match flowc::graph(&flow.display().to_string(), &text, format) {
                Ok(graph) => {
                    print!("{graph}");
                    ExitCode::SUCCESS
                }
                Err(diagnostics) => {
                    eprint!("{}", diagnostics.render());
                    ExitCode::from(INVALID)
                }
            }
        }
        Cmd::Schema => {
            println!("{}", serde_json::to_string_pretty(&flowc::schema::flow_schema()).unwrap_or_default());
            ExitCode::SUCCESS
        }
    }
}

fn read(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", path.display());
            None
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Reads and compiles a flow; the error is the exit code (2 unreadable, 1 invalid).
fn compile(flow: &Path, runtime: flowc::RuntimeSource) -> Result<flowc::Project, u8> {
    let text = read(flow).ok_or(UNREADABLE)?;
    flowc::compile(&flow.display().to_string(), &text, &flowc::Options { runtime }).map_err(|diagnostics| {
        eprint!("{}", diagnostics.render());
        INVALID
    })
}

/// `$FLOWC_CACHE_DIR`, or flowc's folder in the user's cache folder.
fn cache_dir() -> PathBuf {
    std::env::var_os("FLOWC_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("flowc")))
        .unwrap_or_else(|| std::env::temp_dir().join("flowc-cache"))
}

/// Generates the project and builds it in release mode, with one target folder shared by
/// every flow so that dependencies are compiled once.
fn build(flow: &Path, output: Option<&Path>) -> Result<PathBuf, u8> {
    let cache = absolute(&cache_dir());
    let (dir, runtime) = match output {
        Some(dir) => (dir.to_owned(), flowc::RuntimeSource::Vendored),
        None => {
            // Projects in the cache share one copy of the runtime, so it is compiled once.
            let runtime_dir = cache.join(format!("runtime-{}", env!("CARGO_PKG_VERSION")));
            let runtime_project = compile(flow, flowc::RuntimeSource::Vendored)?;
            let mut runtime_files = runtime_project.clone();
            runtime_files.files.retain(|path, _| path.starts_with("vendor/flowc-runtime"));
            runtime_files.files = runtime_files
                .files
                .into_iter()
                .filter_map(|(path, text)| Some((path.strip_prefix("vendor/flowc-runtime").ok()?.to_owned(), text)))
                .collect();
            if let Err(error) = runtime_files.write_to(&runtime_dir) {
                eprintln!("error: cannot write {}: {error}", runtime_dir.display());
                return Err(UNREADABLE);
            }
            (cache.join("projects").join(&runtime_project.id), flowc::RuntimeSource::Path(runtime_dir))
        }
    };
    let project = compile(flow, runtime)?;
    if let Err(error) = project.write_to(&dir) {
        eprintln!("error: cannot write {}: {error}", dir.display());
        return Err(UNREADABLE);
    }
    let target = cache.join("target");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "--release", "--locked", "--manifest-path"]).arg(dir.join("Cargo.toml"));
    cargo.env("CARGO_TARGET_DIR", &target);
    let on_terminal = std::io::stderr().is_terminal();
    if !on_terminal {
        cargo.arg("--quiet");
    }
    let output = if on_terminal {
        cargo.status().map(|status| (status, Vec::new()))
    } else {
        cargo.stderr(Stdio::piped()).output().map(|out| (out.status, out.stderr))
    };
    match output {
        Ok((status, _)) if status.success() => Ok(target.join("release").join(&project.id)),
        Ok((_, stderr)) => {
            eprint!("{}", String::from_utf8_lossy(&stderr));
            eprintln!("error: cargo could not build the flow `{}` (project in {})", project.id, dir.display());
            Err(INVALID)
        }
        Err(error) => {
            eprintln!("error: cannot run cargo: {error}");
            Err(UNREADABLE)
        }
    }
}
