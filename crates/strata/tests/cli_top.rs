//! `strata top` against a real server, with stdout not a terminal: `--json` prints one
//! document per refresh with rates measured between polls, and the text view shows the
//! tiers, the volumes and the migration state.

mod common;

use common::{Server, TEST_CONFIG, assert_success};
use std::process::{Command, Stdio};

#[test]
fn top_shows_rates_between_polls_as_json_and_as_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("db01", "16M");
    common::qemu_io(&server.uri("db01"), &["write -P 0x42 0 4M"]);

    // Reads run while top polls, so the second document has a positive read rate.
    let top = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--api", &server.api_url()])
        .args(["top", "--json", "--iterations", "3", "--interval", "0.5"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run strata top");
    for _ in 0..4 {
        common::qemu_io(&server.uri("db01"), &["read -P 0x42 0 4M"]);
    }
    let out = top.wait_with_output().expect("strata top");
    assert_success("strata top --json", &out);
    let docs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON document per line"))
        .collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(
        docs[0]["volumes"][0]["read_iops"], 0.0,
        "no rate before a second poll"
    );
    let kinds: Vec<&str> = docs[0]["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .filter_map(|t| t["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["nvme", "ssd", "hdd"]);
    let read_rate: f64 = docs[1..]
        .iter()
        .map(|d| d["volumes"][0]["read_iops"].as_f64().expect("rate"))
        .sum();
    assert!(
        read_rate > 0.0,
        "reads between polls show as a rate: {docs:?}"
    );
    assert!(docs[2]["interval_s"].as_f64().is_some_and(|s| s >= 0.5));

    let text = server.cli(&["top", "--iterations", "1"]);
    assert_success("strata top", &text);
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "strata top",
        "tiers",
        "volumes",
        "db01",
        "HIT nvme",
        "migrations",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    for bad in ["0", "soon", "NaN"] {
        let out = server.cli(&["top", "--interval", bad]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--interval {bad} is a usage error"
        );
    }
}
