//! What `deploy/` ships, run as it is deployed: `cl-pull` under cron's bare environment, the
//! systemd units through `systemd-analyze verify`, the Kubernetes manifests against the
//! Kubernetes schemas. (The container image has its own script, scripts/test-container.)

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A user's home as the README sets it up: the tools and cl-pull in `~/.cargo/bin`, a settings
/// file in `~/cl/pull.conf` naming a key file beside it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(sim: &Sim, key: &str, extra: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join(".cargo/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["cl-list", "cl-fetch"] {
            std::os::unix::fs::symlink(bin_dir().join(tool), bin.join(tool)).unwrap();
        }
        // Installed as `install` would (a file of its own, not a link), so that "beside
        // cl-pull" is ~/.cargo/bin.
        install_cl_pull(&bin);
        let cl = dir.path().join("cl");
        std::fs::create_dir(&cl).unwrap();
        std::fs::write(cl.join("key"), format!("{key}\n")).unwrap();
        let conf = format!(
            "# a test's settings\n\
             COMPLIANCE_PRINCIPAL={}\n\
             COMPLIANCE_API_KEY_FILE=key\n\
             COMPLIANCE_API_BASE={}\n\
             COMPLIANCE_RETENTION=36500d\n\
             EVENT_TYPES=AUTH_LOG,AUDIT_LOG\n\
             FIRST_AFTER={BEFORE_ALL}\n\
             OUTPUT_DIR=lake\n\
             STATE_FILE=state/pull.json\n\
             LOG_FILE=cl.log\n\
             {extra}",
            sim.ws(),
            sim.base_url()
        );
        std::fs::write(cl.join("pull.conf"), conf).unwrap();
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cl(&self, name: &str) -> PathBuf {
        self.dir.path().join("cl").join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.cl("cl.log")).unwrap_or_default()
    }

    /// How many lines of the manifest have `status`.
    fn manifest_lines(&self, status: &str) -> usize {
        std::fs::read_to_string(self.cl("state/pull.manifest.jsonl"))
            .unwrap_or_default()
            .matches(&format!("\"status\":\"{status}\""))
            .count()
    }

    /// Delivered files under `lake/`, as sorted relative paths.
    fn lake(&self) -> Vec<String> {
        let lake = self.cl("lake");
        if !lake.exists() {
            return Vec::new();
        }
        tree(&lake)
    }

    /// The crontab line's command as cron runs it: `sh -c`, PATH=/usr/bin:/bin, HOME, nothing
    /// else.
    fn cron(&self, command: &str) -> std::process::Output {
        Command::new("env")
            .args(["-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=cl"])
            .arg(format!("HOME={}", self.path().display()))
            .args(["sh", "-c", command])
            .current_dir(self.path())
            .output()
            .unwrap()
    }

    /// cl-pull as cron would start it, with no shell between: PATH=/usr/bin:/bin, HOME,
    /// nothing else.
    fn pull(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("env");
        cmd.args(["-i", "PATH=/usr/bin:/bin"])
            .arg(format!("HOME={}", self.path().display()))
            .arg(self.path().join(".cargo/bin/cl-pull"))
            .args(args)
            .arg(self.cl("pull.conf"));
        cmd
    }
}

/// cl-pull as a file in `dir`: a hard link to the build where it can be (it is large), else a
/// copy.
fn install_cl_pull(dir: &Path) -> PathBuf {
    let to = dir.join("cl-pull");
    let from = bin_dir().join("cl-pull");
    if std::fs::hard_link(&from, &to).is_err() {
        std::fs::copy(&from, &to).unwrap();
    }
    to
}

/// The processes `pid` started that are still running.
fn children(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// The crontab line the README installs.
const CRON_COMMAND: &str = "$HOME/.cargo/bin/cl-pull $HOME/cl/pull.conf";

#[test]
fn cl_pull_under_crons_environment_delivers_every_file_then_nothing_new() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    let out = home.cron(CRON_COMMAND);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}\nlog: {}",
        home.log()
    );
    let files = sim.all_files(&["AUTH_LOG", "AUDIT_LOG"]);
    assert_eq!(home.lake().len(), files.len(), "{:?}", home.lake());
    for file in &files {
        let path = home.cl("lake").join(format!(
            "{}/{}/2026-07-16/{}.jsonl",
            sim.ws(),
            file.event_type,
            file.id
        ));
        assert_bytes(&std::fs::read(&path).unwrap(), &sim.content(&file.id));
    }
    assert_eq!(home.manifest_lines("downloaded"), 14);
    let log = home.log();
    assert!(
        log.contains(": 14 file(s) delivered (run started "),
        "{log}"
    );
    assert_eq!(log.lines().count(), 1, "{log}");

    // The next hour: nothing new, nothing again.
    let downloads = sim.downloads();
    let out = home.cron(CRON_COMMAND);
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    assert_eq!(sim.downloads(), downloads, "a rerun downloads nothing");
    assert_eq!(home.lake().len(), 14);
    let log = home.log();
    assert!(
        log.lines()
            .nth(1)
            .unwrap()
            .contains(": 0 file(s) delivered"),
        "{log}"
    );
    assert!(
        !std::fs::read_to_string(home.cl("state/pull.manifest.jsonl"))
            .unwrap()
            .lines()
            .skip(14)
            .any(|l| l.contains("\"status\":\"downloaded\"")),
        "a rerun delivers nothing twice"
    );
}

