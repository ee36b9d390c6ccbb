//! `--dedup FILE`: the events already delivered, remembered on disk so each is delivered once
//! across files and runs.
//!
//! FILE is a [redb](https://www.redb.org) database: an embedded, crash-safe B-tree store
//! (copy-on-write pages; a commit is durable once it returns). Its memory is its page cache,
//! held to [`CACHE`] whatever the number of ids: ten million ids cost disk, not RAM.
//!
//! The same event carries the same `timestamp` wherever it comes again, so ids are kept by
//! the hour they happened in: each file's events of one hour are one *part*, a sorted run of
//! (time, key) entries stored as one value under (hour, sequence number). A file's events
//! fall in an hour or two, so checking them reads the few parts of those hours and merges
//! them against the file's own sorted entries; delivering them writes a part or two. (One
//! B-tree entry per id cost a B-tree insert and lookup per event, a quarter of a run's
//! time.) Forgetting the ids older than the window is cutting off the front hours. Events
//! without a readable `timestamp` are kept by key alone in `untimed`, with their file's
//! `end_time` for the window.
//!
//! Ids are written in the delivery thread once their file is delivered, and committed before
//! the state file is saved ([`Dedup::commit`]): a crash can only make an event come twice,
//! never be lost. Under DIR a file already in place is never rewritten (with fewer events);
//! its events are remembered instead (see `fetch::deliver`).

use crate::error::{Error, Result};
use crate::model::event_key::Mark;
use crate::store::checkpoint::StateLock;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The page cache of the store.
const CACHE: usize = 4 << 20;
/// Ids older than the window are forgotten at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Ids written per transaction: a transaction keeps its pages in memory until it commits, so
/// a long one is cut into commits that are not flushed to disk (cheap) until the next save.
const WRITE_AT_ONCE: usize = 1 << 15;
/// Parts forgotten per transaction, so forgetting many holds little memory.
const PRUNE_AT_ONCE: usize = 10_000;
/// Entries in one part at most: a larger file's hour is cut into several, so that reading
/// one holds at most this many entries (1.5 MiB) in memory.
const PART: usize = 1 << 16;

/// (hour, sequence number) → a part: the carrier of its events (8 bytes, see [`carrier`]),
/// then their [`Entry`]s in ascending order.
const PARTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("parts_by_hour");
/// The next sequence number of a part.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// key → (the file that delivered it first, its file's end_time), for events without a time.
const UNTIMED: TableDefinition<u128, (u64, i64)> = TableDefinition::new("events_untimed");

mod entries;
#[cfg(test)]
use entries::Entry;
pub use entries::Sorted;
use entries::{entries, entry, entry_of, found, hour_of, hour_of_mark, untimed_key};

