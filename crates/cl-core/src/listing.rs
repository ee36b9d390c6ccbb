//! The cl-list pipeline: where each event type starts (its saved cursor, else `--after`),
//! paging through it, one NDJSON line per file, each file printed once, and following the
//! listing for new files once caught up.

use crate::api::{Client, ListRequest};
use crate::checkpoint::State;
use crate::error::{Error, Result};
use crate::line::write_line;
use crate::observe::{Event, Observer};
use crate::paging::Pager;
use crate::principal::Principal;
use crate::retention::{self, Gap};
use crate::retry::{Retrier, sleep};
use crate::timestamps::{Timestamp, format_time};
use jiff::SignedDuration;
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a follow looks whether its reader is still there between polls.
const WATCH: Duration = Duration::from_millis(200);

/// What to list.
pub struct ListOptions {
    /// Whose files.
    pub principal: Principal,
    /// Event types, in the order given (see [`event_types`]).
    pub event_types: Vec<String>,
    /// Where event types without a saved cursor start.
    pub after: Option<Timestamp>,
    /// Exclusive upper bound on `end_time`.
    pub before: Option<Timestamp>,
    /// Page size asked of the API.
    pub limit: u32,
    /// The state file whose cursors say where each event type resumes.
    pub state: Option<PathBuf>,
}

/// Splits, trims and checks event types; keeps their order and drops repeats.
pub fn event_types(given: &[String]) -> Result<Vec<String>> {
    let mut types: Vec<String> = Vec::new();
    for t in given.iter().map(|t| t.trim()) {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::Config(format!(
                "invalid event type {t:?}: expected a name like AUTH_LOG"
            )));
        }
        if !types.iter().any(|seen| seen == t) {
            types.push(t.to_owned());
        }
    }
    Ok(types)
}

/// A listing ready to run: every event type has a start, nothing has been asked yet.
pub struct Plan {
    principal: Principal,
    before: Option<String>,
    limit: u32,
    /// Event type and where its listing starts next.
    next: Vec<(String, String)>,
}

impl Plan {
    /// The event types whose start lies further back than `retention`: the files between
    /// their start and what the API still keeps are gone.
    pub fn beyond_retention(&self, retention: Duration, now: Timestamp) -> Vec<(&str, Gap)> {
        self.next
            .iter()
            .filter_map(|(t, start)| Some((t.as_str(), retention::gap(start, retention, now)?)))
            .collect()
    }

    /// Finds where each event type starts: its saved cursor, else `after`. A type with
    /// neither is a configuration error.
    pub fn new(options: ListOptions) -> Result<Plan> {
        let state = options.state.as_deref().map(State::load).transpose()?;
        let after = options.after.map(format_time);
        let mut next = Vec::with_capacity(options.event_types.len());
        for event_type in options.event_types {
            let saved = state
                .as_ref()
                .and_then(|s| s.cursor(options.principal.as_str(), &event_type));
            let start = match (saved, &after) {
                (Some(cursor), _) => resume_after(cursor),
                (None, Some(after)) => after.clone(),
                (None, None) => {
                    return Err(Error::NoStart {
                        event_type,
                        state: options.state,
                    });
                }
            };
            next.push((event_type, start));
        }
        Ok(Plan {
            principal: options.principal,
            before: options.before.map(format_time),
            limit: options.limit,
            next,
        })
    }
}

/// Where cl-list starts an event type that has a saved cursor: one microsecond before it,
/// so files that share the cursor's `end_time` come again (and are skipped) instead of being
/// missed. An opaque cursor is used as it is.
pub fn resume_after(cursor: &str) -> String {
    match cursor.parse::<Timestamp>() {
        Ok(ts) => format_time(ts.checked_sub(SignedDuration::from_micros(1)).unwrap_or(ts)),
        Err(_) => cursor.to_owned(),
    }
}

/// What catching up listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Pages asked for, all event types together.
    pub pages: u64,
    /// Files printed per event type listed, in the order given.
    pub files: Vec<(String, u64)>,
    /// Event types that could not be listed (each reported as it failed), in the order given.
    pub failed: Vec<String>,
}

/// Runs a [`Plan`]: lists each event type and writes its files to `out`, each once per run.
pub struct Lister<'a> {
    client: &'a Client,
    retry: &'a Retrier,
    observer: &'a dyn Observer,
    plan: Plan,
    out: &'a mut dyn Write,
    recent: Recent,
}

/// What one listing of one event type did.
struct Listed {
    pages: u64,
    files: u64,
    /// Where a later listing of this type resumes.
    resume: String,
}

impl<'a> Lister<'a> {
    /// A lister that reports pages to `observer` and writes lines to `out`.
    pub fn new(
        client: &'a Client,
        retry: &'a Retrier,
        observer: &'a dyn Observer,
        plan: Plan,
        out: &'a mut dyn Write,
    ) -> Self {
        Lister {
            client,
            retry,
            observer,
            plan,
            out,
            recent: Recent::default(),
        }
    }

