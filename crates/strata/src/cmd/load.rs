//! `strata bench load`: the load run of issue 9. A child `strata serve` (embedded default,
//! emulation on unless told otherwise), N volumes, and one fio process with 4 jobs per volume
//! — one NBD connection each — on disjoint quarters of the volume: 4 KiB random writes and
//! 64 KiB sequential writes, both checked with `verify=crc32c` as they go
//! (`verify_backlog`), 16 KiB random writes verified the same way, and 4 KiB random reads
//! over the sequential writer's quarter. The server's RSS is sampled from `/proc` during the
//! run; afterwards its health and NBD error counters are checked. With `--peer qemu-nbd` the
//! same fio run is then repeated against one `qemu-nbd` per volume (raw sparse files), whose
//! summed RSS and IOPS give the ratios.

use super::bench::QemuNbd;
use super::child::ChildServer;
use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Seconds of fio load (`STRATA_LOAD_SECONDS` lets a soak run longer).
    #[arg(long, env = "STRATA_LOAD_SECONDS", default_value_t = 60)]
    duration: u32,
    /// Volumes; each gets 4 jobs, so 4 × this many NBD connections.
    #[arg(long, default_value_t = 16)]
    volumes: u32,
    /// Size of each volume (a multiple of 4M).
    #[arg(long, default_value = "256M")]
    volume_size: String,
    /// Device-model emulation of the tiers' speeds.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    emulation: String,
    /// Directory for the child server's data (its tiers are sparse files).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Also run the same load against one `qemu-nbd` per volume, for ratios.
    #[arg(long, default_value = "none", value_parser = ["none", "qemu-nbd"])]
    peer: String,
    /// Print one JSON document instead of a summary.
    #[arg(long)]
    json: bool,
}

/// One job of the mix, run on every volume.
struct JobKind {
    name: &'static str,
    /// Which quarter of the volume it works on.
    quarter: u64,
    args: &'static [&'static str],
}

const JOBS_PER_VOLUME: u32 = 4;
const MIX: [JobKind; JOBS_PER_VOLUME as usize] = [
    JobKind {
        name: "randwrite-4k",
        quarter: 0,
        args: &["--rw=randwrite", "--bs=4k", "--iodepth=4"],
    },
    JobKind {
        name: "seqwrite-64k",
        quarter: 1,
        args: &["--rw=write", "--bs=64k", "--iodepth=2"],
    },
    JobKind {
        name: "randwrite-16k",
        quarter: 2,
        args: &["--rw=randwrite", "--bs=16k", "--iodepth=2"],
    },
    // Reads the sequential writer's quarter: no verify of its own (the data moves under it),
    // but it puts reads of written extents into the mix.
    JobKind {
        name: "randread-4k",
        quarter: 1,
        args: &["--rw=randread", "--bs=4k", "--iodepth=4"],
    },
];

/// The result, also the `--json` document.
#[derive(Debug, Serialize)]
struct LoadReport {
    duration_s: u32,
    volumes: u32,
    connections: u32,
    emulation: bool,
    read_iops: f64,
    write_iops: f64,
    read_mb_per_s: f64,
    write_mb_per_s: f64,
    written_bytes: u64,
    /// Bytes the writers read back and checked (crc32c).
    verified_bytes: u64,
    /// fio jobs that ended with an error (a failed verify is one).
    fio_errors: u64,
    fio_exit_code: Option<i32>,
    /// NBD error replies and protocol errors counted by the server.
    server_errors: u64,
    healthy_after: bool,
    peak_rss_bytes: u64,
    rss_after_bytes: u64,
    rss_samples: usize,
    /// The same fio run against `qemu-nbd`, when `--peer qemu-nbd`.
    peer: Option<PeerReport>,
}

#[derive(Debug, Serialize)]
struct PeerReport {
    name: &'static str,
    read_iops: f64,
    write_iops: f64,
    fio_errors: u64,
    /// Peak of the summed RSS of all peer processes.
    peak_rss_bytes: u64,
    strata_vs_peer_write_iops: f64,
    strata_vs_peer_read_iops: f64,
    strata_vs_peer_peak_rss: f64,
}

