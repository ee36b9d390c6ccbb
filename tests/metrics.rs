//! `--metrics FILE`: the Prometheus text format, read back with a real parser.

use crate::util::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Every sample of a metrics file: name and labels → value, as a Prometheus parser reads it.
fn samples(path: &Path) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(!scrape.samples.is_empty(), "{text}");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("{}: not a counter or gauge: {other:?}", s.metric),
            };
            let key = if labels.is_empty() {
                s.metric
            } else {
                format!("{}{{{}}}", s.metric, labels.join(","))
            };
            (key, value)
        })
        .collect()
}

fn now_seconds() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

#[test]
fn each_fetch_run_leaves_its_figures_and_counters_carry_on() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("fetch.prom");
    let pull = format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --retention 1000d --state s.json \
         | cl-fetch -q --state s.json -o lake --metrics fetch.prom > /dev/null"
    );
    let before = now_seconds();
    sim.sh(&pull).current_dir(dir.path()).assert_exit(0);
    let first = samples(&prom);
    let n = sim.ids("AUTH_LOG").len() as f64;
    let bytes: u64 = sim.files(sim.ws(), "AUTH_LOG").iter().map(|f| f.size).sum();
    assert_eq!(first["cl_fetch_files_total{outcome=downloaded}"], n);
    assert_eq!(first["cl_fetch_last_run_files{outcome=downloaded}"], n);
    assert_eq!(first["cl_fetch_files_total{outcome=failed}"], 0.0);
    assert_eq!(first["cl_fetch_delivered_bytes_total"], bytes as f64);
    assert_eq!(first["cl_fetch_runs_total{status=success}"], 1.0);
    assert_eq!(first["cl_fetch_last_run_success"], 1.0);
    assert_eq!(first["cl_fetch_last_run_exit_code"], 0.0);
    // One listing request is cl-list's; cl-fetch asks the API and the blob host per file.
    assert_eq!(first["cl_fetch_requests_total"], 2.0 * n);
    let success = first["cl_fetch_last_success_timestamp_seconds"];
    assert!(
        success >= before.floor() && success <= now_seconds(),
        "{success}"
    );
    assert_eq!(success, first["cl_fetch_last_run_timestamp_seconds"]);
    // Windows keeps no Unix mode (under Wine the file shows whatever Wine makes up).
    #[cfg(unix)]
    if !under_wine() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o644,
            "a node exporter running as another user reads it"
        );
    }

    // Nothing new: the counters stay, the run's own figures are its own.
    sim.sh(&pull).current_dir(dir.path()).assert_exit(0);
    let second = samples(&prom);
    assert_eq!(second["cl_fetch_files_total{outcome=downloaded}"], n);
    assert_eq!(second["cl_fetch_last_run_files{outcome=downloaded}"], 0.0);
    assert_eq!(second["cl_fetch_runs_total{status=success}"], 2.0);
    let success = second["cl_fetch_last_success_timestamp_seconds"];

    // A failed run: the last success stays where it was, so an alert on its age fires.
    sim.revoke_key();
    let ids = sim.ids("AUTH_LOG").join(" ");
    sim.sh(&format!(
        "cl-fetch -q --retries 0 --metrics fetch.prom --principal \"$P\" {ids} > /dev/null"
    ))
    .current_dir(dir.path())
    .assert_exit(1);
    let failed = samples(&prom);
    assert_eq!(failed["cl_fetch_runs_total{status=failure}"], 1.0);
    assert_eq!(failed["cl_fetch_runs_total{status=success}"], 2.0);
    assert_eq!(failed["cl_fetch_last_run_success"], 0.0);
    assert_eq!(failed["cl_fetch_last_run_exit_code"], 1.0);
    assert_eq!(failed["cl_fetch_files_total{outcome=failed}"], n);
    assert_eq!(failed["cl_fetch_last_success_timestamp_seconds"], success);
    assert!(failed["cl_fetch_last_run_timestamp_seconds"] >= success);
}

#[test]
fn a_metrics_file_where_no_directory_is_is_a_usage_error_before_any_work() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let id = &sim.ids("AUTH_LOG")[0];
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args(["--metrics", "nowhere/f.prom", "--principal", sim.ws(), id])
        .assert_exit(2);
    assert_eq!(
        stderr(&out),
        "cl-fetch: --metrics nowhere/f.prom: directory nowhere does not exist\n"
    );
    assert!(out.stdout.is_empty());
    let out = sim
        .cmd("cl-list")
        .current_dir(dir.path())
        .args([
            sim.ws(),
            "--check",
            "-e",
            "AUTH_LOG",
            "--metrics",
            "nowhere/c.prom",
        ])
        .assert_exit(2);
    assert_eq!(
        stderr(&out),
        "cl-list: --metrics nowhere/c.prom: directory nowhere does not exist\n"
    );
}

#[test]
fn check_metrics_give_each_types_status_lag_and_times() {
    let sim = Sim::with(|c| c.dataset.quiet = vec!["APP_LOG".into()]);
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    // AUTH_LOG delivered all but its last file; APP_LOG has none and is listed to its end.
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --before {} --retention 1000d \
         --state s.json | cl-fetch -q --state s.json -o lake > /dev/null && \
         cl-list \"$P\" -q -e APP_LOG --after {BEFORE_ALL} --retention 1000d --state s.json \
         | cl-fetch -q --state s.json -o lake",
        files.last().unwrap().end_time
    ))
    .current_dir(dir.path())
    .assert_exit(0);
    let before = now_seconds();
    sim.cmd("cl-list")
        .current_dir(dir.path())
        .args([
            sim.ws(),
            "--check",
            "--state",
            "s.json",
            "--retention",
            "1000d",
        ])
        .args([
            "-e",
            "AUTH_LOG,APP_LOG",
            "--max-lag",
            "1s",
            "--metrics",
            "c.prom",
        ])
        .assert_exit(1);
    let m = samples(&dir.path().join("c.prom"));
    let ws = sim.ws();
    let key = |name: &str, t: &str, extra: &str| {
        format!("{name}{{event_type={t},principal={ws}{extra}}}")
    };
    let at = m["cl_check_timestamp_seconds"];
    assert!(at >= before.floor() && at <= now_seconds());
    assert_eq!(m["cl_check_success"], 0.0);
    for (t, status) in [("AUTH_LOG", "behind"), ("APP_LOG", "ok")] {
        for each in ["ok", "behind", "error", "skipped"] {
            let want = f64::from(u8::from(each == status));
            assert_eq!(
                m[&key("cl_check_status", t, &format!(",status={each}"))],
                want
            );
        }
    }
    let seconds = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_millisecond() as f64 / 1e3;
    let (last, before_last) = (files.last().unwrap(), &files[files.len() - 2]);
    assert_eq!(
        m[&key("cl_check_newest_timestamp_seconds", "AUTH_LOG", "")],
        seconds(&last.end_time)
    );
    assert_eq!(
        m[&key("cl_check_cursor_timestamp_seconds", "AUTH_LOG", "")],
        seconds(&before_last.end_time)
    );
    let lag = m[&key("cl_check_lag_seconds", "AUTH_LOG", "")];
    assert_eq!(
        lag,
        (seconds(&last.end_time) - seconds(&before_last.end_time)).floor()
    );
    assert_eq!(m[&key("cl_check_lag_seconds", "APP_LOG", "")], 0.0);
    assert!(!m.contains_key(&key("cl_check_newest_timestamp_seconds", "APP_LOG", "")));
    assert_eq!(m[&key("cl_check_parked_files", "AUTH_LOG", "")], 0.0);
}
