//! The prefetcher through the real server: a volume whose data sits on emulated hdd is read
//! by qemu-io in 1 MiB steps with think time; the server predicts the next extents, copies
//! them to nvme ahead of the reads (migration-log reason `prefetch`), and reports precision
//! and coverage in `GET /v1/prefetch`, `/v1/stats`, `/metrics` and `strata status`. Every
//! byte read back is checked against what was written.
//!
//! With nvme kept full of a volume nobody has touched for `horizon_ms`, the prefetcher
//! swaps: it demotes idle extents (reason `evict`) to make room for its prefetches.
//!
//! `bench_prefetch_on_vs_off` (ignored; run with `--ignored --nocapture`) is the
//! BENCHMARKS.md evidence: the same sequential and strided reads with prefetch on and off,
//! with nvme free and with nvme full of idle data.

mod common;

use common::{Server, assert_success, qemu_io};
use serde_json::Value;
use std::time::{Duration, Instant};

/// nvme just large enough for the filler volume, so the data written after it lands on
/// hdd; deleting the filler then leaves nvme free for prefetching.
fn config(prefetch: bool, horizon_ms: u64) -> String {
    format!(
        r#"
emulation = true
[[tier]]
kind = "nvme"
capacity = "64M"
[[tier]]
kind = "hdd"
capacity = "512M"
[placement]
policy = "static"
access_poll_ms = 20
migration_mbps = 0
copy_chunk_bytes = 1048576
[prefetch]
enabled = {prefetch}
epoch_ms = 200
horizon_ms = {horizon_ms}
"#
    )
}

const MIB: u64 = 1 << 20;

/// The byte every block of `extent` holds (distinct per extent, so a misplaced extent
/// fails the pattern check).
fn pattern_of(extent: u64) -> u64 {
    extent % 250 + 1
}

/// What nvme holds when the reads start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nvme {
    /// Nothing: the filler volume is deleted.
    Free,
    /// The filler volume, untouched for longer than [`IDLE_HORIZON_MS`].
    FullOfIdle,
}

/// `horizon_ms` of the [`Nvme::FullOfIdle`] runs (the default, 30 s, would make the test
/// wait that long before the filler counts as idle).
const IDLE_HORIZON_MS: u64 = 1_500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Every extent in order.
    Sequential,
    /// Every third extent (a stride readahead does not follow).
    Strided,
}

impl Reads {
    fn extents(self, volume_extents: u64) -> Vec<u64> {
        match self {
            Reads::Sequential => (0..volume_extents).collect(),
            Reads::Strided => (0..volume_extents).step_by(3).collect(),
        }
    }
}

/// Per-request latencies (µs) from qemu-io's "... and N ops/sec" lines (one op each).
fn latencies_us(qemu_io_stdout: &str) -> Vec<f64> {
    qemu_io_stdout
        .lines()
        .filter_map(|l| {
            let rate = l.split(" and ").nth(1)?.strip_suffix(" ops/sec)")?;
            rate.parse::<f64>().ok().filter(|r| *r > 0.0)
        })
        .map(|ops_per_s| 1e6 / ops_per_s)
        .collect()
}

/// The prefetch row of `volume` once the server has seen `reads` demand reads of it.
fn prefetch_row_after(server: &Server, volume: &str, reads: u64) -> (Value, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.get_json("/v1/prefetch");
        let row = status["volumes"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["volume"] == volume))
            .cloned();
        if let Some(row) = row
            && row["demand_reads"].as_u64() >= Some(reads)
        {
            return (status, row);
        }
        assert!(
            Instant::now() < deadline,
            "the prefetcher never saw {reads} reads of {volume}: {status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Run {
    server: Server,
    /// Latency of each demand read, µs.
    latencies_us: Vec<f64>,
    status: Value,
    row: Value,
}

