//! SHA-256 digests as the API writes them: 64 lower-case hex digits.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Parses 64 hex digits, either case.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Sha256Digest(out))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Counts bytes as they pass, remembers the last one, and hashes them unless told not to.
pub struct Hasher {
    inner: Option<Sha256>,
    bytes: u64,
    last: Option<u8>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new(true)
    }
}

impl Hasher {
    /// A hasher; with `digest` false it only counts (SHA-256 is most of the CPU a download
    /// costs, so it is skipped when nothing will compare or print the digest).
    pub fn new(digest: bool) -> Self {
        Hasher {
            inner: digest.then(Sha256::new),
            bytes: 0,
            last: None,
        }
    }

    /// Adds a chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        if let Some(&b) = chunk.last() {
            if let Some(inner) = &mut self.inner {
                inner.update(chunk);
            }
            self.bytes += chunk.len() as u64;
            self.last = Some(b);
        }
    }

    /// True unless this hasher only counts.
    pub fn is_hashing(&self) -> bool {
        self.inner.is_some()
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// True when the data seen so far is empty or ends in `\n`.
    pub fn ends_with_newline(&self) -> bool {
        self.last.is_none_or(|b| b == b'\n')
    }

    /// The digest of everything seen, if it was hashing.
    pub fn finish(self) -> Option<Sha256Digest> {
        self.inner
            .map(|inner| Sha256Digest(inner.finalize().into()))
    }
}

/// A writer that hashes what passes through it on its way to another.
pub struct HashingWriter<'a> {
    inner: &'a mut dyn std::io::Write,
    /// What has passed so far.
    pub hasher: Hasher,
}

impl<'a> HashingWriter<'a> {
    /// Hashes what is written, then writes it to `inner`.
    pub fn new(inner: &'a mut dyn std::io::Write) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(true),
        }
    }
}

impl std::io::Write for HashingWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_known_value() {
        let mut h = Hasher::default();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.bytes(), 3);
        let d = h.finish().unwrap();
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(d.to_string(), hex);
        assert_eq!(Sha256Digest::from_hex(&hex.to_uppercase()), Some(d));
        assert_eq!(Sha256Digest::from_hex("zz"), None);
        assert_eq!(Sha256Digest::from_hex(&"g".repeat(64)), None);
    }
}
