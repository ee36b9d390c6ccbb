//! The path users run (`--state` pipelines, reruns over delivered ranges) at the API's edges:
//! ties at a page boundary, trickles, decompression bombs, expired signed URLs in every
//! store's shape, a rate limit, a file that always fails, stops mid-run, and the key kept
//! from `--exec`.

use crate::util::*;
use cl_sim::Origin;
use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn state(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("s.json")).unwrap()).unwrap()
}

#[test]
fn files_sharing_an_end_time_across_a_page_boundary_are_each_listed_once() {
    for inclusive in [false, true] {
        let sim = Sim::with(|c| {
            c.dataset.files_per_type = 250;
            c.dataset.tied = 3;
            c.faults.inclusive_after = inclusive;
        });
        let files = sim.files(sim.ws(), "AUTH_LOG");
        let want: Vec<&str> = files.iter().map(|f| f.id.as_str()).collect();
        for limit in ["100", "7", "4"] {
            let got = sim
                .list(sim.ws(), &["-q"], "AUTH_LOG")
                .args(["--limit", limit])
                .stdout();
            let ids: Vec<String> = lines(&got)
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids, want, "--limit {limit}, inclusive after: {inclusive}");
        }
        // The checkpointed pipeline too, at a page size that splits most groups.
        let dir = tempfile::tempdir().unwrap();
        sim.sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 4 --state s.json \
             | cl-fetch -q -j 8 --state s.json -o lake > m.jsonl"
        ))
        .current_dir(dir.path())
        .assert_exit(0);
        let delivered: HashSet<String> =
            lines(&std::fs::read_to_string(dir.path().join("m.jsonl")).unwrap())
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_owned())
                .collect();
        assert_eq!(delivered.len(), 250, "inclusive after: {inclusive}");
        assert_eq!(sim.downloads(), 250, "each file downloaded once");
    }
}

#[test]
fn a_group_of_tied_files_larger_than_the_page_stops_with_a_hint() {
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 12;
        c.dataset.tied = 6;
    });
    let out = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG")
        .args(["--limit", "4"])
        .assert_exit(1);
    assert!(
        stderr(&out)
            .contains("more than 4 files share that end_time: a larger --limit may get past them"),
        "{}",
        stderr(&out)
    );
    sim.list(sim.ws(), &["-q"], "AUTH_LOG")
        .args(["--limit", "8"])
        .assert_exit(0);
}

/// `count` lines of files before `cursor`, as a listing that the state covers would give.
fn covered_lines(ws: &str, count: usize, cursor: &str) -> String {
    (0..count)
        .map(|i| {
            format!(
                "{{\"id\":\"eclf_covered{i}\",\"event_type\":\"AUTH_LOG\",\
                 \"end_time\":\"2026-07-15T00:00:00.{i:06}+00:00\",\"file_size\":10,\
                 \"principal\":\"{ws}\",\"cursor\":\"{cursor}\"}}\n"
            )
        })
        .collect()
}

/// A state in `dir` whose AUTH_LOG cursor is `cursor`, as cl-fetch saves it.
fn delivered_up_to(dir: &Path, ws: &str, cursor: &str) {
    let state = serde_json::json!({
        "version": 1,
        "principals": {ws: {"AUTH_LOG": {"cursor": cursor}}}
    });
    std::fs::write(dir.join("s.json"), state.to_string()).unwrap();
}

#[test]
fn lines_the_state_already_covers_cost_no_write_and_never_grow_it() {
    if !needs("strace", "apt-get install strace") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let cursor = "2026-07-16T00:00:00.000000+00:00";
    delivered_up_to(dir.path(), sim.ws(), cursor);
    let before = std::fs::read(dir.path().join("s.json")).unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        covered_lines(sim.ws(), 20_000, cursor),
    )
    .unwrap();
    for mode in [&["-o", "lake"][..], &[]] {
        let out = sim
            .sh(&format!(
                "strace -f -e trace=rename,renameat,renameat2,fsync,fdatasync -o trace \
                 cl-fetch --state s.json {} < in.jsonl > out",
                mode.join(" ")
            ))
            .current_dir(dir.path())
            .assert_exit(0);
        assert!(
            stderr(&out).ends_with("cl-fetch: delivered 20000 files (195.3 KiB): 0 downloaded, 20000 already delivered\n"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(dir.path().join("out")).unwrap(),
            b"",
            "no line printed"
        );
        let trace = std::fs::read_to_string(dir.path().join("trace")).unwrap();
        assert!(
            !trace.contains("s.json"),
            "the state was neither written nor flushed:\n{trace}"
        );
        assert_eq!(std::fs::read(dir.path().join("s.json")).unwrap(), before);
    }
    assert!(sim.requests().is_empty(), "nothing asked of the API");
}

