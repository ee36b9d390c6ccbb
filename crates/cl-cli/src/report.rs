//! Everything meant for people goes to stderr, through here.

use cl_core::observe::{Event, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use crate::words::{human_bytes, plural};

/// How much to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Progress and a summary.
    Normal,
    /// Also one line per request.
    Verbose,
}

/// How stderr messages are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `tool: message`, for people.
    #[default]
    Text,
    /// One JSON object per line (`level`, `message`, and fields such as `id` or `status`),
    /// for CI log collectors.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Chooses the format of every stderr message from now on (once, at start).
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// The format chosen (text until one is).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Prints library events on stderr, prefixed with the tool's name. On a terminal, at normal
/// verbosity and in text format, progress is one live line instead of a line per page or file.
pub struct Reporter {
    tool: &'static str,
    verbosity: Verbosity,
    live: Option<Live>,
    tally: Counts,
}

/// What a run met, counted from its events (for `--metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// HTTP requests answered or failed.
    pub requests: u64,
    /// Attempts tried again.
    pub retries: u64,
    /// Requests refused for their rate (429).
    pub rate_limited: u64,
    /// Files or lines not delivered.
    pub failures: u64,
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    failures: AtomicU64,
}

impl Counts {
    fn count(&self, event: &Event<'_>) {
        let add = |n: &AtomicU64| {
            n.fetch_add(1, Ordering::Relaxed);
        };
        match event {
            Event::Request { status, .. } => {
                add(&self.requests);
                if *status == Some(429) {
                    add(&self.rate_limited);
                }
            }
            Event::Retry { .. } => add(&self.retries),
            Event::Failed { .. } => add(&self.failures),
            _ => {}
        }
    }
}

/// The live progress line and what it counts.
struct Live {
    bar: ProgressBar,
    files: AtomicU64,
    pages: AtomicU64,
    queued: AtomicU64,
}

