//! `cl-list`: print one NDJSON line per Compliance Logs Platform file.

use anyhow::Result;
use cl_cli::docs::DocArgs;
use cl_cli::exit::Exit;
use cl_cli::flags::CommonArgs;
use cl_cli::report::{Reporter, plural};
use cl_cli::tool::{Session, ToolArgs};
use cl_core::api::{Client, ListRequest};
use cl_core::checkpoint::{State, resume_after};
use cl_core::paging::Pager;
use cl_core::principal::Principal;
use cl_core::retry::Retrier;
use cl_core::timestamps::{Timestamp, format_time, parse_time};
use cl_core::{Error, observe::Observer};
use clap::Parser;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TOOL: &str = "cl-list";

/// List Compliance Logs Platform files, one JSON object per line.
///
/// Pages through the listing of each event type in the order given and prints every file
/// with all the fields the API returned, plus `principal` and `cursor` (the listing cursor
/// of the page the file came on). Progress and a summary go to stderr.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES)]
struct Args {
    /// Workspace UUID, or org-… id for an API Platform organization.
    #[arg(
        env = "COMPLIANCE_PRINCIPAL",
        value_name = "PRINCIPAL",
        required_unless_present_any = ["completions", "man"]
    )]
    principal: Option<String>,

    /// Event type to list (AUTH_LOG, CONVERSATION_MESSAGE, …); repeat it or separate with commas.
    #[arg(
        short,
        long = "event-type",
        value_name = "TYPE",
        value_delimiter = ',',
        required_unless_present_any = ["completions", "man"]
    )]
    event_types: Vec<String>,

    /// List files after this time: RFC 3339 with an offset, or an age (90m, 24h, 7d, 2w).
    #[arg(long, value_name = "TIME")]
    after: Option<String>,

    /// List files before this time (exclusive); same forms as --after.
    #[arg(long, value_name = "TIME")]
    before: Option<String>,

    /// Start each event type from the cursor cl-fetch --state saved in FILE; --after is the
    /// start for event types FILE does not know yet.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// After catching up, keep polling for new files and print each once, until interrupted.
    #[arg(long)]
    follow: bool,

    /// Time between polls in --follow: seconds, or with a unit (90s, 5m, 1h).
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_interval, requires = "follow")]
    interval: Duration,

    /// Page size asked of the API.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,

    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    docs: DocArgs,
}

const EXAMPLES: &str = "\
Examples:
  cl-list \"$P\" -e AUTH_LOG --after 24h | cl-fetch > auth.jsonl

  # hourly from cron: resumes where the last run stopped
  cl-list \"$P\" -e AUTH_LOG,APP_LOG --after 24h --state s.json \\
    | cl-fetch -j 8 -o lake/ --state s.json

  cl-list \"$P\" -e AUTH_LOG --after 7d | jq -r .id \\
    | xargs -P 8 -n 50 cl-fetch --principal \"$P\" -o lake/
  cl-list \"$P\" -e AUTH_LOG --after 7d | parallel --pipe -N 100 cl-fetch -o lake/

  # a continuous feed
  cl-list \"$P\" -e AUTH_LOG --after 1h --state s.json --follow --interval 5m \\
    | cl-fetch -o lake/ --state s.json

  cl-list \"$P\" -e AUDIT_LOG --after 2026-07-01T00:00:00Z --before 2026-07-02T00:00:00Z";

fn parse_interval(text: &str) -> Result<Duration, String> {
    cl_core::timestamps::parse_interval(text).map_err(|e| e.to_string())
}

