//! Unattended runs: whatever the operator, the input or the API does, no file is lost and no
//! failure is hidden.

use crate::util::*;
use serde_json::Value;
use std::path::Path;

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
    let out = sim
        .sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --follow --interval 30 | head -3 \
             > /dev/null; echo \"list ${{PIPESTATUS[0]}}\""
        ))
        .stdout();
    assert_eq!(out, "list 0\n");
    // Within one interval: the catch-up's one page was the only request, no poll 30 s on.
    let lists: Vec<_> = sim.requests().into_iter().map(|r| r.query).collect();
    assert_eq!(lists.len(), 1, "not within one interval: {lists:?}");
}

#[test]
fn a_refused_event_type_does_not_stop_the_others() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .list(sim.ws(), &[], "COSTS,AUTH_LOG,NO_SUCH_LOG")
        .assert_exit(1);
    let auth = sim.files(sim.ws(), "AUTH_LOG");
    assert_lines(
        &String::from_utf8_lossy(&out.stdout),
        &sim.listing(sim.ws(), &auth, 100),
    );
    assert_lines(
        &stderr(&out),
        &format!(
            "cl-list: listing COSTS after {BEFORE_ALL}: HTTP 400: COSTS is an organization-scoped \
             event type. Use /v1/compliance/organizations/{{org_id}}/logs instead.\n\
             hint: COSTS belongs to organizations: list it with an organization id (org-…)\n\
             cl-list: AUTH_LOG page 1 after {BEFORE_ALL}: 7 files (7 so far)\n\
             cl-list: listing NO_SUCH_LOG after {BEFORE_ALL}: HTTP 400: unknown event_type \
             NO_SUCH_LOG\n\
             hint: cl-list --help lists the known event types; a name passes to the API as given\n\
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

/// The README's hourly pipeline, into `lake/` with `s.json`, from `dir`.
fn hourly(sim: &Sim, dir: &Path, state: &str, manifest: &str) -> std::process::Output {
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 3 --state {state} \
         | cl-fetch -q -j 4 -o lake --state {state} > {manifest}"
    ))
    .current_dir(dir)
    .output()
}

fn statuses(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_state_file_decides_what_was_delivered_even_after_files_left_the_directory() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    assert!(hourly(&sim, dir.path(), "s.json", "m1").status.success());
    let files = sim.files(sim.ws(), "AUTH_LOG");
    assert_eq!(
        statuses(&read(&dir.path().join("m1"))),
        vec!["downloaded"; 7]
    );
    // A shipper moves every delivered file elsewhere.
    std::fs::rename(dir.path().join("lake"), dir.path().join("shipped")).unwrap();
    let downloads = sim.downloads();
    assert!(hourly(&sim, dir.path(), "s.json", "m2").status.success());
    assert_eq!(sim.downloads(), downloads, "nothing is downloaded again");
    // The rerun lists from the cursor: the boundary file comes again, and is neither
    // delivered nor printed; -v says why.
    assert_eq!(read(&dir.path().join("m2")), "");
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args(["-v", "--state", "s.json", "-o", "lake"])
        .stdin(sim.listing(sim.ws(), &files[6..], 100))
        .assert_exit(0);
    assert_eq!(out.stdout, b"");
    assert!(
        stderr(&out).contains(&format!(
            "{}: delivered by an earlier run, as the state shows",
            files[6].id
        )),
        "{}",
        stderr(&out)
    );
    assert!(tree(&dir.path().join("lake")).is_empty());
}

