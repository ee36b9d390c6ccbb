//! The listing endpoint: files of one event type in `end_time` order, a page at a time.

use crate::dataset::{FileMeta, Scope};
use crate::faults::{Fault, Roll};
use crate::query::Query;
use crate::routes::State;
use crate::wire::Reply;
use hyper::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};

const MAX_LIMIT: u64 = 1000;
const DEFAULT_LIMIT: u64 = 100;

pub(crate) fn list(
    state: &State,
    scope: Scope,
    principal: &str,
    query: &str,
    roll: &Roll<'_>,
) -> Reply {
    let query = Query::parse(query);
    let Some(event_type) = query.get("event_type") else {
        return Reply::invalid("event_type", "field required");
    };
    let Some(after) = query.get("after") else {
        return Reply::invalid("after", "field required");
    };
    let after_text = after.to_owned();
    let Ok(after) = after.parse::<Timestamp>() else {
        return Reply::invalid("after", "invalid datetime format");
    };
    let before = match query.get("before").map(str::parse::<Timestamp>) {
        None => None,
        Some(Ok(ts)) => Some(ts),
        Some(Err(_)) => return Reply::invalid("before", "invalid datetime format"),
    };
    let limit = match query.get("limit").map(str::parse::<u64>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Reply::invalid(
                "limit",
                &format!("limit must be an integer from 1 to {MAX_LIMIT}"),
            );
        }
    };
    if !scope.event_types().contains(&event_type) {
        let other = match scope {
            Scope::Workspaces => Scope::Organizations,
            Scope::Organizations => Scope::Workspaces,
        };
        let message = if other.event_types().contains(&event_type) {
            format!(
                "event_type {event_type} is not available for {}s; it is logged per {}",
                scope.noun(),
                other.noun()
            )
        } else {
            format!("unknown event_type {event_type}")
        };
        return Reply::error(StatusCode::BAD_REQUEST, &message, "invalid_request_error");
    }
    let now = Timestamp::now();
    let mut matching = state
        .dataset
        .files(principal, event_type)
        .iter()
        .filter(|f| f.end_time > after && f.end_time <= now)
        .filter(|f| before.is_none_or(|b| f.end_time < b));
    let page: Vec<&FileMeta> = matching.by_ref().take(limit as usize).collect();
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
    let config = state.faults.config();
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

    #[test]
    fn pages_follow_last_end_time_and_after_is_exclusive() {
        let sim = sim(|_| {});
        let files = sim.files(sim.workspace(), "AUTH_LOG");
        let first = page(&sim, &format!("after={BEFORE_ALL}&limit=3"));
        assert_eq!(first["has_more"], true);
        assert_eq!(first["last_end_time"], files[2].end_time.as_str());
        assert_eq!(first["data"][0]["file_sha256"], files[0].sha256.as_str());
        let cursor = files[2].end_time.replace('+', "%2B");
        let second = page(&sim, &format!("after={cursor}&limit=3"));
        let ids: Vec<_> = second["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["id"])
            .collect();
        assert_eq!(ids, [files[3].id.as_str(), files[4].id.as_str()]);
        assert_eq!(second["has_more"], false);
    }
}
