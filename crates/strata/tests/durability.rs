//! Data survives a graceful restart, and a SIGKILL right after an acknowledged flush.

mod common;

use common::{Server, TEST_CONFIG, qemu_io};

#[test]
fn data_and_volumes_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("keep", "64M");
    server.create_volume("other", "32M");
    qemu_io(&server.uri("keep"), &["write -P 0x42 3M 2M"]);
    server.stop();
    server.restart();
    let list = server.cli(&["volume", "list", "--json"]);
    let volumes: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let names: Vec<&str> = volumes
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{volumes}");
    assert!(names.contains(&"keep") && names.contains(&"other"));
    qemu_io(
        &server.uri("keep"),
        &["read -P 0x42 3M 2M", "read -P 0 0 3M", "read -P 0 5M 1M"],
    );
}

#[test]
fn flushed_data_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("crash", "64M");
    for round in 0..3u8 {
        let pattern = format!("{:#04x}", 0x30 + round);
        let offset = format!("{}M", 7 * u32::from(round));
        qemu_io(
            &server.uri("crash"),
            &[&format!("write -P {pattern} {offset} 5M"), "flush"],
        );
        server.kill();
        server.restart();
        for earlier in 0..=round {
            let pattern = format!("{:#04x}", 0x30 + earlier);
            let offset = format!("{}M", 7 * u32::from(earlier));
            qemu_io(
                &server.uri("crash"),
                &[&format!("read -P {pattern} {offset} 5M")],
            );
        }
    }
}

#[test]
fn fua_writes_survive_sigkill_without_a_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("fua", "32M");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Our own client, so nothing sends a FLUSH on close (qemu-io would).
    runtime.block_on(async {
        let mut client = strata_nbd::NbdClient::connect_tcp(server.nbd, "fua")
            .await
            .expect("connect");
        // A fresh extent (allocation must be durable too) and an unaligned piece.
        client
            .write(9 << 20, &[0x77; 1536 << 10], true)
            .await
            .expect("FUA write");
        client
            .write(3000, &[0x78; 700], true)
            .await
            .expect("FUA write");
    });
    server.kill();
    server.restart();
    qemu_io(
        &server.uri("fua"),
        &[
            "read -P 0x77 9M 1536k",
            "read -P 0x78 3000 700",
            "read -P 0 0 3000",
        ],
    );
}
