//! Fetching many files at once and delivering each whole and verified, in input order.
//!
//! A reader thread parses input as it arrives and hands files to `jobs` workers; each worker
//! downloads one file through a hasher into a spool (stdout) or a temporary file beside its
//! final name (directory). The calling thread delivers finished files strictly in input
//! order. A window bounds how far downloads may run ahead of delivery.

use crate::api::Client;
use crate::checkpoint::{Checkpoint, State};
use crate::error::{Error, Result};
use crate::input::{FileRef, parse_line};
use crate::layout::Layout;
use crate::observe::{Event, Observer};
use crate::principal::Principal;
use crate::retry::Retrier;
use crate::sha256::{Hasher, Sha256Digest};
use crate::spool::{MemoryBudget, Spool};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// Read and hash in chunks of this size; no whole-file buffer exists anywhere.
const CHUNK: usize = 256 << 10;
/// A file waiting for its turn on stdout stays in memory up to this size, then spills to disk.
const SPOOL_PER_FILE: usize = 1 << 20;
/// What all waiting files of a run may hold in memory together.
const SPOOL_BUDGET: usize = 16 << 20;
/// How often blocked threads look at the cancel flag.
const POLL: Duration = Duration::from_millis(100);

/// Where delivered files go.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Each file's bytes, in input order, to the output stream.
    Stdout,
    /// Each file into this directory, where the layout puts it; a manifest line per file to
    /// the output stream.
    Directory(PathBuf, Layout),
}

/// Where the list of files comes from.
pub enum Input {
    /// Command-line arguments, labelled `argument N` in messages.
    Arguments(Vec<String>),
    /// Lines of a stream (stdin), labelled `line N` in messages.
    Lines(Box<dyn BufRead + Send>),
}

