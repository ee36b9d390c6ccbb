//! cl-fetch: inputs, stdout order and newlines, verification, directory mode and manifest.

use crate::util::*;
use sha2::{Digest, Sha256};

fn listing(sim: &Sim, event_type: &str) -> String {
    sim.list(sim.ws(), &["-q"], event_type)
        .args(["--limit", "3"])
        .stdout()
}

#[test]
fn stdout_carries_every_file_in_input_order_whatever_the_jobs() {
    let sim = Sim::with(|c| c.dataset.files_per_type = 40);
    let lines = listing(&sim, "CONVERSATION_MESSAGE");
    // Reverse the order so completion order and input order differ.
    let reversed: String = lines.lines().rev().map(|l| format!("{l}\n")).collect();
    let mut want_ids = sim.ids("CONVERSATION_MESSAGE");
    want_ids.reverse();
    let want = sim.stream(&want_ids);
    for jobs in ["1", "4", "16"] {
        let out = sim
            .cmd("cl-fetch")
            .args(["-q", "-j", jobs])
            .stdin(reversed.clone())
            .assert_exit(0);
        assert_bytes(&out.stdout, &want);
        assert_eq!(stderr(&out), "");
    }
}

#[test]
fn a_newline_is_added_only_where_a_file_lacks_one() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let unterminated = sim.content(&files[2].id);
    assert!(
        !unterminated.ends_with(b"\n"),
        "the simulator should leave every third file open"
    );
    assert!(sim.content(&files[1].id).ends_with(b"\n"));
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws(), &files[1].id, &files[2].id])
        .assert_exit(0);
    let mut want = sim.content(&files[1].id);
    want.extend_from_slice(&unterminated);
    want.push(b'\n');
    assert_bytes(&out.stdout, &want);
}

#[test]
fn ids_from_arguments_or_stdin_and_principal_from_flag_or_environment() {
    let sim = Sim::start();
    let ids = sim.ids("AUDIT_LOG");
    let want = sim.stream(&ids);
    let from_args = sim
        .cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws()])
        .args(&ids)
        .assert_exit(0);
    assert_bytes(&from_args.stdout, &want);
    let stdin: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let from_stdin = sim
        .cmd("cl-fetch")
        .arg("-q")
        .env("COMPLIANCE_PRINCIPAL", sim.ws())
        .stdin(format!("\n  \n{stdin}\n"))
        .assert_exit(0);
    assert_bytes(&from_stdin.stdout, &want);
}

#[test]
fn progress_per_file_and_a_summary() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let out = sim
        .cmd("cl-fetch")
        .args(["--principal", sim.ws(), &files[0].id, &files[1].id])
        .assert_exit(0);
    let kib = |n: u64| match n {
        0..1024 => format!("{n} B"),
        _ => format!("{:.1} KiB", n as f64 / 1024.0),
    };
    let want = format!(
        "cl-fetch: fetched {} ({})\ncl-fetch: fetched {} ({})\n\
         cl-fetch: delivered 2 files ({}): 2 downloaded, 0 already delivered\n",
        files[0].id,
        kib(files[0].size),
        files[1].id,
        kib(files[1].size),
        kib(files[0].size + files[1].size)
    );
    assert_lines(&stderr(&out), &want);
}

#[test]
fn the_blob_host_sees_nothing_of_the_api_request() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    sim.cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws(), &files[0].id])
        .assert_exit(0);
    let requests = sim.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.origin == cl_sim::Origin::Api)
        .collect();
    let blob: Vec<_> = requests
        .iter()
        .filter(|r| r.origin == cl_sim::Origin::Blob)
        .collect();
    assert_eq!((api.len(), blob.len()), (1, 1));
    assert!(api[0].headers.iter().any(|(k, _)| k == "authorization"));
    let names: Vec<&str> = blob[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    for name in &names {
        assert!(
            ["host", "user-agent", "accept", "connection"].contains(name),
            "the blob host got header {name}: {names:?}"
        );
    }
    assert!(
        blob[0]
            .headers
            .iter()
            .all(|(_, v)| !v.contains(sim.key()) && v != "application/json")
    );
    assert_eq!(blob[0].status, 200);
}

