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
}

#[test]
fn completions_for_every_shell_and_bash_parses_them() {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["cl-list", "cl-fetch"] {
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
    let dir = tempfile::tempdir().unwrap();
    for tool in ["cl-list", "cl-fetch"] {
        let page = TestCommand::new(bin_dir().join(tool)).arg("--man").stdout();
        let path = dir.path().join(format!("{tool}.1"));
        std::fs::write(&path, page).unwrap();
        let text = sh(&format!(
            "MANPAGER=cat MANWIDTH=100 man -l {}",
            path.display()
        ))
        .stdout();
        for want in [
            "NAME",
            "SYNOPSIS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "COMPLIANCE_API_KEY",
            "SEE ALSO",
            "--state",
            "Examples:",
            RECIPES[0],
            RECIPES[3],
        ] {
            assert!(
                text.contains(want),
                "{tool}: {want:?} not in the rendered page:\n{text}"
            );
        }
    }
}
