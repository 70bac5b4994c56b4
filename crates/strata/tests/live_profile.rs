//! The live workload profiler in a real server, driven by fio's nbd engine: a database-like
//! volume (random 4 KiB reads and writes) and a backup-like one (large sequential writes)
//! are told apart, their tier profiles sum to 1, `strata volume show --json` carries the
//! reading, and a workload switch on one volume is a deviation that re-plans placement.

mod common;

use common::{Server, assert_success, metric_sample};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
emulation = false
[[tier]]
kind = "nvme"
capacity = "64M"
[[tier]]
kind = "ssd"
capacity = "128M"
[[tier]]
kind = "hdd"
capacity = "512M"
[placement]
policy = "lru-promote"
access_poll_ms = 20
[profile]
window_s = 1.5
learn_interval_s = 1
"#;

/// Starts fio's nbd engine on `volume` for `seconds` with the job's own options.
fn fio(server: &Server, volume: &str, seconds: u32, job: &[&str]) -> Child {
    Command::new("fio")
        .args([
            "--name=load",
            "--ioengine=nbd",
            &format!("--uri={}", server.uri(volume)),
            "--time_based=1",
            &format!("--runtime={seconds}"),
            "--output-format=json",
        ])
        .args(job)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fio must be installed (.ci/run installs it)")
}

fn finish(child: Child) {
    let out = child.wait_with_output().expect("wait for fio");
    assert_success("fio", &out);
}

/// Random 4 KiB, 70 % reads, over the first 16 MiB: a database-like mix.
const DATABASE: &[&str] = &[
    "--rw=randrw",
    "--rwmixread=70",
    "--bs=4k",
    "--iodepth=8",
    "--size=16m",
];
/// 1 MiB sequential writes over 192 MiB at 64 MB/s: a backup stream that does not wrap
/// around within one window.
const BACKUP: &[&str] = &[
    "--rw=write",
    "--bs=1m",
    "--iodepth=4",
    "--size=192m",
    "--rate=64m",
];

fn profile(server: &Server, volume: &str) -> Value {
    server.get_json(&format!("/v1/volumes/{volume}/profile"))
}

