//! Small file-system steps that durability depends on.

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes a rename or creation in `dir` durable.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals the rename itself.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Creates `dir` and any missing parents as private directories (0700 on Unix, whatever the
/// umask); directories that already exist keep their mode.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir_all(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => make_private(dir, 0o700),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets owner-only permissions (`mode`, e.g. 0600 or 0700); a no-op where there are none.
#[cfg(unix)]
pub fn make_private(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Windows has no mode bits; files inherit the directory's ACL.
#[cfg(not(unix))]
pub fn make_private(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Removes temporary files (`.<name>.<random>.part`) that a killed run left in `dir`. A
/// writer holds a lock on its temporary file while writing, so a file that can be locked
/// has no writer left.
pub fn sweep_stale_parts(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".part")) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        if file.try_lock().is_ok() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
