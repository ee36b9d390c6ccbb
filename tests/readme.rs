//! The README and the guides in docs/, followed as a new user would: every `sh` block, in order
//! (README.md, then docs/*.md by name), in a fresh HOME and from a directory that is not the
//! checkout, against a simulator. The clone is at `~/src/cl-tools`, as the README assumes; no
//! block may write into it. A block runs as pasted (a few run with stand-ins for what this machine lacks: an
//! editor, crontab, curl to a SIEM, aws); a block that cannot run here says why in its first
//! line. A new block must be added to `SPECS`, so no recipe goes untested by accident. A block
//! that runs a program this machine lacks (jq, GNU parallel, man) is skipped, saying so.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the test does with one README block, found by a piece of its text.
struct Spec {
    key: &'static str,
    how: How,
}

enum How {
    /// Run it (after `setup`), expect `status`, then `check` must exit 0. `edits` replace
    /// text in the block (paths only this machine cannot write).
    Run {
        setup: &'static str,
        edits: &'static [(&'static str, &'static str)],
        status: i32,
        check: &'static str,
    },
    /// Not run: its first line must say why (`# not run by the tests: …`).
    Says,
}

const fn run(setup: &'static str, check: &'static str) -> How {
    How::Run {
        setup,
        edits: &[],
        status: 0,
        check,
    }
}