#[test]
fn cl_pull_with_event_types_all_pulls_every_type_the_key_may_read() {
    // APP_LOG is not granted to the key: under all it is said once and skipped, not a failure.
    let sim = Sim::with(|c| c.faults.ungranted = vec!["APP_LOG".into()]);
    let home = Home::new(&sim, sim.key(), "");
    let conf = std::fs::read_to_string(home.cl("pull.conf")).unwrap();
    let conf = conf.replace("EVENT_TYPES=AUTH_LOG,AUDIT_LOG", "EVENT_TYPES=all");
    std::fs::write(home.cl("pull.conf"), conf).unwrap();
    let out = home.cron(CRON_COMMAND);
    assert!(out.status.success(), "{out:?}\nlog: {}", home.log());
    let types: Vec<&str> = cl_core_types()
        .into_iter()
        .filter(|t| *t != "APP_LOG")
        .collect();
    let files = sim.all_files(&types);
    assert_eq!(home.lake().len(), files.len(), "{:?}", home.lake());
    let log = home.log();
    assert!(
        log.contains(&format!(
            ": {} file(s) delivered (run started ",
            files.len()
        )),
        "{log}"
    );
    assert_eq!(
        log.matches("APP_LOG skipped (from all)").count(),
        1,
        "said once: {log}"
    );
    // The next hour: nothing new.
    let downloads = sim.downloads();
    assert!(home.cron(CRON_COMMAND).status.success());
    assert_eq!(sim.downloads(), downloads, "a rerun downloads nothing");
}

/// The workspace event types `-e all` stands for, from the list the tools use.
fn cl_core_types() -> Vec<&'static str> {
    cl_core::model::event_types::all(cl_core::model::principal::Scope::Workspaces).collect()
}

#[test]
fn cl_pull_with_a_rejected_key_fails_the_job_and_says_why_in_its_log() {
    let sim = Sim::start();
    let home = Home::new(&sim, "sk-wrong", "");
    let out = home.cron(CRON_COMMAND);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let log = home.log();
    assert!(
        log.contains("cl-list: listing AUTH_LOG") && log.contains("HTTP 401"),
        "both tools' messages are in the log: {log}"
    );
    assert!(
        log.contains("cl-pull: ")
            && log.contains(": cl-list exited 1, cl-fetch exited 0; 0 file(s) delivered"),
        "{log}"
    );
    // cron mails what the job printed: one line, the details being in the log.
    let said = stderr(&out);
    assert!(
        said.starts_with("cl-pull: ")
            && said.ends_with(&format!("; see {}\n", home.cl("cl.log").display()))
            && said.lines().count() == 1
            && said.contains(": cl-list exited 1, cl-fetch exited 0; 0 file(s) delivered"),
        "{said}"
    );
    assert!(home.lake().is_empty());
}

/// Stops a run mid-way with `signal`; it must exit with `code`, leave nothing running or
/// half-written, and the next run must deliver the rest, nothing twice.
fn stop_mid_run(signal_name: &str, code: i32) {
    if !needs("pgrep", "apt-get install procps") {
        return;
    }
    // Slow downloads, so the run is mid-way when it is stopped.
    let sim = Sim::with(|c| c.faults.latency = Duration::from_millis(100));
    // Two files a page, so cl-list is still listing while cl-fetch delivers.
    let home = Home::new(&sim, sim.key(), "JOBS=2\nLIST_OPTIONS=--limit 2\n");
    let mut run = home.pull(&[]).spawn().unwrap();
    // Stopped once two files are delivered (their manifest lines out), both tools running.
    let manifest = home.cl("state/pull.manifest.jsonl");
    let mut tools = Vec::new();
    wait_until(Duration::from_secs(60), "two manifest lines", || {
        let lines = std::fs::read_to_string(&manifest).unwrap_or_default();
        tools = children(run.id());
        lines.lines().count() >= 2 && tools.len() == 2
    });
    // The signal goes to cl-pull alone, as a service manager's does: it passes it on.
    signal(run.id(), signal_name, false);
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(code), "{}", home.log());
    for pid in tools {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "tool {pid} outlived cl-pull"
        );
    }
    let log = home.log();
    let said = format!(": cl-list exited {code}, cl-fetch exited {code}; ");
    assert!(
        log.contains(&said),
        "both tools stopped by the signal: {log}"
    );
    let delivered = home.lake().len();
    assert!(delivered > 0 && delivered < 14, "{delivered} delivered");
    assert!(
        home.lake().iter().all(|p| !p.contains(".part")),
        "{:?}",
        home.lake()
    );
    let pids = Command::new("pgrep")
        .args(["-f", &home.path().display().to_string()])
        .output()
        .unwrap();
    assert!(pids.stdout.is_empty(), "nothing left running");
    let out = home.cron(CRON_COMMAND);
    assert!(out.status.success(), "{out:?}\n{}", home.log());
    assert_eq!(home.lake().len(), 14);
    let manifest = std::fs::read_to_string(manifest).unwrap();
    assert_eq!(manifest.matches("\"status\":\"downloaded\"").count(), 14);
}

