//! The local disk: durable private writes, the state file (its contents, what a run records
//! in it, its lock), the events `--dedup` remembers, and the spools where finished files wait
//! for their turn.

pub mod checkpoint;
pub mod dedup;
pub mod durable;
pub mod listed;
pub mod lock;
pub mod paths;
pub mod private;
pub mod spool;
pub mod state;
