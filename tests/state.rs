//! Checkpoints (--state), the lock on them, signals, and kill -9 at random moments.

use crate::util::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn state(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("s.json")).unwrap()).unwrap()
}

fn manifest_statuses(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_owned(),
                v["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `after` as cl-list sends it when resuming from `cursor`: a microsecond earlier, escaped.
fn resumed_after(cursor: &str) -> String {
    just_before(cursor).replace(':', "%3A")
}

/// Whether the simulator lists `file` yet: its end time has come.
fn released(file: &cl_sim::FileInfo) -> bool {
    jiff::Timestamp::now() >= file.end_time.parse::<jiff::Timestamp>().unwrap()
}

/// `files` files per type, `interval` apart from a second ago on: they come out while the
/// test runs.
fn releasing(files: u32, interval: jiff::SignedDuration) -> Sim {
    Sim::with(|c| {
        c.dataset.files_per_type = files;
        c.dataset.interval = interval;
        c.dataset.start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    })
}

#[test]
fn whole_pages_are_saved_and_a_rerun_downloads_nothing() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |after: &str, manifest: &str| {
        sim.sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG,APP_LOG {after} --limit 3 --state s.json \
             | cl-fetch -q --state s.json -o lake > {manifest}"
        ))
        .current_dir(dir.path())
        .assert_exit(0);
    };
    run("--after 2026-07-01T00:00:00Z", "m1");
    let auth = sim.files(sim.ws(), "AUTH_LOG");
    let app = sim.files(sim.ws(), "APP_LOG");
    assert_eq!(manifest_statuses(&dir.path().join("m1")).len(), 14);
    let last = |f: &[cl_sim::FileInfo]| json!({"cursor": f[6].end_time, "delivered": {f[6].id.clone(): f[6].end_time}});
    assert_eq!(
        state(dir.path()),
        json!({"version": 2, "principals": {sim.ws(): {"APP_LOG": last(&app), "AUTH_LOG": last(&auth)}}})
    );

    // Again, with no --after: each type resumes just before its cursor; the boundary file
    // comes again and is not delivered again, nor printed (the state says an earlier run
    // delivered it); nothing is downloaded.
    let downloads = sim.downloads();
    run("", "m2");
    assert_eq!(manifest_statuses(&dir.path().join("m2")), []);
    assert_eq!(sim.downloads(), downloads);
    let queries: Vec<String> = sim.requests().into_iter().filter_map(|r| r.query).collect();
    assert!(
        queries
            .iter()
            .any(|q| q.contains(&format!("after={}", resumed_after(&auth[6].end_time)))),
        "{queries:?}"
    );
    assert!(
        tree(dir.path()).iter().all(|p| !p.ends_with(".part")),
        "{:?}",
        tree(dir.path())
    );
}

#[test]
fn stdout_runs_over_time_deliver_every_file_exactly_once() {
    // Files a quarter second apart, most of them still in the future at the first run.
    let sim = releasing(12, jiff::SignedDuration::from_millis(250));
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for run in 1..=3 {
        let out = sim
            .sh("cl-list \"$P\" -q -e AUTH_LOG --after 1h --limit 3 --state s.json | cl-fetch -q --state s.json")
            .current_dir(dir.path())
            .assert_exit(0);
        assert!(
            run == 3 || !out.stdout.is_empty() || run == 2,
            "run {run} found nothing"
        );
        all.extend_from_slice(&out.stdout);
        // The second run once a file the first could not see is out; the last once every
        // file is.
        let out_now = files.iter().filter(|f| released(f)).count();
        match run {
            1 => wait_until(
                Duration::from_secs(30),
                "a file the first run missed",
                || files.iter().filter(|f| released(f)).count() > out_now,
            ),
            2 => wait_until(Duration::from_secs(30), "every file to be out", || {
                files.iter().all(released)
            }),
            _ => {}
        }
    }
    assert_bytes(&all, &sim.stream(sim.ids("AUTH_LOG")));
}

