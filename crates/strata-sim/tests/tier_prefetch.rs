//! Tier mode with prefetch on: a prefetcher next to the policy brings predicted extents
//! up before they are read, makes room only by demoting cold data, and reports the
//! prefetch measures in the result row.

mod common;

use strata_core::{IoKind, SizeOrFraction};
use strata_predict::PredictorKind;
use strata_sim::IoRecord;
use strata_sim::tier::{TierInput, TierRun, TierSimConfig, TierSizes, simulate_tier, tier_row};

const MIB: u64 = 1 << 20;
const EXTENTS: u64 = 200;
const SECOND_NS: u64 = 1_000_000_000;

fn record(time_ns: u64, disk: u32, extent: u64, kind: IoKind) -> IoRecord {
    IoRecord {
        time_ns: Some(time_ns),
        disk,
        offset_bytes: extent * MIB,
        len_bytes: 4096,
        kind,
    }
}

/// A hot extent of volume 1 and every extent of volume 0 are written (the first 10 % of
/// the footprint lands on the fast tier); after a minute volume 0 is read front to back,
/// one extent every second, each read right after a read of the hot extent.
fn written_then_scanned() -> Vec<IoRecord> {
    let mut records = vec![record(0, 1, 0, IoKind::Write)];
    records.extend((0..EXTENTS).map(|e| record((e + 1) * 10_000_000, 0, e, IoKind::Write)));
    let start = 60 * SECOND_NS;
    for (step, extent) in (0..EXTENTS).enumerate() {
        let t = start + step as u64 * SECOND_NS;
        records.push(record(t, 1, 0, IoKind::Read));
        records.push(record(t + 1_000, 0, extent, IoKind::Read));
    }
    records
}

fn run(policy: &str, predictor: Option<PredictorKind>) -> TierRun {
    let input = TierInput::from_records(written_then_scanned(), MIB, 1000).expect("input");
    let sizes = TierSizes {
        fast: SizeOrFraction::Fraction(0.1),
        middle: None,
    };
    let config = TierSimConfig::default()
        .with_unit_bytes(MIB)
        .with_prefetch(predictor);
    simulate_tier(&input, policy, &sizes, &config).expect(policy)
}

#[test]
fn auto_brings_a_scan_up_ahead_of_it_by_demoting_cold_data() {
    let off = run("static", None);
    let on = run("static", Some(PredictorKind::Auto));
    assert!(off.result.prefetch.is_none());
    let measures = on.result.prefetch.clone().expect("prefetch measures");
    let stats = measures.stats;
    // Room comes from extents not read for 30 s: the 20-extent fast tier turns over at
    // most 20 times per 30 s of the 200 s scan.
    assert!(stats.issued > 80, "{stats:?}");
    assert!(stats.evicted > 0, "room comes from cold data: {stats:?}");
    assert!(stats.used + stats.wasted <= stats.issued, "{stats:?}");
    assert!(stats.timely <= stats.used && stats.used_fast <= stats.used);
    assert!(measures.precision > 0.9, "{measures:?}");
    assert!(measures.timeliness > 0.9, "{measures:?}");
    assert!(measures.coverage > 0.25, "{measures:?}");
    // Every used prefetch is a fast hit more; at most the extents written onto the fast
    // tier a minute before the scan (cold by then) can be demoted before the scan reads
    // them.
    let written_fast = (EXTENTS + 1) / 10;
    assert!(
        on.result.hits + written_fast >= off.result.hits + stats.used_fast,
        "fast hits {} with prefetch, {} without",
        on.result.hits,
        off.result.hits
    );
    assert!(
        on.result.mean_latency_us < 0.8 * off.result.mean_latency_us,
        "mean {} µs with prefetch, {} µs without",
        on.result.mean_latency_us,
        off.result.mean_latency_us
    );
    // The copies are migrations like any other.
    assert_eq!(
        on.result.migrated_bytes,
        (stats.issued + stats.evicted) * MIB
    );
    assert_eq!(on.counters.rejected_moves, 0);

    let row = tier_row(&on);
    assert_eq!(row.extra["predictor"], "auto");
    for field in ["precision", "coverage", "timeliness", "wasted_bytes"] {
        assert!(row.extra.contains_key(field), "{field} missing: {row:?}");
    }
    assert!(!tier_row(&off).extra.contains_key("predictor"));
}

