//! One line of the pipeline: the JSON object cl-list writes per listed file ([`mod@write`]) and
//! cl-fetch reads back, or a bare file id ([`read`]), and the file a line names.

pub mod read;
pub mod write;

use crate::model::file_id::FileId;
use crate::model::principal::Principal;
use crate::model::sha256::Sha256Digest;

pub use read::{Ignored, MAX_LINE, Parsed, RawLine, parse_line, read_line};
pub use write::write_line;

/// The field cl-list adds to name the principal a file belongs to.
pub const PRINCIPAL: &str = "principal";
/// The field cl-list adds with the listing cursor of the page a file came on.
pub const CURSOR: &str = "cursor";
/// The field cl-list adds with the `after` its listing of the type started from: cl-fetch
/// sees from it a listing that began after the cursor its state delivered up to (a gap).
pub const LISTED_AFTER: &str = "listed_after";

/// One file to fetch, as read from a line, with whatever the listing told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    /// The file id.
    pub id: FileId,
    /// Whose file it is.
    pub principal: Principal,
    /// The event type, when known.
    pub event_type: Option<String>,
    /// The file's `end_time`, when known.
    pub end_time: Option<String>,
    /// The listing cursor of the page the file came on, when known.
    pub cursor: Option<String>,
    /// Where the listing the file came from started, when known.
    pub listed_after: Option<String>,
    /// The file's name as the listing gave it.
    pub file_name: Option<String>,
    /// The size the listing promised.
    pub file_size: Option<u64>,
    /// The digest the listing promised.
    pub file_sha256: Option<Sha256Digest>,
}

impl FileRef {
    /// A file known by its id alone, as a bare id on a line gives it.
    pub fn bare(id: FileId, principal: Principal) -> FileRef {
        FileRef {
            id,
            principal,
            event_type: None,
            end_time: None,
            cursor: None,
            listed_after: None,
            file_name: None,
            file_size: None,
            file_sha256: None,
        }
    }
}
