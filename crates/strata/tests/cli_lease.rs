//! Leases, soft reservations and the server registry against real `strata serve` processes:
//! on the embedded store (grant, alternative, write accounting, fencing by takeover,
//! release, expiry, durability across a restart) and on a real etcd shared by two servers
//! (one registry, one set of leases, a killed server marked down within its TTL).

mod common;

use common::{Server, TEST_CONFIG, assert_success};
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn config(server_ttl_s: u64) -> String {
    format!("{TEST_CONFIG}\n[control]\nserver_ttl_s = {server_ttl_s}\n")
}

fn json_of(what: &str, out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn cli_json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = server.cli(&all);
    assert_success(&format!("strata {args:?}"), &out);
    json_of(&format!("strata {args:?}"), &out)
}

/// Polls `probe` every 100 ms until it returns true, for at most `limit`.
fn wait_for(what: &str, limit: Duration, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn reservations(server: &Server, volume: &str, all: bool) -> Vec<Value> {
    let mut args = vec!["reservation", "list", "--volume", volume];
    if all {
        args.push("--all");
    }
    cli_json(server, &args)["reservations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn lease_ids(server: &Server) -> Vec<String> {
    cli_json(server, &["lease", "list"])["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect()
}

fn failure_text(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected a failure: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn leases_reserve_account_writes_fence_and_expire_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &config(3));
    server.create_volume("db01", "32M");

    let grant = cli_json(
        &server,
        &[
            "lease",
            "acquire",
            "db01",
            "--holder",
            "host7/vm-42",
            "--prefer",
            "nvme=50%",
            "--ttl",
            "60",
        ],
    );
    assert_eq!(grant["outcome"], "granted", "{grant}");
    assert_eq!(grant["lease"]["id"], "db01:1");
    assert_eq!(grant["lease"]["tiers_granted"]["nvme"], 0.5);
    assert_eq!(
        grant["lease"]["tiers_granted"]["hdd"], 0.5,
        "the rest goes to the slowest tier"
    );
    let mut reserved: Vec<(String, u64)> = grant["reservations"]
        .as_array()
        .expect("reservations")
        .iter()
        .map(|r| {
            (
                r["tier"].as_str().unwrap().to_owned(),
                r["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    reserved.sort();
    assert_eq!(
        reserved,
        [("hdd".into(), 16 * MIB), ("nvme".into(), 16 * MIB)]
    );
    let servers = cli_json(&server, &["server", "list"]);
    let nvme = &servers["servers"][0]["tiers"][0];
    assert_eq!(
        (nvme["kind"].as_str(), nvme["reserved_bytes"].as_u64()),
        (Some("nvme"), Some(16 * MIB))
    );

    // New extents land on nvme; the loop moves what was written there from reserved to
    // in use.
    common::qemu_io(&server.uri("db01"), &["write -P 0x11 0 8M", "flush"]);
    wait_for("nvme reservation in use", Duration::from_secs(15), || {
        reservations(&server, "db01", false)
            .iter()
            .any(|r| r["tier"] == "nvme" && r["in_use_bytes"] == 8 * MIB && r["status"] == "in_use")
    });

    // Another holder is refused unless it takes over; a takeover fences the old lease.
    let refused = server.cli(&["lease", "acquire", "db01", "--holder", "other"]);
    assert!(failure_text(&refused).contains("leased by host7/vm-42"));
    let taken = cli_json(
        &server,
        &[
            "lease",
            "acquire",
            "db01",
            "--holder",
            "other",
            "--takeover",
        ],
    );
    assert_eq!(taken["lease"]["id"], "db01:2");
    let stale = server.cli(&["lease", "renew", "db01:1"]);
    assert!(failure_text(&stale).contains("generation 2"));
    let renewed = cli_json(&server, &["lease", "renew", "db01:2", "--ttl", "90"]);
    assert_eq!(renewed["lease"]["ttl_s"], 90);
    assert!(renewed["cost_so_far"].as_f64().is_some_and(|c| c >= 0.0));
    assert_eq!(lease_ids(&server), ["db01:2"]);

    // Preferences that cannot be met get alternatives, and nothing is granted.
    server.create_volume("big", "256M");
    let out = server.cli(&[
        "lease",
        "acquire",
        "big",
        "--holder",
        "h",
        "--prefer",
        "nvme=100%",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let alternative = json_of("alternative", &out);
    assert_eq!(alternative["outcome"], "alternative");
    assert!(
        alternative["reason"]
            .as_str()
            .is_some_and(|r| r.contains("nvme"))
    );
    assert!(
        !alternative["suggested_mixes"]
            .as_array()
            .expect("mixes")
            .is_empty()
    );
    assert_eq!(lease_ids(&server), ["db01:2"]);
    let bad = server.cli(&[
        "lease",
        "acquire",
        "big",
        "--holder",
        "h",
        "--prefer",
        "nvme=lots",
    ]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a malformed --prefer is a usage error"
    );

    // Release gives the reservations back.
    assert_success("release", &server.cli(&["lease", "release", "db01:2"]));
    assert!(reservations(&server, "db01", false).is_empty());
    assert!(
        reservations(&server, "db01", true)
            .iter()
            .all(|r| r["status"] == "released")
    );

    // A lease nobody renews expires and takes its reservations with it.
    let short = cli_json(
        &server,
        &["lease", "acquire", "db01", "--holder", "h", "--ttl", "1"],
    );
    assert_eq!(short["lease"]["id"], "db01:3");
    wait_for("the lease to expire", Duration::from_secs(15), || {
        lease_ids(&server).is_empty() && reservations(&server, "db01", false).is_empty()
    });

    // Leases are durable: a restart finds them.
    cli_json(
        &server,
        &["lease", "acquire", "db01", "--holder", "h", "--ttl", "600"],
    );
    server.stop();
    server.restart();
    assert_eq!(lease_ids(&server), ["db01:4"]);
    let kept = reservations(&server, "db01", false);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0]["tier"].as_str(), kept[0]["bytes"].as_u64()),
        (Some("hdd"), Some(32 * MIB))
    );
    // Deleting the volume ends its lease and reservations.
    assert_success("delete", &server.cli(&["volume", "delete", "db01"]));
    assert!(lease_ids(&server).is_empty());
    assert!(reservations(&server, "db01", true).is_empty());
    server.stop();
}

#[test]
fn two_servers_share_one_registry_and_one_set_of_leases_through_etcd() {
    let etcd = strata_meta::etcd_server::EtcdServer::start().expect("start etcd");
    let url = etcd.client_url().to_owned();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_with_args(
        dir_a.path(),
        &config(2),
        &["--etcd", &url, "--server-id", "a"],
    );
    let mut b = Server::start_with_args(
        dir_b.path(),
        &config(2),
        &["--etcd", &url, "--server-id", "b"],
    );

    let health = |server: &Server| -> Vec<(String, String)> {
        cli_json(server, &["server", "list"])["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_owned(),
                    s["health"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let both_up = [
        ("a".to_owned(), "up".to_owned()),
        ("b".to_owned(), "up".to_owned()),
    ];
    assert_eq!(health(&a), both_up);
    assert_eq!(health(&b), both_up);
    let listed = cli_json(&a, &["server", "list"]);
    assert_eq!(listed["servers"][1]["nbd_address"], b.nbd.to_string());
    assert_eq!(listed["servers"][1]["api_address"], b.api.to_string());

    // A lease taken through one server is the cluster's: the other sees it and its
    // reservations, and may not take the volume from under its holder.
    a.create_volume("vm1", "32M");
    let grant = cli_json(
        &a,
        &[
            "lease", "acquire", "vm1", "--holder", "host1", "--prefer", "ssd=100%",
        ],
    );
    assert_eq!(grant["outcome"], "granted");
    assert_eq!(lease_ids(&b), ["vm1:1"]);
    let seen_from_b = reservations(&b, "vm1", false);
    assert_eq!(seen_from_b.len(), 1);
    assert_eq!(seen_from_b[0]["bytes"], 32 * MIB);
    b.create_volume("vm1", "32M");
    let refused = b.cli(&["lease", "acquire", "vm1", "--holder", "host2"]);
    assert!(failure_text(&refused).contains("leased by host1"));

    // A killed server stops heartbeating and is down within its TTL.
    b.kill();
    wait_for("b to be marked down", Duration::from_secs(15), || {
        health(&a)
            == [
                ("a".to_owned(), "up".to_owned()),
                ("b".to_owned(), "down".to_owned()),
            ]
    });
}