#[test]
fn a_failure_holds_the_cursor_and_the_rerun_delivers_just_what_is_missing() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let lines = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG")
        .args(["--limit", "3"])
        .stdout();
    let tampered = lines.replace(&files[4].sha256, &"0".repeat(64));
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--retries", "0", "--state", "s.json"])
        .current_dir(dir.path())
        .stdin(tampered)
        .assert_exit(1);
    let delivered = [0, 1, 2, 3, 5, 6].map(|i| files[i].id.as_str());
    assert_bytes(&out.stdout, &sim.stream(delivered));
    let progress = &state(dir.path())["principals"][sim.ws()]["AUTH_LOG"];
    assert_eq!(
        progress["cursor"],
        json!(files[2].end_time),
        "page 2 failed: only page 1 counts"
    );
    let kept: Vec<&str> = progress["delivered"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [2, 3, 5, 6].map(|i| files[i].id.as_str());
    want.sort();
    assert_eq!(kept, want);

    let out = sim
        .sh("cl-list \"$P\" -q -e AUTH_LOG --limit 3 --state s.json | cl-fetch -q --state s.json")
        .current_dir(dir.path())
        .assert_exit(0);
    assert_bytes(&out.stdout, &sim.stream([files[4].id.as_str()]));
    let progress = &state(dir.path())["principals"][sim.ws()]["AUTH_LOG"];
    assert_eq!(progress["cursor"], json!(files[6].end_time));
}

#[test]
fn a_second_run_on_the_same_state_file_fails_at_once() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let mut first = sim
        .sh("sleep 30 | cl-fetch -q --state s.json")
        .current_dir(dir.path())
        .spawn(None, &dir.path().join("first.out"));
    let second = || {
        sim.cmd("cl-fetch")
            .args(["--state", "s.json", "--principal", sim.ws(), "eclf_x"])
            .current_dir(dir.path())
            .output()
    };
    // Wait until the first run holds the lock. Wine keeps Windows locks to itself: there, ask
    // as the second run does until the answer is that lock.
    let lock = dir.path().join("s.json.lock");
    wait_until(
        Duration::from_secs(60),
        "the first run to take the lock",
        || {
            if under_wine() {
                return lock.exists() && stderr(&second()).contains("is in use by another run");
            }
            std::fs::File::open(&lock).is_ok_and(|file| file.try_lock().is_err())
        },
    );
    let out = second();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // At once: while the first run, stuck for 30 s on its input, still holds the lock.
    assert!(
        first.try_wait().unwrap().is_none(),
        "the second run waited for the first to end"
    );
    assert_eq!(
        stderr(&out),
        "cl-fetch: state file s.json is in use by another run (locked through s.json.lock)\n\
         hint: let that run finish, or give this one its own --state file\n"
    );
    signal(first.id(), "KILL", true);
    let _ = first.wait();
}

#[test]
fn cl_list_needs_after_for_types_the_state_does_not_know_and_refuses_a_bad_state() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd("cl-list")
        .args([sim.ws(), "-e", "AUTH_LOG", "--state", "s.json"])
        .current_dir(dir.path())
        .assert_exit(2);
    assert_eq!(
        stderr(&out),
        "cl-list: --after is required: s.json has no cursor for AUTH_LOG yet\n\
         hint: give RFC 3339 with an offset (2026-01-01T00:00:00Z) or an age (24h, 7d)\n"
    );
    std::fs::write(
        dir.path().join("s.json"),
        "{\"version\":1,\"principals\":7}",
    )
    .unwrap();
    for tool in ["cl-list", "cl-fetch"] {
        let out = sim
            .cmd(tool)
            .args(["--state", "s.json"])
            .args(
                ["-e", "AUTH_LOG", "--after", "1h", sim.ws()]
                    .iter()
                    .filter(|_| tool == "cl-list"),
            )
            .args(
                ["--principal", sim.ws(), "eclf_x"]
                    .iter()
                    .filter(|_| tool == "cl-fetch"),
            )
            .current_dir(dir.path())
            .assert_exit(2);
        assert!(
            stderr(&out).starts_with(&format!("{tool}: state file s.json is not valid: ")),
            "{}",
            stderr(&out)
        );
    }
    assert!(sim.requests().is_empty());
}

/// A listing of `n` files per type, slow enough to stop in the middle.
fn slow_sim(seed: u64, n: u32, latency_ms: u64) -> Sim {
    Sim::with(|c| {
        c.dataset.seed = seed;
        c.dataset.files_per_type = n;
        c.faults.latency = Duration::from_millis(latency_ms);
    })
}

