//! The API's three requests: one listing page, the newest time of an event type
//! (`max_event_time`), and one download with its redirect followed by hand.

use crate::error::{Error, Result};
use crate::model::page::{self, Page};
use crate::model::principal::Principal;
use crate::net::client::Client;
use crate::net::client::MinSpeed;
use crate::net::failure::{MAX_ERROR_BODY, http_error};
use crate::net::redirect::{self, MAX_REDIRECTS};
use std::io::{self, Read};
use std::time::Instant;
use ureq::http::{Response, header};
use ureq::{Body, BodyReader};
use url::Url;

/// A listing page larger than this is refused rather than held in memory.
const MAX_PAGE_BYTES: u64 = 16 << 20;

/// One listing request.
#[derive(Clone, Debug)]
pub struct ListRequest<'a> {
    /// Whose logs.
    pub principal: &'a Principal,
    /// The event type, passed through as given.
    pub event_type: &'a str,
    /// Exclusive lower bound on `end_time`: a time or the previous page's cursor.
    pub after: String,
    /// Optional exclusive upper bound on `end_time`.
    pub before: Option<&'a str>,
    /// Page size asked of the API.
    pub limit: u32,
}

impl ListRequest<'_> {
    /// What this request does, for messages: `listing AUTH_LOG after …`.
    pub fn context(&self) -> String {
        format!("listing {} after {}", self.event_type, self.after)
    }
}

/// What the API says of an event type's newest data (`max_event_time`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaxEventTime {
    /// The time of the newest data, as the API wrote it.
    Newest(String),
    /// The type has no data yet.
    NoData,
    /// The API has no such endpoint (404): ask the listing instead.
    Unanswered,
}

/// An open download: the file's bytes as they arrive. A read fails once the body trickles
/// below the client's [`MinSpeed`].
pub struct Download {
    reader: BodyReader<'static>,
    pace: Option<Pace>,
    /// The size the server announced, if it did: of the bytes as served.
    pub content_length: Option<u64>,
    /// How the server says it encoded the bytes (`Content-Encoding`), lower-cased; `None` for
    /// none or `identity`.
    pub content_encoding: Option<String>,
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        if let Some(pace) = &mut self.pace {
            pace.check(n)?;
        }
        Ok(n)
    }
}

/// How fast a body has come in the current span of [`MinSpeed::over`].
struct Pace {
    least: MinSpeed,
    since: Instant,
    bytes: u64,
}

