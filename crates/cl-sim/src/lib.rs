//! A local simulator of the Compliance Logs Platform API, for trying the tools without an
//! account and for testing them.
//!
//! It serves the listing and download endpoints as the real service does (bearer key,
//! `workspaces`/`organizations` scopes, exclusive `after`/`before`, paging with
//! `has_more`/`last_end_time`), and answers downloads with a 307 to a signed URL on a second
//! loopback origin that refuses requests carrying `Authorization`, as an object store does.
//! All data follows from a seed. It shares no code with the tools: it is the other side of
//! the wire.

pub mod content;
pub mod dataset;
pub mod faults;
pub mod rng;
pub mod signing;
pub mod tls;

mod server;
mod wire;

use crate::dataset::{Dataset, DatasetConfig};
use crate::faults::{FaultConfig, Injector};
use crate::server::{API_PREFIX, Action, State};
use crate::signing::Signer;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// The key the simulator accepts unless told otherwise.
pub const DEFAULT_KEY: &str = "cl-sim-demo-key";

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The data served.
    pub dataset: DatasetConfig,
    /// The bearer key accepted.
    pub key: String,
    /// Where the API listens (loopback only).
    pub api_listen: SocketAddr,
    /// Where the blob origin listens (loopback only; another address than the API's).
    pub blob_listen: SocketAddr,
    /// How long a signed URL stays valid.
    pub url_ttl: Duration,
    /// Print one line per request to stderr.
    pub log_requests: bool,
    /// Keep every request for [`RunningSim::requests`].
    pub record: bool,
    /// Faults to inject.
    pub faults: FaultConfig,
    /// Serve HTTPS on both origins with a CA made at start (see [`RunningSim::ca_pem`]).
    pub tls: bool,
}

impl SimConfig {
    /// Defaults for `seed`: API on 127.0.0.1, blob host on 127.0.0.2, ports picked by the OS.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            dataset: DatasetConfig::new(seed),
            key: DEFAULT_KEY.to_owned(),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            blob_listen: SocketAddr::from(([127, 0, 0, 2], 0)),
            url_ttl: Duration::from_secs(300),
            log_requests: false,
            record: false,
            faults: FaultConfig::default(),
            tls: false,
        }
    }
}

/// One file of the simulated tenant, as tests check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// File id.
    pub id: String,
    /// Its event type.
    pub event_type: String,
    /// `end_time` as listed.
    pub end_time: String,
    /// `file_name` as listed.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// Which origin a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The API host.
    Api,
    /// The blob host that serves signed URLs.
    Blob,
}

/// A request as the simulator saw it, for tests to inspect.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Where it arrived.
    pub origin: Origin,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The raw query, if any.
    pub query: Option<String>,
    /// Every header, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The status answered (0 for a request never answered).
    pub status: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// A running simulator; it stops when dropped.
