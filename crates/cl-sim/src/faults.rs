//! Faults injected on purpose, so the tools can be tested against a service that fails.
//!
//! Every decision is a hash of the seed, the fault, the request's URL and how many times that
//! URL was asked for: the same run of requests meets the same faults whatever the timing,
//! and a retry of a URL meets a fresh roll.

use crate::rng::Rng;
use clap::builder::TypedValueParser;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// Faults to inject, each decided per request from the seed, the URL and how many times it
/// was asked for: the same requests meet the same faults on every run.
///
/// It is also `cl-sim`'s flags: each field's doc comment is its `--help` text.
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
#[command(next_help_heading = "Faults (deterministic by --seed)")]
pub struct FaultConfig {
    /// Delay every answer by MS milliseconds.
    #[arg(long, value_name = "MS", default_value = "0",
          value_parser = clap::value_parser!(u64).map(Duration::from_millis))]
    pub latency: Duration,
    /// Fraction of API requests answered 429 Too Many Requests, with Retry-After.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub rate_429: f64,
    /// A token bucket per API key: R requests a second, a burst of --rate-burst, and 429
    /// with Retry-After (whole seconds until the next token) when it is empty.
    #[arg(long, value_name = "R", value_parser = positive)]
    pub rate_limit: Option<f64>,
    /// Requests a key may bank for a burst under --rate-limit [default: R, at least 1].
    #[arg(long, value_name = "N")]
    pub rate_burst: Option<u32>,
    /// Seconds in the Retry-After of those 429s.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    pub retry_after: u64,
    /// Fraction of requests (API and blob host) answered 500, 502, 503 or 504.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub rate_5xx: f64,
    /// The first K requests of each URL are answered 503.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub fail_first: u32,
    /// Fraction of file bodies cut short: the connection closes halfway, Content-Length whole.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub truncate: f64,
    /// Fraction of file bodies ending in a connection reset halfway.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub reset: f64,
    /// Fraction of file bodies with one byte flipped (size unchanged).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub corrupt: f64,
    /// Listing pages with more to come answer a last_end_time equal to their after.
    #[arg(long)]
    pub stuck_cursor: bool,
    /// Fraction of listing pages answered with an HTML error page and status 200.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub malformed: f64,
    /// Fraction of requests accepted and never answered.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub hang: f64,
    /// Fraction of download redirects to a signed URL that has already expired.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub expired: f64,
    /// How the blob host answers an expired signed URL: as S3 (403 AccessDenied), S3 with
    /// ended session credentials (400 ExpiredToken), Azure (403 AuthenticationFailed) or
    /// Google Cloud Storage (400 ExpiredToken).
    #[arg(long, value_name = "STORE", default_value = "s3", help_heading = VARIATIONS)]
    pub expired_as: ExpiredAs,
    /// File bodies trickle at this many bytes per second (0: as fast as possible).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub bandwidth: u64,
    /// Only the first file of each event type trickles at --bandwidth.
    #[arg(long)]
    pub slow_first: bool,
    /// Answer every download with a redirect to URL instead of a signed URL of its own.
    #[arg(long, value_name = "URL")]
    pub redirect_to: Option<String>,
    /// Status of the download redirect (307 is observed; one integration says 302).
    #[arg(long, value_name = "STATUS", default_value = "307", help_heading = VARIATIONS)]
    pub redirect_status: RedirectStatus,
    /// The listing's after bound is inclusive: asking again from a page's last_end_time
    /// returns its last file again, as one integration observed (documented: exclusive).
    #[arg(long, help_heading = VARIATIONS)]
    pub inclusive_after: bool,
    /// Event types the key may not read (keys carry read grants per log category): their
    /// listing and freshness answer 403; repeat it or separate with commas.
    #[arg(long, value_name = "TYPE", value_delimiter = ',', help_heading = VARIATIONS)]
    pub ungranted: Vec<String>,
    /// No max_event_time endpoint: it answers 404 as on a deployment that lacks it.
    #[arg(long, help_heading = VARIATIONS)]
    pub no_max_event_time: bool,
}

/// The `--help` heading of flags for ways the real service is reported to differ from what
/// is best known of it.
pub const VARIATIONS: &str = "Variations of the real service";

/// The status of a download's redirect to its signed URL.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedirectStatus {
    /// 302 Found.
    #[value(name = "302")]
    Found,
    /// 307 Temporary Redirect, as observed.
    #[default]
    #[value(name = "307")]
    Temporary,
}

impl RedirectStatus {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            RedirectStatus::Found => 302,
            RedirectStatus::Temporary => 307,
        }
    }
}

/// The answer a blob store gives for an expired signed URL.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpiredAs {
    /// S3: 403 `AccessDenied`, "Request has expired".
    #[default]
    S3,
    /// S3, for a URL signed with session credentials that have ended: 400 `ExpiredToken`.
    S3Session,
    /// Azure Blob Storage: 403 `AuthenticationFailed`.
    Azure,
    /// Google Cloud Storage: 400 `ExpiredToken`.
    Gcs,
}

