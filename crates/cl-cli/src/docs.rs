//! Shell completions and man pages, generated from the same clap definitions as `--help`, so
//! none of them can drift from the others.

use clap::CommandFactory;
use std::io::{self, Write};

/// The pipelines both tools are made for, at the end of both `--help` pages.
const PIPELINES: &str =
    "  set -o pipefail    # in scripts: a failing cl-list then fails the pipeline

  cl-list \"$P\" -e AUTH_LOG --after 24h | cl-fetch > auth.jsonl
  cl-list \"$P\" -e AUTH_LOG --after 7d | cl-fetch -j 8 -o lake/

  # hourly from cron: resumes where the last run stopped
  cl-list \"$P\" -e AUTH_LOG,APP_LOG --after 24h --state s.json \\
    | cl-fetch -j 8 -o lake/ --state s.json

  cl-list \"$P\" -e AUTH_LOG --after 7d | jq -r .id \\
    | xargs -P 8 -n 50 cl-fetch --principal \"$P\" -o lake/
  cl-list \"$P\" -e AUTH_LOG --after 7d | parallel --pipe -N 100 cl-fetch -o lake/
";

/// The `Examples:` section of a tool's `--help`: the shared pipelines, then the tool's own.
pub fn examples(own: &str) -> String {
    format!("Examples:\n{PIPELINES}\n{own}")
}

/// Flags that print documentation instead of running the tool. Like `--help`, they ignore
/// every other flag, so settings in the environment (`COMPLIANCE_*`) cannot stop them.
#[derive(clap::Args, Debug, Clone)]
pub struct DocArgs {
    /// Print a completion script for SHELL (bash, zsh, fish, powershell, elvish) and exit.
    #[arg(long, value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long)]
    pub man: bool,
}

impl DocArgs {
    /// Prints what was asked for; returns false when nothing was.
    pub fn print<C: CommandFactory>(&self) -> io::Result<bool> {
        let mut out = io::stdout().lock();
        let mut command = C::command();
        if let Some(shell) = self.completions {
            let name = command.get_name().to_owned();
            clap_complete::generate(shell, &mut command, name, &mut out);
        } else if self.man {
            clap_mangen::Man::new(command).render(&mut out)?;
        } else {
            return Ok(false);
        }
        out.flush()?;
        Ok(true)
    }
}
