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
//!
//! A file that keeps failing would hold its cursor for ever. Each run it fails in is counted;
//! after [`Checkpoint::open`]'s `park_after` runs (or on request) it is parked: set aside in a
//! dead-letter list kept in the state, with its listing metadata, why it failed and when, so
//! the cursor can move past it. A parked file leaves the list when it is delivered (a retry of
//! the parked files) or dismissed.

use crate::error::{Error, Result};
use crate::model::line::FileRef;
use crate::model::timestamps::compare_instants;
use crate::store::durable;
pub use crate::store::lock::StateLock;
pub use crate::store::state::{Gap, GapSeen, Parked, Progress, SetAside, State};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
/// The state of one cl-fetch run: loaded and locked at the start, updated in memory as files
/// are delivered in input order, and saved by [`Checkpoint::save`] once per batch of
/// delivered files (after they are durable), never once per file. A line the state already
/// covers changes nothing and costs no write.
pub struct Checkpoint {
    path: PathBuf,
    state: State,
    _lock: StateLock,
    tracks: HashMap<(String, String), Track>,
    /// Set by any failure or unreadable line: no cursor moves for the rest of the run.
    frozen: bool,
    /// Changed since it was last saved.
    dirty: bool,
    /// After failing in this many runs a file is parked (0: never).
    park_after: u32,
    /// Files whose failure this run has counted already.
    counted: HashSet<(String, String)>,
    /// Gaps seen and not yet said (see [`Checkpoint::take_gaps`]).
    gaps: Vec<GapSeen>,
}

#[derive(Default)]
struct Track {
    /// The cursor of the last line of this key seen.
    page: Option<String>,
    /// Files parked in this run whose line is recorded next: not delivered, not a failure.
    parked: HashSet<String>,
    /// A file of this key failed: its cursor must not move.
    failed: bool,
    /// The earliest start of a listing among this run's lines of this key.
    listed_from: Option<String>,
    /// A gap of this key was said in this run.
    gap_said: bool,
}