/// How to run a fetch.
pub struct FetchOptions {
    /// Downloads in flight.
    pub jobs: usize,
    /// Where files go.
    pub destination: Destination,
    /// Principal for bare ids.
    pub principal: Option<Principal>,
    /// Where to keep the checkpoint (`--state`), if anywhere.
    pub state: Option<PathBuf>,
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

struct Task {
    seq: u64,
    file: FileRef,
    /// Below the output directory, in directory mode.
    path: Option<PathBuf>,
}

enum Outcome {
    Ready {
        file: FileRef,
        spool: Spool,
        verified: Verified,
    },
    Stored {
        file: FileRef,
        path: PathBuf,
        verified: Verified,
        skipped: bool,
    },
    /// Delivered by an earlier run, as the state file shows (stdout mode).
    AlreadyDelivered {
        file: FileRef,
    },
    Duplicate {
        id: String,
        line: u64,
    },
    Failed {
        /// The file, when the line could be read.
        file: Option<FileRef>,
        error: Error,
    },
    /// The input itself could not be read: stop after what came before.
    Fatal(Error),
}

struct Verified {
    bytes: u64,
    /// Computed when something compares or prints it.
    sha256: Option<Sha256Digest>,
    ends_with_newline: bool,
}

/// Lets the reader run at most `size` files ahead of delivery.
struct Window {
    next: Mutex<u64>,
    moved: Condvar,
    size: u64,
}

impl Window {
    fn wait_turn(&self, seq: u64, cancel: &AtomicBool) -> bool {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        while seq >= *next + self.size {
            if cancel.load(Ordering::Relaxed) {
                return false;
            }
            next = self
                .moved
                .wait_timeout(next, POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        !cancel.load(Ordering::Relaxed)
    }

    fn advance(&self, next: u64) {
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = next;
        self.moved.notify_all();
    }
}

/// Fetches every file named by `input` and delivers it to `destination`, writing file bytes
/// (stdout mode) or manifest lines (directory mode) to `out`. Per-file failures are reported
/// through the observer and counted; the run goes on. The summary comes back in every case,
/// with an `Err` when the run itself could not go on (output closed, input unreadable,
/// cancelled). The outer `Err` means it could not start (a state file in use).
pub fn run(
    client: Arc<Client>,
    retry: Arc<Retrier>,
    observer: Arc<dyn Observer>,
    options: FetchOptions,
    input: Input,
    out: &mut dyn Write,
) -> Result<(Summary, Result<()>)> {
    // `xargs -n 1 cl-fetch` runs are common: no more threads than there are ids to fetch.
    let jobs = match &input {
        Input::Arguments(ids) => options.jobs.min(ids.len()),
        Input::Lines(_) => options.jobs,
    }
    .max(1);
    let checkpoint = options.state.as_deref().map(Checkpoint::open).transpose()?;
    // Stdout mode skips files the state shows delivered; a directory checks its own files.
    let earlier = match (&checkpoint, &options.destination) {
        (Some(cp), Destination::Stdout) => Some(Arc::new(cp.state().clone())),
        _ => None,
    };
    let window = Arc::new(Window {
        next: Mutex::new(1),
        moved: Condvar::new(),
        // Finished files wait in a memory budget or spool files, so the window can be wide:
        // a slow file holds back the output behind it, not the downloads.
        size: (jobs as u64 * 8).max(256),
    });
    // The client's flag: a signal stops requests, waits and this pipeline alike.
    let cancel = retry.cancel_flag().clone();
    let (task_tx, task_rx) = mpsc::channel::<Task>();
    let (done_tx, done_rx) = mpsc::channel::<(u64, Outcome)>();

    // Detached: it may be blocked reading stdin when the run ends early.
    {
        let reader = Reader {
            observer: observer.clone(),
            principal: options.principal.clone(),
            earlier,
            layout: match &options.destination {
                Destination::Directory(_, layout) => Some(layout.clone()),
                Destination::Stdout => None,
            },
            window: window.clone(),
            cancel: cancel.clone(),
            tasks: task_tx,
            done: done_tx.clone(),
        };
        thread::Builder::new()
            .name("input".into())
            .spawn(move || reader.run(input))
            .map_err(|e| Error::io("starting the input reader", e))?;
    }

    let task_rx = Arc::new(Mutex::new(task_rx));
    let swept = Arc::new(Mutex::new(HashSet::new()));
    let budget = MemoryBudget::new(SPOOL_BUDGET);
    let mut workers = Vec::with_capacity(jobs);
    for n in 0..jobs {
        let worker = Worker {
            client: client.clone(),
            retry: retry.clone(),
            destination: options.destination.clone(),
            cancel: cancel.clone(),
            swept: swept.clone(),
            budget: budget.clone(),
        };
        let tasks = task_rx.clone();
        let done = done_tx.clone();
        let handle = thread::Builder::new()
            .name(format!("fetch-{n}"))
            .spawn(move || worker.run(&tasks, &done))
            .map_err(|e| Error::io("starting a download worker", e))?;
        workers.push(handle);
    }
    drop(done_tx);

    let mut delivery = Delivery {
        out,
        observer: observer.as_ref(),
        checkpoint,
        summary: Summary::default(),
    };
    let result = deliver_in_order(&done_rx, &window, &cancel, &mut delivery);
    if result.is_err() {
        cancel.store(true, Ordering::Relaxed);
    }
    // Workers notice the cancel within a chunk or a poll; one blocked on a silent server is
    // left behind rather than holding up the exit (its temporary file is swept next run).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    for worker in workers {
        while !worker.is_finished() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if worker.is_finished() {
            let _ = worker.join();
        }
    }
    Ok((delivery.summary, result))
}

fn deliver_in_order(
    done: &Receiver<(u64, Outcome)>,
    window: &Window,
    cancel: &AtomicBool,
    delivery: &mut Delivery<'_>,
) -> Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 1u64;
    loop {
        match done.recv_timeout(POLL) {
            Ok((seq, outcome)) => {
                pending.insert(seq, outcome);
                while let Some(outcome) = pending.remove(&next) {
                    delivery.deliver(outcome)?;
                    next += 1;
                    window.advance(next);
                }
            }
            Err(RecvTimeoutError::Timeout) if cancel.load(Ordering::Relaxed) => {
                return Err(Error::Interrupted);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

struct Reader {
    observer: Arc<dyn Observer>,
    principal: Option<Principal>,
    earlier: Option<Arc<State>>,
    /// Directory mode: where files go.
    layout: Option<Layout>,
    window: Arc<Window>,
    cancel: Arc<AtomicBool>,
    tasks: Sender<Task>,
    done: Sender<(u64, Outcome)>,
}

impl Reader {
    fn run(self, input: Input) {
        let mut seq = 0u64;
        let mut seen = HashSet::new();
        let mut each = |label: String, number: u64, line: io::Result<Option<String>>| -> bool {
            let parsed = match line {
                Ok(Some(text)) => match parse_line(&text, self.principal.as_ref()) {
                    Ok(None) => return true,
                    Ok(Some(file)) => Ok(file),
                    Err(message) => Err(Error::Input {
                        label: label.clone(),
                        message,
                    }),
                },
                Ok(None) => Err(Error::Input {
                    label: label.clone(),
                    message: "not valid UTF-8".to_owned(),
                }),
                Err(e) => {
                    seq += 1;
                    let fatal = Outcome::Fatal(Error::io("reading the input", e));
                    let _ = self.done.send((seq, fatal));
                    return false;
                }
            };
            seq += 1;
            if !self.window.wait_turn(seq, &self.cancel) {
                return false;
            }
            let outcome = match parsed {
                Err(error) => Outcome::Failed { file: None, error },
                Ok(file) if !seen.insert((file.principal.clone(), file.id.clone())) => {
                    Outcome::Duplicate {
                        id: file.id,
                        line: number,
                    }
                }
                Ok(file)
                    if self
                        .earlier
                        .as_ref()
                        .is_some_and(|s| s.delivered_before(&file)) =>
                {
                    Outcome::AlreadyDelivered { file }
                }
                Ok(file) => {
                    let path = match self.layout.as_ref().map(|layout| layout.path(&file)) {
                        None => None,
                        Some(Ok(path)) => Some(path),
                        Some(Err(message)) => {
                            let error = Error::Input { label, message };
                            let failed = Outcome::Failed {
                                file: Some(file),
                                error,
                            };
                            return self.done.send((seq, failed)).is_ok();
                        }
                    };
                    self.observer.event(&Event::Queued {
                        bytes: file.file_size,
                    });
                    return self.tasks.send(Task { seq, file, path }).is_ok();
                }
            };
            self.done.send((seq, outcome)).is_ok()
        };
        match input {
            Input::Arguments(args) => {
                for (i, arg) in args.into_iter().enumerate() {
                    let n = i as u64 + 1;
                    if !each(format!("argument {n}"), n, Ok(Some(arg))) {
                        return;
                    }
                }
            }
            Input::Lines(mut reader) => {
                let mut buf = Vec::new();
                for n in 1u64.. {
                    buf.clear();
                    let line = match reader.read_until(b'\n', &mut buf) {
                        Ok(0) => return,
                        Ok(_) => Ok(String::from_utf8(std::mem::take(&mut buf)).ok()),
                        Err(e) => Err(e),
                    };
                    if !each(format!("line {n}"), n, line) {
                        return;
                    }
                }
            }
        }
    }
}

struct Worker {
    client: Arc<Client>,
    retry: Arc<Retrier>,
    destination: Destination,
    cancel: Arc<AtomicBool>,
    /// Directories already cleared of temporary files a killed run left behind.
    swept: Arc<Mutex<HashSet<PathBuf>>>,
    /// Memory that waiting files share.
    budget: Arc<MemoryBudget>,
}

impl Worker {
    fn run(&self, tasks: &Mutex<Receiver<Task>>, done: &Sender<(u64, Outcome)>) {
        loop {
            let task = {
                let tasks = tasks.lock().unwrap_or_else(|e| e.into_inner());
                tasks.recv_timeout(POLL)
            };
            match task {
                Ok(task) => {
                    let seq = task.seq;
                    let outcome = self.fetch(task);
                    if done.send((seq, outcome)).is_err() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) if self.cancel.load(Ordering::Relaxed) => return,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn fetch(&self, task: Task) -> Outcome {
        let file = task.file;
        let client = &self.client;
        let result = match (&self.destination, task.path) {
            (Destination::Directory(dir, _), Some(path)) => {
                let path = dir.join(path);
                match verify_existing(&file, &path) {
                    Ok(Some(verified)) => Ok((verified, true)),
                    Ok(None) => self
                        .retry
                        .run(|| self.store(&file, &path))
                        .map(|v| (v, false)),
                    Err(e) => Err(e),
                }
                .map(|(verified, skipped)| Outcome::Stored {
                    file: file.clone(),
                    path,
                    verified,
                    skipped,
                })
            }
            _ => self
                .retry
                .run(|| {
                    let mut spool = Spool::new(SPOOL_PER_FILE, self.budget.clone());
                    let digest = file.file_sha256.is_some();
                    download_verified(client, &file, &mut spool, digest, &self.cancel)
                        .map(|verified| (spool, verified))
                })
                .map(|(spool, verified)| Outcome::Ready {
                    file: file.clone(),
                    spool,
                    verified,
                }),
        };
        result.unwrap_or_else(|error| Outcome::Failed {
            file: Some(file),
            error,
        })
    }

    /// Downloads one file to `path` through a temporary name beside it.
    fn store(&self, file: &FileRef, path: &Path) -> Result<Verified> {
        let parent = path.parent().unwrap_or(Path::new("."));
        crate::fsutil::create_private_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        self.sweep_once(parent)?;
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", file.id))
            .suffix(".part")
            .tempfile_in(parent)
            .map_err(|e| {
                Error::io(
                    format!("creating a temporary file in {}", parent.display()),
                    e,
                )
            })?;
        // Log contents are sensitive: owner-only, whatever the umask.
        crate::fsutil::make_private(temp.path(), 0o600)
            .map_err(|e| Error::io(format!("protecting {}", temp.path().display()), e))?;
        // Held while writing: the sweep of a later run leaves a locked file alone.
        let _ = temp.as_file().try_lock();
        // The manifest prints the digest, so directory mode always computes it.
        let verified =
            download_verified(&self.client, file, temp.as_file_mut(), true, &self.cancel)?;
        let writing = || format!("writing {}", path.display());
        temp.as_file()
            .sync_all()
            .map_err(|e| Error::io(writing(), e))?;
        temp.persist(path)
            .map_err(|e| Error::io(writing(), e.error))?;
        crate::fsutil::sync_dir(parent).map_err(|e| Error::io(writing(), e))?;
        Ok(verified)
    }
}

impl Worker {
    fn sweep_once(&self, dir: &Path) -> Result<()> {
        let first = self
            .swept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_owned());
        if first {
            crate::fsutil::sweep_stale_parts(dir).map_err(|e| {
                Error::io(
                    format!("clearing old temporary files in {}", dir.display()),
                    e,
                )
            })?;
        }
        Ok(())
    }
}

/// A file already at its final name is whole (only verified files are renamed there); it is
/// kept when it also matches what the listing promised.
fn verify_existing(file: &FileRef, path: &Path) -> Result<Option<Verified>> {
    let meta = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        _ => return Ok(None),
    };
    if file.file_size.is_some_and(|size| size != meta.len()) {
        return Ok(None);
    }
    let reading = |e| Error::io(format!("reading {}", path.display()), e);
    let mut existing = File::open(path).map_err(reading)?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = existing.read(&mut buf).map_err(reading)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let bytes = hasher.bytes();
    let ends_with_newline = hasher.ends_with_newline();
    let sha256 = hasher.finish();
    if file.file_sha256.is_some_and(|want| Some(want) != sha256) {
        return Ok(None);
    }
    Ok(Some(Verified {
        bytes,
        sha256,
        ends_with_newline,
    }))
}

/// Downloads one file into `sink`, hashing on the way, and checks it against `Content-Length`
/// and the listing's `file_size` and `file_sha256`.
fn download_verified(
    client: &Client,
    file: &FileRef,
    sink: &mut dyn Write,
    digest: bool,
    cancel: &AtomicBool,
) -> Result<Verified> {
    let context = format!("downloading {}", file.id);
    let mut download = client.open_download(&file.principal, &file.id)?;
    let mut hasher = Hasher::new(digest);
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let n = match download.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let of = download
                    .content_length
                    .map(|n| format!(" of {n}"))
                    .unwrap_or_default();
                return Err(Error::Transport {
                    context,
                    message: format!(
                        "the transfer broke off after {}{of} bytes: {}",
                        hasher.bytes(),
                        client.describe(ureq::Error::from(e))
                    ),
                });
            }
        };
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n])
            .map_err(|e| Error::io(format!("buffering {}", file.id), e))?;
    }
    let bytes = hasher.bytes();
    let ends_with_newline = hasher.ends_with_newline();
    let sha256 = hasher.finish();
    let mismatch = |message: String| Error::Integrity {
        context: context.clone(),
        message,
    };
    if let Some(expected) = download.content_length.filter(|&n| n != bytes) {
        return Err(mismatch(format!(
            "Content-Length said {expected} bytes but {bytes} arrived"
        )));
    }
    if let Some(expected) = file.file_size.filter(|&n| n != bytes) {
        return Err(mismatch(format!(
            "size mismatch: the listing says {expected} bytes, got {bytes}"
        )));
    }
    if let (Some(expected), Some(got)) = (file.file_sha256, sha256)
        && expected != got
    {
        return Err(mismatch(format!(
            "sha256 mismatch: the listing says {expected}, got {got}"
        )));
    }
    Ok(Verified {
        bytes,
        sha256,
        ends_with_newline,
    })
}

struct Delivery<'a> {
    out: &'a mut dyn Write,
    observer: &'a dyn Observer,
    checkpoint: Option<Checkpoint>,
    summary: Summary,
}

