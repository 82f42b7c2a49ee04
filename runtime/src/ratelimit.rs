//! `settings.rate_limits`: request rates shared by every node of a run (and every retry), by
//! host or by credential, with governor's GCRA limiters. Waiting for a turn happens inside
//! the node's attempt, so it counts against `timeout_ms` and the flow deadline.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::flow::Flow;

/// One limit, as the flow declares it.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub key: RateKey,
    pub per_second: f64,
    pub burst: u32,
}

/// What a limit applies to.
#[derive(Debug, Clone, Copy)]
pub enum RateKey {
    /// Requests to this host (`api.example.com`, or `host:port`).
    Host(&'static str),
    /// Requests that carry this credential of the flow.
    Credential(&'static str),
}

/// A run's limiters.
#[derive(Default)]
pub(crate) struct Limiters {
    limits: Vec<(Match, DefaultDirectRateLimiter)>,
}

enum Match {
    Host(&'static str),
    /// The credential's secret: requests are matched by what they carry, so every way of
    /// sending it (bearer, basic, a header, an integration's key) counts.
    Secret(String),
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Limiters({})", self.limits.len())
    }
}

impl Limiters {
    /// The limiters of `flow`; a credential that cannot be read is left out (the requests that
    /// need it fail anyway, with a `missing_credential` error).
    pub(crate) fn new(flow: &Flow) -> Limiters {
        let limits = flow
            .rate_limits
            .iter()
            .filter_map(|limit| {
                let matcher = match limit.key {
                    RateKey::Host(host) => Match::Host(host),
                    RateKey::Credential(name) => Match::Secret(flow.credential(name).ok()?),
                };
                let period = Duration::from_secs_f64(1.0 / limit.per_second).max(Duration::from_nanos(1));
                let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::with_period(period)?.allow_burst(burst);
                Some((matcher, RateLimiter::direct(quota)))
            })
            .collect();
        Limiters { limits }
    }

    /// Waits until every limit that applies to a request to `host` carrying `secrets` lets it
    /// go.
    pub(crate) async fn wait(&self, host: Option<&str>, secrets: &[&str]) {
        for (matcher, limiter) in &self.limits {
            let applies = match matcher {
                Match::Host(h) => host.is_some_and(|host| host.eq_ignore_ascii_case(h)),
                Match::Secret(secret) => secrets.iter().any(|s| s == secret),
            };
            if applies {
                limiter.until_ready().await;
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }
}
