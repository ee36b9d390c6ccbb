//! Files that are whole, private and on disk once they have their name: written under a
//! temporary name beside it (owner-only, locked while it exists), flushed, renamed into place,
//! the directory flushed. Downloads and the state file are both written this way.
//!
//! Temporary files that a killed writer left behind are swept by later runs, and only those:
//! a writer locks its temporary file and then checks that the name is still its own, so a
//! sweeper (another worker, another process) can only ever remove a file no live writer holds.

use crate::error::{Error, Result};
use crate::store::private;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::NamedTempFile;

/// Temporary names are `.{final name}.{RANDOM}.part`, RANDOM this many letters and digits.
pub use crate::store::paths::{parent, resolve_links, sync_dir};

const RANDOM: usize = 6;
/// Fresh temporary names tried when sweepers keep taking the new one first.
const TRIES: usize = 16;

/// Writes `path` whole: `fill` writes the contents into a private temporary file beside it,
/// which is then flushed to disk and renamed over `path`, and the rename flushed too. On any
/// failure `path` is untouched and the temporary file is gone. `context` says what is being
/// written, for errors of the file system's own steps.
pub fn write_file<T>(
    path: &Path,
    context: impl Fn() -> String,
    fill: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<T> {
    write_file_as(path, context, fill, false)
}

/// As [`write_file`], but readable by everyone once in place (0644 on Unix): for a file that
/// another account reads, such as metrics for a node exporter's textfile collector.
pub fn write_shared_file<T>(
    path: &Path,
    context: impl Fn() -> String,
    fill: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<T> {
    write_file_as(path, context, fill, true)
}

fn write_file_as<T>(
    path: &Path,
    context: impl Fn() -> String,
    fill: impl FnOnce(&mut dyn Write) -> Result<T>,
    shared: bool,
) -> Result<T> {
    let (temp, value) = fill_temp(path, &context, fill)?;
    if shared {
        private::share(temp.as_file()).map_err(|e| Error::io(context(), e))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| Error::io(context(), e))?;
    rename_into_place(temp, path, &context)?;
    sync_dir(parent(path)).map_err(|e| Error::io(context(), e))?;
    Ok(value)
}

/// A file written under a temporary name beside where it goes, not yet on disk nor named:
/// [`persist_all`] finishes it. Dropped instead, it leaves nothing behind.
pub struct Unpersisted {
    temp: NamedTempFile,
    path: PathBuf,
    context: String,
}

/// The first half of [`write_file`]: `fill` writes the contents into a private temporary file
/// beside `path`, which [`persist_all`] then makes durable and renames into place together
/// with others.
pub fn write_unpersisted<T>(
    path: &Path,
    context: impl Fn() -> String,
    fill: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<(Unpersisted, T)> {
    let (temp, value) = fill_temp(path, &context, fill)?;
    let unpersisted = Unpersisted {
        temp,
        path: path.to_owned(),
        context: context(),
    };
    Ok((unpersisted, value))
}

/// A private, locked temporary file beside `path`, filled by `fill`.
fn fill_temp<T>(
    path: &Path,
    context: &impl Fn() -> String,
    fill: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<(NamedTempFile, T)> {
    let name = path.file_name().unwrap_or(OsStr::new("file"));
    let temp = create_temp(parent(path), name).map_err(|e| Error::io(context(), e))?;
    let value = fill(&mut Writeback::new(temp.as_file()))?;
    Ok((temp, value))
}

/// Writes to a file and has the system start putting it on disk every few MiB, so the flush
/// that makes it durable finds little left to do: a large download and the disk's writing
/// overlap instead of following each other.
struct Writeback<'a> {
    file: &'a File,
    written: u64,
    started: u64,
}

/// How much is written before the disk is asked to start on it.
pub const WRITEBACK_EVERY: u64 = 8 << 20;

impl<'a> Writeback<'a> {
    fn new(file: &'a File) -> Self {
        Writeback {
            file,
            written: 0,
            started: 0,
        }
    }
}

impl Write for Writeback<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = (&*self.file).write(data)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_EVERY {
            start_writeback(self.file, self.started, self.written - self.started);
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.file).flush()
    }
}

/// Has the system start putting `len` bytes of `file` from `from` on disk, without waiting:
/// a later flush finds little left to do. POSIX_FADV_DONTNEED on Linux starts writeback of
/// the range (and drops it from the cache once clean: nothing reads it back). Advice only:
/// if it fails, or elsewhere than Linux, the flush does all the work, as without it.
pub fn start_writeback(file: &File, from: u64, len: u64) {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, len);
}

