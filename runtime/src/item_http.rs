//! n8n's HTTP Request node (v4.x) for compiled item flows: one request per input item, its
//! parameters (URL, query, headers, body) evaluated on that item by generated code, its answer
//! turned into items as n8n turns it.
//!
//! What it keeps of n8n's node (`HttpRequestV3.node.ts` and the request helper it calls):
//! - every input item's request is sent, all at once unless batching spaces them (`batch`:
//!   item `i` starts after `i / size` intervals, without waiting for the batch before, as n8n's
//!   loop sleeps); the items come out in input order, each paired to its input item;
//! - the answer: JSON (autodetected from a `Content-Type` holding `application/json`, or
//!   forced) gives one item per element of an array (an empty array none) and one item for
//!   anything else, `null` as `{}`; a body of nothing but whitespace is `{}`; text gives
//!   `{<output_field>: text}` (`{}` for an empty body); with `full_response` the one item is
//!   `{body, headers, statusCode, statusMessage}` (text: `<output_field>` for `body`);
//! - a status outside 2xx fails the item unless `never_error`: under [`OnError::Stop`] the
//!   node fails with a message near n8n's for the status (`NodeApiError`'s), the status, the
//!   request and the answer's start in it; otherwise the item is n8n's continue-on-fail item,
//!   `{"error": {message: "<status> - <body as JSON>", name, code, status, statusCode, error:
//!   <body>}}` (the request error n8n stores, as its expressions see it); a request that never
//!   got an answer (refused, timed out) fails too, `never_error` or not, its item
//!   `{"error": {message, name, code}}` with the runtime's message and code;
//! - a parameter that does not evaluate, or an answer that is not the JSON it should be, makes
//!   the item `{"error": message}` when the node goes on;
//! - query values and header values are written as text, as JavaScript's `String()` writes
//!   them (`null` as nothing); header names are lower-cased, a later one of the same name
//!   replacing an earlier one; the query is added to the URL's own, RFC 3986-encoded;
//! - redirects are followed (up to `max_redirects`, n8n's 21 when it is 0) unless
//!   `follow_redirects` is off, when a 3xx is the answer, and so an error without
//!   `never_error`; the default timeout is n8n's five minutes.
//!
//! Every request goes through the runtime's [`Http`] (`Http::send_with`), so the defences of
//! every other request apply: redirects followed hop by hop, credentials dropped on a redirect
//! to another origin (n8n 4.4's default), the response size limit, and the rest. The client is
//! one for the process, built once with [`HttpSettings::DEFAULT`].
//!
//! Not here: pagination, binary data (a file answer, autodetected from its content type, is an
//! error: a compiled workflow holds no binary data), multipart bodies, OAuth, digest and query
//! credentials, proxies, and TLS options.

use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::http::{Auth, Body, Expect, Extra, Http, HttpSettings, Request, ResponseFormat};
use crate::item_nodes::Cx;
use crate::items::{text, Item, NodeInput, NodeOutput, OnError, Order, Paired};

/// A request's body, as the node's parameters give it.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemBody {
    None,
    /// `application/json`, unless a header says otherwise.
    Json(Value),
    /// `application/x-www-form-urlencoded`; each value as text.
    Form(Vec<(String, Value)>),
    /// The text as it is, with this `Content-Type` (over any header of that name).
    Raw {
        content_type: String,
        text: String,
    },
}

/// A credential's secrets, read at run time (see [`ItemAuthSource::resolve`]).
#[derive(Clone, PartialEq, Eq)]
pub enum ItemAuth {
    None,
    /// n8n's Header Auth: this header, with this value.
    Header {
        name: String,
        value: String,
    },
    /// n8n's Bearer Auth: `Authorization: Bearer <token>`.
    Bearer(String),
    /// n8n's Basic Auth.
    Basic {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for ItemAuth {
    /// The kind only: never a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ItemAuth::None => "ItemAuth::None",
            ItemAuth::Header { .. } => "ItemAuth::Header([redacted])",
            ItemAuth::Bearer(_) => "ItemAuth::Bearer([redacted])",
            ItemAuth::Basic { .. } => "ItemAuth::Basic([redacted])",
        })
    }
}

/// One item's request, its expressions evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRequest {
    /// An upper-case method name.
    pub method: &'static str,
    pub url: String,
    /// Added to the URL's own query, in order (a name may repeat).
    pub query: Vec<(String, Value)>,
    pub headers: Vec<(String, Value)>,
    pub body: ItemBody,
}

/// How the answer's body is read (n8n's Response Format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON when the `Content-Type` holds `application/json`, text otherwise.
    Autodetect,
    Json,
    Text,
}

/// The node's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    pub format: Format,
    /// One item `{body, headers, statusCode, statusMessage}` per answer.
    pub full_response: bool,
    /// A status outside 2xx is an answer like any other, not an error.
    pub never_error: bool,
    /// Where a text answer goes (`"data"` by default).
    pub output_field: &'static str,
    /// `None`: n8n's default, five minutes.
    pub timeout_ms: Option<u64>,
    /// Items per batch, and the milliseconds between the starts of two batches.
    pub batch: Option<(usize, u64)>,
    pub follow_redirects: bool,
    /// The most redirects followed; 0 is n8n's default, 21.
    pub max_redirects: u32,
    pub auth: ItemAuthSource,
}

/// Where the credential's secrets come from at run time: environment variables named by the compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemAuthSource {
    None,
    Header { name_env: &'static str, value_env: &'static str },
    Bearer { token_env: &'static str },
    Basic { user_env: &'static str, password_env: &'static str },
}

