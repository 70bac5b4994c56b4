//! The NBD server: accept loops for TCP and Unix sockets, per-connection tasks (handshake,
//! optional TLS upgrade, transmission), graceful shutdown, configuration and counters.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, BufReader, BufWriter};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{NbdError, NbdErrorKind};
use crate::handshake::{Outcome, Session, TlsPhase};
use crate::tls::{Joined, ServerTls, handshake_error};
use crate::{ClientInfo, ExportProvider, handshake, transmission};

/// Server limits. `Default` gives the documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Requests one connection may have in flight (read but not yet replied).
    pub max_inflight_per_connection: usize,
    /// Largest READ/WRITE length served; larger ones get `EINVAL`. Advertised as max block size.
    pub max_request_bytes: u32,
    /// Largest oversized WRITE payload read and discarded; beyond it the connection closes.
    pub max_discard_bytes: u64,
    /// Minimum block size advertised (1 = byte-granular, or 512).
    pub min_block_bytes: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_inflight_per_connection: 128,
            max_request_bytes: 32 * 1024 * 1024,
            max_discard_bytes: 64 * 1024 * 1024,
            min_block_bytes: 1,
        }
    }
}

/// Live counters of one server; cheap to read at any time.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub requests_total: AtomicU64,
    /// Replies carrying a non-zero NBD error.
    pub error_replies_total: AtomicU64,
    /// Connections closed because the peer broke the protocol.
    pub protocol_errors_total: AtomicU64,
    pub read_bytes_total: AtomicU64,
    pub written_bytes_total: AtomicU64,
}

/// A plain copy of [`ServerStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub connections_open: u64,
    pub connections_total: u64,
    pub requests_total: u64,
    pub error_replies_total: u64,
    pub protocol_errors_total: u64,
    pub read_bytes_total: u64,
    pub written_bytes_total: u64,
}

impl ServerStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_open: get(&self.connections_open),
            connections_total: get(&self.connections_total),
            requests_total: get(&self.requests_total),
            error_replies_total: get(&self.error_replies_total),
            protocol_errors_total: get(&self.protocol_errors_total),
            read_bytes_total: get(&self.read_bytes_total),
            written_bytes_total: get(&self.written_bytes_total),
        }
    }
}

/// An NBD server over an [`ExportProvider`]. Cloning shares the provider and counters.
#[derive(Clone)]
pub struct NbdServer {
    provider: Arc<dyn ExportProvider>,
    config: Arc<ServerConfig>,
    stats: Arc<ServerStats>,
    tls: Option<ServerTls>,
}

impl std::fmt::Debug for NbdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdServer")
            .field("config", &self.config)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
const SOCKET_BUFFER_BYTES: usize = 128 * 1024;

impl NbdServer {
    pub fn new(provider: Arc<dyn ExportProvider>, config: ServerConfig) -> Self {
        Self {
            provider,
            config: Arc::new(config),
            stats: Arc::default(),
            tls: None,
        }
    }

