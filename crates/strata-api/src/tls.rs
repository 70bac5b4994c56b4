//! The API over HTTPS: a rustls accept loop in front of the same router that
//! [`crate::serve`] runs in plain text, with HTTP/1.1 from hyper and the same graceful
//! shutdown (stop accepting, finish in-flight requests).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{ApiState, router};

/// The rustls the API is built against, so callers build configs of the same version.
pub use tokio_rustls::rustls;

/// A client that connects and never finishes its handshake is dropped after this.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Serves the router over TLS on `listener` until `shutdown` resolves, then lets every open
/// connection finish its in-flight request and close. `tls` should offer ALPN `http/1.1`
/// (or none); HTTP/2 is not served.
pub async fn serve_tls(
    listener: TcpListener,
    state: ApiState,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let service = TowerToHyperService::new(router(state));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("api accept failed: {error}");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                    continue;
                }
            },
        };
        let (acceptor, service, watcher) = (acceptor.clone(), service.clone(), graceful.watcher());
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!("api TLS handshake with {peer} failed: {error}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("api TLS handshake with {peer} timed out");
                        return;
                    }
                };
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!("api connection from {peer} ended: {error}");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
