//! Trying again what may pass on another try: the loop ([`Retrier::run`]), the policy
//! (exponential backoff with full jitter, the server's `Retry-After` honoured), the words of a
//! give-up, and a pause shared by every worker while the API is rate-limiting us, so a 429 is
//! not answered with more requests.

use crate::error::{Error, Result};
use crate::observe::{Event, Observer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs attempts until one succeeds, one fails for good, or the retries run out. One per
/// process, shared by every worker, so a rate limit slows them all.
pub struct Retrier {
    policy: RetryPolicy,
    pause: Arc<Pause>,
    observer: Arc<dyn Observer>,
    cancel: Arc<AtomicBool>,
}

impl Retrier {
    /// A retrier that reports each retry to `observer` and stops waiting when `cancel` is set.
    pub fn new(policy: RetryPolicy, observer: Arc<dyn Observer>, cancel: Arc<AtomicBool>) -> Self {
        Retrier {
            policy,
            pause: Arc::new(Pause::default()),
            observer,
            cancel,
        }
    }

    /// The pause that the HTTP client makes every API request wait out.
    pub fn pause(&self) -> &Arc<Pause> {
        &self.pause
    }

    /// The flag that stops the work: waits end early and no new attempt starts.
    pub fn cancel_flag(&self) -> &Arc<AtomicBool> {
        &self.cancel
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries run out. Each retry
    /// is reported to the observer. A 429 from the API (or a 503 with `Retry-After`) pauses
    /// every worker's API requests for the wait, not only this one's.
    pub fn run<T>(&self, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
        for n in 1.. {
            let error = match attempt() {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let wait = match self.policy.decide(&error, n) {
                Decision::RetryAfter(wait) => wait,
                Decision::GiveUp => return Err(self.policy.give_up(error)),
            };
            if slows_everyone(&error) {
                self.pause.hold(wait);
            }
            self.observer.event(&Event::Retry {
                error: &error,
                attempt: n,
                retries: self.policy.retries,
                wait,
            });
            if !sleep(wait, &self.cancel) {
                return Err(Error::Interrupted);
            }
        }
        unreachable!("the loop only ends by returning")
    }
}

/// The API said to slow down: everyone waits, not just the worker that was told.
fn slows_everyone(error: &Error) -> bool {
    match error {
        Error::Http {
            status: 429,
            from_blob: false,
            ..
        } => true,
        Error::Http {
            status: 503,
            from_blob: false,
            retry_after,
            ..
        } => retry_after.is_some(),
        _ => false,
    }
}

/// How hard to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The longest any one wait may be; a `Retry-After` beyond it ends the retries.
    pub max_wait: Duration,
    /// The first backoff ceiling; it doubles on each retry.
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            max_wait: Duration::from_secs(60),
            base: Duration::from_millis(500),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Do not try again.
    GiveUp,
}

impl RetryPolicy {
    /// The error to report when the retries stop: a server that asked for a longer wait
    /// than the policy allows is said to have done so.
    pub fn give_up(&self, error: Error) -> Error {
        match error.retry_after() {
            Some(asked) if asked > self.max_wait => Error::WaitTooLong {
                asked,
                max_wait: self.max_wait,
                error: Box::new(error),
            },
            _ => error,
        }
    }

    /// Decides after failed attempt number `attempt` (1 for the first try).
    pub fn decide(&self, error: &Error, attempt: u32) -> Decision {
        if attempt > self.retries || !error.is_transient() {
            return Decision::GiveUp;
        }
        match error.retry_after() {
            Some(asked) if asked > self.max_wait => Decision::GiveUp,
            Some(asked) => Decision::RetryAfter(asked),
            None => {
                let ceiling = self
                    .base
                    .saturating_mul(1u32 << (attempt - 1).min(20))
                    .min(self.max_wait);
                Decision::RetryAfter(ceiling.mul_f64(fastrand::f64()))
            }
        }
    }
}

/// A moment before which no API request is sent, shared by every worker of a process.
#[derive(Default)]
pub struct Pause {
    /// The holds of the last 10 s, from and until, in order; the last is the
    /// current one.
    holds: Mutex<Vec<(Instant, Instant)>>,
}

/// How far back holds are remembered (see [`Pause::held_within`]).
const HOLDS_KEPT: Duration = Duration::from_secs(10);

impl Pause {
    /// Holds every API request until `now + wait` (or later, if already held longer).
    pub fn hold(&self, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        holds.retain(|&(_, end)| end + HOLDS_KEPT > now);
        match holds.last_mut() {
            Some((_, end)) if *end >= now => *end = (*end).max(until),
            _ => holds.push((now, until)),
        }
    }

    /// How long requests were held between `from` and `to` (remembered for 10 s).
    pub fn held_within(&self, from: Instant, to: Instant) -> Duration {
        let holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        holds
            .iter()
            .map(|&(start, end)| end.min(to).saturating_duration_since(start.max(from)))
            .sum()
    }

    /// Waits until the pause is over. Returns false if `cancel` was set meanwhile.
    pub fn wait(&self, cancel: &AtomicBool) -> bool {
        loop {
            let until = self
                .holds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last()
                .map(|&(_, end)| end);
            match until {
                Some(until) if until > Instant::now() => {
                    if !sleep(until - Instant::now(), cancel) {
                        return false;
                    }
                }
                _ => return !cancel.load(Ordering::Relaxed),
            }
        }
    }
}

/// Sleeps for `duration`, waking early when `cancel` is set. Returns false if it was.
pub fn sleep(duration: Duration, cancel: &AtomicBool) -> bool {
    let deadline = Instant::now() + duration;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

/// Parses `Retry-After`: delay-seconds, or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`).
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let ahead = at.duration_since(now);
    Some(Duration::try_from(ahead).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, retry_after: Option<u64>, from_blob: bool) -> Error {
        Error::Http {
            context: "x".into(),
            status,
            message: "m".into(),
            retry_after: retry_after.map(Duration::from_secs),
            from_blob,
        }
    }

    #[test]
    fn transient_failures_are_retried_permanent_ones_are_not() {
        let policy = RetryPolicy::default();
        for status in [408, 429, 500, 502, 503, 504] {
            assert_ne!(
                policy.decide(&http(status, None, false), 1),
                Decision::GiveUp
            );
        }
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(
                policy.decide(&http(status, None, false), 1),
                Decision::GiveUp
            );
        }
        // An expired signed URL, in every store's shape: ask the API again.
        for status in [400, 401, 403] {
            assert_ne!(
                policy.decide(&http(status, None, true), 1),
                Decision::GiveUp
            );
        }
        assert_eq!(policy.decide(&http(404, None, true), 1), Decision::GiveUp);
        assert_eq!(
            policy.decide(&Error::Config("x".into()), 1),
            Decision::GiveUp
        );
        assert_eq!(policy.decide(&http(503, None, false), 6), Decision::GiveUp);
    }

    #[test]
    fn backoff_is_jittered_below_a_doubling_ceiling_and_retry_after_wins() {
        let policy = RetryPolicy::default();
        for attempt in 1..=5u32 {
            let Decision::RetryAfter(wait) = policy.decide(&http(500, None, false), attempt) else {
                panic!("should retry");
            };
            assert!(
                wait <= Duration::from_millis(500) * (1 << (attempt - 1)),
                "{wait:?}"
            );
        }
        assert_eq!(
            policy.decide(&http(429, Some(7), false), 1),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            policy.decide(&http(429, Some(61), false), 1),
            Decision::GiveUp
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now: jiff::Timestamp = "2026-10-21T07:27:30Z".parse().unwrap();
        assert_eq!(
            parse_retry_after(" 12 ", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn a_pause_holds_until_its_end_and_a_cancel_cuts_it_short() {
        let pause = Pause::default();
        let cancel = AtomicBool::new(false);
        pause.hold(Duration::from_millis(120));
        let start = Instant::now();
        assert!(pause.wait(&cancel));
        assert!(start.elapsed() >= Duration::from_millis(100));
        pause.hold(Duration::from_secs(30));
        cancel.store(true, Ordering::Relaxed);
        assert!(!pause.wait(&cancel));
        // Overlapping holds are one; what they held is counted within a span.
        pause.hold(Duration::from_secs(10));
        let now = Instant::now();
        let held = pause.held_within(start, now + Duration::from_secs(60));
        assert!(
            held >= Duration::from_secs(30) && held < Duration::from_secs(31),
            "{held:?}"
        );
        assert_eq!(
            pause.held_within(now + Duration::from_secs(40), now + Duration::from_secs(50)),
            Duration::ZERO
        );
    }
}
