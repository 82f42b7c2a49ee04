//! What a served flow checks of a request before it may run the flow: its `Host` (against DNS
//! rebinding), its `Origin` (against cross-site requests from a browser) and its bearer
//! credential. `<bin> serve` puts these in front of `POST /run` and `/mcp` (the bearer also in
//! front of an unsigned webhook), `<bin> mcp --http` in front of `/mcp`.
//!
//! **Hosts.** A web page that gets its own name to resolve to the server's address (DNS
//! rebinding) sends requests that a browser treats as same-origin, with that name as `Host`.
//! So a request is served only if its `Host` is one a browser page cannot own:
//! - an IP address (a page served from that address is not a rebinding);
//! - `localhost` or a name under `.localhost`;
//! - a name of one label (`flow`, as a Kubernetes Service is reached from its namespace), which
//!   no public DNS name is;
//! - a name under `.svc` or `.svc.cluster.local` (a Service from another namespace);
//! - a name given with `--allow-host` (exact, or `*.example.com` for the names under it), or any
//!   name at all with `--allow-host '*'` (behind a proxy that checks names itself).
//!
//! **Origins.** A request without `Origin` comes from a program, not a page, and passes; one
//! from a loopback origin (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`) or an
//! origin given with `--allow-origin` passes; any other, and `Origin: null`, is refused 403.
//!
//! **Bearer.** With `--auth-credential NAME`, a request must carry
//! `Authorization: Bearer <secret of NAME>`, compared in constant time, or it is answered 401.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The checks of one served route.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// `Host` names accepted beyond the defaults: exact names, `*.suffix`, or `*`.
    pub allow_hosts: Vec<String>,
    /// Browser origins accepted beyond loopback ones (`https://app.example.com`, with `:*` for
    /// any port).
    pub allow_origins: Vec<String>,
    /// The bearer secret every request must carry.
    pub token: Option<String>,
}

/// Why a request was refused, as the status and the sentence it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

impl Refused {
    fn forbidden(message: String) -> Refused {
        Refused { status: StatusCode::FORBIDDEN, message }
    }

