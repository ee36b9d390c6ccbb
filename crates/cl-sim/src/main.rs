//! `cl-sim`: run the Compliance Logs Platform simulator on loopback.

use anyhow::{Context, Result, bail};
use cl_sim::content::Framing;
use cl_sim::dataset::{ORG_TYPES, WORKSPACE_TYPES};
use cl_sim::faults::FaultConfig;
use cl_sim::{SimConfig, start};
use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// A local simulator of the Compliance Logs Platform API.
///
/// Serves listing and download as the real API does, with data generated from a seed, on
/// loopback only: the API on one address and signed download URLs on another. Prints the
/// environment for cl-list and cl-fetch on stdout, then serves until interrupted.
#[derive(Parser, Debug)]
#[command(name = "cl-sim", version, after_help = EXAMPLES)]
struct Args {
    /// Seed for every generated id, time and byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Files per event type and principal, there from the start (--arriving adds more to come).
    #[arg(long, default_value_t = 50)]
    files: u32,
    /// Mean file size in bytes.
    #[arg(long, default_value_t = 4096)]
    file_size: u64,
    /// How far file sizes spread around the mean, in percent (0: all the same size).
    #[arg(long, value_name = "PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    size_spread: u8,
    /// end_time of each type's first file, RFC 3339 [default: a few hours before now]. A
    /// listing shows only files whose end_time has passed: a series that runs into the
    /// future reveals the rest as the clock reaches them (see --arriving).
    #[arg(long)]
    start: Option<Timestamp>,
    /// Time between files of one event type, in seconds.
    #[arg(long, default_value_t = 300)]
    interval: u64,
    /// Files per event type and principal still to come when the simulator starts, after
    /// the --files already there: one more of each type is listed every --interval (the
    /// first within one interval of the start), as files arrive on a live tenant, so a job
    /// run again later finds new files. The --files end just before the start.
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "start")]
    arriving: u32,
    /// Every Nth file of a type lacks its final newline (0: none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    unterminated_every: u32,
    /// How a file's events are laid out: JSON Lines (documented), or JSON values with nothing
    /// (concatenated) or a run of whitespace (spaced) between them, as one integration reports.
    #[arg(long, value_enum, default_value_t, help_heading = cl_sim::faults::VARIATIONS)]
    framing: Framing,
    /// Files of each type come in groups of N sharing one end_time (0: each its own), as
    /// one integration reports; with the exclusive after, a page can end inside a group.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = cl_sim::faults::VARIATIONS)]
    tied: u32,
    /// Event types served with no file at all, as for a tenant that never uses them;
    /// repeat it or separate with commas.
    #[arg(long, value_name = "TYPE", value_delimiter = ',')]
    quiet: Vec<String>,
    /// Each file after the first of its type begins with the last N events of the one
    /// before, byte for byte, as the API's at-least-once delivery may repeat events.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = cl_sim::faults::VARIATIONS)]
    repeat_events: u32,
    /// The API key accepted.
    #[arg(long, default_value = cl_sim::DEFAULT_KEY)]
    key: String,
    /// A second key, accepted as a key but lacking the compliance read scope: every API
    /// request with it is answered 403 (permission_error).
    #[arg(long, value_name = "KEY")]
    scopeless_key: Option<String>,
    /// Address of the API.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Address of the blob host serving signed URLs; must differ from the API's. Where
    /// 127.0.0.2 is not configured (macOS, the BSDs), another port of the API's address.
    #[arg(long, default_value = "127.0.0.2:0")]
    blob_listen: SocketAddr,
    /// Seconds a signed download URL stays valid.
    #[arg(long, default_value_t = 300)]
    url_ttl: u64,
    /// Serve HTTPS with a certificate authority made at start, written (PEM) to FILE: give
    /// it to the tools with --ca-cert FILE.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// Log every request to stderr.
    #[arg(short, long)]
    verbose: bool,

    #[command(flatten)]
    faults: FaultConfig,
}

