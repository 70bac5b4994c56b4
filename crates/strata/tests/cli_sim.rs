//! `strata sim` as a user runs it: the real binary on small trace files, checked against
//! INTERFACE.md ("Offline commands") — JSON shape, the `--cache 10%` rule, every
//! combination of lists, CSV, plots, exit codes and one-line errors, bad trace lines.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

/// Writes an ARC-format trace (`start_block num_blocks ignore request_number`, 512-byte
/// blocks) whose canonical 4 KiB stream is exactly `ids`.
fn arc_trace(dir: &Path, name: &str, ids: &[u64]) -> PathBuf {
    let text: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("{} 8 0 {i}\n", id * 8))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// 5,000 requests over 301 block ids at the untimed traces' 1,000 a second: 5 s of trace
/// time on a busy hdd.
fn busy_arc_trace(dir: &Path) -> PathBuf {
    arc_trace(
        dir,
        "t.lis",
        &(0..5000).map(|i| (i * 7919) % 301).collect::<Vec<_>>(),
    )
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "strata failed: {}", stderr_of(out));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

/// The stream of the hand-counted example: LRU(2) misses 11, MIN(2) misses 8.
const EXAMPLE: [u64; 12] = [1, 2, 3, 1, 4, 2, 1, 5, 3, 3, 1, 2];

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn json_has_exactly_the_interface_shape() {
    let dir = tempfile::tempdir().unwrap();
    let trace = arc_trace(dir.path(), "example.lis", &EXAMPLE);
    let out = strata(&[
        "sim",
        "--trace",
        trace.to_str().unwrap(),
        "--format",
        "arc",
        "--policy",
        "lru,belady",
        "--cache",
        "40%,100%",
        "--json",
    ]);
    let doc = json_of(&out);
    assert_eq!(keys(&doc), ["traces"]);
    let traces = doc["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(keys(t), ["accesses", "results", "trace", "unique", "unit"]);
    assert_eq!(t["trace"], "example.lis");
    assert_eq!(
        (
            t["unit"].as_u64(),
            t["accesses"].as_u64(),
            t["unique"].as_u64()
        ),
        (Some(4096), Some(12), Some(5))
    );
    let results = t["results"].as_array().unwrap();
    let got: Vec<(&str, u64, u64)> = results
        .iter()
        .map(|r| {
            assert_eq!(
                keys(r),
                ["cache_size", "hits", "miss_ratio", "misses", "policy"]
            );
            let (hits, misses) = (r["hits"].as_u64().unwrap(), r["misses"].as_u64().unwrap());
            assert_eq!(hits + misses, 12);
            let ratio = r["miss_ratio"].as_f64().unwrap();
            assert_eq!(ratio, (misses as f64 / 12.0 * 1e6).round() / 1e6);
            (
                r["policy"].as_str().unwrap(),
                r["cache_size"].as_u64().unwrap(),
                misses,
            )
        })
        .collect();
    // 40 % of 5 unique ids = 2 entries; hand counts in strata-sim's equivalence test.
    assert_eq!(
        got,
        [
            ("lru", 2, 11),
            ("belady", 2, 8),
            ("lru", 5, 5),
            ("belady", 5, 5)
        ]
    );
}

#[test]
fn ten_percent_is_floor_of_unique_with_a_minimum_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let wide: Vec<u64> = (0..45).chain(0..45).collect();
    for (ids, want) in [(&wide[..], 4), (&EXAMPLE[..], 1)] {
        let trace = arc_trace(dir.path(), "t.lis", ids);
        let doc = json_of(&strata(&[
            "sim",
            "--trace",
            trace.to_str().unwrap(),
            "--format",
            "arc",
            "--policy",
            "lru",
            "--cache",
            "10%",
            "--json",
        ]));
        assert_eq!(doc["traces"][0]["results"][0]["cache_size"], want);
    }
}

