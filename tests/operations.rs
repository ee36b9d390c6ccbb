//! Operating the tools: how far behind a state is (`--check`), the API's retention, keys
//! and scopes explained, proxies, a ceiling on the request rate, and event framing.

use crate::util::*;
use cl_sim::Origin;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn check_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Delivers AUTH_LOG through a --state pipeline in `dir`.
fn deliver_auth_log(sim: &Sim, dir: &Path) {
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --state s.json \
         | cl-fetch -q --state s.json > delivered.jsonl"
    ))
    .current_dir(dir)
    .assert_exit(0);
}

#[test]
fn check_answers_each_type_from_the_listing_where_there_is_no_freshness_endpoint() {
    let sim = Sim::with(|c| c.faults.no_max_event_time = true);
    let dir = tempfile::tempdir().unwrap();
    deliver_auth_log(&sim, dir.path());
    let auth = sim.files(sim.ws(), "AUTH_LOG");
    let app = sim.files(sim.ws(), "APP_LOG");
    let out = sim
        .cmd("cl-list")
        .current_dir(dir.path())
        .args([
            sim.ws(),
            "--check",
            "--state",
            "s.json",
            "-e",
            "AUTH_LOG,APP_LOG,COSTS",
        ])
        .assert_exit(1);
    let lines = check_lines(&out);
    assert_eq!(
        lines[0],
        json!({"event_type": "AUTH_LOG", "principal": sim.ws(), "status": "ok",
               "newest": auth[6].end_time, "cursor": auth[6].end_time, "lag_seconds": 0,
               "message": null, "newest_from": "listing", "parked": 0})
    );
    assert_eq!(lines[1]["status"], "behind", "APP_LOG was never delivered");
    assert_eq!(lines[1]["newest"], app[6].end_time.as_str());
    assert_eq!(lines[2]["status"], "error");
    assert!(
        lines[2]["message"].as_str().unwrap().contains("HTTP 400"),
        "{}",
        lines[2]
    );
    // Without a state: can this key list them?
    let out = sim
        .cmd("cl-list")
        .args([sim.ws(), "--check", "-e", "AUTH_LOG,APP_LOG"])
        .assert_exit(0);
    assert!(
        check_lines(&out)
            .iter()
            .all(|l| l["status"] == "ok" && l["cursor"].is_null())
    );
}

#[test]
fn a_cursor_older_than_the_retention_is_warned_about_and_checked() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    deliver_auth_log(&sim, dir.path());
    let rerun = || {
        sim.cmd("cl-list")
            .current_dir(dir.path())
            .env("COMPLIANCE_RETENTION", "30d")
            .args([sim.ws(), "-q", "-e", "AUTH_LOG", "--state", "s.json"])
            .assert_exit(0)
    };
    let check = |code| {
        let out = sim
            .cmd("cl-list")
            .current_dir(dir.path())
            .args([
                sim.ws(),
                "--check",
                "--retention",
                "30d",
                "--state",
                "s.json",
                "-e",
                "AUTH_LOG",
            ])
            .assert_exit(code);
        check_lines(&out).remove(0)
    };
    // The data lies in July 2026, far beyond the API's real retention; yet the listing just
    // reached its end: nothing newer, nothing lost, no warning.
    assert_eq!(stderr(&rerun()), "");
    assert_eq!(check(0)["status"], "ok");
    // The last listing that reached its end, 40 days ago: files may be gone.
    let record = dir.path().join("s.json.listed");
    let mut listed: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(40 * 24)).to_string();
    listed["principals"][sim.ws()]["AUTH_LOG"]["at"] = Value::from(long_ago);
    std::fs::write(&record, listed.to_string()).unwrap();
    let line = check(1);
    assert_eq!(line["status"], "behind");
    assert!(
        line["message"].as_str().unwrap().starts_with(
            "the last listing of it that reached its end was 40 days ago, beyond the API's \
             retention of about 30 days"
        ),
        "{line}"
    );
    // A state from before listing records: the cursor's age decides, as it did.
    std::fs::remove_file(&record).unwrap();
    let err = stderr(&rerun());
    assert!(
        err.starts_with("cl-list: AUTH_LOG starts ")
            && err.contains(
                "beyond the API's retention of about 30 days (--retention): its files before "
            )
            && err.ends_with(" are gone for good\n"),
        "said even with -q: {err}"
    );
    std::fs::remove_file(&record).unwrap();
    let line = check(1);
    assert_eq!(line["status"], "behind");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("beyond the API's retention of about 30 days"),
        "{line}"
    );
}

