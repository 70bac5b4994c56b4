//! The OpenAPI document lists every route of INTERFACE.md with documented bodies, and
//! `/metrics` is valid Prometheus text whose numbers move with I/O.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use support::TestServer;

/// Every route of INTERFACE.md's "REST API" section.
const INTERFACE_ROUTES: [(&str, &str); 17] = [
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/v1/servers"),
    ("get", "/v1/stats"),
    ("get", "/v1/volumes"),
    ("post", "/v1/volumes"),
    ("get", "/v1/volumes/{name}"),
    ("delete", "/v1/volumes/{name}"),
    ("get", "/v1/volumes/{name}/profile"),
    ("post", "/v1/volumes/{name}/telemetry"),
    ("post", "/v1/leases"),
    ("put", "/v1/leases/{id}"),
    ("delete", "/v1/leases/{id}"),
    ("get", "/v1/leases"),
    ("get", "/v1/reservations"),
    ("get", "/v1/migrations"),
    ("get", "/v1/prefetch"),
];

/// Routes servers of a cluster call on each other (partitioned volumes' backings).
const CLUSTER_ROUTES: [(&str, &str); 2] = [
    ("post", "/v1/volumes/{name}/backing"),
    ("delete", "/v1/volumes/{name}/backing"),
];

#[test]
fn openapi_document_lists_every_route_and_body() {
    let server = TestServer::start();
    let reply = server.get("/openapi.json");
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/json"));
    let doc = reply.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in INTERFACE_ROUTES {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
        if method == "post" || method == "put" {
            assert!(
                op["requestBody"].is_object(),
                "{method} {path} has no request body"
            );
        }
    }
    for (method, path) in CLUSTER_ROUTES {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
        assert!(op.is_object(), "{method} {path} missing");
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(
        documented,
        INTERFACE_ROUTES.len() + CLUSTER_ROUTES.len(),
        "no undocumented extras, no gaps"
    );

    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for body in [
        "CreateVolume",
        "TelemetrySample",
        "AcquireLease",
        "RenewLease",
    ] {
        let schema = schemas
            .get(body)
            .unwrap_or_else(|| panic!("schema {body} missing"));
        assert_eq!(
            schema["additionalProperties"], false,
            "{body} must reject unknown fields"
        );
    }
    for reply_type in [
        "Volume",
        "StatsReply",
        "ServerList",
        "VolumeProfile",
        "ErrorReply",
        "MigrationLog",
        "PrefetchStatus",
        "Lease",
    ] {
        assert!(
            schemas.contains_key(reply_type),
            "schema {reply_type} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Parses the exposition: every sample line is `name{labels} value` with a finite or
/// special number, and every sample's family has HELP and TYPE lines first.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().expect("name").to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            typed.insert(parts.next().expect("name").to_owned());
            let kind = parts.next().expect("type");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
        } else {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
                "bad metric name in {line:?}"
            );
            if name_end < series.len() {
                let labels = &series[name_end..];
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line:?}");
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (key, val) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("label in {line:?}"));
                    assert!(
                        key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                        "{line:?}"
                    );
                    assert!(!val.is_empty() || pair.ends_with("=\"\""), "{line:?}");
                }
            }
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            assert!(
                helped.contains(name) && typed.contains(name),
                "{name} lacks HELP/TYPE"
            );
            samples.insert(series.to_owned(), value);
        }
    }
    samples
}

#[test]
fn metrics_parse_and_move_with_io() {
    let server = TestServer::start();
    server.create_volume("db01", "4M");
    let before = server.get("/metrics");
    assert_eq!(before.status, 200);
    assert!(
        before.content_type.starts_with("text/plain"),
        "{}",
        before.content_type
    );
    let before = parse_metrics(&before.body);
    assert_eq!(
        before["strata_tier_capacity_bytes{tier=\"nvme\"}"],
        (8u64 << 20) as f64
    );
    assert_eq!(before["strata_tier_used_bytes{tier=\"nvme\"}"], 0.0);
    assert_eq!(
        before["strata_volume_reads_total{volume=\"db01\",class=\"unknown\"}"],
        0.0
    );
    assert_eq!(before["strata_volumes"], 1.0);
    assert!(before.keys().any(|k| k.starts_with("strata_build_info{")));

    let handle = server.engine.open_volume("db01").expect("open");
    handle.write(0, &[1u8; 8192], true).expect("write");
    let mut buf = vec![0u8; 8192];
    handle.read(0, &mut buf).expect("read");
    handle.read(1 << 20, &mut buf).expect("read unallocated");
    drop(handle);

    let after = parse_metrics(&server.get("/metrics").body);
    assert!(after["strata_tier_used_bytes{tier=\"nvme\"}"] > 0.0);
    assert!(
        after["strata_tier_writes_total{tier=\"nvme\"}"]
            > before["strata_tier_writes_total{tier=\"nvme\"}"]
    );
    assert!(after["strata_tier_write_bytes_total{tier=\"nvme\"}"] >= 8192.0);
    assert!(after["strata_tier_reads_total{tier=\"nvme\"}"] >= 1.0);
    assert_eq!(
        after["strata_volume_reads_total{volume=\"db01\",class=\"unknown\"}"],
        2.0
    );
    assert_eq!(
        after["strata_volume_writes_total{volume=\"db01\",class=\"unknown\"}"],
        1.0
    );
    assert_eq!(
        after["strata_volume_write_bytes_total{volume=\"db01\",class=\"unknown\"}"],
        8192.0
    );
    assert_eq!(
        after["strata_volume_read_hits_total{volume=\"db01\",tier=\"nvme\"}"],
        1.0
    );
    assert_eq!(
        after["strata_volume_hit_ratio{volume=\"db01\",tier=\"nvme\"}"],
        0.5
    );
    assert_eq!(
        after["strata_volume_unallocated_reads_total{volume=\"db01\",class=\"unknown\"}"],
        1.0
    );
}

/// Every family the server exports is documented in `docs/metrics.md`, and every
/// `strata_*` name the Grafana dashboard uses is exported.
#[test]
fn metrics_are_documented_and_the_dashboard_uses_real_names() {
    let server = TestServer::start();
    server.create_volume("db01", "4M");
    let text = server.get("/metrics").body;
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let docs = std::fs::read_to_string(format!("{root}/docs/metrics.md")).expect("docs/metrics.md");
    for name in &exported {
        assert!(
            docs.contains(&format!("`{name}`")),
            "{name} is not documented in docs/metrics.md"
        );
    }
    let dashboard =
        std::fs::read_to_string(format!("{root}/deploy/grafana/strata.json")).expect("dashboard");
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    let mut used = 0;
    for (start, _) in dashboard.match_indices("strata_") {
        let name: String = dashboard[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name == "strata_" {
            continue;
        }
        used += 1;
        assert!(
            exported.contains(&name),
            "dashboard uses {name}, which /metrics does not export"
        );
    }
    assert!(used > 10, "dashboard uses only {used} metric names");
}