#[test]
fn sigterm_stops_a_cl_pull_run_with_143_and_nothing_half_written() {
    stop_mid_run("TERM", 143);
}

#[test]
fn sigint_stops_a_cl_pull_run_with_130() {
    stop_mid_run("INT", 130);
}

#[test]
fn cl_pull_finds_the_tools_beside_it_without_home_or_path() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    // /usr/local/bin style: cl-pull and the tools in one directory, no HOME at all (and on
    // PATH only /usr/bin and /bin).
    let out = Command::new("env")
        .args(["-i", "PATH=/usr/bin:/bin", "sh", "-c"])
        .arg(format!(
            "cd / && {}/.cargo/bin/cl-pull {}",
            home.path().display(),
            home.cl("pull.conf").display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{}", home.log());
    assert_eq!(home.lake().len(), 14);
}

#[test]
fn cl_pull_alone_in_a_directory_finds_the_tools_in_cargos_bin_under_home() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let pull = install_cl_pull(&elsewhere);
    std::fs::remove_file(home.path().join(".cargo/bin/cl-pull")).unwrap();
    let out = Command::new("env")
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(format!("HOME={}", home.path().display()))
        .arg(&pull)
        .arg(home.cl("pull.conf"))
        .current_dir("/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{}", home.log());
    assert_eq!(home.lake().len(), 14);
    // And where it finds none, it says where it looked.
    std::fs::remove_dir_all(home.path().join(".cargo")).unwrap();
    let out = Command::new("env")
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(format!("HOME={}", home.path().display()))
        .arg(&pull)
        .arg(home.cl("pull.conf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let said = stderr(&out);
    assert_eq!(
        said,
        format!(
            "cl-pull: cannot find cl-list (beside {}, on PATH, in {}/.cargo/bin, /usr/local/bin \
             and /usr/bin); set CL_BIN_DIR (see {})\n",
            elsewhere.display(),
            home.path().display(),
            home.cl("cl.log").display()
        ),
    );
}

#[test]
fn cl_pull_refuses_a_bad_settings_file_with_exit_2_naming_the_line() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    let pull = bin_dir().join("cl-pull");
    let run = |conf: &str| {
        std::fs::write(home.cl("bad.conf"), conf).unwrap();
        Command::new("env")
            .args(["-i", "PATH=/usr/bin:/bin"])
            .arg(&pull)
            .arg(home.cl("bad.conf"))
            .output()
            .unwrap()
    };
    let bad = home.cl("bad.conf").display().to_string();
    for (conf, said) in [
        (
            "COMPLIANCE_PRINCIPAL=x\nEVENT_TYPES=AUTH_LOG\nOUTPUT_DIR=lake\n".to_owned(),
            format!("cl-pull: {bad}: STATE_FILE is not set\n"),
        ),
        (
            "COMPLIANCE_PRINCIPAL=x\nEVENT_TYPE=AUTH_LOG\n".to_owned(),
            format!("cl-pull: {bad}:2: unknown setting EVENT_TYPE\n"),
        ),
        (
            "COMPLIANCE_PRINCIPAL=x\nrm -rf /\n".to_owned(),
            format!("cl-pull: {bad}:2: expected NAME=value, got: rm -rf /\n"),
        ),
        (
            "COMPLIANCE_PRINCIPAL=x\nX; rm=1\n".to_owned(),
            format!("cl-pull: {bad}:2: expected NAME=value, got: X; rm=1\n"),
        ),
        (
            "COMPLIANCE_PRINCIPAL=x\nEVENT_TYPES=A\nSTATE_FILE=s.json\nOUTPUT_DIR=lake\nEXEC=cat\n"
                .to_owned(),
            format!("cl-pull: {bad}: set OUTPUT_DIR or EXEC, not both\n"),
        ),
        (
            "COMPLIANCE_PRINCIPAL=x\nEVENT_TYPES=A\nSTATE_FILE=s.json\nOUTPUT_DIR=lake\n"
                .to_owned(),
            format!(
                "cl-pull: {bad}: COMPLIANCE_API_KEY_FILE is not set (nor $COMPLIANCE_API_KEY)\n"
            ),
        ),
        (
            "# settings\nJOBS=1\nLOG_FORMAT=yaml\n".to_owned(),
            format!("cl-pull: {bad}: LOG_FORMAT must be text or json\n"),
        ),
        (
            "LOG_FORMAT=json\nJOBS=all\n".to_owned(),
            format!(
                "{{\"tool\":\"cl-pull\",\"level\":\"error\",\"message\":\"{bad}: \
                 COMPLIANCE_PRINCIPAL is not set\"}}\n"
            ),
        ),
    ] {
        let out = run(&conf);
        assert_eq!(out.status.code(), Some(2), "{conf}: {out:?}");
        assert_eq!(stderr(&out), said, "{conf}");
    }
    let help = Command::new(&pull).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success() && text.starts_with("One unattended run of cl-list"));
    for setting in [
        "COMPLIANCE_PRINCIPAL",
        "EVENT_TYPES",
        "EXEC",
        "LOG_FILE",
        "Exit status",
    ] {
        assert!(text.contains(setting), "--help lacks {setting}:\n{text}");
    }
    let out = Command::new(&pull).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\nUsage: cl-pull <CONFIG>\n"),
        "{}",
        stderr(&out)
    );
    let out = Command::new(&pull)
        .arg("/nonexistent.conf")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "cl-pull: cannot read the settings file /nonexistent.conf\n"
    );
    assert!(!home.cl("state").exists() && !home.cl("lake").exists());
}

