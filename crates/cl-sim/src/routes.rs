//! What the simulator answers: the API's routes (listing, download) and the blob host's, each
//! request first meeting whatever faults are due, then a handler that decides the [`Reply`].

use crate::dataset::{Dataset, FileMeta, Scope};
use crate::faults::{Fault, Injector, Roll};
use crate::signing::Signer;
use crate::wire::{BodyFault, Payload, Reply};
use crate::{Origin, Recorded};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The API's path prefix, as on the real service.
pub(crate) const API_PREFIX: &str = "/v1/compliance";
const MAX_LIMIT: u64 = 1000;
const DEFAULT_LIMIT: u64 = 100;

/// Shared state of a running simulator.
pub(crate) struct State {
    pub(crate) dataset: Dataset,
    pub(crate) key: String,
    pub(crate) signer: Signer,
    pub(crate) blob_origin: String,
    pub(crate) url_ttl: Duration,
    pub(crate) log_requests: bool,
    pub(crate) record: bool,
    pub(crate) recorded: Mutex<Vec<Recorded>>,
    pub(crate) faults: Injector,
    /// Connections accepted by the API and the blob host.
    pub(crate) connections: [AtomicU64; 2],
}

/// What to do with a request.
enum Action {
    /// Answer it.
    Reply(Reply),
    /// Never answer it (the connection stays open until the client gives up).
    Hang,
}

/// Answers one request on `origin`; `reset` is its connection's flag, set when the body
/// should end in a reset.
pub(crate) async fn respond(
    state: Arc<State>,
    origin: Origin,
    request: Request<Incoming>,
    reset: Arc<AtomicBool>,
) -> Result<Response<Payload>, Infallible> {
    // Decided (and recorded) on arrival; the latency delays only the answer.
    let action = handle(&state, origin, &request);
    let latency = state.faults.config().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let reply = match action {
        Action::Reply(reply) => reply,
        Action::Hang => {
            // Until the client gives up and the simulator stops.
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
    };
    Ok(reply.into_response(reset))
}

/// Decides, logs and records the answer to one request on `origin`, with whatever faults
/// are due.
fn handle(state: &State, origin: Origin, request: &Request<Incoming>) -> Action {
    let uri = request.uri();
    // Signed URLs change on every redirect: count tries of a blob by its path alone.
    let key = match (origin, uri.query()) {
        (Origin::Api, Some(query)) => format!("{}?{query}", uri.path()),
        _ => uri.path().to_owned(),
    };
    let roll = state.faults.request(key);
    let config = state.faults.config();
    if roll.hits(Fault::Hang, config.hang) {
        log(state, origin, request, None);
        return Action::Hang;
    }
    let reply = if roll.attempt() <= u64::from(config.fail_first) {
        roll.inject(Fault::FailFirst);
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected: the first requests of each URL fail",
            "server_error",
        )
    } else if origin == Origin::Api && roll.hits(Fault::TooManyRequests, config.rate_429) {
        Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit reached; slow down",
            "rate_limit",
        )
        .with_header(hyper::header::RETRY_AFTER, config.retry_after.to_string())
    } else if roll.hits(Fault::ServerError, config.rate_5xx) {
        let statuses = [500, 502, 503, 504];
        let pick = (roll.number(Fault::ServerError) * 1e6) as usize % statuses.len();
        Reply::error(
            StatusCode::from_u16(statuses[pick]).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "injected: the server failed",
            "server_error",
        )
    } else {
        match origin {
            Origin::Api => api(state, request, &roll),
            Origin::Blob => blob(state, request, &roll),
        }
    };
    log(state, origin, request, Some(reply.status().as_u16()));
    Action::Reply(reply)
}

fn log(state: &State, origin: Origin, request: &Request<Incoming>, status: Option<u16>) {
    if state.log_requests {
        let who = match origin {
            Origin::Api => "api",
            Origin::Blob => "blob",
        };
        let status = status.map_or_else(|| "hang".to_owned(), |s| s.to_string());
        eprintln!(
            "cl-sim: {who} {} {} -> {status}",
            request.method(),
            request.uri().path()
        );
    }
    if state.record {
        let recorded = Recorded {
            origin,
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().map(str::to_owned),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into(),
                    )
                })
                .collect(),
            status: status.unwrap_or(0),
            at: std::time::Instant::now(),
        };
        state
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(recorded);
    }
}

