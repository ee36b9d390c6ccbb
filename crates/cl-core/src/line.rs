//! One line of the pipeline: the JSON object cl-list writes per listed file and cl-fetch
//! reads back (or a bare file id), side by side, and the file id that may become a file name.

use crate::error::{LineError, quote};
use crate::page::ListedFile;
use crate::principal::Principal;
use crate::sha256::Sha256Digest;
use serde_json::{Map, Value};
use std::fmt;
use std::io::{self, BufRead};

/// The field cl-list adds to name the principal a file belongs to.
pub const PRINCIPAL: &str = "principal";
/// The field cl-list adds with the listing cursor of the page a file came on.
pub const CURSOR: &str = "cursor";

/// A file id that is safe as a file name: not empty, at most 200 bytes, no `/`, `\`, `..`,
/// leading `.`, whitespace or control characters, so it can never escape a directory or hide
/// as a dot-file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(String);

impl FileId {
    /// Checks an id; the error says why it is refused.
    pub fn parse(id: &str) -> Result<FileId, String> {
        let why = if id.is_empty() {
            "the file id is empty"
        } else if id.contains(['/', '\\']) || id.contains("..") || id.starts_with('.') {
            "the file id could escape the output directory"
        } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            "the file id contains whitespace or control characters"
        } else {
            return Ok(FileId(id.to_owned()));
        };
        Err(format!("{why}: {}", quote(id)))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The line cl-list prints for a listed file (without its newline): every field as the API
/// wrote it, in its order, less whitespace between tokens, then [`PRINCIPAL`] and
/// [`CURSOR`], which replace API fields of the same names.
pub fn write_line(file: &ListedFile, principal: &Principal, cursor: Option<&str>) -> String {
    let added = [
        (PRINCIPAL, Value::from(principal.as_str())),
        (CURSOR, cursor.map_or(Value::Null, Value::from)),
    ];
    let mut out = String::with_capacity(512);
    out.push('{');
    let api = file
        .fields
        .iter()
        .filter(|(name, _)| !added.iter().any(|(a, _)| a == name))
        .map(|(name, raw)| (name.as_str(), compact(raw.get())));
    let added = added.iter().map(|(name, value)| (*name, value.to_string()));
    for (i, (name, value)) in api.chain(added).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(name).to_string());
        out.push(':');
        out.push_str(&value);
    }
    out.push('}');
    out
}

/// Drops whitespace outside strings, so a pretty-printed value fits on one line unchanged.
pub(crate) fn compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// One file to fetch, as read from a line, with whatever the listing told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    /// The file id.
    pub id: FileId,
    /// Whose file it is.
    pub principal: Principal,
    /// The event type, when known.
    pub event_type: Option<String>,
    /// The file's `end_time`, when known.
    pub end_time: Option<String>,
    /// The listing cursor of the page the file came on, when known.
    pub cursor: Option<String>,
    /// The file's name as the listing gave it.
    pub file_name: Option<String>,
    /// The size the listing promised.
    pub file_size: Option<u64>,
    /// The digest the listing promised.
    pub file_sha256: Option<Sha256Digest>,
}