/// Renames a temporary file, already on disk, over `path`.
fn rename_into_place(
    mut temp: NamedTempFile,
    path: &Path,
    context: &impl Fn() -> String,
) -> Result<()> {
    if let Some(other) = case_twin(path).map_err(|e| Error::io(context(), e))? {
        return Err(Error::CaseTwin {
            path: path.to_owned(),
            other,
        });
    }
    // Windows refuses to replace a file another program holds open (an antivirus scan, an
    // indexer, a reader): such holds are usually brief, so try again for a little while.
    let mut wait = Duration::from_millis(25);
    let deadline = Instant::now() + REPLACE_PATIENCE;
    loop {
        match temp.persist(path) {
            Ok(_) => return Ok(()),
            Err(e) => match refusal(&e.error, path) {
                Refusal::HeldOpen if Instant::now() < deadline => {
                    temp = e.file;
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(400));
                }
                Refusal::HeldOpen => {
                    return Err(Error::HeldOpen {
                        path: path.to_owned(),
                        source: e.error,
                    });
                }
                Refusal::NotAllowed => {
                    return Err(Error::NotAllowed {
                        path: path.to_owned(),
                        source: e.error,
                    });
                }
                Refusal::Other => return Err(Error::io(context(), e.error)),
            },
        }
    }
}

/// Another file that writing `path` would replace: one whose name differs from `path`'s only
/// in case, on a file system that takes the two names for one (Windows, macOS). None where
/// case tells names apart, and when `path`'s own name is there.
pub fn case_twin(path: &Path) -> io::Result<Option<PathBuf>> {
    let Some(name) = path.file_name().and_then(OsStr::to_str) else {
        return Ok(None);
    };
    let flipped: String = name
        .chars()
        .flat_map(|c| match c.is_uppercase() {
            true => c.to_lowercase().collect::<Vec<_>>(),
            false => c.to_uppercase().collect(),
        })
        .collect();
    let dir = parent(path);
    // Nothing there by any case; or, where case tells names apart, the name with its case
    // turned over is not there either (one look, no listing, on Linux).
    if flipped == name || !exists(path)? || !exists(&dir.join(&flipped))? {
        return Ok(None);
    }
    let folded = name.to_lowercase();
    let mut twin = None;
    for entry in fs::read_dir(dir)? {
        let entry = entry?.file_name();
        let Some(entry) = entry.to_str() else {
            continue;
        };
        if entry == name {
            return Ok(None);
        }
        if entry.to_lowercase() == folded {
            twin = Some(dir.join(entry));
        }
    }
    Ok(twin)
}

fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Below this many files, flushing each is cheaper than flushing the whole file system.
#[cfg(target_os = "linux")]
const WHOLE_FS_FROM: usize = 4;

/// Makes files durable and renames them into place, together (group commit): their bytes
/// onto the disk (one flush of the file system where that is cheaper than one per file), then
/// the renames, then one flush per directory. Each file's own outcome, in the order given; a file is named
/// only once its bytes are on disk, and counts as written only once its name is.
pub fn persist_all(batch: Vec<Unpersisted>) -> Vec<Result<()>> {
    let flushed = flush_all(&batch);
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut results: Vec<(PathBuf, Result<()>)> = batch
        .into_iter()
        .map(|file| {
            let context = || file.context.clone();
            let result = match &flushed {
                Err(e) => Err(Error::io(
                    context(),
                    io::Error::new(e.kind(), e.to_string()),
                )),
                Ok(()) => rename_into_place(file.temp, &file.path, &context),
            };
            let dir = parent(&file.path).to_owned();
            if result.is_ok() && !dirs.contains(&dir) {
                dirs.push(dir.clone());
            }
            (dir, result)
        })
        .collect();
    for dir in dirs {
        if let Err(e) = sync_dir(&dir) {
            for (_, result) in results.iter_mut().filter(|(d, _)| *d == dir) {
                *result = Err(Error::io(
                    format!("flushing {}", dir.display()),
                    io::Error::new(e.kind(), e.to_string()),
                ));
            }
        }
    }
    results.into_iter().map(|(_, r)| r).collect()
}

