//! Shell completions and man pages, generated from the same clap definitions as `--help`, so
//! none of them can drift from the others.

use clap::CommandFactory;
use std::io::{self, Write};

/// Flags that print documentation instead of running the tool.
#[derive(clap::Args, Debug, Clone)]
pub struct DocArgs {
    /// Print a completion script for SHELL (bash, zsh, fish, powershell, elvish) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
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
