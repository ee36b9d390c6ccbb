//! The pipeline `cl-list --state … | cl-fetch --state …`: the two command lines the settings
//! make, the two processes joined by a pipe, signals passed on to them, and what the manifest
//! says was delivered.

use crate::settings::{Delivery, Settings};
use cl_cli::signals::Signal;
use cl_core::fetch::manifest::Status;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// Variables the caller's environment may hold that would change where a run goes: the
/// settings file is the whole configuration (cron would not have them).
const CLEARED: [&str; 3] = [
    "COMPLIANCE_API_BASE",
    "COMPLIANCE_PRINCIPAL",
    "COMPLIANCE_RETENTION",
];

/// One program to start and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// The two tools' command lines, what they run in and where cl-fetch's manifest goes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The settings file's directory, where relative paths lead from.
    pub dir: PathBuf,
    /// cl-list's.
    pub list: CommandLine,
    /// cl-fetch's.
    pub fetch: CommandLine,
    /// Set in both tools' environment.
    pub env: Vec<(String, String)>,
    /// Where cl-fetch's stdout is appended, as written.
    pub manifest: String,
}

impl Plan {
    /// The command lines for `settings`, with the tools at `list` and `fetch`.
    pub fn new(settings: &Settings, dir: PathBuf, tools: [PathBuf; 2], follow: bool) -> Plan {
        let [list_program, fetch_program] = tools;
        let s = settings;
        let flag = |name: &str, value: &str| OsString::from(format!("--{name}={value}"));
        let format = match cl_cli::report::format() {
            cl_cli::report::LogFormat::Text => "text",
            cl_cli::report::LogFormat::Json => "json",
        };
        let mut both = vec![flag("log-format", format)];
        if s.quiet {
            both.push("-q".into());
        }
        if let Some(key) = &s.key_file {
            let mut arg = OsString::from("--api-key-file=");
            arg.push(key);
            both.push(arg);
        }

        let mut list = vec![
            OsString::from(&s.principal),
            flag("event-type", &s.event_types),
            flag("after", &s.first_after),
            flag("state", &s.state_file),
        ];
        list.extend(both.iter().cloned());
        if follow {
            list.push("--follow".into());
            list.push(flag("interval", &s.follow_interval));
        }
        list.extend(s.list_options.iter().map(OsString::from));

        let mut fetch = vec![flag("jobs", &s.jobs), flag("state", &s.state_file)];
        fetch.extend(both);
        match &s.delivery {
            // The command as written: nothing of cl-pull's is open in what it starts.
            Delivery::Exec(command) => fetch.push(flag("exec", command)),
            Delivery::Directory { dir, layout } => {
                fetch.push(flag("output-dir", dir));
                if let Some(layout) = layout {
                    fetch.push(flag("layout", layout));
                }
            }
        }
        fetch.extend(s.fetch_options.iter().map(OsString::from));

        let mut env = vec![("COMPLIANCE_PRINCIPAL".to_owned(), s.principal.clone())];
        env.extend(s.exported.iter().cloned());
        Plan {
            dir,
            list: CommandLine {
                program: list_program,
                args: list,
            },
            fetch: CommandLine {
                program: fetch_program,
                args: fetch,
            },
            env,
            manifest: s.manifest.clone(),
        }
    }

    /// The pipeline as a shell would run it, quoted to be pasted: two lines, cl-list's ending
    /// in the pipe, cl-fetch's in the manifest's redirection.
    pub fn shown(&self) -> String {
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}={}", quote(value.as_ref())))
            .collect();
        let line = |command: &CommandLine| {
            let words = std::iter::once(quote(command.program.as_os_str()))
                .chain(command.args.iter().map(|a| quote(a)));
            env.iter()
                .cloned()
                .chain(words)
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "cd {} && {} |\n  {} >> {}\n",
            quote(self.dir.as_os_str()),
            line(&self.list),
            line(&self.fetch),
            quote(self.manifest.as_ref())
        )
    }

    fn command(&self, line: &CommandLine) -> Command {
        let mut command = Command::new(&line.program);
        command.args(&line.args).current_dir(&self.dir);
        for name in CLEARED {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(n, v)| (n, v)));
        command
    }

    /// Runs the pipeline: cl-list's stdout into cl-fetch's stdin, cl-fetch's stdout onto
    /// `manifest`, both tools' stderr onto `log` (else cl-pull's own). Returns each one's
    /// status as a shell gives it, once both have ended.
    pub fn run(&self, relay: &Relay, manifest: File, log: Option<&File>) -> io::Result<[u8; 2]> {
        let stderr = || -> io::Result<Stdio> {
            Ok(match log {
                Some(log) => log.try_clone()?.into(),
                None => Stdio::inherit(),
            })
        };
        let mut list = self
            .command(&self.list)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr()?)
            .spawn()
            .map_err(|e| starting(&self.list, e))?;
        relay.adopt(Role::List, list.id());
        let fetched = match list.stdout.take() {
            Some(pipe) => self
                .command(&self.fetch)
                .stdin(pipe)
                .stdout(manifest)
                .stderr(stderr()?)
                .spawn()
                .map_err(|e| starting(&self.fetch, e)),
            None => Err(io::Error::other("cl-list's stdout is not a pipe")),
        };
        let mut fetch = match fetched {
            Ok(fetch) => fetch,
            Err(error) => {
                // cl-list alone would list into a pipe no one reads: stopped, and waited for.
                relay.stop(Role::List, Signal::Terminate);
                let _ = reap(relay, Role::List, &mut list);
                return Err(error);
            }
        };
        relay.adopt(Role::Fetch, fetch.id());
        let list = reap(relay, Role::List, &mut list)?;
        let fetch = reap(relay, Role::Fetch, &mut fetch)?;
        Ok([list, fetch])
    }
}

