//! What cl-list has listed to its end, per principal and event type, kept beside the state
//! file (`FILE.listed`): the state says what was delivered, this says what was looked for. A
//! type with no file newer than the state's cursor, or none at all, is caught up rather than
//! behind once a listing has reached its end; and a cursor left old by a quiet type is no
//! sign of files lost to the API's retention while listings keep reaching the end.
//!
//! cl-list writes it (cl-fetch holds the state's lock for its whole run, so cl-list cannot
//! write the state), whole and durably; it is advice for cl-list and `--check`, never for
//! what cl-fetch delivers. A file that cannot be read is taken as empty.

use crate::error::{Error, Result};
use crate::store::durable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

/// The listings that reached their end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    version: u32,
    /// Principal → event type → the last listing of it that reached its end.
    #[serde(default)]
    pub principals: BTreeMap<String, BTreeMap<String, Reached>>,
}

/// A listing of one type that reached its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// The `after` it started from.
    pub from: String,
    /// The newest `end_time` it saw (its last cursor), if it saw any file.
    pub newest: Option<String>,
    /// When it reached its end.
    pub at: String,
}

/// The listing record that goes with a state file: `FILE.listed`, beside the file a symbolic
/// link leads to.
pub fn path_for(state: &Path) -> PathBuf {
    let state = durable::resolve_links(state).unwrap_or_else(|_| state.to_owned());
    PathBuf::from(format!("{}.listed", state.display()))
}

impl Listed {
    /// Reads the record of `state`; empty when there is none or it cannot be read.
    pub fn load(state: &Path) -> Listed {
        std::fs::read(path_for(state))
            .ok()
            .and_then(|text| serde_json::from_slice::<Listed>(&text).ok())
            .filter(|listed| listed.version <= VERSION)
            .unwrap_or_default()
    }

    /// The last listing of a type that reached its end.
    pub fn reached(&self, principal: &str, event_type: &str) -> Option<&Reached> {
        self.principals.get(principal)?.get(event_type)
    }

    /// Notes that a listing of a type reached its end.
    pub fn note(&mut self, principal: &str, event_type: &str, reached: Reached) {
        self.principals
            .entry(principal.to_owned())
            .or_default()
            .insert(event_type.to_owned(), reached);
    }

    /// Replaces the record of `state`, whole and durably.
    pub fn save(&self, state: &Path) -> Result<()> {
        let path = path_for(state);
        let saving = || format!("saving {}", path.display());
        let mut text = serde_json::to_vec_pretty(&Listed {
            version: VERSION,
            principals: self.principals.clone(),
        })
        .map_err(|e| Error::io(saving(), e.into()))?;
        text.push(b'\n');
        durable::write_file(&path, saving, |file| {
            file.write_all(&text).map_err(|e| Error::io(saving(), e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_saved_beside_its_state_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        assert_eq!(Listed::load(&state), Listed::default(), "none yet");
        let mut listed = Listed::load(&state);
        let reached = Reached {
            from: "2026-07-01T00:00:00Z".into(),
            newest: None,
            at: "2026-07-16T00:00:00Z".into(),
        };
        listed.note("ws", "AUTH_LOG", reached.clone());
        listed.save(&state).unwrap();
        assert!(dir.path().join("s.json.listed").exists());
        assert_eq!(
            Listed::load(&state).reached("ws", "AUTH_LOG"),
            Some(&reached)
        );
        std::fs::write(dir.path().join("s.json.listed"), "{oops").unwrap();
        assert_eq!(Listed::load(&state), Listed::default(), "unreadable: empty");
    }
}
