//! Every route of INTERFACE.md called at least once over HTTP, with asserted status and
//! body shape, and the error format on 400/401/404/405/409/410/413/415/501.

mod support;

use serde_json::json;
use support::TestServer;

#[test]
fn healthz_answers_ok_without_a_token() {
    let server = TestServer::start_with_token(Some("s3cret"));
    let reply = server.request_with_token("GET", "/healthz", None, None, None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[test]
fn volume_lifecycle() {
    let server = TestServer::start();
    let created = server.create_volume("db01", "64M");
    assert_eq!(created["name"], "db01");
    assert_eq!(created["size_bytes"], 64u64 << 20);
    assert_eq!(created["allocated_bytes"], 0);

    let reply = server.post_json(
        "/v1/volumes",
        &json!({"name": "web1", "size": 1 << 20, "profile": "web", "extent_size": "64K", "pin": "ssd"}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["pin"], "ssd");
    assert_eq!(reply.json()["extent_size_bytes"], 65536);

    let list = server.get("/v1/volumes");
    assert_eq!(list.status, 200);
    let names: Vec<_> = list
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("db01"), json!("web1")]);

    let show = server.get("/v1/volumes/db01");
    assert_eq!(show.status, 200);
    assert_eq!(show.json()["id"], created["id"]);

    server
        .post_json("/v1/volumes", &json!({"name": "db01", "size": "1M"}))
        .assert_error(409, "already_exists");

    let deleted = server.delete("/v1/volumes/db01");
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    server
        .get("/v1/volumes/db01")
        .assert_error(404, "not_found");
    server
        .delete("/v1/volumes/db01")
        .assert_error(404, "not_found");
}

#[test]
fn volume_inputs_are_validated() {
    let server = TestServer::start();
    for body in [
        json!({"name": "../x", "size": "1M"}),
        json!({"name": "", "size": "1M"}),
        json!({"name": "a", "size": "lots"}),
        json!({"name": "a", "size": 4095}),
        json!({"name": "a", "size": "1M", "profile": "gaming"}),
        json!({"name": "a", "size": "1M", "pin": "NVME!"}),
        json!({"name": "a", "size": "1M", "extent_size": "3K"}),
        json!({"name": "a", "size": "1M", "colour": "red"}),
        json!({"name": 5, "size": "1M"}),
        json!({"size": "1M"}),
        json!([]),
    ] {
        server
            .post_json("/v1/volumes", &body)
            .assert_error(400, "invalid_argument");
    }
    server
        .get("/v1/volumes/..%2Fx")
        .assert_error(400, "invalid_argument");
    server
        .get("/v1/volumes/.hidden")
        .assert_error(400, "invalid_argument");
    assert_eq!(server.get("/v1/volumes").json(), json!([]));
}

#[test]
fn servers_lists_this_server_with_its_tiers() {
    let server = TestServer::start();
    let reply = server.get("/v1/servers");
    assert_eq!(reply.status, 200);
    let servers = reply.json()["servers"].as_array().expect("servers").clone();
    assert_eq!(servers.len(), 1);
    let me = &servers[0];
    assert_eq!(me["id"], "test-1");
    assert_eq!(me["health"], "up");
    let kinds: Vec<_> = me["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .map(|t| t["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("nvme"), json!("ssd"), json!("hdd")]);
    let nvme = &me["tiers"][0];
    assert_eq!(nvme["capacity_bytes"], 8u64 << 20);
    assert_eq!(nvme["free_bytes"], 8u64 << 20);
    assert_eq!(nvme["cost_per_gib_month"], 0.25);
    assert!(nvme["profile"]["read_latency_us"].as_f64().is_some());
}

