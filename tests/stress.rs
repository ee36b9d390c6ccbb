//! Many writers in one directory: the processes and workers that `xargs -P`, `parallel` and
//! `-j` start share an output directory, which may already hold tens of thousands of files,
//! and none of them loses a file to another's temporary-file sweep.
//!
//! `CL_STRESS_ROUNDS` and `CL_STRESS_FILES` scale it up for a soak run.

use crate::util::*;
use std::path::Path;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Files a directory holds before the first round.
const FILLER: usize = 30_000;
/// Temporary files left by killed runs, which a round must clear.
const STALE: usize = 20;

#[test]
fn processes_and_workers_sharing_one_directory_lose_no_file() {
    let files = setting("CL_STRESS_FILES", 1200);
    let rounds = setting("CL_STRESS_ROUNDS", 3);
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = files as u32;
        c.dataset.file_size = 200;
        c.dataset.interval = jiff::SignedDuration::from_secs(10);
        c.dataset.unterminated_every = 0;
        c.record = false;
    });
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir(&lake).unwrap();
    for i in 0..FILLER {
        std::fs::write(lake.join(format!("older_{i}.jsonl")), b"").unwrap();
    }
    let listing = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    std::fs::write(dir.path().join("listing.jsonl"), &listing).unwrap();
    let want = sim.files(sim.ws(), "AUTH_LOG");
    assert_eq!(want.len(), files);

    // Eight processes of eight workers, as the README's recipes run them; then one process
    // of sixteen. Every round starts from a directory without the files, so all are written.
    // Each with the outside program it needs.
    let recipes = [
        (
            "jq -r .id < listing.jsonl \
             | xargs -P 8 -n 50 cl-fetch -q -j 8 --principal \"$P\" -o lake/",
            Some(("jq", "apt-get install jq")),
        ),
        (
            "parallel --pipe -N 100 -j 8 cl-fetch -q -j 8 --layout '{id}.jsonl' -o lake/ \
             < listing.jsonl",
            Some(("parallel", "apt-get install parallel")),
        ),
        (
            "cl-fetch -q -j 16 --layout '{id}.jsonl' -o lake/ < listing.jsonl",
            None,
        ),
    ];
    for round in 0..rounds {
        let (recipe, needed) = recipes[round % recipes.len()];
        if let Some((program, install)) = needed
            && !needs_for(&format!("round {round}"), program, install)
        {
            continue;
        }
        for f in &want {
            let _ = std::fs::remove_file(lake.join(format!("{}.jsonl", f.id)));
        }
        for i in 0..STALE {
            std::fs::write(lake.join(format!(".older_{i}.jsonl.k{i:05}.part")), b"").unwrap();
        }
        let out = sim
            .sh(&format!("{recipe} > manifest.jsonl"))
            .current_dir(dir.path())
            .output();
        assert!(
            out.status.success(),
            "round {round}: `{recipe}` exited {:?}\n{}",
            out.status,
            stderr(&out)
        );
        let manifest = std::fs::read_to_string(dir.path().join("manifest.jsonl")).unwrap();
        assert_eq!(manifest.lines().count(), files, "round {round}: {recipe}");
        for f in &want {
            let got = std::fs::read(lake.join(format!("{}.jsonl", f.id)))
                .unwrap_or_else(|e| panic!("round {round}: {} missing: {e}", f.id));
            assert_bytes(&got, &sim.content(&f.id));
        }
        let left = temporary_files(&lake);
        assert!(left.is_empty(), "round {round}: left behind {left:?}");
        assert_eq!(std::fs::read_dir(&lake).unwrap().count(), FILLER + files);
    }
}

fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".part"))
        .collect()
}