#[test]
fn copies_of_one_covered_line_are_read_in_bounded_memory() {
    if !needs("/usr/bin/time", "apt-get install time") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let cursor = "2026-07-16T00:00:00.000000+00:00";
    delivered_up_to(dir.path(), sim.ws(), cursor);
    let line = covered_lines(sim.ws(), 1, cursor);
    let mut input = std::fs::File::create(dir.path().join("in.jsonl")).unwrap();
    for _ in 0..300_000 {
        input.write_all(line.as_bytes()).unwrap();
    }
    drop(input);
    let out = sim
        .sh("/usr/bin/time -f '%M' -o rss cl-fetch -q --state s.json -o lake < in.jsonl")
        .current_dir(dir.path())
        .assert_exit(0);
    assert_eq!(out.stdout, b"");
    let kib: u64 = std::fs::read_to_string(dir.path().join("rss"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        kib < 64 << 10,
        "peak RSS {kib} KiB for 300,000 repeats of one line"
    );
}

#[test]
fn a_signal_while_reading_covered_lines_stops_the_run_and_says_so() {
    // Wine turns only SIGINT into a console event (Ctrl-C); Windows has no SIGTERM.
    let signals: &[(&str, i32)] = if under_wine() {
        &[("INT", 130)]
    } else {
        &[("TERM", 143), ("INT", 130)]
    };
    for &(signal_name, code) in signals {
        let sim = Sim::start();
        let dir = tempfile::tempdir().unwrap();
        let cursor = "2026-07-16T00:00:00.000000+00:00";
        delivered_up_to(dir.path(), sim.ws(), cursor);
        let fifo = dir.path().join("in.fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // Opening a FIFO waits for its other end: the writer opens it on a thread.
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(fifo).unwrap())
        };
        let mut child = sim
            .cmd("cl-fetch")
            .current_dir(dir.path())
            .args(["-v", "--state", "s.json", "-o", "lake"])
            .spawn(Some(&fifo), &dir.path().join("out"));
        // The writer stays open: the run is reading, with nothing to fetch, when the signal
        // comes.
        let mut writer = writer.join().unwrap();
        writer
            .write_all(covered_lines(sim.ws(), 500, cursor).as_bytes())
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let mut seen = Vec::new();
        wait_until(Duration::from_secs(30), "the 500th covered line", || {
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut err, &mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
            String::from_utf8_lossy(&seen).contains("eclf_covered499: delivered by an earlier run")
        });
        signal(child.id(), signal_name, false);
        let status = child.wait().unwrap();
        std::io::Read::read_to_end(&mut err, &mut seen).unwrap();
        let err = String::from_utf8_lossy(&seen);
        assert_eq!(status.code(), Some(code), "{err}");
        assert!(
            err.contains("cl-fetch: interrupted: delivered 500 files"),
            "{err}"
        );
        drop(writer);
    }
}

#[test]
fn a_trickling_blob_host_fails_that_file_and_the_others_are_delivered() {
    let sim = Sim::with(|c| {
        c.faults.bandwidth = 50;
        c.faults.slow_first = true;
    });
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args([
            "-q",
            "--retries",
            "1",
            "--speed-limit",
            "1000",
            "--speed-time",
            "1",
            "-o",
            "lake",
        ])
        .stdin(sim.listing(sim.ws(), &files, 100))
        .assert_exit(1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "downloading {}: the transfer broke off after",
            files[0].id
        )) && err.contains("stalled: ")
            && err.contains("under the 1000 bytes a second required (--speed-limit, --speed-time)"),
        "{err}"
    );
    let delivered: Vec<Value> = lines(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(delivered.len(), 6, "every other file delivered");
    // The default is far below any real blob host: the same trickle is waited out.
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args(["-q", "--speed-time", "1", "-o", "lake2"])
        .arg("--speed-limit")
        .arg("10")
        .stdin(sim.listing(sim.ws(), &files[..1], 100))
        .assert_exit(0);
    assert_eq!(lines(&String::from_utf8(out.stdout).unwrap()).len(), 1);
}

