//! What only Windows does differently, run against the Windows builds under Wine by
//! scripts/test-windows (`--run-ignored all`); ignored in the Linux suite.

use crate::util::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Holds `file` open from a Windows program, sharing reading and writing but not renaming
/// (as most readers, indexers and scanners do), for `seconds`; returns once it is held.
fn hold(file: &Path, seconds: u32) -> Child {
    let mut child = Command::new("wine")
        .arg(bin_dir().join("holdopen.exe"))
        .arg(native_path(file))
        .arg(seconds.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = [0u8; 4];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut said).unwrap();
    assert_eq!(&said, b"held");
    child
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn a_file_another_program_holds_open_is_replaced_once_it_lets_go() {
    if !needs("wine", "scripts/test-windows installs it") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let listing = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    let fetch = || {
        sim.cmd("cl-fetch")
            .args(["-q", "-o", "lake"])
            .current_dir(dir.path())
            .stdin(listing.clone())
            .output()
    };
    assert!(fetch().status.success());
    let f = &sim.files(sim.ws(), "AUTH_LOG")[0];
    let victim = dir.path().join(format!(
        "lake/{}/AUTH_LOG/2026-07-16/{}.jsonl",
        sim.ws(),
        f.id
    ));

    // Held for a moment: the replacement waits it out.
    std::fs::write(&victim, "damaged\n").unwrap();
    let mut holder = hold(&victim, 1);
    let out = fetch();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bytes(&std::fs::read(&victim).unwrap(), &sim.content(&f.id));
    let _ = holder.wait();

    // Held for longer than the tools wait: one clear error naming the file, and what to do.
    std::fs::write(&victim, "damaged\n").unwrap();
    let mut holder = hold(&victim, 10);
    let out = fetch();
    // A bounded wait: it gave up while the file was still held.
    let gave_up_first = holder.try_wait().unwrap().is_none();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}.jsonl could not be replaced: another program holds it open",
            f.id
        )) && err.contains("hint: close what has it open"),
        "{err}"
    );
    assert!(gave_up_first, "bounded wait");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn the_state_file_is_saved_while_another_program_reads_it() {
    if !needs("wine", "scripts/test-windows installs it") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        sim.sh(&format!(
            "cl-list \"$P\" -q -e AUTH_LOG --after {BEFORE_ALL} --limit 3 --state s.json \
             | cl-fetch -q --state s.json > out.jsonl"
        ))
        .current_dir(dir.path())
        .output()
    };
    let first = sim
        .list(sim.ws(), &["-q", "--limit", "3"], "AUTH_LOG")
        .stdout();
    let three: String = first.lines().take(3).map(|l| format!("{l}\n")).collect();
    sim.cmd("cl-fetch")
        .args(["-q", "--state", "s.json"])
        .current_dir(dir.path())
        .stdin(three)
        .stdout();
    let mut holder = hold(&dir.path().join("s.json"), 1);
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = holder.wait();
    let state = std::fs::read_to_string(dir.path().join("s.json")).unwrap();
    assert!(
        state.contains(&sim.files(sim.ws(), "AUTH_LOG")[6].end_time),
        "{state}"
    );
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn ctrl_c_stops_a_feed_cleanly() {
    let sim = Sim::start();
    // Wine turns SIGINT into the console's Ctrl-C event.
    let out = std::env::temp_dir().join(format!("feed-{}", std::process::id()));
    let mut feed = sim
        .list(sim.ws(), &["-q"], "AUTH_LOG")
        .args(["--follow", "--interval", "1"])
        .spawn(None, &out);
    // Once it has caught up (its console handler set long before), and is following: a poll
    // after the catch-up.
    wait_until(Duration::from_secs(60), "the feed to catch up", || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            >= 7
    });
    let lists = || sim.requests().iter().filter(|r| r.query.is_some()).count();
    let caught_up = lists();
    wait_until(Duration::from_secs(60), "a poll after the catch-up", || {
        lists() > caught_up
    });
    signal(feed.id(), "INT", false);
    let status = exited(
        &mut feed,
        Duration::from_secs(30),
        "the feed to stop after Ctrl-C",
    );
    let mut err = String::new();
    std::io::Read::read_to_string(feed.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(!err.contains("page fault"), "{err}");
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn an_exec_command_reaches_cmd_as_written_quotes_pipes_and_variables_included() {
    if !needs("wine", "scripts/test-windows installs it") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let listing = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    // Inner double quotes (a quoted program path, a file name with a space), a pipe and
    // %VARIABLES%: quoted for a C program's argv instead, cmd.exe would see `\"`.
    let sink = native_path(&bin_dir().join("sink.exe"));
    let command = format!(r#""{sink}" | echo "%CL_ID% %CL_EVENT_TYPE%" >> "id list.txt""#);
    let out = sim
        .cmd("cl-fetch")
        // One at a time: cmd's `>>` from calls in parallel can lose a line.
        .args(["-q", "-j", "1", "--exec", &command])
        .current_dir(dir.path())
        .stdin(listing)
        .output();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files = sim.files(sim.ws(), "AUTH_LOG");
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| format!("\"{} AUTH_LOG\"", f.id))
        .collect();
    let said = std::fs::read_to_string(dir.path().join("id list.txt")).unwrap();
    // cmd's echo keeps the space before `>>` and ends lines with CRLF.
    let mut said: Vec<&str> = said.lines().map(str::trim_end).collect();
    // Files are handed over in parallel: in any order.
    said.sort_unstable();
    expected.sort_unstable();
    assert_eq!(said, expected);
    for f in &files {
        assert_bytes(
            &std::fs::read(dir.path().join("sink").join(&f.id)).unwrap(),
            &sim.stream([&f.id]),
        );
    }
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn a_file_this_account_may_not_replace_is_a_permission_error_at_once() {
    if !needs("wine", "scripts/test-windows installs it") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let listing = sim.list(sim.ws(), &["-q"], "AUTH_LOG").stdout();
    let fetch = || {
        sim.cmd("cl-fetch")
            .args(["-q", "-o", "lake"])
            .current_dir(dir.path())
            .stdin(listing.clone())
            .output()
    };
    assert!(fetch().status.success());
    let f = &sim.files(sim.ws(), "AUTH_LOG")[0];
    let victim = dir.path().join(format!(
        "lake/{}/AUTH_LOG/2026-07-16/{}.jsonl",
        sim.ws(),
        f.id
    ));
    // A directory in the file's place: Windows refuses the rename with the same
    // ERROR_ACCESS_DENIED as over a file held open (so does a file whose access list denies
    // this account, which Wine cannot show). Told apart, named for what it is, not waited out.
    std::fs::remove_file(&victim).unwrap();
    std::fs::create_dir(&victim).unwrap();
    let out = fetch();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}.jsonl could not be replaced: permission denied",
            f.id
        )) && err.contains("hint: let the account that runs the tools modify files")
            && !err.contains("holds it open"),
        "{err}"
    );
    assert!(victim.is_dir());
}

