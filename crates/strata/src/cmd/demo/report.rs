//! The comparison `strata demo` ends with: what each policy's run measured (client-side
//! latency, the server's fast-tier hit ratio, its migration log and prefetch status), the
//! static/strata ratios, the printed table and the time series the plots draw.

use super::latency::{self, LatencySummary, Sample};
use super::sample::{Tick, fast_hit_ratio_series};
use super::workload::Profile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use strata_api::{MigrationLog, PrefetchStatus, StatsReply};

/// What is printed when the server runs no prefetcher.
pub const PREFETCH_NOT_MEASURED: &str = "not measured (prefetching is off on this server)";

/// Everything recorded about one policy's server during the run.
#[derive(Debug)]
pub struct PolicyRun {
    pub policy: &'static str,
    pub nbd: SocketAddr,
    pub api: SocketAddr,
    pub samples: Vec<Sample>,
    /// Once a second, from the workload's start.
    pub ticks: Vec<Tick>,
    pub start_stats: StatsReply,
    pub end_stats: StatsReply,
    pub migrations: MigrationLog,
    pub prefetch: PrefetchStatus,
    pub start_unix_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeResult {
    pub volume: &'static str,
    pub profile: &'static str,
    pub read_latency: LatencySummary,
    pub fast_tier_hit_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrefetchResult {
    pub measured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub policy: &'static str,
    pub nbd_addr: String,
    pub api_addr: String,
    pub requests: u64,
    pub read_latency: LatencySummary,
    pub write_latency: LatencySummary,
    /// Reads served by the fastest tier over all reads, as the server counted them.
    pub fast_tier_hit_ratio: f64,
    pub migrations: u64,
    pub migrated_bytes: u64,
    /// Of `migrations`, the moves to a faster tier (the rest went to a slower one).
    pub promotions: u64,
    pub prefetch: PrefetchResult,
    pub volumes: Vec<VolumeResult>,
}

/// Static divided by strata: above 1 means strata is faster.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratios {
    pub read_latency_mean: f64,
    pub read_latency_p99: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileInfo {
    pub volume: &'static str,
    pub profile: &'static str,
    pub size_bytes: u64,
    pub workload: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierInfo {
    pub kind: String,
    pub capacity_bytes: u64,
}

/// The whole comparison, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub duration_s: u64,
    pub driver: &'static str,
    pub fast_tier: String,
    pub tiers: Vec<TierInfo>,
    pub volumes: Vec<ProfileInfo>,
    pub policies: Vec<PolicyResult>,
    pub static_over_strata: Option<Ratios>,
    /// Files of the HTML report, once written.
    pub report_files: Vec<String>,
}

/// One line per policy of a time series (x in seconds since the workload started).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub lines: BTreeMap<&'static str, Vec<(f64, f64)>>,
}

/// The time series the report plots.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub read_latency_ms: Series,
    pub fast_hit_ratio: Series,
    pub migrations: Series,
}

pub fn compare(
    runs: &[PolicyRun],
    profiles: &[Profile],
    duration_s: u64,
    driver: &'static str,
) -> Comparison {
    let first = runs.first().map(|r| &r.end_stats);
    let fast_tier = first
        .and_then(|s| s.tiers.first())
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    let tiers = first
        .map(|s| {
            s.tiers
                .iter()
                .map(|t| TierInfo {
                    kind: t.kind.clone(),
                    capacity_bytes: t.capacity_bytes,
                })
                .collect()
        })
        .unwrap_or_default();
    let policies: Vec<PolicyResult> = runs
        .iter()
        .map(|run| policy_result(run, profiles, &fast_tier))
        .collect();
    let find = |name: &str| policies.iter().find(|p| p.policy == name);
    let static_over_strata = find("static").zip(find("strata")).map(|(s, t)| Ratios {
        read_latency_mean: ratio(s.read_latency.mean_us, t.read_latency.mean_us),
        read_latency_p99: ratio(s.read_latency.p99_us, t.read_latency.p99_us),
    });
    Comparison {
        duration_s,
        driver,
        fast_tier,
        tiers,
        volumes: profiles
            .iter()
            .map(|p| ProfileInfo {
                volume: p.name,
                profile: p.class,
                size_bytes: p.size_bytes,
                workload: p.story,
            })
            .collect(),
        policies,
        static_over_strata,
        report_files: Vec::new(),
    }
}