#[test]
fn every_combination_of_traces_units_sizes_and_policies_is_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let a = arc_trace(dir.path(), "a.lis", &EXAMPLE);
    let b = arc_trace(
        dir.path(),
        "b.lis",
        &(0..300).map(|i| i % 97 * 3).collect::<Vec<_>>(),
    );
    let doc = json_of(&strata(&[
        "sim",
        "--trace",
        a.to_str().unwrap(),
        "--trace",
        b.to_str().unwrap(),
        "--format",
        "arc",
        "--policy",
        "lru,arc,s3fifo,belady,2q",
        "--cache",
        "1%,5%,50%",
        "--unit",
        "4096,1M",
        "--json",
    ]));
    let traces = doc["traces"].as_array().unwrap();
    let names: Vec<(&str, u64)> = traces
        .iter()
        .map(|t| (t["trace"].as_str().unwrap(), t["unit"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("a.lis", 4096),
            ("a.lis", 1 << 20),
            ("b.lis", 4096),
            ("b.lis", 1 << 20)
        ]
    );
    for t in traces {
        let results = t["results"].as_array().unwrap();
        assert_eq!(results.len(), 15);
        let policies: Vec<&str> = results[..5]
            .iter()
            .map(|r| r["policy"].as_str().unwrap())
            .collect();
        assert_eq!(policies, ["lru", "arc", "s3fifo", "belady", "2q"]);
    }
    // At 1 MiB every 4 KiB block of these traces falls in one or two extents.
    assert!(traces[3]["unique"].as_u64().unwrap() <= 2);
}

#[test]
fn runs_are_identical_and_table_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let trace = arc_trace(
        dir.path(),
        "t.lis",
        &(0..2000).map(|i| (i * 7919) % 301).collect::<Vec<_>>(),
    );
    let args = ["sim", "--trace", trace.to_str().unwrap(), "--format", "arc"];
    let first = strata(&args);
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert_eq!(first.stdout, strata(&args).stdout);
    let table = String::from_utf8(first.stdout).unwrap();
    assert!(
        table.starts_with("t.lis  unit 4096 B  accesses 2000  unique 301"),
        "{table}"
    );
    for policy in ["lru", "arc", "s3fifo", "belady"] {
        assert!(
            table.lines().any(|l| l.trim_start().starts_with(policy)),
            "{policy} missing"
        );
    }
}

#[test]
fn a_tier_replay_with_the_heat_forecast_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    // Five 1 s forecast windows.
    let trace = busy_arc_trace(dir.path());
    let t = trace.to_str().unwrap();
    let args = [
        "sim",
        "--mode",
        "tier",
        "--trace",
        t,
        "--format",
        "arc",
        "--fast",
        "10%",
        "--policy",
        "strata",
        "--heat-forecast",
        "1",
        "--json",
    ];
    let first = strata(&args);
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert_eq!(first.stdout, strata(&args).stdout);
    let result = &json_of(&first)["traces"][0]["results"][0];
    assert_eq!(result["policy"], "strata", "{result}");
    assert!(
        result["mean_latency_us"].as_f64().is_some_and(|m| m > 0.0),
        "{result}"
    );
}

#[test]
fn csv_starts_with_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let trace = arc_trace(dir.path(), "t.lis", &EXAMPLE);
    let out = strata(&[
        "sim",
        "--trace",
        trace.to_str().unwrap(),
        "--format",
        "arc",
        "--policy",
        "lru",
        "--cache",
        "40%",
        "--csv",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "trace,unit,accesses,unique,policy,cache_size,hits,misses,miss_ratio"
    );
    assert_eq!(lines[1], "t.lis,4096,12,5,lru,2,1,11,0.916667");
    assert_eq!(lines.len(), 2);
}