    /// Offers (or requires) `NBD_OPT_STARTTLS` on every transport.
    pub fn with_tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.stats)
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Serves TCP clients until `shutdown`, then waits for every connection to finish its
    /// in-flight requests and close.
    pub async fn serve_tcp(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let accept = || async {
            let (stream, peer) = listener.accept().await?;
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY on {peer}: {error}");
            }
            let (reader, writer) = stream.into_split();
            Ok((reader, writer, ClientInfo::Tcp(peer)))
        };
        self.accept_loop(accept, shutdown).await;
        Ok(())
    }

    /// Serves Unix-socket clients; shutdown as for [`NbdServer::serve_tcp`].
    pub async fn serve_unix(
        &self,
        listener: UnixListener,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let accept = || async {
            let (stream, _) = listener.accept().await?;
            let (reader, writer) = stream.into_split();
            Ok((reader, writer, ClientInfo::Unix))
        };
        self.accept_loop(accept, shutdown).await;
        Ok(())
    }

    /// Accepts until `shutdown`, one task per connection, then waits for all of them.
    async fn accept_loop<A, F, R, W>(&self, mut accept: A, shutdown: CancellationToken)
    where
        A: FnMut() -> F,
        F: Future<Output = io::Result<(R, W, ClientInfo)>>,
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = accept() => accepted,
            };
            match accepted {
                Ok((reader, writer, client)) => {
                    let server = self.clone();
                    let stop = shutdown.child_token();
                    tracker.spawn(async move {
                        server.serve_connection(reader, writer, client, stop).await;
                    });
                }
                Err(error) => {
                    tracing::warn!("nbd accept failed: {error}");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            }
        }
        tracker.close();
        tracker.wait().await;
    }

    /// Serves one already-accepted connection to the end (any transport).
    pub async fn serve_connection<R, W>(
        &self,
        reader: R,
        writer: W,
        client: ClientInfo,
        stop: CancellationToken,
    ) where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.stats.connections_total.fetch_add(1, Ordering::Relaxed);
        self.stats.connections_open.fetch_add(1, Ordering::Relaxed);
        let result = self.run_connection(reader, writer, &client, stop).await;
        if let Err(error) = result {
            if matches!(error.kind(), NbdErrorKind::Protocol | NbdErrorKind::Tls) {
                self.stats
                    .protocol_errors_total
                    .fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!("nbd connection from {client} ended: {error}");
        }
        self.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    async fn run_connection<R, W>(
        &self,
        reader: R,
        writer: W,
        client: &ClientInfo,
        stop: CancellationToken,
    ) -> Result<(), NbdError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let mut reader = BufReader::with_capacity(SOCKET_BUFFER_BYTES, reader);
        let mut writer = BufWriter::new(writer);
        let mut session = Session {
            provider: self.provider.as_ref(),
            client,
            config: &self.config,
            no_zeroes: false,
            tls: self
                .tls
                .as_ref()
                .map_or(TlsPhase::Off, |tls| TlsPhase::Offered(tls.mode())),
        };
        let outcome = tokio::select! {
            () = stop.cancelled() => Ok(Outcome::Abort),
            outcome = async {
                session.no_zeroes = handshake::greet(&mut reader, &mut writer).await?;
                handshake::haggle(&mut reader, &mut writer, &session).await
            } => outcome,
        }?;
        let negotiated = match outcome {
            Outcome::Export(negotiated) => negotiated,
            Outcome::Abort => return Ok(()),
            Outcome::StartTls => {
                let Some(tls) = &self.tls else {
                    return Err(NbdError::protocol("STARTTLS without a certificate"));
                };
                session.tls = TlsPhase::Active;
                // The reader keeps its buffer: a client may send its ClientHello right
                // behind STARTTLS without waiting for the ack.
                let stream = Joined::new(reader, writer.into_inner());
                return self.serve_tls(stream, tls, &session, stop).await;
            }
        };
        transmission::serve(
            reader,
            writer.into_inner(),
            negotiated,
            &self.config,
            Arc::clone(&self.stats),
            stop,
        )
        .await
    }

    /// Runs the TLS handshake on an acked `STARTTLS`, then haggles and serves inside TLS.
    async fn serve_tls<R, W>(
        &self,
        stream: Joined<BufReader<R>, W>,
        tls: &ServerTls,
        session: &Session<'_>,
        stop: CancellationToken,
    ) -> Result<(), NbdError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let stream = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            stream = tls.acceptor().accept(stream) => {
                stream.map_err(|e| handshake_error("server", e))?
            }
        };
        let (reader, writer) = tokio::io::split(stream);
        let mut reader = BufReader::with_capacity(SOCKET_BUFFER_BYTES, reader);
        let mut writer = BufWriter::new(writer);
        let outcome = tokio::select! {
            () = stop.cancelled() => Ok(Outcome::Abort),
            outcome = handshake::haggle(&mut reader, &mut writer, session) => outcome,
        }?;
        match outcome {
            Outcome::Export(negotiated) => {
                transmission::serve(
                    reader,
                    writer.into_inner(),
                    negotiated,
                    &self.config,
                    Arc::clone(&self.stats),
                    stop,
                )
                .await
            }
            Outcome::Abort => Ok(()),
            Outcome::StartTls => Err(NbdError::protocol("STARTTLS inside TLS")),
        }
    }
}
