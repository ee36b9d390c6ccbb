//! What only Windows does differently, run against the Windows builds under Wine by
//! scripts/test-windows (`--run-ignored all`); ignored in the Linux suite.

use crate::util::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Holds `file` open from a Windows program, sharing reading and writing but not renaming
/// (as most readers, indexers and scanners do), for `seconds`; returns once it is held.
fn hold(file: &Path, seconds: u32) -> Child {
    let mut child = Command::new("wine")
        .arg(bin_dir().join("holdopen.exe"))
        .arg(native_path(file))
        .arg(seconds.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = [0u8; 4];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut said).unwrap();
    assert_eq!(&said, b"held");
    child
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn a_file_another_program_holds_open_is_replaced_once_it_lets_go() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let listing = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    let fetch = || {
        sim.cmd("cl-fetch")
            .args(["-q", "-o", "lake"])
            .current_dir(dir.path())
            .stdin(listing.clone())
            .output()
    };
    assert!(fetch().status.success());
    let f = &sim.files(sim.ws(), "AUTH_LOG")[0];
    let victim = dir.path().join(format!(
        "lake/{}/AUTH_LOG/2026-07-16/{}.jsonl",
        sim.ws(),
        f.id
    ));

    // Held for a moment: the replacement waits it out.
    std::fs::write(&victim, "damaged\n").unwrap();
    let mut holder = hold(&victim, 1);
    let out = fetch();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bytes(&std::fs::read(&victim).unwrap(), &sim.content(&f.id));
    let _ = holder.wait();

    // Held for longer than the tools wait: one clear error naming the file, and what to do.
    std::fs::write(&victim, "damaged\n").unwrap();
    let mut holder = hold(&victim, 10);
    let start = Instant::now();
    let out = fetch();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}.jsonl could not be replaced: another program holds it open",
            f.id
        )) && err.contains("hint: close what has it open"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(9), "bounded wait");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn the_state_file_is_saved_while_another_program_reads_it() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        sim.sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 3 --state s.json \
             | cl-fetch -q --state s.json > out.jsonl"
        ))
        .current_dir(dir.path())
        .output()
    };
    let first = sim
        .list(sim.ws(), &["-q", "--limit", "3"], "AUTH_LOG")
        .stdout();
    let three: String = first.lines().take(3).map(|l| format!("{l}\n")).collect();
    sim.cmd("cl-fetch")
        .args(["-q", "--state", "s.json"])
        .current_dir(dir.path())
        .stdin(three)
        .stdout();
    let mut holder = hold(&dir.path().join("s.json"), 1);
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = holder.wait();
    let state = std::fs::read_to_string(dir.path().join("s.json")).unwrap();
    assert!(
        state.contains(&sim.files(sim.ws(), "AUTH_LOG")[6].end_time),
        "{state}"
    );
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn ctrl_c_stops_a_feed_cleanly() {
    let sim = Sim::start();
    // Wine turns SIGINT into the console's Ctrl-C event.
    let out = std::env::temp_dir().join(format!("feed-{}", std::process::id()));
    let mut feed = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG")
        .args(["--follow", "--interval", "1"])
        .spawn(None, &out);
    // Once it has caught up (its console handler set long before), and is following: a fixed
    // wait was too short for Wine on a loaded machine.
    let started = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count()
        < 7
    {
        assert!(Instant::now() < started, "the feed never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(feed.id(), "INT", false);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = feed.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(feed.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(!err.contains("page fault"), "{err}");
}
