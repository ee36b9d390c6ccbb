//! Everything meant for people goes to stderr, through here.

use cl_core::observe::{Event, Observer};
use serde_json::Value;
use std::io::Write;
use std::sync::OnceLock;

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
        self.info_with(message, &[]);
    }

    fn info_with(&self, message: &str, fields: &[(&str, Value)]) {
        if self.verbosity >= Verbosity::Normal {
            line(self.tool, "info", message, fields);
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
            Event::Duplicate { id, line } => self.info_with(
                &format!("line {line}: {id} was already taken; delivered once"),
                &[("id", id.into()), ("line", line.into())],
            ),
            Event::Failed { error } => error_line(self.tool, &error.to_string()),
            Event::Retry {
                error,
                attempt,
                retries,
                wait,
            } => {
                if self.verbosity >= Verbosity::Normal {
                    line(
                        self.tool,
                        "warn",
                        &format!(
                            "{error}; retry {attempt} of {retries} in {:.1} s",
                            wait.as_secs_f64()
                        ),
                        &[
                            ("attempt", attempt.into()),
                            ("retries", retries.into()),
                            ("wait_s", wait.as_secs_f64().into()),
                        ],
                    );
                }
            }
            Event::Request { .. } => {}
        }
    }
}

fn line(tool: &str, level: &str, message: &str, fields: &[(&str, Value)]) {
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
    // Nothing useful can be done if stderr itself is gone.
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Prints an error line; errors are shown at every verbosity.
pub fn error_line(tool: &str, message: &str) {
    line(tool, "error", message, &[]);
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
