//! `strata demo` as a newcomer runs it, shortened: both policies measured in one run, the
//! report written (HTML, valid PNGs, JSON), no child server left behind, and bad usage
//! refused with exit code 2. The default driver is tested (fio when it is installed, as
//! in CI), and the built-in driver on its own.

use serde_json::Value;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

fn fio_installed() -> bool {
    Command::new("fio")
        .arg("--enghelp=nbd")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a short demo into `out` and checks everything a run must produce.
fn run_demo(out: &Path, extra: &[&str]) -> Value {
    let out_arg = out.to_str().expect("utf-8 temp path");
    let mut args = vec!["demo", "--duration", "6", "--out", out_arg, "--json"];
    args.extend_from_slice(extra);
    let run = strata(&args);
    assert!(
        run.status.success(),
        "strata demo failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: Value = serde_json::from_slice(&run.stdout).expect("stdout is one JSON document");
    let policies = doc["policies"].as_array().expect("policies array");
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["policy"].as_str().expect("policy name"))
        .collect();
    assert_eq!(names, ["static", "strata"], "{doc}");
    for p in policies {
        assert!(p["requests"].as_u64().expect("requests") > 0, "{p}");
        assert!(
            p["read_latency"]["requests"].as_u64().expect("reads") > 0,
            "{p}"
        );
        assert!(
            p["read_latency"]["mean_us"].as_f64().expect("mean") > 0.0,
            "{p}"
        );
        let hit = p["fast_tier_hit_ratio"].as_f64().expect("hit ratio");
        assert!((0.0..=1.0).contains(&hit), "{p}");
        assert_eq!(p["volumes"].as_array().expect("volumes").len(), 4, "{p}");
        // The static baseline runs no prefetcher and says so; strata's is measured. A
        // prefetcher that copied nothing has no precision, and its note says why.
        if p["policy"] == "static" {
            assert_eq!(p["prefetch"]["measured"], false, "{p}");
            assert!(p["prefetch"].get("precision").is_none(), "{p}");
        } else {
            assert_eq!(p["prefetch"]["measured"], true, "{p}");
            let coverage = p["prefetch"]["coverage"].as_f64().expect("coverage");
            assert!((0.0..=1.0).contains(&coverage), "coverage {p}");
            match p["prefetch"]["precision"].as_f64() {
                Some(precision) => assert!((0.0..=1.0).contains(&precision), "{p}"),
                None => {
                    let note = p["prefetch"]["note"].as_str().expect("note");
                    assert!(note.starts_with("no prefetch copies ("), "{p}");
                    assert_eq!(coverage, 0.0, "{p}");
                }
            }
        }
        // Both servers were stopped: nothing listens on their ports any more.
        for key in ["nbd_addr", "api_addr"] {
            let addr = p[key].as_str().expect("address");
            assert!(
                TcpStream::connect(addr).is_err(),
                "{key} {addr} still accepts connections after the demo"
            );
        }
    }
    assert_eq!(policies[0]["migrations"], 0, "static never moves data");
    assert!(
        doc["static_over_strata"]["read_latency_mean"]
            .as_f64()
            .expect("ratio")
            > 0.0
    );
    for png in [
        "read_latency.png",
        "fast_tier_hit_ratio.png",
        "migrations.png",
    ] {
        let bytes = std::fs::read(out.join(png)).expect(png);
        assert!(bytes.len() > 1000, "{png} is {} bytes", bytes.len());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png} is not a PNG");
    }
    let index = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(index.contains("read_latency.png") && index.contains("strata"));
    let saved: Value = serde_json::from_slice(&std::fs::read(out.join("comparison.json")).unwrap())
        .expect("comparison.json");
    assert_eq!(saved["policies"], doc["policies"]);
    doc
}

#[test]
fn demo_compares_both_policies_and_writes_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = run_demo(&dir.path().join("report"), &[]);
    // CI installs fio (.ci/run): there the fio driver is the one under test, never
    // silently replaced by the built-in one.
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !in_ci || fio_installed(),
        "CI=true but fio's nbd engine is missing; .ci/run installs fio"
    );
    let expected = if fio_installed() { "fio" } else { "builtin" };
    assert_eq!(doc["driver"], expected, "{doc}");
}

#[test]
fn builtin_driver_runs_without_fio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = run_demo(&dir.path().join("report"), &["--driver", "builtin"]);
    assert_eq!(doc["driver"], "builtin");
}

#[test]
fn bad_duration_is_a_usage_error() {
    for bad in ["0", "soon", "-3", "99999"] {
        let out = strata(&["demo", &format!("--duration={bad}")]);
        assert_eq!(out.status.code(), Some(2), "--duration {bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--duration"), "--duration {bad}: {stderr}");
    }
    let out = strata(&["demo", "--driver", "dd"]);
    assert_eq!(out.status.code(), Some(2));
}
