//! Test support for flowc: servers that the end-to-end tests of generated programs talk to,
//! and a few small helpers.
//!
//! Everything binds `127.0.0.1` on a port chosen by the OS; nothing listens on another
//! address.

pub mod bin;
pub mod faults;
pub mod flows;
pub mod httpbin;
pub mod mcp;
pub mod server;

use std::net::TcpListener;
use std::time::Duration;

/// A port on `127.0.0.1` that was free a moment ago (the OS picked it for a listener that is
/// then closed). Use it only for child processes that must be told a port up front; servers
/// in this process bind port 0 directly.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0")
}

/// A small blocking HTTP client for tests: no proxy (whatever the environment says), every
/// status code is a normal response (never an `Err`), 10 s timeout per call.
///
/// ```no_run
/// let agent = flowc_tests::http_agent();
/// let mut resp = agent.get("http://127.0.0.1:1/json").call().unwrap();
/// let status = resp.status().as_u16();
/// let body: serde_json::Value = resp.body_mut().read_json().unwrap();
/// # let _ = (status, body);
/// ```
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}