#[test]
fn stats_show_tiers_volumes_and_inactive_background_work() {
    let server = TestServer::start();
    server.create_volume("v1", "4M");
    let handle = server.engine.open_volume("v1").expect("open");
    handle.write(0, &[7u8; 4096], false).expect("write");
    let mut buf = [0u8; 4096];
    handle.read(0, &mut buf).expect("read");
    drop(handle);

    let reply = server.get("/v1/stats");
    assert_eq!(reply.status, 200);
    let stats = reply.json();
    assert_eq!(stats["server_id"], "test-1");
    assert_eq!(stats["tiers"].as_array().map(Vec::len), Some(3));
    assert!(
        stats["tiers"][0]["used_bytes"].as_u64() > Some(0),
        "{stats}"
    );
    let v = &stats["volumes"][0];
    assert_eq!(v["name"], "v1");
    assert_eq!(v["io"]["reads"], 1);
    assert_eq!(v["io"]["writes"], 1);
    assert_eq!(v["io"]["hit_ratio_by_tier"]["nvme"], 1.0);
    assert_eq!(stats["nbd"]["connections_open"], 0);
    assert_eq!(stats["migrations"]["active"], false);
    // The prefetcher runs by default; its measures are numbers from the start.
    assert_eq!(stats["prefetch"]["active"], true);
    assert!(stats["prefetch"]["precision"].is_number(), "{stats}");
}

#[test]
fn telemetry_is_validated_kept_and_shown_in_the_profile() {
    let server = TestServer::start();
    server.create_volume("vm1", "4M");
    let sample = json!({"cpu_percent": 42.5, "memory_used_bytes": 1024, "memory_total_bytes": 4096,
                        "net_rx_bytes_per_s": 10.0, "app_type": "database", "user_active": true});
    let reply = server.post_json("/v1/volumes/vm1/telemetry", &sample);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.json()["samples_kept"], 1);

    for bad in [
        json!({}),
        json!({"cpu_percent": 101}),
        json!({"cpu_percent": -1}),
        json!({"memory_used_bytes": 5, "memory_total_bytes": 4}),
        json!({"memory_total_bytes": 0}),
        json!({"net_tx_bytes_per_s": -3}),
        json!({"app_type": "game"}),
        json!({"user_active": "yes"}),
        json!({"timestamp_unix_ms": u64::MAX}),
        json!({"cpu_percent": 1, "gpu": 3}),
    ] {
        server
            .post_json("/v1/volumes/vm1/telemetry", &bad)
            .assert_error(400, "invalid_argument");
    }
    server
        .post_json("/v1/volumes/nope/telemetry", &json!({"cpu_percent": 1}))
        .assert_error(404, "not_found");

    let profile = server.get("/v1/volumes/vm1/profile");
    assert_eq!(profile.status, 200);
    let p = profile.json();
    assert_eq!(p["volume"], "vm1");
    assert_eq!(p["declared_class"], serde_json::Value::Null);
    assert_eq!(p["inferred_class"], serde_json::Value::Null);
    assert_eq!(p["io"]["reads"], 0);
    let samples = p["telemetry"].as_array().expect("telemetry");
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0]["app_type"], "database");
    assert!(samples[0]["timestamp_unix_ms"].as_u64().is_some());
    server
        .get("/v1/volumes/nope/profile")
        .assert_error(404, "not_found");
}

#[test]
fn telemetry_ring_is_bounded() {
    let server = TestServer::start();
    server.create_volume("vm1", "4M");
    let mut last = 0;
    for i in 0..(strata_api::TELEMETRY_RING_LEN + 10) {
        let reply = server.post_json(
            "/v1/volumes/vm1/telemetry",
            &json!({"cpu_percent": (i % 100) as f64}),
        );
        last = reply.json()["samples_kept"].as_u64().expect("kept");
    }
    assert_eq!(last, strata_api::TELEMETRY_RING_LEN as u64);
    let samples = server.get("/v1/volumes/vm1/profile").json()["telemetry"].clone();
    assert_eq!(
        samples.as_array().map(Vec::len),
        Some(strata_api::TELEMETRY_RING_LEN)
    );
    assert_eq!(
        samples[0]["cpu_percent"], 10.0,
        "oldest samples are dropped first"
    );
}

