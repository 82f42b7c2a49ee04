//! httpbin (the PyPI package) as a child process on `127.0.0.1`.
//!
//! Needs Python 3 as `python3` on `PATH` (or the interpreter named by `FLOWC_TEST_PYTHON`) with
//! one pip package:
//!
//! ```text
//! python3 -m pip install httpbin
//! ```
//!
//! (checked with httpbin 0.10.4, Flask 3.1). No separate WSGI server is needed: the app is
//! served by Flask's built-in threaded server (`app.run(host="127.0.0.1", port=PORT,
//! threaded=True)`), which is one process — killing it leaves nothing behind. The child
//! also exits by itself when its stdin closes, so it does not outlive a test process that was
//! killed before it could run `Drop`.

use std::fs::File;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`Httpbin::start`] waits for `GET /get` to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The pip command named in errors.
pub const PIP_INSTALL: &str = "python3 -m pip install httpbin";

/// Runs httpbin; stops the process when its child dies (stdin EOF) or is killed.
const SCRIPT: &str = r#"
import os, sys, threading
from httpbin import app

def _exit_when_parent_goes():
    sys.stdin.read()
    os._exit(0)

threading.Thread(target=_exit_when_parent_goes, daemon=True).start()
app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
"#;

/// A running httpbin. Killed (and waited for) on drop.
pub struct Httpbin {
    child: Child,
    _stdin: Option<ChildStdin>,
    port: u16,
    log: PathBuf,
}

impl Httpbin {
    /// Starts httpbin on a free port of `127.0.0.1` and waits (up to 20 s) until `GET /get`
    /// answers 200. The error says what to install when Python or httpbin is missing.
    pub fn start() -> Result<Httpbin, String> {
        let python = std::env::var("FLOWC_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        check_installed(&python)?;

        // The port is picked before the child binds it; another process may take it first.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&python) {
                Ok(h) => return Ok(h),
                Err((retry, msg)) => {
                    last_error = msg;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }

    /// `Err((worth_retrying, message))`.
    fn try_start(python: &str) -> Result<Httpbin, (bool, String)> {
        let port = crate::free_port();
        let log = std::env::temp_dir().join(format!("flowc-httpbin-{}-{}.log", std::process::id(), port));
        let out = File::create(&log).map_err(|e| (false, format!("httpbin: create {}: {e}", log.display())))?;
        let err = out.try_clone().map_err(|e| (false, format!("httpbin: log file: {e}")))?;
        let mut child = Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(port.to_string())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| (false, format!("httpbin: cannot run {python}: {e}")))?;
        let stdin = child.stdin.take();
        let mut this = Httpbin { child, _stdin: stdin, port, log };

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let url = this.url("/get");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = this.child.try_wait() {
                let log = this.log_text();
                let retry = log.contains("Address already in use");
                return Err((
                    retry,
                    format!(
                        "httpbin exited at start ({status}); is it installed? \
                         run `{PIP_INSTALL}`. Its output:\n{log}"
                    ),
                ));
            }
            if let Ok(resp) = agent.get(&url).call() {
                if resp.status().as_u16() == 200 {
                    return Ok(this);
                }
            }
            if Instant::now() >= deadline {
                return Err((
                    false,
                    format!(
                        "httpbin did not answer GET {url} within {}s. Its output:\n{}",
                        START_TIMEOUT.as_secs(),
                        this.log_text()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url()` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// The child process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the child wrote to stdout and stderr so far (request log, warnings).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Httpbin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Fails with the exact command to run when Python or the httpbin package is missing.
fn check_installed(python: &str) -> Result<(), String> {
    let probe = Command::new(python)
        .args([
            "-c",
            "import importlib.util, sys; \
             sys.exit(0 if importlib.util.find_spec('httpbin') else 3)",
        ])
        .stdin(Stdio::null())
        .output();
    match probe {
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
            "`{python}` is not on PATH: install Python 3, then run `{PIP_INSTALL}` \
             (or set FLOWC_TEST_PYTHON to an interpreter that has httpbin)"
        )),
        Err(e) => Err(format!("cannot run `{python}`: {e}")),
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) if out.status.code() == Some(3) => Err(format!(
            "the Python package httpbin is not installed for `{python}`: \
             run `{python} -m pip install httpbin`"
        )),
        Ok(out) => Err(format!(
            "`{python}` failed ({}): {}; install Python 3, then run `{PIP_INSTALL}`",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}
