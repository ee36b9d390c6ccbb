//! Faults: each alone and all mixed, in both modes, against the simulator's ground truth;
//! timeouts; what is retried and what is not.

use crate::util::*;
use cl_sim::Origin;
use cl_sim::faults::FaultConfig;
use std::time::{Duration, Instant};

const TYPES: &[&str] = &["AUTH_LOG", "CONVERSATION_MESSAGE"];

fn faulty(change: impl FnOnce(&mut FaultConfig)) -> Sim {
    faulty_with(15, change)
}

fn faulty_with(files: u32, change: impl FnOnce(&mut FaultConfig)) -> Sim {
    Sim::with(|c| {
        c.dataset.files_per_type = files;
        change(&mut c.faults);
    })
}

/// `429×2, 5xx×3`: what the simulator injected.
fn breakdown(sim: &Sim) -> String {
    let injected = sim.injected();
    let kinds: Vec<String> = injected.iter().map(|(k, n)| format!("{k}×{n}")).collect();
    kinds.join(", ")
}

/// Runs the pipeline in one mode; returns (cl-list status, cl-fetch status, stderr).
fn pipeline(
    sim: &Sim,
    dir: &std::path::Path,
    directory_mode: bool,
    extra: &str,
) -> (String, String) {
    let sink = if directory_mode {
        "-o lake > manifest"
    } else {
        "> out.jsonl"
    };
    let out = sim
        .sh(&format!(
            "set +e; cl-list \"$P\" -e AUTH_LOG,CONVERSATION_MESSAGE --after 2026-07-01T00:00:00Z \
             --limit 4 {extra} | cl-fetch -j 6 {extra} {sink}; echo \"${{PIPESTATUS[0]}} ${{PIPESTATUS[1]}}\""
        ))
        .current_dir(dir)
        .assert_exit(0);
    (
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        stderr(&out),
    )
}

/// Checks everything arrived whole, in order (stdout) or in place (directory).
fn assert_ground_truth(sim: &Sim, dir: &std::path::Path, directory_mode: bool) {
    let files = sim.all_files(TYPES);
    if directory_mode {
        let mut want: Vec<String> = files
            .iter()
            .map(|f| format!("{}/{}/2026-07-16/{}.jsonl", sim.ws(), f.event_type, f.id))
            .collect();
        want.sort();
        assert_eq!(tree(&dir.join("lake")), want);
        for f in &files {
            let path = dir
                .join("lake")
                .join(sim.ws())
                .join(&f.event_type)
                .join("2026-07-16");
            assert_bytes(
                &std::fs::read(path.join(format!("{}.jsonl", f.id))).unwrap(),
                &sim.content(&f.id),
            );
        }
    } else {
        let got = std::fs::read(dir.join("out.jsonl")).unwrap();
        assert_bytes(&got, &sim.stream(files.iter().map(|f| f.id.as_str())));
    }
}

/// One row of the fault matrix: the pipeline in both modes must deliver the ground truth.
fn survives(name: &str, change: fn(&mut FaultConfig)) {
    survives_with(name, 15, change);
}

fn survives_with(name: &str, files: u32, change: fn(&mut FaultConfig)) -> Vec<Sim> {
    let mut sims = Vec::new();
    for directory_mode in [false, true] {
        let sim = faulty_with(files, change);
        let dir = tempfile::tempdir().unwrap();
        let (status, err) = pipeline(&sim, dir.path(), directory_mode, "--retries 8");
        assert_eq!(status, "0 0", "{name}: {err}");
        assert_ground_truth(&sim, dir.path(), directory_mode);
        let injected: u64 = sim.injected().values().sum();
        assert!(injected > 0, "{name}: nothing was injected");
        let retries = err.lines().filter(|l| l.contains("; retry ")).count();
        let mode = if directory_mode {
            "directory"
        } else {
            "stdout"
        };
        eprintln!(
            "| {name} | {mode} | {} | {retries} retries | exit 0 | {} files delivered, all equal to the ground truth |",
            breakdown(&sim),
            sim.all_files(TYPES).len()
        );
        sims.push(sim);
    }
    sims
}

#[test]
fn fault_matrix_429() {
    survives("429 + Retry-After 1", |f| {
        f.rate_429 = 0.15;
        f.retry_after = 1;
    });
}

#[test]
fn fault_matrix_5xx() {
    survives("5xx", |f| f.rate_5xx = 0.2);
}

#[test]
fn fault_matrix_first_requests_fail() {
    survives("first request of each URL", |f| f.fail_first = 1);
}

#[test]
fn fault_matrix_truncated_bodies() {
    survives("truncated body", |f| f.truncate = 0.3);
}

#[test]
fn fault_matrix_resets_mid_body() {
    survives("reset mid-body", |f| f.reset = 0.3);
}

#[test]
fn fault_matrix_flipped_bytes() {
    survives("flipped byte", |f| f.corrupt = 0.3);
}

