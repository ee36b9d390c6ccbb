//! The library behind `cl-list` and `cl-fetch`: everything except flags, printing and exit codes.
//!
//! The folders are the map. [`model`] is the data, with no I/O; [`net`] the wire (the HTTP
//! client and its retries); [`store`] the local disk (durable writes, the checkpoint, spools);
//! [`list`] and [`fetch`] the two pipelines, one per tool, built on those three. [`error`] and
//! [`observe`] sit beside them and use none of them. ARCHITECTURE.md at the repository's root
//! says what each folder may import, and the unit tests in `architecture` enforce it. Binaries wire
//! these together; nothing here parses flags, writes to a terminal or picks an exit code: what
//! happens is told through [`observe`].

pub mod error;
pub mod fetch;
pub mod list;
pub mod model;
pub mod net;
pub mod observe;
pub mod store;

pub use error::{Error, Result};

#[cfg(test)]
mod architecture;
