//! Fetching many files at once and delivering each whole and verified, in input order.
//!
//! A reader thread parses input as it arrives and hands files to `jobs` workers; each worker
//! downloads one file through a hasher into a spool (stdout) or a temporary file beside its
//! final name (directory). The calling thread delivers finished files strictly in input
//! order. A window bounds how far downloads may run ahead of delivery.

use crate::api::Client;
use crate::checkpoint::Checkpoint;
use crate::checkpoint::State;
use crate::delivery::{Delivery, Outcome, Preparer, name_written};
pub use crate::delivery::{Destination, Summary};
use crate::error::{Error, Result};
use crate::error::{LineError, quote};
use crate::line::{FileId, FileRef, MAX_LINE, RawLine, parse_line, read_line};
use crate::observe::{Event, Observer};
use crate::principal::Principal;
use crate::retry::Retrier;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// The most files named in one batch.
const NAME_AT_ONCE: usize = 512;
/// How often blocked threads look at the cancel flag.
const POLL: Duration = Duration::from_millis(100);

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
    /// The output, when it is a regular file: flushed to disk before files written to it
    /// are recorded as delivered.
    pub out_file: Option<std::fs::File>,
    /// Deliver each file as one JSON value per line (`--events`).
    pub events: bool,
}

struct Task {
    seq: u64,
    file: FileRef,
    /// Where the file goes, in directory mode.
    path: Option<PathBuf>,
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
    // The state is the authority on what was delivered, whatever is (still) in a directory.
    let earlier = checkpoint.as_ref().map(|cp| Arc::new(cp.state().clone()));
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
            destination: options.destination.clone(),
            window: window.clone(),
            cancel: cancel.clone(),
            tasks: task_tx,
            done: done_tx.clone(),
            seq: 0,
            seen: HashSet::new(),
            warned: HashSet::new(),
        };
        thread::Builder::new()
            .name("input".into())
            .spawn(move || reader.run(input))
            .map_err(|e| Error::io("starting the input reader", e))?;
    }

    let task_rx = Arc::new(Mutex::new(task_rx));
    let manifest = !matches!(options.destination, Destination::Stdout);
    let preparer = Arc::new(Preparer::new(
        client,
        retry,
        options.destination,
        options.events,
    ));
    let mut workers = Vec::with_capacity(jobs);
    for n in 0..jobs {
        let preparer = preparer.clone();
        let cancel = cancel.clone();
        let tasks = task_rx.clone();
        let done = done_tx.clone();
        let handle = thread::Builder::new()
            .name(format!("fetch-{n}"))
            .spawn(move || work(&preparer, &cancel, &tasks, &done))
            .map_err(|e| Error::io("starting a download worker", e))?;
        workers.push(handle);
    }
    drop(done_tx);

    let mut delivery = Delivery {
        out,
        observer: observer.as_ref(),
        checkpoint,
        summary: Summary::default(),
        out_file: options.out_file,
        manifest,
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
            Ok(first) => {
                // Everything that has arrived, so files written meanwhile are named together.
                let mut batch = vec![first];
                batch.extend(done.try_iter().take(NAME_AT_ONCE));
                name_written(&mut batch);
                pending.extend(batch);
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

/// Reads the input in order, settles what needs no download (bad lines, repeats, files an
/// earlier run delivered) and queues the rest for the workers.
struct Reader {
    observer: Arc<dyn Observer>,
    principal: Option<Principal>,
    earlier: Option<Arc<State>>,
    destination: Destination,
    window: Arc<Window>,
    cancel: Arc<AtomicBool>,
    tasks: Sender<Task>,
    done: Sender<(u64, Outcome)>,
    /// The sequence number of the last line taken.
    seq: u64,
    /// Files taken so far, so a repeated line is delivered once.
    seen: HashSet<(Principal, FileId)>,
    /// Fields already warned about: once each per run.
    warned: HashSet<&'static str>,
}

impl Reader {
    fn run(mut self, input: Input) {
        match input {
            Input::Arguments(args) => {
                for (i, arg) in args.into_iter().enumerate() {
                    let n = i as u64 + 1;
                    if !self.take(format!("argument {n}"), n, Ok(arg)) {
                        return;
                    }
                }
            }
            Input::Lines(mut reader) => {
                let mut buf = Vec::new();
                for n in 1u64.. {
                    let line =
                        match read_line(&mut *reader, &mut buf) {
                            Ok(None) => return,
                            Ok(Some(RawLine::Text(text))) if n == 1 => {
                                // Windows tools (PowerShell) start their output with a BOM.
                                Ok(text
                                    .strip_prefix('\u{feff}')
                                    .map(str::to_owned)
                                    .unwrap_or(text))
                            }
                            Ok(Some(RawLine::Text(text))) => Ok(text),
                            Ok(Some(RawLine::TooLong { start })) => Err(LineError::Invalid(
                                format!("longer than {} KiB: {}", MAX_LINE >> 10, quote(&start)),
                            )),
                            Ok(Some(RawLine::NotUtf8)) => Err("not valid UTF-8".into()),
                            Err(e) => {
                                self.seq += 1;
                                let fatal = Outcome::Fatal(Error::io("reading the input", e));
                                let _ = self.done.send((self.seq, fatal));
                                return;
                            }
                        };
                    if !self.take(format!("line {n}"), n, line) {
                        return;
                    }
                }
            }
        }
    }

    /// Takes one line, in input order. False when the run is over.
    fn take(&mut self, label: String, number: u64, line: Result<String, LineError>) -> bool {
        let parsed = match line.and_then(|text| parse_line(&text, self.principal.as_ref())) {
            Ok(None) => return true,
            Ok(Some(parsed)) => parsed,
            Err(problem) => {
                let error = Error::Input { label, problem };
                return self.settle(Outcome::Failed { file: None, error });
            }
        };
        for ignored in &parsed.ignored {
            if self.warned.insert(ignored.field) {
                let message = format!(
                    "{label}: \"{}\": {} (said once per field)",
                    ignored.field, ignored.why
                );
                self.observer.event(&Event::Warning { message: &message });
            }
        }
        let file = parsed.file;
        let path = match self.destination.path_of(&file) {
            Ok(path) => path,
            Err(why) => {
                let problem = LineError::Invalid(why);
                let error = Error::Input { label, problem };
                let failed = Outcome::Failed {
                    file: Some(file),
                    error,
                };
                return self.settle(failed);
            }
        };
        // Only a line that could be taken marks its file as taken.
        if !self.seen.insert((file.principal.clone(), file.id.clone())) {
            return self.settle(Outcome::Duplicate {
                id: file.id,
                line: number,
            });
        }
        if self
            .earlier
            .as_ref()
            .is_some_and(|s| s.delivered_before(&file))
        {
            return self.settle(Outcome::AlreadyDelivered { file, path });
        }
        self.seq += 1;
        if !self.window.wait_turn(self.seq, &self.cancel) {
            return false;
        }
        self.observer.event(&Event::Queued {
            bytes: file.file_size,
        });
        let task = Task {
            seq: self.seq,
            file,
            path,
        };
        self.tasks.send(task).is_ok()
    }

    /// Hands an outcome that needs no download to delivery, in its turn.
    fn settle(&mut self, outcome: Outcome) -> bool {
        self.seq += 1;
        if !self.window.wait_turn(self.seq, &self.cancel) {
            return false;
        }
        self.done.send((self.seq, outcome)).is_ok()
    }
}

/// A worker: prepares tasks until the input ends or the run is cancelled.
fn work(
    preparer: &Preparer,
    cancel: &AtomicBool,
    tasks: &Mutex<Receiver<Task>>,
    done: &Sender<(u64, Outcome)>,
) {
    loop {
        let task = {
            let tasks = tasks.lock().unwrap_or_else(|e| e.into_inner());
            tasks.recv_timeout(POLL)
        };
        match task {
            Ok(task) => {
                if done
                    .send((task.seq, preparer.prepare(task.file, task.path)))
                    .is_err()
                {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) if cancel.load(Ordering::Relaxed) => return,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
