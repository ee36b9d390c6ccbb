//! Where a pipeline resumes: per principal and event type, the listing cursor up to which
//! every file has been delivered, and the files delivered beyond it.
//!
//! cl-fetch moves a cursor only once every file of that page, and every file before them,
//! is delivered (stdout: written and flushed; directory: fsynced and renamed): when a line of
//! the next page arrives, or when the page's last file (its `end_time` reaching the cursor)
//! is delivered. After any failure, or any input line that could not be read, cursors stay
//! where they are for the rest of the run. Files delivered beyond a cursor are remembered,
//! so a rerun that lists them again does not deliver them twice. cl-list starts each event
//! type just before its cursor, so files sharing the cursor's exact `end_time` are listed
//! again (and skipped) rather than missed.

use crate::durable;
use crate::error::{Error, Result};
use crate::line::FileRef;
use crate::timestamps::compare_instants;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

/// The contents of a state file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    version: u32,
    /// Principal → event type → progress.
    #[serde(default)]
    pub principals: BTreeMap<String, BTreeMap<String, Progress>>,
}

/// How far one event type of one principal has been delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Every file up to this listing cursor is delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Files delivered at or beyond the cursor: id → `end_time`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delivered: BTreeMap<String, String>,
}

impl State {
    /// Reads a state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State> {
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(Error::CorruptState {
                    path: path.to_owned(),
                    why: format!("it cannot be read: {e}"),
                });
            }
        };
        let state: State = serde_json::from_slice(&text).map_err(|e| Error::CorruptState {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        if state.version > VERSION {
            return Err(Error::Config(format!(
                "state file {} has version {}, newer than this tool understands ({VERSION})",
                path.display(),
                state.version
            )));
        }
        Ok(state)
    }

    /// True when the state shows this file delivered by an earlier run: it is remembered
    /// beyond the cursor, or it ends before the cursor.
    pub fn delivered_before(&self, file: &FileRef) -> bool {
        let Some(event_type) = &file.event_type else {
            return false;
        };
        let Some(progress) = self
            .principals
            .get(file.principal.as_str())
            .and_then(|types| types.get(event_type))
        else {
            return false;
        };
        if progress.delivered.contains_key(file.id.as_str()) {
            return true;
        }
        match (&progress.cursor, &file.end_time) {
            (Some(cursor), Some(end)) => compare_instants(end, cursor).is_some_and(|o| o.is_lt()),
            _ => false,
        }
    }

    /// The cursor saved for a principal and event type.
    pub fn cursor(&self, principal: &str, event_type: &str) -> Option<&str> {
        self.principals
            .get(principal)?
            .get(event_type)?
            .cursor
            .as_deref()
    }

    /// Replaces the file whole and durably (see [`durable::write_file`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        let saving = || format!("saving state file {}", path.display());
        let mut text = serde_json::to_vec_pretty(&State {
            version: VERSION,
            principals: self.principals.clone(),
        })
        .map_err(|e| Error::io(saving(), e.into()))?;
        text.push(b'\n');
        durable::write_file(path, saving, |file| {
            file.write_all(&text).map_err(|e| Error::io(saving(), e))
        })
    }
}

/// An exclusive hold on a state file for one run, through a `.lock` file beside it that is
/// never removed (the state file itself is replaced on every save, so it cannot carry a lock).
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock, or fails at once if another run holds it.
    pub fn acquire(path: &Path) -> Result<StateLock> {
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let opening = |e| Error::io(format!("opening {}", lock_path.display()), e);
        let file = crate::private::open(&lock_path).map_err(opening)?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::StateInUse {
                path: path.to_owned(),
                lock: lock_path,
            }),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::io(format!("locking {}", lock_path.display()), e))
            }
        }
    }
}

/// The state of one cl-fetch run: loaded and locked at the start, updated as files are
/// delivered in input order, saved after every change.
pub struct Checkpoint {
    path: PathBuf,
    state: State,
    _lock: StateLock,
    tracks: HashMap<(String, String), Track>,
    /// Set by any failure or unreadable line: no cursor moves for the rest of the run.
    frozen: bool,
}

#[derive(Default)]
struct Track {
    /// The cursor of the last line of this key seen.
    page: Option<String>,
    /// A file of this key failed: its cursor must not move.
    failed: bool,
}