impl Checkpoint {
    /// Locks and reads the state file. A symbolic link is followed: the lock and every save
    /// are its target's, so every name of one state file shares one lock. A file that fails
    /// in `park_after` runs is parked (0: never).
    pub fn open(path: &Path, park_after: u32) -> Result<Checkpoint> {
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
            dirty: false,
            park_after,
            counted: HashSet::new(),
            gaps: Vec::new(),
        })
    }

    /// The state as loaded at the start of the run.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Records the outcome of one input line, in input order, in memory: [`Checkpoint::save`]
    /// writes it. A file the state already covers (before the cursor, or remembered beyond
    /// it) changes nothing, unless its line completes the page before it.
    pub fn record(&mut self, file: &FileRef, delivered: bool) {
        let (Some(event_type), Some(cursor)) = (&file.event_type, &file.cursor) else {
            return;
        };
        let key = (file.principal.as_str().to_owned(), event_type.clone());
        self.look_for_gap(&key, file);
        let track = self.tracks.entry(key.clone()).or_default();
        if !delivered {
            track.failed = true;
            return;
        }
        // Parked in this run: the cursor may move past it, yet it is not delivered.
        let parked = track.parked.remove(file.id.as_str());
        let hold = self.frozen || track.failed;
        let finished_page = track.page.replace(cursor.clone()).filter(|p| p != cursor);
        let progress = self
            .state
            .principals
            .entry(key.0)
            .or_default()
            .entry(key.1)
            .or_default();
        let mut changed = false;
        if let (Some(page), false) = (finished_page, hold) {
            changed |= commit(progress, &page);
        }
        let end_time = file.end_time.clone().unwrap_or_default();
        let last_of_page = compare_instants(&end_time, cursor).is_some_and(|o| o.is_ge());
        if !parked {
            // Delivered at last: no longer failing or parked.
            changed |= progress.failing.remove(file.id.as_str()).is_some();
            changed |= progress.parked.remove(file.id.as_str()).is_some();
        }
        let covered = progress.cursor_covers(&end_time);
        if !parked && !covered && !progress.delivered.contains_key(file.id.as_str()) {
            progress.delivered.insert(file.id.to_string(), end_time);
            changed = true;
        }
        if last_of_page && !hold {
            changed |= commit(progress, cursor);
        }
        // A gap is closed by a listing that started at or before it, delivered past it.
        if let (Some(gap), Some(now_at), Some(from)) =
            (&progress.gap, &progress.cursor, &track.listed_from)
            && compare_instants(from, &gap.from).is_some_and(|o| o.is_le())
            && compare_instants(now_at, &gap.to).is_some_and(|o| o.is_ge())
        {
            progress.gap = None;
            forget_covered(progress);
            changed = true;
        }
        self.dirty |= changed;
    }

    /// Notes where the listing of `file` started; a start later than the cursor of its type
    /// is a gap: recorded in the state, and said once a run (see [`Checkpoint::take_gaps`]).
    fn look_for_gap(&mut self, key: &(String, String), file: &FileRef) {
        let Some(listed_after) = &file.listed_after else {
            return;
        };
        let track = self.tracks.entry(key.clone()).or_default();
        if track
            .listed_from
            .as_deref()
            .is_none_or(|from| compare_instants(listed_after, from).is_some_and(|o| o.is_lt()))
        {
            track.listed_from = Some(listed_after.clone());
        }
        let Some(progress) = self
            .state
            .principals
            .get_mut(&key.0)
            .and_then(|t| t.get_mut(&key.1))
        else {
            return;
        };
        let Some(cursor) = progress.cursor.clone() else {
            return;
        };
        // Later than the cursor, and than any page this run has seen of the type (a feed's
        // next poll starts just before the page it ended on, which may not be delivered yet).
        let later = |than: &str| compare_instants(listed_after, than).is_some_and(|o| o.is_gt());
        if !later(&cursor) || track.page.as_deref().is_some_and(|page| !later(page)) {
            return;
        }
        let seen = jiff::Timestamp::now().to_string();
        let gap = match progress.gap.take() {
            // Gaps one after another are one: from the first cursor to the latest start.
            Some(earlier) => Gap {
                to: listed_after.clone(),
                seen,
                ..earlier
            },
            None => Gap {
                from: cursor.clone(),
                to: listed_after.clone(),
                seen,
            },
        };
        progress.gap = Some(gap);
        self.dirty = true;
        if !track.gap_said {
            track.gap_said = true;
            self.gaps.push(GapSeen {
                principal: key.0.clone(),
                event_type: key.1.clone(),
                cursor,
                listed_after: listed_after.clone(),
            });
        }
    }

    /// The gaps seen since the last call, to say.
    pub fn take_gaps(&mut self) -> Vec<GapSeen> {
        std::mem::take(&mut self.gaps)
    }

    /// Records that `file` could not be delivered, saying `why`. It holds its cursor, unless
    /// this is the `park_after`th run it fails in, or `park` asks: then it is parked (and
    /// returned), and its line counts as delivered for the cursor.
    pub fn failed(&mut self, file: &FileRef, why: &str, park: bool) -> Option<Parked> {
        let (Some(event_type), Some(_)) = (&file.event_type, &file.cursor) else {
            return None;
        };
        let key = (file.principal.as_str().to_owned(), event_type.clone());
        let now = jiff::Timestamp::now().to_string();
        let first_count = self.counted.insert((key.0.clone(), file.id.to_string()));
        let progress = self
            .state
            .principals
            .entry(key.0.clone())
            .or_default()
            .entry(key.1.clone())
            .or_default();
        // Parked already (a retry of the parked files): it stays parked, its failure noted.
        if let Some(aside) = progress.parked.get_mut(file.id.as_str()) {
            aside.runs += u32::from(first_count);
            aside.why = why.to_owned();
            aside.last_failed = now;
            self.dirty = true;
            self.tracks
                .entry(key)
                .or_default()
                .parked
                .insert(file.id.to_string());
            self.record(file, true);
            return None;
        }
        let mut aside = progress
            .failing
            .remove(file.id.as_str())
            .unwrap_or_else(|| SetAside {
                end_time: file.end_time.clone(),
                cursor: file.cursor.clone(),
                file_name: file.file_name.clone(),
                file_size: file.file_size,
                file_sha256: file.file_sha256.map(|d| d.to_string()),
                first_failed: now.clone(),
                ..SetAside::default()
            });
        if first_count && !park {
            aside.runs += 1;
        }
        aside.why = why.to_owned();
        aside.last_failed = now.clone();
        self.dirty = true;
        let due = park || (self.park_after > 0 && aside.runs >= self.park_after);
        if !due {
            progress.failing.insert(file.id.to_string(), aside);
            self.record(file, false);
            return None;
        }
        aside.parked_at = Some(now);
        let parked = Parked {
            id: file.id.to_string(),
            runs: aside.runs,
            why: aside.why.clone(),
        };
        progress.parked.insert(file.id.to_string(), aside);
        // Its line now moves the cursor like a delivered one.
        self.tracks
            .entry(key)
            .or_default()
            .parked
            .insert(file.id.to_string());
        self.record(file, true);
        Some(parked)
    }

    /// Drops these ids from the parked files (and from the failing ones): they will not be
    /// fetched again. Returns the ids that were there.
    pub fn dismiss(&mut self, ids: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        for types in self.state.principals.values_mut() {
            for progress in types.values_mut() {
                for id in ids {
                    let parked = progress.parked.remove(id).is_some();
                    let failing = progress.failing.remove(id).is_some();
                    if parked || failing {
                        found.push(id.clone());
                    }
                }
            }
        }
        self.dirty |= !found.is_empty();
        found
    }

    /// An input line that could not be read might have been any file: hold every cursor.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// True when something was recorded that is not saved yet.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Saves what was recorded since the last save, if anything (see [`State::save`]). Call
    /// it only once every file recorded is durable where it was delivered.
    pub fn save(&mut self) -> Result<()> {
        if self.dirty {
            self.state.save(&self.path)?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Moves a cursor forward (never back) and forgets delivered files that end before it. False
/// when the cursor was already there or further.
fn commit(progress: &mut Progress, cursor: &str) -> bool {
    let old = progress.cursor.as_deref();
    if old
        .and_then(|old| compare_instants(cursor, old))
        .is_some_and(|o| o.is_le())
    {
        return false;
    }
    progress.cursor = Some(cursor.to_owned());
    forget_covered(progress);
    true
}

/// Forgets the delivered files the cursor alone covers; those in an open gap stay.
fn forget_covered(progress: &mut Progress) {
    let mut delivered = std::mem::take(&mut progress.delivered);
    delivered.retain(|_, end| !progress.cursor_covers(end));
    progress.delivered = delivered;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::file_id::FileId;
    use crate::model::principal::Principal;
    use std::fs;

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
        let mut cp = Checkpoint::open(&path, 0).unwrap();
        cp.record(&line("a", "01", "02"), true);
        cp.save().unwrap();
        assert_eq!(saved(&path).cursor, None);
        cp.record(&line("b", "02", "02"), true);
        cp.save().unwrap();
        let p = saved(&path);
        assert_eq!(p.cursor.as_deref(), Some("2026-07-16T00:02:00+00:00"));
        assert_eq!(
            p.delivered.keys().collect::<Vec<_>>(),
            ["b"],
            "only the boundary file stays"
        );
        cp.record(&line("c", "03", "05"), true);
        cp.save().unwrap();
        cp.record(&line("d", "04", "05"), false);
        cp.save().unwrap();
        cp.record(&line("e", "05", "05"), true);
        cp.save().unwrap();
        cp.record(&line("f", "06", "07"), true);
        cp.save().unwrap();
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
        let mut cp = Checkpoint::open(&path, 0).unwrap();
        // The listing's cursor lies beyond its last file: only the next page proves it whole.
        cp.record(&line("a", "01", "03"), true);
        cp.save().unwrap();
        cp.record(&line("b", "02", "03"), true);
        cp.save().unwrap();
        assert_eq!(saved(&path).cursor, None);
        cp.record(&line("c", "04", "09"), true);
        cp.save().unwrap();
        assert_eq!(
            saved(&path).cursor.as_deref(),
            Some("2026-07-16T00:03:00+00:00")
        );
        cp.freeze();
        cp.record(&line("d", "09", "09"), true);
        cp.save().unwrap();
        assert_eq!(
            saved(&path).cursor.as_deref(),
            Some("2026-07-16T00:03:00+00:00")
        );
    }

    #[test]
    fn lines_the_state_already_covers_change_nothing_and_cost_no_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut cp = Checkpoint::open(&path, 0).unwrap();
        cp.record(&line("a", "01", "02"), true);
        cp.record(&line("b", "02", "02"), true);
        assert!(cp.is_dirty());
        cp.save().unwrap();
        assert!(!cp.is_dirty(), "saved");
        let size = fs::metadata(&path).unwrap().len();
        drop(cp);
        // A rerun over the same page: nothing to record, nothing written.
        let mut cp = Checkpoint::open(&path, 0).unwrap();
        for _ in 0..1000 {
            cp.record(&line("a", "01", "02"), true);
            cp.record(&line("b", "02", "02"), true);
        }
        assert!(!cp.is_dirty(), "covered lines change nothing");
        fs::remove_file(&path).unwrap();
        cp.save().unwrap();
        assert!(!path.exists(), "no write at all");
        // One new file beyond the cursor is worth a save, and only it grows the state.
        cp.record(&line("c", "03", "05"), true);
        assert!(cp.is_dirty());
        cp.save().unwrap();
        let p = saved(&path);
        assert_eq!(p.delivered.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert!(fs::metadata(&path).unwrap().len() < size + 64);
    }

    #[test]
    fn a_second_run_on_the_same_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let _first = Checkpoint::open(&path, 0).unwrap();
        let err = Checkpoint::open(&path, 0).err().unwrap();
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
