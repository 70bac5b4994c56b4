//! A whole tier-mode run as `strata sim --mode tier` drives it: rows in INTERFACE.md's JSON
//! shape, in a fixed order, the latency plots and the event log.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use strata_core::SizeOrFraction;
use strata_sim::run::NoProgress;
use strata_sim::tier::{
    EVENTS_HEADER, TierExperiment, TierSimConfig, run_tier_experiment, run_tier_with_events,
    tier_report, write_tier_plots,
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

#[test]
fn the_event_log_accounts_for_every_placement_move_copy_and_served_piece() {
    let mut one = experiment(vec![SizeOrFraction::Fraction(0.2)]);
    one.traces.truncate(1);
    one.policies = vec!["lru-promote".into()];
    one.fast = vec![SizeOrFraction::Fraction(0.1)];
    let mut log = Vec::new();
    let logged = run_tier_with_events(&one, &mut log).expect("run with a log");
    let plain = run_tier_experiment(&one, &NoProgress).expect("run");
    let run = &logged.runs[0];
    assert_eq!(
        run.result, plain[0].runs[0].result,
        "the log changes the run"
    );

    let text = String::from_utf8(log).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(EVENTS_HEADER));
    let (mut places, mut moves, mut dones, mut serves, mut fast_serves) = (0u64, 0, 0, 0, 0);
    // Per extent: where its data is, and the moves whose copies are not done, oldest first.
    let mut home: HashMap<u64, String> = HashMap::new();
    let mut in_flight: HashMap<u64, VecDeque<(String, String)>> = HashMap::new();
    let mut last_ns = 0u64;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        let time_ns: u64 = f[0].parse().expect("time");
        assert!(time_ns >= last_ns, "out of order: {line}");
        last_ns = time_ns;
        let extent: u64 = f[3].parse().expect("extent");
        match f[1] {
            "place" => {
                places += 1;
                let fresh = home.insert(extent, f[5].to_owned()).is_none();
                assert!(fresh, "placed twice: {line}");
                assert!(
                    f[4].is_empty() && f[6].is_empty() && f[7].is_empty(),
                    "{line}"
                );
            }
            "move" => {
                moves += 1;
                assert!(home.contains_key(&extent), "moved before placed: {line}");
                assert_ne!(f[4], f[5], "{line}");
                assert!(["promote", "evict"].contains(&f[6]), "{line}");
                let copies = in_flight.entry(extent).or_default();
                copies.push_back((f[4].to_owned(), f[5].to_owned()));
            }
            "done" => {
                dones += 1;
                let copy = in_flight.get_mut(&extent).and_then(VecDeque::pop_front);
                let (from, to) = copy.unwrap_or_else(|| panic!("done without a move: {line}"));
                assert_eq!((f[4], f[5]), (from.as_str(), to.as_str()), "{line}");
                assert_eq!(
                    home.get(&extent),
                    Some(&from),
                    "copied from elsewhere: {line}"
                );
                home.insert(extent, to);
                let _: u64 = f[7].parse().expect("copy time");
            }
            "serve" => {
                serves += 1;
                let from = home.get(&extent);
                assert!(from.is_some(), "served before placed: {line}");
                // The data is where the last finished copy put it, copies in flight or not.
                assert_eq!(
                    from.map(String::as_str),
                    Some(f[4]),
                    "served elsewhere: {line}"
                );
                fast_serves += u64::from(f[4] == "0");
                let _: u64 = f[7].parse().expect("latency");
            }
            other => panic!("unknown event {other}: {line}"),
        }
    }
    assert_eq!(places, logged.unique);
    assert_eq!(serves, run.result.hits + run.result.misses);
    assert_eq!(fast_serves, run.result.hits);
    assert_eq!(moves, run.counters.moves);
    assert!(moves > 0, "lru-promote moved nothing");
    assert!(
        dones > 0 && dones <= moves,
        "{dones} copies done of {moves} moves"
    );
}

#[test]
fn an_event_log_of_more_than_one_combination_is_refused_before_anything_is_written() {
    let mut log = Vec::new();
    let err = run_tier_with_events(&experiment(Vec::new()), &mut log).expect_err("two traces");
    assert!(err.to_string().contains("exactly one trace"), "{err}");
    assert!(log.is_empty());
}
