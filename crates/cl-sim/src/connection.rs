//! The connections under the HTTP: accepting on a listener, TLS when asked for, and a
//! stream that can end in a reset (RST) instead of an orderly close, as a body fault needs.

use crate::Origin;
use crate::routes::{self, State};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// Serves every connection `listener` accepts as `origin`, over TLS when `tls` is given.
pub(crate) async fn accept(
    listener: tokio::net::TcpListener,
    origin: Origin,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        state.connections[origin as usize].fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        let reset = Arc::new(AtomicBool::new(false));
        let tls = tls.clone();
        tokio::spawn(async move {
            let stream = match tls {
                None => Stream::Plain(stream),
                // A client that does not trust the CA ends the handshake: nothing to serve.
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => Stream::Tls(Box::new(stream)),
                    Err(_) => return,
                },
            };
            let io = Connection {
                stream,
                reset: reset.clone(),
            };
            let service = service_fn(move |request| {
                routes::respond(state.clone(), origin, request, reset.clone())
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(io), service)
                .await;
        });
    }
}

/// A connection that ends with a reset (RST) instead of a close once its flag is set.
struct Connection {
    stream: Stream,
    reset: Arc<AtomicBool>,
}

/// Plain TCP, or TLS over it.
enum Stream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // A zero linger makes the close send RST and drop whatever is unsent.
            let _ = socket2::SockRef::from(self.stream.tcp()).set_linger(Some(Duration::ZERO));
        }
    }
}

macro_rules! delegate {
    ($self:ident, $io:ident => $call:expr) => {
        match &mut $self.stream {
            Stream::Plain($io) => {
                let $io = Pin::new($io);
                $call
            }
            Stream::Tls($io) => {
                let $io = Pin::new($io.as_mut());
                $call
            }
        }
    };
}

impl tokio::io::AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            // No orderly FIN before the reset.
            return Poll::Ready(Ok(()));
        }
        delegate!(self, io => io.poll_shutdown(cx))
    }
}
