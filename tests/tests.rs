//! End-to-end tests: the built binaries against a real simulator on loopback, as a shell
//! user would run them.

mod compose;
mod deploy;
mod docs;
mod errors;
mod fetch;
mod flow;
mod list;
mod network;
mod operations;
mod readme;
mod recipes;
mod reliability;
mod security;
mod state;
mod stress;
mod unattended;
mod util;
mod windows;
