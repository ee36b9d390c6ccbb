//! The harness: a simulator per test, the built binaries, and commands run as a shell user
//! would run them, with exact output checks and readable failures.

#![allow(dead_code)]

use cl_sim::{FileInfo, RunningSim, SimConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The directory holding the tools: `$CL_E2E_BIN_DIR` when set (scripts/test-windows points
/// it at wrappers that run the Windows builds under Wine), else where Cargo built this
/// package's binaries for the tests (`CARGO_BIN_EXE_*`: `cargo test` builds them first).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CL_E2E_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // The three are this package's binaries, built side by side; the shell tests put their
    // directory first on PATH.
    Path::new(env!("CARGO_BIN_EXE_cl-list"))
        .parent()
        .expect("the binaries' directory")
        .to_owned()
}

/// True when the tools under test are the Windows builds, run by Wine (scripts/test-windows).
pub fn under_wine() -> bool {
    std::env::var_os("CL_E2E_WINE").is_some()
}

/// A Unix path as the Windows build under Wine names it (`Z:\…`), for commands that Windows
/// programs run; unchanged elsewhere.
pub fn native_path(path: &Path) -> String {
    if !under_wine() {
        return path.display().to_string();
    }
    let out = Command::new("winepath")
        .arg("-w")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether `program` (a name looked up on PATH, or an absolute path) is here to run. When it
/// is not, the test says why it skips (`skipped: needs tinyproxy (apt-get install tinyproxy)`)
/// and gets false, to return early; under `CI=true` (scripts/test) a missing program fails the
/// test instead, so CI never skips silently. `install` says how to get it.
#[track_caller]
pub fn needs(program: &str, install: &str) -> bool {
    needs_for("", program, install)
}

/// As [`needs`], for one part of a test (a README block, a round): `skipped {part}: needs …`.
#[track_caller]
pub fn needs_for(part: &str, program: &str, install: &str) -> bool {
    if find_program(program).is_some() {
        return true;
    }
    let reason = format!("needs {program} ({install})");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{reason}: CI=true, so a missing program fails instead of skipping");
    }
    match part {
        "" => eprintln!("skipped: {reason}"),
        part => eprintln!("skipped {part}: {reason}"),
    }
    false
}

/// Programs the documented shell recipes run that a machine with only Rust may lack, each
/// with how to install it.
pub const OUTSIDE: &[(&str, &str)] = &[
    ("jq", "apt-get install jq"),
    ("parallel", "apt-get install parallel"),
    ("man", "apt-get install man-db"),
];

/// The [`OUTSIDE`] programs `script` runs as a command (the first word of a pipeline stage, a
/// list item or a `$(…)`, after variable assignments and shell keywords).
pub fn outside_programs(script: &str) -> Vec<(&'static str, &'static str)> {
    let mut words = Vec::new();
    for stage in script.split(['|', ';', '&', '\n', '(', '{', '`', '\'', '"']) {
        let first = stage.split_whitespace().find(|w| {
            !w.contains('=')
                && !["!", "do", "then", "else", "until", "while", "if", "time"].contains(w)
        });
        if let Some(word) = first {
            words.push(word);
        }
    }
    OUTSIDE
        .iter()
        .filter(|(program, _)| words.contains(program))
        .copied()
        .collect()
}

/// Where `program` is: itself when it is a path to an executable file, else the first
/// executable of that name on PATH.
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(Path::new(program)).then(|| PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| runnable(p))
}

