//! Event types with one word (`-e all`), and monitoring that never cries wolf: quiet types,
//! gaps, the default lag, layouts for data lakes.

use crate::util::*;
use serde_json::Value;
use std::path::Path;

const WORKSPACE_TYPES: [&str; 9] = [
    "AUTH_LOG",
    "AUDIT_LOG",
    "APP_LOG",
    "APP_AUTH_LOG",
    "CONVERSATION_MESSAGE",
    "CODEX_LOG",
    "CODEX_SECURITY_LOG",
    "CUSTOM_AGENTS_LOG",
    "CHATGPT_PLUGIN_SPREADSHEET",
];

fn types_of(out: &[u8]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(out).lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        let t = line["event_type"].as_str().unwrap().to_owned();
        if types.last() != Some(&t) {
            types.push(t);
        }
    }
    types
}

fn check(sim: &Sim, dir: &Path, types: &str, code: i32) -> Vec<Value> {
    let out = sim
        .cmd("cl-list")
        .current_dir(dir)
        .args([sim.ws(), "--check", "--state", "s.json", "-e", types])
        .assert_exit(code);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn all_lists_every_type_known_for_the_principal_s_kind() {
    let sim = Sim::start();
    let out = sim.list(sim.ws(), &["-q"], "all").assert_exit(0);
    assert_eq!(types_of(&out.stdout), WORKSPACE_TYPES);
    let out = sim.list(sim.org(), &["-q"], "all").assert_exit(0);
    assert_eq!(types_of(&out.stdout), ["AUTH_LOG", "COSTS"]);
    // With named types: in the order given, each once.
    let out = sim.list(sim.ws(), &["-q"], "APP_LOG,ALL").assert_exit(0);
    let types = types_of(&out.stdout);
    assert_eq!(types[0], "APP_LOG");
    assert_eq!(types.len(), 9);
}

#[test]
fn under_all_a_refused_type_is_said_once_and_skipped_named_it_fails() {
    let sim = Sim::with(|c| c.faults.ungranted = vec!["CODEX_LOG".to_owned()]);
    let out = sim.list(sim.ws(), &["-q"], "all").assert_exit(0);
    let types = types_of(&out.stdout);
    assert!(
        !types.contains(&"CODEX_LOG".to_owned()) && types.len() == 8,
        "{types:?}"
    );
    assert_eq!(
        stderr(&out),
        format!(
            "cl-list: CODEX_LOG skipped (from all): listing CODEX_LOG after {BEFORE_ALL}: HTTP 403: \
             This API key lacks read permission for CODEX_LOG.\n\
             hint: the key may not read CODEX_LOG: an admin grants read permission per log \
             category; it is skipped until then\n"
        )
    );
    // Named, the same refusal fails the run.
    let out = sim.list(sim.ws(), &["-q"], "all,CODEX_LOG").assert_exit(1);
    assert_eq!(types_of(&out.stdout).len(), 8);
    assert!(stderr(&out).contains("1 of 9 event types could not be listed: CODEX_LOG"));
    // An unknown name beside all passes through, and fails as named.
    let out = sim.list(sim.ws(), &["-q"], "all,NEW_TYPE").assert_exit(1);
    assert!(
        stderr(&out).contains("HTTP 400: unknown event_type NEW_TYPE"),
        "{}",
        stderr(&out)
    );
    // The same for --check: the refused type under all is said, not answered.
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd("cl-list")
        .current_dir(dir.path())
        .args([sim.ws(), "--check", "-e", "all"])
        .assert_exit(0);
    let answered: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answered.len(), 8);
    assert!(stderr(&out).starts_with("cl-list: CODEX_LOG skipped (from all): "));
}