/// Names the file that carried an event: 8 bytes of a SHA-256 of its principal and id.
pub fn carrier(principal: &str, id: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(principal.as_bytes())
        .chain_update([0])
        .chain_update(id.as_bytes())
        .finalize();
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The remembered events of one run: opened and locked at the start, written as files are
/// delivered, committed with each save of the state.
pub struct Dedup {
    path: PathBuf,
    db: Database,
    _lock: StateLock,
    /// How long an id is remembered, by the event's own time.
    window: Duration,
    /// The open write transaction: what this run delivered since the last commit.
    txn: Option<WriteTransaction>,
    /// Ids written in the open transaction.
    pending: usize,
    /// Committed without a flush to disk since the last durable commit.
    unflushed: bool,
    /// When ids older than the window were last forgotten.
    pruned: Option<Instant>,
    /// Where a part is put together before it is written.
    buffer: Vec<u8>,
}

impl Dedup {
    /// Locks and opens (or creates) the store at `path`.
    pub fn open(path: &Path, window: Duration) -> Result<Dedup> {
        let lock = StateLock::acquire(path).map_err(|e| match e {
            Error::StateInUse { path, lock } => Error::DedupInUse { path, lock },
            other => other,
        })?;
        if !path.exists() {
            create(path)?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE)
            .create(path)
            .map_err(|e| store_error(path, e))?;
        let mut dedup = Dedup {
            path: path.to_owned(),
            db,
            _lock: lock,
            window,
            txn: None,
            pending: 0,
            unflushed: false,
            pruned: None,
            buffer: Vec::new(),
        };
        dedup.commit()?;
        Ok(dedup)
    }

    fn txn(&mut self) -> Result<&mut WriteTransaction> {
        let txn = match self.txn.take() {
            Some(txn) => txn,
            None => self.db.begin_write().map_err(|e| self.error(e))?,
        };
        Ok(self.txn.insert(txn))
    }

    fn error(&self, e: impl std::fmt::Display) -> Error {
        store_error(&self.path, e)
    }

    /// Which events of a file to deliver, in order: true for the first of each event; false
    /// for one delivered before (by any file, in this run or an earlier one), or that came
    /// earlier in this file. Nothing is remembered until [`Dedup::delivered`].
    pub fn keep(&mut self, marks: &[Mark]) -> Result<Vec<bool>> {
        self.keep_sorted(marks, &Sorted::of(marks)?)
    }

    /// As [`Dedup::keep`], with the marks already sorted out ([`Sorted::of`]).
    pub fn keep_sorted(&mut self, marks: &[Mark], sorted: &Sorted) -> Result<Vec<bool>> {
        let path = self.path.clone();
        let failed = |e: &dyn std::fmt::Display| store_error(&path, e);
        let mut kept = sorted.first.clone();
        let txn = self.txn()?;
        {
            // The file's timed entries in order, merged hour by hour against the parts of
            // that hour.
            let parts = txn.open_table(PARTS).map_err(|e| failed(&e))?;
            let hour_at = |i: &u32| hour_of_mark(&marks[*i as usize]);
            for hour in sorted.order.chunk_by(|a, b| hour_at(a) == hour_at(b)) {
                let h = hour_at(&hour[0]);
                for part in parts
                    .range((h, 0)..=(h, u64::MAX))
                    .map_err(|e| failed(&e))?
                {
                    let (_, part) = part.map_err(|e| failed(&e))?;
                    for place in found(marks, hour, entries(part.value())) {
                        kept[place] = false;
                    }
                }
            }
            let untimed = txn.open_table(UNTIMED).map_err(|e| failed(&e))?;
            for (mark, kept) in marks.iter().zip(&mut kept) {
                if *kept && mark.at().is_none() {
                    *kept = untimed
                        .get(untimed_key(&mark.key))
                        .map_err(|e| failed(&e))?
                        .is_none();
                }
            }
        }
        Ok(kept)
    }

    /// Remembers the events of a delivered file that it delivered (`kept`, from
    /// [`Dedup::keep`]); an event without a time is remembered until `fallback` (the file's
    /// `end_time`) leaves the window.
    pub fn delivered(
        &mut self,
        carrier: u64,
        marks: &[Mark],
        kept: &[bool],
        fallback: i64,
    ) -> Result<()> {
        self.delivered_sorted(carrier, marks, &Sorted::of(marks)?, kept, fallback)
    }

    /// As [`Dedup::delivered`], with the marks already sorted out ([`Sorted::of`]).
    pub fn delivered_sorted(
        &mut self,
        carrier: u64,
        marks: &[Mark],
        sorted: &Sorted,
        kept: &[bool],
        fallback: i64,
    ) -> Result<()> {
        let path = self.path.clone();
        let failed = |e: &dyn std::fmt::Display| store_error(&path, e);
        let kept_here = |i: usize| kept.get(i).copied().unwrap_or(false);
        // Built in a buffer kept from file to file: a part can be a megabyte or more, and
        // a fresh one per file costs the page faults of a fresh one.
        let mut bytes = std::mem::take(&mut self.buffer);
        let mut written = 0;
        let txn = self.txn()?;
        {
            let mut untimed = txn.open_table(UNTIMED).map_err(|e| failed(&e))?;
            for (i, mark) in marks.iter().enumerate() {
                if mark.at().is_none() && kept_here(i) && sorted.first.get(i) == Some(&true) {
                    untimed
                        .insert(untimed_key(&mark.key), &(carrier, fallback))
                        .map_err(|e| failed(&e))?;
                    written += 1;
                }
            }
            let mut meta = txn.open_table(META).map_err(|e| failed(&e))?;
            let mut seq = meta
                .get("next")
                .map_err(|e| failed(&e))?
                .map_or(0, |v| v.value());
            let mut parts = txn.open_table(PARTS).map_err(|e| failed(&e))?;
            // In entry order already, each event once: the first copies, sorted by the worker;
            // one part per hour, cut every PART entries.
            let mut hour = None;
            let mut held = 0;
            let kept_in_order = sorted
                .order
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| kept_here(i));
            for i in kept_in_order {
                let mark = &marks[i];
                let h = hour_of_mark(mark);
                if hour != Some(h) || held == PART {
                    if let Some(h) = hour {
                        parts
                            .insert((h, seq), bytes.as_slice())
                            .map_err(|e| failed(&e))?;
                        seq += 1;
                    }
                    bytes.clear();
                    bytes.extend_from_slice(&carrier.to_le_bytes());
                    (hour, held) = (Some(h), 0);
                }
                bytes.extend_from_slice(&entry_of(mark));
                held += 1;
                written += 1;
            }
            if let Some(h) = hour {
                parts
                    .insert((h, seq), bytes.as_slice())
                    .map_err(|e| failed(&e))?;
                seq += 1;
            }
            meta.insert("next", seq).map_err(|e| failed(&e))?;
        }
        bytes.clear();
        self.buffer = bytes;
        self.pending += written;
        if self.pending >= WRITE_AT_ONCE
            && let Some(mut txn) = self.txn.take()
        {
            txn.set_durability(Durability::None)
                .map_err(|e| self.error(e))?;
            txn.commit().map_err(|e| self.error(e))?;
            self.pending = 0;
            self.unflushed = true;
        }
        Ok(())
    }

    /// Makes what was remembered durable; then, at most once an hour, forgets the ids older
    /// than the window. Call before the state file is saved.
    pub fn commit(&mut self) -> Result<()> {
        let txn = match self.txn.take() {
            Some(txn) => Some(txn),
            // Commits made without a flush are flushed by the next durable one.
            None if self.unflushed => Some(self.db.begin_write().map_err(|e| self.error(e))?),
            None => None,
        };
        if let Some(txn) = txn {
            txn.commit().map_err(|e| self.error(e))?;
            self.pending = 0;
            self.unflushed = false;
        }
        if self.pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            self.pruned = Some(Instant::now());
            let now = jiff::Timestamp::now().as_second();
            let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
            self.forget_before(now.saturating_sub(window))?;
        }
        Ok(())
    }

    /// Forgets the ids of the hours before the one `cutoff` (Unix seconds) falls in, and the
    /// entries of `untimed` whose file ended before it; returns how many.
    fn forget_before(&mut self, cutoff: i64) -> Result<u64> {
        let first_kept = hour_of(&entry(cutoff, &[0; 16]));
        let mut forgotten = 0;
        loop {
            let txn = self.db.begin_write().map_err(|e| self.error(e))?;
            let n = {
                let mut parts = txn.open_table(PARTS).map_err(|e| self.error(e))?;
                let mut old = Vec::new();
                for part in parts
                    .range(..(first_kept, 0))
                    .map_err(|e| self.error(e))?
                    .take(PRUNE_AT_ONCE)
                {
                    let (key, part) = part.map_err(|e| self.error(e))?;
                    forgotten += entries(part.value()).len() as u64;
                    old.push(key.value());
                }
                for key in &old {
                    parts.remove(key).map_err(|e| self.error(e))?;
                }
                old.len()
            };
            txn.commit().map_err(|e| self.error(e))?;
            if n < PRUNE_AT_ONCE {
                break;
            }
        }
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        {
            let mut untimed = txn.open_table(UNTIMED).map_err(|e| self.error(e))?;
            let before = untimed.len().map_err(|e| self.error(e))?;
            untimed
                .retain(|_, (_, at)| at >= cutoff)
                .map_err(|e| self.error(e))?;
            forgotten += before - untimed.len().map_err(|e| self.error(e))?;
        }
        txn.commit().map_err(|e| self.error(e))?;
        Ok(forgotten)
    }

    /// How many ids are remembered (as last committed). Reads every part.
    pub fn len(&self) -> Result<u64> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let parts = txn.open_table(PARTS).map_err(|e| self.error(e))?;
        let untimed = txn.open_table(UNTIMED).map_err(|e| self.error(e))?;
        let mut n = untimed.len().map_err(|e| self.error(e))?;
        for part in parts.iter().map_err(|e| self.error(e))? {
            let (_, part) = part.map_err(|e| self.error(e))?;
            n += entries(part.value()).len() as u64;
        }
        Ok(n)
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Creates an empty store at `path` whole: made under a temporary name beside it, flushed,
/// then renamed into place, so a run killed while creating it leaves no half-made file that
/// every later run would refuse (found by the crash test). Called under the lock.
fn create(path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = crate::store::durable::parent(path).join(format!(".{name}.new"));
    let creating = |e: &dyn std::fmt::Display| store_error(path, format!("creating it: {e}"));
    match std::fs::remove_file(&temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(creating(&e)),
        _ => {}
    }
    {
        let db = Database::create(&temp).map_err(|e| creating(&e))?;
        let txn = db.begin_write().map_err(|e| creating(&e))?;
        txn.open_table(PARTS).map_err(|e| creating(&e))?;
        txn.open_table(META).map_err(|e| creating(&e))?;
        txn.open_table(UNTIMED).map_err(|e| creating(&e))?;
        txn.commit().map_err(|e| creating(&e))?;
    }
    crate::store::private::restrict_file(
        &std::fs::File::open(&temp).map_err(|e| creating(&e))?,
        &temp,
    )
    .map_err(|e| creating(&e))?;
    std::fs::rename(&temp, path).map_err(|e| creating(&e))?;
    crate::store::durable::sync_dir(crate::store::durable::parent(path)).map_err(|e| creating(&e))
}