#[test]
fn the_listing_size_and_digest_are_checked_before_a_byte_is_written() {
    let sim = Sim::start();
    let lines: Vec<String> = listing(&sim, "AUTH_LOG")
        .lines()
        .map(str::to_owned)
        .collect();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let mut tampered = lines.clone();
    tampered[1] = tampered[1].replace(&files[1].sha256, &"0".repeat(64));
    tampered[3] = tampered[3].replace(
        &format!("\"file_size\":{}", files[3].size),
        &format!("\"file_size\":{}", files[3].size + 1),
    );
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--retries", "0"])
        .stdin(tampered.join("\n"))
        .assert_exit(1);
    let delivered = [0, 2, 4, 5, 6].map(|i| files[i].id.as_str());
    assert_bytes(&out.stdout, &sim.stream(delivered));
    assert_lines(
        &stderr(&out),
        &format!(
            "cl-fetch: downloading {}: sha256 mismatch: the listing says {}, got {}\n\
             cl-fetch: downloading {}: size mismatch: the listing says {} bytes, got {}\n\
             cl-fetch: delivered 5 files ({:.1} KiB): 5 downloaded, 0 already delivered; 2 FAILED\n",
            files[1].id,
            "0".repeat(64),
            files[1].sha256,
            files[3].id,
            files[3].size + 1,
            files[3].size,
            delivered
                .iter()
                .map(|id| sim.content(id).len())
                .sum::<usize>() as f64
                / 1024.0
        ),
    );
}

#[test]
fn a_body_shorter_than_its_content_length_is_never_delivered() {
    let canned = Canned::start(
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"event_id\":\"cut short\"}\n",
    );
    let out = canned
        .cmd("cl-fetch")
        .args(["--principal", "ws-1", "-q", "--retries", "0", "eclf_x"])
        .assert_exit(1);
    assert_eq!(out.stdout, b"");
    let err = stderr(&out);
    assert!(
        err.starts_with("cl-fetch: downloading eclf_x: ") && err.contains("closed early"),
        "{err}"
    );
}

#[test]
fn directory_mode_writes_whole_files_and_a_manifest_then_skips_them() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lines = listing(&sim, "AUTH_LOG");
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let manifest = |status: &str| -> String {
        pages(&files, 3)
            .into_iter()
            .flat_map(|(page, cursor)| page.into_iter().map(move |f| (f.clone(), cursor.clone())))
            .map(|(f, cursor)| {
                format!(
                    "{{\"id\":\"{id}\",\"path\":\"{lake}/{ws}/AUTH_LOG/2026-07-16/{id}.jsonl\",\"bytes\":{},\
                     \"sha256\":\"{}\",\"status\":\"{status}\",\"event_type\":\"AUTH_LOG\",\
                     \"principal\":\"{ws}\",\"end_time\":\"{}\",\"cursor\":\"{cursor}\",\
                     \"verified\":true}}\n",
                    f.size,
                    f.sha256,
                    f.end_time,
                    id = f.id,
                    lake = lake.display(),
                    ws = sim.ws(),
                )
            })
            .collect()
    };
    let got = sim
        .cmd("cl-fetch")
        .args(["-q", "-j", "3", "-o"])
        .arg(&lake)
        .stdin(lines.clone())
        .stdout();
    assert_lines(&got, &manifest("downloaded"));
    let mut want_tree: Vec<String> = files
        .iter()
        .map(|f| format!("{}/AUTH_LOG/2026-07-16/{}.jsonl", sim.ws(), f.id))
        .collect();
    want_tree.sort();
    assert_eq!(tree(&lake), want_tree, "no temporary file is left behind");
    for f in &files {
        let path = lake
            .join(sim.ws())
            .join("AUTH_LOG/2026-07-16")
            .join(format!("{}.jsonl", f.id));
        assert_bytes(&std::fs::read(path).unwrap(), &sim.content(&f.id));
    }

    // Again: nothing is downloaded.
    let blob_before = sim
        .requests()
        .iter()
        .filter(|r| r.origin == cl_sim::Origin::Blob)
        .count();
    let got = sim
        .cmd("cl-fetch")
        .args(["-q", "-o"])
        .arg(&lake)
        .stdin(lines.clone())
        .stdout();
    assert_lines(&got, &manifest("skipped"));
    let blob_after = sim
        .requests()
        .iter()
        .filter(|r| r.origin == cl_sim::Origin::Blob)
        .count();
    assert_eq!(blob_before, blob_after);

    // A damaged file does not pass as present: it is fetched again.
    let damaged = lake
        .join(sim.ws())
        .join("AUTH_LOG/2026-07-16")
        .join(format!("{}.jsonl", files[4].id));
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&damaged, bytes).unwrap();
    let got = sim
        .cmd("cl-fetch")
        .args(["-q", "-o"])
        .arg(&lake)
        .stdin(lines)
        .stdout();
    let statuses: Vec<String> = got
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "skipped",
            "skipped",
            "skipped",
            "skipped",
            "downloaded",
            "skipped",
            "skipped"
        ]
    );
    assert_bytes(
        &std::fs::read(&damaged).unwrap(),
        &sim.content(&files[4].id),
    );
}

