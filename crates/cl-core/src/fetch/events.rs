//! `--events`: a log file as one JSON value per line, whatever its framing: JSON Lines, or
//! values written one after another with or without whitespace between them (as one
//! integration reports the service may do). Each value keeps its bytes; only one that spans
//! lines loses the whitespace between its tokens, so that it fits on one.
//!
//! JSON Lines, the common case, is read a line at a time and each line parsed from memory
//! (`serde_json::from_slice`, several times faster than a reader); from the first line that is
//! not one whole value on, the rest of the file goes through a streaming parser. While every
//! line is its value alone, as served, nothing need be written at all: the file is its own
//! output ([`reframe_lazily`]), which spares a copy of each file.
//!
//! For `--dedup`, each value is also given a [`Mark`]: where its line ends in the output, the
//! key that names its event (see [`EventKey`]) and the time it happened.

pub use crate::model::event_key::{EventKey, Mark};
use crate::model::line::write::compact;
use crate::store::spool::Reread;
use serde::Deserialize;
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

/// What `--dedup` reads of an event: its id and time, as written.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
}

/// An event's `timestamp` in Unix seconds: an RFC 3339 string, or a number of seconds (or of
/// milliseconds, when it is too large to be seconds).
fn seconds(raw: &RawValue) -> Option<i64> {
    let text = raw.get();
    if let Some(quoted) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return rfc3339_seconds(quoted).or_else(|| {
            quoted
                .parse::<jiff::Timestamp>()
                .ok()
                .map(|t| t.as_second())
        });
    }
    let n: f64 = text.parse().ok()?;
    let n = if n.abs() >= 1e11 { n / 1000.0 } else { n };
    n.is_finite().then_some(n as i64)
}

