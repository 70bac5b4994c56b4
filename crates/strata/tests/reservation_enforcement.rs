//! Soft reservations bind the data path of a real `strata serve` (embedded store): a lease
//! reserves most of nvme for volume `dba`; volume `webb`, written over NBD with qemu-io,
//! leaves that room free and spills to ssd, while `dba`'s own writes land on nvme; once
//! the lease is released `webb` may use nvme again. Data reads back intact throughout.

mod common;

use common::{Server, TEST_CONFIG, assert_success, metric_sample, qemu_io};
use serde_json::Value;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// Bytes of `volume` on `tier`, from `GET /v1/volumes/{volume}`.
fn volume_tier_bytes(server: &Server, volume: &str, tier: &str) -> u64 {
    let info = server.get_json(&format!("/v1/volumes/{volume}"));
    info["bytes_per_tier"][tier].as_u64().unwrap_or(0)
}

/// A sample of `/metrics` (the whole line up to the value must match `series`).
fn metric(server: &Server, series: &str) -> f64 {
    let text = server.metrics();
    metric_sample(&text, series).unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

fn nvme_held(server: &Server) -> u64 {
    metric(server, "strata_tier_reservation_held_bytes{tier=\"nvme\"}") as u64
}

fn wait_for(what: &str, limit: Duration, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_lease_reservation_keeps_other_volumes_off_its_nvme_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!("{TEST_CONFIG}\n[control]\nserver_ttl_s = 3\n");
    let server = Server::start(dir.path(), &config);
    server.create_volume("dba", "64M");
    server.create_volume("webb", "64M");
    assert_eq!(nvme_held(&server), 0);

    // A lease reserves 48 of nvme's 64 MiB for dba.
    let out = server.cli(&[
        "lease",
        "acquire",
        "dba",
        "--holder",
        "host1/vm-1",
        "--prefer",
        "nvme=75%",
        "--ttl",
        "120",
        "--json",
    ]);
    assert_success("lease acquire", &out);
    let grant: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(grant["outcome"], "granted", "{grant}");
    let lease_id = grant["lease"]["id"].as_str().expect("lease id").to_owned();
    let nvme_reserved: u64 = grant["reservations"]
        .as_array()
        .expect("reservations")
        .iter()
        .filter(|r| r["tier"] == "nvme")
        .filter_map(|r| r["bytes"].as_u64())
        .sum();
    assert_eq!(nvme_reserved, 48 * MIB, "{grant}");
    wait_for(
        "the engine to hold dba's room",
        Duration::from_secs(15),
        || nvme_held(&server) == 48 * MIB,
    );

    // dba's own writes land on nvme, in its room.
    qemu_io(&server.uri("dba"), &["write -P 0xa1 0 8M", "flush"]);
    assert_eq!(volume_tier_bytes(&server, "dba", "nvme"), 8 * MIB);
    assert_eq!(nvme_held(&server), 40 * MIB);

    // webb gets the 16 MiB nobody holds, then spills to ssd.
    qemu_io(&server.uri("webb"), &["write -P 0xb2 0 32M", "flush"]);
    assert_eq!(volume_tier_bytes(&server, "webb", "nvme"), 16 * MIB);
    assert_eq!(volume_tier_bytes(&server, "webb", "ssd"), 16 * MIB);
    let tiers = server.get_json("/v1/stats");
    let nvme = tiers["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .find(|t| t["kind"] == "nvme")
        .cloned()
        .expect("nvme tier");
    assert_eq!(nvme["free_bytes"].as_u64(), Some(40 * MIB), "{nvme}");
    assert_eq!(
        metric(&server, "strata_reservation_placements_redirected_total"),
        16.0
    );
    assert_eq!(
        metric(&server, "strata_reservation_placements_into_reserved_total"),
        0.0
    );

    // Released: the engine drops the hold and webb's new extents go to nvme again.
    assert_success(
        "lease release",
        &server.cli(&["lease", "release", &lease_id]),
    );
    wait_for(
        "the engine to drop dba's room",
        Duration::from_secs(15),
        || nvme_held(&server) == 0,
    );
    qemu_io(&server.uri("webb"), &["write -P 0xb3 32M 16M", "flush"]);
    assert_eq!(volume_tier_bytes(&server, "webb", "nvme"), 32 * MIB);
    assert_eq!(volume_tier_bytes(&server, "webb", "ssd"), 16 * MIB);

    qemu_io(&server.uri("dba"), &["read -P 0xa1 0 8M"]);
    qemu_io(
        &server.uri("webb"),
        &["read -P 0xb2 0 32M", "read -P 0xb3 32M 16M"],
    );
}
