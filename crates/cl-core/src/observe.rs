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
    /// Something worth a warning that does not stop the file or the run.
    Warning {
        /// What to say.
        message: &'a str,
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
