//! The cl-list pipeline: where each event type starts (its saved cursor, else `--after`),
//! paging through it, one NDJSON line per file, each file printed once, and following the
//! listing for new files once caught up.

use crate::error::{Error, Result};
use crate::list::paging::{Pager, resume_after};
use crate::model::event_types;
use crate::model::line::write_line;
use crate::model::principal::{Principal, Scope};
use crate::model::retention::{self, Gap};
use crate::model::timestamps::compare_instants;
use crate::model::timestamps::{Timestamp, format_time};
use crate::net::retry::{Retrier, sleep};
use crate::net::{Client, ListRequest};
use crate::observe::{Event, Observer};
use crate::store::checkpoint::State;
use crate::store::listed::{Listed, Reached};
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
    pub event_types: Wanted,
    /// Where event types without a saved cursor start.
    pub after: Option<Timestamp>,
    /// Exclusive upper bound on `end_time`.
    pub before: Option<Timestamp>,
    /// Page size asked of the API.
    pub limit: u32,
    /// The state file whose cursors say where each event type resumes.
    pub state: Option<PathBuf>,
}

/// The event types asked for, in order, `all` expanded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Every name, in the order given, each once.
    pub names: Vec<String>,
    /// The names that only `all` brought: a refusal of one of them is said and skipped (see
    /// [`event_types::refusal`]), not a failure.
    pub via_all: HashSet<String>,
}

impl Wanted {
    /// True when `event_type` came only from `all`.
    pub fn via_all(&self, event_type: &str) -> bool {
        self.via_all.contains(event_type)
    }
}

/// Splits, trims and checks event types; keeps their order and drops repeats. `all` (in any
/// case) stands for every type known for a principal of `scope`
/// ([`crate::model::event_types::all`]); other names pass through as given.
pub fn event_types(given: &[String], scope: Scope) -> Result<Wanted> {
    let mut wanted = Wanted::default();
    let mut named = HashSet::new();
    for t in given.iter().map(|t| t.trim()) {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::Config(format!(
                "invalid event type {t:?}: expected a name like AUTH_LOG, or all"
            )));
        }
        let names: Vec<&str> = if t.eq_ignore_ascii_case("all") {
            event_types::all(scope).collect()
        } else {
            named.insert(t.to_owned());
            vec![t]
        };
        for name in names {
            if !wanted.names.iter().any(|seen| seen == name) {
                wanted.names.push(name.to_owned());
            }
        }
    }
    wanted.via_all = wanted
        .names
        .iter()
        .filter(|n| !named.contains(*n))
        .cloned()
        .collect();
    Ok(wanted)
}

/// A listing ready to run: every event type has a start, nothing has been asked yet.
pub struct Plan {
    principal: Principal,
    before: Option<String>,
    limit: u32,
    /// Event type and where its listing starts next.
    next: Vec<(String, String)>,
    /// The types only `all` brought.
    via_all: HashSet<String>,
    /// The state file, whose listing record notes each type listed to its end.
    state: Option<PathBuf>,
    /// That record, as read at the start and updated as types reach their end.
    listed: Listed,
}

impl Plan {
    /// The event types whose start lies further back than `retention`: the files between
    /// their start and what the API still keeps are gone.
    /// A type whose last listing to its end (see [`crate::store::listed`]) is within the
    /// retention lost nothing, however old its start: it is not named.
    pub fn beyond_retention(&self, retention: Duration, now: Timestamp) -> Vec<(&str, Gap)> {
        let kept_since = now
            .checked_sub(jiff::SignedDuration::try_from(retention).unwrap_or_default())
            .unwrap_or(now);
        self.next
            .iter()
            .filter(|(t, _)| {
                self.listed
                    .reached(self.principal.as_str(), t)
                    .and_then(|r| r.at.parse::<Timestamp>().ok())
                    .is_none_or(|at| at < kept_since)
            })
            .filter_map(|(t, start)| Some((t.as_str(), retention::gap(start, retention, now)?)))
            .collect()
    }