impl ExpiredAs {
    /// The status, and the XML body the store sends.
    pub fn answer(self) -> (u16, String) {
        let xml = |code: &str, message: &str, extra: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message}</Message>{extra}</Error>"
            )
        };
        match self {
            ExpiredAs::S3 => (403, xml("AccessDenied", "Request has expired", "")),
            ExpiredAs::S3Session => (
                400,
                xml("ExpiredToken", "The provided token has expired.", ""),
            ),
            ExpiredAs::Azure => (
                403,
                xml(
                    "AuthenticationFailed",
                    "Server failed to authenticate the request. Make sure the value of \
                     Authorization header is formed correctly including the signature.",
                    "<AuthenticationErrorDetail>Signed expiry time [Mon, 01 Jun 2026 00:00:00 \
                     GMT] must be after signed start time [Mon, 01 Jun 2026 00:05:00 GMT]\
                     </AuthenticationErrorDetail>",
                ),
            ),
            ExpiredAs::Gcs => (
                400,
                xml(
                    "ExpiredToken",
                    "The provided token has expired.",
                    "<Details>Request signature expired at: 2026-06-01T00:00:00+00:00</Details>",
                ),
            ),
        }
    }
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{text:?} is not a fraction from 0 to 1")),
    }
}

/// A fault the simulator injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After`.
    TooManyRequests,
    /// 500, 502, 503 or 504.
    ServerError,
    /// 503 for one of the first K requests of a URL.
    FailFirst,
    /// Accepted, never answered.
    Hang,
    /// A body shorter than its Content-Length.
    Truncate,
    /// A connection reset mid-body.
    Reset,
    /// A body with a flipped byte.
    Corrupt,
    /// A listing page that is not JSON.
    Malformed,
    /// A listing cursor that does not advance.
    StuckCursor,
    /// A signed URL issued already expired.
    Expired,
}

impl Fault {
    /// The name used in counts and logs.
    pub fn name(self) -> &'static str {
        match self {
            Fault::TooManyRequests => "429",
            Fault::ServerError => "5xx",
            Fault::FailFirst => "fail-first",
            Fault::Hang => "hang",
            Fault::Truncate => "truncate",
            Fault::Reset => "reset",
            Fault::Corrupt => "corrupt",
            Fault::Malformed => "malformed",
            Fault::StuckCursor => "stuck-cursor",
            Fault::Expired => "expired",
        }
    }
}

/// Decides and counts faults.
pub struct Injector {
    config: FaultConfig,
    seed: u64,
    asked: Mutex<HashMap<String, u64>>,
    injected: Mutex<BTreeMap<&'static str, u64>>,
}

/// One request as the injector sees it: which URL, and which try of it.
#[derive(Clone)]
pub struct Roll<'a> {
    injector: &'a Injector,
    key: String,
    attempt: u64,
}

impl Injector {
    /// An injector for `config`, rolling with `seed`.
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        Injector {
            config,
            seed,
            asked: Mutex::new(HashMap::new()),
            injected: Mutex::new(BTreeMap::new()),
        }
    }

    /// What to inject.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Counts one more request for `key` (a URL without its signature) and returns its roll.
    pub fn request(&self, key: String) -> Roll<'_> {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        let n = asked.entry(key.clone()).or_insert(0);
        *n += 1;
        Roll {
            injector: self,
            attempt: *n,
            key,
        }
    }

    /// How many of each fault were injected so far.
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.injected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }

    fn count(&self, fault: Fault) {
        *self
            .injected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(fault.name())
            .or_insert(0) += 1;
    }
}

impl Roll<'_> {
    /// Which try of its URL this request is, from 1.
    pub fn attempt(&self) -> u64 {
        self.attempt
    }

    /// True (and counted) when `fault` hits this request at `rate`.
    pub fn hits(&self, fault: Fault, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let hit = self.number(fault) < rate;
        if hit {
            self.injector.count(fault);
        }
        hit
    }

    /// Counts a fault decided elsewhere (the first K requests, a stuck cursor).
    pub fn inject(&self, fault: Fault) {
        self.injector.count(fault);
    }

    /// A number in `[0, 1)` fixed by seed, fault, URL and attempt.
    pub fn number(&self, fault: Fault) -> f64 {
        let salt = format!("{}|{}|{}", fault.name(), self.key, self.attempt);
        (Rng::new(self.injector.seed, salt.as_bytes()).next_u64() >> 11) as f64
            / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_repeat_for_the_same_url_and_try_and_change_for_the_next_try() {
        let a = Injector::new(FaultConfig::default(), 9);
        let b = Injector::new(FaultConfig::default(), 9);
        let (a1, b1) = (a.request("/x".into()), b.request("/x".into()));
        assert_eq!(a1.number(Fault::Reset), b1.number(Fault::Reset));
        let a2 = a.request("/x".into());
        assert_eq!(a2.attempt(), 2);
        assert_ne!(a1.number(Fault::Reset), a2.number(Fault::Reset));
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        faults: FaultConfig,
    }

    fn parse(args: &[&str]) -> FaultConfig {
        <Cli as clap::Parser>::try_parse_from([&["cl-sim"], args].concat())
            .unwrap()
            .faults
    }

    #[test]
    fn flag_defaults_are_the_default_config_and_each_flag_sets_its_field() {
        // Only --retry-after's default differs: the derived Default has 0 seconds.
        let defaults = FaultConfig {
            retry_after: 1,
            ..FaultConfig::default()
        };
        assert_eq!(parse(&[]), defaults);
        let redirect = parse(&["--redirect-status", "302"]).redirect_status;
        assert_eq!(redirect.code(), 302);
        assert!(
            <Cli as clap::Parser>::try_parse_from(["cl-sim", "--redirect-status", "301"]).is_err()
        );
    }

    #[test]
    fn a_rate_hits_about_that_fraction() {
        let inj = Injector::new(FaultConfig::default(), 1);
        let hits = (0..10_000)
            .filter(|i| inj.request(format!("/{i}")).hits(Fault::Corrupt, 0.2))
            .count();
        assert!((1_800..2_200).contains(&hits), "{hits}");
        assert_eq!(inj.injected()["corrupt"], hits as u64);
    }
}
