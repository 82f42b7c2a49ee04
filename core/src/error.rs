//! The error taxonomy shared by every node kind.
//!
//! Every failure a node can have is one [`Error`] with one [`ErrorKind`]. The kind decides
//! whether a retry policy retries it by default, and is what `retry_on` lists name.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// What went wrong, in terms a flow author can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Data did not have the expected shape (bad input, a jq result of the wrong type).
    Validation,
    /// The service refused the credentials (HTTP 401, 403).
    Permission,
    /// The thing asked for does not exist (HTTP 404).
    NotFound,
    /// The service asked us to slow down (HTTP 429).
    RateLimit,
    /// An attempt or a deadline ran out.
    Timeout,
    /// The connection failed: refused, reset, DNS, TLS.
    Network,
    /// The service failed (HTTP 5xx).
    ServerError,
    /// The service rejected the request (other HTTP 4xx).
    ClientError,
    /// The program is misconfigured: a credential is missing, a filter does not compile.
    Config,
    /// A bug: a panic in a node, a broken invariant.
    Internal,
    /// The run was interrupted (Ctrl-C, SIGTERM) while the node ran.
    Cancelled,
    /// A circuit breaker for the host is open: the call failed at once, without a request.
    CircuitOpen,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Validation,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::RateLimit,
        ErrorKind::Timeout,
        ErrorKind::Network,
        ErrorKind::ServerError,
        ErrorKind::ClientError,
        ErrorKind::Config,
        ErrorKind::Internal,
        ErrorKind::Cancelled,
        ErrorKind::CircuitOpen,
    ];

    /// The name used in flow documents, envelopes and events.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::Permission => "permission",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::ServerError => "server_error",
            ErrorKind::ClientError => "client_error",
            ErrorKind::Config => "config",
            ErrorKind::Internal => "internal",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::CircuitOpen => "circuit_open",
        }
    }

    /// Whether trying again may help: the kinds a retry policy retries by default.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::RateLimit | ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::Network)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's failure, as reported in its envelope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// A machine-readable code from the service or the runtime (`"http_503"`, `"missing_credential"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Whether trying again may help (by default, [`ErrorKind::is_transient`]).
    pub retryable: bool,
    /// The HTTP status, when the failure was an HTTP answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long the service asked us to wait (`Retry-After`); honoured by retries.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// What the node had received when it failed (an HTTP error response, say): kept in the
    /// envelope's `data` so nothing is lost, but not passed downstream.
    #[serde(skip)]
    pub data: Option<Box<serde_json::Value>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            code: None,
            retryable: kind.is_transient(),
            status: None,
            retry_after: None,
            data: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Validation, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(Box::new(data));
        self
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}
