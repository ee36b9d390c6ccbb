//! The cl-fetch pipeline: input lines in, each file downloaded, verified and delivered whole,
//! in input order, to stdout, a directory or a command.
//!
//! A file's way through it: [`input`] reads the line and queues the file ([`mod@run`] starts
//! the threads); a worker
//! [`prepare`]s it ([`download`] through the hasher into a spool or a temporary file under
//! DIR, or [`exec`] hands it to the command); files written under DIR are committed together
//! ([`commit`]); [`deliver`] writes each outcome in input order (its bytes, or its
//! [`manifest`] line) and only then lets the checkpoint move. [`events`] re-frames a file as
//! one JSON value per line.

pub mod commit;
pub mod deliver;
pub mod download;
pub mod events;
pub mod exec;
pub mod input;
pub mod manifest;
pub mod prepare;
pub mod run;
pub mod sift;

pub use deliver::Summary;
pub use run::{Destination, FetchOptions, Input, run};
