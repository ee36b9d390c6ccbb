//! One file: its bytes read through the hasher and checked against `Content-Length` and what
//! its listing promised (`file_size`, `file_sha256`), whether they come from the API or from
//! a copy already on disk.

use crate::error::{Error, Result, quote};
use crate::model::line::FileRef;
use crate::model::sha256::{Hasher, Sha256Digest};
use crate::net::{Client, Download};
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Read and hash in chunks of this size; no whole-file buffer exists anywhere.
const CHUNK: usize = 256 << 10;
/// The most a file whose size nothing announced may hold once decoded: 17 times the largest
/// file integrations expect (about 15 MB), so a decompression bomb cannot fill the disk.
pub const MAX_UNLISTED_SIZE: u64 = 256 << 20;

/// What a whole, verified file turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Its length.
    pub bytes: u64,
    /// Its digest, when something compares or prints it.
    pub sha256: Option<Sha256Digest>,
    /// True when it is empty or ends in `\n`.
    pub ends_with_newline: bool,
    /// False when nothing could check that it is whole: no `Content-Length`, no listed size
    /// or digest, no encoding with a checksum. A body cut short would have looked the same.
    pub checked: bool,
}

/// Downloads `file` once into `sink`, checking it on the way. `digest` asks for the SHA-256
/// even when the listing gave none to compare (to print it). Stops at the next chunk once
/// `cancel` is set. A body the blob host compressed (`Content-Encoding: gzip` or `deflate`)
/// is decoded: the log file is what reaches `sink`, never the compressed bytes.
pub fn download(
    client: &Client,
    file: &FileRef,
    sink: &mut dyn Write,
    digest: bool,
    cancel: &AtomicBool,
) -> Result<Verified> {
    let context = format!("downloading {}", file.id);
    let download = client.open_download(&file.principal, file.id.as_str())?;
    let announced = download.content_length;
    let encoding = download.content_encoding.clone();
    // The listing may describe the bytes as served rather than decoded: hash both then.
    let mut served = Served {
        hasher: Hasher::new(encoding.is_some() && file.file_sha256.is_some()),
        inner: download,
        failed: false,
    };
    let mut hasher = Hasher::new(digest || file.file_sha256.is_some());
    let size_hint = file.file_size.or(announced);
    let bound = Bound::of(file.file_size, announced, encoding.is_some());
    let pumped = match encoding.as_deref() {
        None => pump(&mut served, sink, &mut hasher, cancel, size_hint, bound.max),
        Some("gzip" | "x-gzip") => pump(
            &mut MultiGzDecoder::new(&mut served),
            sink,
            &mut hasher,
            cancel,
            size_hint,
            bound.max,
        ),
        Some("deflate") => pump(
            &mut ZlibDecoder::new(&mut served),
            sink,
            &mut hasher,
            cancel,
            size_hint,
            bound.max,
        ),
        Some(other) => {
            return Err(Error::Protocol {
                context,
                message: format!(
                    "the body came with Content-Encoding {}, which cannot be decoded here",
                    quote(other)
                ),
            });
        }
    };
    match pumped {
        Ok(()) => {}
        Err(Pump::Interrupted) => return Err(Error::Interrupted),
        Err(Pump::TooLong) => {
            let decoded = encoding
                .as_deref()
                .map(|e| format!(" once {e}-decoded"))
                .unwrap_or_default();
            return Err(Error::Integrity {
                context,
                message: format!(
                    "the body is longer{decoded} than {}: stopped there",
                    bound.why
                ),
            });
        }
        Err(Pump::Write(e)) => return Err(Error::io(format!("buffering {}", file.id), e)),
        Err(Pump::Read(e)) if served.failed => {
            let of = announced.map(|n| format!(" of {n}")).unwrap_or_default();
            return Err(Error::Transport {
                context,
                message: format!(
                    "the transfer broke off after {}{of} bytes: {}",
                    served.hasher.bytes(),
                    client.wire_words(e)
                ),
            });
        }
        Err(Pump::Read(e)) => {
            return Err(Error::Integrity {
                context,
                message: format!(
                    "the {} body does not decode: {e}",
                    encoding.as_deref().unwrap_or("")
                ),
            });
        }
    }
    let served_bytes = served.hasher.bytes();
    check_length(announced, served_bytes).map_err(|message| Error::Integrity {
        context: context.clone(),
        message,
    })?;
    let (bytes, ends_with_newline) = (hasher.bytes(), hasher.ends_with_newline());
    let sha256 = hasher.finish();
    let listed = check_listing(file, bytes, sha256);
    if let (Err(why), Some(encoding)) = (&listed, &encoding) {
        // A listing that describes the compressed object is met by the bytes as served.
        if check_listing(file, served_bytes, served.hasher.finish()).is_err() {
            return Err(Error::Integrity {
                context,
                message: format!(
                    "{why} after {encoding} decoding ({served_bytes} bytes as served)"
                ),
            });
        }
    } else {
        listed.map_err(|message| Error::Integrity { context, message })?;
    }
    Ok(Verified {
        bytes,
        sha256,
        ends_with_newline,
        checked: announced.is_some() || encoding.is_some() || listed_anything(file),
    })
}