    /// The refusal as a JSON answer (`{"error": …}`); a 401 also says how to authenticate.
    pub fn into_response(self) -> Response {
        let mut response = json_error(self.status, &self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl Guard {
    /// `Host` and `Origin`.
    pub fn check_browser(&self, headers: &HeaderMap, authority: Option<&str>) -> Result<(), Refused> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or(authority);
        if let Some(host) = host {
            if !self.host_allowed(host) {
                return Err(Refused::forbidden(format!(
                    "the Host `{}` is not served here (DNS-rebinding protection): start the service with \
                     `--allow-host {}` to serve it",
                    printable(host),
                    printable(host_name(host))
                )));
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !self.origin_allowed(origin) {
                return Err(Refused::forbidden(format!(
                    "requests from the origin `{}` are refused (cross-site): start the service with \
                     `--allow-origin ORIGIN` to accept a browser origin",
                    printable(origin)
                )));
            }
        }
        Ok(())
    }

    /// The bearer credential, when the service has one.
    pub fn check_bearer(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let Some(token) = &self.token else { return Ok(()) };
        let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()).unwrap_or_default();
        let expected = format!("Bearer {token}");
        if constant_time_eq(given, expected.as_bytes()) {
            Ok(())
        } else {
            Err(Refused {
                status: StatusCode::UNAUTHORIZED,
                message: "this route needs `Authorization: Bearer <secret>` (`--auth-credential`)".to_owned(),
            })
        }
    }

    /// All three.
    pub fn check(&self, headers: &HeaderMap, authority: Option<&str>) -> Result<(), Refused> {
        self.check_browser(headers, authority)?;
        self.check_bearer(headers)
    }

    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        let default = name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || !name.contains('.')
            || name.ends_with(".svc")
            || name.ends_with(".svc.cluster.local");
        default
            || self.allow_hosts.iter().any(|allowed| {
                let allowed = allowed.trim_end_matches('.').to_ascii_lowercase();
                match allowed.strip_prefix("*.") {
                    _ if allowed == "*" => true,
                    Some(suffix) => name.len() > suffix.len() + 1 && name.ends_with(&format!(".{suffix}")),
                    None => host_name(&allowed) == name,
                }
            })
    }

    pub fn origin_allowed(&self, origin: &str) -> bool {
        let Some((scheme, rest)) = origin.split_once("://") else { return false };
        let scheme = scheme.to_ascii_lowercase();
        let name = host_name(rest).to_ascii_lowercase();
        let loopback = scheme == "http"
            && (name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
        loopback
            || self.allow_origins.iter().any(|allowed| {
                let allowed = allowed.trim_end_matches('/').to_ascii_lowercase();
                let origin = origin.to_ascii_lowercase();
                match allowed.strip_suffix(":*") {
                    Some(base) => origin == base || origin.strip_prefix(base).is_some_and(|p| p.starts_with(':')),
                    None => origin == allowed || with_default_port(&origin) == with_default_port(&allowed),
                }
            })
    }
}

/// `{"error": message}` with the status, as every refusal of a served flow is answered.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"))], body).into_response()
}

/// `host[:port]` or `[v6][:port]` without the port (and without the brackets).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        // One colon: a port. More: an IPv6 address without brackets (not a valid Host, kept
        // whole so it is judged as written).
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// `scheme://host` with its scheme's default port written out, so that `https://a` and
/// `https://a:443` compare equal.
fn with_default_port(origin: &str) -> String {
    let Some((scheme, rest)) = origin.split_once("://") else { return origin.to_owned() };
    let has_port = if rest.starts_with('[') { rest.contains("]:") } else { rest.contains(':') };
    match (has_port, scheme) {
        (false, "https") => format!("{origin}:443"),
        (false, "http") => format!("{origin}:80"),
        _ => origin.to_owned(),
    }
}

/// A header value as it can be shown in an answer or a log: control characters escaped.
pub fn printable(text: &str) -> String {
    text.chars().take(200).flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect()
}

/// Compares without stopping at the first difference, so timing does not reveal the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard {
            allow_hosts: vec!["flows.example.com".into(), "*.internal.example".into()],
            allow_origins: vec!["https://app.example.com".into(), "http://dev.example.com:*".into()],
            token: Some("t0k".into()),
        }
    }

    #[test]
    fn hosts_a_page_cannot_own_pass_and_others_are_refused() {
        let guard = guard();
        for host in [
            "127.0.0.1:8080",
            "10.1.2.3:8080",
            "[::1]:8080",
            "localhost",
            "LOCALHOST:1",
            "app.localhost",
            "flow",
            "flow:8080",
            "flow.default.svc",
            "flow.default.svc.cluster.local:8080",
            "flows.example.com",
            "a.internal.example",
        ] {
            assert!(guard.host_allowed(host), "{host}");
        }
        for host in ["attacker.com", "attacker.com:8080", "internal.example", "flows.example.com.evil.io", "", ":80"] {
            assert!(!guard.host_allowed(host), "{host}");
        }
        let any = Guard { allow_hosts: vec!["*".into()], ..Guard::default() };
        assert!(any.host_allowed("attacker.com"));
    }

    #[test]
    fn only_loopback_and_allowed_origins_pass() {
        let guard = guard();
        for origin in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:9",
            "https://app.example.com",
            "https://app.example.com:443",
            "http://dev.example.com:8080",
        ] {
            assert!(guard.origin_allowed(origin), "{origin}");
        }
        for origin in ["null", "https://attacker.com", "https://app.example.com:8443", "http://app.example.com", ""] {
            assert!(!guard.origin_allowed(origin), "{origin}");
        }
    }

    #[test]
    fn the_bearer_must_match_exactly() {
        let guard = guard();
        let mut headers = HeaderMap::new();
        assert_eq!(guard.check_bearer(&headers).unwrap_err().status, StatusCode::UNAUTHORIZED);
        headers.insert(header::AUTHORIZATION, "Bearer t0k2".parse().unwrap());
        assert!(guard.check_bearer(&headers).is_err());
        headers.insert(header::AUTHORIZATION, "Bearer t0k".parse().unwrap());
        assert!(guard.check_bearer(&headers).is_ok());
        assert!(Guard::default().check_bearer(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn refusals_do_not_echo_control_characters() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, "https://evil".parse().unwrap());
        let refused = Guard::default().check_browser(&headers, None).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(printable("a\u{1b}[31mb"), "a\\u{1b}[31mb");
    }
}