fn api(state: &State, request: &Request<Incoming>, roll: &Roll<'_>) -> Reply {
    let not_found = || Reply::json(StatusCode::NOT_FOUND, json!({"detail": "Not Found"}));
    let Some(rest) = request.uri().path().strip_prefix(API_PREFIX) else {
        return not_found();
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let (scope, principal, id) = match segments.as_slice() {
        [scope, principal, "logs"] => (scope, percent_decode(principal), None),
        [scope, principal, "logs", id] => {
            (scope, percent_decode(principal), Some(percent_decode(id)))
        }
        _ => return not_found(),
    };
    if request.method() != Method::GET {
        return Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": "Method Not Allowed"}),
        );
    }
    let expected = format!("Bearer {}", state.key);
    let authorized = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "Invalid authorization: missing or incorrect API key",
            "invalid_request_error",
        );
    }
    let Some(scope) = Scope::from_segment(scope) else {
        return not_found();
    };
    if state.dataset.scope_of(&principal) != Some(scope) {
        return Reply::error(
            StatusCode::NOT_FOUND,
            &format!("{} {principal} not found", scope.noun()),
            "not_found",
        );
    }
    match id {
        None => list(
            state,
            scope,
            &principal,
            request.uri().query().unwrap_or(""),
            roll,
        ),
        Some(id) => download(state, &principal, &id, roll),
    }
}

fn list(state: &State, scope: Scope, principal: &str, query: &str, roll: &Roll<'_>) -> Reply {
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

fn download(state: &State, principal: &str, id: &str, roll: &Roll<'_>) -> Reply {
    if let Some(location) = &state.faults.config().redirect_to {
        return Reply::new(StatusCode::TEMPORARY_REDIRECT, "text/plain", "")
            .with_header(hyper::header::LOCATION, location.clone());
    }
    let Some(file) = state.dataset.file(principal, id) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            &format!("log file {id} not found"),
            "not_found",
        );
    };
    let mut expires = Timestamp::now().as_second() + state.url_ttl.as_secs() as i64;
    if roll.hits(Fault::Expired, state.faults.config().expired) {
        expires = Timestamp::now().as_second() - 1;
    }
    let signature = state.signer.sign(&file.id, expires);
    let location = format!(
        "{}/blobs/{}?expires={expires}&signature={signature}",
        state.blob_origin, file.id
    );
    Reply::new(StatusCode::TEMPORARY_REDIRECT, "text/plain", "")
        .with_header(hyper::header::LOCATION, location)
}

fn blob(state: &State, request: &Request<Incoming>, roll: &Roll<'_>) -> Reply {
    let Some(id) = request.uri().path().strip_prefix("/blobs/") else {
        return Reply::storage_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    if request.headers().contains_key(hyper::header::AUTHORIZATION) {
        return Reply::storage_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the signature query parameters or the \
             Authorization header should be specified",
        );
    }
    let query = Query::parse(request.uri().query().unwrap_or(""));
    let (Some(expires), Some(signature)) = (query.get("expires"), query.get("signature")) else {
        return Reply::storage_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Query-string authentication requires the signature and expires parameters",
        );
    };
    let expires = expires.parse::<i64>().unwrap_or(i64::MIN);
    if !state.signer.verify(id, expires, signature) {
        return Reply::storage_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if Timestamp::now().as_second() > expires {
        return Reply::storage_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    let dataset = &state.dataset;
    let config = state.faults.config();
    match dataset.file_by_id(id) {
        Some(file) => {
            let mut content = dataset.content(file);
            let mut body_fault = None;
            if roll.hits(Fault::Truncate, config.truncate) {
                body_fault = Some(BodyFault::Truncate);
            } else if roll.hits(Fault::Reset, config.reset) {
                body_fault = Some(BodyFault::Reset);
            } else if !content.is_empty() && roll.hits(Fault::Corrupt, config.corrupt) {
                let mut bytes = content.to_vec();
                let last = bytes.len() - 1;
                let at = (roll.number(Fault::Corrupt) * bytes.len() as f64) as usize;
                bytes[at.min(last)] ^= 0x20;
                content = Bytes::from(bytes);
            }
            let trickles = config.bandwidth > 0 && (!config.slow_first || file.index == 0);
            Reply::new(StatusCode::OK, "application/jsonl", content)
                .with_body_fault(body_fault)
                .with_bandwidth(trickles.then_some(config.bandwidth))
        }
        None => Reply::storage_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        ),
    }
}

/// A query string as decoded pairs, in order.
struct Query(Vec<(String, String)>);

impl Query {
    /// Splits `query` into pairs, reading `+` as a space as form decoding does.
    fn parse(query: &str) -> Self {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    percent_decode(&k.replace('+', " ")),
                    percent_decode(&v.replace('+', " ")),
                )
            })
            .collect();
        Query(pairs)
    }

    /// The first value given for `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_reads_plus_as_space() {
        let q = Query::parse("after=2026-07-16T01%3A00%3A00%2B00%3A00&x=a+b&flag").0;
        assert_eq!(q[0], ("after".into(), "2026-07-16T01:00:00+00:00".into()));
        assert_eq!(q[1], ("x".into(), "a b".into()));
        assert_eq!(q[2], ("flag".into(), "".into()));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
