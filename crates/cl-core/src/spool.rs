//! Where a finished file waits for its turn on stdout: memory while small, then an unnamed
//! temporary file, so waiting files never pile up in RAM.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A write-once, read-once buffer that spills to disk past `memory_limit` bytes.
pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    memory_limit: usize,
}

impl Spool {
    /// An empty spool that keeps up to `memory_limit` bytes in memory.
    pub fn new(memory_limit: usize) -> Self {
        Spool {
            memory: Vec::new(),
            file: None,
            memory_limit,
        }
    }

    /// True once the contents moved to a temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Writes everything spooled to `out`.
    pub fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self.file {
            None => out.write_all(&self.memory),
            Some(mut file) => {
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
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(file) = &mut self.file {
            return file.write(data);
        }
        if self.memory.len() + data.len() <= self.memory_limit {
            self.memory.extend_from_slice(data);
            return Ok(data.len());
        }
        // Unnamed: the OS removes it however the process ends.
        let mut file = tempfile::tempfile()?;
        file.write_all(&self.memory)?;
        self.memory = Vec::new();
        let n = file.write(data)?;
        self.file = Some(file);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stays_in_memory_large_spills_and_both_read_back() {
        let mut small = Spool::new(8);
        small.write_all(b"abc").unwrap();
        assert!(!small.spilled());
        let mut out = Vec::new();
        small.copy_to(&mut out).unwrap();
        assert_eq!(out, b"abc");

        let mut large = Spool::new(8);
        large.write_all(b"0123456").unwrap();
        large.write_all(b"789abcdef").unwrap();
        assert!(large.spilled());
        let mut out = Vec::new();
        large.copy_to(&mut out).unwrap();
        assert_eq!(out, b"0123456789abcdef");
    }
}