#[test]
fn cl_pull_values_are_taken_as_written_and_quotes_are_optional() {
    let sim = Sim::start();
    // A value with spaces, quotes, `$` and `;`, handed to --exec untouched.
    let home = Home::new(
        &sim,
        sim.key(),
        "JOBS=1\nEXEC='cat >> \"sink dir/$CL_EVENT_TYPE.jsonl\"; test \"$CL_BYTES\" -gt 0'\n",
    );
    let conf = std::fs::read_to_string(home.cl("pull.conf"))
        .unwrap()
        .replace("OUTPUT_DIR=lake\n", "");
    std::fs::write(home.cl("pull.conf"), conf).unwrap();
    std::fs::create_dir(home.cl("sink dir")).unwrap();
    let out = home.cron(CRON_COMMAND);
    assert!(out.status.success(), "{out:?}\n{}", home.log());
    for event_type in ["AUTH_LOG", "AUDIT_LOG"] {
        let got = std::fs::read(home.cl(&format!("sink dir/{event_type}.jsonl"))).unwrap();
        assert_bytes(&got, &sim.stream(sim.ids(event_type)));
    }
    assert_eq!(home.manifest_lines("delivered"), 14);
}

#[test]
fn an_overlapping_cl_pull_skips_and_says_so_while_the_first_delivers_everything() {
    if !needs("flock", "apt-get install util-linux") {
        return;
    }
    // Slow enough that the first run is still going when the second starts.
    let sim = Sim::with(|c| c.faults.latency = Duration::from_millis(150));
    let home = Home::new(&sim, sim.key(), "JOBS=1\n");
    let command = format!(
        "env -i PATH=/usr/bin:/bin HOME={} sh -c '{CRON_COMMAND}'",
        home.path().display()
    );
    let mut first = Command::new("sh").args(["-c", &command]).spawn().unwrap();
    // Wait until the first run holds the lock, then start a second. cl-pull takes the lock
    // before it starts the tools, and holds it until both end: the simulator's first
    // request means it is held. (A probe with `flock -n` would take the lock itself for a
    // moment, and a first run starting at that moment would skip: seen under load.)
    wait_until(
        Duration::from_secs(60),
        "the first run to reach the simulator",
        || !sim.requests().is_empty(),
    );
    assert!(
        Command::new("flock")
            .args(["-n", "-E", "75"])
            .arg(home.cl("state/pull.json.pull.lock"))
            .arg("true")
            .status()
            .unwrap()
            .code()
            == Some(75),
        "the first run holds the lock"
    );
    let second = home.cron(CRON_COMMAND);
    assert!(second.status.success(), "{second:?}");
    assert!(first.wait().unwrap().success(), "{}", home.log());
    let log = home.log();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "cl-pull: {}: skipped: an earlier run on state/pull.json is still going",
            home.cl("pull.conf").display()
        ),
        "{log}"
    );
    assert!(lines[1].contains(": 14 file(s) delivered"), "{log}");
    assert_eq!(home.lake().len(), 14);
}

#[test]
fn cl_pull_follow_is_a_feed_that_sigterm_stops_cleanly() {
    if !needs("pgrep", "apt-get install procps") {
        return;
    }
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "FOLLOW_INTERVAL=1\n");
    let mut feed = home.pull(&["--follow"]).spawn().unwrap();
    // Every file stored, and its manifest line written.
    let manifest = home.cl("state/pull.manifest.jsonl");
    wait_until(Duration::from_secs(60), "14 files delivered", || {
        let lines = std::fs::read_to_string(&manifest).unwrap_or_default();
        lines.matches("\"status\":\"downloaded\"").count() == 14
    });
    assert_eq!(home.lake().len(), 14);
    // What a service manager does to stop it: SIGTERM to the main process.
    signal(feed.id(), "TERM", false);
    let status = feed.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", home.log());
    assert!(
        home.log().contains(": 14 file(s) delivered"),
        "{}",
        home.log()
    );
    let pids = Command::new("pgrep")
        .args(["-f", &home.path().display().to_string()])
        .output()
        .unwrap();
    assert!(pids.stdout.is_empty(), "nothing left running");
}

