//! `strata bench nbd`: fio's nbd engine against Strata (emulation off) and against
//! `qemu-nbd --cache=none --aio=native` serving a raw file of the same size on the same
//! disk, alternating target by target, plus fio straight on the raw file (io_uring,
//! O_DIRECT) as the limit. Prints a table with ratios, or `--json`. `strata bench load`
//! (the many-connection load run) lives in `load.rs`.

use super::child::ChildServer;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// fio over NBD: strata vs qemu-nbd vs the raw file, in one run.
    Nbd(NbdBenchArgs),
    /// Many NBD connections with verifying fio jobs; IOPS, errors and the server's peak RSS.
    Load(super::load::LoadArgs),
}

#[derive(Debug, Args)]
struct NbdBenchArgs {
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Size of the volume and of the raw file.
    #[arg(long, default_value = "1G")]
    size: String,
    /// Seconds per fio run.
    #[arg(long, default_value_t = 10)]
    runtime: u32,
    /// Rounds; each round runs every job on every target, and the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Directory (on the disk to measure) for the raw file and Strata's tiers.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// NBD connections fio opens per job (fio `numjobs`); queue depth is split across them.
    #[arg(long, default_value_t = 4)]
    connections: u32,
    /// Serve Strata's tier with O_DIRECT like qemu-nbd's `--cache=none` (on) or buffered (off).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    direct_io: String,
}

/// One fio job of the comparison.
#[derive(Debug, Clone, Copy, Serialize)]
struct Job {
    name: &'static str,
    rw: &'static str,
    block_size: &'static str,
    queue_depth: u32,
}

