//! fio's nbd engine against a real `strata serve`: random writes at queue depth 16 with
//! crc32c verification.

mod common;

use common::{Server, TEST_CONFIG, assert_success};
use std::process::Command;

#[test]
fn fio_random_write_with_crc32c_verify_reports_no_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("fio", "64M");
    let out = Command::new("fio")
        .args([
            "--name=verify",
            "--ioengine=nbd",
            &format!("--uri={}", server.uri("fio")),
            "--rw=randwrite",
            "--bs=4k",
            "--iodepth=16",
            "--size=32m",
            "--verify=crc32c",
            "--do_verify=1",
            "--verify_fatal=1",
            "--verify_state_save=0",
            "--output-format=json",
        ])
        .output()
        .expect("fio must be installed (.ci/run installs it)");
    assert_success("fio", &out);
    // fio's nbd engine prints "fio: connected to NBD server" before the JSON document.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = &stdout[stdout.find('{').expect("fio prints JSON")..];
    let report: serde_json::Value = serde_json::from_str(json).expect("fio prints JSON");
    let job = &report["jobs"][0];
    assert_eq!(job["error"], 0, "fio job error: {job}");
    let written = job["write"]["io_bytes"].as_u64().expect("write bytes");
    assert_eq!(written, 32 << 20, "fio must have written the whole size");
    let verified = job["read"]["io_bytes"].as_u64().expect("read bytes");
    assert_eq!(
        verified,
        32 << 20,
        "fio must have read back everything to verify"
    );
}
