//! The issue-4 evidence over the shared traces (`../shared/traces`, next to the repository):
//! every policy at 1 MiB extents, fast 5/10/20 %, two tiers and three (middle 20 %), plus
//! `lru-promote` with its `on_access` moves rate-limited. Prints one markdown table per tier
//! layout and the per-trace verdict on the `strata` target. Ignored by default (minutes of
//! replay); run it with
//!
//! ```text
//! cargo test --release -p strata-sim --test tier_shared_traces -- --ignored --nocapture
//! ```

mod common;

use std::path::PathBuf;
use strata_core::SizeOrFraction;
use strata_sim::run::NoProgress;
use strata_sim::tier::{TierExperiment, TierSimConfig, TierTraceRuns, run_tier_experiment};
use strata_sim::trace::{TimeUnit, TraceOptions};

const POLICIES: [&str; 7] = [
    "all-fast",
    "all-slow",
    "static",
    "lru-promote",
    "smq",
    "arc-tier",
    "strata",
];
const BASELINES: [&str; 3] = ["lru-promote", "smq", "arc-tier"];
/// `on_access` rate limits `lru-promote` is also run under: the `plan` budget, and a tenth.
const THROTTLES_BYTES_PER_S: [u64; 2] = [200_000_000, 20_000_000];

fn traces() -> Vec<(PathBuf, TimeUnit)> {
    common::shared_traces()
}

fn run(
    trace: &(PathBuf, TimeUnit),
    policies: &[&str],
    middle: Option<f64>,
    config: TierSimConfig,
) -> TierTraceRuns {
    let experiment = TierExperiment {
        traces: vec![trace.0.clone()],
        trace_options: TraceOptions::default().with_time_unit(trace.1),
        units: vec![1 << 20],
        reads_only: false,
        policies: policies.iter().map(|p| (*p).to_owned()).collect(),
        fast: [0.05, 0.1, 0.2]
            .into_iter()
            .map(SizeOrFraction::Fraction)
            .collect(),
        middle: middle.into_iter().map(SizeOrFraction::Fraction).collect(),
        predictors: Vec::new(),
        config,
    };
    let mut runs = run_tier_experiment(&experiment, &NoProgress).expect("replay");
    runs.pop().expect("one trace")
}

fn ms(us: f64) -> String {
    let ms = us / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.3}")
    }
}

#[test]
#[ignore = "minutes of replay over ../shared/traces; run by hand for BENCHMARKS.md"]
fn shared_traces_tier_table() {
    let mut ratios = Vec::new();
    let mut misses = Vec::new();
    for middle in [None, Some(0.2)] {
        println!("\n{} tiers:\n", if middle.is_some() { 3 } else { 2 });
        println!(
            "| trace | fast | {} | lru-promote @200 MB/s | lru-promote @20 MB/s | strata vs best baseline |",
            POLICIES.join(" | ")
        );
        println!("|{}", "---|".repeat(POLICIES.len() + 5));
        for trace in traces() {
            let base = run(&trace, &POLICIES, middle, TierSimConfig::default());
            let throttled: Vec<TierTraceRuns> = THROTTLES_BYTES_PER_S
                .iter()
                .map(|&rate| {
                    let config = TierSimConfig::default().with_on_access_bytes_per_s(Some(rate));
                    run(&trace, &["lru-promote"], middle, config)
                })
                .collect();
            for (size, chunk) in base.runs.chunks(POLICIES.len()).enumerate() {
                let mean = |name: &str| {
                    chunk
                        .iter()
                        .find(|r| r.result.policy == name)
                        .map_or(f64::NAN, |r| r.result.mean_latency_us)
                };
                let cells: Vec<String> = POLICIES
                    .iter()
                    .map(|p| {
                        let r = chunk.iter().find(|r| r.result.policy == *p).expect(p);
                        let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
                        format!(
                            "{} ({:.2}, {:.1} / {:.1} GiB)",
                            ms(r.result.mean_latency_us),
                            r.result.fast_hit_ratio,
                            gib(r.result.migrated_bytes),
                            gib(r.result.copied_bytes)
                        )
                    })
                    .collect();
                let throttled_cells: Vec<String> = throttled
                    .iter()
                    .map(|t| ms(t.runs[size].result.mean_latency_us))
                    .collect();
                let best = BASELINES
                    .iter()
                    .map(|p| mean(p))
                    .fold(f64::INFINITY, f64::min);
                let ratio = mean("strata") / best;
                ratios.push(ratio);
                let fast = chunk[0].result.cache_size;
                if ratio > 1.0 {
                    misses.push(format!(
                        "{} fast={fast} middle={middle:?}: {ratio:.3}",
                        base.trace
                    ));
                }
                println!(
                    "| {} | {} | {} | {} | {:.3} |",
                    base.trace,
                    fast,
                    cells.join(" | "),
                    throttled_cells.join(" | "),
                    ratio
                );
                assert!(mean("all-fast") <= mean("all-slow"));
            }
        }
    }
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
    println!(
        "\nstrata / best baseline: mean {mean_ratio:.3} over {} rows; worse on {} rows: {misses:#?}",
        ratios.len(),
        misses.len()
    );
    assert_eq!(ratios.len(), 2 * 3 * traces().len());
}
