//! Phase 1, shape: the document's fields, their types, ids, versions. Produces the typed
//! [`Flow`]; a node with a shape error is left out of it (and of the later phases), but its
//! id is remembered so that edges to it are not reported as dangling too.

use std::collections::BTreeSet;

use serde_json::Value;

use super::reader::{list, type_name, Field, Reader, Sink, Ty};
use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::model::{
    CircuitBreaker, Credential, CredentialSource, Edge, Flow, HttpSettings, Node, NodeRetry, OAuth2, OnError,
    Parameter, RateKey, RateLimit, RetryPolicy, Settings,
};
use crate::nodes::NodeKind;

pub const RETRY_FIELDS: &[Field] = &[
    Field::opt("max_attempts", Ty::Integer, "attempts in all, counting the first (default 3)"),
    Field::opt("initial_delay_ms", Ty::Integer, "the wait before the second attempt (default 1000)"),
    Field::opt("backoff_rate", Ty::Number, "each wait is the previous one times this (default 2.0)"),
    Field::opt("max_delay_ms", Ty::Integer, "the longest wait, also for Retry-After (default 10000)"),
    Field::opt("jitter", Ty::Enum(&["full", "none"]), "\"full\" (default) randomises each wait"),
    Field::opt(
        "retry_on",
        Ty::Other("array of error kinds"),
        "error kinds to retry (default rate_limit, server_error, timeout, network)",
    ),
];

pub const RATE_LIMIT_FIELDS: &[Field] = &[
    Field::opt("host", Ty::String, "the host the limit applies to (`api.example.com`), or"),
    Field::opt("credential", Ty::String, "the credential the limit applies to"),
    Field::opt("per_second", Ty::Number, "requests per second, or"),
    Field::opt("per_minute", Ty::Number, "requests per minute"),
    Field::opt("burst", Ty::Integer, "requests that may go at once after a quiet time (default 1)"),
];

pub const CIRCUIT_BREAKER_FIELDS: &[Field] = &[
    Field::req("host", Ty::String, "the host the breaker guards: `api.example.com`, with `:port` if not the default"),
    Field::opt(
        "failure_threshold",
        Ty::Integer,
        "consecutive failed calls (5xx, timeouts, network errors) that open it (default 5)",
    ),
    Field::opt(
        "open_ms",
        Ty::Integer,
        "how long it stays open, failing calls at once, before a trial call (default 30000)",
    ),
    Field::opt("success_threshold", Ty::Integer, "consecutive successful trial calls that close it again (default 1)"),
];

pub const HTTP_FIELDS: &[Field] = &[
    Field::opt(
        "max_response_bytes",
        Ty::Integer,
        "the largest response body a request reads, in bytes (default 33554432: 32 MiB)",
    ),
    Field::opt(
        "deny_private_networks",
        Ty::Boolean,
        "refuse loopback, private, link-local and other non-public addresses (default false)",
    ),
];

pub const SETTINGS_FIELDS: &[Field] = &[
    Field::opt("max_concurrency", Ty::Integer, "how many nodes may run at once (default 16)"),
    Field::opt("timeout_ms", Ty::Integer, "a deadline for the whole run"),
    Field::opt("retry", Ty::Object(RETRY_FIELDS), "the retry policy of every node that has none"),
    Field::opt(
        "rate_limits",
        Ty::ListOf(RATE_LIMIT_FIELDS),
        "request rates shared by every node, by host or credential",
    ),
    Field::opt(
        "circuit_breakers",
        Ty::ListOf(CIRCUIT_BREAKER_FIELDS),
        "per host: stop calling a failing service for a while",
    ),
    Field::opt("http", Ty::Object(HTTP_FIELDS), "limits of every HTTP request: response size, private networks"),
];

pub const CREDENTIAL_FIELDS: &[Field] = &[
    Field::opt("env", Ty::String, "the environment variable that holds the secret"),
    Field::opt("file", Ty::String, "the file that holds the secret (a mounted secret)"),
    Field::opt("oauth2", Ty::Object(OAUTH2_FIELDS), "an OAuth2 access token, fetched from a token endpoint"),
];

/// Where one secret of an OAuth2 credential comes from.
pub const SECRET_FIELDS: &[Field] = &[
    Field::opt("env", Ty::String, "the environment variable that holds it"),
    Field::opt("file", Ty::String, "the file that holds it (a mounted secret)"),
];

pub const OAUTH2_FIELDS: &[Field] = &[
    Field::req("grant", Ty::Enum(&["client_credentials", "refresh_token"]), "how the token is obtained"),
    Field::req("token_url", Ty::Template, "the token endpoint, http or https; may read parameters ({{ params.x }})"),
    Field::req("client_id", Ty::Object(SECRET_FIELDS), "where the client id comes from: {\"env\"} or {\"file\"}"),
    Field::opt("client_secret", Ty::Object(SECRET_FIELDS), "where the client secret comes from"),
    Field::opt(
        "refresh_token",
        Ty::Object(SECRET_FIELDS),
        "where the refresh token comes from (the refresh_token grant); a rotated one is written back to a file",
    ),
    Field::opt("scopes", Ty::StringList, "the scopes asked for"),
    Field::opt("audience", Ty::String, "sent as the token request's `audience`"),
    Field::opt(
        "client_auth",
        Ty::Enum(&["basic", "body"]),
        "how the client authenticates: HTTP Basic (default) or in the form body",
    ),
];

