//! The listing endpoint: files of one event type in `end_time` order, a page at a time.

use crate::dataset::{FileMeta, Scope};
use crate::faults::{Fault, Roll};
use crate::query::Query;
use crate::routes::{API_PREFIX, State};
use crate::wire::Reply;
use hyper::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};

/// The page size range the real API enforces, and its default.
const MIN_LIMIT: i64 = 1;
const MAX_LIMIT: i64 = 100;
const DEFAULT_LIMIT: usize = 100;

/// One page of `principal`'s files of the asked `event_type` released after `after`.
pub(crate) fn list(
    state: &State,
    scope: Scope,
    principal: &str,
    query: &str,
    roll: &Roll<'_>,
) -> Reply {
    let query = Query::parse(query);
    let Some(event_type) = query.get("event_type") else {
        return Reply::missing("event_type");
    };
    let Some(after) = query.get("after") else {
        return Reply::missing("after");
    };
    let after_text = after.to_owned();
    let Ok(after) = after.parse::<Timestamp>() else {
        return invalid_time("after", after);
    };
    let before = match query.get("before") {
        None => None,
        Some(text) => match text.parse::<Timestamp>() {
            Ok(ts) => Some(ts),
            Err(_) => return invalid_time("before", text),
        },
    };
    let limit = match parse_limit(query.get("limit")) {
        Ok(limit) => limit,
        Err(refusal) => return refusal,
    };
    if let Some(refusal) = refuse_event_type(state, scope, event_type) {
        return refusal;
    }
    let now = Timestamp::now();
    let config = state.faults.config();
    let mut matching = state
        .dataset
        .files(principal, event_type)
        .iter()
        .filter(|f| f.end_time > after || (config.inclusive_after && f.end_time == after))
        .filter(|f| f.end_time <= now)
        .filter(|f| before.is_none_or(|b| f.end_time < b));
    let page: Vec<&FileMeta> = matching.by_ref().take(limit).collect();
    let has_more = matching.next().is_some();
    let data: Vec<Value> = page
        .iter()
        .map(|f| {
            let (size, sha) = state.dataset.digest(f);
            json!({
                "id": f.id,
                "event_type": f.event_type,
                "end_time": f.end_time_text,
                "file_name": f.file_name,
                "file_size": size,
                "file_sha256": sha,
            })
        })
        .collect();
    let mut last_end_time = page.last().map(|f| f.end_time_text.clone());
    if roll.hits(Fault::Malformed, config.malformed) {
        return Reply::new(
            StatusCode::OK,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>",
        );
    }
    if has_more && config.stuck_cursor {
        roll.inject(Fault::StuckCursor);
        last_end_time = Some(after_text);
    }
    Reply::json(
        StatusCode::OK,
        json!({"data": data, "has_more": has_more, "last_end_time": last_end_time}),
    )
}

/// The 400 for an event type `scope` does not serve, worded as the real API words it for a
/// type of the other scope, or the 403 for one the key may not read; `None` when it may be
/// listed.
pub(crate) fn refuse_event_type(state: &State, scope: Scope, event_type: &str) -> Option<Reply> {
    if scope.event_types().contains(&event_type) {
        if state
            .faults
            .config()
            .ungranted
            .iter()
            .any(|t| t == event_type)
        {
            return Some(Reply::error(
                StatusCode::FORBIDDEN,
                &format!("This API key lacks read permission for {event_type}."),
                "permission_error",
            ));
        }
        return None;
    }
    let other = scope.other();
    let message = if other.event_types().contains(&event_type) {
        let (id, noun) = match other {
            Scope::Workspaces => ("workspace_id", "a workspace"),
            Scope::Organizations => ("org_id", "an organization"),
        };
        format!(
            "{event_type} is {noun}-scoped event type. Use {API_PREFIX}/{}/{{{id}}}/logs instead.",
            other.segment()
        )
    } else {
        format!("unknown event_type {event_type}")
    };
    Some(Reply::error(
        StatusCode::BAD_REQUEST,
        &message,
        "invalid_request_error",
    ))
}

fn invalid_time(param: &str, text: &str) -> Reply {
    Reply::invalid(
        param,
        "datetime_parsing",
        "Input should be a valid datetime",
        Some(text),
        None,
    )
}

/// `limit`, or the 422 FastAPI gives for it: not an integer, or outside 1–100.
fn parse_limit(text: Option<&str>) -> Result<usize, Reply> {
    use std::num::IntErrorKind;
    let Some(text) = text else {
        return Ok(DEFAULT_LIMIT);
    };
    let n = match text.trim().parse::<i64>() {
        Ok(n) => n,
        // Pydantic reads any integer, however long: too long is only out of range.
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => i64::MAX,
        Err(e) if *e.kind() == IntErrorKind::NegOverflow => i64::MIN,
        Err(_) => {
            return Err(Reply::invalid(
                "limit",
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
                Some(text),
                None,
            ));
        }
    };
    let (kind, relation, bound, ctx) = if n < MIN_LIMIT {
        let ctx = json!({"ge": MIN_LIMIT});
        (
            "greater_than_equal",
            "greater than or equal to",
            MIN_LIMIT,
            ctx,
        )
    } else if n > MAX_LIMIT {
        let ctx = json!({"le": MAX_LIMIT});
        ("less_than_equal", "less than or equal to", MAX_LIMIT, ctx)
    } else {
        return Ok(n as usize);
    };
    Err(Reply::invalid(
        "limit",
        kind,
        &format!("Input should be {relation} {bound}"),
        Some(text),
        Some(ctx),
    ))
}