impl Checkpoint {
    /// Locks and reads the state file. A symbolic link is followed: the lock and every save
    /// are its target's, so every name of one state file shares one lock.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let path = &durable::resolve_links(path)
            .map_err(|e| Error::io(format!("following {}", path.display()), e))?;
        let lock = StateLock::acquire(path)?;
        // A temporary copy of the state that no one holds is left from a run killed mid-save.
        // Failing to clear it costs only disk space, so it does not stop the run.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let _ = durable::sweep(durable::parent(path), Some(&format!(".{name}.")));
        let state = State::load(path)?;
        Ok(Checkpoint {
            path: path.to_owned(),
            state,
            _lock: lock,
            tracks: HashMap::new(),
            frozen: false,
        })
    }

    /// The state as loaded at the start of the run.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Records the outcome of one input line, in input order, and saves what changed.
    pub fn record(&mut self, file: &FileRef, delivered: bool) -> Result<()> {
        let (Some(event_type), Some(cursor)) = (&file.event_type, &file.cursor) else {
            return Ok(());
        };
        let key = (file.principal.as_str().to_owned(), event_type.clone());
        let track = self.tracks.entry(key.clone()).or_default();
        if !delivered {
            track.failed = true;
            return Ok(());
        }
        let hold = self.frozen || track.failed;
        let finished_page = track.page.replace(cursor.clone()).filter(|p| p != cursor);
        let progress = self
            .state
            .principals
            .entry(key.0)
            .or_default()
            .entry(key.1)
            .or_default();
        if let (Some(page), false) = (finished_page, hold) {
            commit(progress, &page);
        }
        let end_time = file.end_time.clone().unwrap_or_default();
        let last_of_page = compare_instants(&end_time, cursor).is_some_and(|o| o.is_ge());
        progress.delivered.insert(file.id.to_string(), end_time);
        if last_of_page && !hold {
            commit(progress, cursor);
        }
        self.state.save(&self.path)
    }

    /// An input line that could not be read might have been any file: hold every cursor.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }
}

/// Moves a cursor forward (never back) and forgets delivered files that end before it.
fn commit(progress: &mut Progress, cursor: &str) {
    let old = progress.cursor.as_deref();
    if old
        .and_then(|old| compare_instants(cursor, old))
        .is_some_and(|o| o.is_le())
    {
        return;
    }
    progress.cursor = Some(cursor.to_owned());
    progress
        .delivered
        .retain(|_, end| !compare_instants(end, cursor).is_some_and(|o| o.is_lt()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::FileId;
    use crate::principal::Principal;

    fn line(id: &str, end: &str, cursor: &str) -> FileRef {
        FileRef {
            event_type: Some("AUTH_LOG".into()),
            end_time: Some(format!("2026-07-16T00:{end}:00+00:00")),
            cursor: Some(format!("2026-07-16T00:{cursor}:00+00:00")),
            ..FileRef::bare(FileId::parse(id).unwrap(), Principal::parse("ws").unwrap())
        }
    }

    fn saved(path: &Path) -> Progress {
        State::load(path).unwrap().principals["ws"]["AUTH_LOG"].clone()
    }

    #[test]
    fn a_cursor_moves_only_past_whole_delivered_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut cp = Checkpoint::open(&path).unwrap();
        cp.record(&line("a", "01", "02"), true).unwrap();
        assert_eq!(saved(&path).cursor, None);
        cp.record(&line("b", "02", "02"), true).unwrap();
        let p = saved(&path);
        assert_eq!(p.cursor.as_deref(), Some("2026-07-16T00:02:00+00:00"));
        assert_eq!(
            p.delivered.keys().collect::<Vec<_>>(),
            ["b"],
            "only the boundary file stays"
        );
        cp.record(&line("c", "03", "05"), true).unwrap();
        cp.record(&line("d", "04", "05"), false).unwrap();
        cp.record(&line("e", "05", "05"), true).unwrap();
        cp.record(&line("f", "06", "07"), true).unwrap();
        let p = saved(&path);
        assert_eq!(
            p.cursor.as_deref(),
            Some("2026-07-16T00:02:00+00:00"),
            "held by the failure"
        );
        assert_eq!(p.delivered.keys().collect::<Vec<_>>(), ["b", "c", "e", "f"]);
        assert!(cp.state().delivered_before(&line("e", "05", "05")));
        assert!(
            cp.state().delivered_before(&line("x", "01", "02")),
            "before the cursor"
        );
        assert!(!cp.state().delivered_before(&line("d", "04", "05")));
    }

    #[test]
    fn a_later_page_completes_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut cp = Checkpoint::open(&path).unwrap();
        // The listing's cursor lies beyond its last file: only the next page proves it whole.
        cp.record(&line("a", "01", "03"), true).unwrap();
        cp.record(&line("b", "02", "03"), true).unwrap();
        assert_eq!(saved(&path).cursor, None);
        cp.record(&line("c", "04", "09"), true).unwrap();
        assert_eq!(
            saved(&path).cursor.as_deref(),
            Some("2026-07-16T00:03:00+00:00")
        );
        cp.freeze();
        cp.record(&line("d", "09", "09"), true).unwrap();
        assert_eq!(
            saved(&path).cursor.as_deref(),
            Some("2026-07-16T00:03:00+00:00")
        );
    }

    #[test]
    fn a_second_run_on_the_same_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let _first = Checkpoint::open(&path).unwrap();
        let err = Checkpoint::open(&path).err().unwrap();
        assert!(matches!(err, Error::StateInUse { .. }), "{err}");
        assert!(err.to_string().contains("in use by another run"));
    }

    #[test]
    fn bad_or_newer_state_files_are_configuration_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{oops").unwrap();
        assert!(State::load(&path).unwrap_err().is_config());
        fs::write(&path, r#"{"version":99}"#).unwrap();
        assert!(State::load(&path).unwrap_err().is_config());
        assert_eq!(
            State::load(&dir.path().join("none")).unwrap(),
            State::default()
        );
    }
}
