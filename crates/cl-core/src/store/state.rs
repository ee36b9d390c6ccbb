//! The state file's contents: per principal and event type, the cursor up to which every file
//! was delivered, the files delivered beyond it, the failures and the parked files; read,
//! checked and written whole. What a run does with it is [`crate::store::checkpoint`].

use crate::error::{Error, Result};
use crate::model::line::FileRef;
use crate::model::timestamps::compare_instants;
use crate::store::durable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Version 2 added the failures and the parked files; version 1 files read as they are.
const VERSION: u32 = 2;

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
    /// Files that failed in earlier runs and are not parked yet: id → what is known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failing: BTreeMap<String, SetAside>,
    /// Files set aside so the cursor could move past them: id → what is known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parked: BTreeMap<String, SetAside>,
    /// Files a listing never asked for: one started after the cursor (see [`Gap`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
}

impl Progress {
    /// True when a file ending at `end` is delivered by the cursor alone: it ends before the
    /// cursor, and not within an open gap (whose files were never listed).
    pub(crate) fn cursor_covers(&self, end: &str) -> bool {
        let before = |than: &str| compare_instants(end, than).is_some_and(|o| o.is_lt());
        self.cursor.as_deref().is_some_and(before)
            && !self.gap.as_ref().is_some_and(|gap| gap.holds(end))
    }
}

impl Gap {
    /// True when a file ending at `end` lies in the gap: from its start to where the listing
    /// started, both included.
    fn holds(&self, end: &str) -> bool {
        compare_instants(end, &self.from).is_some_and(|o| o.is_ge())
            && compare_instants(end, &self.to).is_some_and(|o| o.is_le())
    }
}

/// A stretch of `end_time`s no listing asked for: the cursor was at `from` when a listing
/// arrived that started at `to`. Its files may be lost; it stays until a listing that starts
/// at or before `from` has been delivered past `to`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The cursor then.
    pub from: String,
    /// Where the listing started.
    pub to: String,
    /// When it was seen.
    pub seen: String,
}

/// A gap seen in this run, to be said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapSeen {
    /// Whose files, which type.
    pub principal: String,
    #[allow(missing_docs)]
    pub event_type: String,
    /// The cursor, and where the listing started.
    pub cursor: String,
    #[allow(missing_docs)]
    pub listed_after: String,
}

/// A file that failed, as the state remembers it: enough to fetch it again later.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    /// Its `end_time`, cursor, name, size and digest, as its listing gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub file_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub file_sha256: Option<String>,
    /// Runs it failed in.
    pub runs: u32,
    /// Why it failed last.
    pub why: String,
    /// When it failed first and last, and when it was parked.
    pub first_failed: String,
    #[allow(missing_docs)]
    pub last_failed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub parked_at: Option<String>,
}

impl SetAside {
    /// The cl-list line that fetches this file again (`principal` and `event_type` are the
    /// state's keys).
    pub fn line(&self, id: &str, principal: &str, event_type: &str) -> String {
        let mut line = serde_json::Map::new();
        line.insert("id".into(), id.into());
        line.insert("event_type".into(), event_type.into());
        let known = [
            ("end_time", self.end_time.clone().map(Into::into)),
            ("file_name", self.file_name.clone().map(Into::into)),
            ("file_size", self.file_size.map(Into::into)),
            ("file_sha256", self.file_sha256.clone().map(Into::into)),
            ("principal", Some(principal.into())),
            ("cursor", self.cursor.clone().map(Into::into)),
        ];
        for (name, value) in known {
            if let Some(value) = value {
                line.insert(name.into(), value);
            }
        }
        serde_json::Value::Object(line).to_string()
    }
}

/// A file parked in this run: which, after how many runs, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parked {
    /// The file id.
    pub id: String,
    /// Runs it failed in (0 when parked on request before any).
    pub runs: u32,
    /// Why it failed last, or that it was asked for.
    pub why: String,
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
        // Parked: behind the cursor, yet not delivered (a retry of the parked files fetches it).
        if progress.parked.contains_key(file.id.as_str()) {
            return false;
        }
        file.end_time
            .as_deref()
            .is_some_and(|end| progress.cursor_covers(end))
    }

    /// Every parked file: principal, event type, id and what is known.
    pub fn parked(&self) -> impl Iterator<Item = (&str, &str, &str, &SetAside)> {
        self.principals.iter().flat_map(|(principal, types)| {
            types.iter().flat_map(move |(event_type, progress)| {
                progress.parked.iter().map(move |(id, aside)| {
                    (principal.as_str(), event_type.as_str(), id.as_str(), aside)
                })
            })
        })
    }

    /// The cursor saved for a principal and event type.
    pub fn cursor(&self, principal: &str, event_type: &str) -> Option<&str> {
        self.principals
            .get(principal)?
            .get(event_type)?
            .cursor
            .as_deref()
    }

    /// Where the open gap of an event type begins (see [`Gap`]): the next listing starts
    /// there rather than at the cursor, so the files between are listed after all.
    pub fn gap_from(&self, principal: &str, event_type: &str) -> Option<&str> {
        self.principals
            .get(principal)?
            .get(event_type)?
            .gap
            .as_ref()
            .map(|g| g.from.as_str())
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
