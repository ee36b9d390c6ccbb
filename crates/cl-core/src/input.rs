//! What cl-fetch reads: bare file ids, or JSON objects with an `"id"` (cl-list lines).

use crate::layout::validate_id;
use crate::principal::Principal;
use crate::sha256::Sha256Digest;
use serde_json::{Map, Value};

/// One file to fetch, with whatever the listing told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    /// The file id, already checked to be safe as a file name.
    pub id: String,
    /// Whose file it is.
    pub principal: Principal,
    /// The event type, when known.
    pub event_type: Option<String>,
    /// The file's `end_time`, when known.
    pub end_time: Option<String>,
    /// The listing cursor of the page the file came on, when known.
    pub cursor: Option<String>,
    /// The size the listing promised.
    pub file_size: Option<u64>,
    /// The digest the listing promised.
    pub file_sha256: Option<Sha256Digest>,
}

/// Parses one input line. `Ok(None)` for a blank line; `Err` says what is wrong with it.
/// `principal` is used for lines that do not carry their own.
pub fn parse_line(text: &str, principal: Option<&Principal>) -> Result<Option<FileRef>, String> {
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
        return Err("expected a file id or a JSON object with an \"id\" field".to_owned());
    }
    validate_id(text)?;
    Ok(Some(FileRef {
        id: text.to_owned(),
        principal: require_principal(principal)?,
        event_type: None,
        end_time: None,
        cursor: None,
        file_size: None,
        file_sha256: None,
    }))
}

fn require_principal(principal: Option<&Principal>) -> Result<Principal, String> {
    principal.cloned().ok_or_else(|| {
        "a bare id needs a principal: give --principal or set COMPLIANCE_PRINCIPAL".to_owned()
    })
}

fn from_json(
    fields: &Map<String, Value>,
    principal: Option<&Principal>,
) -> Result<FileRef, String> {
    let id = match fields.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err("\"id\" is not a string".to_owned()),
        None => return Err("the JSON object has no \"id\" field".to_owned()),
    };
    validate_id(&id)?;
    let principal = match optional_string(fields, "principal")? {
        Some(p) => Principal::parse(&p).map_err(|e| e.to_string())?,
        None => require_principal(principal)?,
    };
    let file_size = match fields.get("file_size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or("\"file_size\" is not a non-negative integer")?,
        ),
    };
    let file_sha256 = match optional_string(fields, "file_sha256")? {
        None => None,
        Some(hex) => {
            Some(Sha256Digest::from_hex(&hex).ok_or("\"file_sha256\" is not 64 hex digits")?)
        }
    };
    Ok(FileRef {
        id,
        principal,
        event_type: optional_string(fields, "event_type")?,
        end_time: optional_string(fields, "end_time")?,
        cursor: optional_string(fields, "cursor")?,
        file_size,
        file_sha256,
    })
}

fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("\"{name}\" is not a string")),
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
        let got = parse_line("  eclf_abc \n", Some(&ws())).unwrap().unwrap();
        assert_eq!(got.id, "eclf_abc");
        assert_eq!(got.principal, ws());
        assert_eq!(parse_line(" \t", None), Ok(None));
        let err = parse_line("eclf_abc", None).unwrap_err();
        assert!(err.contains("--principal"), "{err}");
    }

    #[test]
    fn listing_lines_carry_their_metadata() {
        let sha = "ab".repeat(32);
        let line = format!(
            r#"{{"id":"eclf_1","event_type":"AUTH_LOG","end_time":"t","file_size":12,
               "file_sha256":"{sha}","principal":"org-x","cursor":"c","extra":[1]}}"#
        )
        .replace('\n', "");
        let got = parse_line(&line, Some(&ws())).unwrap().unwrap();
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
            (r#"{"id":"ok","file_size":-1}"#, "file_size"),
            (r#"{"id":"ok","file_sha256":"zz"}"#, "file_sha256"),
            (r#"{"id":"ok","principal":"a/b"}"#, "principal"),
        ];
        for (line, want) in cases {
            let err = parse_line(line, Some(&ws())).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
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
                let bare = parse_line(&id, Some(&ws())).unwrap().unwrap();
                let mut object = serde_json::Map::new();
                for (k, v) in extra {
                    object.insert(k, Value::String(v));
                }
                for known in ["id", "principal", "file_size", "file_sha256", "event_type", "end_time", "cursor"] {
                    object.remove(known);
                }
                object.insert("id".into(), Value::String(id.clone()));
                let json = parse_line(&Value::Object(object).to_string(), Some(&ws())).unwrap().unwrap();
                prop_assert_eq!(&bare.id, &id);
                prop_assert_eq!(json, bare);
            }

            #[test]
            fn every_accepted_id_is_a_safe_file_name(text in "\\PC{0,80}") {
                let line = Value::Object([("id".to_owned(), Value::String(text))].into_iter().collect());
                if let Ok(Some(file)) = parse_line(&line.to_string(), Some(&ws())) {
                    prop_assert!(!file.id.is_empty());
                    prop_assert!(!file.id.contains(['/', '\\']) && !file.id.contains(".."));
                    prop_assert!(!file.id.starts_with('.'));
                    prop_assert!(!file.id.chars().any(|c| c.is_control() || c.is_whitespace()));
                }
            }
        }
    }
}
