//! The workers' side of delivery: getting one file ready for its turn. Downloaded and
//! verified into a spool (stdout, `--exec`, where the command is run at once), or written
//! under DIR with a temporary name for the delivery thread to commit; a verified copy already
//! in DIR is taken as it is.

use crate::error::{Error, Result};
use crate::fetch::deliver::Outcome;
use crate::fetch::download::{Verified, download, verify_existing};
use crate::fetch::events::{self, EventKey, Framing, Mark};
use crate::fetch::exec;
use crate::fetch::run::Destination;
use crate::model::line::FileRef;
use crate::model::sha256::HashingWriter;
use crate::net::Client;
use crate::net::retry::Retrier;
use crate::store::durable::{self, Unpersisted};
use crate::store::spool::{MemoryBudget, Spool};
use std::collections::HashSet;
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

/// What a worker (or the reader, for a line that needs no download) hands to the delivery
/// thread for one input line.
pub(crate) enum Prepared {
    /// Ready for its turn.
    Settled(Outcome),
    /// Written under DIR, not yet durable nor in place: committed with others first (see
    /// [`crate::fetch::commit`]).
    Written(Written),
}

/// A file written under DIR with a temporary name, waiting to be made durable and renamed
/// into place.
pub(crate) struct Written {
    pub(crate) file: FileRef,
    pub(crate) unpersisted: Unpersisted,
    pub(crate) path: PathBuf,
    pub(crate) verified: Verified,
    pub(crate) events: Option<u64>,
}

/// A verified file in its spool, and how it is written on: as served (ending in a newline),
/// or with `--events` one JSON value per line.
pub(crate) struct Staged {
    /// The file as served; with `--events`, already one JSON value per line.
    pub(crate) spool: Spool,
    pub(crate) verified: Verified,
    /// With `--events`: how many values the file holds (its framing already checked).
    pub(crate) events: Option<u64>,
    /// With `--dedup`: one mark per value, in order.
    pub(crate) marks: Vec<Mark>,
    /// With `--dedup`: the marks sorted out for the lookup.
    pub(crate) sorted: crate::store::dedup::Sorted,
}

