//! The flags both tools take, and what they configure: the client, the retries, the key.

use crate::report::{LogFormat, Verbosity};
use cl_core::net::endpoint::{BaseUrl, DEFAULT_BASE_URL};
use cl_core::net::retry::RetryPolicy;
use cl_core::net::secret::ApiKey;
use cl_core::net::{ClientConfig, MinSpeed};
use cl_core::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The environment variable that holds the API key.
pub const KEY_ENV: &str = "COMPLIANCE_API_KEY";

/// Every flag both tools take: connection and output, and documentation.
#[derive(clap::Args, Debug, Clone)]
pub struct ToolFlags {
    /// Connection and output.
    #[command(flatten)]
    pub common: CommonArgs,
    /// `--completions` and `--man`.
    #[command(flatten)]
    pub docs: crate::docs::DocArgs,
}

/// Connection and output flags shared by both tools.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Read the API key from the first line of FILE instead of $COMPLIANCE_API_KEY.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,

    /// API base URL; plain http:// only to loopback hosts.
    #[arg(
        long,
        value_name = "URL",
        env = "COMPLIANCE_API_BASE",
        default_value = DEFAULT_BASE_URL
    )]
    pub base_url: String,

    /// Also trust the certificate authorities in FILE (PEM); repeatable. $SSL_CERT_FILE too.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,

    /// Seconds to wait for a connection, or for any byte while waiting or reading.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// A download slower than BYTES a second over --speed-time seconds is abandoned and
    /// retried like a timeout (0: never), as curl's --speed-limit.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub speed_limit: u64,

    /// The seconds over which --speed-limit is measured.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub speed_time: u64,

    /// Retries after a transient failure (429, 5xx, timeout, reset, short or corrupt body).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: u32,

    /// Longest wait before any one retry, in seconds; a longer Retry-After ends the retries.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_wait: u64,

    /// At most N API requests a second from this process, all workers together (downloads
    /// from the blob host not counted); fractions allowed.
    #[arg(long, value_name = "N", value_parser = positive_rate)]
    pub max_rate: Option<f64>,

    /// Print nothing on stderr but errors.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also print one line per HTTP request (method, host, path, status).
    #[arg(short, long)]
    pub verbose: bool,

    /// Write stderr messages as text, or as one JSON object per line for log collectors.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(n),
        _ => Err(format!(
            "{text:?} is not a positive number of requests a second"
        )),
    }
}

impl CommonArgs {
    /// The verbosity asked for.
    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }

    /// How failed requests are retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            max_wait: Duration::from_secs(self.max_wait),
            ..RetryPolicy::default()
        }
    }

    /// Finds the key and checks the base URL. `tool` names the User-Agent; `cancel` is the
    /// flag that stops the client's work (see [`crate::signals::install`]).
    pub fn client_config(&self, tool: &str, cancel: Arc<AtomicBool>) -> Result<ClientConfig> {
        Ok(ClientConfig {
            base: BaseUrl::parse(&self.base_url)?,
            key: self.key()?,
            timeout: Duration::from_secs(self.timeout),
            user_agent: format!("{tool}/{}", env!("CARGO_PKG_VERSION")),
            cancel,
            max_rate: self.max_rate,
            min_speed: (self.speed_limit > 0).then(|| MinSpeed {
                bytes_per_second: self.speed_limit,
                over: Duration::from_secs(self.speed_time),
            }),
            ca_files: self
                .ca_cert
                .iter()
                .cloned()
                .chain(std::env::var_os("SSL_CERT_FILE").map(PathBuf::from))
                .collect(),
        })
    }

    fn key(&self) -> Result<ApiKey> {
        if let Some(file) = &self.api_key_file {
            return ApiKey::from_file(file);
        }
        match std::env::var(KEY_ENV) {
            Ok(key) => ApiKey::new(&key, KEY_ENV),
            Err(std::env::VarError::NotPresent) => Err(Error::Config(format!(
                "no API key: set {KEY_ENV} or give --api-key-file FILE"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::Config(format!("{KEY_ENV} is not valid UTF-8")))
            }
        }
    }
}
