//! `webhook` nodes: where `<bin> serve` listens for a flow's trigger, and how it tells a
//! request of the sender from anyone else's.
//!
//! With `hmac`, a request must carry an HMAC-SHA256 of its body, keyed with the credential's
//! secret, in a header (hex, optionally prefixed `sha256=`, as GitHub sends it). With a
//! `timestamp_header`, the signed content is `<timestamp>.<body>` and the timestamp (Unix
//! seconds) must be within `tolerance_secs` of now, so an old request cannot be sent again
//! later. Within that window a delivery runs the flow once: its idempotency keys are its
//! signature (normalised: the decoded bytes) and, with an `id_header`, that header's value,
//! and a request any of whose keys was seen is a replay. A delivery is recorded only once its
//! run was admitted, so one answered 503 can be sent again; the keys remembered are bounded
//! (`--replay-cache`), and past that bound requests are refused, never forgotten early.
//! Signatures are compared in constant time (`hmac`'s `verify_slice`).

use std::collections::{HashSet, VecDeque};
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
    /// The header whose value identifies a delivery (`x-github-delivery`): a second
    /// idempotency key beside the signature, so a redelivery under the same id is refused too.
    pub id_header: Option<&'static str>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    MissingSignature(&'static str),
    BadSignature,
    MissingTimestamp(&'static str),
    StaleTimestamp {
        skew_secs: u64,
        tolerance_secs: u64,
    },
    Replayed,
    /// The deliveries remembered within the window reached `--replay-cache`: the request is
    /// refused rather than forgetting one early (which would let it be replayed).
    CacheFull {
        cap: usize,
        retry_after_secs: u64,
    },
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
            Rejection::CacheFull { cap, retry_after_secs } => write!(
                f,
                "{cap} deliveries were received within the replay window (`--replay-cache`): \
                 try again in {retry_after_secs} s"
            ),
        }
    }
}

/// A delivery whose signature checked out, not yet recorded as received: its idempotency keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `sig:<hex>`, the normalised signature, always; `id:<value>` too when the request has the
    /// `id_header`. A delivery is a replay when any of its keys was seen: the id header is not
    /// signed, so a sender of a copy can change or drop it, but not the signature.
    keys: Vec<String>,
}

/// The deliveries received within the window. Every key lives exactly `window`, so the order
/// of arrival is the order of expiry: expiring is popping from the front, O(1) per key.
struct Seen {
    keys: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) <= window {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.keys.remove(&key);
            }
        }
    }

    fn contains(&self, delivery: &Delivery) -> bool {
        delivery.keys.iter().any(|key| self.keys.contains(key))
    }
}

/// Checks the requests of one webhook, and remembers the ones it admitted.
pub struct Verifier {
    hmac: Hmac,
    secret: Vec<u8>,
    /// At most this many keys are remembered at once.
    cap: usize,
    seen: Mutex<Seen>,
}

/// The default of `--replay-cache`: about 10 MB of keys at the most.
pub const DEFAULT_REPLAY_CACHE: usize = 100_000;

