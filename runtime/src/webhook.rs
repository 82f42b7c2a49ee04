//! `webhook` nodes: where `<bin> serve` listens for a flow's trigger, and how it tells a
//! request of the sender from anyone else's.
//!
//! With `hmac`, a request must carry an HMAC-SHA256 of its body, keyed with the credential's
//! secret, in a header (hex, optionally prefixed `sha256=`, as GitHub sends it). With a
//! `timestamp_header`, the signed content is `<timestamp>.<body>` and the timestamp (Unix
//! seconds) must be within `tolerance_secs` of now, so an old request cannot be sent again
//! later; within that window a request is accepted once, by its idempotency key (the
//! `id_header`'s value, or else the signature itself). Signatures are compared in constant
//! time (`hmac`'s `verify_slice`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac as HmacMac, KeyInit, Mac};
use sha2::Sha256;

/// A webhook, as the flow declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Webhook {
    /// `POST`, `PUT`, …
    pub method: &'static str,
    /// The path `<bin> serve` answers it at (`/hooks/github`).
    pub path: &'static str,
    pub hmac: Option<Hmac>,
    /// What a request is answered with.
    pub response: Response,
}

/// What `<bin> serve` answers a webhook's request with, once the run is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The whole run result, every node's envelope included (as `POST /run` answers).
    RunResult,
    /// `{flow, run_id, status, duration_ms, outputs}`, and `errors` (each failed node's error,
    /// by node id) when a node failed: what the caller needs, without the envelopes of the
    /// flow's internal calls (their headers, their answers).
    Outputs,
}

/// How a webhook's requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hmac {
    /// The credential whose secret keys the HMAC.
    pub credential: &'static str,
    /// The header that carries the signature (lower case).
    pub header: &'static str,
    /// The header that carries the time of signing, in Unix seconds (lower case).
    pub timestamp_header: Option<&'static str>,
    /// How far that time may be from now, either way; also how long a request's idempotency
    /// key is remembered.
    pub tolerance_secs: u64,
    /// The header whose value identifies a delivery (`x-github-delivery`); without it, the
    /// signature does.
    pub id_header: Option<&'static str>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    MissingSignature(&'static str),
    BadSignature,
    MissingTimestamp(&'static str),
    StaleTimestamp { skew_secs: u64, tolerance_secs: u64 },
    Replayed,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::MissingSignature(header) => write!(f, "the request has no `{header}` signature header"),
            Rejection::BadSignature => f.write_str("the request's signature does not match its body"),
            Rejection::MissingTimestamp(header) => {
                write!(f, "the request has no valid `{header}` timestamp header (Unix seconds)")
            }
            Rejection::StaleTimestamp { skew_secs, tolerance_secs } => {
                write!(
                    f,
                    "the request was signed {skew_secs} s away from now, more than the {tolerance_secs} s allowed"
                )
            }
            Rejection::Replayed => f.write_str("the request was already received (a replay)"),
        }
    }
}

/// Checks the requests of one webhook, and remembers the ones it accepted.
pub struct Verifier {
    hmac: Hmac,
    secret: Vec<u8>,
    /// Idempotency keys accepted within the window, with when they were.
    seen: Mutex<HashMap<String, Instant>>,
}

impl Verifier {
    pub fn new(hmac: Hmac, secret: String) -> Verifier {
        Verifier { hmac, secret: secret.into_bytes(), seen: Mutex::new(HashMap::new()) }
    }

