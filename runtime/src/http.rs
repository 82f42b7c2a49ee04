//! One pooled HTTP client per run, and the mapping of HTTP outcomes onto the error taxonomy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::breaker::Breakers;
use crate::error::{Error, ErrorKind};
use crate::events::Events;
use crate::flow::Flow;
use crate::ratelimit::Limiters;

/// `settings.http`: the limits of every request the run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// The largest response body read, in bytes; a node's `max_response_bytes` overrides it.
    pub max_response_bytes: u64,
    /// Refuse to connect to loopback, private, link-local and other non-public addresses.
    pub deny_private_networks: bool,
}

impl HttpSettings {
    /// 32 MiB.
    pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

    /// The format's defaults: 32 MiB, every address allowed.
    pub const DEFAULT: HttpSettings =
        HttpSettings { max_response_bytes: HttpSettings::DEFAULT_MAX_RESPONSE_BYTES, deny_private_networks: false };
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings::DEFAULT
    }
}

/// Redirects followed, at most, for one request.
const MAX_REDIRECTS: usize = 10;

/// The longest wait a `Retry-After` can ask for; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The run's HTTP client. Connections are pooled across every node of the run.
#[derive(Debug, Clone)]
pub struct Http {
    /// For [`Http::send`]: follows no redirect itself (`send` follows them, hop by hop).
    direct: reqwest::Client,
    /// For integrations that drive reqwest themselves (MCP, health checks): follows up to 10
    /// redirects, checking each hop's address when private networks are denied.
    client: reqwest::Client,
    settings: HttpSettings,
    /// Which addresses are refused when private networks are denied: [`is_private_address`]
    /// (tests put in another rule to see redirect hops refused).
    refuse: fn(IpAddr) -> bool,
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
    /// The largest body read; `None`: `settings.http.max_response_bytes`.
    pub max_response_bytes: Option<u64>,
}

