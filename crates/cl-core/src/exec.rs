//! Handing a verified file to the user's command (`--exec`): run through the system shell,
//! the file's bytes on its stdin, its metadata in the environment. The command's exit status
//! is the acknowledgement: only 0 makes the file delivered.

use crate::download::Verified;
use crate::error::{Error, Result};
use crate::line::FileRef;
use std::io::{self, Write};
use std::process::{Command, Stdio};

/// Runs `command` once for `file`, with what `feed` writes (the file as stdout mode writes
/// it) on its stdin and the file's metadata in `CL_*` variables. The command's own output
/// goes to stderr: stdout carries the manifest.
pub fn hand_over(
    command: &str,
    file: &FileRef,
    verified: &Verified,
    feed: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let context = || format!("handing {} to --exec", file.id);
    let mut child = shell(command)
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
        return Err(Error::Refused {
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

/// The system shell running `command`: `sh -c` on Unix, `cmd /C` on Windows.
fn shell(command: &str) -> Command {
    if cfg!(windows) {
        let mut cmd = Command::new("cmd");
        cmd.arg("/C").arg(command);
        cmd
    } else {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command);
        cmd
    }
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
