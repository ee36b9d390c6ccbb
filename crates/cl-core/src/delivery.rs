//! What delivering a file means in each mode: its bytes on stdout (spooled until its turn), or
//! a file stored under DIR and a manifest line; in both, the count and the checkpoint record
//! that follow, strictly in input order.

use crate::api::Client;
use crate::checkpoint::Checkpoint;
use crate::download::{Verified, download, verify_existing};
use crate::durable;
use crate::error::{Error, Result};
use crate::events::{self, Framing};
use crate::exec;
use crate::layout::Layout;
use crate::line::{FileId, FileRef};
use crate::observe::{Event, Observer};
use crate::retry::Retrier;
use crate::sha256::HashingWriter;
use crate::spool::{MemoryBudget, Spool};
use serde_json::json;
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// A file waiting for its turn on stdout stays in memory up to this size, then spills to disk.
/// (Larger, with a budget to match, was measured: no faster for 15 MiB files at `-j 8`, and
/// the allocator then kept freed buffers, so peak RSS passed 64 MiB. See BENCHMARKS.md.)
const SPOOL_PER_FILE: usize = 1 << 20;
/// What all waiting files of a run may hold in memory together.
const SPOOL_BUDGET: usize = 16 << 20;

/// Where delivered files go.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Each file's bytes, in input order, to the output stream.
    Stdout,
    /// Each file into this directory, where the layout puts it; a manifest line per file to
    /// the output stream.
    Directory(PathBuf, Layout),
    /// Each file to this shell command, on its stdin; a manifest line per file the command
    /// accepted (exit 0) to the output stream.
    Exec(String),
}

impl Destination {
    /// Where a file goes: its path in directory mode (the error says why it has none).
    pub fn path_of(&self, file: &FileRef) -> Result<Option<PathBuf>, String> {
        match self {
            Destination::Directory(dir, layout) => layout.path(file).map(|p| Some(dir.join(p))),
            Destination::Stdout | Destination::Exec(_) => Ok(None),
        }
    }
}

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
    /// Bytes delivered (downloaded and skipped files).
    pub bytes: u64,
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
    /// Written under DIR with a temporary name, not yet on disk nor named: the delivery
    /// thread names such files in batches (see [`name_written`]), making them `Stored`.
    Written {
        file: FileRef,
        unnamed: durable::Unnamed,
        path: PathBuf,
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
    /// Delivered by an earlier run, as the state file shows; where it went, in directory mode.
    AlreadyDelivered {
        file: FileRef,
        path: Option<PathBuf>,
    },
    /// A file already taken from an earlier line.
    Duplicate { id: FileId, line: u64 },
    Failed {
        /// The file, when the line could be read.
        file: Option<FileRef>,
        error: Error,
    },
    /// The input itself could not be read: stop after what came before.
    Fatal(Error),
}

/// A verified file in its spool, and how it is written on: as served (ending in a newline),
/// or with `--events` one JSON value per line.
pub(crate) struct Staged {
    spool: Spool,
    verified: Verified,
    /// With `--events`: how many values the file holds (its framing already checked).
    events: Option<u64>,
}

