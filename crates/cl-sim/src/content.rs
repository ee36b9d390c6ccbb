//! The bytes of a log file: events shaped like the real ones, as JSON Lines or, as one
//! integration reports, JSON values one after another.

use crate::rng::Rng;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// Message texts: non-ASCII, escaped quotes and backslashes, as real conversations hold.
const TEXTS: &[&str] = &[
    "Summarise the Q3 incident report for the board",
    "Grüße aus Köln: bitte übersetze „Datenschutz“ ins Englische",
    "日本語で会議の議事録を要約してください",
    "He said \"ship it\" — is that approval?",
    "Path is C:\\Users\\amélie\\report.docx, can you read it?",
    "Écris un haïku sur la conformité 🚀",
    "Что такое SIEM и зачем он нужен?",
    "Review this SQL: SELECT * FROM t WHERE name = 'O''Brien'",
    "مرحبا، أحتاج إلى مساعدة في كتابة بريد إلكتروني",
    "tab\tseparated and a literal \\n in text",
];
const NAMES: &[&str] = &[
    "amelie.durand",
    "bjorn.oskarsson",
    "chen.wei",
    "dana.okafor",
    "eitan.levi",
    "fatima.zahra",
    "gustavo.pereira",
    "hana.kim",
];
const ACTIONS: &[&str] = &["create", "update", "delete", "read", "share", "export"];

/// How a file's events are laid out.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// JSON Lines: one event a line, as documented.
    #[default]
    Jsonl,
    /// JSON values with nothing between them: `{…}{…}`.
    Concatenated,
    /// JSON values with a run of whitespace between them, none at the end.
    Spaced,
}

/// What [`Framing::Spaced`] puts between events, a few at a time.
const WHITESPACE: &[&str] = &[" ", "\t", "\r\n", "\n"];

/// Lays out the events of `jsonl` (as [`generate`] makes it) as `framing` says; `rng` picks
/// the whitespace, so the events themselves stay those of the JSON Lines file.
pub fn frame(jsonl: Vec<u8>, framing: Framing, rng: &mut Rng) -> Vec<u8> {
    if framing == Framing::Jsonl {
        return jsonl;
    }
    let mut out = Vec::with_capacity(jsonl.len() + jsonl.len() / 32);
    // Serialized JSON escapes its newlines: every newline of `jsonl` ends an event.
    let events = jsonl.split(|&b| b == b'\n').filter(|e| !e.is_empty());
    for (i, event) in events.enumerate() {
        if i > 0 && framing == Framing::Spaced {
            for _ in 0..=rng.below(3) {
                out.extend_from_slice(rng.pick(WHITESPACE).as_bytes());
            }
        }
        out.extend_from_slice(event);
    }
    out
}

/// Who a file belongs to, as events name it.
pub struct Owner<'a> {
    /// The principal id.
    pub id: &'a str,
    /// `workspace` or `organization`.
    pub kind: &'a str,
}

/// Generates the events of one file: chronological timestamps in `(end - span, end]`,
/// until the file holds at least `target` bytes.
pub fn generate(
    rng: &mut Rng,
    owner: &Owner<'_>,
    event_type: &str,
    end: Timestamp,
    span: SignedDuration,
    target: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(target as usize + 1024);
    let start = end - span;
    let span_us = span.as_micros().max(1) as i64;
    let mut offset_us: i64 = 0;
    loop {
        offset_us += 1 + rng.below((span_us as u64 / 64).max(1)) as i64;
        let ts = (start + SignedDuration::from_micros(offset_us.min(span_us))).min(end);
        let event = event(rng, owner, event_type, ts);
        out.extend_from_slice(event.to_string().as_bytes());
        out.push(b'\n');
        if out.len() as u64 >= target {
            return out;
        }
    }
}