#[test]
fn bare_ids_land_flat_in_the_directory() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "APP_LOG");
    let got = sim
        .cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws(), "-o"])
        .arg(dir.path())
        .arg(&files[0].id)
        .stdout();
    let digest: String = Sha256::digest(sim.content(&files[0].id))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        got,
        format!(
            "{{\"id\":\"{id}\",\"path\":\"{}/{id}.jsonl\",\"bytes\":{},\"sha256\":\"{digest}\",\
             \"status\":\"downloaded\",\"event_type\":null,\"principal\":\"{}\",\"end_time\":null,\
             \"cursor\":null,\"verified\":true}}\n",
            dir.path().display(),
            files[0].size,
            sim.ws(),
            id = files[0].id
        )
    );
    assert_eq!(tree(dir.path()), [format!("{}.jsonl", files[0].id)]);
}

#[test]
fn in_a_directory_a_name_windows_refuses_fails_that_file_alone() {
    let refused = ["eclf_a:b", "NUL", "com1", "eclf_x?"];
    let sim = Sim::with(|c| c.dataset.ids = refused.map(String::from).to_vec());
    let dir = tempfile::tempdir().unwrap();
    let listing = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "-o", "lake"])
        .current_dir(dir.path())
        .stdin(listing.clone())
        .assert_exit(1);
    let err = stderr(&out);
    for (line, id) in refused.iter().enumerate() {
        let why = match *id {
            "eclf_a:b" => "Windows reserves ':' (on NTFS it names an alternate data stream)",
            "eclf_x?" => "Windows reserves the characters < > : \" | ? *",
            _ => "Windows reserves it for a device",
        };
        assert!(
            err.contains(&format!(
                "cl-fetch: line {}: \"{id}.jsonl\" cannot be a file name: {why}\n",
                line + 1
            )),
            "{err}"
        );
    }
    // The others are delivered; stdout takes every id as the API gave it.
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let stored = tree(&dir.path().join("lake"));
    assert_eq!(stored.len(), files.len() - refused.len(), "{stored:?}");
    let all = sim.cmd("cl-fetch").arg("-q").stdin(listing).assert_exit(0);
    assert_eq!(all.stdout, sim.stream(files.iter().map(|f| &f.id)));
}

#[test]
fn ids_that_differ_only_in_case_never_replace_each_others_file() {
    let sim = Sim::with(|c| c.dataset.ids = vec!["eclf_Twin".into(), "eclf_twin".into()]);
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let listing = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    let fetch = || {
        sim.cmd("cl-fetch")
            .args(["-q", "-o", "lake"])
            .current_dir(dir.path())
            .stdin(listing.clone())
            .output()
    };
    let day = dir
        .path()
        .join(format!("lake/{}/AUTH_LOG/2026-07-16", sim.ws()));
    let out = fetch();
    if under_wine() {
        // A file system that takes the two names for one (Windows, macOS): whichever comes
        // second is refused, the first keeps its bytes, also on a rerun.
        let kept = std::fs::read_dir(&day)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|name| name.eq_ignore_ascii_case("eclf_twin.jsonl"))
            .expect("one of the two");
        let refused = match kept.as_str() {
            "eclf_Twin.jsonl" => "eclf_twin.jsonl",
            _ => "eclf_Twin.jsonl",
        };
        for out in [out, fetch()] {
            assert_eq!(out.status.code(), Some(1));
            let err = stderr(&out);
            assert!(
                err.contains(&format!("{refused} would replace "))
                    && err.contains(&format!("{kept}: the names differ only in case"))
                    && err.contains(
                        "hint: deliver these files to a file system that tells case apart"
                    ),
                "{err}"
            );
        }
        assert_bytes(
            &std::fs::read(day.join(&kept)).unwrap(),
            &sim.content(kept.trim_end_matches(".jsonl")),
        );
        assert_eq!(tree(&day).len(), files.len() - 1);
    } else {
        // Where case tells names apart, both are files of their own.
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        for id in ["eclf_Twin", "eclf_twin"] {
            assert_bytes(
                &std::fs::read(day.join(format!("{id}.jsonl"))).unwrap(),
                &sim.content(id),
            );
        }
        assert_eq!(fetch().status.code(), Some(0));
    }
}

