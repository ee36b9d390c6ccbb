//! The wire: the HTTP client and its three requests, redirects, the transport rules (https,
//! proxies, trusted authorities), the key, the words of a failure, and trying again.

pub mod client;
pub mod endpoint;
pub mod error_body;
pub mod failure;
pub mod https;
pub mod proxy;
pub mod rate;
pub mod redirect;
pub mod requests;
pub mod retry;
pub mod secret;
pub mod tls;

pub use client::{Client, ClientConfig, MinSpeed};
pub use requests::{Download, ListRequest, MaxEventTime};