/// What n8n's HTTP Request node (`item_http`) asks of a request beyond a [`Request`]: headers
/// whose names are known only at run time, and its redirect policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    /// Sent after the request's own headers; as with those, `Authorization`, `Cookie` and
    /// `Proxy-Authorization` among them do not follow a redirect to another origin.
    pub headers: Vec<(String, String)>,
    /// A secret header (an API key), as [`Auth::Header`]: never sent to another origin.
    pub credential: Option<(String, String)>,
    /// The most redirects followed (`Some(0)`: none, a redirect is the answer); `None`: 10.
    pub max_redirects: Option<usize>,
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
    /// The secret as the value of a query parameter of this name (SerpApi's `api_key`): it is
    /// never part of the URL that messages show, and any message it would appear in has it
    /// replaced by `[redacted]`.
    Query(&'static str, String),
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
            max_response_bytes: None,
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
    /// Builds the client with the format's default settings: rustls, a connect timeout, a
    /// user agent naming the runtime.
    pub fn new() -> Result<Self, Error> {
        Http::with_settings(HttpSettings::DEFAULT)
    }

    /// Builds the client with `settings`. Denying private networks installs a resolver that
    /// drops every non-public address a name resolves to, so the check is on the address the
    /// connection is made to (a name that resolves to a public address once and to 127.0.0.1
    /// the next time is refused the next time); it also ignores `HTTP(S)_PROXY`, since a proxy
    /// would resolve names where this check cannot see.
    pub fn with_settings(settings: HttpSettings) -> Result<Self, Error> {
        Http::build(settings, is_private_address)
    }

    fn build(settings: HttpSettings, refuse: fn(IpAddr) -> bool) -> Result<Self, Error> {
        // reqwest is built without a default crypto provider so that one provider (ring) serves
        // both our requests and rmcp's; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let deny = settings.deny_private_networks;
        let builder = || {
            let builder = reqwest::Client::builder()
                .user_agent(concat!("flowc-runtime/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10));
            if deny {
                builder.no_proxy().dns_resolver(PublicResolver { refuse })
            } else {
                builder
            }
        };
        let build = |builder: reqwest::ClientBuilder| {
            builder.build().map_err(|e| Error::config(format!("cannot start the HTTP client: {e}")))
        };
        let direct = build(builder().redirect(reqwest::redirect::Policy::none()))?;
        let client = build(builder().redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match deny.then(|| literal_private_address(attempt.url(), refuse)).flatten() {
                Some(refused) => attempt.error(refused),
                None => attempt.follow(),
            }
        })))?;
        Ok(Http { direct, client, settings, refuse, limiters: Default::default(), breakers: Default::default() })
    }

    /// The client for a run of `flow`, with its `settings.http`, its rate limits and its
    /// circuit breakers (which report their changes of state to `events`).
    /// `deny_private_networks` denies private networks also when the flow's settings do not
    /// (`serve --deny-private-networks`).
    pub fn for_flow(flow: &Flow, events: &Events, deny_private_networks: bool) -> Result<Self, Error> {
        let mut settings = flow.http;
        settings.deny_private_networks |= deny_private_networks;
        let mut http = Http::with_settings(settings)?;
        http.limiters = std::sync::Arc::new(Limiters::new(flow));
        http.breakers = std::sync::Arc::new(Breakers::new(flow, events));
        Ok(http)
    }

    /// The settings the client was built with.
    pub fn settings(&self) -> HttpSettings {
        self.settings
    }

    /// Refuses `url` when private networks are denied and its host is an IP address that is
    /// not public (names are checked when they resolve). `permission`, code `private_address`.
    pub fn check_destination(&self, url: &reqwest::Url) -> Result<(), Error> {
        if !self.settings.deny_private_networks {
            return Ok(());
        }
        match literal_private_address(url, self.refuse) {
            Some(refused) => Err(refused.error(url.as_str())),
            None => Ok(()),
        }
    }

    /// The run's circuit breakers.
    pub(crate) fn breakers(&self) -> &std::sync::Arc<Breakers> {
        &self.breakers
    }

    /// The underlying client, for integrations that drive reqwest themselves. It follows
    /// redirects (reqwest drops `Authorization` and cookies on one to another host); the response
    /// size limit is theirs to apply.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The underlying client that follows no redirect (for token requests, which carry a
    /// client secret).
    pub(crate) fn direct(&self) -> &reqwest::Client {
        &self.direct
    }

    /// Sends `request`; the result is `{status, headers, body}`. A status outside `expect` is
    /// an error whose kind follows the status (and whose `data` is that same object).
    ///
    /// A circuit breaker that guards the host and is open fails the request at once with a
    /// `circuit_open` error; the request's outcome is recorded in the node's logical call.
    pub async fn send(&self, request: Request) -> Result<Value, Error> {
        self.send_with(request, Extra::default()).await
    }

    /// [`Http::send`], with the headers and redirect policy of `extra` (n8n's HTTP Request
    /// node, `item_http`).
    pub(crate) async fn send_with(&self, request: Request, extra: Extra) -> Result<Value, Error> {
        let host = if self.limiters.is_empty() && self.breakers.is_empty() { None } else { host_key(&request.url) };
        // Before the rate limits: a request the breaker refuses does not wait for a turn.
        let ticket = self.breakers.admit(host.as_deref())?;
        if !self.limiters.is_empty() {
            let mut secrets: Vec<&str> = match &request.auth {
                Auth::None => Vec::new(),
                Auth::Bearer(secret) | Auth::Basic(secret) | Auth::Header(_, secret) | Auth::Query(_, secret) => {
                    vec![secret.as_str()]
                }
            };
            secrets.extend(extra.credential.as_ref().map(|(_, secret)| secret.as_str()));
            self.limiters.wait(host.as_deref(), &secrets).await;
        }
        let Some(ticket) = ticket else { return self.exchange(request, &extra).await };
        ticket.sent();
        let result = self.exchange(request, &extra).await;
        ticket.finish(&result);
        result
    }

    /// Sends `request` and reads the answer (no rate limit, no breaker), following redirects.
    ///
    /// A redirect to another origin (scheme, host or port: so also https to http) goes without
    /// the credentials: the `auth` header of any kind, and `Authorization`, `Cookie` and
    /// `Proxy-Authorization` headers the node set; they stay off for the hops after it. Each
    /// hop's address is checked when private networks are denied.
    async fn exchange(&self, request: Request, extra: &Extra) -> Result<Value, Error> {
        // reqwest's errors show the URL, where a query-parameter secret is.
        let secret = match &request.auth {
            Auth::Query(_, secret) if !secret.is_empty() => Some(secret.clone()),
            _ => None,
        };
        let result = self.exchange_unredacted(request, extra).await;
        match secret {
            Some(secret) => result.map_err(|mut error| {
                error.message = error.message.replace(&secret, "[redacted]");
                error
            }),
            None => result,
        }
    }

    async fn exchange_unredacted(&self, request: Request, extra: &Extra) -> Result<Value, Error> {
        let Request {
            method: method_name,
            url,
            query,
            headers,
            body,
            auth,
            expect,
            response: format,
            max_response_bytes,
        } = request;
        let mut method = reqwest::Method::from_bytes(method_name.as_bytes())
            .map_err(|_| Error::config(format!("`{method_name}` is not an HTTP method")))?;
        // `GET <url>`, for error messages only.
        let target = || format!("{method_name} {url}");
        let limit = max_response_bytes.unwrap_or(self.settings.max_response_bytes);
        let max_redirects = extra.max_redirects.unwrap_or(MAX_REDIRECTS);
        let mut builder = self.direct.request(method.clone(), &url);
        if !query.is_empty() {
            builder = builder.query(&query);
        }
        let first = builder.build().map_err(|e| transport_error(&target(), &e))?;
        let mut hop_url = first.url().clone();
        let mut body = Some(body);
        let mut credentials = true;
        let mut hops = 0;
        let response = loop {
            self.check_destination(&hop_url)?;
            let mut builder = self.direct.request(method.clone(), hop_url.clone());
            for (name, value) in &headers {
                if credentials || !is_credential_header(name) {
                    builder = builder.header(*name, value);
                }
            }
            for (name, value) in &extra.headers {
                if credentials || !is_credential_header(name) {
                    builder = builder.header(name.as_str(), value);
                }
            }
            if let (true, Some((name, value))) = (credentials, &extra.credential) {
                builder = builder.header(name.as_str(), value);
            }
            if credentials {
                builder = match &auth {
                    Auth::None => builder,
                    Auth::Bearer(token) => builder.bearer_auth(token),
                    Auth::Basic(secret) => match secret.split_once(':') {
                        Some((user, password)) => builder.basic_auth(user, Some(password)),
                        None => builder.basic_auth(secret, None::<&str>),
                    },
                    Auth::Header(name, value) => builder.header(*name, value),
                    Auth::Query(name, value) => builder.query(&[(*name, value)]),
                };
            }
            let has_content_type = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                || extra.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
            builder = match &body {
                None | Some(Body::Empty) => builder,
                Some(Body::Json(value)) => builder.json(value),
                Some(Body::Form(pairs)) => builder.form(pairs),
                Some(Body::Text(text)) if has_content_type => builder.body(text.clone()),
                Some(Body::Text(text)) => {
                    builder.header("content-type", "text/plain; charset=utf-8").body(text.clone())
                }
            };
            let response = builder.send().await.map_err(|e| transport_error(&target(), &e))?;
            let status = response.status().as_u16();
            let location = response.headers().get(reqwest::header::LOCATION);
            let follow = matches!(status, 301 | 302 | 303 | 307 | 308) && max_redirects > 0;
            let (true, Some(location)) = (follow, location) else {
                break response;
            };
            hops += 1;
            if hops > max_redirects {
                return Err(Error::new(
                    ErrorKind::ClientError,
                    format!("{}: more than {max_redirects} redirects", target()),
                )
                .with_code("too_many_redirects")
                .with_status(status));
            }
            let next = location
                .to_str()
                .ok()
                .and_then(|l| hop_url.join(l).ok())
                .filter(|next| matches!(next.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    let location = String::from_utf8_lossy(location.as_bytes());
                    Error::new(
                        ErrorKind::ClientError,
                        format!(
                            "{}: answered {status} to `{}`, which is not an http or https URL",
                            target(),
                            clip(&location, 200)
                        ),
                    )
                    .with_code("bad_redirect")
                    .with_status(status)
                })?;
            if !same_origin(&hop_url, &next) {
                credentials = false;
            }
            // As browsers and reqwest do: 303, and 301/302 after a POST, become a GET without
            // a body; 307 and 308 repeat the request as it was.
            let to_get = match status {
                303 => method != reqwest::Method::HEAD,
                301 | 302 => method == reqwest::Method::POST,
                _ => false,
            };
            if to_get {
                method = reqwest::Method::GET;
                body = None;
            }
            hop_url = next;
        };
        let status = response.status().as_u16();
        let response_headers = header_map(response.headers());
        let expected = match expect {
            Expect::Success => (200..300).contains(&status),
            Expect::Statuses(list) => list.contains(&status),
        };
        // Only where it can matter, and only as a failure's wait: a success needs none.
        let retry_after = match (expected, status) {
            (false, 429 | 503) => response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after),
            _ => None,
        };
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let text = match read_limited(response, limit).await {
            Ok(text) => text,
            Err(Read::Transport(e)) => return Err(transport_error(&target(), &e)),
            Err(Read::TooLarge) if expected => {
                return Err(Error::validation(format!(
                    "{}: the response is larger than {limit} bytes (max_response_bytes): raise the node's \
                     `max_response_bytes` or `settings.http.max_response_bytes` if it is expected",
                    target()
                ))
                .with_code("response_too_large")
                .with_status(status))
            }
            Err(Read::TooLarge) => {
                // The status says what went wrong; the body is left out.
                let body = Value::String(format!("(a body larger than {limit} bytes, not read)"));
                let mut data = Map::with_capacity(3);
                data.insert("status".to_owned(), Value::from(status));
                data.insert("headers".to_owned(), response_headers);
                data.insert("body".to_owned(), body);
                let data = Value::Object(data);
                return Err(status_error(&target(), status, &data["body"])
                    .with_retry_after(retry_after)
                    .with_data(data));
            }
        };
        let body = match format {
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
        data.insert("headers".to_owned(), response_headers);
        data.insert("body".to_owned(), body);
        let data = Value::Object(data);
        if expected {
            return Ok(data);
        }
        Err(status_error(&target(), status, &data["body"]).with_retry_after(retry_after).with_data(data))
    }
}