impl Delivery<'_> {
    fn deliver(&mut self, outcome: Outcome) -> Result<()> {
        let writing = |e| Error::io("writing to stdout", e);
        match outcome {
            Outcome::Ready {
                file,
                spool,
                verified,
            } => {
                spool.copy_to(self.out).map_err(writing)?;
                if !verified.ends_with_newline {
                    self.out.write_all(b"\n").map_err(writing)?;
                }
                self.out.flush().map_err(writing)?;
                self.delivered(&file, verified.bytes, false)?;
            }
            Outcome::Stored {
                file,
                path,
                verified,
                skipped,
            } => {
                let line = json!({
                    "id": file.id,
                    "path": path.to_string_lossy(),
                    "bytes": verified.bytes,
                    "sha256": verified.sha256.map(|d| d.to_string()),
                    "status": if skipped { "skipped" } else { "downloaded" },
                    "event_type": file.event_type,
                    "principal": file.principal.as_str(),
                    "end_time": file.end_time,
                    "cursor": file.cursor,
                });
                writeln!(self.out, "{line}").map_err(writing)?;
                self.out.flush().map_err(writing)?;
                self.delivered(&file, verified.bytes, skipped)?;
            }
            Outcome::AlreadyDelivered { file } => {
                let bytes = file.file_size.unwrap_or(0);
                self.delivered(&file, bytes, true)?;
            }
            Outcome::Duplicate { id, line } => {
                self.summary.duplicates += 1;
                self.observer.event(&Event::Duplicate { id: &id, line });
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
            id: &file.id,
            bytes,
            skipped,
        });
        match &mut self.checkpoint {
            Some(checkpoint) => checkpoint.record(file, true),
            None => Ok(()),
        }
    }
}
