//! Long runs: a feed that follows a busy tenant for minutes keeps both tools' memory flat.
//! `CL_SOAK_SECONDS` sets how long (180 by default, as CI runs it).

use crate::util::*;
use std::time::{Duration, Instant};

/// The resident set of a process, in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .ok()
}

/// The pids of the processes running `tool` in the process group `group`.
fn pids_of(tool: &str, group: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // comm is in parentheses; the process group is the 3rd field after it.
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let pgrp = rest
            .split_whitespace()
            .nth(2)
            .and_then(|f| f.parse::<u32>().ok());
        if comm.ends_with(&format!("({tool}")) && pgrp == Some(group) {
            pids.push(pid);
        }
    }
    pids
}

#[cfg(target_os = "linux")]
#[test]
fn a_feed_following_thirty_new_files_a_second_keeps_both_tools_memory_flat() {
    let seconds: u64 = std::env::var("CL_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let per_second = 30;
    let files = (seconds + 30) as u32 * per_second;
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = files;
        c.dataset.interval = jiff::SignedDuration::from_micros(1_000_000 / i64::from(per_second));
        c.dataset.start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
        c.dataset.file_size = 300;
        c.record = false;
    });
    let dir = tempfile::tempdir().unwrap();
    let mut feed = sim
        .sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --follow --interval 1 --state s.json \
             | cl-fetch -q -j 8 --state s.json -o lake"
        ))
        .current_dir(dir.path())
        .spawn(None, &dir.path().join("manifest"));
    let group = feed.id();
    let sample = || -> Option<(u64, u64)> {
        let list = pids_of("cl-list", group)
            .first()
            .and_then(|&p| rss_kib(p))?;
        let fetch = pids_of("cl-fetch", group)
            .first()
            .and_then(|&p| rss_kib(p))?;
        Some((list, fetch))
    };
    let start = Instant::now();
    // The first sample once both have warmed up, the last at the end.
    let mut first = None;
    let mut last = None;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5));
        if let Some(now) = sample() {
            if start.elapsed() >= Duration::from_secs(seconds.min(30)) && first.is_none() {
                first = Some(now);
            }
            last = Some(now);
        }
        assert!(feed.try_wait().unwrap().is_none(), "the feed ended early");
    }
    signal(feed.id(), "TERM", true);
    let _ = feed.wait();
    let (first, last) = (first.expect("a first sample"), last.expect("a last sample"));
    let delivered = std::fs::read_to_string(dir.path().join("manifest"))
        .unwrap()
        .lines()
        .count() as u64;
    eprintln!(
        "| follow {seconds} s at {per_second} files/s | {delivered} files | cl-list RSS {} → {} KiB | \
         cl-fetch RSS {} → {} KiB |",
        first.0, last.0, first.1, last.1
    );
    assert!(
        delivered >= seconds * u64::from(per_second) * 3 / 4,
        "{delivered} files delivered"
    );
    // Flat: at most 4 MiB more than after the first half minute, for each tool.
    assert!(
        last.0 < first.0 + 4096,
        "cl-list grew from {} to {} KiB",
        first.0,
        last.0
    );
    assert!(
        last.1 < first.1 + 4096,
        "cl-fetch grew from {} to {} KiB",
        first.1,
        last.1
    );
}
