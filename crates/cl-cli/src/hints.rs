//! Errors as people read them: the core's message, with the `hint:` lines and flag names that
//! only the command line knows.

use cl_core::Error;
use cl_core::error::LineError;
use cl_core::model::event_types::{self, Refusal};

/// The message for a core error, naming this tool's flags where they are the way out.
pub fn message_of(error: &Error) -> String {
    match error {
        Error::WaitTooLong {
            error,
            asked,
            max_wait,
        } => format!(
            "{} (the server asked to wait {} s, more than --max-wait {} s)",
            message_of(error),
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
        Error::NotAllowed { .. } => format!(
            "{error}\nhint: let the account that runs the tools modify files in that directory \
             (on Windows: icacls, and clear the file's read-only attribute), then run again"
        ),
        Error::CaseTwin { .. } => format!(
            "{error}\nhint: deliver these files to a file system that tells case apart, or \
             hand them to --exec"
        ),
        Error::StateInUse { .. } => {
            format!("{error}\nhint: let that run finish, or give this one its own --state file")
        }
        Error::DedupInUse { .. } => {
            format!("{error}\nhint: let that run finish; runs that share a --dedup file take turns")
        }
        Error::CorruptState { .. } => format!(
            "{error}\nhint: it is written only by cl-fetch --state; move it away to start over"
        ),
        Error::InvalidLayout { template, why } => format!(
            "invalid --layout {template:?}: {why}\nhint: the default is {}",
            cl_core::model::layout::DEFAULT_LAYOUT
        ),
        Error::Input { label, problem } => format!("{label}: {}", line_problem(problem)),
        Error::Http {
            status: status @ (401 | 403),
            from_blob: false,
            ..
        } => format!(
            "{error}\nhint: a 401 or 403 usually means an Admin API key where a Compliance API key \
             is needed, a key whose Compliance API scope is not granted (yet), {}or a workspace \
             id given where an org-… id belongs (or the reverse)",
            match status {
                403 =>
                    "a key without read permission for this log category (granted per \
                        category), ",
                _ => "",
            }
        ),
        Error::Http { context, .. } if event_types::refusal(error) == Some(Refusal::Unknown) => {
            let asked = context
                .strip_prefix("listing ")
                .or_else(|| context.strip_prefix("asking the newest time of "))
                .and_then(|rest| rest.split(' ').next());
            match asked.and_then(event_types::closest) {
                Some(close) => format!("{error}\nhint: did you mean {close}?"),
                None => format!(
                    "{error}\nhint: cl-list --help lists the known event types; a name passes to \
                     the API as given"
                ),
            }
        }
        Error::Http {
            status: 400,
            message,
            from_blob: false,
            ..
        } => match scope_of_refused_type(message) {
            Some((event_type, scope)) => format!(
                "{error}\nhint: {event_type} belongs to {scope}: list it with {}",
                match scope {
                    "workspaces" => "a workspace id (a UUID)",
                    _ => "an organization id (org-…)",
                }
            ),
            None => error.to_string(),
        },
        other => other.to_string(),
    }
}

/// Why a type that `all` brought was skipped, with the hint that says which refusal it was.
pub fn skipped_type(event_type: &str, error: &Error) -> String {
    match event_types::refusal(error) {
        Some(Refusal::NoGrant) => format!(
            "{error}\nhint: the key may not read {event_type}: an admin grants read permission \
             per log category; it is skipped until then"
        ),
        Some(Refusal::Unknown) => format!(
            "{error}\nhint: the API does not serve {event_type} to this principal; it is skipped"
        ),
        _ => message_of(error),
    }
}

/// The event type and the scope it belongs to, from the API's refusal of a type asked on the
/// other scope's path: `AUTH_LOG is a workspace-scoped event type. Use …`.
fn scope_of_refused_type(message: &str) -> Option<(&str, &'static str)> {
    let (event_type, rest) = message.split_once(" is a")?;
    let scope = if rest.starts_with(" workspace-scoped event type") {
        "workspaces"
    } else if rest.starts_with("n organization-scoped event type") {
        "organizations"
    } else {
        return None;
    };
    let event_type = event_type.rsplit(' ').next()?;
    Some((event_type, scope))
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

/// The message for any error a tool's run ended with: a core error as [`message_of`] words it,
/// anything else with its causes.
pub fn message_of_any(error: &anyhow::Error) -> String {
    match error
        .chain()
        .next()
        .and_then(|outer| outer.downcast_ref::<Error>())
    {
        Some(core) => message_of(core),
        None => format!("{error:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_refusal_names_the_scope_the_type_belongs_to() {
        let said =
            "AUTH_LOG is a workspace-scoped event type. Use /v1/compliance/workspaces/{id}/logs";
        assert_eq!(
            scope_of_refused_type(said),
            Some(("AUTH_LOG", "workspaces"))
        );
        let said = "COSTS is an organization-scoped event type. Use …";
        assert_eq!(
            scope_of_refused_type(said),
            Some(("COSTS", "organizations"))
        );
        assert_eq!(scope_of_refused_type("unknown event_type X"), None);
    }
}
