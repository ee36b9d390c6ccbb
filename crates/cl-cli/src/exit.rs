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

impl Exit {
    /// The exit status number.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 128 + signals::received().unwrap_or(Signal::Interrupt).number(),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The status of a program to run that was not found, as shells give it (cl-pull).
pub const NOT_FOUND: u8 = 127;

/// How a child ended, as a shell's `$?` says it: its exit code, or 128 + the number of the
/// signal that ended it. (On Windows, a code beyond 255, an NTSTATUS, is a failure: 1.)
pub fn of_child(status: std::process::ExitStatus) -> u8 {
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return u8::try_from(128 + signal).unwrap_or(1);
    }
    status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1)
}

/// The status of a pipeline `cl-list | cl-fetch` run by cl-pull, from each tool's: 0 when
/// both succeeded; else cl-list's if it failed, else cl-fetch's. A feed (`--follow`)
/// stopped by SIGTERM is stopped, not failed: 0 when cl-fetch delivered all it was given and
/// cl-list ended with 0 or 143.
pub fn of_pipeline(list: u8, fetch: u8, feed_terminated: bool) -> u8 {
    if feed_terminated && fetch == 0 && matches!(list, 0 | 143) {
        return 0;
    }
    match (list, fetch) {
        (0, fetch) => fetch,
        (list, _) => list,
    }
}

/// Reports `error` on stderr as `TOOL: message` unless it is a closed stdout, which ends the
/// tool quietly, and picks its exit status.
pub fn fail(tool: &str, error: &anyhow::Error) -> Exit {
    let exit = Exit::for_error(error);
    if exit != Exit::Success {
        crate::report::error_line(tool, &crate::hints::message_of_any(error));
    }
    exit
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(cl_core::error::is_closed_pipe)
}

#[cfg(test)]
mod tests {
    use super::of_pipeline;

    /// The cases of the end-to-end tests in tests/deploy.rs, and the rest of the rule.
    #[test]
    fn a_pipelines_status_is_cl_lists_failure_else_cl_fetchs() {
        for (list, fetch, feed_terminated, want, case) in [
            (0, 0, false, 0, "all delivered"),
            (
                1,
                0,
                false,
                1,
                "a rejected key: cl-list fails, cl-fetch gets nothing",
            ),
            (0, 1, false, 1, "a file not delivered"),
            (2, 1, false, 2, "cl-list's status wins"),
            (1, 2, false, 1, "cl-list's status wins"),
            (0, 2, false, 2, "cl-fetch's usage error"),
            (143, 143, false, 143, "SIGTERM"),
            (130, 130, false, 130, "SIGINT"),
            (
                143,
                0,
                false,
                143,
                "a run, not a feed: SIGTERM is an interruption",
            ),
            (137, 0, false, 137, "cl-list killed"),
            (
                0,
                0,
                true,
                0,
                "a feed stopped: cl-list saw SIGTERM, exited 0",
            ),
            (
                143,
                0,
                true,
                0,
                "a feed stopped before cl-list set its handler",
            ),
            (143, 1, true, 143, "a feed stopped, but a file failed"),
            (1, 0, true, 1, "a feed whose cl-list failed"),
            (0, 143, true, 143, "a feed whose cl-fetch was stopped too"),
        ] {
            assert_eq!(of_pipeline(list, fetch, feed_terminated), want, "{case}");
        }
    }
}