const EXAMPLES: &str = "\
Examples:
  cl-sim > sim.env &            # start it; sim.env holds the environment to use
  . ./sim.env                   # COMPLIANCE_API_BASE, COMPLIANCE_API_KEY, COMPLIANCE_PRINCIPAL
  cl-list -e all --after 24h | cl-fetch > all.jsonl   # every event type

  cl-sim --seed 7 --files 300 --file-size 8192 --start 2026-07-16T00:00:00Z
  cl-sim --listen 127.0.0.1:8080 --arriving 1000   # a new file of each type every 5 minutes
  cl-sim --rate-429 0.1 --rate-5xx 0.1 --truncate 0.05 --reset 0.05 --corrupt 0.05";

fn main() -> Result<()> {
    let args = Args::parse();
    if args.interval == 0 {
        bail!("--interval must be at least 1 second");
    }
    let mut config = SimConfig::new(args.seed);
    let Some(files) = args.files.checked_add(args.arriving) else {
        bail!("--files and --arriving add up to too many files");
    };
    config.dataset.files_per_type = files;
    config.dataset.file_size = args.file_size;
    config.dataset.size_spread = args.size_spread;
    config.dataset.interval = SignedDuration::from_secs(args.interval as i64);
    config.dataset.unterminated_every = args.unterminated_every;
    config.dataset.framing = args.framing;
    config.dataset.tied = args.tied;
    config.dataset.quiet = args.quiet;
    config.dataset.repeat = args.repeat_events;
    if let Some(start) = args.start {
        config.dataset.start = start;
    } else if args.arriving > 0 {
        config.dataset.start = cl_sim::dataset::DatasetConfig::start_arriving(
            args.files,
            config.dataset.interval,
            Timestamp::now(),
        );
    } else {
        config.dataset.start =
            cl_sim::dataset::DatasetConfig::start_before_now(args.files, config.dataset.interval);
    }
    config.key = args.key;
    config.scopeless_key = args.scopeless_key;
    config.api_listen = args.listen;
    config.blob_listen = args.blob_listen;
    config.url_ttl = Duration::from_secs(args.url_ttl);
    config.log_requests = args.verbose;
    config.tls = args.tls_ca.is_some();
    config.faults = args.faults;
    let sim = start(config).context("cannot start the simulator")?;
    if let (Some(file), Some(pem)) = (&args.tls_ca, sim.ca_pem()) {
        std::fs::write(file, pem).with_context(|| format!("cannot write {}", file.display()))?;
    }
    // One write, so a reader waiting for the file never sees half of it. The simulator is on
    // loopback: a corporate HTTPS_PROXY in the user's shell must not carry requests to it.
    let direct = "127.0.0.0/8,localhost";
    let env = format!(
        "export COMPLIANCE_API_BASE={}\n\
         export COMPLIANCE_API_KEY={}\n\
         export COMPLIANCE_PRINCIPAL={}\n\
         export CL_SIM_ORG={}\n\
         export NO_PROXY=\"{direct}${{NO_PROXY:+,$NO_PROXY}}\"\n\
         export no_proxy=\"{direct}${{no_proxy:+,$no_proxy}}\"\n",
        sim.base_url(),
        sim.key(),
        sim.workspace(),
        sim.org()
    );
    let mut out = std::io::stdout().lock();
    out.write_all(env.as_bytes())?;
    out.flush()?;
    drop(out);
    let arriving = match args.arriving {
        0 => String::new(),
        n => format!(", and {n} more arriving one every {} s,", args.interval),
    };
    eprintln!(
        "cl-sim: serving {} files per event type{arriving} at {}\n\
         cl-sim: workspace {} ({})\n\
         cl-sim: organization {} ({})\n\
         cl-sim: signed URLs on {}; stop with Ctrl-C",
        args.files,
        sim.base_url(),
        sim.workspace(),
        WORKSPACE_TYPES.join(", "),
        sim.org(),
        ORG_TYPES.join(", "),
        sim.blob_origin(),
    );
    sim.wait();
    Ok(())
}
