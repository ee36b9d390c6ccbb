//! The delivery thread's part of `--dedup`: which events of a file go out, remembering the
//! ones that did, and under DIR a file's kept events stored whole, or an earlier run's file
//! adopted as it is. Also where a regular stdout is asked to start writing to disk.

use crate::error::{Error, Result};
use crate::fetch::deliver::Delivery;
use crate::fetch::download::Verified;
use crate::fetch::prepare::Staged;
use crate::model::line::FileRef;
use crate::observe::{Event, Observer};
use crate::store::dedup;
use crate::store::durable;

impl Delivery<'_> {
    /// With a regular file as stdout that the next save flushes to disk (`--state`,
    /// `--dedup`): has the disk start on what was written since the last call, every few
    /// MiB, so that flush overlaps the downloads instead of following them.
    pub(crate) fn start_writeback(&mut self) {
        let Some(file) = &self.out_file else {
            return;
        };
        if self.checkpoint.is_none() && self.dedup.is_none() {
            return;
        }
        use std::io::Seek;
        let Ok(at) = (&*file).stream_position() else {
            return;
        };
        if at.saturating_sub(self.writeback_from) >= durable::WRITEBACK_EVERY {
            durable::start_writeback(file, self.writeback_from, at - self.writeback_from);
            self.writeback_from = at;
        }
    }

    /// `--dedup`: which events of a file to deliver, and how many are left out.
    pub(crate) fn sift(&mut self, staged: &mut Staged) -> Result<(Vec<bool>, u64)> {
        let Some(dedup) = &mut self.dedup else {
            return Ok((vec![true; staged.marks.len()], 0));
        };
        let kept = dedup.keep_sorted(&staged.marks, &staged.sorted)?;
        let dropped = kept.iter().filter(|k| !**k).count() as u64;
        Ok((kept, dropped))
    }

    /// `--dedup`: remembers the events a delivered file delivered.
    pub(crate) fn remember(
        &mut self,
        file: &FileRef,
        staged: &Staged,
        kept: &[bool],
    ) -> Result<()> {
        let Some(dedup) = &mut self.dedup else {
            return Ok(());
        };
        let carrier = dedup::carrier(file.principal.as_str(), file.id.as_str());
        let fallback = file
            .end_time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(jiff::Timestamp::now)
            .as_second();
        dedup.delivered_sorted(carrier, &staged.marks, &staged.sorted, kept, fallback)
    }

    /// `--dedup` under DIR: a file an earlier run stored at `path`: its digest for the
    /// manifest, and its events remembered (a crash may have come before they were).
    pub(crate) fn adopt(&mut self, file: &FileRef, path: &std::path::Path) -> Result<Verified> {
        let reading = || format!("reading {}", path.display());
        let keys = crate::fetch::events::EventKey::new(
            file.principal.as_str(),
            file.event_type.as_deref().unwrap_or_default(),
        );
        let mut marks = Vec::new();
        crate::fetch::events::reframe_marked(
            &mut { path },
            &mut std::io::sink(),
            Some((&keys, &mut marks)),
        )
        .map_err(|e| match e {
            crate::fetch::events::Framing::Io(e) => Error::io(reading(), e),
            crate::fetch::events::Framing::Bad { offset, why } => Error::Framing {
                context: reading(),
                offset,
                why,
            },
        })?;
        let mut hasher_bytes = std::fs::File::open(path).map_err(|e| Error::io(reading(), e))?;
        let mut sink = std::io::sink();
        let mut digest = crate::model::sha256::HashingWriter::new(&mut sink);
        std::io::copy(&mut hasher_bytes, &mut digest).map_err(|e| Error::io(reading(), e))?;
        let hasher = digest.hasher;
        let kept = vec![true; marks.len()];
        if let Some(dedup) = &mut self.dedup {
            let carrier = dedup::carrier(file.principal.as_str(), file.id.as_str());
            let fallback = jiff::Timestamp::now().as_second();
            dedup.delivered(carrier, &marks, &kept, fallback)?;
        }
        let (bytes, ends_with_newline) = (hasher.bytes(), hasher.ends_with_newline());
        Ok(Verified {
            bytes,
            sha256: hasher.finish(),
            ends_with_newline,
            checked: true,
        })
    }

    /// `--dedup` under DIR: writes the kept events of a file at `path`, whole and durable;
    /// what the manifest then shows is the stored file.
    pub(crate) fn store_kept(
        &self,
        staged: &mut Staged,
        kept: &[bool],
        path: &std::path::Path,
    ) -> Result<Option<Verified>> {
        let writing = || format!("writing {}", path.display());
        let checked = staged.verified.checked;
        durable::write_file(path, writing, |temp| {
            let mut hashing = crate::model::sha256::HashingWriter::new(temp);
            staged
                .write_kept(&mut hashing, None, kept, &mut |_| {})
                .map_err(|e| Error::io(writing(), e))?;
            let hasher = hashing.hasher;
            let (bytes, ends_with_newline) = (hasher.bytes(), hasher.ends_with_newline());
            Ok(Some(Verified {
                bytes,
                sha256: hasher.finish(),
                ends_with_newline,
                checked,
            }))
        })
    }
}

/// Says, with -v, which event `--dedup` left out of a file (its `event_id`, else its bytes'
/// digest).
pub(crate) fn said_dropped(observer: &dyn Observer, file: &FileRef, line: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow, default)]
        event_id: Option<&'a serde_json::value::RawValue>,
    }
    let id = serde_json::from_slice::<Id<'_>>(line)
        .ok()
        .and_then(|i| i.event_id.map(|r| r.get().trim_matches('"').to_owned()));
    let event = id.unwrap_or_else(|| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(line.strip_suffix(b"\n").unwrap_or(line));
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    });
    observer.event(&Event::DuplicateEvent {
        id: file.id.as_str(),
        event: &event,
    });
}
