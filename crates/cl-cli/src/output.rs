//! What the tools can learn about their standard output.

/// True when stdout is a pipe whose reader has gone (`| head` finished): a tool that has
/// nothing to write yet would otherwise only find out at its next write.
#[cfg(unix)]
pub fn stdout_reader_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&now)) {
        Ok(_) => fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP),
        Err(_) => false,
    }
}

/// Stdout, when it is a regular file (`> out.jsonl`), as a file that can be flushed to disk.
pub fn stdout_file() -> Option<std::fs::File> {
    #[cfg(unix)]
    let handle = std::os::fd::AsFd::as_fd(&std::io::stdout()).try_clone_to_owned();
    #[cfg(windows)]
    let handle = std::os::windows::io::AsHandle::as_handle(&std::io::stdout()).try_clone_to_owned();
    let file = std::fs::File::from(handle.ok()?);
    file.metadata().ok()?.is_file().then_some(file)
}

/// Elsewhere (Windows: a write of no bytes does not tell, not under Wine at least) the next
/// write tells, when a new file arrives.
#[cfg(not(unix))]
pub fn stdout_reader_gone() -> bool {
    false
}
