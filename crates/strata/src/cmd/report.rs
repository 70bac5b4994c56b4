//! `strata report --out DIR`: tiering effectiveness of a running server as an HTML page with
//! PNG plots. It samples `GET /v1/stats` every `--interval` for `--duration` (the server
//! keeps counters, not history) and reads the durable migration log, then plots tier
//! occupancy, the share of reads each tier served, read IOPS per tier, migrations, and the
//! prefetcher's precision and coverage (as the server measured them since start-up).

use crate::api_client::ApiClient;
use crate::cmd::chart::{LineChart, escape_html};
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata_api::{MigrationLog, PrefetchStatus, StatsReply};
use strata_core::format_size;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Directory for index.html, the PNG plots and summary.json.
    #[arg(long)]
    out: PathBuf,
    /// Seconds to sample the server for (1 to 86400).
    #[arg(long, default_value_t = 60.0, value_parser = seconds_in(1.0, 86_400.0))]
    duration: f64,
    /// Seconds between samples (0.1 to 60).
    #[arg(long, default_value_t = 1.0, value_parser = seconds_in(0.1, 60.0))]
    interval: f64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// A clap parser for a number of seconds within `[min, max]` (else a usage error, exit 2).
fn seconds_in(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |text| match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (min..=max).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds from {min} to {max}"
        )),
    }
}

/// One line per tier (or per destination tier, for migrations) over seconds.
type Lines = BTreeMap<String, Vec<(f64, f64)>>;

#[derive(Debug, Default)]
struct Timeline {
    occupancy: Lines,
    read_share: Lines,
    read_iops: Lines,
    migrations: Lines,
    prefetch: Lines,
}

#[derive(Debug, Serialize)]
struct Summary {
    server_id: String,
    duration_s: f64,
    samples: usize,
    tiers: Vec<TierSummary>,
    /// Moves in the server's durable log (up to the newest 10,000).
    migrations: u64,
    migrated_bytes: u64,
    prefetch_active: bool,
    /// The server's prefetch measures at the last sample (since its start-up).
    prefetch_precision: f64,
    prefetch_coverage: f64,
    prefetch_timeliness: f64,
    /// Bytes the server has prefetched since its start-up; with none, the precision above
    /// (0) is the share of nothing.
    prefetched_bytes: u64,
    files: Vec<String>,
}

#[derive(Debug, Serialize)]
struct TierSummary {
    kind: String,
    occupancy: f64,
    reserved_bytes: u64,
    /// Share of the reads in the window that this tier served.
    read_share: f64,
    read_iops: f64,
}

/// Reads each tier served, summed over volumes (tier name → count).
fn reads_by_tier(stats: &StatsReply) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for volume in &stats.volumes {
        for (tier, reads) in &volume.io.read_hits_by_tier {
            *out.entry(tier.clone()).or_default() += reads;
        }
    }
    out
}

/// Reads each tier served between two samples, and their total.
fn reads_between(before: &StatsReply, after: &StatsReply) -> (BTreeMap<String, u64>, u64) {
    let (hits0, hits1) = (reads_by_tier(before), reads_by_tier(after));
    let deltas: BTreeMap<String, u64> = hits1
        .into_iter()
        .map(|(tier, n)| {
            let delta = n.saturating_sub(hits0.get(&tier).copied().unwrap_or(0));
            (tier, delta)
        })
        .collect();
    let total = deltas.values().sum();
    (deltas, total)
}

