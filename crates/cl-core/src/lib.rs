//! The library behind `cl-list` and `cl-fetch`: everything except flags, printing and exit codes.
//!
//! Two pipelines, one per tool: [`listing`] pages through the API ([`paging`], [`page`]) and
//! writes one [`line`] per file; [`fetch`] reads those lines back, downloads each file
//! ([`download`], through [`retry`] and the HTTP client in [`api`]) and [`delivery`] hands it
//! over whole, in order, recording progress in the [`checkpoint`]. ARCHITECTURE.md at the
//! repository's root maps every module. Binaries wire these together; nothing here parses
//! flags, writes to a terminal or picks an exit code: what happens is told through [`observe`].

pub mod api;
pub mod check;
pub mod checkpoint;
pub mod delivery;
pub mod download;
pub mod durable;
pub mod endpoint;
pub mod error;
pub mod error_body;
pub mod events;
pub mod exec;
pub mod fetch;
pub mod https;
pub mod layout;
pub mod line;
pub mod listing;
pub mod observe;
pub mod page;
pub mod paging;
pub mod principal;
pub mod private;
pub mod proxy;
pub mod rate;
pub mod retention;
pub mod retry;
pub mod secret;
pub mod sha256;
pub mod spool;
pub mod timestamps;
pub mod tls;

pub use error::{Error, Result};
