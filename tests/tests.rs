//! End-to-end tests: the built binaries against a real simulator on loopback, as a shell
//! user would run them.

mod compose;
mod dedup;
mod deploy;
mod docs;
mod edges;
mod errors;
mod fetch;
mod flow;
mod list;
mod metrics;
mod network;
mod operations;
mod readme;
mod recipes;
mod reliability;
mod security;
mod soak;
mod state;
mod stress;
mod types;
mod unattended;
mod util;
mod windows;