/// Settings as people write them: a byte-order mark, indented comments and names, a command
/// whose own quotes start and end it, a state file whose name starts with `-`, JSON logs.
#[test]
fn cl_pull_reads_settings_as_people_write_them() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    let conf = std::fs::read_to_string(home.cl("pull.conf"))
        .unwrap()
        .replace("OUTPUT_DIR=lake\n", "")
        .replace("STATE_FILE=state/pull.json", "STATE_FILE=-state.json")
        .replace("EVENT_TYPES=", "  EVENT_TYPES=")
        + "  # an indented comment\n\tLOG_FORMAT=json\nJOBS=1\n\
           EXEC='/bin/sh' -c 'cat >> \"out/$CL_EVENT_TYPE.jsonl\"'\n";
    std::fs::write(home.cl("pull.conf"), format!("\u{feff}{conf}")).unwrap();
    std::fs::create_dir(home.cl("out")).unwrap();
    let out = home.cron(CRON_COMMAND);
    assert!(out.status.success(), "{out:?}\n{}", home.log());
    for event_type in ["AUTH_LOG", "AUDIT_LOG"] {
        let got = std::fs::read(home.cl(&format!("out/{event_type}.jsonl"))).unwrap();
        assert_bytes(&got, &sim.stream(sim.ids(event_type)));
    }
    assert!(home.cl("-state.json").exists() && home.cl("-state.manifest.jsonl").exists());
    let log = home.log();
    assert!(!log.is_empty());
    for line in log.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(value["tool"], "cl-pull", "{line}");
    }
}

#[test]
fn what_an_exec_command_leaves_running_does_not_hold_the_next_run_back() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    let conf = std::fs::read_to_string(home.cl("pull.conf"))
        .unwrap()
        .replace("OUTPUT_DIR=lake\n", "")
        + "EXEC=cat > \"out/$CL_ID\"; (sleep 5 > /dev/null 2>&1 &)\n";
    std::fs::write(home.cl("pull.conf"), conf).unwrap();
    std::fs::create_dir(home.cl("out")).unwrap();
    assert!(home.cron(CRON_COMMAND).status.success(), "{}", home.log());
    assert!(home.cron(CRON_COMMAND).status.success(), "{}", home.log());
    let log = home.log();
    assert!(!log.contains("skipped"), "{log}");
    assert_eq!(log.lines().count(), 2, "{log}");
    assert_eq!(std::fs::read_dir(home.cl("out")).unwrap().count(), 14);
}

#[test]
fn a_failure_before_the_tools_start_is_said_on_stderr_even_with_a_log_file() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    let pull = bin_dir().join("cl-pull");
    let run = |extra: &str| {
        let conf = std::fs::read_to_string(home.cl("pull.conf")).unwrap();
        std::fs::write(home.cl("other.conf"), conf + extra).unwrap();
        Command::new("env")
            .args(["-i", "PATH=/usr/bin:/bin"])
            .arg(&pull)
            .arg(home.cl("other.conf"))
            .output()
            .unwrap()
    };
    let out = run("CL_BIN_DIR=/nonexistent\n");
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let log = home.cl("cl.log").display().to_string();
    assert_eq!(
        stderr(&out),
        format!("cl-pull: cannot find cl-list (/nonexistent); set CL_BIN_DIR (see {log})\n")
    );
    assert!(home.log().contains("cannot find cl-list"));
    // A manifest that cannot be written (a directory).
    std::fs::create_dir(home.cl("manifest-dir")).unwrap();
    let out = run("MANIFEST=manifest-dir\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stderr(&out),
        format!("cl-pull: cannot append to MANIFEST manifest-dir (see {log})\n")
    );
}

