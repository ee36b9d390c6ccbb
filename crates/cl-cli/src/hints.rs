//! Errors as people read them: the core's message, with the `hint:` lines and flag names that
//! only the command line knows.

use cl_core::Error;
use cl_core::error::LineError;

/// The message for a core error, naming this tool's flags where they are the way out.
pub fn describe(error: &Error) -> String {
    match error {
        Error::WaitTooLong {
            error,
            asked,
            max_wait,
        } => format!(
            "{} (the server asked to wait {} s, more than --max-wait {} s)",
            describe(error),
            asked.as_secs(),
            max_wait.as_secs()
        ),
        Error::NoStart { event_type, state } => {
            let why = match state {
                Some(file) => format!(
                    "--after is required: {} has no cursor for {event_type} yet",
                    file.display()
                ),
                None => "--after is required".to_owned(),
            };
            format!(
                "{why}\nhint: give RFC 3339 with an offset (2026-01-01T00:00:00Z) or an age (24h, 7d)"
            )
        }
        Error::Tls { .. } => format!(
            "{error}\nhint: if a private CA or a TLS-inspecting proxy signs its certificate, \
             give --ca-cert FILE (PEM) or set SSL_CERT_FILE"
        ),
        Error::HeldOpen { .. } => format!(
            "{error}\nhint: close what has it open (an editor, Get-Content -Wait, a backup or \
             antivirus scan), or exclude the directory from indexing and scanning, then run again"
        ),
        Error::StateInUse { .. } => {
            format!("{error}\nhint: let that run finish, or give this one its own --state file")
        }
        Error::CorruptState { .. } => format!(
            "{error}\nhint: it is written only by cl-fetch --state; move it away to start over"
        ),
        Error::InvalidLayout { template, why } => format!(
            "invalid --layout {template:?}: {why}\nhint: the default is {}",
            cl_core::layout::DEFAULT_LAYOUT
        ),
        Error::Input { label, problem } => format!("{label}: {}", line_problem(problem)),
        other => other.to_string(),
    }
}

/// Why a line or argument could not be read, naming the flag that supplies what is missing.
pub fn line_problem(problem: &LineError) -> String {
    match problem {
        LineError::NoPrincipal => {
            format!("{problem}: give --principal or set COMPLIANCE_PRINCIPAL")
        }
        LineError::Invalid(_) => problem.to_string(),
    }
}

/// The message for any error a tool's run ended with: a core error as [`describe`] words it,
/// anything else with its causes.
pub fn describe_any(error: &anyhow::Error) -> String {
    match error
        .chain()
        .next()
        .and_then(|outer| outer.downcast_ref::<Error>())
    {
        Some(core) => describe(core),
        None => format!("{error:#}"),
    }
}
