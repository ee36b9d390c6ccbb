//! Which proxy each request goes through, read from the environment as curl reads it:
//! `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy`/`HTTP_PROXY` for plain http ones,
//! `all_proxy`/`ALL_PROXY` for either when those are unset (lower case first), and
//! `no_proxy`/`NO_PROXY` naming what goes direct: `*`, host names (a name also covers its
//! subdomains; a leading dot changes nothing), IP addresses and CIDR ranges (`127.0.0.0/8`).

use crate::error::{Error, Result};
use std::net::IpAddr;

/// A proxy from the environment.
#[derive(Clone, Debug)]
pub struct ProxySetting {
    /// The proxy as it may be shown: scheme, host and port, never a password.
    pub shown: String,
    /// The variable it came from, e.g. `HTTPS_PROXY`.
    pub variable: &'static str,
    /// The proxy as the HTTP client takes it.
    pub proxy: ureq::Proxy,
}

/// The proxies the environment names, and what bypasses them.
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    https: Option<ProxySetting>,
    http: Option<ProxySetting>,
    bypass: Vec<Bypass>,
}

/// One `NO_PROXY` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bypass {
    Everything,
    Domain(String),
    Address(IpAddr),
    Range(IpAddr, u8),
}

impl Proxies {
    /// Reads the environment. A proxy variable that is not a usable URL is a configuration
    /// error naming the variable.
    pub fn from_env() -> Result<Proxies> {
        Proxies::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// As [`Proxies::from_env`], from any lookup (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Proxies> {
        let first =
            |names: [&'static str; 2]| names.into_iter().find_map(|n| lookup(n).map(|v| (n, v)));
        let all = first(["all_proxy", "ALL_PROXY"]);
        let https = first(["https_proxy", "HTTPS_PROXY"]).or_else(|| all.clone());
        let http = first(["http_proxy", "HTTP_PROXY"]).or(all);
        let bypass = first(["no_proxy", "NO_PROXY"])
            .map(|(_, v)| parse_bypass(&v))
            .unwrap_or_default();
        Ok(Proxies {
            https: https.map(setting).transpose()?,
            http: http.map(setting).transpose()?,
            bypass,
        })
    }

    /// The proxy for a URL with this scheme and host, or `None` to go direct.
    pub fn for_url(&self, scheme: &str, host: &str) -> Option<&ProxySetting> {
        let proxy = if scheme.eq_ignore_ascii_case("https") {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!self.bypass.iter().any(|b| b.covers(host))).then_some(proxy)
    }

    /// Every distinct proxy named, for building one connection pool each.
    pub fn all(&self) -> impl Iterator<Item = &ProxySetting> {
        let http = self
            .http
            .as_ref()
            .filter(|h| self.https.as_ref().is_none_or(|s| s.shown != h.shown));
        self.https.iter().chain(http)
    }
}

fn setting((variable, value): (&'static str, String)) -> Result<ProxySetting> {
    let value = value.trim();
    let url = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let proxy = ureq::Proxy::new(&url)
        .map_err(|e| Error::Config(format!("{variable} is not a proxy this tool can use ({e})")))?;
    let uri = proxy.uri();
    let shown = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        proxy.host(),
        uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
    );
    Ok(ProxySetting {
        shown,
        variable,
        proxy,
    })
}

fn parse_bypass(value: &str) -> Vec<Bypass> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            if entry == "*" {
                return Some(Bypass::Everything);
            }
            if let Some((net, bits)) = entry.split_once('/') {
                let net: IpAddr = net.trim_matches(['[', ']']).parse().ok()?;
                let bits: u8 = bits.parse().ok()?;
                let max = if net.is_ipv4() { 32 } else { 128 };
                return (bits <= max).then_some(Bypass::Range(net, bits));
            }
            let bare = entry.trim_start_matches('[');
            let bare = bare.split(']').next().unwrap_or(bare);
            if let Ok(ip) = bare.parse::<IpAddr>() {
                return Some(Bypass::Address(ip));
            }
            // A port on a host name is ignored, as curl does.
            let host = entry.split(':').next().unwrap_or(entry);
            let host = host.trim_start_matches("*.").trim_start_matches('.');
            Some(Bypass::Domain(host.to_ascii_lowercase()))
        })
        .collect()
}

impl Bypass {
    fn covers(&self, host: &str) -> bool {
        match self {
            Bypass::Everything => true,
            Bypass::Address(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            Bypass::Range(net, bits) => host
                .parse::<IpAddr>()
                .is_ok_and(|h| in_range(h, *net, *bits)),
            Bypass::Domain(domain) => {
                let host = host.to_ascii_lowercase();
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
        }
    }
}

fn in_range(host: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (host, net) {
        (IpAddr::V4(h), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(h) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(h), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(h) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Proxies {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    }

    fn via(p: &Proxies, url: &str) -> Option<String> {
        let uri: ureq::http::Uri = url.parse().unwrap();
        p.for_url(uri.scheme_str().unwrap(), uri.host().unwrap())
            .map(|s| format!("{} {}", s.variable, s.shown))
    }

    #[test]
    fn the_scheme_picks_the_variable_and_lower_case_comes_first() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://big:3128"),
            ("https_proxy", "http://small:3128"),
            ("HTTP_PROXY", "plain:8080"),
            ("ALL_PROXY", "http://all:1"),
        ]);
        assert_eq!(
            via(&p, "https://api.x/"),
            Some("https_proxy http://small:3128".into())
        );
        assert_eq!(
            via(&p, "http://api.x/"),
            Some("HTTP_PROXY http://plain:8080".into())
        );
        let p = proxies(&[("ALL_PROXY", "http://user:secret@all:1")]);
        assert_eq!(
            via(&p, "https://api.x/"),
            Some("ALL_PROXY http://all:1".into()),
            "no password"
        );
        assert_eq!(via(&proxies(&[]), "https://api.x/"), None);
    }

    #[test]
    fn no_proxy_takes_names_suffixes_addresses_ranges_and_a_star() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                " example.com, .corp.internal,10.1.2.3, 127.0.0.0/8 ,[::1],fd00::/8,host:8443",
            ),
        ]);
        for direct in [
            "https://example.com/",
            "https://api.example.com/",
            "https://x.corp.internal/",
            "https://10.1.2.3/",
            "https://127.0.0.2:9/",
            "https://[::1]:9/",
            "https://[fd12::1]/",
            "https://host/",
        ] {
            assert_eq!(via(&p, direct), None, "{direct}");
        }
        for proxied in [
            "https://notexample.com/",
            "https://10.1.2.4/",
            "https://128.0.0.1/",
            "https://[fe80::1]/",
        ] {
            assert!(via(&p, proxied).is_some(), "{proxied}");
        }
        let star = proxies(&[("HTTPS_PROXY", "http://proxy:3128"), ("no_proxy", "*")]);
        assert_eq!(via(&star, "https://api.x/"), None);
    }

    #[test]
    fn an_unusable_proxy_is_a_configuration_error_naming_its_variable() {
        let err = Proxies::from_lookup(|n| (n == "HTTPS_PROXY").then(|| "ftp://x:1".to_owned()))
            .unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("HTTPS_PROXY"),
            "{err}"
        );
    }
}