impl ItemAuthSource {
    /// Reads the secrets. A variable that is not set (or, but for a password, is empty) is a
    /// `config` error, code `missing_credential`, that names it.
    pub fn resolve(&self) -> Result<ItemAuth, Error> {
        Ok(match *self {
            ItemAuthSource::None => ItemAuth::None,
            ItemAuthSource::Header { name_env, value_env } => ItemAuth::Header {
                name: secret(name_env, "header name", false)?,
                value: secret(value_env, "header value", false)?,
            },
            ItemAuthSource::Bearer { token_env } => ItemAuth::Bearer(secret(token_env, "token", false)?),
            ItemAuthSource::Basic { user_env, password_env } => ItemAuth::Basic {
                user: secret(user_env, "user", false)?,
                password: secret(password_env, "password", true)?,
            },
        })
    }
}

fn secret(var: &str, part: &str, may_be_empty: bool) -> Result<String, Error> {
    match std::env::var(var) {
        Ok(value) if may_be_empty || !value.is_empty() => Ok(value),
        _ => Err(Error::config(format!(
            "the HTTP Request credential's {part} is not set: set the environment variable {var}"
        ))
        .with_code("missing_credential")),
    }
}

/// n8n's timeout when the node sets none: five minutes.
const DEFAULT_TIMEOUT_MS: u64 = 300_000;

/// n8n's redirect limit when the node sets none (that of Node's `follow-redirects`).
const DEFAULT_MAX_REDIRECTS: usize = 21;

/// Requests of one run in flight at once, at most (n8n sets no limit).
const MAX_IN_FLIGHT: usize = 32;

/// Every status: what `never_error` expects.
static ANY_STATUS: [u16; 900] = {
    let mut all = [0u16; 900];
    let mut i = 0;
    while i < 900 {
        all[i] = 100 + i as u16;
        i += 1;
    }
    all
};

/// Content types n8n takes as a file, not text, when it autodetects (MIME types of archives,
/// documents and media).
const FILE_TYPES: &[&str] = &[
    "image/",
    "audio/",
    "video/",
    "application/octet-stream",
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-tar",
    "application/x-bzip",
    "application/x-bzip2",
    "application/x-7z-compressed",
    "application/vnd.rar",
    "application/x-cdf",
    "application/epub+zip",
    "application/vnd.amazon.ebook",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.ms-fontobject",
    "application/vnd.visio",
];

/// The process's client, built on first use.
fn client() -> Result<&'static Http, Error> {
    static HTTP: OnceLock<Result<Http, Error>> = OnceLock::new();
    HTTP.get_or_init(|| Http::with_settings(HttpSettings::DEFAULT)).as_ref().map_err(Clone::clone)
}

