//! For unit tests: a simulator with small fixed data and a bare HTTP/1.1 client, so tests
//! see exactly what goes on the wire (status, headers, bytes) without a client library.

use crate::{RunningSim, SimConfig};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

/// A fixed start, long past: every file is released.
pub(crate) const START: &str = "2026-07-16T00:00:00Z";
/// An `after` before every file.
pub(crate) const BEFORE_ALL: &str = "2026-07-01T00:00:00Z";

/// 5 files per type of about 400 bytes from [`START`], requests recorded, with `change`.
pub(crate) fn sim(change: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let mut config = SimConfig::new(11);
    config.dataset.start = START.parse().unwrap();
    config.dataset.files_per_type = 5;
    config.dataset.file_size = 400;
    config.record = true;
    change(&mut config);
    crate::start(config).unwrap()
}

/// An answer as it came off the wire.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Names lower-case.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// GETs an absolute `http://` URL, with `Authorization: Bearer KEY` when a key is given.
pub(crate) fn get(url: &str, key: Option<&str>) -> Answer {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap();
    let auth = key.map_or_else(String::new, |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Answer {
        status: status.parse().unwrap(),
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// GETs `{base}/{path}` with the simulator's key.
pub(crate) fn api(sim: &RunningSim, path: &str) -> Answer {
    get(&format!("{}/{path}", sim.base_url()), Some(sim.key()))
}
