//! Every documented pipeline of cl-list into cl-fetch, as pasted from the guides (README.md,
//! docs/*.md) and from
//! `--help`, fails its job when cl-list fails: each runs under `set -o pipefail`.

use crate::util::*;

/// A pipeline as documented, and the shell that runs it.
struct Recipe {
    source: String,
    shell: &'static str,
    script: String,
}

/// Fenced code blocks: their language and their lines, continuation lines joined.
fn blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((lang.trim().to_owned(), Vec::new())),
            }
            continue;
        }
        if let Some((_, lines)) = &mut current {
            match lines.last_mut() {
                Some(last) if last.ends_with('\\') => {
                    last.pop();
                    last.push_str(line.trim_start());
                }
                _ => lines.push(line.to_owned()),
            }
        }
    }
    out
}

fn is_pipeline(statement: &str) -> bool {
    statement.contains("cl-list") && statement.contains('|') && statement.contains("cl-fetch")
}

/// The pipelines of the guides' blocks, each with the setting lines before it in its block.
fn readme_recipes() -> Vec<Recipe> {
    let mut recipes = Vec::new();
    for guide in crate::readme::guides() {
        let name = guide
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        guide_recipes(
            &name,
            &std::fs::read_to_string(&guide).unwrap(),
            &mut recipes,
        );
    }
    recipes
}

fn guide_recipes(name: &str, text: &str, recipes: &mut Vec<Recipe>) {
    for (lang, lines) in blocks(text) {
        // PowerShell has no pipefail; its recipes say how they fail instead. Blocks that say
        // they cannot run here (a cluster, SSH hosts) are not run.
        if lang == "powershell"
            || lines
                .first()
                .is_some_and(|l| l.starts_with("# not run by the tests"))
        {
            continue;
        }
        let mut settings = Vec::new();
        for line in lines {
            let statement = line.trim();
            let source = format!("{name} ({lang}): {statement}");
            match lang.as_str() {
                "cron" => {
                    if statement.starts_with("SHELL=") {
                        settings.push(statement.to_owned());
                    }
                    let fields: Vec<&str> = statement.splitn(6, char::is_whitespace).collect();
                    if fields.len() == 6 && is_pipeline(fields[5]) {
                        assert_eq!(settings, ["SHELL=/bin/bash"], "{source}: cron needs bash");
                        recipes.push(Recipe {
                            source,
                            shell: "bash",
                            script: fields[5].to_owned(),
                        });
                    }
                }
                "ini" => {
                    if let Some(command) = statement.strip_prefix("ExecStart=")
                        && is_pipeline(command)
                    {
                        recipes.push(Recipe {
                            source,
                            shell: "sh",
                            script: command.to_owned(),
                        });
                    }
                }
                _ => {
                    let statement = statement.strip_prefix("- run: |").unwrap_or(statement);
                    // The test gives the key, base and principal itself.
                    if statement.starts_with("export COMPLIANCE_") {
                        continue;
                    }
                    if ["set ", "export ", "mkdir "]
                        .iter()
                        .any(|p| statement.starts_with(p))
                    {
                        settings.push(statement.to_owned());
                    } else if is_pipeline(statement) {
                        let shell = if lang == "yaml" { "bash -e" } else { "bash" };
                        let script = [settings.clone(), vec![statement.to_owned()]]
                            .concat()
                            .join("\n");
                        recipes.push(Recipe {
                            source,
                            shell,
                            script,
                        });
                    }
                }
            }
        }
    }
}

/// The pipelines of a tool's `--help` examples, each after the `set` lines above it.
fn help_recipes(tool: &str) -> Vec<Recipe> {
    let help = TestCommand::new(bin_dir().join(tool))
        .arg("--help")
        .stdout();
    let examples = help.rsplit_once("\nExamples:\n").unwrap().1;
    let (_, lines) = &blocks(&format!("```\n{examples}\n```"))[0];
    let mut settings = Vec::new();
    let mut recipes = Vec::new();
    for statement in lines.iter().map(|l| l.trim()) {
        let statement = statement.split("  #").next().unwrap().trim();
        if statement.starts_with("set ") {
            settings.push(statement.to_owned());
        } else if is_pipeline(statement) {
            recipes.push(Recipe {
                source: format!("{tool} --help: {statement}"),
                shell: "bash",
                script: [settings.clone(), vec![statement.to_owned()]]
                    .concat()
                    .join("\n"),
            });
        }
    }
    recipes
}

#[test]
fn every_documented_pipeline_fails_its_job_when_the_key_is_rejected() {
    let sim = Sim::start();
    let mut recipes = readme_recipes();
    let from_readme = recipes.len();
    recipes.extend(help_recipes("cl-list"));
    recipes.extend(help_recipes("cl-fetch"));
    assert!(
        from_readme >= 10 && recipes.len() >= 20,
        "found {from_readme} / {}",
        recipes.len()
    );
    let bin = bin_dir();
    for recipe in recipes {
        let missing = outside_programs(&recipe.script)
            .into_iter()
            .filter(|(program, install)| !needs_for(&recipe.source, program, install))
            .count();
        if missing > 0 {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        std::fs::write(dir.path().join("key"), "sk-wrong\n").unwrap();
        std::fs::write(dir.path().join("principals.txt"), format!("{}\n", sim.ws())).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        // The guides' recipes work in ~/cl-recipes.
        std::fs::create_dir_all(dir.path().join("cl-recipes/state")).unwrap();
        std::fs::write(
            dir.path().join("cl-recipes/principals.txt"),
            format!("{}\n", sim.ws()),
        )
        .unwrap();
        let script = recipe
            .script
            .replace("/var/lib/cl", &root)
            .replace("/etc/cl/key", &format!("{root}/key"))
            .replace("target/release/", &format!("{}/", bin.display()))
            .replace("\"$bin/", &format!("\"{}/", bin.display()));
        let mut cmd = TestCommand::new("sh".into());
        cmd.arg("-c")
            .arg(format!("{} -c \"$0\"", recipe.shell))
            .arg(&script)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("COMPLIANCE_API_BASE", sim.base_url())
            .env("COMPLIANCE_API_KEY", "sk-wrong")
            .env("COMPLIANCE_PRINCIPAL", sim.ws())
            .env("P", sim.ws());
        let out = cmd.output();
        let said =
            stderr(&out) + &std::fs::read_to_string(dir.path().join("cl.log")).unwrap_or_default();
        assert!(
            !out.status.success() && said.contains("HTTP 401"),
            "{}\nexited {:?} after running\n{script}\nstderr: {said}",
            recipe.source,
            out.status
        );
    }
}
