//! `cl-fetch --metrics FILE`: what each run did, for an alert on "no successful run for two
//! hours" that fires even when the job hangs or its scheduler is broken (the last success
//! time stops moving).

use cl_cli::exit::Exit;
use cl_cli::metrics::{Metrics, unix_seconds};
use cl_cli::report::Tally;
use cl_core::fetch::Summary;
use std::path::Path;

/// What one run did, as far as it got.
pub struct RunFacts {
    /// When it started.
    pub started: jiff::Timestamp,
    /// Its delivery figures, once delivery ran.
    pub summary: Summary,
    /// What its events counted.
    pub tally: Tally,
}

/// The word for an exit in `cl_fetch_runs_total{status}`.
fn status(exit: Exit) -> &'static str {
    match exit {
        Exit::Success => "success",
        Exit::Failure => "failure",
        Exit::Usage => "usage",
        Exit::Interrupted => "interrupted",
    }
}

/// Builds the run's metrics, counters carried on from what `path` held.
pub fn build(path: &Path, run: &RunFacts, exit: Exit, code: u8) -> Metrics {
    let ended = jiff::Timestamp::now();
    let mut m = Metrics::for_file(path);
    let s = &run.summary;
    let t = &run.tally;
    let success = exit == Exit::Success;
    let last_success = if success {
        Some(unix_seconds(ended))
    } else {
        m.previous()
            .get("cl_fetch_last_success_timestamp_seconds", &[])
    };
    m.gauge(
        "cl_fetch_last_run_timestamp_seconds",
        "When the last run ended, in Unix time.",
        &[],
        unix_seconds(ended),
    );
    m.gauge(
        "cl_fetch_last_run_duration_seconds",
        "How long the last run took.",
        &[],
        (ended - run.started).as_secs_f64().max(0.0),
    );
    m.gauge(
        "cl_fetch_last_run_success",
        "1 when the last run delivered everything it was given (exit status 0), else 0.",
        &[],
        f64::from(u8::from(success)),
    );
    m.gauge(
        "cl_fetch_last_run_exit_code",
        "The exit status of the last run.",
        &[],
        f64::from(code),
    );
    if let Some(at) = last_success {
        m.gauge(
            "cl_fetch_last_success_timestamp_seconds",
            "When the last successful run ended, in Unix time.",
            &[],
            at,
        );
    }
    let outcomes = [
        ("downloaded", s.downloaded),
        ("already_delivered", s.skipped),
        ("failed", s.failed),
        ("parked", s.parked),
    ];
    for (outcome, n) in outcomes {
        m.gauge(
            "cl_fetch_last_run_files",
            "Files of the last run, by outcome.",
            &[("outcome", outcome)],
            n as f64,
        );
        m.count(
            "cl_fetch_files_total",
            "Files of every run, by outcome.",
            &[("outcome", outcome)],
            n as f64,
        );
    }
    m.gauge(
        "cl_fetch_last_run_delivered_bytes",
        "Bytes the last run delivered.",
        &[],
        s.bytes as f64,
    );
    m.count(
        "cl_fetch_delivered_bytes_total",
        "Bytes delivered by every run.",
        &[],
        s.bytes as f64,
    );
    let counted = [
        (
            "cl_fetch_requests_total",
            "HTTP requests made, to the API and the blob host.",
            t.requests,
        ),
        (
            "cl_fetch_retries_total",
            "Attempts tried again after a passing failure.",
            t.retries,
        ),
        (
            "cl_fetch_rate_limited_requests_total",
            "Requests the API refused for their rate (HTTP 429).",
            t.rate_limited,
        ),
        (
            "cl_fetch_duplicate_events_total",
            "Events --dedup left out: another file or an earlier run delivered them.",
            s.dropped_events,
        ),
        (
            "cl_fetch_repeated_lines_total",
            "Input lines that repeated a file already taken, delivered once.",
            s.duplicates,
        ),
    ];
    for (name, help, n) in counted {
        m.count(name, help, &[], n as f64);
    }
    for each in ["success", "failure", "usage", "interrupted"] {
        let n = u8::from(each == status(exit));
        m.count(
            "cl_fetch_runs_total",
            "Runs, by how they ended.",
            &[("status", each)],
            f64::from(n),
        );
    }
    m
}