/// Polls `condition` every 10 ms until it holds; panics with "timed out after Xs waiting for
/// {what}" once `deadline` has passed. The deadline bounds a hang and measures nothing: make
/// it generous.
#[track_caller]
pub fn wait_until(deadline: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() > deadline {
            timed_out(deadline, what);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[track_caller]
fn timed_out(deadline: Duration, what: &str) -> ! {
    panic!(
        "timed out after {}s waiting for {what}",
        deadline.as_secs_f64()
    );
}

/// Waits (as [`wait_until`]) for `child` to exit and returns how it exited; kills it when it
/// is still running at `deadline`.
#[track_caller]
pub fn exited(child: &mut Child, deadline: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    let mut status = None;
    wait_until(deadline * 2, what, || {
        status = child.try_wait().unwrap();
        if status.is_none() && start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            timed_out(deadline, what);
        }
        status.is_some()
    });
    status.unwrap()
}

/// A fixed start so listings and bytes are the same on every run.
pub const START: &str = "2026-07-16T00:00:00Z";
/// An `--after` before every file.
pub const BEFORE_ALL: &str = "2026-07-01T00:00:00Z";

/// A server the tools can be pointed at: the simulator, or a [`Canned`] one.
pub trait Server {
    /// A tool's command pointed at this server.
    fn cmd(&self, tool: &str) -> TestCommand;

    /// `cl-list PRINCIPAL FLAGS… -e TYPES --after AFTER`, in the order a user types it; flags
    /// that follow go on with `.args(…)`.
    fn list_after(
        &self,
        principal: &str,
        flags: &[&str],
        event_types: &str,
        after: &str,
    ) -> TestCommand {
        let mut cmd = self.cmd("cl-list");
        cmd.arg(principal)
            .args(flags)
            .args(["-e", event_types, "--after", after]);
        cmd
    }
}

/// A time as cl-list sends it (and writes it as `listed_after`): UTC, `Z`, fractions as needed.
pub fn as_sent(time: &str) -> String {
    time.parse::<jiff::Timestamp>()
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S%.fZ")
        .to_string()
}

/// Lines without the `listed_after` cl-list adds, for listings that start from an age.
pub fn without_listed_after(lines: &str) -> String {
    lines
        .lines()
        .map(|l| match l.find(",\"listed_after\":\"") {
            Some(at) => format!("{}}}\n", &l[..at]),
            None => format!("{l}\n"),
        })
        .collect()
}

/// `after` as cl-list sends it to list what follows `cursor`: a microsecond earlier.
pub fn just_before(cursor: &str) -> String {
    let ts: jiff::Timestamp = cursor.parse().unwrap();
    (ts - jiff::SignedDuration::from_micros(1))
        .strftime("%Y-%m-%dT%H:%M:%S%.fZ")
        .to_string()
}

/// The files cl-list prints from each page of a listing of `files` at `limit`, with each
/// page's cursor: every page after the first is asked from just before the cursor, so it
/// brings the files at the cursor again, which are not printed twice.
pub fn pages(files: &[FileInfo], limit: usize) -> Vec<(Vec<&FileInfo>, String)> {
    let time = |f: &FileInfo| f.end_time.parse::<jiff::Timestamp>().unwrap();
    let (mut pages, mut start, mut printed) = (Vec::new(), 0, std::collections::HashSet::new());
    loop {
        let page = &files[start..files.len().min(start + limit)];
        let Some(last) = page.last() else {
            return pages;
        };
        let new = page
            .iter()
            .filter(|f| printed.insert(f.id.clone()))
            .collect();
        pages.push((new, last.end_time.clone()));
        if start + limit >= files.len() {
            return pages;
        }
        let next = files.iter().position(|f| time(f) >= time(last)).unwrap();
        assert!(next > start, "a group of tied files larger than the page");
        start = next;
    }
}

/// A running simulator with the test's own data.
pub struct Sim {
    inner: RunningSim,
}

impl Sim {
    /// 7 files per type of about 600 bytes, every third without a final newline.
    pub fn start() -> Sim {
        Sim::with(|_| {})
    }

    /// Like [`Sim::start`], with changes to the configuration.
    pub fn with(change: impl FnOnce(&mut SimConfig)) -> Sim {
        let mut config = SimConfig::new(7);
        config.dataset.start = START.parse().unwrap();
        config.dataset.files_per_type = 7;
        config.dataset.file_size = 600;
        config.dataset.unterminated_every = 3;
        config.record = true;
        change(&mut config);
        Sim {
            inner: cl_sim::start(config).expect("start the simulator"),
        }
    }

    pub fn ws(&self) -> &str {
        self.inner.workspace()
    }

    pub fn org(&self) -> &str {
        self.inner.org()
    }

    pub fn key(&self) -> &str {
        self.inner.key()
    }

    /// From now on the key is refused (401), as after an admin revoked it.
    pub fn revoke_key(&self) {
        self.inner.revoke_key();
    }

    pub fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    pub fn blob_origin(&self) -> String {
        self.inner.blob_origin().to_owned()
    }

    /// The CA to trust when the simulator serves HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.inner.ca_pem()
    }

    pub fn files(&self, principal: &str, event_type: &str) -> Vec<FileInfo> {
        self.inner.files(principal, event_type)
    }

    pub fn content(&self, id: &str) -> Vec<u8> {
        self.inner.content(id).expect("a file the simulator serves")
    }

    pub fn requests(&self) -> Vec<cl_sim::Recorded> {
        self.inner.requests()
    }

    /// Requests the blob host decided to answer with the file (200), whether or not the
    /// client stayed to read it.
    pub fn downloads(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.origin == cl_sim::Origin::Blob && r.status == 200)
            .count()
    }

    /// Connections accepted by the API and by the blob host.
    pub fn connections(&self) -> (u64, u64) {
        self.inner.connections()
    }

    /// How many of each fault were injected.
    pub fn injected(&self) -> std::collections::BTreeMap<String, u64> {
        self.inner.injected()
    }

    /// The ids of the workspace's files of this type, in listing order.
    pub fn ids(&self, event_type: &str) -> Vec<String> {
        self.files(self.ws(), event_type)
            .into_iter()
            .map(|f| f.id)
            .collect()
    }

    /// Every file of these event types of the workspace, in listing order.
    pub fn all_files(&self, event_types: &[&str]) -> Vec<FileInfo> {
        event_types
            .iter()
            .flat_map(|t| self.files(self.ws(), t))
            .collect()
    }

    /// `cl-list PRINCIPAL FLAGS… -e TYPES --after BEFORE_ALL`: every file of those types.
    pub fn list(&self, principal: &str, flags: &[&str], event_types: &str) -> TestCommand {
        self.list_after(principal, flags, event_types, BEFORE_ALL)
    }

    /// A bash script with the tools on PATH and the simulator's environment, `$P` the workspace.
    pub fn sh(&self, script: &str) -> TestCommand {
        let mut cmd = sh(script);
        cmd.env("COMPLIANCE_API_BASE", self.base_url())
            .env("COMPLIANCE_API_KEY", self.key())
            .env("P", self.ws());
        cmd
    }

    /// What cl-list must print for `files` listed with page size `limit`.
    pub fn listing(&self, principal: &str, files: &[FileInfo], limit: usize) -> String {
        self.listing_after(principal, files, limit, BEFORE_ALL)
    }

    /// As [`Sim::listing`], for a listing that started from `after`.
    pub fn listing_after(
        &self,
        principal: &str,
        files: &[FileInfo],
        limit: usize,
        after: &str,
    ) -> String {
        let mut out = String::new();
        for (page, cursor) in pages(files, limit) {
            for f in page {
                out.push_str(&format!(
                    "{{\"id\":\"{}\",\"event_type\":\"{}\",\"end_time\":\"{}\",\"file_name\":\"{}\",\
                     \"file_size\":{},\"file_sha256\":\"{}\",\"principal\":\"{principal}\",\
                     \"cursor\":\"{cursor}\",\"listed_after\":\"{after}\"}}\n",
                    f.id, f.event_type, f.end_time, f.file_name, f.size, f.sha256
                ));
            }
        }
        out
    }

    /// What cl-fetch must print on stdout for these ids: each file, newline-terminated.
    pub fn stream(&self, ids: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<u8> {
        let mut out = Vec::new();
        for id in ids {
            let bytes = self.content(id.as_ref());
            let terminated = bytes.is_empty() || bytes.ends_with(b"\n");
            out.extend_from_slice(&bytes);
            if !terminated {
                out.push(b'\n');
            }
        }
        out
    }
}

