//! One page of a listing, parsed strictly where we rely on it and loosely everywhere else.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;

/// A listing page: `{"data": [...], "has_more": bool, "last_end_time": TS|null}`.
#[derive(Debug)]
pub struct Page {
    /// The listed files, each with every field the API sent, in the API's order.
    pub files: Vec<ListedFile>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The paging cursor: the next page starts after it. `None` when nothing was found.
    pub last_end_time: Option<String>,
}

/// One file of a listing: its id, and every field exactly as the API wrote it.
#[derive(Debug)]
pub struct ListedFile {
    /// The file id.
    pub id: String,
    /// Field names and their raw JSON text, unknown fields included, in the API's order.
    pub fields: Vec<(String, Box<RawValue>)>,
}

impl ListedFile {
    /// The file's `end_time`, when the API gave one as a string.
    pub fn end_time(&self) -> Option<String> {
        let (_, raw) = self.fields.iter().find(|(name, _)| name == "end_time")?;
        serde_json::from_str(raw.get()).ok()
    }
}

/// A JSON object kept as raw field texts, in order.
struct RawObject(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(field);
                }
                Ok(RawObject(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// Parses a page body. The error says what was wrong, for a message that also quotes the body.
pub fn parse(body: &[u8]) -> Result<Page, String> {
    let mut top: HashMap<String, Box<RawValue>> = match serde_json::from_slice(body) {
        Ok(top) => top,
        Err(e) => {
            return Err(match serde_json::from_slice::<Value>(body) {
                Ok(other) => format!("expected a JSON object, got {}", kind(&other)),
                Err(_) => format!("not JSON ({e})"),
            });
        }
    };
    let value = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).unwrap_or(Value::Null);
    let data = match top.remove("data") {
        Some(raw) => match serde_json::from_str::<Vec<Box<RawValue>>>(raw.get()) {
            Ok(items) => items,
            Err(_) => return Err(format!("`data` is {}, not an array", kind(&value(&raw)))),
        },
        None => return Err("`data` is missing".to_owned()),
    };
    let has_more = match top.get("has_more").map(|raw| value(raw)) {
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(format!("`has_more` is {}, not a boolean", kind(&other))),
        None => return Err("`has_more` is missing".to_owned()),
    };
    let last_end_time = match top.get("last_end_time").map(|raw| value(raw)) {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) | None => None,
        Some(other) => return Err(format!("`last_end_time` is {}, not a string", kind(&other))),
    };
    let files = data
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let RawObject(fields) = serde_json::from_str(item.get())
                .map_err(|_| format!("`data[{i}]` is {}, not an object", kind(&value(item))))?;
            let id = fields
                .iter()
                .find(|(name, _)| name == "id")
                .and_then(|(_, raw)| serde_json::from_str::<String>(raw.get()).ok())
                .filter(|id| !id.is_empty())
                .ok_or_else(|| format!("`data[{i}]` has no string `id`"))?;
            Ok(ListedFile { id, fields })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if !files.is_empty() && last_end_time.is_none() {
        return Err("`last_end_time` is null on a page that lists files".to_owned());
    }
    Ok(Page {
        files,
        has_more,
        last_end_time,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first bytes of a body, quoted, for error messages about it.
pub fn preview(body: &[u8]) -> String {
    const MAX: usize = 120;
    let cut = &body[..body.len().min(MAX)];
    let text = String::from_utf8_lossy(cut);
    let more = if body.len() > MAX { "…" } else { "" };
    format!("{text:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_field_as_written_in_order() {
        let body = br#"{"data":[{"zeta":1.10,"id":"eclf_1","file_size":1e3}],
                        "has_more":true,"last_end_time":"2026-07-16T01:00:00.123456+00:00"}"#;
        let page = parse(body).unwrap();
        assert!(page.has_more);
        assert_eq!(page.files[0].id, "eclf_1");
        let fields: Vec<(&str, &str)> = page.files[0]
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.get()))
            .collect();
        assert_eq!(
            fields,
            [("zeta", "1.10"), ("id", "\"eclf_1\""), ("file_size", "1e3")]
        );
    }

    #[test]
    fn empty_result_has_null_cursor() {
        let page = parse(br#"{"data":[],"has_more":false,"last_end_time":null}"#).unwrap();
        assert!(page.files.is_empty() && page.last_end_time.is_none());
    }

    #[test]
    fn says_what_is_wrong() {
        let cases: [(&[u8], &str); 7] = [
            (b"<html>", "not JSON"),
            (b"[]", "expected a JSON object"),
            (br#"{"has_more":false}"#, "`data` is missing"),
            (br#"{"data":{},"has_more":false}"#, "`data` is an object"),
            (br#"{"data":[],"has_more":"no"}"#, "`has_more` is a string"),
            (
                br#"{"data":[{"x":1}],"has_more":false,"last_end_time":"t"}"#,
                "no string `id`",
            ),
            (
                br#"{"data":[{"id":"a"}],"has_more":false}"#,
                "null on a page that lists",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body).unwrap_err();
            assert!(err.contains(want), "{err} vs {want}");
        }
    }

    #[test]
    fn preview_is_short_and_quoted() {
        assert_eq!(preview(b"ab\n"), r#""ab\n""#);
        assert!(preview(&[b'x'; 500]).ends_with('…'));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_bytes_give_a_page_or_a_reason_never_a_panic(
                body in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                let _ = parse(&body);
            }
        }
    }
}
