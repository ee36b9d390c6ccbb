//! `cl-fetch`: download Compliance Logs Platform files, verified, to stdout or a directory.

use anyhow::{Context, Result};
use cl_cli::exit::Exit;
use cl_cli::flags::ToolFlags;
use cl_cli::report::{human_bytes, plural};
use cl_cli::tool::Session;
use cl_core::Error;
use cl_core::fetch::exec::ExecCommand;
use cl_core::fetch::{self, Destination, FetchOptions, Input};
use cl_core::model::line;
use cl_core::model::principal::Principal;
use cl_core::store::checkpoint::{Checkpoint, State};
use clap::Parser;
use std::io::{self, BufReader, BufWriter, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

mod memory;
mod metrics;

const TOOL: &str = "cl-fetch";

/// Download Compliance Logs Platform files, verified and whole.
///
/// Reads file ids from the arguments, or else from stdin one per line: bare ids, or the JSON
/// lines cl-list prints (their principal, size and SHA-256 are used). Without -o, writes the
/// files' contents to stdout in input order, each ending in a newline, each only once it is
/// complete and verified. With -o, stores each file under DIR and prints a manifest line.
/// With --exec, hands each file to a command and prints a manifest line for each it accepts.
///
/// With --state, a file written to stdout counts as delivered once written (and, when stdout
/// is a regular file, flushed to disk). A pipe cannot tell: if the program reading it fails
/// after reading, the files it lost are not delivered again. For delivery that is
/// acknowledged, use -o DIR or --exec.
#[derive(Parser, Debug)]
#[command(name = "cl-fetch", version, after_help = cl_cli::docs::examples(EXAMPLES))]
struct Args {
    /// File ids to fetch; without them, ids or cl-list lines are read from stdin.
    #[arg(value_name = "ID")]
    ids: Vec<String>,

    /// Principal for bare ids (lines from cl-list carry their own).
    #[arg(long, env = "COMPLIANCE_PRINCIPAL", value_name = "P")]
    principal: Option<String>,

    /// Write files into DIR and print one manifest line per file on stdout.
    #[arg(short, long, value_name = "DIR", conflicts_with = "exec")]
    output_dir: Option<PathBuf>,

    /// Hand each verified file to CMD, run by the shell with the file on its stdin and
    /// CL_ID, CL_PRINCIPAL, CL_EVENT_TYPE, CL_END_TIME, CL_FILE_NAME, CL_FILE_SHA256 and
    /// CL_BYTES set; a file is delivered when CMD exits 0, else retried, then left for the
    /// next run. CMD's output goes to stderr; $COMPLIANCE_API_KEY is not in its environment.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,

    /// Where files go below DIR: {principal}, {event_type}, {date} (UTC date of end_time,
    /// YYYY-MM-DD), {year}, {month}, {day}, {hour} (its parts), {id}; ids without listing
    /// metadata land flat as {id}.jsonl.
    #[arg(long, value_name = "TEMPLATE", default_value = cl_core::model::layout::DEFAULT_LAYOUT, requires = "output_dir")]
    layout: String,

    /// Save, per principal and event type, the cursor up to which every file has been
    /// delivered, for cl-list --state; files delivered by earlier runs are not delivered again.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Deliver each file as one JSON value per line, whatever its framing (JSON Lines, or
    /// values written one after another), each value's bytes kept; a file that is not JSON
    /// values fails, naming the first bad byte. Manifest lines gain "events", the count.
    #[arg(long)]
    events: bool,

    /// With --events: deliver each event once, across files and runs: an event (by its
    /// event_id per principal and type, else by its bytes) that another file delivered first
    /// is left out. FILE, a database, remembers the ids; manifest lines gain "duplicates".
    #[arg(long, value_name = "FILE", requires = "events")]
    dedup: Option<PathBuf>,

    /// How long --dedup remembers an id, by the event's own timestamp (else its file's
    /// end_time): longer than the API keeps files, so no repeat can outlast it.
    #[arg(long, value_name = "AGE", default_value = "31d", value_parser = parse_age, requires = "dedup")]
    dedup_window: std::time::Duration,

    /// With --state: a file that failed in N runs is parked, set aside in the state so its
    /// cursor can move past it (0: never); each later run says so until it is delivered
    /// (--retry-parked) or dismissed (--dismiss).
    #[arg(long, value_name = "N", default_value_t = 3, requires = "state")]
    park_after: u32,

    /// With --state: park these files (ids, repeatable) when their lines come, without
    /// fetching them.
    #[arg(long, value_name = "ID", requires = "state")]
    park: Vec<String>,

    /// With --state: fetch the files parked in it (instead of reading stdin); each one
    /// delivered leaves the parked list.
    #[arg(long, requires = "state", conflicts_with = "ids")]
    retry_parked: bool,

    /// With --state: drop these parked files (ids, repeatable) from it, fetching nothing.
    #[arg(long, value_name = "ID", requires = "state", conflicts_with_all = ["ids", "retry_parked"])]
    dismiss: Vec<String>,

    /// After the run, replace FILE whole with its figures in the Prometheus text format
    /// (for a node exporter's textfile collector): files by outcome, bytes, requests,
    /// retries, 429s, the run's end, status and last success; counters carry on from FILE.
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,

    /// Downloads in flight.
    #[arg(short, long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,

    #[command(flatten)]
    flags: ToolFlags,
}

/// This tool's own lines of its `--help` examples.
const EXAMPLES: &str =
    "  # acknowledged delivery: a file counts once CMD exits 0, else it comes again
  cl-list \"$P\" -e AUTH_LOG --after 24h --state s.json \\
    | cl-fetch --state s.json --exec 'curl -sS --fail --data-binary @- \"$SINK_URL\"'

  cl-fetch --principal \"$P\" eclf_0123456789abcdef > one.jsonl";

fn main() -> ExitCode {
    cl_cli::tool::main(TOOL, |args: &Args| &args.flags, run)
}

fn run(args: Args) -> Result<Exit> {
    if args.dedup.is_some() {
        memory::return_large_blocks();
    }
    let Some(path) = args.metrics.clone() else {
        return fetch(args, &mut None);
    };
    cl_cli::metrics::check_path(&path)?;
    let mut facts = metrics::RunFacts {
        started: jiff::Timestamp::now(),
        summary: fetch::Summary::default(),
        tally: Default::default(),
    };
    let result = fetch(args, &mut Some(&mut facts));
    let exit = match &result {
        Ok(exit) => *exit,
        Err(error) => Exit::for_error(error),
    };
    let written = metrics::build(&path, &facts, exit, exit.code()).write(&path);
    match (result, written) {
        (Ok(Exit::Success), Err(error)) => Err(error.into()),
        (result, Err(error)) => {
            cl_cli::report::error_line(TOOL, &cl_cli::hints::message_of(&error));
            result
        }
        (result, Ok(())) => result,
    }
}

/// The run itself; what it did is left in `facts` for --metrics.
fn fetch(args: Args, facts: &mut Option<&mut metrics::RunFacts>) -> Result<Exit> {
    let principal = args
        .principal
        .as_deref()
        .map(Principal::parse)
        .transpose()?;
    // Arguments are all known up front: a bad one is a usage error, not a failed download.
    for (i, id) in args.ids.iter().enumerate() {
        if let Err(why) = line::parse_line(id, principal.as_ref()) {
            let why = cl_cli::hints::line_problem(&why);
            return Err(Error::Config(format!("argument {}: {why}", i + 1)).into());
        }
    }
    // Files written nowhere would be recorded as delivered: the next run would never fetch
    // them. Refused before anything is fetched or recorded.
    if args.state.is_some()
        && args.output_dir.is_none()
        && args.exec.is_none()
        && cl_cli::output::stdout_goes_nowhere()
    {
        return Err(Error::Config(
            "--state with stdout going nowhere (/dev/null, or closed): every file would be \
             recorded as delivered though nothing received it\n\
             hint: deliver the files somewhere: -o DIR, --exec CMD, or stdout to a file or a pipe"
                .to_owned(),
        )
        .into());
    }
    if let (false, Some(state)) = (args.dismiss.is_empty(), &args.state) {
        return dismiss(state, &args.dismiss);
    }
    let layout = cl_core::model::layout::Layout::parse(&args.layout)?;
    let Session {
        reporter,
        retry,
        client,
    } = Session::open(TOOL, &args.flags.common)?;
    let destination = match (&args.output_dir, &args.exec) {
        (Some(dir), _) => {
            cl_core::store::private::create_dir_all(dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
            Destination::Directory(dir.clone(), layout)
        }
        (None, Some(command)) => Destination::Exec(ExecCommand {
            command: command.clone(),
            withheld: vec![cl_cli::flags::KEY_ENV.to_owned()],
        }),
        (None, None) => Destination::Stdout,
    };
    let input = if let (true, Some(state)) = (args.retry_parked, &args.state) {
        let lines: String = State::load(state)?
            .parked()
            .map(|(principal, event_type, id, aside)| aside.line(id, principal, event_type) + "\n")
            .collect();
        if lines.is_empty() {
            reporter.info(&format!("no files parked in {}", state.display()));
        }
        Input::Lines(Box::new(io::Cursor::new(lines.into_bytes())))
    } else if args.ids.is_empty() {
        let stdin = io::stdin();
        if stdin.is_terminal() {
            reporter.info("reading file ids or cl-list lines from stdin (end with Ctrl-D)");
        }
        Input::Lines(Box::new(BufReader::with_capacity(64 << 10, stdin)))
    } else {
        Input::Arguments(args.ids.clone())
    };
    let options = FetchOptions {
        jobs: usize::from(args.jobs),
        destination,
        principal,
        state: args.state.clone(),
        out_file: cl_cli::output::stdout_file(),
        events: args.events,
        park_after: args.park_after,
        park: args.park.iter().cloned().collect(),
        dedup: args.dedup.clone().map(|path| (path, args.dedup_window)),
    };
    let mut out = BufWriter::with_capacity(256 << 10, io::stdout().lock());
    let ran = fetch::run(client, retry, reporter.clone(), options, input, &mut out);
    if let Some(facts) = facts {
        facts.tally = reporter.tally();
        if let Ok((summary, _)) = &ran {
            facts.summary = summary.clone();
        }
    }
    let (summary, outcome) = ran?;
    reporter.finish();
    if let Err(error) = outcome {
        if matches!(error, Error::Interrupted) {
            // Said even with -q: what a stopped run made durable is what the next one skips.
            cl_cli::report::warn_line(TOOL, &format!("interrupted: {}", summary_line(&summary)));
            return Ok(Exit::stopped(false));
        } else if !error.is_broken_pipe() {
            reporter.info(&summary_line(&summary));
        }
        return Err(error.into());
    }

    let line = summary_line(&summary);
    if summary.failed > 0 {
        // Always said, even with -q: the exit status alone does not tell how many.
        cl_cli::report::error_line(TOOL, &line);
        return Ok(Exit::Failure);
    }
    reporter.info(&line);
    Ok(Exit::Success)
}

/// `--dismiss`: drops parked files from the state; an id that is not there is an error.
fn dismiss(state: &std::path::Path, ids: &[String]) -> Result<Exit> {
    let mut checkpoint = Checkpoint::open(state, 0)?;
    let found = checkpoint.dismiss(ids);
    checkpoint.save()?;
    for id in &found {
        cl_cli::report::warn_line(
            TOOL,
            &format!("{id} dismissed: it will not be fetched again"),
        );
    }
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !found.contains(id))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(Exit::Success);
    }
    cl_cli::report::error_line(
        TOOL,
        &format!(
            "not parked or failing in {}: {}",
            state.display(),
            missing.join(", ")
        ),
    );
    Ok(Exit::Failure)
}

fn parse_age(text: &str) -> std::result::Result<std::time::Duration, String> {
    cl_core::model::timestamps::parse_interval(text).map_err(|e| e.to_string())
}

fn summary_line(summary: &fetch::Summary) -> String {
    let delivered = summary.downloaded + summary.skipped;
    let mut line = format!(
        "delivered {} ({}): {} downloaded, {} already delivered",
        plural(delivered, "file"),
        human_bytes(summary.bytes),
        summary.downloaded,
        summary.skipped
    );
    if summary.duplicates > 0 {
        line.push_str(&format!(", {} repeated", summary.duplicates));
    }
    if summary.dropped_events > 0 {
        line.push_str(&format!(
            "; {} left out, delivered before",
            plural(summary.dropped_events, "duplicate event")
        ));
    }
    if summary.failed > 0 {
        line.push_str(&format!("; {} FAILED", summary.failed));
    }
    if summary.parked > 0 {
        line.push_str(&format!("; {} parked", summary.parked));
    }
    line
}
