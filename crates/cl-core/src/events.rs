//! `--events`: a log file as one JSON value per line, whatever its framing: JSON Lines, or
//! values written one after another with or without whitespace between them (as one
//! integration reports the service may do). Each value keeps its bytes; only one that spans
//! lines loses the whitespace between its tokens, so that it fits on one.

use crate::line::compact;
use serde_json::value::RawValue;
use std::io::{self, BufRead, BufReader, Read, Write};

/// Why a file could not be read as a sequence of JSON values.
#[derive(Debug)]
pub enum Framing {
    /// Not JSON from this byte on.
    Bad {
        /// Where the first bad byte is, counted from 0.
        offset: u64,
        /// What the parser said.
        why: String,
    },
    /// Reading or writing failed.
    Io(io::Error),
}

/// Bytes that can be read from the start as often as needed (a spooled file).
pub trait Source {
    /// A reader from the first byte.
    fn open(&mut self) -> io::Result<Box<dyn Read + '_>>;
}

impl Source for &[u8] {
    fn open(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(*self))
    }
}

/// Writes each JSON value of `source` to `out` on a line of its own; returns how many there
/// were. On a framing error `out` may hold the values before it: write to a buffer or a
/// temporary file until the whole file is known good.
pub fn reframe(source: &mut dyn Source, out: &mut dyn Write) -> Result<u64, Framing> {
    let mut count = 0;
    let bad = {
        let reader = BufReader::new(source.open().map_err(Framing::Io)?);
        let mut values = serde_json::Deserializer::from_reader(reader).into_iter::<Box<RawValue>>();
        loop {
            match values.next() {
                None => return Ok(count),
                Some(Ok(value)) => {
                    let text = value.get();
                    if text.contains(['\n', '\r']) {
                        out.write_all(compact(text).as_bytes())
                    } else {
                        out.write_all(text.as_bytes())
                    }
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(Framing::Io)?;
                    count += 1;
                }
                Some(Err(e)) if e.is_io() => return Err(Framing::Io(e.into())),
                Some(Err(e)) => break e,
            }
        }
    };
    let reader = source.open().map_err(Framing::Io)?;
    let offset = if bad.is_eof() {
        // Cut short: the first missing byte is the one after the end.
        io::copy(&mut { reader }, &mut io::sink())
    } else {
        locate(reader, bad.line(), bad.column())
    }
    .map_err(Framing::Io)?;
    let why = bad.to_string();
    let why = why.split(" at line ").next().unwrap_or(&why).to_owned();
    Err(Framing::Bad { offset, why })
}

/// The byte offset of a 1-based line and column (serde_json counts columns in bytes).
fn locate(input: Box<dyn Read + '_>, line: usize, column: usize) -> io::Result<u64> {
    let mut reader = BufReader::new(input);
    let mut offset = 0u64;
    let mut buf = Vec::new();
    for _ in 1..line {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
    }
    Ok(offset + column.saturating_sub(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> Result<(String, u64), Framing> {
        let mut out = Vec::new();
        let n = reframe(&mut &input[..], &mut out)?;
        Ok((String::from_utf8(out).unwrap(), n))
    }

    #[test]
    fn every_framing_gives_one_value_per_line_with_its_bytes() {
        let want = "{\"a\":1.50,\"b\":\"x y\"}\n{\"c\":[1, 2]}\n";
        for input in [
            "{\"a\":1.50,\"b\":\"x y\"}\n{\"c\":[1, 2]}\n",
            "{\"a\":1.50,\"b\":\"x y\"}\n{\"c\":[1, 2]}",
            "{\"a\":1.50,\"b\":\"x y\"}{\"c\":[1, 2]}",
            "  {\"a\":1.50,\"b\":\"x y\"} \t\r\n {\"c\":[1, 2]}  ",
        ] {
            assert_eq!(
                run(input.as_bytes()).unwrap(),
                (want.to_owned(), 2),
                "{input:?}"
            );
        }
        let (pretty, n) = run(b"{\n  \"a\": \"x\\n y\",\n  \"b\": 2\n}\n").unwrap();
        assert_eq!((pretty.as_str(), n), ("{\"a\":\"x\\n y\",\"b\":2}\n", 1));
        assert_eq!(run(b"").unwrap(), (String::new(), 0));
    }

    #[test]
    fn a_file_that_is_not_json_values_says_where() {
        for (input, offset) in [
            // "n" may begin null: the "o" is the first byte that cannot.
            // "n" could begin `null`: the "o" is the first byte that cannot.
            (&b"{\"a\":1}\n{\"b\":2}\nnot json\n"[..], 17),
            (b"{\"a\":1}{\"b\":", 12),
            (b"{\"a\":1}\n{\"b\":x}", 13),
        ] {
            match run(input) {
                Err(Framing::Bad { offset: got, .. }) => assert_eq!(got, offset, "{input:?}"),
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }
}