/// Polls the profile until `done` holds (the profiler closes windows on its own clock).
fn wait_profile(server: &Server, volume: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = profile(server, volume);
        if done(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{volume}: no {what} within 60 s: {p}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(server: &Server, series: &str) -> Option<f64> {
    metric_sample(&server.metrics(), series)
}

fn assert_tier_profile_sums_to_one(p: &Value) {
    let shares = p["tier_profile"].as_object().expect("tier profile");
    assert_eq!(shares.len(), 3, "{p}");
    let sum: f64 = shares.values().map(|v| v.as_f64().expect("fraction")).sum();
    assert!((sum - 1.0).abs() < 1e-9, "fractions sum to {sum}: {p}");
}

#[test]
fn live_profiles_tell_workloads_apart_and_a_switch_replans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), CONFIG);
    server.create_volume("db", "256M");
    server.create_volume("bk", "256M");

    // Before any window has closed the profile says so and shows no numbers.
    let fresh = profile(&server, "db");
    assert!(fresh["inferred_class"].is_null(), "{fresh}");
    assert!(fresh["forecast"].is_null(), "{fresh}");
    assert_eq!(fresh["tier_profile"], serde_json::json!({}), "{fresh}");
    assert!(
        fresh["note"].as_str().is_some_and(|n| n.contains("window")),
        "{fresh}"
    );

    let db = fio(&server, "db", 8, DATABASE);
    let bk = fio(&server, "bk", 8, BACKUP);
    // Two windows each, so that db also has a forecast for its next window.
    let has_windows = |p: &Value| p["windows"].as_u64().is_some_and(|w| w >= 2);
    let db_profile = wait_profile(&server, "db", "two windows", has_windows);
    let bk_profile = wait_profile(&server, "bk", "two windows", has_windows);
    finish(db);
    finish(bk);

    assert_eq!(bk_profile["inferred_class"], "backup", "{bk_profile}");
    let db_class = db_profile["inferred_class"].as_str().expect("class");
    assert_ne!(db_class, "backup", "{db_profile}");
    let feature = |p: &Value, name: &str| p["features"][name].as_f64().expect(name);
    assert!(
        feature(&db_profile, "sequential_fraction") < 0.2,
        "{db_profile}"
    );
    assert!(
        feature(&bk_profile, "sequential_fraction") > 0.8,
        "{bk_profile}"
    );
    let small = db_profile["features"]["size_histogram"][0]
        .as_f64()
        .expect("size histogram");
    assert!(small > 0.9, "{db_profile}");
    for p in [&db_profile, &bk_profile] {
        assert_tier_profile_sums_to_one(p);
        let confidence = p["confidence"].as_f64().expect("confidence");
        assert!((0.0..=1.0).contains(&confidence), "{p}");
        let (start, end) = (
            p["window_start_unix_s"].as_f64().expect("start"),
            p["window_end_unix_s"].as_f64().expect("end"),
        );
        assert!(end > start, "{p}");
        let total = &p["forecast"]["total"];
        let (low, point, high) = (
            total["low"].as_f64().expect("low"),
            total["point"].as_f64().expect("point"),
            total["high"].as_f64().expect("high"),
        );
        assert!(low <= point && point <= high && point > 0.0, "{p}");
        assert!(p["forecast"]["nvme"]["point"].as_f64().is_some(), "{p}");
    }

    // The CLI carries the same reading.
    let out = server.cli(&["volume", "show", "bk", "--json"]);
    assert_success("volume show --json", &out);
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["name"], "bk");
    assert_eq!(shown["workload"]["inferred_class"], "backup", "{shown}");
    assert_tier_profile_sums_to_one(&shown["workload"]);
    let table = server.cli(&["volume", "show", "db"]);
    assert_success("volume show", &table);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains(&format!("inferred class   {db_class}")),
        "{text}"
    );
    assert!(text.contains("tier profile"), "{text}");

    // And /metrics.
    let class_line = "strata_volume_inferred_class{volume=\"bk\",class=\"backup\"}";
    assert_eq!(metric(&server, class_line), Some(1.0));
    assert!(metric(&server, "strata_volume_class_confidence{volume=\"db\"}").is_some());
    // The heat forecaster predicted the accesses of db's 16 MiB of extents (at least).
    let forecast = metric(&server, "strata_profile_heat_forecast_extents").expect("forecast");
    assert!(forecast >= 16.0, "{forecast} extents forecast");

    // The switch: db's steady 16 MiB random demand becomes a 192 MiB sequential stream.
    // (A short first window may already have deviated: count from here.)
    let replans_before = metric(&server, "strata_profile_replans_total").expect("replans");
    let deviations_before = profile(&server, "db")["deviations_total"]
        .as_u64()
        .expect("deviations");
    let db = fio(&server, "db", 4, BACKUP);
    // A window that straddles the switch holds some of the old workload and may deviate
    // by less; a whole window of the new one is about 12 times the forecast.
    let new_events = |p: &Value| -> Vec<Value> {
        let total = p["deviations_total"].as_u64().unwrap_or(0);
        let kept = p["recent_deviations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let new = (total.saturating_sub(deviations_before) as usize).min(kept.len());
        kept[kept.len() - new..].to_vec()
    };
    let ratio = |e: &Value| e["ratio"].as_f64().unwrap_or(0.0);
    let deviated = wait_profile(&server, "db", "deviation of more than 2x", |p| {
        new_events(p).iter().any(|e| ratio(e) > 2.0)
    });
    finish(db);
    let events = new_events(&deviated);
    let event = events.iter().find(|e| ratio(e) > 2.0).expect("a deviation");
    assert!(
        event["observed_bytes"].as_f64().expect("observed")
            > event["forecast"]["high"].as_f64().expect("high"),
        "{deviated}"
    );
    assert_eq!(event["replanned"], true, "{deviated}");
    let replans = metric(&server, "strata_profile_replans_total").expect("replans");
    assert!(
        replans > replans_before,
        "{replans} re-plans, {replans_before} before"
    );
    assert!(
        metric(
            &server,
            "strata_volume_demand_deviations_total{volume=\"db\"}"
        )
        .is_some_and(|d| d > deviations_before as f64)
    );
    // The learning loop runs and says which forecaster is in use.
    let learned = wait_profile(&server, "db", "learning round", |p| {
        p["model"]["learning_rounds"]
            .as_u64()
            .is_some_and(|r| r >= 1)
    });
    assert!(
        learned["model"]["forecaster_version"]
            .as_u64()
            .is_some_and(|v| v >= 1)
    );
}

#[test]
fn bad_profile_config_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    for (text, needle) in [
        ("[profile]\nwindow_secs = 2\n", "window_secs"),
        ("[profile]\nwindow_s = 0\n", "window_s"),
        ("[profile]\nlearn_duty_cycle = 2\n", "learn_duty_cycle"),
    ] {
        std::fs::write(&path, text).expect("write config");
        let out = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["serve", "--config"])
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .expect("run strata serve");
        assert_eq!(out.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{text}: {stderr}");
    }
}