#[test]
fn runs_started_together_never_hang_and_lose_nothing() {
    let sim = Sim::with(|c| c.faults.latency = Duration::from_millis(20));
    for round in 0..5 {
        let home = Home::new(&sim, sim.key(), "");
        let start = || {
            home.pull(&[])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut runs = [start(), start()];
        let mut codes = Vec::new();
        for run in &mut runs {
            let what = format!("round {round}: a run to end (it hangs)");
            codes.push(exited(run, Duration::from_secs(60), &what).code());
        }
        // One delivers, the other skips (or starts once the first is done): both succeed.
        assert_eq!(codes, [Some(0), Some(0)], "round {round}\n{}", home.log());
        // Whatever the loser missed, the next run brings; nothing comes twice.
        let out = home.pull(&[]).output().unwrap();
        assert!(out.status.success(), "{out:?}\n{}", home.log());
        assert_eq!(home.lake().len(), 14);
        assert_eq!(home.manifest_lines("downloaded"), 14);
        let left: Vec<_> = std::fs::read_dir(home.cl("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".pull.") && !n.ends_with(".lock"))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

/// --dry-run prints the pipeline a run starts, ready to paste, and does nothing else: pasted
/// into a shell as cron's, it is the run.
#[test]
fn cl_pull_dry_run_prints_the_pipeline_it_would_start_and_starts_nothing() {
    let sim = Sim::start();
    let home = Home::new(
        &sim,
        sim.key(),
        "LIST_OPTIONS=--limit 5\nLAYOUT={event_type}/{id}.jsonl\n",
    );
    let out = home.pull(&["--dry-run"]).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    let (cl, bin) = (home.cl(""), home.path().join(".cargo/bin"));
    let (cl, bin) = (cl.to_str().unwrap().trim_end_matches('/'), bin.display());
    let (ws, base) = (sim.ws(), sim.base_url());
    let env =
        format!("COMPLIANCE_PRINCIPAL={ws} COMPLIANCE_API_BASE={base} COMPLIANCE_RETENTION=36500d");
    let both = "--log-format=text -q --api-key-file=key";
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "cd {cl} && {env} {bin}/cl-list {ws} --event-type=AUTH_LOG,AUDIT_LOG \
             --after={BEFORE_ALL} --state=state/pull.json {both} --limit 5 |\n  \
             {env} {bin}/cl-fetch --jobs=4 --state=state/pull.json {both} --output-dir=lake \
             '--layout={{event_type}}/{{id}}.jsonl' >> state/pull.manifest.jsonl\n"
        )
    );
    assert!(sim.requests().is_empty(), "nothing ran");
    let made: Vec<String> = std::fs::read_dir(home.cl(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made.len(), 2, "only the settings and the key: {made:?}");
    // With --follow, cl-list's line says so.
    let out = home.pull(&["--dry-run", "--follow"]).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(" -q --api-key-file=key --follow --interval=60s --limit 5 |\n"),
        "{shown}"
    );
    // Pasted into cron's shell, it is the run: every file, the manifest, the state (in the
    // directory a run would have made first).
    std::fs::create_dir(home.cl("state")).unwrap();
    let pasted = home.cron(&String::from_utf8_lossy(
        &home.pull(&["--dry-run"]).output().unwrap().stdout,
    ));
    assert!(pasted.status.success(), "{pasted:?}");
    assert_eq!(home.lake().len(), 14);
    assert_eq!(home.manifest_lines("downloaded"), 14);
    let out = home.cron(CRON_COMMAND);
    assert!(out.status.success(), "{out:?}");
    assert!(
        home.log().contains(": 0 file(s) delivered"),
        "the state was saved: {}",
        home.log()
    );
}

/// What a run delivered is counted from the manifest lines it added, parsed: lines from
/// earlier runs and files skipped as already there do not count.
#[test]
fn cl_pull_counts_what_its_run_delivered_from_the_manifest_lines() {
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    std::fs::create_dir(home.cl("state")).unwrap();
    // Lines from before (one of them cut short by a crash, and no newline).
    let earlier = "{\"id\":\"eclf_old\",\"status\":\"downloaded\"}\n{\"id\":\"eclf_cut\",\"sta";
    std::fs::write(home.cl("state/pull.manifest.jsonl"), earlier).unwrap();
    assert!(home.cron(CRON_COMMAND).status.success(), "{}", home.log());
    let log = home.log();
    assert!(
        log.contains(": 14 file(s) delivered (run started "),
        "{log}"
    );
    // The state gone, the files still there: cl-fetch finds each whole and skips it.
    std::fs::remove_file(home.cl("state/pull.json")).unwrap();
    assert!(home.cron(CRON_COMMAND).status.success(), "{}", home.log());
    let log = home.log();
    assert!(
        log.lines()
            .nth(1)
            .unwrap()
            .contains(": 0 file(s) delivered"),
        "{log}"
    );
    assert_eq!(home.manifest_lines("skipped"), 14);
}

/// A run of the shell runner cl-pull replaced held its lock with flock(1): the same lock file,
/// the same kind of lock, so a run of either kind skips while the other goes.
#[test]
fn a_run_skips_while_flock_holds_the_lock_of_its_state() {
    if !needs("flock", "apt-get install util-linux") {
        return;
    }
    let sim = Sim::start();
    let home = Home::new(&sim, sim.key(), "");
    std::fs::create_dir(home.cl("state")).unwrap();
    let pull = home.path().join(".cargo/bin/cl-pull");
    let out = Command::new("flock")
        .arg(home.cl("state/pull.json.pull.lock"))
        .arg("env")
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(&pull)
        .arg(home.cl("pull.conf"))
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    assert_eq!(
        home.log(),
        format!(
            "cl-pull: {}: skipped: an earlier run on state/pull.json is still going\n",
            home.cl("pull.conf").display()
        )
    );
    assert!(sim.requests().is_empty(), "nothing ran");
    assert!(home.lake().is_empty());
}

/// A root for `systemd-analyze --root`: the units in /etc/systemd/system, the tools and
/// cl-pull in /usr/local/bin, the system's own units, and the man pages the units name.
fn systemd_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for dir in [
        "usr/local/bin",
        "etc/systemd/system",
        "man/man1",
        "usr/lib/systemd",
    ] {
        std::fs::create_dir_all(r.join(dir)).unwrap();
    }
    std::os::unix::fs::symlink("/lib/systemd/system", r.join("usr/lib/systemd/system")).unwrap();
    for tool in ["cl-list", "cl-fetch", "cl-pull"] {
        std::fs::copy(bin_dir().join(tool), r.join("usr/local/bin").join(tool)).unwrap();
        let page = TestCommand::new(bin_dir().join(tool)).arg("--man").stdout();
        std::fs::write(r.join(format!("man/man1/{tool}.1")), page).unwrap();
    }
    for unit in systemd_units() {
        std::fs::copy(
            &unit,
            r.join("etc/systemd/system").join(unit.file_name().unwrap()),
        )
        .unwrap();
    }
    root
}

fn systemd_units() -> Vec<PathBuf> {
    let mut units: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy/systemd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".service") || name.ends_with(".timer")
        })
        .collect();
    units.sort();
    units
}

