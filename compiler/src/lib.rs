//! flowc compiles flow documents — JSON workflows of nodes and edges, as visual flow
//! builders save them — into standalone Rust programs that link the `flowc-runtime` crate.
//!
//! ```no_run
//! let text = std::fs::read_to_string("flow.json").unwrap();
//! match flowc::compile("flow.json", &text, &flowc::Options::default()) {
//!     Ok(project) => project.write_to("out".as_ref()).unwrap(),
//!     Err(diagnostics) => eprintln!("{diagnostics}"),
//! }
//! ```

pub mod bundle;
mod check;
pub mod deploy;
pub(crate) mod describe;
pub mod diag;
mod emit;
mod escape;
pub mod graph;
mod ident;
pub mod image;
pub mod import;
mod ir;
pub mod items;
mod jq_types;
mod model;
mod nodes;
mod project;
pub mod schema;
mod source;
mod template;
mod types;

pub use diag::{Diagnostic, Diagnostics};
pub use project::{Options, Project, RuntimeSource};

/// The text of a flow document read as bytes: a document that is not UTF-8 is an E001
/// diagnostic at the first byte that is not, like any other document that is not JSON.
pub fn decode(file: &str, bytes: Vec<u8>) -> Result<String, Diagnostics> {
    String::from_utf8(bytes).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        let bytes = error.as_bytes();
        let bad: Vec<String> = bytes[at..]
            .iter()
            .take(error.utf8_error().error_len().unwrap_or(bytes.len() - at).max(1))
            .map(|b| format!("0x{b:02X}"))
            .collect();
        let text = String::from_utf8_lossy(bytes);
        let d = Diagnostic::new(
            diag::Code::E001,
            "",
            format!("the file is not UTF-8: at byte offset {at}, {} is not a UTF-8 character", bad.join(" ")),
        )
        .help("flow documents are JSON in UTF-8: save the file as UTF-8 (without a byte-order mark)")
        // The lossy text has the same bytes up to `at`, then U+FFFD for the bad ones.
        .at_range(source::Range { start: at, end: at + '\u{fffd}'.len_utf8() });
        Diagnostics::new(file, &text, None, vec![d])
    })
}

/// The flowc document to compile, and the name its diagnostics give it: `text` itself, or for
/// another tool's document (CoconutFlow) its translation. Every entry point below takes either.
pub(crate) fn translated<'t>(file: &str, text: &'t str) -> Result<(String, std::borrow::Cow<'t, str>), Diagnostics> {
    Ok(match import::import(file, text)? {
        Some(imported) => (format!("{file} (translated from {})", imported.dialect), imported.text.into()),
        None => (file.to_owned(), text.into()),
    })
}

/// Checks the document `text` of `file` (translated when it is another tool's): the name its
/// diagnostics give it, the text checked, and the IR. The documents it names (flow tools) are
/// found next to `file`.
fn checked<'t>(file: &str, text: &'t str) -> Result<(String, std::borrow::Cow<'t, str>, ir::Ir), Diagnostics> {
    let origin = check::Origin::of_file(file);
    let (file, text) = translated(file, text)?;
    if is_item_flow(&text) {
        let d = Diagnostic::new(
            diag::Code::E010,
            "/items",
            "this command does not take item flows (imported n8n workflows) in this version of flowc",
        )
        .help("item flows are checked, compiled, built and run (`flowc check|compile|build|run`)");
        return Err(Diagnostics::new(&file, &text, None, vec![d]));
    }
    let ir = check::check(&file, &text, &origin)?;
    Ok((file, text, ir))
}

/// Whether `text` is an item flow document (what the n8n importer writes).
fn is_item_flow(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|value| items::is_item_flow(&value))
}

/// What a document checks into: a flow, or an item flow.
enum Checked {
    Flow(Box<ir::Ir>),
    Items(items::ItemIr),
}

