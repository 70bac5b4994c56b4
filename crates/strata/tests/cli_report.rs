//! `strata report --out DIR` against a real server that migrates (`lru-promote`): the
//! page, its PNG plots and the summary, with the reads of the window split by tier and
//! the moves of the durable migration log counted.

mod common;

use common::{Server, TEST_CONFIG, assert_success};
use std::process::{Command, Stdio};

#[test]
fn report_samples_the_server_and_plots_tiering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "{TEST_CONFIG}\n[placement]\npolicy = \"lru-promote\"\nplan_interval_ms = 200\naccess_poll_ms = 50\n"
    );
    let server = Server::start(dir.path(), &config);
    server.create_volume("db01", "16M");
    common::qemu_io(&server.uri("db01"), &["write -P 0x42 0 8M", "flush"]);

    let out_dir = dir.path().join("report");
    let report = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--api", &server.api_url(), "report", "--json"])
        .args(["--duration", "2", "--interval", "0.5", "--out"])
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run strata report");
    for _ in 0..3 {
        common::qemu_io(&server.uri("db01"), &["read -P 0x42 0 8M"]);
    }
    let out = report.wait_with_output().expect("strata report");
    assert_success("strata report", &out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert!(
        summary["samples"].as_u64().is_some_and(|n| n >= 5),
        "{summary}"
    );
    let shares: f64 = summary["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .map(|t| t["read_share"].as_f64().expect("share"))
        .sum();
    assert!(
        (shares - 1.0).abs() < 1e-9,
        "the window's reads add up: {summary}"
    );
    let log = server.cli(&["migration", "log", "--json", "--limit", "10000"]);
    assert_success("migration log", &log);
    let logged: serde_json::Value = serde_json::from_slice(&log.stdout).expect("log JSON");
    let done = logged["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .filter(|m| m["outcome"] == "done")
        .count() as u64;
    assert_eq!(summary["migrations"].as_u64(), Some(done));
    for key in ["prefetch_precision", "prefetch_coverage"] {
        let v = summary[key].as_f64().expect(key);
        assert!((0.0..=1.0).contains(&v), "{key}: {summary}");
    }

    for png in [
        "occupancy.png",
        "read_share.png",
        "read_iops.png",
        "migrations.png",
        "prefetch.png",
    ] {
        let bytes = std::fs::read(out_dir.join(png)).expect(png);
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{png} is a PNG");
    }
    let html = std::fs::read_to_string(out_dir.join("index.html")).expect("index.html");
    for needle in [
        "strata report",
        "share of reads",
        "occupancy.png",
        "Migrations completed",
        "prefetch.png",
    ] {
        assert!(html.contains(needle), "{needle} missing from index.html");
    }
    // A precision only for a prefetcher that copied something.
    let prefetch_line = if summary["prefetched_bytes"]
        .as_u64()
        .expect("prefetched_bytes")
        > 0
    {
        "Prefetch: active, precision"
    } else {
        "Prefetch: active, nothing prefetched yet (no precision), coverage"
    };
    assert!(
        html.contains(prefetch_line),
        "{prefetch_line} missing from index.html"
    );
    let bad = server.cli(&["report", "--out", "x", "--interval", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}
