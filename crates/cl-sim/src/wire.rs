//! How a reply goes on the wire: status, headers, and a body sent in chunks that may trickle
//! or stop halfway with a close or a reset.
//!
//! Handlers only decide *what* to answer; turning a reply into bytes happens here, in one
//! place, where body faults and pacing can be slotted in.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// Bodies go out in chunks of this size.
const CHUNK: usize = 256 << 10;

/// How a body goes wrong on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// Stop halfway and close the connection.
    Truncate,
    /// Stop halfway and reset the connection.
    Reset,
}

/// What to answer: status, headers and a body.
pub(crate) struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
    body_fault: Option<BodyFault>,
    /// Bytes per tenth of a second, when the body trickles.
    pace: Option<usize>,
}

impl Reply {
    pub(crate) fn new(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Self {
        Reply {
            status,
            headers: vec![(hyper::header::CONTENT_TYPE, content_type.to_owned())],
            body: body.into(),
            body_fault: None,
            pace: None,
        }
    }

    pub(crate) fn json(status: StatusCode, value: Value) -> Self {
        Reply::new(status, "application/json", value.to_string())
    }

    /// `{"error": {"message": …}}`, the shape most API errors take.
    pub(crate) fn error(status: StatusCode, message: &str, kind: &str) -> Self {
        Reply::json(status, json!({"error": {"message": message, "type": kind}}))
    }

    /// A 422 for a query parameter, in FastAPI's (pydantic 2) shape:
    /// `{"detail": [{"type", "loc", "msg", "input", "ctx"?}]}`.
    pub(crate) fn invalid(
        param: &str,
        kind: &str,
        msg: &str,
        input: Option<&str>,
        ctx: Option<Value>,
    ) -> Self {
        let mut item = json!({"type": kind, "loc": ["query", param], "msg": msg, "input": input});
        if let Some(ctx) = ctx {
            item["ctx"] = ctx;
        }
        Reply::json(StatusCode::UNPROCESSABLE_ENTITY, json!({"detail": [item]}))
    }

    /// A 422 for a required query parameter that is missing.
    pub(crate) fn missing(param: &str) -> Self {
        Reply::invalid(param, "missing", "Field required", None, None)
    }

    /// An object-store style XML error.
    pub(crate) fn storage_error(status: StatusCode, code: &str, message: &str) -> Self {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message></Error>"
        );
        Reply::new(status, "application/xml", xml)
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The body stops halfway, as `fault` says, while Content-Length stays whole.
    pub(crate) fn with_body_fault(mut self, fault: Option<BodyFault>) -> Self {
        self.body_fault = fault;
        self
    }

    /// The body trickles at about this many bytes per second.
    pub(crate) fn with_bandwidth(mut self, bytes_per_second: Option<u64>) -> Self {
        self.pace = bytes_per_second.map(|b| (b / 10).max(1) as usize);
        self
    }

    /// The status it answers with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// Puts the reply on the wire. `reset` is the connection's flag: set, the connection ends
    /// with a reset instead of a close.
    pub(crate) fn into_response(self, reset: Arc<AtomicBool>) -> Response<Payload> {
        let cut = self.body_fault.map(|_| self.body.len() / 2);
        let payload = Payload {
            data: self.body,
            sent: 0,
            cut,
            reset: (self.body_fault == Some(BodyFault::Reset)).then_some(reset),
            pace: self.pace,
            pause: None,
        };
        let mut response = Response::new(payload);
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// A response body sent in fixed-size chunks of shared bytes, never copied whole. It may
/// stop at `cut`, with the connection closed or reset, while announcing its whole length.
pub(crate) struct Payload {
    data: Bytes,
    sent: usize,
    cut: Option<usize>,
    reset: Option<Arc<AtomicBool>>,
    pace: Option<usize>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for Payload {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(pause) = &mut self.pause {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        let end = self.cut.unwrap_or(self.data.len());
        if self.sent >= end {
            if self.cut.is_none() {
                return Poll::Ready(None);
            }
            if let Some(reset) = &self.reset {
                reset.store(true, Ordering::SeqCst);
            }
            // Failing the body makes hyper drop the connection mid-response.
            return Poll::Ready(Some(Err(std::io::Error::other("injected: body cut short"))));
        }
        let step = self.pace.unwrap_or(CHUNK).max(1);
        let next = (self.sent + step).min(end);
        let chunk = self.data.slice(self.sent..next);
        self.sent = next;
        if self.pace.is_some() {
            self.pause = Some(Box::pin(tokio::time::sleep(Duration::from_millis(100))));
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.cut.is_none() && self.sent >= self.data.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.data.len() - self.sent) as u64)
    }
}
