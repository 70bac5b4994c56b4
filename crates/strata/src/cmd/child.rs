//! A `strata serve` child process, for the commands that drive a server of their own
//! (`strata torture`, `strata bench nbd`, `strata demo`): start it on free loopback ports,
//! read its addresses from the `ready` line, create volumes through its API, stop or kill it.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `strata serve`; killed on drop if still running.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    pub nbd: SocketAddr,
    pub api: SocketAddr,
}

impl ChildServer {
    /// Starts `strata serve --config CONFIG --data-dir DATA_DIR` and waits for `ready`.
    pub fn start(config: &Path, data_dir: &Path, log_level: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--nbd-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
            .env("STRATA_LOG", log_level)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting strata serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        if !line.contains("ready") {
            child.kill().ok();
            child.wait().ok();
            bail!("strata serve did not become ready (printed {line:?})");
        }
        let field = |key: &str| -> anyhow::Result<SocketAddr> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .context("ready line lacks an address")?
                .parse()
                .context("bad address in ready line")
        };
        Ok(Self {
            nbd: field("nbd=")?,
            api: field("api=")?,
            child,
        })
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    /// `POST /v1/volumes` with `body`.
    pub fn create_volume(&self, body: &serde_json::Value) -> anyhow::Result<()> {
        let client = crate::api_client::ApiClient::new(&format!("http://{}", self.api));
        let _: serde_json::Value = client.post("/v1/volumes", body)?;
        Ok(())
    }

    /// SIGKILL (if still running) and reap.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// SIGTERM and wait; the server must exit 0.
    pub fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child, whose pid we hold and have not reaped.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!("strata serve exited with {status} after SIGTERM");
        }
        Ok(())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
