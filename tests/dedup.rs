//! `cl-fetch --events --dedup FILE`: each event once in the sink, across files, runs and
//! crashes, in every mode.

use crate::util::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A simulator whose files each begin with the last three events of the one before, the
/// last file a little before now (ids are remembered for a window counted back from now).
fn repeating(files: u32) -> Sim {
    Sim::with(|c| {
        c.dataset.files_per_type = files;
        c.dataset.repeat = 3;
        c.dataset.file_size = 2000;
        c.dataset.start =
            cl_sim::dataset::DatasetConfig::start_before_now(files, c.dataset.interval);
    })
}

/// The `event_id` of one JSON line.
fn event_id(line: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["event_id"].as_str().unwrap().to_owned()
}

/// What the sink must hold: every event of these files in order, each `event_id` (per
/// principal and type) the first time only.
fn unique_events(sim: &Sim, files: &[cl_sim::FileInfo]) -> String {
    let mut seen = HashSet::new();
    let mut out = String::new();
    for f in files {
        let content = String::from_utf8(sim.content(&f.id)).unwrap();
        for line in content.lines() {
            if seen.insert((f.event_type.clone(), event_id(line))) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// How many events of these files repeat one before them.
fn repeats(sim: &Sim, files: &[cl_sim::FileInfo]) -> usize {
    let all: usize = files
        .iter()
        .map(|f| {
            String::from_utf8(sim.content(&f.id))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    all - unique_events(sim, files).lines().count()
}

fn listing(sim: &Sim, dir: &Path, types: &str) {
    let lines = sim.list(sim.ws(), &["-q"], types).stdout();
    std::fs::write(dir.join("listing"), lines).unwrap();
}

/// Stdout that is a regular file takes the kept runs of a file too large for memory straight
/// from its spool (a kernel copy): the same bytes as through a pipe, each event once.
#[test]
fn a_stdout_file_gets_each_event_once_from_files_too_large_for_memory() {
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 4;
        c.dataset.repeat = 3;
        // Past the 1 MiB a waiting file may keep in memory: each goes to a spool file.
        c.dataset.file_size = 3 << 20;
        c.dataset.start = cl_sim::dataset::DatasetConfig::start_before_now(4, c.dataset.interval);
    });
    let dir = tempfile::tempdir().unwrap();
    let files = sim.all_files(&["AUTH_LOG"]);
    listing(&sim, dir.path(), "AUTH_LOG");
    sim.sh("cl-fetch -q -j 4 --events --dedup seen.db < listing > out.jsonl")
        .current_dir(dir.path())
        .assert_exit(0);
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let want = unique_events(&sim, &files);
    assert!(repeats(&sim, &files) >= 9);
    assert!(out == want, "{} bytes, want {}", out.len(), want.len());
}

#[test]
fn stdout_gets_each_event_once_across_files_and_runs() {
    let sim = repeating(8);
    let dir = tempfile::tempdir().unwrap();
    let files = sim.all_files(&["AUTH_LOG", "APP_LOG"]);
    listing(&sim, dir.path(), "AUTH_LOG,APP_LOG");
    let out = sim
        .sh("cl-fetch -v -j 4 --events --dedup seen.db < listing")
        .current_dir(dir.path())
        .assert_exit(0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        unique_events(&sim, &files)
    );
    let err = stderr(&out);
    let dropped = repeats(&sim, &files);
    assert!(dropped >= 3 * 7, "{dropped}");
    assert!(
        err.ends_with(&format!(
            "; {dropped} duplicate events left out, delivered before\n"
        )),
        "{err}"
    );
    // -v names each event left out, with the file it was left out of.
    let named: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(" left out: delivered before"))
        .collect();
    assert_eq!(named.len(), dropped, "{err}");
    let second = &files[1];
    let first_of_second = String::from_utf8(sim.content(&second.id)).unwrap();
    let id = event_id(first_of_second.lines().next().unwrap());
    assert!(
        err.contains(&format!(
            "cl-fetch: {}: event {id} left out: delivered before\n",
            second.id
        )),
        "{err}"
    );
    // Across runs: the same files again deliver nothing, yet every file is delivered.
    let again = sim
        .sh("cl-fetch --events --dedup seen.db < listing")
        .current_dir(dir.path())
        .assert_exit(0);
    assert!(again.stdout.is_empty());
    let total: usize = files
        .iter()
        .map(|f| {
            String::from_utf8(sim.content(&f.id))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert!(
        stderr(&again).ends_with(&format!(
            "cl-fetch: delivered {} files ({}): {} downloaded, 0 already delivered; {total} duplicate events left out, delivered before\n",
            files.len(),
            stderr(&again).split(" files (").nth(1).unwrap().split(')').next().unwrap(),
            files.len()
        )),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_directory_gets_each_event_once_and_a_rerun_keeps_what_is_there() {
    let sim = repeating(6);
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    listing(&sim, dir.path(), "AUTH_LOG");
    let out = sim
        .sh("cl-fetch -q --events --dedup seen.db -o lake < listing")
        .current_dir(dir.path())
        .assert_exit(0);
    let manifest: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let duplicates: Vec<u64> = manifest
        .iter()
        .map(|m| m["duplicates"].as_u64().unwrap())
        .collect();
    assert_eq!(duplicates[0], 0);
    assert!(duplicates[1..].iter().all(|n| *n == 3), "{duplicates:?}");
    let mut stored = String::new();
    for (f, line) in files.iter().zip(&manifest) {
        let path = dir.path().join(line["path"].as_str().unwrap());
        let bytes = std::fs::read_to_string(&path).unwrap();
        let events = String::from_utf8(sim.content(&f.id))
            .unwrap()
            .lines()
            .count() as u64;
        assert_eq!(line["events"], events, "events the file held");
        let left_out = line["duplicates"].as_u64().unwrap();
        assert_eq!(bytes.lines().count() as u64, events - left_out);
        assert_eq!(line["bytes"], bytes.len() as u64);
        stored.push_str(&bytes);
    }
    assert_eq!(stored, unique_events(&sim, &files));
    // A rerun: every file is in place, kept as it is, not emptied.
    let before: Vec<Vec<u8>> = tree(&dir.path().join("lake"))
        .iter()
        .map(|p| std::fs::read(dir.path().join("lake").join(p)).unwrap())
        .collect();
    let out = sim
        .sh("cl-fetch -q --events --dedup seen.db -o lake < listing")
        .current_dir(dir.path())
        .assert_exit(0);
    let statuses: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["status"].to_string())
        .collect();
    assert_eq!(statuses, vec!["\"skipped\"".to_owned(); files.len()]);
    let after: Vec<Vec<u8>> = tree(&dir.path().join("lake"))
        .iter()
        .map(|p| std::fs::read(dir.path().join("lake").join(p)).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn exec_gets_each_event_once_and_nothing_when_all_were_delivered() {
    let sim = repeating(5);
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    listing(&sim, dir.path(), "AUTH_LOG");
    // Each call keeps its input as sink/CL_ID and its id in `calls`: a shell command here,
    // scripts/windows/sink.c where cmd.exe runs it.
    let sink = if under_wine() {
        native_path(&bin_dir().join("sink.exe"))
    } else {
        r#"mkdir -p sink && cat > "sink/$CL_ID" && echo "$CL_ID" >> calls"#.to_owned()
    };
    let run = format!("cl-fetch -q -j 3 --events --dedup seen.db --exec '{sink}' < listing");
    let out = sim.sh(&run).current_dir(dir.path()).assert_exit(0);
    let delivered: String = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.path().join("sink").join(&f.id)).ok())
        .collect();
    assert_eq!(delivered, unique_events(&sim, &files));
    let manifest = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        manifest.matches("\"status\":\"delivered\"").count(),
        files.len()
    );
    // All delivered before: the command is not run, the files are delivered all the same.
    let out = sim.sh(&run).current_dir(dir.path()).assert_exit(0);
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(calls.lines().count(), files.len(), "{calls}");
    let manifest = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        manifest.matches("\"status\":\"delivered\"").count(),
        files.len()
    );
}

#[test]
fn with_state_a_backfill_emits_nothing_and_a_second_run_at_once_is_refused() {
    if !needs("flock", "apt-get install util-linux")
        || !needs("mkfifo", "apt-get install coreutils")
    {
        return;
    }
    let sim = repeating(6);
    let dir = tempfile::tempdir().unwrap();
    let pull = format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --retention 1000d --state s.json \
         | cl-fetch -q --events --dedup seen.db --state s.json"
    );
    let first = sim.sh(&pull).current_dir(dir.path()).assert_exit(0);
    assert_eq!(
        String::from_utf8(first.stdout).unwrap(),
        unique_events(&sim, &sim.files(sim.ws(), "AUTH_LOG"))
    );
    let downloads = sim.downloads();
    let backfill = sim
        .sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --retention 1000d \
             | cl-fetch -q --events --dedup seen.db --state s.json"
        ))
        .current_dir(dir.path())
        .assert_exit(0);
    assert!(backfill.stdout.is_empty());
    assert_eq!(sim.downloads(), downloads, "the state covers every file");

    // A run that holds a file (its input still open) refuses a second one. The file is made
    // under the lock, so once it exists the first run holds it (a probe that took the lock
    // itself, even for a moment, could make the first run fail instead).
    let fifo = dir.path().join("input");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut holder = sim
        .sh("cl-fetch -q --events --dedup held.db --principal \"$P\" < input")
        .current_dir(dir.path())
        .spawn(None, &dir.path().join("held.out"));
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    wait_until(
        Duration::from_secs(10),
        "the first run to make held.db",
        || dir.path().join("held.db").exists(),
    );
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args([
            "--events",
            "--dedup",
            "held.db",
            "--principal",
            sim.ws(),
            "eclf_x",
        ])
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        "cl-fetch: dedup file held.db is in use by another run (locked through held.db.lock)\n\
         hint: let that run finish; runs that share a --dedup file take turns\n"
    );
    drop(writer);
    assert!(holder.wait().unwrap().success());
}

