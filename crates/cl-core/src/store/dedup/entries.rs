//! How `--dedup` keeps an event: an entry of its time and key, 24 bytes that sort in time
//! order; a file's marks sorted out into first copies and entry order (by the workers); and
//! the search of a part for a file's entries.

use crate::error::{Error, Result};
use crate::model::event_key::Mark;
use std::collections::HashSet;

/// An event with a time: the time (big-endian, its sign bit flipped so that byte order is
/// time order), then its key. Entries compare as byte strings, in time order.
pub(super) type Entry = [u8; 24];

pub(super) fn entry(at: i64, key: &[u8; 16]) -> Entry {
    let mut out = [0; 24];
    out[..8].copy_from_slice(&((at as u64) ^ (1 << 63)).to_be_bytes());
    out[8..].copy_from_slice(key);
    out
}

/// An entry as integers, which compare as its bytes do (inlined: no call to `memcmp`).
#[inline]
pub(super) fn ordered(entry: &Entry) -> (u64, u128) {
    let (time, key) = entry.split_at(8);
    (
        u64::from_be_bytes(time.try_into().unwrap_or_default()),
        u128::from_be_bytes(key.try_into().unwrap_or_default()),
    )
}

/// The hour of an entry, ordered as its time.
pub(super) fn hour_of(entry: &Entry) -> u64 {
    let mut time = [0; 8];
    time.copy_from_slice(&entry[..8]);
    let at = (u64::from_be_bytes(time) ^ (1 << 63)) as i64;
    (at.div_euclid(3600) as u64) ^ (1 << 63)
}

/// The key of an event without a time.
pub(super) fn untimed_key(key: &[u8; 16]) -> u128 {
    u128::from_be_bytes(*key)
}

/// The entries of a part, after its carrier.
pub(super) fn entries(part: &[u8]) -> &[Entry] {
    let body = part.get(8..).unwrap_or_default();
    let (entries, _) = body.as_chunks::<24>();
    entries
}

/// A hasher for keys that are already uniform (SHA-256 bytes): their first 8 bytes.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

type KeySet = HashSet<[u8; 16], std::hash::BuildHasherDefault<KeyHasher>>;

/// What can be worked out of a file's marks alone, before its turn (the workers do it, side
/// by side), so that the delivery thread only looks up and writes: which values are the
/// first of their event within the file, and the order of the timed ones by entry.
#[derive(Debug, Default)]
pub struct Sorted {
    /// Per mark: false for a later copy of an event earlier in the file.
    pub(super) first: Vec<bool>,
    /// The places of the first copies that have a time, in entry order.
    pub(super) order: Vec<u32>,
}

impl Sorted {
    /// Sorts out the marks of one file.
    pub fn of(marks: &[Mark]) -> Result<Sorted> {
        if u32::try_from(marks.len()).is_err() {
            return Err(Error::io(
                "sorting the events of a file",
                std::io::Error::other("more than 4,294,967,295 events in one file"),
            ));
        }
        let mut here = KeySet::with_capacity_and_hasher(marks.len(), Default::default());
        let first: Vec<bool> = marks.iter().map(|m| here.insert(m.key)).collect();
        drop(here);
        let mut order: Vec<u32> = (0..marks.len() as u32)
            .filter(|&i| first[i as usize] && marks[i as usize].at().is_some())
            .collect();
        sort_by_entry(marks, &mut order);
        Ok(Sorted { first, order })
    }
}

/// Sorts places of timed marks (each key once) by their entries. A file's events mostly come
/// in time order: then only the events of each second are sorted, by key.
fn sort_by_entry(marks: &[Mark], order: &mut [u32]) {
    let time = |i: &u32| marks[*i as usize].at().unwrap_or_default();
    let key = |i: &u32| u128::from_be_bytes(marks[*i as usize].key);
    if order.is_sorted_by_key(time) {
        for second in order.chunk_by_mut(|a, b| time(a) == time(b)) {
            if second.len() > 1 {
                second.sort_unstable_by_key(key);
            }
        }
    } else {
        order.sort_unstable_by_key(|i| ordered_mark(&marks[*i as usize]));
    }
}

/// A timed mark's entry as integers (see [`ordered`]), without building the entry.
#[inline]
pub(super) fn ordered_mark(mark: &Mark) -> (u64, u128) {
    (
        (mark.at().unwrap_or_default() as u64) ^ (1 << 63),
        u128::from_be_bytes(mark.key),
    )
}

/// The hour of a timed mark, as [`hour_of`] its entry.
#[inline]
pub(super) fn hour_of_mark(mark: &Mark) -> u64 {
    (mark.at().unwrap_or_default().div_euclid(3600) as u64) ^ (1 << 63)
}

/// The entry of a timed mark.
pub(super) fn entry_of(mark: &Mark) -> Entry {
    entry(mark.at().unwrap_or_default(), &mark.key)
}

/// The places of the file's timed first copies (`order`, sorted, one hour's) whose entries
/// `part` (sorted) holds: a merge of the two over the range where they overlap (found by
/// binary search: consecutive files share few times), or a binary search per entry when the
/// part is much the larger.
pub(super) fn found(marks: &[Mark], order: &[u32], part: &[Entry]) -> Vec<usize> {
    let wanted = |place: &u32| ordered_mark(&marks[*place as usize]);
    let (Some(first), Some(last)) = (order.first(), part.last()) else {
        return Vec::new();
    };
    let mut at = part.partition_point(|p| ordered(p) < wanted(first));
    if at == part.len() || ordered(last) < wanted(first) {
        return Vec::new();
    }
    let search = order.len().saturating_mul(16) < part.len() - at;
    let mut out = Vec::new();
    for place in order {
        let want = wanted(place);
        if search {
            if part[at..]
                .binary_search_by(|p| ordered(p).cmp(&want))
                .is_ok()
            {
                out.push(*place as usize);
            }
            continue;
        }
        while at < part.len() && ordered(&part[at]) < want {
            at += 1;
        }
        if at == part.len() {
            break;
        }
        if ordered(&part[at]) == want {
            out.push(*place as usize);
        }
    }
    out
}
