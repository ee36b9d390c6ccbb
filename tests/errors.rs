//! Error paths: one clear line naming what was being done, and an exit code from the contract.

use crate::util::*;

const BAD_KEY: &str = "Invalid authorization: missing or incorrect API key";
/// What a 401 or 403 from the API adds.
const KEY_HINT: &str = "hint: a 401 or 403 usually means an Admin API key where a Compliance \
     API key is needed, a key whose Compliance API scope is not granted (yet), or a workspace \
     id given where an org-… id belongs (or the reverse)";

/// The least each tool needs to send a request, given the principal in the environment.
fn one_request(tool: &str) -> &'static [&'static str] {
    match tool {
        "cl-list" => &["-e", "AUTH_LOG", "--after", "1h"],
        "cl-fetch" => &["eclf_x"],
        other => panic!("not a tool: {other}"),
    }
}

#[test]
fn a_wrong_key_is_a_runtime_failure_quoting_the_server() {
    let sim = Sim::start();
    let out = sim
        .list(sim.ws(), &[], "AUTH_LOG")
        .env("COMPLIANCE_API_KEY", "sk-wrong")
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        format!(
            "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: HTTP 401: {BAD_KEY}\n{KEY_HINT}\n"
        )
    );
    let id = &sim.files(sim.ws(), "AUTH_LOG")[0].id;
    let out = sim
        .cmd("cl-fetch")
        .env("COMPLIANCE_API_KEY", "sk-wrong")
        .args(["-q", "--principal", sim.ws(), id])
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        format!(
            "cl-fetch: downloading {id}: HTTP 401: {BAD_KEY}\n{KEY_HINT}\n\
             cl-fetch: delivered 0 files (0 B): 0 downloaded, 0 already delivered; 1 FAILED\n"
        )
    );
}

#[test]
fn a_missing_key_is_a_configuration_error_naming_the_variable() {
    let sim = Sim::start();
    for tool in ["cl-list", "cl-fetch"] {
        let out = sim
            .cmd(tool)
            .env_remove("COMPLIANCE_API_KEY")
            .env("COMPLIANCE_PRINCIPAL", sim.ws())
            .args(one_request(tool))
            .assert_exit(2);
        assert_eq!(
            stderr(&out),
            format!("{tool}: no API key: set COMPLIANCE_API_KEY or give --api-key-file FILE\n")
        );
        assert!(sim.requests().is_empty());
    }
    let out = sim
        .cmd("cl-list")
        .args([
            "--api-key-file",
            "/nonexistent/key",
            sim.ws(),
            "-e",
            "A",
            "--after",
            "1h",
        ])
        .assert_exit(2);
    assert!(stderr(&out).starts_with("cl-list: cannot read API key file /nonexistent/key: "));
}

