//! cl-fetch's side of a line: read in bounded memory, then parsed into the file it names,
//! with whatever the listing told about it.

use crate::error::{LineError, quote};
use crate::model::file_id::FileId;
use crate::model::line::{CURSOR, FileRef, LISTED_AFTER, PRINCIPAL};
use crate::model::principal::Principal;
use crate::model::sha256::Sha256Digest;
use serde_json::{Map, Value};
use std::io::{self, BufRead};

/// The longest input line read; a longer one is refused (and read past, not held).
pub const MAX_LINE: usize = 64 << 10;

/// One line of input as read, before it is parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawLine {
    /// A line of text, without its line end.
    Text(String),
    /// A line over [`MAX_LINE`] bytes; `start` is its beginning, for the message.
    TooLong {
        /// Its first bytes.
        start: String,
    },
    /// A line that is not UTF-8.
    NotUtf8,
}

/// Reads the next line, holding at most [`MAX_LINE`] bytes of it whatever its length. `None`
/// at the end of the input.
pub fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Option<RawLine>> {
    buf.clear();
    let (mut seen_any, mut too_long) = (false, false);
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        seen_any = true;
        let (part, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        if !too_long {
            let room = (MAX_LINE + 1).saturating_sub(buf.len());
            buf.extend_from_slice(&part[..part.len().min(room)]);
            too_long = buf.len() > MAX_LINE;
        }
        let used = part.len() + usize::from(ended);
        reader.consume(used);
        if ended {
            break;
        }
    }
    if !seen_any {
        return Ok(None);
    }
    if too_long {
        let start = String::from_utf8_lossy(&buf[..buf.len().min(200)]).into_owned();
        return Ok(Some(RawLine::TooLong { start }));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(match String::from_utf8(std::mem::take(buf)) {
        Ok(text) => RawLine::Text(text),
        Err(_) => RawLine::NotUtf8,
    }))
}

/// A field of a line that could not be read as what it should be: the file is fetched
/// without it (and verified with what else the line gives).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The field's name.
    pub field: &'static str,
    /// What was wrong with it.
    pub why: String,
}

/// A line read: the file it names and the fields that had to be ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The file.
    pub file: FileRef,
    /// Listing fields of an unexpected type or form.
    pub ignored: Vec<Ignored>,
}

/// Reads one line. `Ok(None)` for a blank line. `principal` is used for lines that do not
/// carry their own. Only a line without a usable id or principal is refused: listing
/// metadata that cannot be read is left out and said in [`Parsed::ignored`].
pub fn parse_line(text: &str, principal: Option<&Principal>) -> Result<Option<Parsed>, LineError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('{') {
        let fields: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| format!("not a valid JSON object: {e}"))?;
        return from_json(&fields, principal).map(Some);
    }
    if text.contains(char::is_whitespace) || text.starts_with('[') || text.starts_with('"') {
        return Err("expected a file id or a JSON object with an \"id\" field".into());
    }
    let id = FileId::parse(text)?;
    Ok(Some(Parsed {
        file: FileRef::bare(id, require_principal(principal)?),
        ignored: Vec::new(),
    }))
}

fn require_principal(principal: Option<&Principal>) -> Result<Principal, LineError> {
    principal.cloned().ok_or(LineError::NoPrincipal)
}

fn from_json(
    fields: &Map<String, Value>,
    principal: Option<&Principal>,
) -> Result<Parsed, LineError> {
    let id = match fields.get("id") {
        Some(Value::String(id)) => FileId::parse(id)?,
        Some(_) => return Err("\"id\" is not a string".into()),
        None => return Err("the JSON object has no \"id\" field".into()),
    };
    let mut ignored = Vec::new();
    let mut text = |name: &'static str| match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            ignored.push(Ignored {
                field: name,
                why: format!("{} is not a string: left out", quote(&other.to_string())),
            });
            None
        }
    };
    let principal = match text(PRINCIPAL) {
        Some(p) => Principal::parse(&p).map_err(|e| e.to_string())?,
        None => require_principal(principal)?,
    };
    let event_type = text("event_type");
    let end_time = text("end_time");
    let cursor = text(CURSOR);
    let listed_after = text(LISTED_AFTER);
    let file_name = text("file_name");
    let sha_text = text("file_sha256");
    let file_sha256 = sha_text.and_then(|hex| {
        let digest = Sha256Digest::from_hex(&hex);
        if digest.is_none() {
            ignored.push(Ignored {
                field: "file_sha256",
                why: format!("{} is not 64 hex digits: left out", quote(&hex)),
            });
        }
        digest
    });
    let file_size = fields.get("file_size").and_then(|value| {
        let (size, exact) = read_size(value);
        if !exact {
            let shown = quote(&value.to_string());
            ignored.push(Ignored {
                field: "file_size",
                why: match size {
                    Some(n) => format!("{shown} is not a plain integer: read as {n}"),
                    None => format!("{shown} is not a non-negative integer: left out"),
                },
            });
        }
        size
    });
    Ok(Parsed {
        file: FileRef {
            id,
            principal,
            event_type,
            end_time,
            cursor,
            listed_after,
            file_name,
            file_size,
            file_sha256,
        },
        ignored,
    })
}

