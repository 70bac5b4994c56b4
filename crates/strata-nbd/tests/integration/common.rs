//! Shared fixture of the integration tests: an in-memory export with hooks to observe and
//! hold requests, a provider, a server on TCP and a Unix socket, a raw-socket helper and a
//! runner for external tools.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use strata_nbd::proto::{
    self, InfoRequest, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_OPT_GO, NBD_REP_ACK,
    OPTION_REPLY_HEADER_LEN, OptionHeader, OptionReplyHeader,
};
use strata_nbd::{ClientInfo, Export, ExportProvider, NbdServer, ServerConfig, ServerStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const MIB: usize = 1024 * 1024;
/// How long any wait in these tests may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A `Vec<u8>` behind a lock, plus counters and an optional hold on writes.
#[derive(Debug, Default)]
pub struct MemExport {
    pub data: RwLock<Vec<u8>>,
    pub read_only: bool,
    pub description: String,
    pub flushes: AtomicU64,
    /// Writes running right now, and the most ever seen at once.
    pub writes_inflight: AtomicUsize,
    pub max_writes_inflight: AtomicUsize,
    /// A flush was called while a write was still running.
    pub flush_overlapped_write: AtomicBool,
    hold: Mutex<Option<Hold>>,
    hold_changed: Condvar,
}

/// What a held write waits for before it proceeds.
#[derive(Debug, Clone)]
pub enum Hold {
    /// Until this many writes run at once (then the hold opens for good).
    Concurrency(usize),
    /// Until the server has received this many requests.
    Requests(Arc<ServerStats>, u64),
    /// Until the test calls [`MemExport::release`].
    Manual,
}

impl MemExport {
    pub fn new(size_bytes: usize) -> Self {
        Self {
            data: RwLock::new(vec![0; size_bytes]),
            ..Self::default()
        }
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn described(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    pub fn hold_writes(&self, hold: Hold) {
        *self.hold.lock() = Some(hold);
    }

    pub fn release(&self) {
        *self.hold.lock() = None;
        self.hold_changed.notify_all();
    }

    fn wait_for_hold(&self) {
        let deadline = Instant::now() + DEADLINE;
        let mut hold = self.hold.lock();
        loop {
            let open = match &*hold {
                None => true,
                Some(Hold::Concurrency(n)) => self.writes_inflight.load(Ordering::SeqCst) >= *n,
                Some(Hold::Requests(stats, n)) => stats.requests_total.load(Ordering::SeqCst) >= *n,
                Some(Hold::Manual) => false,
            };
            if open {
                *hold = None;
                self.hold_changed.notify_all();
                return;
            }
            if Instant::now() >= deadline {
                return;
            }
            // Short timeouts: request counts change without anyone notifying this condvar.
            self.hold_changed
                .wait_for(&mut hold, Duration::from_millis(2));
        }
    }

    fn range(&self, offset: u64, len: u64) -> io::Result<std::ops::Range<usize>> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start
            .checked_add(usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?)
            .ok_or(io::ErrorKind::InvalidInput)?;
        if end > self.data.read().len() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        Ok(start..end)
    }
}

impl Export for MemExport {
    fn size_bytes(&self) -> u64 {
        self.data.read().len() as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let range = self.range(offset, buf.len() as u64)?;
        buf.copy_from_slice(&self.data.read()[range]);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8], _fua: bool) -> io::Result<()> {
        let now = self.writes_inflight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_writes_inflight.fetch_max(now, Ordering::SeqCst);
        self.hold_changed.notify_all();
        self.wait_for_hold();
        let result = self.range(offset, data.len() as u64).map(|range| {
            self.data.write()[range].copy_from_slice(data);
        });
        self.writes_inflight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn flush(&self) -> io::Result<()> {
        if self.writes_inflight.load(Ordering::SeqCst) > 0 {
            self.flush_overlapped_write.store(true, Ordering::SeqCst);
        }
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        let range = self.range(offset, len)?;
        self.data.write()[range].fill(0);
        Ok(())
    }

    fn write_zeroes(&self, offset: u64, len: u64, _fua: bool, _no_hole: bool) -> io::Result<()> {
        self.trim(offset, len)
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn description(&self) -> String {
        self.description.clone()
    }
}

/// An export whose every operation fails with a fixed error.
#[derive(Debug)]
pub struct FailingExport(pub fn() -> io::Error);

impl Export for FailingExport {
    fn size_bytes(&self) -> u64 {
        1 << 20
    }
    fn read(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
        Err((self.0)())
    }
    fn write(&self, _: u64, _: &[u8], _: bool) -> io::Result<()> {
        Err((self.0)())
    }
    fn flush(&self) -> io::Result<()> {
        Err((self.0)())
    }
    fn trim(&self, _: u64, _: u64) -> io::Result<()> {
        Err((self.0)())
    }
    fn write_zeroes(&self, _: u64, _: u64, _: bool, _: bool) -> io::Result<()> {
        Err((self.0)())
    }
}

/// Exports by name.
#[derive(Default)]
pub struct Provider {
    pub exports: BTreeMap<String, Arc<dyn Export>>,
}

impl Provider {
    pub fn with(mut self, name: &str, export: Arc<dyn Export>) -> Self {
        self.exports.insert(name.to_owned(), export);
        self
    }
}

impl ExportProvider for Provider {
    fn list(&self, _client: &ClientInfo) -> Vec<String> {
        self.exports.keys().cloned().collect()
    }

    fn open(&self, name: &str, _client: &ClientInfo) -> Option<Arc<dyn Export>> {
        self.exports.get(name).cloned()
    }
}

/// A server listening on 127.0.0.1:0 and on a Unix socket in a temp dir.
pub struct TestServer {
    pub addr: SocketAddr,
    pub socket_path: PathBuf,
    pub stats: Arc<ServerStats>,
    pub shutdown: CancellationToken,
    tcp: JoinHandle<io::Result<()>>,
    unix: JoinHandle<io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(provider: Provider) -> Self {
        Self::start_with(provider, ServerConfig::default()).await
    }

    pub async fn start_with(provider: Provider, config: ServerConfig) -> Self {
        Self::start_server(NbdServer::new(Arc::new(provider), config)).await
    }

    /// Serves an already-built server (e.g. one with TLS).
    pub async fn start_server(server: NbdServer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("nbd.sock");
        let unix_listener = tokio::net::UnixListener::bind(&socket_path).unwrap();
        let shutdown = CancellationToken::new();
        let tcp = tokio::spawn({
            let server = server.clone();
            let shutdown = shutdown.clone();
            async move { server.serve_tcp(listener, shutdown).await }
        });
        let unix = tokio::spawn({
            let server = server.clone();
            let shutdown = shutdown.clone();
            async move { server.serve_unix(unix_listener, shutdown).await }
        });
        Self {
            addr,
            socket_path,
            stats: server.stats(),
            shutdown,
            tcp,
            unix,
            _dir: dir,
        }
    }

    pub fn uri(&self, export: &str) -> String {
        format!("nbd://{}/{export}", self.addr)
    }

    pub fn unix_uri(&self, export: &str) -> String {
        format!("nbd+unix:///{export}?socket={}", self.socket_path.display())
    }

    /// Cancels and waits (bounded) for both accept loops and all connections to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let both = async {
            self.tcp.await.unwrap().unwrap();
            self.unix.await.unwrap().unwrap();
        };
        tokio::time::timeout(DEADLINE, both)
            .await
            .expect("server did not shut down");
    }

    /// Waits until no connection is open.
    pub async fn wait_idle(&self) {
        wait_until(|| self.stats.connections_open.load(Ordering::SeqCst) == 0).await;
    }
}

/// Polls `condition` until it holds, failing the test after [`DEADLINE`].
pub async fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "condition not reached before the deadline"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs an external tool; a missing tool fails the test.
pub async fn run_tool(program: &str, args: Vec<String>) -> Output {
    let program = program.to_owned();
    let shown = format!("{program} {}", args.join(" "));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&program).args(&args).output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run {shown} (is it installed?): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown} failed: {text}");
    output
}

