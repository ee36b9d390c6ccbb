//! Shell completions and man pages, generated from the same clap definitions as `--help`, so
//! none of them can drift from the others.

use clap::CommandFactory;
use std::io::{self, Write};

/// The pipelines both tools are made for, at the end of both `--help` pages.
const PIPELINES: &str =
    "  set -o pipefail    # in scripts: a failing cl-list then fails the pipeline

  cl-list \"$P\" -e AUTH_LOG --after 24h | cl-fetch > auth.jsonl
  cl-list \"$P\" -e AUTH_LOG --after 7d | cl-fetch -j 8 -o lake/

  # hourly from cron: resumes where the last run stopped (cl-pull runs it)
  cl-list \"$P\" -e AUTH_LOG,APP_LOG --after 24h --state s.json \\
    | cl-fetch -j 8 -o lake/ --state s.json

  cl-list \"$P\" -e AUTH_LOG --after 7d | jq -r .id \\
    | xargs -P 8 -n 50 cl-fetch --principal \"$P\" -o lake/
  cl-list \"$P\" -e AUTH_LOG --after 7d | parallel --pipe -N 100 cl-fetch -o lake/
";

/// The known event types, per kind of principal, as `-e all` expands them (from
/// `cl_core::model::event_types`, the one list the code uses).
pub fn event_types() -> String {
    use cl_core::model::event_types::all;
    use cl_core::model::principal::Scope;
    let kind = |scope| all(scope).collect::<Vec<_>>().join(", ");
    format!(
        "Event types known (what -e all stands for; other names pass to the API as given):\n  \
         workspaces:    {}\n  organizations: {}",
        kind(Scope::Workspaces),
        kind(Scope::Organizations)
    )
}

/// What `cl-list --type-list` prints: every known event type under the kind of principal
/// that serves it, with what it holds and where its name comes from (from
/// `cl_core::model::event_types`, the one list the code uses).
pub fn type_list() -> String {
    use cl_core::model::event_types::{KNOWN, UNPLACED};
    use cl_core::model::principal::Scope;
    let mut out = String::from(
        "The event types known to cl-list, under the kind of principal that serves them: -e all
stands for one kind's list. No endpoint lists them, so each name is given with the public
source it comes from, and what each holds is as its name and public integrations describe it
(the vendor's reference is behind an admin login). A name not here passes to the API as given.
",
    );
    for (scope, heading) in [
        (
            Scope::Workspaces,
            "workspaces (a ChatGPT Enterprise workspace id, a UUID)",
        ),
        (
            Scope::Organizations,
            "organizations (an API Platform org-… id)",
        ),
    ] {
        out.push_str(&format!("\n{heading}:\n"));
        for t in KNOWN.iter().filter(|t| t.scope == scope) {
            out.push_str(&format!(
                "  {:<28}{}\n  {:<28}(name from {})\n",
                t.name, t.holds, "", t.source
            ));
        }
    }
    out.push_str(&format!(
        "\nSeen, but no source says which kind of principal serves them (not in all): {}\n",
        UNPLACED.join(", ")
    ));
    out
}

/// The `Examples:` section of a tool's `--help`: the shared pipelines, then the tool's own.
pub fn examples(own: &str) -> String {
    format!("Examples:\n{PIPELINES}\n{own}")
}

/// The man page's sections that clap does not make: the same for both tools.
pub const MAN_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
Everything asked for was done; also when stdout was closed early (as by \fBhead\fR), and when a
\fB\-\-follow\fR feed was stopped by SIGTERM.
.TP
1
Runtime failure: network, HTTP, TLS, integrity, a file not delivered (or refused by
\fB\-\-exec\fR), an event type the API refused, a state file in use, a directory or disk that
cannot take the files.
.TP
2
Usage or configuration error: bad flag, missing key, bad time or layout, unreadable CA file,
corrupt or unreadable state file (left as it is).
.TP
130, 143
Interrupted by SIGINT or SIGTERM: files in flight discarded, checkpoint kept.
.SH ENVIRONMENT
.TP
COMPLIANCE_API_KEY
The Compliance API key, unless \fB\-\-api\-key\-file\fR names a file holding it.
.TP
COMPLIANCE_API_BASE
The API's base URL (default https://api.chatgpt.com/v1/compliance); \fB\-\-base\-url\fR wins.
.TP
COMPLIANCE_PRINCIPAL
The workspace id or org\-\&... id when none is given on the command line.
.TP
COMPLIANCE_RETENTION
(cl\-list) How long the API keeps files (default 30d), for the warning about a state older than
that and for \fB\-\-check\fR.
.TP
HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY
Proxies as curl reads them (lower\-case names first); NO_PROXY takes names, domain suffixes,
addresses, CIDR ranges and *.
.TP
SSL_CERT_FILE
A PEM file of CAs to trust besides the bundled and system roots, as \fB\-\-ca\-cert\fR.
.SH "SEE ALSO"
\fBcl\-list\fR(1), \fBcl\-fetch\fR(1), \fBjq\fR(1), \fBparallel\fR(1). The README holds the
hourly cron job; docs/recipes.md holds Splunk, Vector and S3; docs/deployment.md systemd and
Kubernetes.
"#;

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
    /// Prints what was asked for, the man page ending with `sections` (roff: EXIT STATUS and
    /// the like, which clap does not make); returns false when nothing was.
    pub fn print<C: CommandFactory>(&self, sections: &str) -> io::Result<bool> {
        let mut out = io::stdout().lock();
        let mut command = C::command();
        if let Some(shell) = self.completions {
            let name = command.get_name().to_owned();
            clap_complete::generate(shell, &mut command, name, &mut out);
        } else if self.man {
            let man = clap_mangen::Man::new(command);
            man.render_title(&mut out)?;
            man.render_name_section(&mut out)?;
            man.render_synopsis_section(&mut out)?;
            man.render_description_section(&mut out)?;
            man.render_options_section(&mut out)?;
            man.render_extra_section(&mut out)?;
            out.write_all(sections.as_bytes())?;
            man.render_version_section(&mut out)?;
        } else {
            return Ok(false);
        }
        out.flush()?;
        Ok(true)
    }
}
