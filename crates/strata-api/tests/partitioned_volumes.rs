//! `POST /v1/volumes` with `partitions` on a single server (the embedded control plane):
//! every partition lands on this server, the map shows in show and list, invalid values
//! and name clashes are refused without changing anything, and delete removes the map and
//! the backing. Servers without a control plane refuse the field.

mod support;

use serde_json::json;
use support::TestServer;

const MIB: u64 = 1 << 20;

#[test]
fn a_single_server_holds_every_partition_and_deletes_them() {
    let server = TestServer::start();
    let reply = server.post_json(
        "/v1/volumes",
        &json!({"name": "db01", "size": "8M", "partitions": 3, "profile": "database"}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let volume = reply.json();
    assert_eq!(volume["partition_state"], "ready");
    let partitions = volume["partitions"].as_array().expect("partitions");
    let ranges: Vec<(u64, u64)> = partitions
        .iter()
        .map(|p| {
            assert_eq!(p["server"], "test-1");
            (
                p["start_bytes"].as_u64().unwrap(),
                p["len_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [(0, 3 * MIB), (3 * MIB, 3 * MIB), (6 * MIB, 2 * MIB)]
    );
    assert_eq!(volume["size_bytes"], 8 * MIB);
    assert!(server.engine.volume_info("db01").is_ok(), "local backing");

    assert_eq!(
        server.get("/v1/volumes/db01").json()["partitions"],
        volume["partitions"]
    );
    let list = server.get("/v1/volumes").json();
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "listed once: {list}"
    );

    // The same name again, partitioned or not, is a conflict and changes nothing.
    server
        .post_json(
            "/v1/volumes",
            &json!({"name": "db01", "size": "4M", "partitions": 2}),
        )
        .assert_error(409, "already_exists");
    server
        .post_json("/v1/volumes", &json!({"name": "db01", "size": "4M"}))
        .assert_error(409, "already_exists");
    assert_eq!(
        server.get("/v1/volumes/db01").json()["partitions"],
        volume["partitions"]
    );

    // The backing route is idempotent for an owner.
    let reply = server.post_json("/v1/volumes/db01/backing", &json!({}));
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["partitions"], json!([0, 1, 2]));

    assert_eq!(server.delete("/v1/volumes/db01").status, 204);
    server
        .get("/v1/volumes/db01")
        .assert_error(404, "not_found");
    assert!(
        server.engine.volume_info("db01").is_err(),
        "backing deleted"
    );
    server
        .delete("/v1/volumes/db01/backing")
        .assert_error(404, "not_found");
}

#[test]
fn invalid_partition_counts_are_refused_and_create_nothing() {
    let server = TestServer::start();
    for body in [
        json!({"name": "v", "size": "8M", "partitions": 0}),
        json!({"name": "v", "size": "8M", "partitions": 5000}),
        json!({"name": "v", "size": "8M", "partitions": -1}),
        json!({"name": "v", "size": "8M", "partitions": "three"}),
        // More partitions than 1 MiB extents.
        json!({"name": "v", "size": "2M", "partitions": 3}),
    ] {
        let reply = server.post_json("/v1/volumes", &body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
    assert_eq!(server.get("/v1/volumes").json(), json!([]));
    // A plain volume's name cannot take a backing.
    server.create_volume("plain", "4M");
    server
        .post_json("/v1/volumes/plain/backing", &json!({}))
        .assert_error(404, "not_found");
    server
        .delete("/v1/volumes/plain/backing")
        .assert_error(404, "not_found");
    assert!(server.engine.volume_info("plain").is_ok());
}

#[test]
fn without_a_control_plane_partitions_are_refused() {
    let server = TestServer::start_without_control();
    server
        .post_json(
            "/v1/volumes",
            &json!({"name": "v", "size": "8M", "partitions": 2}),
        )
        .assert_error(501, "not_implemented");
    assert_eq!(server.get("/v1/volumes").json(), json!([]));
}
