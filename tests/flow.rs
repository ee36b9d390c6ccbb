//! How files flow through cl-fetch: downloads start as lines arrive, and a slow file holds
//! back only the output behind it, never the downloads behind it.

use crate::util::*;
use cl_sim::Origin;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_slow_file_holds_back_the_output_behind_it_but_not_the_downloads() {
    // The first file trickles for about two seconds; the 29 behind it are small and fast.
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 30;
        c.faults.bandwidth = 300;
        c.faults.slow_first = true;
    });
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let out = sim
        .sh("cl-list \"$P\" -q -e AUTH_LOG --after 2026-07-01T00:00:00Z | cl-fetch -q -j 4")
        .assert_exit(0);
    assert_bytes(
        &out.stdout,
        &sim.stream(files.iter().map(|f| f.id.as_str())),
    );
    let blobs: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Blob)
        .collect();
    // Each file asked once: the slow one was not cut off and asked again.
    assert_eq!(blobs.len(), 30);
    let paths: std::collections::HashSet<&str> = blobs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths.len(), 30);
    let first = blobs[0].at;
    let last = blobs.iter().map(|r| r.at).max().unwrap();
    let slow = Duration::from_millis(1000 * files[0].size / 300);
    assert!(
        last - first < slow / 2,
        "the downloads behind the slow file waited for it: {:?} of {slow:?}",
        last - first
    );
}

#[test]
fn connections_to_the_api_and_the_blob_host_are_kept_alive_and_reused() {
    let sim = Sim::with(|c| c.dataset.files_per_type = 40);
    let ids = sim.ids("AUTH_LOG");
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "-j", "3", "--principal", sim.ws()])
        .args(&ids)
        .assert_exit(0);
    assert_bytes(&out.stdout, &sim.stream(&ids));
    let (api, blob) = sim.connections();
    assert!(
        api <= 3 && blob <= 3,
        "80 requests over {api} API and {blob} blob connections"
    );
}

#[test]
fn downloads_start_as_lines_arrive_without_waiting_for_the_end_of_input() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let mut child = Command::new(bin_dir().join("cl-fetch"))
        .args(["-q", "--principal", sim.ws()])
        .env("COMPLIANCE_API_BASE", sim.base_url())
        .env("COMPLIANCE_API_KEY", sim.key())
        .stdin(Stdio::piped())
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", files[0].id).unwrap();
    stdin.flush().unwrap();
    let want = sim.stream([files[0].id.as_str()]);
    wait_until(
        Duration::from_secs(30),
        "the first file while input stays open",
        || std::fs::read(&out_path).unwrap() == want,
    );
    writeln!(stdin, "{}", files[1].id).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_bytes(
        &std::fs::read(&out_path).unwrap(),
        &sim.stream([files[0].id.as_str(), files[1].id.as_str()]),
    );
}

/// Runs a bash script with stderr on a pseudo-terminal (util-linux `script`); returns what
/// the terminal showed.
fn on_a_terminal(sim: &Sim, dir: &std::path::Path, script: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = sim.sh(&format!("script -qec {} /dev/null", shell_quote(script)));
    for (k, v) in env {
        cmd.env(k, v);
    }
    String::from_utf8_lossy(&cmd.current_dir(dir).assert_exit(0).stdout).into_owned()
}

#[test]
fn a_live_progress_line_on_a_terminal_and_none_elsewhere() {
    if !needs("script", "apt-get install bsdutils") {
        return;
    }
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 30;
        c.faults.latency = Duration::from_millis(30);
    });
    let dir = tempfile::tempdir().unwrap();
    let input = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    let total: u64 = sim.files(sim.ws(), "AUTH_LOG").iter().map(|f| f.size).sum();

    let shown = on_a_terminal(
        &sim,
        dir.path(),
        "cl-fetch -j 2 < in.jsonl > out.jsonl",
        &[],
    );
    // Redrawn in place (carriage returns, line clears), with files, bytes and an ETA.
    assert!(
        shown.contains("\r") && shown.contains("\u{1b}[2K"),
        "{shown:?}"
    );
    assert!(
        shown.contains("cl-fetch: ") && shown.contains("/30 files") && shown.contains("ETA"),
        "{shown:?}"
    );
    assert!(
        !shown.contains("fetched eclf_"),
        "no line per file under a live line"
    );
    assert!(!shown.contains("\u{1b}[3"), "no colour");
    let summary = format!(
        "cl-fetch: delivered 30 files ({:.1} KiB)",
        total as f64 / 1024.0
    );
    assert!(shown.contains(&summary), "{shown:?}");
    assert_bytes(
        &std::fs::read(dir.path().join("out.jsonl")).unwrap(),
        &sim.stream(sim.ids("AUTH_LOG")),
    );

    let listed = on_a_terminal(
        &sim,
        dir.path(),
        "cl-list \"$P\" -e AUTH_LOG --after 2026-07-01T00:00:00Z --limit 5 > /dev/null",
        &[],
    );
    // Each page after the first is asked from just before the cursor, so its first file is
    // the last one again: 5 new, then 4 new a page.
    assert!(
        listed.contains("\u{1b}[2K") && listed.contains(" files in 8 pages"),
        "{listed:?}"
    );
    assert!(
        listed.contains("cl-list: listed 30 files in 8 pages (AUTH_LOG: 30)"),
        "{listed:?}"
    );

    // -q, --log-format json or a dumb terminal: no live line.
    for (script, env) in [
        ("cl-fetch -q -j 2 < in.jsonl > /dev/null", vec![]),
        (
            "cl-fetch --log-format json -j 2 < in.jsonl > /dev/null",
            vec![],
        ),
        (
            "cl-fetch -j 2 < in.jsonl > /dev/null",
            vec![("TERM", "dumb")],
        ),
    ] {
        let shown = on_a_terminal(&sim, dir.path(), script, &env);
        assert!(!shown.contains("\u{1b}[2K"), "{script}: {shown:?}");
    }
}

#[test]
fn a_failed_poll_is_reported_above_the_live_line_not_through_it() {
    if !needs("script", "apt-get install bsdutils") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "cl-list \"$P\" -e AUTH_LOG --after {BEFORE_ALL} --follow --interval 1 --retries 0"
    );
    let mut feed = sim
        .sh(&format!("script -qec {} /dev/null", shell_quote(&script)))
        .current_dir(dir.path())
        .spawn(None, &dir.path().join("terminal"));
    let shown = || std::fs::read_to_string(dir.path().join("terminal")).unwrap_or_default();
    wait_until(
        Duration::from_secs(30),
        "the feed following AUTH_LOG",
        || shown().contains("following AUTH_LOG"),
    );
    // The API goes away: the next polls fail, and say so.
    drop(sim);
    wait_until(Duration::from_secs(30), "a failed poll to be shown", || {
        shown().contains("trying again later")
    });
    signal(feed.id(), "TERM", true);
    let _ = feed.wait();
    let shown = shown();
    let at = shown
        .find("cl-list: listing AUTH_LOG after")
        .unwrap_or_else(|| panic!("no failed poll shown: {shown:?}"));
    // The live line is cleared before the message, so it starts a line of its own.
    let before = &shown[..at];
    assert!(
        before.ends_with('\n') || before.ends_with("\u{1b}[2K"),
        "the message was written into the live line: {:?}",
        &before[before.len().saturating_sub(80)..]
    );
}