#[cfg(test)]
mod tests {
    use crate::testing::{BEFORE_ALL, api, sim};

    fn page(sim: &crate::RunningSim, query: &str) -> serde_json::Value {
        let ws = sim.workspace().to_owned();
        let answer = api(
            sim,
            &format!("workspaces/{ws}/logs?event_type=AUTH_LOG&{query}"),
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()
    }

    fn refusal(query: &str) -> serde_json::Value {
        let sim = sim(|_| {});
        let ws = sim.workspace().to_owned();
        let answer = api(&sim, &format!("workspaces/{ws}/logs?{query}"));
        assert_eq!(answer.status, 422, "{answer:?}");
        answer.json()
    }

    #[test]
    fn limit_outside_1_to_100_is_refused_as_fastapi_does() {
        let q = format!("event_type=AUTH_LOG&after={BEFORE_ALL}&limit=");
        assert_eq!(
            refusal(&format!("{q}1000")).to_string(),
            r#"{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 100","input":"1000","ctx":{"le":100}}]}"#
        );
        assert_eq!(
            refusal(&format!("{q}0")).to_string(),
            r#"{"detail":[{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}"#
        );
        assert_eq!(
            refusal(&format!("{q}ten")).to_string(),
            r#"{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"ten"}]}"#
        );
        let huge = refusal(&format!("{q}99999999999999999999"));
        assert_eq!(huge["detail"][0]["type"], "less_than_equal");
        let sim = sim(|c| c.dataset.files_per_type = 120);
        let all = page(&sim, &format!("after={BEFORE_ALL}&limit=100"));
        assert_eq!(all["data"].as_array().unwrap().len(), 100);
        assert_eq!(
            page(&sim, &format!("after={BEFORE_ALL}"))["data"],
            all["data"]
        );
    }

    #[test]
    fn a_missing_parameter_is_refused_as_fastapi_does() {
        assert_eq!(
            refusal("event_type=AUTH_LOG").to_string(),
            r#"{"detail":[{"type":"missing","loc":["query","after"],"msg":"Field required","input":null}]}"#
        );
        let bad = refusal("event_type=AUTH_LOG&after=yesterday");
        assert_eq!(bad["detail"][0]["loc"][1], "after");
        assert_eq!(bad["detail"][0]["input"], "yesterday");
    }

    #[test]
    fn a_type_of_the_other_scope_is_refused_in_the_observed_wording() {
        let sim = sim(|_| {});
        let ask = |scope: &str, principal: &str, event_type: &str| {
            let path =
                format!("{scope}/{principal}/logs?event_type={event_type}&after={BEFORE_ALL}");
            let answer = api(&sim, &path);
            (answer.status, String::from_utf8(answer.body).unwrap())
        };
        assert_eq!(
            ask("organizations", sim.org(), "CONVERSATION_MESSAGE"),
            (
                400,
                r#"{"error":{"message":"CONVERSATION_MESSAGE is a workspace-scoped event type. Use /v1/compliance/workspaces/{workspace_id}/logs instead.","type":"invalid_request_error"}}"#
                    .to_owned()
            )
        );
        assert_eq!(
            ask("workspaces", sim.workspace(), "COSTS"),
            (
                400,
                r#"{"error":{"message":"COSTS is an organization-scoped event type. Use /v1/compliance/organizations/{org_id}/logs instead.","type":"invalid_request_error"}}"#
                    .to_owned()
            )
        );
        let (status, body) = ask("workspaces", sim.workspace(), "NO_SUCH_LOG");
        assert_eq!(status, 400);
        assert!(
            body.contains("\"unknown event_type NO_SUCH_LOG\""),
            "{body}"
        );
    }

    fn ids(sim: &crate::RunningSim) -> Vec<String> {
        let files = sim.files(sim.workspace(), "AUTH_LOG");
        files.into_iter().map(|f| f.id).collect()
    }

    /// The ids of the page asked from the `last_end_time` of a first page of 3, the last.
    fn second_page(sim: &crate::RunningSim) -> Vec<String> {
        let files = sim.files(sim.workspace(), "AUTH_LOG");
        let first = page(sim, &format!("after={BEFORE_ALL}&limit=3"));
        assert_eq!(first["has_more"], true);
        assert_eq!(first["last_end_time"], files[2].end_time.as_str());
        assert_eq!(first["data"][0]["file_sha256"], files[0].sha256.as_str());
        let cursor = files[2].end_time.replace('+', "%2B");
        let second = page(sim, &format!("after={cursor}&limit=3"));
        assert_eq!(second["has_more"], false);
        let data = second["data"].as_array().unwrap();
        data.iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn pages_follow_last_end_time_and_after_is_exclusive() {
        let sim = sim(|_| {});
        assert_eq!(second_page(&sim), &ids(&sim)[3..]);
    }

    #[test]
    fn with_inclusive_after_the_boundary_file_comes_again() {
        let sim = sim(|c| c.faults.inclusive_after = true);
        assert_eq!(second_page(&sim), &ids(&sim)[2..]);
    }
}
