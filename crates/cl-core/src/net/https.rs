//! The transport rule every URL must pass, the API base and every redirect target alike:
//! `https://` anywhere, plain `http://` only to loopback hosts.

use std::net::{Ipv4Addr, Ipv6Addr};
use url::Url;

/// Checks a URL; the error says why it is refused.
pub fn check(url: &Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(format!(
            "plain http is allowed only to loopback hosts, not {host}: https is required"
        )),
        scheme => Err(format!(
            "scheme {scheme:?} is not allowed: https is required"
        )),
    }
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
            assert_eq!(check(&Url::parse(ok).unwrap()), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://api.chatgpt.com/x", "https is required"),
            ("http://10.0.0.1/", "not 10.0.0.1"),
            ("http://128.0.0.1/", "loopback"),
            ("http://localhost.evil.com/", "loopback"),
            ("ftp://127.0.0.1/", "scheme \"ftp\" is not allowed"),
            ("file:///etc/passwd", "scheme \"file\" is not allowed"),
            ("HTTP://10.0.0.1/", "https is required"),
        ] {
            let err = check(&Url::parse(bad).unwrap()).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
