//! Owner-only files and directories: log contents, cursors and locks are for the account that
//! runs the tools alone. On Unix, mode 0600 (files) and 0700 (directories) whatever the umask;
//! on Windows, a protected access list granting only the current user, so nothing is
//! inherited from the directory above.

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents as private directories; directories that already
/// exist keep their permissions.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => restrict(dir, true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is a file, not a directory", dir.display()),
        )),
        Err(e) => Err(e),
    }
}

/// Makes what this process and its children create owner-only from now on (umask 077 on
/// Unix; elsewhere nothing changes), as an unattended run's files should be.
pub fn owner_only_from_now() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Opens (creating if needed) a file only its owner may read or write.
pub fn open(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    restrict_file(&file, path)?;
    Ok(file)
}

/// Makes an open file owner-only (`path` names it, for systems that set permissions by name).
pub fn restrict_file(file: &File, path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = path;
        file.set_permissions(fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        restrict(path, false)
    }
}

/// Makes an open file readable by everyone, writable by its owner (0644 on Unix), for a file
/// that holds nothing private and that another account reads. Elsewhere it stays as it is
/// (on Windows an exporter runs as LocalSystem, which reads it anyway).
pub fn share(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

#[cfg(unix)]
fn restrict(path: &Path, directory: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if directory { 0o700 } else { 0o600 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(windows)]
fn restrict(path: &Path, directory: bool) -> io::Result<()> {
    windows::grant_only_current_user(path, directory)
}

#[cfg(not(any(unix, windows)))]
fn restrict(_path: &Path, _directory: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod windows {
    //! The access list is built by hand from the process token's user: one ACE, full access,
    //! inherited by what a directory will hold, and protected from the parent's entries.

    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::null_mut;
    use windows_sys::Win32::Foundation::{CloseHandle, ERROR_NOT_SUPPORTED, ERROR_SUCCESS, HANDLE};
    use windows_sys::Win32::Security::Authorization::{SE_FILE_OBJECT, SetNamedSecurityInfoW};
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACL, ACL_REVISION, AddAccessAllowedAceEx, CONTAINER_INHERIT_ACE,
        DACL_SECURITY_INFORMATION, GetLengthSid, GetTokenInformation, InitializeAcl,
        OBJECT_INHERIT_ACE, PROTECTED_DACL_SECURITY_INFORMATION, TOKEN_QUERY, TOKEN_USER,
        TokenUser,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    /// Every access right a file or directory has (FILE_ALL_ACCESS).
    const ALL_ACCESS: u32 = 0x001F_01FF;

    pub fn grant_only_current_user(path: &Path, directory: bool) -> io::Result<()> {
        let user = current_user()?;
        // SAFETY: `user` holds a TOKEN_USER written by GetTokenInformation; its SID pointer
        // points into the same buffer, alive for this whole function.
        unsafe {
            let sid = (*(user.as_ptr() as *const TOKEN_USER)).User.Sid;
            let size =
                size_of::<ACL>() + size_of::<ACCESS_ALLOWED_ACE>() + GetLengthSid(sid) as usize;
            let mut acl = vec![0u64; size.div_ceil(8)];
            let acl_ptr = acl.as_mut_ptr() as *mut ACL;
            if InitializeAcl(acl_ptr, size as u32, ACL_REVISION) == 0 {
                return Err(io::Error::last_os_error());
            }
            let inherit = if directory {
                OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE
            } else {
                0
            };
            if AddAccessAllowedAceEx(acl_ptr, ACL_REVISION, inherit, ALL_ACCESS, sid) == 0 {
                return Err(io::Error::last_os_error());
            }
            let mut wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
            let status = SetNamedSecurityInfoW(
                wide.as_mut_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                null_mut(),
                null_mut(),
                acl_ptr,
                null_mut(),
            );
            // A volume without access lists (FAT, exFAT, some shares) cannot hold one: the
            // file then stays as private as its directory, as on such volumes everywhere.
            if status != ERROR_SUCCESS && status != ERROR_NOT_SUPPORTED {
                return Err(io::Error::from_raw_os_error(status as i32));
            }
        }
        Ok(())
    }

    /// The process token's TOKEN_USER, in a buffer aligned for it.
    fn current_user() -> io::Result<Vec<u64>> {
        // SAFETY: plain Win32 calls with pointers to locals that outlive them; the token handle
        // is closed on every path.
        unsafe {
            let mut token: HANDLE = null_mut();
            if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
                return Err(io::Error::last_os_error());
            }
            let mut len = 0u32;
            GetTokenInformation(token, TokenUser, null_mut(), 0, &mut len);
            let mut buf = vec![0u64; (len as usize).div_ceil(8)];
            let ok = GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len);
            let error = io::Error::last_os_error();
            CloseHandle(token);
            if ok == 0 {
                return Err(error);
            }
            Ok(buf)
        }
    }
}
