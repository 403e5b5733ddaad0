//! The HTTP server loop: accepts TCP connections and serves each with hyper, under two limits poem's
//! own server cannot set, so a client cannot hold connections open forever (slowloris): a header-read
//! timeout (the request line and headers must arrive within it, and on a kept-alive connection the
//! next request must start within it) and an idle timeout (no byte read or written for that long).
//! Stops accepting on shutdown and lets requests in flight finish within the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, IntoEndpoint, Request};
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutStream;
use tokio_util::task::TaskTracker;

/// How long a client may take; see `Config::header_read_timeout` and `Config::idle_timeout`.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_read: Duration,
    pub idle: Duration,
}

/// Serves `endpoint` on `listener` until `shutdown` resolves, then waits up to `grace` for the
/// connections to finish what they are doing.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint = Arc::new(endpoint.into_endpoint().map_to_response());
    let local = listener.local_addr()?;
    let connections = GracefulShutdown::new();
    // Handlers outlive a client that hung up; shutdown waits for them too, not only for connections.
    let handlers = TaskTracker::new();
    // HTTP/1 only: the header-read timeout is HTTP/1's, and browsers reach paydesk through a TLS
    // proxy that speaks HTTP/1 to it (h2c with prior knowledge would escape the timeout).
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut io = TimeoutStream::new(stream);
        io.set_read_timeout(Some(limits.idle));
        io.set_write_timeout(Some(limits.idle));
        let endpoint = endpoint.clone();
        let handlers = handlers.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            let handlers = handlers.clone();
            async move {
                let req = Request::from((
                    req,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(remote)),
                    poem::http::uri::Scheme::HTTP,
                ));
                // Its own task: a client that hangs up must not cancel a handler half way (an
                // approval sent to Innopay whose answer would then go unrecorded).
                let handled = handlers.spawn(async move { endpoint.get_response(req).await });
                let response = handled.await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "request handler panicked");
                    poem::Response::builder()
                        .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                        .finish()
                });
                Ok::<_, Infallible>(hyper::Response::from(response))
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(Box::pin(io)), service)
            .into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts, resets and malformed requests end here; nothing to answer.
                tracing::debug!(%remote, error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    handlers.close();
    let finished = async {
        connections.shutdown().await;
        handlers.wait().await;
    };
    tokio::select! {
        () = finished => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the shutdown grace period; closing");
        }
    }
    Ok(())
}
