//! The principal whose logs are read: a ChatGPT workspace or an API Platform organization.

use crate::error::{Error, Result, quote};
use std::fmt;

/// Which API path segment a principal lives under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A ChatGPT workspace, addressed by its UUID.
    Workspaces,
    /// An API Platform organization, addressed by its `org-…` id.
    Organizations,
}

impl Scope {
    /// The path segment the API uses for this scope.
    pub fn path_segment(self) -> &'static str {
        match self {
            Scope::Workspaces => "workspaces",
            Scope::Organizations => "organizations",
        }
    }
}

/// A validated principal id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(String);

impl Principal {
    /// Checks that `id` can stand as one path segment: letters, digits, `-`, `_`, `.`.
    pub fn parse(id: &str) -> Result<Self> {
        let valid = !id.is_empty()
            && id.len() <= 200
            && id != "."
            && id != ".."
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid {
            Ok(Principal(id.to_owned()))
        } else {
            Err(Error::Config(format!(
                "invalid principal {}: expected a workspace UUID or an org-… id",
                quote(id)
            )))
        }
    }

    /// `org-…` ids are organizations; anything else is a workspace.
    pub fn scope(&self) -> Scope {
        if self.0.starts_with("org-") {
            Scope::Organizations
        } else {
            Scope::Workspaces
        }
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_follows_prefix() {
        let org = Principal::parse("org-p13k3klgno5cqxbf0q8hpgrk").unwrap();
        assert_eq!(org.scope(), Scope::Organizations);
        let ws = Principal::parse("f7f33107-5fb9-4ee1-8922-3eae76b5b5a0").unwrap();
        assert_eq!(ws.scope(), Scope::Workspaces);
        assert_eq!(ws.scope().path_segment(), "workspaces");
    }

    #[test]
    fn rejects_what_cannot_be_a_path_segment() {
        for bad in ["", "..", "a/b", "a b", "a?b", "x%2f", "ws\n"] {
            assert!(Principal::parse(bad).is_err(), "{bad:?}");
        }
    }
}
