//! What the simulator answers: the API's routes (listing, download, freshness) and the blob
//! host's, each request first meeting whatever faults are due, then a handler that decides
//! the [`Reply`].

use crate::dataset::{Dataset, Scope};
use crate::faults::{Fault, Injector, Roll};
use crate::query::{Query, percent_decode, percent_encode};
use crate::signing::Signer;
use crate::wire::{BodyFault, Payload, Reply};
use crate::{Origin, Recorded};
use crate::{freshness, listing};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use jiff::Timestamp;
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The API's path prefix, as on the real service.
pub(crate) const API_PREFIX: &str = "/v1/compliance";
/// What a key without the compliance read scope is told (a guess at the real wording).
const MISSING_SCOPE: &str = "Missing scopes: api.compliance.read. Ask an admin to grant this key \
                             the Compliance API scope.";

/// Shared state of a running simulator.
pub(crate) struct State {
    pub(crate) dataset: Dataset,
    pub(crate) key: String,
    pub(crate) scopeless_key: Option<String>,
    pub(crate) signer: Signer,
    pub(crate) blob_origin: String,
    pub(crate) url_ttl: Duration,
    pub(crate) log_requests: bool,
    pub(crate) record: bool,
    pub(crate) recorded: Mutex<Vec<Recorded>>,
    pub(crate) faults: Injector,
    /// Set once the key is revoked: it is refused as a wrong one.
    pub(crate) key_revoked: AtomicBool,
    /// The rate limit per key, if one is set.
    pub(crate) limiter: Option<crate::limit::Limiter>,
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
    } else if let Some(wait) = (origin == Origin::Api)
        .then(|| over_the_limit(state, request, &roll))
        .flatten()
    {
        Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit reached for requests with this key; slow down",
            "rate_limit",
        )
        .with_header(hyper::header::RETRY_AFTER, wait.to_string())
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

/// The seconds to wait when the request's key has used up its rate limit, counted as an
/// injected 429.
fn over_the_limit(state: &State, request: &Request<Incoming>, roll: &Roll<'_>) -> Option<u64> {
    let limiter = state.limiter.as_ref()?;
    let key = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map_or(&b""[..], |v| v.as_bytes());
    let wait = limiter.take(key, std::time::Instant::now()).err()?;
    roll.inject(Fault::TooManyRequests);
    Some(wait)
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
    let (scope, principal, endpoint) = match segments.as_slice() {
        [scope, principal, "logs"] => (scope, principal, Endpoint::List),
        [scope, principal, "logs", id] => (scope, principal, Endpoint::Download(id)),
        // A deployment without the route answers as for any unknown path.
        [scope, principal, "max_event_time"] if !state.faults.config().no_max_event_time => {
            (scope, principal, Endpoint::MaxEventTime)
        }
        _ => return not_found(),
    };
    let principal = percent_decode(principal);
    if request.method() != Method::GET {
        return Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": "Method Not Allowed"}),
        );
    }
    let bearer = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let revoked = state.key_revoked.load(std::sync::atomic::Ordering::SeqCst);
    if revoked || bearer != Some(state.key.as_bytes()) {
        let scopeless = state.scopeless_key.as_deref().map(str::as_bytes);
        return if bearer.is_some() && bearer == scopeless {
            Reply::error(StatusCode::FORBIDDEN, MISSING_SCOPE, "permission_error")
        } else {
            Reply::error(
                StatusCode::UNAUTHORIZED,
                "Invalid authorization: missing or incorrect API key",
                "invalid_request_error",
            )
        };
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
    let query = request.uri().query().unwrap_or("");
    match endpoint {
        Endpoint::List => listing::list(state, scope, &principal, query, roll),
        Endpoint::Download(id) => download(state, &principal, &percent_decode(id), roll),
        Endpoint::MaxEventTime => freshness::max_event_time(state, scope, &principal, query),
    }
}

/// The API's endpoints under a principal.
enum Endpoint<'a> {
    /// `…/logs`
    List,
    /// `…/logs/{id}`, the id as it stands in the path.
    Download(&'a str),
    /// `…/max_event_time`
    MaxEventTime,
}

fn download(state: &State, principal: &str, id: &str, roll: &Roll<'_>) -> Reply {
    let config = state.faults.config();
    if let Some(location) = &config.redirect_to {
        return redirect(state, location.clone());
    }
    let Some(file) = state.dataset.file(principal, id) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            &format!("log file {id} not found"),
            "not_found",
        );
    };
    let mut expires = Timestamp::now().as_second() + state.url_ttl.as_secs() as i64;
    if roll.hits(Fault::Expired, config.expired) {
        expires = Timestamp::now().as_second() - 1;
    }
    let signature = state.signer.sign(&file.id, expires);
    let location = format!(
        "{}/blobs/{}?expires={expires}&signature={signature}",
        state.blob_origin,
        percent_encode(&file.id)
    );
    redirect(state, location)
}