#[test]
fn every_systemd_unit_passes_systemd_analyze_verify_without_a_warning() {
    if !needs("systemd-analyze", "apt-get install systemd") {
        return;
    }
    let units = systemd_units();
    let names: Vec<String> = units
        .iter()
        .map(|u| {
            u.file_name()
                .unwrap()
                .to_string_lossy()
                .replace("@.", "@acme.")
        })
        .collect();
    assert_eq!(
        names,
        [
            "cl-feed@acme.service",
            "cl-pull@acme.service",
            "cl-pull@acme.timer"
        ]
    );
    let root = systemd_root();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .args(&names)
        .env("MANPATH", root.path().join("man"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify {names:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // The hardening holds up in systemd's own review (0 is best, 10 worst).
    for service in ["cl-pull@acme.service", "cl-feed@acme.service"] {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
            .arg(format!("--root={}", root.path().display()))
            .arg(service)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Overall exposure level"),
            "{service}: {text}{}",
            stderr(&out)
        );
    }
}

#[test]
fn the_systemd_units_keep_the_key_out_and_install_as_the_readme_says() {
    for unit in systemd_units() {
        let text = std::fs::read_to_string(&unit).unwrap();
        let name = unit.file_name().unwrap().to_string_lossy().into_owned();
        assert!(text.contains("\n[Install]\n"), "{name}: no [Install]");
        assert!(
            !text
                .lines()
                .any(|l| !l.starts_with('#') && l.contains("COMPLIANCE_API_KEY")),
            "{name}: a key in the unit"
        );
        if name.ends_with(".service") {
            for line in [
                "LoadCredential=api-key:/etc/cl-pull/%i.key",
                "DynamicUser=yes",
                "StateDirectory=cl-pull/%i",
                "ProtectSystem=strict",
                "NoNewPrivileges=yes",
            ] {
                assert!(text.lines().any(|l| l == line), "{name}: no {line}");
            }
            assert!(
                !text.contains("Environment"),
                "{name}: keep settings in the file"
            );
        }
    }
    let timer = std::fs::read_to_string(repo().join("deploy/systemd/cl-pull@.timer")).unwrap();
    assert!(timer.contains("\nOnCalendar=hourly\n") && timer.contains("\nPersistent=true\n"));
    let oneshot = std::fs::read_to_string(repo().join("deploy/systemd/cl-pull@.service")).unwrap();
    assert!(oneshot.contains("\nType=oneshot\n"));
    let feed = std::fs::read_to_string(repo().join("deploy/systemd/cl-feed@.service")).unwrap();
    assert!(feed.contains("cl-pull --follow ") && feed.contains("\nKillMode=mixed\n"));
}

/// The systemd service as systemd starts it, as far as this machine can without systemd
/// running: the example settings (its paths moved into a temporary directory) and the key as
/// credential files, run by an unprivileged user of no account (DynamicUser) with nothing in
/// its environment but PATH and $CREDENTIALS_DIRECTORY. Needs root to switch users; as
/// another user it runs as that user.
#[test]
fn the_systemd_service_runs_as_its_dynamic_user_from_credentials_alone() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("var/lib/cl-pull/acme");
    let credentials = dir.path().join("credentials");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&credentials).unwrap();
    let conf = std::fs::read_to_string(repo().join("deploy/systemd/acme.conf"))
        .unwrap()
        .replace(
            "/var/lib/cl-pull",
            &format!("{}/var/lib/cl-pull", dir.path().display()),
        )
        .replace("f7f33107-5fb9-4ee1-8922-3eae76b5b5a0", sim.ws())
        .replace("FIRST_AFTER=24h", &format!("FIRST_AFTER={BEFORE_ALL}"))
        + &format!(
            "COMPLIANCE_API_BASE={}\nCOMPLIANCE_RETENTION=36500d\n",
            sim.base_url()
        );
    std::fs::write(credentials.join("pull.conf"), conf).unwrap();
    std::fs::write(credentials.join("api-key"), format!("{}\n", sim.key())).unwrap();
    let mut cmd = Command::new("env");
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    if uid == b"0\n" {
        // What systemd does for the service's user: the state directory and the credentials
        // are its own, nothing else is.
        for path in [
            dir.path().join("var/lib/cl-pull"),
            state.clone(),
            credentials.clone(),
            credentials.join("pull.conf"),
            credentials.join("api-key"),
        ] {
            std::os::unix::fs::chown(&path, Some(61234), Some(61234)).unwrap();
        }
        for path in [credentials.join("pull.conf"), credentials.join("api-key")] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        }
        cmd = Command::new("setpriv");
        cmd.args(["--reuid=61234", "--regid=61234", "--clear-groups", "env"]);
    }
    let out = cmd
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(format!("CREDENTIALS_DIRECTORY={}", credentials.display()))
        // systemd says so when stderr is the journal: the run's summary line is kept there.
        .arg("JOURNAL_STREAM=8:4242")
        .arg(bin_dir().join("cl-pull"))
        .arg(credentials.join("pull.conf"))
        .current_dir("/")
        .output()
        .unwrap();
    let said = stderr(&out);
    assert!(
        out.status.success()
            && said.lines().count() == 1
            && said.starts_with(&format!(
                "cl-pull: {}: 14 file(s) delivered (run started ",
                credentials.join("pull.conf").display()
            )),
        "{out:?}"
    );
    assert_eq!(tree(&state.join("lake")).len(), 14);
    let manifest = std::fs::read_to_string(state.join("state.manifest.jsonl")).unwrap();
    assert_eq!(manifest.matches("\"status\":\"downloaded\"").count(), 14);
}