    /// Checks one request: `header` looks a header up by its lower-case name, `now` is the
    /// current Unix time in seconds.
    pub fn verify<'h>(&self, header: impl Fn(&str) -> Option<&'h str>, body: &[u8], now: u64) -> Result<(), Rejection> {
        let hmac = &self.hmac;
        let signature = header(hmac.header).ok_or(Rejection::MissingSignature(hmac.header))?.trim();
        let hex_part = signature.strip_prefix("sha256=").unwrap_or(signature);
        let claimed = hex::decode(hex_part).map_err(|_| Rejection::BadSignature)?;
        let mut mac = HmacMac::<Sha256>::new_from_slice(&self.secret).map_err(|_| Rejection::BadSignature)?;
        if let Some(name) = hmac.timestamp_header {
            let stamp = header(name).map(str::trim).ok_or(Rejection::MissingTimestamp(name))?;
            let at: u64 = stamp.parse().map_err(|_| Rejection::MissingTimestamp(name))?;
            let skew_secs = now.abs_diff(at);
            if skew_secs > hmac.tolerance_secs {
                return Err(Rejection::StaleTimestamp { skew_secs, tolerance_secs: hmac.tolerance_secs });
            }
            mac.update(stamp.as_bytes());
            mac.update(b".");
        }
        mac.update(body);
        mac.verify_slice(&claimed).map_err(|_| Rejection::BadSignature)?;

        // Only a request with a good signature counts as received.
        let key = match hmac.id_header.and_then(&header) {
            Some(id) => format!("id:{id}"),
            None => format!("sig:{}", hex_part.to_ascii_lowercase()),
        };
        let window = Duration::from_secs(hmac.tolerance_secs);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) <= window);
        if seen.contains_key(&key) {
            return Err(Rejection::Replayed);
        }
        seen.insert(key, now);
        Ok(())
    }
}

/// The HMAC-SHA256 of `content` with `secret`, in hex: what a sender puts in the signature
/// header (for tests and for documentation examples).
pub fn sign(secret: &str, content: &[u8]) -> String {
    let mut mac = HmacMac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(content);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HMAC: Hmac = Hmac {
        credential: "hook",
        header: "x-signature-256",
        timestamp_header: Some("x-timestamp"),
        tolerance_secs: 300,
        id_header: None,
    };

    fn headers<'a>(list: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| list.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn accepts_a_good_signature_once() {
        let verifier = Verifier::new(HMAC, "s3cret".into());
        let body = br#"{"a":1}"#;
        let signature = format!("sha256={}", sign("s3cret", b"1000.{\"a\":1}"));
        let list = [("x-signature-256", signature), ("x-timestamp", "1000".to_owned())];
        assert_eq!(verifier.verify(headers(&list), body, 1010), Ok(()));
        assert_eq!(verifier.verify(headers(&list), body, 1011), Err(Rejection::Replayed));
    }

    #[test]
    fn refuses_bad_missing_and_stale_signatures() {
        let verifier = Verifier::new(HMAC, "s3cret".into());
        let good = sign("s3cret", b"1000.body");
        let list = [("x-signature-256", good.clone()), ("x-timestamp", "1000".to_owned())];
        assert_eq!(verifier.verify(headers(&list), b"other body", 1000), Err(Rejection::BadSignature));
        let wrong_key = [("x-signature-256", sign("guess", b"1000.body")), ("x-timestamp", "1000".to_owned())];
        assert_eq!(verifier.verify(headers(&wrong_key), b"body", 1000), Err(Rejection::BadSignature));
        let no_signature = [("x-timestamp", "1000".to_owned())];
        assert_eq!(
            verifier.verify(headers(&no_signature), b"body", 1000),
            Err(Rejection::MissingSignature("x-signature-256"))
        );
        assert_eq!(
            verifier.verify(headers(&list), b"body", 1301),
            Err(Rejection::StaleTimestamp { skew_secs: 301, tolerance_secs: 300 })
        );
        let not_hex = [("x-signature-256", "zz".to_owned()), ("x-timestamp", "1000".to_owned())];
        assert_eq!(verifier.verify(headers(&not_hex), b"body", 1000), Err(Rejection::BadSignature));
    }

    #[test]
    fn the_delivery_id_is_the_idempotency_key_when_there_is_one() {
        let hmac = Hmac { timestamp_header: None, id_header: Some("x-delivery"), ..HMAC };
        let verifier = Verifier::new(hmac, "k".into());
        let first = [("x-signature-256", sign("k", b"a")), ("x-delivery", "d-1".to_owned())];
        assert_eq!(verifier.verify(headers(&first), b"a", 0), Ok(()));
        // Another body under the same delivery id is a replay; the same body under a new id is not.
        let again = [("x-signature-256", sign("k", b"b")), ("x-delivery", "d-1".to_owned())];
        assert_eq!(verifier.verify(headers(&again), b"b", 0), Err(Rejection::Replayed));
        let new_id = [("x-signature-256", sign("k", b"a")), ("x-delivery", "d-2".to_owned())];
        assert_eq!(verifier.verify(headers(&new_id), b"a", 0), Ok(()));
    }
}
