//! The HTTP client for the Compliance Logs Platform: list one page, open one download.

use crate::endpoint::{self, BaseUrl};
use crate::error::{Error, Result};
use crate::error_body::server_message;
use crate::https;
use crate::observe::{Event, Observer};
use crate::page::{self, Page};
use crate::principal::Principal;
use crate::proxy::{Proxies, ProxySetting};
use crate::rate::RateLimit;
use crate::retry::{Pause, parse_retry_after};
use crate::secret::ApiKey;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use ureq::http::{Response, Uri, header};
use ureq::{Agent, Body, BodyReader};

/// Everything but RFC 3986's unreserved characters is escaped in paths and queries.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A listing page larger than this is refused rather than held in memory.
const MAX_PAGE_BYTES: u64 = 16 << 20;
/// How much of an error body is read to find the server's message.
const MAX_ERROR_BODY: u64 = 64 << 10;
/// Redirect hops followed for one download before giving up.
const MAX_REDIRECTS: usize = 5;

/// How to reach the API.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The API base, e.g. `https://api.chatgpt.com/v1/compliance`.
    pub base: BaseUrl,
    /// The bearer key; sent to the API origin only.
    pub key: ApiKey,
    /// Bounds connecting and every silence while waiting for or reading a response.
    pub timeout: Duration,
    /// The `User-Agent` header, e.g. `cl-fetch/0.1.0`.
    pub user_agent: String,
    /// Set to stop: waits end early and no new request starts.
    pub cancel: Arc<AtomicBool>,
    /// PEM files of certificate authorities to trust besides the web roots and the OS store.
    pub ca_files: Vec<std::path::PathBuf>,
    /// At most this many API requests a second (downloads from the blob host not counted).
    pub max_rate: Option<f64>,
}

/// One listing request.
#[derive(Clone, Debug)]
pub struct ListRequest<'a> {
    /// Whose logs.
    pub principal: &'a Principal,
    /// The event type, passed through as given.
    pub event_type: &'a str,
    /// Exclusive lower bound on `end_time`: a time or the previous page's cursor.
    pub after: String,
    /// Optional exclusive upper bound on `end_time`.
    pub before: Option<&'a str>,
    /// Page size asked of the API.
    pub limit: u32,
}

impl ListRequest<'_> {
    /// What this request does, for messages: `listing AUTH_LOG after …`.
    pub fn describe(&self) -> String {
        format!("listing {} after {}", self.event_type, self.after)
    }
}

/// A shared, thread-safe client. One per process: connections are pooled and reused.
pub struct Client {
    direct: Agent,
    proxied: Vec<(String, Agent)>,
    proxies: Proxies,
    base: BaseUrl,
    key: ApiKey,
    observer: Arc<dyn Observer>,
    timeout: Duration,
    cancel: Arc<AtomicBool>,
    pause: Arc<Pause>,
    rate: Option<RateLimit>,
}