#[test]
fn lease_routes_validate_every_input() {
    let server = TestServer::start();
    server.create_volume("db01", "4M");
    server
        .post_json("/v1/leases", &json!({"volume": "nope", "holder": "h"}))
        .assert_error(404, "not_found");
    for bad in [
        json!({"volume": "db01", "holder": ""}),
        json!({"volume": "db01", "holder": "h", "ttl_s": 0}),
        json!({"volume": "db01", "holder": "h", "ttl_s": 86401}),
        json!({"volume": "db01", "holder": "h", "prefer": {"nvme": "80%", "ssd": "30%"}}),
        json!({"volume": "db01", "holder": "h", "prefer": {"tape": "10%"}}),
        json!({"volume": "db01", "holder": "h", "prefer": {"nvme": 1.5}}),
        json!({"volume": "../db01", "holder": "h"}),
        json!({"volume": "db01", "holder": "h", "generation": 3}),
        json!({"volume": "db01", "holder": "h", "takeover": "yes"}),
    ] {
        server
            .post_json("/v1/leases", &bad)
            .assert_error(400, "invalid_argument");
    }
    for (id, body) in [
        ("db01:1", json!({"ttl_s": 0})),
        ("a%20b", json!({})),
        ("lease-1", json!({})),
        ("db01:x", json!({})),
    ] {
        server
            .put_json(&format!("/v1/leases/{id}"), &body)
            .assert_error(400, "invalid_argument");
    }
    server
        .delete("/v1/leases/no-generation")
        .assert_error(400, "invalid_argument");
    server
        .get("/v1/reservations?volume=..%2Fx")
        .assert_error(400, "invalid_argument");
    server
        .get("/v1/reservations?colour=red")
        .assert_error(400, "invalid_argument");
}

#[test]
fn leases_grant_reserve_renew_fence_and_release() {
    let server = TestServer::start();
    server.create_volume("db01", "4M");
    let acquire = json!({"volume": "db01", "holder": "host7/vm-42", "ttl_s": 30,
                         "prefer": {"nvme": "25%", "ssd": 0.5}});
    let reply = server.post_json("/v1/leases", &acquire);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let grant = reply.json();
    assert_eq!(grant["outcome"], "granted");
    let lease = &grant["lease"];
    assert_eq!(
        (lease["id"].as_str(), lease["generation"].as_u64()),
        (Some("db01:1"), Some(1))
    );
    assert_eq!(lease["holder"], "host7/vm-42");
    assert_eq!(
        lease["tiers_granted"],
        json!({"nvme": 0.25, "ssd": 0.5, "hdd": 0.25})
    );
    let expires = lease["expires_unix_ms"].as_u64().expect("expiry");
    assert_eq!(
        expires - lease["granted_unix_ms"].as_u64().expect("grant"),
        30_000
    );
    let bytes: Vec<(String, u64)> = grant["reservations"]
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
    assert_eq!(
        bytes,
        [
            ("nvme".into(), 1 << 20),
            ("ssd".into(), 2 << 20),
            ("hdd".into(), 1 << 20)
        ]
    );
    let listed = server.get("/v1/reservations?volume=db01").json();
    assert_eq!(listed["reservations"].as_array().map(Vec::len), Some(3));
    let servers = server.get("/v1/servers").json();
    assert_eq!(
        servers["servers"][0]["tiers"][1]["reserved_bytes"],
        2u64 << 20
    );

    // Another holder is refused while the lease lives.
    server
        .post_json("/v1/leases", &json!({"volume": "db01", "holder": "other"}))
        .assert_error(409, "lease_held");
    // Renewal extends, keeps a new TTL, and refuses a generation that is not the lease's.
    let renewed = server.put_json("/v1/leases/db01:1", &json!({"ttl_s": 120}));
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    assert_eq!(renewed.json()["lease"]["ttl_s"], 120);
    assert!(renewed.json()["cost_so_far"].as_f64().is_some());
    server
        .put_json("/v1/leases/db01:1", &json!({"generation": 7}))
        .assert_error(409, "stale_generation");
    // A takeover fences generation 1 and gives its reservations back.
    let taken = server.post_json(
        "/v1/leases",
        &json!({"volume": "db01", "holder": "other", "takeover": true}),
    );
    assert_eq!(taken.status, 201, "{}", taken.body);
    assert_eq!(taken.json()["lease"]["id"], "db01:2");
    server
        .put_json("/v1/leases/db01:1", &json!({}))
        .assert_error(409, "stale_generation");
    let leases = server.get("/v1/leases").json();
    assert_eq!(leases["leases"].as_array().map(Vec::len), Some(1));
    assert_eq!(leases["leases"][0]["id"], "db01:2");
    let all = server.get("/v1/reservations?volume=db01&all=true").json();
    let released = all["reservations"]
        .as_array()
        .expect("reservations")
        .iter()
        .filter(|r| r["lease_id"] == "db01:1")
        .all(|r| r["status"] == "released");
    assert!(released, "{all}");

    assert_eq!(server.delete("/v1/leases/db01:2").status, 204);
    server
        .delete("/v1/leases/db01:2")
        .assert_error(410, "lease_expired");
    assert_eq!(server.get("/v1/leases").json(), json!({"leases": []}));
    assert_eq!(
        server.get("/v1/reservations").json(),
        json!({"reservations": []})
    );
}