/// How long a file may grow while it is read, and why, for the message.
struct Bound {
    max: u64,
    why: String,
}

impl Bound {
    /// The listed size, unless the listing describes the compressed object (its size is the
    /// announced length of a compressed body); else the announced length of a plain body;
    /// else [`MAX_UNLISTED_SIZE`].
    fn of(listed: Option<u64>, announced: Option<u64>, compressed: bool) -> Bound {
        match (listed, announced) {
            (Some(size), Some(length)) if compressed && size == length => Bound::unlisted(),
            (Some(size), _) => Bound {
                max: size,
                why: format!("the {size} bytes listed"),
            },
            (None, Some(length)) if !compressed => Bound {
                max: length,
                why: format!("its Content-Length of {length} bytes"),
            },
            (None, _) => Bound::unlisted(),
        }
    }

    fn unlisted() -> Bound {
        Bound {
            max: MAX_UNLISTED_SIZE,
            why: format!(
                "{} MiB, the most a file of unlisted size may hold",
                MAX_UNLISTED_SIZE >> 20
            ),
        }
    }
}

/// The body as the blob host sent it: counted (and hashed when asked) on its way to the
/// decoder, noting whether a read failed on the wire.
struct Served {
    inner: Download,
    hasher: Hasher,
    failed: bool,
}

impl Read for Served {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                self.failed = e.kind() != io::ErrorKind::Interrupted;
                Err(e)
            }
        }
    }
}

fn listed_anything(file: &FileRef) -> bool {
    file.file_size.is_some() || file.file_sha256.is_some()
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
        Some(meta.len()),
        u64::MAX,
    ) {
        Ok(()) => {}
        Err(Pump::Read(e) | Pump::Write(e)) => return Err(reading(e)),
        Err(Pump::Interrupted) => return Err(Error::Interrupted),
        // Unbounded here: a copy on disk is only read.
        Err(Pump::TooLong) => return Ok(None),
    }
    let (bytes, ends_with_newline) = (hasher.bytes(), hasher.ends_with_newline());
    let sha256 = hasher.finish();
    Ok(check_listing(file, bytes, sha256).ok().map(|()| Verified {
        bytes,
        sha256,
        ends_with_newline,
        checked: listed_anything(file),
    }))
}

/// Why copying stopped early.
enum Pump {
    Read(io::Error),
    Write(io::Error),
    Interrupted,
    /// The source had more than the most allowed: nothing past it was written.
    TooLong,
}

/// Copies `source` to its end into `sink` through `hasher`, but never more than `max` bytes.
fn pump(
    source: &mut dyn Read,
    sink: &mut dyn Write,
    hasher: &mut Hasher,
    cancel: &AtomicBool,
    size_hint: Option<u64>,
    max: u64,
) -> Result<(), Pump> {
    if hasher.is_hashing() && size_hint.is_some_and(|size| size >= PARALLEL_FROM) {
        return pump_hashing_aside(source, sink, hasher, cancel, max);
    }
    thread_local! {
        // One buffer per worker thread, not a fresh (zeroed) one per file.
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; CHUNK]);
    }
    BUF.with_borrow_mut(|buf| pump_with(source, sink, hasher, cancel, buf, max))
}

/// From this size on, a file is hashed on a thread of its own while it is read and written.
const PARALLEL_FROM: u64 = 16 << 20;
/// Chunks in flight between the reader and the hashing thread.
const IN_FLIGHT: usize = 4;

