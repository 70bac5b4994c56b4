//! TLS for NBD (`NBD_OPT_STARTTLS`, rustls): the server's policy ([`ServerTls`]), the
//! client's settings ([`ClientTls`]), and [`Joined`], which puts a connection's read and
//! write halves back together so the handshake can upgrade it in place.
//!
//! The upgrade happens in the middle of option haggling: the client asks for `STARTTLS`,
//! the server acks in plain text, both run the TLS handshake on the same socket, and the
//! haggling starts over inside TLS (without a second greeting).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The rustls this crate is built against, for callers that build its configs.
pub use tokio_rustls::rustls;

use crate::error::{NbdError, NbdErrorKind};

/// How a TLS-capable server treats clients that do not ask for TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `STARTTLS` is offered; plain-text clients are served too.
    Optional,
    /// Before `STARTTLS` every option but `ABORT` is refused with `NBD_REP_ERR_TLS_REQD`
    /// (and `NBD_OPT_EXPORT_NAME`, which has no error reply, closes the connection).
    Require,
}

/// A server's TLS certificate configuration and mode.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    mode: TlsMode,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    pub fn new(config: Arc<rustls::ServerConfig>, mode: TlsMode) -> Self {
        Self {
            acceptor: TlsAcceptor::from(config),
            mode,
        }
    }

    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// What a client needs to upgrade a connection: trust roots (in the rustls config) and the
/// name the server's certificate must carry.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// `server_name` is a DNS name or an IP address as text (checked against the
    /// certificate's subject alternative names).
    pub fn new(config: Arc<rustls::ClientConfig>, server_name: &str) -> Result<Self, NbdError> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|_| {
            NbdError::new(
                NbdErrorKind::InvalidArgument,
                format!("{server_name:?} is not a DNS name or IP address"),
            )
        })?;
        Ok(Self {
            connector: TlsConnector::from(config),
            server_name,
        })
    }

    pub(crate) fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    pub(crate) fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone()
    }
}

/// A read half and a write half used as one stream (what a TLS session runs over).
#[derive(Debug)]
pub struct Joined<R, W> {
    reader: R,
    writer: W,
}

impl<R, W> Joined<R, W> {
    pub fn new(reader: R, writer: W) -> Self {
        Self { reader, writer }
    }
}

impl<R: AsyncRead + Unpin, W: Unpin> AsyncRead for Joined<R, W> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

impl<R: Unpin, W: AsyncWrite + Unpin> AsyncWrite for Joined<R, W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.writer.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_shutdown(cx)
    }
}

/// A failed TLS handshake as this crate's error.
pub(crate) fn handshake_error(side: &str, error: io::Error) -> NbdError {
    NbdError::new(NbdErrorKind::Tls, format!("{side} TLS handshake: {error}"))
}
