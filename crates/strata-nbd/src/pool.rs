//! A bounded pool of [`NbdClient`] connections to one export of one server, for forwarding
//! I/O: each client carries one request at a time, so concurrency comes from several
//! connections (at most [`PoolConfig::max_connections`]). A connection that fails at the
//! transport level is dropped and the request retried once on a fresh one, so a restarted
//! server is picked up again; an NBD error reply is the request's answer and keeps the
//! connection. The target address may change (a server restarted on another port):
//! [`ClientPool::set_address`] takes effect for every later connection.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::client::NbdClient;
use crate::error::{NbdError, NbdErrorKind};

/// Limits of one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections open at once (and requests in flight) to the target.
    pub max_connections: usize,
    /// Bound on connecting plus the handshake.
    pub connect_timeout: Duration,
    /// Bound on one request's round trip, so a hung peer fails the request, not the caller.
    pub request_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Connections to `export` on the server at a TCP address.
pub struct ClientPool {
    address: Mutex<String>,
    export: String,
    config: PoolConfig,
    idle: Mutex<Vec<NbdClient>>,
    permits: Semaphore,
}

impl std::fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPool")
            .field("address", &*self.address.lock())
            .field("export", &self.export)
            .field("idle", &self.idle.lock().len())
            .finish_non_exhaustive()
    }
}

/// Whether an error means the connection is unusable (rather than a refused request).
fn breaks_connection(error: &NbdError) -> bool {
    !matches!(error.kind(), NbdErrorKind::Command { .. })
}

impl ClientPool {
    pub fn new(address: impl Into<String>, export: impl Into<String>, config: PoolConfig) -> Self {
        Self {
            address: Mutex::new(address.into()),
            export: export.into(),
            permits: Semaphore::new(config.max_connections.max(1)),
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn export(&self) -> &str {
        &self.export
    }

    pub fn address(&self) -> String {
        self.address.lock().clone()
    }

    /// Points later connections at `address`; idle ones to an old address are dropped.
    pub fn set_address(&self, address: &str) {
        let mut current = self.address.lock();
        if *current != address {
            *current = address.to_owned();
            self.idle.lock().clear();
        }
    }

    async fn connect(&self) -> Result<NbdClient, NbdError> {
        let address = self.address();
        tokio::time::timeout(
            self.config.connect_timeout,
            NbdClient::connect_tcp(address.as_str(), &self.export),
        )
        .await
        .map_err(|_| {
            NbdError::io(
                "connect",
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no NBD handshake from {address} within the connect timeout"),
                ),
            )
        })?
    }

    /// Runs `request` on a pooled connection: an idle one if there is one, else a new one.
    /// A transport failure on a reused connection is retried once on a fresh connection
    /// (requests are positioned, so resending is safe).
    async fn run(&self, request: Request<'_>) -> Result<Vec<u8>, NbdError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| NbdError::new(NbdErrorKind::Io, "pool closed"))?;
        let reused = self.idle.lock().pop();
        let fresh = reused.is_none();
        let mut client = match reused {
            Some(client) => client,
            None => self.connect().await?,
        };
        let mut outcome = self.timed(&mut client, &request).await;
        if !fresh && outcome.as_ref().is_err_and(breaks_connection) {
            client = self.connect().await?;
            outcome = self.timed(&mut client, &request).await;
        }
        if !outcome.as_ref().is_err_and(breaks_connection) {
            self.idle.lock().push(client);
        }
        outcome
    }

    async fn timed(
        &self,
        client: &mut NbdClient,
        request: &Request<'_>,
    ) -> Result<Vec<u8>, NbdError> {
        tokio::time::timeout(self.config.request_timeout, request.send(client))
            .await
            .unwrap_or_else(|_| {
                Err(NbdError::io(
                    "request",
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no reply within the request timeout",
                    ),
                ))
            })
    }

    pub async fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), NbdError> {
        let len_bytes = u32::try_from(buf.len())
            .map_err(|_| NbdError::new(NbdErrorKind::InvalidArgument, "read over 4 GiB"))?;
        let data = self.run(Request::Read { offset, len_bytes }).await?;
        buf.copy_from_slice(&data);
        Ok(())
    }

    pub async fn write(&self, offset: u64, data: &[u8], fua: bool) -> Result<(), NbdError> {
        self.run(Request::Write { offset, data, fua })
            .await
            .map(drop)
    }

    pub async fn flush(&self) -> Result<(), NbdError> {
        self.run(Request::Flush).await.map(drop)
    }

    pub async fn trim(&self, offset: u64, len_bytes: u32) -> Result<(), NbdError> {
        self.run(Request::Trim { offset, len_bytes })
            .await
            .map(drop)
    }

    pub async fn write_zeroes(
        &self,
        offset: u64,
        len_bytes: u32,
        fua: bool,
        no_hole: bool,
    ) -> Result<(), NbdError> {
        self.run(Request::WriteZeroes {
            offset,
            len_bytes,
            fua,
            no_hole,
        })
        .await
        .map(drop)
    }
}

/// One forwarded command, kept so it can be resent on a fresh connection.
#[derive(Debug, Clone, Copy)]
enum Request<'a> {
    Read {
        offset: u64,
        len_bytes: u32,
    },
    Write {
        offset: u64,
        data: &'a [u8],
        fua: bool,
    },
    Flush,
    Trim {
        offset: u64,
        len_bytes: u32,
    },
    WriteZeroes {
        offset: u64,
        len_bytes: u32,
        fua: bool,
        no_hole: bool,
    },
}

impl Request<'_> {
    /// Sends the command; a read's data comes back, other commands return nothing.
    async fn send(&self, client: &mut NbdClient) -> Result<Vec<u8>, NbdError> {
        match *self {
            Self::Read { offset, len_bytes } => client.read(offset, len_bytes).await,
            Self::Write { offset, data, fua } => {
                client.write(offset, data, fua).await.map(|()| Vec::new())
            }
            Self::Flush => client.flush().await.map(|()| Vec::new()),
            Self::Trim { offset, len_bytes } => {
                client.trim(offset, len_bytes).await.map(|()| Vec::new())
            }
            Self::WriteZeroes {
                offset,
                len_bytes,
                fua,
                no_hole,
            } => client
                .write_zeroes(offset, len_bytes, fua, no_hole)
                .await
                .map(|()| Vec::new()),
        }
    }
}

/// A pool shared by every caller that forwards to the same target.
pub type SharedPool = Arc<ClientPool>;

/// The `io::Error` an export returns for a forwarded request that failed: an NBD error
/// reply keeps its value (the wire values are the Linux errno numbers), anything else
/// (connection lost, timeout) is `EIO` with the cause in the message.
pub fn forwarded_io_error(error: NbdError) -> std::io::Error {
    match error.nbd_errno() {
        Some(errno) => std::io::Error::from_raw_os_error(i32::try_from(errno).unwrap_or(5)),
        None => std::io::Error::other(format!("forwarding failed: {error}")),
    }
}
