//! The settings file: `NAME=value` lines, read as the shell runner before cl-pull read them
//! (every pull.conf written for it still works), then checked into the one run they
//! describe. Nothing in a value is expanded: it is taken as written.

use cl_cli::report::LogFormat;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings passed to both tools' environment as they are (the caller's proxy variables pass
/// through too; the file's win).
pub const EXPORTED: [&str; 11] = [
    "COMPLIANCE_API_BASE",
    "COMPLIANCE_RETENTION",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
];

/// The settings of cl-pull's own.
const OWN: [&str; 18] = [
    "COMPLIANCE_PRINCIPAL",
    "EVENT_TYPES",
    "STATE_FILE",
    "OUTPUT_DIR",
    "EXEC",
    "COMPLIANCE_API_KEY_FILE",
    "FIRST_AFTER",
    "JOBS",
    "MANIFEST",
    "LOG_FILE",
    "LOG_FORMAT",
    "QUIET",
    "SUMMARY",
    "LAYOUT",
    "FOLLOW_INTERVAL",
    "LIST_OPTIONS",
    "FETCH_OPTIONS",
    "CL_BIN_DIR",
];

/// What was wrong with the settings file, worded for the user (exit 2).
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

/// The values a file gives, by name; a name given twice keeps its last value.
pub type Values = BTreeMap<String, String>;

/// Reads the lines of `text`, the file `config` names. Blank lines and lines whose first
/// non-blank is `#` are skipped; a line is `NAME=value`, blanks before NAME allowed, the rest
/// of the line the value, its quotes removed when they wrap it whole (`'…'` or `"…"`, with no
/// such quote inside). A byte-order mark and CR line ends are allowed.
pub fn parse(config: &str, text: &[u8]) -> Result<Values, Invalid> {
    let text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text);
    let mut values = Values::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            return Err(Invalid(format!("{config}:{n}: not UTF-8 text")));
        };
        let content = line.trim_start_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let bad = || Invalid(format!("{config}:{n}: expected NAME=value, got: {line}"));
        let (name, value) = content.split_once('=').ok_or_else(bad)?;
        let mut chars = name.chars();
        let named = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !named {
            return Err(bad());
        }
        if !OWN.contains(&name) && !EXPORTED.contains(&name) {
            return Err(Invalid(format!("{config}:{n}: unknown setting {name}")));
        }
        values.insert(name.to_owned(), unquote(value).to_owned());
    }
    Ok(values)
}

/// `'sh' -c 'x'` keeps its quotes: they come off only when they wrap the whole value.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
            .filter(|inner| !inner.contains(quote))
        {
            return inner;
        }
    }
    value
}

/// LOG_FORMAT, checked first: every later message is written in it.
pub fn log_format(config: &str, values: &Values) -> Result<LogFormat, Invalid> {
    match values.get("LOG_FORMAT").map_or("text", String::as_str) {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(Invalid(format!(
            "{config}: LOG_FORMAT must be text or json"
        ))),
    }
}

/// What the environment says that the settings depend on.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    /// stderr is systemd's journal (`$JOURNAL_STREAM`): a summary line is kept there.
    pub journal: bool,
    /// `$CREDENTIALS_DIRECTORY/api-key`, when systemd handed the key so.
    pub credentials_key: Option<PathBuf>,
    /// `$COMPLIANCE_API_KEY` is set and not empty.
    pub key_in_env: bool,
    /// `$CL_BIN_DIR`, where the settings do not say.
    pub bin_dir: Option<PathBuf>,
}

/// Where the files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// `OUTPUT_DIR`, with `LAYOUT` if given.
    Directory {
        /// The directory, as written.
        dir: String,
        /// cl-fetch's `--layout`.
        layout: Option<String>,
    },
    /// `EXEC`: a shell command each file is handed to.
    Exec(String),
}

/// One run's settings, checked. Paths are as written: relative ones are the settings file's
/// directory's, where the tools run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The workspace or organization.
    pub principal: String,
    /// `all`, or comma-separated event types.
    pub event_types: String,
    /// The checkpoint.
    pub state_file: String,
    /// Where the files go.
    pub delivery: Delivery,
    /// The key file; `None` leaves the key to `$COMPLIANCE_API_KEY`.
    pub key_file: Option<PathBuf>,
    /// cl-list's `--after`, for types the state does not know.
    pub first_after: String,
    /// cl-fetch's `--jobs`.
    pub jobs: String,
    /// Where cl-fetch's manifest lines are appended.
    pub manifest: String,
    /// Where every message goes, instead of stderr.
    pub log_file: Option<String>,
    /// Only errors and warnings from the tools.
    pub quiet: bool,
    /// A line per run saying what it delivered.
    pub summary: bool,
    /// cl-list's `--interval` under `--follow`.
    pub follow_interval: String,
    /// More options for cl-list, split at blanks.
    pub list_options: Vec<String>,
    /// More options for cl-fetch, split at blanks.
    pub fetch_options: Vec<String>,
    /// Where the tools are, if said.
    pub bin_dir: Option<PathBuf>,
    /// The variables both tools get, in the order of [`EXPORTED`].
    pub exported: Vec<(String, String)>,
}

