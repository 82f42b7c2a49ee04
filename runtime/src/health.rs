//! `<bin> health`: checks, without running the flow, everything it depends on — each
//! credential is set, each HTTP service it calls answers, each MCP server starts and lists the
//! tools the flow calls — and reports each check with the nodes that need it and its latency.
//!
//! What a node depends on is written by flowc into the node's entry of the static flow
//! ([`Need`]); a URL that comes from run-time data cannot be checked beforehand and is not
//! listed.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::flow::Flow;
use crate::http::Http;
use crate::mcp;

/// How long one host check may take.
const HOST_TIMEOUT: Duration = Duration::from_secs(5);

/// One thing a node depends on.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// A credential the flow declares.
    Credential(&'static str),
    /// An HTTP service, by a URL under it: its origin must resolve and accept a connection
    /// (TLS included for https). Any HTTP answer counts: the check is about reaching it.
    Host(&'static str),
    /// A hosted API at its root (which its environment variable may move).
    Service(&'static crate::services::Service),
    /// A tool of an MCP server: the server must start (or answer) the handshake and list it.
    McpTool(&'static mcp::Server, &'static str),
    /// A setting the node reads from the environment when it runs; the program checks it at
    /// start-up too, and refuses to start without it.
    Environment(&'static Environment),
    /// What the nodes of another flow of the program need (an agent's flow tool).
    Flow(&'static Flow),
}

/// What a node needs, a flow tool's nodes' needs in place of the flow (flows nest, without
/// cycles: flowc refuses a flow that calls itself).
fn needs_of(needs: &'static [Need]) -> Vec<&'static Need> {
    let mut out = Vec::new();
    for need in needs {
        match need {
            Need::Flow(flow) => out.extend(flow.nodes.iter().flat_map(|node| needs_of(node.needs))),
            other => out.push(other),
        }
    }
    out
}

/// A setting of the environment that a node kind reads (which web search provider to call).
#[derive(Debug)]
pub struct Environment {
    /// What it is, as the report names it.
    pub what: &'static str,
    /// What the environment says (`Ok`: a line for the report), or why it will not do.
    pub check: fn() -> Result<String, String>,
}

/// What the environment lacks for the flow's nodes: one message per setting, for the
/// program's start-up.
pub fn environment(flow: &Flow) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut problems = Vec::new();
    for need in flow.nodes.iter().flat_map(|n| needs_of(n.needs)) {
        if let Need::Environment(setting) = need {
            if !seen.contains(&setting.what) {
                seen.push(setting.what);
                problems.extend((setting.check)().err());
            }
        }
    }
    problems
}

impl Need {
    /// For a host or service: a URL under it.
    fn url(&self) -> String {
        match self {
            Need::Host(url) => (*url).to_owned(),
            Need::Service(service) => service.root(),
            Need::Credential(_) | Need::McpTool(..) | Need::Environment(_) | Need::Flow(_) => String::new(),
        }
    }
}

/// One check of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `parameter`, `credential`, `host` or `mcp`.
    pub check: &'static str,
    /// The parameter's or credential's name, the origin, or the MCP server's name.
    pub target: String,
    /// The nodes that need it, in flow order.
    pub nodes: Vec<&'static str>,
    pub ok: bool,
    /// It could not be checked without running the flow (an MCP server whose address comes
    /// from run data); `ok` is true, since nothing is known to be wrong.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    pub latency_ms: u64,
    /// What was found, or what is wrong and what to do.
    pub message: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub flow: &'static str,
    /// `ok` when every check passed, `failed` otherwise.
    pub status: &'static str,
    pub checks: Vec<Check>,
}

impl Report {
    /// Every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The report as lines for people: one per check.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = match (c.ok, c.skipped) {
                (_, true) => "skip",
                (true, false) => "ok  ",
                (false, false) => "FAIL",
            };
            out.push_str(&format!(
                "{mark} {:<10} {} ({} ms; node{} {}): {}\n",
                c.check,
                c.target,
                c.latency_ms,
                if c.nodes.len() == 1 { "" } else { "s" },
                c.nodes.join(", "),
                c.message
            ));
        }
        let failed = self.checks.iter().filter(|c| !c.ok).count();
        let skipped = self.checks.iter().filter(|c| c.skipped).count();
        let checked = self.checks.len() - skipped;
        out.push_str(&match failed {
            0 => format!("flow `{}`: all {checked} checks passed", self.flow),
            n => format!("flow `{}`: {n} of {checked} checks failed", self.flow),
        });
        if skipped > 0 {
            out.push_str(&format!("; {skipped} could not be checked before a run"));
        }
        out.push('\n');
        out
    }
}

