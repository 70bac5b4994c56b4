//! A throwaway single-member etcd on free loopback ports with a temporary data directory,
//! for tests and benchmarks of the etcd backend. It is killed when dropped.

use crate::{EtcdStore, MetaError, MetaErrorKind};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh etcd may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A running `etcd` child process; dropping it kills the process and removes its data.
#[derive(Debug)]
pub struct EtcdServer {
    child: Child,
    client_url: String,
    _data_dir: tempfile::TempDir,
}

fn start_error(message: impl Into<String>) -> MetaError {
    MetaError::new(MetaErrorKind::Unavailable, "start etcd", message)
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, MetaError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| start_error("binding a probe port").with_source(e))?;
    let port = listener
        .local_addr()
        .map_err(|e| start_error("reading the probe port").with_source(e))?
        .port();
    Ok(port)
}

impl EtcdServer {
    /// Starts `etcd` (from `PATH`, Debian's `etcd-server`) and waits until it answers.
    /// Fails, rather than skipping, when etcd is missing.
    pub fn start() -> Result<Self, MetaError> {
        let data_dir = tempfile::tempdir()
            .map_err(|e| start_error("creating the data directory").with_source(e))?;
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let child = Command::new("etcd")
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            // Benchmarks and conformance batches exceed etcd's default of 128 ops per txn.
            .args(["--max-txn-ops", "100000"])
            .args(["--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                start_error("running `etcd` (install the etcd-server package)").with_source(e)
            })?;
        let mut server = Self {
            child,
            client_url,
            _data_dir: data_dir,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Polls the client port until etcd answers a read, or fails at the deadline.
    fn wait_until_ready(&mut self) -> Result<(), MetaError> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(start_error(format!("etcd exited at start: {status}")));
            }
            match EtcdStore::connect(&self.endpoints()) {
                Ok(_) => return Ok(()),
                Err(err) if Instant::now() >= deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The client URL, `http://127.0.0.1:PORT`.
    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    /// The endpoints to pass to [`EtcdStore::connect`].
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.client_url.clone()]
    }

    /// A new client of this server.
    pub fn connect(&self) -> Result<EtcdStore, MetaError> {
        EtcdStore::connect(&self.endpoints())
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // The process may already be gone; nothing else to do then.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