/// Gets every file of a batch onto the disk: one flush of the file system where that is
/// cheaper (Linux), else each file's own.
fn flush_all(batch: &[Unpersisted]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if batch.len() >= WHOLE_FS_FROM {
        // Once per file system the batch is on (a subdirectory may be a mount point).
        use std::os::unix::fs::MetadataExt;
        let mut devices = Vec::new();
        for file in batch {
            let device = file.temp.as_file().metadata()?.dev();
            if !devices.contains(&device) {
                devices.push(device);
                rustix::fs::syncfs(file.temp.as_file())?;
            }
        }
        return Ok(());
    }
    batch
        .iter()
        .try_for_each(|file| file.temp.as_file().sync_data())
}

/// How long a replacement waits for another program to let go of the file.
const REPLACE_PATIENCE: Duration = Duration::from_secs(3);

/// Why renaming a temporary file over `path` failed.
#[derive(Debug, PartialEq)]
enum Refusal {
    /// Another program has the target open (Windows only: elsewhere an open file does not
    /// stand in a rename's way). Usually brief: worth waiting out.
    #[cfg_attr(not(windows), allow(dead_code))]
    HeldOpen,
    /// This account may not replace the target (its access list, or its read-only
    /// attribute).
    NotAllowed,
    /// Anything else.
    Other,
}

/// Tells a file held open from one this account may not replace. Windows answers a rename
/// over a file held open without delete sharing with ERROR_ACCESS_DENIED, the same code as a
/// real permission error: opening the file for deletion, sharing everything, tells them
/// apart (a sharing violation means held open).
#[cfg(windows)]
fn refusal(error: &io::Error, path: &Path) -> Refusal {
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION};
    use windows_sys::Win32::Storage::FileSystem::{
        DELETE, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    };
    let is = |e: &io::Error, code: u32| e.raw_os_error() == Some(code as i32);
    if is(error, ERROR_SHARING_VIOLATION) {
        return Refusal::HeldOpen;
    }
    if !is(error, ERROR_ACCESS_DENIED) {
        return Refusal::Other;
    }
    let probe = fs::OpenOptions::new()
        .access_mode(DELETE)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .open(path);
    match probe {
        Err(e) if is(&e, ERROR_SHARING_VIOLATION) => Refusal::HeldOpen,
        Err(_) => Refusal::NotAllowed,
        // Deletable now: read-only, or the hold was let go of meanwhile (try again).
        Ok(file) => match file.metadata() {
            Ok(meta) if meta.permissions().readonly() => Refusal::NotAllowed,
            _ => Refusal::HeldOpen,
        },
    }
}

/// Elsewhere a rename is refused only for want of permission on the directory.
#[cfg(not(windows))]
fn refusal(error: &io::Error, _path: &Path) -> Refusal {
    match error.kind() {
        io::ErrorKind::PermissionDenied => Refusal::NotAllowed,
        _ => Refusal::Other,
    }
}

