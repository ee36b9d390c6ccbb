//! `cl-pull`: one unattended run of `cl-list --state | cl-fetch --state` from a settings
//! file, for cron, systemd timers, Kubernetes CronJobs and Task Scheduler.

use cl_cli::report::{error_line, error_line_on_stderr, info_line};
use cl_core::store::checkpoint::StateLock;
use clap::Parser;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod pipeline;
mod settings;
mod tools;

use pipeline::{Plan, Relay};
use settings::{Environment, Settings};

const TOOL: &str = "cl-pull";

/// One unattended run of cl-list --state | cl-fetch --state, from a settings file.
///
/// Starts cl-list and cl-fetch as two processes joined by a pipe, exactly as the pipeline by
/// hand in docs/recipes.md, with everything an unattended run needs: it finds the tools under
/// cron's bare environment, fails when either tool fails, sends both tools' messages to one
/// log, and never runs two pipelines on one state file.
///
/// CONFIG holds NAME=value lines; blank lines and lines starting with # (after any blanks)
/// are ignored; a name given twice takes its last value. The rest of the line is the value,
/// taken as written: nothing in it is expanded, and quotes wrapping the whole value ('…' or
/// "…", with no such quote inside) are removed. Relative paths are taken from CONFIG's
/// directory, where the tools run. The file is the whole configuration: COMPLIANCE_API_BASE,
/// COMPLIANCE_PRINCIPAL and COMPLIANCE_RETENTION in the caller's environment are ignored
/// (cron would not have them); proxy variables pass through.
#[derive(Parser, Debug)]
#[command(name = "cl-pull", version, after_help = after_help())]
struct Args {
    /// Print the two command lines the run would start (shell-quoted, to paste), and exit:
    /// nothing runs, nothing is created, no lock is taken.
    #[arg(long)]
    dry_run: bool,

    /// Keep the pipeline running (cl-list --follow, every FOLLOW_INTERVAL); SIGTERM then
    /// stops the listing and lets cl-fetch deliver what was listed, exiting 0.
    #[arg(long)]
    follow: bool,

    /// The settings file.
    #[arg(value_name = "CONFIG", required_unless_present_any = ["completions", "man"])]
    config: Option<PathBuf>,

    #[command(flatten)]
    docs: cl_cli::docs::DocArgs,
}