pub fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A raw TCP connection driven byte by byte, for malformed-input tests.
pub struct RawConn {
    pub stream: TcpStream,
}

impl RawConn {
    /// Connects and completes greeting and client flags (fixed newstyle, no zeroes).
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::connect_with_flags(addr, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES).await
    }

    pub async fn connect_with_flags(addr: SocketAddr, client_flags: u32) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut greeting = [0u8; proto::GREETING_LEN];
        stream.read_exact(&mut greeting).await.unwrap();
        proto::decode_greeting(&greeting).unwrap();
        stream.write_all(&client_flags.to_be_bytes()).await.unwrap();
        Self { stream }
    }

    pub async fn send_option(&mut self, option: u32, payload: &[u8]) {
        let header = OptionHeader {
            option,
            len_bytes: payload.len() as u32,
        };
        self.stream.write_all(&header.encode()).await.unwrap();
        self.stream.write_all(payload).await.unwrap();
    }

    pub async fn option_reply(&mut self) -> (OptionReplyHeader, Vec<u8>) {
        let mut header = [0u8; OPTION_REPLY_HEADER_LEN];
        self.stream.read_exact(&mut header).await.unwrap();
        let header = OptionReplyHeader::decode(&header).unwrap();
        let mut body = vec![0u8; header.len_bytes as usize];
        self.stream.read_exact(&mut body).await.unwrap();
        (header, body)
    }

    /// Sends `NBD_OPT_GO` and reads replies up to the ACK.
    pub async fn go(&mut self, name: &str) {
        let request = InfoRequest {
            name: name.to_owned(),
            info_types: vec![],
        };
        self.send_option(NBD_OPT_GO, &request.encode()).await;
        loop {
            let (header, _) = self.option_reply().await;
            assert!(
                !proto::is_error_reply(header.reply_type),
                "GO refused: {header:?}"
            );
            if header.reply_type == NBD_REP_ACK {
                return;
            }
        }
    }

    pub async fn send_request(&mut self, request: proto::Request, payload: &[u8]) {
        self.stream.write_all(&request.encode()).await.unwrap();
        self.stream.write_all(payload).await.unwrap();
    }

    pub async fn simple_reply(&mut self) -> proto::SimpleReply {
        let mut reply = [0u8; proto::SIMPLE_REPLY_LEN];
        tokio::time::timeout(DEADLINE, self.stream.read_exact(&mut reply))
            .await
            .expect("no reply before the deadline")
            .unwrap();
        proto::SimpleReply::decode(&reply).unwrap()
    }

    /// True once the server has closed the connection (EOF or reset), within the deadline.
    pub async fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 256];
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}
