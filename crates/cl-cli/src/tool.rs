//! What both tools do around their own work: flags in, `--completions`/`--man` answered, the
//! opening steps (signals, reporter, retries, client), and an exit status out.

use crate::docs::DocArgs;
use crate::exit::{self, Exit};
use crate::flags::{CommonArgs, ToolFlags};
use crate::report::Reporter;
use cl_core::net::Client;
use cl_core::net::retry::Retrier;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs a tool: parses its flags `A`, prints documentation if that is what was asked (`flags`
/// finds the shared ones), else runs `run` and turns its result into the exit status,
/// reporting an error on stderr.
pub fn main<A: clap::Parser>(
    tool: &'static str,
    flags: fn(&A) -> &ToolFlags,
    run: impl FnOnce(A) -> anyhow::Result<Exit>,
) -> ExitCode {
    documented(
        tool,
        |args: &A| &flags(args).docs,
        crate::docs::MAN_SECTIONS,
        |args| {
            crate::report::set_format(flags(&args).common.log_format);
            run(args)
        },
    )
}

/// As [`main`], for a program without the tools' connection flags (cl-pull): `docs` finds its
/// `--completions` and `--man`, `sections` ends its man page, and `run` may end with any
/// status (`Exit`, or a number it passes on).
pub fn documented<A: clap::Parser, S: Into<ExitCode>>(
    tool: &'static str,
    docs: impl Fn(&A) -> &DocArgs,
    sections: &str,
    run: impl FnOnce(A) -> anyhow::Result<S>,
) -> ExitCode {
    let args = A::parse();
    match docs(&args).print::<A>(sections) {
        Ok(true) => Exit::Success.into(),
        Ok(false) => match run(args) {
            Ok(status) => status.into(),
            Err(error) => exit::fail(tool, &error).into(),
        },
        Err(error) => exit::fail(tool, &error.into()).into(),
    }
}

/// What a tool needs to talk to the API, set up the same way by both: signal handlers that
/// stop the work, the reporter on stderr, the retry policy and the client.
pub struct Session {
    /// Prints progress and errors on stderr.
    pub reporter: Arc<Reporter>,
    /// Runs requests again after passing failures.
    pub retry: Arc<Retrier>,
    /// The HTTP client.
    pub client: Arc<Client>,
}

impl Session {
    /// Installs the signal handlers and builds the reporter, the retrier and the client.
    pub fn open(tool: &'static str, common: &CommonArgs) -> cl_core::Result<Session> {
        let stop = crate::signals::install();
        let reporter = Arc::new(Reporter::new(tool, common.verbosity()));
        let retry = Arc::new(Retrier::new(
            common.retry_policy(),
            reporter.clone(),
            stop.clone(),
        ));
        let client = Arc::new(Client::new(
            common.client_config(tool, stop)?,
            reporter.clone(),
            retry.pause().clone(),
        )?);
        Ok(Session {
            reporter,
            retry,
            client,
        })
    }
}
