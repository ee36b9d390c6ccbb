//! The transport rule every URL must pass, the API base and every redirect target alike:
//! `https://` anywhere, plain `http://` only to loopback hosts.

use std::net::{Ipv4Addr, Ipv6Addr};
use ureq::http::Uri;

/// Checks a URL; the error says why it is refused.
pub fn check(uri: &Uri) -> Result<(), String> {
    check_parts(uri.scheme_str(), uri.host().unwrap_or(""))
}

/// The rule itself, on a URL's scheme and host.
fn check_parts(scheme: Option<&str>, host: &str) -> Result<(), String> {
    match scheme.map(str::to_ascii_lowercase).as_deref() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "plain http is allowed only to loopback hosts, not {host}: https is required"
        )),
        Some(_) => Err(format!(
            "scheme {:?} is not allowed: https is required",
            scheme.unwrap_or_default()
        )),
        None => Err("the URL is not absolute".to_owned()),
    }
}

/// Why no URL with this scheme could pass, whatever its host; `None` for http and https.
pub fn refuses_scheme(scheme: &str) -> Option<String> {
    check_parts(Some(scheme), "localhost").err()
}

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || bare.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_to_loopback() {
        for ok in [
            "https://api.chatgpt.com/x",
            "http://127.0.0.1:8080/x",
            "http://127.3.4.5/x",
            "http://localhost:1",
            "http://[::1]:9/v1",
        ] {
            assert_eq!(check(&ok.parse().unwrap()), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://api.chatgpt.com/x", "https is required"),
            ("http://10.0.0.1/", "not 10.0.0.1"),
            ("http://128.0.0.1/", "loopback"),
            ("http://localhost.evil.com/", "loopback"),
            ("ftp://127.0.0.1/", "scheme \"ftp\" is not allowed"),
        ] {
            let err = check(&bad.parse().unwrap()).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(refuses_scheme("file").is_some());
        assert_eq!(refuses_scheme("HTTP"), None);
    }
}
