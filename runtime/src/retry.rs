//! Retry policies, after the fields of Amazon States Language's `Retry`: attempts, initial
//! delay, backoff rate, a cap, jitter, and the error kinds that are retried.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// How the delay before the next attempt is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// A uniformly random delay between zero and the computed delay ("full jitter"), so that
    /// many clients failing together do not retry together.
    Full,
    /// Exactly the computed delay.
    None,
}

/// A node's retry policy. `max_attempts` counts the first attempt: 1 means no retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay_ms: u64,
    pub backoff_rate: f64,
    pub max_delay_ms: u64,
    pub jitter: Jitter,
    pub retry_on: &'static [ErrorKind],
}

impl RetryPolicy {
    /// Error kinds retried when a policy does not list its own.
    pub const DEFAULT_RETRY_ON: &'static [ErrorKind] =
        &[ErrorKind::RateLimit, ErrorKind::ServerError, ErrorKind::Timeout, ErrorKind::Network];

    /// The format's default policy: 3 attempts, 1 s then 2 s (full jitter), at most 10 s,
    /// transient errors only.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        initial_delay_ms: 1000,
        backoff_rate: 2.0,
        max_delay_ms: 10_000,
        jitter: Jitter::Full,
        retry_on: RetryPolicy::DEFAULT_RETRY_ON,
    };

    /// One attempt, no retry (`"retry": false`).
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        initial_delay_ms: 0,
        backoff_rate: 1.0,
        max_delay_ms: 0,
        jitter: Jitter::None,
        retry_on: &[],
    };

    /// Whether a failure of `attempt` (1-based) is tried again: its kind is one the policy
    /// lists (by default the transient ones; a flow may list others, such as `client_error`).
    pub fn should_retry(&self, attempt: u32, error: &Error) -> bool {
        attempt < self.max_attempts && self.retry_on.contains(&error.kind)
    }

    /// The wait before attempt `attempt + 1`. A `Retry-After` from the service wins over the
    /// backoff, up to `max_delay_ms`.
    pub fn delay(&self, attempt: u32, error: &Error) -> Duration {
        let cap = Duration::from_millis(self.max_delay_ms);
        if let Some(wait) = error.retry_after {
            return wait.min(cap);
        }
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let computed = self.initial_delay_ms as f64 * self.backoff_rate.powi(exponent);
        let capped = computed.min(self.max_delay_ms as f64).max(0.0);
        let ms = match self.jitter {
            Jitter::None => capped,
            Jitter::Full => fastrand::f64() * capped,
        };
        Duration::from_millis(ms.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        initial_delay_ms: 100,
        backoff_rate: 2.0,
        max_delay_ms: 300,
        jitter: Jitter::None,
        retry_on: RetryPolicy::DEFAULT_RETRY_ON,
    };

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let e = Error::new(ErrorKind::ServerError, "x");
        let delays: Vec<u64> = (1..=4).map(|a| POLICY.delay(a, &e).as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 300, 300]);
    }

    #[test]
    fn full_jitter_stays_below_the_computed_delay() {
        let policy = RetryPolicy { jitter: Jitter::Full, ..POLICY };
        let e = Error::new(ErrorKind::ServerError, "x");
        for _ in 0..200 {
            assert!(policy.delay(2, &e) <= Duration::from_millis(200));
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let e = Error::new(ErrorKind::RateLimit, "x").with_retry_after(Some(Duration::from_millis(250)));
        assert_eq!(POLICY.delay(1, &e), Duration::from_millis(250));
        let e = e.with_retry_after(Some(Duration::from_secs(60)));
        assert_eq!(POLICY.delay(1, &e), Duration::from_millis(300));
    }

    #[test]
    fn retries_only_listed_kinds_and_only_while_attempts_remain() {
        assert!(POLICY.should_retry(1, &Error::new(ErrorKind::Network, "x")));
        assert!(!POLICY.should_retry(4, &Error::new(ErrorKind::Network, "x")));
        assert!(!POLICY.should_retry(1, &Error::new(ErrorKind::ClientError, "x")));
        assert!(!RetryPolicy::NONE.should_retry(1, &Error::new(ErrorKind::Network, "x")));
        let listed = RetryPolicy { retry_on: &[ErrorKind::ClientError], ..POLICY };
        assert!(listed.should_retry(1, &Error::new(ErrorKind::ClientError, "x")), "a listed kind is retried");
    }
}
