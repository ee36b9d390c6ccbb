//! What `cl-list` and `cl-fetch` share as command-line tools: the common flags, how the key
//! and base URL are found, how progress and errors reach stderr, and the exit codes.

pub mod common;
pub mod docs;
pub mod exit;
pub mod report;
pub mod signals;