pub const PARAMETER_FIELDS: &[Field] = &[
    Field::req("env", Ty::String, "the environment variable that holds the value"),
    Field::opt(
        "default",
        Ty::String,
        "the value when the variable is unset or empty; without it the parameter is required",
    ),
    Field::opt("enum", Ty::StringList, "the values the parameter may take"),
    Field::opt("description", Ty::String, "what the parameter is for"),
];

pub const EDGE_FIELDS: &[Field] = &[
    Field::opt("id", Ty::String, "the edge's id"),
    Field::req("source", Ty::String, "the id of the node the edge leaves"),
    Field::req("target", Ty::String, "the id of the node the edge enters"),
    Field::opt(
        "source_handle",
        Ty::String,
        "which outcome of the source the edge follows: `true`/`false` of a branch, a switch case, `error`",
    ),
    Field::opt("target_handle", Ty::String, "ignored (builders store it)"),
    Field::opt("label", Ty::String, "ignored"),
];

pub const NODE_FIELDS: &[Field] = &[
    Field::req("id", Ty::String, "the node's id, unique in the flow"),
    Field::req("type", Ty::Other("node kind"), "the node's kind"),
    Field::opt("label", Ty::String, "a human name"),
    Field::opt("config", Ty::Other("the kind's config"), "the kind's settings"),
    Field::opt("credential", Ty::String, "a key of `credentials`"),
    Field::opt("retry", Ty::Other("a retry policy, or false"), "overrides `settings.retry`"),
    Field::opt("timeout_ms", Ty::Integer, "a limit on each attempt"),
    Field::opt("deadline_ms", Ty::Integer, "a limit on the node as a whole: every attempt and the waits between them"),
    Field::opt(
        "on_error",
        Ty::Other("\"fail\", \"continue\" or {\"fallback\": value}"),
        "what a failure means for the flow",
    ),
    Field::opt("position", Ty::Json, "ignored (canvas position)"),
    Field::opt("ui", Ty::Json, "ignored (canvas data)"),
];

pub const FLOW_FIELDS: &[Field] = &[
    Field::req("version", Ty::Integer, "the format version: 1"),
    Field::req("id", Ty::String, "names the crate and the binary: [a-z][a-z0-9_-]{0,63}"),
    Field::opt("name", Ty::String, "a human name"),
    Field::opt("description", Ty::String, "what the flow does"),
    Field::opt("settings", Ty::Object(SETTINGS_FIELDS), "run-wide settings"),
    Field::opt("credentials", Ty::MapOf(CREDENTIAL_FIELDS), "secrets, read at run time"),
    Field::opt("parameters", Ty::MapOf(PARAMETER_FIELDS), "non-secret values per deployment, read at start-up"),
    Field::req("nodes", Ty::Other("array of nodes"), "the steps"),
    Field::opt("edges", Ty::Other("array of edges"), "what runs after what"),
    Field::opt("metadata", Ty::Json, "free-form, ignored"),
];

/// Names a flow id may not take: Cargo refuses them as package or binary names, or they
/// would clash with a crate the generated program depends on.
pub(crate) fn reserved_flow_id(id: &str) -> Option<String> {
    const CARGO: &[&str] = &[
        "test",
        "build",
        "deps",
        "examples",
        "incremental",
        "std",
        "core",
        "alloc",
        "proc_macro",
        "proc-macro",
        "self",
        "super",
        "crate",
    ];
    if CARGO.contains(&id) || crate::ident::is_keyword(id) {
        return Some(format!("`{id}` is reserved by Rust or Cargo"));
    }
    let normal = id.replace('-', "_");
    crate::project::dependency_names()
        .into_iter()
        .find(|dep| dep.replace('-', "_") == normal)
        .map(|dep| format!("`{id}` is the name of `{dep}`, a crate the generated program depends on"))
}

/// The result of the shape phase.
pub struct Shaped {
    pub flow: Flow,
    /// The top-level object had fields flowc does not know (a misspelt `edges`, say).
    pub top_level_unknown: bool,
    /// Ids of nodes left out for shape errors.
    pub broken_ids: BTreeSet<String>,
    /// Every name under `credentials`, even one whose definition has errors of its own.
    pub declared: Vec<String>,
    /// Every name under `parameters`, likewise.
    pub declared_parameters: Vec<String>,
}

