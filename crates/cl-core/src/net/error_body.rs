//! What a server said in an error body, whatever its shape, as one line for a message.

use serde_json::Value;

/// Finds the human message in an error body, whatever its shape: `{"error":{"message"}}`,
/// `{"detail": "…" | [{"msg"}]}`, `{"message"}`, an S3-style XML `<Message>`, or plain text.
pub fn server_message(body: &[u8]) -> Option<String> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let found = json_message(&value).unwrap_or_else(|| value.to_string());
        return Some(one_line(&found));
    }
    let text = String::from_utf8_lossy(body);
    if let Some(message) = xml_element(&text, "Message") {
        return Some(one_line(&match xml_element(&text, "Code") {
            Some(code) => format!("{code}: {message}"),
            None => message.to_owned(),
        }));
    }
    let text = one_line(&text);
    (!text.is_empty()).then_some(text)
}

fn json_message(value: &Value) -> Option<String> {
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    if let Some(error) = value.get("error") {
        return error
            .get("message")
            .and_then(as_text)
            .or_else(|| as_text(error))
            .or_else(|| Some(error.to_string()));
    }
    if let Some(detail) = value.get("detail") {
        if let Value::Array(items) = detail {
            let msgs: Vec<String> = items
                .iter()
                .map(|item| {
                    let msg = item
                        .get("msg")
                        .and_then(as_text)
                        .unwrap_or_else(|| item.to_string());
                    match item.get("loc").and_then(Value::as_array) {
                        Some(loc) => {
                            let loc: Vec<String> = loc
                                .iter()
                                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                                .collect();
                            format!("{}: {msg}", loc.join("."))
                        }
                        None => msg,
                    }
                })
                .collect();
            return Some(msgs.join("; "));
        }
        return as_text(detail).or_else(|| Some(detail.to_string()));
    }
    value.get("message").and_then(as_text)
}

fn xml_element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + text[start..].find(&format!("</{name}>"))?;
    Some(&text[start..end])
}

/// Collapses whitespace runs so a message fits one stderr line, and caps its length.
fn one_line(text: &str) -> String {
    const MAX: usize = 500;
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > MAX {
        format!("{}…", joined.chars().take(MAX).collect::<String>())
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_message_whatever_the_shape() {
        let cases: [(&[u8], &str); 8] = [
            (br#"{"error":{"message":"bad key","type":"x"}}"#, "bad key"),
            (br#"{"error":"nope"}"#, "nope"),
            (br#"{"detail":"Not authorized"}"#, "Not authorized"),
            (
                br#"{"detail":[{"loc":["query","after"],"msg":"field required"}]}"#,
                "query.after: field required",
            ),
            (br#"{"message":"m"}"#, "m"),
            (br#"{"other":1}"#, r#"{"other":1}"#),
            (
                b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                "AccessDenied: Request has expired",
            ),
            (b"  upstream\n  timeout \n", "upstream timeout"),
        ];
        for (body, want) in cases {
            assert_eq!(server_message(body).as_deref(), Some(want));
        }
        assert_eq!(server_message(b"  "), None);
    }
}