/// Why a body was not read.
enum Read {
    Transport(reqwest::Error),
    /// Longer than the limit (by its `Content-Length`, or by what arrived).
    TooLarge,
}

/// The body as text (invalid UTF-8 replaced), read chunk by chunk and never past `limit`
/// bytes: a `Content-Length` over it fails before any byte is read.
async fn read_limited(mut response: reqwest::Response, limit: u64) -> Result<String, Read> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit) {
        return Err(Read::TooLarge);
    }
    // The declared length is the server's word: a first allocation of at most 16 MiB.
    let mut bytes: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(16 * 1024 * 1024) as usize);
    while let Some(chunk) = response.chunk().await.map_err(Read::Transport)? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(Read::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Headers that carry credentials, which a redirect to another origin does not get.
fn is_credential_header(name: &str) -> bool {
    ["authorization", "cookie", "cookie2", "proxy-authorization"].iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Whether two URLs have the same origin: scheme, host and port (the scheme's default port
/// when none is written).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port_or_known_default() == b.port_or_known_default()
}

/// A destination refused because its address is not public.
#[derive(Debug)]
pub(crate) struct PrivateAddress {
    /// What was asked for: the URL's host, or the name that resolved.
    host: String,
    address: IpAddr,
}

impl PrivateAddress {
    fn error(&self, target: &str) -> Error {
        Error::new(ErrorKind::Permission, format!("{target}: {self}")).with_code("private_address")
    }
}

impl std::fmt::Display for PrivateAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host == self.address.to_string() {
            write!(f, "{} is not a public address, and settings.http.deny_private_networks is on", self.address)
        } else {
            write!(
                f,
                "`{}` resolves to {}, which is not a public address, and settings.http.deny_private_networks is on",
                self.host, self.address
            )
        }
    }
}

