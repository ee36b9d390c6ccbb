//! Where a file goes inside the output directory, and the checks that keep it inside.

use crate::error::quote;
use crate::line::FileRef;
use jiff::Timestamp;
use std::path::PathBuf;

/// The longest file name most file systems take, in bytes.
const MAX_NAME: usize = 255;

/// The default layout: partitions a data lake by principal, event type and UTC date.
pub const DEFAULT_LAYOUT: &str = "{principal}/{event_type}/{date}/{id}.jsonl";

/// Where files go below the output directory: a template of `/`-separated segments with
/// `{principal}`, `{event_type}`, `{date}` (the UTC date of `end_time`) and `{id}`.
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
                if !["principal", "event_type", "date", "id"].contains(&name) {
                    return Err(invalid(&format!(
                        "unknown placeholder {{{name}}}: use {{principal}}, {{event_type}}, {{date}}, {{id}}"
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
        let needs_listing = template.contains("{event_type}") || template.contains("{date}");
        Ok(Layout {
            segments,
            needs_listing,
        })
    }

    /// The path of a file below the output directory. Bare ids that come without an event
    /// type and end time, when the layout needs them, fall back to a flat `{id}.jsonl`.
    pub fn path(&self, file: &FileRef) -> Result<PathBuf, String> {
        let (event_type, date) = match (&file.event_type, &file.end_time) {
            (Some(event_type), Some(end_time)) => (event_type.as_str(), utc_date(end_time)?),
            _ if self.needs_listing => return named([format!("{}.jsonl", file.id)]),
            _ => ("", String::new()),
        };
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
                .replace("{date}", &date)
                .replace("{id}", file.id.as_str())
        }))
    }
}

/// The path of these names, each short enough to be a file name.
fn named(names: impl IntoIterator<Item = String>) -> Result<PathBuf, String> {
    names
        .into_iter()
        .map(|name| match name.len() {
            ..=MAX_NAME => Ok(name),
            n => Err(format!(
                "{} is {n} bytes, too long for a file name (at most {MAX_NAME})",
                quote(&name)
            )),
        })
        .collect()
}

fn is_safe_segment(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn utc_date(end_time: &str) -> Result<String, String> {
    Ok(end_time
        .parse::<Timestamp>()
        .map_err(|_| format!("end_time {} is not an RFC 3339 time", quote(end_time)))?
        .strftime("%Y-%m-%d")
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::FileId;
    use crate::principal::Principal;

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
    fn templates_are_checked_and_filled() {
        let hive =
            Layout::parse("event_type={event_type}/dt={date}/{principal}-{id}.jsonl").unwrap();
        let f = file(Some("AUTH_LOG"), Some("2026-07-16T01:00:00Z"));
        assert_eq!(
            hive.path(&f).unwrap(),
            PathBuf::from("event_type=AUTH_LOG/dt=2026-07-16/org-a-eclf_1.jsonl")
        );
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
