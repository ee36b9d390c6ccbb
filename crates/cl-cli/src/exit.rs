//! Exit codes, named once. Never 255: it makes `xargs` stop reading input.

use std::process::ExitCode;

/// Everything asked for was done.
pub const SUCCESS: u8 = 0;
/// A runtime failure: network, HTTP, integrity, or any file not delivered.
pub const FAILURE: u8 = 1;
/// A usage or configuration error: bad flag, missing key, bad timestamp.
pub const USAGE: u8 = 2;
/// Stopped by SIGINT (SIGTERM gives 143: see [`crate::signals::exit_code`]).
pub const INTERRUPTED: u8 = 130;

/// Reports `error` on stderr as `TOOL: message` and picks its exit code. A closed stdout
/// (`| head`) ends the tool quietly with success.
pub fn fail(tool: &str, error: &anyhow::Error) -> ExitCode {
    let core = error.downcast_ref::<cl_core::Error>();
    if core.is_some_and(cl_core::Error::is_broken_pipe) || is_broken_pipe(error) {
        return ExitCode::from(SUCCESS);
    }
    let code = match core {
        Some(e) if e.is_config() => USAGE,
        Some(cl_core::Error::Interrupted) => crate::signals::exit_code(),
        _ => FAILURE,
    };
    crate::report::error_line(tool, &format!("{error:#}"));
    ExitCode::from(code)
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