#[test]
fn plot_writes_non_empty_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let a = arc_trace(dir.path(), "a.lis", &EXAMPLE);
    let b = arc_trace(
        dir.path(),
        "b.lis",
        &(0..500).map(|i| i % 61).collect::<Vec<_>>(),
    );
    let plots = dir.path().join("plots");
    let out = strata(&[
        "sim",
        "--trace",
        a.to_str().unwrap(),
        "--trace",
        b.to_str().unwrap(),
        "--format",
        "arc",
        "--plot",
        plots.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    for name in ["a_lis_4096.png", "b_lis_4096.png"] {
        let bytes = std::fs::read(plots.join(name)).unwrap();
        assert!(bytes.len() > 1000 && &bytes[1..4] == b"PNG", "{name}");
    }
}

/// Exit code and exactly one non-empty line on stderr.
fn assert_fails(out: &Output, code: i32, mentions: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(
        lines[0].starts_with("error:") && lines[0].contains(mentions),
        "stderr: {err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = arc_trace(dir.path(), "t.lis", &EXAMPLE);
    let t = trace.to_str().unwrap();
    assert_fails(
        &strata(&["sim", "--trace", t, "--policy", "lru,lfu"]),
        2,
        "\"lfu\"",
    );
    assert_fails(
        &strata(&["sim", "--trace", t, "--cache", "200%"]),
        2,
        "200%",
    );
    assert_fails(&strata(&["sim", "--trace", t, "--unit", "0"]), 2, "--unit");
    for bad in ["-1", "nan", "soon"] {
        let out = strata(&[
            "sim",
            "--mode",
            "tier",
            "--trace",
            t,
            "--fast",
            "10%",
            "--heat-forecast",
            bad,
        ]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "stderr: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains("--heat-forecast"),
            "stderr: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    for (flag, bad) in [
        ("--disk-time-share", "0"),
        ("--disk-time-share", "1.5"),
        ("--disk-time-share", "nan"),
        ("--copies", "sideways"),
    ] {
        let out = strata(&[
            "sim", "--mode", "tier", "--trace", t, "--fast", "10%", flag, bad,
        ]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains(flag) && first.contains(bad),
            "stderr: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_copy_model_is_the_movers_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    // A busy hdd, and promotions on nearly every access.
    let trace = busy_arc_trace(dir.path());
    let t = trace.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sim",
            "--mode",
            "tier",
            "--trace",
            t,
            "--format",
            "arc",
            "--unit",
            "1048576",
            "--fast",
            "10%",
            "--policy",
            "lru-promote",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = strata(&args);
        assert!(out.status.success(), "{}", stderr_of(&out));
        json_of(&out)["traces"][0]["results"][0].clone()
    };
    let mover = run(&[]);
    assert_eq!(
        mover,
        run(&["--copies", "mover", "--disk-time-share", "0.05"])
    );
    let overlapping = run(&["--copies", "overlapping"]);
    let unpaced = run(&["--disk-time-share", "1"]);
    for row in [&mover, &overlapping, &unpaced] {
        let copied = row["copied_bytes"].as_u64().expect("copied_bytes");
        assert!(copied > 0, "{row}");
        assert!(
            copied <= row["migrated_bytes"].as_u64().unwrap_or(0),
            "{row}"
        );
    }
    // Each model and share runs the copies differently.
    assert_ne!(mover["mean_latency_us"], unpaced["mean_latency_us"]);
    assert_ne!(mover["mean_latency_us"], overlapping["mean_latency_us"]);
}

#[test]
fn a_missing_trace_fails_with_exit_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.csv");
    assert_fails(
        &strata(&["sim", "--trace", missing.to_str().unwrap()]),
        1,
        "nope.csv",
    );
}

#[test]
fn a_corrupt_line_fails_naming_file_and_line_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.lis");
    std::fs::write(&path, "0 8 0 0\n8 8 0 1\nxyz 8 0 2\n0 8 0 3\n").unwrap();
    let p = path.to_str().unwrap();
    assert_fails(
        &strata(&["sim", "--trace", p, "--format", "arc"]),
        1,
        "bad.lis:3",
    );
    let out = strata(&[
        "sim",
        "--trace",
        p,
        "--format",
        "arc",
        "--skip-bad-lines",
        "--json",
        "--policy",
        "lru",
        "--cache",
        "100%",
    ]);
    let doc = json_of(&out);
    assert_eq!(doc["traces"][0]["accesses"], 3);
    assert_eq!(doc["traces"][0]["results"][0]["hits"], 1);
    assert!(stderr_of(&out).contains("skipped 1 malformed line"));
}

#[test]
fn verify_checks_every_trace_of_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    arc_trace(dir.path(), "a.lis", &EXAMPLE);
    arc_trace(
        dir.path(),
        "b.lis",
        &(0..3000).map(|i| (i * i) % 257).collect::<Vec<_>>(),
    );
    std::fs::write(dir.path().join("README.md"), "not a trace").unwrap();
    let out = strata(&["sim", "verify", "--trace-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    // 2 traces × 2 units × 4 sizes × (lru, belady)
    assert!(text.contains("all 32 comparisons match"), "{text}");
    assert!(!text.contains("MISMATCH"));
}

#[test]
fn the_shared_trace_fixtures_all_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata-sim/tests/fixtures/traces");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut args = vec!["sim", "--json", "--skip-bad-lines", "--cache", "5%,20%"];
    for f in &files {
        args.extend(["--trace", f.as_str()]);
    }
    let doc = json_of(&strata(&args));
    let traces = doc["traces"].as_array().unwrap();
    assert_eq!(traces.len(), files.len());
    for t in traces {
        assert_eq!(t["results"].as_array().unwrap().len(), 8, "{}", t["trace"]);
    }
}

#[test]
fn tier_mode_with_predictors_adds_the_prefetch_fields_to_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    // Sequential runs of 4 KiB blocks over 1 MiB extents, repeated: something to predict.
    let ids: Vec<u64> = (0..6000u64).map(|i| (i * 64) % (256 * 200)).collect();
    let trace = arc_trace(dir.path(), "t.lis", &ids);
    let t = trace.to_str().unwrap();
    let base = [
        "sim",
        "--mode",
        "tier",
        "--trace",
        t,
        "--format",
        "arc",
        "--unit",
        "1M",
        "--fast",
        "10%",
        "--policy",
        "static,lru-promote",
        "--json",
    ];
    let without = json_of(&strata(&base));
    let mut args = base.to_vec();
    args.extend(["--predictor", "readahead,auto"]);
    let with = json_of(&strata(&args));
    let plain = without["traces"][0]["results"].as_array().unwrap();
    let rows = with["traces"][0]["results"].as_array().unwrap();
    assert_eq!(plain.len(), 2);
    assert_eq!(rows.len(), 4, "policies × predictors: {rows:?}");
    let order: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["policy"].as_str().unwrap(),
                r["predictor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("static", "readahead"),
            ("static", "auto"),
            ("lru-promote", "readahead"),
            ("lru-promote", "auto")
        ]
    );
    for row in rows {
        for field in ["precision", "coverage", "timeliness"] {
            let v = row[field].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&v), "{field}: {row}");
        }
        assert!(row["wasted_bytes"].as_u64().is_some(), "{row}");
        assert!(row["mean_latency_us"].as_f64().is_some_and(|m| m > 0.0));
    }
    for row in plain {
        assert!(row.get("predictor").is_none(), "{row}");
    }

    let mut bad = base.to_vec();
    bad.extend(["--predictor", "psychic"]);
    assert_fails(&strata(&bad), 2, "psychic");
    let mut bad = base.to_vec();
    bad.extend(["--lstm-model", "m.safetensors"]);
    assert_fails(&strata(&bad), 2, "--lstm-model");
}