/// A server on loopback that answers each request by its path: `answer(path)` gives the whole
/// HTTP response.
fn routed(answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match std::io::Read::read(&mut stream, &mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&seen);
                let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
                let _ = stream.write_all(&answer(&path));
            });
        }
    });
    format!("http://{addr}/v1/compliance")
}

#[test]
fn a_decompression_bomb_fails_at_the_listed_size_and_the_run_goes_on() {
    // 256 MiB of zeros, about 250 KiB gzipped; the listing says 2048 bytes.
    let bomb = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            gz.write_all(&zeros).unwrap();
        }
        gz.finish().unwrap()
    };
    let good = b"{\"event_id\":\"e1\"}\n".to_vec();
    let (good_sha, good_len) = (sha256_hex(&good), good.len());
    let base = routed(move |path| {
        let body = if path.ends_with("eclf_bomb") {
            &bomb
        } else {
            &good
        };
        let encoding = if path.ends_with("eclf_bomb") {
            "content-encoding: gzip\r\n"
        } else {
            ""
        };
        let mut response = format!(
            "HTTP/1.1 200 OK\r\n{encoding}content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(body);
        response
    });
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "{{\"id\":\"eclf_bomb\",\"principal\":\"ws-1\",\"file_size\":2048}}\n\
         {{\"id\":\"eclf_good\",\"principal\":\"ws-1\",\"file_size\":{good_len},\"file_sha256\":\"{good_sha}\"}}\n"
    );
    let mut cmd = TestCommand::new(bin_dir().join("cl-fetch"));
    let out = cmd
        .env("COMPLIANCE_API_BASE", &base)
        .env("COMPLIANCE_API_KEY", "k")
        .current_dir(dir.path())
        .args(["-q", "--retries", "2", "-o", "lake"])
        .stdin(input)
        .assert_exit(1);
    let err = stderr(&out);
    assert!(
        err.contains("downloading eclf_bomb: the body is longer once gzip-decoded than the 2048 bytes listed: stopped there"),
        "{err}"
    );
    let manifest = lines(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(manifest.len(), 1);
    assert_eq!(manifest[0]["id"], "eclf_good");
    // Nothing of the bomb on disk, not even a temporary file.
    assert_eq!(tree(&dir.path().join("lake")), ["eclf_good.jsonl"]);
}

#[test]
fn an_expired_signed_url_in_any_store_s_shape_is_asked_for_again() {
    use cl_sim::faults::ExpiredAs;
    for shape in [
        ExpiredAs::S3,
        ExpiredAs::S3Session,
        ExpiredAs::Azure,
        ExpiredAs::Gcs,
    ] {
        let sim = Sim::with(|c| {
            c.faults.expired = 0.5;
            c.faults.expired_as = shape;
        });
        let files = sim.files(sim.ws(), "AUTH_LOG");
        let out = sim
            .cmd("cl-fetch")
            .args(["-q", "--retries", "8"])
            .stdin(sim.listing(sim.ws(), &files, 100))
            .assert_exit(0);
        assert_eq!(out.stdout, sim.stream(sim.ids("AUTH_LOG")), "{shape:?}");
        assert!(sim.injected().contains_key("expired"), "{shape:?}");
        let refused: Vec<u16> = sim
            .requests()
            .iter()
            .filter(|r| r.origin == Origin::Blob && r.status >= 400)
            .map(|r| r.status)
            .collect();
        let want = match shape {
            ExpiredAs::S3 | ExpiredAs::Azure => 403,
            ExpiredAs::S3Session | ExpiredAs::Gcs => 400,
        };
        assert!(
            !refused.is_empty() && refused.iter().all(|&s| s == want),
            "{shape:?}: {refused:?}"
        );
    }
}

