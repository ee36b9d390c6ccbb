//! Everything meant for people goes to stderr, through here.

use cl_core::observe::{Event, Observer};
use std::io::Write;

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

/// Prints library events on stderr, prefixed with the tool's name.
pub struct Reporter {
    tool: &'static str,
    verbosity: Verbosity,
}

impl Reporter {
    /// A reporter for `tool` at `verbosity`.
    pub fn new(tool: &'static str, verbosity: Verbosity) -> Self {
        Reporter { tool, verbosity }
    }

    /// Prints a progress or summary line unless quiet.
    pub fn info(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            line(self.tool, message);
        }
    }
}

impl Observer for Reporter {
    fn event(&self, event: &Event<'_>) {
        match *event {
            Event::Request {
                method,
                url,
                status,
                elapsed,
            } if self.verbosity >= Verbosity::Verbose => {
                let status = status.map_or_else(|| "no answer".to_owned(), |s| s.to_string());
                let ms = elapsed.as_millis();
                line(self.tool, &format!("{method} {url} -> {status} ({ms} ms)"));
            }
            Event::Page {
                event_type,
                number,
                after,
                files,
                total,
            } => self.info(&format!(
                "{event_type} page {number} after {after}: {} ({total} so far)",
                plural(files as u64, "file")
            )),
            Event::Delivered { id, bytes, skipped } => {
                let what = if skipped {
                    "already delivered"
                } else {
                    "fetched"
                };
                self.info(&format!("{what} {id} ({})", human_bytes(bytes)));
            }
            Event::Duplicate { id, line } => {
                self.info(&format!(
                    "line {line}: {id} was already taken; delivered once"
                ));
            }
            Event::Failed { error } => error_line(self.tool, &error.to_string()),
            Event::Retry {
                error,
                attempt,
                retries,
                wait,
            } => self.info(&format!(
                "{error}; retry {attempt} of {retries} in {:.1} s",
                wait.as_secs_f64()
            )),
            Event::Request { .. } => {}
        }
    }
}

fn line(tool: &str, message: &str) {
    // Nothing useful can be done if stderr itself is gone.
    let _ = writeln!(std::io::stderr().lock(), "{tool}: {message}");
}

/// Prints an error line; errors are shown at every verbosity.
pub fn error_line(tool: &str, message: &str) {
    line(tool, message);
}

/// `1 file`, `2 files`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `1.5 KiB`, `12.0 MiB`: sizes for people.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
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