#[test]
fn ids_older_than_the_window_are_forgotten() {
    let sim = repeating(3);
    let dir = tempfile::tempdir().unwrap();
    listing(&sim, dir.path(), "AUTH_LOG");
    let run = |window: &str| {
        sim.sh(&format!(
            "cl-fetch -q --events --dedup seen.db --dedup-window {window} < listing | wc -l"
        ))
        .current_dir(dir.path())
        .stdout()
    };
    let unique = unique_events(&sim, &sim.files(sim.ws(), "AUTH_LOG"))
        .lines()
        .count();
    assert_eq!(run("31d").trim(), unique.to_string());
    assert_eq!(run("31d").trim(), "0");
    // The simulator's events are hours old: a window of a minute forgets them all.
    assert_eq!(run("1m").trim(), unique.to_string());
}

#[test]
fn dedup_without_events_is_a_usage_error() {
    let sim = Sim::start();
    let out = sim
        .cmd("cl-fetch")
        .args(["--dedup", "seen.db", "--principal", sim.ws(), "eclf_x"])
        .assert_exit(2);
    let err = stderr(&out);
    assert!(err.contains("--events") && err.contains("--dedup"), "{err}");
}

/// Kills `cl-list --state | cl-fetch --events --dedup --state -o lake` with SIGKILL at
/// random moments, then lets it finish: every unique event is in the lake exactly once.
#[test]
fn kill_9_at_any_moment_then_a_rerun_leaves_each_event_once() {
    const KILLS: usize = 6;
    let mut kills = 0;
    for seed in [21u64, 22] {
        let sim = Sim::with(|c| {
            c.dataset.seed = seed;
            c.dataset.files_per_type = 25;
            c.dataset.repeat = 3;
            c.dataset.file_size = 2000;
            c.dataset.start =
                cl_sim::dataset::DatasetConfig::start_before_now(25, c.dataset.interval);
            c.faults.latency = Duration::from_millis(30);
        });
        let dir = tempfile::tempdir().unwrap();
        let files = sim.all_files(&["AUTH_LOG", "APP_LOG"]);
        let script = "cl-list \"$P\" -q -e AUTH_LOG,APP_LOG --after 1d \
                      --retention 1000d --limit 7 --state s.json \
                      | cl-fetch -q -j 4 --events --dedup seen.db --state s.json -o lake";
        let (killed, _) = kill_and_rerun(&sim, script, dir.path(), KILLS, seed, 500);
        kills += killed;
        let mut in_lake: HashMap<(String, String), usize> = HashMap::new();
        for path in tree(&dir.path().join("lake")) {
            assert!(!path.ends_with(".part"), "{path}");
            let event_type = path.split('/').nth(1).unwrap().to_owned();
            let text = std::fs::read_to_string(dir.path().join("lake").join(&path)).unwrap();
            for line in text.lines() {
                *in_lake
                    .entry((event_type.clone(), event_id(line)))
                    .or_default() += 1;
            }
        }
        let want: HashSet<(String, String)> = files
            .iter()
            .flat_map(|f| {
                let content = String::from_utf8(sim.content(&f.id)).unwrap();
                content
                    .lines()
                    .map(|l| (f.event_type.clone(), event_id(l)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let lost = want.iter().filter(|k| !in_lake.contains_key(*k)).count();
        let twice = in_lake.values().filter(|n| **n > 1).count();
        assert_eq!((lost, twice), (0, 0), "seed {seed}: lost, twice");
        assert_eq!(in_lake.len(), want.len());
    }
    eprintln!("dedup crash test: {kills} kill -9, nothing lost, nothing twice");
}
