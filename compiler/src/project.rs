//! The generated Cargo project: `main.rs` from the emitter, the rest from tera templates, the
//! runtime vendored (or referenced by path), and a `Cargo.lock` pinned to the versions
//! flowc itself was built and tested with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::escape;
use crate::ir::Ir;
use crate::model::CredentialSource;

/// Where the generated project gets `flowc-runtime` from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RuntimeSource {
    /// A copy inside the project (`vendor/flowc-runtime`, and `vendor/core`, which it depends
    /// on): the project builds on its own.
    #[default]
    Vendored,
    /// A path dependency (for development, tests, and a shared build cache).
    Path(PathBuf),
}

/// Options of [`crate::compile`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub runtime: RuntimeSource,
}

/// The files of a generated project, by relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub files: BTreeMap<PathBuf, String>,
}

/// The files of a crate flowc vendors, as (path under `vendor/`, text), compiled into flowc.
macro_rules! vendored {
    ($dir:literal as $vendored:literal: $($file:literal),* $(,)?) => {
        &[$((concat!($vendored, "/", $file), include_str!(concat!("../../", $dir, "/", $file)))),*]
    };
}

/// The runtime crate's sources (`vendor/flowc-runtime`).
const RUNTIME_FILES: &[(&str, &str)] = vendored!("runtime" as "flowc-runtime":
    "Cargo.toml",
    "src/lib.rs",
    "src/agent.rs",
    "src/apify.rs",
    "src/breaker.rs",
    "src/classify.rs",
    "src/cli.rs",
    "src/code.rs",
    "src/credentials.rs",
    "src/deadletter.rs",
    "src/envelope.rs",
    "src/events.rs",
    "src/firecrawl.rs",
    "src/flow.rs",
    "src/guard.rs",
    "src/health.rs",
    "src/http.rs",
    "src/huggingface.rs",
    "src/inflight.rs",
    "src/item_cli.rs",
    "src/item_http.rs",
    "src/item_legacy.rs",
    "src/item_loop.rs",
    "src/item_merge.rs",
    "src/item_nodes.rs",
    "src/item_transform.rs",
    "src/items.rs",
    "src/knowledge.rs",
    "src/llm.rs",
    "src/map.rs",
    "src/mcp.rs",
    "src/mcp_server.rs",
    "src/metrics.rs",
    "src/oauth2.rs",
    "src/ratelimit.rs",
    "src/retry.rs",
    "src/scheduler.rs",
    "src/search.rs",
    "src/serve.rs",
    "src/value.rs",
    "src/webhook.rs",
);

/// The sources of flowc-core, which the runtime depends on by the path `../core`
/// (`vendor/core`).
const CORE_FILES: &[(&str, &str)] = vendored!("core" as "core":
    "Cargo.toml",
    "src/lib.rs",
    "src/error.rs",
    "src/input.rs",
    "src/jq.rs",
    "src/js.rs",
    "src/n8n.rs",
    "src/params.rs",
    "src/run_args.rs",
    "src/schedule.rs",
    "src/services.rs",
);

/// Every vendored file: its path under `vendor/` and its text.
fn vendored_files() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    RUNTIME_FILES.iter().chain(CORE_FILES)
}

/// The paths under `vendor/` of the vendored crates' files (tests check none is missing).
pub fn vendored_paths() -> impl Iterator<Item = &'static str> {
    vendored_files().map(|(path, _)| *path)
}

/// `Cargo.lock` of a generated project without its root package: every generated project
/// has the same dependencies, so only the root entry differs. `scripts/update-runtime-lock`
/// regenerates it from the workspace's own lock file; a test checks it is current.
const LOCK_TEMPLATE: &str = include_str!("../../templates/runtime.lock");

const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../templates/Cargo.toml.tera")),
    ("README.md", include_str!("../../templates/README.md.tera")),
    ("Dockerfile", include_str!("../../templates/Dockerfile.tera")),
    (".dockerignore", include_str!("../../templates/dockerignore.tera")),
    (".env.example", include_str!("../../templates/env.example.tera")),
];

/// The names of the packages a generated program depends on, directly or not.
pub fn dependency_names() -> Vec<&'static str> {
    LOCK_TEMPLATE.lines().filter_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"')).collect()
}

