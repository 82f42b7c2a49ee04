//! `settings.circuit_breakers`: one breaker per host, shared by every node of a run.
//!
//! A breaker is **closed** (calls go through) until `failure_threshold` logical calls in a row
//! have failed; then it is **open** for `open_ms`: every call to the host fails at once with a
//! `circuit_open` error and the service is not called. After `open_ms` it is **half-open**: one
//! trial call at a time goes through (the others still fail at once); `success_threshold`
//! successful trials in a row close it, a failed one opens it again.
//!
//! **A logical call** is a node's run, however many attempts its retry policy makes: the
//! scheduler opens a [`LogicalCall`] per node run, every request of the node records in it how
//! its last call to each breaker host went, and when the node has finished the outcome is
//! reported to the breakers once. A node that fails three attempts with 503 is one failure,
//! and a node whose third attempt succeeds is one success. Requests made outside a node run
//! (none today) are a logical call each.
//!
//! **A failure** is an answer or a transport error of the kinds `server_error` (5xx),
//! `timeout` (408, a transport timeout, or a request still in flight when the node's attempt
//! was cut) or `network`. Every other answer — 2xx, 4xx, 429 — shows that the host is up and
//! counts as a success.
//!
//! The state machine is our own: the crates there are (`failsafe`, for one) count every call
//! they wrap, let every call through when half-open, and know nothing of a node's attempts, so
//! they could not count logical calls, hold half-open to one trial, or report through the
//! run's events; the whole of it is a mutex around a small enum per host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::events::Events;
use crate::flow::Flow;

/// One breaker, as the flow declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// The host it guards: `api.example.com`, or `host:port` when the URL names a port.
    pub host: &'static str,
    /// Consecutive failed logical calls that open it.
    pub failure_threshold: u32,
    /// How long it stays open before it lets a trial call through.
    pub open_ms: u64,
    /// Consecutive successful trial calls that close it again.
    pub success_threshold: u32,
}

/// Whether an error of this kind counts against a breaker.
pub fn counts_as_failure(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::Network)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        /// Why it opened: `Some(n)` after n failures in a row, `None` after a failed trial.
        after: Option<u32>,
    },
    HalfOpen {
        successes: u32,
        /// The logical call that holds the one trial, if one does.
        trial: Option<u64>,
    },
}

/// A change of state, reported as an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    Opened { failures: u32, from_half_open: bool },
    HalfOpened,
    Closed { successes: u32 },
}

/// Why a call may not go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Open { remaining: Duration, after: Option<u32> },
    TrialBusy,
}

/// How a logical call's last request to one host went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Admitted, but nothing reached the host yet (waiting for a rate limit, say).
    Admitted,
    /// Sent, not answered: if the logical call ends like this, its attempt was cut.
    InFlight,
    Succeeded,
    Failed,
}

#[derive(Debug)]
struct Breaker {
    spec: CircuitBreaker,
    state: Mutex<State>,
}