impl Server for Sim {
    /// A tool's command with the simulator's base URL and key in its environment, and no
    /// principal.
    fn cmd(&self, tool: &str) -> TestCommand {
        let mut cmd = TestCommand::new(bin_dir().join(tool));
        cmd.env("COMPLIANCE_API_BASE", self.base_url())
            .env("COMPLIANCE_API_KEY", self.key());
        cmd
    }
}

/// A bash script with the tools first on PATH.
pub fn sh(script: &str) -> TestCommand {
    let mut cmd = TestCommand::new(PathBuf::from("bash"));
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .env("PATH", path);
    cmd
}

/// `text` as one bash word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r#"'\''"#))
}

/// A command under test, with its environment cleared of the tools' variables.
pub struct TestCommand {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    shown: String,
}

impl TestCommand {
    pub fn new(program: PathBuf) -> Self {
        let mut cmd = Command::new(&program);
        for var in [
            "COMPLIANCE_API_KEY",
            "COMPLIANCE_API_BASE",
            "COMPLIANCE_PRINCIPAL",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            cmd.env_remove(var);
        }
        // The simulator's data of the tests lies in July 2026, further back than the API
        // keeps files; only the tests of that warning set a real retention.
        cmd.env("COMPLIANCE_RETENTION", "36500d");
        let shown = program.file_name().unwrap().to_string_lossy().into_owned();
        TestCommand {
            cmd,
            stdin: None,
            shown,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.shown.push(' ');
        self.shown.push_str(&arg.as_ref().to_string_lossy());
        self.cmd.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(
        &mut self,
        args: I,
    ) -> &mut Self {
        for a in args {
            self.arg(a);
        }
        self
    }

    pub fn env(&mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(&mut self, k: &str) -> &mut Self {
        self.cmd.env_remove(k);
        self
    }

    pub fn current_dir(&mut self, dir: &Path) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(input.into());
        self
    }

    /// Starts it in its own process group, stdout to `stdout`, stdin from `stdin` (or none).
    pub fn spawn(&mut self, stdin: Option<&Path>, stdout: &Path) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        self.cmd
            .stdin(match stdin {
                Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
                None => Stdio::null(),
            })
            .stdout(Stdio::from(std::fs::File::create(stdout).unwrap()))
            .stderr(Stdio::piped())
            .process_group(0);
        self.cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.shown))
    }

    /// Runs it to the end.
    pub fn output(&mut self) -> Output {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.shown));
        if let Some(input) = self.stdin.clone() {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        child.wait_with_output().unwrap()
    }

    /// Runs it, checks it succeeded, and returns stdout.
    pub fn stdout(&mut self) -> String {
        let out = self.assert_exit(0);
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs it and checks its exit code; shows everything when it differs.
    pub fn assert_exit(&mut self, code: i32) -> Output {
        let out = self.output();
        if out.status.code() != Some(code) {
            panic!(
                "\n`{}` exited with {:?}, expected {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.shown,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }
}

/// Whether any process of the process group `group` is still running (a zombie is not: its
/// files, and the locks on them, are closed).
pub fn group_running(group: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // After the command in parentheses: the state, the parent, the process group.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && !["Z", "X"].contains(&fields[0]) && fields[2] == group.to_string()
    })
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to a process, or with `group` to its whole group.
pub fn signal(pid: u32, signal: &str, group: bool) {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let status = Command::new("kill")
        .args([format!("-{signal}"), "--".to_owned(), target])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Compares long texts line by line, so a failure shows the first line that differs.
#[track_caller]
pub fn assert_lines(got: &str, want: &str) {
    if got == want {
        return;
    }
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} differs", i + 1);
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "line counts differ"
    );
    assert_eq!(got, want, "texts differ in line endings");
}

/// Asserts two byte streams are equal without dumping megabytes on failure.
#[track_caller]
pub fn assert_bytes(got: &[u8], want: &[u8]) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let show = |b: &[u8]| {
            String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 40).min(b.len())]).into_owned()
        };
        panic!(
            "streams differ at byte {at} (got {} bytes, want {})\n got: {:?}\nwant: {:?}",
            got.len(),
            want.len(),
            show(got),
            show(want)
        );
    }
}