const SPECS: &[Spec] = &[
    Spec {
        key: "cargo install --locked --path ~/src/cl-tools",
        how: run(
            "",
            "for t in cl-list cl-fetch cl-sim cl-pull; do test -x ~/.cargo/bin/$t; done
             [ \"$(command -v cl-fetch)\" = ~/.cargo/bin/cl-fetch ]",
        ),
    },
    Spec {
        key: "cl-list --completions bash >",
        how: run(
            "",
            "bash -c 'source ~/.local/share/bash-completion/completions/cl-fetch && complete -p cl-fetch'
             [ \"$(man -w cl-fetch)\" = ~/.cargo/share/man/man1/cl-fetch.1 ]
             [ \"$(man -w cl-list)\" = ~/.cargo/share/man/man1/cl-list.1 ]
             MANPAGER=cat man cl-list | grep -q 'EXIT STATUS'",
        ),
    },
    Spec {
        key: "cl-sim > sim.env & sim=$!     #",
        how: run(
            "",
            "cd ~/cl-try && [ \"$(wc -l < auth.jsonl)\" -gt 0 ] && jq -e . auth.jsonl > /dev/null",
        ),
    },
    Spec {
        key: "export COMPLIANCE_API_KEY=…",
        how: How::Run {
            setup: "rm -f ~/cl-try/auth.jsonl",
            // The test's simulator stands in for the real API.
            edits: &[
                ("export COMPLIANCE_API_KEY=…", ""),
                (
                    "export COMPLIANCE_PRINCIPAL=f7f33107-5fb9-4ee1-8922-3eae76b5b5a0",
                    "",
                ),
            ],
            status: 0,
            check: "[ \"$(wc -l < ~/cl-try/auth.jsonl)\" -gt 0 ]",
        },
    },
    Spec {
        key: "mkdir -p ~/cl && cp ~/src/cl-tools/deploy/cron/pull.conf",
        how: run("", "grep -q '^EVENT_TYPES=' ~/cl/pull.conf"),
    },
    Spec {
        key: "echo \"COMPLIANCE_API_BASE=$COMPLIANCE_API_BASE\" >> ~/cl/pull.conf",
        how: run(
            "",
            "grep -qx \"COMPLIANCE_PRINCIPAL=$P\" ~/cl/pull.conf
             grep -qx \"COMPLIANCE_API_BASE=$COMPLIANCE_API_BASE\" ~/cl/pull.conf",
        ),
    },
    Spec {
        key: "(crontab -l 2>/dev/null; echo",
        how: run(
            "",
            "n=$(cl-list -q -e all --after 24h | wc -l)
             [ \"$n\" -gt 14 ]
             [ \"$(find ~/cl/lake -type f | wc -l)\" -eq \"$n\" ]
             grep -q \": $n file(s) delivered\" ~/cl/cl.log
             [ \"$(cat ~/crontab.txt)\" = '17 * * * * $HOME/.cargo/bin/cl-pull $HOME/cl/pull.conf' ]
             [ \"$(stat -c %a ~/cl/key)\" = 600 ]",
        ),
    },
    Spec {
        key: "cl-list \"$P\" -q -e AUTH_LOG,AUDIT_LOG --after 24h --state s.json | cl-fetch -q -j 8",
        how: run(
            "",
            "cd ~/cl-recipes && [ \"$(grep -c downloaded manifest.jsonl)\" -eq 14 ]",
        ),
    },
    Spec {
        key: "export HEC_TOKEN=",
        how: run(
            "cd ~/cl-recipes && rm -f s.json delivered.jsonl",
            "cd ~/cl-recipes
             [ \"$(grep -c '\"status\":\"delivered\"' delivered.jsonl)\" -eq 7 ]
             [ \"$(ls sink | wc -l)\" -eq 7 ]
             grep -q 'Authorization: Splunk …' curl.args",
        ),
    },
    Spec {
        key: "curl -sS --fail --data-binary @- http://127.0.0.1:9000/",
        how: run(
            "cd ~/cl-recipes && rm -rf s.json delivered.jsonl sink",
            "cd ~/cl-recipes
             [ \"$(grep -c '\"status\":\"delivered\"' delivered.jsonl)\" -eq 7 ]
             [ \"$(ls sink | wc -l)\" -eq 7 ]",
        ),
    },
    Spec {
        key: "aws s3 cp - \"s3://my-bucket/",
        how: run(
            "cd ~/cl-recipes && rm -rf s.json delivered.jsonl sink",
            "cd ~/cl-recipes
             [ \"$(grep -c '\"status\":\"delivered\"' delivered.jsonl)\" -eq 7 ]
             [ \"$(ls sink | wc -l)\" -eq 7 ]
             grep -q \"cp - s3://my-bucket/compliance/AUTH_LOG/$(date -u +%Y-)\" aws.args",
        ),
    },
    Spec {
        key: "aws s3 sync lake/ s3://my-bucket/compliance/",
        how: run(
            "cd ~/cl-recipes && rm -rf s.json lake aws.args",
            "cd ~/cl-recipes
             [ \"$(find lake -type f | wc -l)\" -eq 7 ]
             grep -q '^s3 sync lake/ s3://my-bucket/compliance/$' aws.args",
        ),
    },
    Spec {
        key: "parallel -j 4 'set -o pipefail;",
        how: run(
            "mkdir -p ~/cl-recipes && cd ~/cl-recipes && rm -rf state lake
             printf '%s\\n' \"$P\" \"$CL_SIM_ORG\" > principals.txt",
            "cd ~/cl-recipes
             [ -s \"state/$P.json\" ] && [ -s \"state/$CL_SIM_ORG.json\" ]
             [ \"$(find lake -type f | wc -l)\" -eq 14 ]",
        ),
    },
    Spec {
        key: "cl-list \"$P\" --check -e AUTH_LOG,COSTS --state ~/cl/state/pull.json --max-lag 2h",
        // COSTS belongs to organizations: the example shows that error, and exits 1.
        how: How::Run {
            setup: "",
            edits: &[],
            status: 1,
            check: "",
        },
    },
    Spec {
        key: "--metrics /var/lib/node_exporter/cl-check.prom",
        how: How::Run {
            setup: "mkdir -p node_exporter",
            edits: &[("/var/lib/node_exporter", "node_exporter")],
            // The hourly job pulled every type: both are caught up, and the file says so.
            status: 0,
            check: "grep -q '^cl_check_status{event_type=\"AUDIT_LOG\",principal=\"'\"$P\"'\",status=\"ok\"} 1$' node_exporter/cl-check.prom
                    grep -q '^cl_check_lag_seconds{event_type=\"AUTH_LOG\",principal=\"'\"$P\"'\"} [0-9]' node_exporter/cl-check.prom
                    grep -q '^cl_check_status{event_type=\"AUTH_LOG\",principal=\"'\"$P\"'\",status=\"ok\"} 1$' node_exporter/cl-check.prom",
        },
    },
    Spec {
        key: "status=$?",
        how: run("", ""),
    },
    Spec {
        key: "cl-fetch --events --dedup seen.db >> auth.unique.jsonl",
        how: run(
            "cd ~/cl-recipes && rm -f seen.db auth.unique.jsonl",
            "cd ~/cl-recipes
             [ \"$(wc -l < auth.unique.jsonl)\" -gt 0 ]
             [ \"$(jq -r .event_id auth.unique.jsonl | sort | uniq -d | wc -l)\" -eq 0 ]",
        ),
    },
    Spec {
        key: "sudo systemctl daemon-reload",
        how: How::Says,
    },
    Spec {
        key: "/scripts/container)",
        how: How::Says,
    },
    Spec {
        key: "kubectl apply -f",
        how: How::Says,
    },
    Spec {
        key: "parallel --sshlogin",
        how: How::Says,
    },
    Spec {
        key: "\"$bin/cl-sim\" > sim.env",
        how: run(
            "rm -f ~/cl-try/auth.jsonl ~/cl-try/sim.env",
            "[ \"$(wc -l < ~/cl-try/auth.jsonl)\" -gt 0 ]",
        ),
    },
];

/// The guides a user follows: README.md, then docs/*.md by name (not docs/reference/, which
/// is `--help` as scripts/docs renders it).
pub fn guides() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    [vec![repo().join("README.md")], docs].concat()
}

/// The guides' fenced blocks: language and text.
fn blocks() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for guide in guides() {
        out.extend(blocks_of(&std::fs::read_to_string(guide).unwrap()));
    }
    out
}

fn blocks_of(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((lang.trim().to_owned(), String::new())),
            }
        } else if let Some((_, text)) = &mut current {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Stand-ins for programs that would reach outside this machine.
const CURL: &str = r#"#!/bin/sh
# curl to a SIEM: keeps the body, and the arguments.
echo "$*" >> curl.args
mkdir -p sink
cat > "sink/${CL_ID:-body}"
"#;
/// The editor leaves the settings as they are: the README's next block points them at the
/// simulator.
const EDITOR: &str = r#"#!/bin/sh
test -f "$1"
"#;
const CRONTAB: &str = r#"#!/bin/sh
case "$1" in
  -l) cat "$HOME/crontab.txt" 2>/dev/null ;;
  -) cat > "$HOME/crontab.new" && mv "$HOME/crontab.new" "$HOME/crontab.txt" ;;
  *) exit 1 ;;
esac
"#;
const AWS: &str = r#"#!/bin/sh
echo "$*" >> aws.args
case "$1 $2" in
  "s3 cp") mkdir -p sink && cat > "sink/$CL_ID" ;;
esac
"#;

#[test]
fn every_readme_block_is_run_or_says_why_not() {
    let blocks = blocks();
    // Every sh block has a spec, and every spec a block.
    let mut used = vec![false; SPECS.len()];
    let mut plan = Vec::new();
    for (lang, text) in &blocks {
        if lang != "sh" {
            continue;
        }
        let found: Vec<usize> = (0..SPECS.len())
            .filter(|&i| text.contains(SPECS[i].key))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "a block of the guides matches {} specs (add one to tests/readme.rs):\n{text}",
            found.len()
        );
        used[found[0]] = true;
        plan.push((found[0], text.clone()));
    }
    for (i, spec) in SPECS.iter().enumerate() {
        assert!(used[i], "no block of the guides holds {:?}", spec.key);
    }

    let sim = Sim::with(|c| {
        c.dataset.start = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(50);
    });
    let home = tempfile::tempdir().unwrap();
    // The user's current directory is not the checkout: every block works from anywhere.
    let work = tempfile::tempdir().unwrap();
    // The clone where the README says it is.
    std::fs::create_dir(home.path().join("src")).unwrap();
    std::os::unix::fs::symlink(repo(), home.path().join("src/cl-tools")).unwrap();
    let checkout = || {
        Command::new("git")
            .args(["status", "--porcelain", "--ignored=no"])
            .current_dir(repo())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| o.stdout)
    };
    let checkout_before = checkout();
    let stubs = work.path().join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    for (name, text) in [
        ("curl", CURL),
        ("aws", AWS),
        ("editor", EDITOR),
        ("crontab", CRONTAB),
    ] {
        std::fs::write(stubs.join(name), text).unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(stubs.join(name))
            .status()
            .unwrap();
    }
    let cargo = PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let real_home = PathBuf::from(std::env::var("HOME").unwrap());
    let path = format!(
        "{h}/.cargo/bin:{s}:{c}:/usr/local/bin:/usr/bin:/bin",
        h = home.path().display(),
        s = stubs.display(),
        c = cargo.parent().unwrap_or(Path::new("/usr/bin")).display()
    );
    let env = |cmd: &mut Command| {
        cmd.env_clear()
            .current_dir(work.path())
            .env("HOME", home.path())
            .env("PATH", &path)
            .env("EDITOR", stubs.join("editor"))
            .env("LANG", "C.UTF-8")
            // cargo and rustup keep using this machine's toolchain, registry and build cache;
            // `cargo install` still installs into the new HOME.
            .env(
                "CARGO_HOME",
                std::env::var_os("CARGO_HOME").unwrap_or(real_home.join(".cargo").into()),
            )
            .env(
                "RUSTUP_HOME",
                std::env::var_os("RUSTUP_HOME").unwrap_or(real_home.join(".rustup").into()),
            )
            .env("CARGO_INSTALL_ROOT", home.path().join(".cargo"))
            .env("CARGO_TARGET_DIR", repo().join("target"))
            .env("CARGO_NET_OFFLINE", "true")
            .env("COMPLIANCE_API_BASE", sim.base_url())
            .env("COMPLIANCE_API_KEY", sim.key())
            .env("COMPLIANCE_PRINCIPAL", sim.ws())
            .env("CL_SIM_ORG", sim.org())
            .env("P", sim.ws());
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            cmd.env("RUSTUP_TOOLCHAIN", toolchain);
        }
    };
    let bash = |script: &str| {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(script).process_group(0);
        env(&mut cmd);
        // Output to files, not pipes: what a block leaves running would hold a pipe open.
        let out_file = tempfile::NamedTempFile::new().unwrap();
        let err_file = tempfile::NamedTempFile::new().unwrap();
        let mut child = cmd
            .stdout(out_file.reopen().unwrap())
            .stderr(err_file.reopen().unwrap())
            .spawn()
            .unwrap();
        let status = child.wait().unwrap();
        // What the block left running (the simulator of the first five minutes) goes too.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", child.id())])
            .stderr(std::process::Stdio::null())
            .status();
        std::process::Output {
            status,
            stdout: std::fs::read(out_file.path()).unwrap(),
            stderr: std::fs::read(err_file.path()).unwrap(),
        }
    };

    for (i, text) in plan {
        let spec = &SPECS[i];
        match &spec.how {
            How::Says => {
                assert!(
                    text.starts_with("# not run by the tests: ")
                        || text.starts_with("# not run by the tests as written: "),
                    "a README block the tests do not run must say why in its first line:\n{text}"
                );
            }
            How::Run {
                setup,
                edits,
                status,
                check,
            } => {
                let missing = outside_programs(&format!("{setup}\n{text}\n{check}"))
                    .into_iter()
                    .filter(|(program, install)| {
                        !needs_for(&format!("README block {:?}", spec.key), program, install)
                    })
                    .count();
                if missing > 0 {
                    continue;
                }
                let out = bash(setup);
                assert!(out.status.success(), "setup for {:?}: {out:?}", spec.key);
                let mut script = text.clone();
                for (from, to) in *edits {
                    assert!(script.contains(from), "{from:?} not in\n{text}");
                    script = script.replace(from, to);
                }
                let out = bash(&script);
                assert_eq!(
                    out.status.code(),
                    Some(*status),
                    "README block exited {:?}, expected {status}:\n{script}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    stderr(&out)
                );
                let out = bash(&format!("set -e\n{check}"));
                assert!(
                    out.status.success(),
                    "after the README block\n{script}\nthe check failed:\n{check}\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    stderr(&out)
                );
            }
        }
    }

    // The CI step (GitHub Actions' default shell, bash -e), with the same environment.
    let ci: Vec<String> = blocks
        .iter()
        .filter(|(lang, text)| lang == "yaml" && !text.starts_with("# not run by the tests"))
        .map(|(_, text)| {
            let script = text.split_once("- run: |\n").expect("a run step").1;
            script
                .lines()
                .map(|l| l.strip_prefix("    ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert_eq!(ci.len(), 1, "one CI block");
    let out = bash(&format!("rm -rf lake\nbash -e -c {}", shell_quote(&ci[0])));
    assert!(out.status.success(), "CI step: {out:?}");
    let out = bash("[ \"$(find lake -type f | wc -l)\" -eq 7 ]");
    assert!(out.status.success(), "CI step delivered: {out:?}");

    // The crontab line, as cron runs it: after the run above, nothing new.
    let cron = blocks
        .iter()
        .find(|(lang, _)| lang == "cron")
        .expect("a cron block")
        .1
        .trim()
        .to_owned();
    let command = cron.splitn(6, ' ').nth(5).unwrap().to_owned();
    let out = Command::new("env")
        .args(["-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh"])
        .arg(format!("HOME={}", home.path().display()))
        .args(["sh", "-c", &command])
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{cron}: {out:?}"
    );
    let log = std::fs::read_to_string(home.path().join("cl/cl.log")).unwrap();
    assert!(
        log.lines()
            .last()
            .unwrap()
            .contains(": 0 file(s) delivered"),
        "{log}"
    );

    // Nothing landed in the checkout.
    if checkout_before.is_some() {
        assert_eq!(
            checkout().map(|s| String::from_utf8_lossy(&s).into_owned()),
            checkout_before.map(|s| String::from_utf8_lossy(&s).into_owned()),
            "the guides' blocks wrote into the checkout"
        );
    }
}
