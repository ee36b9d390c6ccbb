//! What the library reports while it works, for the binaries to show as they see fit.

use std::time::Duration;

/// Something worth telling the person running the tool.
#[derive(Debug)]
pub enum Event<'a> {
    /// One HTTP request finished (or failed to get an answer: `status` is `None`).
    Request {
        /// HTTP method.
        method: &'a str,
        /// Scheme, host and path; the query only for API requests, never for signed URLs.
        url: &'a str,
        /// The status answered, if any.
        status: Option<u16>,
        /// How long it took until the response headers arrived.
        elapsed: Duration,
    },
    /// A file was taken from the input and handed to a download worker.
    Queued {
        /// Its size, when the listing told it.
        bytes: Option<u64>,
    },
    /// A listing page arrived.
    Page {
        /// The event type being listed.
        event_type: &'a str,
        /// 1-based page number within this event type.
        number: u64,
        /// The `after` the page was asked with.
        after: &'a str,
        /// Files on this page.
        files: usize,
        /// Files of this event type so far, this page included.
        total: u64,
    },
    /// Catching up on one event type ended.
    Listed {
        /// The event type.
        event_type: &'a str,
        /// Where its listing started.
        after: &'a str,
        /// Files listed (each once).
        files: u64,
    },
    /// A poll of a followed listing failed for a passing reason; the next poll tries again.
    PollFailed {
        /// What went wrong.
        error: &'a crate::Error,
    },
    /// A file was delivered (written to stdout, or stored or found whole in the directory).
    Delivered {
        /// The file id.
        id: &'a str,
        /// Its size.
        bytes: u64,
        /// True when it was already in the output directory and verified.
        skipped: bool,
    },
    /// A file that an earlier run delivered, as the state shows: not delivered again.
    Covered {
        /// The file id.
        id: &'a str,
    },
    /// An event type that `all` brought was refused for this principal and is skipped.
    TypeSkipped {
        /// The event type.
        event_type: &'a str,
        /// The refusal, in the server's words (see `model::event_types::refusal`).
        error: &'a crate::Error,
    },
    /// A file (or an input line) could not be delivered; the run goes on with the others.
    Failed {
        /// What went wrong, with what was being done.
        error: &'a crate::Error,
    },
    /// An attempt failed and will be tried again after `wait`.
    Retry {
        /// Why the attempt failed.
        error: &'a crate::Error,
        /// The retry about to be made, from 1.
        attempt: u32,
        /// Retries allowed in all.
        retries: u32,
        /// The wait before it.
        wait: Duration,
    },
    /// The pace of API requests changed after the API refused some for their rate: the
    /// requests a second now allowed, or `None` when pacing stopped (the refusals were not
    /// about the rate).
    Paced {
        /// Requests a second, all workers together.
        per_second: Option<f64>,
    },
    /// A file was parked: set aside in the state so the cursor could move past it.
    Parked {
        /// The file id.
        id: &'a str,
        /// Runs it failed in (0 when parked on request).
        runs: u32,
        /// Why it failed last.
        why: &'a str,
    },
    /// The state holds files parked by earlier runs (said once, at the start of a run).
    ParkedBefore {
        /// The state file.
        state: &'a std::path::Path,
        /// Their ids.
        ids: &'a [String],
    },
    /// A listing started after the cursor the state delivered up to: the files between were
    /// never asked for (said once per type and run; the state keeps the gap).
    Gap {
        /// The event type.
        event_type: &'a str,
        /// The state's cursor.
        cursor: &'a str,
        /// Where the listing started.
        listed_after: &'a str,
    },
    /// Something worth a warning that does not stop the file or the run.
    Warning {
        /// What to say.
        message: &'a str,
    },
    /// `--dedup` left an event out of a file: another file, or an earlier run, delivered it.
    DuplicateEvent {
        /// The file id.
        id: &'a str,
        /// The event's `event_id`, or `sha256:` and the digest of its bytes.
        event: &'a str,
    },
    /// An input line repeated a file already taken; it is delivered once.
    Duplicate {
        /// The file id.
        id: &'a str,
        /// The line that repeated it.
        line: u64,
    },
}

/// Receives [`Event`]s. Implementations must be cheap: they are called from worker threads.
pub trait Observer: Send + Sync {
    /// Called once per event.
    fn event(&self, event: &Event<'_>);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: &Event<'_>) {}
}