/// Replaces `(123 ms)` with `(N ms)` so timing does not break exact comparisons.
pub fn normalize_ms(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" ms)") {
        let head = &rest[..i];
        let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && head[..head.len() - digits].ends_with('(') {
            out.push_str(&head[..head.len() - digits]);
            out.push('N');
        } else {
            out.push_str(head);
        }
        out.push_str(" ms)");
        rest = &rest[i + 4..];
    }
    out.push_str(rest);
    out
}

/// The `"id"` of each JSON line of `lines` (a listing or a manifest), in order.
pub fn ids_of(lines: &str) -> Vec<String> {
    lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Every file below `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A server on loopback that answers every request with the same canned bytes, then closes
/// the connection: for answers no well-behaved server gives.
pub struct Canned {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Canned {
    pub fn start(response: impl Into<Vec<u8>>) -> Canned {
        let response = response.into();
        Canned::streaming(move |stream| {
            let _ = stream.write_all(&response);
        })
    }

    /// A server that answers every request by calling `answer` on the connection.
    pub fn streaming(answer: impl Fn(&mut std::net::TcpStream) + Send + 'static) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                answer(&mut stream);
            }
        });
        Canned { addr, hits }
    }

    /// A base URL on this server.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1/compliance", self.addr)
    }
}

impl Server for Canned {
    /// A tool's command pointed at this server, with some key.
    fn cmd(&self, tool: &str) -> TestCommand {
        let mut cmd = TestCommand::new(bin_dir().join(tool));
        cmd.env("COMPLIANCE_API_KEY", "k")
            .env("COMPLIANCE_API_BASE", self.base_url());
        cmd
    }
}

/// Runs `script` in `dir` `kills + 1` times: each of the first `kills` runs is sent SIGKILL
/// (its whole process group) at a random moment of up to `spread_ms` (the scenario, drawn
/// from `seed`), and the next starts only once every process of the killed one is gone (a
/// dying tool may still hold a lock). The last run must finish with success. Returns how
/// many runs were really killed, and each run's stdout.
pub fn kill_and_rerun(
    sim: &Sim,
    script: &str,
    dir: &Path,
    kills: usize,
    seed: u64,
    spread_ms: u64,
) -> (usize, Vec<Vec<u8>>) {
    let mut rng = cl_sim::rng::Rng::new(seed, b"kill moments");
    let mut killed = 0;
    let mut outputs = Vec::new();
    for run in 0..=kills {
        let out_path = dir.join(format!("out.{run}"));
        let mut child = sim.sh(script).current_dir(dir).spawn(None, &out_path);
        if run < kills {
            std::thread::sleep(Duration::from_millis(20 + rng.below(spread_ms)));
            if child.try_wait().unwrap().is_none() {
                signal(child.id(), "KILL", true);
                killed += 1;
            }
            let _ = child.wait();
            wait_until(
                Duration::from_secs(60),
                "the killed pipeline to be gone",
                || !group_running(child.id()),
            );
        } else {
            let status = child.wait().unwrap();
            let mut err = String::new();
            child
                .stderr
                .as_mut()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(status.success(), "the last run must finish: {err}");
        }
        outputs.push(std::fs::read(&out_path).unwrap());
    }
    (killed, outputs)
}
