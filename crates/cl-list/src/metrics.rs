//! `cl-list --check --metrics FILE`: the answers of a check as Prometheus metrics, per event
//! type, so a textfile collector can alert on them without `jq`.

use cl_cli::metrics::{Metrics, unix_seconds};
use cl_core::list::check::{Checked, Status};
use std::path::Path;

/// Every status a type can have, for one 0/1 series each.
const STATUSES: [&str; 4] = ["ok", "behind", "error", "skipped"];

fn word(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Behind => "behind",
        Status::Error => "error",
    }
}

/// Builds the metrics of a check of `principal`'s types made at `at`.
pub fn build(path: &Path, principal: &str, checked: &Checked, at: jiff::Timestamp) -> Metrics {
    let mut m = Metrics::for_file(path);
    m.gauge(
        "cl_check_timestamp_seconds",
        "When the check ran, in Unix time.",
        &[],
        unix_seconds(at),
    );
    let all_ok = checked.answers.iter().all(|a| a.status == Status::Ok);
    m.gauge(
        "cl_check_success",
        "1 when every event type checked is ok (cl-list --check exits 0), else 0.",
        &[],
        f64::from(u8::from(all_ok)),
    );
    let skipped = checked.skipped.iter().map(|(t, _)| (t.as_str(), "skipped"));
    let answered = checked
        .answers
        .iter()
        .map(|a| (a.event_type.as_str(), word(a.status)));
    for (event_type, status) in answered.chain(skipped) {
        for each in STATUSES {
            m.gauge(
                "cl_check_status",
                "1 for the event type's status (ok, behind, error, or skipped: refused under \
                 -e all), 0 for the others.",
                &[
                    ("principal", principal),
                    ("event_type", event_type),
                    ("status", each),
                ],
                f64::from(u8::from(each == status)),
            );
        }
    }
    for answer in &checked.answers {
        let labels = [
            ("principal", principal),
            ("event_type", answer.event_type.as_str()),
        ];
        if let Some(lag) = answer.lag_seconds {
            m.gauge(
                "cl_check_lag_seconds",
                "How far the state's cursor is behind the newest data of the type.",
                &labels,
                lag as f64,
            );
        }
        let times = [
            (
                "cl_check_newest_timestamp_seconds",
                "The newest time the API reports for the type, in Unix time.",
                &answer.newest,
            ),
            (
                "cl_check_cursor_timestamp_seconds",
                "The state's cursor for the type, in Unix time.",
                &answer.cursor,
            ),
        ];
        for (name, help, time) in times {
            if let Some(at) = time
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            {
                m.gauge(name, help, &labels, unix_seconds(at));
            }
        }
        m.gauge(
            "cl_check_parked_files",
            "Files of the type parked in the state: not delivered.",
            &labels,
            answer.parked.len() as f64,
        );
    }
    m
}
