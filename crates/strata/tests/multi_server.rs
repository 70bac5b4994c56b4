//! A volume whose partitions live on three servers sharing a real etcd, every step with a
//! real client: created through server A with `--partitions 3` (one partition per server),
//! written with qemu-io through A (every partition and across a boundary) and read back
//! through B and C; fio writes with crc32c verification through A and verifies only
//! through B; a stopped owner fails only the requests for its partition; the owner
//! restarted on its data dir (new ports) serves its partition again through A; a lease
//! with tier preferences that is not renewed gives its reservations back within its TTL
//! plus a sweep; the volume deletes everywhere.
//!
//! With `[tls] api = true` and an API token on every server: servers register `https://`
//! API URLs, a volume created with `--partitions 2` over HTTPS gets its owners' backings
//! over HTTPS (peers verified with `tls.peer_ca_file`, called with the token), qemu-io
//! writes through one server and reads through the other, and a server trusting only the
//! web roots cannot create a partitioned volume on its peers (and leaves nothing behind).

mod common;
#[path = "../../strata-nbd/tests/integration/pki.rs"]
mod pki;

use common::{Server, TEST_CONFIG, assert_success, qemu_io};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
const VOLUME: &str = "vm01";

fn cli_json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = server.cli(&all);
    assert_success(&format!("strata {args:?}"), &out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "strata {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Polls `probe` every 100 ms until it returns true, for at most `limit`.
fn wait_for(what: &str, limit: Duration, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(dir: &Path, etcd: &str, id: &str) -> Server {
    let config = format!("{TEST_CONFIG}\n[control]\nserver_ttl_s = 3\n");
    Server::start_with_args(dir, &config, &["--etcd", etcd, "--server-id", id])
}

/// Server id → (health, NBD address) as the registry lists them.
fn registry(server: &Server) -> Vec<(String, String, String)> {
    cli_json(server, &["server", "list"])["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_owned(),
                s["health"].as_str().unwrap_or_default().to_owned(),
                s["nbd_address"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn fio(uri: &str, verify_only: bool) -> Value {
    let mut cmd = Command::new("fio");
    cmd.args([
        "--name=multi",
        "--ioengine=nbd",
        &format!("--uri={uri}"),
        "--rw=randwrite",
        "--bs=64k",
        "--iodepth=8",
        "--size=48m",
        "--randseed=7",
        "--verify=crc32c",
        "--verify_fatal=1",
        "--verify_state_save=0",
        "--output-format=json",
    ]);
    cmd.arg(if verify_only {
        "--verify_only"
    } else {
        "--do_verify=1"
    });
    let out = cmd
        .output()
        .expect("fio must be installed (.ci/run installs it)");
    assert_success(&format!("fio verify_only={verify_only}"), &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = &stdout[stdout.find('{').expect("fio prints JSON")..];
    let report: Value = serde_json::from_str(json).expect("fio prints JSON");
    let job = report["jobs"][0].clone();
    assert_eq!(job["error"], 0, "fio job error: {job}");
    job
}

/// qemu-io that must fail (an NBD error reply for the request).
fn qemu_io_fails(uri: &str, command: &str) -> String {
    let out: Output = Command::new("qemu-io")
        .args(["-f", "raw", "-c", command, uri])
        .output()
        .expect("qemu-io must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() || text.contains("failed"),
        "qemu-io {command:?} on {uri} should have failed:\n{text}"
    );
    text
}

fn list_exports(server: &Server) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(strata_nbd::NbdClient::list_exports_tcp(server.nbd))
        .expect("NBD_OPT_LIST")
}

#[test]
fn three_servers_serve_one_partitioned_volume_through_any_of_them() {
    let etcd = strata_meta::etcd_server::EtcdServer::start().expect("start etcd");
    let url = etcd.client_url().to_owned();
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let a = start(dirs[0].path(), &url, "a");
    let b = start(dirs[1].path(), &url, "b");
    let mut c = start(dirs[2].path(), &url, "c");
    wait_for("three servers up", Duration::from_secs(20), || {
        registry(&a).iter().filter(|(_, h, _)| h == "up").count() == 3
    });

    // Create through A: three 16 MiB partitions, one on each server.
    let created = cli_json(
        &a,
        &[
            "volume",
            "create",
            VOLUME,
            "--size",
            "48M",
            "--profile",
            "database",
            "--partitions",
            "3",
        ],
    );
    assert_eq!(created["partition_state"], "ready", "{created}");
    let owners = partition_owners(&created);
    let ids: Vec<&str> = owners.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"], "one partition per server: {created}");
    let start_of = |id: &str| owners.iter().find(|(o, _)| o == id).expect("owner").1;

    // Every server shows the map; a second create of the name fails and changes nothing.
    for server in [&a, &b, &c] {
        let shown = cli_json(server, &["volume", "show", VOLUME]);
        assert_eq!(shown["partitions"], created["partitions"]);
    }
    let again = b.cli(&[
        "volume",
        "create",
        VOLUME,
        "--size",
        "16M",
        "--partitions",
        "2",
    ]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let plain = c.cli(&["volume", "create", VOLUME, "--size", "16M"]);
    assert_eq!(
        plain.status.code(),
        Some(1),
        "a plain volume of the name: {plain:?}"
    );
    assert_eq!(
        cli_json(&b, &["volume", "show", VOLUME])["partitions"],
        created["partitions"]
    );
    let zero = a.cli(&[
        "volume",
        "create",
        "x",
        "--size",
        "16M",
        "--partitions",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(2), "partitions 0 is a usage error");

    // NBD_OPT_LIST shows the volume once on every server, and no internal export.
    for server in [&a, &b, &c] {
        let names = list_exports(server);
        assert_eq!(
            names.iter().filter(|n| n.as_str() == VOLUME).count(),
            1,
            "{names:?}"
        );
        assert!(names.iter().all(|n| !n.contains('@')), "{names:?}");
    }

    // Distinct patterns in every partition and one write across the a/next boundary,
    // through A; read back through B and C.
    let mut writes = vec![];
    let mut reads = vec![];
    for (i, (_, start)) in owners.iter().enumerate() {
        let at = start + MIB;
        writes.push(format!("write -P {} {at} 1M", 0x21 + i));
        reads.push(format!("read -P {} {at} 1M", 0x21 + i));
    }
    let boundary = 16 * MIB;
    writes.push(format!("write -P 0x77 {} 128K", boundary - 64 * 1024));
    reads.push(format!("read -P 0x77 {} 128K", boundary - 64 * 1024));
    reads.push(format!("read -P 0 {} 1M", 40 * MIB));
    writes.push("flush".into());
    qemu_io(
        &a.uri(VOLUME),
        &writes.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for server in [&b, &c] {
        qemu_io(
            &server.uri(VOLUME),
            &reads.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    // An owner's internal export refuses ranges it does not own.
    let not_b = start_of("a");
    qemu_io_fails(
        &format!("nbd://{}/{VOLUME}@part", b.nbd),
        &format!("read {not_b} 4K"),
    );

    // fio writes and verifies through A, then verifies only through B.
    let job = fio(&a.uri(VOLUME), false);
    assert_eq!(job["write"]["io_bytes"], 48 * MIB, "{job}");
    assert_eq!(job["read"]["io_bytes"], 48 * MIB, "{job}");
    let job = fio(&b.uri(VOLUME), true);
    assert_eq!(job["read"]["io_bytes"], 48 * MIB, "verify-only read: {job}");

    // C down: its partition fails through A, the others still serve.
    let c_at = start_of("c") + 2 * MIB;
    qemu_io(
        &a.uri(VOLUME),
        &[&format!("write -P 0x5c {c_at} 1M"), "flush"],
    );
    c.stop();
    let failed = qemu_io_fails(&a.uri(VOLUME), &format!("read -P 0x5c {c_at} 1M"));
    assert!(!failed.contains("Pattern verification"), "{failed}");
    let a_at = start_of("a") + 2 * MIB;
    qemu_io(
        &a.uri(VOLUME),
        &[
            &format!("write -P 0x3a {a_at} 64K"),
            &format!("read -P 0x3a {a_at} 64K"),
        ],
    );

    // C back on its data dir (new ports): A reads C's partition again.
    let old_address = c.nbd.to_string();
    c.restart();
    wait_for("c registered again", Duration::from_secs(20), || {
        registry(&a)
            .iter()
            .any(|(id, h, addr)| id == "c" && h == "up" && *addr == c.nbd.to_string())
    });
    assert_ne!(old_address, c.nbd.to_string());
    qemu_io(&a.uri(VOLUME), &[&format!("read -P 0x5c {c_at} 1M")]);
    qemu_io(&b.uri(VOLUME), &[&format!("read -P 0x3a {a_at} 64K")]);

    // A lease with tier preferences and a 3 s TTL, never renewed: its reservations are
    // released within the TTL plus a sweep.
    let grant = cli_json(
        &a,
        &[
            "lease",
            "acquire",
            VOLUME,
            "--holder",
            "host1/vm01",
            "--prefer",
            "nvme=25%,ssd=25%",
            "--ttl",
            "3",
        ],
    );
    assert_eq!(grant["outcome"], "granted", "{grant}");
    let granted_at = Instant::now();
    let held = |server: &Server| -> usize {
        cli_json(server, &["reservation", "list", "--volume", VOLUME])["reservations"]
            .as_array()
            .map_or(0, |r| {
                r.iter().filter(|r| r["status"] != "released").count()
            })
    };
    assert!(held(&b) >= 2, "reservations visible through B: {grant}");
    wait_for("reservations released", Duration::from_secs(10), || {
        held(&c) == 0
    });
    assert!(
        granted_at.elapsed() >= Duration::from_secs(2),
        "released before the TTL ran out"
    );
    let leases = cli_json(&b, &["lease", "list"]);
    assert!(
        leases["leases"].as_array().is_none_or(|l| l.is_empty()),
        "{leases}"
    );

    // Delete through B: gone from every server.
    assert_success("volume delete", &b.cli(&["volume", "delete", VOLUME]));
    for server in [&a, &b, &c] {
        let volumes = cli_json(server, &["volume", "list"]);
        assert_eq!(volumes, Value::Array(vec![]), "{volumes}");
        assert!(!list_exports(server).iter().any(|n| n == VOLUME));
    }
}

/// A server with an HTTPS API signed by `pki`'s CA and `token` as its API token;
/// `peer_ca` = whether it trusts that CA for its peers (`tls.peer_ca_file`).
fn start_tls(
    dir: &Path,
    etcd: &str,
    id: &str,
    pki: &pki::Pki,
    token: &str,
    peer_ca: bool,
) -> Server {
    let token_file = dir.join("api-token");
    std::fs::write(&token_file, format!("{token}\n")).expect("write token");
    let quoted = |path: &Path| format!("{:?}", path.display().to_string());
    let mut config = format!(
        "api_token_file = {}\n{TEST_CONFIG}\n[control]\nserver_ttl_s = 3\n[tls]\n\
         cert_file = {}\nkey_file = {}\nnbd = \"off\"\napi = true\n",
        quoted(&token_file),
        quoted(&pki.path("server-cert.pem")),
        quoted(&pki.path("server-key.pem")),
    );
    if peer_ca {
        config.push_str(&format!(
            "peer_ca_file = {}\n",
            quoted(&pki.path("ca-cert.pem"))
        ));
    }
    Server::start_with_args(dir, &config, &["--etcd", etcd, "--server-id", id])
        .with_api_ca(&pki.path("ca-cert.pem"))
        .with_api_token(token)
}

fn volume_names(server: &Server) -> Vec<String> {
    cli_json(server, &["volume", "list"])
        .as_array()
        .expect("volume list")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn partitioned_volumes_are_created_over_https_peer_apis() {
    let etcd = strata_meta::etcd_server::EtcdServer::start().expect("start etcd");
    let url = etcd.client_url().to_owned();
    let pki_dir = tempfile::tempdir().expect("tempdir");
    let pki = pki::generate(pki_dir.path());
    let token = "peer-token-7";
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let a = start_tls(dirs[0].path(), &url, "a", &pki, token, true);
    let b = start_tls(dirs[1].path(), &url, "b", &pki, token, true);
    wait_for("two servers up", Duration::from_secs(20), || {
        registry(&a).iter().filter(|(_, h, _)| h == "up").count() == 2
    });

    // The registry carries the scheme; api_address stays host:port.
    let listed = cli_json(&b, &["server", "list"]);
    for server in [&a, &b] {
        let entry = listed["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .find(|s| s["nbd_address"] == server.nbd.to_string())
            .unwrap_or_else(|| panic!("{} not listed: {listed}", server.nbd));
        assert_eq!(
            entry["api_url"],
            format!("https://{}", server.api),
            "{entry}"
        );
        assert_eq!(entry["api_address"], server.api.to_string(), "{entry}");
    }
    // The API really is HTTPS with a token: plain HTTP and a missing token are refused.
    let plain = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--api", &format!("http://{}", a.api), "volume", "list"])
        .env("STRATA_API_TOKEN", token)
        .output()
        .expect("run strata");
    assert_eq!(plain.status.code(), Some(1), "plain HTTP: {plain:?}");
    let no_token = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--api", &a.api_url(), "volume", "list"])
        .arg("--api-ca")
        .arg(pki.path("ca-cert.pem"))
        .env_remove("STRATA_API_TOKEN")
        .output()
        .expect("run strata");
    assert_eq!(no_token.status.code(), Some(1), "no token: {no_token:?}");

    // Created through A over HTTPS: A asks B for its backing over HTTPS.
    let created = cli_json(
        &a,
        &[
            "volume",
            "create",
            VOLUME,
            "--size",
            "32M",
            "--partitions",
            "2",
        ],
    );
    assert_eq!(created["partition_state"], "ready", "{created}");
    let owners = partition_owners(&created);
    let ids: Vec<&str> = owners.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "one partition per server: {created}");
    assert_eq!(
        cli_json(&b, &["volume", "show", VOLUME])["partitions"],
        created["partitions"]
    );

    // A pattern in each partition and one across the boundary through A's NBD; read back
    // through B's.
    let mut writes = vec![];
    let mut reads = vec![];
    for (i, (_, start)) in owners.iter().enumerate() {
        let at = start + MIB;
        writes.push(format!("write -P {} {at} 1M", 0x41 + i));
        reads.push(format!("read -P {} {at} 1M", 0x41 + i));
    }
    writes.push(format!("write -P 0x6d {} 128K", 16 * MIB - 64 * 1024));
    reads.push(format!("read -P 0x6d {} 128K", 16 * MIB - 64 * 1024));
    reads.push(format!("read -P 0 {} 1M", 24 * MIB));
    writes.push("flush".into());
    qemu_io(
        &a.uri(VOLUME),
        &writes.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let read_back = qemu_io(
        &b.uri(VOLUME),
        &reads.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(
        read_back.matches("read 1048576/1048576").count(),
        3,
        "{read_back}"
    );

    // A server that trusts only the web roots cannot call its peers: the create fails
    // naming a certificate problem, and no server is left with the volume.
    let c = start_tls(dirs[2].path(), &url, "c", &pki, token, false);
    wait_for("three servers up", Duration::from_secs(20), || {
        registry(&c).iter().filter(|(_, h, _)| h == "up").count() == 3
    });
    let refused = c.cli(&[
        "volume",
        "create",
        "vm02",
        "--size",
        "48M",
        "--partitions",
        "3",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let message = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        message.contains("certificate") && message.contains("https://"),
        "{message}"
    );
    for server in [&a, &b, &c] {
        assert_eq!(volume_names(server), [VOLUME], "vm02 rolled back");
    }

    // Deleted through B: B deletes A's backing over HTTPS.
    assert_success("volume delete", &b.cli(&["volume", "delete", VOLUME]));
    for server in [&a, &b, &c] {
        assert!(volume_names(server).is_empty(), "deleted everywhere");
        assert!(!list_exports(server).iter().any(|n| n == VOLUME));
    }
}

/// `(owner, start)` of every partition of a created volume, by owner; each is 16 MiB.
fn partition_owners(created: &Value) -> Vec<(String, u64)> {
    let mut owners: Vec<(String, u64)> = created["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            assert_eq!(p["len_bytes"], 16 * MIB, "{p}");
            (
                p["server"].as_str().expect("server").to_owned(),
                p["start_bytes"].as_u64().expect("start"),
            )
        })
        .collect();
    owners.sort();
    owners
}