fn policy_result(run: &PolicyRun, profiles: &[Profile], fast: &str) -> PolicyResult {
    let (reads, fast_reads) = reads_between(&run.start_stats, &run.end_stats, fast, None);
    let volumes = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (r, f) = reads_between(&run.start_stats, &run.end_stats, fast, Some(p.name));
            VolumeResult {
                volume: p.name,
                profile: p.class,
                read_latency: latency::reads(&run.samples, Some(i)),
                fast_tier_hit_ratio: round3(share(f, r)),
            }
        })
        .collect();
    let done: Vec<Move> = moves_in_run(run).collect();
    PolicyResult {
        policy: run.policy,
        nbd_addr: run.nbd.to_string(),
        api_addr: run.api.to_string(),
        requests: run.samples.len() as u64,
        read_latency: latency::reads(&run.samples, None),
        write_latency: latency::writes(&run.samples),
        fast_tier_hit_ratio: round3(share(fast_reads, reads)),
        migrations: done.len() as u64,
        migrated_bytes: done.iter().map(|m| m.bytes).sum(),
        promotions: done.iter().filter(|m| m.promotion).count() as u64,
        prefetch: prefetch_result(&run.prefetch),
        volumes,
    }
}

/// A completed move of the run.
struct Move {
    /// Finished, in ms since the workload started.
    at_ms: u64,
    bytes: u64,
    /// To a faster tier.
    promotion: bool,
}

fn moves_in_run(run: &PolicyRun) -> impl Iterator<Item = Move> + '_ {
    let rank = |kind: &str| run.end_stats.tiers.iter().position(|t| t.kind == kind);
    run.migrations
        .migrations
        .iter()
        .filter(|m| m.outcome == "done" && m.finished_unix_ms >= run.start_unix_ms)
        .map(move |m| Move {
            at_ms: m.finished_unix_ms - run.start_unix_ms,
            bytes: m.bytes,
            promotion: rank(&m.to_tier) < rank(&m.from_tier),
        })
}