#[cfg(unix)]
#[test]
fn a_symlinked_state_file_is_locked_and_saved_through_its_target() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real/state.json", dir.path().join("link.json")).unwrap();
    assert!(hourly(&sim, dir.path(), "link.json", "m1").status.success());
    let link = std::fs::symlink_metadata(dir.path().join("link.json")).unwrap();
    assert!(link.file_type().is_symlink(), "saving kept the link");
    let saved: Value = serde_json::from_str(&read(&dir.path().join("real/state.json"))).unwrap();
    assert!(saved["principals"][sim.ws()]["AUTH_LOG"]["cursor"].is_string());

    // A run holding the state under its own name keeps a run using the link out.
    let out = sim
        .sh(&format!(
            "flock -n real/state.json.lock -c 'cl-fetch -q --state link.json -o lake \
             --principal \"$P\" {}'",
            sim.files(sim.ws(), "AUTH_LOG")[0].id
        ))
        .current_dir(dir.path())
        .assert_exit(1);
    assert!(
        stderr(&out).contains("is in use by another run"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_state_file_that_cannot_be_read_is_a_usage_error_and_is_left_alone() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json");
    for tool in ["cl-list", "cl-fetch"] {
        std::fs::write(&state, "{oops").unwrap();
        let mut cmd = sim.cmd(tool);
        cmd.current_dir(dir.path()).args(["--state", "s.json"]);
        if tool == "cl-list" {
            cmd.args([sim.ws(), "-e", "AUTH_LOG", "--after", BEFORE_ALL]);
        } else {
            cmd.args(["--principal", sim.ws(), "eclf_x"]);
        }
        let out = cmd.assert_exit(2);
        assert!(
            stderr(&out).contains("state file s.json is not valid"),
            "{}",
            stderr(&out)
        );
        assert_eq!(read(&state), "{oops", "{tool} left it as it was");
    }
    // A state path that cannot be read as a file at all.
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args(["--state", "s.json", "--principal", sim.ws(), "eclf_x"])
        .assert_exit(2);
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
}

#[test]
fn endless_input_without_a_line_end_is_read_in_bounded_memory() {
    if !needs("/usr/bin/time", "apt-get install time") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = sh("/usr/bin/time -f 'RSS_KB=%M' timeout -s INT 4 \
                  cl-fetch --principal ws-1 < /dev/zero 2> err || true; cat err")
    .env("COMPLIANCE_API_KEY", "k")
    .env("COMPLIANCE_API_BASE", "http://127.0.0.1:9/v1/compliance")
    .current_dir(dir.path())
    .output();
    let err = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    let rss: u64 = err.split("RSS_KB=").nth(1).unwrap().trim().parse().unwrap();
    assert!(rss < 32 * 1024, "{rss} KiB after 4 s of /dev/zero: {err}");
}

#[test]
fn a_huge_line_is_refused_with_its_first_bytes_and_the_next_lines_still_count() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let mut input = format!("{{\"id\":\"{}\",\"x\":\"", files[0].id).into_bytes();
    input.extend(std::iter::repeat_n(b'y', 50 << 20));
    input.extend_from_slice(b"\"}\n");
    input.extend_from_slice(format!("{}\n", files[1].id).as_bytes());
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws()])
        .stdin(input)
        .assert_exit(1);
    assert_bytes(&out.stdout, &sim.stream([files[1].id.as_str()]));
    let err = stderr(&out);
    assert!(err.len() < 600, "{} bytes of stderr: {err:.300}", err.len());
    assert!(
        err.starts_with(&format!(
            "cl-fetch: line 1: longer than 64 KiB: \"{{\\\"id\\\":\\\"{}",
            files[0].id
        )),
        "{err}"
    );
}

#[test]
fn a_byte_order_mark_and_windows_line_ends_are_read_past() {
    let sim = Sim::start();
    let listing = sim.listing(sim.ws(), &sim.files(sim.ws(), "AUTH_LOG"), 100);
    let mut input = "\u{feff}".as_bytes().to_vec();
    input.extend_from_slice(listing.replace('\n', "\r\n").as_bytes());
    let out = sim.cmd("cl-fetch").arg("-q").stdin(input).assert_exit(0);
    let ids: Vec<String> = sim
        .files(sim.ws(), "AUTH_LOG")
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_bytes(&out.stdout, &sim.stream(ids.iter().map(String::as_str)));
}