#[test]
fn the_hot_extent_is_never_evicted_and_replays_are_deterministic() {
    let on = run("static", Some(PredictorKind::Auto));
    let stats = on.result.prefetch.as_ref().expect("measures").stats;
    // Fast-tier hits: the writes that landed there (10 % of the 201 extents), every read
    // of the hot extent (read every second, so never cold enough to be demoted), and the
    // prefetched scan.
    let written_fast = (EXTENTS + 1) / 10;
    assert!(
        on.result.hits >= written_fast + EXTENTS + stats.used_fast,
        "{} hits, {stats:?}",
        on.result.hits
    );
    assert_eq!(run("static", Some(PredictorKind::Auto)).result, on.result);
    assert_eq!(run("static", None).result.moves, 0);
}

/// Policies and predictors of the shared-trace table.
const TABLE_POLICIES: [&str; 3] = ["static", "lru-promote", "strata"];
const TABLE_PREDICTORS: [PredictorKind; 3] = [
    PredictorKind::Readahead,
    PredictorKind::Leap,
    PredictorKind::Auto,
];

/// `cargo test --release -p strata-sim --test tier_prefetch -- --ignored --nocapture`
///
/// Every shared trace at 1 MiB extents, fast tier 10 %, two tiers: each policy without a
/// prefetcher and with each predictor; the mean latency with prefetch over the mean
/// without, per policy, and its geometric mean over the traces.
#[test]
#[ignore = "evidence table for BENCHMARKS.md; reads ../shared/traces (about a minute)"]
fn table_over_shared_traces() {
    use strata_sim::run::NoProgress;
    use strata_sim::tier::{TierExperiment, run_tier_experiment};
    use strata_sim::trace::TraceOptions;
    let mut traces = common::shared_traces();
    traces.sort_by(|a, b| a.0.cmp(&b.0));
    println!(
        "| trace | policy | predictor | mean ms | with / without | fast hit | precision | coverage | timeliness | prefetched GiB | wasted GiB |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    // (policy, predictor) → sum of ln(ratio), count.
    let mut ratios: std::collections::BTreeMap<(String, String), (f64, u32)> = Default::default();
    for (path, unit) in &traces {
        let runs_of = |predictors: Vec<PredictorKind>| {
            let experiment = TierExperiment {
                traces: vec![path.clone()],
                trace_options: TraceOptions::default().with_time_unit(*unit),
                units: vec![MIB],
                reads_only: false,
                policies: TABLE_POLICIES.iter().map(|p| (*p).to_owned()).collect(),
                fast: vec![SizeOrFraction::Fraction(0.1)],
                middle: Vec::new(),
                predictors,
                config: TierSimConfig::default(),
            };
            run_tier_experiment(&experiment, &NoProgress)
                .expect("replay")
                .pop()
                .expect("one trace")
        };
        let without = runs_of(Vec::new());
        let with = runs_of(TABLE_PREDICTORS.to_vec());
        for (index, policy) in TABLE_POLICIES.iter().enumerate() {
            let base = &without.runs[index].result;
            println!(
                "| {} | {policy} | none | {:.1} | 1.00 | {:.3} | | | | | |",
                without.trace,
                base.mean_latency_us / 1000.0,
                base.fast_hit_ratio
            );
            let per_policy = TABLE_PREDICTORS.len();
            for run in &with.runs[index * per_policy..(index + 1) * per_policy] {
                let r = &run.result;
                let p = r.prefetch.as_ref().expect("prefetch measures");
                let ratio = r.mean_latency_us / base.mean_latency_us;
                let entry = ratios
                    .entry((policy.to_string(), p.predictor.clone()))
                    .or_default();
                entry.0 += ratio.ln();
                entry.1 += 1;
                println!(
                    "| {} | {policy} | {} | {:.1} | {ratio:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} |",
                    with.trace,
                    p.predictor,
                    r.mean_latency_us / 1000.0,
                    r.fast_hit_ratio,
                    p.precision,
                    p.coverage,
                    p.timeliness,
                    (p.stats.issued * MIB) as f64 / f64::from(1 << 30),
                    p.wasted_bytes as f64 / f64::from(1 << 30),
                );
            }
        }
    }
    println!();
    println!("| policy | predictor | geometric mean of with / without |");
    println!("|---|---|---:|");
    for ((policy, predictor), (sum, n)) in &ratios {
        println!(
            "| {policy} | {predictor} | {:.3} |",
            (sum / f64::from(*n)).exp()
        );
    }
}