/// Creates a temporary file for `name` in `dir`: owner-only and locked, under a name that
/// is still its own once locked.
fn create_temp(dir: &Path, name: &OsStr) -> io::Result<NamedTempFile> {
    let prefix = format!(".{}.", name.to_string_lossy());
    for _ in 0..TRIES {
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(RANDOM)
            .suffix(".part")
            .tempfile_in(dir)?;
        // Log contents and cursors are private, whatever the umask. Through the handle, so
        // it holds even if a sweeper removes the name meanwhile.
        private::restrict_file(temp.as_file(), temp.path())?;
        match temp.as_file().try_lock() {
            Ok(()) => {}
            // A sweeper took it in the instant before us and is removing it.
            Err(fs::TryLockError::WouldBlock) => continue,
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        // Locked: no sweeper removes it from now on. One may have done so just before.
        if still_named(&temp)? {
            return Ok(temp);
        }
    }
    Err(io::Error::other(format!(
        "could not keep a temporary file in {} after {TRIES} tries",
        dir.display()
    )))
}

/// True when the temporary file's name still leads to the file this handle holds.
fn still_named(temp: &NamedTempFile) -> io::Result<bool> {
    let named = match fs::symlink_metadata(temp.path()) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    same_file(&named, &temp.as_file().metadata()?)
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// Windows does not remove a name whose file is open, so a name that exists is still ours.
#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> io::Result<bool> {
    Ok(true)
}

/// Removes the temporary files that writers which are gone left in `dir` (only those whose
/// name starts with `prefix`, when given): a file whose lock can be taken has no writer left.
/// Returns how many were removed.
pub fn sweep(dir: &Path, prefix: Option<&str>) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !is_temp_name(&name) || prefix.is_some_and(|p| !name.starts_with(p)) {
            continue;
        }
        // Gone already (renamed into place, or swept by another run): nothing to do.
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        if file.try_lock().is_ok() {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// `.{name}.{RANDOM}.part`, as [`write_file`] names its temporary files.
fn is_temp_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".part") else {
        return false;
    };
    match stem.rsplit_once('.') {
        Some((head, random)) => {
            head.len() > 1
                && head.starts_with('.')
                && random.len() == RANDOM
                && random.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn where_case_tells_names_apart_no_name_has_a_case_twin() {
        let dir = tempfile::tempdir().unwrap();
        let (lower, upper) = (
            dir.path().join("eclf_ab.jsonl"),
            dir.path().join("ECLF_AB.JSONL"),
        );
        assert_eq!(case_twin(&lower).unwrap(), None, "nothing there");
        fs::write(&upper, b"x").unwrap();
        assert_eq!(
            case_twin(&lower).unwrap(),
            None,
            "another file here, not this one"
        );
        fs::write(&lower, b"y").unwrap();
        assert_eq!(case_twin(&lower).unwrap(), None);
        assert_eq!(case_twin(&upper).unwrap(), None);
        assert_eq!(
            case_twin(&dir.path().join("123")).unwrap(),
            None,
            "no letters"
        );
    }

    #[test]
    fn a_file_appears_whole_and_private_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        let n = write_file(&path, String::new, |f| {
            f.write_all(b"abc").map_err(|e| Error::io("x", e))?;
            Ok(3)
        })
        .unwrap();
        assert_eq!((n, fs::read(&path).unwrap()), (3, b"abc".to_vec()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let failed = write_file(&path, String::new, |f| {
            f.write_all(b"partial").map_err(|e| Error::io("x", e))?;
            Err::<(), _>(Error::Interrupted)
        });
        assert!(matches!(failed, Err(Error::Interrupted)));
        assert_eq!(fs::read(&path).unwrap(), b"abc", "untouched");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn files_persisted_together_are_each_whole_and_one_failure_stays_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut batch = Vec::new();
        for i in 0..8 {
            let path = dir.path().join(format!("f{i}"));
            let (file, ()) = write_unpersisted(&path, String::new, |f: &mut dyn Write| {
                f.write_all(format!("file {i}").as_bytes())
                    .map_err(|e| Error::io("x", e))
            })
            .unwrap();
            batch.push(file);
            assert!(!path.exists(), "not named before it is on disk");
        }
        // One whose directory went away meanwhile.
        let gone = dir.path().join("gone");
        fs::create_dir(&gone).unwrap();
        let (file, ()) = write_unpersisted(&gone.join("g"), String::new, |_| Ok(())).unwrap();
        batch.insert(3, file);
        fs::remove_dir_all(&gone).unwrap();
        let results = persist_all(batch);
        assert!(results[3].is_err());
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 8);
        for i in 0..8 {
            let got = fs::read_to_string(dir.path().join(format!("f{i}"))).unwrap();
            assert_eq!(got, format!("file {i}"));
        }
    }

    #[test]
    fn a_sweep_removes_what_no_writer_holds_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".f.jsonl.Ab12Cd.part");
        fs::write(&stale, b"left by a killed run").unwrap();
        for keep in [
            "f.jsonl",
            ".f.jsonl.part",
            ".f.jsonl.x.part",
            "f.jsonl.Ab12Cd.part",
        ] {
            fs::write(dir.path().join(keep), b"").unwrap();
        }
        let live = create_temp(dir.path(), OsStr::new("g.jsonl")).unwrap();
        assert_eq!(sweep(dir.path(), Some(".g.")).unwrap(), 0, "prefix");
        assert_eq!(sweep(dir.path(), None).unwrap(), 1);
        assert!(!stale.exists() && live.path().exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 5);
    }

    #[test]
    fn a_writer_whose_new_file_was_swept_takes_another_name() {
        let dir = tempfile::tempdir().unwrap();
        // A sweeper that wins the race removes the file before the writer locks it; the
        // writer must notice rather than write into a file with no name.
        let temp = tempfile::Builder::new()
            .prefix(".f.")
            .rand_bytes(RANDOM)
            .suffix(".part")
            .tempfile_in(dir.path())
            .unwrap();
        fs::remove_file(temp.path()).unwrap();
        temp.as_file().try_lock().unwrap();
        assert!(!still_named(&temp).unwrap());
        let fresh = create_temp(dir.path(), OsStr::new("f")).unwrap();
        assert!(still_named(&fresh).unwrap());
    }
}
