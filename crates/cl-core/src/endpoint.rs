//! Where requests go: the configured API base, and URLs as they may be shown to people.

use crate::error::{Error, Result};
use ureq::http::Uri;

/// The default API base of the Compliance Logs Platform.
pub const DEFAULT_BASE_URL: &str = "https://api.chatgpt.com/v1/compliance";

/// A validated API base URL, without a trailing slash.
#[derive(Clone, Debug)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Parses and checks a base URL: absolute, no query, https unless the host is loopback.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |why: &str| Error::Config(format!("invalid base URL {text:?}: {why}"));
        let uri: Uri = text.parse().map_err(|_| invalid("not a URL"))?;
        if uri.scheme().is_none() || uri.host().is_none() {
            return Err(invalid(
                "it must be absolute, like https://api.chatgpt.com/v1/compliance",
            ));
        }
        if uri.query().is_some() {
            return Err(invalid("it must not have a query"));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(invalid("it must not carry credentials"));
        }
        crate::https::check(&uri).map_err(|why| invalid(&why))?;
        Ok(BaseUrl(text.trim_end_matches('/').to_owned()))
    }

    /// The base as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL safe to show people: scheme, host and path, never the query (signatures live there).
pub fn redact(uri: &Uri) -> String {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    // Drop userinfo, if any, along with the query.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        authority,
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_is_absolute_plain_and_passes_the_https_rule() {
        for ok in [
            "https://api.chatgpt.com/v1/compliance",
            "http://127.0.0.1:8080/v1/compliance/",
        ] {
            assert!(BaseUrl::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("/v1/compliance", "absolute"),
            ("api.chatgpt.com/v1", "not a URL"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://example.com/?a=b", "query"),
            ("http://example.com/", "https is required"),
        ] {
            let err = BaseUrl::parse(bad).unwrap_err();
            assert!(
                err.is_config() && err.to_string().contains(why),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn trailing_slash_is_dropped() {
        let base = BaseUrl::parse("http://127.0.0.1:8/v1/compliance/").unwrap();
        assert_eq!(base.as_str(), "http://127.0.0.1:8/v1/compliance");
    }

    #[test]
    fn redact_drops_query_and_userinfo() {
        let uri: Uri = "https://u:p@blob.example.com/a/b?sig=SECRET&expires=1"
            .parse()
            .unwrap();
        assert_eq!(redact(&uri), "https://blob.example.com/a/b");
    }
}
