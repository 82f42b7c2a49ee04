//! One pooled HTTP client per run, and the mapping of HTTP outcomes onto the error taxonomy.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::breaker::Breakers;
use crate::error::{Error, ErrorKind};
use crate::events::Events;
use crate::flow::Flow;
use crate::ratelimit::Limiters;

/// The run's HTTP client. Connections are pooled across every node of the run.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    /// The run's rate limits (none outside a run).
    limiters: std::sync::Arc<Limiters>,
    /// The run's circuit breakers (none outside a run).
    breakers: std::sync::Arc<Breakers>,
}

/// A request, as an `http_request` node's config compiles to.
#[derive(Debug, Clone)]
pub struct Request {
    /// An upper-case method name; flowc accepts only the standard ones.
    pub method: &'static str,
    pub url: String,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    pub auth: Auth,
    pub expect: Expect,
    pub response: ResponseFormat,
}

/// The request body.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    /// `application/json`.
    Json(Value),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// `text/plain`, unless a header says otherwise.
    Text(String),
}

/// How the request authenticates, with a secret resolved from a credential.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer(String),
    /// `Authorization: Basic`, from a secret of the form `user:password`.
    Basic(String),
    /// The secret as the value of a header of this name.
    Header(&'static str, String),
}

/// Which statuses count as success.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Any 2xx.
    Success,
    /// Exactly these.
    Statuses(&'static [u16]),
}

/// How the response body becomes data.
#[derive(Debug, Clone, Copy)]
pub enum ResponseFormat {
    /// JSON when the `Content-Type` says so, text otherwise.
    Auto,
    /// Always JSON; a body that is not JSON is a `validation` error.
    Json,
    /// Always text.
    Text,
}

impl Request {
    /// A call of a JSON API, as the integrations make them: any 2xx is success, the answer is
    /// JSON, and `api_key`, when there is one, goes as a bearer token.
    pub fn api(method: &'static str, url: String, body: Body, api_key: Option<String>) -> Request {
        Request {
            method,
            url,
            query: Vec::new(),
            headers: Vec::new(),
            body,
            auth: api_key.map_or(Auth::None, Auth::Bearer),
            expect: Expect::Success,
            response: ResponseFormat::Json,
        }
    }
}

impl Body {
    /// A form body from an object: each member's value as text (strings as they are, other
    /// values as JSON; `null` as empty).
    pub fn form(value: Value) -> Body {
        match value {
            Value::Object(map) => Body::Form(map.into_iter().map(|(k, v)| (k, crate::value::to_text(&v))).collect()),
            other => Body::Text(crate::value::to_text(&other)),
        }
    }
}

impl Http {
    /// Builds the client: rustls, a connect timeout, a user agent naming the runtime.
    pub fn new() -> Result<Self, Error> {
        // reqwest is built without a default crypto provider so that one provider (ring) serves
        // both our requests and rmcp's; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("flowc-runtime/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::config(format!("cannot start the HTTP client: {e}")))?;
        Ok(Http { client, limiters: Default::default(), breakers: Default::default() })
    }

    /// The client for a run of `flow`, with its rate limits and its circuit breakers (which
    /// report their changes of state to `events`).
    pub fn for_flow(flow: &Flow, events: &Events) -> Result<Self, Error> {
        let mut http = Http::new()?;
        http.limiters = std::sync::Arc::new(Limiters::new(flow));
        http.breakers = std::sync::Arc::new(Breakers::new(flow, events));
        Ok(http)
    }

    /// The run's circuit breakers.
    pub(crate) fn breakers(&self) -> &std::sync::Arc<Breakers> {
        &self.breakers
    }

    /// The underlying client, for integrations.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request`; the result is `{status, headers, body}`. A status outside `expect` is
    /// an error whose kind follows the status (and whose `data` is that same object).
    ///
    /// A circuit breaker that guards the host and is open fails the request at once with a
    /// `circuit_open` error; the request's outcome is recorded in the node's logical call.
    pub async fn send(&self, request: Request) -> Result<Value, Error> {
        let host = if self.limiters.is_empty() && self.breakers.is_empty() { None } else { host_key(&request.url) };
        // Before the rate limits: a request the breaker refuses does not wait for a turn.
        let ticket = self.breakers.admit(host.as_deref())?;
        if !self.limiters.is_empty() {
            let secrets: Vec<&str> = match &request.auth {
                Auth::None => Vec::new(),
                Auth::Bearer(secret) | Auth::Basic(secret) | Auth::Header(_, secret) => vec![secret.as_str()],
            };
            self.limiters.wait(host.as_deref(), &secrets).await;
        }
        let Some(ticket) = ticket else { return self.exchange(request).await };
        ticket.sent();
        let result = self.exchange(request).await;
        ticket.finish(&result);
        result
    }

