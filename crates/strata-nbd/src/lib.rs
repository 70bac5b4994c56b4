//! `strata-nbd`: the NBD protocol, written here: a fixed-newstyle server over the [`Export`]
//! trait, and a small sequential client ([`NbdClient`]).
//!
//! The server knows nothing about volumes: an [`ExportProvider`] lists and opens exports by
//! name, and each [`Export`] is a blocking byte range the server drives from
//! `tokio::task::spawn_blocking`.
//!
//! # Protocol subset
//!
//! - **Handshake**: fixed newstyle only. The client must set `NBD_FLAG_C_FIXED_NEWSTYLE`;
//!   `NBD_FLAG_C_NO_ZEROES` is honoured; unknown client flags close the connection.
//! - **Options**: `NBD_OPT_EXPORT_NAME`, `NBD_OPT_ABORT`, `NBD_OPT_LIST`, `NBD_OPT_INFO`,
//!   `NBD_OPT_GO` (replying `NBD_INFO_EXPORT` always, `NBD_INFO_BLOCK_SIZE` always — minimum
//!   [`ServerConfig::min_block_bytes`], preferred 4 KiB, maximum
//!   [`ServerConfig::max_request_bytes`] — and `NBD_INFO_NAME` / `NBD_INFO_DESCRIPTION` on
//!   request), and `NBD_OPT_STARTTLS` when the server has a certificate
//!   ([`NbdServer::with_tls`]): after the ack both sides run a rustls handshake on the same
//!   socket and haggling continues inside TLS; with [`TlsMode::Require`] every option but
//!   `STARTTLS` and `ABORT` gets `NBD_REP_ERR_TLS_REQD` before that, and
//!   `NBD_OPT_EXPORT_NAME` closes the connection. Every other option (`STRUCTURED_REPLY`,
//!   meta contexts, extended headers, `STARTTLS` without a certificate) gets
//!   `NBD_REP_ERR_UNSUP`; a missing export gets `NBD_REP_ERR_UNKNOWN`. Option
//!   payloads over 64 KiB are discarded and answered `NBD_REP_ERR_TOO_BIG`; over 16 MiB the
//!   connection is closed.
//! - **Transmission flags**: `HAS_FLAGS`, `SEND_FLUSH`, `SEND_FUA`, `SEND_TRIM`,
//!   `SEND_WRITE_ZEROES`, `CAN_MULTI_CONN`, plus `READ_ONLY` when the export says so.
//! - **Commands** (simple replies only): `READ`, `WRITE` (+`FUA`), `FLUSH`, `TRIM` (+`FUA`),
//!   `WRITE_ZEROES` (+`FUA`, `NO_HOLE`), `DISC`. Requests on one connection run concurrently
//!   (up to [`ServerConfig::max_inflight_per_connection`]) and replies may come out of order.
//!   A `FLUSH` runs only after every command received before it on that connection has
//!   completed. `DISC` and server shutdown finish and reply to in-flight requests first.
//! - **Errors**: reads/trims past the end get `EINVAL`, writes/write-zeroes past the end
//!   `ENOSPC`, writes to a read-only export `EPERM`, unknown commands or flags and requests
//!   over `max_request_bytes` `EINVAL`; the connection continues. An oversized write's
//!   payload is read and discarded unless it exceeds [`ServerConfig::max_discard_bytes`], in
//!   which case the connection closes. A bad request magic closes that connection only.

pub mod client;
pub mod error;
mod handshake;
pub mod pool;
pub mod proto;
pub mod server;
pub mod tls;
mod transmission;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

pub use client::NbdClient;
pub use error::{NbdError, NbdErrorKind, nbd_errno_from_io};
pub use pool::{ClientPool, PoolConfig};
pub use server::{NbdServer, ServerConfig, ServerStats, StatsSnapshot};
pub use tls::{ClientTls, ServerTls, TlsMode};

/// One exported byte range. Methods block; the server calls them from `spawn_blocking`.
pub trait Export: Send + Sync + 'static {
    fn size_bytes(&self) -> u64;
    /// Fills `buf` from `offset`; the server has checked the range lies inside the export.
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes `data` at `offset`; with `fua` it must be durable before returning.
    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()>;
    /// Makes every completed write durable.
    fn flush(&self) -> io::Result<()>;
    /// Discards a range (reads of it may return anything afterwards).
    fn trim(&self, offset: u64, len: u64) -> io::Result<()>;
    /// Zeroes a range; `no_hole` asks for it to stay allocated.
    fn write_zeroes(&self, offset: u64, len: u64, fua: bool, no_hole: bool) -> io::Result<()>;
    fn read_only(&self) -> bool {
        false
    }
    fn description(&self) -> String {
        String::new()
    }
}

/// Lists and opens exports by name for one client.
pub trait ExportProvider: Send + Sync + 'static {
    fn list(&self, client: &ClientInfo) -> Vec<String>;
    fn open(&self, name: &str, client: &ClientInfo) -> Option<Arc<dyn Export>>;
}

/// Who is connecting, so a provider can apply access control.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientInfo {
    Tcp(SocketAddr),
    Unix,
}

impl fmt::Display for ClientInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            Self::Unix => f.write_str("unix"),
        }
    }
}
