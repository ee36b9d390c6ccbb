//! Where a finished file waits for its turn on stdout: memory while small and while the run's
//! memory budget has room, then an unnamed temporary file, so waiting files never pile up in
//! RAM however many finish early.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Memory that all spools of a run share.
#[derive(Debug)]
pub struct MemoryBudget {
    left: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Arc<Self> {
        Arc::new(MemoryBudget {
            left: AtomicUsize::new(bytes),
        })
    }

    fn take(&self, bytes: usize) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }

    fn give(&self, bytes: usize) {
        self.left.fetch_add(bytes, Ordering::AcqRel);
    }
}

/// A write-once, read-once buffer that spills to disk past its own limit or the budget's.
pub struct Spool {
    memory: Vec<u8>,
    /// Memory taken from the budget: at least `memory.len()`.
    reserved: usize,
    file: Option<File>,
    per_file: usize,
    budget: Arc<MemoryBudget>,
}

impl Spool {
    /// An empty spool that keeps up to `per_file` bytes in memory, budget permitting.
    pub fn new(per_file: usize, budget: Arc<MemoryBudget>) -> Self {
        Spool {
            memory: Vec::new(),
            reserved: 0,
            file: None,
            per_file,
            budget,
        }
    }

    /// As `new`, for contents announced as `size` bytes: memory for all of them is taken at
    /// once if it fits (no growing and copying as they arrive), and contents that cannot fit
    /// go straight to disk instead of filling memory first.
    pub fn with_size(per_file: usize, budget: Arc<MemoryBudget>, size: Option<u64>) -> Self {
        let mut spool = Spool::new(per_file, budget);
        if let Some(size) = size {
            match usize::try_from(size) {
                Ok(size) if size <= per_file && spool.budget.take(size) => {
                    spool.reserved = size;
                    spool.memory.reserve_exact(size);
                }
                // Left to the first write: no temporary file for an empty body.
                _ if size == 0 => {}
                _ => spool.per_file = 0,
            }
        }
        spool
    }

    /// True once the contents moved to a temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Writes everything spooled to `out`; it can be read again.
    pub fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match &mut self.file {
            None => out.write_all(&self.memory),
            Some(file) => {
                file.seek(SeekFrom::Start(0))?;
                let mut buf = vec![0u8; 256 << 10];
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    out.write_all(&buf[..n])?;
                }
            }
        }
    }

    /// Writes everything spooled to `out`, a file or pipe, when it has spilled to disk: on
    /// Linux the kernel then copies it (`copy_file_range`, `sendfile`), with no pass through
    /// this process. False, with nothing written, when it is still in memory.
    pub fn copy_to_file(&mut self, out: &File) -> io::Result<bool> {
        let Some(file) = &mut self.file else {
            return Ok(false);
        };
        file.seek(SeekFrom::Start(0))?;
        io::copy(file, &mut &*out)?;
        Ok(true)
    }

    /// Writes `len` bytes from offset `from` to `out`; when the contents have spilled and
    /// `direct` is given (the file under `out`, flushed), the kernel copies them straight
    /// into it (`copy_file_range` on Linux).
    pub fn copy_range(
        &mut self,
        from: u64,
        len: u64,
        out: &mut dyn Write,
        direct: Option<&File>,
    ) -> io::Result<()> {
        let short = || io::Error::from(io::ErrorKind::UnexpectedEof);
        match &mut self.file {
            None => {
                let start = usize::try_from(from).map_err(|_| short())?;
                let end = usize::try_from(from + len).map_err(|_| short())?;
                out.write_all(self.memory.get(start..end).ok_or_else(short)?)
            }
            Some(file) => {
                file.seek(SeekFrom::Start(from))?;
                let copied = match direct {
                    Some(direct) => io::copy(&mut (&*file).take(len), &mut &*direct)?,
                    None => {
                        let mut buf = vec![0u8; (256 << 10).min(len as usize)];
                        let mut left = len;
                        while left > 0 {
                            let want = buf.len().min(left as usize);
                            let n = file.read(&mut buf[..want])?;
                            if n == 0 {
                                break;
                            }
                            out.write_all(&buf[..n])?;
                            left -= n as u64;
                        }
                        len - left
                    }
                };
                if copied == len { Ok(()) } else { Err(short()) }
            }
        }
    }

    /// The `len` bytes at offset `from`.
    pub fn read_range(&mut self, from: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(len as usize);
        self.copy_range(from, len, &mut bytes, None)?;
        Ok(bytes)
    }

    /// Adds `data` at the end, after the contents may have been read.
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            file.seek(SeekFrom::End(0))?;
        }
        self.write_all(data)
    }

    fn spill(&mut self) -> io::Result<&mut File> {
        // Unnamed: the OS removes it however the process ends.
        let mut file = tempfile::tempfile()?;
        file.write_all(&self.memory)?;
        self.budget.give(self.reserved);
        self.reserved = 0;
        self.memory = Vec::new();
        Ok(self.file.insert(file))
    }
}