impl std::error::Error for PrivateAddress {}

/// The refusal for a URL whose host is a non-public IP address (names are left to the
/// resolver). The URL parser has already turned `2130706433`, `127.1` and `0x7f.0.0.1` into
/// `127.0.0.1`.
fn literal_private_address(url: &reqwest::Url, refuse: fn(IpAddr) -> bool) -> Option<PrivateAddress> {
    let address = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    refuse(address).then(|| PrivateAddress { host: address.to_string(), address })
}

/// The resolver when private networks are denied: the system's (getaddrinfo), with every
/// non-public address left out; a name with none left fails with [`PrivateAddress`].
struct PublicResolver {
    refuse: fn(IpAddr) -> bool,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let refuse = self.refuse;
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved.iter().copied().filter(|a| !refuse(a.ip())).collect();
            match (public.is_empty(), resolved.first()) {
                (true, Some(first)) => Err(Box::new(PrivateAddress { host, address: first.ip() }) as _),
                _ => Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// Whether `address` is not a public unicast address: loopback, private, shared (CGNAT),
/// link-local (the cloud metadata address among them), unspecified, broadcast, multicast,
/// reserved, documentation and benchmarking ranges; for IPv6 also unique-local, link- and
/// site-local, discard-only, and the IPv4 address inside an IPv4-mapped, -translated or
/// -compatible address, a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address.
pub fn is_private_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let bits = u32::from(v4);
    let within = |net: [u8; 4], len: u32| bits >> (32 - len) == u32::from(Ipv4Addr::from(net)) >> (32 - len);
    within([0, 0, 0, 0], 8) // "this network", 0.0.0.0 among it
        || within([10, 0, 0, 0], 8)
        || within([100, 64, 0, 0], 10) // shared address space (CGNAT)
        || within([127, 0, 0, 0], 8)
        || within([169, 254, 0, 0], 16) // link-local, 169.254.169.254 among it
        || within([172, 16, 0, 0], 12)
        || within([192, 0, 0, 0], 24) // IETF protocol assignments
        || within([192, 0, 2, 0], 24) // TEST-NET-1
        || within([192, 88, 99, 0], 24) // 6to4 relay anycast
        || within([192, 168, 0, 0], 16)
        || within([198, 18, 0, 0], 15) // benchmarking
        || within([198, 51, 100, 0], 24) // TEST-NET-2
        || within([203, 0, 113, 0], 24) // TEST-NET-3
        || within([224, 0, 0, 0], 4) // multicast
        || within([240, 0, 0, 0], 4) // reserved, 255.255.255.255 among it
}

fn is_private_v6(v6: Ipv6Addr) -> bool {
    let bits = u128::from(v6);
    let within = |net: u128, len: u32| bits >> (128 - len) == net >> (128 - len);
    let embedded = |at: u32| is_private_v4(Ipv4Addr::from((bits >> at) as u32));
    if within(0, 96) {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d: none is a destination.
        return true;
    }
    if within(0xffff << 32, 96) || within(0xffff << 48, 96) {
        // IPv4-mapped ::ffff:a.b.c.d and IPv4-translated ::ffff:0:a.b.c.d.
        return embedded(0);
    }
    if within(0x0064_ff9b << 96, 96) {
        // NAT64, well-known prefix.
        return embedded(0);
    }
    if within(0x2002 << 112, 16) {
        // 6to4: the IPv4 address after the prefix.
        return embedded(80);
    }
    within(0x0064_ff9b_0001 << 80, 48) // NAT64, local use
        || within(0x0100 << 112, 64) // discard-only
        || within(0x2001_0000 << 96, 32) // Teredo
        || within(0x2001_0002 << 96, 48) // benchmarking
        || within(0x2001_0db8 << 96, 32) // documentation
        || within(0x3fff << 112, 20) // documentation (RFC 9637)
        || within(0xfc00 << 112, 7) // unique local, fd00::/8 among it
        || within(0xfe80 << 112, 10) // link-local
        || within(0xfec0 << 112, 10) // site-local (deprecated)
        || within(0xff00 << 112, 8) // multicast
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
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<PrivateAddress>() {
            return refused.error(target);
        }
        source = cause.source();
    }
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

/// `Retry-After` is either seconds or an HTTP date. A wait longer than [`MAX_RETRY_AFTER`]
/// (an hour) is cut to it; a date in the past is no wait; a negative, infinite or NaN number of
/// seconds, or anything else, is no `Retry-After` at all. Never panics.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return wait_of_seconds(seconds);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
}