fn checked_any<'t>(file: &str, text: &'t str) -> Result<(String, std::borrow::Cow<'t, str>, Checked), Diagnostics> {
    let (name, translated_text) = translated(file, text)?;
    if is_item_flow(&translated_text) {
        let ir = items::check(&name, &translated_text)?;
        return Ok((name, translated_text, Checked::Items(ir)));
    }
    let (name, text, ir) = checked(file, text)?;
    Ok((name, text, Checked::Flow(Box::new(ir))))
}

/// Checks a flow document: `Ok` with a summary when it is valid, every problem otherwise.
pub fn check(file: &str, text: &str) -> Result<Summary, Diagnostics> {
    checked_any(file, text).map(|(_, _, checked)| match checked {
        Checked::Flow(ir) => Summary::of(&ir),
        Checked::Items(ir) => Summary { id: ir.id.clone(), nodes: ir.nodes.len(), edges: ir.edges.len() },
    })
}

/// Compiles a flow document into the files of a Cargo project.
pub fn compile(file: &str, text: &str, options: &Options) -> Result<Project, Diagnostics> {
    let (file, text, checked) = checked_any(file, text)?;
    match checked {
        Checked::Flow(ir) => project::generate(&ir, options),
        Checked::Items(ir) => project::generate_items(&ir, options),
    }
    .map_err(|error| error.into_diagnostics(&file, &text))
}

/// What a valid flow is made of, with each node's output type: as text, and as JSON.
pub fn describe(file: &str, text: &str) -> Result<(String, serde_json::Value), Diagnostics> {
    let (_, _, ir) = checked(file, text)?;
    Ok((describe::text(&ir), describe::json(&ir)))
}

/// The graph of a valid flow, as Mermaid or Graphviz text.
pub fn graph(file: &str, text: &str, format: graph::Format) -> Result<String, Diagnostics> {
    let (_, _, ir) = checked(file, text)?;
    Ok(graph::render(&ir, format))
}

/// The Kubernetes manifests of a flow, for the workload [`deploy::workload`] chooses.
pub fn k8s(file: &str, text: &str, options: &deploy::Options) -> Result<deploy::Manifests, Diagnostics> {
    let (_, text, ir) = checked(file, text)?;
    let workload = deploy::workload(&ir, options.serve);
    Ok(k8s_manifests(&ir, &text, &workload, options))
}

/// The Kubernetes manifests of a flow for a given workload (whatever the flow's kinds say).
pub fn k8s_with_workload(
    file: &str,
    text: &str,
    workload: &deploy::Workload,
    options: &deploy::Options,
) -> Result<deploy::Manifests, Diagnostics> {
    let (_, text, ir) = checked(file, text)?;
    Ok(k8s_manifests(&ir, &text, workload, options))
}

fn k8s_manifests(ir: &ir::Ir, text: &str, workload: &deploy::Workload, options: &deploy::Options) -> deploy::Manifests {
    let sha = image::sha256_hex(text.as_bytes());
    deploy::render(&deploy::Flow::of(ir, &sha), workload, options)
}

/// What `flowc image` must bundle for the flow's stdio MCP servers.
pub fn image_plan(file: &str, text: &str, includes: &[bundle::Include]) -> Result<bundle::Plan, Diagnostics> {
    let (file, text, ir) = checked(file, text)?;
    bundle::plan(&ir, &file, &text, includes)
}

/// What a valid flow holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub nodes: usize,
    pub edges: usize,
}

impl Summary {
    fn of(ir: &ir::Ir) -> Summary {
        Summary { id: ir.id.clone(), nodes: ir.nodes().len(), edges: ir.edges().len() }
    }
}

/// The files flowc vendors into generated projects, by path under `vendor/`
/// (`flowc-runtime/...`, `core/...`).
pub fn vendored_files() -> Vec<&'static str> {
    project::vendored_paths().collect()
}

/// The `Cargo.lock` flowc writes for a flow with this id.
pub fn lock_file(id: &str) -> String {
    project::lock_file(id)
}
