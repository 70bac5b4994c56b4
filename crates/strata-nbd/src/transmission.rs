//! Transmission phase of one server connection: a reader loop that decodes requests and
//! dispatches each to `spawn_blocking`, a single writer task that sends simple replies (in
//! completion order, correlated by handle), the flush barrier and the per-connection bounds.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::Export;
use crate::error::{NbdError, nbd_errno_from_io};
use crate::handshake::{Negotiated, discard};
use crate::proto::{
    Command, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_EPERM,
    REQUEST_LEN, Request, SIMPLE_REPLY_LEN, SimpleReply,
};
use crate::server::{ServerConfig, ServerStats};

/// Buffers kept per connection for reuse, and the largest one worth keeping.
const POOLED_BUFFERS: usize = 64;
const POOLED_BUFFER_MAX_BYTES: usize = 4 * 1024 * 1024;

/// One reply on its way to the writer; the permit bounds in-flight requests until it is sent.
struct Reply {
    handle: u64,
    error: u32,
    data: Option<Vec<u8>>,
    _permit: OwnedSemaphorePermit,
}

/// Reusable I/O buffers of one connection.
#[derive(Default)]
struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// A zeroed buffer of exactly `len` bytes.
    fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = self.free.lock().pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        buf
    }

    fn give(&self, buf: Vec<u8>) {
        if buf.capacity() <= POOLED_BUFFER_MAX_BYTES {
            let mut free = self.free.lock();
            if free.len() < POOLED_BUFFERS {
                free.push(buf);
            }
        }
    }
}

/// Sequence numbers of commands dispatched but not yet completed, so a flush can wait for
/// exactly the commands received before it.
#[derive(Default)]
struct InflightTracker {
    pending: Mutex<BTreeSet<u64>>,
    completed: Notify,
}

impl InflightTracker {
    fn start(self: &Arc<Self>, seq: u64) -> CompletionGuard {
        self.pending.lock().insert(seq);
        CompletionGuard {
            tracker: Arc::clone(self),
            seq,
        }
    }

    async fn wait_before(&self, seq: u64) {
        loop {
            let mut notified = pin!(self.completed.notified());
            // Register interest before checking, so a completion in between is not missed.
            notified.as_mut().enable();
            if self.pending.lock().range(..seq).next().is_none() {
                return;
            }
            notified.await;
        }
    }
}

/// Marks a command complete when dropped, also when the export panicked.
struct CompletionGuard {
    tracker: Arc<InflightTracker>,
    seq: u64,
}

impl Drop for CompletionGuard {
    fn drop(&mut self) {
        self.tracker.pending.lock().remove(&self.seq);
        self.tracker.completed.notify_waiters();
    }
}

/// Everything a dispatched command needs, cheap to clone into tasks.
#[derive(Clone)]
struct Shared {
    export: Arc<dyn Export>,
    size_bytes: u64,
    replies: mpsc::Sender<Reply>,
    pool: Arc<BufferPool>,
    tracker: Arc<InflightTracker>,
    stats: Arc<ServerStats>,
}

impl Shared {
    /// Queues an error reply without touching the export.
    async fn reject(&self, handle: u64, error: u32, permit: OwnedSemaphorePermit) {
        // A closed channel means the writer died; the reader notices through `stop`.
        let _ = self
            .replies
            .send(Reply {
                handle,
                error,
                data: None,
                _permit: permit,
            })
            .await;
    }

    /// Runs `op` on a blocking thread and queues its reply from there.
    fn run_blocking<F>(&self, seq: u64, handle: u64, permit: OwnedSemaphorePermit, op: F)
    where
        F: FnOnce(&Shared) -> (u32, Option<Vec<u8>>) + Send + 'static,
    {
        let shared = self.clone();
        let guard = self.tracker.start(seq);
        tokio::task::spawn_blocking(move || {
            let (error, data) = std::panic::catch_unwind(AssertUnwindSafe(|| op(&shared)))
                .unwrap_or_else(|_| {
                    tracing::error!("export panicked serving handle {handle}");
                    (NBD_EIO, None)
                });
            // Complete only once the reply is queued: a flush waiting on this command then
            // queues its own reply behind it, so the client never sees the flush first.
            let _ = shared.replies.blocking_send(Reply {
                handle,
                error,
                data,
                _permit: permit,
            });
            drop(guard);
        });
    }
}

fn errno_of(result: std::io::Result<()>) -> u32 {
    result.err().map_or(0, |e| nbd_errno_from_io(&e))
}

