//! Times given on the command line: RFC 3339 instants or ages such as `24h`.

use crate::error::{Error, Result};
use jiff::SignedDuration;
pub use jiff::Timestamp;

/// Parses `--after`/`--before`: an RFC 3339 time with an offset, or an age (`90m`, `24h`,
/// `7d`, `2w`) meaning `now` minus that much. Precision is cut to microseconds, the API's own.
pub fn parse_time(input: &str, now: Timestamp) -> Result<Timestamp> {
    let text = input.trim();
    let parsed = match parse_age(text) {
        Some(age) => age.and_then(|age| {
            now.checked_sub(age)
                .map_err(|_| format!("age {text:?} reaches before the year -9999"))
        }),
        None => text.parse::<Timestamp>().map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(ts) => Ok(truncate_to_micros(ts)),
        Err(why) => Err(Error::Config(format!(
            "invalid time {input:?}: {why}\nhint: give RFC 3339 with an offset \
             (2026-01-01T00:00:00Z) or an age (90m, 24h, 7d, 2w)"
        ))),
    }
}

/// Parses an interval: whole seconds (`90`) or a number with a unit (`90s`, `5m`, `1h`, `1d`).
pub fn parse_interval(text: &str) -> Result<std::time::Duration> {
    let text = text.trim();
    let seconds = match text.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => match parse_age(text) {
            Some(Ok(d)) => u64::try_from(d.as_secs()).ok(),
            _ => None,
        },
    };
    match seconds {
        Some(s) if s > 0 => Ok(std::time::Duration::from_secs(s)),
        _ => Err(Error::Config(format!(
            "invalid interval {text:?}: give seconds or a number with s, m, h or d (60s, 5m)"
        ))),
    }
}

/// `None` when `text` is not shaped like an age at all; `Some(Err)` when it is but is invalid.
fn parse_age(text: &str) -> Option<Result<SignedDuration, String>> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds_per_unit: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    let too_big = || format!("age {text:?} is too large");
    Some(
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(seconds_per_unit))
            .map(SignedDuration::from_secs)
            .ok_or_else(too_big),
    )
}

fn truncate_to_micros(ts: Timestamp) -> Timestamp {
    // Cannot fail: the value came from a valid timestamp and only loses precision.
    Timestamp::from_microsecond(ts.as_microsecond()).unwrap_or(ts)
}

/// Orders two cursors or `end_time`s as the instants they name, whatever their offsets and
/// precision. `None` when either is not an RFC 3339 time: an opaque cursor has no order.
pub fn compare_instants(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    Some(
        a.parse::<Timestamp>()
            .ok()?
            .cmp(&b.parse::<Timestamp>().ok()?),
    )
}

/// Formats a time the way requests carry it: UTC, `Z`, fractional seconds only when present.
pub fn format_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-07-16T12:00:00.5Z".parse().unwrap()
    }

    #[test]
    fn ages_count_back_from_now() {
        let cases = [
            ("90m", "2026-07-16T10:30:00.5Z"),
            ("24h", "2026-07-15T12:00:00.5Z"),
            ("7d", "2026-07-09T12:00:00.5Z"),
            ("2w", "2026-07-02T12:00:00.5Z"),
            ("0h", "2026-07-16T12:00:00.5Z"),
        ];
        for (age, want) in cases {
            assert_eq!(format_time(parse_time(age, now()).unwrap()), want, "{age}");
        }
    }

    #[test]
    fn rfc3339_needs_an_offset_and_is_normalised_to_utc() {
        let ts = parse_time("2026-01-01T02:00:00+02:00", now()).unwrap();
        assert_eq!(format_time(ts), "2026-01-01T00:00:00Z");
        let ts = parse_time("2026-07-16T01:00:00.123456789+00:00", now()).unwrap();
        assert_eq!(format_time(ts), "2026-07-16T01:00:00.123456Z");
        for bad in [
            "2026-01-01T00:00:00",
            "2026-01-01",
            "yesterday",
            "24x",
            "h",
            "-5h",
            "",
        ] {
            let err = parse_time(bad, now()).unwrap_err();
            assert!(err.is_config(), "{bad}");
            assert!(err.to_string().contains("hint:"), "{err}");
        }
    }

    #[test]
    fn intervals_take_seconds_or_units() {
        assert_eq!(parse_interval("90").unwrap().as_secs(), 90);
        assert_eq!(parse_interval("5m").unwrap().as_secs(), 300);
        assert!(parse_interval("0s").is_err() && parse_interval("soon").is_err());
    }

    #[test]
    fn absurd_ages_are_errors_not_panics() {
        assert!(parse_time("99999999999999999999w", now()).is_err());
        assert!(parse_time("999999999999d", now()).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_gives_a_time_or_a_usage_error(text in "\\PC{0,40}") {
                if let Err(e) = parse_time(&text, now()) {
                    prop_assert!(e.is_config());
                }
            }

            #[test]
            fn an_age_is_now_minus_that_many_units(n in 0i64..1_000_000, unit in "[smhdw]") {
                let seconds = match unit.as_str() {
                    "s" => 1, "m" => 60, "h" => 3600, "d" => 86_400, _ => 604_800,
                };
                prop_assume!(n * seconds < 200 * 366 * 86_400);
                let got = parse_time(&format!("{n}{unit}"), now()).unwrap();
                prop_assert_eq!(got, now() - SignedDuration::from_secs(n * seconds));
            }

            #[test]
            fn formatted_times_parse_back_to_the_same_instant(
                micros in -60_000_000_000_000_000i64..60_000_000_000_000_000i64,
                offset_minutes in -(23 * 60i32)..(23 * 60),
            ) {
                let ts = Timestamp::from_microsecond(micros).unwrap();
                prop_assert_eq!(parse_time(&format_time(ts), now()).unwrap(), ts);
                let offset = jiff::tz::Offset::from_seconds(offset_minutes * 60).unwrap();
                let local = ts.to_zoned_datetime(jiff::tz::TimeZone::fixed(offset));
                let text = local.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string();
                prop_assert_eq!(parse_time(&text, now()).unwrap(), ts, "{}", text);
            }
        }
    }
}
