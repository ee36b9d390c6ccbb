//! Fetching many files at once and delivering each whole and verified, in input order.
//!
//! A reader thread parses input as it arrives and hands files to `jobs` workers; each worker
//! downloads one file through a hasher into a spool (stdout) or a temporary file beside its
//! final name (directory). The calling thread delivers finished files strictly in input
//! order. A window bounds how far downloads may run ahead of delivery.

use crate::error::{Error, Result};
use crate::fetch::commit::commit;
pub use crate::fetch::deliver::Summary;
use crate::fetch::deliver::{Delivery, Outcome, SAVE_EVERY_IN_DIR};
use crate::fetch::exec::ExecCommand;
use crate::fetch::input::Reader;
use crate::fetch::prepare::{Prepared, Preparer};
use crate::model::layout::Layout;
use crate::model::line::FileRef;
use crate::model::principal::Principal;
use crate::net::Client;
use crate::net::retry::Retrier;
use crate::observe::{Event, Observer};
use crate::store::checkpoint::Checkpoint;
use crate::store::dedup::Dedup;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// The most files committed in one batch.
const COMMIT_AT_ONCE: usize = 512;
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
    /// Each file to this shell command, on its stdin; a manifest line per file the command
    /// accepted (exit 0) to the output stream.
    Exec(ExecCommand),
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
    /// With a state: a file that failed in this many runs is parked (0: never).
    pub park_after: u32,
    /// With a state: ids to park instead of fetching (`--park`).
    pub park: HashSet<String>,
    /// `--dedup FILE` with its window: each event delivered once, across files and runs.
    pub dedup: Option<(PathBuf, Duration)>,
}

pub(crate) struct Task {
    pub(crate) seq: u64,
    pub(crate) file: FileRef,
    /// Where the file goes, in directory mode.
    pub(crate) path: Option<PathBuf>,
}

/// Lets the reader run at most `size` files ahead of delivery.
pub(crate) struct Window {
    next: Mutex<u64>,
    moved: Condvar,
    size: u64,
}

impl Window {
    pub(crate) fn wait_turn(&self, seq: u64, cancel: &AtomicBool) -> bool {
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
    let checkpoint = match &options.state {
        Some(path) => Some(Checkpoint::open(path, options.park_after)?),
        None => None,
    };
    if let (Some(checkpoint), Some(path)) = (&checkpoint, &options.state) {
        let ids: Vec<String> = checkpoint
            .state()
            .parked()
            .map(|(_, _, id, _)| id.to_owned())
            .collect();
        if !ids.is_empty() {
            observer.event(&Event::ParkedBefore {
                state: path,
                ids: &ids,
            });
        }
    }
    let dedup = match &options.dedup {
        Some((path, window)) => Some(Dedup::open(path, *window)?),
        None => None,
    };
    // The state is the authority on what was delivered, whatever is (still) in a directory.
    let earlier = checkpoint.as_ref().map(|cp| Arc::new(cp.state().clone()));
    let window = Arc::new(Window {
        next: Mutex::new(1),
        moved: Condvar::new(),
        // Finished files wait in a memory budget or spool files, so the window can be wide:
        // a slow file holds back the output behind it, not the downloads. With --dedup each
        // waiting file also holds a mark per event in memory, and the delivery thread is what
        // sets the pace: one file beyond those in the workers is enough (a wider window
        // measured slower, not faster: more files ahead take CPU from that thread).
        size: match options.dedup {
            None => (jobs as u64 * 8).max(256),
            Some(_) => jobs as u64 + 1,
        },
    });
    // The client's flag: a signal stops requests, waits and this pipeline alike.
    let cancel = retry.cancel_flag().clone();
    let (task_tx, task_rx) = mpsc::channel::<Task>();
    let (done_tx, done_rx) = mpsc::channel::<(u64, Prepared)>();

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
            park: options.park.clone(),
        };
        thread::Builder::new()
            .name("input".into())
            .spawn(move || reader.run(input))
            .map_err(|e| Error::io("starting the input reader", e))?;
    }

    let task_rx = Arc::new(Mutex::new(task_rx));
    let save_every = match options.destination {
        Destination::Directory(..) => SAVE_EVERY_IN_DIR,
        Destination::Stdout | Destination::Exec(_) => Duration::ZERO,
    };
    let exec = match (&options.destination, &dedup) {
        (Destination::Exec(command), Some(_)) => Some((command.clone(), retry.clone())),
        _ => None,
    };
    let preparer = Arc::new(Preparer::new(
        client,
        retry,
        options.destination,
        options.events,
        dedup.is_some(),
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
        writeback_from: 0,
        save_every,
        last_save: std::time::Instant::now(),
        dedup,
        exec,
    };
    let mut order = InOrder {
        pending: BTreeMap::new(),
        next: 1,
    };
    let result = deliver_in_order(&done_rx, &window, &cancel, &mut delivery, &mut order);
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
    let result = match result {
        Err(Error::Interrupted) => {
            report_what_was_done(&done_rx, &mut delivery, order);
            Err(Error::Interrupted)
        }
        other => other,
    };
    // Whatever ended the run, what was delivered is saved.
    let saved = delivery.save(true);
    Ok((delivery.summary, result.and(saved)))
}