#[test]
fn a_lag_beyond_max_lag_is_behind() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let auth = sim.files(sim.ws(), "AUTH_LOG");
    // Deliver all but the last two files.
    let lines: String = sim.listing(sim.ws(), &auth[..5], 5);
    sim.cmd("cl-fetch")
        .current_dir(dir.path())
        .args(["-q", "--state", "s.json"])
        .stdin(lines)
        .stdout();
    let lag = |max: &str| {
        let out = sim
            .cmd("cl-list")
            .current_dir(dir.path())
            .args([
                sim.ws(),
                "--check",
                "--state",
                "s.json",
                "--max-lag",
                max,
                "-e",
                "AUTH_LOG",
            ])
            .output();
        (out.status.code(), check_lines(&out).remove(0))
    };
    let newest: jiff::Timestamp = auth[6].end_time.parse().unwrap();
    let cursor: jiff::Timestamp = auth[4].end_time.parse().unwrap();
    let seconds = newest.duration_since(cursor).as_secs();
    let (code, line) = lag("1h");
    assert_eq!(
        (code, &line["status"], &line["lag_seconds"]),
        (Some(0), &json!("ok"), &json!(seconds))
    );
    let (code, line) = lag("60s");
    assert_eq!((code, &line["status"]), (Some(1), &json!("behind")));
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{seconds} s behind")),
        "{line}"
    );
}

#[test]
fn max_rate_spaces_api_requests_and_leaves_downloads_alone() {
    let sim = Sim::start();
    sim.sh(&format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 2 --max-rate 8 \
         | cl-fetch -q -j 4 --max-rate 8 > /dev/null"
    ))
    .assert_exit(0);
    let requests = sim.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.origin == Origin::Api)
        .collect();
    // 4 pages and 7 downloads asked of the API, each process at most 8 a second.
    let downloads: Vec<_> = api.iter().filter(|r| r.query.is_none()).collect();
    assert_eq!(downloads.len(), 7);
    let span = downloads.last().unwrap().at - downloads[0].at;
    assert!(
        span >= Duration::from_millis(6 * 125 - 30),
        "{span:?} for 7 downloads at 8/s"
    );
    let blobs = requests.iter().filter(|r| r.origin == Origin::Blob);
    assert_eq!(
        blobs.count(),
        7,
        "each file fetched once from the blob host"
    );
}

#[test]
fn no_proxy_ranges_go_direct_and_a_dead_proxy_is_named() {
    let sim = Sim::start();
    let dead = "http://127.0.0.1:9";
    let out = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG")
        .env("http_proxy", dead)
        .env("NO_PROXY", "example.com, 127.0.0.0/8")
        .assert_exit(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 7);
    let out = sim
        .list(sim.ws(), &["-q", "--retries", "0"], "AUTH_LOG")
        .env("HTTP_PROXY", dead)
        .assert_exit(1);
    // Windows' variable names ignore case: there it may be named as http_proxy.
    assert!(
        stderr(&out)
            .to_ascii_uppercase()
            .contains("THROUGH PROXY HTTP://127.0.0.1:9 (FROM HTTP_PROXY): "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn events_come_one_per_line_and_the_manifest_counts_them() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let listing = sim.listing(sim.ws(), &files, 100);
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--events"])
        .stdin(listing.clone())
        .stdout();
    // The simulator serves JSON Lines, every third file without its last newline.
    let want = String::from_utf8(sim.stream(files.iter().map(|f| f.id.as_str()))).unwrap();
    assert_lines(&out, &want);
    let dir = tempfile::tempdir().unwrap();
    let manifest = sim
        .cmd("cl-fetch")
        .args(["-q", "--events", "-o"])
        .arg(dir.path())
        .stdin(listing)
        .stdout();
    for (line, f) in manifest.lines().zip(&files) {
        let line: Value = serde_json::from_str(line).unwrap();
        let events = String::from_utf8(sim.content(&f.id))
            .unwrap()
            .lines()
            .count();
        assert_eq!(line["events"], events, "{line}");
    }
}

#[test]
fn check_takes_the_newest_time_from_max_event_time_where_the_api_has_it() {
    let sim = Sim::start();
    let out = sim
        .cmd("cl-list")
        .args([sim.ws(), "--check", "-e", "AUTH_LOG"])
        .assert_exit(0);
    let line = &check_lines(&out)[0];
    assert_eq!(line["newest_from"], "max_event_time");
    assert_eq!(
        line["newest"],
        sim.files(sim.ws(), "AUTH_LOG")[6].end_time.as_str()
    );
    let asked: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        asked,
        [format!(
            "/v1/compliance/workspaces/{}/max_event_time",
            sim.ws()
        )]
    );
}

#[test]
fn a_key_without_the_scope_is_explained_and_check_says_so_per_type() {
    let sim = Sim::with(|c| c.scopeless_key = Some("sk-scopeless".into()));
    let out = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG")
        .env("COMPLIANCE_API_KEY", "sk-scopeless")
        .assert_exit(1);
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 403: Missing scopes")
            && err.contains("\nhint: a 401 or 403 usually means"),
        "{err}"
    );
    let out = sim
        .cmd("cl-list")
        .env("COMPLIANCE_API_KEY", "sk-scopeless")
        .args([sim.ws(), "--check", "-e", "AUTH_LOG,APP_LOG"])
        .assert_exit(1);
    for line in check_lines(&out) {
        assert_eq!(line["status"], "error");
        assert!(
            line["message"].as_str().unwrap().contains("HTTP 403"),
            "{line}"
        );
    }
}

