//! The MCP reference servers from npm, and watching the processes a generated program starts.
//!
//! The servers are installed into `tests/mcp/node_modules` by
//!
//! ```text
//! npm ci --prefix tests/mcp
//! ```
//!
//! (`.ci/run` does it). Stdio servers are started by the generated programs themselves, from
//! the fixtures' `command`/`args` (paths relative to the workspace root, where the tests run
//! them). [`EverythingHttp`] runs `server-everything` over Streamable HTTP for the `http`
//! transport.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::flows::{root, Run};

/// The install command named in errors.
pub const NPM_INSTALL: &str = "npm ci --prefix tests/mcp";

/// `tests/mcp/node_modules/@modelcontextprotocol/<package>/dist/index.js`, checked to exist.
pub fn server_script(package: &str) -> PathBuf {
    let script = root().join("tests/mcp/node_modules/@modelcontextprotocol").join(package).join("dist/index.js");
    assert!(
        script.is_file(),
        "{} is missing: install the MCP reference servers with `{NPM_INSTALL}`",
        script.display()
    );
    script
}

/// `server-everything` over Streamable HTTP on `127.0.0.1`, killed on drop. It also exits
/// when its stdin closes (`tests/mcp/loopback.cjs`), so it dies with the test process.
pub struct EverythingHttp {
    child: Child,
    _stdin: Option<ChildStdin>,
    pub port: u16,
}

impl EverythingHttp {
    /// Starts the server on a free port and waits (up to 30 s) until it accepts connections.
    pub fn start() -> EverythingHttp {
        let script = server_script("server-everything");
        let port = crate::free_port();
        let mut child = Command::new("node")
            .arg("--require")
            .arg(root().join("tests/mcp/loopback.cjs"))
            .arg(&script)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start node {}: {e} (is Node.js installed?)", script.display()));
        let stdin = child.stdin.take();
        let server = EverythingHttp { child, _stdin: stdin, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "server-everything did not listen on {port} in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EverythingHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process, identified by pid and start time (so a reused pid is not mistaken for it); its
/// command line is only what was seen, and is empty if it was seen between fork and exec.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    start_time: u64,
    pub command: String,
}

impl PartialEq for Process {
    fn eq(&self, other: &Self) -> bool {
        (self.pid, self.start_time) == (other.pid, other.start_time)
    }
}

impl Eq for Process {}

impl PartialOrd for Process {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Process {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.pid, self.start_time).cmp(&(other.pid, other.start_time))
    }
}

impl Process {
    /// The process `pid`, if it is running.
    pub fn find(pid: u32) -> Option<Process> {
        let s = stat(pid).filter(|s| s.state != 'Z')?;
        Some(Process { pid, start_time: s.start_time, command: String::new() })
    }

    /// Whether it is still running (a zombie is not).
    pub fn alive(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start_time == self.start_time && s.state != 'Z')
    }
}

struct Stat {
    ppid: u32,
    state: char,
    start_time: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Every living descendant of `pid`.
pub fn descendants(pid: u32) -> Vec<Process> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut stats = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Some(s) = stat(p) {
            children.entry(s.ppid).or_default().push(p);
            stats.insert(p, s);
        }
    }
    let mut out = Vec::new();
    let mut stack = children.get(&pid).cloned().unwrap_or_default();
    while let Some(p) = stack.pop() {
        if let Some(s) = stats.get(&p).filter(|s| s.state != 'Z') {
            let command = std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_owned())
                .unwrap_or_default();
            out.push(Process { pid: p, start_time: s.start_time, command });
        }
        stack.extend(children.get(&p).cloned().unwrap_or_default());
    }
    out
}

/// What to do to the program while it runs.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Nothing: let it finish.
    None,
    /// Send this signal (`"INT"`, `"TERM"`, `"KILL"`) once it has started a child process and
    /// then `after` has passed.
    Signal(&'static str, Duration),
}

/// A run, and every process the program started during it.
pub struct Watched {
    pub run: Run,
    pub started: BTreeSet<Process>,
}

impl Watched {
    /// The started processes still running `grace` after the program exited.
    pub fn left_behind(&self, grace: Duration) -> Vec<Process> {
        let until = Instant::now() + grace;
        loop {
            let alive: Vec<Process> = self.started.iter().filter(|p| p.alive()).cloned().collect();
            if alive.is_empty() || Instant::now() >= until {
                return alive;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// Runs `binary run --input-json <input>` from the workspace root, records every process it
/// starts (polling `/proc` every 10 ms), and does `action` to it.
pub fn run_watched(binary: &Path, input: &Value, env: &[(&str, &str)], action: Action) -> Watched {
    watch(binary, &["run", "--input-json", &input.to_string()], env, action)
}

/// Runs `binary` with `args` from the workspace root, records every process it starts
/// (polling `/proc` every 10 ms), and does `action` to it. `run.result` is stdout as JSON.
pub fn watch(binary: &Path, args: &[&str], env: &[(&str, &str)], action: Action) -> Watched {
    let mut command = Command::new(binary);
    command.args(args).current_dir(root()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("run the generated program");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let pid = child.id();
    let mut started = BTreeSet::new();
    let mut first_child: Option<Instant> = None;
    let mut signalled = false;
    let began = Instant::now();
    let status = loop {
        for process in descendants(pid) {
            // Seen again after exec: keep the command line it runs now.
            if started.get(&process).is_none_or(|seen: &Process| seen.command.is_empty()) {
                started.replace(process);
            }
        }
        if first_child.is_none() && !started.is_empty() {
            first_child = Some(Instant::now());
        }
        if let (Action::Signal(signal, after), Some(at), false) = (action, first_child, signalled) {
            if at.elapsed() >= after {
                let sent = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
                assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
                signalled = true;
            }
        }
        if let Some(status) = child.try_wait().expect("wait for the program") {
            break status;
        }
        if began.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the program ran for more than 120 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Action::Signal(signal, _) = action {
        assert!(signalled, "the program exited before it started a child process to signal it ({signal})");
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Watched { run: Run { code, result: serde_json::from_str(&stdout).unwrap_or(Value::Null), stdout, stderr }, started }
}