/// Samples the summed `VmRSS` of `pids` every 250 ms until [`RssSampler::finish`].
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<usize>,
}

impl RssSampler {
    fn start(pids: Vec<i32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            std::thread::spawn(move || {
                let mut samples = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let total: u64 = pids
                        .iter()
                        .filter_map(|&pid| proc_status_bytes(pid, "VmRSS:"))
                        .sum();
                    if total > 0 {
                        peak.fetch_max(total, Ordering::Relaxed);
                        samples += 1;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                samples
            })
        };
        Self { stop, peak, thread }
    }

    /// Stops sampling; returns (peak bytes, samples taken).
    fn finish(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.thread.join().unwrap_or(0);
        (self.peak.load(Ordering::Relaxed), samples)
    }
}

pub fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.duration == 0 || args.volumes == 0 {
        bail!("--duration and --volumes must be positive");
    }
    let volume_bytes = strata_core::parse_size(&args.volume_size)?;
    if volume_bytes < (4 << 20) || volume_bytes % (4 << 20) != 0 {
        bail!("--volume-size must be a multiple of 4M");
    }
    std::fs::create_dir_all(&args.dir)?;
    let work = tempfile::Builder::new()
        .prefix("strata-load-")
        .tempdir_in(&args.dir)
        .with_context(|| format!("cannot create a work dir in {}", args.dir.display()))?;
    let emulation = args.emulation == "on";
    let config = work.path().join("strata.toml");
    std::fs::write(&config, format!("emulation = {emulation}\n"))?;
    let server = ChildServer::start(&config, &work.path().join("data"), "warn")?;
    for v in 0..args.volumes {
        server.create_volume(
            &serde_json::json!({"name": format!("load{v}"), "size": volume_bytes}),
        )?;
    }

    let uris: Vec<String> = (0..args.volumes)
        .map(|v| format!("nbd://{}/load{v}", server.nbd))
        .collect();
    let sampler = RssSampler::start(vec![server.pid()]);
    let fio = run_fio(&uris, volume_bytes, args.duration);
    let (sampled_peak, rss_samples) = sampler.finish();
    let fio = fio?;
    // The kernel's high-water mark catches a peak between two samples.
    let hwm = proc_status_bytes(server.pid(), "VmHWM:").unwrap_or(0);
    let peak_rss_bytes = sampled_peak.max(hwm);
    let rss_after_bytes = proc_status_bytes(server.pid(), "VmRSS:").unwrap_or(0);

    let client = crate::api_client::ApiClient::new(&format!("http://{}", server.api));
    let healthy_after = client
        .get::<serde_json::Value>("/healthz")
        .is_ok_and(|h| h["status"] == "ok");
    let stats: serde_json::Value = client.get("/v1/stats")?;
    let nbd = &stats["nbd"];
    let server_errors = ["error_replies_total", "protocol_errors_total"]
        .iter()
        .map(|key| nbd[key].as_u64().unwrap_or(0))
        .sum();
    server.stop()?;
    let peer = match args.peer.as_str() {
        "qemu-nbd" => Some(run_peer(
            work.path(),
            args.volumes,
            volume_bytes,
            args.duration,
        )?),
        _ => None,
    };

    let mut report = LoadReport {
        duration_s: args.duration,
        volumes: args.volumes,
        connections: args.volumes * JOBS_PER_VOLUME,
        emulation,
        read_iops: fio.read_iops,
        write_iops: fio.write_iops,
        read_mb_per_s: fio.read_bytes as f64 / 1e6 / f64::from(args.duration),
        write_mb_per_s: fio.written_bytes as f64 / 1e6 / f64::from(args.duration),
        written_bytes: fio.written_bytes,
        verified_bytes: fio.verified_bytes,
        fio_errors: fio.errors,
        fio_exit_code: fio.exit_code,
        server_errors,
        healthy_after,
        peak_rss_bytes,
        rss_after_bytes,
        rss_samples,
        peer: None,
    };
    report.peer = peer.map(|(totals, peak)| PeerReport {
        name: "qemu-nbd",
        read_iops: totals.read_iops,
        write_iops: totals.write_iops,
        fio_errors: totals.errors,
        peak_rss_bytes: peak,
        strata_vs_peer_write_iops: ratio(report.write_iops, totals.write_iops),
        strata_vs_peer_read_iops: ratio(report.read_iops, totals.read_iops),
        strata_vs_peer_peak_rss: ratio(report.peak_rss_bytes as f64, peak as f64),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} connections on {} volumes for {} s (emulation {}): {:.0} read IOPS, {:.0} write \
             IOPS, {:.1} MB/s read, {:.1} MB/s write, {} fio errors, {} server errors, \
             {} verified, peak RSS {}",
            report.connections,
            report.volumes,
            report.duration_s,
            args.emulation,
            report.read_iops,
            report.write_iops,
            report.read_mb_per_s,
            report.write_mb_per_s,
            report.fio_errors,
            report.server_errors,
            strata_core::format_size(report.verified_bytes),
            strata_core::format_size(report.peak_rss_bytes)
        );
        if let Some(peer) = &report.peer {
            println!(
                "{}: {:.0} read IOPS, {:.0} write IOPS, {} fio errors, peak RSS {} \
                 (strata/peer: write IOPS {:.2}x, read IOPS {:.2}x, peak RSS {:.2}x)",
                peer.name,
                peer.read_iops,
                peer.write_iops,
                peer.fio_errors,
                strata_core::format_size(peer.peak_rss_bytes),
                peer.strata_vs_peer_write_iops,
                peer.strata_vs_peer_read_iops,
                peer.strata_vs_peer_peak_rss
            );
        }
    }
    if report.fio_errors > 0 || report.fio_exit_code != Some(0) || report.server_errors > 0 {
        bail!(
            "the load run saw errors (fio exit {:?})",
            report.fio_exit_code
        );
    }
    if !report.healthy_after {
        bail!("the server was not healthy after the load run");
    }
    Ok(())
}

