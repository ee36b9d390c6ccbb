//! cl-list: paging, pass-through fields, principal and scopes, time bounds, progress.

use crate::util::*;

#[test]
fn lists_every_file_with_principal_and_page_cursor() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let got = sim
        .list(sim.ws(), &[], "AUTH_LOG")
        .args(["--limit", "3"])
        .stdout();
    assert_lines(&got, &sim.listing(sim.ws(), &files, 3));
}

#[test]
fn progress_per_page_and_a_summary_on_stderr_quiet_silences_them() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let out = sim
        .list(sim.ws(), &[], "AUTH_LOG")
        .args(["--limit", "3"])
        .assert_exit(0);
    // Each page after the first is asked from just before the cursor (a microsecond before
    // the last end_time) and brings the last file again, which is not counted twice.
    let want = format!(
        "cl-list: AUTH_LOG page 1 after 2026-07-01T00:00:00Z: 3 files (3 so far)\n\
         cl-list: AUTH_LOG page 2 after {}: 2 files (5 so far)\n\
         cl-list: AUTH_LOG page 3 after {}: 2 files (7 so far)\n\
         cl-list: listed 7 files in 3 pages (AUTH_LOG: 7)\n",
        just_before(&files[2].end_time),
        just_before(&files[4].end_time)
    );
    assert_lines(&stderr(&out), &want);

    let out = sim.list(sim.ws(), &["-q"], "AUTH_LOG").assert_exit(0);
    assert_eq!(stderr(&out), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 7);
}

#[test]
fn verbose_adds_one_line_per_request() {
    let sim = Sim::start();
    let out = sim
        .list(sim.ws(), &["-v"], "AUTH_LOG")
        .args(["--limit", "5"])
        .assert_exit(0);
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let base = sim.base_url();
    let ws = sim.ws();
    let cursor = just_before(&files[4].end_time).replace(':', "%3A");
    let want = format!(
        "cl-list: GET {base}/workspaces/{ws}/logs?event_type=AUTH_LOG&after=2026-07-01T00%3A00%3A00Z&limit=5 -> 200 (N ms)\n\
         cl-list: AUTH_LOG page 1 after 2026-07-01T00:00:00Z: 5 files (5 so far)\n\
         cl-list: GET {base}/workspaces/{ws}/logs?event_type=AUTH_LOG&after={cursor}&limit=5 -> 200 (N ms)\n\
         cl-list: AUTH_LOG page 2 after {}: 2 files (7 so far)\n\
         cl-list: listed 7 files in 2 pages (AUTH_LOG: 7)\n",
        just_before(&files[4].end_time)
    );
    assert_lines(&normalize_ms(&stderr(&out)), &want);
    assert!(!stderr(&out).contains(sim.key()));
}

#[test]
fn principal_from_environment_and_org_ids_use_the_organizations_path() {
    let sim = Sim::start();
    let got = sim
        .cmd("cl-list")
        .env("COMPLIANCE_PRINCIPAL", sim.org())
        .args(["-e", "COSTS", "--after", BEFORE_ALL])
        .stdout();
    let files = sim.files(sim.org(), "COSTS");
    assert_lines(&got, &sim.listing(sim.org(), &files, 100));
    let paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [format!("/v1/compliance/organizations/{}/logs", sim.org())]
    );
}

#[test]
fn event_types_repeat_or_comma_separate_and_keep_their_order() {
    let sim = Sim::start();
    let costs = sim.files(sim.org(), "COSTS");
    let auth = sim.files(sim.org(), "AUTH_LOG");
    let want = sim.listing(sim.org(), &costs, 4) + &sim.listing(sim.org(), &auth, 4);
    for flags in [
        vec!["-e", "COSTS", "-e", "AUTH_LOG"],
        vec!["-e", "COSTS,AUTH_LOG"],
        vec!["--event-type", "COSTS, AUTH_LOG,COSTS"],
    ] {
        let got = sim
            .cmd("cl-list")
            .arg(sim.org())
            .args(&flags)
            .args(["--after", BEFORE_ALL, "--limit", "4"])
            .stdout();
        assert_lines(&got, &want);
    }
}