impl Breaker {
    fn new(spec: CircuitBreaker) -> Breaker {
        Breaker { spec, state: Mutex::new(State::Closed { failures: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether logical call `call` may send a request now.
    fn admit(&self, call: u64, now: Instant) -> (Result<(), Refusal>, Option<Transition>) {
        let mut state = self.lock();
        let mut transition = None;
        if let State::Open { until, after } = *state {
            if now < until {
                return (Err(Refusal::Open { remaining: until - now, after }), None);
            }
            *state = State::HalfOpen { successes: 0, trial: None };
            transition = Some(Transition::HalfOpened);
        }
        let verdict = match &mut *state {
            State::HalfOpen { trial: trial @ None, .. } => {
                *trial = Some(call);
                Ok(())
            }
            State::HalfOpen { trial: Some(holder), .. } if *holder == call => Ok(()),
            State::HalfOpen { .. } => Err(Refusal::TrialBusy),
            State::Closed { .. } | State::Open { .. } => Ok(()),
        };
        (verdict, transition)
    }

    /// Logical call `call` has ended; `failed` is how its last request went (`None`: it
    /// reached nothing). Releases the trial if the call held it.
    fn settle(&self, call: u64, failed: Option<bool>, now: Instant) -> Option<Transition> {
        let mut state = self.lock();
        let open_for = Duration::from_millis(self.spec.open_ms);
        match (*state, failed) {
            (State::Closed { .. }, Some(false)) => {
                *state = State::Closed { failures: 0 };
                None
            }
            (State::Closed { failures }, Some(true)) => {
                let failures = failures + 1;
                if failures >= self.spec.failure_threshold {
                    *state = State::Open { until: now + open_for, after: Some(failures) };
                    Some(Transition::Opened { failures, from_half_open: false })
                } else {
                    *state = State::Closed { failures };
                    None
                }
            }
            // Only the trial's outcome counts in half-open: any other call was admitted
            // before the breaker opened, and says nothing about the host now.
            (State::HalfOpen { successes, trial: Some(holder) }, outcome) if holder == call => match outcome {
                Some(true) => {
                    *state = State::Open { until: now + open_for, after: None };
                    Some(Transition::Opened { failures: 1, from_half_open: true })
                }
                Some(false) if successes + 1 >= self.spec.success_threshold => {
                    *state = State::Closed { failures: 0 };
                    Some(Transition::Closed { successes: successes + 1 })
                }
                Some(false) => {
                    *state = State::HalfOpen { successes: successes + 1, trial: None };
                    None
                }
                None => {
                    *state = State::HalfOpen { successes, trial: None };
                    None
                }
            },
            _ => None,
        }
    }
}

/// A run's breakers (none outside a run).
#[derive(Debug, Default)]
pub(crate) struct Breakers {
    breakers: Vec<Breaker>,
    events: Option<Events>,
}

impl Breakers {
    /// The breakers of `flow`, reporting their changes of state to `events`.
    pub(crate) fn new(flow: &Flow, events: &Events) -> Breakers {
        Breakers {
            breakers: flow.circuit_breakers.iter().copied().map(Breaker::new).collect(),
            events: Some(events.clone()),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.breakers.is_empty()
    }

    /// Each breaker's host and state (`closed`, `open`, `half_open`), for `/metrics`. An open
    /// breaker whose time is up reads `open` until a call moves it to half-open.
    pub(crate) fn states(&self) -> Vec<(&'static str, &'static str)> {
        self.breakers
            .iter()
            .map(|b| {
                let state = match *b.lock() {
                    State::Closed { .. } => "closed",
                    State::Open { .. } => "open",
                    State::HalfOpen { .. } => "half_open",
                };
                (b.spec.host, state)
            })
            .collect()
    }

    /// Checks a request to `host` before it is sent: `Ok(None)` when no breaker guards the
    /// host, a [`Ticket`] to report the request's outcome on when one does and lets it through,
    /// and a `circuit_open` error when that breaker does not.
    pub(crate) fn admit(self: &Arc<Self>, host: Option<&str>) -> Result<Option<Ticket>, Error> {
        let Some(host) = host else { return Ok(None) };
        let Some(index) = self.breakers.iter().position(|b| b.spec.host.eq_ignore_ascii_case(host)) else {
            return Ok(None);
        };
        // The node's logical call, or one of its own for a request outside a node run.
        let (log, own) = match CURRENT.try_with(Arc::clone) {
            Ok(log) => (log, None),
            Err(_) => {
                let own = LogicalCall::with(self.clone());
                (own.log.clone(), Some(own))
            }
        };
        let breaker = &self.breakers[index];
        let (verdict, transition) = breaker.admit(log.id, Instant::now());
        self.report(breaker, transition);
        if let Err(refusal) = verdict {
            return Err(refused(breaker, refusal));
        }
        log.touch(index);
        Ok(Some(Ticket { log, index, _own: own }))
    }

    /// A logical call has ended: each breaker it touched learns how its last request went.
    fn settle(&self, log: &CallLog) {
        let now = Instant::now();
        let outcomes = std::mem::take(&mut *log.outcomes.lock().unwrap_or_else(|e| e.into_inner()));
        for (index, outcome) in outcomes {
            let failed = match outcome {
                Outcome::Admitted => None,
                Outcome::InFlight | Outcome::Failed => Some(true),
                Outcome::Succeeded => Some(false),
            };
            let breaker = &self.breakers[index];
            let transition = breaker.settle(log.id, failed, now);
            self.report(breaker, transition);
        }
    }

    fn report(&self, breaker: &Breaker, transition: Option<Transition>) {
        let (Some(events), Some(transition)) = (&self.events, transition) else { return };
        let host = breaker.spec.host;
        match transition {
            Transition::Opened { failures, from_half_open } => events.emit("breaker_open", || {
                json!({
                    "host": host,
                    "from": if from_half_open { "half_open" } else { "closed" },
                    "failures": failures,
                    "open_ms": breaker.spec.open_ms,
                })
            }),
            Transition::HalfOpened => events.emit("breaker_half_open", || json!({ "host": host })),
            Transition::Closed { successes } => {
                events.emit("breaker_closed", || json!({ "host": host, "successes": successes }))
            }
        }
    }
}

fn refused(breaker: &Breaker, refusal: Refusal) -> Error {
    let host = breaker.spec.host;
    let error = match refusal {
        Refusal::Open { remaining, after } => {
            let why = match after {
                Some(n) => format!("after {n} failed calls in a row"),
                None => "again after its trial call failed".to_owned(),
            };
            // Whole milliseconds, rounded up: "in 0 ms" would read as if it were half-open.
            let ms = remaining.as_micros().div_ceil(1000);
            Error::new(
                ErrorKind::CircuitOpen,
                format!("the circuit breaker for {host} is open {why}; it lets a trial call through in {ms} ms"),
            )
            .with_retry_after(Some(remaining))
        }
        Refusal::TrialBusy => Error::new(
            ErrorKind::CircuitOpen,
            format!(
                "the circuit breaker for {host} is half-open and another node's trial call is in progress; \
                 other calls fail until it has ended"
            ),
        ),
    };
    error.with_code("circuit_open")
}

tokio::task_local! {
    /// The logical call of the node run this task is in.
    static CURRENT: Arc<CallLog>;
}

/// How each breaker host a logical call touched answered its last request.
#[derive(Debug)]
struct CallLog {
    id: u64,
    outcomes: Mutex<Vec<(usize, Outcome)>>,
}

impl CallLog {
    fn set(&self, index: usize, outcome: Outcome, only_new: bool) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        match outcomes.iter_mut().find(|(i, _)| *i == index) {
            Some(_) if only_new => {}
            Some((_, existing)) => *existing = outcome,
            None => outcomes.push((index, outcome)),
        }
    }

    /// Admitted: counts for nothing until a request is sent, but keeps what an earlier
    /// request of the call gave.
    fn touch(&self, index: usize) {
        self.set(index, Outcome::Admitted, true);
    }
}

/// One node run's requests, reported to the run's breakers once, when it is dropped (after
/// the node's last attempt). The scheduler makes one per node run and runs each attempt in
/// [`LogicalCall::scope`].
#[derive(Debug)]
pub(crate) struct LogicalCall {
    breakers: Arc<Breakers>,
    log: Arc<CallLog>,
}

impl LogicalCall {
    /// A logical call on the breakers of `http`'s run.
    pub(crate) fn new(http: &crate::http::Http) -> LogicalCall {
        LogicalCall::with(http.breakers().clone())
    }

    fn with(breakers: Arc<Breakers>) -> LogicalCall {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let log = Arc::new(CallLog { id: NEXT.fetch_add(1, Ordering::Relaxed), outcomes: Mutex::new(Vec::new()) });
        LogicalCall { breakers, log }
    }

    /// Runs `future` (one attempt) as part of this logical call.
    pub(crate) fn scope<F: std::future::Future>(&self, future: F) -> impl std::future::Future<Output = F::Output> {
        CURRENT.scope(self.log.clone(), future)
    }
}

impl Drop for LogicalCall {
    fn drop(&mut self) {
        if !self.breakers.is_empty() {
            self.breakers.settle(&self.log);
        }
    }
}

/// A request a breaker let through: say when it is sent and how it went.
pub(crate) struct Ticket {
    log: Arc<CallLog>,
    index: usize,
    /// A logical call of the request's own, settled when the ticket is dropped.
    _own: Option<LogicalCall>,
}

impl Ticket {
    /// The request is on its way to the host.
    pub(crate) fn sent(&self) {
        self.log.set(self.index, Outcome::InFlight, false);
    }

    /// The request has ended with `result`.
    pub(crate) fn finish<T>(self, result: &Result<T, Error>) {
        let outcome = match result {
            Ok(_) => Outcome::Succeeded,
            Err(e) if counts_as_failure(e.kind) => Outcome::Failed,
            // An answer of another kind (4xx, 429, a body that is not JSON): the host is up.
            Err(e) if e.status.is_some() => Outcome::Succeeded,
            // Nothing reached the host.
            Err(_) => Outcome::Admitted,
        };
        self.log.set(self.index, outcome, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: CircuitBreaker =
        CircuitBreaker { host: "api.test", failure_threshold: 3, open_ms: 1000, success_threshold: 2 };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures_only() {
        let b = Breaker::new(SPEC);
        let t0 = Instant::now();
        assert_eq!(b.settle(1, Some(true), t0), None);
        assert_eq!(b.settle(2, Some(true), t0), None);
        assert_eq!(b.settle(3, Some(false), t0), None, "a success resets the count");
        assert_eq!(b.settle(4, Some(true), t0), None);
        assert_eq!(b.settle(5, Some(true), t0), None);
        assert_eq!(b.settle(6, None, t0), None, "a call that reached nothing counts for nothing");
        assert_eq!(b.settle(7, Some(true), t0), Some(Transition::Opened { failures: 3, from_half_open: false }));
        assert_eq!(
            b.admit(8, t0 + ms(400)).0,
            Err(Refusal::Open { remaining: ms(600), after: Some(3) }),
            "open: fails fast until open_ms has passed"
        );
    }

    #[test]
    fn half_open_lets_one_trial_through_and_closes_after_enough_successes() {
        let b = Breaker::new(SPEC);
        let t0 = Instant::now();
        for call in 1..=3 {
            b.settle(call, Some(true), t0);
        }
        let later = t0 + ms(1000);
        assert_eq!(b.admit(10, later), (Ok(()), Some(Transition::HalfOpened)));
        assert_eq!(b.admit(10, later), (Ok(()), None), "the trial's own retries go through");
        assert_eq!(b.admit(11, later).0, Err(Refusal::TrialBusy), "one trial at a time");
        assert_eq!(b.settle(11, Some(true), later), None, "a refused call's outcome does not count");
        assert_eq!(b.settle(10, Some(false), later), None, "1 of 2 successes");
        assert_eq!(b.admit(12, later), (Ok(()), None), "the next trial");
        assert_eq!(b.settle(12, Some(false), later), Some(Transition::Closed { successes: 2 }));
        assert_eq!(b.admit(13, later), (Ok(()), None));
        assert_eq!(b.admit(14, later), (Ok(()), None), "closed: every call goes through");
    }

    #[test]
    fn a_failed_trial_opens_it_again_and_a_trial_that_reached_nothing_frees_the_slot() {
        let b = Breaker::new(SPEC);
        let t0 = Instant::now();
        for call in 1..=3 {
            b.settle(call, Some(true), t0);
        }
        let t1 = t0 + ms(1500);
        assert_eq!(b.admit(20, t1).0, Ok(()));
        assert_eq!(b.settle(20, None, t1), None);
        assert_eq!(b.admit(21, t1), (Ok(()), None), "the slot is free again");
        assert_eq!(b.settle(21, Some(true), t1), Some(Transition::Opened { failures: 1, from_half_open: true }));
        assert_eq!(b.admit(22, t1 + ms(999)).0, Err(Refusal::Open { remaining: ms(1), after: None }));
        assert_eq!(b.admit(22, t1 + ms(1000)), (Ok(()), Some(Transition::HalfOpened)));
    }

    #[test]
    fn a_logical_call_reports_the_last_outcome_per_host_once() {
        let log = CallLog { id: 1, outcomes: Mutex::new(Vec::new()) };
        log.touch(0);
        log.set(0, Outcome::Failed, false);
        log.touch(0);
        assert_eq!(*log.outcomes.lock().unwrap(), [(0, Outcome::Failed)], "a new admission keeps the last outcome");
        log.set(0, Outcome::InFlight, false);
        log.set(0, Outcome::Succeeded, false);
        log.touch(1);
        assert_eq!(*log.outcomes.lock().unwrap(), [(0, Outcome::Succeeded), (1, Outcome::Admitted)]);
    }

    #[test]
    fn the_refusal_names_the_host_and_when_it_half_opens() {
        let b = Breaker::new(SPEC);
        let e = refused(&b, Refusal::Open { remaining: Duration::from_micros(1_200_500), after: Some(3) });
        assert_eq!(e.kind, ErrorKind::CircuitOpen);
        assert_eq!(e.code.as_deref(), Some("circuit_open"));
        assert!(!e.retryable);
        assert_eq!(
            e.message,
            "the circuit breaker for api.test is open after 3 failed calls in a row; it lets a trial call through in 1201 ms"
        );
        assert_eq!(e.retry_after, Some(Duration::from_micros(1_200_500)));
    }
}