const JOBS: [Job; 3] = [
    Job {
        name: "4k-randread-qd16",
        rw: "randread",
        block_size: "4k",
        queue_depth: 16,
    },
    Job {
        name: "4k-randwrite-qd16",
        rw: "randwrite",
        block_size: "4k",
        queue_depth: 16,
    },
    Job {
        name: "1m-seqread",
        rw: "read",
        block_size: "1m",
        queue_depth: 4,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Target {
    Strata,
    QemuNbd,
    RawFile,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Measure {
    iops: f64,
    mb_per_s: f64,
    mean_latency_us: f64,
    p99_latency_us: f64,
}

#[derive(Debug, Serialize)]
struct Row {
    job: &'static str,
    strata: Measure,
    qemu_nbd: Measure,
    raw_file: Measure,
    strata_vs_qemu_nbd: f64,
    strata_vs_raw_file: f64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Nbd(args) => bench_nbd(args),
        BenchCommand::Load(args) => super::load::run(args),
    }
}

fn bench_nbd(args: NbdBenchArgs) -> anyhow::Result<()> {
    for tool in ["fio", "qemu-nbd", "qemu-img"] {
        which(tool).with_context(|| format!("{tool} is needed by strata bench nbd"))?;
    }
    let size_bytes = strata_core::parse_size(&args.size)?;
    if size_bytes < (64 << 20) || size_bytes % (1 << 20) != 0 {
        bail!("--size must be a multiple of 1M and at least 64M");
    }
    std::fs::create_dir_all(&args.dir)?;
    let work = tempfile::Builder::new()
        .prefix("strata-bench-")
        .tempdir_in(&args.dir)
        .with_context(|| format!("cannot create a work dir in {}", args.dir.display()))?;
    let raw = work.path().join("raw.img");
    let seed = work.path().join("seed.img");
    eprintln!(
        "preparing {} of test data…",
        strata_core::format_size(size_bytes)
    );
    fill_random(&seed, size_bytes)?;
    std::fs::copy(&seed, &raw).context("copying the raw image")?;

    let strata = start_strata(work.path(), size_bytes, args.direct_io == "on")?;
    strata.create_volume(&serde_json::json!({"name": "bench", "size": size_bytes}))?;
    let strata_uri = format!("nbd://{}/bench", strata.nbd);
    qemu_img_convert_into(&seed, &strata_uri)?;
    let qemu = QemuNbd::start(&raw, args.connections)?;
    let qemu_uri = format!("nbd://{}/bench", qemu.addr);

    let bar = indicatif::ProgressBar::new(u64::from(args.rounds) * JOBS.len() as u64 * 3);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut samples: Vec<[Vec<Measure>; 3]> = JOBS.iter().map(|_| Default::default()).collect();
    for _round in 0..args.rounds {
        for (j, job) in JOBS.iter().enumerate() {
            for (t, target) in [Target::Strata, Target::QemuNbd, Target::RawFile]
                .into_iter()
                .enumerate()
            {
                bar.set_message(format!("{} on {target:?}", job.name));
                let spec = match target {
                    Target::Strata => FioTarget::Nbd(&strata_uri),
                    Target::QemuNbd => FioTarget::Nbd(&qemu_uri),
                    Target::RawFile => FioTarget::File(&raw),
                };
                let m = run_fio(job, spec, size_bytes, args.runtime, args.connections)?;
                samples[j][t].push(m);
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    drop(qemu);
    strata.stop()?;

    let rows: Vec<Row> = JOBS
        .iter()
        .zip(samples)
        .map(|(job, [s, q, r])| {
            let (strata, qemu_nbd, raw_file) = (median(s), median(q), median(r));
            Row {
                job: job.name,
                strata_vs_qemu_nbd: ratio(strata, qemu_nbd),
                strata_vs_raw_file: ratio(strata, raw_file),
                strata,
                qemu_nbd,
                raw_file,
            }
        })
        .collect();
    if args.json {
        let doc = serde_json::json!({
            "size_bytes": size_bytes, "runtime_s": args.runtime, "rounds": args.rounds,
            "connections": args.connections, "strata_direct_io": args.direct_io == "on",
            "jobs": JOBS, "results": rows,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{:<18} {:>12} {:>12} {:>12} {:>9} {:>9}",
            "job", "strata", "qemu-nbd", "raw file", "s/qemu", "s/raw"
        );
        for row in &rows {
            let unit = |m: Measure| {
                if row.job.starts_with("1m") {
                    format!("{:.0} MB/s", m.mb_per_s)
                } else {
                    format!("{:.0} IOPS", m.iops)
                }
            };
            println!(
                "{:<18} {:>12} {:>12} {:>12} {:>8.2}x {:>8.2}x",
                row.job,
                unit(row.strata),
                unit(row.qemu_nbd),
                unit(row.raw_file),
                row.strata_vs_qemu_nbd,
                row.strata_vs_raw_file
            );
        }
    }
    Ok(())
}

fn ratio(a: Measure, b: Measure) -> f64 {
    if b.mb_per_s > 0.0 {
        (a.mb_per_s / b.mb_per_s * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn median(mut runs: Vec<Measure>) -> Measure {
    runs.sort_by(|a, b| a.mb_per_s.total_cmp(&b.mb_per_s));
    runs.get(runs.len() / 2).copied().unwrap_or_default()
}

enum FioTarget<'a> {
    Nbd(&'a str),
    File(&'a Path),
}

fn run_fio(
    job: &Job,
    target: FioTarget<'_>,
    size_bytes: u64,
    runtime_s: u32,
    connections: u32,
) -> anyhow::Result<Measure> {
    let numjobs = if job.rw == "read" {
        1
    } else {
        connections.max(1)
    };
    let iodepth = (job.queue_depth / numjobs).max(1);
    let mut cmd = Command::new("fio");
    cmd.args([
        "--name=bench",
        &format!("--rw={}", job.rw),
        &format!("--bs={}", job.block_size),
        &format!("--iodepth={iodepth}"),
        &format!("--numjobs={numjobs}"),
        &format!("--size={size_bytes}"),
        &format!("--runtime={runtime_s}"),
        "--time_based",
        "--ramp_time=1",
        "--group_reporting",
        "--randrepeat=0",
        "--norandommap",
        "--output-format=json",
    ]);
    match target {
        FioTarget::Nbd(uri) => cmd.args(["--ioengine=nbd", &format!("--uri={uri}")]),
        FioTarget::File(path) => cmd
            .args(["--ioengine=io_uring", "--direct=1"])
            .arg(format!("--filename={}", path.display())),
    };
    let out = cmd.output().context("running fio")?;
    if !out.status.success() {
        bail!(
            "fio failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        );
    }
    // fio's nbd engine prints "fio: connected to NBD server" before the JSON document.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .find('{')
        .map(|start| &stdout[start..])
        .context("fio printed no JSON")?;
    let report: serde_json::Value = serde_json::from_str(json).context("fio printed bad JSON")?;
    let side = if job.rw.contains("write") {
        "write"
    } else {
        "read"
    };
    let stats = &report["jobs"][0][side];
    if report["jobs"][0]["error"].as_i64() != Some(0) {
        bail!("fio reported error {}", report["jobs"][0]["error"]);
    }
    Ok(Measure {
        iops: stats["iops"].as_f64().unwrap_or(0.0),
        mb_per_s: stats["bw_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        mean_latency_us: stats["clat_ns"]["mean"].as_f64().unwrap_or(0.0) / 1e3,
        p99_latency_us: stats["clat_ns"]["percentile"]["99.000000"]
            .as_f64()
            .unwrap_or(0.0)
            / 1e3,
    })
}

/// Writes `size` bytes of incompressible data (so neither side benefits from zeros).
fn fill_random(path: &Path, size_bytes: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..size_bytes / chunk.len() as u64 {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&chunk)?;
    }
    file.flush()?;
    file.get_ref().sync_all()?;
    Ok(())
}

fn qemu_img_convert_into(src: &Path, uri: &str) -> anyhow::Result<()> {
    let out = Command::new("qemu-img")
        .args(["convert", "-n", "-f", "raw", "-O", "raw"])
        .arg(src)
        .arg(uri)
        .output()?;
    if !out.status.success() {
        bail!(
            "qemu-img convert into strata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn which(tool: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .with_context(|| format!("{tool} not found on PATH"))
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Starts Strata with one O_DIRECT (or buffered) nvme tier and emulation off.
fn start_strata(dir: &Path, size_bytes: u64, direct_io: bool) -> anyhow::Result<ChildServer> {
    let config = dir.join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "emulation = false\n[[tier]]\nkind = \"nvme\"\ncapacity = \"{}\"\ndirect_io = {direct_io}\n",
            size_bytes + (64 << 20)
        ),
    )?;
    ChildServer::start(&config, &dir.join("strata-data"), "warn")
}

/// `qemu-nbd --cache=none --aio=native` on the raw file, the peer Strata is measured against.
pub(super) struct QemuNbd {
    child: Child,
    pub(super) addr: SocketAddr,
}

impl QemuNbd {
    /// Serves `raw` as export `bench` to up to `connections + 1` clients at once.
    pub(super) fn start(raw: &Path, connections: u32) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let child = Command::new("qemu-nbd")
            .args([
                "--cache=none",
                "--aio=native",
                "-f",
                "raw",
                "-x",
                "bench",
                "-t",
            ])
            .args(["-b", "127.0.0.1", "-p", &addr.port().to_string()])
            .arg(format!("--shared={}", connections.max(1) + 1))
            .arg(raw)
            .stderr(Stdio::null())
            .spawn()
            .context("starting qemu-nbd")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                bail!("qemu-nbd did not listen on {addr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child, addr })
    }

    pub(super) fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }
}

impl Drop for QemuNbd {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