/// A wait a service asked for in (fractional) seconds, cut to [`MAX_RETRY_AFTER`]; `None` for a
/// negative, infinite or NaN number.
pub fn wait_of_seconds(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER.as_secs_f64())))
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
    fn retry_after_of_any_value_is_clamped_never_a_panic() {
        let hour = Some(MAX_RETRY_AFTER);
        assert_eq!(parse_retry_after("1e20"), hour);
        assert_eq!(parse_retry_after("99999999999999999999"), hour);
        assert_eq!(parse_retry_after("18446744073709551615"), hour);
        assert_eq!(parse_retry_after("1.7976931348623157e308"), hour);
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"), hour);
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Duration::ZERO));
        for none in ["-5", "-0.5", "NaN", "inf", "-inf", "", "garbage", "1e400x"] {
            assert_eq!(parse_retry_after(none), None, "{none:?}");
        }
        assert_eq!(wait_of_seconds(f64::MAX), hour);
        assert_eq!(wait_of_seconds(f64::NAN), None);
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(same_origin(&url("https://a.example/x"), &url("https://a.example:443/y?z")));
        assert!(!same_origin(&url("https://a.example/"), &url("http://a.example/")), "a downgrade is another origin");
        assert!(!same_origin(&url("http://a.example/"), &url("http://a.example:8080/")));
        assert!(!same_origin(&url("http://a.example/"), &url("http://b.a.example/")));
        assert!(is_credential_header("Authorization") && is_credential_header("COOKIE"));
        assert!(!is_credential_header("x-trace"));
    }

    #[test]
    fn private_addresses_are_classified() {
        let private = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.0.1",
            "192.168.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::ffff:0:192.168.1.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::192.168.0.1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "3fff::1",
            "fc00::1",
            "fd00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ];
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.255.255",
            "169.255.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.0.3.1",
            "192.167.255.255",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "93.184.216.34",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "fbff::1",
            "fe00::1",
        ];
        for text in private {
            assert!(is_private_address(text.parse().unwrap()), "{text} is private");
        }
        for text in public {
            assert!(!is_private_address(text.parse().unwrap()), "{text} is public");
        }
    }

    #[test]
    fn ip_literals_are_checked_as_the_url_parser_reads_them() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://0.0.0.0/",
            "http://0/",
            "http://169.254.169.254/latest/meta-data/",
            "https://[fd00::1]:8443/",
        ] {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert!(literal_private_address(&parsed, is_private_address).is_some(), "{url}");
        }
        for url in ["http://8.8.8.8/", "https://[2606:4700:4700::1111]/", "http://localhost/", "https://example.com/"] {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert!(literal_private_address(&parsed, is_private_address).is_none(), "{url} (names go to the resolver)");
        }
    }

    /// A server on `ip` that answers every request with `answer` and counts its connections.
    async fn answering(ip: &str, answer: String) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut read = Vec::new();
                    while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        (addr, count)
    }

    fn get(url: String) -> Request {
        Request {
            method: "GET",
            url,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
            auth: Auth::None,
            expect: Expect::Success,
            response: ResponseFormat::Auto,
            max_response_bytes: None,
        }
    }

    #[tokio::test]
    async fn every_redirect_hop_is_checked() {
        // Only 127.0.0.1 is allowed: the first hop goes, the redirect to 127.0.0.2 must not.
        let (second, second_count) =
            answering("127.0.0.2", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned()).await;
        let redirect = format!("HTTP/1.1 302 Found\r\nlocation: http://{second}/\r\ncontent-length: 0\r\n\r\n");
        let (first, first_count) = answering("127.0.0.1", redirect).await;
        let settings = HttpSettings { deny_private_networks: true, ..HttpSettings::DEFAULT };
        let http = Http::build(settings, |ip| ip != IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let error = http.send(get(format!("http://{first}/"))).await.unwrap_err();
        assert_eq!((error.kind, error.code.as_deref()), (ErrorKind::Permission, Some("private_address")), "{error}");
        assert!(error.message.contains("127.0.0.2"), "{}", error.message);
        // The client integrations drive (MCP, health) checks its hops too.
        let error = http.client().get(format!("http://{first}/")).send().await.unwrap_err();
        assert_eq!(transport_error("GET", &error).kind, ErrorKind::Permission, "{error:?}");
        assert_eq!(first_count.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(second_count.load(std::sync::atomic::Ordering::SeqCst), 0, "no connection to the refused hop");
        // Without the setting, the same redirect is followed.
        let open = Http::new().unwrap();
        assert_eq!(open.send(get(format!("http://{first}/"))).await.unwrap()["body"], "ok");
        assert_eq!(second_count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_refused_address_is_refused() {
        let (addr, count) = answering("127.0.0.1", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_owned()).await;
        let http = Http::with_settings(HttpSettings { deny_private_networks: true, ..HttpSettings::DEFAULT }).unwrap();
        let error = http.send(get(format!("http://localhost:{}/", addr.port()))).await.unwrap_err();
        assert_eq!((error.kind, error.code.as_deref()), (ErrorKind::Permission, Some("private_address")), "{error}");
        assert!(error.message.contains("`localhost` resolves to"), "{}", error.message);
        assert!(!error.retryable);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_the_limit_only() {
        let big = "a".repeat(10_000);
        let (addr, _) = answering("127.0.0.1", format!("HTTP/1.1 200 OK\r\n\r\n{big}")).await;
        let http = Http::with_settings(HttpSettings { max_response_bytes: 9_999, ..HttpSettings::DEFAULT }).unwrap();
        let error = http.send(get(format!("http://{addr}/"))).await.unwrap_err();
        assert_eq!((error.kind, error.code.as_deref()), (ErrorKind::Validation, Some("response_too_large")));
        let mut exact = get(format!("http://{addr}/"));
        exact.max_response_bytes = Some(10_000);
        assert_eq!(http.send(exact).await.unwrap()["body"].as_str().map(str::len), Some(10_000));
        // Over the limit on an error status: the status decides the error, without the body.
        let (addr, _) =
            answering("127.0.0.1", format!("HTTP/1.1 503 Service Unavailable\r\nretry-after: 1e20\r\n\r\n{big}")).await;
        let error = http.send(get(format!("http://{addr}/"))).await.unwrap_err();
        assert_eq!((error.kind, error.code.as_deref()), (ErrorKind::ServerError, Some("http_503")));
        assert_eq!(error.retry_after, Some(MAX_RETRY_AFTER));
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
