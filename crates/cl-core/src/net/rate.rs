//! How fast one process sends API requests, all workers together: at most `--max-rate`, and,
//! once the API has refused requests for their rate (429), near the rate it allows, learned
//! from what it answers, so a rate limit is met by pacing instead of a burst of refusals after
//! every pause. Downloads from the blob host do not count: they are not API calls.
//!
//! The API's limit is unpublished; what it answers fits a token bucket (R tokens a second, a
//! burst banked, a refusal when it is empty). So:
//! - The first pace is the rate the API accepted requests at in the second before it
//!   refused, once a burst has been spent (20 accepted) or a few refusals waited out
//!   (then it is a guess, and doubles each second until the next refusal).
//! - Each later refusal takes the pace a tenth down, or to the rate accepted in the last
//!   second of sending time (a refusal's pause sends nothing and is left out), whichever is
//!   lower; once the pace has passed its trial (below), also to the rate accepted since the
//!   last change, pauses included, which is exactly what the bucket made: far above the
//!   limit, the way down is one step.
//! - Between refusals the pace rises, a tenth a second at first, 1 % a second once it has
//!   been corrected, so it settles just under the limit with a refusal now and then.
//! - Trial: refusals that pacing does not make rarer are not about the rate (a server that
//!   refuses a share of requests whatever the rate). From the first correction, the share of
//!   paced requests refused is compared with the share refused unpaced; as large a share
//!   after five refusals means the pace is tried once more at the rate over
//!   time (pauses included, for a bucket that banks a large burst but refills slowly), and
//!   a second such failure drops pacing for the run: each refusal is then only waited out
//!   (see [`crate::net::retry::Pause`]).
//!
//! The unit tests below run it in simulated time against token buckets of several rates and
//! bursts, and against a server that refuses every Nth request.

use crate::net::retry::{Pause, sleep};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The pace never falls below this many requests a second.
const FLOOR: f64 = 0.2;
/// The span of sending time over which the accepted rate is measured, and how far back
/// accepted requests are kept for it.
const RECENT: Duration = Duration::from_secs(1);
const KEPT: Duration = Duration::from_secs(8);
/// How the pace rises each second without a refusal, once it has met a second refusal: a
/// refusal every ten seconds or so, whatever the rate.
const RISE_PER_SECOND: f64 = 0.01;
/// Before that: a first pace from a full window rises by a tenth a second; one from a few
/// requests only (it may be far too low) doubles each second.
const PROBE_PER_SECOND: f64 = 0.10;
const GUESS_GROWTH: f64 = 2.0;
/// A first pace comes once this many requests were accepted, or this many refusals were
/// waited out; from fewer accepted requests it is a guess.
const ENOUGH: u64 = 20;
const FIRST_REFUSALS: u32 = 3;
/// A refusal takes the pace down at least this far.
const FALL: f64 = 0.9;
/// Refusals of requests sent this soon after the pace changed belong to the pace before (they
/// were on the wire already).
const SETTLE: Duration = Duration::from_secs(1);
/// The first pace is on trial for this many requests sent under it, or until this many of
/// them are refused: then it is judged by the share refused.
const TRIAL: u64 = 60;
const TRIAL_REFUSALS: u64 = 5;

/// Spaces API requests: each takes the next free slot, one interval after the last.
#[derive(Debug)]
pub struct Pacer {
    /// `--max-rate`, as an interval.
    ceiling: Option<Duration>,
    state: Mutex<Pace>,
}

/// Requests sent, and how many of them were refused.
#[derive(Debug, Default, Clone, Copy)]
struct Share {
    sent: u64,
    refused: u64,
}

impl Share {
    fn add(&mut self, refused: bool) {
        self.sent += 1;
        self.refused += u64::from(refused);
    }

    fn fraction(self) -> f64 {
        self.refused as f64 / self.sent.max(1) as f64
    }
}

/// What the pacer has learned.
#[derive(Debug)]
struct Pace {
    /// When the next request may go.
    next: Instant,
    /// Requests a second the API seems to allow: `None` until it refuses one.
    learned: Option<f64>,
    /// When `learned` last changed (it rises from there).
    since: Instant,
    /// Changes made: the rise is slow after the second.
    changes: u32,
    /// The first pace came from fewer than [`ENOUGH`] accepted requests.
    guessed: bool,
    /// When each of the requests accepted in the last [`RECENT`] was answered.
    recent: VecDeque<Instant>,
    /// Accepted requests, and refusals counted, before the first pace.
    accepted_unpaced: u64,
    refusals_unpaced: u32,
    /// Requests sent before the first pace, and sent under it until [`TRIAL`] of them.
    unpaced: Share,
    trial: Option<Share>,
    /// When the first pace was first corrected: the trial counts requests sent from a
    /// [`SETTLE`] after it.
    paced_from: Option<Instant>,
    /// The pace was put on trial a second time, at the rate over time.
    second_trial: bool,
    /// Pacing did not make refusals rarer: no pace for the rest of the run.
    futile: bool,
}

