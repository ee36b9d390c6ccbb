//! The library behind `cl-list` and `cl-fetch`: everything except flags, printing and exit codes.
//!
//! It talks to the Compliance Logs Platform API ([`api::Client`]), pages through listings
//! ([`paging::Pager`]), parses what users pipe in ([`input`]) and delivers files verified and
//! whole ([`fetch`]). Binaries wire these together; nothing here writes to a terminal.

pub mod api;
pub mod checkpoint;
pub mod delivery;
pub mod download;
pub mod durable;
pub mod endpoint;
pub mod error;
pub mod error_body;
pub mod fetch;
pub mod https;
pub mod layout;
pub mod line;
pub mod listing;
pub mod observe;
pub mod page;
pub mod paging;
pub mod principal;
pub mod proxy;
pub mod retry;
pub mod secret;
pub mod sha256;
pub mod spool;
pub mod timestamps;
pub mod tls;

pub use error::{Error, Result};