impl Reporter {
    /// A reporter for `tool` at `verbosity`.
    pub fn new(tool: &'static str, verbosity: Verbosity) -> Self {
        let live = (verbosity == Verbosity::Normal
            && FORMAT.get().copied().unwrap_or_default() == LogFormat::Text
            && std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb"))
        .then(|| {
            // Plain characters only: no colour, so NO_COLOR and dumb logs are respected.
            let style = ProgressStyle::with_template(
                "{spinner} {prefix}: {msg} {bytes} {binary_bytes_per_sec} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(8));
            bar.set_style(style);
            bar.set_prefix(tool);
            bar.enable_steady_tick(Duration::from_millis(125));
            Live {
                bar,
                files: AtomicU64::new(0),
                pages: AtomicU64::new(0),
                queued: AtomicU64::new(0),
            }
        });
        Reporter {
            tool,
            verbosity,
            live,
            tally: Counts::default(),
        }
    }

    /// What the run met so far.
    pub fn tally(&self) -> Tally {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Tally {
            requests: get(&self.tally.requests),
            retries: get(&self.tally.retries),
            rate_limited: get(&self.tally.rate_limited),
            failures: get(&self.tally.failures),
        }
    }

    /// Prints a progress or summary line unless quiet.
    pub fn info(&self, message: &str) {
        self.info_with(message, &[]);
    }

    /// Ends the live line, if any, so a summary can follow it.
    pub fn finish(&self) {
        if let Some(live) = &self.live {
            live.bar.finish_and_clear();
        }
    }

    fn info_with(&self, message: &str, fields: &[(&str, Value)]) {
        if self.verbosity >= Verbosity::Normal {
            self.above(|| line(self.tool, "info", message, fields));
        }
    }

    /// Prints above the live line, if there is one.
    fn above(&self, print: impl FnOnce()) {
        match &self.live {
            Some(live) => live.bar.suspend(print),
            None => print(),
        }
    }

    /// Updates the live line; returns false when there is none.
    fn progress(&self, event: &Event<'_>) -> bool {
        let Some(live) = &self.live else {
            return false;
        };
        match *event {
            Event::Page { .. } => {
                let pages = live.pages.fetch_add(1, Ordering::Relaxed) + 1;
                live.bar.set_message(format!(
                    "{} in {}",
                    plural(live.files.load(Ordering::Relaxed), "file"),
                    plural(pages, "page")
                ));
            }
            Event::Queued { bytes } => {
                let queued = live.queued.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(bytes) = bytes {
                    live.bar.inc_length(bytes);
                    live.bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {prefix}: {msg} {bytes}/{total_bytes} \
                             {binary_bytes_per_sec} ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                }
                let files = live.files.load(Ordering::Relaxed);
                live.bar.set_message(format!("{files}/{queued} files"));
            }
            Event::Delivered { bytes, .. } => {
                let files = live.files.fetch_add(1, Ordering::Relaxed) + 1;
                live.bar.inc(bytes);
                let queued = live.queued.load(Ordering::Relaxed);
                live.bar.set_message(format!("{files}/{queued} files"));
            }
            _ => return false,
        }
        true
    }
}

impl Observer for Reporter {
    fn event(&self, event: &Event<'_>) {
        self.tally.count(event);
        if self.progress(event) {
            return;
        }
        match *event {
            Event::Request {
                method,
                url,
                status,
                elapsed,
            } if self.verbosity >= Verbosity::Verbose => {
                let shown = status.map_or_else(|| "no answer".to_owned(), |s| s.to_string());
                let ms = elapsed.as_millis();
                line(
                    self.tool,
                    "debug",
                    &format!("{method} {url} -> {shown} ({ms} ms)"),
                    &[
                        ("method", method.into()),
                        ("url", url.into()),
                        ("status", status.into()),
                        ("elapsed_ms", (ms as u64).into()),
                    ],
                );
            }
            // Said even with -q: a file set aside must never go unnoticed.
            Event::Parked { id, runs, why } => {
                let after = match runs {
                    0 => "on request".to_owned(),
                    n => format!("after failing in {} ({why})", plural(u64::from(n), "run")),
                };
                let message = format!(
                    "{id} parked {after}: the cursor moves past it; it stays in the state \
                     until it is delivered or dismissed"
                );
                self.above(|| {
                    line(
                        self.tool,
                        "warn",
                        &message,
                        &[("id", id.into()), ("runs", runs.into())],
                    )
                });
            }
            Event::ParkedBefore { state, ids } => {
                let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
                let more = match ids.len() {
                    n if n > 5 => format!(" and {} more", n - 5),
                    _ => String::new(),
                };
                let message = format!(
                    "{} parked in {}, not delivered: {}{more}\n\
                     hint: fetch them again with cl-fetch --state {} --retry-parked (with -o or \
                     --exec as usual), or drop them with --dismiss ID",
                    plural(ids.len() as u64, "file"),
                    state.display(),
                    shown.join(", "),
                    state.display()
                );
                self.above(|| line(self.tool, "warn", &message, &[("parked", ids.len().into())]));
            }
            // Said even with -q: files may be lost.
            Event::Gap {
                event_type,
                cursor,
                listed_after,
            } => {
                let message = format!(
                    "{event_type}: this listing starts at {listed_after}, after {cursor}, where the \
                     state's deliveries reached: files between were never listed, and the API may \
                     no longer keep them\n\
                     hint: do cl-list --state and cl-fetch --state name the same file? the state \
                     keeps the gap: the next cl-list --state on it lists from there, and the gap \
                     closes once those files are delivered"
                );
                self.above(|| {
                    line(
                        self.tool,
                        "warn",
                        &message,
                        &[("event_type", event_type.into()), ("cursor", cursor.into())],
                    )
                });
            }
            // Said even with -q, once: what `all` could not bring.
            Event::TypeSkipped { event_type, error } => {
                let message = format!(
                    "{event_type} skipped (from all): {}",
                    crate::hints::skipped_type(event_type, error)
                );
                self.above(|| {
                    line(
                        self.tool,
                        "warn",
                        &message,
                        &[("event_type", event_type.into())],
                    )
                });
            }
            Event::Covered { id } if self.verbosity >= Verbosity::Verbose => {
                line(
                    self.tool,
                    "debug",
                    &format!("{id}: delivered by an earlier run, as the state shows"),
                    &[("id", id.into())],
                );
            }
            Event::DuplicateEvent { id, event } if self.verbosity >= Verbosity::Verbose => {
                line(
                    self.tool,
                    "debug",
                    &format!("{id}: event {event} left out: delivered before"),
                    &[("id", id.into()), ("event", event.into())],
                );
            }
            Event::Paced { per_second } if self.verbosity >= Verbosity::Verbose => {
                let message = match per_second {
                    Some(rate) => format!(
                        "pacing API requests at {rate:.1} a second: the API refused some for \
                         their rate"
                    ),
                    None => "pacing stopped: the API refuses requests whatever the rate".to_owned(),
                };
                line(
                    self.tool,
                    "debug",
                    &message,
                    &[("per_second", per_second.into())],
                );
            }
            Event::Page {
                event_type,
                number,
                after,
                files,
                total,
            } => self.info_with(
                &format!(
                    "{event_type} page {number} after {after}: {} ({total} so far)",
                    plural(files as u64, "file")
                ),
                &[
                    ("event_type", event_type.into()),
                    ("page", number.into()),
                    ("after", after.into()),
                    ("files", files.into()),
                    ("total", total.into()),
                ],
            ),
            Event::Delivered { id, bytes, skipped } => {
                let what = if skipped {
                    "already delivered"
                } else {
                    "fetched"
                };
                self.info_with(
                    &format!("{what} {id} ({})", human_bytes(bytes)),
                    &[
                        ("id", id.into()),
                        ("bytes", bytes.into()),
                        (
                            "status",
                            if skipped { "skipped" } else { "downloaded" }.into(),
                        ),
                    ],
                );
            }
            Event::Listed {
                event_type,
                after,
                files: 0,
            } => self.info_with(
                &format!("no files of {event_type} after {after}"),
                &[("event_type", event_type.into()), ("after", after.into())],
            ),
            Event::PollFailed { error } => self.above(|| {
                let message = format!("{}; trying again later", crate::hints::message_of(error));
                error_line(self.tool, &message)
            }),
            Event::Warning { message } => {
                if self.verbosity >= Verbosity::Normal {
                    self.above(|| line(self.tool, "warn", message, &[]));
                }
            }
            Event::Duplicate { id, line } => self.info_with(
                &format!("line {line}: {id} was already taken; delivered once"),
                &[("id", id.into()), ("line", line.into())],
            ),
            Event::Failed { error } => {
                self.above(|| error_line(self.tool, &crate::hints::message_of(error)))
            }
            Event::Retry {
                error,
                attempt,
                retries,
                wait,
            } => {
                if self.verbosity >= Verbosity::Normal {
                    let message = format!(
                        "{}; retry {attempt} of {retries} in {:.1} s",
                        crate::hints::message_of(error),
                        wait.as_secs_f64()
                    );
                    let fields = [
                        ("attempt", attempt.into()),
                        ("retries", retries.into()),
                        ("wait_s", wait.as_secs_f64().into()),
                    ];
                    self.above(|| line(self.tool, "warn", &message, &fields));
                }
            }
            Event::Request { .. }
            | Event::Queued { .. }
            | Event::Listed { .. }
            | Event::Paced { .. }
            | Event::Covered { .. }
            | Event::DuplicateEvent { .. } => {}
        }
    }
}

/// Where a runner (cl-pull) sends every message instead of stderr: its LOG_FILE.
static LOG: OnceLock<std::fs::File> = OnceLock::new();

/// Sends every message from now on to `file`, opened for appending, instead of stderr (once).
pub fn log_to(file: std::fs::File) {
    let _ = LOG.set(file);
}

fn line(tool: &str, level: &str, message: &str, fields: &[(&str, Value)]) {
    let text = render(tool, level, message, fields);
    // Nothing useful can be done if the log or stderr is gone.
    let _ = match LOG.get() {
        Some(mut log) => log.write_all(text.as_bytes()),
        None => write_stderr(&text),
    };
}

/// One line in the format chosen, newline included.
fn render(tool: &str, level: &str, message: &str, fields: &[(&str, Value)]) -> String {
    let text = match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => format!("{tool}: {message}"),
        LogFormat::Json => {
            let mut object = serde_json::Map::new();
            object.insert("tool".into(), tool.into());
            object.insert("level".into(), level.into());
            object.insert("message".into(), message.into());
            for (name, value) in fields {
                object.insert((*name).into(), value.clone());
            }
            Value::Object(object).to_string()
        }
    };
    format!("{text}\n")
}

/// One write per line: both tools of a pipeline share stderr, and a line written in pieces
/// can be split by the other's.
fn write_stderr(text: &str) -> std::io::Result<()> {
    std::io::stderr().lock().write_all(text.as_bytes())
}

/// Prints an info line at every verbosity: a runner's one line about its run.
pub fn info_line(tool: &str, message: &str) {
    line(tool, "info", message, &[]);
}

/// Prints an error line on stderr itself even when [`log_to`] sends the rest to a log: a
/// runner's word that its run failed, where cron mails it and a terminal shows it.
pub fn error_line_on_stderr(tool: &str, message: &str) {
    let _ = write_stderr(&render(tool, "error", message, &[]));
}

/// Prints a warning that must be seen at every verbosity (data that is gone for good).
pub fn warn_line(tool: &str, message: &str) {
    line(tool, "warn", message, &[]);
}

/// Prints an error line; errors are shown at every verbosity.
pub fn error_line(tool: &str, message: &str) {
    line(tool, "error", message, &[]);
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
