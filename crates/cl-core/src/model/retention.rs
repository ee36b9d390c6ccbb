//! How long the API keeps files (about 30 days, as observed; the tools take it as a setting),
//! and whether a starting point reaches back past it: files older than that are gone for
//! good, and whoever runs the tools must know of the gap.

use crate::model::timestamps::Timestamp;
use std::time::Duration;

/// How far past the edge a start may lie before it counts as a gap.
const SLACK: Duration = Duration::from_secs(60);

/// A start (a saved cursor, or `--after`) older than the retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// How far back the start lies.
    pub age: Duration,
    /// The oldest moment the API still has files for.
    pub kept_since: Timestamp,
}

/// The gap, if `start` lies further back than `retention` before `now`. A start that is not
/// a time (an opaque cursor) says nothing.
pub fn gap(start: &str, retention: Duration, now: Timestamp) -> Option<Gap> {
    let start = start.parse::<Timestamp>().ok()?;
    let age = Duration::try_from(now.duration_since(start)).ok()?;
    let kept_since = now
        .checked_sub(jiff::SignedDuration::try_from(retention).ok()?)
        .ok()?;
    // To the second: it is said to people, and the retention is approximate anyway.
    let kept_since = Timestamp::from_second(kept_since.as_second()).ok()?;
    // `--after 30d` with a 30-day retention loses nothing: only a start past the edge by
    // more than the time a run takes to begin is a gap.
    (age > retention + SLACK).then_some(Gap { age, kept_since })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_start_older_than_the_retention_is_a_gap() {
        let now: Timestamp = "2026-12-02T00:00:00Z".parse().unwrap();
        let days = |n: u64| Duration::from_secs(n * 86_400);
        let gap = gap("2026-10-03T00:00:00+00:00", days(30), now).unwrap();
        assert_eq!(gap.age, days(60));
        assert_eq!(gap.kept_since.to_string(), "2026-11-02T00:00:00Z");
        assert_eq!(super::gap("2026-11-20T00:00:00Z", days(30), now), None);
        assert_eq!(
            super::gap("2026-11-01T23:59:30Z", days(30), now),
            None,
            "at the edge"
        );
        assert_eq!(super::gap("opaque", days(30), now), None);
        assert_eq!(
            super::gap("2027-01-01T00:00:00Z", days(30), now),
            None,
            "the future"
        );
    }
}