impl Verifier {
    pub fn new(hmac: Hmac, secret: String, cap: usize) -> Verifier {
        let seen = Seen { keys: HashSet::new(), order: VecDeque::new() };
        Verifier { hmac, secret: secret.into_bytes(), cap: cap.max(1), seen: Mutex::new(seen) }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.hmac.tolerance_secs)
    }

    /// Checks one request's signature (and timestamp), and that it was not received before:
    /// `header` looks a header up by its lower-case name, `now` is the current Unix time in
    /// seconds. Nothing is recorded: [`Verifier::admit`] does that once the run is admitted,
    /// so a delivery refused for another reason (no run slot free) can be sent again.
    pub fn verify<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
        now: u64,
    ) -> Result<Delivery, Rejection> {
        let hmac = &self.hmac;
        let signature = header(hmac.header).ok_or(Rejection::MissingSignature(hmac.header))?.trim();
        let hex_part = match signature.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &signature[7..],
            _ => signature,
        };
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

        // The decoded bytes, encoded again: upper-case hex, or a `SHA256=` prefix, is the same key.
        let mut keys = vec![format!("sig:{}", hex::encode(&claimed))];
        if let Some(id) = hmac.id_header.and_then(&header) {
            keys.push(format!("id:{id}"));
        }
        let delivery = Delivery { keys };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.expire(Instant::now(), self.window());
        if seen.contains(&delivery) {
            return Err(Rejection::Replayed);
        }
        Ok(delivery)
    }

    /// Records a verified delivery as received, once its run was admitted; refuses it if a copy
    /// was admitted meanwhile (two copies sent at once), or if the cache is full.
    pub fn admit(&self, delivery: &Delivery) -> Result<(), Rejection> {
        let now = Instant::now();
        let window = self.window();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.expire(now, window);
        if seen.contains(delivery) {
            return Err(Rejection::Replayed);
        }
        if seen.keys.len() + delivery.keys.len() > self.cap {
            let oldest = seen.order.front().map_or(now, |(at, _)| *at);
            let left = window.saturating_sub(now.duration_since(oldest));
            return Err(Rejection::CacheFull { cap: self.cap, retry_after_secs: left.as_secs() + 1 });
        }
        for key in &delivery.keys {
            seen.keys.insert(key.clone());
            seen.order.push_back((now, key.clone()));
        }
        Ok(())
    }

    /// How many idempotency keys are remembered now.
    pub fn remembered(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).keys.len()
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

    /// Verifies and admits, as `serve` does for a request whose run found a slot.
    fn accept(verifier: &Verifier, list: &[(&str, String)], body: &[u8], now: u64) -> Result<(), Rejection> {
        let delivery = verifier.verify(headers(list), body, now)?;
        verifier.admit(&delivery)
    }

    #[test]
    fn accepts_a_good_signature_once() {
        let verifier = Verifier::new(HMAC, "s3cret".into(), 100);
        let body = br#"{"a":1}"#;
        let signature = format!("sha256={}", sign("s3cret", b"1000.{\"a\":1}"));
        let list = [("x-signature-256", signature), ("x-timestamp", "1000".to_owned())];
        assert_eq!(accept(&verifier, &list, body, 1010), Ok(()));
        assert_eq!(accept(&verifier, &list, body, 1011), Err(Rejection::Replayed));
    }

    #[test]
    fn refuses_bad_missing_and_stale_signatures() {
        let verifier = Verifier::new(HMAC, "s3cret".into(), 100);
        let good = sign("s3cret", b"1000.body");
        let list = [("x-signature-256", good.clone()), ("x-timestamp", "1000".to_owned())];
        assert_eq!(accept(&verifier, &list, b"other body", 1000), Err(Rejection::BadSignature));
        let wrong_key = [("x-signature-256", sign("guess", b"1000.body")), ("x-timestamp", "1000".to_owned())];
        assert_eq!(accept(&verifier, &wrong_key, b"body", 1000), Err(Rejection::BadSignature));
        let no_signature = [("x-timestamp", "1000".to_owned())];
        assert_eq!(
            accept(&verifier, &no_signature, b"body", 1000),
            Err(Rejection::MissingSignature("x-signature-256"))
        );
        assert_eq!(
            accept(&verifier, &list, b"body", 1301),
            Err(Rejection::StaleTimestamp { skew_secs: 301, tolerance_secs: 300 })
        );
        let not_hex = [("x-signature-256", "zz".to_owned()), ("x-timestamp", "1000".to_owned())];
        assert_eq!(accept(&verifier, &not_hex, b"body", 1000), Err(Rejection::BadSignature));
    }

    #[test]
    fn a_copy_with_another_id_no_id_or_upper_case_hex_is_a_replay() {
        let hmac = Hmac { id_header: Some("x-delivery"), ..HMAC };
        let verifier = Verifier::new(hmac, "k".into(), 100);
        let signature = sign("k", b"1000.a");
        let stamp = ("x-timestamp", "1000".to_owned());
        let first = [("x-signature-256", signature.clone()), ("x-delivery", "d-1".to_owned()), stamp.clone()];
        assert_eq!(accept(&verifier, &first, b"a", 1000), Ok(()));
        let other_id = [("x-signature-256", signature.clone()), ("x-delivery", "d-2".to_owned()), stamp.clone()];
        assert_eq!(accept(&verifier, &other_id, b"a", 1000), Err(Rejection::Replayed));
        let no_id = [("x-signature-256", signature.clone()), stamp.clone()];
        assert_eq!(accept(&verifier, &no_id, b"a", 1000), Err(Rejection::Replayed));
        let upper = [("x-signature-256", format!("SHA256={}", signature.to_uppercase())), stamp.clone()];
        assert_eq!(accept(&verifier, &upper, b"a", 1000), Err(Rejection::Replayed));
        // The id adds a key: another body under an id already received is refused as well.
        let same_id = [("x-signature-256", sign("k", b"1000.b")), ("x-delivery", "d-1".to_owned()), stamp];
        assert_eq!(accept(&verifier, &same_id, b"b", 1000), Err(Rejection::Replayed));
    }

    #[test]
    fn a_delivery_is_recorded_only_when_admitted() {
        let verifier = Verifier::new(HMAC, "k".into(), 100);
        let list = [("x-signature-256", sign("k", b"1000.a")), ("x-timestamp", "1000".to_owned())];
        // Verified, then refused for want of a run slot: not admitted, so the retry goes through.
        assert!(verifier.verify(headers(&list), b"a", 1000).is_ok());
        assert_eq!(verifier.remembered(), 0);
        assert_eq!(accept(&verifier, &list, b"a", 1000), Ok(()));
        // Two copies verified at once: only the first to be admitted runs.
        let list = [("x-signature-256", sign("k", b"1000.b")), ("x-timestamp", "1000".to_owned())];
        let (one, two) = (verifier.verify(headers(&list), b"b", 1000), verifier.verify(headers(&list), b"b", 1000));
        assert_eq!(verifier.admit(&one.unwrap()), Ok(()));
        assert_eq!(verifier.admit(&two.unwrap()), Err(Rejection::Replayed));
    }

    #[test]
    fn the_cache_is_bounded_and_refuses_past_its_cap() {
        let verifier = Verifier::new(HMAC, "k".into(), 3);
        for body in ["a", "b", "c"] {
            let list =
                [("x-signature-256", sign("k", format!("1000.{body}").as_bytes())), ("x-timestamp", "1000".into())];
            assert_eq!(accept(&verifier, &list, body.as_bytes(), 1000), Ok(()));
        }
        let list = [("x-signature-256", sign("k", b"1000.d")), ("x-timestamp", "1000".to_owned())];
        assert!(matches!(
            accept(&verifier, &list, b"d", 1000),
            Err(Rejection::CacheFull { cap: 3, retry_after_secs: 300 | 301 })
        ));
        assert_eq!(verifier.remembered(), 3);
        // Keys expire with the window.
        let short = Verifier::new(Hmac { tolerance_secs: 0, ..HMAC }, "k".into(), 1);
        let list = [("x-signature-256", sign("k", b"1000.a")), ("x-timestamp", "1000".to_owned())];
        assert_eq!(accept(&short, &list, b"a", 1000), Ok(()));
        std::thread::sleep(Duration::from_millis(20));
        let list = [("x-signature-256", sign("k", b"1000.b")), ("x-timestamp", "1000".to_owned())];
        assert_eq!(accept(&short, &list, b"b", 1000), Ok(()));
        assert_eq!(short.remembered(), 1);
    }
}
