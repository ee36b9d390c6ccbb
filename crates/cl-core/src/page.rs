//! One page of a listing, parsed strictly where we rely on it and loosely everywhere else.

use serde_json::{Map, Value};

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

/// One file of a listing: its id, and every field as the API sent it.
#[derive(Debug)]
pub struct ListedFile {
    /// The file id.
    pub id: String,
    /// All fields, unknown ones included, in the API's order.
    pub fields: Map<String, Value>,
}

/// Parses a page body. The error says what was wrong, for a message that also quotes the body.
pub fn parse(body: &[u8]) -> Result<Page, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut top) = value else {
        return Err(format!("expected a JSON object, got {}", kind(&value)));
    };
    let data = match top.remove("data") {
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("`data` is {}, not an array", kind(&other))),
        None => return Err("`data` is missing".to_owned()),
    };
    let has_more = match top.get("has_more") {
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("`has_more` is {}, not a boolean", kind(other))),
        None => return Err("`has_more` is missing".to_owned()),
    };
    let last_end_time = match top.get("last_end_time") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => return Err(format!("`last_end_time` is {}, not a string", kind(other))),
    };
    let files = data
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(fields) => match fields.get("id") {
                Some(Value::String(id)) if !id.is_empty() => Ok(ListedFile {
                    id: id.clone(),
                    fields,
                }),
                _ => Err(format!("`data[{i}]` has no string `id`")),
            },
            other => Err(format!("`data[{i}]` is {}, not an object", kind(&other))),
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    fn keeps_unknown_fields_in_order_and_numbers_exact() {
        let body = br#"{"data":[{"zeta":1.10,"id":"eclf_1","file_size":12,"new":{"x":[1]}}],
                        "has_more":true,"last_end_time":"2026-07-16T01:00:00.123456+00:00"}"#;
        let page = parse(body).unwrap();
        assert!(page.has_more);
        assert_eq!(page.files[0].id, "eclf_1");
        assert_eq!(
            serde_json::to_string(&page.files[0].fields).unwrap(),
            r#"{"zeta":1.10,"id":"eclf_1","file_size":12,"new":{"x":[1]}}"#
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
}
