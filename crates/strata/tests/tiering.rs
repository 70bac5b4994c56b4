//! Background tiering through the real server: with `lru-promote`, extents that are read
//! again and again move to nvme, the move is in the migration log (API and CLI), and the
//! data read back is unchanged; with `strata`, a guest's discard of the data on nvme makes
//! room there for the data it writes next.

mod common;

use common::{Server, assert_success, metric_sample, qemu_io};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
emulation = false
[[tier]]
kind = "nvme"
capacity = "16M"
[[tier]]
kind = "hdd"
capacity = "256M"
[placement]
policy = "lru-promote"
plan_interval_ms = 100
access_poll_ms = 20
"#;

#[test]
fn hot_extents_are_promoted_and_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), CONFIG);
    server.create_volume("hot", "64M");
    // 32 MiB: the first 16 land on nvme, the rest spill to hdd.
    qemu_io(&server.uri("hot"), &["write -P 0x61 0 32M", "flush"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let promoted = loop {
        // Read an hdd-resident range repeatedly; lru-promote moves it up.
        qemu_io(&server.uri("hot"), &["read -P 0x61 24M 2M"]);
        let out = server.cli(&["migration", "log", "--volume", "hot", "--json"]);
        assert_success("migration log", &out);
        let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let done: Vec<_> = log["migrations"]
            .as_array()
            .expect("array")
            .iter()
            .filter(|m| m["outcome"] == "done" && m["to_tier"] == "nvme")
            .cloned()
            .collect();
        if !done.is_empty() {
            break done;
        }
        assert!(Instant::now() < deadline, "no promotion within 60 s: {log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        promoted
            .iter()
            .all(|m| m["from_tier"] == "hdd" && m["bytes"] == 1 << 20)
    );
    let table = server.cli(&["migration", "log"]);
    assert_success("migration log table", &table);
    assert!(String::from_utf8_lossy(&table.stdout).contains("nvme"));
    // The promoted data is the data that was written.
    qemu_io(
        &server.uri("hot"),
        &["read -P 0x61 0 32M", "read -P 0 32M 32M"],
    );
    let stats = server.cli(&["status", "--json"]);
    assert_success("status", &stats);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("json");
    assert_eq!(stats["migrations"]["active"], true, "{stats}");
}

/// A guest fills the nvme, discards all of it (qemu-io's `discard`, an NBD TRIM), and
/// writes as much new data. The `strata` policy is told of the 16 unmapped extents (the
/// metric counts them) and puts the new data on the emptied nvme; before, its candidates
/// still counted the discarded extents there and the new data went to the hdd.
#[test]
fn a_discard_makes_room_on_nvme_for_the_next_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = CONFIG.replace("lru-promote", "strata");
    let server = Server::start(dir.path(), &config);
    server.create_volume("guest", "64M");
    let nvme_volume_bytes = |server: &Server| {
        metric_sample(
            &server.metrics(),
            "strata_volume_tier_bytes{volume=\"guest\",tier=\"nvme\"}",
        )
    };
    qemu_io(&server.uri("guest"), &["write -P 0x61 0 16M", "flush"]);
    assert_eq!(nvme_volume_bytes(&server), Some(16.0 * 1048576.0));
    qemu_io(&server.uri("guest"), &["discard 0 16M", "flush"]);
    assert_eq!(nvme_volume_bytes(&server).unwrap_or(0.0), 0.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let told = metric_sample(&server.metrics(), "strata_migration_unmapped_extents_total");
        if told == Some(16.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "told of {told:?} unmapped extents"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    qemu_io(&server.uri("guest"), &["write -P 0x62 32M 16M", "flush"]);
    assert_eq!(nvme_volume_bytes(&server), Some(16.0 * 1048576.0));
    qemu_io(
        &server.uri("guest"),
        &["read -P 0 0 16M", "read -P 0x62 32M 16M"],
    );
}