#[test]
#[ignore = "Windows only: scripts/test-windows runs it under Wine"]
fn cl_pull_exe_delivers_everything_then_nothing_and_fails_on_a_rejected_key() {
    if !needs("wine", "scripts/test-windows installs it") {
        return;
    }
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    // Settings as a Windows user writes them: CRLF line ends, paths relative to the file.
    let settings = |key: &str| {
        std::fs::write(dir.path().join("key"), format!("{key}\r\n")).unwrap();
        let conf = format!(
            "COMPLIANCE_PRINCIPAL={}\r\nCOMPLIANCE_API_KEY_FILE=key\r\nCOMPLIANCE_API_BASE={}\r\n\
             COMPLIANCE_RETENTION=36500d\r\nEVENT_TYPES=AUTH_LOG,AUDIT_LOG\r\n\
             FIRST_AFTER={BEFORE_ALL}\r\nOUTPUT_DIR=lake\r\nSTATE_FILE=state\\pull.json\r\n\
             LOG_FILE=cl.log\r\n",
            sim.ws(),
            sim.base_url()
        );
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("pull.conf"), conf).unwrap();
    };
    // As Task Scheduler starts it: the program and the settings file, nothing else.
    let pull = || {
        Command::new(bin_dir().join("cl-pull"))
            .arg(native_path(&dir.path().join("pull.conf")))
            .env_remove("COMPLIANCE_API_KEY")
            .env_remove("COMPLIANCE_API_BASE")
            .env_remove("COMPLIANCE_PRINCIPAL")
            .output()
            .unwrap()
    };
    let log = || std::fs::read_to_string(dir.path().join("cl.log")).unwrap_or_default();
    settings(sim.key());
    let out = pull();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nlog: {}",
        stderr(&out),
        log()
    );
    let files = sim.all_files(&["AUTH_LOG", "AUDIT_LOG"]);
    for file in &files {
        let path = dir.path().join(format!(
            "lake/{}/{}/2026-07-16/{}.jsonl",
            sim.ws(),
            file.event_type,
            file.id
        ));
        assert_bytes(&std::fs::read(&path).unwrap(), &sim.content(&file.id));
    }
    assert!(
        log().contains(&format!(
            ": {} file(s) delivered (run started ",
            files.len()
        )),
        "{}",
        log()
    );
    // The next hour: nothing new, nothing again.
    let downloads = sim.downloads();
    let out = pull();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sim.downloads(), downloads, "a rerun downloads nothing");
    assert!(log().contains(": 0 file(s) delivered"), "{}", log());
    // A rejected key: the run fails, and says why in its log.
    settings("sk-wrong");
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let out = pull();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        log().contains("HTTP 401") && log().contains("cl-list exited 1"),
        "{}",
        log()
    );
}