fn event(rng: &mut Rng, owner: &Owner<'_>, event_type: &str, ts: Timestamp) -> Value {
    let name = *rng.pick(NAMES);
    let user = format!("user-{}", rng.base32(16));
    let mut event = json!({
        "event_id": rng.uuid(),
        "type": event_type,
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "principal": {"id": owner.id, "type": owner.kind},
        "actor": {"type": "user", "user_id": user, "user_email": format!("{name}@example.com")},
    });
    let extra = match event_type {
        "CONVERSATION_MESSAGE" => json!({
            "conversation_id": rng.uuid(),
            "message": {"id": rng.uuid(), "role": "user", "content": rng.pick(TEXTS)},
        }),
        "AUTH_LOG" | "APP_AUTH_LOG" => json!({
            "action": if rng.below(4) == 0 { "logout" } else { "login" },
            "ip_address": format!("203.0.113.{}", rng.below(254) + 1),
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "success": rng.below(10) != 0,
        }),
        "COSTS" => json!({
            "amount": {"value": rng.below(100_000) as f64 / 10_000.0, "currency": "usd"},
            "line_item": format!("model-{}", rng.below(5)),
            "project_id": format!("proj_{}", rng.base32(12)),
        }),
        "CODEX_LOG" | "CODEX_SECURITY_LOG" => json!({
            "action": *rng.pick(ACTIONS),
            "repository": format!("acme/{}", rng.base32(6)),
            "task_id": rng.uuid(),
            "summary": rng.pick(TEXTS),
        }),
        _ => json!({
            "action": *rng.pick(ACTIONS),
            "resource": {"type": "gpt", "id": format!("g-{}", rng.base32(10)), "name": rng.pick(TEXTS)},
        }),
    };
    if let (Value::Object(event), Value::Object(extra)) = (&mut event, extra) {
        event.extend(extra);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace's file of `event_type` ending 2026-07-16T01:00Z, `target` bytes or more.
    fn file(event_type: &str, target: u64) -> Vec<u8> {
        let owner = Owner {
            id: "ws",
            kind: "workspace",
        };
        let end = "2026-07-16T01:00:00Z".parse().unwrap();
        let span = SignedDuration::from_mins(5);
        generate(
            &mut Rng::new(1, b"f"),
            &owner,
            event_type,
            end,
            span,
            target,
        )
    }

    #[test]
    fn lines_are_json_chronological_and_reach_the_target() {
        let bytes = file("CONVERSATION_MESSAGE", 20_000);
        assert!(bytes.len() >= 20_000 && bytes.ends_with(b"\n"));
        let mut last = String::new();
        for line in std::str::from_utf8(&bytes).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let ts = v["timestamp"].as_str().unwrap().to_owned();
            assert!(
                ts >= last && ts.as_str() <= "2026-07-16T01:00:00.000000Z",
                "{ts}"
            );
            last = ts;
        }
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\\\"ship it\\\"") && text.contains("日本語"));
    }

    #[test]
    fn framings_hold_the_same_values_as_json_lines() {
        let jsonl = file("APP_LOG", 8_000);
        let values = |bytes: &[u8]| -> Vec<Value> {
            serde_json::Deserializer::from_slice(bytes)
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let lines: Vec<Value> = std::str::from_utf8(&jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines.len() > 20);
        let rng = &mut Rng::new(2, b"ws");
        let concatenated = frame(jsonl.clone(), Framing::Concatenated, rng);
        assert!(!concatenated.contains(&b'\n') && concatenated.windows(2).any(|w| w == b"}{"));
        assert_eq!(values(&concatenated), lines);
        let spaced = frame(jsonl.clone(), Framing::Spaced, rng);
        assert_eq!(values(&spaced), lines);
        assert!(spaced.ends_with(b"}") && !spaced.windows(2).any(|w| w == b"}{"));
        for ws in WHITESPACE {
            assert!(
                spaced.windows(ws.len()).any(|w| w == ws.as_bytes()),
                "{ws:?}"
            );
        }
        assert_eq!(frame(jsonl.clone(), Framing::Jsonl, rng), jsonl);
    }
}
