//! What names an event for `--dedup`: a key per principal, event type and `event_id` (else
//! the event's bytes), and the mark each value of a re-framed file gets. Data only.

use sha2::{Digest, Sha256};

/// One value as written on: the end of its line in the output, its event's key, its time.
/// 32 bytes (a file's marks wait in memory for its turn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The output offset just past its line's newline.
    pub end: u64,
    /// Names its event (see [`EventKey`]).
    pub key: [u8; 16],
    /// Its time, or [`NO_TIME`].
    time: i64,
}

/// A mark's time when it has none (no time that jiff reads comes near it).
const NO_TIME: i64 = i64::MIN;

impl Mark {
    /// The mark of a value ending at `end`, keyed `key`, that happened `at`.
    pub fn new(end: u64, key: [u8; 16], at: Option<i64>) -> Mark {
        Mark {
            end,
            key,
            time: at.filter(|&t| t != NO_TIME).unwrap_or(NO_TIME),
        }
    }

    /// Its own `timestamp`, in Unix seconds, when it has one that reads as a time.
    pub fn at(&self) -> Option<i64> {
        (self.time != NO_TIME).then_some(self.time)
    }
}

/// How the events of one file are keyed: per principal and event type, by `event_id` where
/// the event has one, else by the SHA-256 of its bytes. The key is the first 16 bytes of a
/// SHA-256 over all of that: a collision needs about 2^64 events.
#[derive(Clone, Debug)]
pub struct EventKey {
    scope: Sha256,
}

impl EventKey {
    /// Keys for the events of `principal`'s `event_type`.
    pub fn new(principal: &str, event_type: &str) -> EventKey {
        let mut scope = Sha256::new();
        scope.update(principal.as_bytes());
        scope.update([0]);
        scope.update(event_type.as_bytes());
        scope.update([0]);
        EventKey { scope }
    }

    /// The key of one event: its `event_id` as written (the JSON text), or its bytes.
    pub fn of(&self, event_id: Option<&str>, value: &[u8]) -> [u8; 16] {
        let mut hash = self.scope.clone();
        match event_id {
            Some(id) => {
                hash.update(b"id:");
                hash.update(id.as_bytes());
            }
            None => {
                hash.update(b"sha256:");
                hash.update(Sha256::digest(value));
            }
        }
        let digest = hash.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}
