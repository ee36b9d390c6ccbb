//! Where a file goes inside the output directory, and the checks that keep it inside.

use crate::error::quote;
use crate::model::line::FileRef;
use jiff::Timestamp;
use std::path::PathBuf;

/// The longest file name most file systems take, in bytes.
const MAX_NAME: usize = 255;

/// What a layout may name.
const PLACEHOLDERS: &[&str] = &[
    "principal",
    "event_type",
    "date",
    "year",
    "month",
    "day",
    "hour",
    "id",
];
/// The placeholders that need the listing's metadata.
const FROM_LISTING: &[&str] = &["event_type", "date", "year", "month", "day", "hour"];

/// The default layout: partitions a data lake by principal, event type and UTC date.
pub const DEFAULT_LAYOUT: &str = "{principal}/{event_type}/{date}/{id}.jsonl";

/// Where files go below the output directory: a template of `/`-separated segments with
/// `{principal}`, `{event_type}`, `{date}` (the UTC date of `end_time`, `YYYY-MM-DD`), its
/// parts `{year}`, `{month}`, `{day}` and `{hour}` (two digits each but the year), and `{id}`,
/// so `dt={date}/hour={hour}/…` partitions work as Athena, Hive and BigQuery expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    segments: Vec<String>,
    needs_listing: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout::parse(DEFAULT_LAYOUT)
            .unwrap_or_else(|_| unreachable!("the default layout is valid"))
    }
}

impl Layout {
    /// Checks a template: relative, every segment non-empty and not `.` or `..`, known
    /// placeholders only, and `{id}` in the last segment so files cannot collide.
    pub fn parse(template: &str) -> crate::Result<Layout> {
        let invalid = |why: &str| crate::Error::InvalidLayout {
            template: template.to_owned(),
            why: why.to_owned(),
        };
        let segments: Vec<String> = template.split('/').map(str::to_owned).collect();
        for segment in &segments {
            if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
                return Err(invalid("segments must be names, not empty, `.` or `..`"));
            }
            let mut rest = segment.as_str();
            while let Some(open) = rest.find('{') {
                let close = rest[open..]
                    .find('}')
                    .ok_or_else(|| invalid("an unclosed `{`"))?;
                let name = &rest[open + 1..open + close];
                if !PLACEHOLDERS.contains(&name) {
                    let known: Vec<String> =
                        PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
                    return Err(invalid(&format!(
                        "unknown placeholder {{{name}}}: use {}",
                        known.join(", ")
                    )));
                }
                rest = &rest[open + close + 1..];
            }
        }
        if !segments.last().is_some_and(|s| s.contains("{id}")) {
            return Err(invalid(
                "the last segment must contain {id}, or files would collide",
            ));
        }
        let needs_listing = FROM_LISTING
            .iter()
            .any(|p| template.contains(&format!("{{{p}}}")));
        Ok(Layout {
            segments,
            needs_listing,
        })
    }

    /// The path of a file below the output directory. Bare ids that come without an event
    /// type and end time, when the layout needs them, fall back to a flat `{id}.jsonl`.
    pub fn path(&self, file: &FileRef) -> Result<PathBuf, String> {
        let (event_type, time) = match (&file.event_type, &file.end_time) {
            (Some(event_type), Some(end_time)) => (event_type.as_str(), utc_time(end_time)?),
            _ if self.needs_listing => return named([format!("{}.jsonl", file.id)]),
            _ => ("", Timestamp::UNIX_EPOCH),
        };
        let part = |format: &str| time.strftime(format).to_string();
        if self.needs_listing && !is_safe_segment(event_type) {
            return Err(format!(
                "event_type {} cannot be used as a directory name",
                quote(event_type)
            ));
        }
        named(self.segments.iter().map(|segment| {
            segment
                .replace("{principal}", file.principal.as_str())
                .replace("{event_type}", event_type)
                .replace("{date}", &part("%Y-%m-%d"))
                .replace("{year}", &part("%Y"))
                .replace("{month}", &part("%m"))
                .replace("{day}", &part("%d"))
                .replace("{hour}", &part("%H"))
                .replace("{id}", file.id.as_str())
        }))
    }
}

