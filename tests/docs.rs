//! Help that teaches: examples in --help, completions and man pages from the same definitions.

use crate::util::*;

const RECIPES: [&str; 5] = [
    "cl-list \"$P\" -e AUTH_LOG --after 24h | cl-fetch > auth.jsonl",
    "--after 24h --state s.json \\\n    | cl-fetch -j 8 -o lake/ --state s.json",
    "| jq -r .id \\\n    | xargs -P 8 -n 50 cl-fetch --principal \"$P\" -o lake/",
    "--after 7d | parallel --pipe -N 100 cl-fetch -o lake/",
    "# hourly from cron",
];

#[test]
fn help_ends_with_examples_holding_the_real_recipes() {
    for tool in ["cl-list", "cl-fetch"] {
        let help = TestCommand::new(bin_dir().join(tool))
            .arg("--help")
            .stdout();
        let examples = help
            .rsplit_once("\nExamples:\n")
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("{tool}: no Examples section:\n{help}"));
        for recipe in RECIPES {
            assert!(
                examples.contains(recipe),
                "{tool}: missing {recipe:?} in\n{examples}"
            );
        }
    }
    // cl-pull's: the settings it reads, then how it is run.
    let help = TestCommand::new(bin_dir().join("cl-pull"))
        .arg("--help")
        .stdout();
    let (settings, examples) = help
        .rsplit_once("\nExamples:\n")
        .expect("cl-pull: Examples");
    assert!(
        settings.contains("\nSettings:\n  COMPLIANCE_PRINCIPAL "),
        "{help}"
    );
    for recipe in [
        "cl-pull --dry-run ~/cl/pull.conf",
        "# hourly from cron",
        "17 * * * * $HOME/.cargo/bin/cl-pull $HOME/cl/pull.conf",
        "cl-pull --follow ",
    ] {
        assert!(
            examples.contains(recipe),
            "cl-pull: missing {recipe:?} in\n{examples}"
        );
    }
}

/// The three programs a user runs, each with its help, completions and man page.
const TOOLS: [&str; 3] = ["cl-list", "cl-fetch", "cl-pull"];

#[test]
fn completions_for_every_shell_and_bash_parses_them() {
    let dir = tempfile::tempdir().unwrap();
    for tool in TOOLS {
        for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
            let script = TestCommand::new(bin_dir().join(tool))
                .args(["--completions", shell])
                .stdout();
            assert!(
                script.contains(tool) && script.len() > 500,
                "{tool} {shell}"
            );
            if shell == "bash" {
                let path = dir.path().join(format!("{tool}.bash"));
                std::fs::write(&path, &script).unwrap();
                let out = sh(&format!("source {}; complete -p {tool}", path.display())).stdout();
                assert!(
                    out.starts_with("complete ") && out.trim_end().ends_with(tool),
                    "{out}"
                );
            }
        }
    }
}

#[test]
fn man_pages_render_with_man() {
    if !needs("man", "apt-get install man-db") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for tool in TOOLS {
        let page = TestCommand::new(bin_dir().join(tool)).arg("--man").stdout();
        let path = dir.path().join(format!("{tool}.1"));
        std::fs::write(&path, page).unwrap();
        let text = sh(&format!(
            "MANPAGER=cat MANWIDTH=100 man -l {}",
            path.display()
        ))
        .stdout();
        let own = match tool {
            "cl-pull" => ["--dry-run", "Settings:", "STATE_FILE", "127"],
            _ => ["--state", "Examples:", RECIPES[0], RECIPES[3]],
        };
        for want in [
            "NAME",
            "SYNOPSIS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "COMPLIANCE_API_KEY",
            "SEE ALSO",
        ]
        .into_iter()
        .chain(own)
        {
            assert!(
                text.contains(want),
                "{tool}: {want:?} not in the rendered page:\n{text}"
            );
        }
    }
}

/// The files of `dir` that scripts/docs makes, relative to it, sorted.
fn rendered(dir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<String> = tree(&dir.join("reference"))
        .into_iter()
        .map(|f| format!("reference/{f}"))
        .collect();
    if dir.join("event-types.md").exists() {
        files.push("event-types.md".to_owned());
    }
    files.sort();
    files
}

#[test]
fn docs_made_from_the_tools_are_what_the_tools_say() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fresh = tempfile::tempdir().unwrap();
    // The Linux builds Cargo made for this test, whatever CL_E2E_BIN_DIR points at: the
    // documentation is rendered on Linux.
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_cl-list"))
        .parent()
        .unwrap();
    TestCommand::new(repo.join("scripts/docs"))
        .arg("--out")
        .arg(fresh.path())
        .env("CL_DOCS_BIN_DIR", built)
        .assert_exit(0);
    let docs = repo.join("docs");
    let made = rendered(fresh.path());
    assert!(
        made.contains(&"reference/cl-list.md".to_owned())
            && made.contains(&"reference/cl-fetch.md".to_owned())
            && made.contains(&"event-types.md".to_owned()),
        "{made:?}"
    );
    assert_eq!(
        rendered(&docs),
        made,
        "docs/ does not hold the files the tools make: run scripts/docs to refresh it"
    );
    for file in made {
        let want = std::fs::read_to_string(fresh.path().join(&file)).unwrap();
        let got = std::fs::read_to_string(docs.join(&file)).unwrap();
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(g, w)| g != w)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            panic!(
                "docs/{file} differs from what the tools say, from line {}: run scripts/docs to \
                 refresh it\n--- docs/{file} ---\n{}\n--- the tools ---\n{}",
                line + 1,
                got.lines().nth(line).unwrap_or("(end of file)"),
                want.lines().nth(line).unwrap_or("(end of file)"),
            );
        }
    }
}