    /// Sends `request` and reads the answer (no rate limit, no breaker).
    async fn exchange(&self, request: Request) -> Result<Value, Error> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| Error::config(format!("`{}` is not an HTTP method", request.method)))?;
        // `GET <url>`, for error messages only.
        let target = || format!("{} {}", request.method, request.url);
        let mut builder = self.client.request(method, &request.url);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        builder = match request.auth {
            Auth::None => builder,
            Auth::Bearer(token) => builder.bearer_auth(token),
            Auth::Basic(secret) => match secret.split_once(':') {
                Some((user, password)) => builder.basic_auth(user, Some(password)),
                None => builder.basic_auth(secret, None::<&str>),
            },
            Auth::Header(name, value) => builder.header(name, value),
        };
        let has_content_type = request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        builder = match request.body {
            Body::Empty => builder,
            Body::Json(value) => builder.json(&value),
            Body::Form(pairs) => builder.form(&pairs),
            Body::Text(text) if has_content_type => builder.body(text),
            Body::Text(text) => builder.header("content-type", "text/plain; charset=utf-8").body(text),
        };
        let response = builder.send().await.map_err(|e| transport_error(&target(), &e))?;
        let status = response.status().as_u16();
        let headers = header_map(response.headers());
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let text = response.text().await.map_err(|e| transport_error(&target(), &e))?;
        let expected = match request.expect {
            Expect::Success => (200..300).contains(&status),
            Expect::Statuses(list) => list.contains(&status),
        };
        let body = match request.response {
            ResponseFormat::Text => Value::String(text),
            ResponseFormat::Json if expected && text.is_empty() => Value::Null,
            ResponseFormat::Json if expected => serde_json::from_str(&text).map_err(|e| {
                Error::validation(format!("{}: the response is not JSON ({e}): {}", target(), excerpt(&text)))
                    .with_code("invalid_json")
                    .with_status(status)
            })?,
            ResponseFormat::Json | ResponseFormat::Auto if is_json || text.is_empty() => {
                if text.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                }
            }
            _ => Value::String(text),
        };
        // Built from the parts (`json!` would copy `headers` and `body`).
        let mut data = Map::with_capacity(3);
        data.insert("status".to_owned(), Value::from(status));
        data.insert("headers".to_owned(), headers);
        data.insert("body".to_owned(), body);
        let data = Value::Object(data);
        if expected {
            return Ok(data);
        }
        Err(status_error(&target(), status, &data["body"]).with_retry_after(retry_after).with_data(data))
    }
}

/// How rate limits and circuit breakers name a URL's host: `api.example.com`, or
/// `host:port` when the URL names a port that is not its scheme's default.
fn host_key(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.to_owned();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// The error for an unexpected HTTP status.
pub fn status_error(target: &str, status: u16, body: &Value) -> Error {
    let kind = match status {
        401 | 403 => ErrorKind::Permission,
        404 | 410 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimit,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::ClientError,
    };
    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let detail = match body {
        Value::Null => String::new(),
        Value::String(s) => format!(": {}", excerpt(s)),
        other => format!(": {}", excerpt(&other.to_string())),
    };
    Error::new(kind, format!("{target} answered {status} {reason}{detail}"))
        .with_code(format!("http_{status}"))
        .with_status(status)
}

pub(crate) fn transport_error(target: &str, error: &reqwest::Error) -> Error {
    // reqwest's Display omits the cause ("error sending request"); the chain says why.
    let mut message = format!("{target}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if error.is_builder() {
        ErrorKind::Config
    } else if error.is_decode() && decodes_json(error) {
        ErrorKind::Validation
    } else {
        // A decode error without a JSON error behind it is the body failing to arrive: the
        // connection closed before `Content-Length` bytes came, or was reset mid-body.
        ErrorKind::Network
    };
    Error::new(kind, message).with_code(if error.is_connect() { "connect" } else { kind.as_str() })
}

/// Whether a JSON parse error is among `error`'s causes (reqwest's `json()`, as rmcp uses it).
fn decodes_json(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<serde_json::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// `Retry-After` is either seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn header_map(headers: &reqwest::header::HeaderMap) -> Value {
    Value::Object(headers_object(headers, &[]))
}

/// Headers as a JSON object: names in lower case, repeated headers joined with `, `, the
/// headers named in `leave_out` left out.
pub(crate) fn headers_object(headers: &reqwest::header::HeaderMap, leave_out: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in headers {
        if leave_out.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    out
}

fn excerpt(text: &str) -> String {
    clip(text, 200)
}

/// `text` cut after `max` characters, with an ellipsis when it was longer.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_onto_kinds() {
        let kind = |s| status_error("GET x", s, &Value::Null).kind;
        assert_eq!(kind(401), ErrorKind::Permission);
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(429), ErrorKind::RateLimit);
        assert_eq!(kind(503), ErrorKind::ServerError);
        assert_eq!(kind(422), ErrorKind::ClientError);
        let e = status_error("GET x", 503, &json!({"error": "down"}));
        assert!(e.retryable);
        assert_eq!(e.code.as_deref(), Some("http_503"));
        assert!(e.message.contains(r#"{"error":"down"}"#), "{}", e.message);
        assert!(!status_error("GET x", 400, &Value::Null).retryable);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        let later = SystemTime::now() + Duration::from_secs(30);
        let wait = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28), "{wait:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