/// The path of these names, each short enough to be a file name and one that every file
/// system can hold as it is (see [`windows_refuses`]).
fn named(names: impl IntoIterator<Item = String>) -> Result<PathBuf, String> {
    names
        .into_iter()
        .map(|name| {
            if name.len() > MAX_NAME {
                return Err(format!(
                    "{} is {} bytes, too long for a file name (at most {MAX_NAME})",
                    quote(&name),
                    name.len()
                ));
            }
            match windows_refuses(&name) {
                Some(why) => Err(format!("{} cannot be a file name: {why}", quote(&name))),
                None => Ok(name),
            }
        })
        .collect()
}

/// Why Windows would refuse `name` or take it for another, on every OS alike (a directory
/// written here may be copied or shared to Windows later): a character it reserves (on
/// NTFS, `a:b` names a stream of `a`), a device name (`NUL`, `COM1.jsonl`: the device, not a
/// file), or a trailing dot or space (dropped, so `a.` is `a`).
pub fn windows_refuses(name: &str) -> Option<&'static str> {
    const DEVICES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];
    if let Some(c) = name.chars().find(|c| r#"<>:"|?*"#.contains(*c)) {
        return Some(match c {
            ':' => "Windows reserves ':' (on NTFS it names an alternate data stream)",
            _ => "Windows reserves the characters < > : \" | ? *",
        });
    }
    if name.ends_with(['.', ' ']) {
        return Some("Windows drops a trailing dot or space, making it another file's name");
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    let numbered = |prefix: &str| {
        upper.strip_prefix(prefix).is_some_and(|n| {
            matches!(n, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9")
                || matches!(n, "\u{b9}" | "\u{b2}" | "\u{b3}")
        })
    };
    if DEVICES.contains(&upper.as_str()) || numbered("COM") || numbered("LPT") {
        return Some("Windows reserves it for a device");
    }
    None
}

fn is_safe_segment(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `end_time` in UTC (a `Timestamp` formats in UTC).
fn utc_time(end_time: &str) -> Result<Timestamp, String> {
    end_time
        .parse::<Timestamp>()
        .map_err(|_| format!("end_time {} is not an RFC 3339 time", quote(end_time)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::file_id::FileId;
    use crate::model::principal::Principal;

    fn file(event_type: Option<&str>, end_time: Option<&str>) -> FileRef {
        FileRef {
            event_type: event_type.map(Into::into),
            end_time: end_time.map(Into::into),
            ..FileRef::bare(
                FileId::parse("eclf_1").unwrap(),
                Principal::parse("org-a").unwrap(),
            )
        }
    }

    #[test]
    fn partitions_by_principal_type_and_utc_date() {
        let f = file(Some("AUTH_LOG"), Some("2026-07-16T23:30:00.123456-02:00"));
        assert_eq!(
            Layout::default().path(&f).unwrap(),
            PathBuf::from("org-a/AUTH_LOG/2026-07-17/eclf_1.jsonl")
        );
        assert_eq!(
            Layout::default().path(&file(None, None)).unwrap(),
            PathBuf::from("eclf_1.jsonl")
        );
        assert!(
            Layout::default()
                .path(&file(Some("../x"), Some("2026-01-01T00:00:00Z")))
                .is_err()
        );
        assert!(
            Layout::default()
                .path(&file(Some("A"), Some("soon")))
                .is_err()
        );
    }

    #[test]
    fn names_windows_would_refuse_or_confuse_are_refused_on_every_os() {
        let flat = Layout::parse("{id}.jsonl").unwrap();
        let named = |id: &str| {
            flat.path(&FileRef {
                id: FileId::parse(id).unwrap(),
                ..file(Some("AUTH_LOG"), Some("2026-07-16T01:00:00Z"))
            })
        };
        for (id, why) in [
            ("eclf_a:b", "':'"),
            ("eclf_a*b", "reserves the characters"),
            ("eclf_a?", "reserves the characters"),
            ("eclf_\"x\"", "reserves the characters"),
            ("eclf_<x>", "reserves the characters"),
            ("eclf_a|b", "reserves the characters"),
            ("NUL", "device"),
            ("nul", "device"),
            ("CON", "device"),
            ("Com1", "device"),
            ("lpt9", "device"),
            ("COM\u{b9}", "device"),
            ("AUX.x", "device"),
        ] {
            let err = named(id).unwrap_err();
            assert!(
                err.contains("cannot be a file name") && err.contains(why),
                "{id}: {err}"
            );
        }
        assert!(
            Layout::parse("{id}.")
                .unwrap()
                .path(&file(None, None))
                .unwrap_err()
                .contains("trailing dot")
        );
        for fine in ["COM10", "CONSOLE", "NULL", "eclf_com1", "LPT", "eclf_a-b.c"] {
            assert!(named(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn templates_are_checked_and_filled() {
        let hive =
            Layout::parse("event_type={event_type}/dt={date}/{principal}-{id}.jsonl").unwrap();
        let f = file(Some("AUTH_LOG"), Some("2026-07-16T01:00:00Z"));
        assert_eq!(
            hive.path(&f).unwrap(),
            PathBuf::from("event_type=AUTH_LOG/dt=2026-07-16/org-a-eclf_1.jsonl")
        );
        let hourly = Layout::parse(
            "{event_type}/year={year}/month={month}/day={day}/hour={hour}/{id}.jsonl",
        )
        .unwrap();
        let late = file(Some("AUTH_LOG"), Some("2026-07-16T23:30:00.5-02:00"));
        assert_eq!(
            hourly.path(&late).unwrap(),
            PathBuf::from("AUTH_LOG/year=2026/month=07/day=17/hour=01/eclf_1.jsonl"),
            "UTC parts of end_time"
        );
        assert_eq!(
            hourly.path(&file(None, None)).unwrap(),
            PathBuf::from("eclf_1.jsonl"),
            "a bare id lands flat"
        );
        let err = Layout::parse("{week}/{id}").unwrap_err().to_string();
        assert!(err.contains("{year}, {month}, {day}, {hour}"), "{err}");
        let flat = Layout::parse("{id}.json").unwrap();
        assert_eq!(
            flat.path(&file(None, None)).unwrap(),
            PathBuf::from("eclf_1.json")
        );
        for bad in [
            "",
            "/abs/{id}",
            "a//{id}",
            "../{id}",
            "{id}/x",
            "{nope}/{id}",
            "{id",
            "a\\{id}",
        ] {
            let err = Layout::parse(bad).unwrap_err();
            assert!(err.is_config(), "{bad}: {err}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::path::Component;

        proptest! {
            #[test]
            fn a_path_never_leaves_the_output_directory(
                id in "\\PC{0,40}",
                event_type in proptest::option::of("\\PC{0,30}"),
                end_time in proptest::option::of("\\PC{0,40}|2026-0[1-9]-1[0-9]T0[0-9]:00:00Z"),
            ) {
                let Ok(file_id) = FileId::parse(&id) else {
                    return Ok(());
                };
                let mut file = file(None, None);
                file.id = file_id;
                file.event_type = event_type;
                file.end_time = end_time;
                if let Ok(path) = Layout::default().path(&file) {
                    let parts: Vec<Component> = path.components().collect();
                    prop_assert!(parts.iter().all(|c| matches!(c, Component::Normal(_))), "{path:?}");
                    prop_assert!(parts.len() == 1 || parts.len() == 4, "{path:?}");
                    let file_name = format!("{id}.jsonl");
                    prop_assert_eq!(path.file_name().and_then(|n| n.to_str()), Some(file_name.as_str()));
                }
            }
        }
    }
}