/// Device reads of `tier` per second between two samples.
fn device_read_rate(before: &StatsReply, after: &strata_api::Tier, seconds: f64) -> f64 {
    let reads0 = before
        .tiers
        .iter()
        .find(|b| b.kind == after.kind)
        .map_or(0, |b| b.io.reads);
    after.io.reads.saturating_sub(reads0) as f64 / seconds
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The per-interval series from consecutive samples `(seconds since start, stats)`.
fn timeline(samples: &[(f64, StatsReply)], log: &MigrationLog) -> Timeline {
    let mut t = Timeline::default();
    for (at, stats) in samples {
        for tier in &stats.tiers {
            t.occupancy
                .entry(tier.kind.clone())
                .or_default()
                .push((*at, tier.occupancy));
        }
        for (name, value) in [
            ("precision", stats.prefetch.precision),
            ("coverage", stats.prefetch.coverage),
        ] {
            t.prefetch
                .entry(name.to_owned())
                .or_default()
                .push((*at, value));
        }
    }
    for pair in samples.windows(2) {
        let ((t0, before), (t1, after)) = (&pair[0], &pair[1]);
        let seconds = (t1 - t0).max(1e-9);
        let (reads, total) = reads_between(before, after);
        for tier in &after.tiers {
            let delta = reads.get(&tier.kind).copied().unwrap_or(0);
            t.read_share
                .entry(tier.kind.clone())
                .or_default()
                .push((*t1, share(delta, total)));
            t.read_iops
                .entry(tier.kind.clone())
                .or_default()
                .push((*t1, device_read_rate(before, tier, seconds)));
        }
    }
    // Cumulative moves by destination tier, over the log's own time (oldest move = 0 s).
    let mut moves: Vec<_> = log
        .migrations
        .iter()
        .filter(|m| m.outcome == "done")
        .collect();
    moves.sort_by_key(|m| m.finished_unix_ms);
    if let Some(first) = moves.first().map(|m| m.finished_unix_ms) {
        let mut counts: BTreeMap<String, f64> = BTreeMap::new();
        for m in moves {
            let count = counts.entry(m.to_tier.clone()).or_default();
            *count += 1.0;
            t.migrations
                .entry(format!("to {}", m.to_tier))
                .or_default()
                .push(((m.finished_unix_ms - first) as f64 / 1000.0, *count));
        }
    }
    t
}

fn summary(
    samples: &[(f64, StatsReply)],
    log: &MigrationLog,
    prefetch: &PrefetchStatus,
) -> Summary {
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let seconds = (last.0 - first.0).max(1e-9);
    let (reads, total) = reads_between(&first.1, &last.1);
    let tiers = last
        .1
        .tiers
        .iter()
        .map(|tier| TierSummary {
            kind: tier.kind.clone(),
            occupancy: tier.occupancy,
            reserved_bytes: tier.reserved_bytes,
            read_share: share(reads.get(&tier.kind).copied().unwrap_or(0), total),
            read_iops: device_read_rate(&first.1, tier, seconds),
        })
        .collect();
    let done = log.migrations.iter().filter(|m| m.outcome == "done");
    Summary {
        server_id: last.1.server_id.clone(),
        duration_s: seconds,
        samples: samples.len(),
        tiers,
        migrations: done.clone().count() as u64,
        migrated_bytes: done.map(|m| m.bytes).sum(),
        prefetch_active: prefetch.active,
        prefetch_precision: last.1.prefetch.precision,
        prefetch_coverage: last.1.prefetch.coverage,
        prefetch_timeliness: last.1.prefetch.timeliness,
        prefetched_bytes: last.1.prefetch.prefetched_bytes,
        files: Vec::new(),
    }
}

fn sample(client: &ApiClient, args: &ReportArgs) -> anyhow::Result<Vec<(f64, StatsReply)>> {
    let started = Instant::now();
    let count = (args.duration / args.interval).floor() as u64 + 1;
    let bar = indicatif::ProgressBar::new(count).with_message("sampling /v1/stats");
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut samples = Vec::new();
    for i in 0..count {
        let due = started + Duration::from_secs_f64(args.interval * i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let stats: StatsReply = client.get("/v1/stats")?;
        samples.push((started.elapsed().as_secs_f64(), stats));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(samples)
}

pub fn run(args: ReportArgs, api: &str) -> anyhow::Result<()> {
    let client = ApiClient::new(api);
    let samples = sample(&client, &args)?;
    let log: MigrationLog = client.get("/v1/migrations?limit=10000")?;
    let prefetch: PrefetchStatus = client.get("/v1/prefetch")?;
    let t = timeline(&samples, &log);
    let mut summary = summary(&samples, &log, &prefetch);
    summary.files = write(&args.out, &t, &summary, &prefetch)?
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "report written to {}",
            args.out.join("index.html").display()
        );
    }
    Ok(())
}

fn write(
    dir: &Path,
    t: &Timeline,
    summary: &Summary,
    prefetch: &PrefetchStatus,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create report dir {}", dir.display()))?;
    let plots: [(&str, &str, &str, &str, &Lines); 5] = [
        (
            "occupancy.png",
            "tier occupancy",
            "seconds into the report",
            "used / capacity",
            &t.occupancy,
        ),
        (
            "read_share.png",
            "share of reads each tier served, per interval",
            "seconds into the report",
            "share",
            &t.read_share,
        ),
        (
            "read_iops.png",
            "device reads per second, per tier",
            "seconds into the report",
            "reads/s",
            &t.read_iops,
        ),
        (
            "migrations.png",
            "completed migrations by destination (cumulative)",
            "seconds since the oldest logged move",
            "moves",
            &t.migrations,
        ),
        (
            "prefetch.png",
            "prefetch precision and coverage (since server start-up)",
            "seconds into the report",
            "ratio",
            &t.prefetch,
        ),
    ];
    let mut written = Vec::new();
    let mut images = String::new();
    for (file, title, x_desc, y_desc, lines) in plots {
        let path = dir.join(file);
        LineChart {
            title,
            x_desc,
            y_desc,
            lines: lines
                .iter()
                .map(|(name, l)| (name.as_str(), l.as_slice()))
                .collect(),
        }
        .write_png(&path)?;
        images.push_str(&format!(
            "<h2>{}</h2>\n<img src=\"{file}\" alt=\"{file}\">\n",
            escape_html(title)
        ));
        written.push(path);
    }
    let rows: String = summary
        .tiers
        .iter()
        .map(|tier| {
            format!(
                "<tr><td>{}</td><td>{:.1} %</td><td>{}</td><td>{:.1} %</td><td>{:.0}</td></tr>\n",
                escape_html(&tier.kind),
                tier.occupancy * 100.0,
                format_size(tier.reserved_bytes),
                tier.read_share * 100.0,
                tier.read_iops
            )
        })
        .collect();
    let prefetch_line = match (&prefetch.active, &prefetch.note) {
        (true, _) if summary.prefetched_bytes == 0 => format!(
            "active, nothing prefetched yet (no precision), coverage {:.1} %",
            summary.prefetch_coverage * 100.0
        ),
        (true, _) => format!(
            "active, precision {:.1} %, coverage {:.1} %, timeliness {:.1} %",
            summary.prefetch_precision * 100.0,
            summary.prefetch_coverage * 100.0,
            summary.prefetch_timeliness * 100.0
        ),
        (false, Some(note)) => format!("not active ({note})"),
        (false, None) => "not active".to_owned(),
    };
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>strata report</title>\n\
         <style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}\
         td,th{{padding:4px 10px;text-align:right}}</style></head><body>\n\
         <h1>strata report: server {server}</h1>\n\
         <p>{samples} samples of <code>/v1/stats</code> over {duration:.0} s; migrations from the \
         server's durable log.</p>\n\
         <table><tr><th>tier</th><th>occupancy</th><th>reserved</th><th>share of reads</th>\
         <th>reads/s</th></tr>\n{rows}</table>\n\
         <p>Migrations completed: {moves} ({bytes}). Prefetch: {prefetch}.</p>\n{images}</body></html>\n",
        server = escape_html(&summary.server_id),
        samples = summary.samples,
        duration = summary.duration_s,
        moves = summary.migrations,
        bytes = format_size(summary.migrated_bytes),
        prefetch = escape_html(&prefetch_line),
    );
    let index = dir.join("index.html");
    std::fs::write(&index, html).with_context(|| format!("cannot write {}", index.display()))?;
    written.push(index);
    let json = dir.join("summary.json");
    std::fs::write(&json, serde_json::to_string_pretty(summary)?)?;
    written.push(json);
    Ok(written)
}