fn in_range(offset: u64, len_bytes: u64, size_bytes: u64) -> bool {
    offset
        .checked_add(len_bytes)
        .is_some_and(|end| end <= size_bytes)
}

/// Serves requests until `DISC`, EOF, a protocol error or `stop`; in-flight requests are
/// completed and replied before this returns.
pub(crate) async fn serve<R, W>(
    mut reader: R,
    writer: W,
    negotiated: Negotiated,
    config: &ServerConfig,
    stats: Arc<ServerStats>,
    stop: CancellationToken,
) -> Result<(), NbdError>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let max_inflight = config.max_inflight_per_connection.max(1);
    let (tx, rx) = mpsc::channel(max_inflight);
    let pool = Arc::new(BufferPool::default());
    let writer_failed = stop.child_token();
    let writer_task = tokio::spawn(write_replies(
        writer,
        rx,
        Arc::clone(&pool),
        Arc::clone(&stats),
        writer_failed.clone(),
    ));
    let shared = Shared {
        size_bytes: negotiated.export.size_bytes(),
        export: negotiated.export,
        replies: tx,
        pool,
        tracker: Arc::default(),
        stats,
    };
    let permits = Arc::new(Semaphore::new(max_inflight));
    // Shutdown may strike while the client is mid-payload: the whole reader is dropped then,
    // while requests already dispatched still complete and get their replies.
    let result = tokio::select! {
        biased;
        () = writer_failed.cancelled() => Ok(()),
        result = read_requests(&mut reader, &shared, &permits, config) => result,
    };
    // Dropping our sender lets the writer finish once every in-flight reply is sent.
    drop(shared);
    let _ = writer_task.await;
    result
}

async fn read_requests<R: AsyncRead + Unpin>(
    reader: &mut R,
    shared: &Shared,
    permits: &Arc<Semaphore>,
    config: &ServerConfig,
) -> Result<(), NbdError> {
    let mut header = [0u8; REQUEST_LEN];
    for seq in 0u64.. {
        let permit = Arc::clone(permits)
            .acquire_owned()
            .await
            .map_err(|_| NbdError::protocol("request permits closed"))?;
        match reader.read_exact(&mut header).await {
            Ok(_) => {}
            // A client that just hangs up instead of sending DISC is common.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(NbdError::io("read request", e)),
        }
        let request = Request::decode(&header)?;
        shared.stats.requests_total.fetch_add(1, Ordering::Relaxed);
        if request.command == Command::Disconnect {
            return Ok(());
        }
        dispatch(reader, shared, config, seq, request, permit).await?;
    }
    Ok(())
}