    /// Lists every event type from its start to the newest file. Event types are
    /// independent: one the API refuses (wrong scope, unknown, not enabled) is reported and
    /// counted as failed, and the others are still listed; only what would fail them all
    /// (the key refused, the API unreachable, the output gone) ends the catch-up early.
    pub fn catch_up(&mut self) -> Result<Summary> {
        let mut summary = Summary::default();
        for i in 0..self.plan.next.len() {
            let (event_type, after) = self.plan.next[i].clone();
            let listed = match self.list(&event_type, &after) {
                Ok(listed) => listed,
                Err(error) if concerns_one_type(&error) => {
                    self.observer.event(&Event::Failed { error: &error });
                    summary.failed.push(event_type);
                    continue;
                }
                Err(error) => return Err(error),
            };
            self.observer.event(&Event::Listed {
                event_type: &event_type,
                after: &after,
                files: listed.files,
            });
            summary.pages += listed.pages;
            summary.files.push((event_type, listed.files));
            self.plan.next[i].1 = listed.resume;
        }
        // A type that failed is not followed: what the API refused it keeps refusing.
        self.plan.next.retain(|(t, _)| !summary.failed.contains(t));
        Ok(summary)
    }

    /// Polls every event type from where it stopped, every `interval`, for ever: each new file
    /// is printed once. A poll that fails for a passing reason is reported and tried again at
    /// the next interval. Returns only when stopped ([`Error::Interrupted`]), when
    /// `output_gone` says the output's reader has gone (a broken pipe, even with nothing new to
    /// write), or on a failure that another poll would not mend.
    pub fn follow(&mut self, interval: Duration, output_gone: &dyn Fn() -> bool) -> Result<()> {
        loop {
            let next_poll = Instant::now() + interval;
            while let Some(left) = next_poll.checked_duration_since(Instant::now()) {
                if output_gone() {
                    let gone = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
                    return Err(Error::io("writing to stdout", gone));
                }
                if !sleep(left.min(WATCH), self.retry.cancel_flag()) {
                    return Err(Error::Interrupted);
                }
                if left <= WATCH {
                    break;
                }
            }
            for i in 0..self.plan.next.len() {
                let (event_type, after) = self.plan.next[i].clone();
                match self.list(&event_type, &after) {
                    Ok(listed) => self.plan.next[i].1 = listed.resume,
                    Err(error) if error.is_transient() => {
                        self.observer.event(&Event::PollFailed { error: &error })
                    }
                    Err(error) => return Err(error),
                }
            }
        }
    }

    fn list(&mut self, event_type: &str, after: &str) -> Result<Listed> {
        let plan = &self.plan;
        let mut pager = Pager::new(
            self.client,
            self.retry,
            self.observer,
            ListRequest {
                principal: &plan.principal,
                event_type,
                after: after.to_owned(),
                before: plan.before.as_deref(),
                limit: plan.limit,
            },
        );
        let mut files = 0;
        for page in pager.by_ref() {
            let page = page?;
            if self.retry.cancel_flag().load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let mut lines = String::new();
            for file in &page.files {
                // The API may give the boundary file again when asked from the same cursor.
                if !self.recent.insert(&file.id) {
                    continue;
                }
                files += 1;
                lines.push_str(&write_line(
                    file,
                    &plan.principal,
                    page.last_end_time.as_deref(),
                ));
                lines.push('\n');
            }
            let writing = |e| Error::io("writing to stdout", e);
            self.out.write_all(lines.as_bytes()).map_err(writing)?;
            // Each page reaches the next tool at once, so downloads start while listing goes on.
            self.out.flush().map_err(writing)?;
        }
        Ok(Listed {
            pages: pager.pages(),
            files,
            resume: pager.resume_point().to_owned(),
        })
    }
}

/// True for failures of one event type's listing that say nothing of the others: the API's
/// answers about that type (refused, not found, malformed, a stuck cursor). A rejected key,
/// a long rate limit, an unreachable host or a closed output would fail every type alike.
fn concerns_one_type(error: &Error) -> bool {
    match error {
        Error::Http { status, .. } => *status != 401,
        Error::Protocol { .. } | Error::MalformedPage { .. } => true,
        _ => false,
    }
}

/// The ids printed lately, so a file the API repeats is printed once.
#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Recent {
    const KEEP: usize = 100_000;

    /// False when `id` was printed lately.
    fn insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == Self::KEEP
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        self.order.push_back(id.to_owned());
        self.ids.insert(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_keep_their_order_and_drop_repeats() {
        let given = ["AUTH_LOG, APP_LOG", "AUTH_LOG"].map(str::to_owned);
        let split: Vec<String> = given
            .iter()
            .flat_map(|g| g.split(','))
            .map(str::to_owned)
            .collect();
        assert_eq!(event_types(&split).unwrap(), ["AUTH_LOG", "APP_LOG"]);
        for bad in ["", "AUTH LOG", "a/b"] {
            assert!(event_types(&[bad.to_owned()]).unwrap_err().is_config());
        }
    }

    #[test]
    fn resume_starts_a_microsecond_early() {
        assert_eq!(
            resume_after("2026-07-16T00:05:48.988870+00:00"),
            "2026-07-16T00:05:48.988869Z"
        );
        assert_eq!(resume_after("opaque"), "opaque");
    }

    #[test]
    fn a_repeated_id_is_printed_once_until_it_is_long_forgotten() {
        let mut recent = Recent::default();
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        for i in 0..Recent::KEEP {
            recent.insert(&i.to_string());
        }
        assert!(recent.insert("a"), "forgotten after KEEP others");
    }
}