impl Settings {
    /// Checks `values`, read from `config`, in the order the shell runner checked them.
    pub fn check(config: &str, values: &Values, env: &Environment) -> Result<Settings, Invalid> {
        let get = |name: &str, default: &str| -> String {
            values.get(name).map_or(default, String::as_str).to_owned()
        };
        let given = |name: &str| values.get(name).filter(|v| !v.is_empty()).cloned();
        let invalid = |what: String| Invalid(format!("{config}: {what}"));
        for required in ["COMPLIANCE_PRINCIPAL", "EVENT_TYPES", "STATE_FILE"] {
            if given(required).is_none() {
                return Err(invalid(format!("{required} is not set")));
            }
        }
        let delivery = match (given("OUTPUT_DIR"), given("EXEC")) {
            (Some(_), Some(_)) => return Err(invalid("set OUTPUT_DIR or EXEC, not both".into())),
            (None, None) => return Err(invalid("OUTPUT_DIR (or EXEC) is not set".into())),
            (Some(dir), None) => Delivery::Directory {
                dir,
                layout: given("LAYOUT"),
            },
            (None, Some(command)) => Delivery::Exec(command),
        };
        let jobs = get("JOBS", "4");
        if jobs.is_empty() || !jobs.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!("JOBS must be a number, got {jobs}")));
        }
        let quiet = match get("QUIET", "yes").as_str() {
            "yes" => true,
            "no" => false,
            other => return Err(invalid(format!("QUIET must be yes or no, got {other}"))),
        };
        let log_file = given("LOG_FILE");
        let summary = match get("SUMMARY", "auto").as_str() {
            "yes" => true,
            "no" => false,
            "auto" => log_file.is_some() || env.journal,
            other => {
                return Err(invalid(format!(
                    "SUMMARY must be yes, no or auto, got {other}"
                )));
            }
        };
        let key_file = match given("COMPLIANCE_API_KEY_FILE") {
            Some(file) => Some(PathBuf::from(file)),
            None if env.credentials_key.is_some() => env.credentials_key.clone(),
            None if env.key_in_env => None,
            None => {
                return Err(invalid(
                    "COMPLIANCE_API_KEY_FILE is not set (nor $COMPLIANCE_API_KEY)".into(),
                ));
            }
        };
        let state_file = get("STATE_FILE", "");
        let manifest = given("MANIFEST").unwrap_or_else(|| {
            let stem = state_file.strip_suffix(".json").unwrap_or(&state_file);
            format!("{stem}.manifest.jsonl")
        });
        Ok(Settings {
            principal: get("COMPLIANCE_PRINCIPAL", ""),
            event_types: get("EVENT_TYPES", ""),
            state_file,
            delivery,
            key_file,
            first_after: get("FIRST_AFTER", "24h"),
            jobs,
            manifest,
            log_file,
            quiet,
            summary,
            follow_interval: get("FOLLOW_INTERVAL", "60s"),
            list_options: split(&get("LIST_OPTIONS", "")),
            fetch_options: split(&get("FETCH_OPTIONS", "")),
            bin_dir: given("CL_BIN_DIR")
                .map(PathBuf::from)
                .or_else(|| env.bin_dir.clone()),
            exported: EXPORTED
                .iter()
                .filter_map(|name| Some((name.to_string(), values.get(*name)?.clone())))
                .collect(),
        })
    }
}