/// A size as the listing gave it: a non-negative integer, or something that reads as one
/// (`2264.0`, `"2264"`). The flag is false when the form was not the expected one.
fn read_size(value: &Value) -> (Option<u64>, bool) {
    if let Some(n) = value.as_u64() {
        return (Some(n), true);
    }
    let whole = |f: f64| (f >= 0.0 && f.fract() == 0.0 && f < 2f64.powi(53)).then_some(f as u64);
    match value {
        Value::Null => (None, true),
        Value::Number(n) => (n.as_f64().and_then(whole), false),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            (s.parse().ok(), false)
        }
        _ => (None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Principal {
        Principal::parse("ws-1").unwrap()
    }

    #[test]
    fn bare_ids_take_the_default_principal() {
        let got = parse_line("  eclf_abc \n", Some(&ws()))
            .unwrap()
            .unwrap()
            .file;
        assert_eq!(got.id.as_str(), "eclf_abc");
        assert_eq!(got.principal, ws());
        assert_eq!(parse_line(" \t", None), Ok(None));
        assert_eq!(parse_line("eclf_abc", None), Err(LineError::NoPrincipal));
    }

    #[test]
    fn listing_lines_carry_their_metadata() {
        let sha = "ab".repeat(32);
        let line = format!(
            r#"{{"id":"eclf_1","event_type":"AUTH_LOG","end_time":"t","file_size":12,
               "file_sha256":"{sha}","principal":"org-x","cursor":"c","extra":[1]}}"#
        )
        .replace('\n', "");
        let got = parse_line(&line, Some(&ws())).unwrap().unwrap().file;
        assert_eq!(got.principal.as_str(), "org-x");
        assert_eq!(got.file_size, Some(12));
        assert_eq!(got.file_sha256.unwrap().to_string(), sha);
        assert_eq!(got.cursor.as_deref(), Some("c"));
        assert_eq!(got.event_type.as_deref(), Some("AUTH_LOG"));
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("{\"id\":1}", "not a string"),
            ("{\"x\":1}", "no \"id\""),
            ("{oops", "not a valid JSON object"),
            ("two words", "expected a file id"),
            ("[1]", "expected a file id"),
            ("../etc/passwd", "id"),
            (r#"{"id":"a/b"}"#, "id"),
            (r#"{"id":"ok","principal":"a/b"}"#, "principal"),
        ];
        for (line, want) in cases {
            let err = parse_line(line, Some(&ws())).unwrap_err().to_string();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn metadata_of_an_unexpected_type_is_used_where_it_can_be_and_said() {
        let sha = "ab".repeat(32);
        let cases = [
            (r#""file_size":"2264""#, Some(2264), vec!["file_size"]),
            (r#""file_size":2264.0"#, Some(2264), vec!["file_size"]),
            (r#""file_size":-1"#, None, vec!["file_size"]),
            (r#""file_size":null"#, None, vec![]),
            (
                r#""file_size":7,"file_sha256":"zz""#,
                Some(7),
                vec!["file_sha256"],
            ),
            (
                r#""file_size":7,"event_type":3,"cursor":[]"#,
                Some(7),
                vec!["event_type", "cursor"],
            ),
        ];
        for (fields, size, warned) in cases {
            let line = format!(r#"{{"id":"ok",{fields},"end_time":"t"}}"#);
            let got = parse_line(&line, Some(&ws())).unwrap().unwrap();
            assert_eq!(got.file.file_size, size, "{line}");
            assert_eq!(got.file.end_time.as_deref(), Some("t"), "the rest is kept");
            let names: Vec<&str> = got.ignored.iter().map(|i| i.field).collect();
            assert_eq!(names, warned, "{line}");
        }
        let line = format!(r#"{{"id":"ok","file_sha256":"{sha}"}}"#);
        let got = parse_line(&line, Some(&ws())).unwrap().unwrap();
        assert!(got.file.file_sha256.is_some() && got.ignored.is_empty());
    }

    #[test]
    fn lines_are_read_in_bounded_memory_whatever_their_length() {
        let long = "x".repeat(MAX_LINE + 10);
        let mut input = format!("a\r\n{long}\n").into_bytes();
        input.extend_from_slice(b"\xffb\nlast");
        let mut input = io::BufReader::with_capacity(1024, &input[..]);
        let mut buf = Vec::new();
        let mut next = || read_line(&mut input, &mut buf).unwrap();
        assert_eq!(next(), Some(RawLine::Text("a".into())));
        match next() {
            Some(RawLine::TooLong { start }) => {
                assert!(start.len() <= 200 && start.starts_with("xx"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(next(), Some(RawLine::NotUtf8));
        assert_eq!(next(), Some(RawLine::Text("last".into())));
        assert_eq!(next(), None);
        assert!(buf.capacity() <= 2 * MAX_LINE, "{}", buf.capacity());
    }
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_gives_a_line_or_a_reason_never_a_panic(text in "\\PC{0,200}") {
                let _ = parse_line(&text, Some(&ws()));
            }

            #[test]
            fn bare_and_json_forms_of_an_id_agree(
                id in "[A-Za-z0-9_-][A-Za-z0-9_.-]{0,60}",
                extra in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,20}", 0..5),
            ) {
                prop_assume!(!id.contains(".."));
                let bare = parse_line(&id, Some(&ws())).unwrap().unwrap().file;
                let mut object = serde_json::Map::new();
                for (k, v) in extra {
                    object.insert(k, Value::String(v));
                }
                for known in ["id", "principal", "file_size", "file_sha256", "event_type", "end_time", "cursor", "listed_after"] {
                    object.remove(known);
                }
                object.insert("id".into(), Value::String(id.clone()));
                let json = parse_line(&Value::Object(object).to_string(), Some(&ws())).unwrap().unwrap().file;
                prop_assert_eq!(bare.id.as_str(), id.as_str());
                prop_assert_eq!(json, bare);
            }
        }
    }
}