fn listing_file(sim: &Sim, dir: &Path, types: &str) -> std::path::PathBuf {
    let lines = sim
        .list(sim.ws(), &["-q"], types)
        .args(["--limit", "7"])
        .stdout();
    let path = dir.join("input.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

/// Starts `cl-fetch FLAGS…` in `dir` on a slow listing of 40 AUTH_LOG files, stdout to `out`,
/// and stops it with `sig` part-way: the simulator, the listing and the exit code.
fn stopped_fetch(
    dir: &Path,
    flags: &[&str],
    out: &str,
    sig: &str,
) -> (Sim, std::path::PathBuf, Option<i32>) {
    let sim = slow_sim(7, 40, 50);
    let input = listing_file(&sim, dir, "AUTH_LOG");
    let mut child = sim
        .cmd("cl-fetch")
        .args(flags)
        .current_dir(dir)
        .spawn(Some(&input), &dir.join(out));
    // Stopped once the first file is out, while the others are still on their way: a fixed
    // delay was too short under Wine on a loaded machine.
    wait_until(Duration::from_secs(60), "a first file delivered", || {
        std::fs::metadata(dir.join(out)).is_ok_and(|m| m.len() > 0)
    });
    signal(child.id(), sig, false);
    let code = child.wait().unwrap().code();
    (sim, input, code)
}

#[test]
fn sigterm_discards_in_flight_files_and_keeps_the_state_honest() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["-q", "-j", "2", "--state", "s.json", "-o", "lake"];
    let (sim, input, code) = stopped_fetch(dir.path(), &flags, "m1", "TERM");
    assert_eq!(code, Some(143));
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let first = manifest_statuses(&dir.path().join("m1"));
    assert!(
        !first.is_empty() && first.len() < files.len(),
        "stopped in the middle: {}",
        first.len()
    );
    assert!(
        tree(dir.path()).iter().all(|p| !p.ends_with(".part")),
        "{:?}",
        tree(dir.path())
    );
    // Everything the state claims is in the manifest.
    let progress = &state(dir.path())["principals"][sim.ws()]["AUTH_LOG"];
    let listed: Vec<&str> = first.iter().map(|(id, _)| id.as_str()).collect();
    for id in progress["delivered"].as_object().unwrap().keys() {
        assert!(
            listed.contains(&id.as_str()),
            "{id} saved as delivered but not delivered"
        );
    }
    if let Some(cursor) = progress["cursor"].as_str() {
        for f in files.iter().filter(|f| f.end_time.as_str() <= cursor) {
            assert!(
                listed.contains(&f.id.as_str()),
                "{} is behind the cursor but was not delivered",
                f.id
            );
        }
    }
    let downloads = sim.downloads();
    sim.cmd("cl-fetch")
        .args(flags)
        .current_dir(dir.path())
        .stdin(std::fs::read(&input).unwrap())
        .stdout();
    let mut want: Vec<String> = files
        .iter()
        .map(|f| format!("{}/AUTH_LOG/2026-07-16/{}.jsonl", sim.ws(), f.id))
        .collect();
    want.sort();
    assert_eq!(tree(&dir.path().join("lake")), want);
    assert!(
        sim.downloads() - downloads <= files.len() - first.len() + 2,
        "only in-flight files twice"
    );
}

#[test]
fn sigint_in_stdout_mode_leaves_only_whole_files_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, _, code) = stopped_fetch(dir.path(), &["-q", "-j", "3"], "out", "INT");
    assert_eq!(code, Some(130));
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let got = std::fs::read(dir.path().join("out")).unwrap();
    let whole = (0..=files.len())
        .find(|&k| sim.stream(files[..k].iter().map(|f| f.id.as_str())) == got)
        .unwrap_or_else(|| panic!("{} bytes are not a run of whole files", got.len()));
    assert!(
        whole > 0 && whole < files.len(),
        "stopped in the middle: {whole}"
    );
}