#[test]
fn a_refused_line_does_not_take_its_id_and_long_ids_matter_only_as_file_names() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let f = &sim.files(sim.ws(), "AUTH_LOG")[0];
    // The first line's event type cannot be a directory name; the second line is good.
    let input = format!(
        "{{\"id\":\"{0}\",\"event_type\":\"../up\",\"end_time\":\"{1}\",\"principal\":\"{2}\"}}\n\
         {{\"id\":\"{0}\",\"event_type\":\"AUTH_LOG\",\"end_time\":\"{1}\",\"principal\":\"{2}\"}}\n",
        f.id,
        f.end_time,
        sim.ws()
    );
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "-o"])
        .arg(dir.path())
        .stdin(input)
        .assert_exit(1);
    assert!(stderr(&out).starts_with("cl-fetch: line 1: event_type \"../up\" cannot be"));
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (manifest["id"].as_str(), manifest["status"].as_str()),
        (Some(f.id.as_str()), Some("downloaded"))
    );

    let long = format!("eclf_{}", "x".repeat(300));
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws(), &long])
        .assert_exit(1);
    assert!(
        stderr(&out).contains("HTTP 404"),
        "asked for, not refused: {}",
        stderr(&out)
    );
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws(), "-o"])
        .arg(dir.path())
        .arg(&long)
        .assert_exit(1);
    assert!(
        stderr(&out).contains("too long for a file name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn listing_metadata_of_an_unexpected_type_never_blocks_a_file() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let input: String = files[..3]
        .iter()
        .map(|f| {
            format!(
                "{{\"id\":\"{}\",\"principal\":\"{}\",\"file_size\":\"{}\",\"file_sha256\":null,\
                 \"event_type\":7}}\n",
                f.id,
                sim.ws(),
                f.size
            )
        })
        .collect();
    let out = sim.cmd("cl-fetch").stdin(input).assert_exit(0);
    assert_bytes(
        &out.stdout,
        &sim.stream(files[..3].iter().map(|f| f.id.as_str())),
    );
    let err = stderr(&out);
    let mut warned: Vec<&str> = err
        .lines()
        .filter(|l| l.ends_with("(said once per field)"))
        .collect();
    warned.sort();
    assert_eq!(
        warned,
        [
            "cl-fetch: line 1: \"event_type\": \"7\" is not a string: left out (said once per field)",
            &format!(
                "cl-fetch: line 1: \"file_size\": \"\\\"{}\\\"\" is not a plain integer: read as {} \
                 (said once per field)",
                files[0].size, files[0].size
            ),
        ],
        "{err}"
    );
}

/// A sink for `--exec`: keeps what it accepts in `sink/`, logs every call with its
/// environment, and refuses an id listed in `refuse`, or everything while `down` exists.
const SINK: &str = r#"
    echo "$CL_ID $CL_PRINCIPAL $CL_EVENT_TYPE $CL_END_TIME $CL_FILE_NAME $CL_FILE_SHA256 $CL_BYTES" >> calls
    if [ -e down ] || grep -qx "$CL_ID" refuse 2>/dev/null; then cat > /dev/null; exit 7; fi
    mkdir -p sink && cat > "sink/$CL_ID" && echo "$CL_ID" >> accepted
"#;

fn exec_pipeline(sim: &Sim, dir: &Path) -> std::process::Output {
    std::fs::write(dir.join("sink.sh"), SINK).unwrap();
    // Windows runs CMD with cmd.exe: there the same sink is scripts/windows/sink.c.
    let sink = if under_wine() {
        native_path(&bin_dir().join("sink.exe"))
    } else {
        "sh sink.sh".to_owned()
    };
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 3 --state s.json \
         | cl-fetch -q -j 3 --retries 1 --state s.json --exec '{sink}' > manifest"
    ))
    .current_dir(dir)
    .output()
}