/// Builds every file of the project.
pub fn generate(ir: &Ir, options: &Options) -> Result<Project, crate::emit::EmitError> {
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from("src/main.rs"), crate::emit::main_rs(ir)?);
    for module in &ir.flow_modules {
        files.insert(PathBuf::from(format!("src/{}.rs", module.module)), crate::emit::module_rs(module)?);
    }

    let runtime_path = runtime_path(&mut files, options);
    // Every document string reaches the templates already escaped for where it goes (see
    // `escape`): `_md` for Markdown, `_comment` for a `#` comment line; ids need nothing (their
    // form is checked).
    let credentials: Vec<_> = ir
        .credentials
        .iter()
        // An OAuth2 credential is listed as the secrets it reads (`crm.client_secret`).
        .flat_map(|c| {
            c.source.secrets().into_iter().map(|(part, source)| {
                let name = if part.is_empty() { c.name.clone() } else { format!("{}.{part}", c.name) };
                let mut credential = json!({
                    "name_md": escape::markdown_code(&name),
                    "name_comment": escape::one_line(&name),
                });
                match source {
                    // The name's form is checked (E028): it can start a line of `.env.example`.
                    CredentialSource::Env(var) => {
                        credential["env"] = json!(var);
                        credential["env_md"] = json!(escape::markdown_code(var));
                    }
                    CredentialSource::File(path) => {
                        credential["file_md"] = json!(escape::markdown_code(path));
                        credential["file_comment"] = json!(escape::one_line(path));
                    }
                    CredentialSource::OAuth2(_) => {}
                }
                credential
            })
        })
        .collect();
    // Parameter names and variables have a checked form (E006, E028); defaults, `enum` values
    // and descriptions are document text, escaped for where they go.
    let parameters: Vec<_> = ir
        .parameters
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "env": p.env,
                "default_md": p.default.as_deref().map(escape::markdown_code),
                "default_comment": p.default.as_deref().map(escape::one_line),
                "enum_md": p.allowed.iter().map(|a| escape::markdown_code(a)).collect::<Vec<_>>().join(", "),
                "enum_comment": p.allowed.iter().map(|a| escape::one_line(a)).collect::<Vec<_>>().join(", "),
                "description_md": escape::markdown(p.description.as_deref().unwrap_or(""), false),
                "description_comment": p.description.as_deref().map(escape::one_line),
            })
        })
        .collect();
    let nodes: Vec<_> = ir
        .nodes()
        .iter()
        .map(|n| json!({"id": n.id, "kind": n.kind.as_str(), "label_md": escape::markdown(n.label.as_deref().unwrap_or(""), false)}))
        .collect();
    // What an MCP client's configuration needs to launch the program as a server: the
    // environment variables of its credentials, never their values.
    let env: serde_json::Map<String, serde_json::Value> = ir
        .credentials
        .iter()
        .flat_map(|c| {
            c.source.secrets().into_iter().filter_map(|(part, source)| match source {
                CredentialSource::Env(var) if part.is_empty() => Some((var.clone(), json!(format!("<{}>", c.name)))),
                CredentialSource::Env(var) => Some((var.clone(), json!(format!("<{}.{part}>", c.name)))),
                _ => None,
            })
        })
        .collect();
    let mut server = json!({"command": format!("/path/to/{}", ir.id), "args": ["mcp"]});
    if !env.is_empty() {
        server["env"] = serde_json::Value::Object(env);
    }
    let mcp_config = escape::json_pretty(&json!({"mcpServers": {ir.id.clone(): server}}));
    // The programs that stdio MCP servers run, for the Dockerfile's note (as JSON strings, so
    // nothing in a command can end the comment line).
    let mut stdio_commands: Vec<String> = Vec::new();
    let flow_servers = ir.flow_modules.iter().flat_map(|m| &m.ir.mcp_servers);
    for used in ir.mcp_servers.iter().chain(flow_servers) {
        if let crate::nodes::mcp_tool::Transport::Stdio { command, .. } = &used.server.transport {
            let quoted = escape::json_string(&command.display());
            if !stdio_commands.contains(&quoted) {
                stdio_commands.push(quoted);
            }
        }
    }
    let example_input = ir.input_schema().map(example_for).unwrap_or(serde_json::Value::Object(Default::default()));
    let mut context = header_context(&ir.id, &ir.name, &ir.description, &runtime_path);
    let more = json!({
        "credentials": credentials,
        "parameters": parameters,
        "services": crate::emit::services(ir)
            .iter()
            .map(|s| json!({"name": s.name, "env": s.env, "default": s.default}))
            .collect::<Vec<_>>(),
        "nodes": nodes,
        // In single quotes in a shell example: one line of JSON, `'` closed, escaped, reopened.
        "example_input": escape::json_compact(&example_input).replace('\'', "'\\''"),
        "mcp_config": mcp_config,
        "stdio_commands": stdio_commands,
    });
    if let (serde_json::Value::Object(context), serde_json::Value::Object(more)) = (&mut context, more) {
        context.extend(more);
    }
    let context = tera::Context::from_value(context).unwrap_or_default();
    for (name, template) in TEMPLATES {
        files.insert(PathBuf::from(name), render(name, template, &context));
    }
    files.insert(PathBuf::from("Cargo.lock"), lock_file(&ir.id));
    Ok(Project { id: ir.id.clone(), files })
}

/// What every project's templates read: the flow's id, name and description (escaped for
/// where they go) and where the runtime is.
fn header_context(id: &str, name: &str, description: &str, runtime_path: &str) -> serde_json::Value {
    json!({
        "flowc_version": env!("CARGO_PKG_VERSION"),
        "id": id,
        "name_md": escape::markdown(name, false),
        "description_md": escape::markdown(description, true),
        "description_toml": escape::cargo_text(description),
        "runtime_path_toml": escape::toml_string(runtime_path),
    })
}