/// The settings, then the examples, at the end of `--help`.
const SETTINGS: &str = "\
Settings:
  COMPLIANCE_PRINCIPAL     workspace id or org-… id                               (required)
  EVENT_TYPES              all, or comma-separated, e.g. AUTH_LOG,AUDIT_LOG       (required)
  STATE_FILE               the checkpoint; created by the first run               (required)
  OUTPUT_DIR               directory the files go to (cl-fetch -o)    (required unless EXEC)
  EXEC                     instead of OUTPUT_DIR: hand each file to this shell command on its
                           stdin (cl-fetch --exec); delivered only when it exits 0
  COMPLIANCE_API_KEY_FILE  file whose first line is the key; default $CREDENTIALS_DIRECTORY/
                           api-key (systemd's LoadCredential=api-key:…), else the
                           COMPLIANCE_API_KEY environment variable
  COMPLIANCE_API_BASE      API base URL (default: the tools' own, the real API)
  FIRST_AFTER              where a type the state does not know yet starts (default 24h)
  JOBS                     downloads (or EXEC commands) at once (default 4)
  MANIFEST                 file the manifest lines are appended to (default: STATE_FILE with
                           .json replaced by .manifest.jsonl)
  LOG_FILE                 append cl-pull's and both tools' messages here (default: stderr,
                           which cron mails and systemd journals); with LOG_FILE set, a
                           failed run still says so in one line on stderr
  LOG_FORMAT               text (default) or json (one JSON object per line, as the tools')
  QUIET                    yes (default: errors and warnings only) or no (progress too)
  SUMMARY                  yes, no, or auto (default): a line per run saying what it
                           delivered; auto says it where a log keeps it, that is with
                           LOG_FILE set or under systemd's journal, not to cron's mail
  LAYOUT                   cl-fetch --layout TEMPLATE
  FOLLOW_INTERVAL          with --follow, time between polls (default 60s)
  LIST_OPTIONS, FETCH_OPTIONS  more options for cl-list / cl-fetch, split at blanks (no
                           quoting, no wildcards)
  CL_BIN_DIR               where cl-list and cl-fetch are (also from the environment);
                           default: beside cl-pull, then PATH, ~/.cargo/bin, /usr/local/bin,
                           /usr/bin
  COMPLIANCE_RETENTION, HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy, ALL_PROXY,
  all_proxy, NO_PROXY, no_proxy, SSL_CERT_FILE     passed to both tools as they are

One run at a time per state file: a run that finds another still working on the same
STATE_FILE (its lock, STATE_FILE.pull.lock, held) logs that it skipped and exits 0; the next
run catches up, and `cl-list --check` alerts if runs keep being skipped. SIGINT and SIGTERM
are passed on to both tools, and cl-pull waits for them.

Exit status: 0 all delivered (or skipped, see above); otherwise cl-list's status if it
failed, else cl-fetch's (1 runtime failure, 2 usage or configuration, 130/143 interrupted);
2 for a bad CONFIG; 127 when the tools are not found.";

const EXAMPLES: &str = "\
Examples:
  cl-pull --dry-run ~/cl/pull.conf     # the pipeline it runs, to read or paste
  cl-pull ~/cl/pull.conf && tail -1 ~/cl/cl.log

  # hourly from cron (the README's hourly job)
  17 * * * * $HOME/.cargo/bin/cl-pull $HOME/cl/pull.conf

  cl-pull --follow /etc/cl-pull/acme.conf    # a feed: new files as they come";

fn after_help() -> String {
    format!("{SETTINGS}\n\n{EXAMPLES}")
}

/// The man page's sections that clap does not make.
const MAN_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
Every file delivered; also when another run held the state file's lock (the run skipped), and
when a \fB\-\-follow\fR feed was stopped by SIGTERM.
.TP
1, 2, 130, 143
cl\-list's status when it failed, else cl\-fetch's: runtime failure, usage or configuration
error, interrupted by SIGINT or SIGTERM. 2 also for a bad settings file (its line named).
.TP
127
cl\-list or cl\-fetch not found.
.SH ENVIRONMENT
.TP
COMPLIANCE_API_KEY
The key, when neither COMPLIANCE_API_KEY_FILE nor a systemd credential gives one.
.TP
CREDENTIALS_DIRECTORY
systemd's: its api\-key file is the key when the settings name none.
.TP
CL_BIN_DIR
Where cl\-list and cl\-fetch are, unless the settings say.
.TP
HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY
Passed to both tools (the settings' own win).
.SH "SEE ALSO"
\fBcl\-list\fR(1), \fBcl\-fetch\fR(1), \fBcron\fR(8), \fBsystemd.timer\fR(5). The README's
hourly job, and docs/deployment.md.
"#;

fn main() -> ExitCode {
    cl_cli::tool::documented(TOOL, |args: &Args| &args.docs, MAN_SECTIONS, run)
}

/// Where messages go: stderr, until LOG_FILE takes them.
#[derive(Default)]
struct Log {
    /// The log file, once open, and its name as shown.
    file: Option<(File, PathBuf)>,
}

impl Log {
    /// Says why the run ends, and ends it with `status`. With a log file, stderr hears it
    /// too, so cron still mails it.
    fn die(&self, status: u8, message: &str) -> u8 {
        error_line(TOOL, message);
        if let Some((_, shown)) = &self.file {
            error_line_on_stderr(TOOL, &format!("{message} (see {})", shown.display()));
        }
        status
    }
}

fn run(args: Args) -> anyhow::Result<u8> {
    cl_core::store::private::owner_only_from_now();
    let mut log = Log::default();
    let Some(config) = args.config.as_deref() else {
        return Ok(log.die(2, "usage: cl-pull [--dry-run] [--follow] CONFIG"));
    };
    Ok(pull(&args, config, &mut log).unwrap_or_else(|(status, message)| log.die(status, &message)))
}

/// A run's early end: its status and why.
type Stop = (u8, String);

fn pull(args: &Args, config: &Path, log: &mut Log) -> Result<u8, Stop> {
    let shown = config.display().to_string();
    let usage = |settings::Invalid(message)| (2, message);
    let text = std::fs::metadata(config)
        .ok()
        .filter(|m| m.is_file())
        .and_then(|_| std::fs::read(config).ok())
        .ok_or_else(|| (2, format!("cannot read the settings file {shown}")))?;
    let values = settings::parse(&shown, &text).map_err(usage)?;
    cl_cli::report::set_format(settings::log_format(&shown, &values).map_err(usage)?);
    let settings = Settings::check(&shown, &values, &environment()).map_err(usage)?;
    let dir = match config.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::path::absolute(parent),
        None => std::env::current_dir(),
    }
    .ok()
    .filter(|dir| dir.is_dir())
    .ok_or_else(|| (2, format!("cannot enter the directory of {shown}")))?;
    let at = |file: &str| dir.join(file);

    if !args.dry_run {
        for file in [Some(&settings.state_file), Some(&settings.manifest)]
            .into_iter()
            .chain([settings.log_file.as_ref()])
            .flatten()
        {
            if let Some(parent) = Path::new(file)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                cl_core::store::private::create_dir_all(&dir.join(parent))
                    .map_err(|_| (1, format!("cannot create the directory of {file}")))?;
            }
        }
        if let Some(file) = &settings.log_file {
            let opened =
                append(&at(file)).map_err(|_| (1, format!("cannot append to LOG_FILE {file}")))?;
            let kept = opened
                .try_clone()
                .map_err(|_| (1, format!("cannot append to LOG_FILE {file}")))?;
            cl_cli::report::log_to(kept);
            log.file = Some((opened, at(file)));
        }
    }
    let manifest = match args.dry_run {
        true => None,
        false => Some(append(&at(&settings.manifest)).map_err(|_| {
            (
                1,
                format!("cannot append to MANIFEST {}", settings.manifest),
            )
        })?),
    };

    let places = tools::Places::of_this_process(settings.bin_dir.clone());
    let find = |name: &str| {
        places.find(name).map_err(|looked| {
            let status = cl_cli::exit::NOT_FOUND;
            (
                status,
                format!("cannot find {name} ({looked}); set CL_BIN_DIR"),
            )
        })
    };
    let tools = [find("cl-list")?, find("cl-fetch")?];
    let plan = Plan::new(&settings, dir.clone(), tools, args.follow);
    let Some(manifest) = manifest else {
        print!("{}", plan.shown());
        return Ok(0);
    };

    // One pipeline per state file at a time; a symbolic link is followed, as the tools do.
    let state = at(&settings.state_file);
    let target = cl_core::store::durable::resolve_links(&state).unwrap_or(state);
    let _lock = match StateLock::acquire_named(&target, "pull.lock") {
        Ok(lock) => lock,
        Err(cl_core::Error::StateInUse { .. }) => {
            info_line(
                TOOL,
                &format!(
                    "{shown}: skipped: an earlier run on {} is still going",
                    settings.state_file
                ),
            );
            return Ok(0);
        }
        Err(error) => return Err((1, cl_cli::hints::message_of(&error))),
    };

    let before = manifest.metadata().map(|m| m.len()).unwrap_or(0);
    let started = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let relay = Relay::new(args.follow);
    let forward = relay.clone();
    cl_cli::signals::relay(move |signal| forward.received(signal));
    let [list, fetch] = plan
        .run(&relay, manifest, log.file.as_ref().map(|(file, _)| file))
        .map_err(|e| (1, e.to_string()))?;

    let delivered = pipeline::delivered(&at(&settings.manifest), before).unwrap_or(0);
    let terminated = args.follow && relay.last() == Some(cl_cli::signals::Signal::Terminate);
    let status = cl_cli::exit::of_pipeline(list, fetch, terminated);
    if status != 0 {
        let summary = format!(
            "{shown}: cl-list exited {list}, cl-fetch exited {fetch}; {delivered} file(s) \
             delivered (run started {started})"
        );
        error_line(TOOL, &summary);
        if let Some((_, shown)) = &log.file {
            error_line_on_stderr(TOOL, &format!("{summary}; see {}", shown.display()));
        }
    } else if settings.summary {
        info_line(
            TOOL,
            &format!("{shown}: {delivered} file(s) delivered (run started {started})"),
        );
    }
    Ok(status)
}

/// What the environment says that the settings depend on.
fn environment() -> Environment {
    let given = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    Environment {
        journal: given("JOURNAL_STREAM").is_some(),
        credentials_key: given("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join("api-key"))
            .filter(|key| key.is_file()),
        key_in_env: given(cl_cli::flags::KEY_ENV).is_some(),
        bin_dir: given("CL_BIN_DIR").map(PathBuf::from),
    }
}

/// Opens `path` to append to, creating it (owner-only, by the umask set at the start).
fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

#[cfg(test)]
mod tests {
    /// ARCHITECTURE.md's invariant: cl-pull reaches the API only through the tools it starts.
    #[test]
    fn cl_pull_does_none_of_the_tools_work_itself() {
        let sources = [
            include_str!("main.rs"),
            include_str!("pipeline.rs"),
            include_str!("settings.rs"),
            include_str!("tools.rs"),
        ];
        // Spelled in pieces, so this test's own source does not hold them.
        let never = [
            ["cl_core::", "net"],
            ["cl_core::", "list"],
            ["fetch::", "run"],
        ];
        for source in sources {
            for [a, b] in never {
                assert!(!source.contains(&format!("{a}{b}")), "cl-pull uses {a}{b}");
            }
        }
    }
}