fn store_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Dedup {
        path: path.to_owned(),
        why: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(n: u8, at: Option<i64>) -> Mark {
        Mark::new(0, [n; 16], at)
    }

    #[test]
    fn the_first_file_to_deliver_an_event_keeps_it_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let now = jiff::Timestamp::now().as_second();
        let window = Duration::from_secs(86_400);
        let (a, b) = (carrier("ws", "a"), carrier("ws", "b"));
        {
            let mut d = Dedup::open(&path, window).unwrap();
            let marks = [mark(1, Some(now)), mark(2, None), mark(1, Some(now))];
            let kept = d.keep(&marks).unwrap();
            assert_eq!(kept, [true, true, false], "the second 1 repeats the first");
            d.delivered(a, &marks, &kept, now).unwrap();
            let kept = d.keep(&[mark(2, None), mark(3, None)]).unwrap();
            assert_eq!(kept, [false, true], "seen in this run, not yet committed");
            d.delivered(b, &[mark(3, None)], &[true], now).unwrap();
            d.commit().unwrap();
        }
        let mut d = Dedup::open(&path, window).unwrap();
        assert_eq!(d.len().unwrap(), 3);
        // The same event comes with the same time; without one, it is known by its key.
        let again = [
            mark(1, Some(now)),
            mark(2, None),
            mark(3, None),
            mark(4, None),
        ];
        assert_eq!(d.keep(&again).unwrap(), [false, false, false, true]);
    }

    #[test]
    fn a_file_is_checked_against_the_parts_of_its_hours_by_merge_or_by_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let hour = 1_784_160_000 / 3600 * 3600;
        let mut d = Dedup::open(&path, Duration::from_secs(u64::MAX / 4)).unwrap();
        // A big part (one file's hour) and a small one, in the same hour.
        let big: Vec<Mark> = (0..200u8)
            .map(|n| mark(n, Some(hour + i64::from(n))))
            .collect();
        let kept = d.keep(&big).unwrap();
        d.delivered(carrier("ws", "big"), &big, &kept, hour)
            .unwrap();
        let small = [mark(250, Some(hour + 3599)), mark(251, Some(hour + 3600))];
        d.delivered(carrier("ws", "small"), &small, &[true, true], hour)
            .unwrap();
        d.commit().unwrap();
        // A few events (searched for in the big part) and many (merged with it).
        let few = [
            mark(7, Some(hour + 7)),
            mark(7, Some(hour + 8)),
            mark(250, Some(hour + 3599)),
        ];
        assert_eq!(d.keep(&few).unwrap(), [false, false, false]);
        let few = [
            mark(9, Some(hour + 8)),
            mark(251, Some(hour + 3600)),
            mark(252, None),
        ];
        assert_eq!(d.keep(&few).unwrap(), [true, false, true]);
        let many: Vec<Mark> = (0..200u8)
            .map(|n| mark(n, Some(hour + i64::from(n) + i64::from(n % 2))))
            .collect();
        let kept = d.keep(&many).unwrap();
        let want: Vec<bool> = (0..200).map(|n| n % 2 == 1).collect();
        assert_eq!(kept, want);
        assert_eq!(d.len().unwrap(), 202);
    }

    #[test]
    fn found_looks_only_where_the_file_and_a_part_overlap() {
        let marks: Vec<Mark> = (10..20u8).map(|n| mark(n, Some(i64::from(n)))).collect();
        let sorted = Sorted::of(&marks).unwrap();
        let part = |range: std::ops::Range<u8>| -> Vec<Entry> {
            range.map(|n| entry(i64::from(n), &[n; 16])).collect()
        };
        assert!(
            found(&marks, &sorted.order, &part(0..10)).is_empty(),
            "all before"
        );
        assert!(
            found(&marks, &sorted.order, &part(20..30)).is_empty(),
            "all after"
        );
        assert_eq!(found(&marks, &sorted.order, &part(5..12)), [0, 1]);
        assert_eq!(found(&marks, &sorted.order, &part(18..25)), [8, 9]);
        // A part much larger than the file: searched, from where the file begins.
        let big = part(0..250);
        assert_eq!(found(&marks, &sorted.order[..2], &big), [0, 1]);
        assert_eq!(found(&marks, &sorted.order, &[]), Vec::<usize>::new());
    }

    #[test]
    fn the_order_is_entry_order_whether_or_not_a_file_comes_in_time_order() {
        // Many events a second with keys in no order, then the same out of time order.
        let in_time: Vec<Mark> = (0..300u32)
            .map(|n| {
                let key = (n.wrapping_mul(2_654_435_761) as u128).to_be_bytes();
                Mark::new(0, key, Some(1_784_160_000 + i64::from(n / 7)))
            })
            .collect();
        let mut shuffled = in_time.clone();
        shuffled.reverse();
        shuffled.swap(3, 250);
        for marks in [in_time, shuffled] {
            let sorted = Sorted::of(&marks).unwrap();
            let mut want: Vec<u32> = (0..marks.len() as u32).collect();
            want.sort_by_key(|&i| entry_of(&marks[i as usize]));
            assert_eq!(sorted.order, want);
        }
    }

    #[test]
    fn a_second_run_on_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let _first = Dedup::open(&path, Duration::from_secs(60)).unwrap();
        match Dedup::open(&path, Duration::from_secs(60)) {
            Err(Error::DedupInUse { .. }) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("opened twice"),
        }
    }

    #[test]
    fn ids_older_than_the_window_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let now = jiff::Timestamp::now().as_second();
        let mut d = Dedup::open(&path, Duration::from_secs(3600)).unwrap();
        let a = carrier("ws", "a");
        let marks: Vec<Mark> = (0..200u8)
            .map(|n| mark(n, Some(now - 7200 + i64::from(n % 2) * 7200)))
            .collect();
        let kept = d.keep(&marks).unwrap();
        d.delivered(a, &marks, &kept, now).unwrap();
        d.commit().unwrap();
        assert_eq!(d.len().unwrap(), 200, "pruned at the first commit only");
        assert_eq!(d.forget_before(now - 3600).unwrap(), 100);
        assert_eq!(d.len().unwrap(), 100);
        // Forgotten: a later file delivers it again.
        let old = mark(0, Some(now - 7200));
        assert_eq!(d.keep(&[old, mark(1, Some(now))]).unwrap(), [true, false]);
    }
}