fn starting(line: &CommandLine, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot start {}: {error}", line.program.display()),
    )
}

fn reap(relay: &Relay, role: Role, child: &mut Child) -> io::Result<u8> {
    let status = child.wait();
    relay.forget(role);
    Ok(cl_cli::exit::of_child(status?))
}

/// `word` as a POSIX shell reads it back: bare when it holds nothing a shell would change,
/// else in single quotes.
pub fn quote(word: &std::ffi::OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.into_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Which tool a process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// cl-list, the feed.
    List,
    /// cl-fetch, which delivers what the feed gives it.
    Fetch,
}

/// Passes the signals cl-pull receives on to the tools: both stop as the signal tells them,
/// except that under `--follow` SIGTERM goes to cl-list alone, so cl-fetch delivers what was
/// listed and ends with its input. (On Windows the tools receive the console's events
/// themselves: nothing is passed on, cl-pull only waits for them.)
#[derive(Clone, Default)]
pub struct Relay {
    inner: Arc<Mutex<Relayed>>,
}

#[derive(Default)]
struct Relayed {
    follow: bool,
    list: Option<u32>,
    fetch: Option<u32>,
    /// Every signal so far, in order: one that came before a tool started is passed on to it
    /// as it starts.
    signals: Vec<Signal>,
}

impl Relay {
    /// A relay for a run, a feed when `follow`.
    pub fn new(follow: bool) -> Relay {
        let relay = Relay::default();
        relay.lock().follow = follow;
        relay
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Relayed> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Passes `signal` on to the tools running; called by the signal handler.
    pub fn received(&self, signal: Signal) {
        let mut relayed = self.lock();
        relayed.signals.push(signal);
        for role in [Role::List, Role::Fetch] {
            relayed.pass(role, signal);
        }
    }

    /// The last signal received.
    pub fn last(&self) -> Option<Signal> {
        self.lock().signals.last().copied()
    }

    fn adopt(&self, role: Role, pid: u32) {
        let mut relayed = self.lock();
        *relayed.pid(role) = Some(pid);
        for signal in relayed.signals.clone() {
            relayed.pass(role, signal);
        }
    }

    fn forget(&self, role: Role) {
        *self.lock().pid(role) = None;
    }

    fn stop(&self, role: Role, signal: Signal) {
        self.lock().pass(role, signal);
    }
}

impl Relayed {
    fn pid(&mut self, role: Role) -> &mut Option<u32> {
        match role {
            Role::List => &mut self.list,
            Role::Fetch => &mut self.fetch,
        }
    }

    fn pass(&mut self, role: Role, signal: Signal) {
        if role == Role::Fetch && self.follow && signal == Signal::Terminate {
            return;
        }
        #[cfg(unix)]
        if let Some(pid) = *self.pid(role) {
            // A tool that has just ended cannot be stopped, and needs not be.
            let _ = cl_cli::signals::send(pid, signal);
        }
        #[cfg(not(unix))]
        let _ = (role, signal);
    }
}

/// Counts the files a run delivered from the manifest lines cl-fetch wrote (read from where
/// the manifest ended before the run): downloaded and handed over, not skipped as delivered
/// before. A line that is not a manifest line is not counted.
pub fn delivered(manifest: &Path, from: u64) -> io::Result<u64> {
    #[derive(serde::Deserialize)]
    struct Line {
        status: Status,
    }
    let mut file = File::open(manifest)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(from))?;
    let mut count = 0;
    for line in io::BufReader::new(file).lines() {
        if let Ok(Line {
            status: Status::Downloaded | Status::Delivered,
        }) = serde_json::from_str(&line?)
        {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_where_a_shell_would_change_them() {
        for (word, want) in [
            ("--state=state/pull.json", "--state=state/pull.json"),
            ("AUTH_LOG,AUDIT_LOG", "AUTH_LOG,AUDIT_LOG"),
            ("", "''"),
            ("a b", "'a b'"),
            ("$HOME", "'$HOME'"),
            ("--exec=cat > \"x\"", "'--exec=cat > \"x\"'"),
            ("it's", r"'it'\''s'"),
            ("~/x", "'~/x'"),
            ("#x", "'#x'"),
            ("a*", "'a*'"),
        ] {
            assert_eq!(quote(word.as_ref()), want, "{word}");
        }
    }

    #[test]
    fn deliveries_are_counted_from_the_manifest_lines_after_where_it_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let before = "{\"id\":\"a\",\"status\":\"downloaded\"}\n";
        let run = "{\"id\":\"b\",\"path\":\"lake/b\",\"bytes\":1,\"status\":\"downloaded\"}\n\
                   {\"id\":\"c\",\"status\":\"skipped\"}\n\
                   {\"id\":\"d\",\"status\":\"delivered\",\"note\":\"\\\"status\\\":\\\"skipped\\\"\"}\n\
                   not json\n\
                   {\"id\":\"e\",\"status\":\"dropped\"}\n\
                   \n";
        std::fs::write(&path, format!("{before}{run}")).unwrap();
        assert_eq!(delivered(&path, before.len() as u64).unwrap(), 2);
        assert_eq!(delivered(&path, 0).unwrap(), 3);
    }
}