#[test]
fn repeated_ids_are_delivered_once() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let input = format!("{a}\n{b}\n{a}\n", a = files[0].id, b = files[1].id);
    let out = sim
        .cmd("cl-fetch")
        .args(["--principal", sim.ws()])
        .stdin(input)
        .assert_exit(0);
    assert_bytes(
        &out.stdout,
        &sim.stream([files[0].id.as_str(), files[1].id.as_str()]),
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cl-fetch: line 3: {} was already taken; delivered once\n",
            files[0].id
        )),
        "{err}"
    );
    assert!(
        err.ends_with("2 downloaded, 0 already delivered, 1 repeated\n"),
        "{err}"
    );
}

#[test]
fn a_layout_template_places_files_and_a_bad_one_is_a_usage_error() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let lines = listing(&sim, "AUTH_LOG");
    sim.cmd("cl-fetch")
        .args([
            "-q",
            "-o",
            "lake",
            "--layout",
            "event_type={event_type}/dt={date}/{id}.json",
        ])
        .current_dir(dir.path())
        .stdin(lines)
        .stdout();
    let mut want: Vec<String> = sim
        .files(sim.ws(), "AUTH_LOG")
        .iter()
        .map(|f| format!("event_type=AUTH_LOG/dt=2026-07-16/{}.json", f.id))
        .collect();
    want.sort();
    assert_eq!(tree(&dir.path().join("lake")), want);

    for bad in ["{principal}/{date}", "../{id}", "{when}/{id}"] {
        let out = sim
            .cmd("cl-fetch")
            .args([
                "-o",
                "lake2",
                "--layout",
                bad,
                "--principal",
                sim.ws(),
                "eclf_x",
            ])
            .current_dir(dir.path())
            .assert_exit(2);
        assert!(
            stderr(&out).starts_with(&format!("cl-fetch: invalid --layout {bad:?}: ")),
            "{}",
            stderr(&out)
        );
        assert!(
            !dir.path().join("lake2").exists(),
            "nothing is created for a bad command"
        );
    }
}

#[test]
fn files_too_large_for_memory_reach_a_stdout_file_whole_and_in_order() {
    // Over the 1 MiB a waiting file may hold in memory: these go through spool files, and
    // from there to a regular-file stdout by kernel copy, appended or not.
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 6;
        c.dataset.file_size = 3 << 20;
    });
    let lines = listing(&sim, "AUTH_LOG");
    let reversed: String = lines.lines().rev().map(|l| format!("{l}\n")).collect();
    let mut ids = sim.ids("AUTH_LOG");
    ids.reverse();
    let want = sim.stream(&ids);
    assert!(want.len() > 6 << 20);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), &reversed).unwrap();
    std::fs::write(dir.path().join("appended.jsonl"), b"kept\n").unwrap();
    sim.sh("cl-fetch -q -j 4 < in.jsonl > out.jsonl
         cl-fetch -q -j 4 < in.jsonl >> appended.jsonl
         cl-fetch -q -j 4 < in.jsonl | cat > piped.jsonl")
        .current_dir(dir.path())
        .assert_exit(0);
    assert_bytes(&std::fs::read(dir.path().join("out.jsonl")).unwrap(), &want);
    assert_bytes(
        &std::fs::read(dir.path().join("piped.jsonl")).unwrap(),
        &want,
    );
    let mut appended = b"kept\n".to_vec();
    appended.extend_from_slice(&want);
    assert_bytes(
        &std::fs::read(dir.path().join("appended.jsonl")).unwrap(),
        &appended,
    );
}