    /// Finds where each event type starts: its saved cursor, else `after`. A type with
    /// neither is a configuration error.
    pub fn new(options: ListOptions) -> Result<Plan> {
        let state = options.state.as_deref().map(State::load).transpose()?;
        let listed = options
            .state
            .as_deref()
            .map(Listed::load)
            .unwrap_or_default();
        let after = options.after.map(format_time);
        let mut next = Vec::with_capacity(options.event_types.names.len());
        for event_type in options.event_types.names {
            // An open gap starts the listing where it begins: its files are listed at last.
            let saved = state.as_ref().and_then(|s| {
                s.gap_from(options.principal.as_str(), &event_type)
                    .or_else(|| s.cursor(options.principal.as_str(), &event_type))
            });
            // A type listed to its end with no file delivered yet starts where that listing
            // did: nothing between was missed.
            let reached = listed
                .reached(options.principal.as_str(), &event_type)
                .map(|r| r.from.clone());
            let start = match (saved, reached, &after) {
                (Some(cursor), _, _) => resume_after(cursor),
                (None, Some(from), _) => from,
                (None, None, Some(after)) => after.clone(),
                (None, None, None) => {
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
            via_all: options.event_types.via_all,
            state: options.state,
            listed,
        })
    }
}

/// What catching up listed.
#[derive(Debug, Default)]
pub struct Summary {
    /// Pages asked for, all event types together.
    pub pages: u64,
    /// Files printed per event type listed, in the order given.
    pub files: Vec<(String, u64)>,
    /// Event types that could not be listed (each reported as it failed), in the order given.
    pub failed: Vec<String>,
    /// Types `all` brought that the API refused for this principal (each said as it came),
    /// and why.
    pub skipped: Vec<(String, Error)>,
}

/// Runs a [`Plan`]: lists each event type and writes its files to `out`, each once per run.
pub struct Lister<'a> {
    client: &'a Client,
    retry: &'a Retrier,
    observer: &'a dyn Observer,
    plan: Plan,
    out: &'a mut dyn Write,
    recent: Recent,
    /// When the listing record was last saved.
    saved_listed: Instant,
}

/// What one listing of one event type did.
struct OneType {
    pages: u64,
    files: u64,
    /// Where a later listing of this type resumes.
    resume: String,
    /// The newest `end_time` seen (its last cursor), if any file was.
    newest: Option<String>,
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
            saved_listed: Instant::now(),
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
                    match event_types::refusal(&error) {
                        // Under `all`: said once and skipped.
                        Some(_) if self.plan.via_all.contains(&event_type) => {
                            self.observer.event(&Event::TypeSkipped {
                                event_type: &event_type,
                                error: &error,
                            });
                            summary.skipped.push((event_type, error));
                        }
                        _ => {
                            self.observer.event(&Event::Failed { error: &error });
                            summary.failed.push(event_type);
                        }
                    }
                    continue;
                }
                Err(error) => return Err(error),
            };
            self.observer.event(&Event::Listed {
                event_type: &event_type,
                after: &after,
                files: listed.files,
            });
            self.reached(&event_type, &after, listed.newest.clone());
            summary.pages += listed.pages;
            summary.files.push((event_type, listed.files));
            self.plan.next[i].1 = listed.resume;
        }
        self.save_listed();
        // Every type refused, `all` or not: that says more of the key than of the types.
        if summary.files.is_empty() && summary.failed.is_empty() && !summary.skipped.is_empty() {
            for (event_type, error) in std::mem::take(&mut summary.skipped) {
                self.observer.event(&Event::Failed { error: &error });
                summary.failed.push(event_type);
            }
        }
        // A type that failed is not followed: what the API refused it keeps refusing.
        let out: HashSet<&String> = summary
            .failed
            .iter()
            .chain(summary.skipped.iter().map(|(t, _)| t))
            .collect();
        self.plan.next.retain(|(t, _)| !out.contains(t));
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
                    Ok(listed) => {
                        self.reached(&event_type, &after, listed.newest.clone());
                        self.plan.next[i].1 = listed.resume;
                    }
                    Err(error) if error.is_transient() => {
                        self.observer.event(&Event::PollFailed { error: &error })
                    }
                    Err(error) => return Err(error),
                }
            }
            if self.saved_listed.elapsed() >= SAVE_LISTED_EVERY {
                self.save_listed();
            }
        }
    }

    fn list(&mut self, event_type: &str, after: &str) -> Result<OneType> {
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
                    after,
                ));
                lines.push('\n');
            }
            let writing = |e| Error::io("writing to stdout", e);
            self.out.write_all(lines.as_bytes()).map_err(writing)?;
            // Each page reaches the next tool at once, so downloads start while listing goes on.
            self.out.flush().map_err(writing)?;
        }
        Ok(OneType {
            pages: pager.pages(),
            files,
            resume: pager.resume_point(),
            newest: pager.cursor().map(str::to_owned),
        })
    }
}

