//! The event types known for each kind of principal: what `-e all` stands for, and what the
//! documentation lists. No endpoint lists them, so the list is gathered from public sources,
//! each name's own given beside it; a name not here is passed to the API as it is.

use crate::error::Error;
use crate::model::principal::Scope;

/// An event type, where it lives, what it holds, and where its name comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventType {
    /// The name the API takes.
    pub name: &'static str,
    /// The kind of principal that serves it.
    pub scope: Scope,
    /// What its events record, in a few words.
    pub holds: &'static str,
    /// Where the name is documented.
    pub source: &'static str,
}

/// One public integration lists these nine as the workspace types; others name some of them.
const CONNECTOR: &str = "an integration's list of the nine workspace types";
/// The vendor's quickstart uses AUTH_LOG, with a workspace id and with an org id.
const QUICKSTART: &str = "the vendor's quickstart";
/// Seen by public integrations, refused under workspaces as organization-scoped.
const ORG_SEEN: &str = "integrations, as organization-scoped";

/// Every known event type, workspace types first, in the order integrations list them. What
/// each holds is said as its name and the integrations' descriptions tell it: the vendor
/// documents it behind an admin login. See [`UNPLACED`] for the types seen without a scope.
pub const KNOWN: &[EventType] = &[
    EventType {
        name: "AUTH_LOG",
        scope: Scope::Workspaces,
        holds: "sign-ins and sign-outs of the workspace's users",
        source: QUICKSTART,
    },
    EventType {
        name: "AUDIT_LOG",
        scope: Scope::Workspaces,
        holds: "admin actions: settings, members, roles, keys",
        source: CONNECTOR,
    },
    EventType {
        name: "APP_LOG",
        scope: Scope::Workspaces,
        holds: "use of connected apps (connectors) by users",
        source: CONNECTOR,
    },
    EventType {
        name: "APP_AUTH_LOG",
        scope: Scope::Workspaces,
        holds: "users authorizing and revoking connected apps",
        source: CONNECTOR,
    },
    EventType {
        name: "CONVERSATION_MESSAGE",
        scope: Scope::Workspaces,
        holds: "every message users and assistants wrote, with its text",
        source: CONNECTOR,
    },
    EventType {
        name: "CODEX_LOG",
        scope: Scope::Workspaces,
        holds: "Codex tasks: who ran what, where",
        source: CONNECTOR,
    },
    EventType {
        name: "CODEX_SECURITY_LOG",
        scope: Scope::Workspaces,
        holds: "Codex security events: sandbox, network and approval decisions",
        source: CONNECTOR,
    },
    EventType {
        name: "CUSTOM_AGENTS_LOG",
        scope: Scope::Workspaces,
        holds: "custom GPTs and agents: created, changed, shared, used",
        source: CONNECTOR,
    },
    EventType {
        name: "CHATGPT_PLUGIN_SPREADSHEET",
        scope: Scope::Workspaces,
        holds: "spreadsheets the spreadsheet feature read or wrote",
        source: CONNECTOR,
    },
    EventType {
        name: "AUTH_LOG",
        scope: Scope::Organizations,
        holds: "sign-ins to the API Platform organization",
        source: QUICKSTART,
    },
    EventType {
        name: "COSTS",
        scope: Scope::Organizations,
        holds: "the organization's usage costs",
        source: ORG_SEEN,
    },
];

/// Names public integrations have seen, but no source says which kind of principal serves:
/// not in `all`, and passed through when named.
pub const UNPLACED: &[&str] = &["CODEX_TURN"];

/// Why the API refuses to list one event type for this principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It belongs to the other kind of principal (workspace or organization).
    OtherScope,
    /// The key may not read it (keys carry read grants per log category).
    NoGrant,
    /// The API does not know the name.
    Unknown,
}

