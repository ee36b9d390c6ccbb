//! The composition recipes of the contract, run by bash as users write them.

use crate::util::*;
use std::path::Path;

fn recent_sim(files: u32) -> Sim {
    Sim::with(|c| {
        c.dataset.files_per_type = files;
        c.dataset.file_size = 300;
        c.dataset.interval = jiff::SignedDuration::from_secs(20);
        c.dataset.start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
    })
}

fn lake_files(lake: &Path) -> Vec<String> {
    tree(lake)
}

#[test]
fn list_piped_into_fetch_to_a_file() {
    let sim = recent_sim(30);
    let dir = tempfile::tempdir().unwrap();
    sim.sh("cl-list \"$P\" -q -e AUTH_LOG --after 24h | cl-fetch -q > auth.jsonl")
        .current_dir(dir.path())
        .assert_exit(0);
    assert_bytes(
        &std::fs::read(dir.path().join("auth.jsonl")).unwrap(),
        &sim.stream(sim.ids("AUTH_LOG")),
    );
}

#[test]
fn ids_through_jq_and_xargs_in_parallel_batches() {
    if !needs("jq", "apt-get install jq") {
        return;
    }
    let sim = recent_sim(120);
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .sh("cl-list \"$P\" -q -e AUTH_LOG --after 7d | jq -r .id \
             | xargs -P 8 -n 50 cl-fetch -q --principal \"$P\" -o lake/")
        .current_dir(dir.path())
        .assert_exit(0);
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let mut want: Vec<String> = files.iter().map(|f| format!("{}.jsonl", f.id)).collect();
    want.sort();
    assert_eq!(lake_files(&dir.path().join("lake")), want);
    let manifest = String::from_utf8_lossy(&out.stdout);
    assert_eq!(manifest.lines().count(), 120, "{manifest}");
    for f in &files {
        let got = std::fs::read(dir.path().join("lake").join(format!("{}.jsonl", f.id))).unwrap();
        assert_bytes(&got, &sim.content(&f.id));
    }
}

#[test]
fn lines_through_gnu_parallel_pipe() {
    if !needs("parallel", "apt-get install parallel") {
        return;
    }
    let sim = recent_sim(250);
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .sh("cl-list \"$P\" -q -e AUTH_LOG --after 7d | parallel --will-cite --pipe -N 100 cl-fetch -q -o lake/")
        .current_dir(dir.path())
        .assert_exit(0);
    let files = sim.files(sim.ws(), "AUTH_LOG");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 250);
    let mut want: Vec<String> = files
        .iter()
        .map(|f| {
            let date = &f.end_time[..10];
            format!("{}/AUTH_LOG/{date}/{}.jsonl", sim.ws(), f.id)
        })
        .collect();
    want.sort();
    assert_eq!(lake_files(&dir.path().join("lake")), want);
}