#[test]
fn fault_matrix_expired_signatures() {
    survives("expired signed URL", |f| f.expired = 0.3);
}

#[test]
fn fault_matrix_malformed_pages() {
    survives("malformed page", |f| f.malformed = 0.3);
}

#[test]
fn fault_matrix_latency() {
    survives("latency 30 ms", |f| {
        f.latency = Duration::from_millis(30);
        f.rate_5xx = 0.05;
    });
}

#[test]
fn fault_matrix_all_mixed() {
    let sims = survives_with("all mixed", 30, |f| {
        f.latency = Duration::from_millis(5);
        f.rate_429 = 0.04;
        f.retry_after = 1;
        f.rate_5xx = 0.05;
        f.truncate = 0.05;
        f.reset = 0.05;
        f.corrupt = 0.05;
        f.expired = 0.05;
        f.malformed = 0.08;
    });
    for sim in sims {
        let injected = sim.injected();
        for kind in [
            "429",
            "5xx",
            "truncate",
            "reset",
            "corrupt",
            "expired",
            "malformed",
        ] {
            assert!(
                injected.contains_key(kind),
                "{kind} never injected: {injected:?}"
            );
        }
    }
}

#[test]
fn fault_matrix_hangs_end_in_timeouts_and_retries() {
    for directory_mode in [false, true] {
        let sim = faulty(|f| f.hang = 0.1);
        let dir = tempfile::tempdir().unwrap();
        let (status, err) = pipeline(&sim, dir.path(), directory_mode, "--timeout 1 --retries 8");
        assert_eq!(status, "0 0", "{err}");
        assert_ground_truth(&sim, dir.path(), directory_mode);
        assert!(
            err.contains("timed out: nothing received for 1 s; retry "),
            "{err}"
        );
        eprintln!(
            "| hang (never answered), --timeout 1 | {} | {} | exit 0 | all delivered |",
            if directory_mode {
                "directory"
            } else {
                "stdout"
            },
            breakdown(&sim)
        );
    }
}

#[test]
fn fault_matrix_stuck_cursor_ends_the_run() {
    let sim = faulty(|f| f.stuck_cursor = true);
    let dir = tempfile::tempdir().unwrap();
    let (status, err) = pipeline(&sim, dir.path(), false, "");
    assert_eq!(status, "1 0", "{err}");
    assert!(
        err.contains(
            "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: server fault: has_more is true \
             but the cursor did not advance (last_end_time 2026-07-01T00:00:00Z); stopping instead \
             of asking again"
        ),
        "{err}"
    );
    let lists = sim.requests().iter().filter(|r| r.query.is_some()).count();
    assert_eq!(
        lists,
        TYPES.len(),
        "a stuck cursor is not asked again; the other event type is listed on its own"
    );
    eprintln!(
        "| stuck cursor | stdout | {} | cl-list exit 1 after one request per event type | message names the cursor |",
        breakdown(&sim)
    );
}

#[test]
fn a_file_that_never_verifies_is_reported_and_every_other_file_delivered() {
    let sim = faulty(|f| f.fail_first = 1);
    let files = sim.all_files(TYPES);
    let lines = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG,CONVERSATION_MESSAGE")
        .stdout();
    let bad = &files[5];
    let tampered = lines.replace(&bad.sha256, &"f".repeat(64));
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "-j", "4"])
        .stdin(tampered)
        .assert_exit(1);
    let delivered: Vec<&str> = files
        .iter()
        .filter(|f| f.id != bad.id)
        .map(|f| f.id.as_str())
        .collect();
    assert_bytes(&out.stdout, &sim.stream(delivered));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "cl-fetch: downloading {}: sha256 mismatch: the listing says {}, got {}\n",
            bad.id,
            "f".repeat(64),
            bad.sha256
        )),
        "{err}"
    );
    assert!(err.ends_with("; 1 FAILED\n"), "{err}");
}

#[test]
fn permanent_errors_are_not_retried() {
    let sim = faulty(|_| {});
    let out = sim
        .list(sim.ws(), &[], "AUTH_LOG")
        .env("COMPLIANCE_API_KEY", "wrong")
        .assert_exit(1);
    assert!(!stderr(&out).contains("retry"));
    let out = sim
        .cmd("cl-fetch")
        .args(["--principal", sim.ws(), "eclf_nope"])
        .assert_exit(1);
    assert!(!stderr(&out).contains("retry"));
    let out = sim.list(sim.org(), &[], "APP_LOG").assert_exit(1);
    assert!(!stderr(&out).contains("retry"));
    assert_eq!(sim.requests().len(), 3, "one request each");
}

