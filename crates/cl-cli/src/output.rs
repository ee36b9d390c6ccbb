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

/// Elsewhere the next write tells.
#[cfg(not(unix))]
pub fn stdout_reader_gone() -> bool {
    false
}
