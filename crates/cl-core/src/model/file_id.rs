//! The id of a log file, checked once so that it may become a file name.

use crate::error::quote;
use std::fmt;

/// A file id that can never lead outside a directory: not empty, no `/`, `\`, `..`, leading
/// `.`, whitespace or control characters, so as part of a path it can neither escape the
/// directory nor hide as a dot-file. That is all it guarantees, on every OS and in every
/// mode (an id goes to stdout and `--exec` as the API gave it).
///
/// Where an id becomes a file name (directory mode), the layout also refuses, for that file
/// alone, a name too long for the file system and one Windows would refuse or take for
/// another (reserved characters such as `:`, device names such as `NUL`, a trailing dot:
/// [`crate::model::layout::windows_refuses`]); and two ids that differ only in case, which
/// Windows and macOS file systems take for one name, are kept from replacing each other's
/// file when the directory is delivered to (see [`crate::fetch`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(String);

impl FileId {
    /// Checks an id; the error says why it is refused.
    pub fn parse(id: &str) -> Result<FileId, String> {
        let why = if id.is_empty() {
            "the file id is empty"
        } else if id.contains(['/', '\\']) || id.contains("..") || id.starts_with('.') {
            "the file id could escape the output directory"
        } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            "the file id contains whitespace or control characters"
        } else {
            return Ok(FileId(id.to_owned()));
        };
        Err(format!("{why}: {}", quote(id)))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_inside() {
        for bad in ["", "..", "a/b", "a\\b", ".hidden", "a..b", "a\u{7}", "a b"] {
            assert!(FileId::parse(bad).is_err(), "{bad:?}");
        }
        FileId::parse("eclf_01J2ABCDEF-xyz.1").unwrap();
        let long = "x".repeat(300);
        assert!(
            FileId::parse(&long).is_ok(),
            "long ids are the layout's business"
        );
        let err = FileId::parse(&format!("/{long}")).unwrap_err();
        assert!(err.len() < 200, "quoted in part: {err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn every_accepted_id_is_a_safe_file_name(text in "\\PC{0,80}") {
                if let Ok(id) = FileId::parse(&text) {
                    let id = id.as_str();
                    prop_assert!(!id.is_empty());
                    prop_assert!(!id.contains(['/', '\\']) && !id.contains(".."));
                    prop_assert!(!id.starts_with('.'));
                    prop_assert!(!id.chars().any(|c| c.is_control() || c.is_whitespace()));
                }
            }
        }
    }
}
