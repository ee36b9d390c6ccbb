//! One run at a time on a file: an exclusive lock through a file beside it.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// An exclusive hold on a state file for one run, through a `.lock` file beside it that is
/// never removed (the state file itself is replaced on every save, so it cannot carry a lock).
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock, or fails at once if another run holds it.
    pub fn acquire(path: &Path) -> Result<StateLock> {
        Self::acquire_named(path, "lock")
    }

    /// Takes another lock on the state file `path`, `{path}.{suffix}`, or fails at once if
    /// another run holds it: cl-pull's `pull.lock`, held for a whole pipeline of processes.
    pub fn acquire_named(path: &Path, suffix: &str) -> Result<StateLock> {
        let lock_path = PathBuf::from(format!("{}.{suffix}", path.display()));
        let opening = |e| Error::io(format!("opening {}", lock_path.display()), e);
        let file = crate::store::private::open(&lock_path).map_err(opening)?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::StateInUse {
                path: path.to_owned(),
                lock: lock_path,
            }),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::io(format!("locking {}", lock_path.display()), e))
            }
        }
    }
}
