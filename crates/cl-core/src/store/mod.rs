//! The local disk: durable private writes, the state file (checkpoint) and its lock, and the
//! spools where finished files wait for their turn.

pub mod checkpoint;
pub mod dedup;
pub mod durable;
pub mod listed;
pub mod private;
pub mod spool;
