//! Property test: invalid bodies thrown at every POST/PUT endpoint — random JSON values,
//! wrong types, unknown fields, huge numbers, bad names, empty and non-JSON bytes — always
//! get a 4xx in the standard error format, never a 5xx, and change nothing.

mod support;

use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;
use support::TestServer;

/// One server for all cases (proptest runs hundreds); it holds volume `vm1`.
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = TestServer::start();
        server.create_volume("vm1", "4M");
        server
    })
}

/// Endpoint, a valid body to mutate, and its fields.
fn endpoints() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "POST",
            "/v1/volumes",
            json!({"name": "new1", "size": "1M", "profile": "web"}),
        ),
        (
            "POST",
            "/v1/volumes/vm1/telemetry",
            json!({"cpu_percent": 5.0, "user_active": true}),
        ),
        (
            "POST",
            "/v1/leases",
            json!({"volume": "vm1", "holder": "h", "ttl_s": 30}),
        ),
        ("PUT", "/v1/leases/vm1:1", json!({"ttl_s": 30})),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values that are wrong for every field of every body: wrong types and out-of-range or
/// unrepresentable numbers. (`null` is not among them: it means "absent" for optional
/// fields.)
fn bad_value() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!([])),
        Just(json!({"nested": 1})),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!(-0.5)),
    ]
    .boxed()
}

/// Names that are not volume names.
fn bad_name() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!("../x")),
        Just(json!("")),
        Just(json!("a/b")),
        Just(json!(".hidden")),
        "[^A-Za-z0-9._-]{1,8}".prop_map(Value::String),
        "[a-z]{65,80}".prop_map(Value::String),
    ]
    .boxed()
}

/// A body as raw bytes, guaranteed invalid for its endpoint.
fn invalid_body(valid: Value) -> impl Strategy<Value = Vec<u8>> {
    let fields: Vec<String> = valid.as_object().expect("object").keys().cloned().collect();
    let with_unknown = {
        let valid = valid.clone();
        ("[a-z]{1,10}", any_json()).prop_map(move |(key, value)| {
            let mut body = valid.clone();
            body[format!("unknown_{key}")] = value;
            body.to_string().into_bytes()
        })
    };
    let with_bad_field = {
        let valid = valid.clone();
        prop::sample::select(fields)
            .prop_flat_map(|field| {
                let value = if field == "name" || field == "volume" {
                    prop_oneof![bad_value(), bad_name()].boxed()
                } else {
                    bad_value()
                };
                (Just(field), value)
            })
            .prop_map(move |(field, value)| {
                let mut body = valid.clone();
                body[field.as_str()] = value;
                body.to_string().into_bytes()
            })
    };
    prop_oneof![
        // Random JSON that is not an object cannot be any body.
        any_json()
            .prop_filter("not an object", |v| !v.is_object())
            .prop_map(|v| v.to_string().into_bytes()),
        // Random objects whose keys are never all known fields of a body.
        prop::collection::btree_map("zz[a-z]{0,6}", any_json(), 1..5).prop_map(|m| Value::Object(
            m.into_iter().collect()
        )
        .to_string()
        .into_bytes()),
        with_unknown,
        with_bad_field,
        Just(Vec::new()),
        Just(b"1e400".to_vec()),
        Just(b"{\"ttl_s\": 18446744073709551616}".to_vec()),
        prop::collection::vec(any::<u8>(), 1..200)
            .prop_filter("not JSON", |b| serde_json::from_slice::<Value>(b).is_err()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invalid_bodies_get_4xx_never_5xx(
        (method, path, body) in prop::sample::select(endpoints())
            .prop_flat_map(|(m, p, valid)| (Just(m), Just(p), invalid_body(valid)))
    ) {
        let server = server();
        let reply = server.request(method, path, Some("application/json"), Some(&body));
        prop_assert!(
            (400..500).contains(&reply.status),
            "{method} {path} with {:?} got {}: {}",
            String::from_utf8_lossy(&body), reply.status, reply.body
        );
        let v: Value = serde_json::from_str(&reply.body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string());
        // Nothing changed: still exactly the one volume.
        let volumes = server.get("/v1/volumes").json();
        prop_assert_eq!(volumes.as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn bad_names_in_paths_get_4xx(name in "[^A-Za-z0-9._-]{1,6}|\\.[a-z]{0,4}|[a-z]{65,70}") {
        let server = server();
        let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
        for (method, path, body) in [
            ("GET", format!("/v1/volumes/{encoded}"), None),
            ("DELETE", format!("/v1/volumes/{encoded}"), None),
            ("GET", format!("/v1/volumes/{encoded}/profile"), None),
            ("POST", format!("/v1/volumes/{encoded}/telemetry"), Some(b"{\"cpu_percent\": 1}".as_slice())),
        ] {
            let reply = server.request(method, &path, Some("application/json"), body);
            prop_assert!((400..500).contains(&reply.status), "{method} {path}: {} {}", reply.status, reply.body);
        }
    }
}
