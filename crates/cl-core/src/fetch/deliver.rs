//! The in-order side of delivery: each outcome, in its turn, written to the output (the
//! file's bytes, or its manifest line), counted, and only then recorded in the checkpoint.

use crate::error::{Error, Result};
use crate::fetch::download::Verified;
use crate::fetch::exec::{self, ExecCommand};
use crate::fetch::manifest::{ManifestLine, Status};
use crate::fetch::prepare::Staged;
use crate::fetch::sift::said_dropped;
use crate::model::file_id::FileId;
use crate::model::line::FileRef;
use crate::net::retry::Retrier;
use crate::observe::{Event, Observer};
use crate::store::checkpoint::Checkpoint;
use crate::store::dedup::Dedup;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// In directory mode the state is saved at most this often: a file stored under DIR is found
/// there whole by a rerun whatever the state says, so a save that comes later costs nothing
/// after a crash, and saving after every small batch would double the disk's flushes. Stdout
/// and `--exec`, where a file delivered and not yet recorded would be delivered twice, save
/// after every batch.
pub(crate) const SAVE_EVERY_IN_DIR: std::time::Duration = std::time::Duration::from_millis(500);

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files downloaded and delivered.
    pub downloaded: u64,
    /// Files already delivered: in the output directory and verified, or (stdout mode)
    /// recorded in the state file by an earlier run.
    pub skipped: u64,
    /// Input lines that repeated a file already taken.
    pub duplicates: u64,
    /// Files or lines that could not be delivered.
    pub failed: u64,
    /// Files parked in this run (see [`crate::store::checkpoint`]).
    pub parked: u64,
    /// Bytes delivered (downloaded and skipped files).
    pub bytes: u64,
    /// Events `--dedup` left out: delivered before, by another file or an earlier run.
    pub dropped_events: u64,
}

/// What became of one input line, waiting for its turn to be delivered.
pub(crate) enum Outcome {
    /// Downloaded and verified; it waits in a spool (stdout mode).
    Ready { file: FileRef, staged: Staged },
    /// Accepted by the `--exec` command.
    Handed {
        file: FileRef,
        verified: Verified,
        events: Option<u64>,
    },
    /// Stored under DIR, or found there whole already (directory mode).
    Stored {
        file: FileRef,
        path: PathBuf,
        verified: Verified,
        skipped: bool,
        events: Option<u64>,
    },
    /// Delivered by an earlier run, as the state file shows.
    AlreadyDelivered { file: FileRef },
    /// `--dedup`: downloaded, verified and re-framed, written on only at its turn, once the
    /// delivery thread knows which of its events are new: under DIR at `path`, else to the
    /// `--exec` command.
    Held {
        file: FileRef,
        staged: Staged,
        path: Option<PathBuf>,
    },
    /// A file already taken from an earlier line.
    Duplicate { id: FileId, line: u64 },
    /// A file to park without fetching it (`--park`).
    ParkAsked { file: FileRef },
    /// A file (or a line) that could not be delivered; the run goes on.
    Failed {
        /// The file, when the line could be read.
        file: Option<FileRef>,
        error: Error,
    },
    /// The input itself could not be read: stop after what came before.
    Fatal(Error),
}

impl Outcome {
    /// A failure: of this file alone, or `Fatal` when every other file would meet it too (a
    /// full disk), which stops the run.
    pub(crate) fn failed(file: Option<FileRef>, error: Error) -> Outcome {
        match error.is_systemic() {
            true => Outcome::Fatal(error),
            false => Outcome::Failed { file, error },
        }
    }
}

/// The in-order side: writes each outcome to the output, counts it, and records it in the
/// checkpoint only once it is out.
pub(crate) struct Delivery<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) observer: &'a dyn Observer,
    pub(crate) checkpoint: Option<Checkpoint>,
    pub(crate) summary: Summary,
    /// The output, when it is a regular file, to flush to disk before recording files.
    pub(crate) out_file: Option<File>,
    /// Where in `out_file` the disk was last asked to start writing (see
    /// [`Delivery::start_writeback`]).
    pub(crate) writeback_from: u64,
    /// How long saves of the state may wait after a batch (see [`SAVE_EVERY_IN_DIR`]).
    pub(crate) save_every: std::time::Duration,
    /// When the state was last saved.
    pub(crate) last_save: std::time::Instant,
    /// `--dedup`: the events delivered before.
    pub(crate) dedup: Option<Dedup>,
    /// `--exec` with `--dedup`: the command, and the retries of handing a file over.
    pub(crate) exec: Option<(ExecCommand, std::sync::Arc<Retrier>)>,
}

