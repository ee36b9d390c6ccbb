//! What `cl-list` and `cl-fetch` share as command-line tools: the common flags, the opening
//! steps, how progress and errors reach stderr, and the exit statuses.

pub mod docs;
pub mod exit;
pub mod flags;
pub mod hints;
pub mod metrics;
pub mod output;
pub mod report;
pub mod signals;
pub mod tool;
pub mod words;
