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
    /// The file as one line of JSON (no newline): the API's fields as it wrote them, less any
    /// whitespace between tokens, then `extra` fields, which replace API fields of the same name.
    pub fn to_json_line(&self, extra: &[(&str, &Value)]) -> String {
        let mut out = String::with_capacity(512);
        out.push('{');
        let api = self
            .fields
            .iter()
            .filter(|(name, _)| !extra.iter().any(|(e, _)| e == name))
            .map(|(name, raw)| (name.as_str(), compact(raw.get())));
        let added = extra.iter().map(|(name, value)| (*name, value.to_string()));
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
}

/// Drops whitespace outside strings, so a pretty-printed value fits on one line unchanged.
fn compact(raw: &str) -> String {
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
        let body = br#"{"data":[{"zeta":1.10,"id":"eclf_1","file_size":1e3,
                        "new":{"x":[1, "a b\"\n"]},"cursor":"api's"}],
                        "has_more":true,"last_end_time":"2026-07-16T01:00:00.123456+00:00"}"#;
        let page = parse(body).unwrap();
        assert!(page.has_more);
        assert_eq!(page.files[0].id, "eclf_1");
        let cursor = Value::from("c");
        assert_eq!(
            page.files[0].to_json_line(&[("principal", &Value::from("p")), ("cursor", &cursor)]),
            r#"{"zeta":1.10,"id":"eclf_1","file_size":1e3,"new":{"x":[1,"a b\"\n"]},"principal":"p","cursor":"c"}"#
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
            fn any_bytes_give_a_page_or_a_reason_never_a_panic(
                body in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                let _ = parse(&body);
            }

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
                let parsed = parse(&body).unwrap();
                prop_assert_eq!(parsed.files.len(), items.len());
                prop_assert_eq!(parsed.has_more, has_more);
                let cursor = Value::from("c");
                for (file, original) in parsed.files.iter().zip(&data) {
                    let line = file.to_json_line(&[("cursor", &cursor)]);
                    prop_assert!(!line.contains('\n'));
                    // The API's own text, compacted, then the added field.
                    let mut want = original.as_object().unwrap().clone();
                    want.remove("cursor");
                    let mut want = Value::Object(want).to_string();
                    want.pop();
                    want.push_str(",\"cursor\":\"c\"}");
                    prop_assert_eq!(line, want);
                }
            }
        }
    }
}
