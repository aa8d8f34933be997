//! The listener's bounds: at most `[api] max_connections` connections at once (one more is
//! closed as it arrives, so its file descriptor is freed at once), each given
//! `[api] header_read_timeout_ms` to send its request headers or finish its TLS handshake
//! (hyper closes it otherwise), and every request `[api] request_timeout_ms`. Someone who
//! opens connections and trickles bytes into them holds a slot for a bounded time, and the
//! gateway keeps serving its peers meanwhile.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connection that holds one of the listener's slots until it closes.
pub struct Limited<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Gives each connection a slot, or closes it when none is free.
#[derive(Clone)]
pub struct LimitAcceptor {
    slots: Arc<Semaphore>,
}

impl LimitAcceptor {
    /// At most `max` connections at once.
    pub fn new(max: usize) -> Self {
        LimitAcceptor {
            slots: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

impl<I: Send + 'static, S: Send + 'static> Accept<I, S> for LimitAcceptor {
    type Stream = Limited<I>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Limited<I>, S)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        std::future::ready(match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(slot) => Ok((
                Limited {
                    inner: stream,
                    _slot: slot,
                },
                service,
            )),
            Err(_) => Err(io::Error::other(
                "the connection limit ([api] max_connections) is reached; connection closed",
            )),
        })
    }
}

/// How the listener is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Connections at once.
    pub max_connections: usize,
    /// Time for a request's headers, and for a TLS handshake.
    pub header_read_timeout: Duration,
}

/// Serves `router` on `listener` (HTTPS when `tls` is given) within `bounds`, until
/// `shutdown` resolves; requests in flight then get 10 seconds to finish.
pub async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<RustlsConfig>,
    bounds: Bounds,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let handle = Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let make = router.into_make_service_with_connect_info::<SocketAddr>();
    let limit = LimitAcceptor::new(bounds.max_connections);
    let server = axum_server::from_tcp(listener)?.handle(handle);
    let on_error = |addr: Option<&SocketAddr>, e: &io::Error| {
        tracing::debug!(remote = ?addr, error = %e, "connection not accepted");
    };
    match tls {
        Some(tls) => {
            let acceptor = super::tls::CertAcceptor(
                RustlsAcceptor::new(tls)
                    .handshake_timeout(bounds.header_read_timeout)
                    .acceptor(limit),
            );
            let mut server = server.acceptor(acceptor).accept_error_handler(on_error);
            server
                .http_builder()
                .http1()
                .header_read_timeout(bounds.header_read_timeout);
            server
                .first_request_timeout(bounds.header_read_timeout)
                .serve(make)
                .await
        }
        None => {
            let mut server = server.acceptor(limit).accept_error_handler(on_error);
            server
                .http_builder()
                .http1()
                .header_read_timeout(bounds.header_read_timeout);
            server
                .first_request_timeout(bounds.header_read_timeout)
                .serve(make)
                .await
        }
    }
}
