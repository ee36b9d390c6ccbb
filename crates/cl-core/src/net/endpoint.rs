//! Where requests go: the configured API base, the URLs of the API's requests built on it,
//! and URLs as they may be shown to people.

use crate::error::{Error, Result};
use url::{ParseError, Url};

/// The default API base of the Compliance Logs Platform.
pub const DEFAULT_BASE_URL: &str = "https://api.chatgpt.com/v1/compliance";

/// A validated API base URL.
#[derive(Clone, Debug)]
pub struct BaseUrl {
    url: Url,
    /// As given, without a trailing slash.
    text: String,
}

impl BaseUrl {
    /// Parses and checks a base URL: absolute, no query, https unless the host is loopback.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |why: &str| Error::Config(format!("invalid base URL {text:?}: {why}"));
        let absolute = "it must be absolute, like https://api.chatgpt.com/v1/compliance";
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(ParseError::RelativeUrlWithoutBase) if text.starts_with('/') => {
                return Err(invalid(absolute));
            }
            Err(_) => return Err(invalid("not a URL")),
        };
        if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(absolute));
        }
        if url.query().is_some() {
            return Err(invalid("it must not have a query"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not carry credentials"));
        }
        crate::net::https::check(&url).map_err(|why| invalid(&why))?;
        Ok(BaseUrl {
            url,
            text: text.trim_end_matches('/').to_owned(),
        })
    }

    /// The base as given, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The base followed by `segments`, each percent-encoded as one path segment, then the
    /// query `pairs` in their order, form-encoded.
    pub fn join(&self, segments: &[&str], pairs: &[(&str, &str)]) -> Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }
}

/// A URL safe to show people: scheme, host, port and path, never the query (signatures live
/// there) nor credentials.
pub fn redact(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", url.scheme(), url.path())
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
            ("mailto:someone", "absolute"),
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
    fn request_urls_append_encoded_segments_and_pairs_to_the_base() {
        for base in [
            "http://127.0.0.1:8/v1/compliance",
            "http://127.0.0.1:8/v1/compliance/",
        ] {
            let url = BaseUrl::parse(base).unwrap().join(
                &["workspaces", "ws 1", "logs", "a/b?#"],
                &[
                    ("event_type", "AUTH_LOG"),
                    ("after", "2026-07-16T01:00:00.1+00:00"),
                    ("limit", "100"),
                ],
            );
            assert_eq!(
                url.as_str(),
                "http://127.0.0.1:8/v1/compliance/workspaces/ws%201/logs/a%2Fb%3F%23\
                 ?event_type=AUTH_LOG&after=2026-07-16T01%3A00%3A00.1%2B00%3A00&limit=100"
            );
        }
        let bare = BaseUrl::parse("https://example.com").unwrap();
        assert_eq!(
            bare.join(&["x"], &[]).as_str(),
            "https://example.com/x",
            "no query without pairs"
        );
    }

    #[test]
    fn redact_drops_query_and_userinfo() {
        let url = Url::parse("https://u:p@blob.example.com:8443/a/b?sig=SECRET&expires=1").unwrap();
        assert_eq!(redact(&url), "https://blob.example.com:8443/a/b");
        let file = Url::parse("file:///etc/passwd").unwrap();
        assert_eq!(redact(&file), "file:///etc/passwd");
    }
}
