//! The fio driver of `strata demo`: one fio process per server, one job per volume over
//! fio's nbd engine (`workload::Profile::fio_job`), every request's total latency logged
//! (`write_lat_log`, no averaging) and read back into the same samples the built-in
//! driver produces.

use super::latency::Sample;
use super::workload::Profile;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Whether `fio` is on PATH and has the nbd engine.
pub fn available() -> bool {
    Command::new("fio")
        .arg("--enghelp=nbd")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A running fio over one server's volumes.
#[derive(Debug)]
pub struct FioRun {
    /// `None` once `finish` has reaped it.
    child: Option<Child>,
    dir: PathBuf,
    names: Vec<&'static str>,
}

impl FioRun {
    /// Writes the job file into `dir` and starts fio on it.
    pub fn start(
        nbd: SocketAddr,
        profiles: &[Profile],
        runtime_s: u64,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut jobs = String::from("[global]\ngroup_reporting=0\n\n");
        for p in profiles {
            let prefix = dir.join(p.name);
            jobs.push_str(&p.fio_job(
                &format!("nbd://{nbd}/{}", p.name),
                runtime_s,
                &prefix.to_string_lossy(),
            ));
            jobs.push('\n');
        }
        let job_file = dir.join("demo.fio");
        std::fs::write(&job_file, jobs)?;
        let child = Command::new("fio")
            .arg("--output-format=json")
            .arg(format!("--output={}", dir.join("fio.json").display()))
            .arg(&job_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting fio")?;
        Ok(Self {
            child: Some(child),
            dir: dir.to_path_buf(),
            names: profiles.iter().map(|p| p.name).collect(),
        })
    }

    /// Stops fio early (SIGINT, as Ctrl-C would) and reaps it.
    pub fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: signalling our own child, which we have not reaped.
                unsafe { libc::kill(pid, libc::SIGINT) };
            }
            child.wait().ok();
        }
    }

    /// Waits for fio and reads every request's latency from its logs.
    pub fn finish(mut self) -> anyhow::Result<Vec<Sample>> {
        let out = self
            .child
            .take()
            .context("fio was already reaped")?
            .wait_with_output()?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "fio failed ({}): {}",
                out.status,
                stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
            );
        }
        let mut samples = Vec::new();
        for (volume, name) in self.names.iter().enumerate() {
            for log in lat_logs(&self.dir, name)? {
                let text = std::fs::read_to_string(&log)
                    .with_context(|| format!("reading fio log {}", log.display()))?;
                samples.extend(
                    parse_lat_log(&text, volume)
                        .with_context(|| format!("fio log {}", log.display()))?,
                );
            }
        }
        if samples.is_empty() {
            bail!("fio completed no requests (no latency logged)");
        }
        samples.sort_by_key(|s| s.at_ms);
        Ok(samples)
    }
}

impl Drop for FioRun {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child
            && matches!(child.try_wait(), Ok(None))
        {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// `<dir>/<name>_lat.<n>.log`: fio numbers the log by job.
fn lat_logs(dir: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let prefix = format!("{name}_lat.");
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        if file.starts_with(&prefix) && file.ends_with(".log") {
            logs.push(path);
        }
    }
    Ok(logs)
}

/// fio's latency log: `time_ms, latency_ns, direction (0 read, 1 write, 2 trim), bs, …`.
fn parse_lat_log(text: &str, volume: usize) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(',').map(str::trim);
        let mut next = |what: &str| -> anyhow::Result<u64> {
            fields
                .next()
                .and_then(|f| f.parse().ok())
                .with_context(|| format!("line {}: no {what} in {line:?}", n + 1))
        };
        let at_ms = next("time")?;
        let latency_ns = next("latency")?;
        let direction = next("direction")?;
        if direction > 1 {
            continue;
        }
        samples.push(Sample {
            at_ms,
            latency_us: latency_ns as f64 / 1e3,
            read: direction == 0,
            volume,
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lat_log_lines_become_samples() {
        let text = "12, 81234, 0, 8192, 0\n13, 4000000, 1, 8192, 0\n14, 5, 2, 4096, 0\n\n";
        let samples = parse_lat_log(text, 2).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].at_ms, 12);
        assert!((samples[0].latency_us - 81.234).abs() < 1e-9);
        assert!(samples[0].read && !samples[1].read);
        assert_eq!(samples[1].volume, 2);
        let err = parse_lat_log("12, x, 0\n", 0).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
