//! Lease fencing on the NBD data path against a real server and real qemu-io: a client
//! that opened `VOLUME:GENERATION` keeps writing only until a takeover, then gets `EPERM`
//! while the new holder writes; with `nbd_access = "lease"` plain names are refused and the
//! export list gives no lease ids away.

mod common;

use common::{Server, TEST_CONFIG, assert_success};
use std::process::{Command, Output};

fn qemu_io_raw(uri: &str, commands: &[&str]) -> Output {
    let mut cmd = Command::new("qemu-io");
    cmd.args(["-f", "raw"]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    cmd.arg(uri).output().expect("qemu-io must be installed")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn acquire(server: &Server, args: &[&str]) -> String {
    let mut all = vec!["lease", "acquire"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = server.cli(&all);
    assert_success("lease acquire", &out);
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    reply["lease"]["id"].as_str().expect("lease id").to_owned()
}

#[test]
fn a_takeover_fences_the_old_holders_writes_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("db01", "16M");
    let first = acquire(&server, &["db01", "--holder", "host1/vm", "--ttl", "600"]);
    assert_eq!(first, "db01:1");
    let nbd = server.nbd.to_string();
    let attach = server.cli(&[
        "volume", "attach", "db01", "--lease", &first, "--nbd", &nbd, "--json",
    ]);
    assert_success("volume attach --lease", &attach);
    let attach: serde_json::Value = serde_json::from_slice(&attach.stdout).expect("JSON");
    let fenced_uri = attach["uri"].as_str().expect("uri").to_owned();
    assert_eq!(fenced_uri, server.uri("db01:1"));
    let wrong = server.cli(&["volume", "attach", "db01", "--lease", "other:1"]);
    assert_eq!(wrong.status.code(), Some(1));
    common::qemu_io(&fenced_uri, &["write -P 0x11 0 64k", "flush"]);

    // One qemu-io session holds the fenced export open across the takeover: its second
    // write (after the takeover) must fail, and the data must be the new holder's.
    let second = acquire(&server, &["db01", "--holder", "host2/vm", "--takeover"]);
    assert_eq!(second, "db01:2");
    // Opening the superseded lease is refused outright.
    let stale_open = qemu_io_raw(&fenced_uri, &["write -P 0x22 0 64k"]);
    assert!(
        !stale_open.status.success() || text(&stale_open).contains("failed"),
        "{}",
        text(&stale_open)
    );
    common::qemu_io(&server.uri(&second), &["write -P 0x33 0 64k", "flush"]);
    common::qemu_io(&server.uri("db01"), &["read -P 0x33 0 64k"]);
}

#[test]
fn an_open_connection_is_fenced_when_the_generation_moves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("db01", "16M");
    let first = acquire(&server, &["db01", "--holder", "host1/vm", "--ttl", "600"]);
    // qemu-io's `sleep` keeps the connection open while the takeover happens.
    let held = Command::new("qemu-io")
        .args([
            "-f",
            "raw",
            "-c",
            "write -P 0x11 0 64k",
            "-c",
            "sleep 3000",
            "-c",
            "write -P 0x22 0 64k",
        ])
        .arg(server.uri(&first))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("qemu-io");
    // The first write has landed (the volume allocated its extent) before the takeover.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let show = server.cli(&["volume", "show", "db01", "--json"]);
        let info: serde_json::Value = serde_json::from_slice(&show.stdout).expect("JSON");
        if info["allocated_bytes"].as_u64().is_some_and(|b| b > 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first write never landed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    acquire(&server, &["db01", "--holder", "host2/vm", "--takeover"]);
    let out = held.wait_with_output().expect("qemu-io output");
    let said = text(&out);
    assert!(
        said.contains("Operation not permitted") || said.contains("failed"),
        "{said}"
    );
    common::qemu_io(&server.uri("db01"), &["read -P 0x11 0 64k"]);
}

#[test]
fn lease_access_refuses_plain_names_and_lists_no_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!("nbd_access = \"lease\"\n{TEST_CONFIG}");
    let server = Server::start(dir.path(), &config);
    server.create_volume("leased", "16M");
    server.create_volume("idle", "16M");
    let lease = acquire(&server, &["leased", "--holder", "h", "--ttl", "600"]);

    let plain = qemu_io_raw(&server.uri("leased"), &["read 0 4k"]);
    assert!(
        !plain.status.success(),
        "a plain name is refused: {}",
        text(&plain)
    );
    common::qemu_io(
        &server.uri(&lease),
        &["write -P 0x44 0 4k", "read -P 0x44 0 4k"],
    );

    let listed = Command::new("nbdinfo")
        .args(["--list", "--json", &format!("nbd://{}", server.nbd)])
        .output()
        .expect("nbdinfo (libnbd-bin) must be installed");
    assert_success("nbdinfo --list", &listed);
    let exports: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let names: Vec<&str> = exports["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .filter_map(|e| e["export-name"].as_str())
        .collect();
    assert!(names.is_empty(), "{names:?}");
}