impl FileRef {
    /// A file known by its id alone, as a bare id on a line gives it.
    pub fn bare(id: FileId, principal: Principal) -> FileRef {
        FileRef {
            id,
            principal,
            event_type: None,
            end_time: None,
            cursor: None,
            file_name: None,
            file_size: None,
            file_sha256: None,
        }
    }
}

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
    fn ids_stay_inside() {
        for bad in ["", "..", "a/b", "a\\b", ".hidden", "a..b", "a\u{7}", "a b"] {
            assert!(FileId::parse(bad).is_err(), "{bad:?}");
        }
        FileId::parse("eclf_01J2ABCDEF-xyz.1").unwrap();
        let long = "x".repeat(300);
        assert!(
            FileId::parse(&long).is_ok(),
            "long ids are the layout's business"
        );
        let err = FileId::parse(&format!("/{long}")).unwrap_err();
        assert!(err.len() < 200, "quoted in part: {err}");
    }

    #[test]
    fn a_listed_file_is_written_as_the_api_wrote_it_plus_principal_and_cursor() {
        let body = br#"{"data":[{"zeta":1.10,"id":"eclf_1","file_size":1e3,
                        "new":{"x":[1, "a b\"\n"]},"cursor":"api's"}],
                        "has_more":true,"last_end_time":"2026-07-16T01:00:00.123456+00:00"}"#;
        let page = crate::page::parse(body).unwrap();
        let p = Principal::parse("p").unwrap();
        assert_eq!(
            write_line(&page.files[0], &p, Some("c")),
            r#"{"zeta":1.10,"id":"eclf_1","file_size":1e3,"new":{"x":[1,"a b\"\n"]},"principal":"p","cursor":"c"}"#
        );
        let line = write_line(&page.files[0], &p, None);
        assert!(line.ends_with(r#""cursor":null}"#), "{line}");

        let page = crate::page::parse(
            br#"{"data":[{"id":"eclf_2","file_size":7,"end_time":"t"}],"has_more":false,
                 "last_end_time":"t"}"#,
        )
        .unwrap();
        let back = parse_line(&write_line(&page.files[0], &p, Some("t")), None)
            .unwrap()
            .unwrap()
            .file;
        assert_eq!(
            (back.id.as_str(), &back.principal, back.file_size),
            ("eclf_2", &p, Some(7))
        );
        assert_eq!(
            (back.end_time.as_deref(), back.cursor.as_deref()),
            (Some("t"), Some("t"))
        );
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

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                (-1e9f64..1e9).prop_map(Value::from),
                "\\PC{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn listed_files_come_out_as_they_went_in_plus_the_added_fields(
                items in proptest::collection::vec(
                    ("[a-z0-9_]{1,20}", proptest::collection::btree_map("[a-z_]{1,8}", json_value(), 0..5)),
                    0..6,
                ),
                has_more in any::<bool>(),
                pretty in any::<bool>(),
            ) {
                let data: Vec<Value> = items
                    .iter()
                    .map(|(id, fields)| {
                        let mut object: serde_json::Map<String, Value> =
                            fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        object.insert("id".into(), Value::String(id.clone()));
                        Value::Object(object)
                    })
                    .collect();
                let page = serde_json::json!({
                    "data": data, "has_more": has_more,
                    "last_end_time": (!items.is_empty()).then_some("2026-07-16T00:00:00+00:00"),
                });
                let body = if pretty {
                    serde_json::to_vec_pretty(&page).unwrap()
                } else {
                    serde_json::to_vec(&page).unwrap()
                };
                let parsed = crate::page::parse(&body).unwrap();
                prop_assert_eq!(parsed.files.len(), items.len());
                prop_assert_eq!(parsed.has_more, has_more);
                for (file, original) in parsed.files.iter().zip(&data) {
                    let line = write_line(file, &ws(), Some("c"));
                    prop_assert!(!line.contains('\n'));
                    // The API's own text, compacted, then the added fields.
                    let mut want = original.as_object().unwrap().clone();
                    want.remove(PRINCIPAL);
                    want.remove(CURSOR);
                    let mut want = Value::Object(want).to_string();
                    want.pop();
                    want.push(',');
                    want.push_str("\"principal\":\"ws-1\",\"cursor\":\"c\"}");
                    prop_assert_eq!(line, want);
                }
            }
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
                for known in ["id", "principal", "file_size", "file_sha256", "event_type", "end_time", "cursor"] {
                    object.remove(known);
                }
                object.insert("id".into(), Value::String(id.clone()));
                let json = parse_line(&Value::Object(object).to_string(), Some(&ws())).unwrap().unwrap().file;
                prop_assert_eq!(bare.id.as_str(), id.as_str());
                prop_assert_eq!(json, bare);
            }

            #[test]
            fn every_accepted_id_is_a_safe_file_name(text in "\\PC{0,80}") {
                let line = Value::Object([("id".to_owned(), Value::String(text))].into_iter().collect());
                if let Ok(Some(Parsed { file, .. })) = parse_line(&line.to_string(), Some(&ws())) {
                    let id = file.id.as_str();
                    prop_assert!(!id.is_empty());
                    prop_assert!(!id.contains(['/', '\\']) && !id.contains(".."));
                    prop_assert!(!id.starts_with('.'));
                    prop_assert!(!id.chars().any(|c| c.is_control() || c.is_whitespace()));
                }
            }
        }
    }
}