/// Bytes that can be read from the start as often as needed (a spooled file).
pub trait Reread {
    /// A reader from the first byte.
    fn open(&mut self) -> io::Result<Box<dyn Read + '_>>;
}

impl Reread for &[u8] {
    fn open(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(*self))
    }
}

impl Reread for &std::path::Path {
    fn open(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(std::fs::File::open(self)?))
    }
}

impl Reread for Spool {
    fn open(&mut self) -> io::Result<Box<dyn Read + '_>> {
        match &mut self.file {
            None => Ok(Box::new(&self.memory[..])),
            Some(file) => {
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(&*file))
            }
        }
    }
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(file) = &mut self.file {
            return file.write(data);
        }
        let wanted = self.memory.len() + data.len();
        let more = wanted.saturating_sub(self.reserved);
        if wanted <= self.per_file && (more == 0 || self.budget.take(more)) {
            self.reserved += more;
            self.memory.extend_from_slice(data);
            return Ok(data.len());
        }
        self.spill()?.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.budget.give(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_back_from_memory_and_from_disk_and_into_a_file() {
        let budget = MemoryBudget::new(100);
        let mut small = Spool::new(64, budget.clone());
        small.write_all(b"0123456789").unwrap();
        let mut large = Spool::new(4, budget);
        large.write_all(b"0123456789").unwrap();
        assert!(large.spilled() && !small.spilled());
        for spool in [&mut small, &mut large] {
            assert_eq!(spool.read_range(2, 3).unwrap(), b"234");
            assert_eq!(spool.read_range(0, 10).unwrap(), b"0123456789");
            assert!(spool.read_range(8, 3).is_err(), "past the end");
        }
        let mut file = tempfile::tempfile().unwrap();
        large
            .copy_range(7, 3, &mut io::sink(), Some(&file))
            .unwrap();
        large
            .copy_range(0, 2, &mut io::sink(), Some(&file))
            .unwrap();
        let mut back = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut back).unwrap();
        assert_eq!(back, "78901");
    }

    #[test]
    fn small_stays_in_memory_large_spills_and_both_read_back() {
        let budget = MemoryBudget::new(100);
        let mut small = Spool::new(8, budget.clone());
        small.write_all(b"abc").unwrap();
        assert!(!small.spilled());
        let mut out = Vec::new();
        small.copy_to(&mut out).unwrap();
        assert_eq!(out, b"abc");
        drop(small);

        let mut large = Spool::new(8, budget.clone());
        large.write_all(b"0123456").unwrap();
        large.write_all(b"789abcdef").unwrap();
        assert!(large.spilled());
        let mut out = Vec::new();
        large.copy_to(&mut out).unwrap();
        assert_eq!(out, b"0123456789abcdef");
        large.copy_to(&mut out).unwrap();
        assert_eq!(out, b"0123456789abcdef0123456789abcdef", "read again");
        drop(large);
        assert_eq!(
            budget.left.load(Ordering::Acquire),
            100,
            "all memory given back"
        );
    }

    #[test]
    fn the_shared_budget_sends_later_spools_to_disk() {
        let budget = MemoryBudget::new(10);
        let mut a = Spool::new(8, budget.clone());
        a.write_all(b"12345678").unwrap();
        let mut b = Spool::new(8, budget.clone());
        b.write_all(b"12345678").unwrap();
        assert!(!a.spilled() && b.spilled());
        drop(a);
        let mut c = Spool::new(8, budget.clone());
        c.write_all(b"1234").unwrap();
        assert!(!c.spilled(), "memory comes back when a spool is done");
    }

    #[test]
    fn an_announced_size_reserves_memory_or_goes_straight_to_disk() {
        let budget = MemoryBudget::new(20);
        let mut fits = Spool::with_size(16, budget.clone(), Some(12));
        assert_eq!(budget.left.load(Ordering::Acquire), 8, "taken up front");
        fits.write_all(b"0123456789ab").unwrap();
        assert!(!fits.spilled());
        // A server sending more than announced: memory while the limits allow.
        fits.write_all(b"cd").unwrap();
        assert!(!fits.spilled());
        assert_eq!(budget.left.load(Ordering::Acquire), 6);
        let mut out = Vec::new();
        fits.copy_to(&mut out).unwrap();
        assert_eq!(out, b"0123456789abcd");

        let mut too_big = Spool::with_size(16, budget.clone(), Some(17));
        too_big.write_all(b"x").unwrap();
        assert!(
            too_big.spilled(),
            "a file over the limit never fills memory"
        );
        let mut no_room = Spool::with_size(16, budget.clone(), Some(7));
        no_room.write_all(b"x").unwrap();
        assert!(no_room.spilled(), "nor one the budget has no room for");
        let empty = Spool::with_size(16, budget.clone(), Some(0));
        assert!(!empty.spilled());
        drop((fits, too_big, no_room, empty));
        assert_eq!(budget.left.load(Ordering::Acquire), 20, "all given back");
    }
}