impl Pacer {
    /// At most `max_rate` requests a second (fractions allowed: 0.5 is one every 2 s), or no
    /// ceiling; nothing learned yet.
    pub fn new(max_rate: Option<f64>) -> Pacer {
        Pacer {
            ceiling: max_rate
                .filter(|r| *r > 0.0 && r.is_finite())
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            state: Mutex::new(Pace::new(Instant::now())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pace learned so far, in requests a second, risen since it last changed.
    pub fn learned(&self) -> Option<f64> {
        self.lock().pace(Instant::now())
    }

    /// How many times the pace has changed (or stopped): a caller can tell when to say so.
    pub fn changes(&self) -> u32 {
        let pace = self.lock();
        pace.changes + u32::from(pace.futile)
    }

    /// Waits for this request's slot and returns when it may go. `None` when `cancel` was
    /// set meanwhile.
    pub fn wait(&self, cancel: &AtomicBool) -> Option<Instant> {
        let slot = self.lock().take_slot(Instant::now(), self.ceiling);
        sleep(slot.saturating_duration_since(Instant::now()), cancel).then_some(slot)
    }

    /// Takes in how the API answered a request sent at `sent`: accepted, or refused for its
    /// rate (429). `pause` is what holds every API request after a refusal: time it held them
    /// is left out of the rate the API accepted requests at.
    pub fn answered(&self, sent: Instant, refused: bool, pause: &Pause) {
        let now = Instant::now();
        self.lock()
            .answered(sent, refused, now, &|from, to| pause.held_within(from, to));
    }
}

impl Pace {
    fn new(now: Instant) -> Pace {
        Pace {
            next: now,
            learned: None,
            since: now,
            changes: 0,
            guessed: false,
            recent: VecDeque::new(),
            accepted_unpaced: 0,
            refusals_unpaced: 0,
            unpaced: Share::default(),
            trial: None,
            paced_from: None,
            second_trial: false,
            futile: false,
        }
    }

    /// The learned pace at `now`, risen since it last changed.
    fn pace(&self, now: Instant) -> Option<f64> {
        let seconds = now.saturating_duration_since(self.since).as_secs_f64();
        let factor = match (self.changes, self.guessed) {
            (0 | 1, true) => GUESS_GROWTH.powf(seconds),
            (0 | 1, false) => 1.0 + PROBE_PER_SECOND * seconds,
            _ => 1.0 + RISE_PER_SECOND * seconds,
        };
        self.learned.map(|r| r * factor)
    }

    /// The slot of the next request asked for at `now`.
    fn take_slot(&mut self, now: Instant, ceiling: Option<Duration>) -> Instant {
        let learned = self.pace(now).map(|r| Duration::from_secs_f64(1.0 / r));
        let interval = match (learned, ceiling) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let slot = self.next.max(now);
        self.next = slot + interval.unwrap_or(Duration::ZERO);
        slot
    }

    /// Takes in an answer at `now`; `held(from, to)` says how long the shared pause held
    /// requests between two moments.
    fn answered(
        &mut self,
        sent: Instant,
        refused: bool,
        now: Instant,
        held: &dyn Fn(Instant, Instant) -> Duration,
    ) {
        self.count(sent, refused, now);
        if !refused {
            self.recent.push_back(now);
            while self.recent.front().is_some_and(|&t| t + KEPT < now) {
                self.recent.pop_front();
            }
            return;
        }
        // Nothing is learned any more, or the request left under the pace before.
        if self.futile || (self.learned.is_some() && sent < self.since + SETTLE) {
            return;
        }
        // The last RECENT of time requests could go: a refusal's pause sends none, so the
        // window reaches back past the pauses within it.
        let mut window = RECENT;
        for _ in 0..3 {
            let from = now.checked_sub(window).unwrap_or(now);
            window = (RECENT + held(from, now)).min(KEPT);
        }
        let from = now.checked_sub(window).unwrap_or(now);
        let count = self.recent.iter().filter(|&&t| t >= from).count();
        let recent = count as f64 / RECENT.as_secs_f64();
        let next = match self.pace(now) {
            None => {
                // A first pace once a burst has been spent or a few refusals waited out.
                self.refusals_unpaced += 1;
                if self.accepted_unpaced < ENOUGH && self.refusals_unpaced < FIRST_REFUSALS {
                    return;
                }
                self.guessed = self.accepted_unpaced < ENOUGH;
                recent
            }
            Some(current) => {
                // The first correction starts the trial: before it the pace was a guess.
                if self.paced_from.is_none() {
                    self.paced_from = Some(now);
                    self.trial = Some(Share::default());
                }
                let mut next = (current * FALL).min(recent);
                // Once the trial has shown the refusals are about the rate, the rate since the
                // last change, pauses included, is what the bucket gave: the way down from far
                // above the limit is one step.
                if self.trial.is_none() {
                    let from = self.since.max(now.checked_sub(KEPT).unwrap_or(now));
                    let span = now.saturating_duration_since(from).max(RECENT);
                    let since = self.recent.iter().filter(|&&t| t >= from).count();
                    next = next.min(since as f64 / span.as_secs_f64());
                }
                next
            }
        };
        self.learned = Some(next.max(FLOOR));
        self.since = now;
        self.changes += 1;
    }

    /// Counts a request as unpaced or paced, and judges the pace on trial once it has met
    /// [`TRIAL_REFUSALS`] refusals (or passed [`TRIAL`] requests without).
    fn count(&mut self, sent: Instant, refused: bool, now: Instant) {
        // Sent before the first pace (or on the wire when it came): unpaced.
        let unpaced = match self.learned {
            None => true,
            Some(_) => self.changes == 1 && sent < self.since + SETTLE,
        };
        if unpaced && !self.futile {
            self.unpaced.add(refused);
            self.accepted_unpaced += u64::from(!refused);
            return;
        }
        if self.paced_from.is_none_or(|from| sent < from + SETTLE) {
            return;
        }
        let Some(trial) = &mut self.trial else {
            return;
        };
        trial.add(refused);
        let trial = *trial;
        if trial.sent >= TRIAL && trial.refused < TRIAL_REFUSALS {
            self.trial = None;
            return;
        }
        if trial.refused < TRIAL_REFUSALS {
            return;
        }
        self.trial = None;
        // Refused, paced, as often as unpaced.
        if trial.fraction() < 0.5 * self.unpaced.fraction() {
            return;
        }
        // The trial counts requests sent from a SETTLE after it began.
        let from = self.paced_from.map_or(now, |t| t + SETTLE);
        let span = now
            .saturating_duration_since(from)
            .max(Duration::from_secs(1));
        let wall = (trial.sent - trial.refused) as f64 / span.as_secs_f64();
        match self.second_trial {
            // A large burst banked, then a low rate: the rate over the time itself, pauses
            // included, is what the bucket gives. Tried once more at that.
            false => {
                self.second_trial = true;
                self.learned = Some(wall.max(FLOOR));
                self.since = now;
                self.changes += 1;
                self.paced_from = Some(now);
                self.trial = Some(Share::default());
            }
            // Refused as often as unpaced even there: the refusals are not about the rate.
            true => {
                self.futile = true;
                self.learned = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_spaces_requests_whoever_asks() {
        let pacer = std::sync::Arc::new(Pacer::new(Some(50.0)));
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (pacer, cancel) = (pacer.clone(), cancel.clone());
                std::thread::spawn(move || {
                    (0..5)
                        .map(|_| pacer.wait(&cancel).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut slots: Vec<Instant> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        slots.sort();
        // Slots, not sleeps, are checked: 20 ms apart whatever the threads did.
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(20) - Duration::from_micros(50));
        }
        assert!(Pacer::new(Some(0.0)).ceiling.is_none());
        assert!(Pacer::new(Some(f64::NAN)).ceiling.is_none());
    }

    /// A server for the simulated runs below.
    trait Server {
        /// Whether the request at `now` is accepted; else the Retry-After in seconds.
        fn answer(&mut self, now: Instant, n: u64) -> Result<(), u64>;
    }

    /// A token bucket of `rate` a second, `burst` banked.
    struct Bucket {
        rate: f64,
        burst: f64,
        tokens: f64,
        at: Instant,
    }

    impl Server for Bucket {
        fn answer(&mut self, now: Instant, _: u64) -> Result<(), u64> {
            let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + refill).min(self.burst);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return Ok(());
            }
            Err(((1.0 - self.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }

    /// A server refusing every `nth` request, whatever the rate.
    struct Refusing {
        nth: u64,
    }

    impl Server for Refusing {
        fn answer(&mut self, _: Instant, n: u64) -> Result<(), u64> {
            match n % self.nth {
                0 => Err(1),
                _ => Ok(()),
            }
        }
    }

    /// Runs `requests` API requests through `workers` workers against `server` in simulated
    /// time (each request takes `latency`; a refusal holds every worker for its Retry-After,
    /// as the retry loop's shared pause does, and the request is tried again). Returns the
    /// time taken and the refusals.
    fn run(server: &mut dyn Server, requests: u64, workers: usize) -> (Duration, u64) {
        let start = Instant::now();
        let latency = Duration::from_millis(5);
        let mut pace = Pace::new(start);
        let mut free = vec![start; workers];
        let (mut done, mut refused, mut sent) = (0, 0, 0u64);
        // Refusals' pauses: from when each refusal arrived, until when.
        let mut pauses: Vec<(Instant, Instant)> = Vec::new();
        let mut end = start;
        while done < requests {
            // The worker free first sends next, unless a pause it knows of holds it.
            let w = (0..workers).min_by_key(|&i| free[i]).unwrap();
            let ready = pauses
                .iter()
                .filter(|(known, _)| *known <= free[w])
                .map(|(_, until)| *until)
                .fold(free[w], Instant::max);
            let slot = pace.take_slot(ready, None);
            sent += 1;
            let answered = slot + latency;
            let held = |a: Instant, b: Instant| -> Duration {
                pauses
                    .iter()
                    .map(|&(from, until)| until.min(b).saturating_duration_since(from.max(a)))
                    .sum()
            };
            match server.answer(slot, sent) {
                Ok(()) => {
                    pace.answered(slot, false, answered, &held);
                    done += 1;
                }
                Err(wait) => {
                    pace.answered(slot, true, answered, &held);
                    refused += 1;
                    pauses.push((answered, answered + Duration::from_secs(wait)));
                }
            }
            free[w] = answered;
            end = end.max(answered);
        }
        (end - start, refused)
    }

    #[test]
    fn against_a_token_bucket_the_pace_settles_just_under_its_rate() {
        for (rate, burst, requests, workers) in [
            (20.0, 20.0, 600, 16),
            (50.0, 50.0, 600, 16),
            (100.0, 100.0, 600, 16),
            (2.0, 2.0, 120, 16),
            (10.0, 100.0, 600, 16),
            (50.0, 50.0, 600, 4),
            (30.0, 30.0, 600, 64),
        ] {
            let start = Instant::now();
            let mut bucket = Bucket {
                rate,
                burst,
                tokens: burst,
                at: start,
            };
            let (took, refused) = run(&mut bucket, requests, workers);
            let ideal = requests as f64 / rate;
            let ratio = took.as_secs_f64() / ideal;
            assert!(ratio < 1.15, "R={rate}: {took:?} for an ideal {ideal} s");
            assert!(
                (refused as f64) < 0.1 * (requests + refused) as f64,
                "R={rate}: {refused} refused"
            );
        }
    }

    #[test]
    fn refusals_that_pacing_does_not_make_rarer_are_only_waited_out() {
        for nth in [5, 7] {
            let requests = 200;
            let (unpaced, _) = {
                // What waiting out every refusal alone costs: a pause per refusal.
                let refusals = requests / (nth - 1);
                (Duration::from_secs(refusals), refusals)
            };
            let (took, _) = run(&mut Refusing { nth }, requests, 4);
            assert!(
                took.as_secs_f64() < 1.4 * unpaced.as_secs_f64() + 2.0,
                "every {nth}th refused: {took:?} against {unpaced:?} unpaced"
            );
        }
    }

    #[test]
    fn a_limit_far_below_the_burst_is_found() {
        // A hundred banked, then about 100 a minute.
        let start = Instant::now();
        let mut bucket = Bucket {
            rate: 100.0 / 60.0,
            burst: 100.0,
            tokens: 100.0,
            at: start,
        };
        let (took, refused) = run(&mut bucket, 300, 16);
        let ideal = (300.0 - 100.0) / (100.0 / 60.0);
        assert!(
            took.as_secs_f64() < 1.15 * ideal,
            "{took:?} for an ideal {ideal} s"
        );
        assert!(
            (refused as f64) < 0.12 * (300 + refused) as f64,
            "{refused} refused"
        );
    }
}