fn kubernetes_manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn every_kubernetes_manifest_validates_against_the_kubernetes_schemas() {
    // On PATH, or in the virtual environment scripts/test-deps makes.
    let venv = repo().join("target/venv/bin/kubernetes-validate");
    let validate = match venv.exists() {
        true => venv.display().to_string(),
        false => "kubernetes-validate".to_owned(),
    };
    if !needs(
        &validate,
        "pip install kubernetes-validate; scripts/test-deps puts it in target/venv",
    ) {
        return;
    }
    // 1.27 is the first release with CronJob's timeZone; 1.37 the newest the validator knows.
    for version in ["1.27.0", "1.37.0"] {
        let out = Command::new(&validate)
            .args(["--strict", "--quiet", "-k", version])
            .args(kubernetes_manifests())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "kubernetes {version}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }
}

#[test]
fn the_cronjob_runs_one_at_a_time_as_non_root_with_the_key_as_a_file() {
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes/cl-pull-acme.yaml")).unwrap();
    for want in [
        "kind: CronJob",
        "concurrencyPolicy: Forbid",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [ALL]",
        "secretName: cl-pull-acme-key",
        "claimName: cl-pull-acme",
        "COMPLIANCE_API_KEY_FILE=/run/secrets/cl-pull/api-key",
        "mountPath: /run/secrets/cl-pull",
        "memory: 64Mi",
    ] {
        assert!(text.contains(want), "no {want:?}");
    }
    assert!(
        !text.contains("env:"),
        "settings and key come from files, not the environment"
    );
}

/// The ConfigMap's settings, as the CronJob's pod reads them, with the pod's paths moved into
/// a temporary directory and the simulator as the API.
#[test]
fn the_cronjobs_settings_pull_every_file_with_cl_pull() {
    let sim = Sim::start();
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes/cl-pull-acme.yaml")).unwrap();
    let conf: String = text
        .split("  pull.conf: |\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("run/secrets/cl-pull")).unwrap();
    std::fs::create_dir_all(dir.path().join("etc/cl-pull")).unwrap();
    std::fs::write(dir.path().join("run/secrets/cl-pull/api-key"), sim.key()).unwrap();
    let conf = conf
        .replace("/var/lib/cl-pull", &format!("{d}/var/lib/cl-pull"))
        .replace("/run/secrets", &format!("{d}/run/secrets"))
        .replace("f7f33107-5fb9-4ee1-8922-3eae76b5b5a0", sim.ws())
        .replace("FIRST_AFTER=24h", &format!("FIRST_AFTER={BEFORE_ALL}"))
        + &format!(
            "COMPLIANCE_API_BASE={}\nCOMPLIANCE_RETENTION=36500d\n",
            sim.base_url()
        );
    std::fs::write(dir.path().join("etc/cl-pull/pull.conf"), conf).unwrap();
    let out = Command::new("env")
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(format!("CL_BIN_DIR={}", bin_dir().display()))
        .arg(bin_dir().join("cl-pull"))
        .arg(dir.path().join("etc/cl-pull/pull.conf"))
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    assert_eq!(tree(&dir.path().join("var/lib/cl-pull/lake")).len(), 14);
}
