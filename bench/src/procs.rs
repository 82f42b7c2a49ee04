//! Engine processes: each in a process group of its own (so that it and every process it
//! starts are stopped together), its memory sampled across the whole process tree, and stopped
//! when dropped or when the harness is interrupted.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, Command};

/// Process groups still running, stopped by [`stop_all`] on Ctrl-C or at the deadline.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// SIGTERM, then SIGKILL after a moment, to every registered process group.
pub fn stop_all() {
    let groups: Vec<i32> = GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for &g in &groups {
        signal_group(g, libc::SIGTERM);
    }
    if !groups.is_empty() {
        std::thread::sleep(Duration::from_millis(500));
    }
    for &g in &groups {
        signal_group(g, libc::SIGKILL);
    }
}

fn signal_group(group: i32, signal: i32) {
    if group > 1 {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// A running engine process (and the processes it started).
pub struct Engine {
    pub child: Child,
    pub pid: u32,
    sampler: Sampler,
    log: std::path::PathBuf,
}

impl Engine {
    /// Starts `command` in a new process group, with stdout and stderr appended to `log`, and
    /// starts sampling its memory.
    pub fn spawn(mut command: Command, log: &Path) -> std::io::Result<Engine> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        command.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out).process_group(0).kill_on_drop(true);
        // Loopback only: no proxy for any engine.
        for var in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
            command.env_remove(var);
        }
        command.env("NO_PROXY", "127.0.0.1,localhost").env("no_proxy", "127.0.0.1,localhost");
        let child = command.spawn()?;
        let pid = child.id().unwrap_or(0);
        if let Ok(mut groups) = GROUPS.lock() {
            groups.push(pid as i32);
        }
        Ok(Engine { child, pid, sampler: Sampler::start(pid), log: log.to_path_buf() })
    }

    /// The peak resident memory of the process tree since the start or the last reset: the
    /// sampled maximum, and the main process's own high-water mark while it was never reset
    /// (it catches a spike between two samples, but cannot be reset).
    pub fn peak_rss(&self) -> u64 {
        let sampled = self.sampler.peak.load(Ordering::Relaxed);
        if self.sampler.hwm_valid {
            sampled.max(vm_hwm(self.pid).unwrap_or(0))
        } else {
            sampled
        }
    }

    /// Starts the peak over.
    pub fn reset_peak(&mut self) {
        self.sampler.peak.store(0, Ordering::Relaxed);
        self.sampler.hwm_valid = false;
    }

    /// Whether the process has exited (and then its status).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The end of the engine's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Stops the process group: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        let group = self.pid as i32;
        signal_group(group, libc::SIGTERM);
        let _ = tokio::time::timeout(grace, self.child.wait()).await;
        signal_group(group, libc::SIGKILL);
        let _ = self.child.wait().await;
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let group = self.pid as i32;
        signal_group(group, libc::SIGKILL);
        if let Ok(mut groups) = GROUPS.lock() {
            groups.retain(|&g| g != group);
        }
        self.sampler.stop.store(true, Ordering::Relaxed);
    }
}

/// Polls the process tree's resident memory (the sum of `VmRSS` over the process and its
/// descendants) every 20 ms in a thread, keeping the maximum.
struct Sampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    hwm_valid: bool,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match tree_rss(pid) {
                    Some(rss) => {
                        p.fetch_max(rss, Ordering::Relaxed);
                    }
                    None => break,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler { peak, stop, hwm_valid: true }
    }
}

/// `VmRSS` summed over `pid` and its descendants, in bytes; `None` once `pid` is gone.
pub fn tree_rss(pid: u32) -> Option<u64> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(ppid) = parent_of(p) {
            children.entry(ppid).or_default().push(p);
        }
    }
    let mut total = status_kib(pid, "VmRSS:")? * 1024;
    let mut stack = children.get(&pid).cloned().unwrap_or_default();
    while let Some(p) = stack.pop() {
        total += status_kib(p, "VmRSS:").unwrap_or(0) * 1024;
        stack.extend(children.get(&p).cloned().unwrap_or_default());
    }
    Some(total)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// The process's own peak resident memory (`VmHWM`), in bytes.
fn vm_hwm(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|k| k * 1024)
}

/// A free TCP port on 127.0.0.1 (bound and released; the engine binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
