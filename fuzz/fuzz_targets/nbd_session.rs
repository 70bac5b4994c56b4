//! Fuzzes a whole NBD server session: arbitrary client bytes (handshake, options, then
//! transmission requests and payloads) go through `NbdServer::serve_connection` over an
//! in-memory duplex against small in-memory exports, while everything the server sends is
//! drained. The session must end on its own once the client's bytes run out (a hang is a
//! finding, bounded by a deadline), the exports must only ever see ranges inside them (they
//! index their buffer directly, so a missed bounds check panics), and the connection
//! counter must return to zero.

#![no_main]

use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use strata_nbd::{ClientInfo, Export, ExportProvider, NbdServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const EXPORT_BYTES: usize = 256 << 10;
/// Far longer than any session over a few KiB of input needs; past it the server hung.
const SESSION_DEADLINE: Duration = Duration::from_secs(20);

/// A byte range in memory that trusts the server's bounds checks (slicing panics if not).
#[derive(Debug)]
struct MemoryExport {
    bytes: Mutex<Vec<u8>>,
    read_only: bool,
}

impl MemoryExport {
    fn range(offset: u64, len: u64) -> std::ops::Range<usize> {
        let start = usize::try_from(offset).expect("offset fits usize");
        let len = usize::try_from(len).expect("length fits usize");
        start..start + len
    }

    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.bytes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Export for MemoryExport {
    fn size_bytes(&self) -> u64 {
        EXPORT_BYTES as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        buf.copy_from_slice(&self.bytes()[Self::range(offset, buf.len() as u64)]);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8], _fua: bool) -> io::Result<()> {
        assert!(!self.read_only, "write reached a read-only export");
        self.bytes()[Self::range(offset, data.len() as u64)].copy_from_slice(data);
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        assert!(!self.read_only, "trim reached a read-only export");
        self.bytes()[Self::range(offset, len)].fill(0);
        Ok(())
    }

    fn write_zeroes(&self, offset: u64, len: u64, _fua: bool, _no_hole: bool) -> io::Result<()> {
        assert!(!self.read_only, "write-zeroes reached a read-only export");
        self.bytes()[Self::range(offset, len)].fill(0);
        Ok(())
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn description(&self) -> String {
        "fuzz export".into()
    }
}

/// Two exports: `fuzz` (read-write) and `ro` (read-only), fresh for every session.
#[derive(Debug)]
struct Provider {
    rw: Arc<MemoryExport>,
    ro: Arc<MemoryExport>,
}

impl ExportProvider for Provider {
    fn list(&self, _client: &ClientInfo) -> Vec<String> {
        vec!["fuzz".into(), "ro".into()]
    }

    fn open(&self, name: &str, _client: &ClientInfo) -> Option<Arc<dyn Export>> {
        match name {
            "fuzz" => Some(self.rw.clone()),
            "ro" => Some(self.ro.clone()),
            _ => None,
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime")
    })
}

fn export(read_only: bool) -> Arc<MemoryExport> {
    Arc::new(MemoryExport {
        bytes: Mutex::new(vec![0; EXPORT_BYTES]),
        read_only,
    })
}

fuzz_target!(|data: &[u8]| {
    let provider = Arc::new(Provider {
        rw: export(false),
        ro: export(true),
    });
    let server = NbdServer::new(provider, ServerConfig::default());
    runtime().block_on(async {
        let (client, server_end) = tokio::io::duplex(64 << 10);
        let (server_reader, server_writer) = tokio::io::split(server_end);
        let (mut client_reader, mut client_writer) = tokio::io::split(client);
        let serve = server.serve_connection(
            server_reader,
            server_writer,
            ClientInfo::Unix,
            CancellationToken::new(),
        );
        let send = async move {
            // The server may close first (protocol error): a broken pipe is expected then.
            let _ = client_writer.write_all(data).await;
            let _ = client_writer.shutdown().await;
        };
        let drain = async move {
            let mut replies = Vec::new();
            let _ = client_reader.read_to_end(&mut replies).await;
        };
        let session = async { tokio::join!(serve, send, drain) };
        assert!(
            tokio::time::timeout(SESSION_DEADLINE, session)
                .await
                .is_ok(),
            "the session did not end after the client's bytes ran out"
        );
    });
    assert_eq!(server.stats().snapshot().connections_open, 0);
});