impl ToolArgs for Args {
    fn docs(&self) -> &DocArgs {
        &self.docs
    }
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> ExitCode {
    cl_cli::tool::main(TOOL, |args: Args| {
        let following = args.follow;
        match run(args) {
            Ok(()) => Ok(Exit::Success),
            // A feed is stopped, not failed (see `Exit::stopped`).
            Err(error)
                if following
                    && matches!(error.downcast_ref::<Error>(), Some(Error::Interrupted)) =>
            {
                Ok(Exit::stopped(true))
            }
            Err(error) => Err(error),
        }
    })
}

fn run(args: Args) -> Result<()> {
    let principal = Principal::parse(args.principal.as_deref().unwrap_or_default())?;
    let event_types = event_types(&args.event_types)?;
    let now = Timestamp::now();
    let after = args
        .after
        .as_deref()
        .map(|text| parse_time(text, now).map(format_time))
        .transpose()?;
    let before = args
        .before
        .as_deref()
        .map(|text| parse_time(text, now).map(format_time))
        .transpose()?;
    let state = args.state.as_deref().map(State::load).transpose()?;
    // Where each event type starts: its saved cursor, else --after.
    let mut starts = Vec::with_capacity(event_types.len());
    for event_type in &event_types {
        let saved = state
            .as_ref()
            .and_then(|s| s.cursor(principal.as_str(), event_type));
        let start = match (saved, &after) {
            (Some(cursor), _) => resume_after(cursor),
            (None, Some(after)) => after.clone(),
            (None, None) => {
                let why = match &args.state {
                    Some(file) => format!(
                        "--after is required: {} has no cursor for {event_type} yet",
                        file.display()
                    ),
                    None => "--after is required".to_owned(),
                };
                return Err(Error::Config(format!(
                    "{why}\nhint: give RFC 3339 with an offset (2026-01-01T00:00:00Z) or an age (24h, 7d)"
                ))
                .into());
            }
        };
        starts.push(start);
    }
    let Session {
        reporter,
        retry,
        client,
    } = Session::open(TOOL, &args.common)?;
    let stop = retry.cancel_flag().clone();

    let mut lister = Lister {
        client: &client,
        retry: &retry,
        reporter: &reporter,
        principal: &principal,
        before: before.as_deref(),
        limit: args.limit,
        stop: &stop,
        out: BufWriter::with_capacity(64 << 10, io::stdout().lock()),
        recent: Recent::default(),
    };
    let mut counts = Vec::new();
    let mut pages = 0;
    let mut resume = Vec::with_capacity(event_types.len());
    for (event_type, start) in event_types.iter().zip(starts) {
        let listed = lister.list(event_type, &start)?;
        pages += listed.pages;
        counts.push((event_type.as_str(), listed.files));
        if listed.files == 0 {
            reporter.info(&format!("no files of {event_type} after {start}"));
        }
        resume.push(listed.resume);
    }
    if !args.follow {
        reporter.finish();
    }
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let per_type: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n}")).collect();
    reporter.info(&format!(
        "listed {} in {} ({})",
        plural(total, "file"),
        plural(pages, "page"),
        per_type.join(", ")
    ));
    if let Some(interval) = args.follow.then_some(args.interval) {
        follow(&mut lister, &event_types, resume, interval)?;
    }
    Ok(())
}

/// After catching up, polls every event type from where it stopped, for ever: each new file is
/// printed once. A poll that fails for a passing reason is reported and tried again at the
/// next interval; SIGINT or SIGTERM ends the feed.
fn follow(
    lister: &mut Lister<'_>,
    event_types: &[String],
    mut resume: Vec<String>,
    interval: Duration,
) -> Result<()> {
    lister.reporter.info(&format!(
        "following {}: polling every {} s; stop with Ctrl-C",
        event_types.join(", "),
        interval.as_secs()
    ));
    loop {
        if !cl_core::retry::sleep(interval, lister.stop) {
            return Err(Error::Interrupted.into());
        }
        for (event_type, after) in event_types.iter().zip(resume.iter_mut()) {
            match lister.list(event_type, after) {
                Ok(listed) => *after = listed.resume,
                Err(error) => match error.downcast_ref::<Error>() {
                    Some(e) if e.is_transient() => {
                        cl_cli::report::error_line(TOOL, &format!("{error:#}; trying again later"))
                    }
                    _ => return Err(error),
                },
            }
        }
    }
}

/// Lists event types and prints their files, each once per run.
struct Lister<'a> {
    client: &'a Client,
    retry: &'a Retrier,
    reporter: &'a Reporter,
    principal: &'a Principal,
    before: Option<&'a str>,
    limit: u32,
    stop: &'a AtomicBool,
    out: BufWriter<io::StdoutLock<'static>>,
    recent: Recent,
}

/// What one listing of one event type did.
struct Listed {
    pages: u64,
    files: u64,
    /// Where a later listing of this type resumes.
    resume: String,
}

impl Lister<'_> {
    fn list(&mut self, event_type: &str, after: &str) -> Result<Listed> {
        let mut pager = Pager::new(
            self.client,
            self.retry,
            self.reporter as &dyn Observer,
            ListRequest {
                principal: self.principal,
                event_type,
                after: after.to_owned(),
                before: self.before,
                limit: self.limit,
            },
        );
        let principal = Value::String(self.principal.to_string());
        let mut files = 0;
        for page in pager.by_ref() {
            let page = page?;
            if self.stop.load(Ordering::Relaxed) {
                return Err(Error::Interrupted.into());
            }
            let cursor = page
                .last_end_time
                .clone()
                .map_or(Value::Null, Value::String);
            let mut lines = String::new();
            for file in &page.files {
                // The API may give the boundary file again when asked from the same cursor.
                if !self.recent.insert(&file.id) {
                    continue;
                }
                files += 1;
                lines.push_str(
                    &file.to_json_line(&[("principal", &principal), ("cursor", &cursor)]),
                );
                lines.push('\n');
            }
            self.out.write_all(lines.as_bytes())?;
            // Each page reaches the next tool at once, so downloads start while listing goes on.
            self.out.flush()?;
        }
        Ok(Listed {
            pages: pager.pages(),
            files,
            resume: pager.resume_point().to_owned(),
        })
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

/// Splits, trims and checks the event types; keeps their order and drops repeats.
fn event_types(given: &[String]) -> Result<Vec<String>> {
    let mut types: Vec<String> = Vec::new();
    for t in given.iter().map(|t| t.trim()) {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::Config(format!(
                "invalid event type {t:?}: expected a name like AUTH_LOG"
            ))
            .into());
        }
        if !types.iter().any(|seen| seen == t) {
            types.push(t.to_owned());
        }
    }
    Ok(types)
}