pub struct RunningSim {
    api_base: String,
    ca_pem: Option<String>,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts serving on the configured loopback addresses and returns once both listen.
pub fn start(config: SimConfig) -> io::Result<RunningSim> {
    for addr in [config.api_listen, config.blob_listen] {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} is not a loopback address: the simulator serves loopback only"),
            ));
        }
    }
    let api = TcpListener::bind(config.api_listen)?;
    let blob = TcpListener::bind(config.blob_listen)?;
    let api_addr = api.local_addr()?;
    let blob_addr = blob.local_addr()?;
    api.set_nonblocking(true)?;
    blob.set_nonblocking(true)?;
    let identity = config.tls.then(tls::generate).transpose()?;
    let scheme = if identity.is_some() { "https" } else { "http" };
    let acceptor = identity.as_ref().map(|i| i.acceptor.clone());
    let state = Arc::new(State {
        faults: Injector::new(config.faults, config.dataset.seed),
        signer: Signer::new(config.dataset.seed),
        dataset: Dataset::new(config.dataset),
        key: config.key,
        blob_origin: format!("{scheme}://{blob_addr}"),
        url_ttl: config.url_ttl,
        log_requests: config.log_requests,
        record: config.record,
        recorded: Mutex::new(Vec::new()),
        connections: Default::default(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cl-sim")
        .enable_all()
        .build()?;
    let (api, blob) = {
        let _inside = runtime.enter();
        (
            tokio::net::TcpListener::from_std(api)?,
            tokio::net::TcpListener::from_std(blob)?,
        )
    };
    let (shutdown, stopped) = oneshot::channel();
    let serving = state.clone();
    let thread = std::thread::Builder::new()
        .name("cl-sim".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    _ = accept(api, Origin::Api, serving.clone(), acceptor.clone()) => {}
                    _ = accept(blob, Origin::Blob, serving, acceptor) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
    Ok(RunningSim {
        api_base: format!("{scheme}://{api_addr}{API_PREFIX}"),
        ca_pem: identity.map(|i| i.ca_pem),
        state,
        shutdown: Some(shutdown),
        thread: Some(thread),
    })
}

async fn accept(
    listener: tokio::net::TcpListener,
    origin: Origin,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        state.connections[origin as usize].fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        let reset = Arc::new(AtomicBool::new(false));
        let tls = tls.clone();
        tokio::spawn(async move {
            let stream = match tls {
                None => Stream::Plain(stream),
                // A client that does not trust the CA ends the handshake: nothing to serve.
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => Stream::Tls(Box::new(stream)),
                    Err(_) => return,
                },
            };
            let io = Connection {
                stream,
                reset: reset.clone(),
            };
            let service = service_fn(move |request| {
                let state = state.clone();
                let reset = reset.clone();
                async move {
                    // Decided (and recorded) on arrival; the latency delays only the answer.
                    let action = server::handle(&state, origin, &request);
                    let latency = state.faults.config().latency;
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    let reply = match action {
                        Action::Reply(reply) => reply,
                        Action::Hang => {
                            // Until the client gives up and the simulator stops.
                            std::future::pending::<()>().await;
                            unreachable!("a pending future never completes")
                        }
                    };
                    Ok::<_, std::convert::Infallible>(reply.into_response(reset))
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(io), service)
                .await;
        });
    }
}

/// A connection that ends with a reset (RST) instead of a close once its flag is set.
struct Connection {
    stream: Stream,
    reset: Arc<AtomicBool>,
}

/// Plain TCP, or TLS over it.
enum Stream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // A zero linger makes the close send RST and drop whatever is unsent.
            let _ = socket2::SockRef::from(self.stream.tcp()).set_linger(Some(Duration::ZERO));
        }
    }
}

macro_rules! delegate {
    ($self:ident, $io:ident => $call:expr) => {
        match &mut $self.stream {
            Stream::Plain($io) => {
                let $io = Pin::new($io);
                $call
            }
            Stream::Tls($io) => {
                let $io = Pin::new($io.as_mut());
                $call
            }
        }
    };
}

impl tokio::io::AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            // No orderly FIN before the reset.
            return Poll::Ready(Ok(()));
        }
        delegate!(self, io => io.poll_shutdown(cx))
    }
}

impl RunningSim {
    /// The API base URL, e.g. `http://127.0.0.1:40123/v1/compliance`.
    pub fn base_url(&self) -> &str {
        &self.api_base
    }

    /// The CA certificate (PEM) clients must trust, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The blob origin, e.g. `http://127.0.0.2:40124`.
    pub fn blob_origin(&self) -> &str {
        &self.state.blob_origin
    }

    /// The accepted key.
    pub fn key(&self) -> &str {
        &self.state.key
    }

    /// The workspace id served.
    pub fn workspace(&self) -> &str {
        &self.state.dataset.config().workspace
    }

    /// The organization id served.
    pub fn org(&self) -> &str {
        &self.state.dataset.config().org
    }

    /// Every file of one principal and event type, in listing order: the ground truth.
    pub fn files(&self, principal: &str, event_type: &str) -> Vec<FileInfo> {
        let dataset = &self.state.dataset;
        dataset
            .files(principal, event_type)
            .iter()
            .map(|f| {
                let (size, sha256) = dataset.digest(f);
                FileInfo {
                    id: f.id.clone(),
                    event_type: f.event_type.clone(),
                    end_time: f.end_time_text.clone(),
                    file_name: f.file_name.clone(),
                    size,
                    sha256,
                }
            })
            .collect()
    }

    /// The bytes of a file, if it exists.
    pub fn content(&self, id: &str) -> Option<Vec<u8>> {
        let dataset = &self.state.dataset;
        let config = dataset.config();
        let file = dataset
            .file(&config.workspace, id)
            .or_else(|| dataset.file(&config.org, id))?;
        Some(dataset.content(file).to_vec())
    }

    /// Connections accepted so far by the API and by the blob host.
    pub fn connections(&self) -> (u64, u64) {
        let [api, blob] = &self.state.connections;
        (api.load(Ordering::Relaxed), blob.load(Ordering::Relaxed))
    }

    /// How many of each fault were injected so far.
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.state.faults.injected()
    }

    /// The requests seen so far (only when [`SimConfig::record`] is set).
    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