#[test]
fn with_state_a_stdout_that_goes_nowhere_is_refused_before_anything_is_recorded() {
    let sim = Sim::start();
    // A Windows program started with no stdout has none (handled); Wine instead hands it
    // whatever file it opened first on the closed descriptor, so there only NUL is tried.
    let redirects: &[&str] = if under_wine() {
        &["> /dev/null"]
    } else {
        &["> /dev/null", ">&-"]
    };
    for redirect in redirects {
        let dir = tempfile::tempdir().unwrap();
        let out = sim
            .sh(&format!(
                "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} > in.jsonl
                 cl-fetch --state s.json < in.jsonl {redirect}"
            ))
            .current_dir(dir.path())
            .assert_exit(2);
        assert_eq!(
            stderr(&out),
            "cl-fetch: --state with stdout going nowhere (/dev/null, or closed): every file \
             would be recorded as delivered though nothing received it\n\
             hint: deliver the files somewhere: -o DIR, --exec CMD, or stdout to a file or a pipe\n",
            "{redirect}"
        );
        assert!(
            !dir.path().join("s.json").exists(),
            "{redirect}: nothing recorded"
        );
        assert_eq!(sim.downloads(), 0);
    }
    // Without --state, /dev/null is the user's business.
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} | cl-fetch -q > /dev/null"
    ))
    .assert_exit(0);
}

#[test]
fn at_a_token_bucket_limit_requests_are_paced_and_few_are_refused() {
    const RATE: f64 = 50.0;
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 300;
        c.dataset.file_size = 200;
        c.faults.rate_limit = Some(RATE);
    });
    let dir = tempfile::tempdir().unwrap();
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG,APP_LOG --after {BEFORE_ALL} > in.jsonl
         cl-fetch -q -j 16 < in.jsonl > out.jsonl"
    ))
    .current_dir(dir.path())
    .assert_exit(0);
    let api: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Api && r.query.is_none())
        .collect();
    let refused = api.iter().filter(|r| r.status == 429).count();
    assert!(
        (refused as f64) < 0.10 * api.len() as f64,
        "{refused} of {} download requests refused",
        api.len()
    );
    // From the simulator's own clock: the first request to the last.
    let span = api.last().unwrap().at - api.first().unwrap().at;
    let ideal = api.len() as f64 / RATE;
    assert!(
        span.as_secs_f64() < 1.15 * ideal,
        "{:.1} s for {} requests at {RATE}/s (ideal {ideal:.1} s)",
        span.as_secs_f64(),
        api.len()
    );
    assert_eq!(
        std::fs::read(dir.path().join("out.jsonl")).unwrap().len(),
        sim.stream(sim.ids("AUTH_LOG").into_iter().chain(sim.ids("APP_LOG")))
            .len()
    );
}