#[test]
fn bad_flags_and_times_are_usage_errors() {
    let sim = Sim::start();
    let ws = sim.ws();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "cl-list",
            &[ws, "-e", "AUTH_LOG", "--after", "yesterday"],
            "cl-list: invalid time \"yesterday\"",
        ),
        (
            "cl-list",
            &[ws, "-e", "AUTH_LOG", "--after", "2026-07-01T00:00:00"],
            "cl-list: invalid time",
        ),
        (
            "cl-list",
            &[ws, "-e", "AUTH_LOG", "--after", "1h", "--before", "x"],
            "cl-list: invalid time \"x\"",
        ),
        (
            "cl-list",
            &[ws, "-e", "AUTH_LOG"],
            "cl-list: --after is required",
        ),
        (
            "cl-list",
            &[ws, "--after", "1h"],
            "error: the following required arguments",
        ),
        (
            "cl-list",
            &[ws, "-e", "AUTH_LOG", "--after", "1h", "--limit", "0"],
            "error: invalid value '0'",
        ),
        (
            "cl-list",
            &[ws, "-e", "AUTH LOG", "--after", "1h"],
            "cl-list: invalid event type \"AUTH LOG\"",
        ),
        (
            "cl-list",
            &["a/b", "-e", "AUTH_LOG", "--after", "1h"],
            "cl-list: invalid principal \"a/b\"",
        ),
        (
            "cl-list",
            &[ws, "--bogus"],
            "error: unexpected argument '--bogus'",
        ),
        (
            "cl-fetch",
            &["-j", "0", "eclf_x"],
            "error: invalid value '0'",
        ),
        (
            "cl-fetch",
            &["eclf_x"],
            "cl-fetch: argument 1: a bare id needs a principal",
        ),
        (
            "cl-fetch",
            &["--principal", ws, "../etc/passwd"],
            "cl-fetch: argument 1: the file id could escape",
        ),
        (
            "cl-fetch",
            &["--principal", ws, "--timeout", "0", "eclf_x"],
            "error: invalid value '0'",
        ),
    ];
    for (tool, args, want) in cases {
        let out = sim.cmd(tool).args(*args).assert_exit(2);
        assert!(
            stderr(&out).starts_with(want),
            "{tool} {args:?}: {}",
            stderr(&out)
        );
    }
    assert!(sim.requests().is_empty(), "usage errors send nothing");
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_connection() {
    for tool in ["cl-list", "cl-fetch"] {
        let out = TestCommand::new(bin_dir().join(tool))
            .env("COMPLIANCE_API_KEY", "k")
            .env(
                "COMPLIANCE_API_BASE",
                "http://api.example.com/v1/compliance",
            )
            .env("COMPLIANCE_PRINCIPAL", "ws-1")
            .args(one_request(tool))
            .assert_exit(2);
        assert_eq!(
            stderr(&out),
            format!(
                "{tool}: invalid base URL \"http://api.example.com/v1/compliance\": plain http is \
                 allowed only to loopback hosts, not api.example.com: https is required\n"
            )
        );
    }
}

#[test]
fn a_redirect_to_plain_http_elsewhere_is_refused_without_showing_its_signature() {
    let canned = Canned::start(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://blob.example.com/f?signature=SECRETSIG\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n",
    );
    let out = canned
        .cmd("cl-fetch")
        .args(["--principal", "ws-1", "-v", "eclf_x"])
        .assert_exit(1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "cl-fetch: downloading eclf_x: refused redirect to http://blob.example.com/f: plain http \
             is allowed only to loopback hosts, not blob.example.com: https is required\n"
        ),
        "{err}"
    );
    assert!(!err.contains("SECRETSIG"), "{err}");
}