/// n8n's HTTP Request node: per item of `input.main()`, the request `request` gives (evaluated
/// in that item's [`Cx`]), sent through the runtime's [`Http`] and its answer made items on
/// output 0, each paired to its input item (see the module's documentation for the shapes).
///
/// When an item fails and `on_error` is [`OnError::Stop`], the node fails with the first
/// failed item's error, which names the item (`[item 2]`): every request has been sent by then,
/// as in n8n, except when a request could not be made at all, which fails the node before any
/// is sent. Otherwise the failed item becomes an error item and the others go on.
pub async fn http_request(
    input: &NodeInput<'_>,
    config: &HttpConfig,
    on_error: OnError,
    request: impl Fn(&Cx<'_>) -> Result<ItemRequest, Error>,
) -> NodeOutput {
    let from = main_input(input);
    let auth = config.auth.resolve();
    let prepared: Vec<Result<(Request, Extra), Error>> = (0..input.main().len())
        .map(|index| {
            let auth = auth.as_ref().map_err(Clone::clone)?;
            prepare(request(&Cx { input, index })?, auth, config)
        })
        .collect();
    if on_error == OnError::Stop {
        if let Some((index, Err(error))) = prepared.iter().enumerate().find(|(_, p)| p.is_err()) {
            return Err(at_item(error.clone(), index));
        }
    }
    let http = client()?;
    let timeout = Duration::from_millis(config.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    let (size, interval) = match config.batch {
        Some((size, interval)) => (size.max(1), interval),
        None => (1, 0),
    };
    let start = tokio::time::Instant::now();
    let sends = prepared.into_iter().enumerate().map(|(index, prepared)| async move {
        let (request, extra) = prepared?;
        if interval > 0 {
            let batches = u64::try_from(index / size).unwrap_or(u64::MAX);
            tokio::time::sleep_until(start + Duration::from_millis(interval.saturating_mul(batches))).await;
        }
        let target = format!("{} {}", request.method, request.url);
        Ok(match tokio::time::timeout(timeout, http.send_with(request, extra)).await {
            Ok(answer) => answer.map(|answer| (target, answer)),
            Err(_) => Err(Error::timeout(format!(
                "{target}: no answer within {} ms (the node's timeout)",
                timeout.as_millis()
            ))
            .with_code("timeout")),
        })
    });
    let outcomes: Vec<Outcome> = futures::stream::iter(sends).buffered(MAX_IN_FLIGHT).collect().await;
    let mut items = Vec::with_capacity(outcomes.len());
    for (index, outcome) in outcomes.into_iter().enumerate() {
        let paired = vec![Paired { item: index, input: from }];
        let failed = match outcome {
            Ok(Ok((target, answer))) => match answer_items(answer, config, &target) {
                Ok(jsons) => {
                    items.extend(jsons.into_iter().map(|json| Item { json, paired: paired.clone() }));
                    continue;
                }
                Err(error) => (error, None),
            },
            // The request could not be made: n8n's item is the message.
            Err(error) => (error, None),
            Ok(Err(error)) => {
                let item = request_error_item(&error, config.format);
                (status_failure(error), Some(item))
            }
        };
        match failed {
            (error, _) if on_error == OnError::Stop => return Err(at_item(error, index)),
            (_, Some(json)) => items.push(Item { json, paired }),
            (error, None) => items.push(Item { json: json!({"error": error.message}), paired }),
        }
    }
    Ok(vec![items])
}

/// What became of one item's request: not made (the outer error), or sent and answered (the
/// request as `METHOD url`, and the answer) or failed.
type Outcome = Result<Result<(String, Value), Error>, Error>;

/// Which input [`NodeInput::main`] takes its items from.
fn main_input(input: &NodeInput<'_>) -> usize {
    match input.order {
        Order::V0 => 0,
        Order::V1 => input.inputs.iter().position(|items| !items.is_empty()).unwrap_or(0),
    }
}

/// The error of item `index`, which says so.
fn at_item(mut error: Error, index: usize) -> Error {
    if !error.message.contains(&format!("item {index}]")) {
        error.message = format!("{} [item {index}]", error.message);
    }
    error
}

/// The runtime's request for one item's: the URL checked and given its query, headers as
/// text, the body, the credential, and the node's options.
fn prepare(item: ItemRequest, auth: &ItemAuth, config: &HttpConfig) -> Result<(Request, Extra), Error> {
    let url = item.url.trim();
    if url.is_empty() {
        return Err(Error::validation("the URL is empty").with_code("invalid_url"));
    }
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(Error::validation(format!("invalid URL `{url}`: it must start with http:// or https://"))
            .with_code("invalid_url"));
    }
    let mut parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::validation(format!("invalid URL `{url}`: {e}")).with_code("invalid_url"))?;
    if !item.query.is_empty() {
        let mut query = parsed.query().unwrap_or("").to_owned();
        for (name, value) in &item.query {
            if !query.is_empty() {
                query.push('&');
            }
            encode_component(name, &mut query);
            query.push('=');
            encode_component(&text(value), &mut query);
        }
        parsed.set_query(Some(&query));
    }
    // Lower-cased names; a later header of a name replaces the earlier one, in its place.
    let mut headers: Vec<(String, String)> = Vec::with_capacity(item.headers.len() + 2);
    let mut put = |name: String, value: String| match headers.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => headers.push((name, value)),
    };
    for (name, value) in &item.headers {
        if !name.is_empty() {
            put(name.to_ascii_lowercase(), text(value));
        }
    }
    let body = match item.body {
        ItemBody::None => Body::Empty,
        ItemBody::Json(Value::Null) => Body::Empty,
        ItemBody::Json(value) => Body::Json(value),
        ItemBody::Form(pairs) => Body::Form(pairs.into_iter().map(|(name, value)| (name, text(&value))).collect()),
        ItemBody::Raw { content_type, text } => {
            put("content-type".to_owned(), content_type);
            Body::Text(text)
        }
    };
    if !headers.iter().any(|(name, _)| name == "accept") {
        let accept = match config.format {
            Format::Json => "application/json, text/*;q=0.9",
            Format::Text => "application/json, text/html, application/xml, text/*;q=0.9, */*;q=0.1",
            Format::Autodetect => {
                "application/json, text/html, application/xml, text/*;q=0.9, image/*;q=0.8, */*;q=0.7"
            }
        };
        headers.push(("accept".to_owned(), accept.to_owned()));
    }
    // The credential's header wins over one of the same name the node sets.
    let (auth, credential) = match auth {
        ItemAuth::None => (Auth::None, None),
        ItemAuth::Bearer(token) => (Auth::Bearer(token.clone()), None),
        ItemAuth::Basic { user, password } => (Auth::Basic(format!("{user}:{password}")), None),
        ItemAuth::Header { name, value } => (Auth::None, Some((name.to_ascii_lowercase(), value.clone()))),
    };
    let replaced = match (&auth, &credential) {
        (Auth::Bearer(_) | Auth::Basic(_), _) => Some("authorization"),
        (_, Some((name, _))) => Some(name.as_str()),
        _ => None,
    };
    if let Some(replaced) = replaced {
        headers.retain(|(name, _)| name != replaced);
    }
    let max_redirects = match (config.follow_redirects, config.max_redirects) {
        (false, _) => 0,
        (true, 0) => DEFAULT_MAX_REDIRECTS,
        (true, n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let request = Request {
        method: item.method,
        url: parsed.into(),
        query: Vec::new(),
        headers: Vec::new(),
        body,
        auth,
        expect: if config.never_error { Expect::Statuses(&ANY_STATUS) } else { Expect::Success },
        response: ResponseFormat::Text,
        max_response_bytes: None,
    };
    Ok((request, Extra { headers, credential, max_redirects: Some(max_redirects) }))
}

/// Percent-encodes `text` into `out` as a query component (RFC 3986: all but letters, digits
/// and `-_.~`, the bytes of UTF-8).
fn encode_component(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

/// The items an answer (`{status, headers, body}`, the body as text) gives.
fn answer_items(answer: Value, config: &HttpConfig, target: &str) -> Result<Vec<Value>, Error> {
    let Value::Object(mut parts) = answer else {
        return Err(Error::internal(format!("{target}: the HTTP client gave no answer object")));
    };
    let status = parts.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
    let headers = parts.remove("headers").unwrap_or_else(|| Value::Object(Map::new()));
    let body = match parts.remove("body") {
        Some(Value::String(body)) => body,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let content_type = headers.get("content-type").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    let json = match config.format {
        Format::Json => true,
        Format::Text => false,
        Format::Autodetect if content_type.contains("application/json") => true,
        Format::Autodetect if FILE_TYPES.iter().any(|t| content_type.contains(t)) => {
            return Err(Error::validation(format!(
                "{target} answered a file ({content_type}): a compiled workflow takes no binary data; \
                 set the node's Response Format to Text to take it as text"
            ))
            .with_code("binary_response"));
        }
        Format::Autodetect => false,
    };
    let status_message = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    if !json {
        let mut item = Map::new();
        if !body.is_empty() {
            item.insert(config.output_field.to_owned(), Value::String(body));
        }
        if config.full_response {
            item.insert("headers".to_owned(), headers);
            item.insert("statusCode".to_owned(), Value::from(status));
            item.insert("statusMessage".to_owned(), Value::from(status_message));
        }
        return Ok(vec![Value::Object(item)]);
    }
    let parsed = if body.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_str(&body) {
            Ok(parsed) => parsed,
            Err(_) if config.format == Format::Autodetect && config.never_error => Value::Object(Map::new()),
            Err(e) => {
                let advice = match config.format {
                    Format::Json => "; set the node's Response Format to Text to take it as text",
                    _ => "",
                };
                return Err(Error::validation(format!("{target}: the response body is not valid JSON ({e}){advice}"))
                    .with_code("invalid_json")
                    .with_status(status));
            }
        }
    };
    if config.full_response {
        let mut item = Map::with_capacity(4);
        item.insert("body".to_owned(), parsed);
        item.insert("headers".to_owned(), headers);
        item.insert("statusCode".to_owned(), Value::from(status));
        item.insert("statusMessage".to_owned(), Value::from(status_message));
        return Ok(vec![Value::Object(item)]);
    }
    Ok(match parsed {
        Value::Array(elements) => elements.into_iter().map(not_null).collect(),
        other => vec![not_null(other)],
    })
}

/// n8n makes an item of `null` JSON `{}`.
fn not_null(json: Value) -> Value {
    match json {
        Value::Null => Value::Object(Map::new()),
        other => other,
    }
}

/// The status of a request that failed on its answer's status, with that answer's body.
fn failed_status(error: &Error) -> Option<(u16, &Value)> {
    let status = error.status?;
    let data = error.data.as_deref()?;
    (error.code.as_deref() == Some(&format!("http_{status}"))).then(|| (status, &data["body"]))
}

/// What n8n's item is for a request that failed when the node goes on: `{"error": <the
/// request's error>}`, as its expressions see that error. For a status outside 2xx the message
/// is `<status> - <the body as JSON>`, `code` axios's (`ERR_BAD_REQUEST` for 4xx,
/// `ERR_BAD_RESPONSE` for 5xx), and `error` the body (text, or JSON unless the format is
/// autodetected); for a 429 the message is the advice n8n puts there.
fn request_error_item(error: &Error, format: Format) -> Value {
    let mut fields = Map::new();
    match failed_status(error) {
        Some((status, body)) => {
            let body = match (body, format) {
                (Value::String(text), Format::Json | Format::Text) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
                (Value::Null, _) => Value::String(String::new()),
                (body, _) => body.clone(),
            };
            let message = if status == 429 {
                "The service is receiving too many requests: space them out with the node's batching option".to_owned()
            } else {
                format!("{status} - {body}")
            };
            fields.insert("message".to_owned(), Value::String(message));
            fields.insert("name".to_owned(), Value::from("AxiosError"));
            let code = match status {
                400..=499 => Some("ERR_BAD_REQUEST"),
                500..=599 => Some("ERR_BAD_RESPONSE"),
                _ => None,
            };
            if let Some(code) = code {
                fields.insert("code".to_owned(), Value::from(code));
            }
            fields.insert("status".to_owned(), Value::from(status));
            fields.insert("statusCode".to_owned(), Value::from(status));
            fields.insert("error".to_owned(), body);
        }
        None => {
            fields.insert("message".to_owned(), Value::String(error.message.clone()));
            fields.insert("name".to_owned(), Value::from("AxiosError"));
            if let Some(code) = &error.code {
                fields.insert("code".to_owned(), Value::String(code.clone()));
            }
        }
    }
    json!({ "error": fields })
}

/// The node's failure for a request that failed on its answer's status: n8n's sentence for the
/// status first, then what the client says (the request, the status, the body's start). Any
/// other failure is as it is.
fn status_failure(mut error: Error) -> Error {
    let Some((status, _)) = failed_status(&error) else { return error };
    let lead = match status {
        400 => "Bad request: check the request's parameters",
        401 => "Authorization failed: check the credentials",
        402 => "Payment required: check the account's payment details",
        403 => "Forbidden: check the credentials and what they may access",
        404 => "The resource requested could not be found",
        405 => "Method not allowed: check the request's HTTP method",
        429 => "The service is receiving too many requests: space them out with the node's batching option",
        500 => "The service could not process the request",
        502 => "Bad gateway: the service failed to handle the request",
        503 => "Service unavailable: try again later, or set the node to retry on failure",
        504 => "Gateway timeout: try again later",
        _ => match status / 100 {
            4 => "The request is invalid, or the service could not process it",
            5 => "The service failed to process the request",
            _ => return error,
        },
    };
    error.message = format!("{lead} ({status}): {}", error.message);
    error
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::error::ErrorKind;
    use crate::items::{execute, Connection, ItemFlow, ItemNode, NodeFuture};

    /// A request the test server received.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: String,
        at: Instant,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }

        fn path(&self) -> &str {
            self.target.split('?').next().unwrap_or("")
        }
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// An answer: status, content type (none when empty), body.
    fn reply(status: u16, content_type: &str, body: &str) -> String {
        let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        let content_type =
            if content_type.is_empty() { String::new() } else { format!("content-type: {content_type}\r\n") };
        format!(
            "HTTP/1.1 {status} {reason}\r\n{content_type}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    /// The answers by path: JSON objects and arrays, text, errors, a redirect, and `/slow`,
    /// which never answers.
    fn answer(seen: &Seen) -> Option<String> {
        Some(match seen.path() {
            "/one" => reply(200, "application/json; charset=utf-8", r#"{"a":3}"#),
            "/list" => reply(200, "application/json", r#"[{"a":1},{"a":2},null]"#),
            "/none" => reply(200, "application/json", "[]"),
            "/blank" => reply(200, "application/json", " \n"),
            "/text" => reply(200, "text/plain", "hello"),
            "/empty" => reply(204, "", ""),
            "/missing" => reply(404, "application/json", r#"{"message":"no such thing"}"#),
            "/boom" => reply(500, "text/plain", "down"),
            "/busy" => reply(429, "text/plain", "slow down"),
            "/moved" => {
                "HTTP/1.1 302 Found\r\nlocation: /one\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            }
            "/slow" => return None,
            _ => reply(200, "application/json", r#"{"ok":true}"#),
        })
    }

    /// A server on 127.0.0.1 that logs every request and answers it with [`answer`].
    async fn serve() -> (String, Log) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log: Log = Arc::default();
        let logged = log.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = logged.clone();
                tokio::spawn(async move {
                    let mut read = Vec::new();
                    let mut buf = [0u8; 4096];
                    let head_end = loop {
                        if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at;
                        }
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read.extend_from_slice(&buf[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&read[..head_end]).into_owned();
                    let mut lines = head.split("\r\n");
                    let mut start = lines.next().unwrap_or("").split(' ');
                    let (method, target) =
                        (start.next().unwrap_or("").to_owned(), start.next().unwrap_or("").to_owned());
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let length: usize = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = read[head_end + 4..].to_vec();
                    while body.len() < length {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&buf[..n]),
                        }
                    }
                    let seen = Seen {
                        method,
                        target,
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        at: Instant::now(),
                    };
                    log.lock().unwrap().push(seen.clone());
                    match answer(&seen) {
                        Some(answer) => {
                            let _ = stream.write_all(answer.as_bytes()).await;
                            let _ = stream.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        (base, log)
    }

    /// The requests the server got, by target.
    fn seen(log: &Log) -> Vec<Seen> {
        let mut seen = log.lock().unwrap().clone();
        seen.sort_by(|a, b| a.target.cmp(&b.target));
        seen
    }

    static FLOW: ItemFlow =
        ItemFlow { id: "wf-1", name: "Test", description: "", nodes: &[], connections: &[], order: Order::V1 };

    fn input(jsons: &[Value]) -> NodeInput<'static> {
        NodeInput {
            inputs: vec![jsons.iter().enumerate().map(|(i, json)| Item::from(json.clone(), i)).collect()],
            sources: vec![None],
            run_index: 0,
            history: &[],
            order: Order::V1,
            flow: &FLOW,
            execution_id: "exec-1",
            context: Box::leak(Box::default()),
        }
    }

    const BASE: HttpConfig = HttpConfig {
        format: Format::Autodetect,
        full_response: false,
        never_error: false,
        output_field: "data",
        timeout_ms: None,
        batch: None,
        follow_redirects: true,
        max_redirects: 0,
        auth: ItemAuthSource::None,
    };

    fn get(url: String) -> ItemRequest {
        ItemRequest { method: "GET", url, query: Vec::new(), headers: Vec::new(), body: ItemBody::None }
    }

    /// A GET of `base` + the item's `path`.
    async fn run(base: &str, config: &HttpConfig, on_error: OnError, paths: &[&str]) -> NodeOutput {
        let jsons: Vec<Value> = paths.iter().map(|p| json!({ "path": p })).collect();
        let input = input(&jsons);
        http_request(&input, config, on_error, |cx: &Cx<'_>| Ok(get(format!("{base}{}", text(&cx.json()["path"])))))
            .await
    }

    fn jsons(items: &[Item]) -> Vec<Value> {
        items.iter().map(|i| i.json.clone()).collect()
    }

    fn places(items: &[Item]) -> Vec<usize> {
        items.iter().map(|i| i.paired[0].item).collect()
    }

    #[tokio::test]
    async fn each_item_sends_its_own_query_and_headers() {
        let (base, log) = serve().await;
        let input = input(&[json!({"q": "a b", "n": 1}), json!({"q": "x&y/é", "n": 2.5})]);
        let out = http_request(&input, &BASE, OnError::Stop, |cx: &Cx<'_>| {
            Ok(ItemRequest {
                method: "GET",
                url: format!(" {base}/search?fixed=1 "),
                query: vec![("q".into(), cx.json()["q"].clone()), ("n".into(), cx.json()["n"].clone())],
                headers: vec![
                    ("X-Item".into(), cx.json()["n"].clone()),
                    ("X-Missing".into(), Value::Null),
                    ("x-item-index".into(), cx.item_index()),
                ],
                body: ItemBody::None,
            })
        })
        .await
        .unwrap();
        assert_eq!(jsons(&out[0]), [json!({"ok": true}), json!({"ok": true})]);
        assert_eq!(places(&out[0]), [0, 1]);
        let seen = seen(&log);
        let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
        assert_eq!(targets, ["/search?fixed=1&q=a%20b&n=1", "/search?fixed=1&q=x%26y%2F%C3%A9&n=2.5"]);
        assert_eq!(seen[0].method, "GET");
        assert_eq!((seen[0].header("x-item"), seen[1].header("x-item")), (Some("1"), Some("2.5")));
        assert_eq!((seen[0].header("x-item-index"), seen[1].header("x-item-index")), (Some("0"), Some("1")));
        assert_eq!(seen[0].header("x-missing"), Some(""));
        assert!(seen[0].header("accept").is_some_and(|a| a.starts_with("application/json")), "{seen:?}");
    }

    #[tokio::test]
    async fn a_json_array_is_one_item_per_element_and_an_object_one_item() {
        let (base, _) = serve().await;
        let out = run(&base, &BASE, OnError::Stop, &["/list", "/one", "/none", "/blank"]).await.unwrap();
        assert_eq!(jsons(&out[0]), [json!({"a": 1}), json!({"a": 2}), json!({}), json!({"a": 3}), json!({})]);
        // Every element is paired to the item whose request it answered; `[]` gives nothing.
        assert_eq!(places(&out[0]), [0, 0, 0, 1, 3]);
    }

    #[tokio::test]
    async fn text_goes_into_the_output_field_and_a_full_response_has_status_and_headers() {
        let (base, _) = serve().await;
        let out = run(&base, &BASE, OnError::Stop, &["/text", "/empty"]).await.unwrap();
        assert_eq!(jsons(&out[0]), [json!({"data": "hello"}), json!({})]);
        let page = HttpConfig { output_field: "page", ..BASE };
        assert_eq!(jsons(&run(&base, &page, OnError::Stop, &["/text"]).await.unwrap()[0]), [json!({"page": "hello"})]);
        // Forced text keeps JSON as it came.
        let as_text = HttpConfig { format: Format::Text, ..BASE };
        assert_eq!(
            jsons(&run(&base, &as_text, OnError::Stop, &["/one"]).await.unwrap()[0]),
            [json!({"data": r#"{"a":3}"#})]
        );

        let full = HttpConfig { full_response: true, ..BASE };
        let out = run(&base, &full, OnError::Stop, &["/list", "/text"]).await.unwrap();
        assert_eq!(out[0].len(), 2, "a full response is one item, arrays included");
        let json = &out[0][0].json;
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["body", "headers", "statusCode", "statusMessage"]);
        assert_eq!(json["body"], json!([{"a": 1}, {"a": 2}, null]));
        assert_eq!((&json["statusCode"], &json["statusMessage"]), (&json!(200), &json!("OK")));
        assert_eq!(json["headers"]["content-type"], "application/json");
        let text = &out[0][1].json;
        let keys: Vec<&str> = text.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["data", "headers", "statusCode", "statusMessage"]);
        assert_eq!(text["data"], "hello");

        // Forced JSON that is not JSON fails, and says what to do.
        let as_json = HttpConfig { format: Format::Json, ..BASE };
        let error = run(&base, &as_json, OnError::Stop, &["/one", "/text"]).await.unwrap_err();
        assert_eq!((error.kind, error.code.as_deref()), (ErrorKind::Validation, Some("invalid_json")));
        assert!(error.message.contains("Response Format") && error.message.ends_with("[item 1]"), "{}", error.message);
    }

    #[tokio::test]
    async fn a_404_fails_the_node_naming_the_item() {
        let (base, log) = serve().await;
        let error = run(&base, &BASE, OnError::Stop, &["/one", "/missing", "/text"]).await.unwrap_err();
        assert_eq!(
            (error.kind, error.status, error.code.as_deref()),
            (ErrorKind::NotFound, Some(404), Some("http_404"))
        );
        let message = &error.message;
        assert!(message.starts_with("The resource requested could not be found (404): GET http://"), "{message}");
        assert!(message.contains("answered 404 Not Found") && message.contains("no such thing"), "{message}");
        assert!(message.ends_with("[item 1]"), "{message}");
        assert_eq!(error.data.as_deref().map(|d| d["status"].clone()), Some(json!(404)));
        assert_eq!(log.lock().unwrap().len(), 3, "every request went, as in n8n");
    }

    #[tokio::test]
    async fn never_error_takes_a_404_as_an_answer() {
        let (base, _) = serve().await;
        let never = HttpConfig { never_error: true, ..BASE };
        let out = run(&base, &never, OnError::Stop, &["/missing"]).await.unwrap();
        assert_eq!(jsons(&out[0]), [json!({"message": "no such thing"})]);
        let full = HttpConfig { full_response: true, ..never };
        let out = run(&base, &full, OnError::Stop, &["/missing", "/boom"]).await.unwrap();
        assert_eq!(out[0][0].json["statusCode"], 404);
        assert_eq!(out[0][0].json["statusMessage"], "Not Found");
        assert_eq!(out[0][0].json["body"], json!({"message": "no such thing"}));
        assert_eq!(out[0][1].json["data"], "down");
        assert_eq!(out[0][1].json["statusCode"], 500);
    }

    #[tokio::test]
    async fn a_500_going_on_becomes_an_error_item_paired_to_its_input_item() {
        let (base, _) = serve().await;
        let out = run(&base, &BASE, OnError::ContinueRegular, &["/one", "/boom", "/busy"]);
        let config = HttpConfig { timeout_ms: Some(300), ..BASE };
        let out = tokio::join!(out, run(&base, &config, OnError::ContinueRegular, &["/slow"]));
        let items = &out.0.unwrap()[0];
        assert_eq!(items[0].json, json!({"a": 3}));
        assert_eq!(
            items[1].json,
            json!({"error": {
                "message": "500 - \"down\"",
                "name": "AxiosError",
                "code": "ERR_BAD_RESPONSE",
                "status": 500,
                "statusCode": 500,
                "error": "down",
            }})
        );
        assert_eq!(places(items), [0, 1, 2]);
        assert_eq!(items[2].json["error"]["code"], "ERR_BAD_REQUEST");
        assert!(items[2].json["error"]["message"].as_str().unwrap().contains("batching"), "{:?}", items[2].json);
        // No answer within the timeout: an error item too.
        let slow = &out.1.unwrap()[0][0].json;
        assert_eq!(slow["error"]["code"], "timeout");
        assert!(slow["error"]["message"].as_str().unwrap().contains("no answer within 300 ms"), "{slow}");
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_made_is_an_error_item_or_fails_before_any_is_sent() {
        let (base, log) = serve().await;
        let input = input(&[json!({"url": format!("{base}/one")}), json!({"url": "ftp://example.com/x"})]);
        let request = |cx: &Cx<'_>| Ok(get(text(&cx.json()["url"])));
        let out = http_request(&input, &BASE, OnError::ContinueErrorOutput, request).await.unwrap();
        assert_eq!(out[0][0].json, json!({"a": 3}));
        assert_eq!(
            out[0][1].json,
            json!({"error": "invalid URL `ftp://example.com/x`: it must start with http:// or https://"})
        );
        assert_eq!(places(&out[0]), [0, 1]);
        assert_eq!(log.lock().unwrap().len(), 1);
        let error = http_request(&input, &BASE, OnError::Stop, request).await.unwrap_err();
        assert!(error.message.ends_with("[item 1]"), "{}", error.message);
        assert_eq!(log.lock().unwrap().len(), 1, "nothing was sent");
        let broken = |_: &Cx<'_>| Err::<ItemRequest, _>(Error::validation("the expression broke"));
        let out = http_request(&input, &BASE, OnError::ContinueRegular, broken).await.unwrap();
        assert_eq!(
            jsons(&out[0]),
            [json!({"error": "the expression broke"}), json!({"error": "the expression broke"})]
        );
    }

    #[tokio::test]
    async fn json_form_and_raw_bodies_arrive_as_sent() {
        let (base, log) = serve().await;
        let input = input(&[json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
        let out = http_request(&input, &BASE, OnError::Stop, |cx: &Cx<'_>| {
            let (path, body) = match cx.index {
                0 => ("/json", ItemBody::Json(json!({"a": [1, "x"], "b": null, "n": cx.json()["n"]}))),
                1 => {
                    ("/form", ItemBody::Form(vec![("name".into(), json!("Ada Lovelace & co")), ("n".into(), json!(2))]))
                }
                _ => ("/raw", ItemBody::Raw { content_type: "text/csv".into(), text: "a,b\n1,2".into() }),
            };
            Ok(ItemRequest {
                method: "POST",
                url: format!("{base}{path}"),
                query: Vec::new(),
                headers: vec![("Content-Type".into(), json!("text/plain"))],
                body,
            })
        })
        .await
        .unwrap();
        assert_eq!(out[0].len(), 3);
        let seen = seen(&log);
        let [form, json, raw] = seen.as_slice() else { panic!("{seen:?}") };
        assert!(seen.iter().all(|s| s.method == "POST"));
        assert_eq!(serde_json::from_str::<Value>(&json.body).unwrap(), json!({"a": [1, "x"], "b": null, "n": 1}));
        assert_eq!(form.body, "name=Ada+Lovelace+%26+co&n=2");
        assert_eq!(raw.body, "a,b\n1,2");
        assert_eq!(raw.header("content-type"), Some("text/csv"), "the raw body's type wins");
        // A content type the node sets is the one that goes.
        assert_eq!(json.header("content-type"), Some("text/plain"));
        let input = super::tests::input(&[json!({})]);
        http_request(&input, &BASE, OnError::Stop, |_: &Cx<'_>| {
            Ok(ItemRequest { body: ItemBody::Json(json!({"x": 1})), ..get(format!("{base}/json2")) })
        })
        .await
        .unwrap();
        let last = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.header("content-type"), Some("application/json"));
    }

    #[tokio::test]
    async fn credentials_come_from_the_environment() {
        let (base, log) = serve().await;
        std::env::set_var("FLOWC_TEST_ITEM_HTTP_BEARER", "tok-123");
        std::env::set_var("FLOWC_TEST_ITEM_HTTP_HEADER_NAME", "X-Api-Key");
        std::env::set_var("FLOWC_TEST_ITEM_HTTP_HEADER_VALUE", "k-456");
        std::env::set_var("FLOWC_TEST_ITEM_HTTP_USER", "ada");
        std::env::set_var("FLOWC_TEST_ITEM_HTTP_PASSWORD", "pw");
        let sources = [
            ("/bearer", ItemAuthSource::Bearer { token_env: "FLOWC_TEST_ITEM_HTTP_BEARER" }),
            (
                "/header",
                ItemAuthSource::Header {
                    name_env: "FLOWC_TEST_ITEM_HTTP_HEADER_NAME",
                    value_env: "FLOWC_TEST_ITEM_HTTP_HEADER_VALUE",
                },
            ),
            (
                "/basic",
                ItemAuthSource::Basic {
                    user_env: "FLOWC_TEST_ITEM_HTTP_USER",
                    password_env: "FLOWC_TEST_ITEM_HTTP_PASSWORD",
                },
            ),
        ];
        for (path, auth) in sources {
            let config = HttpConfig { auth, ..BASE };
            let input = input(&[json!({})]);
            http_request(&input, &config, OnError::Stop, |_: &Cx<'_>| {
                // The node's own header of the credential's name gives way to the credential.
                Ok(ItemRequest {
                    headers: vec![("authorization".into(), json!("mine")), ("x-api-key".into(), json!("mine"))],
                    ..get(format!("{base}{path}"))
                })
            })
            .await
            .unwrap();
        }
        let seen = seen(&log);
        let [basic, bearer, header] = seen.as_slice() else { panic!("{seen:?}") };
        assert_eq!(bearer.header("authorization"), Some("Bearer tok-123"));
        assert_eq!(header.header("x-api-key"), Some("k-456"));
        assert_eq!(header.header("authorization"), Some("mine"));
        assert_eq!(basic.header("authorization"), Some("Basic YWRhOnB3"));
        assert_eq!(format!("{:?}", config_auth()), "ItemAuth::Bearer([redacted])");

        let missing = HttpConfig { auth: ItemAuthSource::Bearer { token_env: "FLOWC_TEST_ITEM_HTTP_UNSET" }, ..BASE };
        let error = run(&base, &missing, OnError::Stop, &["/one"]).await.unwrap_err();
        assert_eq!((error.kind, error.code.as_deref()), (ErrorKind::Config, Some("missing_credential")));
        assert!(
            error.message.contains("FLOWC_TEST_ITEM_HTTP_UNSET") && error.message.ends_with("[item 0]"),
            "{}",
            error.message
        );
        assert_eq!(log.lock().unwrap().len(), 3, "no request without its credential");
    }

    fn config_auth() -> ItemAuth {
        ItemAuthSource::Bearer { token_env: "FLOWC_TEST_ITEM_HTTP_BEARER" }.resolve().unwrap()
    }

    #[tokio::test]
    async fn batches_start_an_interval_apart_and_items_keep_their_order() {
        let (base, log) = serve().await;
        let config = HttpConfig { batch: Some((2, 150)), ..BASE };
        let started = Instant::now();
        let out = run(&base, &config, OnError::Stop, &["/b0", "/b1", "/b2", "/b3", "/b4"]).await.unwrap();
        assert_eq!(places(&out[0]), [0, 1, 2, 3, 4]);
        let seen = seen(&log);
        let after = |i: usize| seen[i].at.duration_since(started);
        for i in 0..2 {
            assert!(after(i) < Duration::from_millis(140), "batch 0: {:?}", after(i));
        }
        for i in 2..4 {
            assert!(after(i) >= Duration::from_millis(150) && after(i) < Duration::from_millis(290), "{:?}", after(i));
        }
        assert!(after(4) >= Duration::from_millis(300), "batch 2: {:?}", after(4));
    }

    #[tokio::test]
    async fn redirects_are_followed_unless_the_node_says_not_to() {
        let (base, _) = serve().await;
        assert_eq!(jsons(&run(&base, &BASE, OnError::Stop, &["/moved"]).await.unwrap()[0]), [json!({"a": 3})]);
        let stay = HttpConfig { follow_redirects: false, never_error: true, full_response: true, ..BASE };
        let out = run(&base, &stay, OnError::Stop, &["/moved"]).await.unwrap();
        assert_eq!(out[0][0].json["statusCode"], 302);
        assert_eq!(out[0][0].json["headers"]["location"], "/one");
        let error =
            run(&base, &HttpConfig { follow_redirects: false, ..BASE }, OnError::Stop, &["/moved"]).await.unwrap_err();
        assert_eq!((error.status, error.code.as_deref()), (Some(302), Some("http_302")));
        let error =
            run(&base, &HttpConfig { timeout_ms: Some(200), ..BASE }, OnError::Stop, &["/slow"]).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Timeout);
        assert!(error.message.ends_with("[item 0]"), "{}", error.message);
    }

    // As generated code calls it: a node function whose future is `Send`, run by the
    // scheduler, whose error output takes the error items.
    const ERRORS: HttpConfig = BASE;

    fn start(input: NodeInput<'_>) -> NodeFuture<'_> {
        Box::pin(async move { Ok(vec![input.main().to_vec()]) })
    }

    fn fetch(input: NodeInput<'_>) -> NodeFuture<'_> {
        Box::pin(async move {
            http_request(&input, &ERRORS, OnError::ContinueErrorOutput, |cx: &Cx<'_>| Ok(get(text(&cx.json()["url"]))))
                .await
        })
    }

    static NODES: [ItemNode; 2] = [
        ItemNode::new("Start", "manualTrigger", "", (0, 0), 1, start),
        ItemNode::new("HTTP Request", "httpRequest", "", (200, 0), 1, fetch).on_error(OnError::ContinueErrorOutput),
    ];
    static WIRES: [Connection; 1] = [Connection { source: 0, output: 0, target: 1, input: 0 }];

    #[tokio::test]
    async fn the_scheduler_sends_error_items_to_the_error_output() {
        let (base, _) = serve().await;
        let flow =
            ItemFlow { id: "wf", name: "wf", description: "", nodes: &NODES, connections: &WIRES, order: Order::V1 };
        let items = vec![
            Item::new(json!({"url": format!("{base}/one")})),
            Item::new(json!({"url": format!("{base}/missing"), "keep": true})),
        ];
        let execution = execute(&flow, 0, items, "exec-1").await;
        assert!(execution.error.is_none(), "{:?}", execution.error);
        let run = &execution.runs[1];
        assert_eq!(jsons(&run.outputs[0]), [json!({"a": 3})]);
        assert_eq!(run.outputs[1].len(), 1);
        let error = &run.outputs[1][0].json;
        assert_eq!((&error["keep"], &error["error"]["status"]), (&json!(true), &json!(404)));
        assert_eq!(error["error"]["message"], r#"404 - "{\"message\":\"no such thing\"}""#);
    }
}