/// The document's `id`, checked: a valid crate name (`""` when it is missing or wrong, which is
/// reported).
pub fn flow_id(sink: &mut Sink, top: &mut Reader<'_>) -> String {
    match top.string(sink, "id") {
        Some(id) if !valid_flow_id(id) => {
            sink.push(Diagnostic::new(Code::E006, "/id", format!("the flow id `{id}` is not valid")).help(
                "a flow id is 1 to 64 characters: a lowercase letter, then lowercase letters, digits, `_` or `-`",
            ));
            String::new()
        }
        Some(id) => match reserved_flow_id(id) {
            Some(why) => {
                sink.push(
                    Diagnostic::new(Code::E006, "/id", format!("the flow id `{id}` cannot name a crate: {why}"))
                        .help(format!("choose another id, such as `{id}-flow`")),
                );
                String::new()
            }
            None => id.to_owned(),
        },
        None => String::new(),
    }
}

pub fn check(sink: &mut Sink, doc: &Value) -> Option<Shaped> {
    let mut top = Reader::new(sink, doc, "", FLOW_FIELDS, "the flow document")?;
    if let Some(version) = top.get("version") {
        if version.as_u64() != Some(1) {
            sink.push(
                Diagnostic::new(
                    Code::E005,
                    "/version",
                    format!("unsupported format version {}", super::reader::short(version)),
                )
                .help("this flowc reads version 1: set \"version\": 1"),
            );
        }
    }
    let id = flow_id(sink, &mut top);
    let name = top.string(sink, "name").unwrap_or(&id).to_owned();
    let description = top.string(sink, "description").unwrap_or_default().to_owned();
    let settings = match top.get("settings") {
        Some(value) => settings(sink, value),
        None => Settings::default(),
    };
    let credentials = match top.get("credentials") {
        Some(value) => credentials(sink, value),
        None => Vec::new(),
    };
    let mut parameters = match top.get("parameters") {
        Some(value) => parameters(sink, value),
        None => Vec::new(),
    };
    // A parameter's value is shown (health, the ConfigMap) and flows into data: it must not
    // read a variable that holds a credential's secret.
    parameters.retain(|p| {
        let reads_it = |c: &&Credential| c.source.secrets().iter().any(|(_, s)| **s == CredentialSource::Env(p.env.clone()));
        let Some(credential) = credentials.iter().find(reads_it) else {
            return true;
        };
        sink.push(
            Diagnostic::new(
                Code::E015,
                format!("/parameters/{}/env", crate::source::escape(&p.name)),
                format!(
                    "parameter `{}` reads {}, which holds the secret of credential `{}`",
                    p.name, p.env, credential.name
                ),
            )
            .help("parameters are not secret (`health` shows their values, `deploy k8s` writes them to a ConfigMap): give the parameter a variable of its own"),
        );
        false
    });

    // Every name under `credentials`, even one whose definition has errors of its own.
    let declared: Vec<String> =
        top.get("credentials").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let declared_parameters: Vec<String> =
        top.get("parameters").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let mut settings = settings;
    if let Some(value) = top.get("settings").and_then(|s| s.get("rate_limits")) {
        let oauth2: Vec<&str> = credentials
            .iter()
            .filter(|c| matches!(c.source, CredentialSource::OAuth2(_)))
            .map(|c| c.name.as_str())
            .collect();
        settings.rate_limits = rate_limits(sink, value, &declared, &oauth2);
    }
    let mut nodes = Vec::new();
    let mut broken_ids = BTreeSet::new();
    match top.get("nodes") {
        Some(Value::Array(items)) if items.is_empty() => sink.push(
            Diagnostic::new(Code::E004, "/nodes", "the flow has no nodes")
                .help("add at least one node, e.g. {\"id\": \"in\", \"type\": \"input\"}"),
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let checked = node(sink, item, format!("/nodes/{i}"), i, &settings, &declared);
                match checked {
                    Ok(node) => nodes.push(node),
                    Err(Some(id)) => {
                        broken_ids.insert(id);
                    }
                    Err(None) => {}
                }
            }
        }
        Some(other) => sink.push(
            Diagnostic::new(Code::E002, "/nodes", format!("`nodes` must be an array, not {}", type_name(other)))
                .help("write the nodes as [ {\"id\": ..., \"type\": ...}, ... ]"),
        ),
        None => {}
    }
    let mut edges = Vec::new();
    match top.get("edges") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(edge) = edge(sink, item, format!("/edges/{i}"), i) {
                    edges.push(edge);
                }
            }
        }
        Some(other) => sink.push(
            Diagnostic::new(Code::E002, "/edges", format!("`edges` must be an array, not {}", type_name(other)))
                .help("write the edges as [ {\"source\": ..., \"target\": ...}, ... ]"),
        ),
        None => {}
    }
    let top_level_unknown = !top.ok;
    Some(Shaped {
        flow: Flow { id, name, description, settings, credentials, parameters, nodes, edges },
        top_level_unknown,
        broken_ids,
        declared,
        declared_parameters,
    })
}

fn valid_flow_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z'))
        && id.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The template root of the flow's parameters (`{{ params.region }}`): no node may take it.
pub const PARAMS_ROOT: &str = "params";