/// Counts, across outputs, each file's whole appearances and the lines that belong to no
/// whole file (a file torn by a kill).
fn census(sim: &Sim, ids: &[String], outputs: &[Vec<u8>]) -> (BTreeMap<String, usize>, usize) {
    let mut by_first_line = BTreeMap::new();
    for id in ids {
        let content = sim.stream([id.as_str()]);
        let text = String::from_utf8(content).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        by_first_line.insert(lines[0].clone(), (id.clone(), lines));
    }
    let mut counts: BTreeMap<String, usize> = ids.iter().map(|id| (id.clone(), 0)).collect();
    let mut stray = 0;
    for output in outputs {
        let text = String::from_utf8_lossy(output);
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].strip_suffix('\n');
            match line.and_then(|l| by_first_line.get(l)) {
                Some((id, want))
                    if lines.len() >= i + want.len()
                        && want
                            .iter()
                            .zip(&lines[i..])
                            .all(|(w, g)| g.strip_suffix('\n') == Some(w)) =>
                {
                    *counts.get_mut(id).unwrap() += 1;
                    i += want.len();
                }
                _ => {
                    stray += 1;
                    i += 1;
                }
            }
        }
    }
    (counts, stray)
}

/// Kills the whole `cl-list --state | cl-fetch --state` pipeline with SIGKILL at random
/// moments, then lets it finish, and checks nothing was lost, doubled or left half-written.
fn crash_test(directory_mode: bool) {
    const KILLS: usize = 6;
    const JOBS: usize = 4;
    let (mut kills, mut checked, mut losses, mut duplicates, mut redownloads, mut torn) =
        (0, 0, 0, 0, 0, 0);
    for seed in [11u64, 12, 13] {
        let sim = slow_sim(seed, 30, 40);
        let dir = tempfile::tempdir().unwrap();
        let files = sim.all_files(&["AUTH_LOG", "APP_LOG"]);
        let ids: Vec<String> = files.iter().map(|f| f.id.clone()).collect();
        let sink = if directory_mode { "-o lake" } else { "" };
        let script = format!(
            "cl-list \"$P\" -q -e AUTH_LOG,APP_LOG --after 2026-07-01T00:00:00Z --limit 7 --state s.json \
             | cl-fetch -q -j {JOBS} --state s.json {sink}"
        );
        let (killed, outputs) = kill_and_rerun(&sim, &script, dir.path(), KILLS, seed, 600);
        kills += killed;
        let leftovers: Vec<String> = tree(dir.path())
            .into_iter()
            .filter(|p| p.ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        checked += files.len();
        redownloads += sim.downloads() - files.len();
        if directory_mode {
            for f in &files {
                let path = dir
                    .path()
                    .join("lake")
                    .join(sim.ws())
                    .join(&f.event_type)
                    .join("2026-07-16");
                match std::fs::read(path.join(format!("{}.jsonl", f.id))) {
                    Ok(bytes) => assert_bytes(&bytes, &sim.content(&f.id)),
                    Err(_) => losses += 1,
                }
            }
            assert_eq!(
                tree(&dir.path().join("lake")).len(),
                files.len(),
                "no stray files"
            );
        } else {
            let (counts, stray) = census(&sim, &ids, &outputs);
            losses += counts.values().filter(|&&n| n == 0).count();
            duplicates += counts
                .values()
                .filter(|&&n| n > 1)
                .map(|n| n - 1)
                .sum::<usize>();
            torn += stray;
        }
    }
    let mode = if directory_mode {
        "directory"
    } else {
        "stdout"
    };
    eprintln!(
        "| crash test, {mode} | {kills} kill -9 | {checked} files checked | {losses} lost | \
         {duplicates} duplicated | {torn} torn lines | {redownloads} re-downloads |"
    );
    assert_eq!(losses, 0);
    // Only the file being handed over when a kill came can be delivered twice (stdout), and
    // only files in flight or waiting for their turn are fetched again.
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates for {kills} kills"
    );
    assert!(torn <= kills);
    let window = 4 * JOBS + 16 + JOBS;
    assert!(redownloads <= kills * window, "{redownloads} re-downloads");
    if directory_mode {
        assert_eq!(duplicates, 0);
        assert!(redownloads <= kills * JOBS, "{redownloads} re-downloads");
    }
}

#[test]
fn crash_test_directory_mode() {
    crash_test(true);
}

#[test]
fn crash_test_stdout_mode() {
    crash_test(false);
}

