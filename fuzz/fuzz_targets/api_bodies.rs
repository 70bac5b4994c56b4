//! Fuzzes the REST API through its real router (`strata_api::router`, driven with
//! `tower::ServiceExt::oneshot`) over an in-memory engine: the first byte picks the request,
//! the rest is a `POST /v1/volumes` JSON body or a volume name in the path. Invalid input
//! must never produce a 5xx, and every error must use the API's `{"error": {...}}` body.
//! After a successful create, the volume is shown, listed and deleted the same way.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use strata_api::{ApiState, router};
use strata_engine::testing::{MIB, Rig};
use tower::ServiceExt;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime")
    })
}

/// A path segment holding arbitrary bytes, percent-encoded where needed.
fn path_segment(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Sends one request and checks the answer; returns the status and the body.
async fn send(state: &ApiState, method: Method, uri: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a well-formed request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a readable response body")
        .to_vec();
    assert!(
        !status.is_server_error(),
        "{method} {uri} -> {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    if status.is_client_error() {
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).expect("error bodies are JSON");
        assert!(value["error"]["code"].is_string(), "bad error body {value}");
        assert!(
            value["error"]["message"].is_string(),
            "bad error body {value}"
        );
    }
    (status, bytes)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let rig = Rig::new(&[64 * MIB, 256 * MIB]);
    let state = ApiState::new(rig.engine.clone(), "fuzz");
    runtime().block_on(async {
        match selector % 3 {
            0 => {
                let (status, body) = send(&state, Method::POST, "/v1/volumes", rest).await;
                if status == StatusCode::CREATED {
                    let info: serde_json::Value =
                        serde_json::from_slice(&body).expect("a created volume is JSON");
                    let name = info["name"].as_str().expect("a volume has a name");
                    let uri = format!("/v1/volumes/{}", path_segment(name.as_bytes()));
                    assert_eq!(send(&state, Method::GET, &uri, b"").await.0, StatusCode::OK);
                    assert_eq!(
                        send(&state, Method::GET, "/v1/volumes", b"").await.0,
                        StatusCode::OK
                    );
                    assert_eq!(
                        send(&state, Method::GET, "/v1/stats", b"").await.0,
                        StatusCode::OK
                    );
                    assert_eq!(
                        send(&state, Method::DELETE, &uri, b"").await.0,
                        StatusCode::NO_CONTENT
                    );
                }
            }
            1 => {
                let uri = format!("/v1/volumes/{}", path_segment(rest));
                send(&state, Method::GET, &uri, b"").await;
            }
            _ => {
                let uri = format!("/v1/volumes/{}", path_segment(rest));
                send(&state, Method::DELETE, &uri, b"").await;
            }
        }
    });
    let _ = rig.engine.shutdown();
});