/// As `pump`, with SHA-256 on a second thread: for a large file the hashing then overlaps
/// the reading and writing instead of following each.
fn pump_hashing_aside(
    source: &mut dyn Read,
    sink: &mut dyn Write,
    hasher: &mut Hasher,
    cancel: &AtomicBool,
    max: u64,
) -> Result<(), Pump> {
    let mut total = 0u64;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    for _ in 0..IN_FLIGHT {
        let _ = free_tx.send(vec![0u8; CHUNK]);
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for (buf, n) in full_rx {
                hasher.update(&buf[..n]);
                // The reader may have stopped: then nobody takes the buffer back.
                let _ = free_tx.send(buf);
            }
        });
        let result = loop {
            if cancel.load(Ordering::Relaxed) {
                break Err(Pump::Interrupted);
            }
            let Ok(mut buf) = free_rx.recv() else {
                break Err(Pump::Read(io::Error::other("the hashing thread stopped")));
            };
            let n = match source.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let _ = full_tx.send((buf, 0));
                    continue;
                }
                Err(e) => break Err(Pump::Read(e)),
            };
            total += n as u64;
            if total > max {
                break Err(Pump::TooLong);
            }
            if let Err(e) = sink.write_all(&buf[..n]) {
                break Err(Pump::Write(e));
            }
            if full_tx.send((buf, n)).is_err() {
                break Err(Pump::Read(io::Error::other("the hashing thread stopped")));
            }
        };
        // Ends the hashing thread once it has caught up; the scope waits for it.
        drop(full_tx);
        result
    })
}

fn pump_with(
    source: &mut dyn Read,
    sink: &mut dyn Write,
    hasher: &mut Hasher,
    cancel: &AtomicBool,
    buf: &mut [u8],
    max: u64,
) -> Result<(), Pump> {
    let mut total = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Pump::Interrupted);
        }
        let n = match source.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Pump::Read(e)),
        };
        total += n as u64;
        if total > max {
            return Err(Pump::TooLong);
        }
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n]).map_err(Pump::Write)?;
    }
}

/// The length the server announced against what arrived.
fn check_length(announced: Option<u64>, bytes: u64) -> Result<(), String> {
    match announced {
        Some(expected) if expected != bytes => Err(format!(
            "Content-Length said {expected} bytes but {bytes} arrived"
        )),
        _ => Ok(()),
    }
}

/// The size and digest the listing promised against the file's. Says expected against got.
fn check_listing(file: &FileRef, bytes: u64, sha256: Option<Sha256Digest>) -> Result<(), String> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::file_id::FileId;
    use crate::model::principal::Principal;

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

    fn digest(data: &[u8]) -> Option<Sha256Digest> {
        let mut h = Hasher::new(true);
        h.update(data);
        h.finish()
    }

    #[test]
    fn a_file_passes_only_when_length_size_and_digest_all_agree() {
        assert_eq!(check_length(Some(3), 3), Ok(()));
        assert_eq!(check_length(None, 3), Ok(()));
        let err = check_length(Some(4), 3).unwrap_err();
        assert_eq!(err, "Content-Length said 4 bytes but 3 arrived");
        let file = listed(Some(3), Some(b"ab\n"));
        assert_eq!(check_listing(&file, 3, digest(b"ab\n")), Ok(()));
        let cases = [
            (listed(Some(5), None), "the listing says 5 bytes, got 3"),
            (listed(None, Some(b"xy\n")), "sha256 mismatch"),
        ];
        for (file, want) in cases {
            let err = check_listing(&file, 3, digest(b"ab\n")).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn a_body_is_never_read_past_its_bound() {
        let listed = Bound::of(Some(2048), Some(1 << 20), true);
        assert_eq!(
            (listed.max, listed.why.as_str()),
            (2048, "the 2048 bytes listed")
        );
        // A listing that gives the compressed object's size: the decoded file is bigger.
        assert_eq!(Bound::of(Some(900), Some(900), true).max, MAX_UNLISTED_SIZE);
        assert_eq!(Bound::of(Some(900), Some(900), false).max, 900);
        assert_eq!(Bound::of(None, Some(77), false).max, 77);
        assert_eq!(Bound::of(None, Some(77), true).max, MAX_UNLISTED_SIZE);
        assert_eq!(Bound::of(None, None, false).max, MAX_UNLISTED_SIZE);
        let never = AtomicBool::new(false);
        for size_hint in [Some(10), Some(PARALLEL_FROM)] {
            let (mut sink, mut hasher) = (Vec::new(), Hasher::new(true));
            let mut source = &[7u8; 1000][..];
            let got = pump(&mut source, &mut sink, &mut hasher, &never, size_hint, 999);
            assert!(matches!(got, Err(Pump::TooLong)), "{size_hint:?}");
            assert!(sink.len() <= 999, "nothing past the bound is written");
            let (mut sink, mut hasher) = (Vec::new(), Hasher::new(true));
            let mut source = &[7u8; 1000][..];
            let got = pump(&mut source, &mut sink, &mut hasher, &never, size_hint, 1000);
            assert!(got.is_ok() && sink.len() == 1000);
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
        assert!(kept.unwrap().checked);
        for stale in [listed(Some(3), None), listed(None, Some(b"ba"))] {
            assert_eq!(verify_existing(&stale, &path).unwrap(), None);
        }
        assert_eq!(
            verify_existing(&listed(None, None), dir.path()).unwrap(),
            None
        );
    }
}
