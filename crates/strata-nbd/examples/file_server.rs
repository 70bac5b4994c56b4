//! Serves one file as the NBD export `file` on a TCP address, for manual benchmarks against
//! qemu-nbd: `cargo run --release -p strata-nbd --example file_server -- IMAGE 127.0.0.1:10811`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use strata_nbd::{ClientInfo, Export, ExportProvider, NbdServer, ServerConfig};
use tokio_util::sync::CancellationToken;

struct FileExport {
    file: File,
    size_bytes: u64,
}

impl Export for FileExport {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn write(&self, offset: u64, data: &[u8], fua: bool) -> io::Result<()> {
        self.file.write_all_at(data, offset)?;
        if fua { self.file.sync_data() } else { Ok(()) }
    }
    fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn trim(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
    fn write_zeroes(&self, offset: u64, len: u64, fua: bool, _no_hole: bool) -> io::Result<()> {
        let zeroes = vec![0u8; usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?];
        self.write(offset, &zeroes, fua)
    }
}

struct OneFile(Arc<FileExport>);

impl ExportProvider for OneFile {
    fn list(&self, _client: &ClientInfo) -> Vec<String> {
        vec!["file".to_owned()]
    }
    fn open(&self, name: &str, _client: &ClientInfo) -> Option<Arc<dyn Export>> {
        (name == "file" || name.is_empty()).then(|| Arc::clone(&self.0) as Arc<dyn Export>)
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(addr)) = (args.next(), args.next()) else {
        eprintln!("usage: file_server IMAGE ADDR");
        std::process::exit(2);
    };
    let file = File::options().read(true).write(true).open(&path)?;
    let size_bytes = file.metadata()?.len();
    let provider = Arc::new(OneFile(Arc::new(FileExport { file, size_bytes })));
    let server = NbdServer::new(provider, ServerConfig::default());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ready nbd://{}/file", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    server.serve_tcp(listener, shutdown).await
}