/// An open download: the file's bytes as they arrive.
pub struct Download {
    reader: BodyReader<'static>,
    /// The size the server announced, if it did: of the bytes as served.
    pub content_length: Option<u64>,
    /// How the server says it encoded the bytes (`Content-Encoding`), lower-cased; `None` for
    /// none or `identity`.
    pub content_encoding: Option<String>,
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Client {
    /// Builds the client. Nothing is connected until the first request; the trust store is
    /// read only when https is in play, so a loopback run starts without it. Every API request
    /// first waits out `pause` (see [`crate::retry::Retrier::pause`]).
    pub fn new(
        config: ClientConfig,
        observer: Arc<dyn Observer>,
        pause: Arc<Pause>,
    ) -> Result<Self> {
        let tls = if config.base.as_str().starts_with("https:") || !config.ca_files.is_empty() {
            let roots = crate::tls::root_certs(&config.ca_files)?;
            Some(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        } else {
            None
        };
        // One connection pool direct, and one per proxy the environment names; each request
        // picks its own (see `route`).
        let agent = |proxy: Option<ureq::Proxy>| {
            let mut builder = Agent::config_builder();
            if let Some(tls) = &tls {
                builder = builder.tls_config(tls.clone());
            }
            builder
                .proxy(proxy)
                // Statuses are ours to read: 429/503 carry Retry-After, errors their messages.
                .http_status_as_error(false)
                // Redirects are followed by hand: nothing of the API request reaches the blob host.
                .max_redirects(0)
                .timeout_connect(Some(config.timeout))
                .timeout_per_read(Some(config.timeout))
                .timeout_per_write(Some(config.timeout))
                .user_agent(config.user_agent.as_str())
                .max_idle_connections(256)
                .max_idle_connections_per_host(128)
                .build()
                .new_agent()
        };
        let proxies = Proxies::from_env()?;
        let proxied = proxies
            .all()
            .map(|p| (p.shown.clone(), agent(Some(p.proxy.clone()))))
            .collect();
        Ok(Client {
            direct: agent(None),
            proxied,
            proxies,
            base: config.base,
            key: config.key,
            observer,
            timeout: config.timeout,
            cancel: config.cancel,
            pause,
            rate: config.max_rate.and_then(RateLimit::new),
        })
    }

    /// Describes a transport error, naming the timeout when that is what happened.
    pub(crate) fn describe(&self, error: ureq::Error) -> String {
        describe(error, self.timeout)
    }

    fn principal_url(&self, principal: &Principal) -> String {
        format!(
            "{}/{}/{}",
            self.base.as_str(),
            principal.scope().path_segment(),
            principal.as_str()
        )
    }

    /// Asks for one page of a listing.
    pub fn list_page(&self, req: &ListRequest<'_>) -> Result<Page> {
        let context = req.describe();
        let mut url = format!(
            "{}/logs?event_type={}&after={}",
            self.principal_url(req.principal),
            escape(req.event_type),
            escape(&req.after)
        );
        if let Some(before) = req.before {
            url.push_str(&format!("&before={}", escape(before)));
        }
        url.push_str(&format!("&limit={}", req.limit));
        let mut response = self.api_get(&url, &context)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(http_error(context, &mut response, false));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_PAGE_BYTES)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::Protocol {
                    context: context.clone(),
                    message: format!("the page is larger than {} MiB", MAX_PAGE_BYTES >> 20),
                },
                e => self.transport(&context, e),
            })?;
        page::parse(&body).map_err(|why| Error::MalformedPage {
            context,
            message: format!("{why}; body starts with {}", page::preview(&body)),
        })
    }

    /// Asks how recent an event type's data is (`max_event_time`). `Ok(None)` when the API
    /// has no such endpoint (404); `Ok(Some(None))` when the type has no data yet.
    pub fn max_event_time(
        &self,
        principal: &Principal,
        event_type: &str,
    ) -> Result<Option<Option<String>>> {
        let context = format!("asking the newest time of {event_type}");
        let url = format!(
            "{}/max_event_time?event_type={}",
            self.principal_url(principal),
            escape(event_type)
        );
        let mut response = self.api_get(&url, &context)?;
        match response.status().as_u16() {
            200 => {}
            404 => {
                drain(&mut response);
                return Ok(None);
            }
            _ => return Err(http_error(context, &mut response, false)),
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BODY)
            .read_to_vec()
            .map_err(|e| self.transport(&context, e))?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::MalformedPage {
                context: context.clone(),
                message: format!("not JSON ({e}); body starts with {}", page::preview(&body)),
            })?;
        match answer.get("max_event_time").and_then(|m| m.get(event_type)) {
            Some(serde_json::Value::String(newest)) => Ok(Some(Some(newest.clone()))),
            Some(serde_json::Value::Null) | None => Ok(Some(None)),
            Some(other) => Err(Error::MalformedPage {
                context,
                message: format!("max_event_time.{event_type} is {other}, not a time"),
            }),
        }
    }

    /// Opens the download of one file: asks the API, then follows its redirect to the signed
    /// URL with a clean request that carries no API header.
    pub fn open_download(&self, principal: &Principal, id: &str) -> Result<Download> {
        let context = format!("downloading {id}");
        let url = format!("{}/logs/{}", self.principal_url(principal), escape(id));
        let mut response = self.api_get(&url, &context)?;
        let mut current: Uri = url
            .parse()
            .map_err(|_| Error::Config(format!("bad URL {url}")))?;
        for hop in 0..=MAX_REDIRECTS {
            let status = response.status().as_u16();
            if status == 200 {
                return Ok(Download::new(response));
            }
            if !is_redirect(status) {
                let context = match hop {
                    0 => context,
                    _ => format!("{context} from {}", current.host().unwrap_or("?")),
                };
                return Err(http_error(context, &mut response, hop > 0));
            }
            let next = redirect_target(&response, &current).map_err(|why| Error::Protocol {
                context: context.clone(),
                message: why,
            })?;
            https::check(&next).map_err(|why| Error::Protocol {
                context: context.clone(),
                message: format!("refused redirect to {}: {why}", endpoint::redact(&next)),
            })?;
            drain(&mut response);
            response = self.blob_get(&next, &context)?;
            current = next;
        }
        Err(Error::Protocol {
            context,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    fn api_get(&self, url: &str, context: &str) -> Result<Response<Body>> {
        if !self.pause.wait(&self.cancel)
            || !self
                .rate
                .as_ref()
                .is_none_or(|rate| rate.wait(&self.cancel))
        {
            return Err(Error::Interrupted);
        }
        let uri: Uri = url
            .parse()
            .map_err(|_| Error::Config(format!("bad URL {url}")))?;
        let (agent, via) = self.route(&uri);
        self.timed("GET", url, context, via, || {
            agent
                .get(url)
                .header(header::AUTHORIZATION, self.key.bearer())
                .header(header::ACCEPT, "application/json")
                .call()
        })
    }

    fn blob_get(&self, uri: &Uri, context: &str) -> Result<Response<Body>> {
        let (agent, via) = self.route(uri);
        // A fresh request: only what any HTTP client sends, never the API's headers.
        self.timed("GET", &endpoint::redact(uri), context, via, || {
            agent.get(uri.clone()).call()
        })
    }

    /// The connection pool for a URL: through the proxy the environment names for it, or
    /// direct.
    fn route(&self, uri: &Uri) -> (&Agent, Option<&ProxySetting>) {
        let via = self.proxies.for_url(
            uri.scheme_str().unwrap_or("https"),
            uri.host().unwrap_or(""),
        );
        let agent = via
            .and_then(|p| self.proxied.iter().find(|(shown, _)| *shown == p.shown))
            .map_or(&self.direct, |(_, agent)| agent);
        (agent, via)
    }

    fn timed(
        &self,
        method: &str,
        shown_url: &str,
        context: &str,
        via: Option<&ProxySetting>,
        call: impl Fn() -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>> {
        let start = Instant::now();
        let mut result = call();
        // A kept-alive connection the server has since closed fails before any answer; a GET
        // is safe to send again at once, and the pool then opens a fresh connection.
        if result.as_ref().is_err_and(closed_before_answer) {
            result = call();
        }
        self.observer.event(&Event::Request {
            method,
            url: shown_url,
            status: result.as_ref().ok().map(|r| r.status().as_u16()),
            elapsed: start.elapsed(),
        });
        let host = || {
            let uri = shown_url.parse::<Uri>().ok();
            uri.as_ref()
                .and_then(|u| u.host())
                .unwrap_or("?")
                .to_owned()
        };
        result.map_err(|e| match tls_failure(&e) {
            Some(why) => Error::Tls {
                context: context.to_owned(),
                host: host(),
                why,
            },
            None => match via {
                // The proxy is the first suspect when the connection fails: name it.
                Some(proxy) => Error::Transport {
                    context: context.to_owned(),
                    message: format!(
                        "through proxy {} (from {}): {}",
                        proxy.shown,
                        proxy.variable,
                        self.describe(e)
                    ),
                },
                // A failure to reach the host at all names it: which host the URL led to is
                // the first question (a base URL left unset goes to the real API).
                None if never_connected(&e) => Error::Transport {
                    context: context.to_owned(),
                    message: format!("connecting to {}: {}", host(), self.describe(e)),
                },
                None => self.transport(context, e),
            },
        })
    }

    fn transport(&self, context: &str, error: ureq::Error) -> Error {
        Error::Transport {
            context: context.to_owned(),
            message: self.describe(error),
        }
    }
}

impl Download {
    fn new(response: Response<Body>) -> Self {
        let content_length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let content_encoding = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty() && v != "identity");
        Download {
            reader: response.into_body().into_reader(),
            content_length,
            content_encoding,
        }
    }
}

fn escape(text: &str) -> String {
    utf8_percent_encode(text, ESCAPE).to_string()
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Resolves a `Location` header against the URL that answered with it.
fn redirect_target(response: &Response<Body>, current: &Uri) -> Result<Uri, String> {
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("a redirect without a usable Location header")?;
    let origin = format!(
        "{}://{}",
        current.scheme_str().unwrap_or("https"),
        current.authority().map(|a| a.as_str()).unwrap_or("")
    );
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{}://{rest}", current.scheme_str().unwrap_or("https"))
    } else if location.starts_with('/') {
        format!("{origin}{location}")
    } else {
        let dir = current
            .path()
            .rsplit_once('/')
            .map(|(d, _)| d)
            .unwrap_or("");
        format!("{origin}{dir}/{location}")
    };
    absolute
        .parse::<Uri>()
        .ok()
        .filter(|u| u.scheme().is_some() && u.host().is_some())
        .ok_or_else(|| {
            // A URL the https rule refuses anyway (file:///…) is refused, not unparsable.
            let refused = location
                .split_once("://")
                .and_then(|(s, _)| https::refuses_scheme(s));
            match refused {
                Some(why) => {
                    let shown = location.split(['?', '#']).next().unwrap_or_default();
                    format!("refused redirect to {shown}: {why}")
                }
                None => "a redirect to an unparsable Location".to_owned(),
            }
        })
}

/// Reads what is left of a small body so the connection can go back to the pool.
fn drain(response: &mut Response<Body>) {
    let _ = io::copy(
        &mut response.body_mut().as_reader().take(MAX_ERROR_BODY),
        &mut io::sink(),
    );
}

/// Turns a non-success response into an error quoting the server's message.
fn http_error(context: String, response: &mut Response<Body>, from_blob: bool) -> Error {
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

/// True when a request failed because its connection was closed before any answer came, as
/// a pooled connection closed by the server while idle does.
fn closed_before_answer(error: &ureq::Error) -> bool {
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

/// Says what went wrong on the wire, in words that never include a URL.
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

pub(crate) fn describe(error: ureq::Error, timeout: Duration) -> String {
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
    fn escapes_query_values() {
        assert_eq!(
            escape("2026-07-16T01:00:00.1+00:00"),
            "2026-07-16T01%3A00%3A00.1%2B00%3A00"
        );
        assert_eq!(escape("a/b c"), "a%2Fb%20c");
    }
}