impl Delivery<'_> {
    /// Delivers the next outcome in input order. An `Err` ends the run.
    pub(crate) fn deliver(&mut self, outcome: Outcome) -> Result<()> {
        let delivered = self.deliver_one(outcome);
        if let Some(checkpoint) = &mut self.checkpoint {
            for gap in checkpoint.take_gaps() {
                self.observer.event(&Event::Gap {
                    event_type: &gap.event_type,
                    cursor: &gap.cursor,
                    listed_after: &gap.listed_after,
                });
            }
        }
        delivered
    }

    fn deliver_one(&mut self, outcome: Outcome) -> Result<()> {
        let writing = |e| Error::io("writing to stdout", e);
        match outcome {
            Outcome::Ready { file, mut staged } => {
                let verified = staged.verified;
                if !verified.checked {
                    let message = format!(
                        "{}: written unverified: no Content-Length, and no size or digest listed",
                        file.id
                    );
                    self.observer.event(&Event::Warning { message: &message });
                }
                if self.dedup.is_some() {
                    let (kept, dropped) = self.sift(&mut staged)?;
                    let out = &mut *self.out;
                    let observer = self.observer;
                    staged
                        .write_kept(out, self.out_file.as_ref(), &kept, &mut |line| {
                            said_dropped(observer, &file, line)
                        })
                        .map_err(writing)?;
                    self.out.flush().map_err(writing)?;
                    self.start_writeback();
                    self.remember(&file, &staged, &kept)?;
                    self.summary.dropped_events += dropped;
                    self.delivered(&file, verified.bytes, false);
                    return Ok(());
                }
                match &self.out_file {
                    // A spilled file goes from its spool to the output file in the kernel.
                    Some(direct) if staged.spool.spilled() => {
                        self.out.flush().map_err(writing)?;
                        staged.spool.copy_to_file(direct).map_err(writing)?;
                        if staged.events.is_none() && !verified.ends_with_newline {
                            self.out.write_all(b"\n").map_err(writing)?;
                        }
                    }
                    _ => staged.write_to(self.out).map_err(writing)?,
                }
                self.out.flush().map_err(writing)?;
                self.start_writeback();
                self.delivered(&file, verified.bytes, false);
            }
            // Under DIR, a file in place is an earlier run's delivery: kept as it is (its
            // events, now all delivered before, would leave it empty), its events remembered.
            Outcome::Held {
                file,
                mut staged,
                path: Some(path),
            } if path.exists() => {
                let verified = match self.adopt(&file, &path) {
                    Ok(verified) => verified,
                    Err(error) => return self.deliver_one(Outcome::failed(Some(file), error)),
                };
                let line = ManifestLine::new(&file, Some(&path), &verified, Status::Skipped, None);
                writeln!(self.out, "{}", line.to_json()).map_err(writing)?;
                self.out.flush().map_err(writing)?;
                staged.marks.clear();
                self.delivered(&file, verified.bytes, true);
            }
            Outcome::Held {
                file,
                mut staged,
                path,
            } => {
                let (kept, dropped) = self.sift(&mut staged)?;
                let observer = self.observer;
                let held = match (&path, &self.exec) {
                    (Some(path), _) => self.store_kept(&mut staged, &kept, path),
                    // Every event delivered before: nothing to hand over.
                    (None, Some(_)) if dropped > 0 && !kept.contains(&true) => Ok(None),
                    (None, Some((command, retry))) => retry
                        .run(|| {
                            let verified = staged.verified;
                            exec::hand_over(command, &file, &verified, &mut |w| {
                                staged.write_kept(w, None, &kept, &mut |_| {})
                            })
                        })
                        .map(|()| None),
                    (None, None) => Err(Error::io(
                        format!("delivering {}", file.id),
                        std::io::Error::other("no destination for a held file"),
                    )),
                };
                let verified = match held {
                    Ok(verified) => verified.unwrap_or(staged.verified),
                    Err(error) => return self.deliver_one(Outcome::failed(Some(file), error)),
                };
                // Said once the file is out: only then are its events left out for good.
                if dropped > 0 {
                    staged
                        .each_dropped(&kept, &mut |line| said_dropped(observer, &file, line))
                        .map_err(|e| Error::io(format!("reading {}", file.id), e))?;
                }
                self.remember(&file, &staged, &kept)?;
                self.summary.dropped_events += dropped;
                let status = match path {
                    Some(_) => Status::Downloaded,
                    None => Status::Delivered,
                };
                let line =
                    ManifestLine::new(&file, path.as_deref(), &verified, status, staged.events)
                        .with_duplicates(Some(dropped));
                writeln!(self.out, "{}", line.to_json()).map_err(writing)?;
                self.out.flush().map_err(writing)?;
                self.delivered(&file, verified.bytes, false);
            }
            Outcome::Handed {
                file,
                verified,
                events,
            } => {
                let line = ManifestLine::new(&file, None, &verified, Status::Delivered, events);
                writeln!(self.out, "{}", line.to_json()).map_err(writing)?;
                self.out.flush().map_err(writing)?;
                self.delivered(&file, verified.bytes, false);
            }
            Outcome::Stored {
                file,
                path,
                verified,
                skipped,
                events,
            } => {
                let status = match skipped {
                    true => Status::Skipped,
                    false => Status::Downloaded,
                };
                let line = ManifestLine::new(&file, Some(&path), &verified, status, events);
                writeln!(self.out, "{}", line.to_json()).map_err(writing)?;
                self.out.flush().map_err(writing)?;
                self.delivered(&file, verified.bytes, skipped);
            }
            // No manifest line: an earlier run delivered it (said with -v only).
            Outcome::AlreadyDelivered { file } => {
                self.summary.skipped += 1;
                self.summary.bytes += file.file_size.unwrap_or(0);
                self.observer.event(&Event::Covered {
                    id: file.id.as_str(),
                });
                if let Some(checkpoint) = &mut self.checkpoint {
                    checkpoint.record(&file, true);
                }
            }
            Outcome::Duplicate { id, line } => {
                self.summary.duplicates += 1;
                self.observer.event(&Event::Duplicate {
                    id: id.as_str(),
                    line,
                });
            }
            Outcome::Failed {
                error: Error::Interrupted,
                ..
            }
            | Outcome::Fatal(Error::Interrupted) => {
                return Err(Error::Interrupted);
            }
            Outcome::Failed { file, error } => {
                self.summary.failed += 1;
                self.observer.event(&Event::Failed { error: &error });
                if let Some(checkpoint) = &mut self.checkpoint {
                    match &file {
                        Some(file) => {
                            let why = error.to_string();
                            if let Some(parked) = checkpoint.failed(file, &why, false) {
                                self.summary.parked += 1;
                                self.told(&parked);
                            }
                        }
                        None => checkpoint.freeze(),
                    }
                }
            }
            Outcome::ParkAsked { file } => {
                if let Some(checkpoint) = &mut self.checkpoint
                    && let Some(parked) = checkpoint.failed(&file, "parked on request", true)
                {
                    self.summary.parked += 1;
                    self.told(&parked);
                }
            }
            Outcome::Fatal(error) => return Err(error),
        }
        Ok(())
    }

    fn told(&self, parked: &crate::store::checkpoint::Parked) {
        self.observer.event(&Event::Parked {
            id: &parked.id,
            runs: parked.runs,
            why: &parked.why,
        });
    }

    /// Ends a batch of deliveries: what was recorded is saved, once the files are durable
    /// where they went (a regular file as stdout is flushed to disk first; files under DIR
    /// were made durable before delivery; `--exec` accepted them). Called after every batch,
    /// and after a run stops for any reason, so what was delivered is never forgotten.
    pub(crate) fn end_batch(&mut self) -> Result<()> {
        self.save(false)
    }

    /// Saves what was recorded: at once when `now` or `save_every` is zero, else only once
    /// `save_every` has passed since the last save.
    pub(crate) fn save(&mut self, now: bool) -> Result<()> {
        let Some(checkpoint) = &mut self.checkpoint else {
            if let Some(dedup) = &mut self.dedup
                && (now || self.last_save.elapsed() >= self.save_every)
            {
                self.last_save = std::time::Instant::now();
                if let Some(file) = &self.out_file {
                    file.sync_data()
                        .map_err(|e| Error::io("flushing stdout to disk", e))?;
                }
                dedup.commit()?;
            }
            return Ok(());
        };
        if !checkpoint.is_dirty() || (!now && self.last_save.elapsed() < self.save_every) {
            return Ok(());
        }
        self.last_save = std::time::Instant::now();
        if let Some(file) = &self.out_file {
            file.sync_data()
                .map_err(|e| Error::io("flushing stdout to disk", e))?;
        }
        // The events' ids before the files' record: a crash between makes a file come again
        // (and deliver again what it delivered), never an event lost.
        if let Some(dedup) = &mut self.dedup {
            dedup.commit()?;
        }
        checkpoint.save()
    }

    /// Counts a delivered file and, only now that it is out, lets the checkpoint move.
    fn delivered(&mut self, file: &FileRef, bytes: u64, skipped: bool) {
        if skipped {
            self.summary.skipped += 1;
        } else {
            self.summary.downloaded += 1;
        }
        self.summary.bytes += bytes;
        self.observer.event(&Event::Delivered {
            id: file.id.as_str(),
            bytes,
            skipped,
        });
        if let Some(checkpoint) = &mut self.checkpoint {
            checkpoint.record(file, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::principal::Principal;
    use crate::observe::Silent;
    use crate::store::checkpoint::State;
    use crate::store::spool::{MemoryBudget, Spool};

    fn file(id: &str, end: &str) -> FileRef {
        FileRef {
            event_type: Some("AUTH_LOG".into()),
            end_time: Some(format!("2026-07-16T00:{end}:00+00:00")),
            cursor: Some("2026-07-16T00:02:00+00:00".into()),
            ..FileRef::bare(FileId::parse(id).unwrap(), Principal::parse("ws").unwrap())
        }
    }

    fn ready(id: &str, end: &str, bytes: &[u8]) -> Outcome {
        let mut spool = Spool::new(1 << 10, MemoryBudget::new(1 << 10));
        spool.write_all(bytes).unwrap();
        let staged = Staged {
            spool,
            verified: Verified {
                bytes: bytes.len() as u64,
                sha256: None,
                ends_with_newline: bytes.ends_with(b"\n"),
                checked: true,
            },
            events: None,
            marks: Vec::new(),
            sorted: Default::default(),
        };
        Outcome::Ready {
            file: file(id, end),
            staged,
        }
    }

    #[test]
    fn files_go_out_whole_each_ending_in_a_newline_and_are_recorded_once_out() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let mut out = Vec::new();
        let mut delivery = Delivery {
            out: &mut out,
            observer: &Silent,
            checkpoint: Some(Checkpoint::open(&state, 0).unwrap()),
            summary: Summary::default(),
            out_file: None,
            writeback_from: 0,
            save_every: std::time::Duration::ZERO,
            last_save: std::time::Instant::now(),
            dedup: None,
            exec: None,
        };
        delivery.deliver(ready("a", "01", b"{\"n\":1}")).unwrap();
        delivery.deliver(ready("b", "02", b"{\"n\":2}\n")).unwrap();
        let repeat = Outcome::Duplicate {
            id: FileId::parse("a").unwrap(),
            line: 3,
        };
        delivery.deliver(repeat).unwrap();
        assert_eq!(
            State::load(&state).unwrap(),
            State::default(),
            "not saved yet"
        );
        delivery.end_batch().unwrap();
        let summary = delivery.summary.clone();
        drop(delivery);
        assert_eq!(out, b"{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(
            summary,
            Summary {
                downloaded: 2,
                duplicates: 1,
                bytes: 15,
                ..Summary::default()
            }
        );
        let saved = State::load(&state).unwrap();
        assert_eq!(
            saved.cursor("ws", "AUTH_LOG"),
            Some("2026-07-16T00:02:00+00:00"),
            "the page's last file moved the cursor"
        );
    }

    #[test]
    fn a_failure_is_counted_and_holds_the_cursor_and_an_interruption_ends_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let mut out = Vec::new();
        let mut delivery = Delivery {
            out: &mut out,
            observer: &Silent,
            checkpoint: Some(Checkpoint::open(&state, 0).unwrap()),
            summary: Summary::default(),
            out_file: None,
            writeback_from: 0,
            save_every: std::time::Duration::ZERO,
            last_save: std::time::Instant::now(),
            dedup: None,
            exec: None,
        };
        let broken = Error::Integrity {
            context: "downloading a".into(),
            message: "size mismatch".into(),
        };
        delivery
            .deliver(Outcome::failed(Some(file("a", "01")), broken))
            .unwrap();
        let stored = Outcome::Stored {
            file: file("b", "02"),
            path: "d/b.jsonl".into(),
            verified: Verified {
                bytes: 4,
                sha256: None,
                ends_with_newline: true,
                checked: true,
            },
            skipped: true,
            events: None,
        };
        delivery.deliver(stored).unwrap();
        let stopped = delivery.deliver(Outcome::failed(None, Error::Interrupted));
        assert!(matches!(stopped, Err(Error::Interrupted)));
        delivery.end_batch().unwrap();
        assert_eq!((delivery.summary.failed, delivery.summary.skipped), (1, 1));
        drop(delivery);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.starts_with(
                r#"{"id":"b","path":"d/b.jsonl","bytes":4,"sha256":null,"status":"skipped""#
            ),
            "{line}"
        );
        assert_eq!(
            State::load(&state).unwrap().cursor("ws", "AUTH_LOG"),
            None,
            "a failed file of the page holds its cursor"
        );
    }

    #[test]
    fn only_failures_every_file_would_meet_stop_the_run() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(matches!(
            Outcome::failed(None, Error::io("writing", full)),
            Outcome::Fatal(_)
        ));
        let one = Error::Integrity {
            context: "x".into(),
            message: "y".into(),
        };
        assert!(matches!(Outcome::failed(None, one), Outcome::Failed { .. }));
    }
}