/// LIST_OPTIONS and FETCH_OPTIONS: split at blanks, no quoting, no wildcards.
fn split(options: &str) -> Vec<String> {
    options
        .split([' ', '\t'])
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "/etc/cl/pull.conf";

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// The lines of the end-to-end tests in tests/deploy.rs and the shell runner's rules.
    #[test]
    fn lines_are_read_as_the_shell_runner_read_them() {
        for (text, want) in [
            ("", Ok(values(&[]))),
            ("# a comment\n\n   \n\t\n", Ok(values(&[]))),
            ("  # COMPLIANCE_PRINCIPAL=x\n", Ok(values(&[]))),
            ("JOBS=1\nJOBS=2\n", Ok(values(&[("JOBS", "2")]))),
            (
                "  \tEVENT_TYPES=A,B\n",
                Ok(values(&[("EVENT_TYPES", "A,B")])),
            ),
            (
                "\u{feff}JOBS=3\r\nQUIET=no",
                Ok(values(&[("JOBS", "3"), ("QUIET", "no")])),
            ),
            ("LAYOUT= a b \n", Ok(values(&[("LAYOUT", " a b ")]))),
            ("EXEC=a=b\n", Ok(values(&[("EXEC", "a=b")]))),
            ("LOG_FILE=\n", Ok(values(&[("LOG_FILE", "")]))),
            (
                "EXEC='cat >> \"x y\"'\n",
                Ok(values(&[("EXEC", "cat >> \"x y\"")])),
            ),
            ("EXEC=\"cat $X\"\n", Ok(values(&[("EXEC", "cat $X")]))),
            (
                "EXEC='/bin/sh' -c 'cat'\n",
                Ok(values(&[("EXEC", "'/bin/sh' -c 'cat'")])),
            ),
            ("EXEC=\"\n", Ok(values(&[("EXEC", "\"")]))),
            ("EXEC=''\n", Ok(values(&[("EXEC", "")]))),
            (
                "HTTPS_PROXY=http://p:3128\n",
                Ok(values(&[("HTTPS_PROXY", "http://p:3128")])),
            ),
            (
                "COMPLIANCE_PRINCIPAL=x\nEVENT_TYPE=AUTH_LOG\n",
                Err(format!("{CONF}:2: unknown setting EVENT_TYPE")),
            ),
            (
                "COMPLIANCE_PRINCIPAL=x\nrm -rf /\n",
                Err(format!("{CONF}:2: expected NAME=value, got: rm -rf /")),
            ),
            (
                "COMPLIANCE_PRINCIPAL=x\nX; rm=1\n",
                Err(format!("{CONF}:2: expected NAME=value, got: X; rm=1")),
            ),
            (
                "JOBS =1\n",
                Err(format!("{CONF}:1: expected NAME=value, got: JOBS =1")),
            ),
            (
                "=1\n",
                Err(format!("{CONF}:1: expected NAME=value, got: =1")),
            ),
            (
                "1JOBS=1\n",
                Err(format!("{CONF}:1: expected NAME=value, got: 1JOBS=1")),
            ),
            (
                "\n\n  oops\n",
                Err(format!("{CONF}:3: expected NAME=value, got:   oops")),
            ),
        ] {
            let got = parse(CONF, text.as_bytes()).map_err(|Invalid(m)| m);
            assert_eq!(got, want, "{text:?}");
        }
        let got = parse(CONF, b"JOBS=1\nEXEC=\xff\n").map_err(|Invalid(m)| m);
        assert_eq!(got, Err(format!("{CONF}:2: not UTF-8 text")));
    }

    fn check(pairs: &[(&str, &str)], env: &Environment) -> Result<Settings, String> {
        Settings::check(CONF, &values(pairs), env).map_err(|Invalid(m)| m)
    }

    const BASE: [(&str, &str); 5] = [
        ("COMPLIANCE_PRINCIPAL", "ws"),
        ("EVENT_TYPES", "AUTH_LOG"),
        ("STATE_FILE", "state/pull.json"),
        ("OUTPUT_DIR", "lake"),
        ("COMPLIANCE_API_KEY_FILE", "key"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<_> = BASE
            .into_iter()
            .filter(|(n, _)| !extra.iter().any(|(e, _)| e == n))
            .collect();
        pairs.extend(extra.iter().filter(|(_, v)| *v != "-"));
        pairs
    }

    #[test]
    fn a_file_that_cannot_make_a_run_is_refused_naming_what_is_wrong() {
        let env = Environment::default();
        for (pairs, said) in [
            (with(&[("STATE_FILE", "-")]), "STATE_FILE is not set"),
            (
                with(&[("COMPLIANCE_PRINCIPAL", "")]),
                "COMPLIANCE_PRINCIPAL is not set",
            ),
            (with(&[("EVENT_TYPES", "-")]), "EVENT_TYPES is not set"),
            (with(&[("EXEC", "cat")]), "set OUTPUT_DIR or EXEC, not both"),
            (
                with(&[("OUTPUT_DIR", "-")]),
                "OUTPUT_DIR (or EXEC) is not set",
            ),
            (with(&[("JOBS", "8x")]), "JOBS must be a number, got 8x"),
            (with(&[("JOBS", "")]), "JOBS must be a number, got "),
            (
                with(&[("QUIET", "true")]),
                "QUIET must be yes or no, got true",
            ),
            (
                with(&[("SUMMARY", "1")]),
                "SUMMARY must be yes, no or auto, got 1",
            ),
            (
                with(&[("COMPLIANCE_API_KEY_FILE", "-")]),
                "COMPLIANCE_API_KEY_FILE is not set (nor $COMPLIANCE_API_KEY)",
            ),
        ] {
            assert_eq!(check(&pairs, &env).err(), Some(format!("{CONF}: {said}")));
        }
        let format = |v| log_format(CONF, &values(&[("LOG_FORMAT", v)])).map_err(|Invalid(m)| m);
        assert_eq!(format("json"), Ok(LogFormat::Json));
        assert_eq!(format("text"), Ok(LogFormat::Text));
        assert_eq!(
            format("JSON"),
            Err(format!("{CONF}: LOG_FORMAT must be text or json"))
        );
        assert_eq!(log_format(CONF, &values(&[])), Ok(LogFormat::Text));
    }

    #[test]
    fn defaults_and_the_environment_fill_what_the_file_leaves_out() {
        let s = check(&with(&[]), &Environment::default()).unwrap();
        assert_eq!(
            (s.first_after.as_str(), s.jobs.as_str(), s.quiet, s.summary),
            ("24h", "4", true, false)
        );
        assert_eq!(s.manifest, "state/pull.manifest.jsonl");
        assert_eq!(s.follow_interval, "60s");
        assert_eq!(s.key_file, Some(PathBuf::from("key")));
        assert_eq!(
            s.delivery,
            Delivery::Directory {
                dir: "lake".into(),
                layout: None
            }
        );
        let s = check(
            &with(&[("STATE_FILE", "-s.state")]),
            &Environment::default(),
        )
        .unwrap();
        assert_eq!(s.manifest, "-s.state.manifest.jsonl");
        // SUMMARY=auto: said where a log keeps it.
        let journal = Environment {
            journal: true,
            ..Environment::default()
        };
        assert!(check(&with(&[]), &journal).unwrap().summary);
        assert!(
            check(&with(&[("LOG_FILE", "cl.log")]), &Environment::default())
                .unwrap()
                .summary
        );
        assert!(
            !check(&with(&[("SUMMARY", "no")]), &journal)
                .unwrap()
                .summary
        );
        // The key: the file's setting, else systemd's credential, else the environment.
        let credentials = Environment {
            credentials_key: Some(PathBuf::from("/run/credentials/x/api-key")),
            key_in_env: true,
            ..Environment::default()
        };
        let no_file = with(&[("COMPLIANCE_API_KEY_FILE", "-")]);
        assert_eq!(
            check(&no_file, &credentials).unwrap().key_file,
            credentials.credentials_key
        );
        assert_eq!(
            check(&with(&[]), &credentials).unwrap().key_file,
            Some("key".into())
        );
        let env_key = Environment {
            key_in_env: true,
            ..Environment::default()
        };
        assert_eq!(check(&no_file, &env_key).unwrap().key_file, None);
        // CL_BIN_DIR: the file's, else the environment's.
        let bin = Environment {
            bin_dir: Some("/opt/cl".into()),
            ..Environment::default()
        };
        assert_eq!(
            check(&with(&[]), &bin).unwrap().bin_dir,
            Some("/opt/cl".into())
        );
        let s = check(&with(&[("CL_BIN_DIR", "/usr/cl")]), &bin).unwrap();
        assert_eq!(s.bin_dir, Some("/usr/cl".into()));
        // Options split at blanks; exported settings kept in their order.
        let s = check(
            &with(&[
                ("LIST_OPTIONS", " --limit 50\t-v "),
                ("NO_PROXY", "localhost"),
                ("COMPLIANCE_API_BASE", "http://127.0.0.1:1/v1"),
                ("EXEC", "cat"),
                ("OUTPUT_DIR", "-"),
            ]),
            &Environment::default(),
        )
        .unwrap();
        assert_eq!(s.list_options, ["--limit", "50", "-v"]);
        assert_eq!(
            s.exported,
            [
                (
                    "COMPLIANCE_API_BASE".to_owned(),
                    "http://127.0.0.1:1/v1".to_owned()
                ),
                ("NO_PROXY".to_owned(), "localhost".to_owned())
            ]
        );
        assert_eq!(s.delivery, Delivery::Exec("cat".into()));
    }
}
