//! Real NBD clients against a real `strata serve`: qemu-io patterns, qemu-img convert in
//! and out, two clients at once, and an out-of-range request that leaves the connection
//! usable.

mod common;

use common::{Server, TEST_CONFIG, assert_success, pattern_bytes, qemu_io};
use std::process::Command;

#[test]
fn qemu_io_patterns_round_trip_at_several_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("pat", "256M");
    let uri = server.uri("pat");
    // Offsets: start, an unaligned write straddling the first extent boundary, a later
    // extent, and the very end of the volume.
    qemu_io(
        &uri,
        &[
            "write -P 0xa1 0 64k",
            "write -P 0xb2 1048064 1024",
            "write -P 0xc3 100M 3M",
            "write -P 0xd4 268431360 4096",
            "flush",
        ],
    );
    qemu_io(
        &uri,
        &[
            "read -P 0xa1 0 64k",
            "read -P 0xb2 1048064 1024",
            "read -P 0x00 1049088 4096",
            "read -P 0xc3 100M 3M",
            "read -P 0xd4 268431360 4096",
            "read -P 0x00 200M 1M",
        ],
    );
}

#[test]
fn qemu_img_converts_64_mib_in_and_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("img", "64M");
    let src = dir.path().join("src.raw");
    let data = pattern_bytes(64 << 20, 7);
    std::fs::write(&src, &data).expect("write source image");
    let uri = server.uri("img");

    let info = Command::new("qemu-img")
        .args(["info", "-f", "raw", &uri])
        .output()
        .expect("qemu-img");
    assert_success("qemu-img info", &info);
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("64 MiB"),
        "qemu-img info must see the volume size: {}",
        String::from_utf8_lossy(&info.stdout)
    );

    let into = Command::new("qemu-img")
        .args(["convert", "-n", "-f", "raw", "-O", "raw"])
        .arg(&src)
        .arg(&uri)
        .output()
        .expect("qemu-img");
    assert_success("qemu-img convert in", &into);

    let dst = dir.path().join("dst.raw");
    let out = Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "raw", &uri])
        .arg(&dst)
        .output()
        .expect("qemu-img");
    assert_success("qemu-img convert out", &out);
    let back = std::fs::read(&dst).expect("read converted image");
    assert_eq!(back.len(), data.len());
    assert!(
        back == data,
        "bytes differ after a round trip through strata"
    );
}

#[test]
fn two_clients_write_at_once_and_both_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("shared", "128M");
    let uri = server.uri("shared");
    let spawn = |pattern: &str, offset: &str| {
        Command::new("qemu-io")
            .args(["-f", "raw"])
            .args(["-c", &format!("write -P {pattern} {offset} 8M")])
            .args(["-c", "flush"])
            .arg(&uri)
            .spawn()
            .expect("qemu-io")
    };
    let mut first = spawn("0x11", "0");
    let mut second = spawn("0x22", "8M");
    assert!(first.wait().expect("wait").success());
    assert!(second.wait().expect("wait").success());
    qemu_io(&uri, &["read -P 0x11 0 8M", "read -P 0x22 8M 8M"]);
}

#[test]
fn out_of_range_request_errors_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("edge", "16M");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = strata_nbd::NbdClient::connect_tcp(server.nbd, "edge")
            .await
            .expect("connect");
        assert_eq!(client.size(), 16 << 20);
        client
            .write(4096, &[0x5a; 4096], false)
            .await
            .expect("in-range write");
        let past_end = client.read((16 << 20) - 4096, 8192).await;
        assert!(past_end.is_err(), "a read past the end must fail");
        let write_past = client.write(16 << 20, &[1; 512], false).await;
        assert!(write_past.is_err(), "a write past the end must fail");
        let data = client
            .read(4096, 4096)
            .await
            .expect("next request succeeds");
        assert!(data.iter().all(|&b| b == 0x5a));
        client.disconnect().await.expect("disconnect");
    });
}

#[test]
fn unix_socket_serves_the_same_volumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("nbd.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");
    let server = Server::start_with_args(dir.path(), TEST_CONFIG, &["--nbd-socket", socket_arg]);
    server.create_volume("sock", "16M");
    let unix_uri = format!("nbd+unix:///sock?socket={socket_arg}");
    qemu_io(&unix_uri, &["write -P 0x3c 1M 256k", "flush"]);
    // The TCP listener sees what the Unix socket wrote.
    qemu_io(&server.uri("sock"), &["read -P 0x3c 1M 256k"]);
    let list = Command::new("nbdinfo")
        .args(["--list", &format!("nbd+unix:///?socket={socket_arg}")])
        .output()
        .expect("nbdinfo must be installed (.ci/run installs libnbd-bin)");
    assert_success("nbdinfo --list", &list);
    assert!(String::from_utf8_lossy(&list.stdout).contains("sock"));
}