fn redirect(state: &State, location: String) -> Reply {
    let status = StatusCode::from_u16(state.faults.config().redirect_status.code())
        .unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    Reply::new(status, "text/plain", "").with_header(hyper::header::LOCATION, location)
}

fn blob(state: &State, request: &Request<Incoming>, roll: &Roll<'_>) -> Reply {
    let Some(id) = request.uri().path().strip_prefix("/blobs/") else {
        return Reply::storage_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let id = &percent_decode(id);
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
        let (status, xml) = state.faults.config().expired_as.answer();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        return Reply::new(status, "application/xml", xml);
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

#[cfg(test)]
mod tests {
    use crate::faults::RedirectStatus;
    use crate::testing::{api, get, sim};

    #[test]
    fn a_download_redirects_to_a_signed_url_serving_the_file() {
        let sim = sim(|_| {});
        let ws = sim.workspace().to_owned();
        let file = &sim.files(&ws, "APP_LOG")[1];
        let answer = api(&sim, &format!("workspaces/{ws}/logs/{}", file.id));
        assert_eq!(answer.status, 307);
        let location = answer.header("location").unwrap();
        assert!(location.starts_with(sim.blob_origin()), "{location}");
        let blob = get(location, None);
        assert_eq!(blob.status, 200);
        assert_eq!(Some(blob.body), sim.content(&file.id));
    }

    #[test]
    fn redirect_status_302_applies_to_signed_urls_and_to_redirect_to() {
        let sim = sim(|c| c.faults.redirect_status = RedirectStatus::Found);
        let ws = sim.workspace().to_owned();
        let file = &sim.files(&ws, "AUTH_LOG")[0];
        let answer = api(&sim, &format!("workspaces/{ws}/logs/{}", file.id));
        assert_eq!(answer.status, 302);
        let blob = get(answer.header("location").unwrap(), None);
        assert_eq!(Some(blob.body), sim.content(&file.id));
        let sim = crate::testing::sim(|c| {
            c.faults.redirect_status = RedirectStatus::Found;
            c.faults.redirect_to = Some("http://127.0.0.9:1/elsewhere".into());
        });
        let answer = api(&sim, &format!("workspaces/{}/logs/eclf_x", sim.workspace()));
        assert_eq!(answer.status, 302);
        assert_eq!(
            answer.header("location"),
            Some("http://127.0.0.9:1/elsewhere")
        );
    }

    #[test]
    fn other_framings_serve_the_same_events_with_the_listed_size_and_digest() {
        use crate::content::Framing;
        use sha2::{Digest, Sha256};
        let events = |framing: Framing| {
            let sim = sim(|c| {
                c.dataset.framing = framing;
                c.dataset.file_size = 3000;
            });
            let ws = sim.workspace().to_owned();
            let file = sim.files(&ws, "CONVERSATION_MESSAGE").remove(3);
            let answer = api(&sim, &format!("workspaces/{ws}/logs/{}", file.id));
            let body = get(answer.header("location").unwrap(), None).body;
            let sha: String = Sha256::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!((file.size, file.sha256), (body.len() as u64, sha));
            assert_eq!(sim.content(&file.id).as_ref(), Some(&body));
            let values = serde_json::Deserializer::from_slice(&body).into_iter();
            (
                body.clone(),
                values
                    .collect::<Result<Vec<serde_json::Value>, _>>()
                    .unwrap(),
            )
        };
        let (jsonl, lines) = events(Framing::Jsonl);
        assert!(jsonl.ends_with(b"}\n") && lines.len() > 1);
        let (concatenated, values) = events(Framing::Concatenated);
        assert!(concatenated.windows(2).any(|w| w == b"}{"));
        assert_eq!(values, lines);
        let (spaced, values) = events(Framing::Spaced);
        assert!(spaced.ends_with(b"}") && spaced.len() > concatenated.len());
        assert_eq!(values, lines);
    }

    #[test]
    fn a_key_without_the_scope_is_refused_403_everywhere_a_wrong_key_401() {
        let sim = sim(|c| c.scopeless_key = Some("no-scope".into()));
        let ws = sim.workspace().to_owned();
        let file = &sim.files(&ws, "AUTH_LOG")[0];
        let forbidden = r#"{"error":{"message":"Missing scopes: api.compliance.read. Ask an admin to grant this key the Compliance API scope.","type":"permission_error"}}"#;
        for (path, with_scope) in [
            (
                format!("workspaces/{ws}/logs?event_type=AUTH_LOG&after=2026-07-01T00:00:00Z"),
                200,
            ),
            (format!("workspaces/{ws}/logs/{}", file.id), 307),
        ] {
            let url = format!("{}/{path}", sim.base_url());
            let answer = get(&url, Some("no-scope"));
            assert_eq!(answer.status, 403, "{path}");
            assert_eq!(String::from_utf8(answer.body).unwrap(), forbidden);
            for key in [Some("wrong"), None] {
                let answer = get(&url, key);
                assert_eq!(answer.status, 401, "{path} {key:?}");
                assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
            }
            assert_eq!(api(&sim, &path).status, with_scope, "{path}");
        }
    }
}