impl Staged {
    /// Writes the file on, as the mode wants it.
    fn write_to(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.events.is_some() {
            return match events::reframe(&mut self.spool, out) {
                Ok(_) => Ok(()),
                Err(Framing::Io(e)) => Err(e),
                Err(Framing::Bad { offset, .. }) => Err(std::io::Error::other(format!(
                    "the spooled file changed after it was checked (at byte {offset})"
                ))),
            };
        }
        self.spool.copy_to(out)?;
        if !self.verified.ends_with_newline {
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// The download side of delivery, shared by the workers: gets one file ready for its turn.
pub(crate) struct Preparer {
    client: Arc<Client>,
    retry: Arc<Retrier>,
    destination: Destination,
    cancel: Arc<AtomicBool>,
    /// Directories already cleared of temporary files a killed run left behind.
    swept: Mutex<HashSet<PathBuf>>,
    /// Memory that waiting files share.
    budget: Arc<MemoryBudget>,
    /// `--events`: files go on as one JSON value per line.
    events: bool,
}

impl Preparer {
    pub(crate) fn new(
        client: Arc<Client>,
        retry: Arc<Retrier>,
        destination: Destination,
        events: bool,
    ) -> Self {
        Preparer {
            cancel: retry.cancel_flag().clone(),
            client,
            retry,
            destination,
            swept: Mutex::new(HashSet::new()),
            budget: MemoryBudget::new(SPOOL_BUDGET),
            events,
        }
    }

    /// Downloads `file` (retrying) into a spool, or stores it at `path` below DIR unless a
    /// verified copy is there already, or hands it to the `--exec` command. A failure that
    /// every file would meet (a full disk) stops the run.
    pub(crate) fn prepare(&self, file: FileRef, path: Option<PathBuf>) -> Outcome {
        let result = match (&self.destination, path) {
            (Destination::Exec(command), _) => self.staged(&file, true).and_then(|mut staged| {
                let (verified, events) = (staged.verified, staged.events);
                self.retry
                    .run(|| exec::hand_over(command, &file, &verified, &mut |w| staged.write_to(w)))
                    .map(|()| Outcome::Handed {
                        file: file.clone(),
                        verified,
                        events,
                    })
            }),
            (Destination::Directory(..), Some(path)) => {
                // Re-framed files (--events) no longer match their listing: not trusted again.
                let existing = match self.events {
                    true => Ok(None),
                    false => verify_existing(&file, &path),
                };
                match existing {
                    Ok(Some(verified)) => Ok(Outcome::Stored {
                        file: file.clone(),
                        path,
                        verified,
                        skipped: true,
                        events: None,
                    }),
                    Ok(None) => match self.events {
                        true => self
                            .store_events(&file, &path)
                            .map(|(u, v, n)| (u, v, Some(n))),
                        false => self
                            .retry
                            .run(|| self.store(&file, &path))
                            .map(|(u, v)| (u, v, None)),
                    }
                    .map(|(unnamed, verified, events)| Outcome::Written {
                        file: file.clone(),
                        unnamed,
                        path,
                        verified,
                        events,
                    }),
                    Err(e) => Err(e),
                }
            }
            _ => self.staged(&file, false).map(|staged| Outcome::Ready {
                file: file.clone(),
                staged,
            }),
        };
        match result {
            Ok(outcome) => outcome,
            Err(error) if error.is_systemic() => Outcome::Fatal(error),
            Err(error) => Outcome::Failed {
                file: Some(file),
                error,
            },
        }
    }

    /// Downloads `file` (retrying) into a spool, where it waits to be handed on; with
    /// `--events`, checks that it is a sequence of JSON values and counts them.
    fn staged(&self, file: &FileRef, digest: bool) -> Result<Staged> {
        let (mut spool, verified) = self.retry.run(|| {
            let budget = self.budget.clone();
            let mut spool = Spool::with_size(SPOOL_PER_FILE, budget, file.file_size);
            download(&self.client, file, &mut spool, digest, &self.cancel)
                .map(|verified| (spool, verified))
        })?;
        let events = match self.events {
            false => None,
            true => match events::reframe(&mut spool, &mut std::io::sink()) {
                Ok(count) => Some(count),
                Err(Framing::Io(e)) => return Err(Error::io(format!("reading {}", file.id), e)),
                Err(Framing::Bad { offset, why }) => {
                    return Err(Error::Framing {
                        context: format!("reading the events of {}", file.id),
                        offset,
                        why,
                    });
                }
            },
        };
        Ok(Staged {
            spool,
            verified,
            events,
        })
    }

    /// Stores one file at `path` as one JSON value per line (`--events`); what the manifest
    /// then shows is the stored file.
    fn store_events(
        &self,
        file: &FileRef,
        path: &Path,
    ) -> Result<(durable::Unnamed, Verified, u64)> {
        let mut staged = self.staged(file, true)?;
        let count = staged.events.unwrap_or(0);
        self.prepare_dir(path)?;
        let writing = || format!("writing {}", path.display());
        let (unnamed, verified) = durable::write_unnamed(path, writing, |temp| {
            let mut hashing = HashingWriter::new(temp);
            staged
                .write_to(&mut hashing)
                .map_err(|e| Error::io(writing(), e))?;
            let hasher = hashing.hasher;
            let (bytes, ends_with_newline) = (hasher.bytes(), hasher.ends_with_newline());
            Ok(Verified {
                bytes,
                sha256: hasher.finish(),
                ends_with_newline,
                checked: staged.verified.checked,
            })
        })?;
        Ok((unnamed, verified, count))
    }

    /// Makes the directory a file goes into, cleared of what killed runs left there.
    fn prepare_dir(&self, path: &Path) -> Result<()> {
        let parent = durable::parent(path);
        crate::private::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        self.sweep_once(parent)
    }

    /// Downloads one file for `path` into a temporary file beside it, named later.
    fn store(&self, file: &FileRef, path: &Path) -> Result<(durable::Unnamed, Verified)> {
        self.prepare_dir(path)?;
        durable::write_unnamed(
            path,
            || format!("writing {}", path.display()),
            // The manifest prints the digest, so directory mode always computes it.
            |temp| download(&self.client, file, temp, true, &self.cancel),
        )
    }

    /// Clears a directory of temporary files that killed runs left, once per run.
    fn sweep_once(&self, dir: &Path) -> Result<()> {
        let first = self
            .swept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_owned());
        if first {
            durable::sweep(dir, None).map_err(|e| {
                Error::io(
                    format!("clearing old temporary files in {}", dir.display()),
                    e,
                )
            })?;
        }
        Ok(())
    }
}

/// Names, together, the files of `batch` that workers wrote but did not name (group
/// commit: see [`durable::name_all`]). Done as outcomes arrive, whatever their order, so the
/// disk's flushes overlap the downloads and a file waiting for its turn holds no descriptor.
pub(crate) fn name_written(batch: &mut [(u64, Outcome)]) {
    let written: Vec<usize> = (0..batch.len())
        .filter(|&i| matches!(batch[i].1, Outcome::Written { .. }))
        .collect();
    if written.is_empty() {
        return;
    }
    let mut unnamed = Vec::with_capacity(written.len());
    let mut rest = Vec::with_capacity(written.len());
    for &i in &written {
        let taken = std::mem::replace(&mut batch[i].1, Outcome::Fatal(Error::Interrupted));
        if let Outcome::Written {
            file,
            unnamed: u,
            path,
            verified,
            events,
        } = taken
        {
            unnamed.push(u);
            rest.push((file, path, verified, events));
        }
    }
    let results = durable::name_all(unnamed);
    for ((&i, (file, path, verified, events)), result) in written.iter().zip(rest).zip(results) {
        batch[i].1 = match result {
            Ok(()) => Outcome::Stored {
                file,
                path,
                verified,
                skipped: false,
                events,
            },
            Err(error) if error.is_systemic() => Outcome::Fatal(error),
            Err(error) => Outcome::Failed {
                file: Some(file),
                error,
            },
        };
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
    /// The output carries manifest lines (directory and `--exec` modes).
    pub(crate) manifest: bool,
}

impl Delivery<'_> {
    /// Delivers the next outcome in input order. An `Err` ends the run.
    pub(crate) fn deliver(&mut self, outcome: Outcome) -> Result<()> {
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
                match &self.out_file {
                    // A spilled file goes from its spool to the output file in the kernel.
                    Some(direct) if staged.events.is_none() && staged.spool.spilled() => {
                        self.out.flush().map_err(writing)?;
                        staged.spool.copy_to_file(direct).map_err(writing)?;
                        if !verified.ends_with_newline {
                            self.out.write_all(b"\n").map_err(writing)?;
                        }
                    }
                    _ => staged.write_to(self.out).map_err(writing)?,
                }
                self.out.flush().map_err(writing)?;
                // Recorded as delivered only once on disk, where the output is a file.
                if let (Some(_), Some(file)) = (&self.checkpoint, &self.out_file) {
                    file.sync_data()
                        .map_err(|e| Error::io("flushing stdout to disk", e))?;
                }
                self.delivered(&file, verified.bytes, false)?;
            }
            Outcome::Handed {
                file,
                verified,
                events,
            } => {
                let line = manifest_line(&file, None, &verified, "delivered", events);
                writeln!(self.out, "{line}").map_err(writing)?;
                self.out.flush().map_err(writing)?;
                self.delivered(&file, verified.bytes, false)?;
            }
            Outcome::Stored {
                file,
                path,
                verified,
                skipped,
                events,
            } => {
                let status = if skipped { "skipped" } else { "downloaded" };
                let line = manifest_line(&file, Some(&path), &verified, status, events);
                writeln!(self.out, "{line}").map_err(writing)?;
                self.out.flush().map_err(writing)?;
                self.delivered(&file, verified.bytes, skipped)?;
            }
            Outcome::AlreadyDelivered { file, path } => {
                let listed = Verified {
                    bytes: file.file_size.unwrap_or(0),
                    sha256: file.file_sha256,
                    ends_with_newline: true,
                    checked: true,
                };
                if path.is_some() || self.manifest {
                    let line = manifest_line(&file, path.as_deref(), &listed, "skipped", None);
                    writeln!(self.out, "{line}").map_err(writing)?;
                    self.out.flush().map_err(writing)?;
                }
                self.delivered(&file, listed.bytes, true)?;
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
                        Some(file) => checkpoint.record(file, false)?,
                        None => checkpoint.freeze(),
                    }
                }
            }
            Outcome::Fatal(error) => return Err(error),
            // Named by `name_written` before any outcome is delivered.
            Outcome::Written { file, .. } => {
                return Err(Error::io(
                    format!("delivering {}", file.id),
                    std::io::Error::other("a file was delivered before it was named"),
                ));
            }
        }
        Ok(())
    }

    /// Counts a delivered file and, only now that it is out, lets the checkpoint move.
    fn delivered(&mut self, file: &FileRef, bytes: u64, skipped: bool) -> Result<()> {
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
        match &mut self.checkpoint {
            Some(checkpoint) => checkpoint.record(file, true),
            None => Ok(()),
        }
    }
}

/// A path as the manifest shows it: with `/` between its parts on every system, so one
/// script reads manifests from Linux and Windows alike (Windows takes `/` too).
fn manifest_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if cfg!(windows) {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

/// The manifest line of a file stored under DIR (`path`) or handed to `--exec`, with its count
/// of events under `--events`.
fn manifest_line(
    file: &FileRef,
    path: Option<&Path>,
    verified: &Verified,
    status: &str,
    events: Option<u64>,
) -> String {
    let mut line = serde_json::Map::new();
    line.insert("id".into(), file.id.as_str().into());
    if let Some(path) = path {
        line.insert("path".into(), manifest_path(path).into());
    }
    let rest = json!({
        "bytes": verified.bytes,
        "sha256": verified.sha256.map(|d| d.to_string()),
        "status": status,
        "event_type": file.event_type,
        "principal": file.principal.as_str(),
        "end_time": file.end_time,
        "cursor": file.cursor,
        "verified": verified.checked,
    });
    if let serde_json::Value::Object(rest) = rest {
        line.extend(rest);
    }
    if let Some(events) = events {
        line.insert("events".into(), events.into());
    }
    serde_json::Value::Object(line).to_string()
}