#[test]
fn preferences_that_do_not_fit_get_alternatives_and_no_lease() {
    let server = TestServer::start();
    // 32 MiB: more than the whole nvme tier (8 MiB) can hold.
    server.create_volume("big", "32M");
    let reply = server.post_json(
        "/v1/leases",
        &json!({"volume": "big", "holder": "h", "prefer": {"nvme": "100%"}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["outcome"], "alternative");
    assert!(
        body["reason"].as_str().is_some_and(|r| r.contains("nvme")),
        "{body}"
    );
    assert_eq!(body["suggested_mixes"][0], json!({"ssd": 1.0}));
    assert_eq!(server.get("/v1/leases").json(), json!({"leases": []}));
    assert_eq!(
        server.get("/v1/reservations").json(),
        json!({"reservations": []})
    );
}

#[test]
fn without_a_control_plane_lease_routes_answer_not_implemented() {
    let server = TestServer::start_without_control();
    server.create_volume("db01", "4M");
    server
        .post_json("/v1/leases", &json!({"volume": "db01", "holder": "h"}))
        .assert_error(501, "not_implemented");
    server
        .put_json("/v1/leases/db01:1", &json!({}))
        .assert_error(501, "not_implemented");
    server
        .delete("/v1/leases/db01:1")
        .assert_error(501, "not_implemented");
    server
        .get("/v1/leases")
        .assert_error(501, "not_implemented");
    server
        .get("/v1/reservations")
        .assert_error(501, "not_implemented");
}

#[test]
fn migrations_log_and_prefetch_status_are_served() {
    let server = TestServer::start();
    let reply = server.get("/v1/migrations");
    assert_eq!(reply.status, 200);
    let log = reply.json();
    // The default `static` policy never moves anything, so the durable log is empty.
    assert_eq!(log["migrations"], json!([]));
    assert!(log.get("note").is_none(), "{log}");
    assert_eq!(server.get("/v1/migrations?volume=db01&limit=5").status, 200);
    server
        .get("/v1/migrations?limit=0")
        .assert_error(400, "invalid_argument");
    server
        .get("/v1/migrations?limit=many")
        .assert_error(400, "invalid_argument");
    server
        .get("/v1/migrations?since=3")
        .assert_error(400, "invalid_argument");

    let reply = server.get("/v1/prefetch");
    assert_eq!(reply.status, 200);
    let status = reply.json();
    assert_eq!(status["active"], true, "{status}");
    assert_eq!(status["configured_predictor"], "auto", "{status}");
    // No volume has been read yet, so no predictor has anything to report.
    assert_eq!(status["predictors"], json!([]));
    assert_eq!(status["totals"]["prefetched_bytes"], 0, "{status}");
}

#[test]
fn error_format_on_transport_mistakes() {
    let server = TestServer::start();
    server.get("/v2/nothing").assert_error(404, "not_found");
    server
        .request("POST", "/v1/volumes", Some("text/plain"), Some(b"name=x"))
        .assert_error(415, "unsupported_media_type");
    server
        .request("POST", "/v1/volumes", None, Some(b"{}"))
        .assert_error(415, "unsupported_media_type");
    server
        .request(
            "POST",
            "/v1/volumes",
            Some("application/json"),
            Some(b"{not json"),
        )
        .assert_error(400, "invalid_argument");
    server
        .request("POST", "/v1/volumes", Some("application/json"), Some(b""))
        .assert_error(400, "invalid_argument");
    let big = format!(
        "{{\"name\": \"{}\", \"size\": 1}}",
        "a".repeat(strata_api::MAX_BODY_BYTES)
    );
    server
        .request(
            "POST",
            "/v1/volumes",
            Some("application/json"),
            Some(big.as_bytes()),
        )
        .assert_error(413, "body_too_large");
    server
        .request("PATCH", "/v1/volumes", None, None)
        .assert_error(405, "method_not_allowed");
}

#[test]
fn bearer_token_is_required_when_configured() {
    let server = TestServer::start_with_token(Some("s3cret"));
    for path in ["/v1/volumes", "/v1/stats", "/metrics", "/openapi.json"] {
        server
            .request_with_token("GET", path, None, None, None)
            .assert_error(401, "unauthorized");
        server
            .request_with_token("GET", path, None, None, Some("wrong"))
            .assert_error(401, "unauthorized");
        assert_eq!(server.get(path).status, 200, "{path} with the token");
    }
}

/// Sends `request` on `stream` and reads one response (headers and a `Content-Length`
/// body); `None` when the server closed the connection instead of answering.
fn exchange(stream: &mut std::net::TcpStream, request: &str) -> Option<(u16, String)> {
    use std::io::{BufRead, BufReader, Read, Write};
    // Headers first and the body a moment later, as a client writing them separately does.
    let split = request.find("\r\n\r\n").map_or(request.len(), |i| i + 4);
    stream.write_all(&request.as_bytes()[..split]).ok()?;
    stream.flush().ok()?;
    std::thread::sleep(std::time::Duration::from_millis(30));
    stream.write_all(&request.as_bytes()[split..]).ok()?;
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut status_line = String::new();
    if reader.read_line(&mut status_line).ok()? == 0 {
        return None;
    }
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut length = 0usize;
    let mut close = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
        close |= line == "connection: close";
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body = String::from_utf8_lossy(&body).into_owned();
    Some((
        status,
        if close {
            format!("{body} [close]")
        } else {
            body
        },
    ))
}

/// A request refused before its body was needed (a bad name in the path, a missing token,
/// an unknown route) must not cost the client its keep-alive connection: a pooled client
/// would send its next request into a socket the server has dropped.
#[test]
fn refused_requests_with_bodies_keep_the_connection() {
    let server = TestServer::start_with_token(Some("s3cret"));
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let body = r#"{"cpu_percent": 1}"#;
    let auth = "Authorization: Bearer s3cret\r\n";
    for (path, headers, status) in [
        ("/v1/volumes/%2F%3A/telemetry", auth, 400),
        ("/v1/volumes/nosuch/telemetry", auth, 404),
        ("/v1/volumes/vm1/telemetry", "", 401),
        ("/v2/nothing", auth, 404),
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (got, reply) =
            exchange(&mut stream, &request).unwrap_or_else(|| panic!("POST {path}: closed"));
        assert_eq!(got, status, "POST {path}: {reply}");
        assert!(
            !reply.ends_with("[close]"),
            "POST {path} closed the connection"
        );
        let (got, reply) = exchange(&mut stream, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap_or_else(|| panic!("the connection was dropped after POST {path}"));
        assert_eq!(got, 200, "{reply}");
    }
}
