//! The cl-list pipeline: where each event type starts, paging through its listing, one line
//! per file, following for new files; and `--check`.

pub mod check;
pub mod listing;
pub mod paging;
