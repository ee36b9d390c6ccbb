//! Errors that say what was being done when they happened.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, split by what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command or its configuration is wrong (missing key, bad timestamp, bad URL).
    #[error("{0}")]
    Config(String),
    /// The server answered with a status that is not success.
    #[error("{context}: HTTP {status}: {message}")]
    Http {
        /// What was being done, e.g. `listing AUTH_LOG after …`.
        context: String,
        /// The HTTP status code.
        status: u16,
        /// The server's own message, whatever the shape of its error body.
        message: String,
        /// How long the server asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
        /// True when the blob host (a signed URL) answered, not the API.
        from_blob: bool,
    },
    /// The connection failed, timed out or broke off.
    #[error("{context}: {message}")]
    Transport {
        /// What was being done.
        context: String,
        /// What went wrong on the wire.
        message: String,
    },
    /// The TLS handshake failed: an untrusted or invalid certificate. Not retried.
    #[error("{context}: TLS with {host} failed: {why}")]
    Tls {
        /// What was being done.
        context: String,
        /// The host whose certificate was refused.
        host: String,
        /// What the TLS library said.
        why: String,
    },
    /// The server answered something that breaks the API's rules (malformed page, stuck
    /// cursor, a redirect the https policy refuses).
    #[error("{context}: {message}")]
    Protocol {
        /// What was being done.
        context: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// A listing page that is not what the API sends (not JSON, no `data`, wrong types); a
    /// gateway's error page with status 200 looks like this, so it is tried again.
    #[error("{context}: malformed page: {message}")]
    MalformedPage {
        /// What was being done.
        context: String,
        /// What was wrong, and the first bytes of the body.
        message: String,
    },
    /// A file arrived but is not what the listing or `Content-Length` promised.
    #[error("{context}: {message}")]
    Integrity {
        /// What was being done.
        context: String,
        /// Expected against got.
        message: String,
    },
    /// A file that is not a sequence of JSON values (`--events`), though it is the file the
    /// listing describes: not retried.
    #[error("{context}: not a sequence of JSON values: at byte {offset}: {why}")]
    Framing {
        /// What was being done.
        context: String,
        /// Where the first bad byte is, from 0.
        offset: u64,
        /// What the parser said.
        why: String,
    },
    /// An input line (or argument) is not something cl-fetch can take.
    #[error("{label}: {problem}")]
    Input {
        /// Where the input came from, e.g. `line 3` or `argument 2`.
        label: String,
        /// What is wrong with it.
        problem: LineError,
    },
    /// The `--exec` command did not accept a file: it exited non-zero or was killed. Retried:
    /// a sink that is down may be back on the next try.
    #[error("{context}: the command {}", match status { Some(code) => format!("exited with {code}"), None => "was killed by a signal".to_owned() })]
    ExecFailed {
        /// What was being done.
        context: String,
        /// Its exit code, if it exited.
        status: Option<i32>,
    },
    /// The server asked for a longer wait (`Retry-After`) than the retry policy allows, so
    /// the retries ended early.
    #[error("{error} (the server asked to wait {} s, more than the {} s allowed)", asked.as_secs(), max_wait.as_secs())]
    WaitTooLong {
        /// The last failure, which carried the `Retry-After`.
        error: Box<Error>,
        /// The wait the server asked for.
        asked: Duration,
        /// The longest wait the policy allows.
        max_wait: Duration,
    },
    /// An event type has no start: no `after` was given and the state file has no cursor
    /// for it.
    #[error("no start time for {event_type}{}", state.as_ref().map(|s| format!(": {} has no cursor for it yet", s.display())).unwrap_or_default())]
    NoStart {
        /// The event type.
        event_type: String,
        /// The state file consulted, if any.
        state: Option<std::path::PathBuf>,
    },
    /// A file could not be replaced because another program holds it open (Windows), even
    /// after waiting a little.
    #[error("{} could not be replaced: another program holds it open ({source})", path.display())]
    HeldOpen {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A file could not be replaced because this account may not (its access list, a
    /// read-only attribute, the directory's permissions).
    #[error("{} could not be replaced: permission denied ({source})", path.display())]
    NotAllowed {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A file would replace another whose name differs from its own only in case, on a file
    /// system that takes the two names for one.
    #[error("{} would replace {}: the names differ only in case, and this file system takes them for one", path.display(), other.display())]
    CaseTwin {
        /// The file to be written.
        path: PathBuf,
        /// The file already there.
        other: PathBuf,
    },
    /// The state file is locked by another run.
    #[error("state file {} is in use by another run (locked through {})", path.display(), lock.display())]
    StateInUse {
        /// The state file.
        path: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
    },
    /// The `--dedup` file is locked by another run.
    #[error("dedup file {} is in use by another run (locked through {})", path.display(), lock.display())]
    DedupInUse {
        /// The dedup file.
        path: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
    },
    /// The `--dedup` file could not be opened, read or written.
    #[error("dedup file {}: {why}", path.display())]
    Dedup {
        /// The dedup file.
        path: PathBuf,
        /// What the store said.
        why: String,
    },
    /// The state file cannot be read as one: it was not written by these tools, or was
    /// damaged.
    #[error("state file {} is not valid: {why}", path.display())]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// An output layout template that cannot be used.
    #[error("invalid layout {template:?}: {why}")]
    InvalidLayout {
        /// The template as given.
        template: String,
        /// What is wrong with it.
        why: String,
    },
    /// The work was stopped before it finished (a signal, or the output went away).
    #[error("interrupted")]
    Interrupted,
    /// A local read or write failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps a local I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True for errors the user fixes by changing the command or its configuration.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::NoStart { .. }
                | Error::CorruptState { .. }
                | Error::InvalidLayout { .. }
        )
    }

    /// True for failures that may pass on another try: connection trouble, timeouts, 408,
    /// 429, 5xx gateways, a malformed page, a body cut short or not matching its listing, an
    /// `--exec` command that failed, and a 400, 401 or 403 from the blob host: that is how
    /// stores answer an expired signed URL (S3's 403 `AccessDenied` and 400 `ExpiredToken`,
    /// Azure's 403 `AuthenticationFailed`, Google Cloud Storage's 400 `ExpiredToken`), and the
    /// next try asks the API for a fresh one.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. }
            | Error::Integrity { .. }
            | Error::MalformedPage { .. }
            | Error::ExecFailed { .. } => true,
            Error::Http {
                status: 400 | 401 | 403,
                from_blob: true,
                ..
            } => true,
            Error::Http { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// The wait the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True for local failures every other file would meet too (a directory that cannot be
    /// written, a full disk): the run stops with one error instead of one per file.
    pub fn is_systemic(&self) -> bool {
        use io::ErrorKind::*;
        matches!(
            self,
            Error::Io { source, .. } if matches!(
                source.kind(),
                PermissionDenied | ReadOnlyFilesystem | StorageFull | QuotaExceeded
                    | NotADirectory | FileTooLarge
            )
        )
    }

    /// True when writing the output failed because its reader went away (`| head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if is_closed_pipe(source))
    }
}

/// True for a write to a pipe whose reader has gone: EPIPE, and on Windows ERROR_NO_DATA
/// (232) and ERROR_PIPE_NOT_CONNECTED (233), the second of which Rust does not map.
pub fn is_closed_pipe(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::BrokenPipe
        || (cfg!(windows) && matches!(error.raw_os_error(), Some(232 | 233)))
}

/// Why a line could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// A bare id, and no principal to go with it.
    NoPrincipal,
    /// Anything else: what is wrong with it.
    Invalid(String),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::NoPrincipal => f.write_str("a bare id needs a principal"),
            LineError::Invalid(why) => f.write_str(why),
        }
    }
}

impl From<String> for LineError {
    fn from(why: String) -> Self {
        LineError::Invalid(why)
    }
}

impl From<&str> for LineError {
    fn from(why: &str) -> Self {
        LineError::Invalid(why.to_owned())
    }
}

/// A text quoted for a message, cut to its first 100 bytes or so: input can be huge.
pub fn quote(text: &str) -> String {
    const MAX: usize = 100;
    if text.len() <= MAX {
        return format!("{text:?}");
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &text[..end], text.len())
}
