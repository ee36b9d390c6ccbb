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

/// True when stdout leads nowhere: the null device (`> /dev/null`), or closed (`>&-`, which
/// the Rust runtime reopens on the null device before `main`).
#[cfg(unix)]
pub fn stdout_goes_nowhere() -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(handle) = std::os::fd::AsFd::as_fd(&std::io::stdout()).try_clone_to_owned() else {
        return false;
    };
    let (Ok(out), Ok(null)) = (
        std::fs::File::from(handle).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    out.file_type().is_char_device() && out.rdev() == null.rdev()
}

/// True when stdout leads nowhere: `> NUL`, or no stdout at all. A character device that is
/// not a console is taken for NUL.
#[cfg(windows)]
#[allow(unsafe_code)]
pub fn stdout_goes_nowhere() -> bool {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{FILE_TYPE_CHAR, GetFileType};
    use windows_sys::Win32::System::Console::GetConsoleMode;
    let handle = std::io::stdout().as_raw_handle();
    if handle.is_null() {
        return true;
    }
    let mut mode = 0;
    // SAFETY: both calls only read the handle, which stays open for the whole process; mode
    // is a valid place for GetConsoleMode to write.
    unsafe { GetFileType(handle) == FILE_TYPE_CHAR && GetConsoleMode(handle, &mut mode) == 0 }
}

/// Elsewhere (Windows: a write of no bytes does not tell, not under Wine at least) the next
/// write tells, when a new file arrives.
#[cfg(not(unix))]
pub fn stdout_reader_gone() -> bool {
    false
}
