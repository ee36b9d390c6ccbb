//! The words of a failed request: an HTTP status with the server's own message, or what went
//! wrong on the wire (timeout, refused, TLS, a proxy), never showing a URL's query.

use crate::error::Error;
use crate::net::error_body::server_message;
use crate::net::proxy::ProxySetting;
use crate::net::retry::parse_retry_after;
use std::io::{self, Read};
use std::time::Duration;
use ureq::Body;
use ureq::http::{Response, header};

/// How much of an error body is read to find the server's message.
pub(crate) const MAX_ERROR_BODY: u64 = 64 << 10;

/// Turns a non-success response into an error quoting the server's message.
pub(crate) fn http_error(context: String, response: &mut Response<Body>, from_blob: bool) -> Error {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
    let mut body = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut body);
    let message = server_message(&body)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
    Error::Http {
        context,
        status: status.as_u16(),
        message,
        retry_after,
        from_blob,
    }
}

/// The error for a request that got no answer: a TLS failure names the host, a failure
/// through a proxy names the proxy, a failure to reach the host at all names the host.
pub(crate) fn request_error(
    error: ureq::Error,
    context: &str,
    host: &str,
    via: Option<&ProxySetting>,
    timeout: Duration,
) -> Error {
    if let Some(why) = tls_failure(&error) {
        return Error::Tls {
            context: context.to_owned(),
            host: host.to_owned(),
            why,
        };
    }
    let message = match via {
        // The proxy is the first suspect when the connection fails: name it.
        Some(proxy) => format!(
            "through proxy {} (from {}): {}",
            proxy.shown,
            proxy.variable,
            wire_words(error, timeout)
        ),
        // Which host the URL led to is the first question (a base URL left unset goes to
        // the real API).
        None if never_connected(&error) => {
            format!("connecting to {host}: {}", wire_words(error, timeout))
        }
        None => wire_words(error, timeout),
    };
    Error::Transport {
        context: context.to_owned(),
        message,
    }
}

/// True when a request failed because its connection was closed before any answer came, as
/// a pooled connection closed by the server while idle does.
pub(crate) fn closed_before_answer(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// The rustls error inside a transport error, if the handshake is what failed.
fn tls_failure(error: &ureq::Error) -> Option<String> {
    match error {
        ureq::Error::Rustls(e) => Some(e.to_string()),
        ureq::Error::Tls(e) => Some((*e).to_owned()),
        ureq::Error::Io(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|e| e.to_string()),
        _ => None,
    }
}

/// Whether the request failed before any connection to the host existed: no address for the
/// name, refused, unreachable, or no connection in time.
fn never_connected(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Timeout(ureq::Timeout::Connect)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(e) => {
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
                    | io::ErrorKind::AddrNotAvailable
            ) || e.to_string().contains("lookup address")
        }
        _ => false,
    }
}

/// Says what went wrong on the wire, in words that never include a URL; a timeout names the
/// `timeout` that ran out.
pub(crate) fn wire_words(error: ureq::Error, timeout: Duration) -> String {
    let timed_out = || format!("timed out: nothing received for {} s", timeout.as_secs());
    match error {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            format!("timed out: no connection within {} s", timeout.as_secs())
        }
        ureq::Error::Timeout(_) => timed_out(),
        ureq::Error::Io(e) => match e.kind() {
            io::ErrorKind::UnexpectedEof => "the connection closed early".to_owned(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => timed_out(),
            _ => e.to_string(),
        },
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::BadUri(_) => "bad URL".to_owned(),
        ureq::Error::Protocol(e) => format!("HTTP protocol error: {e}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_failures_are_said_in_words_that_name_the_timeout() {
        let t = Duration::from_secs(30);
        assert_eq!(
            wire_words(ureq::Error::Timeout(ureq::Timeout::Connect), t),
            "timed out: no connection within 30 s"
        );
        assert_eq!(
            wire_words(ureq::Error::Timeout(ureq::Timeout::RecvBody), t),
            "timed out: nothing received for 30 s"
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(
            wire_words(ureq::Error::Io(eof), t),
            "the connection closed early"
        );
    }

    #[test]
    fn a_host_never_reached_is_named_and_a_proxy_is_named_first() {
        let refused = || ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        let direct = request_error(refused(), "listing X", "h.example", None, Duration::ZERO);
        assert!(
            direct
                .to_string()
                .starts_with("listing X: connecting to h.example: "),
            "{direct}"
        );
        let reset = ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(closed_before_answer(&reset) && !closed_before_answer(&refused()));
        let after = request_error(reset, "listing X", "h.example", None, Duration::ZERO);
        assert!(!after.to_string().contains("h.example"), "{after}");
    }
}