#[test]
fn tier_mode_writes_an_event_log_of_one_combination_and_refuses_more() {
    let dir = tempfile::tempdir().unwrap();
    let trace = busy_arc_trace(dir.path());
    let t = trace.to_str().unwrap();
    let log = dir.path().join("events.csv");
    let l = log.to_str().unwrap();
    let base = [
        "sim", "--mode", "tier", "--trace", t, "--format", "arc", "--unit", "1048576",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        strata(&args)
    };
    let json = json_of(&with(&[
        "--fast",
        "10%",
        "--policy",
        "lru-promote",
        "--events",
        l,
        "--json",
    ]));
    let row = &json["traces"][0]["results"][0];
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("time_ns,event,volume,extent,from_tier,to_tier,reason,latency_ns")
    );
    let served: Vec<&str> = lines
        .filter(|l| l.split(',').nth(1) == Some("serve"))
        .collect();
    let pieces = row["hits"].as_u64().unwrap() + row["misses"].as_u64().unwrap();
    assert_eq!(served.len() as u64, pieces);
    let fast = served.iter().filter(|l| l.split(',').nth(4) == Some("0"));
    assert_eq!(fast.count() as u64, row["hits"].as_u64().unwrap());

    // Two policies, or another mode: a one-line error, and the log is left as it was.
    std::fs::write(&log, "keep me\n").unwrap();
    let out = with(&[
        "--fast",
        "10%",
        "--policy",
        "lru-promote,static",
        "--events",
        l,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("exactly one trace"),
        "{}",
        stderr_of(&out)
    );
    let out = strata(&["sim", "--trace", t, "--format", "arc", "--events", l]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("--events"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "keep me\n");
}
