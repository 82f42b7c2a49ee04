//! The flow document, version 1, as typed values: what the shape phase reads out of the JSON.
//! No logic here beyond defaults.

use serde_json::Value;

use crate::nodes::NodeKind;

/// A whole document.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub settings: Settings,
    pub credentials: Vec<Credential>,
    pub parameters: Vec<Parameter>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// `settings`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub max_concurrency: u64,
    pub timeout_ms: Option<u64>,
    pub retry: RetryPolicy,
    pub rate_limits: Vec<RateLimit>,
    pub circuit_breakers: Vec<CircuitBreaker>,
    pub http: HttpSettings,
}

/// `settings.http`: the limits of every request the run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    pub max_response_bytes: u64,
    pub deny_private_networks: bool,
}

impl HttpSettings {
    /// 32 MiB, as the runtime's `HttpSettings::DEFAULT_MAX_RESPONSE_BYTES`.
    pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
    /// The largest `max_response_bytes` flowc accepts: 4 GiB.
    pub const MAX_RESPONSE_BYTES_LIMIT: u64 = 4 * 1024 * 1024 * 1024;
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { max_response_bytes: HttpSettings::DEFAULT_MAX_RESPONSE_BYTES, deny_private_networks: false }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrency: 16,
            timeout_ms: None,
            retry: RetryPolicy::default(),
            rate_limits: Vec::new(),
            circuit_breakers: Vec::new(),
            http: HttpSettings::default(),
        }
    }
}

/// A circuit breaker for every request to one host (`settings.circuit_breakers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// `api.example.com`, or `host:port`; lowercase.
    pub host: String,
    /// Consecutive failed logical calls that open the breaker.
    pub failure_threshold: u64,
    /// How long it stays open before it lets a trial call through.
    pub open_ms: u64,
    /// Consecutive successful trial calls that close it again.
    pub success_threshold: u64,
}

impl CircuitBreaker {
    pub const DEFAULT_FAILURE_THRESHOLD: u64 = 5;
    pub const DEFAULT_OPEN_MS: u64 = 30_000;
    pub const DEFAULT_SUCCESS_THRESHOLD: u64 = 1;
}

/// A rate limit shared by every request to a host, or made with a credential.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub key: RateKey,
    /// Requests per second (`per_minute` is converted).
    pub per_second: f64,
    /// How many requests may go at once after a quiet time.
    pub burst: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    Host(String),
    Credential(String),
}

/// A retry policy with every field resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u64,
    pub initial_delay_ms: u64,
    pub backoff_rate: f64,
    pub max_delay_ms: u64,
    pub jitter_full: bool,
    /// Error kind names, as written (checked against the runtime's taxonomy).
    pub retry_on: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_delay_ms: 1000,
            backoff_rate: 2.0,
            max_delay_ms: 10_000,
            jitter_full: true,
            retry_on: ["rate_limit", "server_error", "timeout", "network"].map(String::from).to_vec(),
        }
    }
}

/// A declared parameter: a non-secret value per deployment, read from an environment
/// variable once at start-up (`{{ params.name }}`, `$params.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub env: String,
    /// The value when the variable is unset or empty; without one the parameter is required.
    pub default: Option<String>,
    /// `enum`: the values it may take (empty: any).
    pub allowed: Vec<String>,
    pub description: Option<String>,
}

/// A declared credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub name: String,
    pub source: CredentialSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Env(String),
    File(String),
    /// An access token fetched from a token endpoint; its secrets are `Env` or `File`.
    OAuth2(Box<OAuth2>),
}

impl CredentialSource {
    /// The environment variables and files the credential reads, each with what it is
    /// (`""` for a plain credential, `"client_id"`, `"client_secret"`, `"refresh_token"`).
    pub fn secrets(&self) -> Vec<(&'static str, &CredentialSource)> {
        match self {
            CredentialSource::OAuth2(oauth2) => std::iter::once(("client_id", &oauth2.client_id))
                .chain(oauth2.client_secret.iter().map(|s| ("client_secret", s)))
                .chain(oauth2.refresh_token.iter().map(|s| ("refresh_token", s)))
                .collect(),
            plain => vec![("", plain)],
        }
    }
}

/// An OAuth2 credential (`"oauth2": {...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// `client_credentials` or `refresh_token`.
    pub grant: String,
    /// Literals and parameters.
    pub token_url: crate::template::Template,
    pub client_id: CredentialSource,
    pub client_secret: Option<CredentialSource>,
    pub refresh_token: Option<CredentialSource>,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
    /// `basic` or `body`.
    pub client_auth: String,
}

/// A node's `retry`.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeRetry {
    /// Not given: `settings.retry`.
    Inherit,
    /// `false`.
    Disabled,
    /// Given: `settings.retry` with these fields replaced.
    Policy(RetryPolicy),
}

/// A node's `on_error`.
#[derive(Debug, Clone, PartialEq)]
pub enum OnError {
    Fail,
    Continue,
    Fallback(Value),
}

/// One node. `config` is still raw: the config phase reads it per kind.
#[derive(Debug, Clone)]
pub struct Node {
    /// Index in `nodes`.
    pub index: usize,
    /// `/nodes/3`.
    pub pointer: String,
    pub id: String,
    pub kind: NodeKind,
    pub label: Option<String>,
    pub config: Value,
    pub credential: Option<String>,
    pub retry: NodeRetry,
    pub timeout_ms: Option<u64>,
    /// A limit on the node as a whole, retries and waits included.
    pub deadline_ms: Option<u64>,
    pub on_error: OnError,
}

/// One edge.
#[derive(Debug, Clone)]
pub struct Edge {
    pub index: usize,
    pub pointer: String,
    pub id: Option<String>,
    pub source: String,
    pub target: String,
    pub source_handle: Option<String>,
}
