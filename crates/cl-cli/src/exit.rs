//! Exit statuses and the rules that pick them, in one place. Never 255: it makes `xargs` stop
//! reading input.

use crate::signals::{self, Signal};
use std::process::ExitCode;

/// How a tool ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done (0).
    Success,
    /// A runtime failure: network, HTTP, integrity, or any file not delivered (1).
    Failure,
    /// A usage or configuration error: bad flag, missing key, bad timestamp (2).
    Usage,
    /// Stopped by a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM).
    Interrupted,
}

impl Exit {
    /// The status for work a signal stopped. A feed (`--follow`) is stopped rather than
    /// failed: SIGTERM, a service manager's stop, ends it with success.
    pub fn stopped(feed: bool) -> Exit {
        match signals::received() {
            Some(Signal::Terminate) if feed => Exit::Success,
            _ => Exit::Interrupted,
        }
    }

    /// The status for an error: configuration errors are usage errors, a stop is an
    /// interruption, a closed stdout (`| head`) is success, anything else a failure.
    pub fn for_error(error: &anyhow::Error) -> Exit {
        let core = error.downcast_ref::<cl_core::Error>();
        if core.is_some_and(cl_core::Error::is_broken_pipe) || is_broken_pipe(error) {
            return Exit::Success;
        }
        match core {
            Some(e) if e.is_config() => Exit::Usage,
            Some(cl_core::Error::Interrupted) => Exit::Interrupted,
            _ => Exit::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(match exit {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 128 + signals::received().unwrap_or(Signal::Interrupt).number(),
        })
    }
}

/// Reports `error` on stderr as `TOOL: message` unless it is a closed stdout, which ends the
/// tool quietly, and picks its exit status.
pub fn fail(tool: &str, error: &anyhow::Error) -> Exit {
    let exit = Exit::for_error(error);
    if exit != Exit::Success {
        crate::report::error_line(tool, &crate::hints::describe_any(error));
    }
    exit
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(cl_core::error::is_closed_pipe)
}
