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
        /// Depend on the runtime at this path instead of vendoring it (the runtime finds
        /// flowc-core beside it, at `../core`, as in flowc's repository).
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
        args: flowc_core::run_args::RunArgs,
    },
    /// Print each node of the flow with the type of its output, and the type of the outputs.
    Describe {
        flow: PathBuf,
        #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
        format: DiagFormat,
    },
    /// Print the flow's graph.
    Graph {
        flow: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Build a static binary and write an OCI image of it (no Docker daemon needed).
    Image {
        flow: PathBuf,
        /// The folder to write the OCI image layout to: one image, tagged `latest`
        /// (`oci:DIR` or `oci:DIR:latest`).
        #[arg(short, long)]
        output: PathBuf,
        /// Also write the image as one archive that `docker load` and `podman load` read;
        /// `docker load` tags it `latest` and with the first 12 hex digits of the flow
        /// document's SHA-256.
        #[arg(long, value_name = "FILE")]
        tar: Option<PathBuf>,
        /// Put the file PATH into the image at DEST (absolute): for a stdio MCP server's
        /// program that is not `node` or `npx`, named by DEST in the flow's `command`.
        #[arg(long, value_name = "PATH:DEST")]
        include: Vec<String>,
    },
    /// Write deployment manifests.
    Deploy {
        #[command(subcommand)]
        target: DeployTarget,
    },
    /// Print the JSON Schema of flow documents.
    Schema,
    /// Translate another tool's flow document (CoconutFlow, n8n) into a flowc document. The other
    /// commands take such documents as they are; this shows what they compile.
    Import {
        /// The document to translate (with `--report`: the folder of documents).
        flow: PathBuf,
        /// Where to write the flowc document (default: standard output).
        #[arg(short, long, conflicts_with = "report")]
        output: Option<PathBuf>,
        /// Import, check and build every workflow under the folder FLOW, and print a table:
        /// how many compile, and for the rest the first cause, grouped by node type.
        #[arg(long)]
        report: bool,
        /// With `--report`: check without building.
        #[arg(long, requires = "report")]
        no_build: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DeployTarget {
    /// Kubernetes: a Deployment and a Service (`--serve`), or a Job that runs the flow once.
    K8s {
        flow: PathBuf,
        /// The folder to write the manifests to (one file per object).
        #[arg(short, long)]
        output: PathBuf,
        /// The image reference (default: `<id>:latest`, as `flowc image` names it).
        #[arg(long, value_name = "REF")]
        image: Option<String>,
        /// Serve the flow over HTTP (`<bin> serve`) instead of running it once.
        #[arg(long)]
        serve: bool,
    },
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
    // The checker's parsers (serde, syn, jaq) recurse; the nesting limits keep documents within
    // a normal stack, and a thread with a large one is the backstop for what they do not see.
    // (Only touched pages of the stack take memory.)
    const STACK: usize = 512 * 1024 * 1024;
    match std::thread::Builder::new().name("flowc".into()).stack_size(STACK).spawn(run_cli) {
        Ok(thread) => thread.join().unwrap_or(ExitCode::from(UNREADABLE)),
        Err(_) => run_cli(),
    }
}

fn run_cli() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Check { flow, format } => {
            let name = flow.display().to_string();
            let result = match read(&flow) {
                Ok(text) => flowc::check(&name, &text),
                Err(Unread::Io) => return ExitCode::from(UNREADABLE),
                Err(Unread::Encoding(diagnostics)) => Err(diagnostics),
            };
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
        Cmd::Build { flow, output } => match build(&flow, output.as_deref(), None) {
            Ok(binary) => {
                println!("{}", binary.display());
                ExitCode::SUCCESS
            }
            Err(code) => ExitCode::from(code),
        },
        Cmd::Run { flow, args } => {
            let binary = match build(&flow, None, None) {
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
        Cmd::Describe { flow, format } => {
            let text = match read_or_report(&flow) {
                Ok(text) => text,
                Err(code) => return ExitCode::from(code),
            };
            match flowc::describe(&flow.display().to_string(), &text) {
                Ok((human, json)) => {
                    match format {
                        DiagFormat::Human => print!("{human}"),
                        DiagFormat::Json => println!("{json}"),
                    }
                    ExitCode::SUCCESS
                }
                Err(diagnostics) => {
                    eprint!("{}", diagnostics.render());
                    ExitCode::from(INVALID)
                }
            }
        }
        Cmd::Graph { flow, format } => {
            let text = match read_or_report(&flow) {
                Ok(text) => text,
                Err(code) => return ExitCode::from(code),
            };
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
        Cmd::Image { flow, output, tar, include } => match image(&flow, &output, tar.as_deref(), &include) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => ExitCode::from(code),
        },
        Cmd::Deploy { target: DeployTarget::K8s { flow, output, image, serve } } => {
            let text = match read_or_report(&flow) {
                Ok(text) => text,
                Err(code) => return ExitCode::from(code),
            };
            let options = flowc::deploy::Options { image, serve };
            let manifests = match flowc::k8s(&flow.display().to_string(), &text, &options) {
                Ok(manifests) => manifests,
                Err(diagnostics) => {
                    eprint!("{}", diagnostics.render());
                    return ExitCode::from(INVALID);
                }
            };
            if let Err(error) = manifests.write_to(&output) {
                eprintln!("error: cannot write {}: {error}", output.display());
                return ExitCode::from(UNREADABLE);
            }
            for file in manifests.files.keys() {
                println!("{}", output.join(file).display());
            }
            if let Some(secret) = &manifests.secret {
                let literals: Vec<String> =
                    manifests.secret_keys.iter().map(|(_, key)| format!("--from-literal={key}=...")).collect();
                eprintln!(
                    "the pods read the flow's credentials from the Secret `{secret}`; create it first:\n  kubectl create secret generic {secret} {}",
                    literals.join(" ")
                );
            }
            if let Some((config_map, required)) = &manifests.parameters {
                if required.is_empty() {
                    eprintln!("the pods read the flow's parameters from the ConfigMap `{config_map}` (parameters.yaml: their defaults; change them there)");
                } else {
                    eprintln!(
                        "the pods read the flow's parameters from the ConfigMap `{config_map}`: set {} in parameters.yaml first (the program refuses to start without them)",
                        required.join(", ")
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Cmd::Schema => {
            println!("{}", serde_json::to_string_pretty(&flowc::schema::flow_schema()).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Cmd::Import { flow, report: true, no_build, .. } => report(&flow, !no_build),
        Cmd::Import { flow, output, .. } => import(&flow, output.as_deref()),
    }
}

/// `flowc import`: the translation, written out, and checked like any flowc document.
fn import(flow: &Path, output: Option<&Path>) -> ExitCode {
    let name = flow.display().to_string();
    let text = match read(flow) {
        Ok(text) => text,
        Err(Unread::Io) => return ExitCode::from(UNREADABLE),
        Err(Unread::Encoding(diagnostics)) => {
            eprint!("{}", diagnostics.render());
            return ExitCode::from(INVALID);
        }
    };
    let imported = match flowc::import::import(&name, &text) {
        Ok(Some(imported)) => imported,
        Ok(None) => {
            eprintln!("error: {name} is not a document of a tool flowc imports (CoconutFlow): a flowc document needs no import");
            return ExitCode::from(INVALID);
        }
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render());
            return ExitCode::from(INVALID);
        }
    };
    match output {
        Some(path) => {
            if let Err(error) = std::fs::write(path, &imported.text) {
                eprintln!("error: cannot write {}: {error}", path.display());
                return ExitCode::from(UNREADABLE);
            }
            eprintln!("wrote the flowc document translated from {} ({name}) to {}", imported.dialect, path.display());
        }
        None => print!("{}", imported.text),
    }
    for note in &imported.notes {
        eprintln!("note: {note}");
    }
    // The translation must be a valid document; should it not be, say so against it.
    let translated = format!("{name} (translated from {})", imported.dialect);
    match flowc::check(&translated, &imported.text) {
        Ok(_) => ExitCode::SUCCESS,
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render());
            ExitCode::from(INVALID)
        }
    }
}

/// `flowc import --report DIR`: every workflow under `dir` (`*.json`, recursively) imported,
/// checked and built; a table of how many compile, and of the first cause of the others by the
/// node type it is at.
fn report(dir: &Path, build_them: bool) -> ExitCode {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(at) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            eprintln!("error: cannot read the folder {}", at.display());
            return ExitCode::from(UNREADABLE);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // The entry's own type, not its target's: a link to a folder above would have the
            // walk go round for ever.
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind) if kind.is_file() && path.extension().is_some_and(|e| e == "json") => files.push(path),
                _ => {}
            }
        }
    }
    files.sort();
    // The first cause of each workflow that does not compile, by node type.
    let mut causes: std::collections::BTreeMap<String, (usize, String)> = Default::default();
    let (mut workflows, mut compiled, mut others) = (0, 0, 0);
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        let name = path.display().to_string();
        if flowc::import::dialect(&text).is_none() {
            others += 1;
            continue;
        }
        workflows += 1;
        let failed = match flowc::check(&name, &text) {
            Err(diagnostics) => diagnostics.items().first().cloned(),
            Ok(_) if !build_them => None,
            Ok(_) => match build(path, None, None) {
                Ok(_) => None,
                Err(_) => Some(flowc::Diagnostic::new(
                    flowc::diag::Code::E002,
                    "",
                    "the generated program did not build (a bug in flowc)",
                )),
            },
        };
        match failed {
            None => {
                compiled += 1;
                println!("ok      {name}");
            }
            Some(d) => {
                let kind = node_type_at(&text, &d.pointer);
                println!("failed  {name}: {} {}", d.code.as_str(), d.message);
                let entry = causes.entry(kind).or_insert((0, format!("{}: {}", d.code.as_str(), d.message)));
                entry.0 += 1;
            }
        }
    }
    println!();
    let percent = if workflows == 0 { 0.0 } else { 100.0 * compiled as f64 / workflows as f64 };
    let verb = if build_them { "check and build" } else { "check" };
    println!("{compiled} of {workflows} workflows {verb} ({percent:.1}%); {others} other JSON files skipped");
    if !causes.is_empty() {
        let mut rows: Vec<_> = causes.into_iter().collect();
        rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
        println!();
        println!("| first cause at | workflows | for example |");
        println!("|---|---:|---|");
        for (kind, (count, example)) in rows {
            println!("| {kind} | {count} | {} |", example.replace('|', "\\|").replace('\n', " "));
        }
    }
    ExitCode::SUCCESS
}

