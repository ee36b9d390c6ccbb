//! Handing a verified file to the user's command (`--exec`): run through the system shell,
//! the file's bytes on its stdin, its metadata in the environment. The command's exit status
//! is the acknowledgement: only 0 makes the file delivered.

use crate::error::{Error, Result};
use crate::fetch::download::Verified;
use crate::model::line::FileRef;
use std::io::{self, Write};
use std::process::{Command, Stdio};

/// The user's command, and the environment variables it must not see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecCommand {
    /// Run by the system shell.
    pub command: String,
    /// Removed from the command's environment: the tools' secrets (the API key, which can
    /// read every conversation of the enterprise, stays with the tools).
    pub withheld: Vec<String>,
}

/// Runs the command once for `file`, with what `feed` writes (the file as stdout mode writes
/// it) on its stdin and the file's metadata in `CL_*` variables, without the withheld
/// variables. The command's own output goes to stderr: stdout carries the manifest.
pub fn hand_over(
    exec: &ExecCommand,
    file: &FileRef,
    verified: &Verified,
    feed: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let context = || format!("handing {} to --exec", file.id);
    let mut command = shell(&exec.command);
    for name in &exec.withheld {
        command.env_remove(name);
    }
    let mut child = command
        .envs(environment(file, verified))
        .stdin(Stdio::piped())
        .stdout(Stdio::from(io::stderr()))
        .spawn()
        .map_err(|e| Error::io(format!("{}: starting the command", context()), e))?;
    let fed = child.stdin.take().map(|mut stdin| {
        feed(&mut stdin)?;
        stdin.flush()
    });
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("{}: waiting for the command", context()), e))?;
    if !status.success() {
        return Err(Error::ExecFailed {
            context: context(),
            status: status.code(),
        });
    }
    match fed {
        // A command may stop reading once it has what it wants: its status decides.
        Some(Err(e)) if !crate::error::is_closed_pipe(&e) => {
            Err(Error::io(format!("{}: writing its input", context()), e))
        }
        _ => Ok(()),
    }
}

/// The system shell running `command`: `sh -c` on Unix; on Windows `cmd /D /S /C "command"`,
/// the command line passed to cmd.exe as written (cmd.exe does not parse the quoting other
/// programs' arguments get: a command with inner double quotes would reach it mangled). `/S`
/// makes cmd.exe strip only the outer pair of quotes, `/D` skips AutoRun commands from the
/// registry, which have no place in an unattended run.
#[cfg(windows)]
fn shell(command: &str) -> Command {
    use std::os::windows::process::CommandExt;
    let mut cmd = Command::new("cmd");
    cmd.raw_arg(format!("/D /S /C \"{command}\""));
    cmd
}

/// The system shell running `command`: `sh -c` on Unix; see the Windows one.
#[cfg(not(windows))]
fn shell(command: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// `CL_ID`, `CL_PRINCIPAL`, `CL_BYTES`, `CL_FILE_SHA256`, and `CL_EVENT_TYPE`, `CL_END_TIME`,
/// `CL_FILE_NAME` when the listing gave them.
fn environment(file: &FileRef, verified: &Verified) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CL_ID", file.id.to_string()),
        ("CL_PRINCIPAL", file.principal.to_string()),
        ("CL_BYTES", verified.bytes.to_string()),
    ];
    let known = [
        ("CL_FILE_SHA256", verified.sha256.map(|d| d.to_string())),
        ("CL_EVENT_TYPE", file.event_type.clone()),
        ("CL_END_TIME", file.end_time.clone()),
        ("CL_FILE_NAME", file.file_name.clone()),
    ];
    env.extend(known.into_iter().filter_map(|(k, v)| Some((k, v?))));
    env
}