#[test]
fn a_file_that_always_fails_is_parked_after_three_runs_and_can_be_retried_or_dismissed() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let poison = files[2].id.clone();
    // The sink refuses (exit 7) the ids listed in `refuse` and keeps the others as
    // sink/CL_ID: a shell script here, scripts/windows/sink.c where cmd.exe runs it.
    std::fs::write(dir.path().join("refuse"), format!("{poison}\n")).unwrap();
    std::fs::write(
        dir.path().join("sink.sh"),
        "if grep -qx \"$CL_ID\" refuse 2>/dev/null; then cat > /dev/null; exit 7; fi\n\
         mkdir -p sink && cat > \"sink/$CL_ID\"\n",
    )
    .unwrap();
    let sink = if under_wine() {
        native_path(&bin_dir().join("sink.exe"))
    } else {
        "sh sink.sh".to_owned()
    };
    let run = |name: &str| {
        sim.sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 3 --state s.json \
             | cl-fetch --retries 0 --state s.json --exec '{sink}' > {name}"
        ))
        .current_dir(dir.path())
        .output()
    };
    for n in 1..=2 {
        let out = run(&format!("m{n}"));
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            state(dir.path())["principals"][sim.ws()]["AUTH_LOG"]["failing"][&poison]["runs"] == n
        );
    }
    let out = run("m3");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cl-fetch: {poison} parked after failing in 3 runs (handing {poison} to --exec: the command exited with 7)")),
        "{}",
        stderr(&out)
    );
    let progress = &state(dir.path())["principals"][sim.ws()]["AUTH_LOG"];
    assert_eq!(
        progress["cursor"],
        files[6].end_time.as_str(),
        "the cursor moved past it"
    );
    assert_eq!(progress["parked"][&poison]["runs"], 3);
    assert_eq!(progress["parked"][&poison]["file_size"], files[2].size);
    // Later runs deliver nothing again, print no line for what earlier runs delivered, exit
    // 0, and say what is parked.
    let out = run("m4");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("m4")).unwrap(), "");
    assert!(
        stderr(&out).contains(&format!("cl-fetch: 1 file parked in s.json, not delivered: {poison}\nhint: fetch them again with cl-fetch --state s.json --retry-parked")),
        "{}",
        stderr(&out)
    );
    // --check: an alarm until it is delivered.
    let check = sim
        .cmd("cl-list")
        .current_dir(dir.path())
        .args([sim.ws(), "--check", "--state", "s.json", "-e", "AUTH_LOG"])
        .assert_exit(1);
    let answer: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(answer["status"], "behind");
    assert_eq!(answer["parked"], 1);
    assert_eq!(
        answer["message"],
        format!("1 file parked in the state, not delivered: {poison}").as_str()
    );
    // Still refused: it stays parked; the sink mended: delivered, and no longer parked.
    let retry = |expect: i32| {
        sim.cmd("cl-fetch")
            .current_dir(dir.path())
            .args([
                "--retries",
                "0",
                "--state",
                "s.json",
                "--retry-parked",
                "--exec",
                &sink,
            ])
            .assert_exit(expect)
    };
    retry(1);
    assert!(state(dir.path())["principals"][sim.ws()]["AUTH_LOG"]["parked"][&poison].is_object());
    std::fs::remove_file(dir.path().join("refuse")).unwrap();
    let out = retry(0);
    assert_eq!(
        lines(&String::from_utf8(out.stdout).unwrap())[0]["id"],
        poison.as_str()
    );
    assert_eq!(
        std::fs::read(dir.path().join("sink").join(&poison)).unwrap(),
        sim.stream([&poison])
    );
    assert!(
        state(dir.path())["principals"][sim.ws()]["AUTH_LOG"]
            .get("parked")
            .is_none()
    );
    sim.cmd("cl-list")
        .current_dir(dir.path())
        .args([sim.ws(), "--check", "--state", "s.json", "-e", "AUTH_LOG"])
        .assert_exit(0);
}

#[test]
fn a_parked_file_can_be_asked_for_and_dismissed() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let out = sim
        .sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --state s.json \
             | cl-fetch --state s.json --park {} -o lake > m.jsonl",
            files[1].id
        ))
        .current_dir(dir.path())
        .assert_exit(0);
    assert!(
        stderr(&out).contains(&format!("{} parked on request", files[1].id)),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(&dir.path().join("lake")).len(), 6);
    let progress = &state(dir.path())["principals"][sim.ws()]["AUTH_LOG"];
    assert_eq!(progress["cursor"], files[6].end_time.as_str());
    let out = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args([
            "--state",
            "s.json",
            "--dismiss",
            &files[1].id,
            "--dismiss",
            "eclf_unknown",
        ])
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        format!(
            "cl-fetch: {} dismissed: it will not be fetched again\n\
             cl-fetch: not parked or failing in s.json: eclf_unknown\n",
            files[1].id
        )
    );
    assert!(
        state(dir.path())["principals"][sim.ws()]["AUTH_LOG"]
            .get("parked")
            .is_none()
    );
    assert_eq!(sim.downloads(), 6, "the parked file was never fetched");
}