/// The `type` of the node a diagnostic's pointer is in (`/nodes/3/...`), or what else it is at.
fn node_type_at(text: &str, pointer: &str) -> String {
    let index =
        pointer.strip_prefix("/nodes/").and_then(|rest| rest.split('/').next()).and_then(|i| i.parse::<usize>().ok());
    let doc: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    match index.and_then(|i| doc["nodes"][i]["type"].as_str()) {
        Some(kind) => kind.to_owned(),
        None if pointer.starts_with("/connections") => "(connections)".to_owned(),
        None => "(workflow)".to_owned(),
    }
}

/// Why a flow document could not be read.
enum Unread {
    /// The file cannot be read at all (exit 2).
    Io,
    /// It is not UTF-8: a diagnostic like any other invalid document's (exit 1).
    Encoding(flowc::Diagnostics),
}

/// Reads a flow document (another tool's, such as CoconutFlow's, is translated by the library
/// functions that take it).
fn read(path: &Path) -> Result<String, Unread> {
    let bytes = std::fs::read(path).map_err(|error| {
        eprintln!("error: cannot read {}: {error}", path.display());
        Unread::Io
    })?;
    flowc::decode(&path.display().to_string(), bytes).map_err(Unread::Encoding)
}

/// Reads a flow document for a command that prints human diagnostics: `Err` is the exit code.
fn read_or_report(path: &Path) -> Result<String, u8> {
    read(path).map_err(|unread| match unread {
        Unread::Io => UNREADABLE,
        Unread::Encoding(diagnostics) => {
            eprint!("{}", diagnostics.render());
            INVALID
        }
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Reads and compiles a flow; the error is the exit code (2 unreadable, 1 invalid).
fn compile(flow: &Path, runtime: flowc::RuntimeSource) -> Result<flowc::Project, u8> {
    let text = read_or_report(flow)?;
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

/// The target of `flowc image`: a static binary that needs nothing from the image.
const MUSL: &str = "x86_64-unknown-linux-musl";

/// Generates the project and builds it in release mode, with one target folder shared by
/// every flow so that dependencies are compiled once; for `target`, a cross build.
fn build(flow: &Path, output: Option<&Path>, target: Option<&str>) -> Result<PathBuf, u8> {
    let cache = absolute(&cache_dir());
    let (dir, runtime) = match output {
        Some(dir) => (dir.to_owned(), flowc::RuntimeSource::Vendored),
        None => {
            // Projects in the cache share one copy of the vendored crates (the runtime and
            // flowc-core beside it), so they are compiled once.
            let vendor_dir = cache.join(format!("vendor-{}", env!("CARGO_PKG_VERSION")));
            let runtime_project = compile(flow, flowc::RuntimeSource::Vendored)?;
            let mut vendored = runtime_project.clone();
            vendored.files = vendored
                .files
                .into_iter()
                .filter_map(|(path, text)| Some((path.strip_prefix("vendor").ok()?.to_owned(), text)))
                .collect();
            if let Err(error) = vendored.write_to(&vendor_dir) {
                eprintln!("error: cannot write {}: {error}", vendor_dir.display());
                return Err(UNREADABLE);
            }
            let runtime_dir = vendor_dir.join("flowc-runtime");
            (cache.join("projects").join(&runtime_project.id), flowc::RuntimeSource::Path(runtime_dir))
        }
    };
    let project = compile(flow, runtime)?;
    if let Err(error) = project.write_to(&dir) {
        eprintln!("error: cannot write {}: {error}", dir.display());
        return Err(UNREADABLE);
    }
    let target_dir = cache.join("target");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "--release", "--locked", "--manifest-path"]).arg(dir.join("Cargo.toml"));
    cargo.env("CARGO_TARGET_DIR", &target_dir);
    // SOURCE_DATE_EPOCH dates the image, not the binary: ring's build script (through cc)
    // watches it, so passing it on would rebuild ring and most crates on top whenever it changes.
    cargo.env_remove("SOURCE_DATE_EPOCH");
    if let Some(triple) = target {
        cargo.args(["--target", triple]);
        // ring compiles C: with musl-tools installed, musl-gcc builds it against musl's headers.
        let cc_var = format!("CC_{}", triple.replace('-', "_"));
        if std::env::var_os(&cc_var).is_none() && on_path("musl-gcc") {
            cargo.env(cc_var, "musl-gcc");
        }
    }
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
        Ok((status, _)) if status.success() => {
            let out = match target {
                Some(triple) => target_dir.join(triple),
                None => target_dir,
            };
            Ok(out.join("release").join(&project.id))
        }
        Ok((_, stderr)) => {
            let stderr = String::from_utf8_lossy(&stderr);
            eprint!("{stderr}");
            if let Some(triple) = target {
                if stderr.contains("target may not be installed") || stderr.contains("can't find crate for `std`") {
                    eprintln!("help: install the target with `rustup target add {triple}`");
                } else if !on_path("musl-gcc") {
                    eprintln!(
                        "help: C code (ring) needs a musl C compiler: install musl-tools (apt-get install musl-tools)"
                    );
                }
            }
            eprintln!("error: cargo could not build the flow `{}` (project in {})", project.id, dir.display());
            Err(INVALID)
        }
        Err(error) => {
            eprintln!("error: cannot run cargo: {error}");
            Err(UNREADABLE)
        }
    }
}

/// Whether an executable of this name is on `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// Where the image takes its CA certificates from: the build machine's bundle (Debian's
/// `ca-certificates` package and others put it there).
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `flowc image`: a static release build, then an OCI layout (and archive) of it.
fn image(flow: &Path, output: &Path, tar: Option<&Path>, include: &[String]) -> Result<(), u8> {
    let flow_bytes = std::fs::read(flow).map_err(|error| {
        eprintln!("error: cannot read {}: {error}", flow.display());
        UNREADABLE
    })?;
    if let Err(error) = flowc::image::check_layout_dir(output) {
        eprintln!("error: {error}");
        return Err(UNREADABLE);
    }
    let includes =
        include.iter().map(|text| flowc::bundle::Include::parse(text)).collect::<Result<Vec<_>, _>>().map_err(
            |error| {
                eprintln!("error: --include {error}");
                UNREADABLE
            },
        )?;
    // Before the build: a server the image cannot carry is a diagnostic in the document.
    let text = read_or_report(flow)?;
    let plan = flowc::image_plan(&flow.display().to_string(), &text, &includes).map_err(|diagnostics| {
        eprint!("{}", diagnostics.render());
        INVALID
    })?;
    let started = std::time::Instant::now();
    let mut files = Vec::new();
    let mut path = Vec::new();
    if plan.needs_node() {
        let installed = flowc::bundle::install(&plan, &absolute(&cache_dir()).join("image-npm")).map_err(|error| {
            eprintln!("error: {error}");
            UNREADABLE
        })?;
        let pinned: Vec<String> =
            installed.packages.iter().map(|(name, version)| format!("{name}@{version}")).collect();
        eprintln!("bundling for the flow's MCP servers: {}", pinned.join(", "));
        files = installed.files;
        path = vec![format!("/{}", flowc::bundle::SHIM_BIN), format!("/{}", flowc::bundle::NODE_BIN)];
    }
    for include in &includes {
        use std::os::unix::fs::PermissionsExt;
        let data = std::fs::read(&include.source).map_err(|error| {
            eprintln!("error: --include: cannot read {}: {error}", include.source.display());
            UNREADABLE
        })?;
        let executable =
            std::fs::metadata(&include.source).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
        let mode = if executable { 0o755 } else { 0o644 };
        files.push(flowc::image::File { path: include.dest.trim_start_matches('/').to_owned(), mode, data });
    }
    let binary_path = build(flow, None, Some(MUSL))?;
    let binary = std::fs::read(&binary_path).map_err(|error| {
        eprintln!("error: cannot read {}: {error}", binary_path.display());
        UNREADABLE
    })?;
    // The binary is named after the flow's id.
    let id = binary_path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let certificates = std::fs::read(CA_BUNDLE).ok();
    if certificates.is_none() {
        eprintln!(
            "warning: no CA certificates at {CA_BUNDLE} (install ca-certificates): the image cannot verify HTTPS servers"
        );
    }
    // SOURCE_DATE_EPOCH (reproducible-builds.org) sets the image's time; the epoch otherwise.
    let created = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map_err(|_| {
            eprintln!("error: SOURCE_DATE_EPOCH must be a number of seconds, not {value:?}");
            UNREADABLE
        })?,
        Err(_) => 0,
    };
    let image = flowc::image::Image {
        id: &id,
        binary: &binary,
        ca_certificates: certificates.as_deref(),
        flow: &flow_bytes,
        created,
        files,
        path,
    };
    let written = flowc::image::write_layout(&image, output).map_err(|error| {
        eprintln!("error: cannot write the image to {}: {error}", output.display());
        UNREADABLE
    })?;
    if let Some(file) = tar {
        flowc::image::write_archive(output, file, created).map_err(|error| {
            eprintln!("error: cannot write {}: {error}", file.display());
            UNREADABLE
        })?;
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!("{}", written.digest);
    eprintln!(
        "image of flow `{id}` in {} (tag: {}): {}, {:.1} MiB (binary {:.1} MiB){}, in {:.1} s",
        output.display(),
        written.tags[0],
        written.digest,
        mib(written.size),
        mib(binary.len() as u64),
        tar.map(|file| format!(", archive {} (tags: {})", file.display(), written.tags.join(", "))).unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
