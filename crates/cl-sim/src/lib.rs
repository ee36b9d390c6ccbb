//! A local simulator of the Compliance Logs Platform API, for trying the tools without an
//! account and for testing them.
//!
//! It serves the listing, download and freshness (`max_event_time`) endpoints as the real
//! service does (bearer key, `workspaces`/`organizations` scopes, exclusive `after`/`before`,
//! paging with `has_more`/`last_end_time`, `limit` 1–100), and answers downloads with a 307 to
//! a signed URL on a second loopback origin that refuses requests carrying `Authorization`, as
//! an object store does. Flags vary it as the real service is reported to vary.
//! All data follows from a seed. It shares no code with the tools: it is the other side of
//! the wire.

pub mod content;
pub mod dataset;
pub mod faults;
pub mod rng;
pub mod signing;
pub mod tls;

mod connection;
mod freshness;
mod limit;
mod listing;
mod query;
mod routes;
#[cfg(test)]
mod testing;
mod wire;

use crate::dataset::{Dataset, DatasetConfig};
use crate::faults::{FaultConfig, Injector};
use crate::routes::{API_PREFIX, State};
use crate::signing::Signer;
use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
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
    /// A second key that authenticates but lacks the compliance read scope: every API
    /// request with it is answered 403.
    pub scopeless_key: Option<String>,
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
    /// Defaults for `seed`: API on 127.0.0.1, blob host on 127.0.0.2 (else another port of
    /// 127.0.0.1), ports picked by the OS.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            dataset: DatasetConfig::new(seed),
            key: DEFAULT_KEY.to_owned(),
            scopeless_key: None,
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

/// Binds the blob host. Where its loopback address is not configured (macOS and the BSDs set
/// up 127.0.0.1 alone, as does a network namespace given only `127.0.0.1/32`), it takes
/// another port of the API's address: still another origin, so requests to it are still
/// checked for `Authorization`.
fn bind_blob(wanted: SocketAddr, api: SocketAddr) -> io::Result<TcpListener> {
    match TcpListener::bind(wanted) {
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable && wanted.ip() != api.ip() => {
            TcpListener::bind(SocketAddr::new(api.ip(), wanted.port()))
        }
        bound => bound,
    }
}

/// Starts serving on the configured loopback addresses and returns once both listen. The
/// blob host falls back to the API's address (another port) where its own is not set up.
pub fn start(config: SimConfig) -> io::Result<RunningSim> {
    for addr in [config.api_listen, config.blob_listen] {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} is not a loopback address: the simulator serves loopback only"),
            ));
        }
    }
    if config.scopeless_key.as_ref() == Some(&config.key) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the key without scope must differ from the key accepted",
        ));
    }
    let api = TcpListener::bind(config.api_listen)?;
    let api_addr = api.local_addr()?;
    let blob = bind_blob(config.blob_listen, api_addr)?;
    let blob_addr = blob.local_addr()?;
    api.set_nonblocking(true)?;
    blob.set_nonblocking(true)?;
    let identity = config.tls.then(tls::generate).transpose()?;
    let scheme = if identity.is_some() { "https" } else { "http" };
    let acceptor = identity.as_ref().map(|i| i.acceptor.clone());
    let limiter = config.faults.rate_limit.map(|r| {
        let burst = config.faults.rate_burst.unwrap_or(r.ceil() as u32);
        limit::Limiter::new(r, burst)
    });
    let state = Arc::new(State {
        limiter,
        key_revoked: Default::default(),
        faults: Injector::new(config.faults, config.dataset.seed),
        signer: Signer::new(config.dataset.seed),
        dataset: Dataset::new(config.dataset),
        key: config.key,
        scopeless_key: config.scopeless_key,
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
                    _ = connection::accept(api, Origin::Api, serving.clone(), acceptor.clone()) => {}
                    _ = connection::accept(blob, Origin::Blob, serving, acceptor) => {}
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

    /// Stops accepting the key: every API request from now on is answered 401, as after an
    /// admin revoked it.
    pub fn revoke_key(&self) {
        self.state
            .key_revoked
            .store(true, std::sync::atomic::Ordering::SeqCst);
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
        let file = dataset.file_by_id(id)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_without_scope_must_differ_from_the_key() {
        let mut config = SimConfig::new(1);
        config.scopeless_key = Some(config.key.clone());
        let refused = start(config).err().unwrap();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
    }
}
