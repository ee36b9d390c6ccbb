//! The manifest line: what cl-fetch prints on stdout for each file it stored under DIR or
//! handed to `--exec`. A public output contract (CONTRACT.md): fields are only ever added, and
//! their order is the order below.

use crate::fetch::download::Verified;
use crate::model::line::FileRef;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What became of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Downloaded and stored under DIR.
    Downloaded,
    /// Already delivered: found whole under DIR, or recorded in the state by an earlier run.
    Skipped,
    /// Accepted by the `--exec` command.
    Delivered,
}

/// One manifest line, as it is serialized.
#[derive(Debug, Serialize)]
pub struct ManifestLine<'a> {
    /// The file id.
    pub id: &'a str,
    /// Where the file is, with `/` between its parts on every system (directory mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its length.
    pub bytes: u64,
    /// Its SHA-256, in hex, when known.
    pub sha256: Option<String>,
    /// What became of it.
    pub status: Status,
    /// The listing's metadata, when the input line carried it.
    pub event_type: Option<&'a str>,
    /// Whose file it is.
    pub principal: &'a str,
    /// The file's `end_time`.
    pub end_time: Option<&'a str>,
    /// The listing cursor of the page the file came on.
    pub cursor: Option<&'a str>,
    /// False when nothing could check that the file is whole.
    pub verified: bool,
    /// With `--events`: how many events the file held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// With `--dedup`: how many of its events were left out, delivered before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<u64>,
}

impl<'a> ManifestLine<'a> {
    /// The line of `file`, stored at `path` (directory mode) or handed to `--exec`, with its
    /// count of events under `--events`.
    pub fn new(
        file: &'a FileRef,
        path: Option<&Path>,
        verified: &Verified,
        status: Status,
        events: Option<u64>,
    ) -> Self {
        ManifestLine {
            id: file.id.as_str(),
            path: path.map(shown_path),
            bytes: verified.bytes,
            sha256: verified.sha256.map(|d| d.to_string()),
            status,
            event_type: file.event_type.as_deref(),
            principal: file.principal.as_str(),
            end_time: file.end_time.as_deref(),
            cursor: file.cursor.as_deref(),
            verified: verified.checked,
            events,
            duplicates: None,
        }
    }

    /// The line with the count of events `--dedup` left out.
    pub fn with_duplicates(self, duplicates: Option<u64>) -> Self {
        ManifestLine { duplicates, ..self }
    }

    /// The line as JSON, without its newline.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and options cannot fail to serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A path as the manifest shows it: with `/` between its parts on every system, so one
/// script reads manifests from Linux and Windows alike (Windows takes `/` too).
fn shown_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if cfg!(windows) {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::file_id::FileId;
    use crate::model::principal::Principal;
    use crate::model::sha256::Sha256Digest;

    #[test]
    fn a_manifest_line_has_its_fields_in_the_contract_order() {
        let sha = "ab".repeat(32);
        let file = FileRef {
            event_type: Some("AUTH_LOG".into()),
            end_time: Some("2026-07-16T01:00:00+00:00".into()),
            cursor: Some("2026-07-16T02:00:00+00:00".into()),
            ..FileRef::bare(
                FileId::parse("eclf_1").unwrap(),
                Principal::parse("ws").unwrap(),
            )
        };
        let verified = Verified {
            bytes: 12,
            sha256: Sha256Digest::from_hex(&sha),
            ends_with_newline: true,
            checked: true,
        };
        let stored = ManifestLine::new(
            &file,
            Some(Path::new("lake/ws/eclf_1.jsonl")),
            &verified,
            Status::Downloaded,
            None,
        );
        assert_eq!(
            stored.to_json(),
            format!(
                r#"{{"id":"eclf_1","path":"lake/ws/eclf_1.jsonl","bytes":12,"sha256":"{sha}","status":"downloaded","event_type":"AUTH_LOG","principal":"ws","end_time":"2026-07-16T01:00:00+00:00","cursor":"2026-07-16T02:00:00+00:00","verified":true}}"#
            )
        );
        let bare = FileRef::bare(
            FileId::parse("eclf_2").unwrap(),
            Principal::parse("ws").unwrap(),
        );
        let unknown = Verified {
            sha256: None,
            checked: false,
            ..verified
        };
        assert_eq!(
            ManifestLine::new(&bare, None, &unknown, Status::Delivered, Some(3)).to_json(),
            r#"{"id":"eclf_2","bytes":12,"sha256":null,"status":"delivered","event_type":null,"principal":"ws","end_time":null,"cursor":null,"verified":false,"events":3}"#
        );
    }
}
