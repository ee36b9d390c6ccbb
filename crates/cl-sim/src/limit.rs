//! The rate limit the real API is reported to have (unpublished; about 100 requests a minute
//! per key, says one source): a token bucket per key, refilled at R tokens a second up to its
//! burst, one token per API request; an empty bucket answers 429 with a whole-second
//! `Retry-After` until the next token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket per key.
pub(crate) struct Limiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Vec<u8>, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    /// `per_second` tokens a second, at most `burst` banked (a full bucket to start).
    pub(crate) fn new(per_second: f64, burst: u32) -> Self {
        Limiter {
            per_second,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at `now`; when there is none, how long until there is one, in
    /// whole seconds (at least 1), as `Retry-After` says it.
    pub(crate) fn take(&self, key: &[u8], now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second);
        Err(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_refill_rate_and_each_key_on_its_own() {
        let limiter = Limiter::new(10.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take(b"k", start), Ok(()));
        }
        assert_eq!(
            limiter.take(b"k", start),
            Err(1),
            "empty: wait for the next token"
        );
        assert_eq!(limiter.take(b"other", start), Ok(()), "a bucket per key");
        let later = start + Duration::from_millis(250);
        assert_eq!(limiter.take(b"k", later), Ok(()), "2.5 tokens refilled");
        assert_eq!(limiter.take(b"k", later), Ok(()));
        assert_eq!(limiter.take(b"k", later), Err(1));
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.take(b"k", much_later), Ok(()));
        }
        assert!(
            limiter.take(b"k", much_later).is_err(),
            "banked no more than the burst"
        );
        let slow = Limiter::new(0.2, 1);
        assert_eq!(slow.take(b"k", start), Ok(()));
        assert_eq!(slow.take(b"k", start), Err(5), "whole seconds, rounded up");
    }
}