#[test]
fn retry_after_pauses_every_worker_and_each_retry_is_one_line() {
    let sim = faulty(|f| {
        f.rate_429 = 0.2;
        f.retry_after = 1;
    });
    let dir = tempfile::tempdir().unwrap();
    let (status, err) = pipeline(&sim, dir.path(), false, "");
    assert_eq!(status, "0 0", "{err}");
    let requests = sim.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.origin == Origin::Api)
        .collect();
    let limited: Vec<_> = api.iter().filter(|r| r.status == 429).collect();
    assert!(!limited.is_empty());
    for hit in &limited {
        // No API request from any worker of the same tool (cl-list lists, cl-fetch
        // downloads: each process has its own pause) within Retry-After of a 429 (a little
        // slack for requests already on the wire when it came).
        let crowding = api
            .iter()
            .filter(|r| {
                r.query.is_some() == hit.query.is_some()
                    && r.at > hit.at + Duration::from_millis(250)
                    && r.at < hit.at + Duration::from_millis(950)
            })
            .count();
        assert_eq!(crowding, 0, "requests sent while the API asked us to wait");
    }
    let retry_lines: Vec<&str> = err.lines().filter(|l| l.contains("HTTP 429")).collect();
    assert_eq!(retry_lines.len(), limited.len(), "{err}");
    for line in retry_lines {
        assert!(
            line.ends_with("HTTP 429: Rate limit reached; slow down; retry 1 of 5 in 1.0 s")
                || line.contains("; retry "),
            "{line}"
        );
    }
}

#[test]
fn a_retry_after_beyond_max_wait_ends_the_retries_with_a_reason() {
    let sim = faulty(|f| {
        f.rate_429 = 1.0;
        f.retry_after = 120;
    });
    let out = sim
        .list(sim.ws(), &[], "AUTH_LOG")
        .args(["--max-wait", "30"])
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: HTTP 429: Rate limit reached; slow \
         down (the server asked to wait 120 s, more than --max-wait 30 s)\n"
    );
}

#[test]
fn a_server_that_never_answers_fails_within_the_timeout_and_its_retries() {
    let sim = faulty(|f| f.hang = 1.0);
    let out = sim
        .list(sim.ws(), &[], "AUTH_LOG")
        .args(["--timeout", "1", "--retries", "1"])
        .assert_exit(1);
    let err = stderr(&out);
    assert!(
        err.ends_with(
            "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: timed out: nothing received for 1 s\n"
        ),
        "{err}"
    );
    // The try and its one retry, each given up after the 1 s timeout, and nothing more.
    let tries: Vec<_> = sim
        .requests()
        .into_iter()
        .map(|r| (r.status, r.at))
        .collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert!(tries.iter().all(|(status, _)| *status == 0), "{tries:?}");
    assert!(
        tries[1].1 - tries[0].1 >= Duration::from_secs(1),
        "retried before the timeout: {tries:?}"
    );
}

#[test]
fn a_slow_file_that_keeps_flowing_is_not_cut_off_by_the_timeout() {
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 1;
        c.dataset.file_size = 60_000;
        c.faults.bandwidth = 20_000;
    });
    let file = &sim.files(sim.ws(), "AUTH_LOG")[0];
    assert!(
        file.size > 35_000,
        "long enough to take more than the timeout"
    );
    let start = Instant::now();
    let out = sim
        .cmd("cl-fetch")
        .args([
            "-q",
            "--timeout",
            "1",
            "--retries",
            "0",
            "--principal",
            sim.ws(),
            &file.id,
        ])
        .assert_exit(0);
    assert!(start.elapsed() > Duration::from_millis(1500));
    assert_bytes(&out.stdout, &sim.stream([file.id.as_str()]));
}

#[test]
fn log_format_json_gives_one_object_per_stderr_line() {
    let sim = faulty(|f| f.fail_first = 1);
    let lines = sim
        .list(sim.ws(), &["--log-format", "json"], "AUTH_LOG")
        .args(["--limit", "10"])
        .output();
    let tampered = String::from_utf8(lines.stdout.clone()).unwrap().replacen(
        "\"file_size\":",
        "\"file_size\":1",
        1,
    );
    let out = sim
        .cmd("cl-fetch")
        .args(["--log-format", "json", "-v", "--retries", "1"])
        .stdin(tampered)
        .assert_exit(1);
    let mut levels = std::collections::BTreeSet::new();
    for text in [stderr(&lines), stderr(&out)] {
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(v["tool"].is_string() && v["message"].is_string(), "{line}");
            levels.insert(v["level"].as_str().unwrap().to_owned());
            if v["message"]
                .as_str()
                .unwrap()
                .starts_with("AUTH_LOG page 1")
            {
                assert_eq!(
                    (
                        v["event_type"].as_str(),
                        v["page"].as_u64(),
                        v["files"].as_u64()
                    ),
                    (Some("AUTH_LOG"), Some(1), Some(10))
                );
            }
            if v["message"].as_str().unwrap().starts_with("fetched ") {
                assert!(
                    v["id"].is_string() && v["bytes"].is_u64() && v["status"] == "downloaded",
                    "{line}"
                );
            }
        }
    }
    assert_eq!(
        levels.into_iter().collect::<Vec<_>>(),
        ["debug", "error", "info", "warn"]
    );
}