/// Outcomes waiting for their turn, and the turn.
struct InOrder {
    pending: BTreeMap<u64, Outcome>,
    next: u64,
}

fn deliver_in_order(
    done: &Receiver<(u64, Prepared)>,
    window: &Window,
    cancel: &AtomicBool,
    delivery: &mut Delivery<'_>,
    order: &mut InOrder,
) -> Result<()> {
    loop {
        match done.recv_timeout(POLL) {
            Ok(first) => {
                // Everything that has arrived, so files written meanwhile are committed together.
                let mut batch = vec![first];
                batch.extend(done.try_iter().take(COMMIT_AT_ONCE));
                order.pending.extend(commit(batch));
                let mut delivered = Ok(());
                while let Some(outcome) = order.pending.remove(&order.next) {
                    delivered = delivery.deliver(outcome);
                    if delivered.is_err() {
                        break;
                    }
                    order.next += 1;
                    window.advance(order.next);
                }
                // One save of the state per batch, once its files are out.
                delivery.end_batch()?;
                delivered?;
            }
            Err(RecvTimeoutError::Timeout) if cancel.load(Ordering::Relaxed) => {
                return Err(Error::Interrupted);
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The reader stops early only when the run is cancelled: then it was interrupted.
            Err(RecvTimeoutError::Disconnected) if cancel.load(Ordering::Relaxed) => {
                return Err(Error::Interrupted);
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// After a stop: every file that is already where it was going (renamed into place under
/// DIR, accepted by `--exec`), though its turn had not come, gets its manifest line and is
/// remembered by the checkpoint, so a rerun does not fetch it again. Cursors stay where they
/// are (files before them may be missing). Files waiting for stdout are not written: out of
/// turn they would break the input order.
fn report_what_was_done(
    done: &Receiver<(u64, Prepared)>,
    delivery: &mut Delivery<'_>,
    mut order: InOrder,
) {
    order.pending.extend(commit(done.try_iter().collect()));
    if let Some(checkpoint) = &mut delivery.checkpoint {
        checkpoint.freeze();
    }
    for (_, outcome) in order.pending {
        if matches!(
            outcome,
            Outcome::Stored { .. } | Outcome::Handed { .. } | Outcome::AlreadyDelivered { .. }
        ) && delivery.deliver(outcome).is_err()
        {
            return;
        }
    }
}

/// A worker: prepares tasks until the input ends or the run is cancelled.
fn work(
    preparer: &Preparer,
    cancel: &AtomicBool,
    tasks: &Mutex<Receiver<Task>>,
    done: &Sender<(u64, Prepared)>,
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