/// Where the project gets the runtime from: vendored into `files`, or a path.
fn runtime_path(files: &mut BTreeMap<PathBuf, String>, options: &Options) -> String {
    match &options.runtime {
        RuntimeSource::Vendored => {
            for (path, text) in vendored_files() {
                files.insert(Path::new("vendor").join(path), (*text).to_owned());
            }
            "vendor/flowc-runtime".to_owned()
        }
        RuntimeSource::Path(path) => path.display().to_string(),
    }
}

fn render(name: &str, template: &str, context: &tera::Context) -> String {
    match tera::Tera::one_off(template, context, false) {
        Ok(text) => text,
        // The templates are part of flowc and tested; a failure is a bug, shown in the file.
        Err(error) => format!("flowc could not render {name}: {error:?}\n"),
    }
}

/// Builds every file of the project of an item flow (an imported n8n workflow): its program
/// runs from the command line (`run`, `describe`); serving it is not part of this version, so
/// it has no Dockerfile.
pub fn generate_items(ir: &crate::items::ItemIr, options: &Options) -> Result<Project, crate::emit::EmitError> {
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from("src/main.rs"), crate::items::emit::main_rs(ir)?);
    let runtime_path = runtime_path(&mut files, options);
    let nodes: Vec<_> = ir
        .nodes
        .iter()
        .map(|n| {
            json!({
                // Table cells: a `|`, even in a code span, would end the cell.
                "name_md": escape::markdown_code(&n.name).replace('|', "\\|"),
                "kind": n.kind.as_str(),
                "origin_md": if n.origin.is_empty() { String::new() } else { escape::markdown_code(&n.origin).replace('|', "\\|") },
            })
        })
        .collect();
    let mut context = header_context(&ir.id, &ir.name, &ir.description, &runtime_path);
    context["nodes"] = json!(nodes);
    context["env"] = json!(ir.env);
    context["secrets"] = json!(ir.secret_variables());
    let context = tera::Context::from_value(context).unwrap_or_default();
    let templates =
        [("Cargo.toml", TEMPLATES[0].1), ("README.md", include_str!("../../templates/README.items.md.tera"))];
    for (name, template) in templates {
        files.insert(PathBuf::from(name), render(name, template, &context));
    }
    files.insert(PathBuf::from("Cargo.lock"), lock_file(&ir.id));
    Ok(Project { id: ir.id.clone(), files })
}

/// A small input that matches the schema, for the README's example.
pub(crate) fn example_for(schema: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.first().and_then(Value::as_str).unwrap_or("null"),
        _ => "object",
    };
    match ty {
        "object" => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = serde_json::Map::new();
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (name, prop) in props {
                    if required.contains(&name.as_str()) {
                        out.insert(name.clone(), example_for(prop));
                    }
                }
            }
            Value::Object(out)
        }
        "array" => Value::Array(Vec::new()),
        "string" => Value::from("text"),
        "integer" | "number" => Value::from(1),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

/// The project's `Cargo.lock`: the template with the root package in its sorted place.
pub fn lock_file(id: &str) -> String {
    let root = format!(
        "[[package]]\nname = \"{id}\"\nversion = \"0.1.0\"\ndependencies = [\n \"flowc-runtime\",\n \"serde_json\",\n]\n"
    );
    let (header, packages) = LOCK_TEMPLATE.split_once("\n[[package]]\n").unwrap_or((LOCK_TEMPLATE, ""));
    let mut entries: Vec<String> = packages
        .split("\n[[package]]\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("[[package]]\n{}", p.trim_end()))
        .collect();
    entries.push(root.trim_end().to_owned());
    let name_of = |entry: &str| entry.lines().nth(1).unwrap_or_default().to_owned();
    entries.sort_by_key(|e| name_of(e));
    format!("{}\n\n{}\n", header.trim_end(), entries.join("\n\n"))
}

impl Project {
    /// Writes the project under `dir`. Files whose content did not change are not touched,
    /// so cargo does not rebuild them.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        for (path, text) in &self.files {
            let path = dir.join(path);
            if std::fs::read_to_string(&path).is_ok_and(|old| &old == text) {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_file_of_the_vendored_crates_is_vendored() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (dir, vendored_as) in [("runtime", "flowc-runtime"), ("core", "core")] {
            let mut on_disk: Vec<String> = std::fs::read_dir(root.join(dir).join("src"))
                .expect("the crate's src folder")
                .map(|entry| format!("{vendored_as}/src/{}", entry.expect("an entry").file_name().to_string_lossy()))
                .collect();
            on_disk.push(format!("{vendored_as}/Cargo.toml"));
            on_disk.sort();
            let prefix = format!("{vendored_as}/");
            let mut vendored: Vec<&str> = vendored_paths().filter(|path| path.starts_with(&prefix)).collect();
            vendored.sort_unstable();
            assert_eq!(vendored, on_disk, "project.rs must vendor every file of {dir}/src");
        }
    }
}