#[test]
fn an_interrupted_run_reports_every_file_it_made_durable() {
    // The first file trickles, so the others are stored while it holds their turn.
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 12;
        c.faults.bandwidth = 200;
        c.faults.slow_first = true;
    });
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        sim.listing(sim.ws(), &sim.files(sim.ws(), "AUTH_LOG"), 100),
    )
    .unwrap();
    let mut child = sim
        .cmd("cl-fetch")
        .current_dir(dir.path())
        .args(["-q", "-j", "4", "--state", "s.json", "-o", "lake"])
        .spawn(Some(&input), &dir.path().join("m.jsonl"));
    let lake = dir.path().join("lake");
    wait_until(Duration::from_secs(30), "eleven files stored", || {
        lake.exists() && tree(&lake).iter().filter(|p| !p.ends_with(".part")).count() >= 11
    });
    signal(child.id(), "INT", false);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let stored: Vec<String> = tree(&lake)
        .into_iter()
        .filter(|p| !p.ends_with(".part"))
        .collect();
    let manifest = lines(&std::fs::read_to_string(dir.path().join("m.jsonl")).unwrap());
    assert_eq!(
        manifest.len(),
        stored.len(),
        "a manifest line for every file on disk"
    );
    // And a record in the state for each: the first file never came, so the cursor cannot
    // have moved, and each stored file is recorded as delivered beyond it.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    let progress = &state["principals"][sim.ws()]["AUTH_LOG"];
    assert!(progress["cursor"].is_null(), "{progress}");
    let mut recorded: Vec<String> = progress["delivered"]
        .as_object()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    let mut on_disk: Vec<String> = stored
        .iter()
        .map(|p| {
            p.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".jsonl")
                .to_owned()
        })
        .collect();
    recorded.sort();
    on_disk.sort();
    assert_eq!(recorded, on_disk, "a state record for every file on disk");
    // The rerun downloads only what was not stored.
    let downloads = sim.downloads();
    sim.cmd("cl-fetch")
        .current_dir(dir.path())
        .args(["-q", "--state", "s.json", "-o", "lake"])
        .stdin(std::fs::read(&input).unwrap())
        .assert_exit(0);
    assert_eq!(sim.downloads() - downloads, 12 - stored.len());
}

#[test]
fn an_exec_command_never_sees_the_api_key() {
    let sim = Sim::start();
    // Windows runs the command with cmd.exe: there the key's absence is asked of cmd.
    let command = if under_wine() {
        "if defined COMPLIANCE_API_KEY (echo 1 >&2) else (echo 0 >&2)"
    } else {
        "env | grep -c ^COMPLIANCE_API_KEY= >&2; cat > /dev/null"
    };
    let out = sim
        .sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} | cl-fetch -q --exec '{command}'"
        ))
        .output();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    // (cmd's echo keeps the space before `>&2`.)
    let counts: Vec<&str> = err
        .lines()
        .map(str::trim_end)
        .filter(|l| l.len() == 1)
        .collect();
    assert!(
        !counts.is_empty() && counts.iter().all(|c| *c == "0"),
        "{}",
        stderr(&out)
    );
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_key_revoked_during_a_feed_ends_it_with_exit_1() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let mut child = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG")
        .args(["--follow", "--interval", "1"])
        .spawn(None, &dir.path().join("out"));
    let lists = || sim.requests().iter().filter(|r| r.query.is_some()).count();
    // The catch-up, then a poll: the feed is following.
    wait_until(Duration::from_secs(30), "a poll after the catch-up", || {
        lists() >= 2
    });
    sim.revoke_key();
    let polled = lists();
    let status = exited(&mut child, Duration::from_secs(30), "the feed to end");
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("HTTP 401"), "{err}");
    assert_eq!(lists(), polled + 1, "a rejected key is not asked again");
}

