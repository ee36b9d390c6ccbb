//! cl-list's command line: its flags, with their help, and its own `--help` examples.

use cl_cli::flags::ToolFlags;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// List Compliance Logs Platform files, one JSON object per line.
///
/// Pages through the listing of each event type in the order given and prints every file
/// with all the fields the API returned, plus `principal` and `cursor` (the listing cursor
/// of the page the file came on). Progress and a summary go to stderr.
#[derive(Parser, Debug)]
#[command(name = "cl-list", version, after_help = format!("{}\n\n{}", cl_cli::docs::event_types(), cl_cli::docs::examples(EXAMPLES)))]
pub struct Args {
    /// Workspace UUID, or org-… id for an API Platform organization.
    #[arg(
        env = "COMPLIANCE_PRINCIPAL",
        value_name = "PRINCIPAL",
        required_unless_present_any = ["completions", "man", "type_list"]
    )]
    pub principal: Option<String>,

    /// Event type to list (AUTH_LOG, CONVERSATION_MESSAGE, …), or all: every type known for the
    /// principal's kind (a type all brings that the key may not read is said and skipped);
    /// repeat it or separate with commas (all,NEW_TYPE). Names pass to the API as given.
    #[arg(
        short,
        long = "event-type",
        value_name = "TYPE",
        value_delimiter = ',',
        required_unless_present_any = ["completions", "man", "type_list"]
    )]
    pub event_types: Vec<String>,

    /// List files after this time: RFC 3339 with an offset, or an age (90m, 24h, 7d, 2w).
    #[arg(long, value_name = "TIME")]
    pub after: Option<String>,

    /// List files before this time (exclusive); same forms as --after.
    #[arg(long, value_name = "TIME")]
    pub before: Option<String>,

    /// Start each event type from the cursor cl-fetch --state saved in FILE; --after is the
    /// start for event types FILE does not know yet.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// After catching up, keep polling for new files and print each once, until interrupted.
    #[arg(long, conflicts_with = "check")]
    pub follow: bool,

    /// List nothing: for each event type print one JSON line saying whether this key can
    /// list it and how far --state lags behind the newest data (for monitoring); exit 0 only
    /// when every type is ok.
    #[arg(long)]
    pub check: bool,

    /// Print the known event types (what -e all stands for), with what each holds and where
    /// its name comes from, and exit.
    #[arg(long)]
    pub type_list: bool,

    /// With --check: a state more than AGE behind the newest data is "behind" (90s, 30m, 2h,
    /// 1d); two hours unless given, so an hourly job that misses a run is noticed.
    #[arg(long, value_name = "AGE", value_parser = parse_interval, default_value = "2h")]
    pub max_lag: Duration,

    /// With --check: also replace FILE whole with the answers in the Prometheus text format
    /// (for a node exporter's textfile collector): per type, status, lag, newest and cursor.
    #[arg(long, value_name = "FILE", requires = "check")]
    pub metrics: Option<PathBuf>,

    /// How long the API keeps files; a start further back (a state's cursor, --after) is
    /// warned about, as the files in between are gone.
    #[arg(long, value_name = "AGE", env = "COMPLIANCE_RETENTION", default_value = "30d", value_parser = parse_interval)]
    pub retention: Duration,

    /// Time between polls in --follow: seconds, or with a unit (90s, 5m, 1h).
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_interval, requires = "follow")]
    pub interval: Duration,

    /// Page size asked of the API: 1 to 100, the range it takes.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,

    #[command(flatten)]
    pub flags: ToolFlags,
}

/// This tool's own lines of its `--help` examples.
const EXAMPLES: &str = "  # a continuous feed
  cl-list \"$P\" -e AUTH_LOG --after 1h --state s.json --follow --interval 5m \\
    | cl-fetch -o lake/ --state s.json

  cl-list \"$P\" -e AUDIT_LOG --after 2026-07-01T00:00:00Z --before 2026-07-02T00:00:00Z";

fn parse_interval(text: &str) -> Result<Duration, String> {
    cl_core::model::timestamps::parse_interval(text).map_err(|e| e.to_string())
}