/// Writes `volume_mib` extents of distinct patterns onto hdd, frees nvme or leaves the
/// filler there to go idle, then reads them as `reads` with `think_ms` between requests,
/// checking every byte.
fn run(
    dir: &std::path::Path,
    prefetch: bool,
    nvme: Nvme,
    reads: Reads,
    volume_mib: u64,
    think_ms: u64,
) -> Run {
    let horizon_ms = match nvme {
        Nvme::Free => 30_000,
        Nvme::FullOfIdle => IDLE_HORIZON_MS,
    };
    let server = Server::start(dir, &config(prefetch, horizon_ms));
    server.create_volume("filler", "64M");
    qemu_io(
        &server.uri("filler"),
        &["write -P 0x11 0 32M", "write -P 0x11 32M 32M", "flush"],
    );
    server.create_volume("data", &format!("{volume_mib}M"));
    let writes: Vec<String> = (0..volume_mib)
        .map(|e| format!("write -P {} {} 1M", pattern_of(e), e * MIB))
        .chain(["flush".to_owned()])
        .collect();
    qemu_io(
        &server.uri("data"),
        &writes.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let info = server.cli(&["volume", "show", "data", "--json"]);
    assert_success("volume show", &info);
    let info: Value = serde_json::from_slice(&info.stdout).expect("json");
    assert_eq!(
        info["bytes_per_tier"]["hdd"].as_u64(),
        Some(volume_mib * MIB),
        "the data must start on hdd: {info}"
    );
    match nvme {
        Nvme::Free => assert_success(
            "delete filler",
            &server.cli(&["volume", "delete", "filler"]),
        ),
        Nvme::FullOfIdle => std::thread::sleep(Duration::from_millis(horizon_ms + 500)),
    }

    let extents = reads.extents(volume_mib);
    let mut commands = Vec::new();
    for &e in &extents {
        commands.push(format!("read -P {} {} 1M", pattern_of(e), e * MIB));
        commands.push(format!("sleep {think_ms}"));
    }
    let stdout = qemu_io(
        &server.uri("data"),
        &commands.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let latencies_us = latencies_us(&stdout);
    assert_eq!(latencies_us.len(), extents.len(), "{stdout}");
    // A disabled prefetcher keeps no per-volume rows to wait for.
    let (status, row) = if prefetch {
        prefetch_row_after(&server, "data", extents.len() as u64)
    } else {
        (server.get_json("/v1/prefetch"), Value::Null)
    };
    Run {
        server,
        latencies_us,
        status,
        row,
    }
}

#[test]
fn sequential_reads_from_hdd_are_prefetched_to_nvme() {
    let dir = tempfile::tempdir().expect("tempdir");
    let volume_mib = 48;
    let Run {
        server,
        status,
        row,
        ..
    } = run(
        dir.path(),
        true,
        Nvme::Free,
        Reads::Sequential,
        volume_mib,
        30,
    );

    // Prefetch moves are in the migration log, hdd → nvme, done.
    let log = server.get_json("/v1/migrations?volume=data&limit=1000");
    let prefetched: Vec<&Value> = log["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .filter(|m| m["reason"] == "prefetch" && m["outcome"] == "done")
        .collect();
    assert!(!prefetched.is_empty(), "no prefetch moves: {log}");
    assert!(
        prefetched
            .iter()
            .all(|m| m["from_tier"] == "hdd" && m["to_tier"] == "nvme" && m["bytes"] == MIB),
        "{log}"
    );

    // A sequential scan is what every predictor gets right: nearly everything prefetched
    // is read, and a good share of the reads are served from prefetched extents.
    let precision = row["precision"].as_f64().expect("precision");
    let coverage = row["coverage"].as_f64().expect("coverage");
    assert!(precision >= 0.8, "precision {precision}: {row}");
    assert!(coverage > 0.0, "coverage {coverage}: {row}");
    assert_eq!(
        row["prefetched_extents"].as_u64(),
        Some(prefetched.len() as u64),
        "every completed prefetch move is counted once: {row}"
    );
    assert!(row["timeliness"].as_f64().is_some_and(|t| t > 0.0), "{row}");
    assert!(row["depth"].as_u64().is_some(), "{row}");
    assert_eq!(status["active"], true);
    assert_eq!(status["predictors"][0]["predictor"], "auto", "{status}");

    // The same measures in /v1/stats, strata status and /metrics.
    let stats = server.get_json("/v1/stats");
    assert!(
        stats["prefetch"]["precision"].as_f64() >= Some(0.8),
        "{stats}"
    );
    let text = server.cli(&["status"]);
    assert_success("status", &text);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("prefetch:   active: precision"), "{text}");
    let metrics = server.metrics();
    assert!(
        metrics.contains("strata_prefetch_precision_ratio{volume=\"data\",predictor=\"auto\"}"),
        "{metrics}"
    );

    // Everything reads back as written, prefetched or not.
    let verify: Vec<String> = (0..volume_mib)
        .map(|e| format!("read -P {} {} 1M", pattern_of(e), e * MIB))
        .collect();
    qemu_io(
        &server.uri("data"),
        &verify.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn a_full_nvme_gives_its_idle_extents_to_prefetches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let volume_mib = 24;
    let Run { server, row, .. } = run(
        dir.path(),
        true,
        Nvme::FullOfIdle,
        Reads::Sequential,
        volume_mib,
        30,
    );
    let prefetched = row["prefetched_extents"].as_u64().expect("prefetched");
    let evicted = row["evicted_extents"].as_u64().expect("evicted");
    assert!(prefetched >= volume_mib / 2, "{row}");
    assert!(
        evicted >= prefetched,
        "each prefetch took an idle extent's slot: {row}"
    );
    assert!(row["precision"].as_f64() >= Some(0.8), "{row}");
    // The evictions are the filler's, nvme → hdd, done, and logged as such.
    let log = server.get_json("/v1/migrations?volume=filler&limit=1000");
    let evictions = log["migrations"].as_array().expect("migrations");
    assert_eq!(evictions.len() as u64, evicted, "{log}");
    assert!(
        evictions.iter().all(|m| m["reason"] == "evict"
            && m["outcome"] == "done"
            && m["from_tier"] == "nvme"
            && m["to_tier"] == "hdd"),
        "{log}"
    );
    assert!(
        server.metrics().contains(&format!(
            "strata_prefetch_evicted_extents_total{{volume=\"data\",predictor=\"auto\"}} {evicted}"
        )),
        "the metric counts them too"
    );
    // Nothing was lost on either side of the swap.
    qemu_io(
        &server.uri("filler"),
        &["read -P 0x11 0 32M", "read -P 0x11 32M 32M"],
    );
    let verify: Vec<String> = (0..volume_mib)
        .map(|e| format!("read -P {} {} 1M", pattern_of(e), e * MIB))
        .collect();
    qemu_io(
        &server.uri("data"),
        &verify.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn disabled_prefetch_moves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Run { server, status, .. } = run(dir.path(), false, Nvme::Free, Reads::Sequential, 8, 10);
    assert_eq!(status["active"], false, "{status}");
    let log = server.get_json("/v1/migrations?volume=data");
    assert_eq!(log["migrations"], serde_json::json!([]), "{log}");
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// BENCHMARKS.md, "Prefetch in the server": prefetch off vs on, same reads, same run.
#[test]
#[ignore = "benchmark: cargo test -p strata --test prefetch -- --ignored --nocapture"]
fn bench_prefetch_on_vs_off() {
    println!(
        "| reads | nvme | mean off µs | mean on µs | mean off/on | median off/on | precision | coverage | timeliness | evicted |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for nvme in [Nvme::Free, Nvme::FullOfIdle] {
        for (reads, volume_mib) in [(Reads::Sequential, 48), (Reads::Strided, 144)] {
            let off_dir = tempfile::tempdir().expect("tempdir");
            let off = run(off_dir.path(), false, nvme, reads, volume_mib, 30);
            let on_dir = tempfile::tempdir().expect("tempdir");
            let on = run(on_dir.path(), true, nvme, reads, volume_mib, 30);
            let r = &on.row;
            println!(
                "| {reads:?} 1 MiB, 30 ms think | {nvme:?} | {:.0} | {:.0} | {:.2} | {:.2} | {:.3} | {:.3} | {:.3} | {} |",
                mean(&off.latencies_us),
                mean(&on.latencies_us),
                mean(&off.latencies_us) / mean(&on.latencies_us),
                median(&off.latencies_us) / median(&on.latencies_us),
                r["precision"].as_f64().unwrap_or(0.0),
                r["coverage"].as_f64().unwrap_or(0.0),
                r["timeliness"].as_f64().unwrap_or(0.0),
                r["evicted_extents"].as_u64().unwrap_or(0),
            );
        }
    }
}