impl Pace {
    fn new(least: MinSpeed) -> Self {
        Pace {
            least,
            since: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `n` more bytes; fails when a whole span went by below the least rate.
    fn check(&mut self, n: usize) -> io::Result<()> {
        self.bytes += n as u64;
        let span = self.since.elapsed();
        if n == 0 || span < self.least.over {
            return Ok(());
        }
        let wanted = self.least.bytes_per_second as f64 * span.as_secs_f64();
        if (self.bytes as f64) < wanted {
            return Err(io::Error::other(format!(
                "stalled: {} bytes in {} s, under the {} bytes a second required \
                 (--speed-limit, --speed-time)",
                self.bytes,
                span.as_secs(),
                self.least.bytes_per_second
            )));
        }
        self.since = Instant::now();
        self.bytes = 0;
        Ok(())
    }
}

impl Client {
    /// `{base}/{scope}/{principal}` then `segments`, with the query `pairs`.
    fn principal_url(&self, principal: &Principal, rest: &[&str], pairs: &[(&str, &str)]) -> Url {
        let mut segments = vec![principal.scope().path_segment(), principal.as_str()];
        segments.extend_from_slice(rest);
        self.base.join(&segments, pairs)
    }

    /// The URL of one listing page.
    fn list_url(&self, req: &ListRequest<'_>) -> Url {
        let limit = req.limit.to_string();
        let mut pairs = vec![("event_type", req.event_type), ("after", &req.after)];
        if let Some(before) = req.before {
            pairs.push(("before", before));
        }
        pairs.push(("limit", &limit));
        self.principal_url(req.principal, &["logs"], &pairs)
    }

    /// Asks for one page of a listing.
    pub fn list_page(&self, req: &ListRequest<'_>) -> Result<Page> {
        let context = req.context();
        let mut response = self.api_get(&self.list_url(req), &context)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(http_error(context, &mut response, false));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_PAGE_BYTES)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::Protocol {
                    context: context.clone(),
                    message: format!("the page is larger than {} MiB", MAX_PAGE_BYTES >> 20),
                },
                e => self.transport(&context, e),
            })?;
        page::parse(&body).map_err(|why| Error::MalformedPage {
            context,
            message: format!("{why}; body starts with {}", page::preview(&body)),
        })
    }

    /// Asks how recent an event type's data is (`max_event_time`).
    pub fn max_event_time(&self, principal: &Principal, event_type: &str) -> Result<MaxEventTime> {
        let context = format!("asking the newest time of {event_type}");
        let url = self.principal_url(
            principal,
            &["max_event_time"],
            &[("event_type", event_type)],
        );
        let mut response = self.api_get(&url, &context)?;
        match response.status().as_u16() {
            200 => {}
            404 => {
                drain(&mut response);
                return Ok(MaxEventTime::Unanswered);
            }
            _ => return Err(http_error(context, &mut response, false)),
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BODY)
            .read_to_vec()
            .map_err(|e| self.transport(&context, e))?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::MalformedPage {
                context: context.clone(),
                message: format!("not JSON ({e}); body starts with {}", page::preview(&body)),
            })?;
        match answer.get("max_event_time").and_then(|m| m.get(event_type)) {
            Some(serde_json::Value::String(newest)) => Ok(MaxEventTime::Newest(newest.clone())),
            Some(serde_json::Value::Null) | None => Ok(MaxEventTime::NoData),
            Some(other) => Err(Error::MalformedPage {
                context,
                message: format!("max_event_time.{event_type} is {other}, not a time"),
            }),
        }
    }

    /// Opens the download of one file: asks the API, then follows its redirect to the signed
    /// URL with a clean request that carries no API header.
    pub fn open_download(&self, principal: &Principal, id: &str) -> Result<Download> {
        let context = format!("downloading {id}");
        let mut current = self.principal_url(principal, &["logs", id], &[]);
        let mut response = self.api_get(&current, &context)?;
        for hop in 0..=MAX_REDIRECTS {
            let status = response.status().as_u16();
            if status == 200 {
                let mut download = Download::new(response);
                download.pace = self.min_speed.map(Pace::new);
                return Ok(download);
            }
            if !redirect::is_redirect(status) {
                let context = match hop {
                    0 => context,
                    _ => format!("{context} from {}", current.host_str().unwrap_or("?")),
                };
                return Err(http_error(context, &mut response, hop > 0));
            }
            if hop == MAX_REDIRECTS {
                break;
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok());
            let next = redirect::target(location, &current).map_err(|why| Error::Protocol {
                context: context.clone(),
                message: why,
            })?;
            drain(&mut response);
            response = self.blob_get(&next, &context)?;
            current = next;
        }
        Err(Error::Protocol {
            context,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

impl Download {
    fn new(response: Response<Body>) -> Self {
        let content_length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let content_encoding = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty() && v != "identity");
        Download {
            reader: response.into_body().into_reader(),
            pace: None,
            content_length,
            content_encoding,
        }
    }
}

/// Reads what is left of a small body so the connection can go back to the pool.
fn drain(response: &mut Response<Body>) {
    let _ = io::copy(
        &mut response.body_mut().as_reader().take(MAX_ERROR_BODY),
        &mut io::sink(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_body_below_the_least_rate_for_a_whole_span_fails_and_a_fast_one_never_does() {
        let least = MinSpeed {
            bytes_per_second: 1000,
            over: Duration::from_millis(50),
        };
        let mut fast = Pace::new(least);
        for _ in 0..5 {
            assert!(fast.check(100).is_ok(), "inside a span nothing is judged");
        }
        fast.since -= Duration::from_millis(60);
        assert!(fast.check(100).is_ok(), "600 bytes in 60 ms is 10 kB/s");
        let mut slow = Pace::new(least);
        slow.since -= Duration::from_millis(100);
        let err = slow.check(1).unwrap_err().to_string();
        assert!(
            err.starts_with("stalled: 1 bytes in 0 s, under the 1000"),
            "{err}"
        );
        let mut ended = Pace::new(least);
        ended.since -= Duration::from_secs(1);
        assert!(ended.check(0).is_ok(), "the end of the body is not judged");
    }
}
