//! The invariants of ARCHITECTURE.md, enforced: the table there says which folders each folder
//! of `cl-core` may never import, and these tests read it and every source file, so a wrong
//! arrow fails CI instead of waiting for review.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The folders (and top-level files) a rule can name.
const PARTS: &[&str] = &["error", "observe", "model", "net", "store", "list", "fetch"];

/// What no file of `cl-core` may contain: the core knows nothing of the command line.
const CLI_WORDS: &[(&str, &str)] = &[
    ("io::stdout(", "stdout is the binaries' to write"),
    ("println!", "printing is the binaries' job"),
    ("print!(", "printing is the binaries' job"),
    ("eprintln!", "printing is the binaries' job"),
    ("eprint!(", "printing is the binaries' job"),
    ("process::exit", "exit statuses are cl-cli's"),
    ("ExitCode", "exit statuses are cl-cli's"),
    ("clap::", "flags are cl-cli's"),
];

/// What `model` may never touch: it is the data, with no I/O.
const IO_WORDS: &[&str] = &[
    "std::fs",
    "fs::",
    "File::",
    "std::process",
    "std::thread",
    "tempfile",
    "ureq",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The rules of ARCHITECTURE.md's invariants table: part → the parts it never imports. A row
/// is `| `model/` | … | `net`, `store`, … |`: the first cell names the part, the last the
/// parts it never imports.
fn rules(markdown: &str) -> BTreeMap<String, Vec<String>> {
    let names = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(|name| {
                name.trim_end_matches('/')
                    .trim_end_matches(".rs")
                    .to_owned()
            })
            .collect()
    };
    let section = markdown
        .split("\n## ")
        .find(|s| s.starts_with("Invariants"))
        .expect("ARCHITECTURE.md has an Invariants section");
    let mut rules = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
        let never = names(cells.last().copied().unwrap_or_default());
        for part in names(cells[0]) {
            rules.insert(part, never.clone());
        }
    }
    rules
}

/// The part of `cl-core` a source file belongs to: its folder, or its own name at the top.
fn part_of(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(src()).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let part = first.trim_end_matches(".rs");
    PARTS.contains(&part).then(|| part.to_owned())
}

/// The code of a file without its comments and its unit tests (the `#[cfg(test)]` module
/// at its end), line by line, numbered from 1.
fn code_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    let shipped = source.split("\n#[cfg(test)]").next().unwrap_or(source);
    shipped.lines().enumerate().map(|(i, line)| {
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        (i + 1, code)
    })
}

/// Where `source`, a file of `part`, breaks a rule: the parts it may never import, the command
/// line, and for `model` any I/O.
fn violations(part: &str, source: &str, never: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (n, code) in code_lines(source) {
        if code.contains("crate::{") || code.contains("super::super") {
            found.push(format!(
                "line {n}: name other modules by their full path (crate::part::module)"
            ));
        }
        for other in never {
            let path = format!("crate::{other}");
            let hit = code.match_indices(&path).any(|(at, _)| {
                !code[at + path.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if hit {
                found.push(format!("line {n}: {part} may never import {other}"));
            }
        }
        for (word, why) in CLI_WORDS {
            if code.contains(word) {
                found.push(format!("line {n}: {word}: {why}"));
            }
        }
        if part == "model" {
            for word in IO_WORDS.iter().filter(|w| code.contains(**w)) {
                found.push(format!("line {n}: {word}: model does no I/O"));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn architecture_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_folder_imports_only_what_architecture_md_allows() {
    let rules = rules(&architecture_md());
    assert_eq!(
        rules.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut parts = PARTS.to_vec();
            parts.sort_unstable();
            parts
        },
        "ARCHITECTURE.md's invariants table names every part of cl-core once"
    );
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut broken = Vec::new();
    for file in files {
        let Some(part) = part_of(&file) else {
            let shown = file
                .strip_prefix(src())
                .unwrap_or(&file)
                .display()
                .to_string();
            if !matches!(shown.as_str(), "lib.rs" | "architecture.rs") {
                broken.push(format!(
                    "{shown}: not in any folder of the invariants table"
                ));
            }
            continue;
        };
        let source = fs::read_to_string(&file).unwrap();
        for why in violations(&part, &source, &rules[&part]) {
            broken.push(format!("{}: {why}", file.display()));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn cl_core_depends_on_no_command_line_crate() {
    let manifest =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for crate_name in ["clap", "indicatif", "cl-cli", "anyhow"] {
        assert!(
            !manifest
                .lines()
                .any(|l| l.starts_with(&format!("{crate_name}."))
                    || l.starts_with(&format!("{crate_name} "))),
            "cl-core must not depend on {crate_name}"
        );
    }
}

#[test]
fn the_checker_catches_each_kind_of_wrong_arrow() {
    let rules = rules(&architecture_md());
    let cases = [
        (
            "model",
            "use crate::net::Client;",
            "model may never import net",
        ),
        (
            "store",
            "use crate::fetch::events::Source;",
            "store may never import fetch",
        ),
        (
            "net",
            "    let x = crate::store::durable::parent(p);",
            "net may never import store",
        ),
        (
            "list",
            "use crate::fetch::{run};",
            "list may never import fetch",
        ),
        ("fetch", "use crate::{list, model};", "full path"),
        ("model", "use std::fs::File;", "model does no I/O"),
        ("fetch", "println!(\"x\");", "printing"),
        ("net", "std::process::exit(3);", "exit statuses"),
    ];
    for (part, code, want) in cases {
        let found = violations(part, code, &rules[part]);
        assert!(
            found.iter().any(|f| f.contains(want)),
            "{part}: {code:?} should break a rule ({want}): {found:?}"
        );
    }
    for (part, code) in [
        ("fetch", "use crate::store::spool::Spool;"),
        ("list", "use crate::net::Client;"),
        (
            "net",
            "use crate::model::principal::Principal; // crate::fetch",
        ),
        ("model", "use crate::model::line::FileRef;"),
        ("model", "use crate::netty::x;"),
    ] {
        assert_eq!(
            violations(part, code, &rules[part]),
            Vec::<String>::new(),
            "{code}"
        );
    }
}
