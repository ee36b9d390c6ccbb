//! What both tools do around their own work: flags in, `--completions`/`--man` answered, the
//! opening steps (signals, reporter, retries, client), and an exit status out.

use crate::exit::{self, Exit};
use crate::flags::{CommonArgs, ToolFlags};
use crate::report::Reporter;
use cl_core::api::Client;
use cl_core::retry::Retrier;
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
    let args = A::parse();
    let shared = flags(&args);
    let exit = match shared.docs.print::<A>() {
        Ok(true) => Exit::Success,
        Ok(false) => {
            crate::report::set_format(shared.common.log_format);
            run(args).unwrap_or_else(|error| exit::fail(tool, &error))
        }
        Err(error) => exit::fail(tool, &error.into()),
    };
    exit.into()
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
