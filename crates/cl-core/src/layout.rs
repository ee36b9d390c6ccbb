//! Where a file goes inside the output directory, and the checks that keep it inside.

use crate::input::FileRef;
use jiff::Timestamp;
use std::path::PathBuf;

/// Refuses ids that could escape the output directory or hide as a dot-file:
/// empty, too long, `/`, `\`, `..`, a leading `.`, whitespace or control characters.
pub fn validate_id(id: &str) -> Result<(), String> {
    let why = if id.is_empty() {
        "the file id is empty"
    } else if id.len() > 200 {
        "the file id is longer than 200 bytes"
    } else if id.contains(['/', '\\']) || id.contains("..") || id.starts_with('.') {
        "the file id could escape the output directory"
    } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        "the file id contains whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(format!("{why}: {id:?}"))
}

/// The path of a file below the output directory:
/// `{principal}/{event_type}/{date}/{id}.jsonl` (`date` is the UTC date of `end_time`), or
/// `{id}.jsonl` for bare ids that come without an event type and end time.
pub fn relative_path(file: &FileRef) -> Result<PathBuf, String> {
    let name = format!("{}.jsonl", file.id);
    let (Some(event_type), Some(end_time)) = (&file.event_type, &file.end_time) else {
        return Ok(PathBuf::from(name));
    };
    let safe_segment = !event_type.is_empty()
        && event_type.len() <= 100
        && !event_type.starts_with('.')
        && event_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !safe_segment {
        return Err(format!(
            "event_type {event_type:?} cannot be used as a directory name"
        ));
    }
    let date = end_time
        .parse::<Timestamp>()
        .map_err(|_| format!("end_time {end_time:?} is not an RFC 3339 time"))?
        .strftime("%Y-%m-%d")
        .to_string();
    Ok([file.principal.as_str(), event_type, &date, &name]
        .iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Principal;

    fn file(event_type: Option<&str>, end_time: Option<&str>) -> FileRef {
        FileRef {
            id: "eclf_1".into(),
            principal: Principal::parse("org-a").unwrap(),
            event_type: event_type.map(Into::into),
            end_time: end_time.map(Into::into),
            cursor: None,
            file_size: None,
            file_sha256: None,
        }
    }

    #[test]
    fn partitions_by_principal_type_and_utc_date() {
        let f = file(Some("AUTH_LOG"), Some("2026-07-16T23:30:00.123456-02:00"));
        assert_eq!(
            relative_path(&f).unwrap(),
            PathBuf::from("org-a/AUTH_LOG/2026-07-17/eclf_1.jsonl")
        );
        assert_eq!(
            relative_path(&file(None, None)).unwrap(),
            PathBuf::from("eclf_1.jsonl")
        );
        assert!(relative_path(&file(Some("../x"), Some("2026-01-01T00:00:00Z"))).is_err());
        assert!(relative_path(&file(Some("A"), Some("soon"))).is_err());
    }

    #[test]
    fn ids_stay_inside() {
        for bad in [
            "",
            "..",
            "a/b",
            "a\\b",
            ".hidden",
            "a..b",
            "a\u{7}",
            "a b",
            &"x".repeat(201),
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        validate_id("eclf_01J2ABCDEF-xyz.1").unwrap();
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
                prop_assume!(validate_id(&id).is_ok());
                let mut file = file(None, None);
                file.id = id.clone();
                file.event_type = event_type;
                file.end_time = end_time;
                if let Ok(path) = relative_path(&file) {
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
