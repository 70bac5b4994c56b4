//! `strata profile` and `strata train` as a user runs them: the real binary on the trace
//! fixtures, checked against INTERFACE.md — the JSON shape, tier profiles that sum to 1,
//! request windows for untimed traces, exit code 2 and one clear line for a bad
//! `--window`, and a trained model file that `--model` loads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

fn fixture(name: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../strata-sim/tests/fixtures/traces")
        .join(name);
    path.to_string_lossy().into_owned()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "strata failed: {}", stderr_of(out));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

const CLASSES: [&str; 7] = ["database", "web", "file", "dev", "vdi", "backup", "unknown"];

/// Checks one window against INTERFACE.md's shape.
fn check_window(window: &Value) {
    assert!(window["start"].is_number(), "{window}");
    let class = window["class"].as_str().expect("class is a string");
    assert!(CLASSES.contains(&class), "{class}");
    let confidence = window["confidence"]
        .as_f64()
        .expect("confidence is a number");
    assert!((0.0..=1.0).contains(&confidence));
    let profile = &window["tier_profile"];
    let shares: Vec<f64> = ["nvme", "ssd", "hdd"]
        .iter()
        .map(|tier| profile[tier].as_f64().expect("tier share is a number"))
        .collect();
    assert!(shares.iter().all(|s| (0.0..=1.0).contains(s)), "{profile}");
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{profile}");
    let features = window["features"]
        .as_object()
        .expect("features is an object");
    assert!(features.contains_key("read_fraction") && features.contains_key("working_set_bytes"));
    assert!(window["defaults"]["prefetch"].is_string(), "{window}");
}

#[test]
fn profile_json_has_the_interface_shape() {
    let out = strata(&[
        "profile",
        "--trace",
        &fixture("msn_fs_head20k.trace.gz"),
        "--json",
    ]);
    let doc = json_of(&out);
    assert_eq!(doc["trace"], "msn_fs_head20k.trace.gz");
    let windows = doc["windows"].as_array().expect("windows is an array");
    // 20,000 requests well inside 60 s: two windows of 10,000 requests.
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0]["start"].as_f64(), Some(0.0));
    assert_eq!(windows[1]["features"]["requests"].as_u64(), Some(10_000));
    for window in windows {
        check_window(window);
    }
}

#[test]
fn untimed_traces_are_windowed_by_requests() {
    let trace = fixture("arc_OLTP_head20k.lis.gz");
    let doc = json_of(&strata(&[
        "profile", "--trace", &trace, "--window", "5000r", "--json",
    ]));
    let windows = doc["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 4);
    assert_eq!(windows[2]["start"].as_f64(), Some(10_000.0));
    windows.iter().for_each(check_window);
    // A time window on a trace without time is an error that says what to do.
    let out = strata(&["profile", "--trace", &trace, "--window", "60"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("--window 5000r"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_bad_window_is_a_usage_error() {
    for bad in ["0", "abc", "-5", "10x", "0r"] {
        let out = strata(&[
            "profile",
            "--trace",
            &fixture("msn_fs_head20k.trace.gz"),
            "--window",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "--window {bad}");
        let err = stderr_of(&out);
        assert!(err.contains("--window") && err.contains("SECONDS"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_table_names_every_window() {
    let out = strata(&[
        "profile",
        "--trace",
        &fixture("systor17_traces_sample.csv.gz"),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("class") && text.contains("nvme"), "{text}");
    assert!(text.lines().count() >= 3, "{text}");
}

#[test]
fn train_writes_a_model_that_profile_loads() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let model_arg = model.to_string_lossy().into_owned();
    let out = strata(&[
        "train",
        "--trace",
        &fixture("systor17_traces_sample.csv.gz"),
        "--trace",
        &fixture("msr_hm_0_sample1000.csv"),
        "--out",
        &model_arg,
        "--synthetic-volumes",
        "2",
        "--synthetic-windows",
        "3",
        "--trees",
        "5",
        "--folds",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cross-validated accuracy"), "{text}");
    assert!(stderr_of(&out).contains("msr_hm_0_sample1000.csv belongs to no known trace family"));
    let head: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(head["format"], "strata-workload-model");
    assert_eq!(head["format_version"], 1);
    assert_eq!(head["features"][0], "read_fraction");
    let doc = json_of(&strata(&[
        "profile",
        "--trace",
        &fixture("systor17_traces_sample.csv.gz"),
        "--model",
        &model_arg,
        "--json",
    ]));
    assert_eq!(doc["windows"].as_array().map(Vec::len), Some(1));
    // A file that is not a model is refused with one line.
    let out = strata(&[
        "profile",
        "--trace",
        &fixture("systor17_traces_sample.csv.gz"),
        "--model",
        &fixture("tencent_handwritten.csv"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("cannot load model"),
        "{}",
        stderr_of(&out)
    );
}