impl Staged {
    /// Writes the file on, as the mode wants it.
    pub(crate) fn write_to(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        self.spool.copy_to(out)?;
        if self.events.is_none() && !self.verified.ends_with_newline {
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Writes on the values that `keep` says (one flag per mark), and hands each value left
    /// out to `dropped`. Runs of kept values are written whole, each in one copy; with
    /// `direct` (the regular file under `out`), a spilled file's runs are copied by the kernel.
    pub(crate) fn write_kept(
        &mut self,
        out: &mut dyn Write,
        direct: Option<&std::fs::File>,
        keep: &[bool],
        dropped: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()> {
        let direct = direct.filter(|_| self.spool.spilled());
        if direct.is_some() {
            out.flush()?;
        }
        let mut start = 0;
        let mut run = None;
        for (mark, keep) in self.marks.iter().zip(keep) {
            if *keep {
                run.get_or_insert(start);
            } else {
                if let Some(from) = run.take() {
                    self.spool.copy_range(from, start - from, out, direct)?;
                }
                let line = self.spool.read_range(start, mark.end - start)?;
                dropped(&line);
            }
            start = mark.end;
        }
        if let Some(from) = run {
            self.spool.copy_range(from, start - from, out, direct)?;
        }
        out.flush()
    }

    /// Hands each value that `keep` leaves out to `dropped`, reading nothing else.
    pub(crate) fn each_dropped(
        &mut self,
        keep: &[bool],
        dropped: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (mark, keep) in self.marks.iter().zip(keep) {
            if !*keep {
                dropped(&self.spool.read_range(start, mark.end - start)?);
            }
            start = mark.end;
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
    /// `--dedup`: each value is marked, and files are written on in the delivery thread, in
    /// input order, once it knows which values are new.
    dedup: bool,
}

impl Preparer {
    pub(crate) fn new(
        client: Arc<Client>,
        retry: Arc<Retrier>,
        destination: Destination,
        events: bool,
        dedup: bool,
    ) -> Self {
        Preparer {
            dedup,
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
    pub(crate) fn prepare(&self, file: FileRef, path: Option<PathBuf>) -> Prepared {
        let result = match (&self.destination, path) {
            // --dedup: written on at the file's turn (see Outcome::Held).
            (Destination::Exec(_), _) if self.dedup => self.staged(&file, true).map(|staged| {
                Prepared::Settled(Outcome::Held {
                    file: file.clone(),
                    staged,
                    path: None,
                })
            }),
            (Destination::Directory(..), Some(path)) if self.dedup => self
                .prepare_dir(&path)
                .and_then(|()| self.staged(&file, true))
                .map(|staged| {
                    Prepared::Settled(Outcome::Held {
                        file: file.clone(),
                        staged,
                        path: Some(path),
                    })
                }),
            (Destination::Exec(command), _) => self.staged(&file, true).and_then(|mut staged| {
                let (verified, events) = (staged.verified, staged.events);
                self.retry
                    .run(|| exec::hand_over(command, &file, &verified, &mut |w| staged.write_to(w)))
                    .map(|()| {
                        Prepared::Settled(Outcome::Handed {
                            file: file.clone(),
                            verified,
                            events,
                        })
                    })
            }),
            (Destination::Directory(..), Some(path)) => {
                // Re-framed files (--events) no longer match their listing: not trusted again.
                let existing = match self.events {
                    true => Ok(None),
                    false => verify_existing(&file, &path),
                };
                match existing {
                    Ok(Some(verified)) => Ok(Prepared::Settled(Outcome::Stored {
                        file: file.clone(),
                        path,
                        verified,
                        skipped: true,
                        events: None,
                    })),
                    Ok(None) => match self.events {
                        true => self
                            .store_events(&file, &path)
                            .map(|(u, v, n)| (u, v, Some(n))),
                        false => self
                            .retry
                            .run(|| self.store(&file, &path))
                            .map(|(u, v)| (u, v, None)),
                    }
                    .map(|(unpersisted, verified, events)| {
                        Prepared::Written(Written {
                            file: file.clone(),
                            unpersisted,
                            path,
                            verified,
                            events,
                        })
                    }),
                    Err(e) => Err(e),
                }
            }
            _ => self.staged(&file, false).map(|staged| {
                Prepared::Settled(Outcome::Ready {
                    file: file.clone(),
                    staged,
                })
            }),
        };
        result.unwrap_or_else(|error| Prepared::Settled(Outcome::failed(Some(file), error)))
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
        // Re-framed here, in the worker: the delivery thread only copies.
        let mut marks = Vec::new();
        let framing = self.events.then(|| {
            // Grown only as written: JSON Lines as served is not copied at all.
            let mut framed = Spool::new(SPOOL_PER_FILE, self.budget.clone());
            let keys = EventKey::new(
                file.principal.as_str(),
                file.event_type.as_deref().unwrap_or_default(),
            );
            let marked = self.dedup.then_some((&keys, &mut marks));
            // Values are written two small pieces at a time: buffered, not a call each.
            let mut buffered = std::io::BufWriter::with_capacity(256 << 10, &mut framed);
            let framing = events::reframe_lazily(&mut spool, &mut buffered, marked)
                .and_then(|done| buffered.flush().map(|()| done).map_err(Framing::Io));
            drop(buffered);
            framing.and_then(|done| {
                match done.as_served {
                    None => spool = framed,
                    Some(true) => spool.append(b"\n").map_err(Framing::Io)?,
                    Some(false) => {}
                }
                Ok(done.count)
            })
        });
        // They wait for the file's turn: no slack from growing.
        marks.shrink_to_fit();
        // Sorted out here, beside the other workers, not in the delivery thread.
        let sorted = match self.dedup {
            true => crate::store::dedup::Sorted::of(&marks)?,
            false => Default::default(),
        };
        let events = match framing {
            None => None,
            Some(framing) => match framing {
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
            marks,
            sorted,
        })
    }

    /// Stores one file at `path` as one JSON value per line (`--events`); what the manifest
    /// then shows is the stored file.
    fn store_events(&self, file: &FileRef, path: &Path) -> Result<(Unpersisted, Verified, u64)> {
        let mut staged = self.staged(file, true)?;
        let count = staged.events.unwrap_or(0);
        self.prepare_dir(path)?;
        let writing = || format!("writing {}", path.display());
        let (unpersisted, verified) = durable::write_unpersisted(path, writing, |temp| {
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
        Ok((unpersisted, verified, count))
    }

    /// Makes the directory a file goes into, cleared of what killed runs left there.
    fn prepare_dir(&self, path: &Path) -> Result<()> {
        let parent = durable::parent(path);
        crate::store::private::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        self.sweep_once(parent)
    }

    /// Downloads one file for `path` into a temporary file beside it, named later.
    fn store(&self, file: &FileRef, path: &Path) -> Result<(Unpersisted, Verified)> {
        self.prepare_dir(path)?;
        durable::write_unpersisted(
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