/// What to check, with the nodes that need it; in order of first need.
enum Target {
    Credential(&'static str),
    Host(String),
    Mcp(&'static mcp::Server, Vec<&'static str>),
    Environment(&'static Environment),
}

/// Runs every check of `flow`, all at once.
pub async fn check(flow: &'static Flow) -> Report {
    let mut targets: Vec<(Target, Vec<&'static str>)> = Vec::new();
    for node in flow.nodes {
        for need in needs_of(node.needs) {
            let index = match need {
                Need::Credential(name) => {
                    position(&targets, |t| matches!(t, Target::Credential(n) if n == name), || Target::Credential(name))
                }
                Need::Host(_) | Need::Service(_) => {
                    let origin = origin(&need.url());
                    position(
                        &targets,
                        |t| matches!(t, Target::Host(o) if *o == origin),
                        || Target::Host(origin.clone()),
                    )
                }
                Need::Environment(setting) => position(
                    &targets,
                    |t| matches!(t, Target::Environment(s) if s.what == setting.what),
                    || Target::Environment(setting),
                ),
                // By the static: a flow tool's server may have the name of one of this flow's.
                Need::McpTool(server, _) => position(
                    &targets,
                    |t| matches!(t, Target::Mcp(s, _) if std::ptr::eq(*s, *server)),
                    || Target::Mcp(server, Vec::new()),
                ),
                // `needs_of` put the flow's own needs in its place.
                Need::Flow(_) => continue,
            };
            let index = match index {
                Ok(i) => i,
                Err(target) => {
                    targets.push((target, Vec::new()));
                    targets.len() - 1
                }
            };
            let (target, nodes) = &mut targets[index];
            if !nodes.contains(&node.id) {
                nodes.push(node.id);
            }
            if let (Target::Mcp(_, tools), Need::McpTool(_, tool)) = (target, need) {
                if !tools.contains(tool) {
                    tools.push(tool);
                }
            }
        }
    }
    let http = match Http::new() {
        Ok(http) => http,
        Err(error) => {
            let check = Check {
                check: "runtime",
                target: "http client".into(),
                nodes: Vec::new(),
                ok: false,
                skipped: false,
                latency_ms: 0,
                message: error.message,
            };
            return Report { flow: flow.id, status: "failed", checks: vec![check] };
        }
    };
    let http = &http;
    let runs = targets.into_iter().map(|(target, nodes)| async move {
        let began = Instant::now();
        let (check, name, result) = match &target {
            Target::Credential(name) => ("credential", name.to_string(), check_credential(flow, http, name).await),
            Target::Host(origin) => ("host", origin.clone(), check_host(http, origin).await.map(Found::Ok)),
            Target::Mcp(server, tools) => ("mcp", server.name.to_owned(), check_mcp(flow, http, server, tools).await),
            Target::Environment(setting) => ("environment", setting.what.to_owned(), (setting.check)().map(Found::Ok)),
        };
        let latency_ms = began.elapsed().as_millis() as u64;
        let (ok, skipped, message) = match result {
            Ok(Found::Ok(message)) => (true, false, message),
            Ok(Found::Unknown(message)) => (true, true, message),
            Err(message) => (false, false, message),
        };
        Check { check, target: name, nodes, ok, skipped, latency_ms, message }
    });
    // Parameters first: they are not secret, so the report shows each value and where it
    // came from.
    let mut checks: Vec<Check> = flow.parameters.iter().map(check_parameter).collect();
    checks.extend(futures::future::join_all(runs).await);
    let status = if checks.iter().all(|c| c.ok) { "ok" } else { "failed" };
    Report { flow: flow.id, status, checks }
}

/// Where an equal target is, or the new one to add.
fn position(
    targets: &[(Target, Vec<&'static str>)],
    same: impl Fn(&Target) -> bool,
    new: impl FnOnce() -> Target,
) -> Result<usize, Target> {
    targets.iter().position(|(t, _)| same(t)).ok_or_else(new)
}

fn check_parameter(parameter: &crate::params::Parameter) -> Check {
    let set = std::env::var(parameter.env).ok().filter(|v| !v.is_empty());
    let result = parameter.resolve(|name| std::env::var(name).ok());
    let (ok, message) = match result {
        Ok(value) if set.is_some() => (true, format!("{} (from {})", Value::from(value), parameter.env)),
        Ok(value) => (true, format!("{} (the default: {} is not set)", Value::from(value), parameter.env)),
        Err(message) => (false, message),
    };
    Check {
        check: "parameter",
        target: parameter.name.to_owned(),
        nodes: Vec::new(),
        ok,
        skipped: false,
        latency_ms: 0,
        message,
    }
}

async fn check_credential(flow: &Flow, http: &Http, name: &str) -> Result<Found, String> {
    let Some(credential) = flow.credentials.iter().find(|c| c.name == name) else {
        return Err(format!("the flow declares no credential `{name}`"));
    };
    if let crate::CredentialSource::OAuth2(config) = credential.source {
        credential.check_sources().map_err(|e| e.message)?;
        if config.grant == crate::oauth2::Grant::RefreshToken {
            // A refresh may rotate the refresh token, which the running program may hold.
            return Ok(Found::Ok(
                "its secrets are set; no token fetched (a refresh may rotate the refresh token)".into(),
            ));
        }
        if !flow.parameters.is_empty() && crate::params::load(flow.parameters).is_err() {
            return Err("not fetched: the flow's parameters did not resolve (see the parameter checks)".into());
        }
        crate::oauth2::access_token(credential.name, config, http).await.map_err(|e| e.message)?;
        return Ok(Found::Ok("a token was fetched from its token endpoint".into()));
    }
    let source = credential.describe();
    let from = match (source.get("env"), source.get("file")) {
        (Some(Value::String(var)), _) => format!("environment variable {var}"),
        (_, Some(Value::String(path))) => format!("file {path}"),
        _ => String::from("its source"),
    };
    credential.resolve().map(|_| Found::Ok(format!("set ({from})"))).map_err(|e| e.message)
}

/// `scheme://host[:port]` of a URL (the URL itself when it has no path).
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => url.to_owned(),
    }
}

async fn check_host(http: &Http, origin: &str) -> Result<String, String> {
    let request = http.client().head(format!("{origin}/")).timeout(HOST_TIMEOUT).send();
    match request.await {
        Ok(response) => Ok(format!("reachable (HEAD / answered {})", response.status().as_u16())),
        Err(error) => {
            let error = crate::http::transport_error(&format!("HEAD {origin}/"), &error);
            Err(error.message)
        }
    }
}

/// What a check found when nothing was wrong.
enum Found {
    Ok(String),
    /// It cannot be known before a run: why.
    Unknown(String),
}

async fn check_mcp(flow: &Flow, http: &Http, server: &'static mcp::Server, tools: &[&str]) -> Result<Found, String> {
    let transport = match &server.address {
        mcp::Address::Run { reads } => {
            return Ok(Found::Unknown(format!(
                "not probed: its address reads {reads}, which is known only when the flow runs"
            )))
        }
        mcp::Address::StartUp { transport, parameters } => {
            if !parameters.is_empty() && crate::params::load(flow.parameters).is_err() {
                let unresolved: Vec<&str> = (parameters.iter().copied())
                    .filter(|name| {
                        let parameter = flow.parameters.iter().find(|p| p.name == *name);
                        parameter.is_none_or(|p| p.resolve(|var| std::env::var(var).ok()).is_err())
                    })
                    .collect();
                if unresolved.is_empty() {
                    // Its own resolved, but the program reads all of them or none.
                    return Err("not probed: the flow's parameters did not resolve (see the parameter checks)".into());
                }
                return Err(format!(
                    "not probed: it reads the parameter{} {}, which did not resolve (see the parameter checks)",
                    if unresolved.len() == 1 { "" } else { "s" },
                    quote_all(&unresolved)
                ));
            }
            transport()
        }
    };
    let secret = server.credential.map(|name| flow.credential(name)).transpose().map_err(|e| e.message)?;
    let listed = mcp::probe(server, &transport, http, secret).await.map_err(|e: Error| e.message)?;
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !listed.iter().any(|l| l == t)).collect();
    if missing.is_empty() {
        Ok(Found::Ok(format!("started, {} tools, including {}", listed.len(), tools.join(", "))))
    } else {
        Err(format!("it does not list {}; it has {}", quote_all(&missing), listed.join(", ")))
    }
}

fn quote_all(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin("https://api.openai.com/v1"), "https://api.openai.com");
        assert_eq!(origin("http://127.0.0.1:8080/x?y#z"), "http://127.0.0.1:8080");
        assert_eq!(origin("https://example.com"), "https://example.com");
    }
}