#[test]
fn unknown_principal_id_and_scope_are_runtime_failures_with_the_servers_message() {
    let sim = Sim::start();
    let out = sim
        .list("00000000-0000-4000-8000-000000000000", &[], "AUTH_LOG")
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: HTTP 404: workspace \
         00000000-0000-4000-8000-000000000000 not found\n"
    );
    let out = sim
        .list(sim.org(), &[], "CONVERSATION_MESSAGE")
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        "cl-list: listing CONVERSATION_MESSAGE after 2026-07-01T00:00:00Z: HTTP 400: \
         CONVERSATION_MESSAGE is a workspace-scoped event type. Use \
         /v1/compliance/workspaces/{workspace_id}/logs instead.\n\
         hint: CONVERSATION_MESSAGE belongs to workspaces: list it with a workspace id (a UUID)\n"
    );
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "--principal", sim.ws(), "eclf_nope"])
        .assert_exit(1);
    assert!(
        stderr(&out).starts_with(
            "cl-fetch: downloading eclf_nope: HTTP 404: log file eclf_nope not found\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_lines_are_reported_by_number_and_every_good_line_is_delivered() {
    let sim = Sim::start();
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let input = format!(
        "{a}\nnot an id\n\n{{\"id\":\"../../etc/passwd\",\"principal\":\"{ws}\"}}\n{{broken json\n{b}\n\
         {{\"no_id\":1}}\n{c}\n",
        a = files[0].id,
        b = files[1].id,
        c = files[2].id,
        ws = sim.ws()
    );
    let out = sim
        .cmd("cl-fetch")
        .args(["-q", "-j", "3", "--principal", sim.ws()])
        .stdin(input)
        .assert_exit(1);
    assert_bytes(
        &out.stdout,
        &sim.stream([files[0].id.as_str(), &files[1].id, &files[2].id]),
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert_eq!(
        lines[0],
        "cl-fetch: line 2: expected a file id or a JSON object with an \"id\" field"
    );
    assert_eq!(
        lines[1],
        "cl-fetch: line 4: the file id could escape the output directory: \"../../etc/passwd\""
    );
    assert!(
        lines[2].starts_with("cl-fetch: line 5: not a valid JSON object: "),
        "{err}"
    );
    assert_eq!(
        lines[3],
        "cl-fetch: line 7: the JSON object has no \"id\" field"
    );
    assert!(
        lines[4].ends_with("3 downloaded, 0 already delivered; 4 FAILED"),
        "{err}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_success() {
    let sim = Sim::with(|c| {
        c.dataset.files_per_type = 600;
        c.dataset.file_size = 200;
    });
    let out = sim
        .sh("cl-list \"$P\" -q -e AUTH_LOG --after 2026-07-01T00:00:00Z --limit 100 | head -1 >/dev/null; \
             echo \"status ${PIPESTATUS[0]}\"")
        .assert_exit(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "status 0\n");
    assert_eq!(stderr(&out), "");
    let out = sim
        .sh(
            "cl-list \"$P\" -q -e AUTH_LOG --after 2026-07-01T00:00:00Z --limit 100 \
             | cl-fetch -q -j 8 | head -c 100 >/dev/null; echo \"status ${PIPESTATUS[1]}\"",
        )
        .assert_exit(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "status 0\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn malformed_pages_and_stuck_cursors_fail_with_what_was_wrong() {
    let html = Canned::start(
        "HTTP/1.1 200 OK\r\ncontent-length: 13\r\nconnection: close\r\n\r\n<html>x</html>",
    );
    let out = html
        .list_after("ws-1", &["-q", "--retries", "0"], "AUTH_LOG", BEFORE_ALL)
        .assert_exit(1);
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: malformed page: not JSON"
        ) && err.ends_with("; body starts with \"<html>x</html\"\n"),
        "{err}"
    );

    let page = r#"{"data":[],"has_more":true,"last_end_time":"2026-07-01T00:00:00+00:00"}"#;
    let stuck = Canned::start(format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    ));
    let out = stuck
        .list_after("ws-1", &["-q"], "AUTH_LOG", BEFORE_ALL)
        .assert_exit(1);
    assert_eq!(
        stderr(&out),
        "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: server fault: has_more is true but \
         the cursor did not advance (last_end_time 2026-07-01T00:00:00+00:00); stopping instead of \
         asking again\n"
    );
    assert_eq!(stuck.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn the_key_never_appears_in_any_output() {
    let sim = Sim::start();
    let id = &sim.files(sim.ws(), "AUTH_LOG")[0].id;
    let runs = [
        sim.list(sim.ws(), &["-v"], "AUTH_LOG").output(),
        sim.list("nope", &["-v"], "AUTH_LOG").output(),
        sim.cmd("cl-list").arg("--help").output(),
        sim.cmd("cl-fetch")
            .args(["-v", "--principal", sim.ws(), id, "eclf_missing"])
            .output(),
        sim.cmd("cl-fetch").arg("--help").output(),
        sim.cmd("cl-fetch").args(["--bogus"]).output(),
    ];
    for out in runs {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!all.contains(sim.key()), "{all}");
        assert!(!all.contains("signature="), "{all}");
    }
}