#[test]
fn lying_listing_metadata_never_delivers_a_wrong_file() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let f = &files[0];
    let ws = sim.ws();
    let line = |extra: &str| {
        format!(
            "{{\"id\":\"{}\",\"principal\":\"{ws}\",\"event_type\":\"AUTH_LOG\"{extra}}}\n",
            f.id
        )
    };
    let wrong_sha = "ab".repeat(32);
    for (extra, delivered) in [
        (",\"file_size\":-1".to_owned(), true),
        (",\"file_size\":1.5".to_owned(), true),
        (",\"file_size\":1e30".to_owned(), true),
        (",\"file_size\":18446744073709551615".to_owned(), false),
        (format!(",\"file_size\":{}", f.size + 1), false),
        (",\"file_sha256\":\"not hex\"".to_owned(), true),
        (format!(",\"file_sha256\":\"{wrong_sha}\""), false),
        (
            format!(",\"file_sha256\":\"{}\"", f.sha256.to_uppercase()),
            true,
        ),
    ] {
        let out = sim
            .cmd("cl-fetch")
            .args(["-q", "--retries", "0"])
            .stdin(line(&extra))
            .output();
        if delivered {
            assert_eq!(out.status.code(), Some(0), "{extra}: {}", stderr(&out));
            assert_eq!(out.stdout, sim.stream([&f.id]), "{extra}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{extra}: {}", stderr(&out));
            assert_eq!(out.stdout, b"", "{extra}: nothing delivered");
        }
    }
    // One id twice with two digests: the first line decides, the second is a repeat.
    for (first, second, delivered) in [
        (&wrong_sha, &f.sha256, false),
        (&f.sha256, &wrong_sha, true),
    ] {
        let input = line(&format!(",\"file_sha256\":\"{first}\""))
            + &line(&format!(",\"file_sha256\":\"{second}\""));
        let out = sim
            .cmd("cl-fetch")
            .args(["-q", "--retries", "0"])
            .stdin(input)
            .output();
        assert_eq!(
            out.status.code(),
            Some(if delivered { 0 } else { 1 }),
            "{}",
            stderr(&out)
        );
        let want = if delivered {
            sim.stream([&f.id])
        } else {
            Vec::new()
        };
        assert_eq!(out.stdout, want);
    }
}

#[test]
fn redirects_that_cannot_be_followed_end_at_once_and_never_carry_the_key() {
    for location in [
        "/v1/compliance/workspaces/ws-1/logs/eclf_x".to_owned(),
        "file:///etc/passwd".to_owned(),
        "http://[::1".to_owned(),
        "https://".to_owned(),
        "".to_owned(),
    ] {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, bool)>::new()));
        let recorder = seen.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1/compliance", listener.local_addr().unwrap());
        let answer = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (recorder, answer) = (recorder.clone(), answer.clone());
                std::thread::spawn(move || {
                    loop {
                        let mut seen = Vec::new();
                        let mut buf = [0u8; 4096];
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match std::io::Read::read(&mut stream, &mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        let text = String::from_utf8_lossy(&seen).to_lowercase();
                        let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
                        recorder
                            .lock()
                            .unwrap()
                            .push((path, text.contains("authorization:")));
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let mut cmd = TestCommand::new(bin_dir().join("cl-fetch"));
        let out = cmd
            .env("COMPLIANCE_API_BASE", &base)
            .env("COMPLIANCE_API_KEY", "secret-key")
            .args(["-q", "--retries", "0", "--principal", "ws-1", "eclf_x"])
            .assert_exit(1);
        assert_eq!(out.stdout, b"");
        let seen = seen.lock().unwrap().clone();
        // The API request alone carries the key; the loop is cut after 5 hops.
        assert!(seen[0].1, "{location}: {seen:?}");
        assert!(
            seen[1..].iter().all(|(_, key)| !key),
            "{location}: {seen:?}"
        );
        assert!(seen.len() <= 6, "{location}: {} requests", seen.len());
        assert!(!stderr(&out).contains("secret-key"));
    }
}

#[test]
fn ages_mean_the_same_instant_in_every_time_zone() {
    let sim = Sim::start();
    for tz in [
        "UTC",
        "Pacific/Kiritimati",
        "America/Adak",
        "Asia/Kathmandu",
        "Nowhere/Invalid",
    ] {
        let before = jiff::Timestamp::now();
        sim.cmd("cl-list")
            .env("TZ", tz)
            .args([sim.ws(), "-q", "-e", "AUTH_LOG", "--after", "24h"])
            .assert_exit(0);
        let after = jiff::Timestamp::now();
        let query = sim
            .requests()
            .into_iter()
            .rev()
            .find_map(|r| r.query)
            .unwrap();
        let sent: jiff::Timestamp = query
            .split('&')
            .find_map(|p| p.strip_prefix("after="))
            .unwrap()
            .replace("%3A", ":")
            .replace("%2B", "+")
            .parse()
            .unwrap();
        let day = jiff::SignedDuration::from_hours(24);
        assert!(
            sent >= before - day && sent <= after - day,
            "TZ={tz}: --after 24h sent {sent}, between {} and {}",
            before - day,
            after - day
        );
    }
}
