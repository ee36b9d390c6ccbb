//! The data, with no I/O: principals, times, listing pages, the NDJSON line, file ids, digests,
//! and where a file goes below DIR. Everything here can be tested without a network or a disk.

pub mod event_key;
pub mod event_types;
pub mod file_id;
pub mod layout;
pub mod line;
pub mod page;
pub mod principal;
pub mod retention;
pub mod sha256;
pub mod timestamps;
