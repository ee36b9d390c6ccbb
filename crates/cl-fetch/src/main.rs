//! `cl-fetch`: download Compliance Logs Platform files, verified, to stdout or a directory.

use anyhow::{Context, Result};
use cl_cli::exit::Exit;
use cl_cli::flags::ToolFlags;
use cl_cli::report::{human_bytes, plural};
use cl_cli::tool::Session;
use cl_core::fetch::{self, Destination, FetchOptions, Input};
use cl_core::principal::Principal;
use cl_core::{Error, line};
use clap::Parser;
use std::io::{self, BufReader, BufWriter, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

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
#[command(version, after_help = cl_cli::docs::examples(EXAMPLES))]
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
    /// next run. CMD's output goes to stderr.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,

    /// Where files go below DIR: {principal}, {event_type}, {date} (UTC date of end_time),
    /// {id}; ids without listing metadata land flat as {id}.jsonl.
    #[arg(long, value_name = "TEMPLATE", default_value = cl_core::layout::DEFAULT_LAYOUT, requires = "output_dir")]
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
    let layout = cl_core::layout::Layout::parse(&args.layout)?;
    let Session {
        reporter,
        retry,
        client,
    } = Session::open(TOOL, &args.flags.common)?;
    let destination = match (&args.output_dir, &args.exec) {
        (Some(dir), _) => {
            cl_core::private::create_dir_all(dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
            Destination::Directory(dir.clone(), layout)
        }
        (None, Some(command)) => Destination::Exec(command.clone()),
        (None, None) => Destination::Stdout,
    };
    let input = if args.ids.is_empty() {
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
    };
    let mut out = BufWriter::with_capacity(256 << 10, io::stdout().lock());
    let (summary, outcome) = fetch::run(client, retry, reporter.clone(), options, input, &mut out)?;
    reporter.finish();
    if let Err(error) = outcome {
        if !error.is_broken_pipe() {
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
    if summary.failed > 0 {
        line.push_str(&format!("; {} FAILED", summary.failed));
    }
    line
}
