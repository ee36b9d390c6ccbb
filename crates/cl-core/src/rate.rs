//! A ceiling on the API requests one process sends per second (`--max-rate`), shared by every
//! worker, so a run stays inside the tenant's rate limit and adds little to its audit log.
//! Downloads from the blob host do not count: they are not API calls.

use crate::retry::sleep;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Spaces requests evenly: each takes the next free slot, `1/rate` seconds after the last.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimit {
    /// At most `per_second` requests a second (fractions allowed: 0.5 is one every 2 s).
    pub fn new(per_second: f64) -> Option<RateLimit> {
        (per_second > 0.0 && per_second.is_finite()).then(|| RateLimit {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        })
    }

    /// Waits for this request's slot. False when `cancel` was set meanwhile.
    pub fn wait(&self, cancel: &AtomicBool) -> bool {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        sleep(slot.saturating_duration_since(Instant::now()), cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spaced_by_the_rate_whoever_asks() {
        let limit = std::sync::Arc::new(RateLimit::new(50.0).unwrap());
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (limit, cancel) = (limit.clone(), cancel.clone());
                std::thread::spawn(move || (0..5).all(|_| limit.wait(&cancel)))
            })
            .collect();
        assert!(workers.into_iter().all(|w| w.join().unwrap()));
        // 20 requests at 50 a second: the last waits for 19 intervals of 20 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(19 * 20 - 5),
            "{:?}",
            start.elapsed()
        );
        assert!(RateLimit::new(0.0).is_none() && RateLimit::new(f64::NAN).is_none());
    }
}