/// A parameter's name: what a template can read as `params.<name>` without brackets.
pub fn valid_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parameters(sink: &mut Sink, value: &Value) -> Vec<Parameter> {
    let Value::Object(map) = value else {
        sink.push(
            Diagnostic::new(
                Code::E002,
                "/parameters",
                format!("`parameters` must be an object, not {}", type_name(value)),
            )
            .help("e.g. \"parameters\": {\"region\": {\"env\": \"REGION\", \"default\": \"eu\"}}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, spec) in map {
        let pointer = format!("/parameters/{}", crate::source::escape(name));
        let what = format!("parameter `{name}`");
        let Some(mut r) = Reader::new(sink, spec, &pointer, PARAMETER_FIELDS, &what) else { continue };
        let mut ok = true;
        if !valid_parameter_name(name) {
            sink.push(
                Diagnostic::new(Code::E006, pointer.clone(), format!("the parameter name `{name}` is not valid"))
                    .help("a parameter name is 1 to 64 characters: an ASCII letter or `_`, then letters, digits or `_` (templates read it as `params.<name>`)"),
            );
            ok = false;
        }
        let env = r.string(sink, "env").map(str::to_owned);
        if let Some(var) = &env {
            if !crate::ident::is_env_name(var) {
                sink.push(env_name_diagnostic(format!("{pointer}/env"), var, &what));
                ok = false;
            }
        }
        let default = r.string(sink, "default").map(str::to_owned);
        let description = r.string(sink, "description").map(str::to_owned);
        let allowed = match r.get("enum") {
            None => Vec::new(),
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut allowed: Vec<String> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(text) if allowed.iter().any(|a| a == text) => {
                            sink.push(Diagnostic::new(
                                Code::E015,
                                format!("{pointer}/enum/{i}"),
                                format!("{what} lists `{text}` twice in `enum`"),
                            ));
                            ok = false;
                        }
                        Some(text) => allowed.push(text.to_owned()),
                        None => {
                            sink.push(
                                Diagnostic::new(
                                    Code::E002,
                                    format!("{pointer}/enum/{i}"),
                                    format!("the values of {what}'s `enum` are strings, not {}", type_name(item)),
                                )
                                .help("an environment variable holds text: write the value as a string"),
                            );
                            ok = false;
                        }
                    }
                }
                allowed
            }
            Some(other) => {
                sink.push(
                    Diagnostic::new(
                        Code::E002,
                        format!("{pointer}/enum"),
                        format!(
                            "{what}'s `enum` must be a non-empty array of strings, not {}",
                            super::reader::short(other)
                        ),
                    )
                    .help("e.g. \"enum\": [\"eu\", \"us\"]"),
                );
                ok = false;
                Vec::new()
            }
        };
        if let Some(default) = &default {
            if !allowed.is_empty() && !allowed.contains(default) {
                let help = match did_you_mean(default, allowed.iter().map(String::as_str)) {
                    Some(near) => format!(
                        "did you mean `{near}`? The values are {}",
                        super::reader::list(allowed.iter().map(String::as_str))
                    ),
                    None => format!("the values are {}", super::reader::list(allowed.iter().map(String::as_str))),
                };
                sink.push(
                    Diagnostic::new(
                        Code::E015,
                        format!("{pointer}/default"),
                        format!("{what}'s default `{default}` is not one of its `enum` values"),
                    )
                    .help(help),
                );
                ok = false;
            }
        }
        if let (Some(env), true, true) = (env, ok, r.ok) {
            out.push(Parameter { name: name.clone(), env, default, allowed, description });
        }
    }
    out
}

pub fn valid_node_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn settings(sink: &mut Sink, value: &Value) -> Settings {
    let mut out = Settings::default();
    let Some(mut r) = Reader::new(sink, value, "/settings", SETTINGS_FIELDS, "`settings`") else { return out };
    if let Some(n) = r.integer(sink, "max_concurrency", 1, 100_000) {
        out.max_concurrency = n;
    }
    out.timeout_ms = r.integer(sink, "timeout_ms", 1, u32::MAX as u64);
    if let Some(value) = r.get("retry") {
        out.retry = retry_policy(sink, value, "/settings/retry", &RetryPolicy::default());
    }
    if let Some(value) = r.get("circuit_breakers") {
        out.circuit_breakers = circuit_breakers(sink, value);
    }
    if let Some(value) = r.get("http") {
        out.http = http_settings(sink, value);
    }
    out
}

/// `settings.http`.
fn http_settings(sink: &mut Sink, value: &Value) -> HttpSettings {
    let mut out = HttpSettings::default();
    let Some(mut r) = Reader::new(sink, value, "/settings/http", HTTP_FIELDS, "`settings.http`") else { return out };
    if let Some(n) = r.integer(sink, "max_response_bytes", 1, HttpSettings::MAX_RESPONSE_BYTES_LIMIT) {
        out.max_response_bytes = n;
    }
    if let Some(deny) = r.boolean(sink, "deny_private_networks") {
        out.deny_private_networks = deny;
    }
    out
}

/// Whether `host` is a host name alone (`api.example.com`, `127.0.0.1:8080`, `[::1]:80`), as
/// rate limits and circuit breakers name hosts; reports it on `r` otherwise.
fn check_host(sink: &mut Sink, r: &mut Reader, host: &str) {
    let valid = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if !valid {
        r.invalid(
            sink,
            "host",
            format!("`{host}` is not a host name"),
            "write the host alone, without scheme or path: \"api.example.com\" (with `:port` if not the default)"
                .to_owned(),
        );
    }
}

