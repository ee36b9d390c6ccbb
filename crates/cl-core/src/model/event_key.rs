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
///
/// The principal and type come first as one 64-byte block (their own digest, then zeros),
/// which the hasher has consumed before any event: an event's key then costs one more block,
/// not two, for any `event_id` of up to 52 bytes (a UUID, quoted, is 38).
#[derive(Clone, Debug)]
pub struct EventKey {
    scope: Sha256,
}

impl EventKey {
    /// Keys for the events of `principal`'s `event_type`.
    pub fn new(principal: &str, event_type: &str) -> EventKey {
        let scope = Sha256::new()
            .chain_update(principal.as_bytes())
            .chain_update([0])
            .chain_update(event_type.as_bytes())
            .chain_update([0])
            .finalize();
        let mut block = [0; 64];
        block[..32].copy_from_slice(&scope);
        EventKey {
            scope: Sha256::new().chain_update(block),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(key: [u8; 16]) -> String {
        key.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_key_names_its_principal_type_and_id_and_never_changes() {
        let keys = EventKey::new("ws", "AUTH_LOG");
        let id = keys.of(Some("\"e-1\""), b"{}");
        // The bytes do not matter once there is an id; the principal, type and id do.
        assert_eq!(id, keys.of(Some("\"e-1\""), b"{\"other\":1}"));
        assert_ne!(id, keys.of(Some("\"e-2\""), b"{}"));
        assert_ne!(
            id,
            EventKey::new("ws", "APP_LOG").of(Some("\"e-1\""), b"{}")
        );
        assert_ne!(
            id,
            EventKey::new("ws2", "AUTH_LOG").of(Some("\"e-1\""), b"{}")
        );
        assert_ne!(id, keys.of(None, b"\"e-1\""));
        // A FILE written by one version is read by the next: the keys are fixed.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&Sha256::digest(b"ws\0AUTH_LOG\0"));
        let by_hand = Sha256::new()
            .chain_update(block)
            .chain_update(b"id:\"e-1\"")
            .finalize();
        assert_eq!(hex(id), hex(by_hand[..16].try_into().unwrap()));
        let bytes = Sha256::new()
            .chain_update(block)
            .chain_update(b"sha256:")
            .chain_update(Sha256::digest(b"{}"))
            .finalize();
        assert_eq!(
            hex(keys.of(None, b"{}")),
            hex(bytes[..16].try_into().unwrap())
        );
    }
}