/// Reads and fastest-tier reads between two stats replies (one volume, or all).
fn reads_between(
    start: &StatsReply,
    end: &StatsReply,
    fast: &str,
    volume: Option<&str>,
) -> (u64, u64) {
    let count = |stats: &StatsReply| -> (u64, u64) {
        stats
            .volumes
            .iter()
            .filter(|v| volume.is_none_or(|name| v.volume.name == name))
            .map(|v| {
                let hits = v.io.read_hits_by_tier.get(fast).copied().unwrap_or(0);
                (v.io.reads, hits)
            })
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    let (r0, f0) = count(start);
    let (r1, f1) = count(end);
    (r1.saturating_sub(r0), f1.saturating_sub(f0))
}

fn prefetch_result(status: &PrefetchStatus) -> PrefetchResult {
    // The server's totals over every volume: precision and coverage exactly as it measured
    // them (per-predictor rows do not add up to an overall coverage).
    match &status.totals {
        // Precision is undefined without a prefetch; the server reports 0 for it, which
        // would read as "every prefetch was wasted". Say what the tuners did instead.
        Some(totals) if status.active && totals.prefetched_bytes == 0 => {
            let off = status.volumes.iter().filter(|v| v.tuner_off).count();
            let idle = status.volumes.iter().filter(|v| v.depth == 0).count();
            PrefetchResult {
                measured: true,
                precision: None,
                coverage: Some(round3(totals.coverage)),
                note: Some(format!(
                    "no prefetch copies ({} demand reads; tuner off on {off} and depth 0 \
                     on {idle} of {} volumes; {} candidates dropped from full queues)",
                    totals.demand_reads,
                    status.volumes.len(),
                    status.volumes.iter().map(|v| v.dropped).sum::<u64>(),
                )),
            }
        }
        Some(totals) if status.active => PrefetchResult {
            measured: true,
            precision: Some(round3(totals.precision)),
            coverage: Some(round3(totals.coverage)),
            note: Some(format!(
                "{} of {} prefetched extents read; {} of {} demand reads served from them",
                totals.used_extents,
                totals.prefetched_extents,
                totals.covered_reads,
                totals.demand_reads
            )),
        },
        _ => PrefetchResult {
            measured: false,
            precision: None,
            coverage: None,
            note: Some(PREFETCH_NOT_MEASURED.into()),
        },
    }
}

pub fn timeline(runs: &[PolicyRun], duration_s: u64) -> Timeline {
    let mut t = Timeline::default();
    for run in runs {
        let latency = latency::read_mean_per_second(&run.samples, duration_s)
            .into_iter()
            .enumerate()
            .filter_map(|(s, mean)| mean.map(|m| (s as f64 + 0.5, m / 1000.0)))
            .collect();
        t.read_latency_ms.lines.insert(run.policy, latency);
        let hits = fast_hit_ratio_series(&run.ticks)
            .into_iter()
            .filter_map(|(at, r)| r.map(|r| (at, r)))
            .collect();
        t.fast_hit_ratio.lines.insert(run.policy, hits);
        let mut finished: Vec<u64> = moves_in_run(run).map(|m| m.at_ms).collect();
        finished.sort_unstable();
        let moves = (0..=duration_s)
            .map(|s| {
                let n = finished.partition_point(|&ms| ms <= s * 1000);
                (s as f64, n as f64)
            })
            .collect();
        t.migrations.lines.insert(run.policy, moves);
    }
    t
}

/// The comparison as a table for the terminal.
pub fn render_table(c: &Comparison) -> String {
    let tiers: Vec<String> = c
        .tiers
        .iter()
        .map(|t| format!("{} {}", t.kind, strata_core::format_size(t.capacity_bytes)))
        .collect();
    let mut out = format!(
        "{} s of {} I/O on each server; tiers {} (emulated); volumes {}\n\n",
        c.duration_s,
        c.driver,
        tiers.join(", "),
        c.volumes
            .iter()
            .map(|v| format!("{} {}", v.volume, strata_core::format_size(v.size_bytes)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = |label: &str, cell: &dyn Fn(&PolicyResult) -> String| {
        let mut line = format!("{label:<34}");
        for p in &c.policies {
            line.push_str(&format!(" {:>18}", cell(p)));
        }
        line.push('\n');
        line
    };
    out.push_str(&row("", &|p| p.policy.to_string()));
    out.push_str(&row("requests", &|p| p.requests.to_string()));
    out.push_str(&row("read latency mean", &|p| us(p.read_latency.mean_us)));
    out.push_str(&row("read latency p99", &|p| us(p.read_latency.p99_us)));
    out.push_str(&row("write latency mean", &|p| us(p.write_latency.mean_us)));
    let fast = format!("{} hit ratio (reads)", c.fast_tier);
    out.push_str(&row(&fast, &|p| {
        format!("{:.1} %", p.fast_tier_hit_ratio * 100.0)
    }));
    out.push_str(&row("migrations", &|p| {
        format!(
            "{} ({})",
            p.migrations,
            strata_core::format_size(p.migrated_bytes)
        )
    }));
    for (i, v) in c.volumes.iter().enumerate() {
        let label = format!("  {} read ms mean/p99/{}", v.volume, c.fast_tier);
        out.push_str(&row(&label, &|p| {
            p.volumes.get(i).map_or(String::new(), |r| {
                format!(
                    "{}/{}/{:.0}%",
                    short_ms(r.read_latency.mean_us),
                    short_ms(r.read_latency.p99_us),
                    r.fast_tier_hit_ratio * 100.0
                )
            })
        }));
    }
    let prefetch = c.policies.iter().map(|p| match p.prefetch {
        PrefetchResult {
            measured: true,
            precision: Some(precision),
            coverage: Some(coverage),
            ..
        } => format!(
            "{}: precision {precision:.2}, coverage {coverage:.2}",
            p.policy
        ),
        PrefetchResult {
            measured: true,
            precision: None,
            note: Some(ref note),
            ..
        } => format!("{}: {note}", p.policy),
        _ => format!("{}: {PREFETCH_NOT_MEASURED}", p.policy),
    });
    out.push_str(&format!(
        "{:<35}{}\n",
        "prefetch",
        prefetch.collect::<Vec<_>>().join("; ")
    ));
    if let Some(r) = c.static_over_strata {
        out.push_str(&format!(
            "static / strata read latency: mean {:.2}x, p99 {:.2}x{}\n",
            r.read_latency_mean,
            r.read_latency_p99,
            // Within 5 % is within the run-to-run noise of a shared machine.
            if r.read_latency_mean > 1.05 {
                " (strata is faster)"
            } else if r.read_latency_mean < 0.95 {
                " (static is faster in this run)"
            } else {
                " (no clear difference in this run)"
            }
        ));
    }
    if let Some(why) = explanation(c) {
        out.push_str(&why);
    }
    out
}

/// Why the numbers differ, in the run's own figures.
fn explanation(c: &Comparison) -> Option<String> {
    let find = |name: &str| c.policies.iter().find(|p| p.policy == name);
    let (fixed, strata) = (find("static")?, find("strata")?);
    Some(format!(
        "\nwhy: static keeps on {fast} whatever was written first and never moves it, so \
         {s_hit:.0} % of reads were served by {fast}; strata counted the reads, moved {up} \
         extents it found hot to faster tiers and {down} colder ones down ({bytes} copied \
         in the background), and served {t_hit:.0} % of reads from {fast}.\n",
        fast = c.fast_tier,
        s_hit = fixed.fast_tier_hit_ratio * 100.0,
        t_hit = strata.fast_tier_hit_ratio * 100.0,
        up = strata.promotions,
        down = strata.migrations - strata.promotions,
        bytes = strata_core::format_size(strata.migrated_bytes),
    ))
}

/// A latency for people: µs below a millisecond, ms above.
pub fn us(latency_us: f64) -> String {
    if latency_us < 1000.0 {
        format!("{latency_us:.0} µs")
    } else {
        format!("{:.2} ms", latency_us / 1000.0)
    }
}

/// Milliseconds with two decimals and no unit, for the narrow per-volume cells.
fn short_ms(latency_us: f64) -> String {
    format!("{:.2}", latency_us / 1000.0)
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { round3(a / b) } else { 0.0 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A `/v1/stats` reply with nvme and hdd tiers and one volume per (name, reads, nvme hits).
    fn stats(volumes: &[(&str, u64, u64)]) -> StatsReply {
        let profile = json!({"read_latency_us": 1.0, "write_latency_us": 1.0, "read_mbps": 1.0,
            "write_mbps": 1.0, "parallelism": 1, "seek_penalty": false});
        let io = json!({"reads": 0, "writes": 0, "flushes": 0, "discards": 0, "read_bytes": 0,
            "write_bytes": 0, "errors": 0, "read_latency_mean_us": 0.0, "read_latency_p99_us": 0,
            "write_latency_mean_us": 0.0, "write_latency_p99_us": 0});
        let tier = |kind: &str| {
            json!({"kind": kind, "capacity_bytes": 1 << 20, "used_bytes": 0, "free_bytes": 1 << 20,
                "occupancy": 0.0, "slot_granule_bytes": 65536, "cost_per_gib_month": 0.0,
                "profile": profile, "io": io})
        };
        let volumes: Vec<_> = volumes
            .iter()
            .map(|&(name, reads, hits)| {
                json!({"id": 1, "name": name, "size_bytes": 1 << 20, "extent_size_bytes": 1 << 20,
                    "block_size": 4096, "profile": null, "pin": null, "allocated_bytes": 0,
                    "bytes_per_tier": {}, "created_unix_s": 0, "open_handles": 0,
                    "io": {"reads": reads, "writes": 0, "read_bytes": 0, "write_bytes": 0,
                        "flushes": 0, "trims": 0, "write_zeroes": 0, "unallocated_reads": 0,
                        "read_hits_by_tier": {"nvme": hits, "hdd": reads - hits},
                        "hit_ratio_by_tier": {}}})
            })
            .collect();
        serde_json::from_value(
            json!({"server_id": "s", "tiers": [tier("nvme"), tier("hdd")],
            "volumes": volumes, "nbd": null, "migrations": {"active": true},
            "prefetch": {"active": false}}),
        )
        .expect("stats reply")
    }

    fn run(
        policy: &'static str,
        latency_us: f64,
        hits: u64,
        moves: &[(&str, &str, u64)],
    ) -> PolicyRun {
        let migrations = moves
            .iter()
            .map(|&(from, to, finished)| {
                json!({"volume": "database", "extent": 0, "from_tier": from, "to_tier": to,
                    "bytes": 1 << 20, "reason": "promote", "finished_unix_ms": finished,
                    "duration_us": 1, "outcome": "done"})
            })
            .collect::<Vec<_>>();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        PolicyRun {
            policy,
            nbd: addr,
            api: addr,
            samples: (0..10)
                .map(|i| Sample {
                    at_ms: i * 100,
                    latency_us,
                    read: true,
                    volume: 0,
                })
                .collect(),
            ticks: Vec::new(),
            start_stats: stats(&[("database", 100, 10)]),
            end_stats: stats(&[("database", 200, 10 + hits)]),
            migrations: serde_json::from_value(json!({"migrations": migrations})).unwrap(),
            prefetch: serde_json::from_value(json!({"active": false, "predictors": []})).unwrap(),
            start_unix_ms: 1_000,
        }
    }

    #[test]
    fn comparison_counts_only_the_run_and_divides_static_by_strata() {
        let mut runs = [
            run("static", 3000.0, 5, &[]),
            // One promotion and one demotion in the run, one move before it started.
            run(
                "strata",
                1000.0,
                60,
                &[
                    ("hdd", "nvme", 1500),
                    ("nvme", "hdd", 1600),
                    ("hdd", "nvme", 900),
                ],
            ),
        ];
        runs[1].prefetch = serde_json::from_value(json!({"active": true, "predictors": [],
            "totals": {"predictor": "all", "precision": 0.75, "coverage": 0.4,
                       "prefetched_bytes": 4 << 20, "wasted_bytes": 1 << 20}}))
        .unwrap();
        let c = compare(&runs, &super::super::workload::PROFILES[..1], 1, "builtin");
        assert_eq!(c.fast_tier, "nvme");
        let (fixed, strata) = (&c.policies[0], &c.policies[1]);
        assert_eq!(fixed.fast_tier_hit_ratio, 0.05);
        assert_eq!(strata.fast_tier_hit_ratio, 0.6);
        assert_eq!((strata.migrations, strata.promotions), (2, 1));
        assert_eq!(strata.migrated_bytes, 2 << 20);
        assert_eq!(strata.volumes[0].fast_tier_hit_ratio, 0.6);
        let ratios = c.static_over_strata.expect("both policies ran");
        assert_eq!(ratios.read_latency_mean, 3.0);
        assert!(!fixed.prefetch.measured);
        assert!(strata.prefetch.measured);
        assert_eq!(strata.prefetch.precision, Some(0.75));
        let table = render_table(&c);
        assert!(table.contains("mean 3.00x"), "{table}");
        assert!(table.contains("(strata is faster)"), "{table}");
        assert!(table.contains(PREFETCH_NOT_MEASURED), "{table}");
        assert!(
            table.contains("strata: precision 0.75, coverage 0.40"),
            "{table}"
        );
        let t = timeline(&runs, 1);
        assert_eq!(t.migrations.lines["strata"], [(0.0, 0.0), (1.0, 2.0)]);
        assert_eq!(t.read_latency_ms.lines["static"], [(0.5, 3.0)]);
    }

    #[test]
    fn a_prefetcher_that_copied_nothing_reports_no_precision() {
        let mut runs = [
            run("static", 3000.0, 5, &[]),
            run("strata", 1000.0, 60, &[]),
        ];
        let volume = |name: &str, off: bool, depth: u64| {
            json!({"volume": name, "class": "backup", "depth": depth, "threshold": 0.5,
                   "tuner_off": off, "queue_len": 0, "late": 0, "dropped": 3,
                   "predictor": "readahead", "precision": 0.0, "coverage": 0.0,
                   "prefetched_bytes": 0, "wasted_bytes": 0})
        };
        runs[1].prefetch = serde_json::from_value(json!({"active": true, "predictors": [],
            "totals": {"predictor": "all", "precision": 0.0, "coverage": 0.0,
                       "prefetched_bytes": 0, "wasted_bytes": 0, "prefetched_extents": 0,
                       "demand_reads": 120},
            "volumes": [volume("a", true, 0), volume("b", false, 4)]}))
        .unwrap();
        let c = compare(&runs, &super::super::workload::PROFILES[..1], 1, "builtin");
        let strata = &c.policies[1];
        assert!(strata.prefetch.measured);
        assert_eq!(strata.prefetch.precision, None);
        let table = render_table(&c);
        assert!(
            table.contains(
                "strata: no prefetch copies (120 demand reads; tuner off on 1 and depth 0 on \
                 1 of 2 volumes; 6 candidates dropped from full queues)"
            ),
            "{table}"
        );
        assert!(!table.contains("precision 0.00"), "{table}");
    }
}
