//! A real `strata serve` child process for integration tests, with the helpers the
//! scenarios share: start/stop/kill, the CLI against it, and running external NBD clients.

#![allow(
    dead_code,
    reason = "each test file uses a different subset of the helpers"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Small tiers, so tests run on any disk; emulation off unless a test turns it on.
pub const TEST_CONFIG: &str = r#"
emulation = false
[[tier]]
kind = "nvme"
capacity = "64M"
[[tier]]
kind = "ssd"
capacity = "128M"
[[tier]]
kind = "hdd"
capacity = "512M"
"#;

pub struct Server {
    child: Option<Child>,
    pub nbd: SocketAddr,
    pub api: SocketAddr,
    pub data_dir: PathBuf,
    config_path: PathBuf,
    extra_args: Vec<String>,
    /// Set for a server whose API is HTTPS (`[tls] api = true`): the CA the CLI trusts.
    api_ca: Option<PathBuf>,
    /// Bearer token the CLI sends (`STRATA_API_TOKEN`).
    api_token: Option<String>,
}

impl Server {
    /// Starts a server on free loopback ports with `config` in `dir`.
    pub fn start(dir: &Path, config: &str) -> Server {
        Self::start_with_args(dir, config, &[])
    }

    pub fn start_with_args(dir: &Path, config: &str, extra_args: &[&str]) -> Server {
        let config_path = dir.join("strata.toml");
        std::fs::write(&config_path, config).expect("write config");
        let data_dir = dir.join("data");
        let extra_args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        let (child, nbd, api) = spawn(&config_path, &data_dir, &extra_args);
        Server {
            child: Some(child),
            nbd,
            api,
            data_dir,
            config_path,
            extra_args,
            api_ca: None,
            api_token: None,
        }
    }

    /// The API is HTTPS with a certificate signed by `ca`: `api_url` says `https://` and
    /// the CLI gets `--api-ca`.
    pub fn with_api_ca(mut self, ca: &Path) -> Self {
        self.api_ca = Some(ca.to_path_buf());
        self
    }

    /// The CLI sends `token` as `STRATA_API_TOKEN`.
    pub fn with_api_token(mut self, token: &str) -> Self {
        self.api_token = Some(token.to_owned());
        self
    }

    /// Restarts on the same data dir (new ports).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        let (child, nbd, api) = spawn(&self.config_path, &self.data_dir, &self.extra_args);
        self.child = Some(child);
        self.nbd = nbd;
        self.api = api;
    }

    pub fn uri(&self, volume: &str) -> String {
        format!("nbd://{}/{volume}", self.nbd)
    }

    pub fn api_url(&self) -> String {
        let scheme = if self.api_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.api)
    }

    /// Runs the `strata` CLI against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(["--api", &self.api_url()]);
        if let Some(ca) = &self.api_ca {
            cmd.arg("--api-ca").arg(ca);
        }
        if let Some(token) = &self.api_token {
            cmd.env("STRATA_API_TOKEN", token);
        }
        cmd.args(args).output().expect("run strata CLI")
    }

    /// `GET path` on this server's plain-HTTP API; anything but 200 fails the test.
    pub fn get_text(&self, path: &str) -> String {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.api_url());
        let mut resp = agent.get(&url).call().expect("GET");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("body");
        assert_eq!(status, 200, "GET {url}: {body}");
        body
    }

    /// `GET path`, parsed as JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let body = self.get_text(path);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// The server's `/metrics` exposition.
    pub fn metrics(&self) -> String {
        self.get_text("/metrics")
    }

    pub fn create_volume(&self, name: &str, size: &str) {
        let out = self.cli(&["volume", "create", name, "--size", size]);
        assert_success("strata volume create", &out);
    }

    /// SIGTERM, then waits; the server must exit 0.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("server running");
        signal(&child, libc::SIGTERM);
        let status = wait_timeout(&mut child, Duration::from_secs(60));
        assert_eq!(status, Some(0), "graceful shutdown must exit 0");
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("server running");
        child.kill().expect("kill server");
        child.wait().expect("reap server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

fn spawn(config: &Path, data_dir: &Path, extra: &[String]) -> (Child, SocketAddr, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--nbd-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
        .args(extra)
        .env("STRATA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn strata serve");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("ready") {
                tx.send(line).ok();
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server printed no ready line within 60 s");
    let field = |key: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("ready line {line:?} lacks {key}"))
    };
    let (nbd, api) = (field("nbd="), field("api="));
    (child, nbd, api)
}

pub fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    // SAFETY: sending a signal to our own child process, whose pid we hold.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Waits for exit up to `limit`; returns the exit code, or None if it did not exit.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of the one sample whose line, up to the value, is exactly `series` (a name,
/// with its labels if it has any), in a Prometheus exposition.
pub fn metric_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Sum of every sample of `family`, whatever its labels, in a Prometheus exposition.
pub fn metric_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("bad sample {l:?}"))
        })
        .sum()
}

pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `qemu-io` on `uri` with one `-c` per command; fails the test on any error,
/// including a pattern mismatch (qemu-io reports those on stdout with status 0).
pub fn qemu_io(uri: &str, commands: &[&str]) -> String {
    let mut cmd = Command::new("qemu-io");
    cmd.args(["-f", "raw"]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd
        .arg(uri)
        .output()
        .expect("qemu-io must be installed (.ci/run installs qemu-utils)");
    assert_success(&format!("qemu-io {commands:?}"), &out);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for text in [stdout.as_str(), &*stderr] {
        assert!(
            !text.contains("Pattern verification failed") && !text.contains("failed:"),
            "qemu-io {commands:?} reported an error:\n{text}"
        );
    }
    stdout
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
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
