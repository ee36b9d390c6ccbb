//! Following a download's redirect: which statuses redirect, and where a `Location` leads,
//! resolved as RFC 3986 says (by the `url` crate) and held to the https rule.

use crate::net::endpoint::redact;
use crate::net::https;
use url::Url;

/// Redirect hops followed for one download before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// True for the statuses that send the client elsewhere: any 3xx that names a new place.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Where a redirect leads: `location` (the header's value, if usable) resolved against the
/// URL that answered with it. The error says why it cannot be followed, never showing a
/// query (where signatures live).
pub fn target(location: Option<&str>, current: &Url) -> Result<Url, String> {
    let location = location.ok_or("a redirect without a usable Location header")?;
    let next = current
        .join(location.trim())
        .map_err(|_| "a redirect to an unparsable Location".to_owned())?;
    https::check(&next).map_err(|why| format!("refused redirect to {}: {why}", redact(&next)))?;
    if next.host_str().is_none_or(str::is_empty) {
        return Err("a redirect to a Location without a host".to_owned());
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(location: &str) -> Result<String, String> {
        let current = Url::parse("https://api.example.com/v1/compliance/ws/logs/eclf_1").unwrap();
        target(Some(location), &current).map(String::from)
    }

    #[test]
    fn every_reference_form_resolves_as_rfc_3986_says() {
        for (location, want) in [
            // Absolute.
            (
                "https://blob.example.com/f?sig=1",
                "https://blob.example.com/f?sig=1",
            ),
            // Scheme-relative: the current scheme, another host.
            (
                "//blob.example.com/a/b?x=1",
                "https://blob.example.com/a/b?x=1",
            ),
            // Absolute path: the current origin.
            ("/other/f", "https://api.example.com/other/f"),
            // Relative path, with and without dot segments.
            ("f2", "https://api.example.com/v1/compliance/ws/logs/f2"),
            ("./f2", "https://api.example.com/v1/compliance/ws/logs/f2"),
            ("../f2", "https://api.example.com/v1/compliance/ws/f2"),
            (
                "a/../../b/./c",
                "https://api.example.com/v1/compliance/ws/b/c",
            ),
            ("../../../../../../x", "https://api.example.com/x"),
            // Query only: the same path, a new query.
            (
                "?sig=2",
                "https://api.example.com/v1/compliance/ws/logs/eclf_1?sig=2",
            ),
            // Surrounding whitespace in the header is not part of the reference.
            (" https://blob.example.com/f ", "https://blob.example.com/f"),
            // Loopback may be plain http.
            ("http://127.0.0.2:9/f", "http://127.0.0.2:9/f"),
        ] {
            assert_eq!(resolve(location).as_deref(), Ok(want), "{location}");
        }
    }

    #[test]
    fn what_cannot_be_followed_says_why_without_the_query() {
        for (location, want) in [
            (
                "http://blob.example.com/f?sig=SECRET",
                "refused redirect to http://blob.example.com/f: plain http is allowed only \
                 to loopback hosts, not blob.example.com: https is required",
            ),
            (
                "file:///etc/passwd",
                "refused redirect to file:///etc/passwd: scheme \"file\" is not allowed: \
                 https is required",
            ),
            ("https://", "a redirect to an unparsable Location"),
            ("http://[::1", "a redirect to an unparsable Location"),
        ] {
            assert_eq!(resolve(location), Err(want.to_owned()), "{location}");
        }
        let current = Url::parse("https://api.example.com/").unwrap();
        assert_eq!(
            target(None, &current),
            Err("a redirect without a usable Location header".to_owned())
        );
        assert!(is_redirect(307) && is_redirect(302) && !is_redirect(304) && !is_redirect(200));
    }
}
