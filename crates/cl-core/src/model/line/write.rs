//! The line cl-list prints for a listed file: the API's fields as it wrote them, plus the
//! principal and the page's cursor.

use crate::model::line::{CURSOR, LISTED_AFTER, PRINCIPAL};
use crate::model::page::ListedFile;
use crate::model::principal::Principal;
use serde_json::Value;

/// The line cl-list prints for a listed file (without its newline): every field as the API
/// wrote it, in its order, less whitespace between tokens, then [`PRINCIPAL`], [`CURSOR`]
/// and [`LISTED_AFTER`], which replace API fields of the same names.
pub fn write_line(
    file: &ListedFile,
    principal: &Principal,
    cursor: Option<&str>,
    listed_after: &str,
) -> String {
    let added = [
        (PRINCIPAL, Value::from(principal.as_str())),
        (CURSOR, cursor.map_or(Value::Null, Value::from)),
        (LISTED_AFTER, Value::from(listed_after)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::line::parse_line;

    fn ws() -> Principal {
        Principal::parse("ws-1").unwrap()
    }

    #[test]
    fn a_listed_file_is_written_as_the_api_wrote_it_plus_principal_and_cursor() {
        let body = br#"{"data":[{"zeta":1.10,"id":"eclf_1","file_size":1e3,
                        "new":{"x":[1, "a b\"\n"]},"cursor":"api's"}],
                        "has_more":true,"last_end_time":"2026-07-16T01:00:00.123456+00:00"}"#;
        let page = crate::model::page::parse(body).unwrap();
        let p = Principal::parse("p").unwrap();
        assert_eq!(
            write_line(&page.files[0], &p, Some("c"), "a"),
            r#"{"zeta":1.10,"id":"eclf_1","file_size":1e3,"new":{"x":[1,"a b\"\n"]},"principal":"p","cursor":"c","listed_after":"a"}"#
        );
        let line = write_line(&page.files[0], &p, None, "a");
        assert!(
            line.ends_with(r#""cursor":null,"listed_after":"a"}"#),
            "{line}"
        );

        let page = crate::model::page::parse(
            br#"{"data":[{"id":"eclf_2","file_size":7,"end_time":"t"}],"has_more":false,
                 "last_end_time":"t"}"#,
        )
        .unwrap();
        let back = parse_line(&write_line(&page.files[0], &p, Some("t"), "s"), None)
            .unwrap()
            .unwrap()
            .file;
        assert_eq!(
            (back.id.as_str(), &back.principal, back.file_size),
            ("eclf_2", &p, Some(7))
        );
        assert_eq!(
            (
                back.end_time.as_deref(),
                back.cursor.as_deref(),
                back.listed_after.as_deref()
            ),
            (Some("t"), Some("t"), Some("s"))
        );
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
                let parsed = crate::model::page::parse(&body).unwrap();
                prop_assert_eq!(parsed.files.len(), items.len());
                prop_assert_eq!(parsed.has_more, has_more);
                for (file, original) in parsed.files.iter().zip(&data) {
                    let line = write_line(file, &ws(), Some("c"), "a");
                    prop_assert!(!line.contains('\n'));
                    // The API's own text, compacted, then the added fields.
                    let mut want = original.as_object().unwrap().clone();
                    want.remove(PRINCIPAL);
                    want.remove(CURSOR);
                    want.remove(LISTED_AFTER);
                    let mut want = Value::Object(want).to_string();
                    want.pop();
                    want.push(',');
                    want.push_str("\"principal\":\"ws-1\",\"cursor\":\"c\",\"listed_after\":\"a\"}");
                    prop_assert_eq!(line, want);
                }
            }
        }
    }
}
