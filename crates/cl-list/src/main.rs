//! `cl-list`: print one NDJSON line per Compliance Logs Platform file.

use anyhow::Result;
use cl_cli::exit::Exit;
use cl_cli::report::{Reporter, plural};
use cl_cli::tool::Session;
use cl_core::Error;
use cl_core::list::check::{CheckOptions, Status};
use cl_core::list::listing::{self, ListOptions, Lister, Plan};
use cl_core::model::principal::Principal;
use cl_core::model::timestamps::{Timestamp, format_time, parse_time};
use cl_core::observe::{Event, Observer};
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

mod args;
mod metrics;

use args::Args;

const TOOL: &str = "cl-list";

fn main() -> ExitCode {
    cl_cli::tool::main(TOOL, |args: &Args| &args.flags, run)
}

fn run(args: Args) -> Result<Exit> {
    if args.type_list {
        let mut out = io::stdout().lock();
        out.write_all(cl_cli::docs::type_list().as_bytes())?;
        out.flush()?;
        return Ok(Exit::Success);
    }
    if args.check {
        return check(&args);
    }
    let now = Timestamp::now();
    let time = |text: &Option<String>| text.as_deref().map(|t| parse_time(t, now)).transpose();
    let principal = Principal::parse(args.principal.as_deref().unwrap_or_default())?;
    let event_types = listing::event_types(&args.event_types, principal.scope())?;
    let (after, before) = (time(&args.after)?, time(&args.before)?);
    if let (Some(after), Some(before)) = (after, before)
        && before <= after
    {
        return Err(Error::Config(format!(
            "--before {} is not later than --after {}: no file can be in between\n\
             hint: an age counts back from now, so --after 7d --before 1d is the last week but a day",
            format_time(before),
            format_time(after)
        ))
        .into());
    }
    let plan = Plan::new(ListOptions {
        principal,
        event_types: event_types.clone(),
        after,
        before,
        limit: args.limit,
        state: args.state.clone(),
    })?;
    for (event_type, gap) in plan.beyond_retention(args.retention, now) {
        // Said even with -q: files are gone for good.
        cl_cli::report::warn_line(
            TOOL,
            &format!(
                "{event_type} starts {} days back, beyond the API's retention of about {} days \
                 (--retention): its files before {} are gone for good",
                gap.age.as_secs() / 86_400,
                args.retention.as_secs() / 86_400,
                format_time(gap.kept_since)
            ),
        );
    }
    let Session {
        reporter,
        retry,
        client,
    } = Session::open(TOOL, &args.flags.common)?;
    let mut out = BufWriter::with_capacity(64 << 10, io::stdout().lock());
    let mut lister = Lister::new(&client, &retry, reporter.as_ref(), plan, &mut out);
    match list(&args, &mut lister, &reporter, &event_types.names) {
        Ok(true) => Ok(Exit::Success),
        Ok(false) => Ok(Exit::Failure),
        // A feed is stopped, not failed (see `Exit::stopped`).
        Err(Error::Interrupted) if args.follow => Ok(Exit::stopped(true)),
        Err(error) => Err(error.into()),
    }
}

/// `--check`: one JSON line per event type; exit 0 only when every type is ok.
fn check(args: &Args) -> Result<Exit> {
    let principal = Principal::parse(args.principal.as_deref().unwrap_or_default())?;
    let options = CheckOptions {
        event_types: listing::event_types(&args.event_types, principal.scope())?,
        principal,
        state: args.state.clone(),
        max_lag: Some(args.max_lag),
        retention: args.retention,
    };
    if let Some(path) = &args.metrics {
        cl_cli::metrics::check_path(path)?;
    }
    let Session {
        reporter,
        retry,
        client,
    } = Session::open(TOOL, &args.flags.common)?;
    let at = jiff::Timestamp::now();
    let checked =
        cl_core::list::check::check(&client, &retry, &options, &cl_cli::hints::message_of)?;
    if let Some(path) = &args.metrics {
        metrics::build(path, options.principal.as_str(), &checked, at).write(path)?;
    }
    reporter.finish();
    for (event_type, error) in &checked.skipped {
        reporter.event(&Event::TypeSkipped { event_type, error });
    }
    let answers = checked.answers;
    let mut out = io::stdout().lock();
    for answer in &answers {
        writeln!(out, "{}", answer.to_json_line(&options.principal))?;
    }
    out.flush()?;
    let all_ok = answers.iter().all(|a| a.status == Status::Ok);
    Ok(if all_ok { Exit::Success } else { Exit::Failure })
}

/// Catches up, says what was listed, then follows the listing when asked. False when an
/// event type could not be listed.
fn list(
    args: &Args,
    lister: &mut Lister<'_>,
    reporter: &Reporter,
    event_types: &[String],
) -> cl_core::Result<bool> {
    let summary = lister.catch_up()?;
    if !args.follow {
        reporter.finish();
    }
    let total: u64 = summary.files.iter().map(|(_, n)| n).sum();
    let per_type: Vec<String> = summary
        .files
        .iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect();
    if !summary.files.is_empty() {
        reporter.info(&format!(
            "listed {} in {} ({})",
            plural(total, "file"),
            plural(summary.pages, "page"),
            per_type.join(", ")
        ));
    }
    // With one event type, its own error has said it all.
    if !summary.failed.is_empty() && event_types.len() > 1 {
        // Always said, even with -q: the exit status alone does not tell which.
        cl_cli::report::error_line(
            TOOL,
            &format!(
                "{} of {} could not be listed: {}",
                summary.failed.len(),
                plural(event_types.len() as u64, "event type"),
                summary.failed.join(", ")
            ),
        );
    }
    let followed: Vec<&String> = event_types
        .iter()
        .filter(|t| !summary.failed.contains(t) && !summary.skipped.iter().any(|(s, _)| s == *t))
        .collect();
    if !args.follow || followed.is_empty() {
        return Ok(summary.failed.is_empty());
    }
    reporter.info(&format!(
        "following {}: polling every {} s; stop with Ctrl-C",
        followed
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        args.interval.as_secs()
    ));
    lister.follow(args.interval, &cl_cli::output::stdout_reader_gone)?;
    Ok(summary.failed.is_empty())
}