#[test]
fn follow_with_state_is_a_continuous_feed_that_survives_a_restart() {
    if !needs("pgrep", "apt-get install procps") {
        return;
    }
    // Files a third of a second apart, most of them released while the feed runs.
    let sim = releasing(15, jiff::SignedDuration::from_millis(330));
    let dir = tempfile::tempdir().unwrap();
    let feed = "cl-list \"$P\" -q -e AUTH_LOG --after 1h --limit 4 --state s.json --follow --interval 1 \
                | cl-fetch -q --state s.json";
    // First feed: stopped with SIGTERM after a while, like a service manager would.
    let mut first = sim
        .sh(&format!(
            "{feed}; echo \"list ${{PIPESTATUS[0]}} fetch ${{PIPESTATUS[1]}}\" >&2"
        ))
        .current_dir(dir.path())
        .spawn(None, &dir.path().join("out.1"));
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let delivered = |outs: &[&str]| -> Vec<u8> {
        outs.iter()
            .flat_map(|o| std::fs::read(dir.path().join(o)).unwrap_or_default())
            .collect()
    };
    // Once it has delivered the first file, the rest still coming out.
    let first_file = sim.stream([files[0].id.as_str()]);
    wait_until(
        Duration::from_secs(60),
        "the first feed's first file",
        || delivered(&["out.1"]).starts_with(&first_file),
    );
    let list_pid = String::from_utf8(
        Command::new("pgrep")
            .args(["-g", &first.id().to_string(), "-x", "cl-list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    signal(list_pid.trim().parse().unwrap(), "TERM", false);
    assert!(first.wait().unwrap().success());
    let mut err = String::new();
    std::io::Read::read_to_string(first.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(err, "list 0 fetch 0\n", "SIGTERM ends a feed cleanly");
    // Second feed, after every file is out: it picks up where the first stopped.
    wait_until(Duration::from_secs(60), "every file to be out", || {
        files.iter().all(released)
    });
    let mut second = sim
        .sh(feed)
        .current_dir(dir.path())
        .spawn(None, &dir.path().join("out.2"));
    let want = sim.stream(sim.ids("AUTH_LOG"));
    wait_until(
        Duration::from_secs(60),
        "the second feed to deliver the rest",
        || delivered(&["out.1", "out.2"]).len() >= want.len(),
    );
    signal(second.id(), "INT", true);
    let _ = second.wait();
    let mut all = std::fs::read(dir.path().join("out.1")).unwrap();
    all.extend(std::fs::read(dir.path().join("out.2")).unwrap());
    assert_bytes(&all, &sim.stream(sim.ids("AUTH_LOG")));
}

/// Kills the process when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn files_arriving_on_the_simulator_reach_the_next_checkpointed_run_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    // cl-sim as the README's hourly job starts it: 3 files of each type there, 2 to come, one
    // every 3 s.
    let env_file = dir.path().join("sim.env");
    let _sim = KillOnDrop(
        TestCommand::new(bin_dir().join("cl-sim"))
            .args(["--files", "3", "--arriving", "2", "--interval", "3"])
            .spawn(None, &env_file),
    );
    let mut env = Vec::new();
    wait_until(
        Duration::from_secs(60),
        "the simulator's environment",
        || {
            let text = std::fs::read_to_string(&env_file).unwrap_or_default();
            env = text
                .lines()
                .filter_map(|l| l.strip_prefix("export COMPLIANCE_")?.split_once('='))
                .map(|(k, v)| (format!("COMPLIANCE_{k}"), v.to_owned()))
                .collect();
            text.lines().count() >= 6
        },
    );
    let with_env = |script: &str| {
        let mut cmd = sh(script);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.current_dir(dir.path());
        cmd
    };
    let listed = || ids_of(&with_env("cl-list -q -e AUTH_LOG --after 24h").stdout());
    let hourly = |manifest: &str| {
        with_env(&format!(
            "cl-list -q -e AUTH_LOG --after 24h --state s.json \
             | cl-fetch -q -o lake --state s.json > {manifest}"
        ))
        .assert_exit(0);
        manifest_statuses(&dir.path().join(manifest))
    };

    let first = hourly("m1");
    assert!(
        (3..5).contains(&first.len()),
        "the first run delivers the files there, before the last one arrives: {first:?}"
    );
    wait_until(Duration::from_secs(60), "every file to arrive", || {
        listed().len() == 5
    });
    let all = listed();
    let second = hourly("m2");

    let downloaded = |ids: &[String]| -> Vec<(String, String)> {
        ids.iter()
            .map(|id| (id.clone(), "downloaded".to_owned()))
            .collect()
    };
    assert_eq!(first, downloaded(&all[..first.len()]));
    assert_eq!(second, downloaded(&all[first.len()..]));
    assert_eq!(tree(&dir.path().join("lake")).len(), 5);
}