#[test]
fn a_302_is_followed_as_a_307_is() {
    let sim = Sim::with(|c| c.faults.redirect_status = cl_sim::faults::RedirectStatus::Found);
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let out = sim
        .cmd("cl-fetch")
        .arg("-q")
        .stdin(sim.listing(sim.ws(), &files, 100))
        .assert_exit(0);
    assert_bytes(
        &out.stdout,
        &sim.stream(files.iter().map(|f| f.id.as_str())),
    );
}

#[test]
fn a_boundary_file_the_api_gives_again_is_listed_and_delivered_once() {
    let sim = Sim::with(|c| c.faults.inclusive_after = true);
    let dir = tempfile::tempdir().unwrap();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let ids = ids_of;
    let listed = sim
        .list(sim.ws(), &["-q", "--limit", "3"], "AUTH_LOG")
        .stdout();
    let want: Vec<String> = files.iter().map(|f| f.id.clone()).collect();
    assert_eq!(ids(&listed), want, "each file once, in order");
    let run = || {
        sim.sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 3 --state s.json \
             | cl-fetch -q -o lake --state s.json"
        ))
        .current_dir(dir.path())
        .stdout()
    };
    assert_eq!(ids(&run()), want);
    let again = run();
    assert!(
        again.lines().all(|l| l.contains("\"status\":\"skipped\"")),
        "a rerun delivers nothing again: {again}"
    );
}

#[test]
fn concatenated_json_bodies_come_out_one_event_per_line() {
    use cl_sim::content::Framing;
    for framing in [Framing::Concatenated, Framing::Spaced] {
        let sim = Sim::with(|c| c.dataset.framing = framing);
        let jsonl = Sim::start();
        let files = sim.files(sim.ws(), "AUTH_LOG");
        let listing = sim.listing(sim.ws(), &files, 100);
        // Without --events the bytes are delivered as served (verified against the listing).
        let raw = sim
            .cmd("cl-fetch")
            .arg("-q")
            .stdin(listing.clone())
            .assert_exit(0);
        assert_bytes(
            &raw.stdout,
            &sim.stream(files.iter().map(|f| f.id.as_str())),
        );
        // With it, the same events the JSON Lines framing holds, one per line.
        let events = sim
            .cmd("cl-fetch")
            .args(["-q", "--events"])
            .stdin(listing)
            .assert_exit(0);
        let want = jsonl.stream(
            jsonl
                .files(jsonl.ws(), "AUTH_LOG")
                .iter()
                .map(|f| f.id.as_str()),
        );
        assert_bytes(&events.stdout, &want);
    }
}

#[test]
fn a_file_that_is_not_json_values_fails_naming_its_first_bad_byte() {
    let body = b"{\"a\":1}\n{\"b\":2}\nnot json\n";
    let mut answer =
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    answer.extend_from_slice(body);
    let server = Canned::start(answer);
    let out = server
        .cmd("cl-fetch")
        .args(["-q", "--events", "--principal", "ws-1", "eclf_x"])
        .assert_exit(1);
    assert_eq!(out.stdout, b"", "nothing of a bad file");
    assert!(
        stderr(&out).starts_with(
            "cl-fetch: reading the events of eclf_x: not a sequence of JSON values: at byte 17: "
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_page_size_outside_the_apis_range_is_a_usage_error() {
    let out = TestCommand::new(bin_dir().join("cl-list"))
        .args(["ws-1", "-e", "AUTH_LOG", "--after", "1h", "--limit", "1000"])
        .assert_exit(2);
    assert!(stderr(&out).contains("1..=100"), "{}", stderr(&out));
}

#[test]
fn the_simulators_environment_goes_direct_through_a_corporate_proxy() {
    let dir = tempfile::tempdir().unwrap();
    // The README's first five minutes, in a shell whose HTTPS_PROXY and HTTP_PROXY lead nowhere.
    let out = sh("cl-sim --files 5 > sim.env 2>/dev/null & sim=$!
         trap 'kill $sim' EXIT
         until grep -q no_proxy sim.env 2>/dev/null || ! kill -0 $sim; do sleep 0.1; done
         . ./sim.env
         cl-list -q -e AUTH_LOG --after 24h | cl-fetch -q > auth.jsonl
         wc -l < auth.jsonl")
    .env("HTTPS_PROXY", "http://127.0.0.1:9")
    .env("HTTP_PROXY", "http://127.0.0.1:9")
    .env("NO_PROXY", "corp.example")
    .current_dir(dir.path())
    .stdout();
    assert!(out.trim().parse::<u32>().unwrap() > 5, "{out}");
}