/// Sums over fio's jobs.
#[derive(Debug, Default)]
struct FioTotals {
    read_iops: f64,
    write_iops: f64,
    read_bytes: u64,
    written_bytes: u64,
    verified_bytes: u64,
    errors: u64,
    exit_code: Option<i32>,
}

/// The same fio run against one `qemu-nbd` per volume; returns its totals and peak RSS.
fn run_peer(
    dir: &Path,
    volumes: u32,
    volume_bytes: u64,
    duration_s: u32,
) -> anyhow::Result<(FioTotals, u64)> {
    let mut peers = Vec::new();
    for v in 0..volumes {
        let raw = dir.join(format!("peer{v}.img"));
        std::fs::File::create(&raw)?.set_len(volume_bytes)?;
        peers.push(QemuNbd::start(&raw, JOBS_PER_VOLUME)?);
    }
    let uris: Vec<String> = peers
        .iter()
        .map(|peer| format!("nbd://{}/bench", peer.addr))
        .collect();
    let sampler = RssSampler::start(peers.iter().map(QemuNbd::pid).collect());
    let fio = run_fio(&uris, volume_bytes, duration_s);
    let (peak, _) = sampler.finish();
    Ok((fio?, peak))
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        (a / b * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// One fio process, `JOBS_PER_VOLUME` jobs (one NBD connection each) per URI.
fn run_fio(uris: &[String], volume_bytes: u64, duration_s: u32) -> anyhow::Result<FioTotals> {
    let volumes = u32::try_from(uris.len()).unwrap_or(u32::MAX);
    let quarter = volume_bytes / 4;
    let mut cmd = Command::new("fio");
    cmd.args([
        "--ioengine=nbd",
        "--time_based",
        &format!("--runtime={duration_s}"),
        "--randrepeat=0",
        "--verify_state_save=0",
        "--output-format=json",
    ]);
    for (v, uri) in uris.iter().enumerate() {
        for kind in &MIX {
            cmd.arg(format!("--name=load{v}-{}", kind.name))
                .arg(format!("--uri={uri}"))
                .arg(format!("--offset={}", kind.quarter * quarter))
                .arg(format!("--size={quarter}"))
                .args(kind.args);
            if kind.args[0].contains("write") {
                cmd.args([
                    "--verify=crc32c",
                    "--verify_backlog=256",
                    "--verify_fatal=1",
                ]);
            }
        }
    }
    let out = cmd
        .output()
        .context("running fio (is it installed, with its nbd engine?)")?;
    // The nbd engine prints "fio: connected to NBD server" lines before the JSON document.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .find('{')
        .map(|start| &stdout[start..])
        .with_context(|| {
            format!(
                "fio printed no JSON: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            )
        })?;
    let report: serde_json::Value = serde_json::from_str(json).context("fio printed bad JSON")?;
    fio_totals(
        &report,
        (volumes * JOBS_PER_VOLUME) as usize,
        out.status.code(),
    )
}

/// Sums fio's JSON `report` over its `expected_jobs` jobs.
///
/// IOPS are each job's completed requests over the job's run time. fio's own `iops` for
/// the reads of a verifying writer divides its verify reads by the few milliseconds it
/// spent on them alone, which summed to hundreds of millions.
fn fio_totals(
    report: &serde_json::Value,
    expected_jobs: usize,
    exit_code: Option<i32>,
) -> anyhow::Result<FioTotals> {
    let jobs = report["jobs"].as_array().context("fio JSON has no jobs")?;
    if jobs.len() != expected_jobs {
        bail!("fio ran {} jobs, expected {expected_jobs}", jobs.len());
    }
    let mut totals = FioTotals {
        exit_code,
        ..FioTotals::default()
    };
    for job in jobs {
        let (read, write) = (&job["read"], &job["write"]);
        let read_bytes = read["io_bytes"].as_u64().unwrap_or(0);
        let runtime_s = job["job_runtime"].as_f64().unwrap_or(0.0) / 1000.0;
        let iops = |side: &serde_json::Value| {
            let ios = side["total_ios"].as_f64().unwrap_or(0.0);
            if runtime_s > 0.0 {
                ios / runtime_s
            } else {
                0.0
            }
        };
        totals.read_iops += iops(read);
        totals.write_iops += iops(write);
        totals.read_bytes += read_bytes;
        totals.written_bytes += write["io_bytes"].as_u64().unwrap_or(0);
        // A writer's reads are its verify reads.
        if write["io_bytes"].as_u64().unwrap_or(0) > 0 {
            totals.verified_bytes += read_bytes;
        }
        if job["error"].as_i64() != Some(0) {
            totals.errors += 1;
        }
    }
    Ok(totals)
}

/// A `/proc/PID/status` field given in kB, in bytes.
fn proc_status_bytes(pid: i32, field: &str) -> Option<u64> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iops_count_requests_over_each_jobs_run_time() {
        // A verifying writer (its reads are verify reads, on which fio's own `iops` is
        // absurd) and a reader, each 60 s.
        let report = serde_json::json!({"jobs": [
            {"job_runtime": 60_000, "error": 0,
             "write": {"total_ios": 120_000, "io_bytes": 491_520_000u64, "iops": 2_000.0},
             "read": {"total_ios": 60_000, "io_bytes": 245_760_000u64, "iops": 7.5e8}},
            {"job_runtime": 60_000, "error": 0,
             "write": {"total_ios": 0, "io_bytes": 0, "iops": 0.0},
             "read": {"total_ios": 30_000, "io_bytes": 122_880_000u64, "iops": 500.0}},
        ]});
        let totals = fio_totals(&report, 2, Some(0)).expect("totals");
        assert!((totals.read_iops - 1_500.0).abs() < 1e-9, "{totals:?}");
        assert!((totals.write_iops - 2_000.0).abs() < 1e-9, "{totals:?}");
        assert_eq!(totals.verified_bytes, 245_760_000);
        assert_eq!(totals.read_bytes, 368_640_000);
        assert_eq!(totals.errors, 0);
        assert!(
            fio_totals(&report, 3, Some(0)).is_err(),
            "a missing job is an error"
        );
    }
}
