//! The real `strata serve` binary: `/metrics` shows NBD counters moving after a client
//! connects, `/v1/servers` reports the listeners' addresses, and `strata status` prints
//! the table and the JSON document.

mod common;

use common::{Server, TEST_CONFIG, assert_success, metric_sample};

/// The value of the unlabelled sample `name` in an exposition.
fn sample(text: &str, name: &str) -> f64 {
    metric_sample(text, name).unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[test]
fn status_servers_and_metrics_against_a_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("db01", "8M");

    let servers: serde_json::Value = server.get_json("/v1/servers");
    let me = &servers["servers"][0];
    assert_eq!(me["nbd_address"], server.nbd.to_string());
    assert_eq!(me["api_address"], server.api.to_string());
    assert_eq!(me["health"], "up");

    let before = server.metrics();
    assert_eq!(sample(&before, "strata_nbd_connections_total"), 0.0);

    // One NBD session: a raw handshake through qemu-io writes and reads a block.
    common::qemu_io(
        &server.uri("db01"),
        &["write -P 0x5a 0 64k", "read -P 0x5a 0 64k"],
    );

    let after = server.metrics();
    assert!(sample(&after, "strata_nbd_connections_total") >= 1.0);
    assert!(sample(&after, "strata_nbd_requests_total") >= 2.0);
    assert!(sample(&after, "strata_nbd_written_bytes_total") >= 65536.0);
    assert!(after.contains("strata_volume_writes_total{volume=\"db01\",class=\"unknown\"}"));

    let out = server.cli(&["status"]);
    assert_success("strata status", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "TIER",
        "nvme",
        "db01",
        "HIT nvme",
        "prefetch:   active: ",
        "migrations: not active",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // The one written extent was read after it was written, and the extents after it were
    // never written (nothing to copy): no prefetch, so no precision is claimed.
    assert!(
        text.contains("prefetch:   active: nothing prefetched yet (no precision), coverage"),
        "{text}"
    );

    let out = server.cli(&["status", "--json"]);
    assert_success("strata status --json", &out);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(doc["volumes"][0]["name"], "db01");
    assert!(
        doc["volumes"][0]["io"]["writes"].as_u64() >= Some(1),
        "{doc}"
    );
    assert_eq!(doc["prefetch"]["active"], true);
    assert!(doc["prefetch"]["coverage"].is_number(), "{doc}");
    assert_eq!(doc["prefetch"]["prefetched_bytes"], 0, "{doc}");
}
