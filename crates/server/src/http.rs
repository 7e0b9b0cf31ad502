//! The connection loop and the per-request time limits: a slow or stalled client holds
//! nothing for long.
//!
//! - Headers: hyper's header read timeout, which also closes an idle keep-alive
//!   connection. `axum::serve` starts hyper without a timer, so this timeout is off
//!   there; that is why the server drives hyper itself.
//! - Bodies: a request body that sends nothing for `body_idle_timeout` ends with an
//!   error, and the request is answered `408 request_timeout`.
//! - The whole request, up to the first byte of the response, is bounded by
//!   `request_timeout`. A stream (SSE) is bounded only until its headers are out; its
//!   heartbeats then keep the write side busy.
//! - Writes: a response the client does not read for `write_timeout` drops the
//!   connection (a client that stops reading, an SSE stream nobody drains).
//!
//! Uploads are read into memory before any transaction starts (see `intake.rs`), so a
//! stalled upload never holds the database writer.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Sleep;
use tower::{Service, ServiceExt};

use crate::config::Limits;
use crate::error::ApiError;

/// The time limits of one request, as the middleware needs them.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub body_idle: Duration,
    pub total: Duration,
}

impl From<&Limits> for RequestLimits {
    fn from(limits: &Limits) -> Self {
        RequestLimits {
            body_idle: limits.body_idle_timeout(),
            total: limits.request_timeout(),
        }
    }
}

/// Middleware: bounds the time to the response head, and the gaps in the request body.
pub async fn time_limits(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(IdleTimeoutBody {
            inner: body,
            idle: limits.body_idle,
            sleep: None,
            stalled: Arc::clone(&stalled),
        })
    });
    match tokio::time::timeout(limits.total, next.run(request)).await {
        // The handler saw a body error and answered something (400, 413…); the real
        // cause is the client's silence, and the code must say so.
        Ok(_) if stalled.load(Ordering::SeqCst) => ApiError::RequestTimeout.into_response(),
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// A request body that fails when no frame arrives for `idle`.
struct IdleTimeoutBody {
    inner: Body,
    idle: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl http_body::Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.sleep = None;
            return Poll::Ready(frame);
        }
        let idle = this.idle;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.stalled.store(true, Ordering::SeqCst);
                Poll::Ready(Some(Err(axum::Error::new(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped sending the request body",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes fail when the client reads nothing for `limit`.
struct WriteDeadline {
    io: TcpStream,
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl WriteDeadline {
    /// Called when a write is pending: starts the clock, or fails once it has run out.
    /// Polling the sleep registers the task's waker, so hyper is woken when it fires.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<T>(
        &mut self,
        done: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match done {
            Poll::Ready(result) => {
                self.sleep = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.stalled(cx),
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.io).poll_write(cx, buf);
        this.progressed(done, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.progressed(done, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.io).poll_flush(cx);
        this.progressed(done, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Accepts connections until `shutdown` resolves, then lets the requests in flight
/// finish (graceful shutdown, as `axum::serve` does).
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout());
    let write_limit = limits.write_timeout();
    // Connections watch `stop` to begin their graceful shutdown; each holds a `done`
    // receiver, so `done_tx.closed()` resolves when the last one has ended.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = match ServiceExt::<SocketAddr>::ready(&mut make).await {
            Ok(make) => match make.call(remote).await {
                Ok(service) => service,
                Err(never) => match never {},
            },
            Err(never) => match never {},
        };
        let service = TowerToHyperService::new(
            service.map_request(|r: hyper::Request<hyper::body::Incoming>| r.map(Body::new)),
        );
        let io = TokioIo::new(WriteDeadline {
            io: stream,
            limit: write_limit,
            sleep: None,
        });
        let connection = builder.serve_connection(io, service);
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%e, %remote, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    if let Err(e) = connection.as_mut().await {
                        tracing::debug!(%e, %remote, "connection ended with an error");
                    }
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(done_rx);
    let _ = stop_tx.send(());
    done_tx.closed().await;
    Ok(())
}
