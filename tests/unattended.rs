//! Unattended runs: whatever the operator, the input or the API does, no file is lost and no
//! failure is hidden.

use crate::util::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn completions_and_man_pages_ignore_the_environment() {
    for tool in ["cl-list", "cl-fetch"] {
        for flags in [vec!["--completions", "bash"], vec!["--man"]] {
            let out = TestCommand::new(bin_dir().join(tool))
                .env(
                    "COMPLIANCE_PRINCIPAL",
                    "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0",
                )
                .env("COMPLIANCE_API_BASE", "http://127.0.0.1:9/v1/compliance")
                .env("COMPLIANCE_API_KEY", "k")
                .args(&flags)
                .stdout();
            assert!(out.len() > 500, "{tool} {flags:?}");
        }
    }
}

#[test]
fn an_empty_window_is_a_usage_error() {
    for (after, before) in [
        ("1d", "7d"),
        ("2026-07-02T00:00:00Z", "2026-07-01T00:00:00Z"),
        ("2026-07-01T00:00:00Z", "2026-07-01T02:00:00+02:00"),
    ] {
        let out = TestCommand::new(bin_dir().join("cl-list"))
            .args([
                "ws-1", "-e", "AUTH_LOG", "--after", after, "--before", before,
            ])
            .assert_exit(2);
        let err = stderr(&out);
        assert!(
            err.starts_with("cl-list: --before ") && err.contains("is not later than --after"),
            "{err}"
        );
    }
}

#[test]
fn a_feed_ends_soon_after_its_reader_has_gone() {
    let sim = Sim::start();
    let start = Instant::now();
    let out = sim
        .sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --follow --interval 30 | head -3 \
             > /dev/null; echo \"list ${{PIPESTATUS[0]}}\""
        ))
        .stdout();
    assert_eq!(out, "list 0\n");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}: not within one interval",
        start.elapsed()
    );
}

#[test]
fn a_refused_event_type_does_not_stop_the_others() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd("cl-list")
        .args([
            sim.ws(),
            "-e",
            "COSTS,AUTH_LOG,NO_SUCH_LOG",
            "--after",
            BEFORE_ALL,
        ])
        .assert_exit(1);
    let auth = sim.files(sim.ws(), "AUTH_LOG");
    assert_lines(
        &String::from_utf8_lossy(&out.stdout),
        &sim.listing(sim.ws(), &auth, 100),
    );
    assert_lines(
        &stderr(&out),
        &format!(
            "cl-list: listing COSTS after {BEFORE_ALL}: HTTP 400: event_type COSTS is not available \
             for workspaces; it is logged per organization\n\
             cl-list: AUTH_LOG page 1 after {BEFORE_ALL}: 7 files (7 so far)\n\
             cl-list: listing NO_SUCH_LOG after {BEFORE_ALL}: HTTP 400: unknown event_type \
             NO_SUCH_LOG\n\
             cl-list: listed 7 files in 1 page (AUTH_LOG: 7)\n\
             cl-list: 2 of 3 event types could not be listed: COSTS, NO_SUCH_LOG\n"
        ),
    );

    // In a --state pipeline the type that worked is delivered and checkpointed.
    let out = sim
        .sh(&format!(
            "set +o pipefail; cl-list \"$P\" -q -e COSTS,AUTH_LOG --after {BEFORE_ALL} \
             --state s.json | cl-fetch -q --state s.json -o lake > manifest; \
             echo \"${{PIPESTATUS[*]}}\""
        ))
        .current_dir(dir.path())
        .output();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 0\n");
    assert_eq!(
        read(&dir.path().join("manifest")).lines().count(),
        auth.len()
    );
    let state: Value = serde_json::from_str(&read(&dir.path().join("s.json"))).unwrap();
    assert_eq!(
        state["principals"][sim.ws()]["AUTH_LOG"]["cursor"],
        auth.last().unwrap().end_time.as_str()
    );
    assert!(state["principals"][sim.ws()].get("COSTS").is_none());
}