/// `settings.circuit_breakers`: one breaker per host, with its thresholds and open time.
fn circuit_breakers(sink: &mut Sink, value: &Value) -> Vec<CircuitBreaker> {
    let Value::Array(items) = value else {
        sink.push(
            Diagnostic::new(
                Code::E002,
                "/settings/circuit_breakers",
                format!("`circuit_breakers` must be an array, not {}", type_name(value)),
            )
            .help("write [{\"host\": \"api.example.com\", \"failure_threshold\": 5, \"open_ms\": 30000}, ...]"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    // Every host named so far, with its entry's index, also when that entry has other mistakes.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pointer = format!("/settings/circuit_breakers/{i}");
        let Some(mut r) = Reader::new(sink, item, &pointer, CIRCUIT_BREAKER_FIELDS, "a circuit breaker") else {
            continue;
        };
        let host = r.string(sink, "host");
        if let Some(host) = host {
            check_host(sink, &mut r, host);
        }
        let failure_threshold =
            r.integer(sink, "failure_threshold", 1, 1000).unwrap_or(CircuitBreaker::DEFAULT_FAILURE_THRESHOLD);
        let open_ms = r.integer(sink, "open_ms", 1, 86_400_000).unwrap_or(CircuitBreaker::DEFAULT_OPEN_MS);
        let success_threshold =
            r.integer(sink, "success_threshold", 1, 1000).unwrap_or(CircuitBreaker::DEFAULT_SUCCESS_THRESHOLD);
        let Some(host) = host.map(str::to_ascii_lowercase) else { continue };
        if let Some((_, first)) = seen.iter().find(|(h, _)| *h == host) {
            sink.push(
                Diagnostic::new(Code::E015, r.child("host"), format!("a second circuit breaker for `{host}`")).help(
                    format!("keep one breaker per host: merge this entry into /settings/circuit_breakers/{first}"),
                ),
            );
            continue;
        }
        seen.push((host.clone(), i));
        if r.ok {
            out.push(CircuitBreaker { host, failure_threshold, open_ms, success_threshold });
        }
    }
    out
}

/// `settings.rate_limits`: each entry names one host or one declared credential, and one rate.
fn rate_limits(sink: &mut Sink, value: &Value, credentials: &[String], oauth2: &[&str]) -> Vec<RateLimit> {
    let Value::Array(items) = value else {
        sink.push(
            Diagnostic::new(
                Code::E002,
                "/settings/rate_limits",
                format!("`rate_limits` must be an array, not {}", type_name(value)),
            )
            .help("write [{\"host\": \"api.example.com\", \"per_second\": 5, \"burst\": 10}, ...]"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pointer = format!("/settings/rate_limits/{i}");
        let Some(mut r) = Reader::new(sink, item, &pointer, RATE_LIMIT_FIELDS, "a rate limit") else { continue };
        let key = match (r.string(sink, "host"), r.string(sink, "credential")) {
            (Some(host), None) => {
                check_host(sink, &mut r, host);
                Some(RateKey::Host(host.to_ascii_lowercase()))
            }
            (None, Some(name)) => {
                if !credentials.iter().any(|c| c == name) {
                    sink.push(
                        Diagnostic::new(
                            Code::E014,
                            format!("{pointer}/credential"),
                            format!("the rate limit names the credential `{name}`, which the flow does not declare"),
                        )
                        .help(
                            match did_you_mean(name, credentials.iter().map(String::as_str)) {
                                Some(near) => format!("did you mean `{near}`?"),
                                None => "name a key of `credentials`".to_owned(),
                            },
                        ),
                    );
                    r.ok = false;
                }
                // Requests are matched to a credential by its secret; an OAuth2 token changes.
                if oauth2.contains(&name) {
                    sink.push(
                        Diagnostic::new(
                            Code::E015,
                            format!("{pointer}/credential"),
                            format!("the rate limit names `{name}`, an OAuth2 credential, whose token changes as it is refreshed"),
                        )
                        .help("limit the API's host instead: {\"host\": \"api.example.com\", ...}"),
                    );
                    r.ok = false;
                }
                Some(RateKey::Credential(name.to_owned()))
            }
            (host, _) => {
                let message = if host.is_some() {
                    "a rate limit names both a host and a credential"
                } else {
                    "a rate limit names neither a host nor a credential"
                };
                sink.push(
                    Diagnostic::new(Code::E015, pointer.clone(), message)
                        .help("give each limit exactly one of \"host\" and \"credential\""),
                );
                r.ok = false;
                None
            }
        };
        let given = (r.get("per_second").is_some(), r.get("per_minute").is_some());
        let per_second = match given {
            (true, false) => r.number(sink, "per_second", 0.001, 1_000_000.0),
            (false, true) => r.number(sink, "per_minute", 0.001, 60_000_000.0).map(|n| n / 60.0),
            (both, _) => {
                let message = if both {
                    "a rate limit gives both `per_second` and `per_minute`"
                } else {
                    "a rate limit gives no rate"
                };
                sink.push(
                    Diagnostic::new(Code::E015, pointer.clone(), message)
                        .help("give exactly one of \"per_second\" and \"per_minute\""),
                );
                r.ok = false;
                None
            }
        };
        let burst = r.integer(sink, "burst", 1, 1_000_000).unwrap_or(1);
        if let (true, Some(key), Some(per_second)) = (r.ok, key, per_second) {
            if out.iter().any(|l: &RateLimit| l.key == key) {
                sink.push(
                    Diagnostic::new(Code::E015, pointer.clone(), "a second rate limit for the same host or credential")
                        .help("merge the two entries"),
                );
                continue;
            }
            out.push(RateLimit { key, per_second, burst });
        }
    }
    out
}

/// Reads a retry policy, each field defaulting to `base`'s.
pub fn retry_policy(sink: &mut Sink, value: &Value, pointer: &str, base: &RetryPolicy) -> RetryPolicy {
    let mut out = base.clone();
    let Some(mut r) = Reader::new(sink, value, pointer, RETRY_FIELDS, "the retry policy") else { return out };
    if let Some(n) = r.integer(sink, "max_attempts", 1, 100) {
        out.max_attempts = n;
    }
    if let Some(n) = r.integer(sink, "initial_delay_ms", 0, 3_600_000) {
        out.initial_delay_ms = n;
    }
    if let Some(n) = r.number(sink, "backoff_rate", 1.0, 100.0) {
        out.backoff_rate = n;
    }
    if let Some(n) = r.integer(sink, "max_delay_ms", 0, 3_600_000) {
        out.max_delay_ms = n;
    }
    if let Some(j) = r.one_of(sink, "jitter", &["full", "none"]) {
        out.jitter_full = j == "full";
    }
    match r.get("retry_on") {
        Some(Value::Array(items)) => {
            let kinds: Vec<&str> = flowc_core::ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
            let mut list_out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let at = format!("{pointer}/retry_on/{i}");
                match item.as_str() {
                    Some(kind) if kinds.contains(&kind) => list_out.push(kind.to_owned()),
                    Some(kind) => {
                        let help = match did_you_mean(kind, kinds.iter().copied()) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => format!("error kinds are {}", list(kinds.iter().copied())),
                        };
                        sink.push(Diagnostic::new(Code::E015, at, format!("`{kind}` is not an error kind")).help(help));
                    }
                    None => sink.push(
                        Diagnostic::new(
                            Code::E002,
                            at,
                            format!("an error kind must be a string, not {}", type_name(item)),
                        )
                        .help(format!("error kinds are {}", list(kinds.iter().copied()))),
                    ),
                }
            }
            out.retry_on = list_out;
        }
        Some(other) => sink.push(
            Diagnostic::new(
                Code::E002,
                format!("{pointer}/retry_on"),
                format!("`retry_on` must be an array of error kinds, not {}", type_name(other)),
            )
            .help("e.g. \"retry_on\": [\"server_error\", \"timeout\"]"),
        ),
        None => {}
    }
    out
}

fn credentials(sink: &mut Sink, value: &Value) -> Vec<Credential> {
    let Value::Object(map) = value else {
        sink.push(
            Diagnostic::new(
                Code::E002,
                "/credentials",
                format!("`credentials` must be an object, not {}", type_name(value)),
            )
            .help("e.g. \"credentials\": {\"api\": {\"env\": \"API_TOKEN\"}}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, spec) in map {
        let pointer = format!("/credentials/{}", crate::source::escape(name));
        let what = format!("credential `{name}`");
        let Some(mut r) = Reader::new(sink, spec, &pointer, CREDENTIAL_FIELDS, &what) else { continue };
        if let Some(value) = r.get("oauth2") {
            if r.get("env").is_some() || r.get("file").is_some() {
                sink.push(
                    Diagnostic::new(
                        Code::E015,
                        pointer.clone(),
                        format!("{what} has both `oauth2` and `env` or `file`"),
                    )
                    .help("an OAuth2 credential names its secrets inside `oauth2`: remove `env` and `file`"),
                );
                continue;
            }
            if let Some(oauth2) = oauth2(sink, value, &format!("{pointer}/oauth2"), &what) {
                out.push(Credential { name: name.clone(), source: CredentialSource::OAuth2(Box::new(oauth2)) });
            }
            continue;
        }
        let example = "e.g. {\"env\": \"API_TOKEN\"} or {\"file\": \"/run/secrets/api\"}";
        if let Some(source) = env_or_file(sink, &mut r, &pointer, &what, example) {
            out.push(Credential { name: name.clone(), source });
        }
    }
    out
}

/// Where a secret is read from: exactly one of `env` (a variable name, E028) and `file`, not
/// empty (E015). `what` names the object at `pointer` in messages.
fn env_or_file(
    sink: &mut Sink,
    r: &mut Reader<'_>,
    pointer: &str,
    what: &str,
    example: &str,
) -> Option<CredentialSource> {
    match (r.string(sink, "env"), r.string(sink, "file")) {
        (Some(var), None) if !var.is_empty() => {
            if !crate::ident::is_env_name(var) {
                sink.push(env_name_diagnostic(format!("{pointer}/env"), var, what));
            }
            Some(CredentialSource::Env(var.to_owned()))
        }
        (None, Some(path)) if !path.is_empty() => Some(CredentialSource::File(path.to_owned())),
        _ if !r.ok => None,
        _ => {
            sink.push(
                Diagnostic::new(Code::E015, pointer, format!("{what} needs exactly one of `env` and `file`"))
                    .help(example),
            );
            None
        }
    }
}

/// `credentials.<name>.oauth2`.
fn oauth2(sink: &mut Sink, value: &Value, pointer: &str, what: &str) -> Option<OAuth2> {
    let mut r = Reader::new(sink, value, pointer, OAUTH2_FIELDS, &format!("`oauth2` of {what}"))?;
    let grant = r.one_of(sink, "grant", &["client_credentials", "refresh_token"]);
    let token_url = r.template(sink, "token_url");
    match &token_url {
        Some(crate::template::Template::Literal(url))
            if !(url.starts_with("http://") || url.starts_with("https://")) =>
        {
            r.invalid(
                sink,
                "token_url",
                format!("`token_url` of {what} is `{url}`, which is not an http or https URL"),
                "write the token endpoint, such as \"https://auth.example.com/oauth/token\"".to_owned(),
            );
        }
        Some(template) => {
            if let Some(read) = template.paths().into_iter().find(|p| p.root != PARAMS_ROOT) {
                r.invalid(
                    sink,
                    "token_url",
                    format!(
                        "`token_url` of {what} reads `{{{{ {} }}}}`: a credential is resolved outside any run, so it may read parameters only",
                        read.display()
                    ),
                    "write the URL, or take it from a parameter such as \"{{ params.auth_base }}/oauth/token\"".to_owned(),
                );
            }
        }
        None => {}
    }
    let secret = |r: &mut Reader<'_>, sink: &mut Sink, field: &str| -> Option<CredentialSource> {
        let value = r.get(field)?;
        let at = r.child(field);
        let part = format!("`{field}` of {what}");
        let mut s = Reader::new(sink, value, &at, SECRET_FIELDS, &part)?;
        let example = "e.g. {\"env\": \"CRM_CLIENT_SECRET\"} or {\"file\": \"/run/secrets/crm-secret\"}";
        let source = env_or_file(sink, &mut s, &at, &part, example);
        r.ok &= source.is_some();
        source
    };
    let client_id = secret(&mut r, sink, "client_id");
    let client_secret = secret(&mut r, sink, "client_secret");
    let refresh_token = secret(&mut r, sink, "refresh_token");
    let scopes = r.string_list(sink, "scopes").unwrap_or_default();
    let audience = r.string(sink, "audience").map(str::to_owned);
    let client_auth = r.one_of(sink, "client_auth", &["basic", "body"]).unwrap_or("basic");
    if grant == Some("refresh_token") && refresh_token.is_none() && r.get("refresh_token").is_none() {
        sink.push(
            Diagnostic::new(Code::E004, pointer, format!("`oauth2` of {what} uses the refresh_token grant, but names no `refresh_token`"))
                .help("add \"refresh_token\": {\"file\": \"/run/secrets/refresh\"} (a file, so a rotated token can be written back)"),
        );
        r.ok = false;
    }
    if grant == Some("client_credentials") && r.get("refresh_token").is_some() {
        r.invalid(
            sink,
            "refresh_token",
            format!("`oauth2` of {what} uses the client_credentials grant, which takes no refresh token"),
            "remove `refresh_token`, or use \"grant\": \"refresh_token\"".to_owned(),
        );
    }
    match (r.ok, grant, token_url, client_id) {
        (true, Some(grant), Some(token_url), Some(client_id)) => Some(OAuth2 {
            grant: grant.to_owned(),
            token_url,
            client_id,
            client_secret,
            refresh_token,
            scopes,
            audience,
            client_auth: client_auth.to_owned(),
        }),
        _ => None,
    }
}

/// E028 for a string that must name an environment variable and does not; `what` is where it
/// is ("credential `api`").
pub fn env_name_diagnostic(pointer: String, name: &str, what: &str) -> Diagnostic {
    let shown = crate::escape::one_line(name);
    let suggestion: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    let suggestion = if suggestion.starts_with(|c: char| c.is_ascii_digit()) || suggestion.is_empty() {
        format!("_{suggestion}")
    } else {
        suggestion
    };
    Diagnostic::new(Code::E028, pointer, format!("`{shown}` in {what} is not an environment variable name")).help(
        format!(
            "an environment variable name is ASCII letters, digits and `_`, not starting with a digit, such as `{suggestion}`"
        ),
    )
}

/// Reads one node, at `pointer` (`/nodes/3`, or `/nodes/3/config/nodes/0` inside a map).
/// `Err(Some(id))`: broken, but its id is known.
pub fn node(
    sink: &mut Sink,
    value: &Value,
    pointer: String,
    index: usize,
    settings: &Settings,
    credentials: &[String],
) -> Result<Node, Option<String>> {
    let id_hint = value
        .get("id")
        .and_then(Value::as_str)
        .map(|s| format!("node `{s}`"))
        .unwrap_or_else(|| format!("node {index}"));
    let Some(mut r) = Reader::new(sink, value, &pointer, NODE_FIELDS, &id_hint) else { return Err(None) };
    let id = r.string(sink, "id").map(str::to_owned);
    if let Some(id) = &id {
        if !valid_node_id(id) {
            sink.push(
                Diagnostic::new(Code::E006, format!("{pointer}/id"), format!("the node id `{id}` is not valid"))
                    .help("a node id is 1 to 128 characters: ASCII letters, digits, `_` and `-`"),
            );
            r.ok = false;
        } else if id == PARAMS_ROOT {
            sink.push(
                Diagnostic::new(Code::E006, format!("{pointer}/id"), format!("the node id `{id}` is reserved"))
                    .help("templates read the flow's parameters as `{{ params.<name> }}`: give the node another id"),
            );
            r.ok = false;
        }
    }
    let kind = match r.string(sink, "type") {
        Some(name) => match NodeKind::parse(name) {
            Some(kind) => Some(kind),
            None => {
                let help = match did_you_mean(name, NodeKind::names()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("node kinds are {}", list(NodeKind::names())),
                };
                sink.push(
                    Diagnostic::new(Code::E009, format!("{pointer}/type"), format!("unknown node kind `{name}`"))
                        .help(help),
                );
                None
            }
        },
        None => None,
    };
    let label = r.string(sink, "label").map(str::to_owned);
    let credential = r.string(sink, "credential").map(str::to_owned);
    if let Some(name) = &credential {
        if !credentials.contains(name) {
            let help = match did_you_mean(name, credentials.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!(
                    "declare it: \"credentials\": {{\"{name}\": {{\"env\": \"{}\"}}}}",
                    name.to_uppercase().replace('-', "_")
                ),
            };
            sink.push(
                Diagnostic::new(
                    Code::E014,
                    format!("{pointer}/credential"),
                    format!(
                        "node `{}` uses the credential `{name}`, which the flow does not declare",
                        id.as_deref().unwrap_or("?")
                    ),
                )
                .help(help),
            );
            r.ok = false;
        }
    }
    let retry = match r.get("retry") {
        None => NodeRetry::Inherit,
        Some(Value::Bool(false)) => NodeRetry::Disabled,
        Some(value @ Value::Object(_)) => {
            NodeRetry::Policy(retry_policy(sink, value, &format!("{pointer}/retry"), &settings.retry))
        }
        Some(other) => {
            sink.push(
                Diagnostic::new(
                    Code::E002,
                    format!("{pointer}/retry"),
                    format!("`retry` must be a retry policy object or false, not {}", type_name(other)),
                )
                .help("e.g. \"retry\": {\"max_attempts\": 5} or \"retry\": false"),
            );
            r.ok = false;
            NodeRetry::Inherit
        }
    };
    let timeout_ms = r.integer(sink, "timeout_ms", 1, u32::MAX as u64);
    let deadline_ms = r.integer(sink, "deadline_ms", 1, u32::MAX as u64);
    let on_error = match r.get("on_error") {
        None => OnError::Fail,
        Some(Value::String(s)) if s == "fail" => OnError::Fail,
        Some(Value::String(s)) if s == "continue" => OnError::Continue,
        Some(Value::Object(map)) if map.len() == 1 && map.contains_key("fallback") => {
            OnError::Fallback(map["fallback"].clone())
        }
        Some(other) => {
            sink.push(
                Diagnostic::new(
                    Code::E015,
                    format!("{pointer}/on_error"),
                    format!("`on_error` cannot be {}", super::reader::short(other)),
                )
                .help("use \"fail\", \"continue\" or {\"fallback\": <value>}"),
            );
            r.ok = false;
            OnError::Fail
        }
    };
    let config = r.get("config").cloned().unwrap_or(Value::Object(Default::default()));
    match (id, kind) {
        (Some(id), Some(kind)) if r.ok => {
            Ok(Node { index, pointer, id, kind, label, config, credential, retry, timeout_ms, deadline_ms, on_error })
        }
        (id, _) => Err(id),
    }
}

/// Reads one edge, at `pointer` (`/edges/2`, or `/nodes/3/config/edges/2` inside a map).
pub fn edge(sink: &mut Sink, value: &Value, pointer: String, index: usize) -> Option<Edge> {
    let mut r = Reader::new(sink, value, &pointer, EDGE_FIELDS, &format!("edge {index}"))?;
    let id = r.string(sink, "id").map(str::to_owned);
    let source = r.string(sink, "source").map(str::to_owned);
    let target = r.string(sink, "target").map(str::to_owned);
    let source_handle = r.string(sink, "source_handle").map(str::to_owned);
    r.string(sink, "target_handle");
    r.string(sink, "label");
    match (source, target) {
        (Some(source), Some(target)) if r.ok => Some(Edge { index, pointer, id, source, target, source_handle }),
        _ => None,
    }
}