#[test]
fn a_key_refused_for_every_type_fails_under_all_too() {
    let sim = Sim::with(|c| {
        c.faults.ungranted = ["AUTH_LOG", "COSTS"].map(str::to_owned).to_vec();
    });
    let out = sim.list(sim.org(), &["-q"], "all").assert_exit(1);
    assert_eq!(out.stdout, b"");
    assert!(
        stderr(&out).contains("2 of 2 event types could not be listed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_refused_unknown_name_gets_the_server_s_words_and_the_close_known_one() {
    let sim = Sim::start();
    let out = sim.list(sim.ws(), &["-q"], "AUTH_LGO").assert_exit(1);
    assert_eq!(
        stderr(&out),
        format!(
            "cl-list: listing AUTH_LGO after {BEFORE_ALL}: HTTP 400: unknown event_type AUTH_LGO\n\
             hint: did you mean AUTH_LOG?\n"
        )
    );
    let out = sim
        .list(sim.ws(), &["-q"], "conversation_messages")
        .assert_exit(1);
    assert!(
        stderr(&out).ends_with("hint: did you mean CONVERSATION_MESSAGE?\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_quiet_type_is_caught_up_not_behind_and_a_type_never_listed_is_behind() {
    let sim = Sim::with(|c| c.dataset.quiet = vec!["APP_LOG".to_owned()]);
    let dir = tempfile::tempdir().unwrap();
    let pipeline = "cl-list \"$P\" -q -e AUTH_LOG,APP_LOG --after 2026-07-01T00:00:00Z --state s.json \
                    | cl-fetch -q --state s.json -o lake > m.jsonl";
    sim.sh(pipeline).current_dir(dir.path()).assert_exit(0);
    let answers = check(&sim, dir.path(), "AUTH_LOG,APP_LOG,AUDIT_LOG", 1);
    assert_eq!(answers[0]["status"], "ok");
    // APP_LOG has never had a file: caught up, newest null, lag 0.
    assert_eq!(answers[1]["status"], "ok", "{}", answers[1]);
    assert_eq!(answers[1]["newest"], Value::Null);
    assert_eq!(answers[1]["lag_seconds"], 0);
    // AUDIT_LOG: the pipeline has not run for it.
    assert_eq!(answers[2]["status"], "behind");
    assert!(
        answers[2]["message"]
            .as_str()
            .unwrap()
            .starts_with("the pipeline has not run for this type"),
        "{}",
        answers[2]
    );
    // Reruns need no --after for the quiet type, and warn of nothing, however old the data.
    let rerun = sim
        .sh(
            "COMPLIANCE_RETENTION=30d cl-list \"$P\" -q -e AUTH_LOG,APP_LOG --state s.json \
             | cl-fetch -q --state s.json -o lake",
        )
        .current_dir(dir.path())
        .assert_exit(0);
    assert_eq!(stderr(&rerun), "");
    let answers = check(&sim, dir.path(), "AUTH_LOG,APP_LOG", 0);
    assert!(answers.iter().all(|a| a["status"] == "ok"));
}

#[test]
fn a_listing_that_starts_after_the_cursor_is_a_gap_said_loudly_and_kept_until_closed() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    // Delivered up to files[2]; then a listing that starts after files[4], as one that reads
    // a misnamed state (cl-list --state list.json) does after an outage.
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --before {} --state s.json \
         | cl-fetch -q --state s.json -o lake",
        files[3].end_time
    ))
    .current_dir(dir.path())
    .assert_exit(0);
    let out = sim
        .sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {} --state list.json \
             | cl-fetch -q --state s.json -o lake",
            files[4].end_time
        ))
        .current_dir(dir.path())
        .assert_exit(0);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "cl-fetch: AUTH_LOG: this listing starts at {}, after {}, where the state's \
             deliveries reached: files between were never listed",
            as_sent(&files[4].end_time),
            files[2].end_time
        )) && err.contains("hint: do cl-list --state and cl-fetch --state name the same file?"),
        "{err}"
    );
    let answers = check(&sim, dir.path(), "AUTH_LOG", 1);
    assert_eq!(answers[0]["status"], "behind");
    assert!(
        answers[0]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("files between {} and ", files[2].end_time)),
        "{}",
        answers[0]
    );
    // The right state on both sides: the listing starts at the cursor, and the gap closes.
    sim.sh("cl-list \"$P\" -q -e AUTH_LOG --state s.json | cl-fetch -q --state s.json -o lake")
        .current_dir(dir.path())
        .assert_exit(0);
    assert_eq!(
        tree(&dir.path().join("lake")).len(),
        7,
        "files[3] and [4] are there now"
    );
    assert_eq!(check(&sim, dir.path(), "AUTH_LOG", 0)[0]["status"], "ok");
}

#[test]
fn check_calls_a_state_two_hours_behind_behind_without_max_lag() {
    // Files an hour apart, the last just now: delivered all but the last three.
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 10;
        c.dataset.interval = jiff::SignedDuration::from_hours(1);
        c.dataset.start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(9);
    });
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after 1d --before {} --state s.json \
         | cl-fetch -q --state s.json -o lake",
        files[7].end_time
    ))
    .current_dir(dir.path())
    .assert_exit(0);
    let answer = check(&sim, dir.path(), "AUTH_LOG", 1).remove(0);
    assert_eq!(answer["status"], "behind");
    let lag = answer["lag_seconds"].as_i64().unwrap();
    assert!(lag > 2 * 3600, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .ends_with("s behind the newest data, more than the 7200 s allowed"),
        "{answer}"
    );
}

#[test]
fn layouts_take_hour_and_date_parts_for_partitioned_lakes() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    sim.cmd("cl-fetch")
        .current_dir(dir.path())
        .args([
            "-q",
            "-o",
            "lake",
            "--layout",
            "{event_type}/year={year}/month={month}/day={day}/hour={hour}/{id}.jsonl",
        ])
        .stdin(sim.listing(sim.ws(), &files[..1], 100))
        .assert_exit(0);
    let t: jiff::Timestamp = files[0].end_time.parse().unwrap();
    assert_eq!(
        tree(&dir.path().join("lake")),
        [format!(
            "AUTH_LOG/year={}/month={}/day={}/hour={}/{}.jsonl",
            t.strftime("%Y"),
            t.strftime("%m"),
            t.strftime("%d"),
            t.strftime("%H"),
            files[0].id
        )]
    );
}