/// The common shape of an event's time, read without a general parser:
/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z` or `+00:00`. Anything else (other
/// offsets, lower-case letters, leap seconds…) is `None`, left to jiff.
fn rfc3339_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        b.get(range)?.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        rest = &fraction[n..];
    }
    if rest != b"Z" && rest != b"+00:00" {
        return None;
    }
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        1..=12 => month_days[(month - 1) as usize],
        _ => return None,
    };
    // Before 1970 jiff rounds a fraction toward zero, not down, and it reads nothing after
    // 9999-12-30: both left to it.
    if !(1970..=9998).contains(&year)
        || day < 1
        || day > days_in_month
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Where the values go: the output, its length so far, the count, and the marks.
struct Sink<'a> {
    out: &'a mut dyn Write,
    /// Nothing written yet, because every value so far was its line as served: the output
    /// so far is the source's own bytes (see [`reframe_lazily`]).
    deferred: bool,
    /// While deferred: the source's last line has no newline, which the output adds.
    unterminated: bool,
    written: u64,
    count: u64,
    marks: Option<(&'a EventKey, &'a mut Vec<Mark>)>,
}

impl Sink<'_> {
    /// Writes one value on a line of its own (compacted if `spans` lines, when the caller
    /// knows; else if it holds a line break).
    fn value(&mut self, text: &str, head: Option<Head<'_>>, spans: Option<bool>) -> io::Result<()> {
        let compacted;
        // (A byte search: a search for either char would decode every character.)
        let spans = spans.unwrap_or_else(|| {
            let bytes = text.as_bytes();
            bytes.contains(&b'\n') || bytes.contains(&b'\r')
        });
        let text = if spans {
            compacted = compact(text);
            compacted.as_str()
        } else {
            text
        };
        if !self.deferred {
            self.out.write_all(text.as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        self.written += text.len() as u64 + 1;
        self.count += 1;
        if let Some((keys, marks)) = &mut self.marks {
            let head = match head {
                Some(head) => Some(head),
                None if text.starts_with('{') => serde_json::from_str::<Head<'_>>(text).ok(),
                None => None,
            };
            let (id, at) = match &head {
                Some(h) => (h.event_id.map(RawValue::get), h.timestamp.and_then(seconds)),
                None => (None, None),
            };
            marks.push(Mark::new(self.written, keys.of(id, text.as_bytes()), at));
        }
        Ok(())
    }
}

/// JSON's whitespace, and nothing else.
fn trim_json(bytes: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = bytes.iter().position(|b| !ws(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// Writes each JSON value of `source` to `out` on a line of its own; returns how many there
/// were. On a framing error `out` may hold the values before it: write to a buffer or a
/// temporary file until the whole file is known good.
pub fn reframe(source: &mut dyn Reread, out: &mut dyn Write) -> Result<u64, Framing> {
    reframe_marked(source, out, None)
}

/// As [`reframe`], also pushing one [`Mark`] per value onto `marks` (keyed by `keys`).
pub fn reframe_marked(
    source: &mut dyn Reread,
    out: &mut dyn Write,
    marks: Option<(&EventKey, &mut Vec<Mark>)>,
) -> Result<u64, Framing> {
    run(source, out, marks, false).map(|done| done.count)
}

/// What [`reframe_lazily`] did.
#[derive(Debug, PartialEq)]
pub struct Reframed {
    /// How many values the file holds.
    pub count: u64,
    /// `Some` when the file was JSON Lines with each value alone on its line, as served:
    /// then nothing was written, and the output is the source itself, plus a newline at its
    /// end when this is `Some(true)`. `None` when the output was written to `out`.
    pub as_served: Option<bool>,
}

/// As [`reframe_marked`], writing nothing while the output would be the source's own bytes
/// (the common case, JSON Lines as served): the caller keeps the source instead of a copy.
pub fn reframe_lazily(
    source: &mut dyn Reread,
    out: &mut dyn Write,
    marks: Option<(&EventKey, &mut Vec<Mark>)>,
) -> Result<Reframed, Framing> {
    run(source, out, marks, true)
}

/// Where the JSON Lines pass stopped.
enum Stop {
    /// At the end of the source.
    End,
    /// Deferred, at the start of a line that is not its value alone (copy what came before).
    Differs(u64),
    /// At the start of a line that is not one whole value (stream from there).
    NotAValue(u64),
}

fn run(
    source: &mut dyn Reread,
    out: &mut dyn Write,
    marks: Option<(&EventKey, &mut Vec<Mark>)>,
    lazy: bool,
) -> Result<Reframed, Framing> {
    let mut sink = Sink {
        out,
        deferred: lazy,
        unterminated: false,
        written: 0,
        count: 0,
        marks,
    };
    let mut from = 0;
    let consumed = loop {
        match json_lines(source, from, &mut sink)? {
            Stop::End => {
                return Ok(Reframed {
                    count: sink.count,
                    as_served: sink.deferred.then_some(sink.unterminated),
                });
            }
            Stop::Differs(at) => {
                materialize(source, at, &mut sink)?;
                from = at;
            }
            Stop::NotAValue(at) => {
                materialize(source, at, &mut sink)?;
                break at;
            }
        }
    };
    // The rest, from the first line that is not one whole value: streamed.
    let bad = {
        let mut reader = source.open().map_err(Framing::Io)?;
        io::copy(&mut (&mut reader).take(consumed), &mut io::sink()).map_err(Framing::Io)?;
        let reader = BufReader::with_capacity(256 << 10, reader);
        let mut values = serde_json::Deserializer::from_reader(reader).into_iter::<Box<RawValue>>();
        loop {
            match values.next() {
                None => {
                    return Ok(Reframed {
                        count: sink.count,
                        as_served: None,
                    });
                }
                Some(Ok(value)) => sink.value(value.get(), None, None).map_err(Framing::Io)?,
                Some(Err(e)) if e.is_io() => return Err(Framing::Io(e.into())),
                Some(Err(e)) => break e,
            }
        }
    };
    let mut reader = source.open().map_err(Framing::Io)?;
    io::copy(&mut (&mut reader).take(consumed), &mut io::sink()).map_err(Framing::Io)?;
    let offset = if bad.is_eof() {
        // Cut short: the first missing byte is the one after the end.
        io::copy(&mut reader, &mut io::sink())
    } else {
        locate(reader, bad.line(), bad.column())
    }
    .map_err(Framing::Io)?;
    let why = bad.to_string();
    let why = why.split(" at line ").next().unwrap_or(&why).to_owned();
    Err(Framing::Bad {
        offset: consumed + offset,
        why,
    })
}

/// Writes the first `at` bytes of the source, which deferred values left unwritten (each a
/// line as served), and writes from then on.
fn materialize(source: &mut dyn Reread, at: u64, sink: &mut Sink<'_>) -> Result<(), Framing> {
    if sink.deferred {
        let mut reader = source.open().map_err(Framing::Io)?;
        io::copy(&mut (&mut reader).take(at), sink.out).map_err(Framing::Io)?;
        sink.deferred = false;
    }
    Ok(())
}

/// JSON Lines, from byte `from` of the source: each line one whole value, parsed from memory.
fn json_lines(source: &mut dyn Reread, from: u64, sink: &mut Sink<'_>) -> Result<Stop, Framing> {
    let marked = sink.marks.is_some();
    let mut reader = BufReader::with_capacity(256 << 10, source.open().map_err(Framing::Io)?);
    io::copy(&mut (&mut reader).take(from), &mut io::sink()).map_err(Framing::Io)?;
    let mut consumed = from;
    let mut line = Vec::with_capacity(4 << 10);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(Framing::Io)?;
        if n == 0 {
            return Ok(Stop::End);
        }
        let text = trim_json(&line);
        let ended = line.last() == Some(&b'\n');
        // A line holds no newline but its last byte; a carriage return inside it is JSON
        // whitespace between tokens (never inside a string), to be compacted away.
        let spans = text.contains(&b'\r');
        if sink.deferred {
            // As served: the value alone on its line, nothing around it, nothing to compact.
            let as_is = !text.is_empty() && text.len() + usize::from(ended) == n;
            if !as_is || spans {
                return Ok(Stop::Differs(consumed));
            }
            sink.unterminated = !ended;
        }
        if !text.is_empty() {
            let parsed = match marked {
                // Only an object has fields (serde would take an array for the struct).
                // UTF-8 checked once, for the whole line; then parsed as text, which serde
                // does not check again field by field.
                true if text.starts_with(b"{") => std::str::from_utf8(text).ok().and_then(|t| {
                    match serde_json::from_str::<Head<'_>>(t) {
                        // A whole object: its text is the line's.
                        Ok(head) => Some((t, Some(head))),
                        Err(_) => serde_json::from_str::<&RawValue>(t)
                            .ok()
                            .map(|v| (v.get(), None)),
                    }
                }),
                _ => serde_json::from_slice::<&RawValue>(text)
                    .ok()
                    .map(|v| (v.get(), None)),
            };
            let Some((value, head)) = parsed else {
                return Ok(Stop::NotAValue(consumed));
            };
            sink.value(value, head, Some(spans)).map_err(Framing::Io)?;
        }
        consumed += n as u64;
    }
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

    #[test]
    fn the_common_time_shape_is_read_as_jiff_reads_it_and_the_rest_is_left_to_jiff() {
        for text in [
            "2026-07-16T00:05:48.988870+00:00",
            "2026-07-16T00:05:48Z",
            "1970-01-01T00:00:00Z",
            "2000-02-29T12:00:00.123456789Z",
            "2100-03-01T00:00:00+00:00",
            "9998-12-31T23:59:59Z",
        ] {
            let jiff = text.parse::<jiff::Timestamp>().unwrap().as_second();
            assert_eq!(rfc3339_seconds(text), Some(jiff), "{text}");
        }
        for text in [
            "2026-07-16T00:05:48+02:00",
            "2026-07-16t00:05:48z",
            "2026-02-30T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-07-16T24:00:00Z",
            "2026-07-16T00:05:60Z",
            "2026-07-16T00:05:48.Z",
            "2026-07-16T00:05:48.1234567890Z",
            "2026-07-16 00:05:48Z",
            "2026-07-16T00:05:48",
            "2026-7-16T00:05:48Z",
            "+2026-07-16T00:05:48Z",
            "1969-12-31T23:59:59.5Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert_eq!(rfc3339_seconds(text), None, "{text}");
        }
        // What the fast path leaves, jiff still reads.
        let raw = RawValue::from_string("\"2026-07-16T02:05:48+02:00\"".into()).unwrap();
        assert_eq!(seconds(&raw), rfc3339_seconds("2026-07-16T00:05:48Z"));
    }

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
    fn json_lines_as_served_is_not_copied_and_anything_else_is_written_whole() {
        let lazily = |input: &str| {
            let mut out = Vec::new();
            let done = reframe_lazily(&mut input.as_bytes(), &mut out, None).unwrap();
            (String::from_utf8(out).unwrap(), done)
        };
        let served = |count, newline| Reframed {
            count,
            as_served: Some(newline),
        };
        assert_eq!(
            lazily("{\"a\":1}\n[2]\n"),
            (String::new(), served(2, false))
        );
        assert_eq!(lazily("{\"a\":1}\n[2]"), (String::new(), served(2, true)));
        assert_eq!(lazily(""), (String::new(), served(0, false)));
        // From the first line that is not its value alone, the output is written, whole.
        let written = |count| Reframed {
            count,
            as_served: None,
        };
        for (input, want) in [
            ("{\"a\":1}\n [2]\n3\n", "{\"a\":1}\n[2]\n3\n"),
            ("{\"a\":1}\n\n[2]\n3", "{\"a\":1}\n[2]\n3\n"),
            ("{\"a\":1}\n[2,\r3]\n3\n", "{\"a\":1}\n[2,3]\n3\n"),
            ("{\"a\":1}\n[2]3\n", "{\"a\":1}\n[2]\n3\n"),
        ] {
            assert_eq!(lazily(input), (want.to_owned(), written(3)), "{input:?}");
        }
        // The marks are the output's either way.
        let keys = EventKey::new("ws", "AUTH_LOG");
        let mut marks = Vec::new();
        let input = b"{\"event_id\":\"a\"}\n{\"event_id\":\"b\"}";
        reframe_lazily(&mut &input[..], &mut io::sink(), Some((&keys, &mut marks))).unwrap();
        let ends: Vec<u64> = marks.iter().map(|m| m.end).collect();
        assert_eq!(ends, [17, 34]);
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

    fn marked(input: &[u8]) -> (String, Vec<Mark>) {
        let keys = EventKey::new("ws", "AUTH_LOG");
        let mut out = Vec::new();
        let mut marks = Vec::new();
        reframe_marked(&mut &input[..], &mut out, Some((&keys, &mut marks))).unwrap();
        (String::from_utf8(out).unwrap(), marks)
    }

    #[test]
    fn each_value_is_marked_with_its_line_end_key_and_time() {
        let input = b"{\"event_id\":\"e1\",\"timestamp\":\"2026-07-16T00:00:00Z\"}\n\
                      {\"event_id\":\"e2\",\"timestamp\":1784160000}\n[1,2]\n\
                      {\"event_id\":\"e1\",\n \"timestamp\":1784160000123}";
        let (out, marks) = marked(input);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        let ends: Vec<u64> = marks.iter().map(|m| m.end).collect();
        let mut end = 0;
        let want: Vec<u64> = lines
            .iter()
            .map(|l| {
                end += l.len() as u64 + 1;
                end
            })
            .collect();
        assert_eq!(ends, want);
        let at = 1_784_160_000;
        let times: Vec<Option<i64>> = marks.iter().map(Mark::at).collect();
        assert_eq!(times, [Some(at), Some(at), None, Some(at)]);
        // The same event_id is the same key, however the value is framed; values without an
        // id are keyed by their bytes.
        assert_eq!(marks[0].key, marks[3].key);
        assert_ne!(marks[0].key, marks[1].key);
        let (_, again) = marked(b"[1,2]\n[1, 2]\n[1,2]");
        assert_eq!(again[0].key, marks[2].key);
        assert_ne!(again[0].key, again[1].key);
        assert_eq!(again[0].key, again[2].key);
        // Per principal and event type.
        let keys = EventKey::new("ws", "AUDIT_LOG");
        assert_ne!(keys.of(Some("\"e1\""), b""), marks[0].key);
    }

    #[test]
    fn a_bad_line_after_good_ones_is_found_by_the_streaming_parser_at_its_byte() {
        let input = b"{\"a\":1}\n{\"b\":2}\n{\"c\":\n3}\n{\"d\":x}\n";
        match run(input) {
            Err(Framing::Bad { offset, .. }) => assert_eq!(offset, 30, "{:?}", &input[30..]),
            other => panic!("{other:?}"),
        }
    }
}