fn accepted(dir: &Path) -> Vec<String> {
    read(&dir.join("accepted"))
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn exec_hands_each_file_over_and_a_refused_one_comes_again_on_the_next_run() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    std::fs::write(dir.path().join("refuse"), format!("{}\n", files[4].id)).unwrap();
    let out = exec_pipeline(&sim, dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "cl-fetch: handing {} to --exec: the command exited with 7\n",
            files[4].id
        )),
        "{}",
        stderr(&out)
    );
    let mut first = accepted(dir.path());
    first.sort();
    let mut want: Vec<String> = files
        .iter()
        .map(|f| f.id.clone())
        .filter(|id| *id != files[4].id)
        .collect();
    want.sort();
    assert_eq!(first, want);
    // The manifest names exactly what the sink accepted, in input order.
    let manifest = read(&dir.path().join("manifest"));
    let listed: Vec<String> = manifest
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .inspect(|v| assert_eq!(v["status"], "delivered"))
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    let in_order: Vec<String> = files
        .iter()
        .map(|f| f.id.clone())
        .filter(|id| *id != files[4].id)
        .collect();
    assert_eq!(listed, in_order);
    // What the sink got, and the environment it got it with.
    for f in &files {
        if f.id != files[4].id {
            assert_bytes(
                &std::fs::read(dir.path().join("sink").join(&f.id)).unwrap(),
                &sim.stream([f.id.as_str()]),
            );
        }
    }
    let calls = read(&dir.path().join("calls"));
    let f = &files[0];
    assert!(
        calls.contains(&format!(
            "{} {} AUTH_LOG {} {} {} {}\n",
            f.id,
            sim.ws(),
            f.end_time,
            f.file_name,
            f.sha256,
            f.size
        )),
        "{calls}"
    );

    // The sink heals: the rerun hands over exactly the refused file, once.
    std::fs::remove_file(dir.path().join("refuse")).unwrap();
    let out = exec_pipeline(&sim, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(&accepted(dir.path())[want.len()..], [files[4].id.clone()]);
    let out = exec_pipeline(&sim, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(accepted(dir.path()).len(), files.len(), "each file once");
}

#[test]
fn exec_with_a_sink_that_is_down_loses_nothing() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("down"), "").unwrap();
    let out = exec_pipeline(&sim, dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(accepted(dir.path()).is_empty());
    assert_eq!(read(&dir.path().join("manifest")), "");
    assert!(stderr(&out).ends_with("; 7 FAILED\n"), "{}", stderr(&out));
    // Back up: everything is handed over, once.
    std::fs::remove_file(dir.path().join("down")).unwrap();
    assert!(exec_pipeline(&sim, dir.path()).status.success());
    assert!(exec_pipeline(&sim, dir.path()).status.success());
    let mut got = accepted(dir.path());
    got.sort();
    let mut want: Vec<String> = sim
        .files(sim.ws(), "AUTH_LOG")
        .into_iter()
        .map(|f| f.id)
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn with_state_a_stdout_file_is_flushed_to_disk_before_files_are_recorded() {
    if !needs("strace", "apt-get install strace") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} > in.jsonl
         strace -f -y -e trace=fdatasync,fsync,rename,renameat,renameat2 -o trace \
             cl-fetch -q --state s.json < in.jsonl > out.jsonl"
    ))
    .current_dir(dir.path())
    .stdout();
    let trace = std::fs::read_to_string(dir.path().join("trace")).unwrap();
    // Each save of the state (its rename into place) follows a flush of out.jsonl made
    // since the save before it: nothing is recorded that is not on disk.
    let (mut flushed, mut saves, mut flushes) = (false, 0, 0);
    for line in trace.lines() {
        if line.contains("sync(") && line.contains("out.jsonl>") {
            flushed = true;
            flushes += 1;
        } else if line.contains("rename") && line.contains("s.json\"") {
            assert!(flushed, "a save with nothing flushed before it:\n{trace}");
            flushed = false;
            saves += 1;
        }
    }
    assert!(saves >= 1, "the state was saved:\n{trace}");
    assert_eq!(
        flushes, saves,
        "one flush of out.jsonl per save, not per file:\n{trace}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out.jsonl")).unwrap(),
        sim.stream(sim.ids("AUTH_LOG"))
    );
}

#[test]
fn a_directory_that_cannot_hold_the_files_stops_the_run_with_one_error() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir(&lake).unwrap();
    // Where the layout needs a directory there is a file.
    std::fs::write(lake.join(sim.ws()), "").unwrap();
    let input = sim.listing(sim.ws(), &sim.files(sim.ws(), "AUTH_LOG"), 100);
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "-o"])
        .arg(&lake)
        .stdin(input.clone())
        .assert_exit(1);
    // Paths as the system writes them: `\` between parts on Windows.
    assert_eq!(
        stderr(&out).replace('\\', "/"),
        format!(
            "cl-fetch: creating {0}/{1}/AUTH_LOG/2026-07-16: {0}/{1} is a file, not a directory\n",
            lake.display(),
            sim.ws()
        )
    );
    // A full output: one error, the operating system's words once.
    let out = sim.sh("cl-fetch -q > /dev/full").stdin(input).output();
    let err = stderr(&out);
    if under_wine() {
        assert!(
            err.starts_with("cl-fetch: writing to stdout: ") && err.lines().count() == 1,
            "{err}"
        );
    } else {
        assert_eq!(
            err,
            "cl-fetch: writing to stdout: No space left on device (os error 28)\n"
        );
    }
    // A state file that cannot be saved where it is.
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .arg("--state")
        .arg(format!("lake/{}/s.json", sim.ws()))
        .args(["-q", "--principal", sim.ws(), "eclf_x"])
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, data).unwrap();
    enc.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, data).unwrap();
    enc.finish().unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A download answered with `body` under `Content-Encoding: encoding`, for a line that