#[test]
fn after_and_before_are_exclusive_bounds_on_end_time() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "APP_LOG");
    let got = sim
        .list_after(sim.ws(), &[], "APP_LOG", &files[1].end_time)
        .args(["--before", &files[5].end_time])
        .stdout();
    let from = as_sent(&files[1].end_time);
    assert_lines(&got, &sim.listing_after(sim.ws(), &files[2..5], 100, &from));
    // Offsets other than UTC mean the same instant.
    let got = sim
        .list_after(sim.ws(), &[], "APP_LOG", "2026-07-16T02:00:00+02:00")
        .stdout();
    assert_lines(
        &got,
        &sim.listing_after(sim.ws(), &files, 100, "2026-07-16T00:00:00Z"),
    );
}

#[test]
fn ages_count_back_from_now() {
    // Files an hour apart, the first 30h45m ago: 23 of them fall in the last 24 hours, each
    // at least 15 minutes from the boundary.
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 30;
        c.dataset.interval = jiff::SignedDuration::from_hours(1);
        c.dataset.start = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(30 * 60 + 45);
    });
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let got = sim.list_after(sim.ws(), &[], "AUTH_LOG", "24h").stdout();
    assert_lines(
        &without_listed_after(&got),
        &without_listed_after(&sim.listing(sim.ws(), &files[7..], 100)),
    );
    for age in ["2d", "1w", "2000m"] {
        let got = sim.list_after(sim.ws(), &[], "AUTH_LOG", age).stdout();
        assert_eq!(got.lines().count(), 30, "{age}");
    }
}

#[test]
fn limit_is_the_page_size_asked_of_the_api() {
    let sim = Sim::start();
    sim.list(sim.ws(), &["-q"], "AUTH_LOG")
        .args(["--limit", "2"])
        .stdout();
    let queries: Vec<String> = sim.requests().into_iter().filter_map(|r| r.query).collect();
    // 7 files at 2 a page, each page after the first bringing the last file again.
    assert_eq!(
        queries.len(),
        pages(&sim.files(sim.ws(), "AUTH_LOG"), 2).len()
    );
    assert_eq!(queries.len(), 6);
    assert!(
        queries.iter().all(|q| q.ends_with("&limit=2")),
        "{queries:?}"
    );
}

#[test]
fn base_url_flag_and_key_file() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(
        &key_file,
        format!("  {}  \nsecond line ignored\n", sim.key()),
    )
    .unwrap();
    let got = sim
        .cmd("cl-list")
        .env_remove("COMPLIANCE_API_KEY")
        .env("COMPLIANCE_API_BASE", "https://api.invalid/v1/compliance")
        .args(["--base-url", sim.base_url(), "--api-key-file"])
        .arg(&key_file)
        .args([sim.ws(), "-e", "AUTH_LOG", "--after", BEFORE_ALL])
        .stdout();
    assert_eq!(got.lines().count(), 7);
}

#[test]
fn nothing_found_is_success_with_a_note() {
    let sim = Sim::start();
    let out = sim
        .list_after(sim.ws(), &[], "AUTH_LOG", "2026-08-01T00:00:00Z")
        .assert_exit(0);
    assert_eq!(out.stdout, b"");
    assert_lines(
        &stderr(&out),
        "cl-list: AUTH_LOG page 1 after 2026-08-01T00:00:00Z: 0 files (0 so far)\n\
         cl-list: no files of AUTH_LOG after 2026-08-01T00:00:00Z\n\
         cl-list: listed 0 files in 1 page (AUTH_LOG: 0)\n",
    );
}

#[test]
fn unknown_fields_pass_through_unchanged() {
    let page = r#"{"data":[{"id":"eclf_a","future":{"b":[1,2.50,"é\"x"]},"file_size":1e3}],"has_more":false,"last_end_time":"2026-07-16T00:00:00.000001+00:00"}"#;
    let canned = Canned::start(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    ));
    let got = canned.list_after("ws-1", &["-q"], "X", "1h").stdout();
    // The API's fields as it wrote them, then principal, cursor and where the listing began.
    assert_eq!(
        without_listed_after(&got),
        "{\"id\":\"eclf_a\",\"future\":{\"b\":[1,2.50,\"é\\\"x\"]},\"file_size\":1e3,\
         \"principal\":\"ws-1\",\"cursor\":\"2026-07-16T00:00:00.000001+00:00\"}\n"
    );
    assert!(
        got.contains(",\"listed_after\":\"20") && got.ends_with("Z\"}\n"),
        "{got}"
    );
}
