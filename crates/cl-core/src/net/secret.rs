//! The API key, kept out of every log line, error and `Debug` output.

use crate::error::{Error, Result};
use std::fmt;
use std::path::Path;

/// The bearer key. Its `Debug` and `Display` print a placeholder, never the key.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Validates a key: non-empty after trimming, and nothing that could break a header.
    pub fn new(key: &str, source: &str) -> Result<Self> {
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::Config(format!("the API key from {source} is empty")));
        }
        if key.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(Error::Config(format!(
                "the API key from {source} contains spaces or control characters"
            )));
        }
        Ok(ApiKey(key.to_owned()))
    }

    /// Reads the key from the first line of `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read API key file {}: {e}", path.display()))
        })?;
        let first = text.lines().next().unwrap_or("");
        ApiKey::new(first, &format!("API key file {}", path.display()))
    }

    /// The `Authorization` header value. Only the API client calls this.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_key() {
        let key = ApiKey::new("  sk-secret-123\n", "test").unwrap();
        assert!(!format!("{key:?} {key}").contains("secret"));
        assert_eq!(key.bearer(), "Bearer sk-secret-123");
    }

    #[test]
    fn rejects_empty_and_header_breaking_keys() {
        assert!(ApiKey::new("   ", "test").is_err());
        assert!(ApiKey::new("a\r\nX-Evil: 1", "test").is_err());
        let err = ApiKey::new("a b", "env").unwrap_err().to_string();
        assert!(!err.contains("a b"), "{err}");
    }
}
