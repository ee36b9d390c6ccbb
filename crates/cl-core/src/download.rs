//! One file: its bytes read through the hasher and checked against `Content-Length` and what
//! its listing promised (`file_size`, `file_sha256`), whether they come from the API or from
//! a copy already on disk.

use crate::api::Client;
use crate::error::{Error, Result};
use crate::line::FileRef;
use crate::sha256::{Hasher, Sha256Digest};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Read and hash in chunks of this size; no whole-file buffer exists anywhere.
const CHUNK: usize = 256 << 10;

/// What a whole, verified file turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Its length.
    pub bytes: u64,
    /// Its digest, when something compares or prints it.
    pub sha256: Option<Sha256Digest>,
    /// True when it is empty or ends in `\n`.
    pub ends_with_newline: bool,
}

/// Downloads `file` once into `sink`, checking it on the way. `digest` asks for the SHA-256
/// even when the listing gave none to compare (to print it). Stops at the next chunk once
/// `cancel` is set.
pub fn download(
    client: &Client,
    file: &FileRef,
    sink: &mut dyn Write,
    digest: bool,
    cancel: &AtomicBool,
) -> Result<Verified> {
    let context = format!("downloading {}", file.id);
    let mut download = client.open_download(&file.principal, file.id.as_str())?;
    let mut hasher = Hasher::new(digest || file.file_sha256.is_some());
    match pump(&mut download, sink, &mut hasher, cancel) {
        Ok(()) => {}
        Err(Pump::Interrupted) => return Err(Error::Interrupted),
        Err(Pump::Write(e)) => return Err(Error::io(format!("buffering {}", file.id), e)),
        Err(Pump::Read(e)) => {
            let of = download
                .content_length
                .map(|n| format!(" of {n}"))
                .unwrap_or_default();
            return Err(Error::Transport {
                context,
                message: format!(
                    "the transfer broke off after {}{of} bytes: {}",
                    hasher.bytes(),
                    client.describe(ureq::Error::from(e))
                ),
            });
        }
    }
    check(file, download.content_length, hasher)
        .map_err(|message| Error::Integrity { context, message })
}

/// Reads a copy already on disk and checks it the same way. `None` when it is not the file
/// the listing describes (or not a file at all).
pub fn verify_existing(file: &FileRef, path: &Path) -> Result<Option<Verified>> {
    let meta = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        _ => return Ok(None),
    };
    // The cheap check first: most stale copies differ in size.
    if file.file_size.is_some_and(|size| size != meta.len()) {
        return Ok(None);
    }
    let reading = |e| Error::io(format!("reading {}", path.display()), e);
    let mut existing = File::open(path).map_err(reading)?;
    // The manifest prints the digest, so it is always computed here.
    let mut hasher = Hasher::new(true);
    match pump(
        &mut existing,
        &mut io::sink(),
        &mut hasher,
        &AtomicBool::new(false),
    ) {
        Ok(()) => Ok(check(file, None, hasher).ok()),
        Err(Pump::Read(e) | Pump::Write(e)) => Err(reading(e)),
        Err(Pump::Interrupted) => Err(Error::Interrupted),
    }
}

/// Why copying stopped early.
enum Pump {
    Read(io::Error),
    Write(io::Error),
    Interrupted,
}

/// Copies `source` to its end into `sink` through `hasher`.
fn pump(
    source: &mut dyn Read,
    sink: &mut dyn Write,
    hasher: &mut Hasher,
    cancel: &AtomicBool,
) -> Result<(), Pump> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Pump::Interrupted);
        }
        let n = match source.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Pump::Read(e)),
        };
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n]).map_err(Pump::Write)?;
    }
}

/// The one check of a file's bytes: the length the server announced, then the size and the
/// digest the listing promised. Says expected against got when they differ.
fn check(file: &FileRef, announced: Option<u64>, hasher: Hasher) -> Result<Verified, String> {
    let bytes = hasher.bytes();
    let ends_with_newline = hasher.ends_with_newline();
    let sha256 = hasher.finish();
    if let Some(expected) = announced.filter(|&n| n != bytes) {
        return Err(format!(
            "Content-Length said {expected} bytes but {bytes} arrived"
        ));
    }
    if let Some(expected) = file.file_size.filter(|&n| n != bytes) {
        return Err(format!(
            "size mismatch: the listing says {expected} bytes, got {bytes}"
        ));
    }
    if let (Some(expected), Some(got)) = (file.file_sha256, sha256)
        && expected != got
    {
        return Err(format!(
            "sha256 mismatch: the listing says {expected}, got {got}"
        ));
    }
    Ok(Verified {
        bytes,
        sha256,
        ends_with_newline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::FileId;
    use crate::principal::Principal;

    fn listed(size: Option<u64>, sha: Option<&[u8]>) -> FileRef {
        FileRef {
            file_size: size,
            file_sha256: sha.map(|data| {
                let mut h = Hasher::new(true);
                h.update(data);
                h.finish().unwrap()
            }),
            ..FileRef::bare(
                FileId::parse("eclf_1").unwrap(),
                Principal::parse("ws").unwrap(),
            )
        }
    }

    fn hashed(data: &[u8]) -> Hasher {
        let mut h = Hasher::new(true);
        h.update(data);
        h
    }

    #[test]
    fn a_file_passes_only_when_length_size_and_digest_all_agree() {
        let ok = check(&listed(Some(3), Some(b"ab\n")), Some(3), hashed(b"ab\n")).unwrap();
        assert_eq!((ok.bytes, ok.ends_with_newline), (3, true));
        let cases = [
            (
                listed(None, None),
                Some(4),
                "Content-Length said 4 bytes but 3 arrived",
            ),
            (
                listed(Some(5), None),
                None,
                "the listing says 5 bytes, got 3",
            ),
            (listed(None, Some(b"xy\n")), None, "sha256 mismatch"),
        ];
        for (file, announced, want) in cases {
            let err = check(&file, announced, hashed(b"ab\n")).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn a_copy_on_disk_is_kept_only_when_it_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        fs::write(&path, b"ab").unwrap();
        let kept = verify_existing(&listed(Some(2), Some(b"ab")), &path).unwrap();
        assert_eq!(
            kept.map(|v| (v.bytes, v.ends_with_newline)),
            Some((2, false))
        );
        assert!(kept.unwrap().sha256.is_some(), "printed in the manifest");
        for stale in [listed(Some(3), None), listed(None, Some(b"ba"))] {
            assert_eq!(verify_existing(&stale, &path).unwrap(), None);
        }
        assert_eq!(
            verify_existing(&listed(None, None), dir.path()).unwrap(),
            None
        );
    }
}
