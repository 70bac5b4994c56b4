//! A whole tier-mode run as `strata sim --mode tier` drives it: rows in INTERFACE.md's JSON
//! shape, in a fixed order, and the latency plots.

use std::path::PathBuf;
use strata_core::SizeOrFraction;
use strata_sim::run::NoProgress;
use strata_sim::tier::{
    TierExperiment, TierSimConfig, run_tier_experiment, tier_report, write_tier_plots,
};

fn experiment(middle: Vec<SizeOrFraction>) -> TierExperiment {
    let fixture = |name: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/traces")
            .join(name)
    };
    TierExperiment {
        traces: vec![
            fixture("msr_hm_0_sample1000.csv"),
            fixture("systor17_traces_sample.csv.gz"),
        ],
        trace_options: Default::default(),
        units: vec![1 << 20],
        reads_only: false,
        policies: vec!["static".into(), "lru-promote".into()],
        fast: vec![
            SizeOrFraction::Fraction(0.05),
            SizeOrFraction::Fraction(0.2),
        ],
        middle,
        predictors: Vec::new(),
        config: TierSimConfig::default(),
    }
}

#[test]
fn rows_have_the_interface_shape_in_a_fixed_order() {
    let runs = run_tier_experiment(&experiment(Vec::new()), &NoProgress).expect("run");
    let json: serde_json::Value =
        serde_json::from_str(&tier_report(&runs).to_json()).expect("json");
    let traces = json["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0]["trace"], "msr_hm_0_sample1000.csv");
    assert_eq!(traces[0]["unit"], 1 << 20);
    let unique = traces[0]["unique"].as_u64().expect("unique");
    let rows = traces[0]["results"].as_array().expect("rows");
    let order: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["policy"].as_str().unwrap_or(""),
                r["cache_size"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let (small, large) = (unique / 20, unique / 5);
    assert_eq!(
        order,
        [
            ("static", small),
            ("lru-promote", small),
            ("static", large),
            ("lru-promote", large)
        ]
    );
    for row in rows {
        for field in [
            "hits",
            "misses",
            "miss_ratio",
            "mean_latency_us",
            "p99_latency_us",
            "fast_hit_ratio",
            "migrated_bytes",
            "copied_bytes",
        ] {
            assert!(row[field].is_number(), "{field} missing in {row}");
        }
        assert!(
            row["copied_bytes"].as_u64() <= row["migrated_bytes"].as_u64(),
            "{row}"
        );
        assert!(row.get("middle_size").is_none());
        let ratio = row["fast_hit_ratio"].as_f64().unwrap_or(-1.0);
        let miss = row["miss_ratio"].as_f64().unwrap_or(-1.0);
        assert!((ratio + miss - 1.0).abs() < 1e-5, "{row}");
    }
}

#[test]
fn three_tier_rows_name_the_middle_tier_and_plots_are_written() {
    let runs = run_tier_experiment(
        &experiment(vec![SizeOrFraction::Fraction(0.2)]),
        &NoProgress,
    )
    .expect("run");
    let report = tier_report(&runs);
    let row = &report.traces[0].results[0];
    assert!(row.extra.contains_key("middle_size"));
    assert!(row.extra.contains_key("middle_hit_ratio"));
    let dir = tempfile::tempdir().expect("tempdir");
    let files = write_tier_plots(&runs, dir.path()).expect("plots");
    // 2 traces × 2 fast sizes × (CDF + time series).
    assert_eq!(files.len(), 8);
    for file in &files {
        let bytes = std::fs::read(file).expect("png");
        assert_eq!(&bytes[1..4], b"PNG", "{}", file.display());
    }
}

#[test]
fn an_unknown_policy_is_an_error_naming_it() {
    let mut bad = experiment(Vec::new());
    bad.policies = vec!["nope".into()];
    let err = run_tier_experiment(&bad, &NoProgress).expect_err("unknown policy");
    assert!(err.to_string().contains("nope"), "{err}");
}
