//! The HTTP client: built once per process from a [`ClientConfig`], its connection pools
//! (direct, and one per proxy), and the two kinds of GET it sends: to the API, with the key,
//! and to a blob host, with nothing of the API's. The requests themselves are in
//! [`crate::net::requests`].

use crate::error::{Error, Result};
use crate::net::endpoint::{self, BaseUrl};
use crate::net::failure::{closed_before_answer, request_error, wire_words};
use crate::net::proxy::{Proxies, ProxySetting};
use crate::net::rate::Pacer;
use crate::net::retry::Pause;
use crate::net::secret::ApiKey;
use crate::observe::{Event, Observer};
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use ureq::http::{Response, header};
use ureq::{Agent, Body};
use url::Url;

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
    /// At most this many API requests a second (downloads from the blob host not counted);
    /// below it, the pace the API's refusals teach (see [`crate::net::rate`]).
    pub max_rate: Option<f64>,
    /// A download slower than this is abandoned (a failed try, like a timeout).
    pub min_speed: Option<MinSpeed>,
}

/// The slowest a download may go: fewer than `bytes_per_second` on average over any span of
/// `over` (measured in consecutive spans from the first byte) abandons it, as curl's
/// `--speed-limit`/`--speed-time` do. A silence is bounded by the timeout; this bounds a
/// trickle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinSpeed {
    /// The least average rate.
    pub bytes_per_second: u64,
    /// The span it is measured over.
    pub over: Duration,
}

/// A shared, thread-safe client. One per process: connections are pooled and reused.
pub struct Client {
    direct: Agent,
    proxied: Vec<(String, Agent)>,
    proxies: Proxies,
    pub(crate) base: BaseUrl,
    key: ApiKey,
    observer: Arc<dyn Observer>,
    timeout: Duration,
    cancel: Arc<AtomicBool>,
    pause: Arc<Pause>,
    pacer: Pacer,
    pub(crate) min_speed: Option<MinSpeed>,
}

impl Client {
    /// Builds the client. Nothing is connected until the first request; the trust store is
    /// read only when https is in play, so a loopback run starts without it. Every API request
    /// first waits out `pause` (see [`crate::net::retry::Retrier::pause`]).
    pub fn new(
        config: ClientConfig,
        observer: Arc<dyn Observer>,
        pause: Arc<Pause>,
    ) -> Result<Self> {
        let tls = if config.base.as_str().starts_with("https:") || !config.ca_files.is_empty() {
            let roots = crate::net::tls::root_certs(&config.ca_files)?;
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
            pacer: Pacer::new(config.max_rate),
            min_speed: config.min_speed,
        })
    }

    /// A transport error of this client's requests, in words that name its timeout.
    pub(crate) fn transport(&self, context: &str, error: ureq::Error) -> Error {
        Error::Transport {
            context: context.to_owned(),
            message: wire_words(error, self.timeout),
        }
    }

    /// Says what broke a transfer after its answer began, naming the timeout when that is
    /// what happened.
    pub(crate) fn wire_words(&self, error: io::Error) -> String {
        wire_words(ureq::Error::from(error), self.timeout)
    }

    /// A GET to the API, with the key, once the shared pause and the rate limit allow.
    pub(crate) fn api_get(&self, url: &Url, context: &str) -> Result<Response<Body>> {
        // The pause first, and again after the pace's slot: a refusal may have come while
        // this request waited for its turn.
        let sent = self
            .pause
            .wait(&self.cancel)
            .then(|| self.pacer.wait(&self.cancel))
            .flatten()
            .filter(|_| self.pause.wait(&self.cancel))
            .ok_or(Error::Interrupted)?;
        let (agent, via) = self.route(url);
        let response = self.timed(url.as_str(), url, context, via, || {
            agent
                .get(url.as_str())
                .header(header::AUTHORIZATION, self.key.bearer())
                .header(header::ACCEPT, "application/json")
                .call()
        })?;
        let refused = response.status().as_u16() == 429;
        let before = self.pacer.changes();
        self.pacer.answered(sent, refused, &self.pause);
        if self.pacer.changes() != before {
            self.observer.event(&Event::Paced {
                per_second: self.pacer.learned(),
            });
        }
        Ok(response)
    }

    /// The pace of API requests learned from the API's refusals, if it refused any.
    pub fn learned_rate(&self) -> Option<f64> {
        self.pacer.learned()
    }

    /// A GET to a blob host: a fresh request, with only what any HTTP client sends, never the
    /// API's headers.
    pub(crate) fn blob_get(&self, url: &Url, context: &str) -> Result<Response<Body>> {
        let (agent, via) = self.route(url);
        self.timed(&endpoint::redact(url), url, context, via, || {
            agent.get(url.as_str()).call()
        })
    }

    /// The connection pool for a URL: through the proxy the environment names for it, or
    /// direct.
    fn route(&self, url: &Url) -> (&Agent, Option<&ProxySetting>) {
        let via = self
            .proxies
            .for_url(url.scheme(), url.host_str().unwrap_or(""));
        let agent = via
            .and_then(|p| self.proxied.iter().find(|(shown, _)| *shown == p.shown))
            .map_or(&self.direct, |(_, agent)| agent);
        (agent, via)
    }

    /// Sends a request (once more at once if a pooled connection turned out closed) and
    /// reports it as `shown_url`; a failure to get any answer is worded by
    /// [`request_error`].
    fn timed(
        &self,
        shown_url: &str,
        url: &Url,
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
            method: "GET",
            url: shown_url,
            status: result.as_ref().ok().map(|r| r.status().as_u16()),
            elapsed: start.elapsed(),
        });
        let host = url.host_str().unwrap_or("?");
        result.map_err(|e| request_error(e, context, host, via, self.timeout))
    }
}
