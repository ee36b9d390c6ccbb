//! Where requests go: the configured API base and the https policy every URL must pass.

use crate::error::{Error, Result};
use std::net::{Ipv4Addr, Ipv6Addr};
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
        check_policy(&uri).map_err(|why| invalid(&why))?;
        Ok(BaseUrl(text.trim_end_matches('/').to_owned()))
    }

    /// The base as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks the transport policy: `https://` anywhere, plain `http://` only to loopback hosts.
/// Returns why a URL is refused.
pub fn check_policy(uri: &Uri) -> Result<(), String> {
    let host = uri.host().unwrap_or("");
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "plain http is allowed only to loopback hosts, not {host}: https is required"
        )),
        Some(other) => Err(format!(
            "scheme {other:?} is not allowed: https is required"
        )),
        None => Err("the URL is not absolute".to_owned()),
    }
}

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || bare.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
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
    fn http_only_to_loopback() {
        for ok in [
            "https://api.chatgpt.com/v1/compliance",
            "http://127.0.0.1:8080/v1/compliance/",
            "http://127.3.4.5/x",
            "http://localhost:1",
            "http://[::1]:9/v1",
        ] {
            assert!(BaseUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.chatgpt.com/v1/compliance",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://localhost.evil.com/",
            "ftp://127.0.0.1/",
            "api.chatgpt.com/v1",
            "https://user:pw@example.com/",
            "https://example.com/?a=b",
        ] {
            let err = BaseUrl::parse(bad).unwrap_err();
            assert!(err.is_config(), "{bad}");
        }
        let err = BaseUrl::parse("http://example.com/")
            .unwrap_err()
            .to_string();
        assert!(err.contains("https is required"), "{err}");
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
