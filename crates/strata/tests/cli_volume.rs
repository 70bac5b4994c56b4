//! `strata volume …` and `strata serve` argument handling, through the real binary.

mod common;

use common::{Server, TEST_CONFIG, assert_success};
use std::process::Command;

#[test]
fn create_list_show_delete_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    let out = server.cli(&[
        "volume",
        "create",
        "db01",
        "--size",
        "20M",
        "--profile",
        "database",
        "--extent-size",
        "256K",
        "--pin",
        "ssd",
        "--json",
    ]);
    assert_success("create", &out);
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(created["name"], "db01");
    assert_eq!(created["size_bytes"], 20 << 20);
    assert_eq!(created["extent_size_bytes"], 256 << 10);
    assert_eq!(created["profile"], "database");
    assert_eq!(created["pin"], "ssd");

    let table = server.cli(&["volume", "list"]);
    assert_success("list", &table);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("NAME") && text.contains("db01"), "{text}");

    let show = server.cli(&["volume", "show", "db01", "--json"]);
    assert_success("show", &show);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(shown["allocated_bytes"], 0, "a new volume is thin");

    assert_success("delete", &server.cli(&["volume", "delete", "db01"]));
    let gone = server.cli(&["volume", "show", "db01"]);
    assert_eq!(gone.status.code(), Some(1));
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(err.contains("db01") && err.lines().count() == 1, "{err}");
}

#[test]
fn invalid_requests_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("dup", "4M");
    for (args, needle) in [
        (vec!["volume", "create", "dup", "--size", "4M"], "exists"),
        (vec!["volume", "create", "x", "--size", "lots"], "size"),
        (vec!["volume", "create", "bad/name", "--size", "4M"], "name"),
        (
            vec![
                "volume",
                "create",
                "e",
                "--size",
                "4M",
                "--extent-size",
                "3M",
            ],
            "extent",
        ),
        (
            vec![
                "volume",
                "create",
                "p",
                "--size",
                "4M",
                "--profile",
                "gaming",
            ],
            "profile",
        ),
        (
            vec!["volume", "create", "q", "--size", "4M", "--pin", "tape"],
            "tape",
        ),
        (vec!["volume", "create", "zero", "--size", "0"], "size"),
    ] {
        let out = server.cli(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?}: one line on stderr, got {err}"
        );
        assert!(err.contains(needle), "{args:?}: {err} lacks {needle}");
    }
    let usage = server.cli(&["volume", "create"]);
    assert_eq!(usage.status.code(), Some(2), "bad usage exits 2");
}

#[test]
fn serve_rejects_unknown_config_keys_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "emulation = false\nnbd_lissen = \"127.0.0.1:1\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("run strata");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nbd_lissen"), "{err}");
}

#[test]
fn api_requires_the_token_when_one_is_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret\n").expect("write token");
    let config = format!("api_token_file = {:?}\n{TEST_CONFIG}", token_file);
    let server = Server::start(dir.path(), &config);
    let denied = server.cli(&["volume", "list"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));
    let allowed = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--api", &server.api_url(), "volume", "list", "--json"])
        .env("STRATA_API_TOKEN", "s3cret")
        .output()
        .expect("run strata");
    assert_success("list with token", &allowed);
}

#[test]
fn attach_prints_uri_qemu_and_libvirt_snippets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("vm1", "8M");
    let nbd = server.nbd.to_string();
    let out = server.cli(&["volume", "attach", "vm1", "--nbd", &nbd, "--json"]);
    assert_success("attach", &out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let uri = doc["uri"].as_str().expect("uri");
    assert_eq!(uri, format!("nbd://{nbd}/vm1"));
    assert!(doc["qemu_drive"].as_str().expect("qemu").contains(uri));
    let disk = doc["libvirt_disk"].as_str().expect("libvirt");
    assert!(
        disk.contains("protocol='nbd' name='vm1'")
            && disk.contains(&format!("port='{}'", server.nbd.port()))
    );
    // The printed URI really works.
    common::qemu_io(uri, &["write -P 0x5 0 4k", "read -P 0x5 0 4k"]);
    let missing = server.cli(&["volume", "attach", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
}