impl Lister<'_> {
    /// Notes in the listing record that a listing of `event_type` from `after` reached its
    /// end, having seen up to `newest`. Not for a listing bounded by `--before`: it did not
    /// look up to now.
    fn reached(&mut self, event_type: &str, after: &str, newest: Option<String>) {
        if self.plan.state.is_none() || self.plan.before.is_some() {
            return;
        }
        let principal = self.plan.principal.as_str().to_owned();
        // The first start of a type is kept while no file of it is delivered: a later
        // listing starts later only once cl-fetch has a cursor for it.
        let from = match self.plan.listed.reached(&principal, event_type) {
            Some(before) if compare_instants(&before.from, after).is_some_and(|o| o.is_lt()) => {
                before.from.clone()
            }
            _ => after.to_owned(),
        };
        let newest = newest.or_else(|| {
            self.plan
                .listed
                .reached(&principal, event_type)
                .and_then(|r| r.newest.clone())
        });
        let at = format_time(Timestamp::now());
        self.plan
            .listed
            .note(&principal, event_type, Reached { from, newest, at });
    }

    /// Saves the listing record, if there is a state to keep it beside. It is advice: a save
    /// that fails is said, and the listing goes on.
    fn save_listed(&mut self) {
        self.saved_listed = Instant::now();
        if let (Some(state), None) = (&self.plan.state, &self.plan.before)
            && let Err(error) = self.plan.listed.save(state)
        {
            let message = format!("{error} (the listing goes on; --check may say behind)");
            self.observer.event(&Event::Warning { message: &message });
        }
    }
}

/// How often a feed saves its listing record.
const SAVE_LISTED_EVERY: Duration = Duration::from_secs(60);

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
        let ws = Scope::Workspaces;
        let wanted = event_types(&split, ws).unwrap();
        assert_eq!(wanted.names, ["AUTH_LOG", "APP_LOG"]);
        assert!(wanted.via_all.is_empty());
        for bad in ["", "AUTH LOG", "a/b"] {
            assert!(event_types(&[bad.to_owned()], ws).unwrap_err().is_config());
        }
    }

    #[test]
    fn all_stands_for_every_known_type_and_names_given_stay_named() {
        let given = ["NEW_TYPE", "all", "APP_LOG"].map(str::to_owned);
        let wanted = event_types(&given, Scope::Organizations).unwrap();
        assert_eq!(wanted.names, ["NEW_TYPE", "AUTH_LOG", "COSTS", "APP_LOG"]);
        assert!(wanted.via_all("AUTH_LOG") && wanted.via_all("COSTS"));
        assert!(!wanted.via_all("NEW_TYPE") && !wanted.via_all("APP_LOG"));
        let named = event_types(
            &["ALL".to_owned(), "COSTS".to_owned()],
            Scope::Organizations,
        )
        .unwrap();
        assert!(
            !named.via_all("COSTS"),
            "named as well: a refusal fails the run"
        );
        assert_eq!(
            event_types(&["all".to_owned()], Scope::Workspaces)
                .unwrap()
                .names
                .len(),
            9
        );
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
