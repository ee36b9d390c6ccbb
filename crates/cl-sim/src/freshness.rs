//! The freshness endpoint: how recent each event type's data is (`max_event_time`).

use crate::dataset::Scope;
use crate::listing::refuse_event_type;
use crate::query::Query;
use crate::routes::State;
use crate::wire::Reply;
use hyper::StatusCode;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// `{"max_event_time": {TYPE: end_time | null, …}}` for every `event_type` asked, in order:
/// the newest `end_time` among the files released so far.
pub(crate) fn max_event_time(state: &State, scope: Scope, principal: &str, query: &str) -> Reply {
    let query = Query::parse(query);
    let mut asked = query.all("event_type").peekable();
    if asked.peek().is_none() {
        return Reply::missing("event_type");
    }
    let now = Timestamp::now();
    let mut times = Map::new();
    for event_type in asked {
        if let Some(refusal) = refuse_event_type(state, scope, event_type) {
            return refusal;
        }
        let files = state.dataset.files(principal, event_type);
        let released = &files[..files.partition_point(|f| f.end_time <= now)];
        let newest = released.last().map(|f| f.end_time_text.clone());
        times.insert(event_type.to_owned(), json!(newest));
    }
    Reply::json(
        StatusCode::OK,
        json!({"max_event_time": Value::Object(times)}),
    )
}

#[cfg(test)]
mod tests {
    use crate::testing::{api, get, sim};
    use crate::{Origin, RunningSim};
    use jiff::{SignedDuration, Timestamp};

    /// Files an hour apart from 150 minutes ago: 3 of 5 released.
    fn half_released() -> RunningSim {
        sim(|c| {
            c.dataset.start = Timestamp::now() - SignedDuration::from_mins(150);
            c.dataset.interval = SignedDuration::from_hours(1);
            c.scopeless_key = Some("no-scope".into());
        })
    }

    fn ask(sim: &RunningSim, scope: &str, principal: &str, query: &str) -> (u16, String) {
        let answer = api(sim, &format!("{scope}/{principal}/max_event_time?{query}"));
        (answer.status, String::from_utf8(answer.body).unwrap())
    }

    #[test]
    fn each_type_asked_gets_its_newest_released_end_time_in_the_order_asked() {
        let sim = half_released();
        let ws = sim.workspace().to_owned();
        let newest = |principal: &str, t: &str| sim.files(principal, t)[2].end_time.clone();
        let (app, auth) = (newest(&ws, "APP_LOG"), newest(&ws, "AUTH_LOG"));
        assert_eq!(
            ask(
                &sim,
                "workspaces",
                &ws,
                "event_type=APP_LOG&event_type=AUTH_LOG"
            ),
            (
                200,
                format!(r#"{{"max_event_time":{{"APP_LOG":"{app}","AUTH_LOG":"{auth}"}}}}"#)
            )
        );
        assert!(app.ends_with("+00:00") && app.len() == "2026-07-16T00:00:00.000000+00:00".len());
        let org = sim.org().to_owned();
        let (status, body) = ask(&sim, "organizations", &org, "event_type=COSTS");
        assert_eq!(status, 200);
        assert!(body.contains(&newest(&org, "COSTS")), "{body}");
        let recorded = sim.requests();
        let last = recorded.last().unwrap();
        assert_eq!((last.origin, last.status), (Origin::Api, 200));
        assert!(last.path.ends_with("/max_event_time"), "{}", last.path);
        assert_eq!(last.query.as_deref(), Some("event_type=COSTS"));
    }

    #[test]
    fn a_type_with_nothing_released_yet_is_null() {
        let sim = sim(|c| c.dataset.start = Timestamp::now() + SignedDuration::from_hours(24));
        let ws = sim.workspace().to_owned();
        assert_eq!(
            ask(&sim, "workspaces", &ws, "event_type=AUDIT_LOG"),
            (200, r#"{"max_event_time":{"AUDIT_LOG":null}}"#.to_owned())
        );
    }

    #[test]
    fn refusals_are_those_of_the_listing() {
        let sim = half_released();
        let (ws, org) = (sim.workspace().to_owned(), sim.org().to_owned());
        let listing = |scope: &str, principal: &str, t: &str| {
            let path =
                format!("{scope}/{principal}/logs?event_type={t}&after=2026-07-01T00:00:00Z");
            let answer = api(&sim, &path);
            (answer.status, String::from_utf8(answer.body).unwrap())
        };
        for (scope, principal, t) in [
            ("organizations", &org, "CONVERSATION_MESSAGE"),
            ("workspaces", &ws, "COSTS"),
            ("workspaces", &ws, "NO_SUCH_LOG"),
        ] {
            let query = format!("event_type=AUTH_LOG&event_type={t}");
            let refused = ask(&sim, scope, principal, &query);
            assert_eq!(refused.0, 400);
            assert_eq!(refused, listing(scope, principal, t));
        }
        assert_eq!(
            ask(&sim, "workspaces", &ws, ""),
            (
                422,
                r#"{"detail":[{"type":"missing","loc":["query","event_type"],"msg":"Field required","input":null}]}"#
                    .to_owned()
            )
        );
        let url = format!(
            "{}/workspaces/{ws}/max_event_time?event_type=AUTH_LOG",
            sim.base_url()
        );
        assert_eq!(get(&url, None).status, 401);
        assert_eq!(
            get(&url, Some("wrong")).json()["error"]["type"],
            "invalid_request_error"
        );
        let forbidden = get(&url, Some("no-scope"));
        assert_eq!(forbidden.status, 403);
        assert_eq!(forbidden.json()["error"]["type"], "permission_error");
    }

    #[test]
    fn without_the_endpoint_it_is_not_found() {
        let sim = sim(|c| c.faults.no_max_event_time = true);
        let ws = sim.workspace().to_owned();
        assert_eq!(
            ask(&sim, "workspaces", &ws, "event_type=AUTH_LOG"),
            (404, r#"{"detail":"Not Found"}"#.to_owned())
        );
        assert_eq!(sim.requests().last().unwrap().status, 404);
    }
}