/// lists `size` and `sha` (or nothing).
fn fetch_encoded(
    encoding: &str,
    body: &[u8],
    listed: Option<(usize, String)>,
) -> std::process::Output {
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-encoding: {encoding}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    let server = Canned::start(answer);
    let line = match listed {
        Some((size, sha)) => format!(
            "{{\"id\":\"eclf_z\",\"principal\":\"ws-1\",\"file_size\":{size},\"file_sha256\":\"{sha}\"}}\n"
        ),
        None => "eclf_z\n".to_owned(),
    };
    server
        .cmd("cl-fetch")
        .args(["-q", "--retries", "0", "--principal", "ws-1"])
        .stdin(line)
        .output()
}

#[test]
fn compressed_answers_are_decoded_and_checked_never_delivered_as_they_came() {
    let log = b"{\"event_id\":\"e1\"}\n{\"event_id\":\"e2\"}\n".repeat(50);
    for (encoding, body) in [
        ("gzip", gzip(&log)),
        ("deflate", zlib(&log)),
        ("x-gzip", gzip(&log)),
    ] {
        // The listing describes the log file...
        let out = fetch_encoded(encoding, &body, Some((log.len(), sha256_hex(&log))));
        assert!(out.status.success(), "{encoding}: {}", stderr(&out));
        assert_bytes(&out.stdout, &log);
        // ...or the compressed object as stored: the log file is delivered either way.
        let out = fetch_encoded(encoding, &body, Some((body.len(), sha256_hex(&body))));
        assert!(out.status.success(), "{encoding}: {}", stderr(&out));
        assert_bytes(&out.stdout, &log);
        // Neither: decoding stops at the listed size, and the failure names the encoding.
        let out = fetch_encoded(encoding, &body, Some((7, "0".repeat(64))));
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(out.stdout, b"");
        assert!(
            stderr(&out).contains(&format!(
                "the body is longer once {encoding}-decoded than the 7 bytes listed: stopped there"
            )),
            "{}",
            stderr(&out)
        );
        // A listed size that the decoded file matches but a digest that neither matches.
        let out = fetch_encoded(encoding, &body, Some((log.len(), "0".repeat(64))));
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains(&format!(
                "sha256 mismatch: the listing says {}, got {} after {encoding} decoding ({} bytes as served)",
                "0".repeat(64),
                sha256_hex(&log),
                body.len()
            )),
            "{}",
            stderr(&out)
        );
    }
    // A body that does not decode, and an encoding that cannot be.
    let out = fetch_encoded("gzip", b"not gzip at all", None);
    assert!(
        stderr(&out).contains("the gzip body does not decode"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.stdout, b"");
    let out = fetch_encoded("br", b"\x0b\x02\x80", None);
    assert!(
        stderr(&out).contains("Content-Encoding \"br\", which cannot be decoded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.stdout, b"");
}

#[test]
fn a_file_nothing_could_check_is_marked_unverified() {
    let server = Canned::start(
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{\"event_id\":\"e1\"}\n".to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = server
        .cmd("cl-fetch")
        .args(["-q", "--principal", "ws-1", "-o"])
        .arg(dir.path())
        .arg("eclf_u")
        .assert_exit(0);
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["verified"], false, "{manifest}");
    // With a listed size it is checked, and says so.
    let out = server
        .cmd("cl-fetch")
        .args(["-q", "-o"])
        .arg(dir.path())
        .stdin("{\"id\":\"eclf_v\",\"principal\":\"ws-1\",\"file_size\":18}\n")
        .assert_exit(0);
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["verified"], true, "{manifest}");
    // On stdout, a warning says it.
    let out = server
        .cmd("cl-fetch")
        .args(["--principal", "ws-1", "eclf_w"])
        .assert_exit(0);
    assert!(
        stderr(&out).contains("eclf_w: written unverified"),
        "{}",
        stderr(&out)
    );
}