/// What an error says of one event type, if it is a refusal of that type.
pub fn refusal(error: &Error) -> Option<Refusal> {
    let Error::Http {
        status,
        message,
        from_blob: false,
        ..
    } = error
    else {
        return None;
    };
    let message = message.to_ascii_lowercase();
    match status {
        403 => Some(Refusal::NoGrant),
        400 | 404 | 422 if message.contains("scoped event type") => Some(Refusal::OtherScope),
        400 | 422
            if message.contains("event_type")
                && ["unknown", "invalid", "not a valid", "not supported"]
                    .iter()
                    .any(|w| message.contains(w)) =>
        {
            Some(Refusal::Unknown)
        }
        _ => None,
    }
}

/// The names `all` stands for, for a principal of `scope`, in order.
pub fn all(scope: Scope) -> impl Iterator<Item = &'static str> {
    KNOWN
        .iter()
        .filter(move |t| t.scope == scope)
        .map(|t| t.name)
}

/// The known name closest to `name` (another case, a letter or two off, a missing `_`), for
/// a hint; `None` when none is close or `name` is known.
pub fn closest(name: &str) -> Option<&'static str> {
    if KNOWN.iter().any(|t| t.name == name) {
        return None;
    }
    let wanted: Vec<char> = name.to_ascii_uppercase().chars().collect();
    let folded = |s: &str| -> Vec<char> { s.chars().filter(|c| *c != '_').collect() };
    KNOWN
        .iter()
        .map(|t| {
            let known: Vec<char> = t.name.chars().collect();
            let distance = edits(&wanted, &known).min(edits(&folded(name), &folded(t.name)));
            (distance, t.name)
        })
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// The edit distance between two words.
fn edits(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca.to_ascii_uppercase() != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_stands_for_the_types_of_the_principal_s_kind() {
        let workspace: Vec<&str> = all(Scope::Workspaces).collect();
        assert_eq!(
            workspace,
            [
                "AUTH_LOG",
                "AUDIT_LOG",
                "APP_LOG",
                "APP_AUTH_LOG",
                "CONVERSATION_MESSAGE",
                "CODEX_LOG",
                "CODEX_SECURITY_LOG",
                "CUSTOM_AGENTS_LOG",
                "CHATGPT_PLUGIN_SPREADSHEET"
            ]
        );
        assert_eq!(
            all(Scope::Organizations).collect::<Vec<_>>(),
            ["AUTH_LOG", "COSTS"]
        );
    }

    #[test]
    fn refusals_of_one_type_are_told_apart_from_other_failures() {
        let http = |status, message: &str, from_blob| Error::Http {
            context: "listing X after t".into(),
            status,
            message: message.into(),
            retry_after: None,
            from_blob,
        };
        let cases = [
            (
                http(403, "lacks read permission", false),
                Some(Refusal::NoGrant),
            ),
            (
                http(
                    400,
                    "AUTH_LOG is a workspace-scoped event type. Use …",
                    false,
                ),
                Some(Refusal::OtherScope),
            ),
            (
                http(400, "unknown event_type AUTH_LGO", false),
                Some(Refusal::Unknown),
            ),
            (
                http(422, "event_type: not a valid choice", false),
                Some(Refusal::Unknown),
            ),
            (http(400, "after must be a time", false), None),
            (http(403, "AccessDenied", true), None),
            (http(500, "unknown event_type", false), None),
            (Error::Interrupted, None),
        ];
        for (error, want) in cases {
            assert_eq!(refusal(&error), want, "{error}");
        }
    }

    #[test]
    fn a_close_name_is_suggested_and_a_far_one_is_not() {
        for (typed, want) in [
            ("AUTH_LGO", Some("AUTH_LOG")),
            ("auth_log", Some("AUTH_LOG")),
            ("AUTHLOG", Some("AUTH_LOG")),
            ("APP_LOGS", Some("APP_LOG")),
            ("COST", Some("COSTS")),
            ("CONVERSATION_MESSAGES", Some("CONVERSATION_MESSAGE")),
            ("AUTH_LOG", None),
            ("NEW_TYPE", None),
            ("X", None),
        ] {
            assert_eq!(closest(typed), want, "{typed}");
        }
    }
}