/// Validates one request, reads a write's payload, and hands it to the export.
async fn dispatch<R: AsyncRead + Unpin>(
    reader: &mut R,
    shared: &Shared,
    config: &ServerConfig,
    seq: u64,
    request: Request,
    permit: OwnedSemaphorePermit,
) -> Result<(), NbdError> {
    let Request {
        flags,
        command,
        handle,
        offset,
        len_bytes,
    } = request;
    let len = u64::from(len_bytes);
    let fua = flags & NBD_CMD_FLAG_FUA != 0;
    let oversized = len_bytes > config.max_request_bytes;
    let check = Validity {
        flags,
        read_only: shared.export.read_only(),
        in_range: in_range(offset, len, shared.size_bytes),
    };
    match command {
        Command::Read => {
            let error = if oversized { NBD_EINVAL } else { check.read() };
            if error != 0 {
                shared.reject(handle, error, permit).await;
                return Ok(());
            }
            shared.run_blocking(seq, handle, permit, move |s| {
                let mut buf = s.pool.take(len_usize(len_bytes));
                match s.export.read(offset, &mut buf) {
                    Ok(()) => {
                        s.stats.read_bytes_total.fetch_add(len, Ordering::Relaxed);
                        (0, Some(buf))
                    }
                    Err(e) => {
                        s.pool.give(buf);
                        (nbd_errno_from_io(&e), None)
                    }
                }
            });
        }
        Command::Write => {
            if oversized {
                if len > config.max_discard_bytes {
                    return Err(NbdError::protocol(format!("write of {len} bytes")));
                }
                discard(reader, len).await?;
                shared.reject(handle, NBD_EINVAL, permit).await;
                return Ok(());
            }
            let mut buf = shared.pool.take(len_usize(len_bytes));
            reader
                .read_exact(&mut buf)
                .await
                .map_err(|e| NbdError::io("read write payload", e))?;
            let error = check.mutation(NBD_CMD_FLAG_FUA, NBD_ENOSPC);
            if error != 0 {
                shared.pool.give(buf);
                shared.reject(handle, error, permit).await;
                return Ok(());
            }
            shared.run_blocking(seq, handle, permit, move |s| {
                let error = errno_of(s.export.write(offset, &buf, fua));
                if error == 0 {
                    s.stats
                        .written_bytes_total
                        .fetch_add(len, Ordering::Relaxed);
                }
                s.pool.give(buf);
                (error, None)
            });
        }
        Command::Flush => {
            if flags & !NBD_CMD_FLAG_FUA != 0 {
                shared.reject(handle, NBD_EINVAL, permit).await;
                return Ok(());
            }
            let guard = shared.tracker.start(seq);
            let shared = shared.clone();
            tokio::spawn(async move {
                shared.tracker.wait_before(seq).await;
                let export = Arc::clone(&shared.export);
                let error = tokio::task::spawn_blocking(move || errno_of(export.flush()))
                    .await
                    .unwrap_or(NBD_EIO);
                shared.reject(handle, error, permit).await;
                drop(guard);
            });
        }
        Command::Trim => {
            let error = check.mutation(NBD_CMD_FLAG_FUA, NBD_EINVAL);
            if error != 0 {
                shared.reject(handle, error, permit).await;
                return Ok(());
            }
            shared.run_blocking(seq, handle, permit, move |s| {
                let mut error = errno_of(s.export.trim(offset, len));
                if error == 0 && fua {
                    error = errno_of(s.export.flush());
                }
                (error, None)
            });
        }
        Command::WriteZeroes => {
            let no_hole = flags & NBD_CMD_FLAG_NO_HOLE != 0;
            let error = check.mutation(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE, NBD_ENOSPC);
            if error != 0 {
                shared.reject(handle, error, permit).await;
                return Ok(());
            }
            shared.run_blocking(seq, handle, permit, move |s| {
                (
                    errno_of(s.export.write_zeroes(offset, len, fua, no_hole)),
                    None,
                )
            });
        }
        Command::Disconnect | Command::Unknown(_) => {
            shared.reject(handle, NBD_EINVAL, permit).await;
        }
    }
    Ok(())
}

/// What decides whether a request may reach the export, per the spec's error rules.
struct Validity {
    flags: u16,
    read_only: bool,
    in_range: bool,
}

impl Validity {
    /// The error for a read (unknown flags or past the end: `EINVAL`), or 0.
    fn read(&self) -> u32 {
        if self.flags & !NBD_CMD_FLAG_FUA != 0 || !self.in_range {
            NBD_EINVAL
        } else {
            0
        }
    }

    /// The error for a request that changes data, or 0: unknown flags `EINVAL`, read-only
    /// `EPERM`, past the end `past_end` (`ENOSPC` for writes, `EINVAL` for trims).
    fn mutation(&self, allowed_flags: u16, past_end: u32) -> u32 {
        if self.flags & !allowed_flags != 0 {
            NBD_EINVAL
        } else if self.read_only {
            NBD_EPERM
        } else if !self.in_range {
            past_end
        } else {
            0
        }
    }
}

fn len_usize(len_bytes: u32) -> usize {
    // u32 always fits in usize on the 64-bit targets this crate supports.
    usize::try_from(len_bytes).unwrap_or(usize::MAX)
}

/// The single writer of a connection: sends replies as they complete and flushes the socket
/// whenever no further reply is immediately ready.
async fn write_replies<W: AsyncWrite + Unpin>(
    writer: W,
    mut replies: mpsc::Receiver<Reply>,
    pool: Arc<BufferPool>,
    stats: Arc<ServerStats>,
    failed: CancellationToken,
) {
    let mut writer = tokio::io::BufWriter::with_capacity(64 * 1024, writer);
    let result: std::io::Result<()> = async {
        while let Some(mut reply) = replies.recv().await {
            loop {
                if reply.error != 0 {
                    stats.error_replies_total.fetch_add(1, Ordering::Relaxed);
                }
                let header = SimpleReply {
                    error: reply.error,
                    handle: reply.handle,
                }
                .encode();
                debug_assert_eq!(header.len(), SIMPLE_REPLY_LEN);
                writer.write_all(&header).await?;
                if let Some(data) = reply.data.take() {
                    writer.write_all(&data).await?;
                    pool.give(data);
                }
                drop(reply);
                match replies.try_recv() {
                    Ok(next) => reply = next,
                    Err(_) => break,
                }
            }
            writer.flush().await?;
        }
        writer.shutdown().await
    }
    .await;
    if let Err(error) = result {
        tracing::debug!("nbd reply writer stopped: {error}");
        failed.cancel();
    }
}
